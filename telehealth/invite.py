"""Session invitations: the secret in the link, the link format, and what is derived from it.

An invitation is 32 random bytes. The link the therapist sends is::

    https://<relay host[:port]>/j/#<secret as unpadded base64url, 43 characters>

The secret sits in the URL fragment, which browsers never send to a server, so the relay never
learns it. Both sides derive, with HKDF-SHA256 (RFC 5869, empty salt, the 32-byte secret as input
keying material) and distinct ``info`` labels:

=====================  =====================================  ==========================
what                   ``info`` (ASCII)                       length
=====================  =====================================  ==========================
room id                ``quietroom/v1 room-id``               16 bytes, sent as 32 hex
signalling key         ``quietroom/v1 signalling-key``        32 bytes (AES-256-GCM)
verification key       ``quietroom/v1 verification-key``      32 bytes (HMAC-SHA256)
=====================  =====================================  ==========================

The room id is all the relay ever learns; it is a one-way function of the secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import InviteLinkError

SECRET_BYTES = 32
ROOM_ID_BYTES = 16
KEY_BYTES = 32

INFO_ROOM_ID = b"quietroom/v1 room-id"
INFO_SIGNALLING_KEY = b"quietroom/v1 signalling-key"
INFO_VERIFICATION_KEY = b"quietroom/v1 verification-key"

JOIN_PATH = "/j/"
MAX_LINK_CHARS = 512

ROOM_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_HOST_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_LABELS = re.compile(rf"{_HOST_LABEL}(\.{_HOST_LABEL})*")
_LOOPBACK_NAMES = {"localhost"}


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class CallKeys:
    """Everything derived from one invitation secret. The keys are left out of ``repr``."""

    room_id: str
    signalling_key: bytes = field(repr=False)
    verification_key: bytes = field(repr=False)


def derive_call_keys(secret: bytes) -> CallKeys:
    """Derive the room id and the two call keys from an invitation secret."""
    if not isinstance(secret, bytes) or len(secret) != SECRET_BYTES:
        raise InviteLinkError("an invitation secret is exactly 32 bytes")
    return CallKeys(
        room_id=_hkdf(secret, INFO_ROOM_ID, ROOM_ID_BYTES).hex(),
        signalling_key=_hkdf(secret, INFO_SIGNALLING_KEY, KEY_BYTES),
        verification_key=_hkdf(secret, INFO_VERIFICATION_KEY, KEY_BYTES),
    )


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_origin(scheme: str, netloc: str) -> str:
    """Validate ``scheme://netloc`` as a relay origin and return it normalised."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InviteLinkError("the relay address in the link is not valid") from exc
    if not host or parts.username is not None or parts.password is not None:
        raise InviteLinkError("the relay address in the link is not valid")
    if scheme == "http" and not _is_loopback(host):
        raise InviteLinkError("session links must use https")
    if scheme not in ("https", "http"):
        raise InviteLinkError("session links must use https")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_LABELS.fullmatch(host) or len(host) > 253:
            raise InviteLinkError("the relay address in the link is not valid") from None
        shown = host
    else:
        shown = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")


@dataclass(frozen=True)
class Invite:
    """One invitation: where the relay is and the secret. The secret is left out of ``repr``."""

    relay_origin: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_BYTES:
            raise InviteLinkError("an invitation secret is exactly 32 bytes")
        scheme, sep, netloc = self.relay_origin.partition("://")
        if not sep or _check_origin(scheme, netloc) != self.relay_origin:
            raise InviteLinkError("the relay address in the link is not valid")

    @property
    def link(self) -> str:
        """The link to send to the client."""
        return f"{self.relay_origin}{JOIN_PATH}#{b64url_encode(self.secret)}"

    @property
    def keys(self) -> CallKeys:
        return derive_call_keys(self.secret)

    def websocket_url(self) -> str:
        """The relay's WebSocket URL for this invitation's room."""
        ws_origin = (
            "wss" + self.relay_origin[5:]
            if self.relay_origin.startswith("https")
            else ("ws" + self.relay_origin[4:])
        )
        return f"{ws_origin}/ws/{self.keys.room_id}"

    def ice_url(self) -> str:
        """Where this room's ICE configuration is served (only while the room is open)."""
        return f"{self.relay_origin}/ice/{self.keys.room_id}"


def relay_origin(relay: str) -> str:
    """Turn ``host[:port]`` or ``https://host[:port]`` into a normalised relay origin."""
    if "://" in relay:
        scheme, _, netloc = relay.partition("://")
    else:
        scheme, netloc = "https", relay
    netloc = netloc.rstrip("/")
    if "/" in netloc or "#" in netloc or "?" in netloc:
        raise InviteLinkError("the relay address must not contain a path")
    return _check_origin(scheme.lower(), netloc)


def new_invite(relay: str, *, random: Callable[[int], bytes] = os.urandom) -> Invite:
    """Create a fresh invitation for ``relay`` (``host[:port]`` or an origin)."""
    secret = random(SECRET_BYTES)
    return Invite(relay_origin=relay_origin(relay), secret=secret)


def parse_invite_link(link: str) -> Invite:
    """Parse a session link strictly; raise :class:`InviteLinkError` if anything is off."""
    if not isinstance(link, str) or len(link) > MAX_LINK_CHARS:
        raise InviteLinkError("this is not a Quietroom session link")
    link = link.strip()
    try:
        parts = urlsplit(link)
    except ValueError as exc:
        raise InviteLinkError("this is not a Quietroom session link") from exc
    if parts.path != JOIN_PATH or parts.query:
        raise InviteLinkError("this is not a Quietroom session link")
    origin = _check_origin(parts.scheme.lower(), parts.netloc)
    try:
        secret = b64url_decode(parts.fragment)
    except ValueError as exc:
        raise InviteLinkError("the code after # in the link is damaged") from exc
    if len(secret) != SECRET_BYTES:
        raise InviteLinkError("the code after # in the link is damaged")
    return Invite(relay_origin=origin, secret=secret)
