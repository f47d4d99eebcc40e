"""The therapist's calendar: every appointment across clients, recurring appointments, moves and
cancellations, double-booking warnings, and attendance.

Recurrence is RFC 5545's RRULE, computed by python-dateutil's ``rrule``/``rruleset`` (the
reference implementation of RFC 5545 recurrence in Python, well kept, and what ``icalendar``
itself builds on), never by hand. A series keeps its rule, its first start as local wall-clock
time and the IANA time zone it was made in, so that "weekly at 10:00" stays at 10:00 across
daylight-saving changes.

Occurrences are materialised as ordinary sessions (``sessions.series_id``/``recurrence_id``), up
to ``HORIZON`` ahead, so the client page, the client list's next and last session, notes, calls
and exports see them like any appointment. An occurrence moved or cancelled on its own is an
exception: its row keeps its recurrence id, so it is never re-created. "This and following"
splits the series: the old one ends (``UNTIL``) before the chosen occurrence, a new one begins
there; occurrences still to come and never held (scheduled, no note) of the old part are removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

from crypto.audit.actions import AuditAction
from crypto.migrations import Migration, statements
from crypto.vault import Transaction, Vault
from desktop.core.clients import require_active
from desktop.core.errors import InvalidFieldError, SessionNotFoundError
from desktop.core.sessions import (
    COLUMNS,
    DEFAULT_MINUTES,
    Attendance,
    Modality,
    ScheduledSession,
    Session,
    from_row,
    load_session,
)
from desktop.core.stamps import new_id, to_iso

COMPONENT = "calendar"
HORIZON = timedelta(weeks=26)  # occurrences exist this far ahead; extended as time passes
MAX_OCCURRENCES = 400  # per materialisation of one series (a weekly series for 7+ years)


class Repeat(StrEnum):
    NONE = "none"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"


RULES = {
    Repeat.WEEKLY: "FREQ=WEEKLY;INTERVAL=1",
    Repeat.FORTNIGHTLY: "FREQ=WEEKLY;INTERVAL=2",
    Repeat.MONTHLY: "FREQ=MONTHLY;INTERVAL=1",
}


class Scope(StrEnum):
    THIS = "this"  # this occurrence only (an exception to its series)
    FOLLOWING = "following"  # this and every later occurrence of the series


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "recurring appointment series",
        statements(
            "CREATE TABLE appointment_series("
            " seq INTEGER PRIMARY KEY,"
            " id TEXT NOT NULL UNIQUE,"
            " client_id TEXT NOT NULL REFERENCES clients(id),"
            " rule TEXT NOT NULL,"  # RFC 5545 RRULE value, without DTSTART
            " starts_local TEXT NOT NULL,"  # first occurrence, local wall-clock ISO 8601
            " tzid TEXT NOT NULL,"  # the IANA zone the wall-clock times are in
            " until_local TEXT,"  # last possible start (inclusive), local; NULL: open-ended
            " duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),"
            " modality TEXT NOT NULL CHECK (modality IN ('in_person', 'video', 'phone')),"
            " created_at TEXT NOT NULL,"
            " updated_at TEXT NOT NULL)",
            "CREATE INDEX appointment_series_client ON appointment_series(client_id)",
        ),
    ),
)

# Practice migration 3 (schema.py appends it): sessions know their series and occurrence, and
# whether a cancellation came late.
SESSION_STATEMENTS = statements(
    "ALTER TABLE sessions ADD COLUMN series_id TEXT",
    "ALTER TABLE sessions ADD COLUMN recurrence_id TEXT",
    "ALTER TABLE sessions ADD COLUMN late_cancel INTEGER NOT NULL DEFAULT 0",
    "CREATE UNIQUE INDEX sessions_occurrence ON sessions(series_id, recurrence_id)"
    " WHERE series_id IS NOT NULL",
)


@dataclass(frozen=True)
class Series:
    id: str
    client_id: str
    rule: str
    starts_local: datetime  # naive, wall-clock in ``tzid``
    tzid: str
    until_local: datetime | None
    duration_minutes: int
    modality: Modality

    @property
    def repeat(self) -> Repeat:
        return next((r for r, rule in RULES.items() if rule == self.rule), Repeat.NONE)

    def zone(self) -> ZoneInfo:
        return _zone(self.tzid)

    def starts(self, after: datetime, before: datetime) -> list[datetime]:
        """Occurrence starts (aware, UTC) with ``after <= start < before``."""
        rules = rruleset()
        rules.rrule(
            rrulestr(self.rule, dtstart=self.starts_local, forceset=False, cache=False)
            if self.until_local is None
            else rrulestr(f"{self.rule};UNTIL={self.until_local:%Y%m%dT%H%M%S}",
                          dtstart=self.starts_local, forceset=False, cache=False)
        )  # fmt: skip
        zone = self.zone()
        local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=1)
        local_before = before.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
        found = []
        for local in rules.between(local_after, local_before, inc=True):
            start = local.replace(tzinfo=zone).astimezone(after.tzinfo)
            if after <= start < before:
                found.append(start)
            if len(found) >= MAX_OCCURRENCES:
                break
        return found


@dataclass(frozen=True)
class Appointment:
    """A line of the calendar: the session, whom it is with, and its series if it recurs."""

    session: Session
    client_name: str
    repeat: Repeat = Repeat.NONE
    late_cancel: bool = False


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidFieldError(f"unknown time zone {tzid!r}") from None


def _series_from_row(row: tuple[object, ...]) -> Series:
    return Series(
        str(row[0]),
        str(row[1]),
        str(row[2]),
        datetime.fromisoformat(str(row[3])),
        str(row[4]),
        datetime.fromisoformat(str(row[5])) if row[5] else None,
        int(str(row[6])),
        Modality(str(row[7])),
    )


_SERIES = "id, client_id, rule, starts_local, tzid, until_local, duration_minutes, modality"


def load_series(vault: Vault, series_id: str) -> Series:
    rows = vault.query(f"SELECT {_SERIES} FROM appointment_series WHERE id = ?", (series_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise SessionNotFoundError(f"no series {series_id}")
    return _series_from_row(rows[0])


def _recurrence_id(start: datetime) -> str:
    return to_iso(start)


def _materialise(tx: Transaction, series: Series, after: datetime, before: datetime) -> int:
    """Insert the occurrences between ``after`` and ``before`` that have no row yet."""
    now = to_iso(datetime.now(after.tzinfo))
    added = 0
    for start in series.starts(after, before):
        cursor = tx.execute(
            "INSERT OR IGNORE INTO sessions(id, client_id, starts_at, duration_minutes, modality,"
            " attendance, created_at, updated_at, series_id, recurrence_id)"
            " VALUES (?, ?, ?, ?, ?, 'scheduled', ?, ?, ?, ?)",
            (new_id(), series.client_id, to_iso(start), series.duration_minutes,
             str(series.modality), now, now, series.id, _recurrence_id(start)),
        )  # fmt: skip
        added += cursor.rowcount
    return added


def extend_all(vault: Vault, now: datetime) -> int:
    """Make sure every open series has its occurrences up to ``now + HORIZON`` (called before
    the calendar or a client is read; cheap when nothing is missing)."""
    rows = vault.query(
        f"SELECT {_SERIES} FROM appointment_series s"  # noqa: S608 (constant SQL)
        " WHERE (until_local IS NULL OR until_local >= ?)"
        " AND NOT EXISTS (SELECT 1 FROM clients c WHERE c.id = s.client_id"
        "  AND c.archived_at IS NOT NULL)",
        (now.date().isoformat(),),
    )
    if not rows:
        return 0
    added = 0
    with vault.transaction() as tx:
        for row in rows:
            series = _series_from_row(row)
            last = tx.execute(
                "SELECT max(recurrence_id) FROM sessions WHERE series_id = ?", (series.id,)
            ).fetchone()[0]
            start = (
                now
                if last is None
                else max(now, datetime.fromisoformat(last.replace("Z", "+00:00")))
            )
            added += _materialise(tx, series, start, now + HORIZON)
    return added


def conflicts(
    vault: Vault,
    starts_at: datetime,
    duration_minutes: int,
    *,
    ignore: tuple[str, ...] = (),
) -> tuple[ScheduledSession, ...]:
    """Appointments (not cancelled) that overlap ``[starts_at, starts_at + duration)``: a double
    booking to warn about. Unaudited: it returns only times and names the caller already shows,
    and the booking that follows is audited."""
    ends_at = starts_at + timedelta(minutes=duration_minutes)
    rows = vault.query(
        f"SELECT {COLUMNS}, c.name FROM sessions s JOIN clients c ON c.id = s.client_id"  # noqa: S608 (constant SQL)
        " WHERE s.attendance != 'cancelled' AND s.starts_at < ? AND s.starts_at >= ?"
        " ORDER BY s.starts_at",
        (to_iso(ends_at), to_iso(starts_at - timedelta(days=1))),
    )
    found = []
    for row in rows:
        session = from_row(row[:8])
        if session.id in ignore:
            continue
        if session.starts_at < ends_at and session.ends_at > starts_at:
            found.append(ScheduledSession(session, str(row[8])))
    return tuple(found)


def create_appointment(
    vault: Vault,
    client_id: str,
    starts_at: datetime,
    *,
    duration_minutes: int = DEFAULT_MINUTES,
    modality: Modality = Modality.IN_PERSON,
    repeat: Repeat = Repeat.NONE,
    until: date | None = None,
    tzid: str = "UTC",
) -> Session:
    """A single appointment, or the first of a recurring series (weekly, every two weeks,
    monthly), in the client's schedule. Returns the first occurrence."""
    if starts_at.tzinfo is None:
        raise InvalidFieldError("the appointment's time must carry a time zone")
    require_active(vault, client_id)
    if not 1 <= duration_minutes <= 1440:
        raise InvalidFieldError("a session lasts between 1 minute and 24 hours")
    if repeat is Repeat.NONE:
        from desktop.core.sessions import schedule_session

        return schedule_session(vault, client_id, starts_at, duration_minutes=duration_minutes,
                                modality=modality)  # fmt: skip
    zone = _zone(tzid)
    local = starts_at.astimezone(zone).replace(tzinfo=None)
    until_local = datetime.combine(until, local.time()) if until is not None else None
    if until_local is not None and until_local < local:
        raise InvalidFieldError("the series would end before it begins")
    series = Series(new_id(), client_id, RULES[repeat], local, tzid, until_local,
                    duration_minutes, Modality(modality))  # fmt: skip
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        _insert_series(tx, series, now)
        _materialise(tx, series, starts_at, max(starts_at, vault.options.clock()) + HORIZON)
        tx.audit(
            AuditAction.APPOINTMENTS_SCHEDULED,
            object_type="series",
            object_id=series.id,
            details={"client_id": client_id, "repeat": str(repeat)},
        )
    first = vault.query(
        "SELECT id FROM sessions WHERE series_id = ? ORDER BY starts_at LIMIT 1", (series.id,)
    )
    return load_session(vault, first[0][0])


