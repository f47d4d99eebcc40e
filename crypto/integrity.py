"""Row integrity: the audit chain vouches for every domain row.

Each covered table ``T`` has an accumulator, the sum modulo 2^256 of
``HMAC-SHA256(k_rows, encode_row(T, rowid, column values))`` over its rows (a keyed multiset hash:
adding a row adds its MAC, deleting subtracts it, an update does both). SQL triggers, generated
from ``PRAGMA table_info`` for every table any component's migrations create, keep the sums in
``integrity_sums`` inside the same transaction as the change, calling Python functions registered
on the writing connection. The vault's own chained tables and FTS5 tables (derived data) are not
covered.

Every commit that changes anything writes ``vault_state``: a monotonic commit counter, the key-slot
epoch, the audit chain head, and a seal, ``HMAC-SHA256(k_rows, "QRSEAL1" || ...)`` over all of that
and every accumulator (``seal_of``). The header's checkpoint carries the same counter, the anchor
outside the folder and each backup carry it too. docs/vault-format.md has the exact encodings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from crypto.audit.chain import ChainHead
from crypto.database import Connection
from crypto.errors import RowIntegrityError
from crypto.migrations import Migration, statements

ROW_MAGIC = b"QRROW1"
SEAL_MAGIC = b"QRSEAL1"
MODULUS = 1 << 256
ZERO = bytes(32)
TRIGGER_PREFIX = "qr_rows_"
# Tables the vault keeps itself: chained (audit_log, audit_keys) or the integrity state.
OWN_TABLES = frozenset({"audit_log", "audit_keys", "integrity_sums", "vault_state"})

_U32 = struct.Struct(">I").pack
_I64 = struct.Struct(">q").pack
_F64 = struct.Struct(">d").pack

MIGRATION = Migration(
    2,
    "row integrity: per-table sums and the sealed vault state",
    statements(
        "CREATE TABLE integrity_sums("
        " tbl TEXT PRIMARY KEY,"
        " columns TEXT NOT NULL,"
        " acc BLOB NOT NULL CHECK (length(acc) = 32))",
        "CREATE TABLE vault_state("
        " id INTEGER PRIMARY KEY CHECK (id = 1),"
        " commit_count INTEGER NOT NULL CHECK (commit_count > 0),"
        " slot_epoch INTEGER NOT NULL CHECK (slot_epoch >= 0),"
        " seq INTEGER NOT NULL CHECK (seq >= 0),"
        " epoch INTEGER NOT NULL CHECK (epoch >= 0),"
        " mac BLOB NOT NULL CHECK (length(mac) = 32),"
        " seal BLOB NOT NULL CHECK (length(seal) = 32))",
    ),
)


# --------------------------------------------------------------------------- row MACs
def _value(out: bytearray, value: object) -> None:
    if value is None:
        out += b"\x00"
    elif isinstance(value, int):
        out += b"\x01" + _I64(value)
    elif isinstance(value, float):
        out += b"\x02" + _F64(value)
    elif isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        out += b"\x03" + _U32(len(raw)) + raw
    elif isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        out += b"\x04" + _U32(len(raw)) + raw
    else:  # pragma: no cover - SQLite hands over nothing else
        raise TypeError(f"unexpected SQLite value {type(value).__name__}")


def encode_row(table: str, rowid: int | None, values: Sequence[object]) -> bytes:
    """``"QRROW1" || text(table) || value(rowid) || u32 n || value(v1) .. value(vn)``, where
    ``value`` is one tag byte (0 NULL, 1 INTEGER as i64, 2 REAL as f64, 3 TEXT as u32 length +
    UTF-8, 4 BLOB as u32 length + bytes), all big-endian. A WITHOUT ROWID table's rowid is NULL."""
    out = bytearray(ROW_MAGIC)
    name = table.encode("utf-8")
    out += _U32(len(name)) + name
    _value(out, rowid)
    out += _U32(len(values))
    for value in values:
        _value(out, value)
    return bytes(out)


def row_mac(key: bytes, table: str, rowid: int | None, values: Sequence[object]) -> bytes:
    return hmac.digest(key, encode_row(table, rowid, values), "sha256")


