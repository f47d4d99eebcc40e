"""The calendar's domain: recurring appointments (RFC 5545 rules through dateutil), an exception
moved on its own, "this and following", double bookings, attendance, and the client's next and
last session after a video call."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from desktop.core.calendar import Repeat, Scope
from desktop.core.calls import record_started
from desktop.core.clients import ClientDetails
from desktop.core.errors import InvalidFieldError
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the vault's clock in these tests (a Monday)


def starts(practice: Practice, days: int = 70) -> list[datetime]:
    return [
        a.session.starts_at
        for a in practice.appointments(NOW - timedelta(days=1), NOW + timedelta(days=days))
        if a.session.attendance is not Attendance.CANCELLED
    ]


@pytest.fixture
def client(practice: Practice) -> str:
    return practice.create_client(ClientDetails(name="Jordan Avery")).id


def test_weekly_fortnightly_and_monthly(practice: Practice, client: str) -> None:
    first = NOW + timedelta(hours=1)
    practice.create_appointment(client, first, repeat=Repeat.WEEKLY)
    assert starts(practice, 29) == [first + timedelta(weeks=w) for w in range(5)]
    other = practice.create_client(ClientDetails(name="Sam Lee")).id
    practice.create_appointment(
        other, first + timedelta(hours=2), repeat=Repeat.FORTNIGHTLY, until=date(2026, 2, 16)
    )
    shown = practice.appointments(NOW, NOW + timedelta(days=90))
    sam = [a.session.starts_at for a in shown if a.client_name == "Sam Lee"]
    assert sam == [first + timedelta(hours=2, weeks=w) for w in (0, 2, 4, 6)]  # until is kept
    assert all(a.repeat is Repeat.FORTNIGHTLY for a in shown if a.client_name == "Sam Lee")
    third = practice.create_client(ClientDetails(name="Ana Ruiz")).id
    practice.create_appointment(third, datetime(2026, 1, 31, 15, tzinfo=UTC), repeat=Repeat.MONTHLY)
    ana = [
        a.session.starts_at
        for a in practice.appointments(NOW, NOW + timedelta(days=120))
        if a.client_name == "Ana Ruiz"
    ]
    # RFC 5545: a monthly rule on the 31st skips months without one
    assert [d.date() for d in ana] == [date(2026, 1, 31), date(2026, 3, 31)]


def test_weekly_keeps_its_wall_clock_time_across_daylight_saving(
    practice: Practice, client: str
) -> None:
    berlin_10am = datetime(2026, 3, 16, 9, tzinfo=UTC)  # 10:00 in Berlin (winter time)
    practice.create_appointment(client, berlin_10am, repeat=Repeat.WEEKLY, tzid="Europe/Berlin")
    found = [a.session.starts_at for a in practice.appointments(NOW, NOW + timedelta(days=90))]
    assert found[:3] == [
        berlin_10am,
        berlin_10am + timedelta(weeks=1),
        berlin_10am + timedelta(weeks=2, hours=-1),
    ]


def test_recurrence_with_an_exception_moved_and_one_cancelled(
    practice: Practice, client: str
) -> None:
    first = NOW + timedelta(hours=1)
    practice.create_appointment(client, first, repeat=Repeat.WEEKLY)
    week = practice.appointments(first + timedelta(weeks=2), first + timedelta(weeks=2, hours=1))
    (third,) = week
    moved = practice.move_appointment(third.session.id, first + timedelta(weeks=2, days=1))
    assert moved.starts_at == first + timedelta(weeks=2, days=1)
    fourth = practice.appointments(first + timedelta(weeks=3), first + timedelta(weeks=3, hours=1))
    practice.cancel_appointment(fourth[0].session.id, late=True)
    # extending the series again never re-creates the moved or the cancelled occurrence
    practice.appointments(NOW, NOW + timedelta(days=400))
    assert starts(practice, 40) == [
        first,
        first + timedelta(weeks=1),
        first + timedelta(weeks=2, days=1),
        first + timedelta(weeks=4),
        first + timedelta(weeks=5),
    ]
    (late,) = [a for a in practice.appointments(NOW, NOW + timedelta(days=40)) if a.late_cancel]
    assert late.session.attendance is Attendance.CANCELLED


def test_this_and_following(practice: Practice, client: str) -> None:
    first = NOW + timedelta(hours=1)
    practice.create_appointment(client, first, repeat=Repeat.WEEKLY)
    (third,) = practice.appointments(
        first + timedelta(weeks=2), first + timedelta(weeks=2, hours=1)
    )
    later = first + timedelta(weeks=2, hours=3)  # from the third on, at 13:00
    practice.move_appointment(third.session.id, later, scope=Scope.FOLLOWING)
    assert starts(practice, 30) == [
        first,
        first + timedelta(weeks=1),
        later,
        later + timedelta(weeks=1),
        later + timedelta(weeks=2),
    ]
    (fourth,) = practice.appointments(
        later + timedelta(weeks=1), later + timedelta(weeks=1, hours=1)
    )
    practice.cancel_appointment(fourth.session.id, scope=Scope.FOLLOWING)
    practice.appointments(NOW, NOW + timedelta(days=400))
    assert starts(practice, 400) == [first, first + timedelta(weeks=1), later]


def test_double_bookings_are_found(practice: Practice, client: str) -> None:
    at = NOW + timedelta(days=1)
    booked = practice.create_appointment(client, at, duration_minutes=50)
    other = practice.create_client(ClientDetails(name="Sam Lee")).id
    clash = practice.booking_conflicts(at + timedelta(minutes=30), 50)
    assert [(c.session.id, c.client_name) for c in clash] == [(booked.id, "Jordan Avery")]
    assert practice.booking_conflicts(at + timedelta(minutes=50), 50) == ()  # back to back
    assert practice.booking_conflicts(at - timedelta(minutes=50), 50) == ()
    assert practice.booking_conflicts(at, 50, ignore=(booked.id,)) == ()  # moving itself
    practice.cancel_appointment(booked.id)
    assert practice.booking_conflicts(at, 50) == ()  # a cancelled one frees the time
    assert other


def test_attended_and_no_show(practice: Practice, client: str) -> None:
    booked = practice.create_appointment(client, NOW - timedelta(hours=2))
    assert practice.set_attendance(booked.id, Attendance.NO_SHOW).attendance is Attendance.NO_SHOW
    assert practice.set_attendance(booked.id, Attendance.ATTENDED).attendance is Attendance.ATTENDED
    (summary,) = practice.list_clients()
    assert summary.last_session_at == NOW - timedelta(hours=2)


def test_after_a_video_call_next_and_last_are_right(practice: Practice, client: str) -> None:
    # the appointment was for this afternoon; the client joined this morning, at NOW
    later = NOW + timedelta(hours=5)
    booked = practice.create_appointment(client, later, modality=Modality.VIDEO)
    following = practice.create_appointment(client, later + timedelta(weeks=1))
    record_started(practice._vault, booked.id)  # what the connected call writes
    held = practice.open_client(client).sessions
    attended = next(s for s in held if s.id == booked.id)
    assert attended.attendance is Attendance.ATTENDED and attended.starts_at == NOW
    (summary,) = practice.list_clients()
    assert summary.last_session_at == NOW
    assert summary.next_session_at == following.starts_at


def test_bad_input_is_refused_and_changes_nothing(practice: Practice, client: str) -> None:
    with pytest.raises(InvalidFieldError):
        practice.create_appointment(client, datetime(2026, 1, 6, 9), repeat=Repeat.WEEKLY)
    with pytest.raises(InvalidFieldError):
        practice.create_appointment(client, NOW, repeat=Repeat.WEEKLY, tzid="Mars/Olympus")
    with pytest.raises(InvalidFieldError):
        practice.create_appointment(client, NOW, repeat=Repeat.WEEKLY, until=date(2025, 1, 1))
    assert practice.appointments(NOW - timedelta(days=1), NOW + timedelta(days=400)) == ()
