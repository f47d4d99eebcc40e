"""What a video call leaves in the record: which appointments may have one, one audit entry per
step (against the session and its client: ids, whole seconds and flags only), what each client
device said about where it is, the second participant of a couples or family session, and the
progress note offered after the call.

The call in progress (its state, and when each of these is written) is
:class:`desktop.core.calls.VideoCall`'s; these functions only write and read.

**Devices.** A session may admit a second client device (a couple in two places). The appointment
belongs to one client record (the client of the appointment, device 1); the person on the second
device is a *second participant*, named by the therapist when inviting the device (free text,
kept with the session in the vault, never in the audit log and never sent to the relay or to
either page). Entries about device 2 carry ``device: 2``; entries without ``device`` are about
device 1, exactly as in a one-device call.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.entry import Scalar
from crypto.vault import Vault
from desktop.core import notes, sessions
from desktop.core.clients import require_active
from desktop.core.errors import InvalidFieldError, PracticeError
from desktop.core.note_header import NoteHeader, write_header
from desktop.core.notes import Note
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.stamps import from_iso, to_iso
from desktop.core.templates import Template

MAX_CALL_SECONDS: Final = 24 * 3600  # a call longer than a day is a clock error
MAX_DEVICES: Final = 2  # the client's device and one more (a couple in two places)
MAX_PARTICIPANT_CHARS: Final = 100


class VideoSessionError(PracticeError):
    """This appointment cannot have a video session. The message says why; change the
    appointment on the client's page, then start the session again."""


class NotAVideoSessionError(VideoSessionError):
    """This appointment is not a video session (it is in person or by phone). Change its
    modality to video on the client's page to start a video session for it."""


class SessionCancelledError(VideoSessionError):
    """This appointment was cancelled, so no video session can start for it. Schedule a new
    appointment (or change this one's attendance back to scheduled) first."""


class SecondDeviceError(VideoSessionError):
    """A second device cannot be invited now. The message says why (the session has ended, a
    second device is already in it, or the participant's name is missing)."""


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


def _device(device: int) -> dict[str, Scalar]:
    if not 1 <= device <= MAX_DEVICES:
        raise InvalidFieldError(f"a call has devices 1 to {MAX_DEVICES}")
    return {} if device == 1 else {"device": device}


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


def check_participant(name: str) -> str:
    """The second participant's name as the therapist typed it: 1..100 characters, no control
    characters; surrounding spaces dropped."""
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= MAX_PARTICIPANT_CHARS or any(
        unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name
    ):
        raise SecondDeviceError(
            f"give the second participant's name (1 to {MAX_PARTICIPANT_CHARS} characters)"
        )
    return name


def record_second_device(vault: Vault, session_id: str, participant: str) -> None:
    """An invitation link for a second client device, for ``participant`` (the name the
    therapist gave): kept with the session, and ``call.invite_created`` with ``device: 2`` (the
    entry never holds the name)."""
    session = check_video_session(vault, session_id)
    name = check_participant(participant)
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO call_participants(session_id, device, invited_at, name)"
            " VALUES (?, 2, ?, ?)",
            (session.id, to_iso(vault.options.clock()), name),
        )
        tx.audit(
            AuditAction.CALL_INVITE_CREATED,
            object_type="session",
            object_id=session.id,
            details={"client_id": session.client_id, "device": 2},
        )


def participants_of(vault: Vault, session_id: str) -> list[str]:
    """The second participants invited for this session, oldest first (the caller audits what it
    shows)."""
    rows = vault.query(
        "SELECT name FROM call_participants WHERE session_id = ? ORDER BY seq", (session_id,)
    )
    return [name for (name,) in rows]


def _record_step(
    vault: Vault, session_id: str, action: AuditAction, outcome: Outcome, device: int
) -> None:
    details = _device(device)
    _record(vault, sessions.load_session(vault, session_id), action, outcome=outcome, **details)


@dataclass(frozen=True)
class SafetyDetails:
    """What a client entered on the page before being let in."""

    location: str  # where they were, confirmed by them
    emergency_phone: str
    recorded_at: datetime | None = None
    device: int = 1


