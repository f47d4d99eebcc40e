"""Forms the client fills in through the sealed link: intake questionnaires, consents (the
telehealth consent among them) and measures, sent to the waiting room before a video session or
through the relay's sealed mailbox between sessions.

* A **form template** is the therapist's (or the built-in) intake or consent form: fields of
  five kinds (text, choice, scale, date, signature) with a required flag, and for a consent its
  text and version. Templates are versioned like measures; the built-ins are in
  ``resources/forms/*.toml``.
* A **form request** is one form sent to one client: the exact document sent (the wire format of
  ``telehealth.forms``, kept so that the answers can always be read against the questions they
  answer), how it went (waiting room or mailbox; for the mailbox the link's secret, to collect
  the answers), its expiry and status (sent, answered, expired, withdrawn).
* A **form response** is the client's reply, checked against the request's document with
  ``telehealth.forms.check_reply`` (the page checked it too: a blank required field or a
  signature without a name is refused on both sides) and kept unchanged. A consent's response
  also makes a **consent** record: the typed full name, the exact document (text, version and
  hash), the time on the client's clock and the time it arrived; read-only. A measure's response
  is recorded as a measure result (source waiting room or mailbox), so its score is computed and
  a flagged answer reaches the therapist at once.

FHIR mapping (for exports): a template is a Questionnaire; a response a QuestionnaireResponse
(status completed, authored = received); a consent a Consent (status active, scope treatment,
category "telehealth consent" or the template's title, dateTime = received, sourceAttachment =
the document text with its hash, verification = the typed name and the client's time).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import telehealth.forms as wire
from crypto.audit.actions import AuditAction, Outcome
from crypto.vault import Vault
from desktop.core.clients import load_client, require_active
from desktop.core.clinical import measures
from desktop.core.clinical.errors import FormNotFoundError
from desktop.core.clinical.instruments import Instrument
from desktop.core.clinical.measures import MeasureResult, ResultSource
from desktop.core.errors import InvalidFieldError
from desktop.core.stamps import from_iso, maybe_from_iso, new_id, to_iso
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import FormRefusedError, MessageFormatError, TelehealthError
from telehealth.mailbox_box import MailboxBox, new_box

MAILBOX_DAYS = 14  # how long a link sent between sessions stays open
BUILT_IN = ("intake", "telehealth-consent")
FieldKind = wire.FieldKind
FormKind = wire.FormKind


class Channel(StrEnum):
    WAITING_ROOM = "waiting_room"
    MAILBOX = "mailbox"


class RequestStatus(StrEnum):
    SENT = "sent"
    ANSWERED = "answered"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class TemplateField:
    """One question of a form template (see ``telehealth.forms.Field``)."""

    key: str
    kind: wire.FieldKind
    label: str
    required: bool = True
    multiline: bool = False
    options: tuple[str, ...] = ()
    low: int = 0
    high: int = 10
    low_label: str = ""
    high_label: str = ""


@dataclass(frozen=True)
class FormTemplate:
    key: str  # "intake", "telehealth-consent", or "form:<id>" for the therapist's own
    version: int
    kind: wire.FormKind  # intake or consent (measures are sent from their own definitions)
    title: str
    intro: str
    fields: tuple[TemplateField, ...]
    consent_text: str = ""  # a consent's document
    consent_version: str = ""
    built_in: bool = False


@dataclass(frozen=True)
class FormRequest:
    id: str  # the form id (hex of the 16 bytes in the document)
    client_id: str
    session_id: str | None
    channel: Channel
    kind: wire.FormKind
    title: str
    source_key: str  # the template's or the measure's key
    source_version: int
    status: RequestStatus
    created_at: datetime
    expires_at: datetime | None
    answered_at: datetime | None
    document: wire.FormDocument
    box: MailboxBox | None  # how to collect the answers of a mailbox request


@dataclass(frozen=True)
class Consent:
    """A signed consent, read-only: who signed what, exactly, and when."""

    id: str
    client_id: str
    request_id: str
    title: str
    version: str
    document_hash: str
    document_text: str
    signed_name: str
    signed_at_client: str  # ISO 8601 UTC on the client's clock, as sent
    received_at: datetime
    channel: Channel


@dataclass(frozen=True)
class FormResponse:
    id: str
    request: FormRequest
    reply: wire.FormReply
    received_at: datetime
    measure_result_id: str | None
    consent_id: str | None

    def answer_lines(
        self,
        day_text: Callable[[date], str] = date.isoformat,
        moment_text: Callable[[datetime], str] = datetime.isoformat,
    ) -> list[tuple[str, str]]:
        """(question, answer in words) for every field, as the client answered it; dates and
        signing times written with ``day_text`` and ``moment_text`` (the screen's formats)."""
        lines = []
        for field in self.request.document.fields:
            value = self.reply.answers.get(field.key)
            if value is None:
                shown = "—"
            elif isinstance(value, wire.Signature):
                at = datetime.fromisoformat(value.at.replace("Z", "+00:00"))
                shown = f"Signed “{value.name}” ({moment_text(at)} on their device's clock)"
            elif field.kind is wire.FieldKind.CHOICE and isinstance(value, int):
                shown = field.options[value]
            elif field.kind is wire.FieldKind.DATE and isinstance(value, str):
                shown = day_text(date.fromisoformat(value))
            else:
                shown = str(value)
            lines.append((field.label, shown))
        return lines


@dataclass(frozen=True)
class ClientForms:
    """The client page's Forms tab in one audited read."""

    requests: tuple[FormRequest, ...]  # newest first
    consents: tuple[Consent, ...]


# -- templates -----------------------------------------------------------------------------------
def _template_from_dict(data: dict[str, Any], *, built_in: bool = False) -> FormTemplate:
    if data.get("format") != 1:
        raise InvalidFieldError("this form was written by a newer Quietroom")
    return FormTemplate(
        key=str(data["key"]),
        version=int(data.get("version_number", 1)),
        kind=wire.FormKind(data["kind"]),
        title=str(data["title"]),
        intro=str(data.get("intro", "")),
        fields=tuple(
            TemplateField(
                key=str(f["key"]),
                kind=wire.FieldKind(f["kind"]),
                label=str(f["label"]),
                required=bool(f.get("required", True)),
                multiline=bool(f.get("multiline", False)),
                options=tuple(str(o) for o in f.get("options", ())),
                low=int(f.get("min", 0)),
                high=int(f.get("max", 10)),
                low_label=str(f.get("min_label", "")),
                high_label=str(f.get("max_label", "")),
            )
            for f in data["fields"]
        ),
        consent_text=str(data.get("text", "")).strip(),
        consent_version=str(data.get("version", "")) if data["kind"] == "consent" else "",
        built_in=built_in,
    )


def _template_to_json(template: FormTemplate) -> str:
    return json.dumps(
        {
            "format": 1,
            "key": template.key,
            "version_number": template.version,
            "kind": str(template.kind),
            "title": template.title,
            "intro": template.intro,
            "text": template.consent_text,
            "version": template.consent_version,
            "fields": [
                {"key": f.key, "kind": str(f.kind), "label": f.label, "required": f.required,
                 "multiline": f.multiline, "options": list(f.options), "min": f.low,
                 "max": f.high, "min_label": f.low_label, "max_label": f.high_label}
                for f in template.fields
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )  # fmt: skip


@cache
def built_in_template(key: str) -> FormTemplate:
    if key not in BUILT_IN:
        raise FormNotFoundError(f"there is no built-in form {key!r}")
    path = resources.files("resources") / "forms" / f"{key}.toml"
    template = _template_from_dict(tomllib.loads(path.read_text("utf-8")), built_in=True)
    return check_template(template)


def document_of(template: FormTemplate, form_id: bytes) -> wire.FormDocument:
    """The template as the page receives it."""
    return wire.check_document(
        wire.FormDocument(
            id=form_id,
            kind=template.kind,
            title=template.title,
            intro=template.intro,
            fields=tuple(
                wire.Field(
                    f.key,
                    f.kind,
                    f.label,
                    f.required,
                    f.multiline,
                    f.options,
                    f.low,
                    f.high,
                    f.low_label,
                    f.high_label,
                )
                for f in template.fields
            ),
            consent=wire.Consent(template.consent_text, template.consent_version)
            if template.kind is wire.FormKind.CONSENT
            else None,
        )
    )


def check_template(template: FormTemplate) -> FormTemplate:
    """A template the page can show and the app can read back, or ``InvalidFieldError`` saying
    what to fix: the wire format's own rules (keys, lengths, 2-20 options, a scale's ends, a
    consent's text, version and required signature) and its size."""
    if template.kind not in (wire.FormKind.INTAKE, wire.FormKind.CONSENT):
        raise InvalidFieldError("a form is an intake questionnaire or a consent")
    try:
        wire.document_to_json(document_of(template, bytes(wire.ID_BYTES)))
    except MessageFormatError as exc:
        raise InvalidFieldError(str(exc)) from None
    return template


def templates(vault: Vault) -> tuple[FormTemplate, ...]:
    rows = vault.query(
        "SELECT definition FROM form_templates t WHERE archived = 0 AND version ="
        " (SELECT max(version) FROM form_templates u WHERE u.key = t.key)"
    )
    own = sorted((_template_from_dict(json.loads(r[0])) for r in rows), key=lambda t: t.title)
    return (*(built_in_template(k) for k in BUILT_IN), *own)


def template(vault: Vault, key: str, version: int | None = None) -> FormTemplate:
    if key in BUILT_IN:
        return built_in_template(key)
    sql = "SELECT definition FROM form_templates WHERE key = ?"
    params: tuple[Any, ...] = (key,)
    if version is not None:
        sql += " AND version = ?"
        params += (version,)
    rows = vault.query(sql + " ORDER BY version DESC LIMIT 1", params)
    if not rows:
        raise FormNotFoundError(f"no form {key}")
    return _template_from_dict(json.loads(rows[0][0]))


def save_template(vault: Vault, draft: FormTemplate) -> FormTemplate:
    """A new form of the therapist's own, or a new version of one (a built-in is copied into a
    new form of one's own); audited as ``form.defined``."""
    key = draft.key if draft.key.startswith("form:") else f"form:{new_id()}"
    rows = vault.query("SELECT max(version) FROM form_templates WHERE key = ?", (key,))
    final = check_template(replace(draft, key=key, version=int(rows[0][0] or 0) + 1,
                                   built_in=False))  # fmt: skip
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO form_templates(key, version, kind, definition, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, final.version, str(final.kind), _template_to_json(final),
             to_iso(vault.options.clock())),
        )  # fmt: skip
        tx.audit(AuditAction.FORM_DEFINED, object_type="form", object_id=key,
                 details={"version": final.version, "fields": len(final.fields)})  # fmt: skip
    return final


def archive_template(vault: Vault, key: str) -> None:
    template(vault, key)
    if key in BUILT_IN:
        raise InvalidFieldError("the built-in forms stay; make your own version instead")
    with vault.transaction() as tx:
        tx.execute("UPDATE form_templates SET archived = 1 WHERE key = ?", (key,))
        tx.audit(AuditAction.FORM_ARCHIVED, object_type="form", object_id=key)


# -- measures as forms ---------------------------------------------------------------------------
def _item_key(key: str) -> str:
    return f"item_{key}"


def measure_document(instrument: Instrument, form_id: bytes) -> wire.FormDocument:
    """A measure as a form: each item a required choice of its answers, in its exact words; the
    non-scored questions (the PHQ-9's difficulty) optional choices after them."""
    intro = "\n".join(t for t in (instrument.instructions, instrument.notice) if t)
    fields = [
        wire.Field(
            _item_key(item.key),
            wire.FieldKind.CHOICE,
            f"{item.key}. {item.text}",
            options=tuple(c.label for c in instrument.choices),
        )
        for item in instrument.items
    ]
    fields += [
        wire.Field(
            f"extra_{extra.key}",
            wire.FieldKind.CHOICE,
            extra.text,
            required=False,
            options=extra.choices,
        )
        for extra in instrument.extras
    ]
    return wire.check_document(
        wire.FormDocument(form_id, wire.FormKind.MEASURE, instrument.title, intro, tuple(fields))
    )


def measure_answers(
    instrument: Instrument, reply: wire.FormReply
) -> tuple[dict[str, int], dict[str, str]]:
    """The reply's choices back as the measure's answer values and extras' labels."""
    answers = {}
    for item in instrument.items:
        index = reply.answers.get(_item_key(item.key))
        if not isinstance(index, int):
            raise FormRefusedError(f"item {item.key} is not answered")
        answers[item.key] = instrument.choices[index].value
    extras = {}
    for extra in instrument.extras:
        index = reply.answers.get(f"extra_{extra.key}")
        if isinstance(index, int):
            extras[extra.key] = extra.choices[index]
    return answers, extras


# -- requests ------------------------------------------------------------------------------------
_REQUEST_COLUMNS = (
    "id, client_id, session_id, channel, kind, title, source_key, source_version, status,"
    " created_at, expires_at, answered_at, document, mailbox_secret, relay_origin"
)


def _request_from_row(row: Sequence[Any]) -> FormRequest:
    box = None
    if row[13] is not None:
        box = MailboxBox(row[14], b64url_decode(row[13]))
    return FormRequest(
        id=row[0],
        client_id=row[1],
        session_id=row[2],
        channel=Channel(row[3]),
        kind=wire.FormKind(row[4]),
        title=row[5],
        source_key=row[6],
        source_version=int(row[7]),
        status=RequestStatus(row[8]),
        created_at=from_iso(row[9]),
        expires_at=maybe_from_iso(row[10]),
        answered_at=maybe_from_iso(row[11]),
        document=wire.document_from_obj(json.loads(row[12])),
        box=box,
    )


def load_request(vault: Vault, request_id: str) -> FormRequest:
    rows = vault.query(f"SELECT {_REQUEST_COLUMNS} FROM form_requests WHERE id = ?", (request_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise FormNotFoundError(f"no form request {request_id}")
    return _request_from_row(rows[0])


def create_request(
    vault: Vault,
    client_id: str,
    source: FormTemplate | Instrument,
    channel: Channel,
    *,
    session_id: str | None = None,
    relay_origin: str | None = None,
) -> FormRequest:
    """Make the document for ``source`` (a form template or a measure) and keep it as sent to
    the client; for the mailbox also make the box (its link is ``request.box.link``). Audited as
    ``form.sent`` (kind, channel; never the title or the questions)."""
    require_active(vault, client_id)
    form_id = wire.new_form_id()
    if isinstance(source, Instrument):
        document = measure_document(source, form_id)
        key, version = source.key, source.version
    else:
        document = document_of(check_template(source), form_id)
        key, version = source.key, source.version
    box = None
    now = vault.options.clock()
    expires = None
    if channel is Channel.MAILBOX:
        if relay_origin is None:
            raise InvalidFieldError("forms between sessions need the session service's address")
        try:
            box = new_box(relay_origin)
        except TelehealthError as exc:
            raise InvalidFieldError(str(exc)) from None
        expires = now + timedelta(days=MAILBOX_DAYS)
    request_id = form_id.hex()
    with vault.transaction() as tx:
        tx.execute(
            f"INSERT INTO form_requests({_REQUEST_COLUMNS}) VALUES"  # noqa: S608 (constant SQL)
            " (?, ?, ?, ?, ?, ?, ?, ?, 'sent', ?, ?, NULL, ?, ?, ?)",
            (request_id, client_id, session_id, str(channel), str(document.kind), document.title,
             key, version, to_iso(now), None if expires is None else to_iso(expires),
             wire.document_to_json(document), None if box is None else b64url_encode(box.secret),
             None if box is None else box.relay_origin),
        )  # fmt: skip
        tx.audit(
            AuditAction.FORM_SENT,
            object_type="form_request",
            object_id=request_id,
            details={"client_id": client_id, "kind": str(document.kind), "channel": str(channel)},
        )
    return load_request(vault, request_id)


def set_status(vault: Vault, request_id: str, status: RequestStatus) -> FormRequest:
    request = load_request(vault, request_id)
    if request.status is not RequestStatus.SENT:
        return request
    action = {
        RequestStatus.EXPIRED: AuditAction.FORM_EXPIRED,
        RequestStatus.WITHDRAWN: AuditAction.FORM_WITHDRAWN,
    }[status]
    with vault.transaction() as tx:
        tx.execute("UPDATE form_requests SET status = ? WHERE id = ? AND status = 'sent'",
                   (str(status), request_id))  # fmt: skip
        tx.audit(action, object_type="form_request", object_id=request_id,
                 details={"client_id": request.client_id})  # fmt: skip
    return load_request(vault, request_id)


def open_mailbox_requests(vault: Vault) -> tuple[FormRequest, ...]:
    """Mailbox requests still waiting for answers (for the fetch at unlock); unaudited: ids,
    links and expiry only, nothing shown."""
    rows = vault.query(
        f"SELECT {_REQUEST_COLUMNS} FROM form_requests"  # noqa: S608 (constant SQL)
        " WHERE channel = 'mailbox' AND status = 'sent' ORDER BY created_at"
    )
    return tuple(_request_from_row(r) for r in rows)


# -- replies -------------------------------------------------------------------------------------
def receive_reply(
    vault: Vault,
    reply: wire.FormReply,
    *,
    channel: Channel,
    session_id: str | None = None,
    entered_by: str,
    on_measure: Callable[[MeasureResult], None] = lambda _: None,
) -> FormResponse:
    """Check a reply against the form it answers and keep it (``form.answered``); a refused one
    leaves nothing but a ``form.refused`` entry and raises ``FormRefusedError``."""
    request_id = reply.id.hex()
    request = load_request(vault, request_id)

    def refuse(why: str) -> FormRefusedError:
        vault.audit(AuditAction.FORM_REFUSED, object_type="form_request", object_id=request_id,
                    outcome=Outcome.FAILURE, details={"client_id": request.client_id})  # fmt: skip
        return FormRefusedError(why)

    if request.channel is not channel or (
        channel is Channel.WAITING_ROOM and request.session_id != session_id
    ):
        raise refuse("this form was not sent here")
    if request.status is RequestStatus.ANSWERED:
        raise refuse("this form was already answered")
    if request.status is not RequestStatus.SENT:
        raise refuse("this form is no longer open")
    try:
        wire.check_reply(request.document, reply)
    except FormRefusedError as exc:
        raise refuse(str(exc)) from None
    now = vault.options.clock()
    result: MeasureResult | None = None
    if request.kind is wire.FormKind.MEASURE:
        instrument = measures.instrument(vault, request.source_key, request.source_version)
        answers, extras = measure_answers(instrument, reply)
        result = measures.record_result(
            vault, request.client_id, instrument, answers, administered_at=now,
            source=ResultSource(str(channel)), entered_by=entered_by, extras=extras,
            session_id=request.session_id,
        )  # fmt: skip
    consent_id = None
    response_id = new_id()
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO form_responses(id, request_id, client_id, reply, received_at,"
            " measure_result_id) VALUES (?, ?, ?, ?, ?, ?)",
            (response_id, request_id, request.client_id, wire.reply_to_json(reply), to_iso(now),
             None if result is None else result.id),
        )  # fmt: skip
        if request.document.consent is not None:
            signature = next(v for v in reply.answers.values() if isinstance(v, wire.Signature))
            consent_id = new_id()
            tx.execute(
                "INSERT INTO consents(id, client_id, request_id, title, version, document_hash,"
                " document_text, signed_name, signed_at_client, received_at, channel)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (consent_id, request.client_id, request_id, request.document.title,
                 request.document.consent.version, request.document.consent.hash,
                 request.document.consent.text, signature.name.strip(), signature.at,
                 to_iso(now), str(channel)),
            )  # fmt: skip
            tx.audit(AuditAction.CONSENT_SIGNED, object_type="consent", object_id=consent_id,
                     details={"client_id": request.client_id, "request": request_id,
                              "document_hash": request.document.consent.hash})  # fmt: skip
        tx.execute(
            "UPDATE form_requests SET status = 'answered', answered_at = ? WHERE id = ?",
            (to_iso(now), request_id),
        )
        tx.audit(AuditAction.FORM_ANSWERED, object_type="form_request", object_id=request_id,
                 details={"client_id": request.client_id, "kind": str(request.kind),
                          "channel": str(channel)})  # fmt: skip
    if result is not None:
        on_measure(result)
    return FormResponse(response_id, load_request(vault, request_id), reply, now,
                        None if result is None else result.id, consent_id)  # fmt: skip


def receive_mailbox_envelope(
    vault: Vault, request_id: str, envelope: str, *, entered_by: str,
    on_measure: Callable[[MeasureResult], None] = lambda _: None,
) -> FormResponse:  # fmt: skip
    """Open a sealed reply collected from the mailbox (with the request's own key) and keep it.
    An envelope that does not open or parse is refused as ``FormRefusedError``."""
    request = load_request(vault, request_id)
    if request.box is None:
        raise FormRefusedError("this form was not sent through the mailbox")
    try:
        reply = request.box.open_reply(envelope)
    except TelehealthError as exc:
        vault.audit(AuditAction.FORM_REFUSED, object_type="form_request", object_id=request_id,
                    outcome=Outcome.FAILURE, details={"client_id": request.client_id})  # fmt: skip
        raise FormRefusedError("the answers could not be opened") from exc
    return receive_reply(vault, reply, channel=Channel.MAILBOX, entered_by=entered_by,
                         on_measure=on_measure)  # fmt: skip


# -- reading -------------------------------------------------------------------------------------
_CONSENT_COLUMNS = (
    "id, client_id, request_id, title, version, document_hash, document_text, signed_name,"
    " signed_at_client, received_at, channel"
)


def _consent(row: Sequence[Any]) -> Consent:
    return Consent(
        id=row[0],
        client_id=row[1],
        request_id=row[2],
        title=row[3],
        version=row[4],
        document_hash=row[5],
        document_text=row[6],
        signed_name=row[7],
        signed_at_client=row[8],
        received_at=from_iso(row[9]),
        channel=Channel(row[10]),
    )


def client_forms(vault: Vault, client_id: str) -> ClientForms:
    """Audited as ``form.listed`` (counts)."""
    load_client(vault, client_id)
    requests = tuple(
        _request_from_row(r)
        for r in vault.query(
            f"SELECT {_REQUEST_COLUMNS} FROM form_requests WHERE client_id = ?"  # noqa: S608 (constant SQL)
            " ORDER BY created_at DESC, seq DESC",
            (client_id,),
        )
    )
    consents = tuple(
        _consent(r)
        for r in vault.query(
            f"SELECT {_CONSENT_COLUMNS} FROM consents WHERE client_id = ?"  # noqa: S608 (constant SQL)
            " ORDER BY received_at DESC",
            (client_id,),
        )
    )
    vault.audit(AuditAction.FORMS_LISTED, object_type="client", object_id=client_id,
                details={"requests": len(requests), "consents": len(consents)})  # fmt: skip
    return ClientForms(requests, consents)


def open_response(vault: Vault, request_id: str) -> FormResponse:
    """The answers to one form, as the client gave them; audited as ``form.response_opened``."""
    request = load_request(vault, request_id)
    rows = vault.query(
        "SELECT id, reply, received_at, measure_result_id FROM form_responses WHERE request_id = ?",
        (request_id,),
    )
    if not rows:
        raise FormNotFoundError("this form has not been answered")
    response_id, reply_text, received, result_id = rows[0]
    consent = vault.query("SELECT id FROM consents WHERE request_id = ?", (request_id,))
    vault.audit(AuditAction.FORM_RESPONSE_OPENED, object_type="form_request",
                object_id=request_id, details={"client_id": request.client_id})  # fmt: skip
    return FormResponse(
        response_id,
        request,
        wire.reply_from_obj(json.loads(reply_text)),
        from_iso(received),
        result_id,
        consent[0][0] if consent else None,
    )
