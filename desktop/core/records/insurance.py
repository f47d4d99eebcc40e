"""A client's health insurance, as a superbill and a claim form (CMS-1500 boxes 1a, 4, 6, 7, 11)
ask for it: the payer (the insurer), the member ID the insurer knows the subscriber by, the group
number, and, when the client is covered through someone else's policy, that person's name, date
of birth and relationship to the client. One policy per client (the primary one).

No insurance on file means the client pays for themselves (self-pay): the superbill says so.
Kept in the vault (``billing_insurance``); changes audited by field name only, never values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from enum import StrEnum

from crypto.audit.actions import AuditAction
from crypto.vault import Transaction, Vault
from desktop.core.clients import load_client
from desktop.core.records.errors import BillingError
from desktop.core.stamps import date_from_text, date_to_text, to_iso

MAX_NAME = 200
MAX_ID = 80


class Relationship(StrEnum):
    """The client's relationship to the subscriber (policy holder), as FHIR's
    subscriber-relationship codes and the CMS-1500 box 6 name them."""

    SELF = "self"
    SPOUSE = "spouse"
    CHILD = "child"
    OTHER = "other"


RELATIONSHIP_LABELS = {
    Relationship.SELF: "The client",
    Relationship.SPOUSE: "The client's spouse or partner",
    Relationship.CHILD: "The client's parent (the client is their child)",
    Relationship.OTHER: "Someone else",
}


@dataclass(frozen=True)
class Insurance:
    payer_name: str  # the insurer, e.g. "Blue Shield of California"
    member_id: str  # the subscriber's member ID on the insurance card
    group_number: str = ""
    relationship: Relationship = Relationship.SELF  # the client to the subscriber
    subscriber_name: str = ""  # when the client is not the subscriber
    subscriber_date_of_birth: date | None = None

    def check(self, *, today: date | None = None) -> Insurance:
        """Trimmed and checked; a ``BillingError`` names the field and what it needs."""
        try:
            relationship = Relationship(self.relationship)
        except ValueError:
            raise BillingError(
                "the relationship to the subscriber must be self, spouse, child or other"
            ) from None
        trimmed = Insurance(
            payer_name=" ".join(self.payer_name.split()),
            member_id=self.member_id.strip(),
            group_number=self.group_number.strip(),
            relationship=relationship,
            subscriber_name=""
            if relationship is Relationship.SELF
            else " ".join(self.subscriber_name.split()),
            subscriber_date_of_birth=None
            if relationship is Relationship.SELF
            else self.subscriber_date_of_birth,
        )
        if not trimmed.payer_name:
            raise BillingError("name the insurance company (the payer on the insurance card)")
        if not trimmed.member_id:
            raise BillingError("type the member ID from the insurance card")
        for name, words, limit in (
            ("payer_name", "insurance company's name", MAX_NAME),
            ("subscriber_name", "subscriber's name", MAX_NAME),
            ("member_id", "member ID", MAX_ID),
            ("group_number", "group number", MAX_ID),
        ):
            if len(getattr(trimmed, name)) > limit:
                raise BillingError(f"the {words} is longer than {limit} characters")
        if relationship is not Relationship.SELF and not trimmed.subscriber_name:
            raise BillingError(
                "name the subscriber (the policy holder): the client is covered through them"
            )
        born = trimmed.subscriber_date_of_birth
        if born is not None and not date(1900, 1, 1) <= born <= (today or date.today()):
            raise BillingError("the subscriber's date of birth must be a past date")
        return trimmed

    @property
    def client_is_subscriber(self) -> bool:
        return self.relationship is Relationship.SELF


def load_insurance(vault: Vault, client_id: str) -> Insurance | None:
    """The client's insurance, or None: self-pay (unaudited; the callers audit)."""
    rows = vault.query(
        "SELECT payer_name, member_id, group_number, relationship, subscriber_name,"
        " subscriber_date_of_birth FROM billing_insurance WHERE client_id = ?",
        (client_id,),
    )
    if not rows:
        return None
    payer, member, group, relationship, subscriber, born = rows[0]
    return Insurance(
        payer, member, group, Relationship(relationship), subscriber, date_from_text(born)
    )


def save_insurance(vault: Vault, client_id: str, insurance: Insurance | None) -> Insurance | None:
    """Set the client's insurance (None: remove it, the client pays for themselves). Audited as
    ``billing.insurance_changed`` with the changed field names, or ``removed``."""
    load_client(vault, client_id)
    checked = None if insurance is None else insurance.check(today=vault.options.clock().date())
    before = load_insurance(vault, client_id)
    if checked == before:
        return checked
    with vault.transaction() as tx:
        if checked is None:
            tx.execute("DELETE FROM billing_insurance WHERE client_id = ?", (client_id,))
            tx.audit(
                AuditAction.BILLING_INSURANCE_CHANGED,
                object_type="client",
                object_id=client_id,
                details={"removed": True},
            )
        else:
            write_insurance(tx, client_id, checked, vault.options.clock(), before=before)
    return checked


def write_insurance(
    tx: Transaction,
    client_id: str,
    insurance: Insurance,
    at: datetime,
    *,
    before: Insurance | None = None,
) -> None:
    """Store checked insurance inside the caller's transaction (an import writes it with the
    new client), with its ``billing.insurance_changed`` entry naming the fields that changed
    from ``before``: field names, never values (a member ID identifies the client)."""
    tx.execute(
        "INSERT INTO billing_insurance(client_id, payer_name, member_id, group_number,"
        " relationship, subscriber_name, subscriber_date_of_birth, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(client_id) DO UPDATE SET"
        " payer_name = excluded.payer_name, member_id = excluded.member_id,"
        " group_number = excluded.group_number, relationship = excluded.relationship,"
        " subscriber_name = excluded.subscriber_name,"
        " subscriber_date_of_birth = excluded.subscriber_date_of_birth,"
        " updated_at = excluded.updated_at",
        (
            client_id,
            insurance.payer_name,
            insurance.member_id,
            insurance.group_number,
            str(insurance.relationship),
            insurance.subscriber_name,
            date_to_text(insurance.subscriber_date_of_birth),
            to_iso(at),
        ),
    )
    old = asdict(before) if before is not None else {}
    new = asdict(insurance)
    tx.audit(
        AuditAction.BILLING_INSURANCE_CHANGED,
        object_type="client",
        object_id=client_id,
        details={
            "fields": ",".join(f.name for f in fields(Insurance) if old.get(f.name) != new[f.name])
        },
    )


# The words other programs write for the client's relationship to the policy holder.
RELATIONSHIP_WORDS = {
    Relationship.SELF: ("", "self", "client", "patient", "insured", "subscriber", "same"),
    Relationship.SPOUSE: ("spouse", "partner", "wife", "husband", "domestic partner",
                          "spouse or partner", "life partner"),
    Relationship.CHILD: ("child", "son", "daughter", "dependent", "dependant", "dependent child",
                         "stepchild", "foster child"),
    Relationship.OTHER: ("other", "parent", "mother", "father", "guardian", "grandparent"),
}  # fmt: skip
