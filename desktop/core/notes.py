"""Notes: progress notes and psychotherapy notes, drafts, signing, and the entries linked to a
signed note (amendments, addenda, late entries).

Lifecycle: ``draft`` (editable, autosaved) -> ``signed`` (locked for ever; the database refuses
any update). A correction or addition is a new entry linked to the original, with its own reason,
author and time, and goes through the same lifecycle. Psychotherapy notes live in their own
compartment: they are read only through ``open_note(..., Compartment.PSYCHOTHERAPY)``, which is
audited under its own action name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction, Outcome
from crypto.vault import Transaction, Vault
from desktop.core.clients import load_client, require_active
from desktop.core.errors import (
    CompartmentError,
    EmptyNoteError,
    InvalidFieldError,
    NoteNotFoundError,
    NoteNotSignedError,
    NoteSignedError,
)
from desktop.core.note_header import NoteHeader, from_session, load_header, write_header
from desktop.core.sessions import load_session
from desktop.core.signature import SignedContent, note_signature
from desktop.core.stamps import from_iso, maybe_from_iso, new_id, to_iso
from desktop.core.templates import Template, TemplateSection

SEPARATOR = "\x1e"  # between section texts in ``notes.body``; a separator for the FTS tokenizer
MAX_REASON = 500
MAX_SECTION_CHARS = 200_000
ADDENDUM_SECTIONS = (TemplateSection("addendum", "Addendum"),)


class Compartment(StrEnum):
    PROGRESS = "progress"
    PSYCHOTHERAPY = "psychotherapy"


class NoteKind(StrEnum):
    ORIGINAL = "original"
    AMENDMENT = "amendment"  # corrects a signed note
    ADDENDUM = "addendum"  # adds information to a signed note
    LATE_ENTRY = "late_entry"  # documents, after the fact, what belonged with a signed note


class NoteStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


class SignatureCheck(StrEnum):
    UNSIGNED = "unsigned"
    VALID = "valid"
    TAMPERED = "tampered"  # content, author or time differ from what was signed


_LINK_ACTIONS = {
    NoteKind.AMENDMENT: AuditAction.NOTE_AMENDED,
    NoteKind.ADDENDUM: AuditAction.NOTE_ADDENDUM_ADDED,
    NoteKind.LATE_ENTRY: AuditAction.NOTE_LATE_ENTRY_ADDED,
}


@dataclass(frozen=True)
class NoteSection:
    key: str
    title: str
    text: str


@dataclass(frozen=True)
class NoteSummary:
    """A note in a list or timeline: no content."""

    id: str
    client_id: str
    session_id: str | None
    compartment: Compartment
    kind: NoteKind
    parent_id: str | None
    template_name: str
    status: NoteStatus
    author: str
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None
    late: bool  # signed late; for a draft: would be late if signed now (see ``Note``)
    reason: str  # why a linked entry was written ("" for an original), shown in the history


@dataclass(frozen=True)
class Note(NoteSummary):
    template_key: str
    sections: tuple[NoteSection, ...]
    signature: str | None
    signature_check: SignatureCheck
    history: tuple[NoteSummary, ...]  # the original and every linked entry, in order
    header: NoteHeader | None = None  # when, how long, how (note_header)
    client_name: str = ""  # whom the note is about, for the note screen (inside the window)

    def text(self, key: str) -> str:
        return next((s.text for s in self.sections if s.key == key), "")

    @property
    def is_empty(self) -> bool:
        return not any(s.text.strip() for s in self.sections)


SUMMARY_COLUMNS = (
    "id, client_id, session_id, compartment, kind, parent_id, template_name, status, author,"
    " created_at, updated_at, signed_at, late, reason"
)
_NOTE_COLUMNS = SUMMARY_COLUMNS + ", template_key, sections, body, signature"


def summary_from_row(row: Sequence[Any]) -> NoteSummary:
    return NoteSummary(
        row[0],
        row[1],
        row[2],
        Compartment(row[3]),
        NoteKind(row[4]),
        row[5],
        row[6],
        NoteStatus(row[7]),
        row[8],
        from_iso(row[9]),
        from_iso(row[10]),
        maybe_from_iso(row[11]),
        bool(row[12]),
        row[13],
    )


def encode_body(keys: Sequence[str], texts: Mapping[str, str]) -> str:
    unknown = set(texts) - set(keys)
    if unknown:
        raise InvalidFieldError(f"this note has no section {sorted(unknown)[0]!r}")
    parts = []
    for key in keys:
        text = texts.get(key, "")
        if len(text) > MAX_SECTION_CHARS:
            raise InvalidFieldError(f"section {key!r} is longer than {MAX_SECTION_CHARS}")
        parts.append(text.replace(SEPARATOR, " "))
    return SEPARATOR.join(parts)


def decode_sections(sections_json: str, body: str) -> tuple[NoteSection, ...]:
    heads = json.loads(sections_json)
    texts = body.split(SEPARATOR) if body else []
    texts += [""] * (len(heads) - len(texts))
    return tuple(NoteSection(k, t, x) for (k, t), x in zip(heads, texts, strict=False))


def summaries(vault: Vault, client_id: str, compartment: Compartment) -> tuple[NoteSummary, ...]:
    """A client's notes of one compartment, newest first (unaudited helper for the callers)."""
    rows = vault.query(
        f"SELECT {SUMMARY_COLUMNS} FROM notes WHERE client_id = ? AND compartment = ?"  # noqa: S608 (constant SQL)
        " ORDER BY created_at DESC, seq DESC",
        (client_id, str(compartment)),
    )
    return tuple(summary_from_row(r) for r in rows)


