"""A dropped network during a call: the call comes back without a new link.

The interruption is real for the ICE sockets: every UDP datagram aioice receives in this process is
dropped for a few seconds (the ``blackout`` fixture), so ICE, DTLS, RTP and SCTP all go silent, as
when a Wi-Fi link goes away. The therapist's engine notices the silence, the session goes to
``reconnecting`` and sends a new offer (a new peer connection with the same certificate) until
media flows again.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import aioice.ice
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth import protocol
from telehealth import session as session_module
from telehealth.engine import CallEngine, EngineCallbacks, RgbFrame
from telehealth.errors import TelehealthError
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.relay_wire import parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo
from telehealth.verification import Verifier, select_fingerprint

pytestmark = pytest.mark.slow


def media() -> list[MediaStreamTrack]:
    return [ShadeVideo(fps=20), AudioStreamTrack()]


class Frames:
    """Counts decoded frames, thread-safe."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self, _frame: RgbFrame) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait_for_more(self, than: int, extra: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= than + extra, timeout)


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def test_engine_restart_keeps_certificate_and_media(loopback_only: None, blackout: Any) -> None:
    states: list[str] = []
    interrupted, restored, connected = threading.Event(), threading.Event(), threading.Event()
    chat_open = threading.Event()
    got: list[str] = []

    def on_state(state: str) -> None:
        states.append(state)
        if state == "connected":
            (restored if interrupted.is_set() else connected).set()
        elif state == "disconnected":
            interrupted.set()

    therapist_frames, client_frames = Frames(), Frames()
    therapist = CallEngine(
        "offerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_state=on_state, on_video=therapist_frames),
        media=media,
        media_timeout=1.0,
    )
    client = CallEngine(
        "answerer",
        ice_servers=[],
        callbacks=EngineCallbacks(
            on_video=client_frames, on_chat=got.append, on_chat_open=chat_open.set
        ),
        media=media,
    )
    therapist.start()
    client.start()
    try:
        offer = therapist.create_offer().result(10)
        therapist.accept_answer(client.accept_offer(offer).result(10)).result(10)
        assert connected.wait(10)
        assert client_frames.wait_for_more(0, 5, 10)
        first_fp = select_fingerprint(offer)

        blackout.active.set()
        assert interrupted.wait(5), states  # the watchdog noticed the silence
        new_offer = therapist.restart_offer().result(10)
        answer = client.accept_offer(new_offer).result(10)
        blackout.active.clear()
        therapist.accept_answer(answer).result(10)
        assert restored.wait(10), states
        assert blackout.dropped > 0

        # Same certificates on both sides, so a verification code stays valid.
        assert select_fingerprint(new_offer) == first_fp
        assert select_fingerprint(answer) == select_fingerprint(client.local_sdp().result(5) or "")
        # Frames flow again both ways, from the same (not restarted) sources.
        before_t, before_c = therapist_frames.count, client_frames.count
        assert client_frames.wait_for_more(before_c, 10, 10)
        assert therapist_frames.wait_for_more(before_t, 10, 10)
        # The chat channel is new, and works.
        assert chat_open.wait(10)
        deadline = time.monotonic() + 10
        while True:
            try:
                therapist.send_chat("still there?").result(5)
                break
            except TelehealthError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got == ["still there?"]
    finally:
        therapist.stop()
        client.stop()


