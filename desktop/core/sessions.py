"""Sessions (appointments): when, how long, how (in person, video, phone), and whether the client
came. A session not yet held is ``scheduled``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Transaction, Vault
from desktop.core.clients import require_active
from desktop.core.errors import InvalidFieldError, SessionNotFoundError
from desktop.core.stamps import from_iso, new_id, to_iso

DEFAULT_MINUTES = 50


class Modality(StrEnum):
    IN_PERSON = "in_person"
    VIDEO = "video"
    PHONE = "phone"


class Attendance(StrEnum):
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class Session:
    id: str
    client_id: str
    starts_at: datetime
    duration_minutes: int
    modality: Modality
    attendance: Attendance
    created_at: datetime
    updated_at: datetime
    note_ids: tuple[str, ...] = ()  # progress notes written for this session, oldest first

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class ScheduledSession:
    """A line of the schedule: the session and whom it is with."""

    session: Session
    client_name: str


COLUMNS = (
    "s.id, s.client_id, s.starts_at, s.duration_minutes, s.modality, s.attendance,"
    " s.created_at, s.updated_at"
)


def from_row(row: tuple[Any, ...], note_ids: tuple[str, ...] = ()) -> Session:
    return Session(
        row[0],
        row[1],
        from_iso(row[2]),
        int(row[3]),
        Modality(row[4]),
        Attendance(row[5]),
        from_iso(row[6]),
        from_iso(row[7]),
        note_ids,
    )


def _check_duration(minutes: int) -> int:
    if not 1 <= minutes <= 1440:
        raise InvalidFieldError("a session lasts between 1 minute and 24 hours")
    return minutes


def load_session(vault: Vault, session_id: str) -> Session:
    rows = vault.query(f"SELECT {COLUMNS} FROM sessions s WHERE s.id = ?", (session_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise SessionNotFoundError(f"no session {session_id}")
    notes = vault.query(
        "SELECT id FROM notes WHERE session_id = ? AND compartment = 'progress' ORDER BY seq",
        (session_id,),
    )
    return from_row(rows[0], tuple(r[0] for r in notes))


def schedule_session(
    vault: Vault,
    client_id: str,
    starts_at: datetime,
    *,
    duration_minutes: int = DEFAULT_MINUTES,
    modality: Modality = Modality.IN_PERSON,
    attendance: Attendance = Attendance.SCHEDULED,
) -> Session:
    require_active(vault, client_id)
    now = vault.options.clock()
    with vault.transaction() as tx:
        session_id = insert_session(
            tx, client_id, starts_at, now, duration_minutes=duration_minutes, modality=modality,
            attendance=attendance,
        )  # fmt: skip
    return load_session(vault, session_id)


def insert_session(
    tx: Transaction,
    client_id: str,
    starts_at: datetime,
    at: datetime,
    *,
    duration_minutes: int = DEFAULT_MINUTES,
    modality: Modality = Modality.IN_PERSON,
    attendance: Attendance = Attendance.SCHEDULED,
) -> str:
    """Add a session and its ``session.created`` entry inside the caller's transaction (an
    import writes many in one; the caller has checked that the client is active)."""
    session_id = new_id()
    now = to_iso(at)
    tx.execute(
        "INSERT INTO sessions(id, client_id, starts_at, duration_minutes, modality,"
        " attendance, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            session_id,
            client_id,
            to_iso(starts_at),
            _check_duration(duration_minutes),
            str(Modality(modality)),
            str(Attendance(attendance)),
            now,
            now,
        ),
    )
    tx.audit(
        AuditAction.SESSION_CREATED,
        object_type="session",
        object_id=session_id,
        details={"client_id": client_id},
    )
    return session_id


def update_session(
    vault: Vault,
    session_id: str,
    *,
    starts_at: datetime | None = None,
    duration_minutes: int | None = None,
    modality: Modality | None = None,
    attendance: Attendance | None = None,
) -> Session:
    old = load_session(vault, session_id)
    new = (
        to_iso(starts_at or old.starts_at),
        _check_duration(duration_minutes or old.duration_minutes),
        str(Modality(modality or old.modality)),
        str(Attendance(attendance or old.attendance)),
    )
    names = ("starts_at", "duration_minutes", "modality", "attendance")
    before = (to_iso(old.starts_at), old.duration_minutes, str(old.modality), str(old.attendance))
    changed = [n for n, a, b in zip(names, new, before, strict=True) if a != b]
    if not changed:
        return old
    with vault.transaction() as tx:
        tx.execute(
            "UPDATE sessions SET starts_at = ?, duration_minutes = ?, modality = ?,"
            " attendance = ?, updated_at = ? WHERE id = ?",
            (*new, to_iso(vault.options.clock()), session_id),
        )
        tx.audit(
            AuditAction.SESSION_UPDATED,
            object_type="session",
            object_id=session_id,
            details={"client_id": old.client_id, "fields": ",".join(changed)},
        )
    return load_session(vault, session_id)


def sessions_of(vault: Vault, client_id: str) -> tuple[Session, ...]:
    """A client's sessions, newest first, with their progress-note ids (unaudited helper)."""
    rows = vault.query(
        f"SELECT {COLUMNS} FROM sessions s WHERE s.client_id = ? ORDER BY s.starts_at DESC",  # noqa: S608 (constant SQL)
        (client_id,),
    )
    links: dict[str, list[str]] = {}
    for session_id, note_id in vault.query(
        "SELECT session_id, id FROM notes WHERE client_id = ? AND compartment = 'progress'"
        " AND session_id IS NOT NULL ORDER BY seq",
        (client_id,),
    ):
        links.setdefault(session_id, []).append(note_id)
    return tuple(from_row(r, tuple(links.get(r[0], ()))) for r in rows)


def list_sessions(vault: Vault, start: datetime, end: datetime) -> tuple[ScheduledSession, ...]:
    """The schedule between two times (e.g. today, this week), across clients; audited."""
    with vault.transaction() as tx:
        rows = tx.execute(
            f"SELECT {COLUMNS}, c.name FROM sessions s JOIN clients c ON c.id = s.client_id"  # noqa: S608 (constant SQL)
            " WHERE s.starts_at >= ? AND s.starts_at < ? ORDER BY s.starts_at",
            (to_iso(start), to_iso(end)),
        ).fetchall()
        tx.audit(AuditAction.SESSIONS_LISTED, object_type="session", details={"count": len(rows)})
    return tuple(ScheduledSession(from_row(r[:8]), r[8]) for r in rows)


def mark_held(vault: Vault, session_id: str, started_at: datetime) -> Session:
    """The session was held (a video call connected at ``started_at``): attended, and, when the
    appointment still lay in the future (the call began early), moved to when it was held, so
    that the client's last and next session are right."""
    session = load_session(vault, session_id)
    moved = started_at if session.starts_at > started_at else None
    return update_session(vault, session_id, attendance=Attendance.ATTENDED, starts_at=moved)
