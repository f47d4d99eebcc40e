"""Key changes on an unlocked vault: a new passphrase, and a new master key (rekey) in two steps.

Write order, so that a crash at any instruction leaves something the next unlock settles:
- passphrase change: the header with the new slot and the next key-slot epoch is written first
  (the header is then one key step ahead of the database), then the database commit that records
  it; an unlock that finds the header one step ahead records the change and reports it.
- rekey: ``prepare_rekey`` makes the new keys and the new recovery key in memory and leaves a
  marker (no secret) in the folder; nothing switches. ``commit_rekey`` needs the new recovery key
  typed back, copies the database under the new key into ``vault-<g+1>.db``, commits the rekey
  entry and the new seal there, and only then replaces the header (the switch). An unlock that
  finds the marker reports whether the switch happened and removes the leftovers.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, replace

from crypto import integrity
from crypto import keys as keyring
from crypto.atomic import fsync_file
from crypto.audit import store
from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.chain import make_checkpoint
from crypto.database import attach_encrypted, open_database
from crypto.errors import (
    PassphrasePolicyError,
    RecoveryKeyFormatError,
    RekeyConfirmationError,
    UnlockError,
)
from crypto.header import VaultHeader
from crypto.kdf import KdfParams, new_salt
from crypto.key_slots import (
    Keys,
    passphrase_bytes,
    rewrap_passphrase,
    seal_slots,
    unwrap_with_passphrase,
)
from crypto.recovery_key import RecoveryKey
from crypto.vault_audit import AuditLogAccess
from crypto.vault_core import iso_utc
from crypto.vault_files import (
    remove_database_files,
    remove_rekey_marker,
    write_rekey_marker,
)


def _no_crash(step: str) -> None:
    """Called between the steps of a key change. Tests replace it with one that kills the
    process at a given step (tests/crypto/test_crash_key_changes.py)."""


step = _no_crash


@dataclass
class PendingRekey:
    """A prepared rekey: the new recovery key to show, and the new keys, held only in memory."""

    recovery_key: RecoveryKey
    header: VaultHeader
    master: bytearray
    from_generation: int

    def wipe(self) -> None:
        self.master[:] = bytes(len(self.master))


class KeyChanges(AuditLogAccess):
    def _check_current(self, passphrase: str | None) -> None:
        """Refuse (and audit) a wrong current passphrase when one is given."""
        if passphrase is None:
            return
        keys = self._require_keys()
        try:
            current = unwrap_with_passphrase(self._header, passphrase_bytes(passphrase))
        except (UnlockError, PassphrasePolicyError):
            current = b""
        if not hmac.compare_digest(current, bytes(keys.master)):
            self.audit(
                AuditAction.PASSPHRASE_CHANGED,
                object_type="vault",
                object_id=self.vault_id,
                outcome=Outcome.FAILURE,
                details={"reason": "wrong current passphrase"},
            )
            raise UnlockError()

    def change_passphrase(
        self,
        new_passphrase: str,
        *,
        kdf: KdfParams | None = None,
        current_passphrase: str | None = None,
    ) -> None:
        """Re-wrap the master key under a new passphrase (fresh salt). The database is not
        re-encrypted, so this is instant apart from the KDF; the old passphrase stops working,
        and every header written before this one stops opening the vault.

        With ``current_passphrase`` (the app asks for it, so that a vault left open cannot be
        taken over), a wrong one raises ``UnlockError``, is audited as a failure and changes
        nothing."""
        secret = passphrase_bytes(new_passphrase)
        params = kdf or self._header.kdf
        params.check()
        with self._mutex:
            self._check_current(current_passphrase)
            keys = self._require_keys()
            new = rewrap_passphrase(replace(self._header, kdf=params), bytes(keys.master), secret)
            self._switch_slots(new, AuditAction.PASSPHRASE_CHANGED, {"kdf_profile": params.profile})

    def _switch_slots(
        self, new: VaultHeader, action: AuditAction, details: dict[str, str | int | bool]
    ) -> None:
        """Header first (one key-slot step ahead, same commit), then the sealed commit."""
        keys = self._require_keys()
        old = self._header
        next_epoch = self._slot_epoch + 1
        ahead = new
        if self._state is not None:
            ahead = new.with_checkpoint(
                make_checkpoint(
                    bytes(keys.audit),
                    new.vault_id,
                    self._head.seq,
                    self._head_entry_epoch,
                    self._head.mac,
                    self._state.commit,
                    next_epoch,
                )
            )
        self._write_header(ahead)
        step("passphrase-header-written")
        try:
            with self.transaction() as tx:
                tx.new_header = new
                tx.slot_epoch = next_epoch
                tx.audit(action, object_type="vault", object_id=self.vault_id, details=details)
        except Exception:
            self._write_header(old)  # the database did not move: put the old slots back
            raise
        step("passphrase-committed")
        self._save_anchor()

    # ------------------------------------------------------------------ rekey, two steps
    def prepare_rekey(self, passphrase: str) -> PendingRekey:
        """Step 1: check the passphrase, make a new master key and recovery key. Nothing on disk
        switches; show ``recovery_key`` to the person, then call ``commit_rekey``."""
        secret = passphrase_bytes(passphrase)
        with self._mutex:
            old = self._header
            if not hmac.compare_digest(
                unwrap_with_passphrase(old, secret), bytes(self._require_keys().master)
            ):
                raise UnlockError()
            master = keyring.new_master_key()
            recovery = RecoveryKey.generate()
            new = seal_slots(
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
            )
            write_rekey_marker(self.path, new.generation, iso_utc(self.options.clock()))
            step("rekey-prepared")
            return PendingRekey(recovery, new, bytearray(master), old.generation)

    def commit_rekey(self, pending: PendingRekey, confirmation: RecoveryKey | str) -> None:
        """Step 2: ``confirmation`` must be the new recovery key (as typed back by the person).
        Re-encrypts the database into a new file under the new key and switches to it; the old
        recovery key then stops working."""
        try:
            typed = (
                confirmation
                if isinstance(confirmation, RecoveryKey)
                else RecoveryKey.parse(confirmation)
            )
        except RecoveryKeyFormatError:
            raise RekeyConfirmationError() from None
        if not hmac.compare_digest(typed.secret, pending.recovery_key.secret):
            raise RekeyConfirmationError()
        with self._mutex:
            if self._header.generation != pending.from_generation:
                raise ValueError("this prepared rekey is stale: the vault changed keys since")
            self._rekey_switch(pending)

    def cancel_rekey(self, pending: PendingRekey) -> None:
        """The person did not confirm: forget the prepared keys; nothing had switched."""
        pending.wipe()
        remove_rekey_marker(self.path)

    def rekey(self, passphrase: str) -> RecoveryKey:
        """Both steps at once, for callers that show the key afterwards themselves (tests and
        tools). The app and the CLI use ``prepare_rekey`` / ``commit_rekey``."""
        pending = self.prepare_rekey(passphrase)
        self.commit_rekey(pending, pending.recovery_key)
        return pending.recovery_key

    def _rekey_switch(self, pending: PendingRekey) -> None:
        conn = self._require_open()
        old_keys = self._require_keys()
        old = self._header
        self._check_chain(full=True)  # never re-seal a history that is already damaged
        new = pending.header
        new_keys = Keys(bytes(pending.master), new.vault_id)
        new_path = self.path / new.database
        remove_database_files(new_path)
        attach_encrypted(conn, new_path, "rekeyed", bytes(new_keys.database))
        try:
            conn.execute("SELECT sqlcipher_export('rekeyed')").fetchall()
        finally:
            conn.execute("DETACH DATABASE rekeyed")
        step("rekey-exported")
        new_conn = open_database(new_path, bytes(new_keys.database))
        integrity.register(new_conn, bytes(new_keys.rows))
        audit_keys = {**self._audit_keys, new.generation: bytes(new_keys.audit)}
        try:
            new_conn.execute("BEGIN IMMEDIATE")
            store.archive_key(new_conn, old.generation, bytes(old_keys.audit))
            self._audit_keys = audit_keys
            entry, head = self._append(
                new_conn,
                self._head,
                AuditAction.REKEY,
                "vault",
                self.vault_id,
                Outcome.SUCCESS,
                {"new_epoch": new.generation},
            )
            integrity.recompute_all(new_conn, bytes(new_keys.rows))
            state = integrity.write_state(
                new_conn,
                bytes(new_keys.rows),
                new.vault_id,
                self._state,
                self._slot_epoch + 1,
                head,
                checkpointed=True,
            )
            new_conn.execute("COMMIT")
            fsync_file(new_path)
            step("rekey-new-database-committed")
            new = new.with_checkpoint(
                make_checkpoint(
                    bytes(new_keys.audit),
                    new.vault_id,
                    entry.seq,
                    entry.epoch,
                    head.mac,
                    state.commit,
                    state.slot_epoch,
                )
            )
            self._write_header(new)  # the switch-over point
        except BaseException:
            new_conn.close()
            remove_database_files(new_path)
            self._audit_keys = {k: v for k, v in audit_keys.items() if k != new.generation}
            raise
        step("rekey-header-switched")
        conn.close()
        remove_database_files(self.path / old.database)
        step("rekey-old-database-removed")
        remove_rekey_marker(self.path)
        old_keys.wipe()
        pending.wipe()
        self._conn = new_conn
        self._keys = new_keys
        self._head = head
        self._head_entry_epoch = entry.epoch
        self._state = state
        self._slot_epoch = state.slot_epoch
        self._save_anchor()
