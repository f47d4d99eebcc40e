"""Superbills: the statement a client sends their insurer to claim out-of-network benefits, for
one session or a period. It carries what a claims clerk looks for: the provider's name,
credentials, license, NPI and tax id; the client's name, date of birth and address; the client's
insurance (payer, member id, group number, the subscriber when not the client), or "self-pay"
when none is on file; ICD-10-CM
diagnoses with pointer letters; each service's date, place of service, CPT code, diagnosis
pointers, units and fee; payments; and the balance. Made as a PDF and audited as a disclosure."""

from __future__ import annotations

import contextlib
import string
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import Client, load_client
from desktop.core.records.access_request import check_text
from desktop.core.records.billing_profile import BillingProfile
from desktop.core.records.clinical_sources import ClinicalSource, Diagnosis
from desktop.core.records.errors import BillingError
from desktop.core.records.files import write_private
from desktop.core.records.insurance import Insurance, Relationship, load_insurance
from desktop.core.records.ledger import Ledger, ledger_of
from desktop.core.sessions import load_session

if TYPE_CHECKING:
    from desktop.core.records.formats import Formats

MAX_DIAGNOSES = 12  # pointers A-L, as on a CMS-1500 claim form


@dataclass(frozen=True)
class Superbill:
    provider: BillingProfile
    client: Client
    diagnoses: tuple[Diagnosis, ...]
    ledger: Ledger  # the period's charges and payments
    first_day: date
    last_day: date
    issued_at: datetime
    insurance: Insurance | None = None  # None: self-pay

    @property
    def pointers(self) -> str:
        return ",".join(string.ascii_uppercase[: min(len(self.diagnoses), 4)])


def period_bounds(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """UTC instants from the start of ``first_day`` to the end of ``last_day``, local time."""
    if last_day < first_day:
        raise BillingError("the period ends before it starts")
    # Naive local midnights: each day gets its own daylight-saving offset.
    start = datetime.combine(first_day, time()).astimezone().astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time()).astimezone().astimezone(UTC)
    return start, end


def build_superbill(
    vault: Vault,
    client_id: str,
    *,
    profile: BillingProfile,
    clinical: ClinicalSource,
    first_day: date | None = None,
    last_day: date | None = None,
    session_id: str | None = None,
) -> Superbill:
    """For one session (``session_id``) or a period (``first_day``..``last_day``)."""
    client = load_client(vault, client_id)
    if session_id is not None:
        session = load_session(vault, session_id)
        if session.client_id != client_id:
            raise BillingError("this session is not the client's")
        local_day = session.starts_at.astimezone().date()
        first_day = last_day = local_day
        full = ledger_of(vault, client_id)
        ledger = Ledger(
            client_id,
            tuple(c for c in full.charges if c.session.id == session_id),
            tuple(p for p in full.payments if p.session_id == session_id),
        )
    else:
        if first_day is None or last_day is None:
            raise BillingError("choose a session or a period")
        start, end = period_bounds(first_day, last_day)
        ledger = ledger_of(vault, client_id, start=start, end=end)
    if not ledger.charges:
        raise BillingError("there is nothing billed in this period: no attended session")
    return Superbill(
        provider=profile,
        client=client,
        # What the services addressed: current diagnoses, the primary one first (pointer A).
        diagnoses=tuple(
            sorted(
                (d for d in clinical.diagnoses(vault, client_id) if d.active),
                key=lambda d: not d.primary,
            )
        )[:MAX_DIAGNOSES],
        ledger=ledger,
        first_day=first_day,
        last_day=last_day,
        issued_at=vault.options.clock(),
        insurance=load_insurance(vault, client_id),
    )


# The client's relationship to the subscriber, as a claim form's box 6 words it.
_RELATION_TO_SUBSCRIBER = {
    Relationship.SELF: "the subscriber",
    Relationship.SPOUSE: "their spouse or partner",
    Relationship.CHILD: "their child",
    Relationship.OTHER: "another dependant of theirs",
}


