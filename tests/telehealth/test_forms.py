"""The form format both ends speak (telehealth/forms.py), its checks, and its trip through the
sealed envelopes of the signalling channel and the mailbox."""

from __future__ import annotations

import json

import pytest

from telehealth import forms, protocol
from telehealth.errors import (
    FormRefusedError,
    InviteLinkError,
    MessageFormatError,
    MessageRejectedError,
)
from telehealth.forms import (
    Consent,
    Field,
    FieldKind,
    FormDocument,
    FormKind,
    FormReply,
    Signature,
)
from telehealth.mailbox_box import new_box, parse_box_link
from telehealth.sealing import Opener, Sealer

ID = bytes(range(16))
CONSENT = Consent("I agree to video sessions.\nSessions are not recorded.", "2026-1")


def intake() -> FormDocument:
    return FormDocument(
        ID,
        FormKind.INTAKE,
        "About you",
        "Please answer what you can.",
        (
            Field("full_name", FieldKind.TEXT, "Your full name"),
            Field("story", FieldKind.TEXT, "What brings you?", multiline=True),
            Field("before", FieldKind.CHOICE, "Therapy before?", options=("Yes", "No")),
            Field(
                "mood",
                FieldKind.SCALE,
                "This week",
                low=0,
                high=10,
                low_label="bad",
                high_label="good",
            ),
            Field("born", FieldKind.DATE, "Date of birth"),
            Field("pronouns", FieldKind.TEXT, "Pronouns", required=False),
        ),
    )


def consent() -> FormDocument:
    return FormDocument(
        ID, FormKind.CONSENT, "Telehealth consent", "", (Field("sig", FieldKind.SIGNATURE,
                                                             "Signature"),), CONSENT
    )  # fmt: skip


def good_reply() -> FormReply:
    return FormReply(ID, {"full_name": "Ana Lima", "story": "Worry.", "before": 1, "mood": 4,
                          "born": "1990-02-28"})  # fmt: skip


def test_a_document_round_trips_as_strict_json() -> None:
    document = intake()
    text = forms.document_to_json(document)
    assert forms.document_from_obj(json.loads(text)) == document
    obj = json.loads(text)
    assert list(obj) == ["v", "id", "kind", "title", "intro", "consent", "fields"]
    assert obj["fields"][3] == {"key": "mood", "kind": "scale", "label": "This week",
                                "required": True, "min": 0, "max": 10, "minLabel": "bad",
                                "maxLabel": "good"}  # fmt: skip
    signed = forms.document_obj(consent())
    assert signed["consent"]["hash"] == forms.consent_hash(CONSENT.text, "2026-1")
    assert len(signed["consent"]["hash"]) == 64


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update(kind="quiz"), "unknown form kind"),
        (lambda o: o.update(extra=1), "unexpected fields"),
        (lambda o: o["fields"][0].update(kind="file"), "unknown field kind"),
        (lambda o: o["fields"][0].update(options=["a"]), "unexpected fields"),
        (lambda o: o["fields"][2].update(options=["only one"]), "2..20 options"),
        (lambda o: o["fields"][3].update(min=5, max=5), "lower to a higher"),
        (lambda o: o["fields"][0].update(key="Full Name"), "field key"),
        (lambda o: o["fields"].append(dict(o["fields"][0])), "share a key"),
        (lambda o: o["fields"][0].update(required="yes"), "true or false"),
        (lambda o: o.update(title="\u202eevil"), "control"),
        (lambda o: o.update(id="AAAA"), "16 bytes"),
    ],
)
def test_a_malformed_document_is_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    obj = forms.document_obj(intake())
    change(obj)
    with pytest.raises(MessageFormatError, match=message):
        forms.document_from_obj(obj)


def test_a_consent_must_match_its_hash_and_carry_a_signature() -> None:
    obj = forms.document_obj(consent())
    obj["consent"]["text"] += " (and my therapist may record sessions)"
    with pytest.raises(MessageFormatError, match="hash does not match"):
        forms.document_from_obj(obj)
    with pytest.raises(MessageFormatError, match="required signature"):
        forms.check_document(FormDocument(ID, FormKind.CONSENT, "C", "", (
            Field("sig", FieldKind.SIGNATURE, "Signature", required=False),), CONSENT))  # fmt: skip
    with pytest.raises(MessageFormatError, match="only a consent"):
        forms.check_document(FormDocument(ID, FormKind.INTAKE, "C", "", intake().fields, CONSENT))


