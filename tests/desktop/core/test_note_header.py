"""A note's header fields (when, how long, how): taken from its session, changed only while a
draft, signed with the note; a change made behind Quietroom's back shows as a broken signature."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crypto.database import IntegrityError
from desktop.core.clients import ClientDetails
from desktop.core.errors import NoteSignedError
from desktop.core.note_header import NoteHeader
from desktop.core.notes import SignatureCheck
from desktop.core.practice import Practice
from desktop.core.sessions import Modality

HELD = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_header_from_the_session_then_signed_and_frozen(practice: Practice) -> None:
    client = practice.create_client(ClientDetails(name="Jordan Avery"))
    session = practice.schedule_session(client.id, HELD, duration_minutes=45,
                                        modality=Modality.PHONE)  # fmt: skip
    note = practice.create_note(client.id, "soap", session_id=session.id)
    assert note.header == NoteHeader(HELD, 45, Modality.PHONE)
    assert note.client_name == "Jordan Avery"
    assert practice.create_note(client.id, "soap").header is None  # no session, no header

    changed = NoteHeader(HELD.replace(minute=10), 40, Modality.PHONE)
    practice.set_note_header(note.id, changed)
    practice.save_draft(note.id, {"subjective": "Talked about sleep."})
    signed = practice.sign_note(note.id)
    assert signed.header == changed
    with pytest.raises(NoteSignedError):
        practice.set_note_header(note.id, NoteHeader(HELD, 10, Modality.VIDEO))

    connection = practice.vault_for_backups()._require_open()
    with pytest.raises(IntegrityError):  # the database refuses it too
        connection.execute("UPDATE note_headers SET duration_minutes = 5")
    # someone with the key who drops the trigger: the signature no longer matches
    connection.execute("DROP TRIGGER note_headers_signed_frozen")
    connection.execute("UPDATE note_headers SET duration_minutes = 5 WHERE note_id = ?", (note.id,))
    assert practice.open_note(note.id).signature_check is SignatureCheck.TAMPERED


def test_an_amendment_keeps_the_header_and_a_draft_with_one_can_be_discarded(
    practice: Practice,
) -> None:
    client = practice.create_client(ClientDetails(name="Jordan Avery"))
    session = practice.schedule_session(client.id, HELD)
    note = practice.create_note(client.id, "soap", session_id=session.id)
    practice.save_draft(note.id, {"subjective": "x"})
    practice.sign_note(note.id)
    amendment = practice.amend_note(note.id, "typo")
    assert amendment.header == note.header
    practice.discard_draft(amendment.id)
    assert practice.open_note(note.id).signature_check is SignatureCheck.VALID
