"""Video calls in the record: which appointments may start one, the audit trail of each call, and
the progress note offered when a call ends.

The call itself (relay, media, verification) belongs to ``telehealth`` and the call window; this
module only sees what the app reports about it, and records each step against the session (the
entry's object) and its client (``client_id`` in the details), so the audit view finds it under the
client. Details hold ids, whole seconds and flags only: never the name the client typed into the
waiting room, the verification code, or anything said or written during the call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.entry import Scalar
from crypto.vault import Vault
from desktop.core import notes, sessions
from desktop.core.clients import require_active
from desktop.core.errors import InvalidFieldError, PracticeError
from desktop.core.notes import Note
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.templates import Template

MAX_CALL_SECONDS: Final = 24 * 3600  # a call longer than a day is a clock error


class VideoSessionError(PracticeError):
    """This appointment cannot have a video session. The message says why; change the
    appointment on the client's page, then start the session again."""


class NotAVideoSessionError(VideoSessionError):
    """This appointment is not a video session (it is in person or by phone). Change its
    modality to video on the client's page to start a video session for it."""


class SessionCancelledError(VideoSessionError):
    """This appointment was cancelled, so no video session can start for it. Schedule a new
    appointment (or change this one's attendance back to scheduled) first."""


def check_video_session(vault: Vault, session_id: str) -> Session:
    """The appointment, if a video session may start for it: it exists, its modality is video, it
    was not cancelled, and its client is not archived. Not audited: it returns only the
    appointment the caller already listed, and every step that follows is."""
    session = sessions.load_session(vault, session_id)
    if session.modality is not Modality.VIDEO:
        raise NotAVideoSessionError(
            "this appointment is not a video session: change its modality to video first"
        )
    if session.attendance is Attendance.CANCELLED:
        raise SessionCancelledError("this appointment was cancelled: no video session can start")
    require_active(vault, session.client_id)
    return session


def _record(
    vault: Vault,
    session: Session,
    action: AuditAction,
    *,
    outcome: Outcome = Outcome.SUCCESS,
    **details: Scalar,
) -> None:
    vault.audit(
        action,
        object_type="session",
        object_id=session.id,
        outcome=outcome,
        details={"client_id": session.client_id, **details},
    )


def record_invite_created(vault: Vault, session_id: str) -> None:
    """An invitation link for this appointment was made (``call.invite_created``)."""
    _record(vault, check_video_session(vault, session_id), AuditAction.CALL_INVITE_CREATED)


def _record_step(vault: Vault, session_id: str, action: AuditAction, outcome: Outcome) -> None:
    _record(vault, sessions.load_session(vault, session_id), action, outcome=outcome)


def record_admitted(vault: Vault, session_id: str) -> None:
    """The therapist let the person in the waiting room in (``call.client_admitted``)."""
    _record_step(vault, session_id, AuditAction.CALL_CLIENT_ADMITTED, Outcome.SUCCESS)


def record_declined(vault: Vault, session_id: str) -> None:
    """The therapist turned the person in the waiting room away (``call.client_declined``)."""
    _record_step(vault, session_id, AuditAction.CALL_CLIENT_DECLINED, Outcome.SUCCESS)


def record_verified(vault: Vault, session_id: str) -> None:
    """Both people read the same verification code (``call.verified``)."""
    _record_step(vault, session_id, AuditAction.CALL_VERIFIED, Outcome.SUCCESS)


def record_verification_mismatch(vault: Vault, session_id: str) -> None:
    """The codes differed and the call was ended (``call.verification_mismatch``, failure)."""
    _record_step(vault, session_id, AuditAction.CALL_VERIFICATION_MISMATCH, Outcome.FAILURE)


def record_started(vault: Vault, session_id: str) -> Session:
    """The call connected (``call.started``). An appointment still ``scheduled`` (or marked
    ``no_show`` before the client turned up late) becomes ``attended``, audited as usual
    (``session.updated``). Returns the appointment as it is now."""
    session = sessions.load_session(vault, session_id)
    mark = session.attendance in (Attendance.SCHEDULED, Attendance.NO_SHOW)
    _record(vault, session, AuditAction.CALL_STARTED, attendance_marked=mark)
    if mark:
        return sessions.update_session(vault, session_id, attendance=Attendance.ATTENDED)
    return session


def _check_duration(duration_s: float) -> int:
    if not 0 <= duration_s <= MAX_CALL_SECONDS:
        raise InvalidFieldError("a call lasts between 0 seconds and 24 hours")
    return round(duration_s)


def record_ended(
    vault: Vault,
    session_id: str,
    duration_s: float | None,
    *,
    verified: bool,
    failed: bool = False,
) -> None:
    """The session is over (``call.ended``). ``duration_s`` is ``None`` when the call never
    connected (declined, or closed while the client was still invited or waiting); ``failed``
    when it ended on an error (outcome ``failure``)."""
    seconds = 0 if duration_s is None else _check_duration(duration_s)
    _record(
        vault,
        sessions.load_session(vault, session_id),
        AuditAction.CALL_ENDED,
        outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
        connected=duration_s is not None,
        duration_seconds=seconds,
        verified=verified,
    )


def _zone(moment: datetime) -> str:
    offset = moment.utcoffset()
    if not offset:
        return "UTC"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _duration_text(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    return f"{minutes} min {secs:02d} s"


def call_note_header(started_at: datetime, duration_s: float) -> str:
    """The lines a call note starts with: date, time (in ``started_at``'s own time zone, which
    the app passes as the computer's local time), duration and modality; then an empty line to
    write on."""
    if started_at.tzinfo is None:
        raise InvalidFieldError("the call's start time must carry a time zone")
    seconds = _check_duration(duration_s)
    ended_at = started_at + timedelta(seconds=seconds)
    return (
        f"Date: {started_at:%Y-%m-%d}\n"
        f"Time: {started_at:%H:%M} to {ended_at:%H:%M} ({_zone(started_at)})\n"
        f"Duration: {_duration_text(seconds)}\n"
        "Modality: video (Quietroom, end-to-end encrypted)\n"
        "\n"
    )


def create_call_note(
    vault: Vault,
    session_id: str,
    started_at: datetime,
    duration_s: float,
    *,
    template: Template,
    author: str,
) -> Note:
    """A progress-note draft for the session, from ``template``, linked to the session, its first
    section starting with :func:`call_note_header`. Audited as any new note (``note.created``):
    the prefilled lines are part of creating it."""
    session = check_video_session(vault, session_id)
    header = call_note_header(started_at, duration_s)  # checked before anything is written
    note = notes.create_note(
        vault, session.client_id, template, author=author, session_id=session.id
    )
    keys = [s.key for s in note.sections]
    body = notes.encode_body(keys, {keys[0]: header})
    with vault.transaction() as tx:
        tx.execute("UPDATE notes SET body = ? WHERE id = ? AND status = 'draft'", (body, note.id))
    return notes.read_note(vault, note.id)