def test_replies_are_checked_against_their_form() -> None:
    document = intake()
    assert forms.check_reply(document, good_reply()) == good_reply()
    optional = FormReply(ID, {**good_reply().answers, "pronouns": "she/her"})
    assert forms.check_reply(document, optional)

    def refused(answers: dict[str, object], message: str, doc: FormDocument = document,
                consent_hash: str | None = None) -> None:  # fmt: skip
        with pytest.raises(FormRefusedError, match=message):
            forms.check_reply(doc, FormReply(ID, answers, consent_hash))  # type: ignore[arg-type]

    answers = dict(good_reply().answers)
    refused({k: v for k, v in answers.items() if k != "story"}, "'What brings you\\?' is required")
    refused({**answers, "full_name": "   "}, "'Your full name' is required")
    refused({**answers, "before": 2}, "one of its options")
    refused({**answers, "mood": 11}, "from 0 to 10")
    refused({**answers, "mood": True}, "from 0 to 10")
    refused({**answers, "born": "1990-02-30"}, "takes a date")
    refused({**answers, "colour": "blue"}, "no field 'colour'")
    with pytest.raises(FormRefusedError, match="another form"):
        forms.check_reply(document, FormReply(bytes(16), answers))
    # a consent: a signature without a name, or against another version, is refused
    signed = {"sig": Signature("Ana Lima", "2026-01-05T09:00:00.000Z")}
    right = consent().consent.hash  # type: ignore[union-attr]
    assert forms.check_reply(consent(), FormReply(ID, signed, right))
    refused({}, "'Signature' is required", consent(), right)
    refused({"sig": Signature("  ", "2026-01-05T09:00:00.000Z")}, "full name", consent(), right)
    refused({"sig": Signature("A", "2026-01-05T09:00:00.000Z")}, "full name", consent(), right)
    refused({"sig": Signature("Ana Lima", "yesterday")}, "signing time", consent(), right)
    refused(signed, "another version", consent(), "0" * 64)
    refused(signed, "another version", consent(), None)


def test_forms_travel_sealed_and_padded() -> None:
    key = bytes(32)
    envelope = Sealer("therapist", key, first_seq=5).seal(protocol.Form(consent()))
    assert "Telehealth" not in envelope and "recorded" not in envelope
    message = Opener("therapist", key).open(envelope)
    assert message == protocol.Form(consent())
    reply = FormReply(ID, {"sig": Signature("Ana Lima", "2026-01-05T09:00:00Z")},
                      consent().consent.hash)  # type: ignore[union-attr]  # fmt: skip
    sealed = Sealer("client", key, first_seq=9).seal(protocol.FormReply(reply))
    assert Opener("client", key).open(sealed) == protocol.FormReply(reply)
    # two replies of different lengths have the same size on the wire
    short = Sealer("client", key, first_seq=1).seal(protocol.FormReply(FormReply(ID, {})))
    assert len(short) == len(sealed)


def test_a_form_too_long_for_one_envelope_is_refused() -> None:
    long = FormDocument(ID, FormKind.INTAKE, "Long", "", tuple(
        Field(f"q{n}", FieldKind.TEXT, "x" * 1000) for n in range(70)))  # fmt: skip
    with pytest.raises(MessageFormatError, match="too long"):
        forms.document_to_json(long)


def test_a_mailbox_link_and_its_two_envelopes() -> None:
    box = new_box("https://relay.example.org", random=lambda n: bytes(range(n)))
    assert box.link == "https://relay.example.org/m/#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    again = parse_box_link(box.link)
    assert again == box and len(again.box_id) == 32 and box.box_id not in box.link
    assert box.url("form") == f"https://relay.example.org/mb/{box.box_id}/form"
    assert box.open_form(box.seal_form(intake())) == intake()
    assert box.open_reply(box.seal_reply(good_reply())) == good_reply()
    other = new_box("https://relay.example.org")
    with pytest.raises(MessageRejectedError):
        other.open_reply(box.seal_reply(good_reply()))  # another box's key
    for bad in ("https://relay.example.org/j/#" + box.link.split("#")[1],
                "http://relay.example.org/m/#" + box.link.split("#")[1],
                "https://relay.example.org/m/#short"):  # fmt: skip
        with pytest.raises(InviteLinkError):
            parse_box_link(bad)
