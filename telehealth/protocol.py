"""Signalling messages: checked frozen dataclasses and their strict JSON form.

This module is pure: no I/O, no crypto. Every message is a JSON object with a ``type`` and exactly
the fields listed below (unknown types, unknown or missing fields, wrong JSON types, duplicate keys
and out-of-range lengths are refused with :class:`MessageFormatError`):

==========  ======================================================================================
type        fields
==========  ======================================================================================
hello       ``name``: display name the client typed, 1..64 characters, no control characters
admit       (none) the therapist lets the client in
decline     (none) the therapist does not let the client in
offer       ``sdp``: SDP offer, 1..32768 characters
answer      ``sdp``: SDP answer, 1..32768 characters
ice         ``candidate`` (0..1024 chars, empty = end of candidates), ``sdpMid`` (string 0..64 or
            null), ``sdpMLineIndex`` (integer 0..1023 or null)
commit      ``hash``: SHA-256 commitment to the offerer's verification nonce (32 bytes, base64url)
reveal      ``nonce``: a verification nonce (32 bytes, base64url)
bye         ``reason``: one of ``hangup``, ``declined``, ``timeout``, ``error``
form        ``form``: a form for the client to fill in (:mod:`telehealth.forms`), therapist only
form_reply  ``reply``: the client's filled-in form (:mod:`telehealth.forms`), client only
others      ``people``: 0..3 objects, each exactly ``name`` (what that person typed, 0..64
            characters; empty until they knock), ``state`` (``expected``, ``here`` or ``away``),
            ``video`` and ``audio`` (the offer's ``mid`` values, 1..64 printable characters, that
            carry their picture and voice); therapist only: the other client devices of a couples
            or family session, forwarded by the therapist's app
==========  ======================================================================================

Chat is not here: it travels over the WebRTC data channel, end to end.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final

import telehealth.forms as forms
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import MessageFormatError

MAX_NAME_CHARS: Final = 64
MAX_SDP_CHARS: Final = 32_768
MAX_CANDIDATE_CHARS: Final = 1024
MAX_MID_CHARS: Final = 64
MAX_MLINE_INDEX: Final = 1023
DIGEST_BYTES: Final = 32
NONCE_BYTES: Final = 32
DEVICE_BYTES: Final = 16
BYE_REASONS: Final = frozenset({"hangup", "declined", "timeout", "error"})
PERSON_STATES: Final = frozenset({"expected", "here", "away"})
MAX_OTHERS: Final = 3
MAX_LOCATION_CHARS: Final = 200
MAX_PHONE_CHARS: Final = 32
_PHONE = re.compile(r"[0-9+() .\-]+")
# The longest JSON a valid message can have: an SDP is printable ASCII plus CR/LF, so JSON escaping
# at most doubles it; 1024 leaves room for the keys and a fully \u-escaped name.
MAX_MESSAGE_JSON_CHARS: Final = MAX_SDP_CHARS * 2 + 1024
# Zero-width (non-)joiners are format characters that real names and emoji need; every other
# format character (bidi overrides in particular) could make a name display misleadingly.
_ALLOWED_FORMAT_CHARS: Final = frozenset({"\u200c", "\u200d"})


def _check_text(value: object, what: str, *, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise MessageFormatError(f"{what} must be a string")
    if not low <= len(value) <= high:
        raise MessageFormatError(f"{what} must be {low}..{high} characters")
    return value


def _check_no_controls(value: str, what: str) -> None:
    if any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")
        and ch not in _ALLOWED_FORMAT_CHARS
        for ch in value
    ):
        raise MessageFormatError(f"{what} contains control or unassigned characters")


def _check_sdp(value: object) -> str:
    sdp = _check_text(value, "sdp", low=1, high=MAX_SDP_CHARS)
    if not sdp.isascii() or any(ch < " " and ch not in "\r\n" for ch in sdp) or "\x7f" in sdp:
        raise MessageFormatError("sdp must be printable ASCII lines")
    return sdp


def _check_bytes(value: object, what: str, size: int) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise MessageFormatError(f"{what} must be exactly {size} bytes")
    return value


@dataclass(frozen=True)
class Hello:
    """The client announces itself in the waiting room. ``device`` is 16 random bytes the page
    draws once when it loads: a hello from the same page again (its socket dropped) re-syncs the
    call, a hello from another page or device is a new knock the therapist must admit."""

    name: str
    device: bytes = bytes(DEVICE_BYTES)

    def __post_init__(self) -> None:
        name = _check_text(self.name, "name", low=1, high=MAX_NAME_CHARS)
        _check_no_controls(name, "name")
        if not name.strip():
            raise MessageFormatError("name must not be blank")
        _check_bytes(self.device, "device", DEVICE_BYTES)


@dataclass(frozen=True)
class Details:
    """What telehealth practice asks of the client before a session: where they are right now
    (confirmed on the page) and a phone number to call in an emergency. Sent from the waiting
    room, sealed like everything else; the therapist sees it before admitting."""

    location: str
    emergency_phone: str

    def __post_init__(self) -> None:
        location = _check_text(self.location, "location", low=1, high=MAX_LOCATION_CHARS)
        _check_no_controls(location, "location")
        if not location.strip():
            raise MessageFormatError("location must not be blank")
        phone = _check_text(self.emergency_phone, "emergency phone", low=3, high=MAX_PHONE_CHARS)
        if not _PHONE.fullmatch(phone) or sum(ch.isdigit() for ch in phone) < 3:
            raise MessageFormatError("emergency phone must be digits, spaces and + ( ) - .")


@dataclass(frozen=True)
class MediaMode:
    """Either side: ``video=False`` switches the call to sound only (both stop sending video,
    to keep the sound clear on a weak connection); ``video=True`` turns video back on."""

    video: bool

    def __post_init__(self) -> None:
        if type(self.video) is not bool:
            raise MessageFormatError("video must be true or false")


@dataclass(frozen=True)
class Admit:
    """The therapist admits the client from the waiting room."""


@dataclass(frozen=True)
class Decline:
    """The therapist does not admit the client."""


@dataclass(frozen=True)
class Offer:
    """The offerer's SDP offer."""

    sdp: str

    def __post_init__(self) -> None:
        _check_sdp(self.sdp)


