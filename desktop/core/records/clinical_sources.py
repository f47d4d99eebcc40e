"""What the records package reads from the clinical side, through one small interface.

Diagnoses, treatment plans and measures belong to the clinical feature. The exports (FHIR,
PDF) and the superbill only need a read-only view of them, given here as plain dataclasses and a
``ClinicalSource`` protocol. Until a richer source is plugged in, ``FreeTextClinicalSource``
reads the ICD-10 codes typed into the client's "Diagnosis codes" field and has no plans or
measures."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from crypto.vault import Vault
from desktop.core.clients import load_client

# ICD-10-CM: a letter, two characters, then optionally a dot and up to four more.
ICD10_CODE = re.compile(r"\b([A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Diagnosis:
    code: str  # ICD-10-CM, e.g. "F41.1"
    description: str = ""  # e.g. "Generalized anxiety disorder"; "" when unknown
    recorded_on: date | None = None
    clinical_status: str = "active"  # FHIR condition-clinical: active, remission, resolved
    verification: str = "confirmed"  # condition-ver-status: confirmed, provisional, refuted,
    # entered-in-error
    id: str = ""  # the clinical record's id ("" for codes read from free text)
    onset: date | None = None
    abatement: date | None = None
    primary: bool = False
    note: str = ""

    @property
    def active(self) -> bool:
        """Part of the client's current picture (what a superbill lists)."""
        return self.clinical_status in ("active", "remission") and self.verification in (
            "confirmed",
            "provisional",
        )


@dataclass(frozen=True)
class TreatmentPlan:
    id: str
    title: str
    status: str  # "active", "completed", "revoked" or "draft" (FHIR CarePlan.status codes)
    created_on: date
    goals: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()  # ids of the diagnoses (Diagnosis.id) it addresses
    replaces: str | None = None  # the plan version this one revised
    start_on: date | None = None
    review_on: date | None = None
    author: str = ""


@dataclass(frozen=True)
class MeasureAnswer:
    link_id: str  # the item's number or key, e.g. "1"
    question: str
    value: int


@dataclass(frozen=True)
class MeasureResult:
    id: str
    instrument: str  # e.g. "PHQ-9"
    loinc: str  # the LOINC code of the total score ("" when there is none, e.g. a custom one)
    score: int
    taken_at: datetime
    answers: tuple[MeasureAnswer, ...] = ()


class ClinicalSource(Protocol):
    """Read-only, unaudited access to a client's clinical data (callers audit the export)."""

    def diagnoses(self, vault: Vault, client_id: str) -> tuple[Diagnosis, ...]: ...

    def treatment_plans(self, vault: Vault, client_id: str) -> tuple[TreatmentPlan, ...]: ...

    def measures(self, vault: Vault, client_id: str) -> tuple[MeasureResult, ...]: ...


def parse_diagnosis_codes(text: str) -> tuple[str, ...]:
    """The ICD-10 codes in free text, upper-cased, in order, each once."""
    seen: dict[str, None] = {}
    for match in ICD10_CODE.finditer(text):
        seen.setdefault(match.group(1).upper(), None)
    return tuple(seen)


class FreeTextClinicalSource:
    """Diagnoses from the client's "Diagnosis codes" field; no plans or measures."""

    def diagnoses(self, vault: Vault, client_id: str) -> tuple[Diagnosis, ...]:
        text = load_client(vault, client_id).details.diagnosis_codes
        return tuple(Diagnosis(code) for code in parse_diagnosis_codes(text))

    def treatment_plans(self, vault: Vault, client_id: str) -> tuple[TreatmentPlan, ...]:
        return ()

    def measures(self, vault: Vault, client_id: str) -> tuple[MeasureResult, ...]:
        return ()