def record_client_details(
    vault: Vault, session_id: str, details: SafetyDetails, device: int = 1
) -> None:
    """Keep a device's location and emergency number with the session
    (``call.client_details``: the entry says that they were kept, never what they are)."""
    session = sessions.load_session(vault, session_id)
    location, phone = details.location.strip(), details.emergency_phone.strip()
    if not 1 <= len(location) <= 200 or not 3 <= len(phone) <= 32:
        raise InvalidFieldError("a location (1..200 characters) and a phone number are needed")
    extra = _device(device)
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO call_client_details(session_id, recorded_at, location, emergency_phone,"
            " device) VALUES (?, ?, ?, ?, ?)",
            (session.id, to_iso(vault.options.clock()), location, phone, device),
        )
        tx.audit(
            AuditAction.CALL_CLIENT_DETAILS,
            object_type="session",
            object_id=session.id,
            details={"client_id": session.client_id, **extra},
        )


def client_details_of(vault: Vault, session_id: str) -> list[SafetyDetails]:
    """The details kept with the session, oldest first (the caller audits what it shows)."""
    rows = vault.query(
        "SELECT location, emergency_phone, recorded_at, device FROM call_client_details"
        " WHERE session_id = ? ORDER BY seq",
        (session_id,),
    )
    return [SafetyDetails(loc, phone, from_iso(at), device) for loc, phone, at, device in rows]


def record_admitted(vault: Vault, session_id: str, device: int = 1) -> None:
    """The therapist let the person in the waiting room in (``call.client_admitted``)."""
    _record_step(vault, session_id, AuditAction.CALL_CLIENT_ADMITTED, Outcome.SUCCESS, device)


def record_declined(vault: Vault, session_id: str, device: int = 1) -> None:
    """The therapist turned the person in the waiting room away (``call.client_declined``)."""
    _record_step(vault, session_id, AuditAction.CALL_CLIENT_DECLINED, Outcome.SUCCESS, device)


def record_verified(vault: Vault, session_id: str, device: int = 1) -> None:
    """The therapist and the person on this device read the same code (``call.verified``)."""
    _record_step(vault, session_id, AuditAction.CALL_VERIFIED, Outcome.SUCCESS, device)


def record_verification_mismatch(vault: Vault, session_id: str, device: int = 1) -> None:
    """The codes differed and the device was cut off (``call.verification_mismatch``,
    failure)."""
    _record_step(vault, session_id, AuditAction.CALL_VERIFICATION_MISMATCH, Outcome.FAILURE, device)


def record_started(vault: Vault, session_id: str) -> Session:
    """The call connected (``call.started``). An appointment still ``scheduled`` (or marked
    ``no_show`` before the client turned up late) becomes ``attended``, audited as usual
    (``session.updated``). Returns the appointment as it is now."""
    session = sessions.load_session(vault, session_id)
    mark = session.attendance in (Attendance.SCHEDULED, Attendance.NO_SHOW)
    _record(vault, session, AuditAction.CALL_STARTED, attendance_marked=mark)
    if mark:  # (moved to now if it was booked for later: next and last session stay right)
        return sessions.mark_held(vault, session_id, vault.options.clock())
    return session


def _check_duration(duration_s: float) -> int:
    if not 0 <= duration_s <= MAX_CALL_SECONDS:
        raise InvalidFieldError("a call lasts between 0 seconds and 24 hours")
    return round(duration_s)


def record_device_left(
    vault: Vault, session_id: str, device: int, duration_s: float, *, verified: bool
) -> None:
    """A device that was connected is not any more while the session goes on (its person left,
    another page knocked in its place, or its link ended), or the session with two devices
    ended: ``call.device_left`` with how long it was connected this time and whether its code
    was checked."""
    seconds = _check_duration(duration_s)
    _device(device)
    _record(
        vault,
        sessions.load_session(vault, session_id),
        AuditAction.CALL_DEVICE_LEFT,
        device=device,
        duration_seconds=seconds,
        verified=verified,
    )


