"""A couples session through the therapist's app (telehealth.forwarding), against a real relay
and two Python stand-ins for the client pages (answering CallEngines, each sending a colour of its
own). Each device is admitted separately and verified with its own code; each receives the
therapist's picture and the other device's picture and voice on tracks of their own. The second
device joins while the first is already connected, so the first connection is renegotiated in
place (same ICE credentials, no new connection)."""

from __future__ import annotations

import array
import asyncio
import collections
import fractions
import threading
from collections.abc import Callable
from typing import Any

import aioice.ice
import av
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth import protocol
from telehealth.engine import CallEngine, EngineCallbacks, PcmChunk, RgbFrame, ice_ufrag
from telehealth.forwarding import Forwarding
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import CallState
from telehealth.relay_wire import parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.session import OtherDevice, SessionCallbacks, TherapistSession, media_sections
from telehealth.synthetic_media import ToneAudio
from telehealth.verification import Verifier

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


class Solid(MediaStreamTrack):
    """One colour, 160x120 at 15 fps."""

    kind = "video"

    def __init__(self, colour: str) -> None:
        super().__init__()
        self._rgb = bytes(COLOURS[colour])
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        frame = av.VideoFrame(160, 120, "rgb24")
        plane = frame.planes[0]
        plane.update((self._rgb * 160 + bytes(plane.line_size - 480)) * 120)
        out = frame.reformat(format="yuv420p")
        out.pts = self._count * 6000
        out.time_base = fractions.Fraction(1, 90000)
        self._count += 1
        return out


def colour_of(frame: RgbFrame) -> str:
    """The frame's colour: the channel well above the others, or black / unclear."""
    i = (frame.height // 2) * frame.stride + (frame.width // 2) * 3
    r, g, b = frame.data[i], frame.data[i + 1], frame.data[i + 2]
    if max(r, g, b) < 40:
        return "black"
    for name, value, rest in (("red", r, (g, b)), ("green", g, (r, b)), ("blue", b, (r, g))):
        if value > 120 and all(value > other + 60 for other in rest):
            return name
    return "unclear"


class Client:
    """A client's page in Python: sealed signalling, an answering engine, the `others` news."""

    def __init__(self, invite: Invite, colour: str) -> None:
        self.invite = invite
        key = invite.keys.signalling_key
        self.sealer, self.opener = Sealer("client", key), Opener("therapist", key)
        self.frames: collections.Counter[str] = collections.Counter()
        self.loud_chunks = 0
        self.others: list[protocol.Others] = []
        self.offers: list[str] = []
        self.code: str | None = None
        self._lock = threading.Lock()
        self.engine = CallEngine(
            "answerer",
            ice_servers=[],
            callbacks=EngineCallbacks(on_video=self._video, on_audio=self._audio),
            media=lambda: [Solid(colour), ToneAudio()],
        )
        self.ws: Any = None
        self.http: Any = None
        self.task: asyncio.Task[None] | None = None

    def _video(self, frame: RgbFrame) -> None:
        with self._lock:
            self.frames[colour_of(frame)] += 1

    def _audio(self, chunk: PcmChunk) -> None:
        if max((abs(s) for s in array.array("h", chunk.data)), default=0) > 2000:
            self.loud_chunks += 1

    def seen(self, colour: str) -> int:
        with self._lock:
            return self.frames[colour]

    async def send(self, message: protocol.Message) -> None:
        await self.ws.send_str(self.sealer.seal(message))

    async def join(self, name: str) -> None:
        import aiohttp

        await asyncio.to_thread(self.engine.start)
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.invite.websocket_url())
        while True:
            msg = await self.ws.receive(timeout=10)
            count = parse_presence_notice(msg.data)
            if count is not None and count >= 2:
                break
        await self.send(protocol.Hello(name=name))
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        verifier = Verifier("answerer", self.invite.keys.verification_key)
        revealed = False
        async for msg in self.ws:
            if parse_presence_notice(msg.data) is not None:
                continue
            message = self.opener.open(msg.data)
            match message:
                case protocol.Commit():
                    verifier.receive_commit(message)
                case protocol.Others():
                    self.others.append(message)
                case protocol.Offer(sdp=sdp):
                    self.offers.append(sdp)
                    verifier.set_remote_sdp(sdp)
                    answer = await asyncio.wrap_future(self.engine.accept_offer(sdp))
                    verifier.set_local_sdp(answer)
                    await self.send(protocol.Answer(sdp=answer))
                    if not revealed:
                        revealed = True
                        await self.send(verifier.reveal())
                case protocol.Reveal():
                    verifier.receive_reveal(message)
                    self.code = verifier.code()
                case protocol.Bye():
                    return
                case _:
                    pass

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()
        await asyncio.to_thread(self.engine.stop)


