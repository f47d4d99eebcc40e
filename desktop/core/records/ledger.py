"""Fees, what each session is billed, payments, and a client's balance.

A fee schedule maps a service (appointment type, by CPT code) to a fee. An attended session is
billed by default with the psychotherapy code its length calls for (CPT's time rule: 16-37
minutes 90832, 38-52 minutes 90834, 53 or more 90837) at the schedule's fee; the therapist can
set another code or fee for one session (an intake is 90791, a family session 90846/90847).
Cancelled, no-show and future sessions are not billed. Amounts are whole cents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import load_client
from desktop.core.errors import SessionNotFoundError
from desktop.core.records.errors import BillingError
from desktop.core.sessions import Attendance, Modality, Session, load_session, sessions_of
from desktop.core.stamps import new_id, to_iso

MAX_CENTS = 100_000_000


@dataclass(frozen=True)
class Service:
    code: str
    description: str
    default_fee_cents: int


# The outpatient psychotherapy codes a solo therapist bills most (CPT descriptions shortened).
SERVICES: tuple[Service, ...] = (
    Service("90791", "Psychiatric diagnostic evaluation (intake)", 20000),
    Service("90832", "Psychotherapy, 30 minutes", 9000),
    Service("90834", "Psychotherapy, 45 minutes", 13000),
    Service("90837", "Psychotherapy, 60 minutes", 17000),
    Service("90839", "Psychotherapy for crisis, first 60 minutes", 18000),
    Service("90846", "Family psychotherapy without the client present", 13000),
    Service("90847", "Family psychotherapy with the client present", 14000),
    Service("90853", "Group psychotherapy", 6000),
)
SERVICE_BY_CODE = {s.code: s for s in SERVICES}
PAYMENT_METHODS = ("card", "cash", "check", "bank transfer", "insurance", "other")


def default_code(duration_minutes: int) -> str | None:
    """The psychotherapy code for a session's length (CPT time rule), None under 16 minutes."""
    if duration_minutes < 16:
        return None
    if duration_minutes <= 37:
        return "90832"
    if duration_minutes <= 52:
        return "90834"
    return "90837"


def place_of_service(modality: Modality) -> str:
    """CMS place-of-service code: 11 office; 10 telehealth in the client's home."""
    return "11" if modality is Modality.IN_PERSON else "10"


def _cents(value: int, what: str, *, allow_zero: bool = True) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BillingError(f"the {what} must be an amount")
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_CENTS:
        raise BillingError(f"the {what} must be between {low / 100:.2f} and {MAX_CENTS / 100:.2f}")
    return value


def _code(code: str) -> str:
    code = code.strip().upper()
    if not code or len(code) > 10 or not code.isalnum():
        raise BillingError("a service code is 1-10 letters or digits, e.g. 90834")
    return code


# -- fees -----------------------------------------------------------------------------------
def fee_schedule(vault: Vault) -> dict[str, int]:
    """Every known service's fee: the therapist's own, else the built-in default."""
    fees = {s.code: s.default_fee_cents for s in SERVICES}
    fees.update(
        {
            code: int(cents)
            for code, cents in vault.query("SELECT service_code, fee_cents FROM billing_fees")
        }
    )
    return fees


def set_fee(vault: Vault, code: str, fee_cents: int) -> None:
    code, fee_cents = _code(code), _cents(fee_cents, "fee")
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO billing_fees(service_code, fee_cents, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT(service_code) DO UPDATE SET fee_cents = excluded.fee_cents,"
            " updated_at = excluded.updated_at",
            (code, fee_cents, to_iso(vault.options.clock())),
        )
        tx.audit(
            AuditAction.BILLING_FEE_CHANGED,
            object_type="settings",
            details={"service_code": code, "fee_cents": fee_cents},
        )


# -- charges --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Charge:
    session: Session
    service_code: str
    description: str
    fee_cents: int
    place_of_service: str
    chosen: bool  # set for this session (not the default)


def _charge_rows(vault: Vault, session_ids: list[str]) -> dict[str, tuple[str, int]]:
    if not session_ids:
        return {}
    marks = ",".join("?" * len(session_ids))
    rows = vault.query(
        f"SELECT session_id, service_code, fee_cents FROM billing_session_charges"  # noqa: S608 (placeholders only)
        f" WHERE session_id IN ({marks})",
        tuple(session_ids),
    )
    return {r[0]: (r[1], int(r[2])) for r in rows}


def charges_for(vault: Vault, sessions: list[Session]) -> list[Charge]:
    """What each billable session is charged (attended ones; others only if set by hand)."""
    chosen = _charge_rows(vault, [s.id for s in sessions])
    fees = fee_schedule(vault)
    out = []
    for s in sessions:
        if s.id in chosen:
            code, fee = chosen[s.id]
        elif s.attendance is Attendance.ATTENDED and (code_ := default_code(s.duration_minutes)):
            code, fee = code_, fees[code_]
        else:
            continue
        service = SERVICE_BY_CODE.get(code)
        out.append(
            Charge(
                s,
                code,
                service.description if service else code,
                fee,
                place_of_service(s.modality),
                s.id in chosen,
            )
        )
    return out


