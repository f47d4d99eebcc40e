"""The printable recovery key: 128 random bits a person can write down and type back.

Format: 8 groups of 4 characters of RFC 4648 base32 (A-Z, 2-7), e.g. ``QRK7-ABCD-...``. The 20
encoded bytes are 16 bytes of key and a 4-byte checksum (SHA-256 over a label and the key), so a
typo is caught before any unlock is tried and reported as a typo, not as a wrong key. Parsing is
forgiving where people slip: case, spaces, dashes, and the digits 0, 1, 8 read as O, I, B.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from crypto.errors import RecoveryKeyFormatError

SECRET_BYTES = 16
CHECKSUM_BYTES = 4
GROUP = 4
_CHECK_LABEL = b"quietroom recovery key v1"
_CONFUSABLE = str.maketrans({"0": "O", "1": "I", "8": "B"})


@dataclass(frozen=True, repr=False)
class RecoveryKey:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_BYTES:
            raise RecoveryKeyFormatError("a recovery key holds 16 bytes")

    def __repr__(self) -> str:  # never print the secret by accident
        return "RecoveryKey(<hidden>)"

    @classmethod
    def generate(cls) -> RecoveryKey:
        return cls(os.urandom(SECRET_BYTES))

    def formatted(self) -> str:
        text = base64.b32encode(self.secret + _checksum(self.secret)).decode("ascii")
        return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))

    @classmethod
    def parse(cls, typed: str) -> RecoveryKey:
        compact = "".join(ch for ch in typed.upper() if ch not in " -\t\r\n").translate(_CONFUSABLE)
        expected = (SECRET_BYTES + CHECKSUM_BYTES) * 8 // 5
        if len(compact) != expected:
            raise RecoveryKeyFormatError(
                f"a recovery key has {expected} characters in {expected // GROUP} groups; "
                f"this one has {len(compact)}"
            )
        try:
            raw = base64.b32decode(compact)
        except ValueError:
            raise RecoveryKeyFormatError(
                "a recovery key uses only the letters A-Z and digits 2-7"
            ) from None
        secret, check = raw[:SECRET_BYTES], raw[SECRET_BYTES:]
        if not hmac.compare_digest(check, _checksum(secret)):
            raise RecoveryKeyFormatError(
                "this recovery key has a typo: compare it with the printed copy"
            )
        return cls(secret)


def _checksum(secret: bytes) -> bytes:
    return hashlib.sha256(_CHECK_LABEL + secret).digest()[:CHECKSUM_BYTES]
