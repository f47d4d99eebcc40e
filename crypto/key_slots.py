"""Key slots: the passphrase and the recovery key each unwrap the master key from the header;
the sub-keys held while a vault is unlocked."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from crypto import keys as keyring
from crypto.backup.recipient import recipient_public_key
from crypto.errors import PassphrasePolicyError
from crypto.header import VaultHeader, WrappedKey
from crypto.kdf import derive_key, new_salt
from crypto.recovery_key import RecoveryKey

MAX_PASSPHRASE_CHARS = 1024
EMPTY_SLOT = WrappedKey(nonce=bytes(keyring.NONCE_BYTES), ciphertext=bytes(48))


def passphrase_bytes(passphrase: str) -> bytes:
    """NFC-normalised UTF-8, so the same passphrase typed on another system still unlocks."""
    if not passphrase:
        raise PassphrasePolicyError("the passphrase is empty")
    if len(passphrase) > MAX_PASSPHRASE_CHARS:
        raise PassphrasePolicyError(f"the passphrase is longer than {MAX_PASSPHRASE_CHARS}")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


class Keys:
    """Key material held while unlocked, in mutable buffers so that lock can overwrite them.
    (Python may have copied them elsewhere; see docs/threat-model.md.)"""

    def __init__(self, master: bytes, vault_id: str) -> None:
        self.master = bytearray(master)
        self.database = bytearray(keyring.subkey(master, keyring.LABEL_DATABASE, vault_id))
        self.audit = bytearray(keyring.subkey(master, keyring.LABEL_AUDIT, vault_id))
        self.backup = bytearray(keyring.subkey(master, keyring.LABEL_BACKUP, vault_id))
        self.rows = bytearray(keyring.subkey(master, keyring.LABEL_ROWS, vault_id))

    def wipe(self) -> None:
        for buf in (self.master, self.database, self.audit, self.backup, self.rows):
            buf[:] = bytes(len(buf))


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


def seal_slots(
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


def rewrap_passphrase(header: VaultHeader, master: bytes, passphrase: bytes) -> VaultHeader:
    """``header`` with a new passphrase slot (fresh salt, ``header.kdf`` parameters)."""
    header = replace(header, kdf_salt=new_salt())
    kek = derive_key(passphrase, header.kdf_salt, header.kdf)
    return replace(
        header,
        passphrase_slot=WrappedKey(*keyring.wrap(kek, master, header.passphrase_aad())),
    )
