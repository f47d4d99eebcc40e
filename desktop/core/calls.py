"""Video calls: the one owner of a call's state (:class:`VideoCall`), from the invitation to the
end, and when each step is recorded (:mod:`desktop.core.call_records` writes the entries).

A :class:`VideoCall` is made by ``Practice.open_video_call`` (appointment checked, invitation
made and audited). From then on it is driven by the ``telehealth`` sessions' own reports (the
lifecycle's state and event, the name typed in the waiting room, the verification code), wrapped
around whatever the user interface observes (:meth:`CallDevice.observe`), and by the therapist's
intents (:meth:`CallDevice.mark_verified`, :meth:`CallDevice.codes_differ`,
:meth:`VideoCall.add_device`). Which audit entries are written therefore depends on the lifecycle's
events only, never on which widget saw which signal: a call driven from a plain script records
exactly what the app records.

**Devices.** Each client device has its own invitation (its own relay room, keys and security
code) and its own session, so its own lifecycle: a :class:`CallDevice`. Device 1 is the
appointment's client; a couples or family session adds device 2 for a second participant
(:meth:`VideoCall.add_device`). The call has started when the first device connects, and ends
when every device's session has ended (or the app closes it). ``VideoCall``'s own ``state``,
``client_name``, ``code``... are device 1's, so a one-device call reads as it always has.

Each step is recorded against the session (the entry's object) and its client (``client_id`` in
the details), so the audit view finds it under the client. An entry is written on the thread that
reported the step (a session's signalling thread for lifecycle events, the UI thread for the
therapist's intents), under the call's lock, so entries are in order and complete before
:meth:`VideoCall.close` returns (the app closes the call before it locks the vault).

``desktop.core`` imports only the pure parts of ``telehealth`` (the lifecycle's states and events,
the invitation, its errors: no aiortc, aiohttp or asyncio; ``tests/test_layers.py`` checks it):
each device's state is the lifecycle's, not a copy of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

from crypto.errors import CryptoError
from crypto.vault import Vault
from desktop.core.call_records import (
    MAX_CALL_SECONDS,
    MAX_DEVICES,
    MAX_PARTICIPANT_CHARS,
    NotAVideoSessionError,
    SafetyDetails,
    SecondDeviceError,
    SecondParticipant,
    SessionCancelledError,
    VideoSessionError,
    call_header,
    check_participant,
    check_video_session,
    client_details_of,
    create_call_note,
    participant_lines,
    participants_of,
    record_admitted,
    record_client_details,
    record_declined,
    record_device_left,
    record_ended,
    record_invite_created,
    record_second_device,
    record_started,
    record_verification_mismatch,
    record_verified,
    safety_lines,
)
from desktop.core.errors import PracticeError
from desktop.core.notes import Note
from desktop.core.sessions import Session
from desktop.core.templates import Template
from telehealth.errors import TelehealthError
from telehealth.forms import FormReply
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import TERMINAL_STATES, CallEvent, CallState

__all__ = [
    "MAX_CALL_SECONDS",
    "MAX_DEVICES",
    "MAX_PARTICIPANT_CHARS",
    "CallDevice",
    "CallObserver",
    "NotAVideoSessionError",
    "NoteOffer",
    "SafetyDetails",
    "SecondDeviceError",
    "SecondParticipant",
    "SessionCancelledError",
    "VideoCall",
    "VideoSessionError",
    "call_header",
    "check_participant",
    "check_video_session",
    "client_details_of",
    "create_call_note",
    "create_note_for_call",
    "open_video_call",
    "participant_lines",
    "participants_of",
    "record_admitted",
    "record_client_details",
    "record_declined",
    "record_ended",
    "record_invite_created",
    "record_started",
    "record_verification_mismatch",
    "record_verified",
    "safety_lines",
]

_LIVE_STATES = (CallState.CONNECTED, CallState.RECONNECTING)


class CallObserver(Protocol):
    """The session's callbacks a :class:`CallDevice` sits in front of (``telehealth.session``'s
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
    participant: SecondParticipant | None = None  # a couples or family session's second person