def _signed_content(note: Note, *, late: bool, author: str, signed_at: str) -> SignedContent:
    return SignedContent(
        note_id=note.id,
        client_id=note.client_id,
        session_id=note.session_id,
        compartment=str(note.compartment),
        kind=str(note.kind),
        parent_id=note.parent_id,
        reason=note.reason,
        template_key=note.template_key,
        template_name=note.template_name,
        sections=[(s.key, s.title, s.text) for s in note.sections],
        late=late,
        author=author,
        signed_at=signed_at,
        header=note.header.signed_fields() if note.header is not None else None,
    )


def _check_signature(vault: Vault, row: Sequence[Any], note: Note) -> SignatureCheck:
    if note.status is NoteStatus.DRAFT:
        return SignatureCheck.UNSIGNED
    expected = note_signature(
        _signed_content(note, late=note.late, author=note.author, signed_at=row[11])
    )
    if expected != note.signature:
        return SignatureCheck.TAMPERED
    # The signing entry in the keyed audit chain is the anchor: a note re-hashed after the fact
    # no longer matches it. (Notes made by the demo generator have no signing entry.)
    for (details,) in vault.query(
        "SELECT details FROM audit_log WHERE object_type = 'note' AND object_id = ? AND action = ?",
        (note.id, str(AuditAction.NOTE_SIGNED)),
    ):
        if json.loads(details).get("signature") != note.signature:
            return SignatureCheck.TAMPERED
    return SignatureCheck.VALID


def late_threshold_passed(
    vault: Vault, session_id: str | None, at: datetime, threshold: timedelta
) -> bool:
    if session_id is None:
        return False
    return at - load_session(vault, session_id).ends_at > threshold


