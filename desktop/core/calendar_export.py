"""The calendar exported for the therapist's own calendar app: an iCalendar file (RFC 5545, written
by the ``icalendar`` library) with one event per appointment between two days.

By default the file holds times and the word "Session" only: no client name, no notes, nothing
about how the session is held, no place. With ``include_names`` each event says "Session", a
dash and the client's name; that is a disclosure of each named client to whatever calendar
service the file goes to, so it is recorded per client (``calendar.names_disclosed``) next to the
entry every export writes (``calendar.exported``: how many events, which days, whether names
were in it).

Recurring series are written as single events, one per occurrence, exactly as the calendar holds
them (an occurrence moved or cancelled on its own is already its own row): every calendar app
reads single events the same way, whereas RRULE with EXDATE and RECURRENCE-ID overrides is where
apps disagree. Each event's UID is its appointment's id, so importing a later export again
updates the events already imported (a moved appointment moves) rather than adding copies.
Cancelled appointments are left out. Times are written in UTC (``DTSTART:...Z``), which every app
shows in the viewer's own time zone, with no time-zone definitions to get wrong.

The file is written atomically (temporary file, fsync, rename) and readable by its owner only
(0600). It is audited only once written; if the audit entry cannot be written, the file is
removed again: no export leaves a trace-less copy behind.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

from dateutil.relativedelta import relativedelta
from icalendar import Calendar, Event

from crypto.atomic import atomic_write
from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.calendar import HORIZON, extend_all
from desktop.core.errors import InvalidFieldError, PracticeError
from desktop.core.sessions import COLUMNS, Session, from_row
from desktop.core.stamps import to_iso

PRODID = "-//Quietroom//Calendar export//EN"
UID_DOMAIN = "quietroom.invalid"  # a UID's right-hand side: names no real host
SUMMARY = "Session"
DASH = " \N{EN DASH} "  # between "Session" and the name
RECIPIENT = "your own calendar app"
PURPOSE = "your own schedule"
SUFFIX = ".ics"


class CalendarExportError(PracticeError):
    """The calendar file could not be written; the message says why. Nothing was exported."""


@dataclass(frozen=True)
class CalendarExport:
    """What an export wrote."""

    path: Path
    events: int
    clients: int  # different clients among the events
    first_day: date
    last_day: date
    names_included: bool


@dataclass(frozen=True)
class _Line:
    session: Session
    client_name: str


def latest_last_day(now: datetime, zone: tzinfo | None = None) -> date:
    """The last day an export may reach: recurring series exist as appointments this far ahead
    (``calendar.HORIZON``), the same days the Calendar page shows."""
    return _local(now, zone).date() + HORIZON - timedelta(days=1)


def default_range(
    now: datetime, zone: tzinfo | None = None, first: date | None = None
) -> tuple[date, date]:
    """From ``first`` (default: today) through the same day three months on (31 January: 30
    April), within ``latest_last_day``."""
    start = first or _local(now, zone).date()
    return start, min(start + relativedelta(months=3), latest_last_day(now, zone))


@dataclass(frozen=True)
class ExportDays:
    """What an export offers by default, and how far it may reach, on the vault's clock."""

    first_day: date  # today
    last_day: date  # the same day three months on
    latest_last_day: date  # as far ahead as recurring series exist


def export_days(vault: Vault, zone: tzinfo | None = None) -> ExportDays:
    now = vault.options.clock()
    first, last = default_range(now, zone)
    return ExportDays(first, last, latest_last_day(now, zone))


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    return moment.astimezone(zone) if zone is not None else moment.astimezone()


def _start_of(day: date, zone: tzinfo | None) -> datetime:
    """Midnight at the start of ``day`` in ``zone`` (None: this computer's time zone, with its
    daylight-saving rules for that date)."""
    midnight = datetime.combine(day, time())
    return midnight.replace(tzinfo=zone) if zone is not None else midnight.astimezone()


def _check_path(to: Path) -> None:
    if to.is_dir():
        raise CalendarExportError(f"{to} is a folder: give a file name ending in {SUFFIX}")
    if not to.parent.is_dir():
        raise CalendarExportError(f"the folder {to.parent} does not exist")