def add(acc: bytes, mac: bytes) -> bytes:
    return ((int.from_bytes(acc, "big") + int.from_bytes(mac, "big")) % MODULUS).to_bytes(32, "big")


def sub(acc: bytes, mac: bytes) -> bytes:
    return ((int.from_bytes(acc, "big") - int.from_bytes(mac, "big")) % MODULUS).to_bytes(32, "big")


def register(conn: Connection, key: bytes) -> None:
    """The SQL functions the triggers call, bound to this vault's row key. A connection without
    them (any other SQLite tool) cannot change a covered table: the trigger fails."""
    key = bytes(key)

    def sql_row_mac(table: str, rowid: int | None, *values: object) -> bytes:
        return row_mac(key, table, rowid, values)

    conn.create_function("qr_row_mac", -1, sql_row_mac, deterministic=True)
    conn.create_function("qr_acc_add", 2, add, deterministic=True)
    conn.create_function("qr_acc_sub", 2, sub, deterministic=True)


# --------------------------------------------------------------------------- covered tables
@dataclass(frozen=True)
class Covered:
    name: str
    columns: tuple[str, ...]
    rowid: bool

    @property
    def signature(self) -> str:
        return json.dumps([list(self.columns), self.rowid], separators=(",", ":"))

    def select(self) -> str:
        cols = ", ".join(_ident(c) for c in self.columns)
        key = "rowid" if self.rowid else "NULL"
        return f"SELECT {key}{', ' if cols else ''}{cols} FROM {_ident(self.name)}"  # noqa: S608

    def _mac(self, row: str) -> str:
        key = f"{row}.rowid" if self.rowid else "NULL"
        values = "".join(f", {row}.{_ident(c)}" for c in self.columns)
        return f"qr_row_mac({_literal(self.name)}, {key}{values})"

    def triggers(self) -> list[str]:
        where = f"WHERE tbl = {_literal(self.name)}"
        table = _ident(self.name)
        base = TRIGGER_PREFIX + self.name
        update = "UPDATE integrity_sums SET acc = "
        return [
            f"CREATE TRIGGER {_ident(base + '_i')} AFTER INSERT ON {table} BEGIN "
            f"{update}qr_acc_add(acc, {self._mac('NEW')}) {where}; END",
            f"CREATE TRIGGER {_ident(base + '_d')} AFTER DELETE ON {table} BEGIN "
            f"{update}qr_acc_sub(acc, {self._mac('OLD')}) {where}; END",
            f"CREATE TRIGGER {_ident(base + '_u')} AFTER UPDATE ON {table} BEGIN "
            f"{update}qr_acc_add(qr_acc_sub(acc, {self._mac('OLD')}), {self._mac('NEW')}) "
            f"{where}; END",
        ]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def covered_tables(conn: Connection) -> list[Covered]:
    """Every ordinary table of the main database except SQLite's, the vault's own, and FTS5's
    (virtual tables and their shadow tables hold derived data)."""
    found = []
    for _schema, name, kind, _ncol, without_rowid, _strict in conn.execute(
        "PRAGMA main.table_list"
    ).fetchall():
        if kind != "table" or name.startswith("sqlite_") or name in OWN_TABLES:
            continue
        columns = tuple(
            str(row[1]) for row in conn.execute(f"PRAGMA main.table_info({_ident(name)})")
        )
        found.append(Covered(str(name), columns, not without_rowid))
    return sorted(found, key=lambda t: t.name.encode("utf-8"))


def table_sum(conn: Connection, key: bytes, table: Covered) -> bytes:
    total = 0
    digest = hmac.new(bytes(key), digestmod=hashlib.sha256)
    cursor = conn.execute(table.select())
    while batch := cursor.fetchmany(2048):
        for row in batch:
            state = digest.copy()
            state.update(encode_row(table.name, row[0], row[1:]))
            total += int.from_bytes(state.digest(), "big")
    return (total % MODULUS).to_bytes(32, "big")


def installed(conn: Connection) -> bool:
    return bool(
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vault_state'"
        ).fetchone()
    )


