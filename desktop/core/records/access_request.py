"""A client's copy of their record (HIPAA §164.524, GDPR Articles 15 and 20): the designated
record set as a PDF, a FHIR R4 Bundle, or both, optionally as one passphrase-protected PDF with
the Bundle attached inside. Every export
is a disclosure, audited with its recipient, purpose and what it held."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.disclosure import MAX_DISCLOSURE_TEXT
from desktop.core.errors import InvalidFieldError
from desktop.core.records.errors import ExportError
from desktop.core.records.files import write_private
from desktop.core.records.record_set import RecordSet

if TYPE_CHECKING:
    from desktop.core.records.formats import Formats


class ExportFormat(StrEnum):
    FHIR = "fhir"
    PDF = "pdf"


FILE_NAMES = {ExportFormat.PDF: "record.pdf", ExportFormat.FHIR: "record.fhir.json"}


@dataclass(frozen=True)
class ExportRequest:
    formats: frozenset[ExportFormat]
    recipient: str
    purpose: str
    include_psychotherapy: bool = False
    # set: one passphrase-protected PDF (package.py), the FHIR Bundle attached inside it
    package_passphrase: str | None = None


@dataclass(frozen=True)
class ExportResult:
    paths: tuple[Path, ...]
    included: dict[str, int | bool]
    encrypted: bool


def check_text(text: str, what: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_DISCLOSURE_TEXT:
        raise InvalidFieldError(f"give the {what} (1-{MAX_DISCLOSURE_TEXT} characters)")
    return text


def targets(to: Path, formats: Collection[ExportFormat], encrypted: bool) -> dict[str, Path]:
    """Where each part goes: one protected PDF; one plain file at ``to``; or, for both formats,
    ``to``'s name with ``.pdf`` and ``.fhir.json``."""
    if encrypted:
        return {"package": to if to.suffix == ".pdf" else to.with_name(to.name + ".pdf")}
    if len(formats) == 1:
        return {str(next(iter(formats))): to}
    stem = to.name.removesuffix(".json").removesuffix(".fhir").removesuffix(".pdf")
    return {
        ExportFormat.PDF: to.with_name(f"{stem}.pdf"),
        ExportFormat.FHIR: to.with_name(f"{stem}.fhir.json"),
    }


def export_record(
    vault: Vault,
    record: RecordSet,
    request: ExportRequest,
    to: Path,
    *,
    npi: str = "",
    formats: Formats | None = None,
) -> ExportResult:
    """Build, validate, write, then audit. Nothing is written when building fails; written files
    are removed again if the audit entry cannot be recorded."""
    # The FHIR models and the PDF writer load on first use, not with the app or every command.
    from desktop.core.records.fhir_bundle import build_bundle, bundle_json
    from desktop.core.records.package import write_protected_pdf
    from desktop.core.records.record_pdf import record_pdf

    if not request.formats:
        raise ExportError("choose PDF, FHIR or both")
    recipient = check_text(request.recipient, "recipient")
    purpose = check_text(request.purpose, "purpose")
    contents: dict[str, bytes] = {}
    if ExportFormat.FHIR in request.formats:
        contents[ExportFormat.FHIR] = bundle_json(build_bundle(record, npi=npi)).encode("utf-8")
    encrypted = request.package_passphrase is not None
    if ExportFormat.PDF in request.formats or encrypted:  # a protected copy is always a PDF
        contents[ExportFormat.PDF] = record_pdf(
            record, recipient=recipient, purpose=purpose, formats=formats
        )
    where = targets(to, request.formats, encrypted)
    written: list[Path] = []
    try:
        if encrypted:
            assert request.package_passphrase is not None
            fhir = contents.get(ExportFormat.FHIR)
            attached = {FILE_NAMES[ExportFormat.FHIR]: fhir} if fhir is not None else {}
            write_protected_pdf(
                where["package"], contents[ExportFormat.PDF], attached, request.package_passphrase
            )
            written.append(where["package"])
        else:
            for key, data in contents.items():
                write_private(where[key], data)
                written.append(where[key])
        included = record.included()
        vault.audit(
            AuditAction.RECORD_EXPORTED,
            object_type="client",
            object_id=record.client.id,
            details={
                **included,
                "formats": ",".join(sorted(request.formats)),
                "recipient": recipient,
                "purpose": purpose,
                "encrypted": encrypted,
            },
        )
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    return ExportResult(tuple(written), included, encrypted)
