"""A sealed mailbox box: what the therapist's app and the client's page share through one link,
for a form filled in between sessions. Pure (no I/O): the link, the derivations, and sealing the
form one way and the reply the other, in the envelopes of :mod:`telehealth.sealing`.

The link is ``https://<relay>/m/#<secret>``: 32 random bytes in base64url, in the URL fragment,
which browsers never send. From the secret, HKDF-SHA256 (empty salt) derives

========================  ======  ==========================================================
``info``                  bytes   use
========================  ======  ==========================================================
``quietroom/v1 mailbox-id``   16  the box's name on the relay (32 lowercase hex): all it learns
``quietroom/v1 mailbox-key``  32  AES-256-GCM key of the two envelopes
========================  ======  ==========================================================

The form goes in a ``therapist`` envelope (sequence number 1) holding a ``form`` message, the
answers in a ``client`` envelope holding a ``form_reply``; both padded to the envelopes' fixed
sizes (1, 4, 16 or 80 KiB), so the relay sees two sizes, a random name and the times.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import telehealth.forms as forms
import telehealth.protocol as protocol
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import InviteLinkError, MessageFormatError
from telehealth.invite import relay_origin
from telehealth.sealing import Opener, Sealer

LINK_PATH: Final = "/m/"
SECRET_BYTES: Final = 32
BOX_ID_BYTES: Final = 16
INFO_BOX_ID: Final = b"quietroom/v1 mailbox-id"
INFO_KEY: Final = b"quietroom/v1 mailbox-key"
FORM_SEQ: Final = 1


def _hkdf(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


@dataclass(frozen=True)
class MailboxBox:
    """One box: where the relay is and the secret (left out of ``repr``)."""

    relay_origin: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != SECRET_BYTES:
            raise InviteLinkError("a mailbox secret is exactly 32 bytes")
        if relay_origin(self.relay_origin) != self.relay_origin:
            raise InviteLinkError("the relay address in the link is not valid")

    @property
    def box_id(self) -> str:
        return _hkdf(self.secret, INFO_BOX_ID, BOX_ID_BYTES).hex()

    @property
    def key(self) -> bytes:
        return _hkdf(self.secret, INFO_KEY, 32)

    @property
    def link(self) -> str:
        """What the client opens (by e-mail, text message, QR code)."""
        return f"{self.relay_origin}{LINK_PATH}#{b64url_encode(self.secret)}"

    def url(self, part: str) -> str:
        """The relay's address of this box's ``form`` or ``reply`` (or the box itself: "")."""
        return f"{self.relay_origin}/mb/{self.box_id}" + (f"/{part}" if part else "")

    def seal_form(self, document: forms.FormDocument) -> str:
        return Sealer("therapist", self.key, first_seq=FORM_SEQ).seal(protocol.Form(document))

    def open_form(self, envelope: str) -> forms.FormDocument:
        message = Opener("therapist", self.key).open(envelope)
        if not isinstance(message, protocol.Form):
            raise MessageFormatError("the mailbox did not hold a form")
        return message.document

    def seal_reply(self, reply: forms.FormReply) -> str:
        """As the client's page does (tests and tools)."""
        return Sealer("client", self.key).seal(protocol.FormReply(reply))

    def open_reply(self, envelope: str) -> forms.FormReply:
        message = Opener("client", self.key).open(envelope)
        if not isinstance(message, protocol.FormReply):
            raise MessageFormatError("the mailbox did not hold a reply")
        return message.reply


def new_box(relay: str, *, random: Callable[[int], bytes] = os.urandom) -> MailboxBox:
    return MailboxBox(relay_origin(relay), random(SECRET_BYTES))


def parse_box_link(link: str) -> MailboxBox:
    if not isinstance(link, str) or len(link) > 2048:
        raise InviteLinkError("this is not a Quietroom form link")
    parts = urlsplit(link.strip())
    if parts.path != LINK_PATH or parts.query:
        raise InviteLinkError("this is not a Quietroom form link")
    try:
        secret = b64url_decode(parts.fragment)
    except ValueError as exc:
        raise InviteLinkError("the code after # in the link is damaged") from exc
    return MailboxBox(relay_origin(f"{parts.scheme}://{parts.netloc}"), secret)
