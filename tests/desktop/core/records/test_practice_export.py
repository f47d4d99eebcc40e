"""The whole practice in open formats: CSV for clients, sessions, payments and the audit log, a
FHIR Bundle per client, into a folder or a ZIP; audited."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest

from desktop.core.practice import Practice
from desktop.core.records.errors import ExportError
from desktop.core.records.fhir_bundle import parse_bundle

from .conftest import PSYCHOTHERAPY_WORDS, RichClient


def test_folder_export(practice: Practice, rich_client: RichClient, tmp_path: Path) -> None:
    practice.fill_demo(3, 2, seed=5)
    practice.records.record_payment(rich_client.id, 13000, date(2025, 12, 8), "card")
    target = tmp_path / "everything"
    result = practice.records.export_practice(target)
    assert (result.clients, result.sessions) == (4, 4 + 6)
    names = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert names[:2] == ["README.txt", "audit-log.csv"]
    assert f"fhir/{rich_client.id}.json" in names and len(names) == 5 + 4
    clients = list(csv.DictReader(io.StringIO((target / "clients.csv").read_text())))
    assert {c["name"] for c in clients} >= {"Zoë Ångström-Novak"}
    sessions = list(csv.DictReader(io.StringIO((target / "sessions.csv").read_text())))
    billed = [s for s in sessions if s["client_id"] == rich_client.id and s["service_code"]]
    assert sorted(s["service_code"] for s in billed) == ["90834", "90837"]
    payments = list(csv.DictReader(io.StringIO((target / "payments.csv").read_text())))
    assert payments[0]["amount_cents"] == "13000"
    audit = (target / "audit-log.csv").read_text()
    assert "record.exported" not in audit and "billing.payment_recorded" in audit
    bundle_text = (target / "fhir" / f"{rich_client.id}.json").read_text()
    bundle = parse_bundle(bundle_text)
    statuses = sorted(
        e.resource.docStatus
        for e in bundle.entry
        if e.resource.get_resource_type() == "DocumentReference"
    )
    # The therapist's own export holds the draft (preliminary) and the psychotherapy note.
    assert statuses == ["amended", "final", "final", "final", "preliminary"]
    assert PSYCHOTHERAPY_WORDS not in bundle_text  # it is there, base64-encoded
    assert rich_client.psychotherapy_note in bundle_text
    assert target.stat().st_mode & 0o777 == 0o700
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "practice.exported"
    assert json.loads(entry.details)["clients"] == 4
    with pytest.raises(ExportError, match="already exists"):
        practice.records.export_practice(target)


def test_zip_export_and_leaving_out_psychotherapy_notes(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    target = tmp_path / "practice.zip"
    practice.records.export_practice(target, include_psychotherapy=False)
    with zipfile.ZipFile(target) as zipped:
        names = zipped.namelist()
        assert "practice/clients.csv" in names and "practice/audit-log.csv" in names
        bundle = zipped.read(f"practice/fhir/{rich_client.id}.json").decode()
    assert rich_client.psychotherapy_note not in bundle
    assert rich_client.note in bundle