def superbill_pdf(bill: Superbill, formats: Formats | None = None) -> bytes:
    from desktop.core.records.formats import Formats as _Formats
    from desktop.core.records.pdf_render import Page

    # US insurers read month/day/year on Letter paper; the app passes its locale's formats.
    formats = formats or _Formats(
        date=lambda d: d.strftime("%m/%d/%Y"),
        money=lambda cents: f"${cents / 100:,.2f}",
        letter_paper=True,
    )
    money = formats.money
    issued = formats.date(bill.issued_at.astimezone().date())
    p, d = bill.provider, bill.client.details
    page = Page(
        title=f"Superbill: {d.name}",
        footer="Confidential health information, for the client's insurance claim.",
        formats=formats,
    )
    page.heading("Superbill", 1)
    page.text(
        f"Statement of services for insurance reimbursement. Issued {issued}"
        f" for services from {formats.date(bill.first_day)} to {formats.date(bill.last_day)}.",
        small=True,
    )
    page.heading("Provider")
    page.key_values(
        [
            ("Name", p.signs_as),
            ("License", p.license_number),
            ("NPI", p.npi),
            ("Tax id (EIN)", p.tax_id),
            ("Address", p.address),
            ("Phone", p.phone),
            ("E-mail", p.email),
        ]
    )
    client: list[tuple[str, str]] = [
        ("Name", d.name),
        ("Date of birth", formats.date(d.date_of_birth) if d.date_of_birth else ""),
        ("Address", d.address),
        ("Phone", d.phone),
    ]
    cover = bill.insurance
    insurance: list[tuple[str, str]] | str
    if cover is None:
        insurance = "Self-pay: no health insurance is on file for this client."
    else:
        if cover.client_is_subscriber:
            insured = "The client"
        else:
            born = cover.subscriber_date_of_birth
            insured = cover.subscriber_name + (f", born {formats.date(born)}" if born else "")
            insured += f"; the client is {_RELATION_TO_SUBSCRIBER[cover.relationship]}"
        insurance = [
            ("Insurance company", cover.payer_name),
            ("Member ID", cover.member_id),
            ("Group number", cover.group_number),
            ("Insured (subscriber)", insured),
        ]
    page.two_columns(("Client", client), ("Insurance", insurance), label_mm=38)
    page.heading("Diagnoses (ICD-10-CM)")
    if bill.diagnoses:
        page.table(
            ["", "Code", "Description"],
            [
                (string.ascii_uppercase[i], dx.code, dx.description)
                for i, dx in enumerate(bill.diagnoses)
            ],
            [10, 28, 130],
        )
    else:
        page.text("No diagnosis recorded. Most insurers need one: add it on the client's page.")
    page.heading("Services")
    rows = []
    for c in bill.ledger.charges:
        paid = sum(x.amount_cents for x in bill.ledger.payments if x.session_id == c.session.id)
        rows.append(
            (
                formats.date(c.session.starts_at.astimezone().date()),
                c.place_of_service,
                c.service_code,
                c.description,
                bill.pointers,
                "1",
                money(c.fee_cents),
                money(paid) if paid else "",
            )
        )
    unassigned = sum(x.amount_cents for x in bill.ledger.payments if x.session_id is None)
    rows.append(
        (
            "Total",
            "",
            "",
            "",
            "",
            "",
            money(bill.ledger.charged_cents),
            money(bill.ledger.paid_cents),
        )
    )
    page.table(
        ["Date", "POS", "CPT", "Service", "Dx", "Units", "Fee", "Paid"],
        rows,
        [24, 12, 15, 58, 13, 13, 22, 22],
        right_align=[5, 6, 7],
        bold_last_row=True,
    )
    if unassigned:
        page.text(f"Payments not tied to one session: {money(unassigned)}.", small=True)
    page.space(3)
    closing = len(page.story)
    page.key_values(
        [
            ("Total charges", money(bill.ledger.charged_cents)),
            ("Total paid", money(bill.ledger.paid_cents)),
            ("Balance due", money(max(bill.ledger.balance_cents, 0))),
        ]
    )
    page.space(4)
    page.text(
        "Place of service: 11 office, 10 telehealth in the client's home. "
        "Dx: the diagnoses above that each service addresses.",
        small=True,
    )
    page.space(7)
    page.text(f"Provider signature: ______________________________   Date: {issued}")
    page.text(p.signs_as, small=True)
    page.keep_together(closing)
    return page.render()


def export_superbill(
    vault: Vault,
    bill: Superbill,
    to: Path,
    *,
    recipient: str,
    purpose: str,
    formats: Formats | None = None,
) -> Path:
    """Write the PDF, then audit it as a disclosure (the file is removed if that fails)."""
    recipient, purpose = check_text(recipient, "recipient"), check_text(purpose, "purpose")
    if not bill.provider.complete:
        raise BillingError(
            "fill in your billing details first (name, NPI, tax id and practice address, in "
            "Settings): insurers refuse a superbill without them"
        )
    write_private(to, superbill_pdf(bill, formats))
    try:
        vault.audit(
            AuditAction.BILLING_SUPERBILL_CREATED,
            object_type="client",
            object_id=bill.client.id,
            details={
                "recipient": recipient,
                "purpose": purpose,
                "first_day": bill.first_day.isoformat(),
                "last_day": bill.last_day.isoformat(),
                "services": len(bill.ledger.charges),
                "charged_cents": bill.ledger.charged_cents,
                "paid_cents": bill.ledger.paid_cents,
                "diagnoses": len(bill.diagnoses),
                "self_pay": bill.insurance is None,
            },
        )
    except BaseException:
        with contextlib.suppress(OSError):
            to.unlink()
        raise
    return to
