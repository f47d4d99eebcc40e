"""Key schedule of backup format version 1: key slots, header MAC key, payload key.

One fresh random 256-bit file key per backup. Each key slot wraps it under a key derived from what
the person holds: the backup passphrase through Argon2id, or the vault's recovery secret through
an X25519 recipient (age's X25519 stanza: the writer needs only the recipient's public key, the
reader derives the private key from the recovery secret with ``crypto.backup.recipient``), or
from what the unlocked vault holds: its 32-byte backup sub-key through HKDF with a fresh salt, so
the running app can verify its own backups. The header MAC key and the payload key are derived
from the file key with HKDF, as in age.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.backup.format import (
    FILE_KEY_BYTES,
    RECOVERY_SECRET_BYTES,
    VAULT_SALT_BYTES,
    VAULT_SECRET_BYTES,
    X25519_KEY_BYTES,
    Header,
    PassphraseSlot,
    RecipientSlot,
    Slot,
    VaultSlot,
    slot_aad,
)
from crypto.backup.recipient import recipient_private_key
from crypto.kdf import KdfParams, derive_key

INFO_X25519_WRAP = b"quietroom-backup v1 x25519 wrap"
INFO_VAULT_WRAP = b"quietroom-backup v1 vault-key wrap"
INFO_HEADER_MAC = b"quietroom-backup v1 header mac"
INFO_PAYLOAD = b"quietroom-backup v1 payload"
# Each wrapping key is used exactly once (fresh salt or fresh ephemeral key per backup), so a fixed
# nonce is safe (age does the same).
_WRAP_NONCE = bytes(12)
_ZERO_SHARED = bytes(X25519_KEY_BYTES)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def check_recovery_secret(recovery_secret: bytes) -> None:
    if len(recovery_secret) != RECOVERY_SECRET_BYTES:
        raise ValueError(f"the recovery secret must be {RECOVERY_SECRET_BYTES} raw bytes")


def recovery_identity(recovery_secret: bytes) -> X25519PrivateKey:
    """The recipient private key behind the vault's backup recipient, from the recovery secret."""
    check_recovery_secret(recovery_secret)
    return recipient_private_key(recovery_secret)


def check_vault_secret(vault_secret: bytes) -> None:
    if len(vault_secret) != VAULT_SECRET_BYTES:
        raise ValueError(f"the vault secret must be {VAULT_SECRET_BYTES} raw bytes")


def check_recipient_public_key(recipient_public_key: bytes) -> None:
    if len(recipient_public_key) != X25519_KEY_BYTES:
        raise ValueError(f"the recipient public key must be {X25519_KEY_BYTES} raw bytes")


def _public_bytes(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def x25519_shared_secret(private: X25519PrivateKey, public: bytes) -> bytes | None:
    """X25519(private, public), or ``None`` if ``public`` is a low-order point.

    A low-order point gives the all-zero shared secret whatever the private key, so it must be
    refused (age does the same). OpenSSL already refuses it; the explicit check keeps that true
    whatever the backend.
    """
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        return None
    if hmac.compare_digest(shared, _ZERO_SHARED):
        return None
    return shared


def passphrase_wrapping_key(passphrase: bytes, params: KdfParams, salt: bytes) -> bytes:
    return derive_key(passphrase, salt, params)


def vault_wrapping_key(vault_secret: bytes, salt: bytes) -> bytes:
    """HKDF-SHA256(ikm = the vault's backup sub-key, salt = the slot's fresh salt)."""
    check_vault_secret(vault_secret)
    return _hkdf(vault_secret, salt, INFO_VAULT_WRAP)


def recipient_wrapping_key(
    shared: bytes, ephemeral_public: bytes, recipient_public: bytes
) -> bytes:
    # As age's X25519 stanza: the salt binds both public keys to the wrapping key.
    return _hkdf(shared, ephemeral_public + recipient_public, INFO_X25519_WRAP)


def recipient_unwrapping_key(identity: X25519PrivateKey, slot: RecipientSlot) -> bytes | None:
    """The wrapping key of ``slot`` as seen by ``identity``; ``None`` if the slot's ephemeral key
    is a low-order point (a writer never makes one: the header was altered)."""
    shared = x25519_shared_secret(identity, slot.ephemeral_public)
    if shared is None:
        return None
    return recipient_wrapping_key(shared, slot.ephemeral_public, _public_bytes(identity))


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


def make_recipient_slot(
    recipient_public_key: bytes, ephemeral_private_key: bytes, file_key: bytes
) -> RecipientSlot:
    """Wrap ``file_key`` to ``recipient_public_key`` with a one-time X25519 key (age's stanza)."""
    check_recipient_public_key(recipient_public_key)
    if len(ephemeral_private_key) != X25519_KEY_BYTES:
        raise ValueError(f"the ephemeral private key must be {X25519_KEY_BYTES} bytes")
    ephemeral = X25519PrivateKey.from_private_bytes(ephemeral_private_key)
    shared = x25519_shared_secret(ephemeral, recipient_public_key)
    if shared is None:
        raise ValueError("the recipient public key is not usable (a low-order X25519 point)")
    ephemeral_public = _public_bytes(ephemeral)
    key = recipient_wrapping_key(shared, ephemeral_public, recipient_public_key)
    wrapped = wrap_file_key(key, file_key, slot_aad(RecipientSlot.type, ephemeral_public))
    return RecipientSlot(ephemeral_public=ephemeral_public, wrapped_key=wrapped)


def make_vault_slot(vault_secret: bytes, salt: bytes, file_key: bytes) -> VaultSlot:
    """Wrap ``file_key`` under the unlocked vault's backup sub-key, with a fresh ``salt``."""
    if len(salt) != VAULT_SALT_BYTES:
        raise ValueError(f"the vault slot salt must be {VAULT_SALT_BYTES} bytes")
    key = vault_wrapping_key(vault_secret, salt)
    wrapped = wrap_file_key(key, file_key, slot_aad(VaultSlot.type, salt))
    return VaultSlot(salt=salt, wrapped_key=wrapped)


def header_mac(file_key: bytes, authenticated: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", INFO_HEADER_MAC), authenticated, sha256).digest()


def header_mac_valid(file_key: bytes, header: Header) -> bool:
    return hmac.compare_digest(header_mac(file_key, header.authenticated), header.mac)


def payload_key(file_key: bytes, payload_nonce: bytes) -> bytes:
    return _hkdf(file_key, payload_nonce, INFO_PAYLOAD)
