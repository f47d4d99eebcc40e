"""The signalling protocol's holes, each closed and each shown with a real session, a real relay
on 127.0.0.1 and the client's page played in Python (an answering CallEngine):

* a connected call whose code never appears (a man in the middle who holds the link and never
  sends his reveal) is reported as not verified;
* the admission survives a blip of the client's socket (the page knocks again from the same
  page, and the therapist's session re-sends what it missed);
* "Join again" (a new page) works while the therapist's session is open, also after the goodbye a
  closing page sealed far ahead;
* another device taking the client's seat after a blip is shown to the therapist (a new knock)
  before any media flows to it, and is verified with a new code;
* a participant cannot pass off the relay's presence notices;
* a media connection that closes under a connected call is noticed (it used to stay "connected").
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import aioice.ice
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth import protocol
from telehealth.engine import CallEngine, EngineCallbacks, RgbFrame
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.relay_wire import CloseCode, parse_presence_notice, presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo
from telehealth.verification import Verifier

pytestmark = pytest.mark.slow


def media() -> list[MediaStreamTrack]:
    return [ShadeVideo(fps=15), AudioStreamTrack()]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


class Page:
    """The client's page: one device id, its own sealer, verifier and answering engine.
    ``reveal=False`` plays the man in the middle who cannot complete the code exchange."""

    def __init__(self, invite: Invite, *, reveal: bool = True) -> None:
        self.invite = invite
        self.device = os.urandom(16)
        self.reveal = reveal
        self.sealer = Sealer("client", invite.keys.signalling_key)
        self.opener = Opener("therapist", invite.keys.signalling_key)
        self.verifier = Verifier("answerer", invite.keys.verification_key)
        self.frames = 0
        self.engine = CallEngine(
            "answerer", ice_servers=[], callbacks=EngineCallbacks(on_video=self._frame), media=media
        )
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.received: list[protocol.Message] = []
        self.code: str | None = None
        self.revealed = False
        self._reader: asyncio.Task[None] | None = None

    def _frame(self, _frame: RgbFrame) -> None:
        self.frames += 1

    async def connect(self) -> None:
        if self.http is None:
            self.http = aiohttp.ClientSession()
            await asyncio.to_thread(self.engine.start)
        self.ws = await self.http.ws_connect(self.invite.websocket_url())
        self._reader = asyncio.create_task(self._read(self.ws))

    async def hello(self, name: str = "Ana") -> None:
        await self.send(protocol.Hello(name=name, device=self.device))

    async def drop_socket(self) -> None:
        ws, self.ws = self.ws, None
        if self._reader is not None:
            self._reader.cancel()
        if ws is not None:
            await ws.close()

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
                case protocol.Offer(sdp=sdp):
                    self.verifier.set_remote_sdp(sdp)
                    answer = await asyncio.wrap_future(self.engine.accept_offer(sdp))
                    self.verifier.set_local_sdp(answer)
                    await self.send(protocol.Answer(sdp=answer))
                    if self.reveal and not self.revealed:
                        self.revealed = True
                        await self.send(self.verifier.reveal())
                case protocol.Reveal():
                    self.verifier.receive_reveal(message)
                    self.code = self.verifier.code()
                case _:
                    pass

    def got(self, kind: type) -> int:
        return sum(1 for m in self.received if isinstance(m, kind))

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
        self.unverified = 0
        self._cond = threading.Condition()

    def _add(self, target: list[Any], value: Any) -> None:
        with self._cond:
            target.append(value)
            self._cond.notify_all()

    def _unverified(self) -> None:
        with self._cond:
            self.unverified += 1
            self._cond.notify_all()

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, event: self._add(self.states, (state, event)),
            on_client_waiting=lambda name: self._add(self.waiting, name),
            on_verification_code=lambda code: self._add(self.codes, code),
            on_unverified=self._unverified,
        )

    async def until(self, predicate: Callable[[], bool], timeout: float = 15) -> None:
        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(predicate, timeout)

        assert await asyncio.to_thread(wait), self.states

    @property
    def state(self) -> CallState | None:
        return self.states[-1][0] if self.states else None

    def count(self, state: CallState) -> int:
        return sum(1 for s, _ in self.states if s is state)


async def until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def run(coro: Coroutine[Any, Any, None], timeout: float = 60) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=timeout))


async def open_session(base: str, **options: Any) -> tuple[TherapistSession, Watch, Invite]:
    watch = Watch()
    invite = new_invite(base)
    session = TherapistSession(
        invite,
        callbacks=watch.callbacks(),
        media=media,
        ice_servers=[],
        connect_timeout=15,
        media_timeout=1.0,
        **options,
    )
    await asyncio.wrap_future(session.start())
    return session, watch, invite


async def knock_and_connect(session: TherapistSession, watch: Watch, page: Page) -> None:
    waiting = len(watch.waiting)
    await page.connect()
    await page.hello()
    await watch.until(lambda: len(watch.waiting) > waiting)
    connected = watch.count(CallState.CONNECTED)
    await asyncio.wrap_future(session.admit())
    await watch.until(lambda: watch.count(CallState.CONNECTED) > connected)


async def stop(session: TherapistSession, *pages: Page) -> None:
    for page in pages:
        await page.close()
    await asyncio.to_thread(session.stop)


def test_a_call_whose_code_never_appears_is_reported_unverified(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base, verify_timeout=1.5)
            mallory = Page(invite, reveal=False)
            try:
                await knock_and_connect(session, watch, mallory)
                assert watch.unverified == 0  # not before the deadline
                await watch.until(lambda: watch.unverified == 1, 5)
                assert watch.codes == [] and session.verification_code is None
                assert session.state is CallState.CONNECTED  # the therapist decides; told why
            finally:
                await stop(session, mallory)

    run(main())


def test_a_verified_call_is_not_reported(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base, verify_timeout=1.5)
            page = Page(invite)
            try:
                await knock_and_connect(session, watch, page)
                await watch.until(lambda: bool(watch.codes))
                await asyncio.sleep(2.0)
                assert watch.unverified == 0 and page.code == watch.codes[0]
            finally:
                await stop(session, page)

    run(main())


def test_the_admission_survives_a_blip_of_the_clients_socket(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base)
            page = Page(invite)
            try:
                await page.connect()
                await page.hello()
                await watch.until(lambda: watch.waiting == ["Ana"])
                await page.drop_socket()  # the client's Wi-Fi blinks...
                await asyncio.wrap_future(session.admit())  # ...as the therapist admits
                await watch.until(lambda: watch.state is CallState.CONNECTING)
                await asyncio.sleep(0.3)
                assert page.received == []  # the admission went nowhere
                await page.connect()
                await page.hello()  # the same page knocks again when it is back
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 1, 15)
                await watch.until(lambda: bool(watch.codes))
                await until(lambda: page.code is not None)
                assert page.code == watch.codes[0]
                assert page.got(protocol.Admit) == 1 and page.got(protocol.Offer) == 1
                assert watch.count(CallState.WAITING) == 1  # a re-sync, not a new knock
            finally:
                await stop(session, page)

    run(main())


def test_join_again_works_while_the_therapists_session_is_open(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base)
            first = Page(invite)
            again = Page(invite)
            try:
                await knock_and_connect(session, watch, first)
                await watch.until(lambda: len(watch.codes) == 1)
                # The page closes: it sends the goodbye it sealed far ahead (no time to seal).
                ahead = first.sealer.next_seq + 1_000_000_000
                farewell = Sealer("client", invite.keys.signalling_key, first_seq=ahead).seal(
                    protocol.Bye(reason="hangup")
                )
                assert first.ws is not None
                await first.ws.send_str(farewell)
                await watch.until(lambda: watch.state is CallState.INVITED)
                assert watch.states[-1][1] is CallEvent.PEER_LEFT
                await first.close()
                # "Join again": a new page of the same link knocks, is admitted, a new code.
                await knock_and_connect(session, watch, again)
                assert watch.waiting == ["Ana", "Ana"]
                await watch.until(lambda: len(watch.codes) == 2)
                await until(lambda: again.code is not None)
                assert again.code == watch.codes[1]
                await until(lambda: again.frames > 3)
            finally:
                await stop(session, first, again)
            states = [s for s, _ in watch.states]
            assert states[:5] == [
                CallState.INVITED,
                CallState.WAITING,
                CallState.ADMITTED,
                CallState.CONNECTING,
                CallState.CONNECTED,
            ]
            assert states[5:10] == [
                CallState.INVITED,
                CallState.WAITING,
                CallState.ADMITTED,
                CallState.CONNECTING,
                CallState.CONNECTED,
            ]

    run(main())


def test_another_device_after_a_blip_is_shown_before_media_flows(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base)
            client = Page(invite)
            other = Page(invite)
            try:
                await knock_and_connect(session, watch, client)
                await watch.until(lambda: len(watch.codes) == 1)
                await client.drop_socket()
                await asyncio.to_thread(client.engine.stop)  # the client's network goes away
                await watch.until(lambda: watch.state is CallState.RECONNECTING, 10)
                # Someone else with the link takes the seat (and, as on a real page, types a
                # name before knocking): nothing is offered to a device nobody has seen.
                await other.connect()
                await asyncio.sleep(2.0)
                assert other.received == [] and watch.state is CallState.RECONNECTING
                await other.hello("Ana")
                await watch.until(lambda: watch.state is CallState.WAITING)
                assert watch.states[-1][1] is CallEvent.KNOCK_AGAIN
                await watch.until(lambda: watch.waiting == ["Ana", "Ana"])  # asked again
                await asyncio.sleep(1.5)
                assert other.got(protocol.Offer) == 0 and other.frames == 0  # no media yet
                assert session.verification_code is None  # the old code is void
                await asyncio.wrap_future(session.admit())
                await watch.until(lambda: len(watch.codes) == 2, 15)
                await until(lambda: other.code is not None)
                assert other.code == watch.codes[1] != watch.codes[0]
            finally:
                await stop(session, client, other)

    run(main())


def test_a_participant_cannot_pass_off_presence_notices(
    relay_server: Any, wait_closed: Any
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base), aiohttp.ClientSession() as http:
            invite = new_invite(base)
            url = invite.websocket_url()
            honest = await http.ws_connect(url)
            forger = await http.ws_connect(url)
            await forger.send_str(presence_notice(1))  # "your therapist left"
            assert await wait_closed(forger) == CloseCode.MALFORMED
            seen = []
            async with asyncio.timeout(5):
                while True:
                    msg = await honest.receive()
                    seen.append(msg.data)
                    if parse_presence_notice(msg.data) == 1:
                        break  # the relay's own notice that the forger is gone
            # Every notice the honest side saw came from the relay (2 = both joined, 1 = the
            # forger closed); the forged one was never forwarded.
            assert [parse_presence_notice(t) for t in seen][-1] == 1
            assert all(parse_presence_notice(t) is not None for t in seen)
            assert seen.count(presence_notice(1)) == 1
            await honest.close()

    run(main())


def test_a_media_connection_closed_under_a_connected_call_is_noticed(relay_server: Any) -> None:
    """The stuck session of issue 11: the peer connection closed, the session still said
    "connected" and sent no new offer. Now it reconnects (the engine's own detection is the
    media work; this is the session's reaction to a "closed" report)."""

    async def main() -> None:
        async with relay_server() as (_server, base):
            session, watch, invite = await open_session(base)
            page = Page(invite)
            try:
                await knock_and_connect(session, watch, page)
                engine = session._engine
                assert engine is not None and engine._pc is not None
                pc = engine._pc
                await asyncio.wrap_future(engine._submit(pc.close()))  # as aiortc does on DTLS end
                await watch.until(lambda: watch.count(CallState.RECONNECTING) == 1, 5)
                await watch.until(lambda: watch.count(CallState.CONNECTED) == 2, 20)
                assert page.got(protocol.Offer) >= 2
            finally:
                await stop(session, page)

    run(main())
