"""The relay over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from telehealth import protocol as p
from telehealth.errors import RelayConfigError
from telehealth.ice import IceConfig, TurnConfig
from telehealth.invite import new_invite
from telehealth.relay import RelayLimits, room_tag, run_relay, tls_context
from telehealth.relay_wire import CloseCode, parse_presence_notice
from telehealth.sealing import Opener, Sealer

ROOM_A = "a" * 32
ROOM_B = "b" * 32
ENVELOPE = '{"v":1,"from":"client","seq":1,"nonce":"AAAAAAAAAAAAAAAA","ct":"AAAA"}'


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=20))


async def next_text(ws: aiohttp.ClientWebSocketResponse) -> str:
    """The next frame that is not a presence notice."""
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if parse_presence_notice(msg.data) is None:
            return str(msg.data)


async def wait_for_peers(ws: aiohttp.ClientWebSocketResponse, count: int) -> None:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if parse_presence_notice(msg.data) == count:
            return


async def join_pair(
    session: aiohttp.ClientSession, base: str, room: str
) -> tuple[aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse]:
    first = await session.ws_connect(f"{base}/ws/{room}")
    await wait_for_peers(first, 1)
    second = await session.ws_connect(f"{base}/ws/{room}")
    await wait_for_peers(first, 2)
    await wait_for_peers(second, 2)
    return first, second


def test_forwards_sealed_messages_between_the_two_participants(relay_server: Any) -> None:
    invite = new_invite("127.0.0.1")
    keys = invite.keys
    therapist_seal, client_seal = (
        Sealer("therapist", keys.signalling_key),
        Sealer("client", keys.signalling_key),
    )
    from_therapist, from_client = (
        Opener("therapist", keys.signalling_key),
        Opener("client", keys.signalling_key),
    )

    async def scenario() -> None:
        async with relay_server() as (server, base), aiohttp.ClientSession() as session:
            therapist, client = await join_pair(session, base, keys.room_id)
            assert server.relay.participants(keys.room_id) == 2
            await client.send_str(client_seal.seal(p.Hello(name="Ana")))
            assert from_client.open(await next_text(therapist)) == p.Hello(name="Ana")
            await therapist.send_str(therapist_seal.seal(p.Admit()))
            assert from_therapist.open(await next_text(client)) == p.Admit()
            for i in range(5):
                await client.send_str(
                    client_seal.seal(p.Ice(candidate=f"c{i}", sdp_mid="0", sdp_mline_index=0))
                )
            for i in range(5):
                message = from_client.open(await next_text(therapist))
                assert message == p.Ice(candidate=f"c{i}", sdp_mid="0", sdp_mline_index=0)
            await client.close()
            await wait_for_peers(therapist, 1)
            await therapist.close()
            for _ in range(50):
                if server.relay.room_count == 0:
                    break
                await asyncio.sleep(0.02)
            assert server.relay.room_count == 0

    run(scenario())


def test_a_third_participant_is_refused(relay_server: Any, wait_closed: Any) -> None:
    async def scenario() -> None:
        async with relay_server() as (server, base), aiohttp.ClientSession() as session:
            first, second = await join_pair(session, base, ROOM_A)
            third = await session.ws_connect(f"{base}/ws/{ROOM_A}")
            assert await wait_closed(third) == CloseCode.ROOM_FULL
            await first.send_str(ENVELOPE)
            assert await next_text(second) == ENVELOPE  # the two are undisturbed
            assert server.relay.participants(ROOM_A) == 2
            # When someone leaves, the seat is free again (a page reload rejoins).
            await first.close()
            await wait_for_peers(second, 1)
            again = await session.ws_connect(f"{base}/ws/{ROOM_A}")
            await wait_for_peers(again, 2)
            await again.close()
            await second.close()

    run(scenario())


def test_oversized_frame_closes_only_that_socket(relay_server: Any, wait_closed: Any) -> None:
    limits = RelayLimits(max_message_bytes=1024, sweep_interval=3600)

    async def scenario() -> None:
        async with relay_server(limits=limits) as (_server, base), aiohttp.ClientSession() as s:
            a1, a2 = await join_pair(s, base, ROOM_A)
            b1, b2 = await join_pair(s, base, ROOM_B)
            await a1.send_str("x" * 2000)
            assert await wait_closed(a1) == CloseCode.TOO_BIG
            await wait_for_peers(a2, 1)  # the partner is told, and stays connected
            assert not a2.closed
            await b1.send_str(ENVELOPE)
            assert await next_text(b2) == ENVELOPE  # the other room carries on
            at_limit = '{"v":' + "y" * 995
            await b2.send_str(at_limit)
            assert await next_text(b1) == at_limit  # at the limit is fine
            for ws in (a2, b1, b2):
                await ws.close()

    run(scenario())


@pytest.mark.parametrize(
    "send",
    [
        lambda ws: ws.send_bytes(b"\x00\x01"),
        lambda ws: ws.send_str("caf\u00e9"),
        lambda ws: ws.send_str("line\nbreak"),
    ],
    ids=["binary", "non-ascii", "control-char"],
)
def test_malformed_frame_closes_only_that_socket(
    relay_server: Any, wait_closed: Any, send: Callable[[Any], Any]
) -> None:
    async def scenario() -> None:
        async with relay_server() as (_server, base), aiohttp.ClientSession() as session:
            first, second = await join_pair(session, base, ROOM_A)
            await send(first)
            assert await wait_closed(first) == CloseCode.MALFORMED
            await wait_for_peers(second, 1)
            await second.close()

    run(scenario())


def test_flooding_socket_is_closed_by_the_rate_limit(
    relay_server: Any, wait_closed: Any, fake_clock: Any
) -> None:
    limits = RelayLimits(messages_per_second=2, message_burst=5, sweep_interval=3600)

    async def scenario() -> None:
        async with (
            relay_server(limits=limits, clock=fake_clock) as (_server, base),
            aiohttp.ClientSession() as session,
        ):
            flooder, partner = await join_pair(session, base, ROOM_A)
            quiet, other = await join_pair(session, base, ROOM_B)
            for _ in range(5):
                await flooder.send_str(ENVELOPE)
            for _ in range(5):
                assert await next_text(partner) == ENVELOPE
            fake_clock.advance(1.0)  # refills two tokens
            for _ in range(2):
                await flooder.send_str(ENVELOPE)
                assert await next_text(partner) == ENVELOPE
            await flooder.send_str(ENVELOPE)  # the bucket is empty
            assert await wait_closed(flooder) == CloseCode.RATE_LIMITED
            await wait_for_peers(partner, 1)
            await quiet.send_str(ENVELOPE)
            assert await next_text(other) == ENVELOPE
            for ws in (partner, quiet, other):
                await ws.close()

    run(scenario())


def test_rooms_expire_after_their_lifetime(
    relay_server: Any, wait_closed: Any, fake_clock: Any
) -> None:
    limits = RelayLimits(room_lifetime=60, sweep_interval=3600)

    async def scenario() -> None:
        async with (
            relay_server(limits=limits, clock=fake_clock) as (server, base),
            aiohttp.ClientSession() as session,
        ):
            old1, old2 = await join_pair(session, base, ROOM_A)
            fake_clock.advance(30)
            young1, young2 = await join_pair(session, base, ROOM_B)
            fake_clock.advance(30)
            await server.relay.sweep()
            assert await wait_closed(old1) == CloseCode.ROOM_EXPIRED
            assert await wait_closed(old2) == CloseCode.ROOM_EXPIRED
            assert server.relay.participants(ROOM_A) == 0
            await young1.send_str(ENVELOPE)
            assert await next_text(young2) == ENVELOPE
            fake_clock.advance(30)
            await server.relay.sweep()
            assert await wait_closed(young1) == CloseCode.ROOM_EXPIRED
            assert server.relay.room_count == 0
            await young2.close()

    run(scenario())


def test_the_sweeper_runs_by_itself(relay_server: Any, wait_closed: Any) -> None:
    limits = RelayLimits(room_lifetime=0.2, sweep_interval=0.05)

    async def scenario() -> None:
        async with relay_server(limits=limits) as (_server, base), aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            assert await wait_closed(ws) == CloseCode.ROOM_EXPIRED

    run(scenario())


def test_sockets_per_address_and_room_count_are_limited(
    relay_server: Any, wait_closed: Any
) -> None:
    limits = RelayLimits(max_sockets_per_address=3, max_rooms=2, sweep_interval=3600)

    async def scenario() -> None:
        async with relay_server(limits=limits) as (_server, base), aiohttp.ClientSession() as s:
            a = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            b = await s.ws_connect(f"{base}/ws/{ROOM_B}")
            await wait_for_peers(a, 1)
            await wait_for_peers(b, 1)
            c = await s.ws_connect(f"{base}/ws/{'c' * 32}")
            assert await wait_closed(c) == CloseCode.RELAY_BUSY
            a2 = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            await wait_for_peers(a2, 2)
            a3 = await s.ws_connect(f"{base}/ws/{ROOM_B}")
            assert await wait_closed(a3) == CloseCode.TOO_MANY_ROOMS
            for ws in (a, b, a2):
                await ws.close()

    run(scenario())


@pytest.mark.parametrize("room", ["A" * 32, "a" * 31, "a" * 33, "g" * 32, "..%2f" + "a" * 28])
def test_bad_room_ids_are_refused(relay_server: Any, wait_closed: Any, room: str) -> None:
    async def scenario() -> None:
        async with relay_server() as (server, base), aiohttp.ClientSession() as session:
            ws = await session.ws_connect(f"{base}/ws/{room}")
            assert await wait_closed(ws) == CloseCode.BAD_ROOM_ID
            assert server.relay.room_count == 0

    run(scenario())


def test_health_and_page_and_headers(relay_server: Any, tmp_path: Path) -> None:
    web_dir = tmp_path / "web"
    web_dir.mkdir()
    (web_dir / "index.html").write_text("<title>client page</title>", encoding="utf-8")
    (web_dir / "app.js").write_text("console.log(1)", encoding="utf-8")

    async def scenario() -> None:
        async with relay_server(static_dir=web_dir) as (_s, base), aiohttp.ClientSession() as s:
            async with s.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ok", "version": "1"}
            async with s.get(f"{base}/j/") as response:
                assert response.status == 200
                assert "client page" in await response.text()
                assert response.headers["Referrer-Policy"] == "no-referrer"
                assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
            async with s.get(f"{base}/j/app.js") as response:
                assert response.status == 200 and await response.text() == "console.log(1)"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
            async with s.get(f"{base}/j/../../etc/passwd") as response:
                assert response.status in (403, 404)
            async with s.get(f"{base}/nothing") as response:
                assert response.status == 404
                assert response.headers["Referrer-Policy"] == "no-referrer"

    run(scenario())


def test_placeholder_page_without_a_web_directory(relay_server: Any) -> None:
    async def scenario() -> None:
        async with (
            relay_server() as (_s, base),
            aiohttp.ClientSession() as s,
            s.get(f"{base}/j/") as response,
        ):
            assert response.status == 200
            assert "not installed" in await response.text()

    run(scenario())


TURN_SECRET = "correct horse battery staple"


def test_ice_endpoint_hands_out_valid_turn_credentials(relay_server: Any) -> None:
    ice = IceConfig(
        stun=("stun:stun.example.org:3478",),
        turn=TurnConfig(urls=("turn:turn.example.org:3478",), secret=TURN_SECRET, ttl=600),
    )

    async def scenario() -> None:
        async with relay_server(ice_config=ice) as (_s, base), aiohttp.ClientSession() as s:
            async with s.get(f"{base}/ice/{ROOM_A}") as response:
                assert response.status == 404  # nobody in the room: no TURN for strangers
            ws = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            await wait_for_peers(ws, 1)
            loop_time = time.time()
            async with s.get(f"{base}/ice/{ROOM_A}") as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "no-store"
                body = await response.json()
            stun, turn = body["iceServers"]
            assert stun == {"urls": ["stun:stun.example.org:3478"]}
            assert turn["urls"] == ["turn:turn.example.org:3478"]
            expiry, _, random_id = turn["username"].partition(":")
            assert abs(int(expiry) - (loop_time + 600)) <= 2
            assert len(random_id) >= 16
            expected = base64.b64encode(
                hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
            ).decode()
            assert turn["credential"] == expected
            async with s.get(f"{base}/ice/{ROOM_A}") as response:
                again = (await response.json())["iceServers"][1]
            assert again["username"] != turn["username"]  # fresh id each time
            await ws.close()

    run(scenario())


def test_ice_endpoint_tells_the_relay_only_policy(relay_server: Any) -> None:
    ice = IceConfig(
        turn=TurnConfig(urls=("turn:turn.example.org:3478",), secret=TURN_SECRET),
        relay_only=True,
    )

    async def scenario() -> None:
        async with relay_server(ice_config=ice) as (_s, base), aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            await wait_for_peers(ws, 1)
            async with s.get(f"{base}/ice/{ROOM_A}") as response:
                body = await response.json()
            assert body["iceTransportPolicy"] == "relay" and len(body["iceServers"]) == 1
            await ws.close()

    run(scenario())


def test_ice_endpoint_without_configuration(relay_server: Any) -> None:
    async def scenario() -> None:
        async with relay_server() as (_s, base), aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{base}/ws/{ROOM_A}")
            await wait_for_peers(ws, 1)
            async with s.get(f"{base}/ice/{ROOM_A}") as response:
                assert await response.json() == {"iceServers": []}
            await ws.close()

    run(scenario())


def test_logs_hold_no_room_ids_names_or_contents(
    relay_server: Any, caplog: pytest.LogCaptureFixture, wait_closed: Any
) -> None:
    invite = new_invite("127.0.0.1")
    keys = invite.keys
    canary = "Canary Patient Name"
    sealed = Sealer("client", keys.signalling_key).seal(p.Hello(name=canary))

    async def scenario() -> None:
        async with relay_server() as (_s, base), aiohttp.ClientSession() as session:
            therapist, client = await join_pair(session, base, keys.room_id)
            await client.send_str(sealed)
            await next_text(therapist)
            third = await session.ws_connect(f"{base}/ws/{keys.room_id}")
            await wait_closed(third)
            await client.send_str(canary)  # plaintext a buggy client might send: refused
            await wait_closed(client)
            await therapist.close()

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    text = "\n".join(
        record.getMessage()
        for record in caplog.records
        if not record.getMessage().startswith("relay listening")  # the relay's own address
    )
    assert room_tag(keys.room_id) in text  # the log is useful...
    for secret in (keys.room_id, canary, sealed, invite.link.split("#")[1], "127.0.0.1"):
        assert secret not in text  # ...and holds nothing that identifies or reveals


def test_tls_configuration_errors() -> None:
    assert tls_context(None, None) is None
    with pytest.raises(RelayConfigError):
        tls_context("cert.pem", None)
    with pytest.raises(RelayConfigError):
        tls_context("/nonexistent/cert.pem", "/nonexistent/key.pem")
    with pytest.raises(RelayConfigError):
        RelayLimits(max_message_bytes=0)
    with pytest.raises(RelayConfigError):
        run_relay("127.0.0.1", 0, tls_cert="/nonexistent/cert.pem")
