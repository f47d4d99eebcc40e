from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from desktop.core.errors import (
    CompartmentError,
    EmptyNoteError,
    InvalidFieldError,
    NoteNotFoundError,
    NoteNotSignedError,
    NoteSignedError,
)
from desktop.core.notes import NoteKind, NoteStatus, SignatureCheck
from desktop.core.practice import Practice
from desktop.core.settings import PracticeSettings
from desktop.core.signature import SignedContent, note_signature

Entries = Callable[[], list[tuple[str, str, str]]]
CANARY = "CANARY-zebra-lighthouse"


def signed_note(practice: Practice, client_id: str, text: str = "worried about work") -> str:
    note = practice.create_note(client_id, "soap")
    practice.save_draft(note.id, {"subjective": text, "plan": "breathing practice"})
    practice.sign_note(note.id)
    return note.id


def test_sign_and_lock(practice: Practice, client_id: str, clock: object) -> None:
    practice.update_settings(
        PracticeSettings(therapist_name="Dr. Robin Quill", therapist_credentials="LCSW")
    )
    note = practice.create_note(client_id, "soap")
    assert note.status is NoteStatus.DRAFT and note.signature_check is SignatureCheck.UNSIGNED
    with pytest.raises(EmptyNoteError):
        practice.sign_note(note.id)
    practice.save_draft(note.id, {"subjective": "slept badly"})
    signed = practice.sign_note(note.id)  # the pending text is written before signing
    assert signed.text("subjective") == "slept badly"
    assert signed.author == "Dr. Robin Quill, LCSW"
    assert signed.signed_at == clock()  # type: ignore[operator]
    assert signed.signature_check is SignatureCheck.VALID
    expected = note_signature(
        SignedContent(
            note.id, client_id, None, "progress", "original", None, "", "soap", "SOAP",
            [(s.key, s.title, s.text) for s in signed.sections], False,
            "Dr. Robin Quill, LCSW", "2026-01-05T09:00:00.000000Z",
        )
    )  # fmt: skip
    assert signed.signature == expected
    with pytest.raises(NoteSignedError):
        practice.save_draft(note.id, {"subjective": "changed"})
    with pytest.raises(NoteSignedError):
        practice.sign_note(note.id)
    with pytest.raises(NoteSignedError):
        practice.discard_draft(note.id)
    assert practice.open_note(note.id).text("subjective") == "slept badly"


def test_signature_encoding_is_injective() -> None:
    base = SignedContent("n", "c", None, "progress", "original", None, "", "free", "Free",
                         [("note", "Note", "ab")], False, "me", "t")  # fmt: skip
    shifted = SignedContent("n", "c", None, "progress", "original", None, "", "free", "Free",
                            [("note", "Note", "a"), ("b", "", "")], False, "me", "t")  # fmt: skip
    assert note_signature(base) != note_signature(shifted)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", "body || 'x'"),
        ("author", "'someone else'"),
        ("signed_at", "'2026-01-04T09:00:00.000000Z'"),
    ],
)
def test_a_tampered_signed_note_is_reported(
    practice: Practice, client_id: str, new_entries: Entries, column: str, value: str
) -> None:
    note_id = signed_note(practice, client_id)
    vault = practice._vault
    with vault.transaction() as tx:  # an attacker with the key, bypassing the guard trigger
        tx.execute("DROP TRIGGER notes_signed_frozen")
        tx.execute(f"UPDATE notes SET {column} = {value} WHERE id = ?", (note_id,))
    new_entries()
    assert practice.open_note(note_id).signature_check is SignatureCheck.TAMPERED
    assert new_entries() == [
        ("note.opened", "note", note_id),
        ("note.signature_mismatch", "note", note_id),
    ]


def test_rehashing_a_tampered_note_still_shows(practice: Practice, client_id: str) -> None:
    """The signing entry in the keyed audit log anchors the signature."""
    note_id = signed_note(practice, client_id)
    vault = practice._vault
    note = practice.open_note(note_id)
    forged_sections = [(s.key, s.title, s.text + " forged") for s in note.sections]
    content = SignedContent(note.id, client_id, None, "progress", "original", None, "", "soap",
                            "SOAP", forged_sections, False, note.author,
                            "2026-01-05T09:00:00.000000Z")  # fmt: skip
    with vault.transaction() as tx:
        tx.execute("DROP TRIGGER notes_signed_frozen")
        tx.execute(
            "UPDATE notes SET body = ?, signature = ? WHERE id = ?",
            ("\x1e".join(s[2] for s in forged_sections), note_signature(content), note_id),
        )
    assert practice.open_note(note_id).signature_check is SignatureCheck.TAMPERED


