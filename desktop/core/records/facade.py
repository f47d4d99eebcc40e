"""``Practice.records``: the records package's door for the UI and the command line. Thin: each
method hands the open vault to the module that owns the work (which audits it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.vault import Vault
from desktop.core.records import importer, ledger
from desktop.core.records.access_request import ExportRequest, ExportResult, export_record
from desktop.core.records.billing_profile import BillingProfile, load_profile, save_profile
from desktop.core.records.clinical_adapter import ClinicalRecordSource
from desktop.core.records.clinical_sources import ClinicalSource
from desktop.core.records.import_layouts import LAYOUT_BY_KEY, CsvTable, ImportKind, read_csv
from desktop.core.records.importer import ImportPlan, ImportReport
from desktop.core.records.insurance import Insurance, load_insurance, save_insurance
from desktop.core.records.ledger import Charge, Ledger, Payment, Service
from desktop.core.records.practice_export import PracticeExport, export_practice
from desktop.core.records.record_set import RecordSet, gather
from desktop.core.records.superbill import build_superbill, export_superbill
from desktop.core.sessions import sessions_of

if TYPE_CHECKING:
    from desktop.core.records.formats import Formats


class Records:
    def __init__(self, vault: Vault, author: Callable[[], str]) -> None:
        self._vault = vault
        self._author = author
        # Diagnoses and treatment plans from the clinical record (desktop.core.clinical); a test
        # or a later feature (measures) can put another source here.
        self.clinical: ClinicalSource = ClinicalRecordSource()

    # -- access requests --------------------------------------------------------------------
    def record_set(
        self, client_id: str, *, include_psychotherapy: bool = False, include_drafts: bool = False
    ) -> RecordSet:
        """The designated record set (unaudited: for building an export, not for display)."""
        return gather(
            self._vault,
            client_id,
            include_psychotherapy=include_psychotherapy,
            include_drafts=include_drafts,
            clinical=self.clinical,
            therapist=self._author(),
            service_codes={
                c.session.id: c.service_code
                for c in ledger.charges_for(self._vault, list(sessions_of(self._vault, client_id)))
            },
        )

    def export_record(
        self,
        client_id: str,
        request: ExportRequest,
        to: Path,
        *,
        formats: Formats | None = None,
    ) -> ExportResult:
        """Write the client's copy (PDF, FHIR or both, or one protected PDF); audited as a
        disclosure (``record.exported``)."""
        record = self.record_set(client_id, include_psychotherapy=request.include_psychotherapy)
        return export_record(
            self._vault,
            record,
            request,
            to,
            npi=self.billing_profile().npi,
            formats=formats,
        )

    @staticmethod
    def read_protected_copy(path: Path, passphrase: str) -> tuple[int, dict[str, bytes]]:
        """What the client's PDF reader sees in a protected copy: its page count and attached
        files (no vault needed: this is the recipient's side)."""
        from desktop.core.records.package import read_protected_pdf

        return read_protected_pdf(path, passphrase)

    # -- the whole practice -------------------------------------------------------------------
    def export_practice(self, to: Path, *, include_psychotherapy: bool = True) -> PracticeExport:
        """Everything, in open formats, into a new folder or a ``.zip``; audited."""
        from desktop.core.records.fhir_bundle import build_bundle, bundle_json

        npi = self.billing_profile().npi
        return export_practice(
            self._vault,
            to,
            record_set=lambda client_id: self.record_set(
                client_id, include_psychotherapy=include_psychotherapy, include_drafts=True
            ),
            bundle_json=lambda record: bundle_json(build_bundle(record, npi=npi)),
        )

    # -- switching in: CSV import ------------------------------------------------------------
    @staticmethod
    def read_import_file(path: Path) -> CsvTable:
        """The file as a table (nothing is read into the vault, nothing audited yet)."""
        return read_csv(path)

    def check_import(
        self,
        table: CsvTable,
        kind: ImportKind,
        layout_key: str,
        mapping: Mapping[str, tuple[str, ...]] | None = None,
        *,
        zone: tzinfo | None = None,
    ) -> ImportPlan:
        """The preview and dry run: every row with what would happen, refused rows with why.
        Writes nothing but its ``import.checked`` audit entry."""
        layout = LAYOUT_BY_KEY[layout_key]
        plan = importer.plan_import(
            self._vault,
            table,
            kind,
            layout,
            mapping or layout.mapping_for(kind, table.columns),
            zone=zone,
        )
        importer.audit_dry_run(self._vault, plan)
        return plan

    def run_import(
        self,
        table: CsvTable,
        kind: ImportKind,
        layout_key: str,
        mapping: Mapping[str, tuple[str, ...]] | None = None,
        *,
        zone: tzinfo | None = None,
    ) -> tuple[ImportPlan, ImportReport]:
        """Plan afresh (the vault may have changed since the dry run), then import; audited."""
        layout = LAYOUT_BY_KEY[layout_key]
        plan = importer.plan_import(
            self._vault,
            table,
            kind,
            layout,
            mapping or layout.mapping_for(kind, table.columns),
            zone=zone,
        )
        return plan, importer.apply_import(self._vault, plan)

    # -- billing ----------------------------------------------------------------------------
    def billing_profile(self) -> BillingProfile:
        return load_profile(self._vault)

    def save_billing_profile(self, profile: BillingProfile) -> BillingProfile:
        """Checked (NPI check digit, tax id form); audited by field name."""
        return save_profile(self._vault, profile)

    @staticmethod
    def services() -> tuple[Service, ...]:
        return ledger.SERVICES

    def fee_schedule(self) -> dict[str, int]:
        return ledger.fee_schedule(self._vault)

    def set_fee(self, service_code: str, fee_cents: int) -> None:
        ledger.set_fee(self._vault, service_code, fee_cents)

    def set_charge(
        self, session_id: str, service_code: str, fee_cents: int | None = None
    ) -> Charge:
        return ledger.set_charge(self._vault, session_id, service_code, fee_cents)

    def record_payment(
        self,
        client_id: str,
        amount_cents: int,
        received_on: date,
        method: str,
        *,
        session_id: str | None = None,
        reference: str = "",
    ) -> Payment:
        return ledger.record_payment(
            self._vault,
            client_id,
            amount_cents,
            received_on,
            method,
            session_id=session_id,
            reference=reference,
        )

    def delete_payment(self, payment_id: str) -> None:
        ledger.delete_payment(self._vault, payment_id)

    def ledger(self, client_id: str) -> Ledger:
        """Charges, payments and balance; audited (``billing.ledger_viewed``)."""
        return ledger.view_ledger(self._vault, client_id)

    def client_billing(self, client_id: str) -> tuple[Ledger, Insurance | None]:
        """What the Billing dialog shows: the ledger and the client's insurance (None:
        self-pay), under one ``billing.ledger_viewed`` entry."""
        return ledger.view_ledger(self._vault, client_id), load_insurance(self._vault, client_id)

    def save_insurance(self, client_id: str, insurance: Insurance | None) -> Insurance | None:
        """Set the client's insurance, or remove it (None: self-pay); checked and audited
        (``billing.insurance_changed``, field names only)."""
        return save_insurance(self._vault, client_id, insurance)

    def write_superbill(
        self,
        client_id: str,
        to: Path,
        *,
        recipient: str = "The client",
        purpose: str = "Insurance claim",
        session_id: str | None = None,
        first_day: date | None = None,
        last_day: date | None = None,
        formats: Formats | None = None,
    ) -> Path:
        """A superbill PDF for one session or a period; audited as a disclosure."""
        bill = build_superbill(
            self._vault,
            client_id,
            profile=self.billing_profile(),
            clinical=self.clinical,
            first_day=first_day,
            last_day=last_day,
            session_id=session_id,
        )
        return export_superbill(
            self._vault, bill, to, recipient=recipient, purpose=purpose, formats=formats
        )
