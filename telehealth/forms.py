"""Forms a client fills in on the web page: the document the therapist sends (an intake
questionnaire, a consent to sign, a measure) and the reply, as strict JSON, with the checks both
ends apply. Pure: no I/O, no keys. The page (``resources/web/js/forms.js``) implements the same
format and the same checks; the app checks again whatever arrives (a reply refused here is never
stored), so a blank required field or a signature without a name is refused on both sides.

Document (compact JSON, keys in this order)::

    {"v":1,"id":"<16 bytes b64url>","kind":"intake|consent|measure","title":"...","intro":"...",
     "consent":null | {"text":"...","version":"...","hash":"<64 hex>"},
     "fields":[{"key":"...","kind":"text|choice|scale|date|signature","label":"...",
                "required":true|false,"multiline":bool,"options":[...],
                "min":0,"max":10,"minLabel":"...","maxLabel":"..."}, ...]}

Each field carries only the keys of its kind: ``multiline`` for text; ``options`` for choice;
``min``, ``max``, ``minLabel``, ``maxLabel`` for scale; none for date and signature.

Reply::

    {"v":1,"id":"<the document's id>","consentHash":null | "<64 hex>",
     "answers":{"<key>": <value>, ...}}

Values: text, a string (0..10000 characters); choice, the option's index; scale, an integer in
``min..max``; date, ``YYYY-MM-DD``; signature, ``{"name": "<typed full name>", "at":
"<ISO 8601 UTC time on the client's clock>"}``. An unanswered optional field is absent.

The consent hash: ``SHA-256("quietroom/v1 consent\\n" + version + "\\n" + text)`` (UTF-8), in
lowercase hex. The page computes it from the text it shows and sends it back, so the reply says
which exact document was signed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Final

from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import FormRefusedError, MessageFormatError

VERSION: Final = 1
ID_BYTES: Final = 16
MAX_FIELDS: Final = 100
MAX_OPTIONS: Final = 20
MAX_TITLE: Final = 200
MAX_INTRO: Final = 4000
MAX_LABEL: Final = 1000
MAX_OPTION: Final = 200
MAX_CONSENT_TEXT: Final = 20_000
# Sealed in one envelope (at most 80 KiB of plaintext) with the message around it.
MAX_DOCUMENT_BYTES: Final = 60 * 1024  # under protocol.MAX_MESSAGE_JSON_CHARS too
MAX_TEXT_ANSWER: Final = 10_000
MAX_NAME: Final = 200
SCALE_RANGE: Final = (-100, 100)
_KEY = re.compile(r"[a-z0-9_]{1,40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


class FormKind(StrEnum):
    INTAKE = "intake"
    CONSENT = "consent"
    MEASURE = "measure"


class FieldKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    SCALE = "scale"
    DATE = "date"
    SIGNATURE = "signature"


@dataclass(frozen=True)
class Field:
    key: str
    kind: FieldKind
    label: str
    required: bool = True
    multiline: bool = False  # text
    options: tuple[str, ...] = ()  # choice
    low: int = 0  # scale
    high: int = 10
    low_label: str = ""
    high_label: str = ""


@dataclass(frozen=True)
class Consent:
    text: str
    version: str

    @property
    def hash(self) -> str:
        return consent_hash(self.text, self.version)


@dataclass(frozen=True)
class FormDocument:
    id: bytes
    kind: FormKind
    title: str
    intro: str
    fields: tuple[Field, ...]
    consent: Consent | None = None

    def field(self, key: str) -> Field | None:
        return next((f for f in self.fields if f.key == key), None)


@dataclass(frozen=True)
class Signature:
    name: str
    at: str  # ISO 8601 UTC on the client's clock, as sent


Answer = str | int | Signature


@dataclass(frozen=True)
class FormReply:
    id: bytes
    answers: dict[str, Answer]
    consent_hash: str | None = None


def consent_hash(text: str, version: str) -> str:
    return hashlib.sha256(f"quietroom/v1 consent\n{version}\n{text}".encode()).hexdigest()


def new_form_id() -> bytes:
    return os.urandom(ID_BYTES)


# -- checks shared by both directions --------------------------------------------------------
def _text(value: object, what: str, low: int, high: int) -> str:
    if not isinstance(value, str):
        raise MessageFormatError(f"{what} must be a string")
    if not low <= len(value) <= high:
        raise MessageFormatError(f"{what} must be {low}..{high} characters")
    if any(
        unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in "\n\t\u200c\u200d"
        for ch in value
    ):
        raise MessageFormatError(f"{what} contains control or unassigned characters")
    return value


def _int(value: object, what: str) -> int:
    if type(value) is not int:
        raise MessageFormatError(f"{what} must be an integer")
    return value


def _bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        raise MessageFormatError(f"{what} must be true or false")
    return value


def _exact_keys(obj: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != keys:
        raise MessageFormatError(f"{what} has missing or unexpected fields")
    return obj


def check_document(document: FormDocument) -> FormDocument:
    """Refuse a document the page could not show or the app could not read back."""
    if len(document.id) != ID_BYTES:
        raise MessageFormatError("a form id is 16 bytes")
    FormKind(document.kind)
    _text(document.title, "title", 1, MAX_TITLE)
    _text(document.intro, "intro", 0, MAX_INTRO)
    if not 1 <= len(document.fields) <= MAX_FIELDS:
        raise MessageFormatError(f"a form has 1..{MAX_FIELDS} fields")
    keys = [f.key for f in document.fields]
    if len(set(keys)) != len(keys):
        raise MessageFormatError("two fields share a key")
    for field in document.fields:
        if not _KEY.fullmatch(field.key):
            raise MessageFormatError("a field key is 1..40 of a-z, 0-9 and _")
        FieldKind(field.kind)
        _text(field.label, "label", 1, MAX_LABEL)
        if field.kind is FieldKind.CHOICE:
            if not 2 <= len(field.options) <= MAX_OPTIONS:
                raise MessageFormatError(f"a choice has 2..{MAX_OPTIONS} options")
            for option in field.options:
                _text(option, "option", 1, MAX_OPTION)
        if field.kind is FieldKind.SCALE and not (
            SCALE_RANGE[0] <= field.low < field.high <= SCALE_RANGE[1]
        ):
            raise MessageFormatError("a scale runs from a lower to a higher whole number")
    if document.consent is not None:
        _text(document.consent.text, "consent text", 1, MAX_CONSENT_TEXT)
        _text(document.consent.version, "consent version", 1, 40)
    if (document.kind is FormKind.CONSENT) != (document.consent is not None):
        raise MessageFormatError("a consent form, and only a consent form, carries a document")
    if document.kind is FormKind.CONSENT and not any(
        f.kind is FieldKind.SIGNATURE and f.required for f in document.fields
    ):
        raise MessageFormatError("a consent form needs a required signature")
    return document


# -- documents as JSON -----------------------------------------------------------------------
def _field_obj(field: Field) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": field.key, "kind": str(field.kind), "label": field.label,
                           "required": field.required}  # fmt: skip
    if field.kind is FieldKind.TEXT:
        obj["multiline"] = field.multiline
    elif field.kind is FieldKind.CHOICE:
        obj["options"] = list(field.options)
    elif field.kind is FieldKind.SCALE:
        obj |= {"min": field.low, "max": field.high, "minLabel": field.low_label,
                "maxLabel": field.high_label}  # fmt: skip
    return obj


def document_obj(document: FormDocument) -> dict[str, Any]:
    check_document(document)
    consent = document.consent
    return {
        "v": VERSION,
        "id": b64url_encode(document.id),
        "kind": str(document.kind),
        "title": document.title,
        "intro": document.intro,
        "consent": None
        if consent is None
        else {"text": consent.text, "version": consent.version, "hash": consent.hash},
        "fields": [_field_obj(f) for f in document.fields],
    }


def document_to_json(document: FormDocument) -> str:
    text = json.dumps(document_obj(document), separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise MessageFormatError("the form is too long to send in one piece")
    return text


_FIELD_KEYS: Final = {
    FieldKind.TEXT: {"multiline"},
    FieldKind.CHOICE: {"options"},
    FieldKind.SCALE: {"min", "max", "minLabel", "maxLabel"},
    FieldKind.DATE: set(),
    FieldKind.SIGNATURE: set(),
}


def _form_id(value: object) -> bytes:
    if not isinstance(value, str):
        raise MessageFormatError("a form id must be base64url")
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise MessageFormatError("a form id must be unpadded base64url") from None
    if len(raw) != ID_BYTES:
        raise MessageFormatError("a form id is 16 bytes")
    return raw


def document_from_obj(obj: object) -> FormDocument:
    doc = _exact_keys(obj, {"v", "id", "kind", "title", "intro", "consent", "fields"}, "form")
    if doc["v"] != VERSION or type(doc["v"]) is not int:
        raise MessageFormatError("unknown form version")
    try:
        kind = FormKind(doc["kind"])
    except ValueError:
        raise MessageFormatError("unknown form kind") from None
    consent = None
    if doc["consent"] is not None:
        c = _exact_keys(doc["consent"], {"text", "version", "hash"}, "consent")
        consent = Consent(_text(c["text"], "consent text", 1, MAX_CONSENT_TEXT),
                          _text(c["version"], "consent version", 1, 40))  # fmt: skip
        if c["hash"] != consent.hash:
            raise MessageFormatError("the consent's hash does not match its text")
    raw_fields = doc["fields"]
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        raise MessageFormatError(f"a form has 1..{MAX_FIELDS} fields")
    fields = []
    for raw in raw_fields:
        if not isinstance(raw, dict):
            raise MessageFormatError("a field is an object")
        try:
            field_kind = FieldKind(str(raw.get("kind")))
        except ValueError:
            raise MessageFormatError("unknown field kind") from None
        f = _exact_keys(raw, {"key", "kind", "label", "required"} | _FIELD_KEYS[field_kind],
                        "field")  # fmt: skip
        field = Field(
            _text(f["key"], "field key", 1, 40),
            field_kind,
            _text(f["label"], "label", 1, MAX_LABEL),
            _bool(f["required"], "required"),
        )
        if field_kind is FieldKind.TEXT:
            field = replace(field, multiline=_bool(f["multiline"], "multiline"))
        elif field_kind is FieldKind.CHOICE:
            options = f["options"]
            if not isinstance(options, list):
                raise MessageFormatError("options must be a list")
            field = replace(
                field, options=tuple(_text(o, "option", 1, MAX_OPTION) for o in options)
            )
        elif field_kind is FieldKind.SCALE:
            field = replace(
                field,
                low=_int(f["min"], "min"),
                high=_int(f["max"], "max"),
                low_label=_text(f["minLabel"], "min label", 0, MAX_OPTION),
                high_label=_text(f["maxLabel"], "max label", 0, MAX_OPTION),
            )
        fields.append(field)
    title = _text(doc["title"], "title", 1, MAX_TITLE)
    intro = _text(doc["intro"], "intro", 0, MAX_INTRO)
    return check_document(
        FormDocument(_form_id(doc["id"]), kind, title, intro, tuple(fields), consent)
    )


# -- replies ---------------------------------------------------------------------------------
def _answer_obj(value: Answer) -> Any:
    if isinstance(value, Signature):
        return {"name": value.name, "at": value.at}
    return value


def reply_obj(reply: FormReply) -> dict[str, Any]:
    return {
        "v": VERSION,
        "id": b64url_encode(reply.id),
        "consentHash": reply.consent_hash,
        "answers": {k: _answer_obj(v) for k, v in reply.answers.items()},
    }


def reply_to_json(reply: FormReply) -> str:
    return json.dumps(reply_obj(reply), separators=(",", ":"), ensure_ascii=False)


def reply_from_obj(obj: object) -> FormReply:
    """The reply's shape only; ``check_reply`` holds it against its document."""
    r = _exact_keys(obj, {"v", "id", "consentHash", "answers"}, "reply")
    if r["v"] != VERSION or type(r["v"]) is not int:
        raise MessageFormatError("unknown reply version")
    consent = r["consentHash"]
    if consent is not None and (not isinstance(consent, str) or not _HEX64.fullmatch(consent)):
        raise MessageFormatError("a consent hash is 64 lowercase hex digits")
    raw = r["answers"]
    if not isinstance(raw, dict) or len(raw) > MAX_FIELDS:
        raise MessageFormatError("answers must be an object")
    answers: dict[str, Answer] = {}
    for key, value in raw.items():
        if not _KEY.fullmatch(key):
            raise MessageFormatError("an answer's key is a field key")
        if isinstance(value, dict):
            sig = _exact_keys(value, {"name", "at"}, "signature")
            answers[key] = Signature(_text(sig["name"], "signed name", 0, MAX_NAME),
                                     _text(sig["at"], "signing time", 0, 40))  # fmt: skip
        elif isinstance(value, str):
            answers[key] = _text(value, "answer", 0, MAX_TEXT_ANSWER)
        else:
            answers[key] = _int(value, "answer")
    return FormReply(_form_id(r["id"]), answers, consent)