def refresh(conn: Connection, key: bytes) -> list[str]:
    """After a schema change, inside its transaction: recreate the triggers of every covered
    table, recompute the sums of tables that are new or whose columns changed, forget tables
    that are gone. Returns the tables whose sums were recomputed."""
    tables = covered_tables(conn)
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ? ESCAPE '\\'",
        (TRIGGER_PREFIX.replace("_", "\\_") + "%",),
    ).fetchall():
        conn.execute(f"DROP TRIGGER {_ident(name)}")
    known = dict(conn.execute("SELECT tbl, columns FROM integrity_sums").fetchall())
    names = {t.name for t in tables}
    for gone in set(known) - names:
        conn.execute("DELETE FROM integrity_sums WHERE tbl = ?", (gone,))
    recomputed = []
    for table in tables:
        if known.get(table.name) != table.signature:
            conn.execute(
                "INSERT INTO integrity_sums(tbl, columns, acc) VALUES (?, ?, ?) ON CONFLICT(tbl)"
                " DO UPDATE SET columns = excluded.columns, acc = excluded.acc",
                (table.name, table.signature, table_sum(conn, key, table)),
            )
            recomputed.append(table.name)
        for sql in table.triggers():
            conn.execute(sql)
    return recomputed


def recompute_all(conn: Connection, key: bytes) -> None:
    """Every sum from the rows (a rekey: the row key changed)."""
    for table in covered_tables(conn):
        conn.execute(
            "UPDATE integrity_sums SET acc = ? WHERE tbl = ?",
            (table_sum(conn, key, table), table.name),
        )


def stored_sums(conn: Connection) -> list[tuple[str, bytes]]:
    rows = conn.execute("SELECT tbl, acc FROM integrity_sums").fetchall()
    return sorted(((str(t), bytes(a)) for t, a in rows), key=lambda r: r[0].encode("utf-8"))


def mismatched_tables(conn: Connection, key: bytes) -> Iterator[str]:
    """Tables whose rows do not add up to their stored sum (or that are covered but have no sum,
    or have a sum but are gone)."""
    stored = dict(stored_sums(conn))
    tables = covered_tables(conn)
    for table in tables:
        if stored.pop(table.name, None) != table_sum(conn, key, table):
            yield table.name
    yield from sorted(stored)


# --------------------------------------------------------------------------- the sealed state
SEAL_MAGIC_V2 = b"QRSEAL2"

# Which commits the header must follow (vault component migration 4). A commit that appends audit
# entries or changes key slots is "checkpointed": the header is rewritten after it. A commit that
# only changes rows (an autosave) is sealed in the database but does not rewrite the header.
CHECKPOINTED = Migration(
    4,
    "row integrity: the commits the header follows",
    statements(
        "ALTER TABLE vault_state ADD COLUMN checkpointed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE vault_state ADD COLUMN prior_checkpointed INTEGER NOT NULL DEFAULT 0",
    ),
)


@dataclass(frozen=True)
class VaultState:
    commit: int
    slot_epoch: int
    head: ChainHead
    seal: bytes
    # The last two checkpointed commits; None in a state sealed before migration 4 (seal v1).
    checkpointed: int | None = None
    prior_checkpointed: int | None = None


def seal_of(
    key: bytes,
    vault_id: str,
    commit: int,
    slot_epoch: int,
    head: ChainHead,
    sums: Iterable[tuple[str, bytes]],
    checkpointed: tuple[int, int] | None = None,
) -> bytes:
    """Version 2 (``checkpointed`` given): ``HMAC-SHA256(k_rows, "QRSEAL2" || vault_id || u64
    commit || u64 checkpointed || u64 prior_checkpointed || u32 slot_epoch || u64 seq || u32 epoch
    || mac || u32 n || (u32 length || table name || sum) for each table in UTF-8 byte order)``.
    Version 1 (``"QRSEAL1"``) lacks the two checkpointed counters."""
    sums = sorted(sums, key=lambda s: s[0].encode("utf-8"))
    if checkpointed is None:
        out = bytearray(SEAL_MAGIC) + vault_id.encode("ascii")
        out += struct.pack(">QI", commit, slot_epoch)
    else:
        out = bytearray(SEAL_MAGIC_V2) + vault_id.encode("ascii")
        out += struct.pack(">QQQI", commit, checkpointed[0], checkpointed[1], slot_epoch)
    out += struct.pack(">QI", head.seq, head.epoch) + head.mac
    out += _U32(len(sums))
    for name, acc in sums:
        raw = name.encode("utf-8")
        out += _U32(len(raw)) + raw + acc
    return hmac.digest(bytes(key), bytes(out), "sha256")


