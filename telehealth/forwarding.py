"""Couples and family sessions: a star through the therapist's app.

Each client device has a session of its own with the therapist's app (its own invitation, room,
keys and security code: :class:`telehealth.session.TherapistSession`), so the relay and each client
can reach the others only through the therapist's app. :class:`Forwarding` joins those sessions:
what the app receives from one device (decoded, as the therapist's window shows and plays it) is
re-sent to every other device on a video and an audio track of their own, after the therapist's
own tracks, and each client's page is told whose picture and voice each track carries and whether
that person is here (``protocol.Others``). Nothing is mixed or composited: a page shows one tile
per person and plays each voice on its own.

Why re-send decoded media rather than forward packets: aiortc decodes every track it receives and
re-encodes every track it sends (it has no packet forwarding), and each session's connection lives
on its own engine thread and event loop, so one connection's incoming track cannot be handed to
another (aiortc's ``MediaRelay`` works within one loop). The frames cross threads the way the
therapist's camera does (:class:`telehealth.capture_feed.CaptureFeed`): the newest picture and a
short sound buffer, never waiting on either side.

What each person can verify: a client's security code covers their own link with the therapist's
app, nothing more. The therapist compares a code with each device and so vouches for both; the
therapist's app sees and hears everything, as the therapist would in the room.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Final, TypeVar

from telehealth.capture_feed import CaptureFeed
from telehealth.engine import PcmChunk, RgbFrame
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import OtherDevice, SessionCallbacks, TherapistSession

log = logging.getLogger("telehealth.forwarding")
T = TypeVar("T")


# What aiortc's Opus decoder gives, and so what is re-sent: one shape for the whole call, because
# aiortc's Opus encoder keeps the shape of the first frame it is given.
VOICE_SHAPE: Final = (48000, 2, "s16")


class _Device:
    def __init__(self) -> None:
        self.feed = CaptureFeed()
        self.feed.pcm.configure(*VOICE_SHAPE)
        self.session: TherapistSession | None = None
        self.waiting_name = ""  # typed in the waiting room; told to the others once admitted
        self.name = ""
        self.state = "expected"

    @property
    def person(self) -> OtherDevice:
        return OtherDevice(self.name, self.state)


class Forwarding:
    """The client devices of one session and what each is sent of the others.

    For each device: wrap its session's callbacks with :meth:`callbacks` (they copy the decoded
    picture and voice into that device's feed and follow who is here), then give the session to
    :meth:`attach` once it is started. Thread-safe: callbacks run on the sessions' and engines'
    threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[int, _Device] = {}
        self._order: list[int] = []  # attached devices, in the order their tracks were added

    def _device(self, number: int) -> _Device:
        with self._lock:
            return self._devices.setdefault(number, _Device())

    def feed(self, number: int) -> CaptureFeed:
        """What device ``number`` sends, as the others receive it (tests look at it)."""
        return self._device(number).feed

    def callbacks(self, number: int, ui: SessionCallbacks) -> SessionCallbacks:
        """``ui`` with device ``number``'s picture, voice, name and presence taken in first."""
        device = self._device(number)
        feed = device.feed

        def on_video(frame: RgbFrame) -> None:
            if device.state == "here":
                feed.put_frame(frame)
            ui.on_video(frame)

        def on_audio(chunk: PcmChunk) -> None:
            if device.state == "here" and (chunk.sample_rate, chunk.channels) == VOICE_SHAPE[:2]:
                feed.pcm.write(chunk.data)
            ui.on_audio(chunk)

        def on_client_waiting(name: str) -> None:
            device.waiting_name = name
            ui.on_client_waiting(name)

        def on_state(state: CallState, event: CallEvent) -> None:
            self._presence(number, state, event)
            ui.on_state(state, event)

        return replace(
            ui,
            on_video=on_video,
            on_audio=on_audio,
            on_client_waiting=on_client_waiting,
            on_state=on_state,
        )

    def attach(self, number: int, session: TherapistSession) -> None:
        """Device ``number``'s session: it is sent every other attached device's media, and they
        are sent its media, from now on."""
        device = self._device(number)
        with self._lock:
            if device.session is not None:
                raise ValueError(f"device {number} already has a session")
            device.session = session
            others = [self._devices[n] for n in self._order]
            self._order.append(number)
        for other in others:
            self._watch(session.add_forwarded, other.feed.tracks)
            if other.session is not None:
                self._watch(other.session.add_forwarded, device.feed.tracks)
        self._tell_everyone()

    def reattach(self, number: int, session: TherapistSession) -> None:
        """A new invitation for device ``number`` (the earlier one ended: declined, or its codes
        differed): the new session takes its place; the others keep the same tracks."""
        device = self._device(number)
        with self._lock:
            if number not in self._order:
                raise ValueError(f"device {number} was never attached")
            device.session = session
            device.name = device.waiting_name = ""
            device.state = "expected"
            others = [self._devices[n] for n in self._order if n != number]
        device.feed.put_frame(None)
        device.feed.pcm.clear()
        for other in others:
            self._watch(session.add_forwarded, other.feed.tracks)
        self._tell_everyone()

    def set_video(self, on: bool) -> None:
        """Audio only (``False``) for the whole session, or video again: what is re-sent of each
        device is black while off (their pages stop sending video, and a last picture must not
        stay frozen on the others' screens)."""
        with self._lock:
            devices = list(self._devices.values())
        for device in devices:
            device.feed.camera.set(on)
            if not on:
                device.feed.put_frame(None)

    def _presence(self, number: int, state: CallState, event: CallEvent) -> None:
        device = self._device(number)
        if state is CallState.CONNECTED:
            presence = "here"
        elif device.state == "expected":
            presence = "expected"  # not in yet
        else:
            presence = "away"  # left, dropped, or another page knocking in their place
        if state is CallState.ADMITTED and event is CallEvent.ADMIT_GIVEN:
            device.name = device.waiting_name  # the therapist let this person in
        if presence == device.state:
            return
        device.state = presence
        if presence != "here":  # no frozen picture or stale sound of someone who is not here
            device.feed.put_frame(None)
            device.feed.pcm.clear()
        self._tell_everyone()

    def _tell_everyone(self) -> None:
        with self._lock:
            order = list(self._order)
            devices = {n: self._devices[n] for n in order}
        for number in order:
            session = devices[number].session
            if session is not None:
                people = [devices[n].person for n in order if n != number]
                self._watch(session.set_others, people)

    @staticmethod
    def _watch(submit: Callable[[T], concurrent.futures.Future[None]], argument: T) -> None:
        try:
            future = submit(argument)
        except RuntimeError:  # that session has stopped: nothing to tell it
            return

        def done(f: concurrent.futures.Future[None]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.info("could not update a forwarded device: %s", type(f.exception()).__name__)

        future.add_done_callback(done)
