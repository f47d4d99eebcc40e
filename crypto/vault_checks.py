"""Consistency of a vault's three records of itself: the header's checkpoint, the sealed
``vault_state`` row (with the row sums), and the audit chain.

``check_heads`` is what every unlock runs: a handful of indexed reads and MACs, flat in the size of
the log. ``check_rows`` recomputes every table's sum from its rows and ``structure_problems`` runs
SQLCipher's page check and SQLite's ``quick_check``; verification runs all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crypto import integrity
from crypto.audit import store
from crypto.audit.actions import AuditAction
from crypto.audit.chain import GENESIS_MAC, ChainHead, verify_checkpoint, walk
from crypto.audit.entry import AuditEntry
from crypto.database import Connection, DatabaseError, page_problems
from crypto.errors import (
    AuditIntegrityError,
    RowIntegrityError,
    StaleHeaderError,
    VaultMismatchError,
)
from crypto.header import VaultHeader


@dataclass(frozen=True)
class HeadCheck:
    """What the unlock check found. ``state`` is None for a vault written before commit
    counters existed (it gets them at its first commit)."""

    state: integrity.VaultState | None
    head: ChainHead
    commit_lag: int  # 1 when the header is one commit behind (a crash between the two writes)
    key_change_pending: bool  # the header is one key-slot step ahead (a key change interrupted)
    checkpoint_seq: int


def check_heads(
    conn: Connection,
    header: VaultHeader,
    audit_keys: Mapping[int, bytes],
    audit_key: bytes,
    rows_key: bytes,
) -> HeadCheck:
    """Header vs database vs chain; raises ``AuditIntegrityError`` (or its ``VaultMismatchError``
    and ``RowIntegrityError`` forms) naming what disagrees."""
    last = store.last(conn)
    tail = (
        ChainHead(last[0].seq, _next_epoch(last[0]), last[1])
        if last
        else ChainHead(0, 0, GENESIS_MAC)
    )
    state = integrity.read_state(conn)
    cp = header.checkpoint
    vault_id = header.vault_id
    if state is None:
        if cp is not None and cp.commit is not None:
            raise VaultMismatchError(
                cp.seq, "the header names a sealed commit but the database has none"
            )
        cp_seq = _legacy_checkpoint(conn, header, audit_key, tail.seq)
        head = _walk_from(conn, cp_seq, header, audit_keys)
        return HeadCheck(None, head, 0, False, cp_seq)

    integrity.check_seal(conn, rows_key, vault_id, state)
    if (tail.seq, tail.mac) != (state.head.seq, state.head.mac):
        raise AuditIntegrityError(
            min(tail.seq, state.head.seq) + 1,
            f"the audit log ends at entry {tail.seq} but the last sealed commit ended at "
            f"{state.head.seq}: audit pages or the database state were put back from another copy",
        )
    if cp is None or cp.commit is None or cp.slot_epoch is None:
        raise VaultMismatchError(tail.seq, "the header carries no commit counter")
    verify_checkpoint(cp, audit_key, vault_id, tail.seq, _mac_at(conn, cp.seq))
    if cp.slot_epoch < state.slot_epoch:
        raise StaleHeaderError(
            cp.seq,
            "this header is from before a passphrase change, recovery or new key; it no longer "
            "opens this vault",
        )
    if cp.slot_epoch > state.slot_epoch + 1 or (
        cp.slot_epoch == state.slot_epoch + 1 and cp.commit != state.commit
    ):
        raise VaultMismatchError(cp.seq, "the header's key slots are ahead of the database")
    pending = cp.slot_epoch == state.slot_epoch + 1
    lag = _header_lag(cp.commit, cp.seq, state, pending)
    if lag is None:
        newer = cp.commit > state.commit
        raise VaultMismatchError(
            cp.seq,
            f"the header and the database are from different moments: the header names commit "
            f"{cp.commit}, the database is at commit {state.commit} ("
            + ("the database was rolled back)" if newer else "the header is from an older copy)"),
        )
    # Same commit, another history (an equal-length fork): verify_checkpoint above already
    # compared the header's MAC with the entry stored at its sequence number.
    head = _walk_from(conn, cp.seq, header, audit_keys)
    if (head.seq, head.mac) != (state.head.seq, state.head.mac):  # pragma: no cover - see above
        raise AuditIntegrityError(head.seq, "the chain does not end at the sealed head")
    return HeadCheck(state, head, lag, pending, cp.seq)


def _header_lag(commit: int, seq: int, state: integrity.VaultState, pending: bool) -> int | None:
    """How many header-moving commits the header is behind (0 or 1), or None when it is further
    behind than a crash can leave it."""
    if state.checkpointed is None:  # sealed before migration 4: every commit moved the header
        return {state.commit: 0, state.commit - 1: 1}.get(commit)
    if pending:  # a key change wrote its header first, at the database's current commit
        return 0  # (checked by the caller: same commit)
    if commit == state.checkpointed:
        # Later commits, if any, only changed rows (autosaves): they do not move the header.
        return 0
    if commit == state.prior_checkpointed and seq < state.head.seq:
        return 1  # a crash between the last such commit and its header write
    return None


def _legacy_checkpoint(conn: Connection, header: VaultHeader, key: bytes, last_seq: int) -> int:
    cp = header.checkpoint
    mac_at = _mac_at(conn, cp.seq) if cp is not None else {}
    return verify_checkpoint(cp, key, header.vault_id, last_seq, mac_at)


def _mac_at(conn: Connection, seq: int) -> dict[int, bytes]:
    stored = store.mac_at(conn, seq)
    return {} if stored is None else {seq: stored}


def _walk_from(
    conn: Connection, cp_seq: int, header: VaultHeader, audit_keys: Mapping[int, bytes]
) -> ChainHead:
    """The chain from the checkpoint's entry to the end (the commit a crash may have left
    after the header's checkpoint)."""
    start = ChainHead(0, 0, GENESIS_MAC)
    if cp_seq:
        assert header.checkpoint is not None
        prev = store.mac_at(conn, cp_seq - 1) if cp_seq > 1 else GENESIS_MAC
        if prev is None:
            raise AuditIntegrityError(cp_seq - 1, "entry missing")
        start = ChainHead(cp_seq - 1, header.checkpoint.epoch, prev)
    head = walk(store.raw_rows(conn, start.seq), audit_keys, start)
    if head.epoch != header.generation:
        raise AuditIntegrityError(head.seq, "log does not end under the current key")
    return head


def _next_epoch(entry: AuditEntry) -> int:
    return entry.epoch + 1 if entry.action == AuditAction.REKEY else entry.epoch


def check_rows(conn: Connection, rows_key: bytes, state: integrity.VaultState | None) -> int:
    """Recompute every covered table's sum from its rows and compare with the sealed sums; name
    the first table that differs. Returns the number of tables checked."""
    if state is None:
        return 0
    bad = list(integrity.mismatched_tables(conn, rows_key))
    if bad:
        raise RowIntegrityError(
            state.head.seq,
            f"the rows of {', '.join(bad)} do not match what the audit log sealed: records "
            "were changed, added or removed outside Quietroom, or put back from an older copy",
            table=bad[0],
        )
    return len(integrity.covered_tables(conn))


def structure_problems(conn: Connection) -> list[str]:
    """SQLCipher's check of every page's HMAC, then SQLite's ``quick_check``."""
    problems = page_problems(conn)
    try:
        checks = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
    except DatabaseError as exc:
        checks = [f"database damaged: {exc}"]
    return problems + [c for c in checks if c != "ok"]