def record_ended(
    vault: Vault,
    session_id: str,
    duration_s: float | None,
    *,
    verified: bool,
    failed: bool = False,
    devices: int = 1,
) -> None:
    """The session is over (``call.ended``). ``duration_s`` is ``None`` when the call never
    connected (declined, or closed while the client was still invited or waiting); ``failed``
    when it ended on an error (outcome ``failure``); ``devices`` 2 for a session that invited a
    second device (then named in the details)."""
    seconds = 0 if duration_s is None else _check_duration(duration_s)
    extra: dict[str, Scalar] = {} if devices == 1 else {"devices": devices}
    _record(
        vault,
        sessions.load_session(vault, session_id),
        AuditAction.CALL_ENDED,
        outcome=Outcome.FAILURE if failed else Outcome.SUCCESS,
        connected=duration_s is not None,
        duration_seconds=seconds,
        verified=verified,
        **extra,
    )


def call_header(started_at: datetime, duration_s: float) -> NoteHeader:
    """The call note's header fields: when the call began, how long it lasted (whole minutes)
    and that it was held by video."""
    if started_at.tzinfo is None:
        raise InvalidFieldError("the call's start time must carry a time zone")
    seconds = _check_duration(duration_s)
    return NoteHeader(started_at, round(seconds / 60), Modality.VIDEO)


def safety_lines(details: SafetyDetails, participant: str | None = None) -> str:
    """What a client confirmed in the waiting room, for the note's first section (about the
    second participant when ``participant`` is given)."""
    if participant is None:
        return (
            f"Client's location (confirmed by the client): {details.location}\n"
            f"Emergency phone number: {details.emergency_phone}\n\n"
        )
    return (
        f"{participant}'s location (confirmed by them): {details.location}\n"
        f"{participant}'s emergency phone number: {details.emergency_phone}\n\n"
    )


@dataclass(frozen=True)
class SecondParticipant:
    """The second participant of a couples or family session, for the note: the name the
    therapist gave, and how long their device was connected (``None``: it never joined)."""

    name: str
    connected_s: float | None


def participant_lines(participant: SecondParticipant) -> str:
    """Who else took part, for the note's first section."""
    if participant.connected_s is None:
        return (
            f"Second participant: {participant.name} was invited to join from their own "
            "device, and did not join.\n\n"
        )
    minutes = max(1, round(participant.connected_s / 60))
    return (
        f"Second participant: {participant.name}, from their own device "
        f"(connected about {minutes} min; security code compared separately).\n\n"
    )


def create_call_note(
    vault: Vault,
    session_id: str,
    started_at: datetime,
    duration_s: float,
    *,
    template: Template,
    author: str,
    participant: SecondParticipant | None = None,
) -> Note:
    """A progress-note draft for the session, from ``template``, linked to the session, its
    header fields (``note_header``) set to the call's start, length and modality; its first
    section starts with who else took part (a second participant) and what each device
    confirmed about where it was; the rest is empty to write in. Audited as any new note
    (``note.created``)."""
    session = check_video_session(vault, session_id)
    kept = client_details_of(vault, session_id)
    header = call_header(started_at, duration_s)  # checked before anything is written
    if participant is not None:
        check_participant(participant.name)
    note = notes.create_note(
        vault, session.client_id, template, author=author, session_id=session.id
    )
    first = _first_lines(kept, participant)
    with vault.transaction() as tx:
        write_header(tx, note.id, header)
        if first:  # what the page confirmed, and who else was there, stay in the note's text
            keys = [s.key for s in note.sections]
            body = notes.encode_body(keys, {keys[0]: first})
            tx.execute(
                "UPDATE notes SET body = ? WHERE id = ? AND status = 'draft'", (body, note.id)
            )
    return notes.read_note(vault, note.id)


def _first_lines(kept: Sequence[SafetyDetails], participant: SecondParticipant | None) -> str:
    text = participant_lines(participant) if participant is not None else ""
    client = [d for d in kept if d.device == 1]
    if client:
        text += safety_lines(client[-1])
    second = [d for d in kept if d.device == 2]
    if second and participant is not None:
        text += safety_lines(second[-1], participant.name)
    return text
