"""A note's header fields: when the session was held, how long, and how (in person, video,
phone). They sit above the note's sections, never inside them: the post-call note gets the call's
real start and length here instead of a block of text in Subjective.

A note written for a session starts with the session's time, length and modality; a call note
with the call's. The header is part of what is signed (``signature``, encoding version 2) and,
like the note, cannot change once signed (a trigger refuses it, as for ``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crypto.audit.actions import AuditAction
from crypto.migrations import statements
from crypto.vault import Transaction, Vault
from desktop.core.errors import InvalidFieldError, NoteNotFoundError, NoteSignedError
from desktop.core.sessions import Modality, load_session
from desktop.core.stamps import from_iso, to_iso

MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class NoteHeader:
    held_at: datetime  # when the session began (aware)
    duration_minutes: int
    modality: Modality

    def check(self) -> NoteHeader:
        if self.held_at.tzinfo is None:
            raise InvalidFieldError("the session's time must carry a time zone")
        if not 0 <= self.duration_minutes <= MAX_MINUTES:
            raise InvalidFieldError("a session lasts between 0 minutes and 24 hours")
        Modality(self.modality)
        return self

    def signed_fields(self) -> tuple[str, str, str]:
        return (to_iso(self.held_at), str(self.duration_minutes), str(Modality(self.modality)))


# Practice migration 2 (schema.py appends it): one row per note that has a header.
MIGRATION_STATEMENTS = statements(
    "CREATE TABLE note_headers("
    " note_id TEXT PRIMARY KEY REFERENCES notes(id),"
    " held_at TEXT NOT NULL,"
    " duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 0 AND 1440),"
    " modality TEXT NOT NULL CHECK (modality IN ('in_person', 'video', 'phone')))",
    "CREATE TRIGGER note_headers_signed_frozen BEFORE UPDATE ON note_headers"
    " WHEN (SELECT status FROM notes WHERE id = old.note_id) = 'signed'"
    " BEGIN SELECT RAISE(ABORT, 'a signed note cannot change'); END",
    "CREATE TRIGGER note_headers_signed_kept BEFORE DELETE ON note_headers"
    " WHEN (SELECT status FROM notes WHERE id = old.note_id) = 'signed'"
    " AND NOT EXISTS (SELECT 1 FROM retention_purge r JOIN notes n ON n.client_id = r.client_id"
    "  WHERE n.id = old.note_id)"
    " BEGIN SELECT RAISE(ABORT, 'a signed note is kept until the retention action'); END",
)


def load_header(vault: Vault, note_id: str) -> NoteHeader | None:
    rows = vault.query(
        "SELECT held_at, duration_minutes, modality FROM note_headers WHERE note_id = ?",
        (note_id,),
    )
    if not rows:
        return None
    held_at, minutes, modality = rows[0]
    return NoteHeader(from_iso(held_at), int(minutes), Modality(modality))


def write_header(tx: Transaction, note_id: str, header: NoteHeader) -> None:
    header.check()
    tx.execute(
        "INSERT INTO note_headers(note_id, held_at, duration_minutes, modality)"
        " VALUES (?, ?, ?, ?) ON CONFLICT(note_id) DO UPDATE SET held_at = excluded.held_at,"
        " duration_minutes = excluded.duration_minutes, modality = excluded.modality",
        (note_id, to_iso(header.held_at), header.duration_minutes, str(Modality(header.modality))),
    )


def from_session(vault: Vault, session_id: str) -> NoteHeader:
    session = load_session(vault, session_id)
    return NoteHeader(session.starts_at, session.duration_minutes, session.modality)


def set_header(vault: Vault, note_id: str, header: NoteHeader) -> NoteHeader:
    """Change a draft's header (audited as an edit of the note)."""
    header.check()
    with vault.transaction() as tx:
        row = tx.execute("SELECT status, client_id FROM notes WHERE id = ?", (note_id,)).fetchone()
        if row is None:
            raise NoteNotFoundError(f"no note {note_id}")
        if row[0] != "draft":
            raise NoteSignedError("the note was signed; changes go into an amendment")
        write_header(tx, note_id, header)
        tx.audit(
            AuditAction.NOTE_EDITED,
            object_type="note",
            object_id=note_id,
            details={"client_id": row[1], "header": True},
        )
    return header