@dataclass(frozen=True)
class Answer:
    """The answerer's SDP answer."""

    sdp: str

    def __post_init__(self) -> None:
        _check_sdp(self.sdp)


@dataclass(frozen=True)
class Ice:
    """One trickled ICE candidate, shaped like the browser's ``RTCIceCandidateInit``."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None

    def __post_init__(self) -> None:
        candidate = _check_text(self.candidate, "candidate", low=0, high=MAX_CANDIDATE_CHARS)
        if not candidate.isascii() or any(not " " <= ch <= "~" for ch in candidate):
            raise MessageFormatError("candidate must be printable ASCII")
        if self.sdp_mid is not None:
            mid = _check_text(self.sdp_mid, "sdpMid", low=0, high=MAX_MID_CHARS)
            if not mid.isascii() or any(not " " <= ch <= "~" for ch in mid):
                raise MessageFormatError("sdpMid must be printable ASCII")
        index = self.sdp_mline_index
        if index is not None and (type(index) is not int or not 0 <= index <= MAX_MLINE_INDEX):
            raise MessageFormatError("sdpMLineIndex must be an integer 0..1023 or null")


@dataclass(frozen=True)
class Commit:
    """The offerer's commitment to its verification nonce, sent before it sees the answer."""

    digest: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.digest, "hash", DIGEST_BYTES)


@dataclass(frozen=True)
class Reveal:
    """A verification nonce: the answerer's (sent with its answer) or the offerer's (opening its
    earlier commitment)."""

    nonce: bytes

    def __post_init__(self) -> None:
        _check_bytes(self.nonce, "nonce", NONCE_BYTES)


@dataclass(frozen=True)
class Bye:
    """One side leaves the call."""

    reason: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or self.reason not in BYE_REASONS:
            raise MessageFormatError("bye reason is not one of the known reasons")


