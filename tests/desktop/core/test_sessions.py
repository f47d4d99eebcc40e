from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from desktop.core.clients import ClientDetails
from desktop.core.errors import InvalidFieldError, SessionNotFoundError
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality

Entries = Callable[[], list[tuple[str, str, str]]]
MONDAY = datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_schedule_update_and_link_notes(practice: Practice, client_id: str) -> None:
    session = practice.schedule_session(client_id, MONDAY, modality=Modality.VIDEO)
    assert (session.duration_minutes, session.attendance) == (50, Attendance.SCHEDULED)
    assert session.ends_at == MONDAY + timedelta(minutes=50)
    moved = practice.update_session(
        session.id, starts_at=MONDAY + timedelta(hours=1), attendance=Attendance.ATTENDED
    )
    assert moved.starts_at == MONDAY + timedelta(hours=1) and moved.modality is Modality.VIDEO
    note = practice.create_note(client_id, session_id=session.id)
    practice.create_psychotherapy_note(client_id, session_id=session.id)
    (listed,) = practice.open_client(client_id).sessions
    assert listed.note_ids == (note.id,)  # progress notes only


def test_session_validation(practice: Practice, client_id: str) -> None:
    with pytest.raises(InvalidFieldError):
        practice.schedule_session(client_id, MONDAY, duration_minutes=0)
    with pytest.raises(SessionNotFoundError):
        practice.update_session("nope", attendance=Attendance.NO_SHOW)
    other = practice.create_client(ClientDetails(name="Finley Foxglove"))
    session = practice.schedule_session(other.id, MONDAY)
    with pytest.raises(InvalidFieldError, match="another client"):
        practice.create_note(client_id, session_id=session.id)


def test_schedule_lists_sessions_between_two_times(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    for day in range(3):
        practice.schedule_session(client_id, MONDAY + timedelta(days=day))
    new_entries()
    week = practice.list_sessions(MONDAY, MONDAY + timedelta(days=2))
    assert [s.session.starts_at.day for s in week] == [5, 6]
    assert {s.client_name for s in week} == {"Avery Applewood"}
    assert new_entries() == [("session.listed", "session", "")]
    practice.update_session(week[0].session.id, attendance=Attendance.ATTENDED)
    assert new_entries() == [("session.updated", "session", week[0].session.id)]
    practice.update_session(week[0].session.id, attendance=Attendance.ATTENDED)
    assert new_entries() == []
