"""Diagnoses: ICD-10-CM codes on a client's record, several per client, each with an onset date,
a clinical status and a certainty. A diagnosis is never deleted: one entered by mistake is marked
``entered_in_error`` (kept, and shown struck out), so that what a claim or a letter once said can
always be traced. Every change is audited with the names of the fields it changed.

FHIR mapping (for exports): ``Diagnosis`` is a Condition with category ``encounter-diagnosis``;
``status`` is its clinicalStatus (active, remission, resolved; ``entered_in_error`` is the
verificationStatus entered-in-error), ``certainty`` its verificationStatus (confirmed, provisional,
refuted), ``onset`` onsetDateTime, ``resolved_on`` abatementDateTime, ``code``/``description``/
``code_set`` the coding (system http://hl7.org/fhir/sid/icd-10-cm), ``comment`` a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Transaction, Vault
from desktop.core.clients import load_client, require_active
from desktop.core.clinical.codeset import CODE_SET, CODE_SET_VERSION, CodeEntry
from desktop.core.clinical.errors import DiagnosisNotFoundError
from desktop.core.errors import InvalidFieldError
from desktop.core.stamps import date_from_text, date_to_text, from_iso, new_id, to_iso

MAX_COMMENT = 2000


class DiagnosisStatus(StrEnum):
    ACTIVE = "active"
    IN_REMISSION = "in_remission"
    RESOLVED = "resolved"
    ENTERED_IN_ERROR = "entered_in_error"  # kept, never counted or searched


class Certainty(StrEnum):
    CONFIRMED = "confirmed"
    PROVISIONAL = "provisional"  # a working diagnosis, to be confirmed
    RULED_OUT = "ruled_out"


@dataclass(frozen=True)
class DiagnosisDetails:
    """What the therapist chooses for a diagnosis (the form's fields); the code is checked against
    the code set by the caller (``ClinicalRecords``) before it gets here."""

    code: str
    onset: date | None = None
    status: DiagnosisStatus = DiagnosisStatus.ACTIVE
    certainty: Certainty = Certainty.CONFIRMED
    primary: bool = False
    resolved_on: date | None = None
    comment: str = ""

    def check(self) -> DiagnosisDetails:
        try:
            DiagnosisStatus(self.status)
            Certainty(self.certainty)
        except ValueError as exc:
            raise InvalidFieldError(str(exc)) from None
        if len(self.comment) > MAX_COMMENT:
            raise InvalidFieldError(f"the comment is longer than {MAX_COMMENT} characters")
        if (
            self.resolved_on is not None
            and self.onset is not None
            and self.resolved_on < self.onset
        ):
            raise InvalidFieldError("the resolution date is before the onset")
        if self.resolved_on is not None and self.status is DiagnosisStatus.ACTIVE:
            raise InvalidFieldError("an active diagnosis has no resolution date")
        return self


@dataclass(frozen=True)
class Diagnosis:
    id: str
    client_id: str
    code: str  # with its dot, e.g. F41.1
    description: str  # the code set's words, as when the diagnosis was entered
    code_set: str
    onset: date | None
    resolved_on: date | None
    status: DiagnosisStatus
    certainty: Certainty
    primary: bool
    comment: str
    created_at: datetime
    updated_at: datetime

    @property
    def counts(self) -> bool:
        """Part of the client's current picture (not resolved, ruled out or an error)."""
        return (
            self.status
            in (
                DiagnosisStatus.ACTIVE,
                DiagnosisStatus.IN_REMISSION,
            )
            and self.certainty is not Certainty.RULED_OUT
        )


_COLUMNS = (
    "id, client_id, code, description, code_set, onset, resolved_on, status, certainty,"
    " is_primary, comment, created_at, updated_at"
)


def _from_row(row: tuple[Any, ...]) -> Diagnosis:
    return Diagnosis(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        date_from_text(row[5]),
        date_from_text(row[6]),
        DiagnosisStatus(row[7]),
        Certainty(row[8]),
        bool(row[9]),
        row[10],
        from_iso(row[11]),
        from_iso(row[12]),
    )


def diagnoses_of(vault: Vault, client_id: str) -> tuple[Diagnosis, ...]:
    """A client's diagnoses: primary first, then the rest in the order entered (unaudited helper;
    callers audit)."""
    rows = vault.query(
        f"SELECT {_COLUMNS} FROM diagnoses WHERE client_id = ?"  # noqa: S608 (constant SQL)
        " ORDER BY status = 'entered_in_error', is_primary DESC, created_at, seq",
        (client_id,),
    )
    return tuple(_from_row(r) for r in rows)


def load_diagnosis(vault: Vault, diagnosis_id: str) -> Diagnosis:
    rows = vault.query(f"SELECT {_COLUMNS} FROM diagnoses WHERE id = ?", (diagnosis_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise DiagnosisNotFoundError(f"no diagnosis {diagnosis_id}")
    return _from_row(rows[0])


def _clear_other_primary(tx: Transaction, client_id: str, keep: str) -> None:
    tx.execute(
        "UPDATE diagnoses SET is_primary = 0 WHERE client_id = ? AND id != ? AND is_primary = 1",
        (client_id, keep),
    )


def add_diagnosis(
    vault: Vault, client_id: str, entry: CodeEntry, details: DiagnosisDetails
) -> Diagnosis:
    details = details.check()
    require_active(vault, client_id)
    diagnosis_id = new_id()
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        tx.execute(
            f"INSERT INTO diagnoses({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 (constant SQL)
            (diagnosis_id, client_id, entry.code, entry.description,
             f"{CODE_SET} {CODE_SET_VERSION}", date_to_text(details.onset),
             date_to_text(details.resolved_on), str(details.status), str(details.certainty),
             int(details.primary), details.comment.strip(), now, now),
        )  # fmt: skip
        if details.primary:
            _clear_other_primary(tx, client_id, diagnosis_id)
        tx.audit(
            AuditAction.DIAGNOSIS_ADDED,
            object_type="diagnosis",
            object_id=diagnosis_id,
            details={
                "client_id": client_id,
                "status": str(details.status),
                "certainty": str(details.certainty),
            },
        )
    return load_diagnosis(vault, diagnosis_id)


def update_diagnosis(
    vault: Vault,
    diagnosis_id: str,
    details: DiagnosisDetails,
    entry: Callable[[str], CodeEntry],
) -> Diagnosis:
    """Change a diagnosis; ``entry`` looks a changed code up in the code set. Audited with the
    names of the changed fields."""
    details = details.check()
    old = load_diagnosis(vault, diagnosis_id)
    require_active(vault, old.client_id)
    code, description, code_set = old.code, old.description, old.code_set
    if details.code.replace(".", "").upper() != old.code.replace(".", "").upper():
        found = entry(details.code)
        code, description = found.code, found.description
        code_set = f"{CODE_SET} {CODE_SET_VERSION}"
    new = replace(
        old,
        code=code,
        description=description,
        code_set=code_set,
        onset=details.onset,
        resolved_on=details.resolved_on,
        status=DiagnosisStatus(details.status),
        certainty=Certainty(details.certainty),
        primary=details.primary,
        comment=details.comment.strip(),
    )
    changed = [
        f.name
        for f in fields(Diagnosis)
        if f.name not in ("updated_at", "description", "code_set")
        and getattr(old, f.name) != getattr(new, f.name)
    ]
    if not changed:
        return old
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE diagnoses SET code = ?, description = ?, code_set = ?, onset = ?,"
            " resolved_on = ?, status = ?, certainty = ?, is_primary = ?, comment = ?,"
            " updated_at = ? WHERE id = ?",
            (new.code, new.description, new.code_set, date_to_text(new.onset),
             date_to_text(new.resolved_on), str(new.status), str(new.certainty),
             int(new.primary), new.comment, to_iso(vault.options.clock()), diagnosis_id),
        )  # fmt: skip
        if new.primary:
            _clear_other_primary(tx, old.client_id, diagnosis_id)
        tx.audit(
            AuditAction.DIAGNOSIS_UPDATED,
            object_type="diagnosis",
            object_id=diagnosis_id,
            details={"client_id": old.client_id, "fields": ",".join(changed)},
        )
    return load_diagnosis(vault, diagnosis_id)


def list_diagnoses(vault: Vault, client_id: str) -> tuple[Diagnosis, ...]:
    """A client's diagnoses, audited as ``diagnosis.listed``."""
    load_client(vault, client_id)
    found = diagnoses_of(vault, client_id)
    vault.audit(
        AuditAction.DIAGNOSES_LISTED,
        object_type="client",
        object_id=client_id,
        details={"count": len(found)},
    )
    return found
