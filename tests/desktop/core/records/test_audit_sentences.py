"""The records entries read as sentences on the audit page (never as raw action names), and each
has a label for the page's filter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from desktop.core.audit_story import ACTION_LABELS, sentence
from desktop.core.practice import Practice
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.import_layouts import ImportKind, parse_csv
from desktop.core.records.insurance import Insurance

from .conftest import RichClient
from .test_billing import PROFILE


def test_records_entries_read_as_sentences(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    records = practice.records
    records.export_record(
        rich_client.id,
        ExportRequest(frozenset({ExportFormat.FHIR}), "Dr Lee", "Continuity of care",
                      package_passphrase="plum kettle arrives on tuesday"),
        tmp_path / "copy",
    )  # fmt: skip
    records.save_billing_profile(PROFILE)
    records.record_payment(rich_client.id, 100, date(2025, 12, 1), "cash")
    records.write_superbill(
        rich_client.id, tmp_path / "bill.pdf", first_day=date(2025, 12, 1),
        last_day=date(2025, 12, 31),
    )  # fmt: skip
    records.save_insurance(rich_client.id, Insurance("Aetna", "W123"))
    table = parse_csv("Name\nHarper Sampleton\n\n")
    records.check_import(table, ImportKind.CLIENTS, "generic")
    records.run_import(table, ImportKind.CLIENTS, "generic")
    names = {rich_client.id: "Zoë Ångström-Novak"}
    told = {
        r.action: sentence(r, names, lambda d: d.date().isoformat()) for r in practice.view_audit()
    }
    assert told["record.exported"] == (
        "You made a protected copy of Zoë Å.'s record for Dr Lee (Continuity of care)"
    )
    assert told["billing.superbill_created"].startswith("You made a superbill for Zoë Å.")
    assert told["billing.payment_recorded"] == "You recorded a payment from Zoë Å."
    assert told["billing.profile_changed"] == "You changed the billing details"
    assert told["billing.insurance_changed"] == "You changed Zoë Å.'s insurance details"
    assert told["import.checked"] == "You checked an import of clients: 1 to add, 0 refused"
    assert told["import.completed"] == "You imported 1 client from another program"
    for action in told:
        if action.split(".")[0] in ("record", "practice", "import", "billing"):
            assert action in ACTION_LABELS