def _read(vault: Vault, start: datetime, end: datetime) -> list[_Line]:
    """The appointments to export (not cancelled), oldest first. Unaudited here: the export's
    own entry, written once the file is, says what it held."""
    rows = vault.query(
        f"SELECT {COLUMNS}, c.name FROM sessions s JOIN clients c ON c.id = s.client_id"  # noqa: S608 (constant SQL)
        " WHERE s.attendance != 'cancelled' AND s.starts_at >= ? AND s.starts_at < ?"
        " ORDER BY s.starts_at, s.id",
        (to_iso(start), to_iso(end)),
    )
    return [_Line(from_row(row[:8]), str(row[8])) for row in rows]


def summary_of(line: _Line, include_names: bool) -> str:
    return f"{SUMMARY}{DASH}{line.client_name}" if include_names else SUMMARY


def calendar_bytes(lines: list[_Line], *, include_names: bool) -> bytes:
    """The iCalendar file: one VEVENT per appointment (times, "Session", and the client's name
    only when asked)."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Sessions")
    for line in lines:
        session = line.session
        event = Event()
        event.add("uid", f"{session.id}@{UID_DOMAIN}")
        # Without a METHOD, DTSTAMP is when the appointment last changed (RFC 5545 3.8.7.2): an
        # unchanged appointment is written the same way by every export.
        event.add("dtstamp", session.updated_at)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", summary_of(line, include_names))
        event.add("class", "PRIVATE")  # a hint for calendars the therapist shares
        cal.add_component(event)
    return bytes(cal.to_ical())


def export_calendar(
    vault: Vault,
    to: Path,
    first_day: date,
    last_day: date,
    *,
    include_names: bool = False,
    zone: tzinfo | None = None,
) -> CalendarExport:
    """Write the appointments from ``first_day`` through ``last_day`` (whole days in ``zone``;
    None: this computer's time zone) to ``to`` as an iCalendar file, and audit it."""
    now = vault.options.clock()
    if last_day < first_day:
        raise InvalidFieldError("the last day comes before the first day")
    latest = latest_last_day(now, zone)
    if last_day > latest:
        raise InvalidFieldError(
            f"appointments are known up to {latest.isoformat()}: choose that day or an earlier one"
        )
    _check_path(to)
    extend_all(vault, now)  # recurring series reach as far as the Calendar page shows
    lines = _read(vault, _start_of(first_day, zone), _start_of(last_day + timedelta(days=1), zone))
    data = calendar_bytes(lines, include_names=include_names)
    try:
        atomic_write(to, data)
    except OSError as exc:
        raise CalendarExportError(f"could not write {to}: {exc.strerror or exc}") from exc
    per_client: dict[str, int] = {}
    for line in lines:
        per_client[line.session.client_id] = per_client.get(line.session.client_id, 0) + 1
    try:
        _audit(vault, lines, per_client, first_day, last_day, include_names=include_names)
    except BaseException:
        with contextlib.suppress(OSError):
            to.unlink()
        raise
    return CalendarExport(to, len(lines), len(per_client), first_day, last_day, include_names)


def _audit(
    vault: Vault,
    lines: list[_Line],
    per_client: dict[str, int],
    first_day: date,
    last_day: date,
    *,
    include_names: bool,
) -> None:
    with vault.transaction() as tx:
        tx.audit(
            AuditAction.CALENDAR_EXPORTED,
            object_type="calendar",
            details={
                "events": len(lines),
                "clients": len(per_client),
                "first_day": first_day.isoformat(),
                "last_day": last_day.isoformat(),
                "names_included": include_names,
            },
        )
        if not include_names:
            return
        for client_id, events in per_client.items():
            tx.audit(
                AuditAction.CALENDAR_NAMES_DISCLOSED,
                object_type="client",
                object_id=client_id,
                details={
                    "client_id": client_id,
                    "events": events,
                    "recipient": RECIPIENT,
                    "purpose": PURPOSE,
                },
            )
