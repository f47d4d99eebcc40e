"""Clients: who the therapist sees. Archived instead of deleted; a record is destroyed only by the
explicit retention action, which is audited and refused while the retention period runs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Transaction, Vault
from desktop.core.errors import (
    ClientArchivedError,
    ClientNotFoundError,
    InvalidFieldError,
    RetentionError,
)
from desktop.core.stamps import (
    date_from_text,
    date_to_text,
    from_iso,
    maybe_from_iso,
    new_id,
    to_iso,
)

MAX_FIELD = 2000


class ClientStatus(StrEnum):
    ACTIVE = "active"
    WAITLIST = "waitlist"
    DISCHARGED = "discharged"


class DestructionReason(StrEnum):
    """Why a record is destroyed; a fixed list so that the audit log never holds free text."""

    RETENTION_PERIOD_ENDED = "retention_period_ended"
    CREATED_IN_ERROR = "created_in_error"
    LEGAL_REQUIREMENT = "legal_requirement"


@dataclass(frozen=True)
class ClientDetails:
    """What the therapist enters about a client (the form's fields)."""

    name: str
    preferred_name: str = ""
    date_of_birth: date | None = None
    pronouns: str = ""
    email: str = ""
    phone: str = ""
    address: str = ""
    emergency_contact: str = ""
    diagnosis_codes: str = ""  # free text, e.g. "F41.1, Z63.0" (ICD-10)
    status: ClientStatus = ClientStatus.ACTIVE

    def check(self) -> ClientDetails:
        if not self.name.strip():
            raise InvalidFieldError("the client's name is required")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and len(value) > MAX_FIELD:
                raise InvalidFieldError(f"{f.name.replace('_', ' ')} is longer than {MAX_FIELD}")
        try:
            ClientStatus(self.status)
        except ValueError:
            raise InvalidFieldError(f"unknown client status {self.status!r}") from None
        return self


@dataclass(frozen=True)
class Client:
    id: str
    details: ClientDetails
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    @property
    def display_name(self) -> str:
        return self.details.preferred_name or self.details.name


@dataclass(frozen=True)
class ClientSummary:
    """One line of the client list."""

    id: str
    name: str
    preferred_name: str
    status: ClientStatus
    archived: bool
    updated_at: datetime
    last_session_at: datetime | None = None  # the latest session begun, cancelled ones left out
    next_session_at: datetime | None = None  # the earliest scheduled session still to come


_COLUMNS = (
    "id, name, preferred_name, date_of_birth, pronouns, email, phone, address,"
    " emergency_contact, diagnosis_codes, status, archived_at, created_at, updated_at"
)


def _from_row(row: tuple[Any, ...]) -> Client:
    details = ClientDetails(
        name=row[1],
        preferred_name=row[2],
        date_of_birth=date_from_text(row[3]),
        pronouns=row[4],
        email=row[5],
        phone=row[6],
        address=row[7],
        emergency_contact=row[8],
        diagnosis_codes=row[9],
        status=ClientStatus(row[10]),
    )
    return Client(row[0], details, maybe_from_iso(row[11]), from_iso(row[12]), from_iso(row[13]))


def _values(details: ClientDetails) -> tuple[Any, ...]:
    d = details.check()
    return (
        d.name.strip(),
        d.preferred_name.strip(),
        date_to_text(d.date_of_birth),
        d.pronouns,
        d.email,
        d.phone,
        d.address,
        d.emergency_contact,
        d.diagnosis_codes,
        str(ClientStatus(d.status)),
    )


def load_client(vault: Vault, client_id: str) -> Client:
    """Read one client without auditing: for the domain's own checks, never returned as is."""
    rows = vault.query(f"SELECT {_COLUMNS} FROM clients WHERE id = ?", (client_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise ClientNotFoundError(f"no client {client_id}")
    return _from_row(rows[0])


def require_active(vault: Vault, client_id: str) -> Client:
    client = load_client(vault, client_id)
    if client.archived:
        raise ClientArchivedError("the client is archived")
    return client


def create_client(vault: Vault, details: ClientDetails, *, client_id: str | None = None) -> Client:
    now = vault.options.clock()
    with vault.transaction() as tx:
        client_id = insert_client(tx, details, now, client_id=client_id)
    return load_client(vault, client_id)


def insert_client(
    tx: Transaction, details: ClientDetails, at: datetime, *, client_id: str | None = None
) -> str:
    """Add a client and its ``client.created`` entry inside the caller's transaction (an import
    writes many in one); returns the new id."""
    client_id = client_id or new_id()
    now = to_iso(at)
    tx.execute(
        "INSERT INTO clients(id, name, preferred_name, date_of_birth, pronouns, email, phone,"
        " address, emergency_contact, diagnosis_codes, status, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (client_id, *_values(details), now, now),
    )
    tx.audit(AuditAction.CLIENT_CREATED, object_type="client", object_id=client_id)
    return client_id


def update_client(vault: Vault, client_id: str, details: ClientDetails) -> Client:
    before = load_client(vault, client_id)
    changed = [
        f.name
        for f in fields(details)
        if getattr(details, f.name) != getattr(before.details, f.name)
    ]
    if not changed:
        return before
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE clients SET name = ?, preferred_name = ?, date_of_birth = ?, pronouns = ?,"
            " email = ?, phone = ?, address = ?, emergency_contact = ?, diagnosis_codes = ?,"
            " status = ?, updated_at = ? WHERE id = ?",
            (*_values(details), to_iso(vault.options.clock()), client_id),
        )
        # Field names, never values: which kind of detail changed, not what it says.
        tx.audit(
            AuditAction.CLIENT_UPDATED,
            object_type="client",
            object_id=client_id,
            details={"fields": ",".join(changed)},
        )
    return load_client(vault, client_id)


def list_clients(
    vault: Vault, *, include_archived: bool = False, status: ClientStatus | None = None
) -> tuple[ClientSummary, ...]:
    where: list[str] = []
    params: dict[str, object] = {"now": to_iso(vault.options.clock())}
    if not include_archived:
        where.append("archived_at IS NULL")
    if status is not None:
        where.append("status = :status")
        params["status"] = str(status)
    # Last and next session per client: two lookups on the sessions(client_id, starts_at) index.
    sql = (
        "SELECT id, name, preferred_name, status, archived_at, updated_at,"
        " (SELECT max(s.starts_at) FROM sessions s WHERE s.client_id = clients.id"
        "  AND s.starts_at <= :now AND s.attendance != 'cancelled'),"
        " (SELECT min(s.starts_at) FROM sessions s WHERE s.client_id = clients.id"
        "  AND s.starts_at > :now AND s.attendance = 'scheduled')"
        " FROM clients"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY name COLLATE NOCASE, seq"
    with vault.transaction() as tx:
        rows = tx.execute(sql, params).fetchall()
        tx.audit(
            AuditAction.CLIENTS_LISTED,
            object_type="client",
            details={
                "count": len(rows),
                "include_archived": include_archived,
                "status": None if status is None else str(status),
            },
        )
    return tuple(
        ClientSummary(
            r[0],
            r[1],
            r[2],
            ClientStatus(r[3]),
            r[4] is not None,
            from_iso(r[5]),
            maybe_from_iso(r[6]),
            maybe_from_iso(r[7]),
        )
        for r in rows
    )


def set_archived(vault: Vault, client_id: str, archived: bool) -> Client:
    client = load_client(vault, client_id)
    if client.archived == archived:
        return client
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE clients SET archived_at = ?, updated_at = ? WHERE id = ?",
            (now if archived else None, now, client_id),
        )
        tx.audit(
            AuditAction.CLIENT_ARCHIVED if archived else AuditAction.CLIENT_RESTORED,
            object_type="client",
            object_id=client_id,
        )
    return load_client(vault, client_id)


@dataclass(frozen=True)
class DestructionReport:
    client_id: str
    sessions: int
    notes: int


def destroy_client(
    vault: Vault,
    client_id: str,
    *,
    confirm_name: str,
    reason: DestructionReason,
    retention_years: int,
    before_retention_ends: bool = False,
) -> DestructionReport:
    """The retention action: delete the client, their sessions and every note (signed ones too).
    Only for an archived client, with the full name typed to confirm, and, unless
    ``before_retention_ends`` is chosen explicitly, after ``retention_years`` since the last
    session or the archiving, whichever is later. The audit entries stay (they hold ids only)."""
    client = load_client(vault, client_id)
    if not client.archived or client.archived_at is None:
        raise RetentionError("archive the client before destroying the record")
    if confirm_name.strip() != client.details.name:
        raise RetentionError("type the client's full name exactly to confirm")
    last_session = vault.query(
        "SELECT max(starts_at) FROM sessions WHERE client_id = ?", (client_id,)
    )[0][0]
    last_service = max(
        client.archived_at, from_iso(last_session) if last_session else client.archived_at
    )
    retained_until = last_service + timedelta(days=round(365.25 * retention_years))
    early = vault.options.clock() < retained_until
    if early and not before_retention_ends:
        raise RetentionError(f"the retention period runs until {retained_until.date().isoformat()}")
    with vault.transaction() as tx:
        tx.execute("INSERT INTO retention_purge(client_id) VALUES (?)", (client_id,))
        tx.execute(
            "DELETE FROM note_autosave WHERE note_id IN (SELECT id FROM notes WHERE client_id = ?)",
            (client_id,),
        )
        notes = tx.execute(
            "SELECT count(*) FROM notes WHERE client_id = ?", (client_id,)
        ).fetchone()[0]
        tx.execute(
            "DELETE FROM note_headers WHERE note_id IN (SELECT id FROM notes WHERE client_id = ?)",
            (client_id,),
        )
        # Linked entries first, so that no note points at a deleted one.
        tx.execute("DELETE FROM notes WHERE client_id = ? AND parent_id IS NOT NULL", (client_id,))
        tx.execute("DELETE FROM notes WHERE client_id = ?", (client_id,))
        sessions = tx.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,)).rowcount
        tx.execute("DELETE FROM clients WHERE id = ?", (client_id,))
        tx.execute("DELETE FROM retention_purge WHERE client_id = ?", (client_id,))
        tx.audit(
            AuditAction.CLIENT_DESTROYED,
            object_type="client",
            object_id=client_id,
            details={
                "reason": str(reason),
                "notes": int(notes),
                "sessions": int(sessions),
                "before_retention_ended": early,
            },
        )
    return DestructionReport(client_id, int(sessions), int(notes))
