"""The vault: the recipes callers use. Create, unlock (passphrase or recovery key), transactions
that write audit entries, change passphrase, rekey, verify and export the audit log, lock.

Folder layout (docs/vault-format.md)::

    vault.header        JSON: KDF parameters, wrapped master key (two slots), audit checkpoint
    vault-<gen>.db      SQLCipher 4 database (+ -wal, -shm while open)
    vault.lock          held while a process has the vault open
"""

from __future__ import annotations

import contextlib
import csv
import getpass
import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

import filelock

from crypto import keys as keyring
from crypto.atomic import atomic_write, fsync_file, private_dir
from crypto.attempts import AttemptStore, FailedAttempt
from crypto.audit import store
from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.chain import (
    GENESIS_MAC,
    ChainHead,
    VerifyReport,
    entry_mac,
    make_checkpoint,
    verify_checkpoint,
    walk,
)
from crypto.audit.entry import AuditEntry, Scalar, canonical_details, check_field
from crypto.backup.recipient import recipient_public_key
from crypto.database import (
    Connection,
    DatabaseError,
    attach_encrypted,
    integrity_problems,
    open_database,
    page_problems,
    structure_problems,
)
from crypto.errors import (
    AuditIntegrityError,
    PassphrasePolicyError,
    UnlockError,
    UnlockThrottledError,
    VaultBusyError,
    VaultExistsError,
    VaultLockedError,
    VaultNotFoundError,
)
from crypto.header import MAX_HEADER_BYTES, VaultHeader, WrappedKey
from crypto.kdf import KdfParams, calibrate, derive_key, new_salt
from crypto.migrations import Migration, migrate
from crypto.paths import default_state_dir
from crypto.recovery_key import RecoveryKey

HEADER_NAME = "vault.header"
LOCK_NAME = "vault.lock"
VAULT_COMPONENT = "vault"
MAX_PASSPHRASE_CHARS = 1024
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


def passphrase_bytes(passphrase: str) -> bytes:
    """NFC-normalised UTF-8, so the same passphrase typed on another system still unlocks."""
    import unicodedata

    if not passphrase:
        raise PassphrasePolicyError("the passphrase is empty")
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        raise PassphrasePolicyError(f"the passphrase is longer than {MAX_PASSPHRASE_CHARS}")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def vault_exists(path: Path) -> bool:
    return (path / HEADER_NAME).is_file()


@dataclass(frozen=True)
class VaultOptions:
    """Who acts, what time it is, where small non-PHI state lives. Injected for tests."""

    actor: str = field(default_factory=default_actor)
    clock: Clock = utc_now
    state_dir: Path = field(default_factory=default_state_dir)


@dataclass(frozen=True)
class UnlockInfo:
    method: Method
    failed_attempts: tuple[FailedAttempt, ...]
    audit_entries: int
    checkpoint_lag: int
    audit_damage: AuditIntegrityError | None = None


@dataclass(frozen=True)
class Snapshot:
    """A consistent, still-encrypted database file plus the header that opens it."""

    header: bytes
    database: Path
    vault_id: str
    generation: int
    audit_seq: int
    audit_mac: bytes
    schema: dict[str, int]


class _Keys:
    """Key material held while unlocked, in mutable buffers so that lock can overwrite them.
    (Python may have copied them elsewhere; see docs/threat-model.md.)"""

    def __init__(self, master: bytes, vault_id: str) -> None:
        self.master = bytearray(master)
        self.database = bytearray(keyring.subkey(master, keyring.LABEL_DATABASE, vault_id))
        self.audit = bytearray(keyring.subkey(master, keyring.LABEL_AUDIT, vault_id))
        self.backup = bytearray(keyring.subkey(master, keyring.LABEL_BACKUP, vault_id))

    def wipe(self) -> None:
        for buf in (self.master, self.database, self.audit, self.backup):
            buf[:] = bytes(len(buf))


class Transaction:
    """One write transaction on the vault database. Audit entries appended here commit or roll
    back with the data they describe."""

    def __init__(self, vault: Vault, conn: Connection, head: ChainHead) -> None:
        self._vault = vault
        self.conn = conn
        self.head = head
        self.last_entry: AuditEntry | None = None
        self.new_header: VaultHeader | None = None

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