def check_reply(document: FormDocument, reply: FormReply) -> FormReply:
    """What the page refuses to send, refused again here: the wrong form, an unknown field, a
    value of the wrong kind or out of range, a blank required field, a signature without a full
    name, a consent signed against another version of the document. Each refusal is a
    ``FormRefusedError`` whose message names the field."""
    if reply.id != document.id:
        raise FormRefusedError("this reply is for another form")
    unknown = sorted(set(reply.answers) - {f.key for f in document.fields})
    if unknown:
        raise FormRefusedError(f"the form has no field {unknown[0]!r}")
    for field in document.fields:
        value = reply.answers.get(field.key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                raise FormRefusedError(f"{field.label!r} is required")
            continue
        _check_value(field, value)
    if document.consent is not None:
        if reply.consent_hash != document.consent.hash:
            raise FormRefusedError("the consent was signed against another version of it")
    elif reply.consent_hash is not None:
        raise FormRefusedError("this form has no consent document")
    return reply


def _check_value(field: Field, value: Answer) -> None:
    what = repr(field.label)
    match field.kind:
        case FieldKind.TEXT:
            if not isinstance(value, str):
                raise FormRefusedError(f"{what} takes text")
        case FieldKind.CHOICE:
            if type(value) is not int or not 0 <= value < len(field.options):
                raise FormRefusedError(f"{what} takes one of its options")
        case FieldKind.SCALE:
            if type(value) is not int or not field.low <= value <= field.high:
                raise FormRefusedError(f"{what} takes a number from {field.low} to {field.high}")
        case FieldKind.DATE:
            if not isinstance(value, str) or not _DATE.fullmatch(value):
                raise FormRefusedError(f"{what} takes a date")
            try:
                date.fromisoformat(value)
            except ValueError:
                raise FormRefusedError(f"{what} takes a date") from None
        case FieldKind.SIGNATURE:
            if not isinstance(value, Signature):
                raise FormRefusedError(f"{what} takes a signature")
            if len(value.name.strip()) < 2 or not any(ch.isalpha() for ch in value.name):
                raise FormRefusedError(f"{what}: type your full name to sign")
            if not _INSTANT.fullmatch(value.at):
                raise FormRefusedError(f"{what}: the signing time is missing")
            datetime.fromisoformat(value.at.replace("Z", "+00:00"))