def test_amendment_addendum_late_entry_and_history(
    practice: Practice, client_id: str, clock: object, new_entries: Entries
) -> None:
    original = signed_note(practice, client_id, "first version")
    with pytest.raises(InvalidFieldError):
        practice.amend_note(original, "   ")
    new_entries()
    amendment = practice.amend_note(original, "wrong medication named")
    assert new_entries() == [("note.amended", "note", amendment.id)]
    assert amendment.kind is NoteKind.AMENDMENT and amendment.parent_id == original
    assert amendment.text("subjective") == "first version"  # prefilled, to correct
    practice.save_draft(amendment.id, {"subjective": "corrected version"})
    clock.advance(60)  # type: ignore[attr-defined]
    practice.sign_note(amendment.id)
    addendum = practice.add_addendum(original, "phone call after session")
    assert [s.key for s in addendum.sections] == ["addendum"]
    clock.advance(60)  # type: ignore[attr-defined]
    late = practice.add_late_entry(amendment.id, "forgot the risk assessment")
    assert late.parent_id == original  # linked entries attach to the original
    practice.save_draft(late.id, {"assessment": "low risk"})
    assert practice.sign_note(late.id).late

    opened = practice.open_note(original)
    assert opened.text("subjective") == "first version"  # the original stays as it was
    assert [h.kind for h in opened.history] == [
        NoteKind.ORIGINAL, NoteKind.AMENDMENT, NoteKind.ADDENDUM, NoteKind.LATE_ENTRY,
    ]  # fmt: skip
    assert [h.id for h in practice.open_note(late.id).history] == [h.id for h in opened.history]
    assert practice.open_note(amendment.id).reason == "wrong medication named"
    with pytest.raises(NoteNotSignedError):
        practice.amend_note(addendum.id, "not signed yet")


def test_late_entry_flag_follows_the_threshold(
    practice: Practice, client_id: str, clock: object
) -> None:
    session = practice.schedule_session(client_id, datetime(2026, 1, 5, 8, tzinfo=UTC))
    ends = session.ends_at

    def sign_at(hours_after_end: float) -> bool:
        clock.now = ends + timedelta(hours=hours_after_end)  # type: ignore[attr-defined]
        note = practice.create_note(client_id, "free", session_id=session.id)
        practice.save_draft(note.id, {"note": "x"})
        assert practice.open_note(note.id).late == (hours_after_end > limit)  # shown on drafts
        return practice.sign_note(note.id).late

    limit = 48
    assert not sign_at(47.9)
    assert sign_at(48.1)
    practice.update_settings(PracticeSettings(late_entry_hours=72))
    limit = 72
    assert not sign_at(60)
    assert sign_at(73)
    note = practice.create_note(client_id, "free")  # no session: never late
    practice.save_draft(note.id, {"note": "x"})
    assert not practice.sign_note(note.id).late


def test_psychotherapy_notes_are_a_separate_compartment(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    progress = signed_note(practice, client_id)
    private = practice.create_psychotherapy_note(client_id)
    practice.save_draft(private.id, {"note": "process notes"})
    practice.sign_note(private.id)
    with pytest.raises(CompartmentError):
        practice.open_note(private.id)
    with pytest.raises(CompartmentError):
        practice.open_psychotherapy_note(progress)
    record = practice.open_client(client_id)
    assert [n.id for n in record.notes] == [progress]
    assert record.psychotherapy_note_count == 1
    new_entries()
    assert [n.id for n in practice.list_psychotherapy_notes(client_id)] == [private.id]
    assert practice.open_psychotherapy_note(private.id).text("note") == "process notes"
    assert new_entries() == [
        ("psychotherapy_note.listed", "client", client_id),
        ("psychotherapy_note.opened", "note", private.id),
    ]
    amendment = practice.amend_note(private.id, "clarify")
    with pytest.raises(CompartmentError):
        practice.open_note(amendment.id)


def test_discard_a_draft(practice: Practice, client_id: str, new_entries: Entries) -> None:
    note = practice.create_note(client_id)
    practice.save_draft(note.id, {"plan": "x"})
    new_entries()
    practice.discard_draft(note.id)
    assert new_entries() == [("note.draft_discarded", "note", note.id)]
    with pytest.raises(NoteNotFoundError):
        practice.open_note(note.id)


def test_unknown_sections_are_refused(practice: Practice, client_id: str) -> None:
    note = practice.create_note(client_id, "dap")
    with pytest.raises(InvalidFieldError):
        practice.save_draft(note.id, {"subjective": "not a DAP section"})


def test_note_text_never_reaches_the_audit_log(
    practice: Practice, client_id: str, all_details: Callable[[], str]
) -> None:
    note_id = signed_note(practice, client_id, CANARY)
    practice.open_note(note_id)
    practice.amend_note(note_id, f"reason {CANARY}")
    practice.search(CANARY)
    assert CANARY not in all_details()