def _insert_series(tx: Transaction, series: Series, now: str) -> None:
    tx.execute(
        "INSERT INTO appointment_series(id, client_id, rule, starts_local, tzid, until_local,"
        " duration_minutes, modality, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (series.id, series.client_id, series.rule, series.starts_local.isoformat(), series.tzid,
         series.until_local.isoformat() if series.until_local else None,
         series.duration_minutes, str(series.modality), now, now),
    )  # fmt: skip


def _series_of(vault: Vault, session_id: str) -> tuple[Session, str | None]:
    session = load_session(vault, session_id)
    rows = vault.query("SELECT series_id FROM sessions WHERE id = ?", (session_id,))
    return session, (rows[0][0] if rows else None)


def _end_series_before(
    tx: Transaction, series: Series, occurrence: datetime, now: str, keep: str = ""
) -> None:
    """The series' last possible start becomes the local time just before ``occurrence``'s
    original start; later occurrences never held (scheduled, no note) are removed."""
    local = occurrence.astimezone(series.zone()).replace(tzinfo=None) - timedelta(seconds=1)
    tx.execute(
        "UPDATE appointment_series SET until_local = ?, updated_at = ? WHERE id = ?",
        (local.isoformat(), now, series.id),
    )
    tx.execute(
        "DELETE FROM sessions WHERE series_id = ? AND recurrence_id >= ?"
        " AND attendance = 'scheduled'"
        " AND id != ? AND NOT EXISTS (SELECT 1 FROM notes n WHERE n.session_id = sessions.id)",
        (series.id, _recurrence_id(occurrence), keep),
    )


