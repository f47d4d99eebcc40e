"""The state of an unlocked vault and its one way to write: ``transaction``.

Every commit that changes anything (rows, audit entries, key slots) is sealed inside its own
transaction (``crypto.integrity``: the commit counter, the key-slot epoch, the chain head and the
row sums, under one MAC) and then moves the header's checkpoint to the same commit. There is no
other write path: ``query`` and the long walks use read-only connections.
"""

from __future__ import annotations

import contextlib
import getpass
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import filelock

from crypto import anchor as anchors
from crypto import integrity
from crypto.attempts import FailedAttempt
from crypto.audit import store
from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.chain import GENESIS_MAC, ChainHead, entry_mac, make_checkpoint
from crypto.audit.entry import AuditEntry, Scalar, canonical_details, check_field
from crypto.database import Connection, open_database
from crypto.errors import AuditIntegrityError, VaultLockedError
from crypto.header import VaultHeader
from crypto.key_slots import Keys
from crypto.migrations import Migration, apply, pending
from crypto.paths import default_state_dir
from crypto.vault_files import write_header

VAULT_COMPONENT = "vault"
Clock = Callable[[], datetime]
Method = Literal["passphrase", "recovery"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_actor() -> str:
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return "user"


@dataclass(frozen=True)
class VaultOptions:
    """Who acts, what time it is, where small non-PHI state lives. Injected for tests."""

    actor: str = field(default_factory=default_actor)
    clock: Clock = utc_now
    state_dir: Path = field(default_factory=default_state_dir)


@dataclass(frozen=True)
class UnlockInfo:
    """What the person should be told after an unlock.

    ``key_change`` names a key change that a crash interrupted and this unlock settled:
    ``"passphrase-completed"`` (the new passphrase was already in force; recorded now),
    ``"rekey-completed"`` (the new key and the new recovery key are in force),
    ``"rekey-abandoned"`` (nothing switched: the old recovery key still works, the one shown for
    the abandoned change never will). ``cleaned`` lists stray files removed. ``rolled_back_to``
    is set when the person accepted a vault older than one seen before (``accept_rollback``).
    """

    method: Method
    failed_attempts: tuple[FailedAttempt, ...]
    audit_entries: int
    checkpoint_lag: int
    audit_damage: AuditIntegrityError | None = None
    key_change: str | None = None
    cleaned: tuple[str, ...] = ()
    rolled_back_to: int | None = None
    commit: int = 0


def _schema_version(conn: Connection) -> int:
    return int(conn.execute("PRAGMA schema_version").fetchone()[0])


def _checkpointed(tx: Transaction) -> bool:
    """Does the header follow this commit? Yes when it appended entries or changed key slots."""
    return tx.last_entry is not None or tx.new_header is not None or tx.slot_epoch is not None


class Transaction:
    """One write transaction on the vault database. Audit entries appended here commit or roll
    back with the data they describe; the commit seals both."""

    def __init__(self, vault: VaultCore, conn: Connection, head: ChainHead) -> None:
        self._vault = vault
        self.conn = conn
        self.head = head
        self.last_entry: AuditEntry | None = None
        self.new_header: VaultHeader | None = None
        self.slot_epoch: int | None = None  # set by key changes

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        return self.conn.executemany(sql, rows)

    def audit(
        self,
        action: AuditAction | str,
        *,
        object_type: str = "",
        object_id: str = "",
        outcome: Outcome = Outcome.SUCCESS,
        details: Mapping[str, Scalar] | None = None,
    ) -> AuditEntry:
        entry, self.head = self._vault._append(
            self.conn, self.head, action, object_type, object_id, outcome, details
        )
        self.last_entry = entry
        return entry


class VaultCore:
    """State held while unlocked, the sealed write path, and locking."""

    def __init__(
        self,
        path: Path,
        header: VaultHeader,
        keys: Keys,
        conn: Connection,
        file_lock: filelock.BaseFileLock,
        options: VaultOptions,
    ) -> None:
        self.path = path
        self._header = header
        self._keys: Keys | None = keys
        self._conn: Connection | None = conn
        self._file_lock = file_lock
        self.options = options
        self._mutex = threading.RLock()
        self._audit_keys: dict[int, bytes] = {}
        self._head = ChainHead(0, header.generation, GENESIS_MAC)
        self._head_entry_epoch = header.generation
        self._state: integrity.VaultState | None = None
        self._slot_epoch = 0
        self.unlock_info: UnlockInfo | None = None
        integrity.register(conn, bytes(keys.rows))

    # ------------------------------------------------------------------ state
    @property
    def vault_id(self) -> str:
        return self._header.vault_id

    @property
    def header(self) -> VaultHeader:
        return self._header

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @property
    def commit_count(self) -> int:
        """The monotonic commit counter (0 before the first sealed commit)."""
        return self._state.commit if self._state else 0

    def _load_chain_state(self) -> None:
        conn = self._require_open()
        keys = self._require_keys()
        self._audit_keys = {**store.archived_keys(conn), self._header.generation: bytes(keys.audit)}
        last = store.last(conn)
        if last is not None:
            entry, mac = last
            epoch = entry.epoch + 1 if entry.action == AuditAction.REKEY else entry.epoch
            self._head = ChainHead(entry.seq, epoch, mac)
            self._head_entry_epoch = entry.epoch
        self._state = integrity.read_state(conn) if integrity.installed(conn) else None
        if self._state is not None:
            self._slot_epoch = self._state.slot_epoch
        elif self._header.checkpoint is not None and self._header.checkpoint.slot_epoch:
            self._slot_epoch = self._header.checkpoint.slot_epoch

    def anchor(self) -> anchors.Anchor:
        return anchors.Anchor(
            self.vault_id, self.commit_count, self._head.seq, self._head.mac, self._slot_epoch
        )

    def _save_anchor(self) -> None:
        if self._state is not None:
            anchors.save(self.options.state_dir, self.anchor())

    def record_anchor(self) -> None:
        """Record this vault's current state as the newest seen (outside the folder)."""
        with self._mutex:
            self._save_anchor()

    def is_behind(self, seen: anchors.Anchor) -> bool:
        """True when this vault is older than, or forked from, the state ``seen`` records (an
        anchor from the state folder or a backup's manifest)."""
        with self._mutex:
            mac = store.mac_at(self._require_open(), seen.seq)
            return anchors.behind(seen, self.commit_count, mac)

    # ------------------------------------------------------------------ the write path
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... seal ... ``COMMIT``; after the commit, the header's checkpoint
        moves to the new commit (atomic header write)."""
        with self._mutex:
            conn = self._require_open()
            conn.execute("BEGIN IMMEDIATE")
            before = conn.total_changes
            schema = _schema_version(conn)
            tx = Transaction(self, conn, self._head)
            try:
                yield tx
                if _schema_version(conn) != schema and integrity.installed(conn):
                    # Tables created or changed (a migration, or any DDL): cover them now.
                    integrity.refresh(conn, bytes(self._require_keys().rows))
                changed = conn.total_changes != before
                state = self._seal(tx, changed)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            if tx.last_entry is not None:
                self._head_entry_epoch = tx.last_entry.epoch
            self._head = tx.head
            if state is not None:
                self._state = state
                self._slot_epoch = state.slot_epoch
            legacy = state is not None and state.checkpointed is None
            if _checkpointed(tx) or legacy or (state is None and tx.new_header is not None):
                self._write_header(self._with_checkpoint(tx.new_header or self._header))

    def _seal(self, tx: Transaction, changed: bool) -> integrity.VaultState | None:
        """Inside the transaction, after every change: the new sealed state (None when nothing
        changed, or before the vault's own tables exist). A commit that only changed rows is
        sealed here but does not move the header (an autosave stays one fsync'd commit)."""
        if not (changed or _checkpointed(tx)):
            return None
        if not integrity.installed(tx.conn):
            return None
        keys = self._require_keys()
        slot_epoch = self._slot_epoch if tx.slot_epoch is None else tx.slot_epoch
        return integrity.write_state(
            tx.conn,
            bytes(keys.rows),
            self.vault_id,
            self._state,
            slot_epoch,
            tx.head,
            checkpointed=_checkpointed(tx),
        )

    def _with_checkpoint(self, header: VaultHeader) -> VaultHeader:
        if self._head.seq == 0:
            return header
        keys = self._require_keys()
        commit = self._state.commit if self._state else None
        return header.with_checkpoint(
            make_checkpoint(
                bytes(keys.audit),
                header.vault_id,
                self._head.seq,
                self._head_entry_epoch,
                self._head.mac,
                commit,
                self._slot_epoch if commit is not None else None,
            )
        )

    def audit(
        self,
        action: AuditAction | str,
        *,
        object_type: str = "",
        object_id: str = "",
        outcome: Outcome = Outcome.SUCCESS,
        details: Mapping[str, Scalar] | None = None,
    ) -> AuditEntry:
        """Append one audit entry in a transaction of its own."""
        with self.transaction() as tx:
            return tx.audit(
                action,
                object_type=object_type,
                object_id=object_id,
                outcome=outcome,
                details=details,
            )

    def _append(
        self,
        conn: Connection,
        head: ChainHead,
        action: AuditAction | str,
        object_type: str,
        object_id: str,
        outcome: Outcome,
        details: Mapping[str, Scalar] | None,
    ) -> tuple[AuditEntry, ChainHead]:
        entry = AuditEntry(
            seq=head.seq + 1,
            at=iso_utc(self.options.clock()),
            actor=check_field("actor", self.options.actor),
            action=check_field("action", str(action)),
            object_type=check_field("object_type", object_type),
            object_id=check_field("object_id", object_id),
            outcome=str(outcome),
            details=canonical_details(details),
            epoch=head.epoch,
        )
        mac = entry_mac(self._audit_keys[head.epoch], entry, head.mac)
        store.insert(conn, entry, mac)
        next_epoch = head.epoch + 1 if entry.action == AuditAction.REKEY else head.epoch
        return entry, ChainHead(entry.seq, next_epoch, mac)

    def migrate(self, component: str, migrations: tuple[Migration, ...]) -> int:
        """Bring another component's tables (e.g. the practice domain) to their latest version.
        Each migration is one sealed transaction; its new tables are covered by the row sums."""
        if component == VAULT_COMPONENT:
            raise ValueError("the vault component migrates itself")
        return self._migrate(component, migrations)

    def _migrate(self, component: str, migrations: tuple[Migration, ...]) -> int:
        with self._mutex:
            for migration in pending(self._require_open(), component, migrations):
                with self.transaction() as tx:  # its new tables are covered at its commit
                    apply(tx.conn, component, migration)
            return len(migrations)

    # ------------------------------------------------------------------ reading
    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (a write through here is refused: writes go through
        ``transaction``, which seals them). Auditing reads of PHI is the caller's job."""
        with self._mutex:
            conn = self._require_open()
            conn.execute("PRAGMA query_only = ON")
            try:
                return list(conn.execute(sql, params).fetchall())
            finally:
                conn.execute("PRAGMA query_only = OFF")

    @contextlib.contextmanager
    def reader(self) -> Iterator[tuple[Connection, VaultHeader]]:
        """A read-only connection of its own, inside one read transaction: a consistent snapshot
        that writers do not wait for (WAL), with the header as it was at that moment."""
        with self._mutex:
            keys = self._require_keys()
            conn = open_database(self.path / self._header.database, bytes(keys.database))
            try:
                conn.execute("PRAGMA query_only = ON")
                conn.execute("BEGIN")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
                header = self._header
            except BaseException:
                conn.close()
                raise
        try:
            yield conn, header
        finally:
            with contextlib.suppress(Exception):
                conn.execute("ROLLBACK")
            conn.close()

    # ------------------------------------------------------------------ locking
    def lock(self) -> None:
        """Audit the lock, close the database, overwrite key buffers, release the folder."""
        with self._mutex:
            if self._conn is None:
                return
            try:
                self.audit(AuditAction.LOCK, object_type="vault", object_id=self.vault_id)
                self._save_anchor()
            finally:
                self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._keys is not None:
            self._keys.wipe()
            self._keys = None
        self._audit_keys = {}
        if self._file_lock.is_locked:
            self._file_lock.release()

    def __enter__(self) -> VaultCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    # ------------------------------------------------------------------ helpers
    def _require_open(self) -> Connection:
        if self._conn is None:
            raise VaultLockedError("the vault is locked")
        return self._conn

    def _require_keys(self) -> Keys:
        if self._keys is None:
            raise VaultLockedError("the vault is locked")
        return self._keys

    def _write_header(self, header: VaultHeader) -> None:
        write_header(self.path, header)
        self._header = header

    def backup_key(self) -> bytes:
        """The sub-key reserved for backups (used by the backup feature)."""
        return bytes(self._require_keys().backup)
