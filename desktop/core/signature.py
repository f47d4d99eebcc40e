"""The signature of a signed note: SHA-256 over a canonical, length-prefixed encoding of what was
signed (content, author, time), shown with the note and recomputed whenever it is displayed.

Encoding, version 1: ``b"QRNOTE1\\n"``, then each field below as a u32 big-endian byte length and
its UTF-8 bytes, in this order: note id, client id, session id ("" if none), compartment, kind,
parent id ("" if none), reason, template key, template name, section count (decimal), then per
section its key, title and text, then late ("1"/"0"), author, signed-at (UTC ISO 8601). Length
prefixes make it injective: two different notes never encode to the same bytes.

Version 2 (``b"QRNOTE2\\n"``), for a note with header fields (``note_header``): the same fields,
then the header's held-at (UTC ISO 8601), duration in minutes (decimal) and modality. A note
without a header keeps version 1, so signatures made before headers existed still check.

The hash alone could be recomputed by someone who can write the database; the same value is also
written into the keyed, chained audit log when the note is signed, and the display check compares
against it (docs/domain.md, "Signature scheme").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC = b"QRNOTE1\n"
MAGIC_WITH_HEADER = b"QRNOTE2\n"  # version 2: version 1's fields, then the header's three
_LENGTH = struct.Struct(">I").pack


@dataclass(frozen=True)
class SignedContent:
    note_id: str
    client_id: str
    session_id: str | None
    compartment: str
    kind: str
    parent_id: str | None
    reason: str
    template_key: str
    template_name: str
    sections: Sequence[tuple[str, str, str]]  # key, title, text
    late: bool
    author: str
    signed_at: str
    header: tuple[str, str, str] | None = None  # held at (UTC ISO 8601), minutes, modality

    def encode(self) -> bytes:
        fields = [
            self.note_id,
            self.client_id,
            self.session_id or "",
            self.compartment,
            self.kind,
            self.parent_id or "",
            self.reason,
            self.template_key,
            self.template_name,
            str(len(self.sections)),
        ]
        for key, title, text in self.sections:
            fields += [key, title, text]
        fields += ["1" if self.late else "0", self.author, self.signed_at]
        if self.header is not None:
            fields += list(self.header)
        out = bytearray(MAGIC if self.header is None else MAGIC_WITH_HEADER)
        for text in fields:
            raw = text.encode("utf-8")
            out += _LENGTH(len(raw))
            out += raw
        return bytes(out)


def note_signature(content: SignedContent) -> str:
    """Hex SHA-256 of the encoding above."""
    return hashlib.sha256(content.encode()).hexdigest()