def move_appointment(
    vault: Vault,
    session_id: str,
    starts_at: datetime,
    *,
    scope: Scope = Scope.THIS,
    duration_minutes: int | None = None,
    tzid: str = "UTC",
) -> Session:
    """Move one appointment (an exception to its series), or this and every following one of
    its series (the series splits). Returns the moved appointment."""
    if starts_at.tzinfo is None:
        raise InvalidFieldError("the appointment's time must carry a time zone")
    session, series_id = _series_of(vault, session_id)
    require_active(vault, session.client_id)
    minutes = duration_minutes or session.duration_minutes
    now = to_iso(vault.options.clock())
    if scope is Scope.THIS or series_id is None:
        from desktop.core.sessions import update_session

        return update_session(vault, session_id, starts_at=starts_at, duration_minutes=minutes)
    old = load_series(vault, series_id)
    original = _original_start(vault, session_id)
    zone = _zone(tzid)
    new = Series(new_id(), old.client_id, old.rule, starts_at.astimezone(zone).replace(tzinfo=None),
                 tzid, old.until_local, minutes, old.modality)  # fmt: skip
    with vault.transaction() as tx:
        _end_series_before(tx, old, original, now, keep=session_id)
        tx.execute(
            "UPDATE sessions SET starts_at = ?, duration_minutes = ?, series_id = ?,"
            " recurrence_id = ?, updated_at = ? WHERE id = ?",
            (to_iso(starts_at), minutes, new.id, _recurrence_id(starts_at), now, session_id),
        )
        _insert_series(tx, new, now)
        _materialise(tx, new, starts_at, max(starts_at, vault.options.clock()) + HORIZON)
        tx.audit(
            AuditAction.APPOINTMENTS_CHANGED,
            object_type="series",
            object_id=old.id,
            details={"client_id": old.client_id, "change": "moved", "scope": str(scope),
                     "new_series": new.id},
        )  # fmt: skip
    return load_session(vault, session_id)


