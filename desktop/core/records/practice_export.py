"""Everything the therapist owns, in open formats, so that nobody is locked in to Quietroom:

    clients.csv       every client, archived ones too
    sessions.csv      every session, with the service code and fee it is billed at
    payments.csv      every payment recorded
    audit-log.csv     the whole audit log, with each entry's MAC (as ``quietroom audit export``)
    fhir/<id>.json    one FHIR R4 Bundle per client: details, insurance, sessions, diagnoses,
                      plans, measures, notes (drafts marked preliminary; psychotherapy notes unless
                      left out)
    README.txt        what each file is

into a new folder, or a ZIP file when the target ends in ``.zip``. Audited as
``practice.exported`` with counts."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.records.errors import ExportError
from desktop.core.records.files import write_private
from desktop.core.records.ledger import charges_for, payments_of
from desktop.core.records.record_set import RecordSet
from desktop.core.sessions import sessions_of

README = """\
Quietroom practice export

clients.csv     every client (archived ones too), one line each, with their health insurance
                (insurance_* columns; empty: self-pay)
sessions.csv    every session; times are UTC (ISO 8601); service_code and fee_cents are what the
                session is billed at (empty when it is not billed)
payments.csv    every payment; amounts in cents
audit-log.csv   the audit log; each entry's MAC lets Quietroom verify it was not changed
fhir/<id>.json  one FHIR R4 Bundle (JSON) per client: Patient (pronouns in HL7's
                individual-pronouns extension), Coverage for the client's insurance (and a
                RelatedPerson for a policy holder who is not the client), Encounter for each
                session, Condition for diagnoses, CarePlan, Observation and
                QuestionnaireResponse for measures, DocumentReference for each note (the note's
                text is the attachment; drafts have docStatus "preliminary")

The mapping to FHIR is described in Quietroom's docs/records.md.
"""

CLIENT_COLUMNS = (
    "id", "name", "preferred_name", "date_of_birth", "pronouns", "email", "phone", "address",
    "emergency_contact", "diagnosis_codes", "status", "archived_at", "created_at",
)  # fmt: skip
INSURANCE_COLUMNS = (
    "payer_name", "member_id", "group_number", "relationship", "subscriber_name",
    "subscriber_date_of_birth",
)  # fmt: skip


@dataclass(frozen=True)
class PracticeExport:
    path: Path
    clients: int
    sessions: int
    notes: int
    audit_entries: int


def _csv(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def export_practice(
    vault: Vault,
    to: Path,
    *,
    record_set: Callable[[str], RecordSet],
    bundle_json: Callable[[RecordSet], str],
) -> PracticeExport:
    """Write the export to ``to`` (a new folder, or a ``.zip`` file). ``record_set`` gathers one
    client's set; ``bundle_json`` turns it into FHIR JSON."""
    if to.exists():
        raise ExportError(f"{to} already exists; choose a new name")
    files: dict[str, bytes] = {"README.txt": README.encode("utf-8")}
    clients = vault.query(
        f"SELECT {', '.join('c.' + c for c in CLIENT_COLUMNS)},"  # noqa: S608 (constant SQL)
        f" {', '.join('i.' + c for c in INSURANCE_COLUMNS)}"
        " FROM clients c LEFT JOIN billing_insurance i ON i.client_id = c.id ORDER BY c.seq"
    )
    files["clients.csv"] = _csv(
        CLIENT_COLUMNS + tuple(f"insurance_{c}" for c in INSURANCE_COLUMNS), clients
    )
    session_rows: list[tuple[object, ...]] = []
    payment_rows: list[tuple[object, ...]] = []
    notes = 0
    for client_row in clients:
        client_id = str(client_row[0])
        sessions = list(reversed(sessions_of(vault, client_id)))
        charged = {c.session.id: c for c in charges_for(vault, sessions)}
        for s in sessions:
            charge = charged.get(s.id)
            session_rows.append(
                (
                    s.id, s.client_id, s.starts_at.isoformat(), s.duration_minutes,
                    str(s.modality), str(s.attendance),
                    charge.service_code if charge else "", charge.fee_cents if charge else "",
                )
            )  # fmt: skip
        payment_rows += [
            (p.id, p.client_id, p.session_id or "", p.amount_cents, p.received_on.isoformat(),
             p.method, p.reference)
            for p in payments_of(vault, client_id)
        ]  # fmt: skip
        record = record_set(client_id)
        notes += len(record.notes)
        files[f"fhir/{client_id}.json"] = bundle_json(record).encode("utf-8")
    files["sessions.csv"] = _csv(
        ("id", "client_id", "starts_at", "duration_minutes", "modality", "attendance",
         "service_code", "fee_cents"),
        session_rows,
    )  # fmt: skip
    files["payments.csv"] = _csv(
        ("id", "client_id", "session_id", "amount_cents", "received_on", "method", "reference"),
        payment_rows,
    )
    audit = io.StringIO()
    entries = vault.export_audit(audit, "csv")
    files["audit-log.csv"] = audit.getvalue().encode("utf-8")
    _write(to, files)
    try:
        vault.audit(
            AuditAction.PRACTICE_EXPORTED,
            details={
                "clients": len(clients),
                "sessions": len(session_rows),
                "notes": notes,
                "payments": len(payment_rows),
                "zip": to.suffix.lower() == ".zip",
            },
        )
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(to) if to.is_dir() else to.unlink()
        raise
    return PracticeExport(to, len(clients), len(session_rows), notes, entries)


def _write(to: Path, files: dict[str, bytes]) -> None:
    if to.suffix.lower() == ".zip":
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for name, data in files.items():
                zipped.writestr(f"{to.stem}/{name}", data)
        write_private(to, archive.getvalue())
        return
    try:
        to.mkdir(mode=0o700)
        (to / "fhir").mkdir(mode=0o700)
        for name, data in files.items():
            write_private(to / name, data)
    except BaseException:
        shutil.rmtree(to, ignore_errors=True)
        raise
