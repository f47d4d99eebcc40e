"""Strict base64url (RFC 4648 section 5, no padding) used by every telehealth wire format."""

from __future__ import annotations

import base64
import binascii
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, refusing padding, other alphabets and non-canonical forms.

    Raises ``ValueError``; callers turn it into their own typed error.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:  # pragma: no cover - the regex already filters these
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:  # unused low bits set: a second spelling of the same bytes
        raise ValueError("non-canonical base64url")
    return data
