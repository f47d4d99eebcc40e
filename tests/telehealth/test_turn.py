"""Calls through a real TURN server (coturn on 127.0.0.1), relayed candidates only.

The relay is configured with the TURN server and its REST-API shared secret; it hands both sides
short-lived credentials (``telehealth.ice``) and the ``relay`` transport policy, so neither peer
offers a host candidate: all media goes through coturn. coturn checks the credentials itself
(HMAC-SHA1 of the username with the shared secret), which the wrong-secret test shows.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import aiohttp
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth import protocol
from telehealth.engine import (
    CallEngine,
    EngineCallbacks,
    IceServer,
    RgbFrame,
    ice_servers_from_json,
)
from telehealth.ice import IceConfig, TurnConfig, turn_credentials
from telehealth.invite import new_invite
from telehealth.lifecycle import CallState
from telehealth.relay_wire import parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo
from telehealth.verification import Verifier

pytestmark = pytest.mark.slow

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ (\S+) \d+ (\S+) (\d+) typ (\S+)", re.MULTILINE)


def media() -> list[MediaStreamTrack]:
    return [ShadeVideo(), AudioStreamTrack()]


def candidate_types(sdp: str) -> list[tuple[str, str, str]]:
    """(transport, address, type) of every candidate line."""
    return [(m[0].lower(), m[1], m[3]) for m in CANDIDATE.findall(sdp)]


class Count:
    def __init__(self) -> None:
        self.n = 0
        self._cond = threading.Condition()

    def __call__(self, _frame: RgbFrame) -> None:
        with self._cond:
            self.n += 1
            self._cond.notify_all()

    def wait(self, at_least: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.n >= at_least, timeout)


def test_call_through_coturn_with_relay_credentials(relay_server: Any, coturn: Any) -> None:
    """Therapist session and a Python page both get their TURN credentials and the relay-only
    policy from the relay's /ice/<room>; the call connects through coturn and media flows."""
    ice = IceConfig(turn=TurnConfig(urls=(coturn.url,), secret=coturn.secret), relay_only=True)

    async def main() -> None:
        async with relay_server(ice_config=ice) as (_server, base):
            states: list[CallState] = []
            codes: list[str] = []
            waiting = threading.Event()
            therapist_frames, client_frames = Count(), Count()
            invite = new_invite(base)
            session = TherapistSession(
                invite,
                callbacks=SessionCallbacks(
                    on_state=lambda state, _event: states.append(state),
                    on_client_waiting=lambda _name: waiting.set(),
                    on_verification_code=codes.append,
                    on_video=therapist_frames,
                ),
                media=media,
                ice_servers=None,  # from the relay, with fresh TURN credentials
                connect_timeout=20,
            )
            http = aiohttp.ClientSession()
            client: CallEngine | None = None
            try:
                await asyncio.wrap_future(session.start())
                ws = await http.ws_connect(invite.websocket_url())
                sealer = Sealer("client", invite.keys.signalling_key)
                opener = Opener("therapist", invite.keys.signalling_key)
                # What the page does on admit: ask the relay for the ICE configuration.
                async with http.get(invite.ice_url()) as response:
                    config = await response.json()
                assert config["iceTransportPolicy"] == "relay"
                [turn] = config["iceServers"]
                assert turn["urls"] == [coturn.url]
                expiry, _random = turn["username"].split(":")
                assert int(expiry) > time.time() + 3000  # the default ttl is an hour
                client = CallEngine(
                    "answerer",
                    ice_servers=ice_servers_from_json(config["iceServers"]),
                    callbacks=EngineCallbacks(on_video=client_frames),
                    media=media,
                    ice_transport_policy="relay",
                )
                await asyncio.to_thread(client.start)

                await ws.send_str(sealer.seal(protocol.Hello(name="Ana")))
                assert await asyncio.to_thread(waiting.wait, 10)
                await asyncio.wrap_future(session.admit())
                verifier = Verifier("answerer", invite.keys.verification_key)
                offer_sdp = ""
                while not codes or client_frames.n < 5:
                    msg = await ws.receive(timeout=20)
                    assert msg.type == aiohttp.WSMsgType.TEXT
                    if parse_presence_notice(msg.data) is not None:
                        continue
                    message = opener.open(msg.data)
                    match message:
                        case protocol.Commit():
                            verifier.receive_commit(message)
                        case protocol.Offer(sdp=sdp):
                            offer_sdp = sdp
                            verifier.set_remote_sdp(sdp)
                            answer = await asyncio.wrap_future(client.accept_offer(sdp))
                            verifier.set_local_sdp(answer)
                            await ws.send_str(sealer.seal(protocol.Answer(sdp=answer)))
                            await ws.send_str(sealer.seal(verifier.reveal()))
                            answer_sdp = answer
                        case protocol.Reveal():
                            verifier.receive_reveal(message)
                            assert await asyncio.to_thread(client_frames.wait, 5, 20)
                        case _:
                            pass

                # Only relayed candidates, on coturn's relay address, on both sides.
                for sdp in (offer_sdp, answer_sdp):
                    found = candidate_types(sdp)
                    assert found, sdp
                    assert {kind for _t, _a, kind in found} == {"relay"}
                    assert {address for _t, address, _k in found} == {"127.0.0.1"}
                assert codes == [verifier.code()]
                assert await asyncio.to_thread(therapist_frames.wait, 5, 10)
                assert CallState.CONNECTED in states
                await ws.close()
            finally:
                await http.close()
                await asyncio.to_thread(session.stop)
                if client is not None:
                    await asyncio.to_thread(client.stop)

            log = coturn.log()
            # coturn saw two authenticated allocations and relayed between them.
            assert len(re.findall(r"ALLOCATE processed, success", log)) >= 2, log[-3000:]
            assert re.search(r"(CREATE_PERMISSION|CHANNEL_BIND) processed, success", log)
            assert coturn.secret not in log  # the shared secret is never logged

    asyncio.run(asyncio.wait_for(main(), timeout=60))


def test_coturn_refuses_credentials_signed_with_another_secret(coturn: Any) -> None:
    username, credential = turn_credentials(
        "not-the-shared-secret-at-all", 600, now=time.time(), random_id="0123456789abcdef"
    )
    seen: list[str] = []
    engine = CallEngine(
        "offerer",
        ice_servers=[IceServer((coturn.url,), username, credential)],
        callbacks=EngineCallbacks(on_state=seen.append),
        ice_transport_policy="relay",
        connect_timeout=2,
    )
    engine.start()
    try:
        offer = engine.create_offer().result(15)
        assert "typ relay" not in offer  # no allocation, so no relayed candidate
    finally:
        engine.stop()
    log = coturn.log()
    assert f"user <{username}>" in log and "error 401: Unauthorized" in log, log[-2000:]