def _original_start(vault: Vault, session_id: str) -> datetime:
    rows = vault.query("SELECT recurrence_id, starts_at FROM sessions WHERE id = ?", (session_id,))
    return _parse_utc(str(rows[0][0] or rows[0][1]))


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cancel_appointment(
    vault: Vault, session_id: str, *, scope: Scope = Scope.THIS, late: bool = False
) -> Session:
    """Cancel one appointment (``late``: a late cancellation, which practices often charge
    for), or this and every following one of its series (the series ends before it)."""
    session, series_id = _series_of(vault, session_id)
    now = to_iso(vault.options.clock())
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE sessions SET attendance = 'cancelled', late_cancel = ?, updated_at = ?"
            " WHERE id = ?",
            (int(late), now, session_id),
        )
        if scope is Scope.FOLLOWING and series_id is not None:
            series = load_series(vault, series_id)
            later = _original_start(vault, session_id) + timedelta(seconds=1)
            _end_series_before(tx, series, later, now)
        tx.audit(
            AuditAction.SESSION_UPDATED,
            object_type="session",
            object_id=session_id,
            details={"client_id": session.client_id, "fields": "attendance",
                     "late_cancel": late, "scope": str(scope)},
        )  # fmt: skip
    return load_session(vault, session_id)


def set_attendance(vault: Vault, session_id: str, attendance: Attendance) -> Session:
    """Attended, no-show or back to scheduled (cancelling has its own call)."""
    from desktop.core.sessions import update_session

    if attendance is Attendance.CANCELLED:
        return cancel_appointment(vault, session_id)
    with vault.transaction() as tx:
        tx.execute("UPDATE sessions SET late_cancel = 0 WHERE id = ?", (session_id,))
    return update_session(vault, session_id, attendance=attendance)


def appointments(vault: Vault, start: datetime, end: datetime) -> tuple[Appointment, ...]:
    """Every appointment between two times (a day, a week), across clients; audited as a look
    at the schedule (``session.listed``)."""
    extend_all(vault, vault.options.clock())
    with vault.transaction() as tx:
        rows = tx.execute(
            f"SELECT {COLUMNS}, c.name, s.late_cancel, a.rule FROM sessions s"  # noqa: S608 (constant SQL)
            " JOIN clients c ON c.id = s.client_id"
            " LEFT JOIN appointment_series a ON a.id = s.series_id"
            " WHERE s.starts_at >= ? AND s.starts_at < ? ORDER BY s.starts_at",
            (to_iso(start), to_iso(end)),
        ).fetchall()
        tx.audit(AuditAction.SESSIONS_LISTED, object_type="session", details={"count": len(rows)})
    found = []
    for row in rows:
        rule = row[10]
        repeat = next((r for r, text in RULES.items() if text == rule), Repeat.NONE)
        found.append(Appointment(from_row(row[:8]), str(row[8]), repeat, bool(row[9])))
    return tuple(found)