def read_note(vault: Vault, note_id: str, late_threshold: timedelta | None = None) -> Note:
    """The note, its signature checked and its history listed; unaudited (callers audit)."""
    rows = vault.query(f"SELECT {_NOTE_COLUMNS} FROM notes WHERE id = ?", (note_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise NoteNotFoundError(f"no note {note_id}")
    row = list(rows[0])
    autosaved = vault.query(
        "SELECT body, saved_at FROM note_autosave WHERE note_id = ?", (note_id,)
    )
    if autosaved and row[7] == NoteStatus.DRAFT:
        row[16], row[10] = autosaved[0]  # the latest text, as recovered after a crash too
    summary = summary_from_row(row)
    root = summary.parent_id or summary.id
    history = tuple(
        summary_from_row(r)
        for r in vault.query(
            f"SELECT {SUMMARY_COLUMNS} FROM notes WHERE id = ? OR parent_id = ?"  # noqa: S608 (constant SQL)
            " ORDER BY created_at, seq",
            (root, root),
        )
    )
    late = summary.late
    if summary.status is NoteStatus.DRAFT and late_threshold is not None:
        late = summary.kind is NoteKind.LATE_ENTRY or (
            summary.kind is NoteKind.ORIGINAL
            and late_threshold_passed(
                vault, summary.session_id, vault.options.clock(), late_threshold
            )
        )
    note = Note(
        **{**vars(summary), "late": late},
        template_key=row[14],
        sections=decode_sections(row[15], row[16]),
        signature=row[17],
        signature_check=SignatureCheck.UNSIGNED,
        history=history,
        header=load_header(vault, note_id),
        client_name=load_client(vault, summary.client_id).details.name,
    )
    return replace(note, signature_check=_check_signature(vault, row, note))


def open_note(
    vault: Vault, note_id: str, compartment: Compartment, late_threshold: timedelta
) -> Note:
    """Read a note for display, audited; a psychotherapy note only with that compartment named."""
    note = read_note(vault, note_id, late_threshold)
    if note.compartment is not compartment:
        raise CompartmentError("open psychotherapy notes from their own tab")
    action = (
        AuditAction.PSYCHOTHERAPY_NOTE_OPENED
        if compartment is Compartment.PSYCHOTHERAPY
        else AuditAction.NOTE_OPENED
    )
    with vault.transaction() as tx:
        tx.audit(
            action,
            object_type="note",
            object_id=note.id,
            details={"client_id": note.client_id, "signature": str(note.signature_check)},
        )
        if note.signature_check is SignatureCheck.TAMPERED:
            tx.audit(
                AuditAction.NOTE_SIGNATURE_MISMATCH,
                object_type="note",
                object_id=note.id,
                outcome=Outcome.FAILURE,
                details={"client_id": note.client_id},
            )
    return note


def create_note(
    vault: Vault,
    client_id: str,
    template: Template,
    *,
    author: str,
    session_id: str | None = None,
    compartment: Compartment = Compartment.PROGRESS,
) -> Note:
    """A new, empty draft from a template, for a session of the client (or none)."""
    require_active(vault, client_id)
    if session_id is not None and load_session(vault, session_id).client_id != client_id:
        raise InvalidFieldError("the session belongs to another client")
    note_id = new_id()
    sections = tuple((s.key, s.title) for s in template.sections)
    header = from_session(vault, session_id) if session_id is not None else None
    _insert(vault, note_id, client_id, session_id, Compartment(compartment), NoteKind.ORIGINAL,
            None, "", template.key, template.name, sections, "", author, header)  # fmt: skip
    return read_note(vault, note_id)


def _insert(
    vault: Vault,
    note_id: str,
    client_id: str,
    session_id: str | None,
    compartment: Compartment,
    kind: NoteKind,
    parent_id: str | None,
    reason: str,
    template_key: str,
    template_name: str,
    sections: Sequence[tuple[str, str]],
    body: str,
    author: str,
    header: NoteHeader | None = None,
) -> None:
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO notes(id, client_id, session_id, compartment, kind, parent_id, reason,"
            " template_key, template_name, sections, body, status, author, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)",
            (note_id, client_id, session_id, str(compartment), str(kind), parent_id, reason,
             template_key, template_name, json.dumps([list(s) for s in sections]), body, author,
             now, now),
        )  # fmt: skip
        if header is not None:
            write_header(tx, note_id, header)
        details: dict[str, str | int | bool | None] = {
            "client_id": client_id,
            "compartment": str(compartment),
        }
        if parent_id is not None:
            details["parent_id"] = parent_id
        tx.audit(
            _LINK_ACTIONS.get(kind, AuditAction.NOTE_CREATED),
            object_type="note",
            object_id=note_id,
            details=details,
        )


def add_linked_entry(
    vault: Vault, note_id: str, kind: NoteKind, reason: str, *, author: str
) -> Note:
    """Start an amendment (prefilled with the signed text, to correct), an addendum (one empty
    section) or a late entry (the original's sections, empty), linked to the original note.
    Entries linked to a linked entry attach to the same original, so history stays one list."""
    if kind is NoteKind.ORIGINAL:
        raise InvalidFieldError("choose amendment, addendum or late entry")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidFieldError(f"give a reason of 1-{MAX_REASON} characters")
    parent = read_note(vault, note_id)
    if parent.status is not NoteStatus.SIGNED:
        raise NoteNotSignedError("only a signed note can be amended")
    load_client(vault, parent.client_id)
    if kind is NoteKind.ADDENDUM:
        sections = tuple((s.key, s.title) for s in ADDENDUM_SECTIONS)
        body, key, name = "", "addendum", "Addendum"
    else:
        sections = tuple((s.key, s.title) for s in parent.sections)
        texts = {s.key: s.text for s in parent.sections} if kind is NoteKind.AMENDMENT else {}
        body = encode_body([k for k, _ in sections], texts)
        key, name = parent.template_key, parent.template_name
    new = new_id()
    header = parent.header if kind is not NoteKind.ADDENDUM else None
    _insert(vault, new, parent.client_id, parent.session_id, parent.compartment, kind,
            parent.parent_id or parent.id, reason, key, name, sections, body, author,
            header)  # fmt: skip
    return read_note(vault, new)


def persist_draft(vault: Vault, note_id: str, client_id: str, body: str, *, audit: bool) -> None:
    """Autosave a draft's text (to ``note_autosave``, not yet indexed). ``audit`` is true for the
    first write of an editing session only: edits are audited once per session of a draft, not
    per keystroke."""
    with vault.transaction() as tx:
        status = tx.execute("SELECT status FROM notes WHERE id = ?", (note_id,)).fetchone()
        if status is None:
            raise NoteNotFoundError(f"no note {note_id}")
        if status[0] != NoteStatus.DRAFT:
            raise NoteSignedError("the note was signed; changes go into an amendment")
        tx.execute(
            "INSERT INTO note_autosave(note_id, body, saved_at) VALUES (?, ?, ?)"
            " ON CONFLICT(note_id) DO UPDATE SET body = excluded.body,"
            " saved_at = excluded.saved_at",
            (note_id, body, to_iso(vault.options.clock())),
        )
        if audit:
            tx.audit(
                AuditAction.NOTE_EDITED,
                object_type="note",
                object_id=note_id,
                details={"client_id": client_id},
            )


def fold_autosave(tx: Transaction, note_id: str | None = None) -> None:
    """Move autosaved text into the draft itself (and so into the search index): when the editor
    closes the draft, before signing, at lock, and at unlock for text left by a crash."""
    sql = "SELECT note_id, body, saved_at FROM note_autosave WHERE ?1 IS NULL OR note_id = ?1"
    for saved_id, body, saved_at in tx.execute(sql, (note_id,)).fetchall():
        tx.execute(
            "UPDATE notes SET body = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
            (body, saved_at, saved_id),
        )
        tx.execute("DELETE FROM note_autosave WHERE note_id = ?", (saved_id,))


def fold_autosaves(vault: Vault, note_id: str | None = None) -> None:
    if note_id is None and not vault.query("SELECT 1 FROM note_autosave LIMIT 1"):
        return
    with vault.transaction() as tx:
        fold_autosave(tx, note_id)


def sign_note(vault: Vault, note_id: str, *, author: str, late_threshold: timedelta) -> Note:
    """Sign and lock. The late flag is decided now: an original note signed more than the
    threshold after its session ended is a late entry; an explicit late entry always is."""
    note = read_note(vault, note_id)
    if note.status is NoteStatus.SIGNED:
        raise NoteSignedError("the note is already signed")
    if note.is_empty:
        raise EmptyNoteError("the note is empty")
    now = vault.options.clock()
    late = note.kind is NoteKind.LATE_ENTRY or (
        note.kind is NoteKind.ORIGINAL
        and late_threshold_passed(vault, note.session_id, now, late_threshold)
    )
    signed_at = to_iso(now)
    signature = note_signature(_signed_content(note, late=late, author=author, signed_at=signed_at))
    body = SEPARATOR.join(s.text for s in note.sections)
    with vault.transaction() as tx:
        tx.execute("DELETE FROM note_autosave WHERE note_id = ?", (note_id,))
        cursor = tx.execute(
            "UPDATE notes SET body = ?, status = 'signed', signed_at = ?, signature = ?,"
            " late = ?, author = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
            (body, signed_at, signature, int(late), author, signed_at, note_id),
        )
        if cursor.rowcount != 1:
            raise NoteSignedError("the note is already signed")
        tx.audit(
            AuditAction.NOTE_SIGNED,
            object_type="note",
            object_id=note_id,
            details={"client_id": note.client_id, "signature": signature, "late": late},
        )
    return read_note(vault, note_id)


def discard_draft(vault: Vault, note_id: str) -> None:
    """Delete a draft that was never signed (signed notes are kept; see the retention action)."""
    note = read_note(vault, note_id)
    if note.status is NoteStatus.SIGNED:
        raise NoteSignedError("a signed note cannot be discarded")
    with vault.transaction() as tx:
        tx.execute("DELETE FROM note_autosave WHERE note_id = ?", (note_id,))
        tx.execute("DELETE FROM note_headers WHERE note_id = ?", (note_id,))
        tx.execute("DELETE FROM notes WHERE id = ? AND status = 'draft'", (note_id,))
        tx.audit(
            AuditAction.NOTE_DRAFT_DISCARDED,
            object_type="note",
            object_id=note_id,
            details={"client_id": note.client_id},
        )


def list_psychotherapy_notes(vault: Vault, client_id: str) -> tuple[NoteSummary, ...]:
    """The psychotherapy compartment's list for one client (no content); audited on its own."""
    load_client(vault, client_id)
    found = summaries(vault, client_id, Compartment.PSYCHOTHERAPY)
    vault.audit(
        AuditAction.PSYCHOTHERAPY_NOTES_LISTED,
        object_type="client",
        object_id=client_id,
        details={"count": len(found)},
    )
    return found
