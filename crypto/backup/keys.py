"""Key schedule of backup format version 1: key slots, header MAC key, payload key.

One fresh random 256-bit file key per backup. Each key slot wraps it under a key derived from what
the person holds (backup passphrase through Argon2id, or the vault's recovery secret through HKDF);
the header MAC key and the payload key are derived from the file key with HKDF, as in age.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.backup.format import (
    FILE_KEY_BYTES,
    RECOVERY_SECRET_BYTES,
    Header,
    PassphraseSlot,
    RecoveryKeySlot,
    Slot,
    slot_aad,
)
from crypto.kdf import KdfParams, derive_key

INFO_RECOVERY_WRAP = b"quietroom-backup v1 recovery-key wrap"
INFO_HEADER_MAC = b"quietroom-backup v1 header mac"
INFO_PAYLOAD = b"quietroom-backup v1 payload"
# Each wrapping key is used exactly once (fresh salt per backup), so a fixed nonce is safe (age).
_WRAP_NONCE = bytes(12)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def check_recovery_secret(recovery_secret: bytes) -> None:
    if len(recovery_secret) != RECOVERY_SECRET_BYTES:
        raise ValueError(f"the recovery secret must be {RECOVERY_SECRET_BYTES} raw bytes")


def passphrase_wrapping_key(passphrase: bytes, params: KdfParams, salt: bytes) -> bytes:
    return derive_key(passphrase, salt, params)


def recovery_wrapping_key(recovery_secret: bytes, salt: bytes) -> bytes:
    # The recovery secret is 128 random bits, so a fast KDF suffices: there is nothing to guess.
    check_recovery_secret(recovery_secret)
    return _hkdf(recovery_secret, salt, INFO_RECOVERY_WRAP)


def wrap_file_key(wrapping_key: bytes, file_key: bytes, aad: bytes) -> bytes:
    if len(file_key) != FILE_KEY_BYTES:
        raise ValueError("the file key must be 32 bytes")
    return ChaCha20Poly1305(wrapping_key).encrypt(_WRAP_NONCE, file_key, aad)


def unwrap_file_key(wrapping_key: bytes, slot: Slot) -> bytes | None:
    """The file key, or ``None`` if this wrapping key does not open the slot."""
    try:
        return ChaCha20Poly1305(wrapping_key).decrypt(
            _WRAP_NONCE, slot.wrapped_key, slot_aad(slot.type, slot.fields())
        )
    except InvalidTag:
        return None


def make_passphrase_slot(
    passphrase: bytes, params: KdfParams, salt: bytes, file_key: bytes
) -> PassphraseSlot:
    key = passphrase_wrapping_key(passphrase, params, salt)
    unwrapped = PassphraseSlot(params=params, salt=salt, wrapped_key=b"")
    wrapped = wrap_file_key(key, file_key, slot_aad(unwrapped.type, unwrapped.fields()))
    return PassphraseSlot(params=params, salt=salt, wrapped_key=wrapped)


def make_recovery_slot(recovery_secret: bytes, salt: bytes, file_key: bytes) -> RecoveryKeySlot:
    key = recovery_wrapping_key(recovery_secret, salt)
    wrapped = wrap_file_key(key, file_key, slot_aad(RecoveryKeySlot.type, salt))
    return RecoveryKeySlot(salt=salt, wrapped_key=wrapped)


def header_mac(file_key: bytes, authenticated: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", INFO_HEADER_MAC), authenticated, sha256).digest()


def header_mac_valid(file_key: bytes, header: Header) -> bool:
    return hmac.compare_digest(header_mac(file_key, header.authenticated), header.mac)


def payload_key(file_key: bytes, payload_nonce: bytes) -> bytes:
    return _hkdf(file_key, payload_nonce, INFO_PAYLOAD)
