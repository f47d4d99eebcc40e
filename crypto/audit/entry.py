"""An audit entry and its canonical byte encoding (the input of the MAC).

Encoding, version 1 (big-endian): ``b"QRAUDIT1"``, seq as u64, key epoch as u32, then eight
length-prefixed (u32) UTF-8 strings: time, actor, action, object type, object id, outcome, details
(canonical JSON), in that order. Length prefixes make the encoding injective: no two different
entries encode to the same bytes.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from crypto.errors import AuditError

MAGIC = b"QRAUDIT1"
_HEAD = struct.Struct(">QI").pack
_LENGTH = struct.Struct(">I").pack
MAX_DETAILS_BYTES = 1024
MAX_FIELD_CHARS = 200
Scalar = str | int | bool | None
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


# seq, at, actor, action, object_type, object_id, outcome, details, epoch, mac
Row = tuple[int, str, str, str, str, str, str, str, int, bytes]


def encode_fields(seq: int, epoch: int, texts: tuple[str, ...]) -> bytes:
    """The canonical encoding (see the module docstring); ``texts`` in column order."""
    out = bytearray(MAGIC)
    out += _HEAD(seq, epoch)
    for text in texts:
        raw = text.encode("utf-8")
        out += _LENGTH(len(raw))
        out += raw
    return bytes(out)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str  # UTC, ISO 8601 with microseconds and Z
    actor: str
    action: str
    object_type: str
    object_id: str
    outcome: str
    details: str  # canonical JSON object; ids and counts only, never note text
    epoch: int

    def encode(self) -> bytes:
        return encode_fields(
            self.seq,
            self.epoch,
            (
                self.at,
                self.actor,
                self.action,
                self.object_type,
                self.object_id,
                self.outcome,
                self.details,
            ),
        )

    def row(self, mac: bytes) -> Row:
        """The entry as stored: the columns of ``audit_log`` in order, MAC last."""
        return (
            self.seq,
            self.at,
            self.actor,
            self.action,
            self.object_type,
            self.object_id,
            self.outcome,
            self.details,
            self.epoch,
            mac,
        )

    def details_dict(self) -> dict[str, Scalar]:
        value = json.loads(self.details)
        assert isinstance(value, dict)
        return value


def canonical_details(details: Mapping[str, Scalar] | None) -> str:
    """Canonical JSON for the details field, refusing anything but short scalar values."""
    details = dict(details or {})
    for key, value in details.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise AuditError(f"audit detail key {key!r} is not a plain name")
        if not (value is None or isinstance(value, str | int | bool)):
            raise AuditError(f"audit detail {key!r} must be a string, number, boolean or null")
    text = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise AuditError(f"audit details larger than {MAX_DETAILS_BYTES} bytes")
    return text


def check_field(name: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS:
        raise AuditError(f"audit field {name} must be a string of at most {MAX_FIELD_CHARS}")
    return value


def check_time(value: str) -> str:
    if not _TIME.fullmatch(value):
        raise AuditError("audit time must be UTC ISO 8601 with microseconds")
    return value
