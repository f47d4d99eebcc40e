"""The key hierarchy below the master key, and the AEAD wrapping of the master key.

passphrase --Argon2id--> KEK_p --+
                                  +--AES-256-GCM wrap--> master key (256 bits, random)
recovery key --HKDF--> KEK_r ----+                          |
                                                   HKDF with distinct labels
                                     +---------------+------+--------+
                                  SQLCipher key   audit MAC key   backup key
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import UnlockError

MASTER_KEY_BYTES = 32
NONCE_BYTES = 12

LABEL_DATABASE = b"quietroom/v1/sqlcipher-key"
LABEL_AUDIT = b"quietroom/v1/audit-mac-key"
LABEL_BACKUP = b"quietroom/v1/backup-key"
LABEL_ROWS = b"quietroom/v1/row-integrity-key"
LABEL_RECOVERY_KEK = b"quietroom/v1/recovery-kek"


def new_master_key() -> bytes:
    return os.urandom(MASTER_KEY_BYTES)


def hkdf(key: bytes, label: bytes, context: bytes = b"", salt: bytes | None = None) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=label + b"|" + context)
    return kdf.derive(key)


def subkey(master_key: bytes, label: bytes, vault_id: str) -> bytes:
    """A sub-key of the master key, bound to its purpose and to this vault."""
    return hkdf(master_key, label, vault_id.encode("ascii"))


def recovery_kek(recovery_secret: bytes, salt: bytes) -> bytes:
    # The recovery secret is 128 random bits: a fast KDF is enough, no password stretching needed.
    return hkdf(recovery_secret, LABEL_RECOVERY_KEK, salt=salt)


def wrap(kek: bytes, master_key: bytes, aad: bytes) -> tuple[bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(kek).encrypt(nonce, master_key, aad)


def unwrap(kek: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    try:
        master_key = AESGCM(kek).decrypt(nonce, ciphertext, aad)
    except (InvalidTag, ValueError):
        raise UnlockError() from None
    if len(master_key) != MASTER_KEY_BYTES:
        raise UnlockError()
    return master_key
