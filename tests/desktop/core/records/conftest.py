"""A client with something of everything: sessions of every kind, a signed SOAP note with an
amendment and an addendum, a draft, and a signed psychotherapy note."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality

PSYCHOTHERAPY_WORDS = "Countertransference hunch about the harbour dream"
PROGRESS_WORDS = "Reports sleeping better since the walking routine"


@dataclass(frozen=True)
class RichClient:
    id: str
    sessions: tuple[str, ...]
    note: str
    amendment: str
    addendum: str
    draft: str
    psychotherapy_note: str


@pytest.fixture
def rich_client(practice: Practice) -> RichClient:
    client = practice.create_client(
        ClientDetails(
            name="Zoë Ångström-Novak",
            preferred_name="Zoë",
            date_of_birth=date(1988, 3, 14),
            pronouns="she/her",
            email="zoe@example.org",
            phone="555-0142",
            address="1 Demo Lane\nSpringfield",
            emergency_contact="Sam Novak, 555-0143",
            diagnosis_codes="F41.1, Z63.0",
        )
    )
    start = datetime(2025, 12, 1, 15, 0, tzinfo=UTC)
    kinds = [
        (Attendance.ATTENDED, Modality.IN_PERSON, 53),
        (Attendance.ATTENDED, Modality.VIDEO, 45),
        (Attendance.NO_SHOW, Modality.IN_PERSON, 45),
        (Attendance.CANCELLED, Modality.PHONE, 30),
    ]
    sessions = [
        practice.schedule_session(
            client.id,
            start + timedelta(weeks=i),
            duration_minutes=minutes,
            modality=modality,
            attendance=attendance,
        ).id
        for i, (attendance, modality, minutes) in enumerate(kinds)
    ]
    note = practice.create_note(client.id, "soap", session_id=sessions[0])
    practice.save_draft(note.id, {"subjective": PROGRESS_WORDS, "plan": "Continue weekly."})
    practice.sign_note(note.id)
    amendment = practice.amend_note(note.id, "Wrong plan frequency")
    practice.save_draft(amendment.id, {"subjective": PROGRESS_WORDS, "plan": "Fortnightly."})
    practice.sign_note(amendment.id)
    addendum = practice.add_addendum(note.id, "Client called afterwards")
    practice.save_draft(addendum.id, {"addendum": "Asked to move the next session."})
    practice.sign_note(addendum.id)
    draft = practice.create_note(client.id, "dap", session_id=sessions[1])
    practice.save_draft(draft.id, {"data": "Unfinished draft text"})
    practice.close_draft(draft.id)
    private = practice.create_psychotherapy_note(client.id, session_id=sessions[0])
    practice.save_draft(private.id, {s.key: PSYCHOTHERAPY_WORDS for s in private.sections})
    practice.sign_note(private.id)
    return RichClient(
        client.id, tuple(sessions), note.id, amendment.id, addendum.id, draft.id, private.id
    )
