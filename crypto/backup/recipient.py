"""The backup recipient: an X25519 key pair derived from the vault's recovery secret.

The vault header keeps only the public half, so the running app can encrypt backups (also the
automatic ones, made on lock or quit with nobody at the keyboard) to the recovery key without ever
holding the recovery key itself. Only someone who types the recovery key can derive the private
half and open them. This is age's X25519 recipient, with the identity derived from our recovery
secret.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO_RECIPIENT = b"quietroom/v1/backup-recipient"
PUBLIC_KEY_BYTES = 32


def recipient_private_key(recovery_secret: bytes) -> X25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO_RECIPIENT).derive(
        recovery_secret
    )
    return X25519PrivateKey.from_private_bytes(seed)


def recipient_public_key(recovery_secret: bytes) -> bytes:
    """The 32-byte public key stored in the vault header."""
    return (
        recipient_private_key(recovery_secret)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
