"""Video calls in the record: which appointments may start one, the one owner of a call's state
(:class:`VideoCall`), its audit trail, and the progress note offered when a call ends.

A :class:`VideoCall` is made by ``Practice.open_video_call`` (appointment checked, invitation
made and audited). From then on it is driven by the ``telehealth`` session's own reports (the
lifecycle's state and event, the client's name, the verification code), wrapped around whatever
the user interface observes (:meth:`VideoCall.observe`), and by the therapist's intents
(:meth:`VideoCall.mark_verified`, :meth:`VideoCall.codes_differ`). Which audit entries are written
therefore depends on the lifecycle's events only, never on which widget saw which signal: a call
driven from a plain script records exactly what the app records.

Each step is recorded against the session (the entry's object) and its client (``client_id`` in
the details), so the audit view finds it under the client. Details hold ids, whole seconds and
flags only: never the name the client typed into the waiting room, the verification code, or
anything said or written during the call. An entry is written on the thread that reported the
step (the session's signalling thread for lifecycle events, the UI thread for the therapist's
intents), under the call's lock, so entries are in order and complete before :meth:`VideoCall.close`
returns (the app closes the call before it locks the vault).

``desktop.core`` imports only the pure parts of ``telehealth`` (the lifecycle's states and events,
the invitation, its errors: no aiortc, aiohttp or asyncio; ``tests/test_layers.py`` checks it):
the call's state is the lifecycle's, not a copy of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar, cast

from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.entry import Scalar
from crypto.errors import CryptoError
from crypto.vault import Vault
from desktop.core import notes, sessions
from desktop.core.clients import require_active
from desktop.core.errors import InvalidFieldError, PracticeError
from desktop.core.note_header import NoteHeader, write_header
from desktop.core.notes import Note
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.stamps import from_iso, to_iso
from desktop.core.templates import Template
from telehealth.errors import TelehealthError
from telehealth.forms import FormReply
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import TERMINAL_STATES, CallEvent, CallState

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


@dataclass(frozen=True)
class SafetyDetails:
    """What the client entered on the page before being let in."""

    location: str  # where they were, confirmed by them
    emergency_phone: str
    recorded_at: datetime | None = None


def record_client_details(vault: Vault, session_id: str, details: SafetyDetails) -> None:
    """Keep the client's location and emergency number with the session
    (``call.client_details``: the entry says that they were kept, never what they are)."""
    session = sessions.load_session(vault, session_id)
    location, phone = details.location.strip(), details.emergency_phone.strip()
    if not 1 <= len(location) <= 200 or not 3 <= len(phone) <= 32:
        raise InvalidFieldError("a location (1..200 characters) and a phone number are needed")
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO call_client_details(session_id, recorded_at, location, emergency_phone)"
            " VALUES (?, ?, ?, ?)",
            (session.id, to_iso(vault.options.clock()), location, phone),
        )
        tx.audit(
            AuditAction.CALL_CLIENT_DETAILS,
            object_type="session",
            object_id=session.id,
            details={"client_id": session.client_id},
        )


def client_details_of(vault: Vault, session_id: str) -> list[SafetyDetails]:
    """The details kept with the session, oldest first (the caller audits what it shows)."""
    rows = vault.query(
        "SELECT location, emergency_phone, recorded_at FROM call_client_details"
        " WHERE session_id = ? ORDER BY seq",
        (session_id,),
    )
    return [SafetyDetails(loc, phone, from_iso(at)) for loc, phone, at in rows]


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
    if mark:  # (moved to now if it was booked for later: next and last session stay right)
        return sessions.mark_held(vault, session_id, vault.options.clock())
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


def call_header(started_at: datetime, duration_s: float) -> NoteHeader:
    """The call note's header fields: when the call began, how long it lasted (whole minutes)
    and that it was held by video."""
    if started_at.tzinfo is None:
        raise InvalidFieldError("the call's start time must carry a time zone")
    seconds = _check_duration(duration_s)
    return NoteHeader(started_at, round(seconds / 60), Modality.VIDEO)


def safety_lines(details: SafetyDetails) -> str:
    """What the client confirmed in the waiting room, for the note's first section."""
    return (
        f"Client's location (confirmed by the client): {details.location}\n"
        f"Emergency phone number: {details.emergency_phone}\n\n"
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
    """A progress-note draft for the session, from ``template``, linked to the session, its
    header fields (``note_header``) set to the call's start, length and modality; its sections
    empty to write in. Audited as any new note (``note.created``)."""
    session = check_video_session(vault, session_id)
    kept = client_details_of(vault, session_id)
    header = call_header(started_at, duration_s)  # checked before anything is written
    note = notes.create_note(
        vault, session.client_id, template, author=author, session_id=session.id
    )
    with vault.transaction() as tx:
        write_header(tx, note.id, header)
        if kept:  # the client's confirmed location and emergency number stay in the note's text
            keys = [s.key for s in note.sections]
            body = notes.encode_body(keys, {keys[0]: safety_lines(kept[-1])})
            tx.execute(
                "UPDATE notes SET body = ? WHERE id = ? AND status = 'draft'", (body, note.id)
            )
    return notes.read_note(vault, note.id)


# -- the call in progress -----------------------------------------------------------------------


class CallObserver(Protocol):
    """The session's callbacks a :class:`VideoCall` sits in front of (``telehealth.session``'s
    ``SessionCallbacks`` has these fields, and more that the call passes through untouched)."""

    @property
    def on_state(self) -> Callable[[CallState, CallEvent], None]: ...
    @property
    def on_client_waiting(self) -> Callable[[str], None]: ...
    @property
    def on_verification_code(self) -> Callable[[str], None]: ...
    @property
    def on_unverified(self) -> Callable[[], None]: ...
    @property
    def on_client_details(self) -> Callable[[str, str], None]: ...
    @property
    def on_peer_video(self) -> Callable[[bool], None]: ...
    @property
    def on_form_reply(self) -> Callable[[FormReply], None]: ...


ObserverT = TypeVar("ObserverT", bound=CallObserver)


@dataclass(frozen=True)
class NoteOffer:
    """What the progress note offered after a connected call starts with."""

    started_at: datetime  # local wall-clock time when the media connected
    duration_s: float


class VideoCall:
    """One video session's state, from the invitation to the end, and its record.

    Thread-safe: the session's thread reports lifecycle events, the UI thread reads the state and
    forwards the therapist's intents. The state is read through properties; ``changed`` listeners
    are not kept here (the UI observes the session's callbacks, which run after this call has
    taken each report in: see :meth:`observe`).
    """

    def __init__(
        self,
        vault: Vault,
        session: Session,
        invite: Invite,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self._vault = vault
        self.session_id = session.id
        self.client_id = session.client_id
        self.invite = invite
        self._clock = clock
        self._now = now
        self._lock = threading.RLock()
        self._state = CallState.IDLE
        self._event: CallEvent | None = None
        self._client_name: str | None = None
        self._code: str | None = None
        self._verified = False
        self._mismatch = False
        self._unverified = False
        self._rejoining = False
        self._client_left = False
        self._details: SafetyDetails | None = None
        self._audio_only = False
        self._started: float | None = None
        self._started_at: datetime | None = None
        self._duration: float | None = None
        self._ended: float | None = None
        self._closed = False  # no more records (the app locks or quits)
        self._problems: list[str] = []
        self._on_problem: Callable[[str], None] = lambda _text: None
        # Where a form filled in from the waiting room goes (the clinical record, which checks
        # it against the form sent and keeps it): set by Practice.open_video_call.
        self.form_sink: Callable[[FormReply], object] | None = None

    # -- what the call is now -----------------------------------------------------------------

    @property
    def link(self) -> str:
        return self.invite.link

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def last_event(self) -> CallEvent | None:
        return self._event

    @property
    def client_name(self) -> str | None:
        """The name the client typed in the waiting room (untrusted: display as plain text)."""
        return self._client_name

    @property
    def code(self) -> str | None:
        return self._code

    @property
    def verified(self) -> bool:
        return self._verified

    @property
    def codes_differed(self) -> bool:
        return self._mismatch

    @property
    def unverified(self) -> bool:
        """Connected for a while and no code appeared: the call could not be verified."""
        return self._unverified

    @property
    def rejoining(self) -> bool:
        """The one waiting knocked from another page or device during the call."""
        return self._rejoining

    @property
    def client_details(self) -> SafetyDetails | None:
        """The location and emergency number the client entered in the waiting room (untrusted
        text: display it as plain text)."""
        return self._details

    @property
    def audio_only(self) -> bool:
        """The call is sound only (either side switched); video is off both ways."""
        return self._audio_only

    def set_audio_only(self, on: bool) -> None:
        """Either side switched the call to sound only, or back to video."""
        with self._lock:
            self._audio_only = on and not self.finished

    @property
    def client_left(self) -> bool:
        """The client left; the session is still open and they may join again."""
        return self._client_left

    @property
    def finished(self) -> bool:
        return self._state in TERMINAL_STATES or self._closed

    @property
    def connected_once(self) -> bool:
        return self._started is not None

    @property
    def live(self) -> bool:
        """The call connected and has not ended: auto-lock waits."""
        return self._started is not None and not self.finished

    @property
    def duration(self) -> float | None:
        """Seconds from the first connection to the end; ``None`` if it never connected or has
        not ended."""
        return self._duration

    @property
    def problems(self) -> list[str]:
        """Steps that could not be recorded, in words."""
        with self._lock:
            return list(self._problems)

    def elapsed(self) -> float | None:
        """Seconds since the media first connected (frozen at the end); ``None`` before."""
        with self._lock:
            if self._started is None:
                return None
            end = self._ended if self._ended is not None else self._clock()
            return max(0.0, end - self._started)

    def note_offer(self) -> NoteOffer | None:
        """The progress note to offer once a call that connected has ended."""
        with self._lock:
            if self._duration is None or self._started_at is None:
                return None
            return NoteOffer(self._started_at, self._duration)

    # -- reports from the session (any thread) --------------------------------------------------

    def observe(
        self, ui: ObserverT, *, on_problem: Callable[[str], None] | None = None
    ) -> ObserverT:
        """``ui``'s session callbacks (``telehealth.session.SessionCallbacks``, a frozen
        dataclass) with this call in front: each state, name and code is taken in here first,
        then passed on. Give the result to the session. ``on_problem`` hears (on the reporting
        thread) of a step that could not be recorded."""
        if on_problem is not None:
            self._on_problem = on_problem

        def on_state(state: CallState, event: CallEvent) -> None:
            self.lifecycle(state, event)
            ui.on_state(state, event)

        def on_client_waiting(name: str) -> None:
            self.client_waiting(name)
            ui.on_client_waiting(name)

        def on_code(code: str) -> None:
            self.code_ready(code)
            ui.on_verification_code(code)

        def on_unverified() -> None:
            self.not_verified()
            ui.on_unverified()

        def on_client_details(location: str, phone: str) -> None:
            self.details_given(location, phone)
            ui.on_client_details(location, phone)

        def on_peer_video(video: bool) -> None:
            self.set_audio_only(not video)
            ui.on_peer_video(video)

        def on_form_reply(reply: FormReply) -> None:
            self.form_replied(reply)
            ui.on_form_reply(reply)

        return cast(
            ObserverT,
            replace(
                cast(Any, ui),
                on_state=on_state,
                on_client_waiting=on_client_waiting,
                on_verification_code=on_code,
                on_unverified=on_unverified,
                on_client_details=on_client_details,
                on_peer_video=on_peer_video,
                on_form_reply=on_form_reply,
            ),
        )

    def lifecycle(self, state: CallState, event: CallEvent) -> None:
        """The session's lifecycle moved to ``state`` on ``event``: record what it means."""
        with self._lock:
            if self.finished:
                return
            self._state, self._event = state, event
            if event in (CallEvent.KNOCK_AGAIN, CallEvent.PEER_LEFT):
                # A new knock (another page or device) or the client gone: whoever is admitted
                # next compares a new code.
                self._code = None
                self._verified = self._mismatch = self._unverified = False
                self._details = None  # the next page tells us again
                self._audio_only = False  # and starts with video
            if state is CallState.WAITING:
                self._rejoining = event is CallEvent.KNOCK_AGAIN
            self._client_left = event is CallEvent.PEER_LEFT
            if state is CallState.ADMITTED and event is CallEvent.ADMIT_GIVEN:
                self._write(record_admitted)
                details = self._details
                if details is not None:
                    self._write(
                        lambda vault, session_id: record_client_details(vault, session_id, details)
                    )
            elif state is CallState.CONNECTED and self._started is None:
                self._started = self._clock()
                self._started_at = self._now()
                self._write(record_started)
            elif state in TERMINAL_STATES:
                if event is CallEvent.DECLINE_GIVEN:
                    self._write(record_declined)
                self._end(failed=state is CallState.FAILED)

    def client_waiting(self, name: str) -> None:
        with self._lock:
            self._client_name = name

    def details_given(self, location: str, phone: str) -> None:
        with self._lock:
            self._details = SafetyDetails(location, phone)

    def code_ready(self, code: str) -> None:
        with self._lock:
            self._code = code
            self._unverified = False

    def not_verified(self) -> None:
        """The session's verification deadline passed without a code."""
        with self._lock:
            if self._code is None and not self.finished:
                self._unverified = True

    # -- the therapist's intents (UI thread) ----------------------------------------------------

    def mark_verified(self) -> bool:
        """Both people read the same code (``call.verified``, once). False if there is no code
        yet, the codes were already judged, or the call is over."""
        with self._lock:
            if self._code is None or self._verified or self._mismatch or self.finished:
                return False
            self._verified = True
            self._write(record_verified)
            return True

    def codes_differ(self) -> bool:
        """The codes differed (``call.verification_mismatch``): the caller hangs up at once."""
        with self._lock:
            if self._code is None or self._verified or self._mismatch or self.finished:
                return False
            self._mismatch = True
            self._write(record_verification_mismatch)
            return True

    def close(self) -> None:
        """The app locks or quits: record the end of a call not yet ended (as a plain end; a
        step being written meanwhile completes first), and record nothing after. Safe to call
        more than once."""
        with self._lock:
            if not self.finished:
                self._end(failed=False)
            self._closed = True

    # -- recording --------------------------------------------------------------------------

    def _end(self, *, failed: bool) -> None:
        if self._started is not None:
            self._ended = self._clock()
            self._duration = min(max(0.0, self._ended - self._started), MAX_CALL_SECONDS)
        duration, verified = self._duration, self._verified
        self._write(
            lambda vault, session_id: record_ended(
                vault, session_id, duration, verified=verified, failed=failed
            )
        )

    def form_replied(self, reply: FormReply) -> None:
        """A form the client filled in from the waiting room: handed to ``form_sink``; a reply
        that does not check out (or cannot be kept) is a problem the window hears of."""
        sink = self.form_sink
        if sink is None or self._closed:
            return
        try:
            sink(reply)
        except (PracticeError, CryptoError, TelehealthError) as exc:
            text = f"A form from the waiting room was not kept: {exc}."
            with self._lock:
                self._problems.append(text)
            self._on_problem(text)

    def _write(self, record: Callable[[Vault, str], object]) -> None:
        """Write the step now (the caller holds the lock)."""
        if self._closed:
            return
        try:
            record(self._vault, self.session_id)
        except (PracticeError, CryptoError) as exc:
            text = f"This step of the video session was not recorded: {exc}."
            with self._lock:
                self._problems.append(text)
            self._on_problem(text)


def open_video_call(
    vault: Vault,
    session_id: str,
    relay_origin: str,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
) -> VideoCall:
    """Check the appointment, make the invitation on ``relay_origin`` (``call.invite_created``)
    and return the call, ready to be given to a session. Raises :class:`VideoSessionError` (and
    the appointment's own errors) or ``telehealth``'s ``InviteLinkError`` for a bad relay."""
    session = check_video_session(vault, session_id)
    invite = new_invite(relay_origin)
    record_invite_created(vault, session_id)
    return VideoCall(vault, session, invite, clock=clock, now=now)


def create_note_for_call(
    vault: Vault, call: VideoCall, *, template: Template, author: str
) -> Note | None:
    """The prefilled progress note for a call that connected and ended (``None`` otherwise)."""
    offer = call.note_offer()
    if offer is None:
        return None
    return create_call_note(
        vault, call.session_id, offer.started_at, offer.duration_s, template=template, author=author
    )
