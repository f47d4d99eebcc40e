"""Forms through the sealed link, the domain's side: templates and their checks, a form sent to
the waiting room or the mailbox, the reply checked against the very form sent (a blank required
field or a signature without a name refused, nothing kept), consents kept read-only with their
exact document, measures scored with the flag told at once, everything audited without the
answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crypto.database import IntegrityError
from desktop.core.clients import DestructionReason
from desktop.core.clinical.forms import (
    Channel,
    FormTemplate,
    RequestStatus,
    TemplateField,
    measure_answers,
)
from desktop.core.clinical.instruments import built_in
from desktop.core.clinical.measures import FlagNotice, ResultSource
from desktop.core.errors import ClientArchivedError, InvalidFieldError
from desktop.core.practice import Practice
from telehealth.errors import FormRefusedError
from telehealth.forms import FieldKind, FormKind, FormReply, Signature
from telehealth.mailbox_box import parse_box_link

Entries = Callable[[], list[tuple[str, str, str]]]
RELAY = "https://relay.example.org"
SIGNED_AT = "2026-01-05T08:59:30.120Z"


def session_of(practice: Practice, client_id: str) -> str:
    return practice.schedule_session(client_id, datetime(2026, 1, 5, 10, tzinfo=UTC)).id


def intake_reply(document_id: bytes) -> FormReply:
    return FormReply(document_id, {"full_name": "Avery Applewood", "date_of_birth": "1990-04-01",
                                   "phone": "555-0101", "emergency_contact": "Sam, 555-0102",
                                   "reason": "Panic on trains", "previous_therapy": 1,
                                   "wellbeing": 4})  # fmt: skip


def test_the_built_in_forms(practice: Practice) -> None:
    intake, consent = practice.clinical.form_templates()
    assert (intake.key, intake.kind, len(intake.fields)) == ("intake", FormKind.INTAKE, 10)
    assert consent.kind is FormKind.CONSENT and consent.consent_version == "2026-1"
    assert consent.consent_text.startswith("I agree to have therapy sessions by video")
    assert [f.kind for f in consent.fields] == [FieldKind.SIGNATURE]


def test_a_form_of_ones_own_is_checked_and_versioned(
    practice: Practice, new_entries: Entries
) -> None:
    clinical = practice.clinical
    mine = FormTemplate("", 1, FormKind.INTAKE, "Couples intake", "", (
        TemplateField("together", FieldKind.TEXT, "How long together?"),
        TemplateField("goal", FieldKind.CHOICE, "Main goal", options=("Talk", "Decide")),
    ))  # fmt: skip
    new_entries()
    saved = clinical.save_form_template(mine)
    assert saved.key.startswith("form:") and saved.version == 1
    assert new_entries() == [("form.defined", "form", saved.key)]
    second = clinical.save_form_template(replace(saved, title="Couples intake (2026)"))
    assert (second.key, second.version) == (saved.key, 2)
    assert [t.title for t in clinical.form_templates()][-1] == "Couples intake (2026)"
    for bad, message in (
        (replace(mine, fields=()), "1..100 fields"),
        (replace(mine, fields=(TemplateField("Bad Key", FieldKind.TEXT, "x"),)), "field key"),
        (replace(mine, fields=(TemplateField("c", FieldKind.CHOICE, "x", options=("a",)),)),
         "2..20 options"),
        (replace(mine, kind=FormKind.CONSENT, consent_text="Text", consent_version="1"),
         "required signature"),
        (replace(mine, kind=FormKind.CONSENT, fields=(
            TemplateField("s", FieldKind.SIGNATURE, "Sign"),), consent_version="1"),
         "consent text"),
    ):  # fmt: skip
        with pytest.raises(InvalidFieldError, match=message):
            clinical.save_form_template(bad)


def test_waiting_room_forms_arrive_checked_in_the_vault(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    session_id = session_of(practice, client_id)
    new_entries()
    request = clinical.waiting_room_form(session_id, "intake")
    assert (request.channel, request.status, request.box) == (Channel.WAITING_ROOM,
                                                              RequestStatus.SENT, None)  # fmt: skip
    assert new_entries() == [("form.sent", "form_request", request.id)]
    document = request.document
    # a blank required answer is refused, and nothing is kept
    blank = FormReply(document.id, {**intake_reply(document.id).answers, "reason": "  "})
    with pytest.raises(FormRefusedError, match="'What brings you to therapy now\\?' is required"):
        clinical.receive_waiting_room_reply(session_id, blank)
    assert new_entries() == [("form.refused", "form_request", request.id)]
    assert practice._vault.query("SELECT count(*) FROM form_responses") == [(0,)]
    # the answers to another session's form are refused too
    other = session_of(practice, client_id)
    with pytest.raises(FormRefusedError, match="not sent here"):
        clinical.receive_waiting_room_reply(other, intake_reply(document.id))
    response = clinical.receive_waiting_room_reply(session_id, intake_reply(document.id))
    assert new_entries()[-1] == ("form.answered", "form_request", request.id)
    assert response.request.status is RequestStatus.ANSWERED
    lines = dict(response.answer_lines())
    assert lines["Have you seen a therapist or counsellor before?"] == "No"
    assert lines["Pronouns"] == "—"
    assert lines["Date of birth"] == "1990-04-01"
    shown = dict(response.answer_lines(day_text=lambda day: day.strftime("%d/%m/%Y")))
    assert shown["Date of birth"] == "01/04/1990"  # the screen's format
    with pytest.raises(FormRefusedError, match="already answered"):
        clinical.receive_waiting_room_reply(session_id, intake_reply(document.id))
    opened = clinical.open_form_response(request.id)
    assert opened.reply == intake_reply(document.id)
    # answers never reach the audit log
    logged = json.dumps([e.details_dict() for e in practice.audit_entries()])
    assert "Panic on trains" not in logged and "Avery" not in logged and "counsellor" not in logged
    with pytest.raises(IntegrityError, match="never change"), practice._vault.transaction() as tx:
        tx.execute("UPDATE form_responses SET reply = '{}'")


def test_a_consent_is_kept_read_only_with_its_exact_document(
    practice: Practice, client_id: str
) -> None:
    clinical = practice.clinical
    session_id = session_of(practice, client_id)
    request = clinical.waiting_room_form(session_id, "telehealth-consent")
    document = request.document
    assert document.consent is not None
    unsigned = FormReply(document.id, {"signature": Signature(" ", SIGNED_AT)},
                         document.consent.hash)  # fmt: skip
    with pytest.raises(FormRefusedError, match="full name"):
        clinical.receive_waiting_room_reply(session_id, unsigned)
    wrong_version = FormReply(document.id, {"signature": Signature("Avery Applewood", SIGNED_AT)},
                              "0" * 64)  # fmt: skip
    with pytest.raises(FormRefusedError, match="another version"):
        clinical.receive_waiting_room_reply(session_id, wrong_version)
    signed = FormReply(document.id, {"signature": Signature("Avery Applewood", SIGNED_AT)},
                       document.consent.hash)  # fmt: skip
    response = clinical.receive_waiting_room_reply(session_id, signed)
    assert response.consent_id is not None
    (consent,) = clinical.client_forms(client_id).consents
    assert (consent.signed_name, consent.version, consent.signed_at_client) == (
        "Avery Applewood", "2026-1", SIGNED_AT)  # fmt: skip
    assert consent.document_text == document.consent.text
    assert (
        consent.document_hash == document.consent.hash and consent.channel is Channel.WAITING_ROOM
    )
    entry = [e for e in practice.audit_entries() if e.action == "consent.signed"][-1]
    assert entry.details_dict()["document_hash"] == consent.document_hash
    with pytest.raises(IntegrityError, match="read-only"), practice._vault.transaction() as tx:
        tx.execute("UPDATE consents SET signed_name = 'Someone else'")
    with pytest.raises(IntegrityError, match="kept"), practice._vault.transaction() as tx:
        tx.execute("DELETE FROM consents")


def test_a_phq9_through_the_mailbox_is_scored_and_flagged(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    heard: list[FlagNotice] = []
    clinical.add_flag_listener(heard.append)
    request = clinical.mailbox_form(client_id, "phq9", RELAY)
    assert request.channel is Channel.MAILBOX and request.expires_at is not None
    box = request.box
    assert box is not None and parse_box_link(box.link) == box
    assert clinical.open_mailbox_forms() == (request,)
    # what goes to the relay is sealed: no item text in it
    envelope = box.seal_form(request.document)
    assert "Little interest" not in envelope and "PHQ" not in envelope
    assert box.open_form(envelope) == request.document
    document = request.document
    assert [f.key for f in document.fields][:2] == ["item_1", "item_2"]
    assert document.fields[8].label == (
        "9. Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    answers = {f"item_{n}": 1 for n in range(1, 10)} | {"extra_difficulty": 2}
    new_entries()
    sealed = box.seal_reply(FormReply(document.id, answers))
    response = clinical.receive_mailbox_reply(request.id, sealed)
    assert ("form.answered", "form_request", request.id) in new_entries()
    (result,) = clinical.list_measure_results(client_id)
    assert (result.total, result.band, result.flagged) == (9, "Mild", True)
    assert result.source is ResultSource.MAILBOX and result.extras == {
        "difficulty": "Very difficult"
    }
    assert response.measure_result_id == result.id
    assert [n.result_id for n in heard] == [result.id]  # told at once
    assert clinical.open_mailbox_forms() == ()
    # a reply sealed with another key, or junk, is refused and leaves nothing
    second = clinical.mailbox_form(client_id, "gad7", RELAY)
    with pytest.raises(FormRefusedError, match="could not be opened"):
        clinical.receive_mailbox_reply(second.id, box.seal_reply(FormReply(second.document.id, {})))
    assert clinical.form_expired(second.id).status is RequestStatus.EXPIRED
    assert clinical.open_mailbox_forms() == ()


def test_measure_answers_map_choices_to_values() -> None:
    pcl5 = built_in("pcl5")
    from desktop.core.clinical.forms import measure_document

    document = measure_document(pcl5, bytes(16))
    reply = FormReply(bytes(16), {f"item_{n}": 4 for n in range(1, 21)})
    answers, extras = measure_answers(pcl5, reply)
    assert answers == {str(n): 4 for n in range(1, 21)} and extras == {}
    assert document.fields[16].label == '17. Being "superalert" or watchful or on guard?'
    assert document.fields[0].options == ("Not at all", "A little bit", "Moderately",
                                          "Quite a bit", "Extremely")  # fmt: skip


def test_forms_need_an_active_client_and_a_relay_address(
    practice: Practice, client_id: str
) -> None:
    with pytest.raises(InvalidFieldError, match="https"):
        practice.clinical.mailbox_form(client_id, "intake", "http://relay.example.org")
    practice.archive_client(client_id)
    with pytest.raises(ClientArchivedError):
        practice.clinical.mailbox_form(client_id, "intake", RELAY)


def test_the_retention_action_takes_forms_and_consents_along(
    practice: Practice, client_id: str, clock: object
) -> None:
    clinical = practice.clinical
    session_id = session_of(practice, client_id)
    request = clinical.waiting_room_form(session_id, "telehealth-consent")
    consent = request.document.consent
    assert consent is not None
    clinical.receive_waiting_room_reply(session_id, FormReply(
        request.document.id, {"signature": Signature("Avery Applewood", SIGNED_AT)},
        consent.hash))  # fmt: skip
    clinical.mailbox_form(client_id, "intake", RELAY)
    practice.archive_client(client_id)
    clock.advance(8 * 366 * 86400)  # type: ignore[attr-defined]
    practice.destroy_client(client_id, confirm_name="Avery Applewood",
                            reason=DestructionReason.RETENTION_PERIOD_ENDED)  # fmt: skip
    for table in ("form_requests", "form_responses", "consents"):
        assert practice._vault.query(f"SELECT count(*) FROM {table}") == [(0,)], table
