"""The client's copy of their record: a FHIR R4 Bundle that validates with fhir.resources and
round-trips, a readable PDF, psychotherapy notes only when chosen, an encrypted package, and a
disclosure entry in the audit log."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from desktop.core.errors import InvalidFieldError
from desktop.core.practice import Practice
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.clinical_sources import (
    Diagnosis,
    MeasureAnswer,
    MeasureResult,
    TreatmentPlan,
)
from desktop.core.records.errors import PackageError
from desktop.core.records.fhir_bundle import parse_bundle

from .conftest import PROGRESS_WORDS, PSYCHOTHERAPY_WORDS, RichClient

FHIR = frozenset({ExportFormat.FHIR})
PDF = frozenset({ExportFormat.PDF})


def _request(formats: frozenset[ExportFormat], **kw: object) -> ExportRequest:
    return ExportRequest(formats, recipient="The client", purpose="Access request", **kw)  # type: ignore[arg-type]


def _note_texts(bundle_json: dict[str, object]) -> list[str]:
    out = []
    for entry in bundle_json["entry"]:  # type: ignore[attr-defined]
        resource = entry["resource"]
        if resource["resourceType"] == "DocumentReference":
            data = resource["content"][0]["attachment"]["data"]
            out.append(base64.b64decode(data).decode("utf-8"))
    return out


def test_fhir_bundle_validates_and_round_trips(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    target = tmp_path / "record.json"
    result = practice.records.export_record(rich_client.id, _request(FHIR), target)
    assert result.paths == (target,)
    text = target.read_text("utf-8")
    bundle = parse_bundle(text)  # validates every resource with the R4 models
    again = parse_bundle(bundle.model_dump_json(exclude_none=True))
    assert again == bundle
    assert json.loads(again.model_dump_json(exclude_none=True)) == json.loads(text)

    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    assert kinds.count("Patient") == 1
    assert kinds.count("Encounter") == 4
    assert kinds.count("Condition") == 2
    # The original, its amendment and its addendum; not the draft, not the psychotherapy note.
    assert kinds.count("DocumentReference") == 3
    by_id = {e.resource.id: e.resource for e in bundle.entry}
    patient = by_id[rich_client.id]
    assert patient.name[0].text == "Zoë Ångström-Novak"
    assert str(patient.birthDate) == "1988-03-14"
    codes = sorted(
        r.code.coding[0].code for r in by_id.values() if r.get_resource_type() == "Condition"
    )
    assert codes == ["F41.1", "Z63.0"]
    assert by_id[rich_client.note].status == "superseded"
    assert by_id[rich_client.amendment].relatesTo[0].code == "replaces"
    assert by_id[rich_client.addendum].relatesTo[0].code == "appends"
    assert by_id[rich_client.sessions[0]].status == "finished"
    assert by_id[rich_client.sessions[2]].status == "cancelled"
    # References resolve inside the Bundle.
    urls = {e.fullUrl for e in bundle.entry}
    assert by_id[rich_client.amendment].subject.reference in urls
    assert by_id[rich_client.amendment].relatesTo[0].target.reference in urls
    texts = _note_texts(json.loads(text))
    assert any(PROGRESS_WORDS in t for t in texts)
    assert not any(PSYCHOTHERAPY_WORDS in t for t in texts)
    assert "Unfinished draft text" not in text


def test_psychotherapy_notes_only_when_chosen(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    default = tmp_path / "default.json"
    practice.records.export_record(rich_client.id, _request(FHIR), default)
    assert PSYCHOTHERAPY_WORDS not in "".join(_note_texts(json.loads(default.read_text())))
    assert rich_client.psychotherapy_note not in default.read_text()

    chosen = tmp_path / "chosen.json"
    practice.records.export_record(
        rich_client.id, _request(FHIR, include_psychotherapy=True), chosen
    )
    bundle = parse_bundle(chosen.read_text())
    private = next(
        e.resource for e in bundle.entry if e.resource.id == rich_client.psychotherapy_note
    )
    assert [c.code for c in private.meta.security] == ["R", "PSYTHPN"]
    assert any(PSYCHOTHERAPY_WORDS in t for t in _note_texts(json.loads(chosen.read_text())))

    pdf_default, pdf_chosen = tmp_path / "default.pdf", tmp_path / "chosen.pdf"
    practice.records.export_record(rich_client.id, _request(PDF), pdf_default)
    practice.records.export_record(
        rich_client.id, _request(PDF, include_psychotherapy=True), pdf_chosen
    )
    assert "harbour dream" not in _pdf_text(pdf_default)
    assert "harbour dream" in _pdf_text(pdf_chosen)


def _pdf_text(path: Path) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(path).pages).replace(
        "\n", " "
    )


def test_pdf_is_readable(practice: Practice, rich_client: RichClient, tmp_path: Path) -> None:
    target = tmp_path / "record.pdf"
    practice.records.export_record(rich_client.id, _request(PDF), target)
    assert target.read_bytes().startswith(b"%PDF-")
    assert target.stat().st_mode & 0o777 == 0o600
    text = _pdf_text(target)
    for expected in (
        "Zoë Ångström-Novak",
        "F41.1",
        "Sleeping better"[1:],
        "Fortnightly",
        "Asked to move the next session",
        "Did not attend",
        "not part of this copy",
    ):
        assert expected in text, expected
    assert "Unfinished draft text" not in text


def test_export_is_an_audited_disclosure(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    practice.records.export_record(
        rich_client.id,
        ExportRequest(
            frozenset({ExportFormat.FHIR, ExportFormat.PDF}),
            recipient="Dr Lee",
            purpose="Continuity of care",
        ),
        tmp_path / "copy",
    )
    entry = [e for e in practice.audit_entries() if e.action == "record.exported"][-1]
    assert entry.object_id == rich_client.id
    details = json.loads(entry.details)
    assert details["recipient"] == "Dr Lee"
    assert details["purpose"] == "Continuity of care"
    assert details["formats"] == "fhir,pdf"
    assert details["progress_notes"] == 3
    assert details["psychotherapy_notes"] == 0
    assert details["include_psychotherapy"] is False
    assert details["sessions"] == 4
    assert details["encrypted"] is False
    assert (tmp_path / "copy.pdf").is_file()
    assert (tmp_path / "copy.fhir.json").is_file()


def test_recipient_and_purpose_are_required(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    before = sum(1 for _ in practice.audit_entries())
    with pytest.raises(InvalidFieldError):
        practice.records.export_record(
            rich_client.id, ExportRequest(FHIR, recipient=" ", purpose="x"), tmp_path / "a.json"
        )
    assert not (tmp_path / "a.json").exists()
    assert sum(1 for _ in practice.audit_entries()) == before


def test_protected_copy_is_a_pdf_that_opens_with_its_passphrase_only(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    target = tmp_path / "for-zoe"
    result = practice.records.export_record(
        rich_client.id,
        _request(
            frozenset({ExportFormat.FHIR, ExportFormat.PDF}),
            package_passphrase="plum kettle arrives on tuesday",
        ),
        target,
    )
    (copy,) = result.paths
    assert copy.name == "for-zoe.pdf"
    raw = copy.read_bytes()
    assert raw.startswith(b"%PDF-")  # any PDF reader opens it
    assert b"/AESV3" in raw  # AES-256 (PDF 2.0 standard security handler, revision 6)
    # Strings of four bytes or more: shorter ones turn up by chance in 60 KB of ciphertext.
    for plain in (b"Bundle", b"resourceType", "Zoë".encode(), "Zoë".encode("utf-16-be")):
        assert plain not in raw
    assert json.loads(list(practice.audit_entries())[-1].details)["encrypted"] is True
    with pytest.raises(PackageError):
        practice.records.read_protected_copy(copy, "wrong passphrase entirely")
    pages, attached = practice.records.read_protected_copy(copy, "plum kettle arrives on tuesday")
    assert pages >= 1
    assert sorted(attached) == ["record.fhir.json"]
    parse_bundle(attached["record.fhir.json"])


def test_protected_copy_renders_in_a_real_reader(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    """poppler (the engine of Evince, Okular and many others) opens it with the passphrase only."""
    import shutil
    import subprocess

    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm is not None, "poppler-utils is installed by .ci/test"
    (copy,) = practice.records.export_record(
        rich_client.id,
        _request(
            frozenset({ExportFormat.PDF}), package_passphrase="plum kettle arrives on tuesday"
        ),
        tmp_path / "copy",
    ).paths
    refused = subprocess.run(
        [pdftoppm, "-png", "-r", "30", "-f", "1", "-l", "1", str(copy), str(tmp_path / "no")],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and not list(tmp_path.glob("no*.png"))
    opened = subprocess.run(
        [pdftoppm, "-png", "-r", "30", "-f", "1", "-l", "1", "-upw",
         "plum kettle arrives on tuesday", str(copy), str(tmp_path / "yes")],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    (page,) = tmp_path.glob("yes*.png")
    assert page.stat().st_size > 1000


class _Clinical:
    """A stand-in for the clinical feature's source: one plan and one PHQ-9 with its answers."""

    def diagnoses(self, vault: object, client_id: str) -> tuple[Diagnosis, ...]:
        return (Diagnosis("F32.1", "Major depressive disorder, single episode, moderate"),)

    def treatment_plans(self, vault: object, client_id: str) -> tuple[TreatmentPlan, ...]:
        return (
            TreatmentPlan(
                "plan1",
                "Reduce low mood",
                "active",
                date(2025, 12, 1),
                goals=("PHQ-9 below 10 by March",),
                interventions=("Behavioural activation, weekly",),
            ),
        )

    def measures(self, vault: object, client_id: str) -> tuple[MeasureResult, ...]:
        answers = tuple(MeasureAnswer(str(i), f"Question {i}", i % 4) for i in range(1, 10))
        return (
            MeasureResult(
                "phq1", "PHQ-9", "44261-6", 12, datetime(2025, 12, 1, 15, tzinfo=UTC), answers
            ),
        )