class AnsweringPage:
    """The client's page in Python, answering every offer (the first and every reconnect)."""

    def __init__(self, invite: Invite) -> None:
        self.invite = invite
        self.sealer = Sealer("client", invite.keys.signalling_key)
        self.opener = Opener("therapist", invite.keys.signalling_key)
        self.verifier = Verifier("answerer", invite.keys.verification_key)
        self.frames = Frames()
        self.engine = CallEngine(
            "answerer", ice_servers=[], callbacks=EngineCallbacks(on_video=self.frames), media=media
        )
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.offers = 0
        self.code: str | None = None
        self.received: list[protocol.Message] = []
        self._reader: asyncio.Task[None] | None = None
        self.hold_offers = False  # offers wait here, as behind a socket stalled by the network
        self.held: list[protocol.Offer] = []

    async def connect(self) -> None:
        again = self.http is not None
        if self.http is None:
            self.http = aiohttp.ClientSession()
            await asyncio.to_thread(self.engine.start)
        self.ws = await self.http.ws_connect(self.invite.websocket_url())
        self._reader = asyncio.create_task(self._read(self.ws))
        if again:  # back after a drop: say hello again, as the page does, so offers resume
            await self.send(protocol.Hello(name="Ana"))

    async def drop_socket(self) -> None:
        ws, self.ws = self.ws, None
        if ws is not None:
            await ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def send(self, message: protocol.Message) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.send_str(self.sealer.seal(message))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT or parse_presence_notice(msg.data) is not None:
                continue
            message = self.opener.open(msg.data)
            self.received.append(message)
            match message:
                case protocol.Commit():
                    self.verifier.receive_commit(message)
                case protocol.Offer() if self.hold_offers:
                    self.held.append(message)
                case protocol.Offer(sdp=sdp):
                    self.verifier.set_remote_sdp(sdp)  # a changed certificate would raise
                    answer = await asyncio.wrap_future(self.engine.accept_offer(sdp))
                    self.verifier.set_local_sdp(answer)
                    self.offers += 1
                    await self.send(protocol.Answer(sdp=answer))
                    if self.offers == 1:
                        await self.send(self.verifier.reveal())
                case protocol.Reveal():
                    self.verifier.receive_reveal(message)
                    self.code = self.verifier.code()
                case _:
                    pass

    async def release_offers(self) -> None:
        self.hold_offers = False
        held, self.held = self.held, []
        for offer in held:
            self.verifier.set_remote_sdp(offer.sdp)
            answer = await asyncio.wrap_future(self.engine.accept_offer(offer.sdp))
            self.verifier.set_local_sdp(answer)
            self.offers += 1
            await self.send(protocol.Answer(sdp=answer))

    async def close(self) -> None:
        await self.drop_socket()
        if self.http is not None:
            await self.http.close()
        await asyncio.to_thread(self.engine.stop)


