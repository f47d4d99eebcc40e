"""The vault: the recipes callers use. Create, unlock (passphrase or recovery key), transactions
that write audit entries, key changes, verification and export of the audit log, snapshots for
backups, lock.

``Vault`` is assembled from one module per concept:

| module | concept |
|---|---|
| ``vault_core`` | state while unlocked, the sealed write path (``transaction``), readers |
| ``vault_audit`` | audit log access: verification, entries, filtered queries, export |
| ``vault_snapshot`` | consistent snapshots of the encrypted file for backups |
| ``vault_keys`` | passphrase change and the two-step rekey |
| ``vault_files`` | the folder: names, lock, header file, stray files |
| ``key_slots`` | unwrapping the master key, sub-keys |
| ``integrity`` / ``vault_checks`` | row sums, the seal, header/database/chain consistency |
| ``anchor`` | the newest state seen, kept outside the folder |

This module holds the lifecycle (create, unlock, recover, inspect) and re-exports the names
callers import from ``crypto.vault``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from crypto import anchor as anchors
from crypto import keys as keyring
from crypto import vault_checks
from crypto.atomic import private_dir
from crypto.attempts import AttemptStore, FailedAttempt
from crypto.audit import store
from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.chain import VerifyReport
from crypto.database import (
    DatabaseError,
    open_database,
    page_problems,
    structure_problems,
)
from crypto.errors import (
    AuditIntegrityError,
    RekeyConfirmationError,
    RollbackDetectedError,
    StaleHeaderError,
    UnlockError,
    UnlockThrottledError,
    VaultExistsError,
    VaultNotFoundError,
)
from crypto.header import VaultHeader
from crypto.kdf import KdfParams, calibrate, new_salt
from crypto.key_slots import (
    EMPTY_SLOT,
    MAX_PASSPHRASE_CHARS,
    Keys,
    passphrase_bytes,
    seal_slots,
    unwrap_with_passphrase,
    unwrap_with_recovery_key,
)
from crypto.recovery_key import RecoveryKey
from crypto.vault_audit import AuditQuery
from crypto.vault_checks import HeadCheck, check_heads
from crypto.vault_core import (
    VAULT_COMPONENT,
    Method,
    Transaction,
    UnlockInfo,
    VaultOptions,
    iso_utc,
    utc_now,
)
from crypto.vault_files import (
    HEADER_NAME,
    LOCK_NAME,
    acquire,
    check_database_file,
    read_header,
    read_rekey_marker,
    remove_rekey_marker,
    remove_stray_staging,
    remove_strays,
    set_aside_orphans,
    vault_exists,
)
from crypto.vault_keys import KeyChanges, PendingRekey
from crypto.vault_snapshot import Snapshot, SnapshotAccess

__all__ = [
    "HEADER_NAME",
    "LOCK_NAME",
    "MAX_PASSPHRASE_CHARS",
    "VAULT_COMPONENT",
    "AuditQuery",
    "PendingRekey",
    "RekeyConfirmationError",
    "Snapshot",
    "Transaction",
    "UnlockInfo",
    "Vault",
    "VaultOptions",
    "iso_utc",
    "passphrase_bytes",
    "unwrap_with_passphrase",
    "unwrap_with_recovery_key",
    "utc_now",
    "vault_exists",
]


class Vault(KeyChanges, SnapshotAccess):
    """An unlocked vault. Obtain one with ``Vault.create``, ``Vault.unlock`` or ``Vault.recover``;
    call ``lock()`` when done."""

    # ------------------------------------------------------------------ creation
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
        file_lock = acquire(path)
        try:
            if vault_exists(path):
                raise VaultExistsError(f"a vault already exists in {path}")
            set_aside_orphans(path, options.clock())
            master = keyring.new_master_key()
            recovery = RecoveryKey.generate()
            header = seal_slots(
                VaultHeader(
                    vault_id=uuid.uuid4().hex,
                    created_at=iso_utc(options.clock()),
                    generation=0,
                    kdf=params,
                    kdf_salt=new_salt(),
                    recovery_salt=new_salt(),
                    backup_recipient=bytes(32),  # set by seal_slots
                    passphrase_slot=EMPTY_SLOT,
                    recovery_slot=EMPTY_SLOT,
                ),
                master,
                passphrase=secret,
                recovery=recovery,
            )
            keys = Keys(master, header.vault_id)
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
            vault.unlock_info = UnlockInfo("passphrase", (), 1, 0, commit=vault.commit_count)
            return vault, recovery
        except BaseException:
            if file_lock.is_locked:
                file_lock.release()
            raise

    # ------------------------------------------------------------------ unlocking
    @classmethod
    def unlock(
        cls,
        path: Path,
        passphrase: str,
        *,
        options: VaultOptions | None = None,
        accept_audit_damage: bool = False,
        accept_rollback: bool = False,
    ) -> Vault:
        """Unlock with the passphrase. Raises ``UnlockError`` (opaque) on a wrong passphrase or a
        damaged header, leaving every vault file unchanged; ``DatabaseDamagedError``,
        ``VaultMismatchError``/``AuditIntegrityError`` when the key opened but the vault's parts
        disagree; ``RollbackDetectedError`` when the vault is older than a state seen before
        (``accept_rollback`` records that the person restored it on purpose)."""
        secret = passphrase_bytes(passphrase)
        return cls._open(
            path,
            lambda header: unwrap_with_passphrase(header, secret),
            "passphrase",
            options,
            accept_audit_damage,
            accept_rollback,
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
        accept_rollback: bool = False,
    ) -> Vault:
        """Emergency access: unlock with the recovery key and set a new passphrase at once."""
        passphrase_bytes(new_passphrase)  # refuse a bad new passphrase before touching anything

        vault = cls._open(
            path,
            lambda header: unwrap_with_recovery_key(header, recovery_key),
            "recovery",
            options,
            accept_audit_damage,
            accept_rollback,
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
        accept_rollback: bool,
    ) -> Vault:
        options = options or VaultOptions()
        if not vault_exists(path):
            raise VaultNotFoundError(f"no vault in {path}")
        file_lock = acquire(path)
        try:
            attempts = AttemptStore(options.state_dir, path)
            wait = attempts.retry_after(options.clock())
            if wait > 0:
                raise UnlockThrottledError(wait)
            try:
                header = VaultHeader.from_bytes(read_header(path))
                header.kdf.check()
                master = unwrap(header)
            except UnlockError:
                attempts.record(iso_utc(options.clock()), method)
                raise
            # The key opened the header: from here on, say precisely what is wrong.
            check_database_file(path / header.database)
            keys = Keys(master, header.vault_id)
            try:
                conn = open_database(path / header.database, bytes(keys.database))
            except UnlockError:
                attempts.record(iso_utc(options.clock()), method)
                raise
            vault = cls(path, header, keys, conn, file_lock, options)
            try:
                vault._unlock_steps(
                    method, tuple(attempts.load()), accept_audit_damage, accept_rollback
                )
            except DatabaseError:
                # A page failing its HMAC puts SQLCipher in an error state: a damaged vault.
                vault._close()
                raise UnlockError() from None
            except BaseException:
                vault._close()
                raise
            attempts.clear()
            return vault
        except BaseException:
            if file_lock.is_locked:
                file_lock.release()
            raise

    def _unlock_steps(
        self,
        method: Method,
        failures: tuple[FailedAttempt, ...],
        accept_audit_damage: bool,
        accept_rollback: bool,
    ) -> None:
        conn = self._require_open()
        keys = self._require_keys()
        audit_keys = {**_archived_keys(conn), self._header.generation: bytes(keys.audit)}
        damage: AuditIntegrityError | None = None
        heads: HeadCheck | None = None
        try:
            heads = check_heads(conn, self._header, audit_keys, bytes(keys.audit), bytes(keys.rows))
        except StaleHeaderError:
            raise  # never accepted: a header from before a key change must not open the vault
        except AuditIntegrityError as found:
            if not accept_audit_damage:
                raise
            damage = found
        lag = heads.head.seq - heads.checkpoint_seq if heads else 0
        self._load_chain_state()
        rolled_back_to = self._check_anchor(accept_rollback or accept_audit_damage)
        key_change = self._complete_passphrase_change(heads)
        self._prepare()
        key_change = self._settle_rekey() or key_change
        cleaned = tuple(
            remove_strays(self.path, self._header.database)
            + remove_stray_staging(self.path.resolve().parent)
        )
        self._record_unlock(method, failures, damage)
        self.unlock_info = UnlockInfo(
            method,
            failures,
            self._head.seq,
            lag,
            damage,
            key_change=key_change,
            cleaned=cleaned,
            rolled_back_to=rolled_back_to,
            commit=self.commit_count,
        )
        if rolled_back_to is not None:
            anchors.reset(self.options.state_dir, self.anchor())
        # Otherwise the anchor moves at lock, after a backup and after a key change: one atomic
        # file write less on the unlock path.

    def _check_anchor(self, accept_rollback: bool) -> int | None:
        """Compare with the newest state this account has seen of this vault."""
        seen = anchors.load(self.options.state_dir, self.vault_id)
        if seen is None or self._state is None:
            return None
        if not self.is_behind(seen):
            return None
        if not accept_rollback:
            raise RollbackDetectedError(seen.commit, self.commit_count, "this computer", seen.seq)
        self.audit(
            AuditAction.ROLLBACK_ACCEPTED,
            object_type="vault",
            object_id=self.vault_id,
            outcome=Outcome.SUCCESS,
            details={"seen_commit": seen.commit, "found_commit": self.commit_count},
        )
        return self.commit_count

    def _complete_passphrase_change(self, heads: HeadCheck | None) -> str | None:
        """The header is one key-slot step ahead: a passphrase change (or recovery) wrote its
        new slots and crashed before its commit. The new slots are in force; record it."""
        if heads is None or not heads.key_change_pending:
            return None
        checkpoint = self._header.checkpoint
        assert checkpoint is not None and checkpoint.slot_epoch is not None
        with self.transaction() as tx:
            tx.slot_epoch = checkpoint.slot_epoch
            tx.audit(
                AuditAction.PASSPHRASE_CHANGED,
                object_type="vault",
                object_id=self.vault_id,
                details={"completed_at_unlock": True},
            )
        return "passphrase-completed"

    def _settle_rekey(self) -> str | None:
        """A rekey marker left behind: say whether its switch happened, record it, remove it."""
        marker = read_rekey_marker(self.path)
        if marker is None:
            return None
        switched = marker.get("new_generation") == self._header.generation
        self.audit(
            AuditAction.REKEY_INTERRUPTED,
            object_type="vault",
            object_id=self.vault_id,
            outcome=Outcome.SUCCESS if switched else Outcome.FAILURE,
            details={"switched": switched},
        )
        remove_rekey_marker(self.path)
        return "rekey-completed" if switched else "rekey-abandoned"

    def _prepare(self) -> None:
        self._migrate(VAULT_COMPONENT, store.VAULT_MIGRATIONS)
        self._load_chain_state()

    def _record_unlock(
        self,
        method: Method,
        failures: tuple[FailedAttempt, ...],
        damage: AuditIntegrityError | None,
    ) -> None:
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

    # ------------------------------------------------------------------ staged copies
    @classmethod
    def inspect(
        cls, path: Path, master_key: bytes, *, options: VaultOptions | None = None
    ) -> tuple[VerifyReport, list[str]]:
        """Check a vault folder whose master key we hold (a backup snapshot being verified or
        restored): the whole audit chain, the header against the database, every table's rows,
        and every database page. Writes nothing. Returns the chain report and the database
        problems (empty when healthy); raises ``AuditIntegrityError`` for a damaged chain."""
        header = VaultHeader.from_bytes(read_header(path))
        check_database_file(path / header.database)
        file_lock = acquire(path)
        try:
            keys = Keys(master_key, header.vault_id)
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
                report = vault._full_check(conn, header, structure=False)
            except DatabaseError:
                raise UnlockError() from None
            finally:
                problems = pages.result() + problems
                vault._close()
        return report, problems

    def inspect_copy(self, folder: Path) -> tuple[VerifyReport, list[str]]:
        """``inspect`` a copy of this vault (a staged backup of it) with this vault's own key."""
        return Vault.inspect(folder, bytes(self._require_keys().master), options=self.options)

    def structure_problems(self) -> list[str]:
        """SQLCipher's page check and SQLite's ``quick_check`` on a snapshot (backup create runs
        them before writing anything); empty when healthy."""
        with self.reader() as (conn, _header):
            return vault_checks.structure_problems(conn)


def _archived_keys(conn: object) -> dict[int, bytes]:
    try:
        return store.archived_keys(conn)
    except DatabaseError:
        return {}


def _page_problems_of(db: Path, key: bytes) -> list[str]:
    conn = open_database(db, key)
    try:
        return page_problems(conn)
    finally:
        conn.close()