def set_charge(vault: Vault, session_id: str, code: str, fee_cents: int | None = None) -> Charge:
    """Bill ``session_id`` as ``code`` (at the schedule's fee unless ``fee_cents`` is given)."""
    session = load_session(vault, session_id)
    code = _code(code)
    fee = fee_schedule(vault).get(code, 0) if fee_cents is None else _cents(fee_cents, "fee")
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO billing_session_charges(session_id, service_code, fee_cents, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET"
            " service_code = excluded.service_code, fee_cents = excluded.fee_cents,"
            " updated_at = excluded.updated_at",
            (session_id, code, fee, to_iso(vault.options.clock())),
        )
        tx.audit(
            AuditAction.BILLING_CHARGE_SET,
            object_type="session",
            object_id=session_id,
            details={"client_id": session.client_id, "service_code": code, "fee_cents": fee},
        )
    return charges_for(vault, [session])[0]


# -- payments -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Payment:
    id: str
    client_id: str
    session_id: str | None
    amount_cents: int
    received_on: date
    method: str
    reference: str


def _payment(row: tuple[Any, ...]) -> Payment:
    return Payment(row[0], row[1], row[2], int(row[3]), date.fromisoformat(row[4]), row[5], row[6])


def payments_of(vault: Vault, client_id: str) -> list[Payment]:
    rows = vault.query(
        "SELECT id, client_id, session_id, amount_cents, received_on, method, reference"
        " FROM billing_payments WHERE client_id = ? ORDER BY received_on, seq",
        (client_id,),
    )
    return [_payment(r) for r in rows]


def record_payment(
    vault: Vault,
    client_id: str,
    amount_cents: int,
    received_on: date,
    method: str,
    *,
    session_id: str | None = None,
    reference: str = "",
) -> Payment:
    load_client(vault, client_id)
    amount_cents = _cents(amount_cents, "amount", allow_zero=False)
    if method not in PAYMENT_METHODS:
        raise BillingError(f"the payment method must be one of: {', '.join(PAYMENT_METHODS)}")
    if len(reference) > 100:
        raise BillingError("the payment reference is longer than 100 characters")
    if session_id is not None and load_session(vault, session_id).client_id != client_id:
        raise SessionNotFoundError("this session is not the client's")
    payment_id = new_id()
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO billing_payments(id, client_id, session_id, amount_cents, received_on,"
            " method, reference, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                payment_id,
                client_id,
                session_id,
                amount_cents,
                received_on.isoformat(),
                method,
                reference.strip(),
                to_iso(vault.options.clock()),
            ),
        )
        tx.audit(
            AuditAction.BILLING_PAYMENT_RECORDED,
            object_type="payment",
            object_id=payment_id,
            details={
                "client_id": client_id,
                "session_id": session_id,
                "amount_cents": amount_cents,
            },
        )
    return Payment(
        payment_id, client_id, session_id, amount_cents, received_on, method, reference.strip()
    )


def delete_payment(vault: Vault, payment_id: str) -> None:
    """Remove a payment recorded in error (the audit log keeps that it was recorded and removed)."""
    rows = vault.query(
        "SELECT client_id, amount_cents FROM billing_payments WHERE id = ?", (payment_id,)
    )
    if not rows:
        raise BillingError("this payment is not in the vault; refresh the client's page")
    with vault.transaction() as tx:
        tx.execute("DELETE FROM billing_payments WHERE id = ?", (payment_id,))
        tx.audit(
            AuditAction.BILLING_PAYMENT_DELETED,
            object_type="payment",
            object_id=payment_id,
            details={"client_id": rows[0][0], "amount_cents": int(rows[0][1])},
        )


# -- the ledger -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Ledger:
    client_id: str
    charges: tuple[Charge, ...]  # oldest first
    payments: tuple[Payment, ...]  # oldest first

    @property
    def charged_cents(self) -> int:
        return sum(c.fee_cents for c in self.charges)

    @property
    def paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments)

    @property
    def balance_cents(self) -> int:
        """What the client still owes (negative: paid in advance)."""
        return self.charged_cents - self.paid_cents


def ledger_of(
    vault: Vault, client_id: str, *, start: datetime | None = None, end: datetime | None = None
) -> Ledger:
    """Charges and payments (unaudited; the callers audit), between two times if given."""
    load_client(vault, client_id)
    sessions = [
        s
        for s in reversed(sessions_of(vault, client_id))
        if (start is None or s.starts_at >= start) and (end is None or s.starts_at < end)
    ]
    payments = [
        p
        for p in payments_of(vault, client_id)
        if (start is None or p.received_on >= start.date())
        and (end is None or p.received_on < end.date())
    ]
    return Ledger(client_id, tuple(charges_for(vault, sessions)), tuple(payments))


def view_ledger(vault: Vault, client_id: str) -> Ledger:
    """The client's ledger for display; audited."""
    ledger = ledger_of(vault, client_id)
    vault.audit(
        AuditAction.BILLING_LEDGER_VIEWED,
        object_type="client",
        object_id=client_id,
        details={"charges": len(ledger.charges), "payments": len(ledger.payments)},
    )
    return ledger