class Watch:
    def __init__(self) -> None:
        self.states: list[tuple[CallState, CallEvent]] = []
        self.codes: list[str] = []
        self.waiting: list[str] = []
        self.present: list[bool] = []
        self.frames = Frames()
        self._cond = threading.Condition()

    def _add(self, target: list[Any], value: Any) -> None:
        with self._cond:
            target.append(value)
            self._cond.notify_all()

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, event: self._add(self.states, (state, event)),
            on_client_waiting=lambda name: self._add(self.waiting, name),
            on_client_present=lambda here: self._add(self.present, here),
            on_verification_code=lambda code: self._add(self.codes, code),
            on_video=self.frames,
        )

    async def until(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(predicate, timeout)

        assert await asyncio.to_thread(wait), self.states

    def count(self, state: CallState) -> int:
        return sum(1 for s, _ in self.states if s is state)


async def eventually(predicate: Callable[[], bool], timeout: float) -> None:
    """Poll ``predicate`` (for what the page sees: Watch.until hears only the session)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def run(coro: Coroutine[Any, Any, None], timeout: float = 60) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=timeout))


async def connected_call(
    base: str, *, page_origin: str | None = None, **session_options: Any
) -> tuple[TherapistSession, AnsweringPage, Watch]:
    """A connected call; ``page_origin``: the page reaches the relay there (the therapist's
    session through ``base``)."""
    watch = Watch()
    invite = new_invite(base)
    session = TherapistSession(
        invite,
        callbacks=watch.callbacks(),
        media=media,
        ice_servers=[],
        connect_timeout=15,
        media_timeout=1.0,
        **session_options,
    )
    await asyncio.wrap_future(session.start())
    page = AnsweringPage(Invite(page_origin, invite.secret) if page_origin else invite)
    await page.connect()
    await watch.until(lambda: True in watch.present)
    await page.send(protocol.Hello(name="Ana"))
    await watch.until(lambda: bool(watch.waiting))
    await asyncio.wrap_future(session.admit())
    await watch.until(lambda: watch.count(CallState.CONNECTED) == 1)
    await watch.until(lambda: bool(watch.codes) and page.code is not None)
    assert await asyncio.to_thread(watch.frames.wait_for_more, 0, 5, 10)
    return session, page, watch


def test_session_reconnects_after_a_network_drop(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, page, watch = await connected_call(base)
            try:
                code = watch.codes[0]
                assert page.code == code
                blackout.active.set()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await asyncio.sleep(2.0)  # stays down a while: the first new offer may fail
                blackout.active.clear()
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 20)
                assert session.state is CallState.CONNECTED
                assert session.restart_count >= 1 and page.offers == 1 + session.restart_count

                # Media flows again both ways; the code both people compared is still the code.
                t_before, c_before = watch.frames.count, page.frames.count
                assert await asyncio.to_thread(watch.frames.wait_for_more, t_before, 10, 10)
                assert await asyncio.to_thread(page.frames.wait_for_more, c_before, 10, 10)
                assert session.verification_code == code and watch.codes == [code]
                assert [m for m in page.received if isinstance(m, protocol.Commit)].__len__() == 1
            finally:
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)
            assert [s for s, _ in watch.states] == [
                CallState.INVITED,
                CallState.WAITING,
                CallState.ADMITTED,
                CallState.CONNECTING,
                CallState.CONNECTED,
                CallState.RECONNECTING,
                CallState.CONNECTED,
                CallState.ENDED,
            ]
            assert watch.states[5][1] is CallEvent.MEDIA_INTERRUPTED
            assert watch.states[6][1] is CallEvent.MEDIA_CONNECTED

    run(main())


def test_reconnect_when_the_relay_sockets_dropped_too(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    """Both relay sockets go down with the network; the page comes back later. The new offers
    sent while the page was away are lost; its return (presence) triggers one that arrives."""

    async def main() -> None:
        async with relay_server() as (server, base):
            session, page, watch = await connected_call(base)
            try:
                blackout.active.set()
                await page.drop_socket()
                for member in list(server.relay._members.values()):
                    await member.ws.close()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await asyncio.sleep(1.5)
                blackout.active.clear()
                await page.connect()  # the page's socket comes back after the network
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 20)
                before = page.frames.count
                assert await asyncio.to_thread(page.frames.wait_for_more, before, 10, 10)
                # The relay is there again for the goodbye.
                await asyncio.wrap_future(session.hang_up())
                for _ in range(50):
                    if protocol.Bye(reason="hangup") in page.received:
                        break
                    await asyncio.sleep(0.1)
                assert protocol.Bye(reason="hangup") in page.received
            finally:
                await page.close()
                await asyncio.to_thread(session.stop)

    run(main())


def test_a_network_that_stays_down_fails_after_the_reconnect_timeout(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, page, watch = await connected_call(base, reconnect_timeout=3.0)
            try:
                blackout.active.set()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await watch.until(lambda: session.state is CallState.FAILED, 10)
                assert watch.states[-1][1] is CallEvent.TIMED_OUT
                for _ in range(50):
                    if protocol.Bye(reason="timeout") in page.received:
                        break
                    await asyncio.sleep(0.1)
                assert protocol.Bye(reason="timeout") in page.received
            finally:
                blackout.active.clear()
                await page.close()
                await asyncio.to_thread(session.stop)

    run(main())


def test_a_media_connection_closed_under_the_session_is_renegotiated(
    relay_server: Any, loopback_only: None
) -> None:
    """The stuck session of issue 11: the media connection closes while the relay socket stays
    up (the browser ended DTLS; aiortc also closes by itself when ICE consent checks fail). The
    session must not stay "connected" with no media: it sends a new offer and media returns."""

    async def main() -> None:
        async with relay_server() as (_server, base):
            session, page, watch = await connected_call(base)
            try:
                engine = page.engine
                # Stand-in for the browser closing its peer connection: close the page's current
                # connection only (its engine, certificate and relay socket stay).
                await asyncio.wrap_future(engine._submit(engine._require_pc().close()))
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 20)
                assert session.restart_count >= 1
                before = page.frames.count
                assert await asyncio.to_thread(page.frames.wait_for_more, before, 10, 10)
            finally:
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)
            assert watch.states[5] == (CallState.RECONNECTING, CallEvent.MEDIA_INTERRUPTED)

    run(main())


def test_media_resumes_on_the_old_path_before_the_new_offer_gets_through(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    """A cut link delays the signalling too: the new offer sits in a stalled socket while the
    network is back. The old connection, kept open while the restart negotiates, carries the
    media again at once; the late offer then moves the call to the new connection."""

    async def main() -> None:
        async with relay_server() as (_server, base):
            session, page, watch = await connected_call(base)
            try:
                page.hold_offers = True
                blackout.active.set()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await eventually(lambda: bool(page.held), 10)  # a new offer was sent
                blackout.active.clear()
                returned = time.monotonic()
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 10)
                assert time.monotonic() - returned < 2.0
                assert page.offers == 1  # the browser never answered a new offer
                t_before, c_before = watch.frames.count, page.frames.count
                assert await asyncio.to_thread(watch.frames.wait_for_more, t_before, 10, 5)
                assert await asyncio.to_thread(page.frames.wait_for_more, c_before, 10, 5)

                # The stalled socket delivers the offers late; the page answers each, moving
                # off the path that works. The session notices and the call settles again.
                await page.release_offers()
                await asyncio.sleep(1.0)
                t_before, c_before = watch.frames.count, page.frames.count
                assert await asyncio.to_thread(watch.frames.wait_for_more, t_before, 20, 20)
                assert await asyncio.to_thread(page.frames.wait_for_more, c_before, 20, 20)
                await watch.until(lambda: session.state is CallState.CONNECTED, 10)
            finally:
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)

    run(main())


class StallingLink:
    """A TCP forwarder for the therapist's relay socket that a test can stall, as a cut link
    stalls a TCP connection: while stalled nothing is read on either side, so what the session
    sends waits (in the kernel's buffers, as in TCP's retransmission queue) and is delivered
    only when the link is released."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await self.flowing.wait()
                data = await reader.read(65536)
                if not data:
                    break
                await self.flowing.wait()  # read just before the stall: held too
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def close(self) -> None:
        self.flowing.set()
        if self.server is not None:
            self.server.close()


def test_a_cut_link_sends_no_offer_into_the_stalled_relay_socket(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    """Issue 11's client-side recovery: a cut link stalls the media and the therapist's relay
    socket together. When the link returns, the media resumes on the connection it had, at
    once; what the session sent into the stalled socket arrives seconds later (TCP's
    retransmission back-off). A new offer sent then made the page leave the path that worked
    (media back at the client 3-5 s after the link, in bench_network.py). The session must send
    none while the socket is stalled, and none once the media is back."""

    async def main() -> None:
        async with relay_server() as (_server, base):
            link = StallingLink(int(base.rsplit(":", 1)[1]))
            await link.start()
            # The page talks to the relay directly; the therapist's socket crosses the link.
            session, page, watch = await connected_call(
                f"http://127.0.0.1:{link.port}", page_origin=base
            )
            try:
                link.flowing.clear()
                blackout.active.set()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await asyncio.sleep(3.0)  # down long enough for a new offer or two
                blackout.active.clear()
                returned = time.monotonic()
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 10)
                assert time.monotonic() - returned < 2.0
                await asyncio.sleep(1.5)  # the stalled socket recovers later than the media
                link.flowing.set()
                await asyncio.sleep(2.0)  # whatever was held has reached the page by now
                assert page.offers == 1, "a new offer reached the page after the media was back"
                assert session.restart_count == 0
                # The page stayed on its connection and the picture kept moving.
                c_before, t_before = page.frames.count, watch.frames.count
                assert await asyncio.to_thread(page.frames.wait_for_more, c_before, 10, 5)
                assert await asyncio.to_thread(watch.frames.wait_for_more, t_before, 10, 5)
                assert session.state is CallState.CONNECTED
            finally:
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)
                await link.close()

    run(main())


