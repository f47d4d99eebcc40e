"""The audit tables inside the vault database: schema, append, and reading rows back."""

from __future__ import annotations

from collections.abc import Iterator

from crypto import integrity
from crypto.audit.entry import AuditEntry, Row
from crypto.database import Connection
from crypto.migrations import Migration, statements

_SELECT = (
    "SELECT seq, at, actor, action, object_type, object_id, outcome, details, epoch, mac"
    " FROM audit_log"
)


def _append_only(table: str) -> tuple[str, str]:
    return (
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
    )


AUDIT_LOG = Migration(
    1,
    "audit log and key archive",
    statements(
        "CREATE TABLE audit_log("
        " seq INTEGER PRIMARY KEY CHECK (seq > 0),"
        " at TEXT NOT NULL,"
        " actor TEXT NOT NULL,"
        " action TEXT NOT NULL,"
        " object_type TEXT NOT NULL DEFAULT '',"
        " object_id TEXT NOT NULL DEFAULT '',"
        " outcome TEXT NOT NULL,"
        " details TEXT NOT NULL DEFAULT '{}',"
        " epoch INTEGER NOT NULL CHECK (epoch >= 0),"
        " mac BLOB NOT NULL CHECK (length(mac) = 32))",
        *_append_only("audit_log"),
        "CREATE INDEX audit_log_action ON audit_log(action, at)",
        "CREATE INDEX audit_log_object ON audit_log(object_type, object_id)",
        # Audit keys of earlier epochs, kept so that history sealed before a rekey verifies.
        "CREATE TABLE audit_keys(epoch INTEGER PRIMARY KEY, key BLOB NOT NULL)",
        *_append_only("audit_keys"),
    ),
)

# The client an entry concerns, derived from chained fields (so not chained itself), and the time:
# both indexed, so the audit view's filters by client and by period are index lookups.
CLIENT_AND_TIME = Migration(
    3,
    "audit log: indexed client column and time index",
    statements(
        "ALTER TABLE audit_log ADD COLUMN client_id TEXT GENERATED ALWAYS AS ("
        " CASE WHEN object_type = 'client' THEN object_id"
        " ELSE json_extract(details, '$.client_id') END) VIRTUAL",
        "CREATE INDEX audit_log_client ON audit_log(client_id, seq)",
        "CREATE INDEX audit_log_at ON audit_log(at)",
    ),
)


VAULT_MIGRATIONS = (AUDIT_LOG, integrity.MIGRATION, CLIENT_AND_TIME, integrity.CHECKPOINTED)


def insert(conn: Connection, entry: AuditEntry, mac: bytes) -> None:
    conn.execute(
        "INSERT INTO audit_log(seq, at, actor, action, object_type, object_id, outcome,"
        " details, epoch, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.outcome,
            entry.details,
            entry.epoch,
            mac,
        ),
    )


def raw_rows(conn: Connection, after_seq: int = 0) -> Iterator[Row]:
    """Stored rows in order, as tuples (the fast path for verification)."""
    cursor = conn.execute(_SELECT + " WHERE seq > ? ORDER BY seq", (after_seq,))
    while batch := cursor.fetchmany(4096):
        yield from batch


def rows(conn: Connection, after_seq: int = 0) -> Iterator[tuple[AuditEntry, bytes]]:
    for row in raw_rows(conn, after_seq):
        yield _entry(row), bytes(row[9])


def _entry(row: tuple[object, ...]) -> AuditEntry:
    seq, at, actor, action, object_type, object_id, outcome, details, epoch, _ = row
    return AuditEntry(
        seq=int(seq),  # type: ignore[call-overload]
        at=str(at),
        actor=str(actor),
        action=str(action),
        object_type=str(object_type),
        object_id=str(object_id),
        outcome=str(outcome),
        details=str(details),
        epoch=int(epoch),  # type: ignore[call-overload]
    )


def last(conn: Connection) -> tuple[AuditEntry, bytes] | None:
    row = conn.execute(_SELECT + " ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (_entry(row), bytes(row[9]))


def mac_at(conn: Connection, seq: int) -> bytes | None:
    row = conn.execute("SELECT mac FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else bytes(row[0])


def count(conn: Connection) -> int:
    """Entries in the log (a scan: for tests and tools, never on the unlock path)."""
    return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])


def filtered(
    conn: Connection,
    *,
    start: str | None = None,
    end: str | None = None,
    actions: tuple[str, ...] = (),
    client_id: str | None = None,
    limit: int = 1000,
    after_seq: int = 0,
) -> list[tuple[AuditEntry, bytes]]:
    """Entries newest first (by time when a period is given), filtered by time (``start`` <=
    at < ``end``, ISO UTC), action, client (``object_type = 'client'`` with that id, or
    ``details.client_id``) and position (``seq > after_seq``), through the ``audit_log_at``,
    ``audit_log_action`` and ``audit_log_client`` indexes."""
    where: list[str] = []
    params: list[object] = []
    if after_seq:
        where.append("seq > ?")
        params.append(after_seq)
    if client_id is not None:
        where.append("client_id = ?")
        params.append(client_id)
    if start is not None:
        where.append("at >= ?")
        params.append(start)
    if end is not None:
        where.append("at < ?")
        params.append(end)
    if actions:
        where.append(f"action IN ({', '.join('?' * len(actions))})")
        params.extend(actions)
    # Within a period, newest first by time (then position): SQLite then reads the time index
    # backwards and stops at the limit. By position alone it would walk the log backwards,
    # through every older entry whenever the period holds fewer than ``limit`` of them.
    order = "at DESC, seq DESC" if start is not None or end is not None else "seq DESC"
    sql = (
        _SELECT + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order} LIMIT ?"
    )
    params.append(max(0, limit))
    return [(_entry(row), bytes(row[9])) for row in conn.execute(sql, params).fetchall()]


def archived_keys(conn: Connection) -> dict[int, bytes]:
    return {int(e): bytes(k) for e, k in conn.execute("SELECT epoch, key FROM audit_keys")}


def archive_key(conn: Connection, epoch: int, key: bytes) -> None:
    conn.execute("INSERT INTO audit_keys(epoch, key) VALUES (?, ?)", (epoch, key))
