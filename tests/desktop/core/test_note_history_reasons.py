"""Each entry of a note's history carries its reason, so the editor can list why every amendment,
addendum and late entry was written without opening (and auditing) each one."""

from __future__ import annotations

from desktop.core.notes import NoteKind
from desktop.core.practice import Practice


def test_history_and_timeline_carry_each_entry_reason(practice: Practice, client_id: str) -> None:
    note = practice.create_note(client_id, "soap")
    practice.save_draft(note.id, {"subjective": "first version"})
    practice.sign_note(note.id)
    amendment = practice.amend_note(note.id, "wrong medication named")
    assert amendment.reason == "wrong medication named"
    practice.save_draft(amendment.id, {"subjective": "second version"})
    practice.sign_note(amendment.id)
    addendum = practice.add_addendum(note.id, "lab results arrived")

    history = practice.open_note(addendum.id).history
    assert [(h.kind, h.reason) for h in history] == [
        (NoteKind.ORIGINAL, ""),
        (NoteKind.AMENDMENT, "wrong medication named"),
        (NoteKind.ADDENDUM, "lab results arrived"),
    ]
    timeline = {n.id: n.reason for n in practice.open_client(client_id).notes}
    assert timeline[amendment.id] == "wrong medication named"
    assert timeline[note.id] == ""
