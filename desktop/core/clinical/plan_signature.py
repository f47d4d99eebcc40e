"""The signature of a signed treatment-plan version: SHA-256 over a canonical, length-prefixed
encoding of what was signed, recomputed whenever the plan is shown (as for notes).

Encoding, version 1: ``b"QRPLAN1\\n"``, then each field below as a u32 big-endian byte length and
its UTF-8 bytes, in this order: plan id, client id, version (decimal), revises ("" if none),
reason, content (the canonical JSON of ``plans.encode_content``: keys sorted, no spaces, UTF-8),
author, signed-at (UTC ISO 8601 with microseconds). Length prefixes make it injective.

The same value is written into the ``treatment_plan.signed`` audit entry, part of the keyed MAC
chain, and the display check compares against it too: a plan re-hashed after the fact no longer
matches its signing entry.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

MAGIC = b"QRPLAN1\n"
_LENGTH = struct.Struct(">I").pack


@dataclass(frozen=True)
class SignedPlan:
    plan_id: str
    client_id: str
    version: int
    revises: str | None
    reason: str
    content: str  # canonical JSON
    author: str
    signed_at: str

    def encode(self) -> bytes:
        out = bytearray(MAGIC)
        for text in (
            self.plan_id,
            self.client_id,
            str(self.version),
            self.revises or "",
            self.reason,
            self.content,
            self.author,
            self.signed_at,
        ):
            raw = text.encode("utf-8")
            out += _LENGTH(len(raw))
            out += raw
        return bytes(out)


def plan_signature(signed: SignedPlan) -> str:
    """Hex SHA-256 of the encoding above."""
    return hashlib.sha256(signed.encode()).hexdigest()