class Vault:
    """An unlocked vault. Obtain one with ``Vault.create``, ``Vault.unlock`` or ``Vault.recover``;
    call ``lock()`` when done."""

    def __init__(
        self,
        path: Path,
        header: VaultHeader,
        keys: _Keys,
        conn: Connection,
        file_lock: filelock.BaseFileLock,
        options: VaultOptions,
    ) -> None:
        self.path = path
        self._header = header
        self._keys: _Keys | None = keys
        self._conn: Connection | None = conn
        self._file_lock = file_lock
        self.options = options
        self._mutex = threading.RLock()
        self._audit_keys: dict[int, bytes] = {}
        self._head = ChainHead(0, header.generation, GENESIS_MAC)
        self.unlock_info: UnlockInfo | None = None

    # ------------------------------------------------------------------ creation and unlocking
    @classmethod
    def create(
        cls,
        path: Path,
        passphrase: str,
        *,
        kdf: KdfParams | None = None,
        options: VaultOptions | None = None,
    ) -> tuple[Vault, RecoveryKey]:
        """Create a new vault in ``path`` (an empty or missing folder). Returns the unlocked vault
        and the recovery key, which must be shown to the person once and never stored."""
        options = options or VaultOptions()
        secret = passphrase_bytes(passphrase)
        params = kdf or calibrate()
        params.check()
        private_dir(path)
        file_lock = _acquire(path)
        try:
            if vault_exists(path):
                raise VaultExistsError(f"a vault already exists in {path}")
            _set_aside_orphans(path, options.clock())
            master = keyring.new_master_key()
            recovery = RecoveryKey.generate()
            header = _seal(
                VaultHeader(
                    vault_id=uuid.uuid4().hex,
                    created_at=iso_utc(options.clock()),
                    generation=0,
                    kdf=params,
                    kdf_salt=new_salt(),
                    recovery_salt=new_salt(),
                    backup_recipient=bytes(32),  # set by _seal
                    passphrase_slot=_EMPTY_SLOT,
                    recovery_slot=_EMPTY_SLOT,
                ),
                master,
                passphrase=secret,
                recovery=recovery,
            )
            keys = _Keys(master, header.vault_id)
            conn = open_database(path / header.database, bytes(keys.database))
            vault = cls(path, header, keys, conn, file_lock, options)
            try:
                vault._prepare()
                with vault.transaction() as tx:
                    tx.audit(
                        AuditAction.VAULT_CREATED,
                        object_type="vault",
                        object_id=header.vault_id,
                        details={"kdf_profile": params.profile},
                    )
            except BaseException:
                vault._close()
                raise
            vault.unlock_info = UnlockInfo("passphrase", (), 1, 0)
            return vault, recovery
        except BaseException:
            if file_lock.is_locked:
                file_lock.release()
            raise

    @classmethod
    def unlock(
        cls,
        path: Path,
        passphrase: str,
        *,
        options: VaultOptions | None = None,
        accept_audit_damage: bool = False,
    ) -> Vault:
        """Unlock with the passphrase. Raises ``UnlockError`` (opaque) on a wrong passphrase or a
        damaged vault, leaving every vault file unchanged."""
        secret = passphrase_bytes(passphrase)
        return cls._open(
            path,
            lambda header: unwrap_with_passphrase(header, secret),
            "passphrase",
            options,
            accept_audit_damage,
        )

    @classmethod
    def recover(
        cls,
        path: Path,
        recovery_key: RecoveryKey,
        new_passphrase: str,
        *,
        kdf: KdfParams | None = None,
        options: VaultOptions | None = None,
        accept_audit_damage: bool = False,
    ) -> Vault:
        """Emergency access: unlock with the recovery key and set a new passphrase at once."""
        passphrase_bytes(new_passphrase)  # refuse a bad new passphrase before touching anything

        vault = cls._open(
            path,
            lambda header: unwrap_with_recovery_key(header, recovery_key),
            "recovery",
            options,
            accept_audit_damage,
        )
        try:
            vault.change_passphrase(new_passphrase, kdf=kdf)
        except BaseException:
            vault.lock()
            raise
        return vault

    @classmethod
    def _open(
        cls,
        path: Path,
        unwrap: Callable[[VaultHeader], bytes],
        method: Method,
        options: VaultOptions | None,
        accept_audit_damage: bool,
    ) -> Vault:
        options = options or VaultOptions()
        if not vault_exists(path):
            raise VaultNotFoundError(f"no vault in {path}")
        file_lock = _acquire(path)
        try:
            attempts = AttemptStore(options.state_dir, path)
            wait = attempts.retry_after(options.clock())
            if wait > 0:
                raise UnlockThrottledError(wait)
            try:
                header = VaultHeader.from_bytes(_read_header(path))
                header.kdf.check()
                master = unwrap(header)
                keys = _Keys(master, header.vault_id)
                conn = open_database(path / header.database, bytes(keys.database))
            except UnlockError:
                attempts.record(iso_utc(options.clock()), method)
                raise
            vault = cls(path, header, keys, conn, file_lock, options)
            try:
                vault._prepare()
                damage = vault._quick_verify(accept_audit_damage)
                vault._record_unlock(method, tuple(attempts.load()), damage)
            except DatabaseError:
                # A page failing its HMAC puts SQLCipher in an error state: a damaged vault.
                vault._close()
                raise UnlockError() from None
            except BaseException:
                vault._close()
                raise
            attempts.clear()
            _remove_stale_databases(path, header.database)
            return vault
        except BaseException:
            if file_lock.is_locked:
                file_lock.release()
            raise

    def _prepare(self) -> None:
        migrate(self._require_open(), VAULT_COMPONENT, store.VAULT_MIGRATIONS)
        self._load_chain_state()

    def _load_chain_state(self) -> None:
        conn = self._require_open()
        keys = self._require_keys()
        self._audit_keys = {**store.archived_keys(conn), self._header.generation: bytes(keys.audit)}
        last = store.last(conn)
        if last is not None:
            self._head = ChainHead(last[0].seq, self._header.generation, last[1])

    @classmethod
    def inspect(
        cls, path: Path, master_key: bytes, *, options: VaultOptions | None = None
    ) -> tuple[VerifyReport, list[str]]:
        """Check a vault folder whose master key we hold (a backup snapshot being verified or
        restored): the whole audit chain, its checkpoint, and every database page. Writes
        nothing. Returns the chain report and the database problems (empty when healthy);
        raises ``AuditIntegrityError`` for a damaged chain."""
        header = VaultHeader.from_bytes(_read_header(path))
        file_lock = _acquire(path)
        try:
            keys = _Keys(master_key, header.vault_id)
            conn = open_database(path / header.database, bytes(keys.database))
        except BaseException:
            file_lock.release()
            raise
        vault = cls(path, header, keys, conn, file_lock, options or VaultOptions())
        # The page check runs on a second connection in a thread (SQLCipher releases the GIL)
        # while this one runs the structural check and the chain walk: two cores, half the time.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pages = pool.submit(_page_problems_of, path / header.database, bytes(keys.database))
            try:
                problems = structure_problems(conn)
                vault._load_chain_state()
                report = vault._check_chain(full=True)
            except DatabaseError:
                raise UnlockError() from None
            finally:
                problems = pages.result() + problems
                vault._close()
        return report, problems

    def inspect_copy(self, folder: Path) -> tuple[VerifyReport, list[str]]:
        """``inspect`` a copy of this vault (a staged backup of it) with this vault's own key."""
        return Vault.inspect(folder, bytes(self._require_keys().master), options=self.options)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[Snapshot]:
        """A consistent snapshot for a backup, valid inside the ``with``.

        All committed pages are first checkpointed from the WAL into the database file. A write
        lock (``BEGIN IMMEDIATE``) and this vault's mutex are then held, so nothing can write the
        file while the caller reads its bytes. Those bytes are SQLCipher pages, still encrypted
        under this vault's keys, so no page is decrypted or re-encrypted. On this machine that is
        about four times faster than ``sqlcipher_export`` or SQLite's backup API, which do both.
        """
        with self._mutex:
            conn = self._require_open()
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise VaultBusyError("the vault is busy; try the backup again")
            conn.execute("BEGIN IMMEDIATE")
            try:
                schema = dict(conn.execute("SELECT component, version FROM schema_versions"))
                yield Snapshot(
                    header=self._header.to_bytes(),
                    database=self.path / self._header.database,
                    vault_id=self.vault_id,
                    generation=self._header.generation,
                    audit_seq=self._head.seq,
                    audit_mac=self._head.mac,
                    schema={str(k): int(v) for k, v in schema.items()},
                )
            finally:
                conn.execute("ROLLBACK")

    def _quick_verify(self, accept_damage: bool) -> AuditIntegrityError | None:
        """The fast check run at every unlock: the checkpoint, no gaps, and the chain from the
        checkpoint to the end. The whole chain is walked by ``verify_audit``."""
        try:
            self._check_chain(full=False)
        except AuditIntegrityError as damage:
            if not accept_damage:
                raise
            return damage
        return None

    def _record_unlock(
        self,
        method: Method,
        failures: tuple[FailedAttempt, ...],
        damage: AuditIntegrityError | None,
    ) -> None:
        self._require_open()
        lag = self._head.seq - (self._header.checkpoint.seq if self._header.checkpoint else 0)
        with self.transaction() as tx:
            if damage is not None:
                tx.audit(
                    AuditAction.AUDIT_VERIFIED,
                    outcome=Outcome.FAILURE,
                    details={
                        "first_bad_seq": damage.first_bad_seq,
                        "reason": damage.reason[:200],
                        "acknowledged": True,
                    },
                )
            for failure in failures:
                tx.audit(
                    AuditAction.UNLOCK_FAILED,
                    outcome=Outcome.FAILURE,
                    details={"attempted_at": failure.at, "method": failure.method},
                )
            action = AuditAction.RECOVERY_UNLOCK if method == "recovery" else AuditAction.UNLOCK
            tx.audit(
                action,
                object_type="vault",
                object_id=self._header.vault_id,
                details={"failed_attempts": len(failures), "emergency": method == "recovery"},
            )
        self.unlock_info = UnlockInfo(method, failures, self._head.seq, lag, damage)

    # ------------------------------------------------------------------ transactions and audit
    @property
    def vault_id(self) -> str:
        return self._header.vault_id

    @property
    def header(self) -> VaultHeader:
        return self._header

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; after the commit, the audit checkpoint in the header
        moves to the new chain head (atomic header write)."""
        with self._mutex:
            conn = self._require_open()
            conn.execute("BEGIN IMMEDIATE")
            tx = Transaction(self, conn, self._head)
            try:
                yield tx
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
                raise
            if tx.last_entry is not None or tx.new_header is not None:
                self._head = tx.head
                header = tx.new_header or self._header
                if tx.last_entry is not None:
                    keys = self._require_keys()
                    header = header.with_checkpoint(
                        make_checkpoint(
                            bytes(keys.audit),
                            header.vault_id,
                            tx.last_entry.seq,
                            tx.last_entry.epoch,
                            tx.head.mac,
                        )
                    )
                self._write_header(header)

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

    def query(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query. Auditing reads of PHI is the caller's (the domain's) job."""
        with self._mutex:
            return list(self._require_open().execute(sql, params).fetchall())

    def migrate(self, component: str, migrations: tuple[Migration, ...]) -> int:
        """Bring another component's tables (e.g. the practice domain) to their latest version."""
        if component == VAULT_COMPONENT:
            raise ValueError("the vault component migrates itself")
        with self._mutex:
            return migrate(self._require_open(), component, migrations)

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

    # ------------------------------------------------------------------ audit verification/export
    def _check_chain(self, *, full: bool) -> VerifyReport:
        """Full: walk every entry from the first, then the checkpoint (so the lowest bad entry is
        named). Quick: no gaps, the checkpoint, then the chain from the checkpoint to the end."""
        conn = self._require_open()
        keys = self._require_keys()
        last = store.last(conn)
        last_seq = last[0].seq if last else 0
        checkpoint = self._header.checkpoint
        if full:
            head = walk(store.raw_rows(conn), self._audit_keys, ChainHead(0, 0, GENESIS_MAC))
        mac_at = {}
        if checkpoint is not None and (stored := store.mac_at(conn, checkpoint.seq)) is not None:
            mac_at[checkpoint.seq] = stored
        cp_seq = verify_checkpoint(checkpoint, bytes(keys.audit), self.vault_id, last_seq, mac_at)
        if not full:
            start = ChainHead(0, 0, GENESIS_MAC)
            if checkpoint is not None:
                prev = store.mac_at(conn, checkpoint.seq - 1) if checkpoint.seq > 1 else GENESIS_MAC
                if prev is None:
                    raise AuditIntegrityError(checkpoint.seq - 1, "entry missing")
                start = ChainHead(checkpoint.seq - 1, checkpoint.epoch, prev)
            head = walk(store.raw_rows(conn, start.seq), self._audit_keys, start)
        if head.epoch != self._header.generation:
            raise AuditIntegrityError(head.seq, "log does not end under the current key")
        return VerifyReport(entries=last_seq, head=head, checkpoint_seq=cp_seq)

    def verify_audit(self) -> VerifyReport:
        """Walk the whole chain and the checkpoint; record the result in the log. Raises
        ``AuditIntegrityError`` naming the first bad entry."""
        with self._mutex:
            try:
                report = self._check_chain(full=True)
            except AuditIntegrityError as damage:
                self.audit(
                    AuditAction.AUDIT_VERIFIED,
                    outcome=Outcome.FAILURE,
                    details={"first_bad_seq": damage.first_bad_seq, "reason": damage.reason[:200]},
                )
                raise
            self.audit(AuditAction.AUDIT_VERIFIED, details={"entries": report.entries})
            return report

    def audit_entries(self, after_seq: int = 0) -> Iterator[AuditEntry]:
        """The log's entries in order (read-only; viewing the log is audited by its callers)."""
        with self._mutex:
            for entry, _mac in store.rows(self._require_open(), after_seq):
                yield entry

    def export_audit(self, out: TextIO, fmt: Literal["csv", "jsonl"]) -> int:
        """Write every entry, with its MAC, as CSV or JSON lines; audited. Returns the count."""
        fields = [
            "seq",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "details",
            "epoch",
            "mac",
        ]
        with self._mutex:
            count = 0
            writer = csv.writer(out) if fmt == "csv" else None
            if writer is not None:
                writer.writerow(fields)
            for entry, mac in store.rows(self._require_open()):
                values = [
                    entry.seq,
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.object_type,
                    entry.object_id,
                    entry.outcome,
                    entry.details,
                    entry.epoch,
                    mac.hex(),
                ]
                if writer is not None:
                    writer.writerow(values)
                else:
                    record = dict(zip(fields, values, strict=True))
                    record["details"] = entry.details_dict()
                    out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
            self.audit(AuditAction.AUDIT_EXPORTED, details={"format": fmt, "entries": count})
            return count

    def integrity_problems(self) -> list[str]:
        """SQLCipher's page-HMAC check and SQLite's structural check; empty when healthy."""
        with self._mutex:
            return integrity_problems(self._require_open())

    # ------------------------------------------------------------------ key management
    def change_passphrase(
        self,
        new_passphrase: str,
        *,
        kdf: KdfParams | None = None,
        current_passphrase: str | None = None,
    ) -> None:
        """Re-wrap the master key under a new passphrase (fresh salt). The database is not
        re-encrypted, so this is instant apart from the KDF; the old passphrase stops working.

        With ``current_passphrase`` (the app asks for it, so that a vault left open cannot be
        taken over), a wrong one raises ``UnlockError``, is audited as a failure and changes
        nothing."""
        secret = passphrase_bytes(new_passphrase)
        params = kdf or self._header.kdf
        params.check()
        with self._mutex:
            keys = self._require_keys()
            if current_passphrase is not None:
                try:
                    current = unwrap_with_passphrase(
                        self._header, passphrase_bytes(current_passphrase)
                    )
                except (UnlockError, PassphrasePolicyError):
                    current = b""
                if current != bytes(keys.master):
                    self.audit(
                        AuditAction.PASSPHRASE_CHANGED,
                        object_type="vault",
                        object_id=self.vault_id,
                        outcome=Outcome.FAILURE,
                        details={"reason": "wrong current passphrase"},
                    )
                    raise UnlockError()
            header = replace(self._header, kdf=params, kdf_salt=new_salt())
            kek = derive_key(secret, header.kdf_salt, params)
            header = replace(
                header,
                passphrase_slot=WrappedKey(
                    *keyring.wrap(kek, bytes(keys.master), header.passphrase_aad())
                ),
            )
            with self.transaction() as tx:
                tx.new_header = header
                tx.audit(
                    AuditAction.PASSPHRASE_CHANGED,
                    object_type="vault",
                    object_id=self.vault_id,
                    details={"kdf_profile": params.profile},
                )

    def rekey(self, passphrase: str) -> RecoveryKey:
        """Replace the master key and re-encrypt the database into a new file (for a suspected
        compromise). Needs the current passphrase; returns the NEW recovery key (the old one stops
        working). Crash-safe: the header names the database file, and it is swapped last."""
        secret = passphrase_bytes(passphrase)
        with self._mutex:
            conn = self._require_open()
            old_keys = self._require_keys()
            old = self._header
            if unwrap_with_passphrase(old, secret) != bytes(old_keys.master):
                raise UnlockError()
            self._check_chain(full=True)  # never re-seal a history that is already damaged

            master = keyring.new_master_key()
            recovery = RecoveryKey.generate()
            new = _seal(
                replace(
                    old,
                    generation=old.generation + 1,
                    kdf_salt=new_salt(),
                    recovery_salt=new_salt(),
                    checkpoint=None,
                ),
                master,
                passphrase=secret,
                recovery=recovery,
                kek=None,
            )
            new_keys = _Keys(master, new.vault_id)
            new_path = self.path / new.database
            _remove_database_files(new_path)
            attach_encrypted(conn, new_path, "rekeyed", bytes(new_keys.database))
            try:
                conn.execute("SELECT sqlcipher_export('rekeyed')").fetchall()
            finally:
                conn.execute("DETACH DATABASE rekeyed")
            new_conn = open_database(new_path, bytes(new_keys.database))
            try:
                new_conn.execute("BEGIN IMMEDIATE")
                store.archive_key(new_conn, old.generation, bytes(old_keys.audit))
                entry, head = self._append(
                    new_conn,
                    self._head,
                    AuditAction.REKEY,
                    "vault",
                    self.vault_id,
                    Outcome.SUCCESS,
                    {"new_epoch": new.generation},
                )
                new_conn.execute("COMMIT")
                fsync_file(new_path)
                new = new.with_checkpoint(
                    make_checkpoint(
                        bytes(new_keys.audit), new.vault_id, entry.seq, entry.epoch, head.mac
                    )
                )
                self._write_header(new)  # the switch-over point
            except BaseException:
                new_conn.close()
                _remove_database_files(new_path)
                raise
            conn.close()
            _remove_database_files(self.path / old.database)
            old_keys.wipe()
            self._conn = new_conn
            self._keys = new_keys
            self._audit_keys = {**self._audit_keys, new.generation: bytes(new_keys.audit)}
            self._head = head
            return recovery

    def backup_key(self) -> bytes:
        """The sub-key reserved for backups (used by the backup feature)."""
        return bytes(self._require_keys().backup)

    # ------------------------------------------------------------------ locking
    def lock(self) -> None:
        """Audit the lock, close the database, overwrite key buffers, release the folder."""
        with self._mutex:
            if self._conn is None:
                return
            try:
                self.audit(AuditAction.LOCK, object_type="vault", object_id=self.vault_id)
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

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock()

    # ------------------------------------------------------------------ helpers
    def _require_open(self) -> Connection:
        if self._conn is None:
            raise VaultLockedError("the vault is locked")
        return self._conn

    def _require_keys(self) -> _Keys:
        if self._keys is None:
            raise VaultLockedError("the vault is locked")
        return self._keys

    def _write_header(self, header: VaultHeader) -> None:
        atomic_write(self.path / HEADER_NAME, header.to_bytes())
        self._header = header


