"""The audit log as the therapist sees it: filtered by time, action and client, newest first.
Viewing it is itself audited, and the view includes its own entry (when it matches the filter), so
the number of entries shown agrees with what a verification that follows counts. Each record
carries what the note or appointment it names is (``audit_story.Subject``), read with the entries,
so that the page can say "Jordan A.'s progress note of 7 December".

The entries are read through the log's indexes (time, client, action: ``Vault.audit_query``) on a
snapshot of their own, so a filter costs the same after ten years as after one, and no writer
waits for it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from crypto.audit.actions import AuditAction
from crypto.audit.entry import AuditEntry, Scalar
from crypto.database import Connection
from crypto.vault import AuditQuery, Vault
from desktop.core.audit_story import Subject
from desktop.core.stamps import from_iso

MAX_ROWS = 10_000
# Every action the log can hold, for the audit page's filter (the UI does not import crypto).
ACTIONS: tuple[str, ...] = tuple(sorted(action.value for action in AuditAction))


@dataclass(frozen=True)
class AuditFilter:
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    actions: tuple[str, ...] = ()
    client_id: str | None = None
    limit: int = 1000


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    details: dict[str, Scalar]
    subject: Subject | None = None  # the note or appointment named by the entry, if still there
    parent: Subject | None = None  # for an amendment, addendum or late entry: its original


def view_audit(vault: Vault, flt: AuditFilter | None = None) -> tuple[AuditRecord, ...]:
    """The entries for ``flt``, newest first, read through the log's indexes (time, client,
    action) on a snapshot of their own, so that no writer waits for the read; then the viewing
    is recorded, and its own entry (with any written since the snapshot) added if the filter
    admits it."""
    flt = flt or AuditFilter()
    query = AuditQuery(
        start=flt.start,
        end=flt.end,
        actions=flt.actions,
        client_id=flt.client_id,
        limit=max(1, min(flt.limit, MAX_ROWS)),
    )
    filtered = bool(flt.start or flt.end or flt.actions or flt.client_id)
    entries = vault.audit_query(query)
    vault.audit(
        AuditAction.AUDIT_VIEWED,
        object_type="client" if flt.client_id else "",
        object_id=flt.client_id or "",
        details={"entries": len(entries), "filtered": filtered},
    )
    newest = entries[0].seq if entries else 0
    entries = (vault.audit_query(replace(query, after_seq=newest)) + entries)[: query.limit]
    with vault.reader() as (conn, _header):
        subjects = _subjects(conn, entries)
    records = []
    for entry in entries:
        details = entry.details_dict()
        parent = details.get("parent_id") if entry.object_type == "note" else None
        records.append(
            AuditRecord(
                entry.seq,
                from_iso(entry.at),
                entry.actor,
                entry.action,
                entry.object_type,
                entry.object_id,
                entry.outcome,
                details,
                subjects.get(entry.object_id) if entry.object_type in ("note", "session") else None,
                subjects.get(parent) if isinstance(parent, str) else None,
            )
        )
    return tuple(records)


def _parent_id(details: object) -> str:
    if '"parent_id"' not in str(details):
        return ""
    parent = json.loads(str(details)).get("parent_id")
    return parent if isinstance(parent, str) else ""


_NOTE_LABELS = {
    "amendment": "amendment",
    "addendum": "addendum",
    "late_entry": "late entry",
}
_CHUNK = 500


def _subjects(conn: Connection, entries: list[AuditEntry]) -> dict[str, Subject]:
    """What each note and appointment the entries name is (and an amendment's original)."""
    note_ids: set[str] = set()
    session_ids: set[str] = set()
    for entry in entries:
        if entry.object_type == "note":
            note_ids.add(entry.object_id)
            if parent := _parent_id(entry.details):
                note_ids.add(parent)
        elif entry.object_type == "session":
            session_ids.add(entry.object_id)
    found: dict[str, Subject] = {}
    notes = sorted(note_ids)
    for start in range(0, len(notes), _CHUNK):
        chunk = notes[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for note_id, client_id, compartment, kind, created, starts in conn.execute(
            "SELECT n.id, n.client_id, n.compartment, n.kind, n.created_at, s.starts_at"  # noqa: S608 (constant SQL)
            f" FROM notes n LEFT JOIN sessions s ON s.id = n.session_id WHERE n.id IN ({marks})",
            chunk,
        ).fetchall():
            label = _NOTE_LABELS.get(kind) or (
                "psychotherapy note" if compartment == "psychotherapy" else "progress note"
            )
            found[note_id] = Subject(client_id, label, from_iso(starts or created))
    sessions = sorted(session_ids)
    for start in range(0, len(sessions), _CHUNK):
        chunk = sessions[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for session_id, client_id, starts, modality in conn.execute(
            f"SELECT id, client_id, starts_at, modality FROM sessions WHERE id IN ({marks})",  # noqa: S608 (constant SQL)
            chunk,
        ).fetchall():
            label = "video session" if modality == "video" else "appointment"
            found[session_id] = Subject(client_id, label, from_iso(starts))
    return found
