"""Diagnoses and treatment plans from the clinical record in a client's copy: Conditions with
their status and certainty (an entry in error without a clinical status), CarePlans for every
signed version (the one in effect active, earlier ones revoked and replaced), addressing the
diagnoses; the superbill lists current diagnoses only, primary first."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from pypdf import PdfReader

from desktop.core.clinical.diagnoses import Certainty, DiagnosisDetails, DiagnosisStatus
from desktop.core.clinical.plans import Goal, Intervention, Objective, PlanContent, Problem
from desktop.core.practice import Practice
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.billing_profile import BillingProfile
from desktop.core.records.fhir_bundle import parse_bundle

from .conftest import RichClient


def test_clinical_diagnoses_and_plans_in_the_copy_and_the_superbill(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    clinical = practice.clinical
    gad = clinical.add_diagnosis(rich_client.id, DiagnosisDetails("F41.1", primary=False))
    mdd = clinical.add_diagnosis(
        rich_client.id,
        DiagnosisDetails("F33.1", onset=date(2024, 5, 1), primary=True, comment="Since 2024"),
    )
    wrong = clinical.add_diagnosis(rich_client.id, DiagnosisDetails("F40.10"))
    clinical.update_diagnosis(
        wrong.id, DiagnosisDetails("F40.10", status=DiagnosisStatus.ENTERED_IN_ERROR)
    )
    ruled_out = clinical.add_diagnosis(
        rich_client.id, DiagnosisDetails("F43.10", certainty=Certainty.RULED_OUT)
    )
    plan = clinical.start_plan(rich_client.id)
    start = plan.content.start_on or date(2026, 1, 5)
    content = PlanContent(
        problems=(
            Problem(
                "Low mood most days",
                diagnosis_ids=(mdd.id,),
                goals=(
                    Goal(
                        "Back to work three days a week",
                        measure="PHQ-9 below 10 twice in a row",
                        target_on=start + timedelta(days=84),
                        objectives=(Objective("Daily walk", start + timedelta(days=21)),),
                        interventions=(Intervention("Behavioural activation", "weekly"),),
                    ),
                ),
            ),
        ),
        start_on=start,
        review_on=start + timedelta(days=90),
    )
    clinical.save_plan(plan.id, content)
    first = clinical.sign_plan(plan.id)
    second = clinical.revise_plan(first.id, "Added sleep goal")
    clinical.save_plan(second.id, replace(content, review_on=start + timedelta(days=60)))
    clinical.sign_plan(second.id)
    draft = clinical.revise_plan(second.id, "Not finished")  # drafts stay out

    target = tmp_path / "copy.json"
    practice.records.export_record(
        rich_client.id,
        ExportRequest(frozenset({ExportFormat.FHIR}), "The client", "Access request"),
        target,
    )
    bundle = parse_bundle(target.read_text())
    by_id = {e.resource.id: e.resource for e in bundle.entry}
    urls = {e.fullUrl for e in bundle.entry}
    conditions = [r for r in by_id.values() if r.get_resource_type() == "Condition"]
    assert sorted(c.code.coding[0].code for c in conditions) == [
        "F33.1", "F40.10", "F41.1", "F43.10"
    ]  # fmt: skip
    assert by_id[mdd.id].code.coding[0].display  # the code set's words
    assert str(by_id[mdd.id].onsetDateTime) == "2024-05-01"
    assert by_id[mdd.id].note[0].text == "Since 2024"
    assert by_id[wrong.id].clinicalStatus is None
    assert by_id[wrong.id].verificationStatus.coding[0].code == "entered-in-error"
    assert by_id[ruled_out.id].verificationStatus.coding[0].code == "refuted"
    assert by_id[gad.id].clinicalStatus.coding[0].code == "active"

    plans = [r for r in by_id.values() if r.get_resource_type() == "CarePlan"]
    assert draft.id not in by_id and len(plans) == 2
    assert by_id[second.id].status == "active" and by_id[first.id].status == "revoked"
    assert by_id[second.id].replaces[0].reference in urls
    assert by_id[second.id].addresses[0].reference in urls
    assert by_id[second.id].addresses[0].reference == next(
        e.fullUrl for e in bundle.entry if e.resource.id == mdd.id
    )
    assert by_id[second.id].activity[0].detail.description == "Behavioural activation (weekly)"
    texts = json.dumps([n.text for n in by_id[second.id].note])
    assert "Low mood most days" in texts and "PHQ-9 below 10" in texts

    practice.records.save_billing_profile(
        BillingProfile(name="Dr T", npi="1234567893", tax_id="12-3456789", address="1 St")
    )
    bill = tmp_path / "bill.pdf"
    practice.records.write_superbill(
        rich_client.id, bill, first_day=date(2025, 11, 1), last_day=date(2025, 12, 31)
    )
    text = " ".join(p.extract_text() or "" for p in PdfReader(bill).pages)
    assert text.index("F33.1") < text.index("F41.1")  # the primary diagnosis is pointer A
    assert "F40.10" not in text and "F43.10" not in text  # in error, ruled out