def unwrap_with_passphrase(header: VaultHeader, passphrase: bytes) -> bytes:
    """The master key from the passphrase slot; ``UnlockError`` if it does not open."""
    kek = derive_key(passphrase, header.kdf_salt, header.kdf)
    slot = header.passphrase_slot
    return keyring.unwrap(kek, slot.nonce, slot.ciphertext, header.passphrase_aad())


def unwrap_with_recovery_key(header: VaultHeader, recovery_key: RecoveryKey) -> bytes:
    """The master key from the recovery slot; ``UnlockError`` if it does not open."""
    kek = keyring.recovery_kek(recovery_key.secret, header.recovery_salt)
    slot = header.recovery_slot
    return keyring.unwrap(kek, slot.nonce, slot.ciphertext, header.recovery_aad())


_EMPTY_SLOT = WrappedKey(nonce=bytes(keyring.NONCE_BYTES), ciphertext=bytes(48))


def _seal(
    header: VaultHeader,
    master: bytes,
    *,
    passphrase: bytes,
    recovery: RecoveryKey,
    kek: bytes | None = None,
) -> VaultHeader:
    """Fill both key slots of ``header`` by wrapping ``master``, and set the backup recipient
    derived from ``recovery`` (both are bound to the slots' associated data)."""
    header = replace(header, backup_recipient=recipient_public_key(recovery.secret))
    kek = kek or derive_key(passphrase, header.kdf_salt, header.kdf)
    header = replace(
        header, passphrase_slot=WrappedKey(*keyring.wrap(kek, master, header.passphrase_aad()))
    )
    rkek = keyring.recovery_kek(recovery.secret, header.recovery_salt)
    return replace(
        header, recovery_slot=WrappedKey(*keyring.wrap(rkek, master, header.recovery_aad()))
    )