@dataclass(frozen=True)
class Form:
    """The therapist sends a form to fill in (an intake questionnaire, a consent, a measure):
    in the waiting room, or sealed into the session service's mailbox between sessions."""

    document: forms.FormDocument


@dataclass(frozen=True)
class FormReply:
    """The client's filled-in form. Its answers are checked against the form by the app
    before anything is kept (``forms.check_reply``)."""

    reply: forms.FormReply


@dataclass(frozen=True)
class OtherPerson:
    """Another client device of the same session (a couples or family session), as the
    therapist's app forwards it to this client: the name that person typed in their waiting room
    (empty until they knock; untrusted text the therapist has seen), whether they are
    ``expected`` (invited, not in yet), ``here`` or ``away`` (left or dropped for now), and the
    ``mid`` of the offer's media sections that carry their picture and their voice."""

    name: str
    state: str
    video: str
    audio: str

    def __post_init__(self) -> None:
        name = _check_text(self.name, "name", low=0, high=MAX_NAME_CHARS)
        _check_no_controls(name, "name")
        if name and not name.strip():
            raise MessageFormatError("name must not be blank")
        if not isinstance(self.state, str) or self.state not in PERSON_STATES:
            raise MessageFormatError("state is not one of the known states")
        for what, mid in (("video", self.video), ("audio", self.audio)):
            _check_text(mid, what, low=1, high=MAX_MID_CHARS)
            if not mid.isascii() or any(not "!" <= ch <= "~" for ch in mid):
                raise MessageFormatError(f"{what} must be a printable mid")
        if self.video == self.audio:
            raise MessageFormatError("video and audio are different media sections")


@dataclass(frozen=True)
class Others:
    """The therapist tells a client who else is in the session and which of the offer's media
    sections carry them (the page shows each in a tile of their own, with their name). Sent
    before every offer that carries another person, and whenever someone comes or goes."""

    people: tuple[OtherPerson, ...]

    def __post_init__(self) -> None:
        if (
            not isinstance(self.people, tuple)
            or len(self.people) > MAX_OTHERS
            or not all(isinstance(p, OtherPerson) for p in self.people)
        ):
            raise MessageFormatError(f"people must be at most {MAX_OTHERS} people")
        mids = [m for p in self.people for m in (p.video, p.audio)]
        if len(set(mids)) != len(mids):
            raise MessageFormatError("each person has media sections of their own")


Message = (
    Hello
    | Details
    | Admit
    | Decline
    | Offer
    | Answer
    | Ice
    | Commit
    | Reveal
    | MediaMode
    | Bye
    | Form
    | FormReply
    | Others
)


def _fields(message: Message) -> dict[str, Any]:
    """The JSON fields of ``message`` in their wire order, ``type`` first."""
    match message:
        case Hello(name=name, device=device):
            return {"type": "hello", "name": name, "device": b64url_encode(device)}
        case Details(location=location, emergency_phone=phone):
            return {"type": "details", "location": location, "emergencyPhone": phone}
        case MediaMode(video=video):
            return {"type": "media", "video": video}
        case Admit():
            return {"type": "admit"}
        case Decline():
            return {"type": "decline"}
        case Offer(sdp=sdp):
            return {"type": "offer", "sdp": sdp}
        case Answer(sdp=sdp):
            return {"type": "answer", "sdp": sdp}
        case Ice(candidate=candidate, sdp_mid=mid, sdp_mline_index=index):
            return {"type": "ice", "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": index}
        case Commit(digest=digest):
            return {"type": "commit", "hash": b64url_encode(digest)}
        case Reveal(nonce=nonce):
            return {"type": "reveal", "nonce": b64url_encode(nonce)}
        case Bye(reason=reason):
            return {"type": "bye", "reason": reason}
        case Form(document=document):
            return {"type": "form", "form": forms.document_obj(document)}
        case FormReply(reply=reply):
            return {"type": "form_reply", "reply": forms.reply_obj(reply)}
        case Others(people=people):
            return {
                "type": "others",
                "people": [
                    {"name": p.name, "state": p.state, "video": p.video, "audio": p.audio}
                    for p in people
                ],
            }
    raise MessageFormatError("not a signalling message")  # pragma: no cover - exhaustive


