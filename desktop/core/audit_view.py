"""The audit log as the therapist sees it: filtered by time, action and client, newest first.
Viewing it is itself audited, and the view includes its own entry (when it matches the filter), so
the number of entries shown agrees with what a verification that follows counts. Each record
carries what the note or appointment it names is (``audit_story.Subject``), read in the same
transaction, so that the page can say "Jordan A.'s progress note of 7 December"."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from crypto.audit.actions import AuditAction
from crypto.audit.entry import Scalar
from crypto.vault import Transaction, Vault
from desktop.core.audit_story import Subject
from desktop.core.stamps import from_iso, to_iso

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
    flt = flt or AuditFilter()
    where: list[str] = []
    params: list[object] = []
    if flt.start is not None:
        where.append("at >= ?")
        params.append(to_iso(flt.start))
    if flt.end is not None:
        where.append("at < ?")
        params.append(to_iso(flt.end))
    if flt.actions:
        where.append(f"action IN ({', '.join('?' * len(flt.actions))})")
        params.extend(flt.actions)
    if flt.client_id is not None:
        where.append(
            "((object_type = 'client' AND object_id = ?)"
            " OR json_extract(details, '$.client_id') = ?)"
        )
        params += [flt.client_id, flt.client_id]
    sql = "SELECT seq, at, actor, action, object_type, object_id, outcome, details FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    limit = max(1, min(flt.limit, MAX_ROWS))
    with vault.transaction() as tx:
        rows = tx.execute(sql + " ORDER BY seq DESC LIMIT ?", [*params, limit]).fetchall()
        tx.audit(
            AuditAction.AUDIT_VIEWED,
            object_type="client" if flt.client_id else "",
            object_id=flt.client_id or "",
            details={"entries": len(rows), "filtered": bool(where)},
        )
        # This viewing's own entry (and any written meanwhile), if the filter admits it.
        newest = rows[0][0] if rows else 0
        newer = " AND ".join([*where, "seq > ?"])
        rows = (
            tx.execute(
                f"{sql.split(' WHERE ')[0]} WHERE {newer} ORDER BY seq DESC", [*params, newest]
            ).fetchall()[:limit]
            + rows
        )
        rows = rows[:limit]
        subjects = _subjects(tx, rows)
    return tuple(
        AuditRecord(
            r[0],
            from_iso(r[1]),
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            json.loads(r[7]),
            subjects.get(r[5]) if r[4] in ("note", "session") else None,
            subjects.get(_parent_id(r[7])) if r[4] == "note" else None,
        )
        for r in rows
    )


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


def _subjects(tx: Transaction, rows: list[tuple[object, ...]]) -> dict[str, Subject]:
    """What each note and appointment the rows name is (and an amendment's original)."""
    note_ids: set[str] = set()
    session_ids: set[str] = set()
    for row in rows:
        object_type, object_id = row[4], row[5]
        if object_type == "note" and isinstance(object_id, str):
            note_ids.add(object_id)
            if parent := _parent_id(row[7]):
                note_ids.add(parent)
        elif object_type == "session" and isinstance(object_id, str):
            session_ids.add(object_id)
    found: dict[str, Subject] = {}
    notes = sorted(note_ids)
    for start in range(0, len(notes), _CHUNK):
        chunk = notes[start : start + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        for note_id, client_id, compartment, kind, created, starts in tx.execute(
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
        for session_id, client_id, starts, modality in tx.execute(
            f"SELECT id, client_id, starts_at, modality FROM sessions WHERE id IN ({marks})",  # noqa: S608 (constant SQL)
            chunk,
        ).fetchall():
            label = "video session" if modality == "video" else "appointment"
            found[session_id] = Subject(client_id, label, from_iso(starts))
    return found
