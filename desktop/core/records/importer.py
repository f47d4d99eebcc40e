"""Switching in: clients and appointments from another practice suite's CSV export.

Steps: read the file (``import_layouts.read_csv``), choose a layout and adjust its column
mapping, ``plan_import`` (a preview and a dry run in one: every row with what would happen and,
for a refused row, why; nothing written), then ``apply_import`` (audited, ``BATCH_ROWS`` rows
per transaction, each row's record committed with its link).

Re-running the same file adds nothing twice: each imported row is linked to the record it made
by (source, external key), where the key is the other program's id when the file has one, else
a natural key (clients: name and date of birth; appointments: client and start time). A client
already in the vault with the same name and date of birth is linked rather than duplicated, and
an appointment at the same start time for the same client likewise."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import TypeVar

from crypto.audit.actions import AuditAction
from crypto.vault import Transaction, Vault
from desktop.core.clients import ClientDetails, ClientStatus, insert_client
from desktop.core.errors import ClientArchivedError, InvalidFieldError, PracticeError
from desktop.core.records.errors import BillingError, MappingError
from desktop.core.records.import_layouts import (
    CsvTable,
    DateOrder,
    ImportKind,
    Layout,
    fields_of,
)
from desktop.core.records.insurance import (
    RELATIONSHIP_WORDS,
    Insurance,
    Relationship,
    write_insurance,
)
from desktop.core.sessions import Attendance, Modality, insert_session
from desktop.core.stamps import to_iso

DEFAULT_MINUTES = 50
_JOIN = {"name": " ", "address": ", ", "diagnosis_codes": ", "}

_ATTENDANCE_WORDS = {
    Attendance.ATTENDED: (
        "attended",
        "show",
        "showed",
        "checked out",
        "completed",
        "arrived",
        "kept",
        "yes",
    ),
    Attendance.NO_SHOW: ("no show", "no-show", "noshow", "did not attend", "dna", "missed"),
    Attendance.CANCELLED: (
        "cancelled",
        "canceled",
        "late cancel",
        "late canceled",
        "late cancelled",
        "cancelled by client",
        "canceled by client",
        "cancelled by clinician",
        "canceled by clinician",
    ),
    Attendance.SCHEDULED: ("scheduled", "booked", "confirmed", "pending", ""),
}
_MODALITY_WORDS = {
    Modality.VIDEO: ("video", "telehealth", "telemedicine", "virtual", "online", "zoom"),
    Modality.PHONE: ("phone", "telephone", "call", "audio"),
    Modality.IN_PERSON: ("in person", "in_person", "office", "clinic", "in-person", ""),
}
_STATUS_WORDS = {
    ClientStatus.ACTIVE: ("active", "yes", "true", "1", ""),
    ClientStatus.WAITLIST: ("waitlist", "waiting list", "prospective", "lead"),
    ClientStatus.DISCHARGED: ("discharged", "inactive", "no", "false", "0", "closed", "former"),
}


_W = TypeVar("_W", ClientStatus, Modality, Attendance, Relationship)


class RowAction(StrEnum):
    ADD = "add"  # a new record
    LINK = "link"  # the same record is already in the vault (entered by hand): linked, not added
    ALREADY = "already imported"  # this row was imported before
    REFUSE = "refuse"
    SKIP = "skip"  # an empty line


@dataclass(frozen=True)
class RowOutcome:
    line: int  # the line in the file (the header is line 1)
    action: RowAction
    reason: str  # why refused or linked; "" for an addition
    summary: str  # who the row is about (a client's name), for the preview
    key: str  # the external key the row is linked under
    when: datetime | None = None  # an appointment's start


@dataclass(frozen=True)
class ClientRow:
    details: ClientDetails
    insurance: Insurance | None = None  # None: self-pay (no insurance columns, or empty)


@dataclass(frozen=True)
class AppointmentRow:
    client_id: str
    starts_at: datetime
    duration_minutes: int
    modality: Modality
    attendance: Attendance


@dataclass
class ImportPlan:
    kind: ImportKind
    source: str
    outcomes: list[RowOutcome] = field(default_factory=list)
    rows: dict[int, ClientRow | AppointmentRow] = field(default_factory=dict)  # line -> row

    def count(self, action: RowAction) -> int:
        return sum(1 for o in self.outcomes if o.action is action)

    @property
    def refused(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.action is RowAction.REFUSE]


@dataclass(frozen=True)
class ImportReport:
    added: int
    linked: int
    already: int
    refused: int


class _RefusedError(Exception):
    pass


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", text).strip()


def mapped_value(row: Mapping[str, str], mapping: Mapping[str, tuple[str, ...]], name: str) -> str:
    parts = [row.get(c, "").strip() for c in mapping.get(name, ())]
    return _JOIN.get(name, " ").join(p for p in parts if p)


def parse_date(text: str, order: DateOrder) -> date:
    text = text.strip()
    match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if match:
        y, m, d = (int(g) for g in match.groups())
    else:
        match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})", text)
        if not match:
            raise _RefusedError(f"'{text}' is not a date")
        a, b, y = (int(g) for g in match.groups())
        if y < 100:
            y += 2000 if y < 70 else 1900
        m, d = (a, b) if order is not DateOrder.DMY else (b, a)
    try:
        return date(y, m, d)
    except ValueError:
        raise _RefusedError(f"'{text}' is not a date") from None


def parse_time(text: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2})?\s*([AaPp][Mm])?", text.strip())
    if not match:
        raise _RefusedError(f"'{text}' is not a time of day")
    hour, minute = int(match.group(1)), int(match.group(2))
    if match.group(3):
        if not 1 <= hour <= 12:
            raise _RefusedError(f"'{text}' is not a time of day")
        hour = hour % 12 + (12 if match.group(3).lower() == "pm" else 0)
    if hour > 23 or minute > 59:
        raise _RefusedError(f"'{text}' is not a time of day")
    return time(hour, minute)


def _date_and_time(text: str, order: DateOrder) -> tuple[date, time | None]:
    """A date, or a date and a time ("03/14/2026 2:00 PM", "2026-03-14T14:00")."""
    text = text.strip()
    parts = re.split(r"[ T]", text, maxsplit=1)
    day = parse_date(parts[0], order)
    return day, (parse_time(parts[1]) if len(parts) > 1 and parts[1].strip() else None)


def _word(text: str, table: Mapping[_W, tuple[str, ...]], what: str) -> _W:
    key = _norm(text)
    for value, words in table.items():
        if key in words:
            return value
    raise _RefusedError(f"'{text}' is not {what} Quietroom knows")


def _check_mapping(
    kind: ImportKind, mapping: Mapping[str, tuple[str, ...]], table: CsvTable
) -> None:
    for name, _label, required in fields_of(kind):
        if required and not mapping.get(name):
            raise MappingError(f"choose the column for: {_label}")
    unknown = sorted({c for cols in mapping.values() for c in cols} - set(table.columns))
    if unknown:
        raise MappingError(f"the file has no column named {', '.join(repr(c) for c in unknown)}")
    if kind is ImportKind.APPOINTMENTS and not (
        mapping.get("client_external_id") or mapping.get("client_name")
    ):
        raise MappingError("choose the column naming the client (their number or their name)")


# -- clients ---------------------------------------------------------------------------------
def _client_key(details: ClientDetails) -> str:
    born = details.date_of_birth.isoformat() if details.date_of_birth else ""
    return f"name:{_norm(details.name)}|{born}"


def _plan_clients(
    vault: Vault,
    table: CsvTable,
    layout: Layout,
    mapping: Mapping[str, tuple[str, ...]],
    plan: ImportPlan,
) -> None:
    linked = dict(
        vault.query(
            "SELECT external_key, client_id FROM import_client_links WHERE source = ?",
            (plan.source,),
        )
    )
    existing: dict[str, str] = {}
    for cid, name, born in vault.query("SELECT id, name, date_of_birth FROM clients"):
        existing.setdefault(f"name:{_norm(name)}|{born or ''}", cid)
    seen: set[str] = set()
    for index, row in enumerate(table.rows):
        line = index + 2
        if not row:
            plan.outcomes.append(RowOutcome(line, RowAction.SKIP, "empty line", "", ""))
            continue
        try:
            name = mapped_value(row, mapping, "name")
            if not name:
                raise _RefusedError("no name")
            born_text = mapped_value(row, mapping, "date_of_birth")
            born = parse_date(born_text, layout.date_order) if born_text else None
            if born is not None and not date(1900, 1, 1) <= born <= date.today():
                raise _RefusedError(f"date of birth '{born_text}' is not a past date")
            status = _word(mapped_value(row, mapping, "status"), _STATUS_WORDS, "a client status")
            details = ClientDetails(
                name=name,
                preferred_name=mapped_value(row, mapping, "preferred_name"),
                date_of_birth=born,
                pronouns=mapped_value(row, mapping, "pronouns"),
                email=mapped_value(row, mapping, "email"),
                phone=mapped_value(row, mapping, "phone"),
                address=mapped_value(row, mapping, "address"),
                emergency_contact=mapped_value(row, mapping, "emergency_contact"),
                diagnosis_codes=mapped_value(row, mapping, "diagnosis_codes"),
                status=status,
            )
            try:
                details.check()
            except InvalidFieldError as exc:
                raise _RefusedError(str(exc)) from None
            insurance = _insurance(row, mapping)
            external = mapped_value(row, mapping, "external_id")
            key = f"id:{external}" if external else _client_key(details)
            if key in seen:
                raise _RefusedError("the same client appears earlier in the file")
            seen.add(key)
        except _RefusedError as why:
            plan.outcomes.append(
                RowOutcome(line, RowAction.REFUSE, str(why), mapped_value(row, mapping, "name"), "")
            )
            continue
        summary = name
        if key in linked:
            plan.outcomes.append(
                RowOutcome(line, RowAction.ALREADY, "imported before", summary, key)
            )
        elif _client_key(details) in existing:
            plan.outcomes.append(
                RowOutcome(
                    line,
                    RowAction.LINK,
                    "already in Quietroom (same name and date of birth)",
                    summary,
                    key,
                )
            )
            plan.rows[line] = ClientRow(details, insurance)
        else:
            plan.outcomes.append(RowOutcome(line, RowAction.ADD, "", summary, key))
            plan.rows[line] = ClientRow(details, insurance)


def _insurance(row: Mapping[str, str], mapping: Mapping[str, tuple[str, ...]]) -> Insurance | None:
    """The row's insurance, None when its insurance columns are empty (self-pay); refused with
    the reason when incomplete (a payer without a member ID, a dependant without the holder)."""
    values = {name: mapped_value(row, mapping, name) for name in _INSURANCE_FIELDS}
    if not any(values.values()):
        return None
    if values["insurance_subscriber"] and not values["insurance_relationship"]:
        raise _RefusedError(
            "insurance: a policy holder is named but not how the client is related to them"
        )
    relationship = _word(
        values["insurance_relationship"], RELATIONSHIP_WORDS, "a relationship to a policy holder"
    )
    try:
        return Insurance(
            payer_name=values["insurance_payer"],
            member_id=values["insurance_member_id"],
            group_number=values["insurance_group_number"],
            relationship=relationship,
            subscriber_name=values["insurance_subscriber"],
        ).check()
    except BillingError as exc:
        raise _RefusedError(f"insurance: {exc}") from None


_INSURANCE_FIELDS = (
    "insurance_payer", "insurance_member_id", "insurance_group_number", "insurance_relationship",
    "insurance_subscriber",
)  # fmt: skip


# -- appointments ------------------------------------------------------------------------------
def _plan_appointments(
    vault: Vault,
    table: CsvTable,
    layout: Layout,
    mapping: Mapping[str, tuple[str, ...]],
    plan: ImportPlan,
    zone: tzinfo | None,
) -> None:
    linked = {
        k
        for (k,) in vault.query(
            "SELECT external_key FROM import_session_links WHERE source = ?", (plan.source,)
        )
    }
    client_links = dict(
        vault.query(
            "SELECT external_key, client_id FROM import_client_links WHERE source = ?",
            (plan.source,),
        )
    )
    by_name: dict[str, list[tuple[str, bool]]] = {}
    for cid, name, archived in vault.query("SELECT id, name, archived_at FROM clients"):
        by_name.setdefault(_norm(name), []).append((cid, archived is not None))
    archived = {cid for entries in by_name.values() for cid, gone in entries if gone}
    starts = {
        (cid, start) for cid, start in vault.query("SELECT client_id, starts_at FROM sessions")
    }
    seen: set[str] = set()
    for index, row in enumerate(table.rows):
        line = index + 2
        if not row:
            plan.outcomes.append(RowOutcome(line, RowAction.SKIP, "empty line", "", ""))
            continue
        client_label = mapped_value(row, mapping, "client_name") or mapped_value(
            row, mapping, "client_external_id"
        )
        try:
            client_id = _find_client(row, mapping, client_links, by_name)
            if client_id in archived:
                raise _RefusedError("the client is archived in Quietroom")
            day, at = _date_and_time(mapped_value(row, mapping, "date"), layout.date_order)
            start_text = mapped_value(row, mapping, "start_time")
            if start_text:
                at = parse_time(start_text)
            if at is None:
                raise _RefusedError("no start time")
            starts_at = _at(day, at, zone)
            minutes = _minutes(row, mapping, layout, day, starts_at, zone)
            modality = Modality(
                str(
                    _word(
                        mapped_value(row, mapping, "modality"),
                        _MODALITY_WORDS,
                        "a place or way of meeting",
                    )
                )
            )
            attendance = Attendance(
                str(
                    _word(
                        mapped_value(row, mapping, "attendance"),
                        _ATTENDANCE_WORDS,
                        "an attendance value",
                    )
                )
            )
            external = mapped_value(row, mapping, "external_id")
            key = f"id:{external}" if external else f"at:{client_id}|{to_iso(starts_at)}"
            if key in seen:
                raise _RefusedError("the same appointment appears earlier in the file")
            seen.add(key)
        except _RefusedError as why:
            plan.outcomes.append(RowOutcome(line, RowAction.REFUSE, str(why), client_label, ""))
            continue
        summary = client_label
        if key in linked:
            plan.outcomes.append(
                RowOutcome(line, RowAction.ALREADY, "imported before", summary, key, starts_at)
            )
            continue
        row_plan = AppointmentRow(client_id, starts_at, minutes, modality, attendance)
        plan.rows[line] = row_plan
        if (client_id, to_iso(starts_at)) in starts:
            plan.outcomes.append(
                RowOutcome(
                    line,
                    RowAction.LINK,
                    "the client already has a session at this time",
                    summary,
                    key,
                    starts_at,
                )
            )
        else:
            plan.outcomes.append(RowOutcome(line, RowAction.ADD, "", summary, key, starts_at))


def _find_client(
    row: Mapping[str, str],
    mapping: Mapping[str, tuple[str, ...]],
    links: Mapping[str, str],
    by_name: Mapping[str, list[tuple[str, bool]]],
) -> str:
    external = mapped_value(row, mapping, "client_external_id")
    if external and f"id:{external}" in links:
        return links[f"id:{external}"]
    name = mapped_value(row, mapping, "client_name")
    if name:
        matches = by_name.get(_norm(name), [])
        if len(matches) == 1:
            return matches[0][0]
        if len(matches) > 1:
            raise _RefusedError(
                f"more than one client is called '{name}'; import with client numbers"
            )
    if external:
        raise _RefusedError(f"no client with number '{external}': import the client list first")
    raise _RefusedError(f"no client called '{name}'" if name else "no client named")


def _minutes(
    row: Mapping[str, str],
    mapping: Mapping[str, tuple[str, ...]],
    layout: Layout,
    day: date,
    starts_at: datetime,
    zone: tzinfo | None,
) -> int:
    text = mapped_value(row, mapping, "duration_minutes")
    if text:
        match = re.fullmatch(r"(\d{1,4})(?:\s*min(?:utes)?)?", text, re.IGNORECASE)
        if not match:
            raise _RefusedError(f"'{text}' is not a number of minutes")
        minutes = int(match.group(1))
    elif end_text := mapped_value(row, mapping, "end_time"):
        end_day, end_at = (
            _date_and_time(end_text, layout.date_order)
            if re.search(r"[/\-]", end_text)
            else (day, parse_time(end_text))
        )
        if end_at is None:
            raise _RefusedError(f"'{end_text}' has no time of day")
        minutes = int((_at(end_day, end_at, zone) - starts_at) / timedelta(minutes=1))
    else:
        minutes = DEFAULT_MINUTES
    if not 1 <= minutes <= 1440:
        raise _RefusedError(f"a session of {minutes} minutes (it must be 1 minute to 24 hours)")
    return minutes


def plan_import(
    vault: Vault,
    table: CsvTable,
    kind: ImportKind,
    layout: Layout,
    mapping: Mapping[str, tuple[str, ...]],
    *,
    zone: tzinfo | None = None,
) -> ImportPlan:
    """The preview and dry run: what each row would become, and why a refused row is refused.
    Writes nothing."""
    _check_mapping(kind, mapping, table)
    plan = ImportPlan(kind, layout.key)
    if kind is ImportKind.CLIENTS:
        _plan_clients(vault, table, layout, mapping, plan)
    else:
        _plan_appointments(vault, table, layout, mapping, plan, zone)
    return plan


def _at(day: date, at: time, zone: tzinfo | None) -> datetime:
    """A wall-clock time in ``zone``; with none, in this computer's local time on that day (its
    own daylight-saving offset, not today's): a CSV holds the therapist's local times."""
    if zone is not None:
        return datetime.combine(day, at, zone)
    return datetime.combine(day, at).astimezone()


def audit_dry_run(vault: Vault, plan: ImportPlan) -> None:
    vault.audit(AuditAction.IMPORT_CHECKED, object_type="import", details=_counts(plan))


def _counts(plan: ImportPlan) -> dict[str, str | int]:
    return {
        "kind": str(plan.kind),
        "source": plan.source,
        "add": plan.count(RowAction.ADD),
        "link": plan.count(RowAction.LINK),
        "already": plan.count(RowAction.ALREADY),
        "refuse": plan.count(RowAction.REFUSE),
    }


BATCH_ROWS = 100
"""Rows written per transaction: each batch's records, their links and their audit entries
commit together (one seal, one header write), so an interruption leaves whole batches."""


@dataclass
class _Written:
    added: int = 0
    linked: int = 0


def apply_import(vault: Vault, plan: ImportPlan, *, batch_rows: int = BATCH_ROWS) -> ImportReport:
    """Write what the plan adds and links, ``batch_rows`` rows per audited transaction, then one
    summary entry. An interruption (a crash, a full disk, a closed laptop) leaves the batches
    already committed, each with its links: re-running the same file finds those rows
    ("imported before") and writes the rest, so nothing is added twice and nothing is lost."""
    existing_clients: dict[str, str] = {}
    if plan.kind is ImportKind.CLIENTS:
        for cid, name, born in vault.query("SELECT id, name, date_of_birth FROM clients"):
            existing_clients.setdefault(f"name:{_norm(name)}|{born or ''}", cid)
    existing_sessions = {
        (c, s): sid for sid, c, s in vault.query("SELECT id, client_id, starts_at FROM sessions")
    }
    active = {cid for (cid,) in vault.query("SELECT id FROM clients WHERE archived_at IS NULL")}
    todo = [o for o in plan.outcomes if o.action in (RowAction.ADD, RowAction.LINK)]
    written = _Written()
    for first in range(0, len(todo), max(1, batch_rows)):
        batch = todo[first : first + max(1, batch_rows)]
        try:
            with vault.transaction() as tx:
                counts = _Written()
                for outcome in batch:
                    _write_row(tx, vault, plan, outcome, existing_clients, existing_sessions,
                               active, counts)  # fmt: skip
        except PracticeError:
            # A row the vault refuses (its client archived since the check, say): write this
            # batch again one row per transaction, leaving out only the refused rows.
            counts = _Written()
            for outcome in batch:
                try:
                    with vault.transaction() as tx:
                        _write_row(tx, vault, plan, outcome, existing_clients,
                                   existing_sessions, active, counts)  # fmt: skip
                except PracticeError:
                    continue  # counted as refused below
        written.added += counts.added
        written.linked += counts.linked
    added, linked = written.added, written.linked
    report = ImportReport(
        added,
        linked,
        plan.count(RowAction.ALREADY),
        len(plan.outcomes)
        - added
        - linked
        - plan.count(RowAction.ALREADY)
        - plan.count(RowAction.SKIP),
    )
    vault.audit(
        AuditAction.IMPORT_COMPLETED,
        object_type="import",
        details={**_counts(plan), "added": added, "linked": linked},
    )
    return report


def _write_row(
    tx: Transaction,
    vault: Vault,
    plan: ImportPlan,
    outcome: RowOutcome,
    existing_clients: Mapping[str, str],
    existing_sessions: Mapping[tuple[str, str], str],
    active: set[str],
    counts: _Written,
) -> None:
    """One row's record (or the one it matches), its link and its audit entry, in ``tx``."""
    row = plan.rows[outcome.line]
    now = vault.options.clock()
    if isinstance(row, ClientRow):
        record_id = (
            existing_clients.get(_client_key(row.details))
            if outcome.action is RowAction.LINK
            else None
        )
        if record_id is None:
            record_id = insert_client(tx, row.details, now)
            if row.insurance is not None:  # a client found again keeps the insurance they have
                write_insurance(tx, record_id, row.insurance, now)
            counts.added += 1
        else:
            counts.linked += 1
        table, column = "import_client_links", "client_id"
    else:
        record_id = existing_sessions.get((row.client_id, to_iso(row.starts_at)))
        if record_id is None:
            if row.client_id not in active:
                raise ClientArchivedError("the client is archived")
            record_id = insert_session(
                tx, row.client_id, row.starts_at, now, duration_minutes=row.duration_minutes,
                modality=row.modality, attendance=row.attendance,
            )  # fmt: skip
            counts.added += 1
        else:
            counts.linked += 1
        table, column = "import_session_links", "session_id"
    tx.execute(
        f"INSERT OR IGNORE INTO {table}(source, external_key, {column}) VALUES (?, ?, ?)",  # noqa: S608 (two fixed table names)
        (plan.source, outcome.key, record_id),
    )
