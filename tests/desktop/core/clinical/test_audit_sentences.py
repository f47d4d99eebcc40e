"""The clinical record's audit entries read as sentences on the audit page (never as raw action
names or as the action's name in words), and each has a label for the page's filter."""

from __future__ import annotations

from crypto.audit.actions import AuditAction
from desktop.core.audit_story import ACTION_LABELS, CLINICAL, humanise, sentence
from desktop.core.clinical.diagnoses import DiagnosisDetails, DiagnosisStatus
from desktop.core.disclosure import DisclosureKind
from desktop.core.practice import Practice
from telehealth.forms import FormReply, Signature

from .test_plans import signed_plan

NAME = "Oluwaseun Brandtner"


def test_clinical_entries_read_as_sentences(practice: Practice, client_id: str) -> None:
    clinical = practice.clinical
    diagnosis = clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1", primary=True))
    remission = DiagnosisDetails("F41.1", status=DiagnosisStatus.IN_REMISSION, primary=True)
    clinical.update_diagnosis(diagnosis.id, remission)
    clinical.summary(client_id)
    plan = signed_plan(practice, client_id)
    clinical.open_plan(plan.id)
    clinical.revise_plan(plan.id, "Review with the client")
    result = clinical.record_measure(client_id, "phq9", {str(n): 1 for n in range(1, 10)})
    clinical.measure_history(client_id, "phq9")
    clinical.acknowledge_flag(result.id)
    clinical.measure_document(client_id, "phq9", DisclosureKind.PRINT, recipient="Dr Lee",
                              purpose="Referral", day_text=lambda d: d.isoformat())  # fmt: skip
    sent = clinical.mailbox_form(client_id, "telehealth-consent", "https://relay.test")
    consent = sent.document.consent
    assert sent.box is not None and consent is not None
    reply = FormReply(sent.document.id, {"signature": Signature(NAME, "2026-01-05T08:00:00Z")},
                      consent_hash=consent.hash)  # fmt: skip
    clinical.receive_mailbox_reply(sent.id, sent.box.seal_reply(reply))
    clinical.client_forms(client_id)
    clinical.open_form_response(sent.id)
    later = clinical.mailbox_form(client_id, "intake", "https://relay.test")
    clinical.withdraw_form(later.id)

    names = {client_id: NAME}
    told = {r.action: sentence(r, names, lambda d: d.date().isoformat())
            for r in practice.view_audit()}  # fmt: skip
    assert told["diagnosis.added"] == "You added a diagnosis for Oluwaseun B."
    assert told["diagnosis.updated"] == "You changed a diagnosis of Oluwaseun B. (status)"
    assert told["treatment_plan.signed"] == "You signed Oluwaseun B.'s treatment plan (version 1)"
    assert told["treatment_plan.revised"] == (
        "You started a revision of Oluwaseun B.'s treatment plan (version 2)"
    )
    assert told["measure.recorded"] == "You recorded Oluwaseun B.'s PHQ-9, with a flagged answer"
    assert told["measure.printed"] == (
        "You printed Oluwaseun B.'s PHQ-9 with its chart for Dr Lee (Referral)"
    )
    assert told["form.sent"] == "You sent Oluwaseun B. a consent form by link"
    assert told["form.answered"] == "Oluwaseun B. answered a consent form"
    assert told["consent.signed"] == "Oluwaseun B. signed a consent (kept read-only, as signed)"
    assert told["form.withdrawn"] == "You withdrew a form link sent to Oluwaseun B."
    for action, text in told.items():
        if action.split(".")[0] in CLINICAL:
            assert text != humanise(action) and not text.startswith(humanise(action)), action
            assert action in ACTION_LABELS, action
    clinical_actions = [a.value for a in AuditAction if a.value.split(".")[0] in CLINICAL]
    assert all(a in ACTION_LABELS for a in clinical_actions)