class CallDevice:
    """One client device's part of a call: its invitation, its session's lifecycle state, the
    name typed on it, its security code and whether the therapist checked it, where the person
    said they are, and how long it has been connected. Device 1 is the appointment's client;
    device 2 a second participant, named by the therapist (``participant``).

    Its state changes only under the call's lock (:class:`VideoCall` decides what is recorded
    about it); the properties read it from any thread.
    """

    def __init__(
        self, call: VideoCall, number: int, invite: Invite, participant: str | None = None
    ) -> None:
        self._call = call
        self.number = number
        self.invite = invite
        self.participant = participant
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
        self._connected_since: float | None = None  # this stint's start (monotonic)
        self._connected_total = 0.0  # finished stints, in seconds
        self._connected_once = False

    # -- what the device is now ---------------------------------------------------------------

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
        """The name typed in this device's waiting room (untrusted: display as plain text)."""
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
        """Connected for a while and no code appeared: this link could not be verified."""
        return self._unverified

    @property
    def rejoining(self) -> bool:
        """The one waiting knocked from another page or device during the call."""
        return self._rejoining

    @property
    def client_details(self) -> SafetyDetails | None:
        """The location and emergency number entered in this device's waiting room (untrusted
        text: display it as plain text)."""
        return self._details

    @property
    def client_left(self) -> bool:
        """The person left; this device's session is still open and they may join again."""
        return self._client_left

    @property
    def finished(self) -> bool:
        """This device's session has ended (the call may go on with another device)."""
        return self._state in TERMINAL_STATES or self._call.finished

    @property
    def connected(self) -> bool:
        return self._connected_since is not None

    @property
    def connected_once(self) -> bool:
        return self._connected_once

    def connected_seconds(self) -> float:
        """How long this device has been connected in all, so far."""
        with self._call._lock:
            now = self._call._clock()
            since = self._connected_since
            return self._connected_total + (0.0 if since is None else max(0.0, now - since))

    # -- reports from the device's session (any thread) ---------------------------------------

    def observe(
        self, ui: ObserverT, *, on_problem: Callable[[str], None] | None = None
    ) -> ObserverT:
        """``ui``'s session callbacks (``telehealth.session.SessionCallbacks``, a frozen
        dataclass) with this device in front: each state, name and code is taken in here first,
        then passed on. Give the result to this device's session. ``on_problem`` hears (on the
        reporting thread) of a step that could not be recorded."""
        if on_problem is not None:
            self._call._on_problem = on_problem

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
            self._call.set_audio_only(not video)
            ui.on_peer_video(video)

        def on_form_reply(reply: FormReply) -> None:
            if self.number == 1:  # forms belong to the appointment's client
                self._call.form_replied(reply)
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
        """This device's session moved to ``state`` on ``event``: record what it means."""
        self._call._device_lifecycle(self, state, event)

    def client_waiting(self, name: str) -> None:
        with self._call._lock:
            self._client_name = name

    def details_given(self, location: str, phone: str) -> None:
        with self._call._lock:
            self._details = SafetyDetails(location, phone, device=self.number)

    def code_ready(self, code: str) -> None:
        with self._call._lock:
            self._code = code
            self._unverified = False

    def not_verified(self) -> None:
        """The session's verification deadline passed without a code."""
        with self._call._lock:
            if self._code is None and not self.finished:
                self._unverified = True

    # -- the therapist's intents (UI thread) ----------------------------------------------------

    def mark_verified(self) -> bool:
        """The therapist and the person on this device read the same code (``call.verified``,
        once). False if there is no code yet, the codes were already judged, or it is over."""
        with self._call._lock:
            if self._code is None or self._verified or self._mismatch or self.finished:
                return False
            self._verified = True
            self._call._write(record_verified, self.number)
            return True

    def codes_differ(self) -> bool:
        """The codes differed (``call.verification_mismatch``): the caller cuts this device off
        at once (in a one-device call, that ends the session)."""
        with self._call._lock:
            if self._code is None or self._verified or self._mismatch or self.finished:
                return False
            self._mismatch = True
            self._call._write(record_verification_mismatch, self.number)
            return True

    # -- under the call's lock ------------------------------------------------------------------

    def _forget_page(self) -> None:
        """The client left, or another page knocked: whoever is admitted next compares a new
        code, tells us again where they are, and starts with video."""
        self._code = None
        self._verified = self._mismatch = self._unverified = False
        self._details = None

    def _stint_ended(self, now: float) -> float | None:
        """Close the current connected stint; its length, or ``None`` if not connected."""
        since, self._connected_since = self._connected_since, None
        if since is None:
            return None
        seconds = min(max(0.0, now - since), MAX_CALL_SECONDS)
        self._connected_total += seconds
        return seconds


