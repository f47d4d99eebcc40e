"""The audit log as the therapist sees it: filtered by time, action and client, newest first.
Viewing it is itself audited."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from crypto.audit.actions import AuditAction
from crypto.audit.entry import Scalar
from crypto.vault import Vault
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
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(max(1, min(flt.limit, MAX_ROWS)))
    with vault.transaction() as tx:
        rows = tx.execute(sql, params).fetchall()
        tx.audit(
            AuditAction.AUDIT_VIEWED,
            object_type="client" if flt.client_id else "",
            object_id=flt.client_id or "",
            details={"entries": len(rows), "filtered": bool(where)},
        )
    return tuple(
        AuditRecord(r[0], from_iso(r[1]), r[2], r[3], r[4], r[5], r[6], json.loads(r[7]))
        for r in rows
    )
