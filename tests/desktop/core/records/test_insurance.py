"""A client's health insurance: checked, kept in the vault (migration 2 of "billing", from a vault
of the previous version), audited by field name, printed on the superbill (or "self-pay"), in
the FHIR Bundle as a Coverage, in the whole-practice CSV, and in backups."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from crypto.kdf import TEST_ONLY
from crypto.migrations import current_version, migrate
from crypto.vault import Vault, VaultOptions
from desktop.core import clients
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.errors import BillingError
from desktop.core.records.fhir_bundle import build_bundle, bundle_json, parse_bundle
from desktop.core.records.insurance import Insurance, Relationship
from desktop.core.records.schema import BILLING_MIGRATIONS, COMPONENT
from desktop.core.schema import COMPONENT as PRACTICE
from desktop.core.schema import PRACTICE_MIGRATIONS

from ..conftest import PASSPHRASE
from .conftest import RichClient
from .test_billing import PROFILE

SPOUSE_PLAN = Insurance(
    payer_name="  Blue Shield   of California ",
    member_id=" XEH123456789 ",
    group_number="GRP-00451",
    relationship=Relationship.SPOUSE,
    subscriber_name="Sam Novak",
    subscriber_date_of_birth=date(1985, 6, 2),
)


def _pdf_text(path: Path) -> str:
    """The text, each run of spaces and line breaks as one space (table cells wrap)."""
    return " ".join(" ".join(page.extract_text() or "" for page in PdfReader(path).pages).split())


@pytest.mark.parametrize(
    ("insurance", "message"),
    [
        (Insurance("", "X1"), "insurance company"),
        (Insurance("Aetna", "  "), "member ID"),
        (Insurance("Aetna", "X1", relationship=Relationship.CHILD), "name the subscriber"),
        (Insurance("Aetna", "X1", relationship="cousin"), "self, spouse, child or other"),  # type: ignore[arg-type]
        (Insurance("Aetna", "X" * 81), "member ID is longer"),
        (
            Insurance("Aetna", "X1", relationship=Relationship.OTHER, subscriber_name="Kim",
                      subscriber_date_of_birth=date(2999, 1, 1)),
            "past date",
        ),
    ],
)  # fmt: skip
def test_insurance_is_checked(
    practice: Practice, rich_client: RichClient, insurance: Insurance, message: str
) -> None:
    before = len(list(practice.audit_entries()))
    with pytest.raises(BillingError, match=message):
        practice.records.save_insurance(rich_client.id, insurance)
    assert practice.records.client_billing(rich_client.id)[1] is None
    assert len(list(practice.audit_entries())) == before + 1  # only the view above


def test_insurance_is_kept_and_audited_by_field(
    practice: Practice, rich_client: RichClient
) -> None:
    records = practice.records
    saved = records.save_insurance(rich_client.id, SPOUSE_PLAN)
    assert saved is not None and saved.payer_name == "Blue Shield of California"
    assert saved.member_id == "XEH123456789"
    assert records.client_billing(rich_client.id)[1] == saved
    entries = [e for e in practice.audit_entries() if e.action == "billing.insurance_changed"]
    assert len(entries) == 1 and entries[0].object_id == rich_client.id
    details = json.loads(entries[0].details)
    assert details == {
        "fields": "payer_name,member_id,group_number,relationship,subscriber_name,"
        "subscriber_date_of_birth"
    }
    assert "XEH123456789" not in entries[0].details  # never the values
    # The same again changes nothing and writes nothing.
    records.save_insurance(rich_client.id, SPOUSE_PLAN)
    assert sum(1 for e in practice.audit_entries() if e.action == "billing.insurance_changed") == 1
    # The client becomes the subscriber: the subscriber's name and birth date go.
    own = records.save_insurance(rich_client.id, Insurance("Aetna", "W123", "G9"))
    assert own == Insurance("Aetna", "W123", "G9", Relationship.SELF, "", None)
    last = json.loads(list(practice.audit_entries())[-1].details)
    assert last["fields"].split(",") == [
        "payer_name", "member_id", "group_number", "relationship", "subscriber_name",
        "subscriber_date_of_birth",
    ]  # fmt: skip
    assert records.save_insurance(rich_client.id, None) is None
    assert records.client_billing(rich_client.id)[1] is None
    assert json.loads(list(practice.audit_entries())[-2].details) == {"removed": True}


def test_superbill_prints_the_insurance_or_says_self_pay(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    records = practice.records
    records.save_billing_profile(PROFILE)
    self_pay = tmp_path / "self-pay.pdf"
    records.write_superbill(rich_client.id, self_pay, session_id=rich_client.sessions[1])
    text = _pdf_text(self_pay)
    assert "Self-pay: no health insurance is on file" in text
    assert "Member ID" not in text
    assert json.loads(list(practice.audit_entries())[-1].details)["self_pay"] is True

    records.save_insurance(rich_client.id, SPOUSE_PLAN)
    insured = tmp_path / "insured.pdf"
    records.write_superbill(rich_client.id, insured, session_id=rich_client.sessions[1])
    text = _pdf_text(insured)
    for expected in (
        "Insurance company",
        "Blue Shield of California",
        "XEH123456789",
        "GRP-00451",
        "Sam Novak, born 06/02/1985; the client is their spouse or partner",
        "03/14/1988",  # the client's own date of birth, as before
        "1 Demo Lane",  # and address
    ):
        assert expected in text, expected
    assert "Self-pay" not in text
    assert len(PdfReader(insured).pages) == 1  # client and insurance side by side: one page
    assert json.loads(list(practice.audit_entries())[-1].details)["self_pay"] is False


def test_coverage_in_the_fhir_bundle(
    practice: Practice, rich_client: RichClient, tmp_path: Path
) -> None:
    records = practice.records
    bundle = build_bundle(records.record_set(rich_client.id))
    assert not [e for e in bundle.entry if e.resource.get_resource_type() == "Coverage"]

    records.save_insurance(rich_client.id, SPOUSE_PLAN)
    bundle = build_bundle(records.record_set(rich_client.id))
    text = bundle_json(bundle)
    again = parse_bundle(text)
    assert again == bundle and bundle_json(again) == text  # round trip
    by_type = {e.resource.get_resource_type(): e for e in again.entry}
    patient_url = by_type["Patient"].fullUrl
    coverage = by_type["Coverage"].resource
    assert coverage.status == "active"
    assert coverage.beneficiary.reference == patient_url
    assert coverage.subscriberId == "XEH123456789"
    assert [p.display for p in coverage.payor] == ["Blue Shield of California"]
    assert coverage.relationship.coding[0].system == (
        "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
    )
    assert coverage.relationship.coding[0].code == "spouse"
    (group,) = coverage.class_fhir
    assert group.type.coding[0].code == "group" and group.value == "GRP-00451"
    subscriber = by_type["RelatedPerson"]
    assert coverage.subscriber.reference == subscriber.fullUrl
    assert subscriber.resource.patient.reference == patient_url
    assert subscriber.resource.name[0].text == "Sam Novak"
    assert str(subscriber.resource.birthDate) == "1985-06-02"
    assert subscriber.resource.relationship[0].coding[0].code == "SPS"
    # Every reference resolves inside the Bundle.
    urls = {e.fullUrl for e in again.entry}
    raw = json.loads(text)
    refs = [json.dumps(e["resource"]) for e in raw["entry"]]
    assert all(url in urls for blob in refs for url in _refs(blob))

    copy = tmp_path / "copy.pdf"
    records.export_record(
        rich_client.id, ExportRequest(frozenset({ExportFormat.PDF}), "The client", "Access"), copy
    )
    assert "insured through Sam Novak (spouse or partner)" in _pdf_text(copy)

    records.save_insurance(rich_client.id, Insurance("Aetna", "W123"))
    coverage_json = next(
        e["resource"]
        for e in json.loads(bundle_json(build_bundle(records.record_set(rich_client.id))))["entry"]
        if e["resource"]["resourceType"] == "Coverage"
    )
    assert coverage_json["subscriber"]["reference"] == patient_url
    assert coverage_json["relationship"]["coding"][0]["code"] == "self"
    assert "class" not in coverage_json


def _refs(blob: str) -> list[str]:
    import re

    return re.findall(r'"reference": "([^"]+)"', blob)


def test_insurance_in_the_practice_csv_and_backups(
    practice: Practice,
    rich_client: RichClient,
    tmp_path: Path,
    options: VaultOptions,
) -> None:
    records = practice.records
    records.save_insurance(rich_client.id, SPOUSE_PLAN)
    other = practice.create_client(ClientDetails(name="Pays Herself"))
    records.export_practice(tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as z:
        rows = list(csv.DictReader(io.StringIO(z.read("all/clients.csv").decode("utf-8"))))
    by_id = {r["id"]: r for r in rows}
    assert by_id[rich_client.id]["insurance_payer_name"] == "Blue Shield of California"
    assert by_id[rich_client.id]["insurance_member_id"] == "XEH123456789"
    assert by_id[rich_client.id]["insurance_relationship"] == "spouse"
    assert by_id[rich_client.id]["insurance_subscriber_date_of_birth"] == "1985-06-02"
    assert by_id[other.id]["insurance_payer_name"] == ""

    (tmp_path / "backups").mkdir()
    from desktop.core.backups import RestoreKey, RestoreRequest

    backup = practice.backup_service().back_up_now(tmp_path / "backups")
    target = tmp_path / "restored"
    practice.backup_service().restore(
        RestoreRequest(backup.path, target, RestoreKey.THIS_VAULT, passphrase=PASSPHRASE)
    )
    restored = Practice.unlock(target, PASSPHRASE, options=options)
    try:
        assert restored.records.client_billing(rich_client.id)[1] == SPOUSE_PLAN.check()
    finally:
        restored.lock()


def test_a_vault_at_billing_version_1_gains_the_insurance_table(
    tmp_path: Path, options: VaultOptions
) -> None:
    """A vault as the previous version left it (billing tables of migration 1, a client with a
    payment); unlocking it with this version adds the insurance table and keeps everything."""
    folder = tmp_path / "vault"
    vault, _ = Vault.create(folder, PASSPHRASE, kdf=TEST_ONLY, options=options)
    vault.migrate(PRACTICE, PRACTICE_MIGRATIONS)
    vault.migrate(COMPONENT, BILLING_MIGRATIONS[:1])
    client = clients.create_client(vault, ClientDetails(name="Vera Version-One"))
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO billing_payments(id, client_id, amount_cents, received_on, method,"
            " created_at) VALUES ('p1', ?, 4200, '2026-01-05', 'cash', 't')",
            (client.id,),
        )
    conn = vault._require_open()
    assert current_version(conn, COMPONENT) == 1
    assert not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'billing_insurance'"
    ).fetchone()
    vault.lock()

    practice = Practice.unlock(folder, PASSPHRASE, options=options)
    try:
        conn = practice._vault._require_open()
        assert current_version(conn, COMPONENT) == len(BILLING_MIGRATIONS) == 2
        ledger, insurance = practice.records.client_billing(client.id)
        assert ledger.paid_cents == 4200 and insurance is None
        practice.records.save_insurance(client.id, Insurance("Aetna", "W1"))
        assert practice.records.client_billing(client.id)[1] == Insurance("Aetna", "W1")
        # The table enforces what the domain checks, for a row written any other way.
        with pytest.raises(Exception, match="CHECK"), practice._vault.transaction() as tx:
            tx.execute(
                "UPDATE billing_insurance SET relationship = 'child', subscriber_name = ''"
                " WHERE client_id = ?",
                (client.id,),
            )
        assert migrate(conn, COMPONENT, BILLING_MIGRATIONS) == 2  # a second run: nothing
    finally:
        practice.lock()