def _acquire(path: Path) -> filelock.BaseFileLock:
    # Not thread-local: the app unlocks on a worker thread and may lock on another.
    lock = filelock.FileLock(str(path / LOCK_NAME), timeout=0, mode=0o600, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise VaultBusyError("the vault is open in another Quietroom process") from None
    return lock


def _read_header(path: Path) -> bytes:
    try:
        with open(path / HEADER_NAME, "rb") as handle:
            return handle.read(MAX_HEADER_BYTES + 1)
    except OSError:
        raise UnlockError() from None


def _page_problems_of(db: Path, key: bytes) -> list[str]:
    conn = open_database(db, key)
    try:
        return page_problems(conn)
    finally:
        conn.close()


def _database_files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def _remove_database_files(db: Path) -> None:
    for file in _database_files(db):
        file.unlink(missing_ok=True)


def _remove_stale_databases(path: Path, current: str) -> None:
    """Remove database files left by an interrupted rekey (the header names the live one)."""
    for candidate in path.glob("vault-*.db"):
        if candidate.name != current:
            _remove_database_files(candidate)


def _set_aside_orphans(path: Path, now: datetime) -> None:
    """A database without a header (a creation interrupted before its header was written) can
    never be opened: its key is gone. Move it aside rather than delete it."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for orphan in path.glob("vault-*.db*"):
        orphan.rename(orphan.with_name(f"{orphan.name}.orphan-{stamp}"))


def _first_gap(conn: Connection) -> int:
    row = conn.execute(
        "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = 1) THEN 1 ELSE "
        "(SELECT min(a.seq) + 1 FROM audit_log a WHERE NOT EXISTS "
        "(SELECT 1 FROM audit_log b WHERE b.seq = a.seq + 1) "
        "AND a.seq < (SELECT max(seq) FROM audit_log)) END"
    ).fetchone()
    return int(row[0] or 1)