def to_json(message: Message) -> str:
    """Serialise compactly (no spaces, fields in wire order, non-ASCII kept as UTF-8)."""
    return json.dumps(_fields(message), separators=(",", ":"), ensure_ascii=False)


_FIELDS: Final[dict[str, frozenset[str]]] = {
    "hello": frozenset({"name", "device"}),
    "details": frozenset({"location", "emergencyPhone"}),
    "media": frozenset({"video"}),
    "admit": frozenset(),
    "decline": frozenset(),
    "offer": frozenset({"sdp"}),
    "answer": frozenset({"sdp"}),
    "ice": frozenset({"candidate", "sdpMid", "sdpMLineIndex"}),
    "commit": frozenset({"hash"}),
    "reveal": frozenset({"nonce"}),
    "bye": frozenset({"reason"}),
    "form": frozenset({"form"}),
    "form_reply": frozenset({"reply"}),
    "others": frozenset({"people"}),
}
_PERSON_FIELDS: Final = frozenset({"name", "state", "video", "audio"})


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MessageFormatError("duplicate field in message")
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise MessageFormatError(f"{name} is not allowed in a message")


def parse_json_object(text: str, *, max_chars: int) -> dict[str, Any]:
    """Parse ``text`` as one JSON object: no duplicate keys, no NaN/Infinity, bounded length."""
    if not isinstance(text, str):
        raise MessageFormatError("a message must be text")
    if len(text) > max_chars:
        raise MessageFormatError("message too long")
    try:
        value = json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, MessageFormatError):
            raise
        raise MessageFormatError("message is not valid JSON") from None
    if not isinstance(value, dict):
        raise MessageFormatError("a message must be a JSON object")
    return value


def _decode_b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise MessageFormatError(f"{what} must be a base64url string")
    try:
        return b64url_decode(value)
    except ValueError:
        raise MessageFormatError(f"{what} must be unpadded base64url") from None


def _people(value: object) -> tuple[OtherPerson, ...]:
    if not isinstance(value, list) or len(value) > MAX_OTHERS:
        raise MessageFormatError(f"people must be a list of at most {MAX_OTHERS}")
    people = []
    for item in value:
        if not isinstance(item, dict) or set(item) != _PERSON_FIELDS:
            raise MessageFormatError("a person has exactly name, state, video and audio")
        people.append(OtherPerson(item["name"], item["state"], item["video"], item["audio"]))
    return tuple(people)


def from_json(text: str) -> Message:
    """Parse and validate one message; raise :class:`MessageFormatError` on anything unexpected."""
    obj = parse_json_object(text, max_chars=MAX_MESSAGE_JSON_CHARS)
    kind = obj.pop("type", None)
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise MessageFormatError("unknown message type")
    if set(obj) != _FIELDS[kind]:
        raise MessageFormatError(f"{kind} message has missing or unexpected fields")
    match kind:
        case "hello":
            return Hello(name=obj["name"], device=_decode_b64(obj["device"], "device"))
        case "details":
            return Details(location=obj["location"], emergency_phone=obj["emergencyPhone"])
        case "media":
            return MediaMode(video=obj["video"])
        case "admit":
            return Admit()
        case "decline":
            return Decline()
        case "offer":
            return Offer(sdp=obj["sdp"])
        case "answer":
            return Answer(sdp=obj["sdp"])
        case "ice":
            return Ice(
                candidate=obj["candidate"],
                sdp_mid=obj["sdpMid"],
                sdp_mline_index=obj["sdpMLineIndex"],
            )
        case "commit":
            return Commit(digest=_decode_b64(obj["hash"], "hash"))
        case "reveal":
            return Reveal(nonce=_decode_b64(obj["nonce"], "nonce"))
        case "form":
            return Form(document=forms.document_from_obj(obj["form"]))
        case "form_reply":
            return FormReply(reply=forms.reply_from_obj(obj["reply"]))
        case "others":
            return Others(people=_people(obj["people"]))
        case _:
            return Bye(reason=obj["reason"])
