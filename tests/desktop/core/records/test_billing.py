"""Billing details (NPI check digit), fees, session charges by CPT's time rule, payments, the
balance, and a superbill PDF with codes, diagnoses, fees and payments, audited."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from desktop.core.practice import Practice
from desktop.core.records.billing_profile import BillingProfile, npi_is_valid
from desktop.core.records.errors import BillingError
from desktop.core.records.ledger import default_code

from .conftest import RichClient

PROFILE = BillingProfile(
    name="Dr Robin Example",
    credentials="PhD, LMFT",
    license_number="LMFT 123456 (CA)",
    npi="1234567893",
    tax_id="12-3456789",
    address="100 Quiet Street, Suite 2\nSpringfield, CA 90000",
    phone="555-0100",
)


@pytest.mark.parametrize(
    ("npi", "valid"),
    [("1234567893", True), ("1245319599", True), ("1234567890", False), ("123456789", False),
     ("12345678930", False), ("abcdefghij", False)],
)  # fmt: skip
def test_npi_luhn(npi: str, valid: bool) -> None:
    assert npi_is_valid(npi) is valid


def test_profile_is_checked_and_audited_by_field(practice: Practice) -> None:
    with pytest.raises(BillingError, match="NPI"):
        practice.records.save_billing_profile(BillingProfile(name="X", npi="1234567890"))
    with pytest.raises(BillingError, match="tax id"):
        practice.records.save_billing_profile(BillingProfile(name="X", tax_id="12345"))
    practice.records.save_billing_profile(PROFILE)
    assert practice.records.billing_profile() == PROFILE
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "billing.profile_changed"
    assert "1234567893" not in entry.details and "npi" in json.loads(entry.details)["fields"]


@pytest.mark.parametrize(
    ("minutes", "code"),
    [(10, None), (16, "90832"), (37, "90832"), (38, "90834"), (52, "90834"), (53, "90837")],
)
def test_cpt_time_rule(minutes: int, code: str | None) -> None:
    assert default_code(minutes) == code


def test_charges_payments_and_balance(practice: Practice, rich_client: RichClient) -> None:
    records = practice.records
    records.set_fee("90837", 18000)
    records.set_fee("90834", 14000)
    ledger = records.ledger(rich_client.id)
    # Two attended sessions (53 and 45 minutes); the no-show and the cancelled one are not billed.
    assert [(c.service_code, c.fee_cents) for c in ledger.charges] == [
        ("90837", 18000),
        ("90834", 14000),
    ]
    assert [c.place_of_service for c in ledger.charges] == ["11", "10"]
    records.set_charge(rich_client.sessions[0], "90791")  # the first session was the intake
    records.record_payment(
        rich_client.id, 20000, date(2025, 12, 1), "card", session_id=rich_client.sessions[0]
    )
    payment = records.record_payment(rich_client.id, 5000, date(2025, 12, 9), "cash")
    ledger = records.ledger(rich_client.id)
    assert ledger.charges[0].service_code == "90791" and ledger.charges[0].fee_cents == 20000
    assert ledger.charged_cents == 34000 and ledger.paid_cents == 25000
    assert ledger.balance_cents == 9000
    records.delete_payment(payment.id)
    assert records.ledger(rich_client.id).balance_cents == 14000
    actions = [e.action for e in practice.audit_entries()]
    for action in (
        "billing.fee_changed",
        "billing.charge_set",
        "billing.payment_recorded",
        "billing.payment_deleted",
        "billing.ledger_viewed",
    ):
        assert action in actions
    with pytest.raises(BillingError):
        records.record_payment(rich_client.id, 0, date(2025, 12, 9), "cash")
    with pytest.raises(BillingError):
        records.record_payment(rich_client.id, 100, date(2025, 12, 9), "bitcoin")


def test_destroying_a_client_removes_their_billing_rows(
    practice: Practice, rich_client: RichClient
) -> None:
    from desktop.core.clients import DestructionReason

    practice.records.set_charge(rich_client.sessions[0], "90791")
    practice.records.record_payment(rich_client.id, 100, date(2025, 12, 1), "cash")
    from desktop.core.records.insurance import Insurance

    practice.records.save_insurance(rich_client.id, Insurance("Aetna", "W123"))
    practice.archive_client(rich_client.id)
    practice.destroy_client(
        rich_client.id,
        confirm_name="Zoë Ångström-Novak",
        reason=DestructionReason.CREATED_IN_ERROR,
        before_retention_ends=True,
    )
    vault = practice.vault_for_backups()
    assert vault.query("SELECT count(*) FROM billing_payments")[0][0] == 0
    assert vault.query("SELECT count(*) FROM billing_session_charges")[0][0] == 0
    assert vault.query("SELECT count(*) FROM billing_insurance")[0][0] == 0


def _pdf_text(path: Path) -> str:
    return " ".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_superbill_pdf(practice: Practice, rich_client: RichClient, tmp_path: Path) -> None:
    records = practice.records
    target = tmp_path / "superbill.pdf"
    with pytest.raises(BillingError, match="billing details"):
        records.write_superbill(
            rich_client.id, target, first_day=date(2025, 11, 1), last_day=date(2025, 12, 31)
        )
    assert not target.exists()
    records.save_billing_profile(PROFILE)
    records.set_charge(rich_client.sessions[0], "90791")
    records.record_payment(
        rich_client.id, 20000, date(2025, 12, 1), "card", session_id=rich_client.sessions[0]
    )
    records.write_superbill(
        rich_client.id, target, first_day=date(2025, 11, 1), last_day=date(2025, 12, 31)
    )
    text = _pdf_text(target)
    for expected in (
        "Superbill",
        "Dr Robin Example, PhD, LMFT",
        "1234567893",
        "12-3456789",
        "Zoë Ångström-Novak",
        "03/14/1988",
        "F41.1",
        "Z63.0",
        "90791",
        "90834",
        "200.00",
        "130.00",
        "Balance due",
    ):
        assert expected in text, expected
    assert "90837" not in text  # the first session was billed as the intake instead
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "billing.superbill_created"
    details = json.loads(entry.details)
    assert details["services"] == 2 and details["paid_cents"] == 20000

    one = tmp_path / "one.pdf"
    records.write_superbill(rich_client.id, one, session_id=rich_client.sessions[1])
    assert "90791" not in _pdf_text(one) and "90834" in _pdf_text(one)
    with pytest.raises(BillingError, match="nothing billed"):
        records.write_superbill(rich_client.id, one, session_id=rich_client.sessions[2])


def test_billing_is_in_backups(
    practice: Practice, rich_client: RichClient, tmp_path: Path, options: object
) -> None:
    from desktop.core.backups import RestoreKey, RestoreRequest

    from ..conftest import PASSPHRASE

    practice.records.save_billing_profile(PROFILE)
    practice.records.record_payment(rich_client.id, 4200, date(2025, 12, 1), "check")
    (tmp_path / "backups").mkdir()
    backup = practice.backup_service().back_up_now(tmp_path / "backups")
    target = tmp_path / "restored"
    practice.backup_service().restore(
        RestoreRequest(backup.path, target, RestoreKey.THIS_VAULT, passphrase=PASSPHRASE)
    )
    restored = Practice.unlock(target, PASSPHRASE, options=options)  # type: ignore[arg-type]
    try:
        assert restored.records.billing_profile() == PROFILE
        assert restored.records.ledger(rich_client.id).paid_cents == 4200
    finally:
        restored.lock()
