"""The one error root of the ``crypto`` package and its narrow subclasses.

``CryptoError`` itself is never raised. Every subclass has a docstring written for the person using
the app: what probably happened and what they can do about it.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Root of every error raised by ``crypto``. Never raised itself."""


class UnlockError(CryptoError):
    """The vault could not be unlocked: the passphrase or recovery key is wrong, or the vault files
    are damaged. Check the passphrase (caps lock, keyboard layout) and try again; if it keeps
    failing, unlock with your recovery key or restore a backup.

    Deliberately opaque: a wrong passphrase, a wrong recovery key, a corrupted header and a database
    that fails its HMAC all raise exactly this, with exactly this message.
    """

    MESSAGE = "could not unlock: wrong passphrase or damaged vault"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class UnlockThrottledError(CryptoError):
    """Too many failed unlock attempts in a row. Wait for the time shown, then try again."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed attempts: wait {retry_after:.0f} s before trying again")


class RecoveryKeyFormatError(CryptoError):
    """The recovery key as typed is not well formed (a missing group or a typo): its checksum does
    not match. Compare it with the printed copy character by character."""


class VaultNotFoundError(CryptoError):
    """There is no vault in this folder. Create one with ``quietroom init`` or point ``--vault`` at
    the folder that holds it."""


class VaultExistsError(CryptoError):
    """A vault already exists in this folder; it was left untouched. Choose another folder."""


class VaultBusyError(CryptoError):
    """The vault is open in another Quietroom window or process. Close it there first."""


class VaultLockedError(CryptoError):
    """The vault is locked; unlock it again to continue."""


class WeakParametersError(CryptoError):
    """The key-derivation parameters are weaker than the minimum allowed (OWASP: m=19 MiB, t=2, p=1)
    or outside the supported range. Test-only parameters cannot be used outside the test suite."""


class PassphrasePolicyError(CryptoError):
    """The new passphrase is not acceptable (empty or too long)."""


class SchemaError(CryptoError):
    """The vault database was written by a newer version of Quietroom, or a migration failed. Update
    Quietroom; the vault was not changed."""


class AuditError(CryptoError):
    """An audit entry could not be written (for example its details are too large or hold a type
    that is not allowed). Nothing was committed."""


class AuditIntegrityError(CryptoError):
    """The audit log failed verification: an entry was changed, removed, reordered, or the database
    was rolled back to an older copy. The first bad entry is named; keep the vault and a backup as
    evidence and contact support."""

    def __init__(self, first_bad_seq: int, reason: str) -> None:
        self.first_bad_seq = first_bad_seq
        self.reason = reason
        super().__init__(f"audit log damaged at entry {first_bad_seq}: {reason}")


class RowIntegrityError(AuditIntegrityError):
    """The records in the vault do not match what the audit log vouches for: a table's rows were
    changed, added or removed outside Quietroom, or parts of the database were put back from an
    older copy. The table is named; keep the vault and a backup as evidence and restore a backup
    you trust."""

    def __init__(self, first_bad_seq: int, reason: str, *, table: str | None) -> None:
        self.table = table
        super().__init__(first_bad_seq, reason)


class VaultMismatchError(AuditIntegrityError):
    """The vault's header and its database are not from the same moment: one of them was put back
    from an older copy (for example a header saved before a passphrase change), or one was
    damaged. A header from before a passphrase change, recovery or new key never opens the vault
    again. Restore a backup you trust, or keep the files as evidence and contact support."""


class StaleHeaderError(VaultMismatchError):
    """This vault header is from before a passphrase change, a recovery or a new key. It no longer
    opens the vault, even with the passphrase it was made with. Use your current passphrase (or
    your recovery key) with the vault's current header."""


class DatabaseDamagedError(AuditIntegrityError):
    """The vault's database file is damaged (cut short, or its pages fail SQLite's or SQLCipher's
    own checks). Nothing was written to it. Restore your most recent backup."""

    def __init__(self, reason: str) -> None:
        super().__init__(0, reason)

    def __str__(self) -> str:
        return f"the vault's database is damaged: {self.reason}"


class RollbackDetectedError(AuditIntegrityError):
    """This vault is older than a state Quietroom has already seen: its whole folder was put back
    from an older copy (or a backup was restored by hand, outside Quietroom). If you restored it
    yourself on purpose, confirm that to continue: Quietroom records it. Otherwise keep the files
    as evidence: records written after that moment are missing from this copy."""

    def __init__(self, seen_commit: int, found_commit: int, where: str, seen_seq: int) -> None:
        self.seen_commit = seen_commit
        self.found_commit = found_commit
        self.where = where
        super().__init__(
            seen_seq,
            f"the vault was rolled back: {where} recorded commit {seen_commit}, the vault is "
            f"at commit {found_commit}",
        )


class RekeyConfirmationError(CryptoError):
    """The recovery key typed back is not the new one that was just shown, so the new key was not
    put in force and nothing changed. Type the new recovery key exactly as shown (or start
    again)."""

    def __init__(self) -> None:
        super().__init__("that is not the new recovery key shown; nothing was changed")


class KeyFormatError(CryptoError):
    """A database key must be exactly 32 raw bytes. Anything else is refused, because SQLCipher
    silently runs its own PBKDF2 over any key string that is not a raw hex key."""
