"""Video calls in the record: which appointments may start one, one audit entry per call event
(against the session and its client, ids and numbers only), and the prefilled note."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from desktop.core.audit_view import AuditFilter
from desktop.core.calls import (
    NotAVideoSessionError,
    SessionCancelledError,
    VideoSessionError,
    call_note_header,
)
from desktop.core.clients import ClientDetails
from desktop.core.errors import (
    ClientArchivedError,
    InvalidFieldError,
    PracticeError,
    SessionNotFoundError,
)
from desktop.core.notes import Compartment, NoteStatus
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.settings import PracticeSettings

NAME = "Marisol Quennell-Oduya"  # the client's name: never in the log
Entries = Callable[[], list[tuple[str, str, str]]]


@pytest.fixture
def client_id(practice: Practice) -> str:
    return practice.create_client(ClientDetails(name=NAME, email="mq@example.org")).id


@pytest.fixture
def video(practice: Practice, client_id: str) -> Session:
    return practice.schedule_session(
        client_id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )


def last_details(practice: Practice) -> tuple[str, dict[str, object]]:
    entry = list(practice.audit_entries())[-1]
    return entry.outcome, json.loads(entry.details)


EVENTS: dict[str, tuple[Callable[[Practice, str], object], str, str, dict[str, object]]] = {
    "invite": (lambda p, s: p.record_call_invite(s), "call.invite_created", "success", {}),
    "admitted": (lambda p, s: p.record_call_admitted(s), "call.client_admitted", "success", {}),
    "declined": (lambda p, s: p.record_call_declined(s), "call.client_declined", "success", {}),
    "verified": (lambda p, s: p.record_call_verified(s), "call.verified", "success", {}),
    "mismatch": (
        lambda p, s: p.record_call_verification_mismatch(s),
        "call.verification_mismatch",
        "failure",
        {},
    ),
    "ended": (
        lambda p, s: p.record_call_ended(s, 3012.4, verified=True),
        "call.ended",
        "success",
        {"connected": True, "duration_seconds": 3012, "verified": True},
    ),
    "ended_unverified": (
        lambda p, s: p.record_call_ended(s, 59.5, verified=False),
        "call.ended",
        "success",
        {"connected": True, "duration_seconds": 60, "verified": False},
    ),
    "ended_before_connecting": (
        lambda p, s: p.record_call_ended(s, None, verified=False),
        "call.ended",
        "success",
        {"connected": False, "duration_seconds": 0, "verified": False},
    ),
    "ended_on_an_error": (
        lambda p, s: p.record_call_ended(s, 125.0, verified=True, failed=True),
        "call.ended",
        "failure",
        {"connected": True, "duration_seconds": 125, "verified": True},
    ),
}


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_each_call_event_writes_exactly_its_entry(
    practice: Practice,
    video: Session,
    new_entries: Entries,
    all_details: Callable[[], str],
    name: str,
) -> None:
    call, action, outcome, extra = EVENTS[name]
    new_entries()
    assert call(practice, video.id) is None
    assert new_entries() == [(action, "session", video.id)]
    assert last_details(practice) == (outcome, {"client_id": video.client_id, **extra})
    assert NAME not in all_details() and "Marisol" not in all_details()


def test_call_started_marks_the_appointment_attended(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    new_entries()
    now = practice.record_call_started(video.id)
    assert now.attendance is Attendance.ATTENDED
    assert new_entries() == [
        ("call.started", "session", video.id),
        ("session.updated", "session", video.id),
    ]
    started = next(e for e in practice.audit_entries() if e.action == "call.started")
    assert json.loads(started.details) == {"client_id": video.client_id, "attendance_marked": True}
    # A reconnecting second call of the same appointment leaves attendance alone.
    again = practice.record_call_started(video.id)
    assert again.attendance is Attendance.ATTENDED
    assert new_entries() == [("call.started", "session", video.id)]
    assert last_details(practice)[1] == {"client_id": video.client_id, "attendance_marked": False}


def test_a_late_client_marked_no_show_becomes_attended(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    practice.update_session(video.id, attendance=Attendance.NO_SHOW)
    assert practice.record_call_started(video.id).attendance is Attendance.ATTENDED


def test_the_calls_are_found_under_the_client(
    practice: Practice, video: Session, client_id: str
) -> None:
    practice.record_call_invite(video.id)
    practice.record_call_admitted(video.id)
    practice.record_call_started(video.id)
    practice.record_call_verified(video.id)
    practice.record_call_ended(video.id, 42.0, verified=True)
    seen = practice.view_audit(AuditFilter(client_id=client_id))
    calls = [r.action for r in reversed(seen) if r.action.startswith("call.")]
    assert calls == [
        "call.invite_created",
        "call.client_admitted",
        "call.started",
        "call.verified",
        "call.ended",
    ]


def test_only_video_appointments_that_are_not_cancelled_can_start(
    practice: Practice, client_id: str, video: Session, new_entries: Entries
) -> None:
    assert practice.check_video_session(video.id) == video
    in_person = practice.schedule_session(client_id, datetime(2026, 1, 6, 9, tzinfo=UTC))
    phone = practice.schedule_session(
        client_id, datetime(2026, 1, 7, 9, tzinfo=UTC), modality=Modality.PHONE
    )
    cancelled = practice.schedule_session(
        client_id,
        datetime(2026, 1, 8, 9, tzinfo=UTC),
        modality=Modality.VIDEO,
        attendance=Attendance.CANCELLED,
    )
    new_entries()
    for session in (in_person, phone):
        with pytest.raises(NotAVideoSessionError, match="not a video session") as refused:
            practice.check_video_session(session.id)
        assert isinstance(refused.value, VideoSessionError)
        with pytest.raises(NotAVideoSessionError):
            practice.record_call_invite(session.id)
        with pytest.raises(NotAVideoSessionError):
            practice.create_call_note(session.id, datetime.now(UTC), 60)
    with pytest.raises(SessionCancelledError, match="cancelled"):
        practice.check_video_session(cancelled.id)
    with pytest.raises(SessionCancelledError):
        practice.record_call_invite(cancelled.id)
    with pytest.raises(SessionNotFoundError):
        practice.check_video_session("0" * 32)
    with pytest.raises(SessionNotFoundError):
        practice.record_call_admitted("0" * 32)
    assert issubclass(VideoSessionError, PracticeError)
    assert new_entries() == []  # a refusal writes nothing

    practice.archive_client(client_id)
    new_entries()
    with pytest.raises(ClientArchivedError):
        practice.check_video_session(video.id)
    assert new_entries() == []


def test_the_call_note_is_prefilled_and_linked(
    practice: Practice, video: Session, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    practice.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", therapist_credentials="PsyD")
    )
    started = datetime(2026, 1, 5, 10, 3, 20, tzinfo=timezone(timedelta(hours=1)))
    new_entries()
    note = practice.create_call_note(video.id, started, 50 * 60 + 12.3)
    assert new_entries() == [("note.created", "note", note.id)]
    assert last_details(practice)[1] == {"client_id": video.client_id, "compartment": "progress"}

    assert note.session_id == video.id and note.client_id == video.client_id
    assert note.compartment is Compartment.PROGRESS and note.status is NoteStatus.DRAFT
    assert note.template_key == "soap" and note.author == "Dr Ada Test, PsyD"
    first, *rest = note.sections
    assert first.key == "subjective"
    assert first.text == (
        "Date: 2026-01-05\n"
        "Time: 10:03 to 10:53 (UTC+01:00)\n"
        "Duration: 50 min 12 s\n"
        "Modality: video (Quietroom, end-to-end encrypted)\n"
        "\n"
    )
    assert all(s.text == "" for s in rest)
    record = practice.open_client(video.client_id)
    assert [s.note_ids for s in record.sessions if s.id == video.id] == [(note.id,)]
    # It is an ordinary draft: found by search, editable, signable.
    assert any(hit.note_id == note.id for hit in practice.search("Quietroom").notes)
    practice.save_draft(note.id, {"subjective": first.text + "Client reports better sleep."})
    signed = practice.sign_note(note.id)
    assert signed.text("subjective").startswith("Date: 2026-01-05\n")
    assert "Quietroom" not in all_details()  # note text never reaches the log


def test_call_note_with_another_template_and_in_utc(practice: Practice, video: Session) -> None:
    note = practice.create_call_note(
        video.id, datetime(2026, 1, 5, 23, 40, tzinfo=UTC), 3 * 3600 + 5, "dap"
    )
    assert note.template_key == "dap"
    assert note.sections[0].text.splitlines()[:3] == [
        "Date: 2026-01-05",
        "Time: 23:40 to 02:40 (UTC)",
        "Duration: 3 h 00 min 05 s",
    ]


def test_call_note_header_refuses_nonsense() -> None:
    with pytest.raises(InvalidFieldError):
        call_note_header(datetime(2026, 1, 5, 9), 60)
    with pytest.raises(InvalidFieldError):
        call_note_header(datetime(2026, 1, 5, 9, tzinfo=UTC), -1)
    with pytest.raises(InvalidFieldError):
        call_note_header(datetime(2026, 1, 5, 9, tzinfo=UTC), 25 * 3600)
    assert "Duration: 0 min 09 s" in call_note_header(datetime(2026, 1, 5, 9, tzinfo=UTC), 9.4)
    west = timezone(-timedelta(hours=4, minutes=30))
    assert "(UTC-04:30)" in call_note_header(datetime(2026, 1, 5, 9, tzinfo=west), 60)


def test_an_impossible_duration_is_refused(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    new_entries()
    with pytest.raises(InvalidFieldError):
        practice.record_call_ended(video.id, -5.0, verified=False)
    with pytest.raises(InvalidFieldError):
        practice.create_call_note(video.id, datetime.now(UTC), 2 * 86_400)
    assert new_entries() == []
