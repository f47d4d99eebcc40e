"""The therapist session against a real relay on 127.0.0.1 and a Python stand-in for the client's
page (same sealed protocol, an answering CallEngine for the media)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import aioice.ice
import pytest
from aiortc import AudioStreamTrack, VideoStreamTrack

from telehealth import protocol
from telehealth.engine import CallEngine, EngineCallbacks
from telehealth.errors import CallConnectionError, TelehealthError
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.relay_wire import parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.verification import Verifier


def run(coro: Coroutine[Any, Any, None], timeout: float = 30) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=timeout))


class Seen:
    """What the session told its user interface."""

    def __init__(self) -> None:
        self.states: list[tuple[CallState, CallEvent]] = []
        self.waiting: list[str] = []
        self.codes: list[str] = []
        self.chat: list[str] = []
        self.errors: list[TelehealthError] = []
        self.present: list[bool] = []
        self.chat_open = threading.Event()
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
            on_chat=lambda text: self._add(self.chat, text),
            on_chat_open=self.chat_open.set,
            on_error=lambda error: self._add(self.errors, error),
        )

    async def until(self, predicate: Callable[[], bool], timeout: float = 10) -> None:
        def wait() -> bool:
            with self._cond:
                return self._cond.wait_for(predicate, timeout)

        assert await asyncio.to_thread(wait)

    @property
    def state(self) -> CallState | None:
        return self.states[-1][0] if self.states else None


class PageStandIn:
    """The client's page, in Python: sealed messages over the relay socket."""

    def __init__(self, invite: Invite, *, key: bytes | None = None) -> None:
        self.invite = invite
        signalling_key = key or invite.keys.signalling_key
        self.sealer = Sealer("client", signalling_key)
        self.opener = Opener("therapist", signalling_key)
        self.http = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        self.ws = await self.http.ws_connect(self.invite.websocket_url())

    async def send(self, message: protocol.Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(self.sealer.seal(message))

    async def receive(self, timeout: float = 10) -> protocol.Message:
        assert self.ws is not None
        while True:
            msg = await self.ws.receive(timeout=timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            if parse_presence_notice(msg.data) is None:
                return self.opener.open(msg.data)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await self.http.close()


@contextlib.asynccontextmanager
async def started(session: TherapistSession) -> Any:
    try:
        await asyncio.wrap_future(session.start())
        yield session
    finally:
        await asyncio.to_thread(session.stop)


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def test_waiting_room_then_decline(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            seen = Seen()
            invite = new_invite(base)
            session = TherapistSession(invite, callbacks=seen.callbacks(), ice_servers=[])
            async with started(session):
                assert session.state is CallState.INVITED
                assert session.link == invite.link
                page = PageStandIn(invite)
                await page.connect()
                await seen.until(lambda: True in seen.present)
                await page.send(protocol.Hello(name="Ana María"))
                await seen.until(lambda: seen.waiting == ["Ana María"])
                # A reloaded page says hello again: still one person waiting.
                await page.send(protocol.Hello(name="Ana María"))
                await seen.until(lambda: len(seen.waiting) == 2)
                assert session.state is CallState.WAITING
                await asyncio.wrap_future(session.decline())
                assert await page.receive() == protocol.Decline()
                await page.close()
            assert seen.states == [
                (CallState.INVITED, CallEvent.INVITE_CREATED),
                (CallState.WAITING, CallEvent.HELLO_RECEIVED),
                (CallState.WAITING, CallEvent.HELLO_RECEIVED),
                (CallState.ENDED, CallEvent.DECLINE_GIVEN),
            ]
            assert seen.errors == []

    run(main())


def test_forged_and_garbled_messages_are_ignored(relay_server: Any) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            seen = Seen()
            invite = new_invite(base)
            session = TherapistSession(invite, callbacks=seen.callbacks(), ice_servers=[])
            async with started(session):
                page = PageStandIn(invite)
                await page.connect()
                await seen.until(lambda: True in seen.present)
                forger = Sealer("client", b"\x01" * 32)
                assert page.ws is not None
                await page.ws.send_str(forger.seal(protocol.Hello(name="Mallory")))
                await page.ws.send_str('{"v":1,"from":"client","seq":1,"nonce":"x","ct":"y"}')
                await page.send(protocol.Hello(name="Ana"))
                await seen.until(lambda: bool(seen.waiting))
                assert seen.waiting == ["Ana"] and seen.errors == []
                # The therapist hangs up from the waiting room: the page is told.
                await asyncio.wrap_future(session.hang_up())
                assert await page.receive() == protocol.Bye(reason="hangup")
                await page.close()
            assert seen.state is CallState.ENDED

    run(main())


def test_unreachable_relay_fails_clearly() -> None:
    seen = Seen()
    session = TherapistSession(
        new_invite("http://127.0.0.1:9"), callbacks=seen.callbacks(), ice_servers=[]
    )
    try:
        with pytest.raises(CallConnectionError):
            session.start().result(10)
        assert session.state is CallState.FAILED
        assert seen.errors and isinstance(seen.errors[0], CallConnectionError)
    finally:
        session.stop()


def test_api_before_start_and_after_stop() -> None:
    session = TherapistSession(
        new_invite("http://127.0.0.1:9"), callbacks=SessionCallbacks(), ice_servers=[]
    )
    with pytest.raises(RuntimeError):
        session.admit()
    with pytest.raises(CallConnectionError):
        session.send_chat("hello")
    session.stop()  # harmless when never started


@pytest.mark.slow
def test_admitted_call_with_verification_chat_and_goodbye(
    relay_server: Any, loopback_only: None
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            seen = Seen()
            invite = new_invite(base)
            session = TherapistSession(
                invite,
                callbacks=seen.callbacks(),
                media=lambda: [VideoStreamTrack(), AudioStreamTrack()],
                ice_servers=None,  # from the relay: it has no ICE configuration, so []
                connect_timeout=15,
            )
            client_chat: list[str] = []
            client_chat_open = threading.Event()
            client_engine = CallEngine(
                "answerer",
                ice_servers=[],
                callbacks=EngineCallbacks(
                    on_chat=client_chat.append, on_chat_open=client_chat_open.set
                ),
                media=lambda: [VideoStreamTrack(), AudioStreamTrack()],
            )
            await asyncio.to_thread(client_engine.start)
            page = PageStandIn(invite)
            try:
                async with started(session):
                    await page.connect()
                    await seen.until(lambda: True in seen.present)
                    await page.send(protocol.Hello(name="Ana"))
                    await seen.until(lambda: bool(seen.waiting))
                    await asyncio.wrap_future(session.admit())

                    assert await page.receive() == protocol.Admit()
                    verifier = Verifier("answerer", invite.keys.verification_key)
                    commit = await page.receive()
                    assert isinstance(commit, protocol.Commit)
                    verifier.receive_commit(commit)
                    offer = await page.receive()
                    assert isinstance(offer, protocol.Offer)
                    verifier.set_remote_sdp(offer.sdp)
                    answer = await asyncio.wrap_future(client_engine.accept_offer(offer.sdp))
                    verifier.set_local_sdp(answer)
                    await page.send(protocol.Answer(sdp=answer))
                    await page.send(verifier.reveal())
                    reveal = await page.receive()
                    assert isinstance(reveal, protocol.Reveal)
                    verifier.receive_reveal(reveal)

                    await seen.until(lambda: bool(seen.codes))
                    assert seen.codes == [verifier.code()] == [session.verification_code]
                    await seen.until(lambda: seen.state is CallState.CONNECTED, 15)

                    assert await asyncio.to_thread(seen.chat_open.wait, 10)
                    assert await asyncio.to_thread(client_chat_open.wait, 10)
                    await asyncio.wrap_future(session.send_chat("How are you today?"))
                    await asyncio.wrap_future(client_engine.send_chat("A little better."))
                    await seen.until(lambda: seen.chat == ["A little better."])
                    for _ in range(50):
                        if client_chat:
                            break
                        await asyncio.sleep(0.1)
                    assert client_chat == ["How are you today?"]

                    # The client leaves: the session stays open for them to join again.
                    await page.send(protocol.Bye(reason="hangup"))
                    await seen.until(lambda: seen.state is CallState.INVITED)
                    assert session.state is CallState.INVITED
                    await asyncio.wrap_future(session.hang_up())
                    await seen.until(lambda: seen.state is CallState.ENDED)
            finally:
                await page.close()
                await asyncio.to_thread(client_engine.stop)
            assert [state for state, _ in seen.states] == [
                CallState.INVITED,
                CallState.WAITING,
                CallState.ADMITTED,
                CallState.CONNECTING,
                CallState.CONNECTED,
                CallState.INVITED,
                CallState.ENDED,
            ]
            assert seen.states[-2][1] is CallEvent.PEER_LEFT
            assert seen.states[-1][1] is CallEvent.HANG_UP
            assert seen.errors == []

    run(main(), timeout=60)


UNUSABLE_ANSWER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\nm=nonsense\r\n"
)


@pytest.mark.parametrize(
    "messages",
    [
        # A second reveal is out of order: the call must not be marked verified.
        [protocol.Reveal(nonce=b"\x02" * 32), protocol.Reveal(nonce=b"\x03" * 32)],
        # An authentic answer that aiortc cannot use.
        [protocol.Answer(sdp=UNUSABLE_ANSWER)],
        # An answer without a usable fingerprint cannot be verified.
        [protocol.Answer(sdp="v=0\r\ns=-\r\n")],
    ],
    ids=["second-reveal", "unusable-sdp", "no-fingerprint"],
)
def test_protocol_errors_from_the_client_fail_the_call(
    relay_server: Any, loopback_only: None, messages: list[protocol.Message]
) -> None:
    async def main() -> None:
        async with relay_server() as (_server, base):
            seen = Seen()
            invite = new_invite(base)
            session = TherapistSession(invite, callbacks=seen.callbacks(), ice_servers=[])
            async with started(session):
                page = PageStandIn(invite)
                await page.connect()
                await seen.until(lambda: True in seen.present)
                await page.send(protocol.Hello(name="Ana"))
                await seen.until(lambda: bool(seen.waiting))
                await asyncio.wrap_future(session.admit())
                for message in messages:
                    await page.send(message)
                await seen.until(lambda: seen.state is CallState.FAILED)
                await page.close()
            assert seen.errors and all(isinstance(e, TelehealthError) for e in seen.errors)
            assert seen.codes == []

    run(main())
