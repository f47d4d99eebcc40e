"""The clinical feature (``desktop.core.clinical``) as the records package's ``ClinicalSource``:
its ICD-10-CM diagnoses and its signed treatment-plan versions, read with its unaudited helpers
(the export that uses them writes the disclosure entry). A client with no diagnosis in the
clinical record falls back to the codes typed in the "Diagnosis codes" field (clients imported
from another suite, or entered before the clinical record existed)."""

from __future__ import annotations

from crypto.vault import Vault
from desktop.core.clinical import diagnoses as clinical_diagnoses
from desktop.core.clinical import plans as clinical_plans
from desktop.core.records.clinical_sources import (
    Diagnosis,
    FreeTextClinicalSource,
    MeasureResult,
    TreatmentPlan,
)

_CLINICAL_STATUS = {
    clinical_diagnoses.DiagnosisStatus.ACTIVE: "active",
    clinical_diagnoses.DiagnosisStatus.IN_REMISSION: "remission",
    clinical_diagnoses.DiagnosisStatus.RESOLVED: "resolved",
    clinical_diagnoses.DiagnosisStatus.ENTERED_IN_ERROR: "active",  # not shown (see below)
}
_VERIFICATION = {
    clinical_diagnoses.Certainty.CONFIRMED: "confirmed",
    clinical_diagnoses.Certainty.PROVISIONAL: "provisional",
    clinical_diagnoses.Certainty.RULED_OUT: "refuted",
}


def diagnosis_from_clinical(d: clinical_diagnoses.Diagnosis) -> Diagnosis:
    in_error = d.status is clinical_diagnoses.DiagnosisStatus.ENTERED_IN_ERROR
    return Diagnosis(
        code=d.code,
        description=d.description,
        recorded_on=d.created_at.date(),
        clinical_status=_CLINICAL_STATUS[d.status],
        verification="entered-in-error" if in_error else _VERIFICATION[d.certainty],
        id=d.id,
        onset=d.onset,
        abatement=d.resolved_on,
        primary=d.primary,
        note=d.comment,
    )


def _goal_text(goal: clinical_plans.Goal) -> str:
    parts = [goal.text]
    if goal.measure:
        parts.append(f"measured by: {goal.measure}")
    if goal.target_on:
        parts.append(f"by {goal.target_on.isoformat()}")
    parts.append(str(goal.status).replace("_", " "))
    return "; ".join(parts)


def plan_from_clinical(plan: clinical_plans.TreatmentPlan, *, in_effect: bool) -> TreatmentPlan:
    content = plan.content
    interventions = tuple(
        i.text + (f" ({i.frequency})" if i.frequency else "")
        for g in content.goals
        for i in g.interventions
    )
    objectives = tuple(f"Objective: {o.text}" for g in content.goals for o in g.objectives)
    return TreatmentPlan(
        id=plan.id,
        title=f"Treatment plan, version {plan.version}",
        status="active" if in_effect else "revoked",
        created_on=(plan.signed_at or plan.created_at).date(),
        goals=tuple(_goal_text(g) for g in content.goals) + objectives,
        interventions=interventions,
        problems=tuple(p.text for p in content.problems),
        addresses=tuple(dict.fromkeys(d for p in content.problems for d in p.diagnosis_ids)),
        replaces=plan.revises,
        start_on=content.start_on,
        review_on=content.review_on,
        author=plan.author,
    )


class ClinicalRecordSource:
    def __init__(self) -> None:
        self._fallback = FreeTextClinicalSource()

    def diagnoses(self, vault: Vault, client_id: str) -> tuple[Diagnosis, ...]:
        found = clinical_diagnoses.diagnoses_of(vault, client_id)
        if not found:
            return self._fallback.diagnoses(vault, client_id)
        return tuple(diagnosis_from_clinical(d) for d in found)

    def treatment_plans(self, vault: Vault, client_id: str) -> tuple[TreatmentPlan, ...]:
        """Every signed version, oldest first; the latest is the plan in effect. Drafts are
        not part of the record."""
        history = clinical_plans.versions_of(vault, client_id)
        current = clinical_plans.in_effect(history)
        return tuple(
            plan_from_clinical(
                clinical_plans.read_plan(vault, v.id),
                in_effect=current is not None and v.id == current.id,
            )
            for v in history
            if v.status is clinical_plans.PlanStatus.SIGNED
        )

    def measures(self, vault: Vault, client_id: str) -> tuple[MeasureResult, ...]:
        return ()  # measures are not in the clinical record yet
