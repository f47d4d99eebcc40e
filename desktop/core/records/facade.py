"""``Practice.records``: the records package's door for the UI and the command line. Thin: each
method hands the open vault to the module that owns the work (which audits it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.kdf import RFC9106_LOW_MEMORY, KdfParams
from crypto.vault import Vault
from desktop.core.records.access_request import ExportRequest, ExportResult, export_record
from desktop.core.records.clinical_sources import ClinicalSource, FreeTextClinicalSource
from desktop.core.records.record_set import RecordSet, gather

if TYPE_CHECKING:
    from desktop.core.records.pdf_render import Formats


class Records:
    def __init__(self, vault: Vault, author: Callable[[], str]) -> None:
        self._vault = vault
        self._author = author
        # The clinical feature plugs its own source in here (diagnoses, plans, measures).
        self.clinical: ClinicalSource = FreeTextClinicalSource()
        self.package_kdf: KdfParams = RFC9106_LOW_MEMORY  # tests use a cheap profile

    # -- access requests --------------------------------------------------------------------
    def record_set(self, client_id: str, *, include_psychotherapy: bool = False) -> RecordSet:
        """The designated record set (unaudited: for building an export, not for display)."""
        return gather(
            self._vault,
            client_id,
            include_psychotherapy=include_psychotherapy,
            clinical=self.clinical,
            therapist=self._author(),
        )

    def export_record(
        self,
        client_id: str,
        request: ExportRequest,
        to: Path,
        *,
        formats: Formats | None = None,
    ) -> ExportResult:
        """Write the client's copy (PDF, FHIR or both, maybe encrypted); audited as a
        disclosure (``record.exported``)."""
        record = self.record_set(client_id, include_psychotherapy=request.include_psychotherapy)
        return export_record(
            self._vault, record, request, to, formats=formats, package_kdf=self.package_kdf
        )

    @staticmethod
    def open_package(path: Path, passphrase: str, folder: Path) -> list[Path]:
        """Unpack an encrypted record package (no vault needed: this is the recipient's side)."""
        from desktop.core.records.package import unpack_to

        return unpack_to(path, passphrase, folder)