def test_plans_and_measures_from_a_clinical_source(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    practice.records.clinical = _Clinical()
    target = tmp_path / "record.json"
    practice.records.export_record(rich_client.id, _request(FHIR), target)
    bundle = parse_bundle(target.read_text())
    by_type: dict[str, list[Any]] = {}
    for e in bundle.entry:
        by_type.setdefault(e.resource.get_resource_type(), []).append(e.resource)
    (condition,) = by_type["Condition"]
    assert condition.code.coding[0].display.startswith("Major depressive")
    (plan,) = by_type["CarePlan"]
    assert plan.title == "Reduce low mood" and plan.intent == "plan"
    (observation,) = by_type["Observation"]
    assert observation.valueInteger == 12 and observation.code.coding[0].code == "44261-6"
    (response,) = by_type["QuestionnaireResponse"]
    assert len(response.item) == 9
    urls = {e.fullUrl for e in bundle.entry}
    assert observation.derivedFrom[0].reference in urls
    pdf = tmp_path / "record.pdf"
    practice.records.export_record(rich_client.id, _request(PDF), pdf)
    text = _pdf_text(pdf)
    assert "Reduce low mood" in text and "PHQ-9" in text


def test_fhir_models_and_pdf_writer_load_only_when_used() -> None:
    """The app and every command start without pydantic's FHIR models or ReportLab (they cost
    about half a second): they load with the first export."""
    code = (
        "import sys, desktop.core.practice, desktop.cli.main;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fhir', 'reportlab')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