class VideoCall:
    """One video session's state, from the invitation to the end, and its record.

    Thread-safe: the sessions' threads report lifecycle events, the UI thread reads the state and
    forwards the therapist's intents. The state is read through properties; ``changed`` listeners
    are not kept here (the UI observes the sessions' callbacks, which run after this call has
    taken each report in: see :meth:`CallDevice.observe`).
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
        self._clock = clock
        self._now = now
        self._lock = threading.RLock()
        self._devices = [CallDevice(self, 1, invite)]
        self._second_invited = False  # a second device was invited at some point
        self._audio_only = False
        self._started: float | None = None
        self._started_at: datetime | None = None
        self._duration: float | None = None
        self._ended: float | None = None
        self._over = False  # the end is recorded: every device's session ended
        self._closed = False  # no more records (the app locks or quits)
        self._problems: list[str] = []
        self._on_problem: Callable[[str], None] = lambda _text: None
        # Where a form filled in from the waiting room goes (the clinical record, which checks
        # it against the form sent and keeps it): set by Practice.open_video_call.
        self.form_sink: Callable[[FormReply], object] | None = None

    # -- devices --------------------------------------------------------------------------------

    @property
    def devices(self) -> list[CallDevice]:
        """The client devices, device 1 (the appointment's client) first."""
        with self._lock:
            return list(self._devices)

    @property
    def first(self) -> CallDevice:
        return self._devices[0]

    @property
    def second(self) -> CallDevice | None:
        """The second participant's device, when one was invited (the latest invitation)."""
        with self._lock:
            return self._devices[1] if len(self._devices) > 1 else None

    def add_device(self, participant: str) -> CallDevice:
        """Invite a second client device for ``participant`` (the name the therapist gives the
        person on it, kept with the session): a new invitation of its own, audited
        ``call.invite_created`` with ``device: 2``. A second device whose session ended
        (declined, codes differed, failed) may be invited again: the new invitation replaces
        it. Raises :class:`SecondDeviceError` when the session has ended, a second device is
        still in it, or the name is missing."""
        name = check_participant(participant)
        with self._lock:
            if self.finished:
                raise SecondDeviceError("the session has ended: no device can join it now")
            current = self.second
            if current is not None and current.state not in TERMINAL_STATES:
                raise SecondDeviceError("a second device is already invited to this session")
            invite = new_invite(self.first.invite.relay_origin)
            record_second_device(self._vault, self.session_id, name)
            device = CallDevice(self, 2, invite, name)
            self._devices[1:] = [device]
            self._second_invited = True
            return device

    # -- device 1, as a one-device call reads it ----------------------------------------------

    @property
    def invite(self) -> Invite:
        return self.first.invite

    @property
    def link(self) -> str:
        return self.first.link

    @property
    def state(self) -> CallState:
        return self.first.state

    @property
    def last_event(self) -> CallEvent | None:
        return self.first.last_event

    @property
    def client_name(self) -> str | None:
        """The name the client typed in the waiting room (untrusted: display as plain text)."""
        return self.first.client_name

    @property
    def code(self) -> str | None:
        return self.first.code

    @property
    def verified(self) -> bool:
        return self.first.verified

    @property
    def codes_differed(self) -> bool:
        return self.first.codes_differed

    @property
    def unverified(self) -> bool:
        """Connected for a while and no code appeared: the call could not be verified."""
        return self.first.unverified

    @property
    def rejoining(self) -> bool:
        """The one waiting knocked from another page or device during the call."""
        return self.first.rejoining

    @property
    def client_details(self) -> SafetyDetails | None:
        """The location and emergency number the client entered in the waiting room (untrusted
        text: display it as plain text)."""
        return self.first.client_details

    @property
    def client_left(self) -> bool:
        """The client left; the session is still open and they may join again."""
        return self.first.client_left

    def observe(
        self, ui: ObserverT, *, on_problem: Callable[[str], None] | None = None
    ) -> ObserverT:
        """Device 1's :meth:`CallDevice.observe`."""
        return self.first.observe(ui, on_problem=on_problem)

    def lifecycle(self, state: CallState, event: CallEvent) -> None:
        self.first.lifecycle(state, event)

    def client_waiting(self, name: str) -> None:
        self.first.client_waiting(name)

    def details_given(self, location: str, phone: str) -> None:
        self.first.details_given(location, phone)

    def code_ready(self, code: str) -> None:
        self.first.code_ready(code)

    def not_verified(self) -> None:
        self.first.not_verified()

    def mark_verified(self) -> bool:
        return self.first.mark_verified()

    def codes_differ(self) -> bool:
        return self.first.codes_differ()

    # -- the whole call -------------------------------------------------------------------------

    @property
    def audio_only(self) -> bool:
        """The call is sound only (anyone switched); video is off for everyone."""
        return self._audio_only

    def set_audio_only(self, on: bool) -> None:
        """Someone switched the call to sound only, or back to video."""
        with self._lock:
            self._audio_only = on and not self.finished

    @property
    def finished(self) -> bool:
        return self._over or self._closed

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
            second = self.second
            participant = None
            if second is not None and second.participant is not None:
                seconds = second.connected_seconds() if second.connected_once else None
                participant = SecondParticipant(second.participant, seconds)
            return NoteOffer(self._started_at, self._duration, participant)

    def close(self) -> None:
        """The app locks or quits: record the end of a call not yet ended (as a plain end; a
        step being written meanwhile completes first), and record nothing after. Safe to call
        more than once."""
        with self._lock:
            if not self.finished:
                self._end(failed=False)
            self._closed = True

    # -- what each report means (under the lock) ------------------------------------------------

    def _device_lifecycle(self, device: CallDevice, state: CallState, event: CallEvent) -> None:
        with self._lock:
            if self.finished or device not in self._devices:
                return  # over, or a replaced invitation's late report
            now = self._clock()
            device._state, device._event = state, event
            if event in (CallEvent.KNOCK_AGAIN, CallEvent.PEER_LEFT):
                # A new knock (another page or device) or the person gone: whoever is admitted
                # next compares a new code.
                self._left(device, now)
                device._forget_page()
                if device.number == 1 or len(self._devices) == 1:
                    self._audio_only = False  # the next page starts with video
            if state is CallState.WAITING:
                device._rejoining = event is CallEvent.KNOCK_AGAIN
            device._client_left = event is CallEvent.PEER_LEFT
            if state is CallState.ADMITTED and event is CallEvent.ADMIT_GIVEN:
                self._write(record_admitted, device.number)
                details = device._details
                if details is not None:
                    self._write(
                        lambda vault, session_id, n: record_client_details(
                            vault, session_id, details, n
                        ),
                        device.number,
                    )
            elif state is CallState.CONNECTED and device._connected_since is None:
                device._connected_since = now
                device._connected_once = True
                if self._started is None:
                    self._started = now
                    self._started_at = self._now()
                    self._write(lambda vault, session_id, _n: record_started(vault, session_id))
            elif state in TERMINAL_STATES:
                if event is CallEvent.DECLINE_GIVEN:
                    self._write(record_declined, device.number)
                others_open = any(
                    d.state not in TERMINAL_STATES for d in self._devices if d is not device
                )
                if others_open:  # the session goes on with the other device
                    self._left(device, now)
                else:
                    self._end(failed=state is CallState.FAILED)

    def _left(self, device: CallDevice, now: float) -> None:
        """A connected device is not any more, while the session goes on."""
        verified = device._verified
        seconds = device._stint_ended(now)
        if seconds is not None:
            self._write(
                lambda vault, session_id, n: record_device_left(
                    vault, session_id, n, seconds, verified=verified
                ),
                device.number,
            )

    def _end(self, *, failed: bool) -> None:
        now = self._clock()
        if self._started is not None:
            self._ended = now
            self._duration = min(max(0.0, now - self._started), MAX_CALL_SECONDS)
        devices = 2 if self._second_invited else 1
        if devices > 1:  # each device still in: how long it was (device_left), then the end
            for device in self._devices:
                self._left(device, now)
        else:
            self.first._stint_ended(now)
        connected = [d for d in self._devices if d._connected_once]
        verified = bool(connected) and all(d._verified for d in connected)
        if devices == 1:
            verified = self.first._verified
        duration = self._duration
        self._write(
            lambda vault, session_id, _n: record_ended(
                vault, session_id, duration, verified=verified, failed=failed, devices=devices
            )
        )
        self._over = True

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

    def _write(self, record: Callable[[Vault, str, int], object], device: int = 1) -> None:
        """Write the step now (the caller holds the lock)."""
        if self._closed:
            return
        try:
            record(self._vault, self.session_id, device)
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
        vault,
        call.session_id,
        offer.started_at,
        offer.duration_s,
        template=template,
        author=author,
        participant=offer.participant,
    )