def test_a_new_offer_waits_for_the_relay_socket_then_goes_out_once(
    relay_server: Any, loopback_only: None, blackout: Any
) -> None:
    """The media stays down after the relay socket works again: the session proves the socket
    (a ping and its pong) and sends one new offer through it, which brings the call back."""

    async def main() -> None:
        async with relay_server() as (_server, base):
            link = StallingLink(int(base.rsplit(":", 1)[1]))
            await link.start()
            session, page, watch = await connected_call(
                f"http://127.0.0.1:{link.port}", page_origin=base
            )
            try:
                link.flowing.clear()
                blackout.active.set()
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 10)
                await asyncio.sleep(2.5)
                assert session.restart_count == 0  # nothing sent into the stalled socket
                link.flowing.set()  # the signalling path is back, the media path not yet
                await asyncio.sleep(1.5)
                assert session.restart_count == 1 and page.offers == 2
                blackout.active.clear()
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 15)
                c_before = page.frames.count
                assert await asyncio.to_thread(page.frames.wait_for_more, c_before, 10, 10)
                assert page.offers == 1 + session.restart_count
            finally:
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)
                await link.close()

    run(main())


def test_an_unanswered_offer_is_not_piled_on(
    relay_server: Any, loopback_only: None, blackout: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's own socket may be the stalled one (the relay holds the offer for it): while a
    new offer is unanswered, no other follows it for RESTART_UNANSWERED_SECONDS (each would make
    the page build one more connection when they all arrive at once)."""
    monkeypatch.setattr(session_module, "RESTART_ATTEMPT_SECONDS", 0.5)
    monkeypatch.setattr(session_module, "RESTART_UNANSWERED_SECONDS", 3.0)

    async def main() -> None:
        async with relay_server() as (_server, base):
            session, page, _watch = await connected_call(base)
            try:
                page.hold_offers = True
                blackout.active.set()
                await eventually(lambda: bool(page.held), 10)
                await asyncio.sleep(2.0)  # four attempt intervals
                assert len(page.held) == 1 and session.restart_count == 1
                await eventually(lambda: len(page.held) == 2, 5)  # unanswered for 3 s: again
            finally:
                blackout.active.clear()
                await asyncio.wait_for(asyncio.wrap_future(session.hang_up()), 10)
                await page.close()
                await asyncio.to_thread(session.stop)

    run(main())