def _has_checkpointed(conn: Connection) -> bool:
    return any(row[1] == "checkpointed" for row in conn.execute("PRAGMA table_info(vault_state)"))


def read_state(conn: Connection) -> VaultState | None:
    if not installed(conn):
        return None
    v2 = _has_checkpointed(conn)
    extra = ", checkpointed, prior_checkpointed" if v2 else ""
    row = conn.execute(
        "SELECT commit_count, slot_epoch, seq, epoch, mac, seal"  # noqa: S608 (constant SQL)
        f"{extra} FROM vault_state WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    head = ChainHead(int(row[2]), int(row[3]), bytes(row[4]))
    if not v2:
        return VaultState(int(row[0]), int(row[1]), head, bytes(row[5]))
    return VaultState(int(row[0]), int(row[1]), head, bytes(row[5]), int(row[6]), int(row[7]))


def write_state(
    conn: Connection,
    key: bytes,
    vault_id: str,
    previous: VaultState | None,
    slot_epoch: int,
    head: ChainHead,
    *,
    checkpointed: bool,
) -> VaultState:
    """Seal this commit: inside its transaction, after every row change. ``checkpointed`` says
    whether the header will follow this commit (it appended entries or changed key slots)."""
    commit = (previous.commit if previous else 0) + 1
    if not _has_checkpointed(conn):  # before migration 4 (that migration's own commit included)
        seal = seal_of(key, vault_id, commit, slot_epoch, head, stored_sums(conn))
        conn.execute(
            "INSERT INTO vault_state(id, commit_count, slot_epoch, seq, epoch, mac, seal)"
            " VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
            " commit_count = excluded.commit_count, slot_epoch = excluded.slot_epoch,"
            " seq = excluded.seq, epoch = excluded.epoch, mac = excluded.mac,"
            " seal = excluded.seal",
            (commit, slot_epoch, head.seq, head.epoch, head.mac, seal),
        )
        return VaultState(commit, slot_epoch, head, seal)
    last = previous.checkpointed if previous and previous.checkpointed is not None else 0
    prior = previous.prior_checkpointed if previous and previous.prior_checkpointed else 0
    if previous is not None and previous.checkpointed is None:
        # Upgrading a state sealed before migration 4: the header names its last commit, or the
        # one before after a crash.
        last, prior = previous.commit, previous.commit - 1
    if checkpointed:
        last, prior = commit, last
    seal = seal_of(key, vault_id, commit, slot_epoch, head, stored_sums(conn), (last, prior))
    conn.execute(
        "INSERT INTO vault_state(id, commit_count, slot_epoch, seq, epoch, mac, seal,"
        " checkpointed, prior_checkpointed) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET commit_count = excluded.commit_count,"
        " slot_epoch = excluded.slot_epoch, seq = excluded.seq, epoch = excluded.epoch,"
        " mac = excluded.mac, seal = excluded.seal, checkpointed = excluded.checkpointed,"
        " prior_checkpointed = excluded.prior_checkpointed",
        (commit, slot_epoch, head.seq, head.epoch, head.mac, seal, last, prior),
    )
    return VaultState(commit, slot_epoch, head, seal, last, prior)


def check_seal(conn: Connection, key: bytes, vault_id: str, state: VaultState) -> None:
    """The stored sums and state are the ones the last commit sealed (cheap: one row per table)."""
    pair = (
        None
        if state.checkpointed is None or state.prior_checkpointed is None
        else (state.checkpointed, state.prior_checkpointed)
    )
    expected = seal_of(
        key, vault_id, state.commit, state.slot_epoch, state.head, stored_sums(conn), pair
    )
    if not hmac.compare_digest(expected, state.seal):
        raise RowIntegrityError(
            state.head.seq,
            "the record of what the database holds does not match its seal: pages of the "
            "database were replaced",
            table=None,
        )
