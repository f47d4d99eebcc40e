"""The designated record set of one client, gathered once for an export: details, sessions,
signed notes and their linked entries, diagnoses, treatment plans, measures, and the client's
health insurance (billing records are part of the designated record set).

Psychotherapy notes are part of it only when the therapist includes them for this one export
(HIPAA §164.524 excludes them from a client's right of access). Drafts are left out: a draft is
not yet part of the record. Reading here is unaudited; the export that uses it writes the
disclosure entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crypto.vault import Vault
from desktop.core.clients import Client, load_client
from desktop.core.notes import Compartment, Note, NoteStatus, read_note, summaries
from desktop.core.records.clinical_sources import (
    ClinicalSource,
    Diagnosis,
    MeasureResult,
    TreatmentPlan,
)
from desktop.core.records.insurance import Insurance, load_insurance
from desktop.core.sessions import Session, sessions_of


@dataclass(frozen=True)
class RecordSet:
    client: Client
    sessions: tuple[Session, ...]  # oldest first
    notes: tuple[Note, ...]  # signed notes and linked entries (drafts too if asked), oldest first
    diagnoses: tuple[Diagnosis, ...]
    treatment_plans: tuple[TreatmentPlan, ...]
    measures: tuple[MeasureResult, ...]
    include_psychotherapy: bool
    therapist: str  # how the therapist signs ("Name, credentials")
    service_codes: dict[str, str]  # session id -> CPT code billed for it (may be partial)
    generated_at: datetime
    insurance: Insurance | None = None  # None: the client pays for themselves

    @property
    def psychotherapy_note_count(self) -> int:
        return sum(1 for n in self.notes if n.compartment is Compartment.PSYCHOTHERAPY)

    @property
    def progress_note_count(self) -> int:
        return len(self.notes) - self.psychotherapy_note_count

    def included(self) -> dict[str, int | bool]:
        """What the set holds, as counts: for the disclosure's audit entry and its receipt."""
        return {
            "sessions": len(self.sessions),
            "progress_notes": self.progress_note_count,
            "psychotherapy_notes": self.psychotherapy_note_count,
            "diagnoses": len(self.diagnoses),
            "treatment_plans": len(self.treatment_plans),
            "measures": len(self.measures),
            "include_psychotherapy": self.include_psychotherapy,
        }


def gather(
    vault: Vault,
    client_id: str,
    *,
    include_psychotherapy: bool,
    clinical: ClinicalSource,
    therapist: str,
    service_codes: dict[str, str] | None = None,
    include_drafts: bool = False,
) -> RecordSet:
    """``include_drafts`` is for the therapist's own whole-practice export only: a client's copy
    holds what was signed."""
    client = load_client(vault, client_id)
    compartments = [Compartment.PROGRESS]
    if include_psychotherapy:
        compartments.append(Compartment.PSYCHOTHERAPY)
    notes = [
        read_note(vault, summary.id)
        for compartment in compartments
        for summary in summaries(vault, client_id, compartment)
        if include_drafts or summary.status is NoteStatus.SIGNED
    ]
    notes.sort(key=lambda n: (n.signed_at or n.created_at, n.id))
    return RecordSet(
        client=client,
        sessions=tuple(reversed(sessions_of(vault, client_id))),
        notes=tuple(notes),
        diagnoses=clinical.diagnoses(vault, client_id),
        treatment_plans=clinical.treatment_plans(vault, client_id),
        measures=clinical.measures(vault, client_id),
        include_psychotherapy=include_psychotherapy,
        therapist=therapist,
        service_codes=dict(service_codes or {}),
        generated_at=vault.options.clock(),
        insurance=load_insurance(vault, client_id),
    )