class Seen:
    def __init__(self) -> None:
        self.states: list[CallState] = []
        self.codes: list[str] = []
        self.waiting: list[str] = []
        self.video = 0
        self._cond = threading.Condition()

    def _add(self, target: list[Any], value: Any) -> None:
        with self._cond:
            target.append(value)
            self._cond.notify_all()

    def _frame(self, _frame: RgbFrame) -> None:
        self.video += 1

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, _event: self._add(self.states, state),
            on_verification_code=lambda code: self._add(self.codes, code),
            on_client_waiting=lambda name: self._add(self.waiting, name),
            on_video=self._frame,
        )


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    for _ in range(int(timeout * 10)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def test_media_sections_in_order() -> None:
    sdp = "v=0\r\nm=audio 9 X 0\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\nm=application 9 X\r\n"
    sdp += "a=mid:2\r\nm=video 9 X 96\r\na=mid:3\r\n"
    assert media_sections(sdp) == [("audio", "0"), ("video", "1"), ("application", "2"),
                                   ("video", "3")]  # fmt: skip


@pytest.mark.slow
def test_two_devices_see_and_hear_each_other_through_the_therapist(
    relay_server: Any, loopback_only: None
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            forwarding = Forwarding()
            seen = {1: Seen(), 2: Seen()}
            invites = {1: new_invite(base), 2: new_invite(base)}
            clients = {1: Client(invites[1], "red"), 2: Client(invites[2], "blue")}
            sessions: dict[int, TherapistSession] = {}

            async def open_device(number: int) -> TherapistSession:
                session = TherapistSession(
                    invites[number],
                    callbacks=forwarding.callbacks(number, seen[number].callbacks()),
                    media=lambda: [Solid("green"), AudioStreamTrack()],
                    ice_servers=[],
                    connect_timeout=20,
                )
                await asyncio.wrap_future(session.start())
                forwarding.attach(number, session)
                sessions[number] = session
                return session

            try:
                # The first device joins and is admitted: a plain call, no `others` yet.
                first = await open_device(1)
                await clients[1].join("Zoë")
                await until(lambda: seen[1].waiting == ["Zoë"], "the first knock")
                await asyncio.wrap_future(first.admit())
                await until(lambda: CallState.CONNECTED in seen[1].states, "the first call")
                await until(lambda: clients[1].code is not None, "the first code")
                assert clients[1].code == seen[1].codes[0] == first.verification_code
                await until(lambda: clients[1].seen("green") >= 5, "the therapist's picture")
                assert clients[1].others == [] and len(clients[1].offers) == 1

                # The second device is added mid-call: the first call is renegotiated in place
                # (same ICE credentials), and told who the new tracks will carry.
                second = await open_device(2)
                await until(lambda: len(clients[1].offers) == 2, "the renegotiation offer")
                assert ice_ufrag(clients[1].offers[1]) == ice_ufrag(clients[1].offers[0])
                videos = [m for k, m in media_sections(clients[1].offers[1]) if k == "video"]
                audios = [m for k, m in media_sections(clients[1].offers[1]) if k == "audio"]
                assert len(videos) == len(audios) == 2
                expected = protocol.OtherPerson("", "expected", videos[1], audios[1])
                assert clients[1].others[-1] == protocol.Others((expected,))

                await clients[2].join("Alex")
                await until(lambda: seen[2].waiting == ["Alex"], "the second knock")
                await asyncio.wrap_future(second.admit())
                await until(lambda: clients[2].code is not None, "the second code")
                # Each device has its own code with the therapist; the two differ.
                assert clients[2].code == seen[2].codes[0] == second.verification_code
                assert clients[2].code != clients[1].code
                await until(lambda: CallState.CONNECTED in seen[2].states, "the second call")

                # Everyone sees and hears everyone: each client gets the therapist's green and
                # the other client's colour and voice (the therapist sends silence).
                await until(lambda: clients[1].seen("blue") >= 10, "Alex's picture at Zoë's")
                await until(lambda: clients[2].seen("red") >= 10, "Zoë's picture at Alex's")
                await until(lambda: clients[2].seen("green") >= 5, "the therapist at Alex's")
                await until(lambda: clients[1].loud_chunks > 10, "Alex's voice at Zoë's")
                await until(lambda: clients[2].loud_chunks > 10, "Zoë's voice at Alex's")
                assert clients[1].seen("red") == 0 and clients[2].seen("blue") == 0
                await until(lambda: clients[1].others[-1].people[0].state == "here", "Alex is here")
                assert clients[1].others[-1].people[0].name == "Alex"
                # The second device's first offer carried the first device from the start.
                assert len(clients[2].offers) == 1
                sections = media_sections(clients[2].offers[0])
                video = [m for k, m in sections if k == "video"][1]
                audio = [m for k, m in sections if k == "audio"][1]
                await until(
                    lambda: (
                        clients[2].others[-1].people[0]
                        == protocol.OtherPerson("Zoë", "here", video, audio)
                    ),
                    "Zoë is here, at Alex's",
                )

                # Alex leaves: Zoë is told, and gets no frozen picture of Alex.
                await clients[2].send(protocol.Bye(reason="hangup"))
                await until(lambda: clients[1].others[-1].people[0].state == "away", "Alex is away")
                blue = clients[1].seen("blue")
                await until(lambda: clients[1].seen("black") >= 10, "no picture of Alex")
                assert clients[1].seen("blue") - blue < 10
                assert first.state is CallState.CONNECTED
            finally:
                for client in clients.values():
                    await client.close()
                for session in sessions.values():
                    await asyncio.to_thread(session.stop)

    asyncio.run(asyncio.wait_for(main(), 90))


def test_a_device_added_before_anyone_is_admitted_needs_no_renegotiation() -> None:
    """Attached before admission, the forwarded tracks are part of the first offer; a stopped
    session is simply not told anything any more."""

    class Recorder:
        def __init__(self) -> None:
            self.forwarded: list[Any] = []
            self.others: list[list[OtherDevice]] = []
            self.stopped = False

        def add_forwarded(self, media: Any) -> Any:
            return self._done(lambda: self.forwarded.append(media))

        def set_others(self, people: Any) -> Any:
            return self._done(lambda: self.others.append(list(people)))

        def _done(self, action: Callable[[], None]) -> Any:
            import concurrent.futures

            if self.stopped:
                raise RuntimeError("stopped")
            action()
            future: concurrent.futures.Future[None] = concurrent.futures.Future()
            future.set_result(None)
            return future

    forwarding = Forwarding()
    one, two = Recorder(), Recorder()
    callbacks = {n: forwarding.callbacks(n, SessionCallbacks()) for n in (1, 2)}
    forwarding.attach(1, one)  # type: ignore[arg-type]
    assert one.forwarded == [] and one.others == [[]]
    forwarding.attach(2, two)  # type: ignore[arg-type]
    assert one.forwarded == [forwarding.feed(2).tracks]
    assert two.forwarded == [forwarding.feed(1).tracks]
    assert one.others[-1] == [OtherDevice("", "expected")]
    with pytest.raises(ValueError):
        forwarding.attach(2, two)  # type: ignore[arg-type]

    # Someone knocks on device 2: their name reaches device 1 only once they are admitted.
    from telehealth.lifecycle import CallEvent

    callbacks[2].on_client_waiting("Alex")
    callbacks[2].on_state(CallState.WAITING, CallEvent.HELLO_RECEIVED)
    assert one.others[-1] == [OtherDevice("", "expected")]
    callbacks[2].on_state(CallState.ADMITTED, CallEvent.ADMIT_GIVEN)
    callbacks[2].on_state(CallState.CONNECTED, CallEvent.MEDIA_CONNECTED)
    assert one.others[-1] == [OtherDevice("Alex", "here")]
    frame = RgbFrame(2, 2, 6, bytes(range(12)))
    callbacks[2].on_video(frame)
    assert forwarding.feed(2).frames.latest() == frame
    callbacks[2].on_state(CallState.RECONNECTING, CallEvent.MEDIA_INTERRUPTED)
    assert one.others[-1] == [OtherDevice("Alex", "away")]
    assert forwarding.feed(2).frames.latest() is None  # no frozen picture
    callbacks[2].on_video(frame)  # late frames of someone away are not passed on
    assert forwarding.feed(2).frames.latest() is None

    told = len(two.others)
    two.stopped = True
    callbacks[1].on_state(CallState.CONNECTED, CallEvent.MEDIA_CONNECTED)  # no error
    assert len(two.others) == told and one.others[-1] == [OtherDevice("Alex", "away")]
