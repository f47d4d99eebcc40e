"""Sealing signalling messages with AES-256-GCM so that the relay sees only ciphertext.

Envelope (one WebSocket text frame, compact JSON, keys in this order)::

    {"v":1,"from":"therapist","seq":42,"nonce":"<12 bytes b64url>","ct":"<ciphertext+tag b64url>"}

* key: the 32-byte signalling key derived from the invitation (:mod:`telehealth.invite`);
* nonce: 12 fresh random bytes per message;
* plaintext: the UTF-8 bytes of :func:`telehealth.protocol.to_json`, followed by ASCII spaces up
  to the smallest of :data:`PAD_SIZES` that holds it (1 KiB, 4 KiB, 16 KiB or 80 KiB), so that an
  envelope's size tells the relay which of four size classes a message is in and nothing more:
  every hello (whatever the name's length), admit, decline, commit, reveal, bye and candidate is
  1 KiB; offers and answers are 4 or 16 KiB. The receiver refuses a plaintext whose length is not
  one of :data:`PAD_SIZES` or whose padding is not all spaces;
* associated data: the ASCII string ``quietroom/v1 envelope\\n<from>\\n<seq>`` (seq in decimal), so
  the sender role and sequence number cannot be changed without failing authentication;
* ``seq`` is per sender and strictly increasing; the receiver refuses any ``seq`` not greater than
  the last one it accepted from that sender (gaps are allowed: frames sent while the peer was
  disconnected are lost, and that must not wedge the call).

A sender starts its sequence at the current Unix time in milliseconds, so that a client page that
is reloaded mid-call (and forgets its counter) still continues above its earlier messages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import telehealth.protocol as protocol
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import MessageFormatError, MessageRejectedError, ReplayedMessageError

Role = Literal["therapist", "client"]
ROLES: Final[tuple[Role, Role]] = ("therapist", "client")
VERSION: Final = 1
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
MAX_SEQ: Final = 2**53 - 1  # the largest integer JavaScript represents exactly
MAX_PLAINTEXT_BYTES: Final = 80 * 1024
MAX_ENVELOPE_CHARS: Final = 112 * 1024  # base64 of the largest ciphertext plus the JSON keys
PAD_SIZES: Final = (1024, 4096, 16 * 1024, MAX_PLAINTEXT_BYTES)
_ENVELOPE_KEYS: Final = frozenset({"v", "from", "seq", "nonce", "ct"})


def associated_data(role: Role, seq: int) -> bytes:
    """The associated data bound to every envelope: version label, sender role, sequence."""
    return f"quietroom/v1 envelope\n{role}\n{seq}".encode("ascii")


def pad(plaintext: bytes) -> bytes:
    """``plaintext`` followed by spaces up to the smallest size in :data:`PAD_SIZES`."""
    for size in PAD_SIZES:
        if len(plaintext) <= size:
            return plaintext + b" " * (size - len(plaintext))
    raise MessageFormatError("message too long")


def unpad(plaintext: bytes) -> bytes:
    """The message inside a padded plaintext; :class:`MessageFormatError` if it is not padded
    to one of the sizes, with spaces only."""
    if len(plaintext) not in PAD_SIZES:
        raise MessageFormatError("message is not padded to a fixed size")
    return plaintext.rstrip(b" ")


def _check_key(key: bytes) -> AESGCM:
    if not isinstance(key, bytes) or len(key) != 32:
        raise ValueError("the signalling key is 32 bytes")
    return AESGCM(key)


def other_role(role: Role) -> Role:
    return "client" if role == "therapist" else "therapist"


class Sealer:
    """Seals the messages one side sends, numbering them."""

    def __init__(
        self,
        role: Role,
        key: bytes,
        *,
        first_seq: int | None = None,
        random: Callable[[int], bytes] = os.urandom,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if role not in ROLES:
            raise ValueError("role must be 'therapist' or 'client'")
        self._role: Role = role
        self._aead = _check_key(key)
        self._random = random
        seq = int(clock() * 1000) if first_seq is None else first_seq
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            raise ValueError("first_seq out of range")
        self._next_seq = seq

    @property
    def role(self) -> Role:
        return self._role

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def seal(self, message: protocol.Message) -> str:
        """Return the envelope for ``message`` and advance the sequence number."""
        plaintext = pad(protocol.to_json(message).encode("utf-8"))
        seq = self._next_seq
        if seq > MAX_SEQ:
            raise MessageFormatError("sequence numbers exhausted; start a new call")
        nonce = self._random(NONCE_BYTES)
        if len(nonce) != NONCE_BYTES:
            raise ValueError("nonce source returned the wrong length")
        ciphertext = self._aead.encrypt(nonce, plaintext, associated_data(self._role, seq))
        self._next_seq = seq + 1
        return (
            f'{{"v":{VERSION},"from":"{self._role}","seq":{seq},'
            f'"nonce":"{b64url_encode(nonce)}","ct":"{b64url_encode(ciphertext)}"}}'
        )


class Opener:
    """Opens the envelopes one side receives from its peer, refusing replays."""

    def __init__(self, peer_role: Role, key: bytes) -> None:
        if peer_role not in ROLES:
            raise ValueError("role must be 'therapist' or 'client'")
        self._peer_role: Role = peer_role
        self._aead = _check_key(key)
        self._last_seq = -1

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def open_below_floor(self, envelope: str) -> tuple[protocol.Message, int]:
        """Authenticate, decrypt and parse an envelope whose sequence number is not new, and
        return it with that number, leaving the floor where it is. For the one case where an
        authentic older number is expected: a hello from another page or device, which numbers
        from its own clock (see :meth:`reset_floor`)."""
        return self._open(envelope, check_replay=False)

    def reset_floor(self, seq: int) -> None:
        """Accept numbers above ``seq`` from now on (a new page or device took the seat)."""
        self._last_seq = seq

    def open(self, envelope: str) -> protocol.Message:
        """Authenticate, decrypt and parse one envelope.

        Raises :class:`MessageFormatError` for an envelope that is not well formed (or an unknown
        version), :class:`MessageRejectedError` when authentication fails for any reason (wrong
        key, wrong role, tampering), :class:`ReplayedMessageError` for an authentic envelope whose
        sequence number is not new.
        """
        message, seq = self._open(envelope, check_replay=True)
        self._last_seq = seq
        return message

    def _open(self, envelope: str, *, check_replay: bool) -> tuple[protocol.Message, int]:
        obj = protocol.parse_json_object(envelope, max_chars=MAX_ENVELOPE_CHARS)
        if set(obj) != _ENVELOPE_KEYS:
            raise MessageFormatError("envelope has missing or unexpected fields")
        version, role, seq = obj["v"], obj["from"], obj["seq"]
        if type(version) is not int or version != VERSION:
            raise MessageFormatError("unsupported envelope version")
        if role not in ROLES:
            raise MessageFormatError("envelope sender is not a known role")
        if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
            raise MessageFormatError("envelope sequence number out of range")
        try:
            if not isinstance(obj["nonce"], str) or not isinstance(obj["ct"], str):
                raise ValueError("not text")
            nonce = b64url_decode(obj["nonce"])
            ciphertext = b64url_decode(obj["ct"])
        except ValueError:
            raise MessageFormatError("envelope fields are not base64url") from None
        if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
            raise MessageFormatError("envelope nonce or ciphertext has the wrong size")
        if role != self._peer_role:
            # Our own messages reflected back at us, or a relabelled envelope.
            raise MessageRejectedError()
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, associated_data(role, seq))
        except InvalidTag:
            raise MessageRejectedError() from None
        if check_replay and seq <= self._last_seq:
            raise ReplayedMessageError()
        try:
            text = unpad(plaintext).decode("utf-8")
        except UnicodeDecodeError:
            raise MessageFormatError("message is not UTF-8") from None
        return protocol.from_json(text), seq
