"""Two relay instances sharing rooms through a real redis-server: the therapist on one and the
client on the other meet, and when one instance stops, both reconnect through the other."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp

from telehealth.relay import RelayLimits, start_relay
from telehealth.relay_credentials import CredentialStore
from telehealth.relay_redis import RedisRooms
from telehealth.relay_wire import CloseCode, parse_presence_notice

ROOM = "7" * 32


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=40))


async def presence(ws: aiohttp.ClientWebSocketResponse, want: int) -> None:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if parse_presence_notice(msg.data) == want:
            return


async def frame(ws: aiohttp.ClientWebSocketResponse) -> str:
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        if parse_presence_notice(msg.data) is None:
            return str(msg.data)


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return int(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return ws.close_code


def test_two_instances_share_rooms_and_survive_one_stopping(redis_url: str, tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 1)
    auth = {"Authorization": f"Bearer {token}"}
    limits = RelayLimits(sweep_interval=3600, client_wait=10)

    async def scenario() -> None:
        servers = [
            await start_relay(
                "127.0.0.1",
                0,
                static_dir=None,
                limits=limits,
                credentials=store,
                rooms=RedisRooms(redis_url),
            )
            for _ in range(2)
        ]
        a, b = (f"http://127.0.0.1:{s.port}" for s in servers)
        try:
            async with aiohttp.ClientSession() as s:
                # The client waits on B before the therapist opens the room on A.
                client = await s.ws_connect(f"{b}/ws/{ROOM}")
                await presence(client, 1)
                therapist = await s.ws_connect(f"{a}/ws/{ROOM}", headers=auth)
                await presence(client, 2)
                await presence(therapist, 2)
                await client.send_str('{"v":1,"from":"client"}')
                assert await frame(therapist) == '{"v":1,"from":"client"}'
                await therapist.send_str('{"v":1,"from":"therapist"}')
                assert await frame(client) == '{"v":1,"from":"therapist"}'
                # TURN credentials on either instance: the therapist is present in Redis.
                async with s.get(f"{b}/ice/{ROOM}") as response:
                    assert response.status == 200
                # The quota (1 room) is counted across instances.
                other = await s.ws_connect(f"{b}/ws/{'8' * 32}", headers=auth)
                assert await closed_with(other) == CloseCode.ROOM_QUOTA
                # A third socket on A is refused: the client's seat is taken on B.
                third = await s.ws_connect(f"{a}/ws/{ROOM}")
                assert await closed_with(third) == CloseCode.ROOM_FULL

                # Instance A stops mid-call: the therapist is told "going away" and comes
                # back through B, where the client still is.
                await servers[0].stop()
                assert await closed_with(therapist) == CloseCode.GOING_AWAY
                await presence(client, 1)
                therapist = await s.ws_connect(f"{b}/ws/{ROOM}", headers=auth)
                await presence(client, 2)
                await therapist.send_str('{"v":1,"after":"failover"}')
                assert await frame(client) == '{"v":1,"after":"failover"}'
                await client.close()
                await therapist.close()
        finally:
            for server in servers:
                await server.stop()

    run(scenario())


def test_a_seat_held_by_a_dead_instance_is_free(redis_url: str, tmp_path: Path) -> None:
    """An instance that died without cleaning up (its liveness key gone) holds no seat."""
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 3)
    auth = {"Authorization": f"Bearer {token}"}

    async def scenario() -> None:
        a_rooms, b_rooms = RedisRooms(redis_url), RedisRooms(redis_url)
        a = await start_relay("127.0.0.1", 0, static_dir=None, credentials=store, rooms=a_rooms)
        b = await start_relay("127.0.0.1", 0, static_dir=None, credentials=store, rooms=b_rooms)
        try:
            async with aiohttp.ClientSession() as s:
                therapist = await s.ws_connect(f"http://127.0.0.1:{b.port}/ws/{ROOM}", headers=auth)
                await presence(therapist, 1)
                client_a = await s.ws_connect(f"http://127.0.0.1:{a.port}/ws/{ROOM}")
                await presence(client_a, 2)
                # A "dies": its renewals stop and its liveness key is gone.
                assert a_rooms._renewer is not None
                a_rooms._renewer.cancel()
                await b_rooms.redis.delete(f"qr:i:{a_rooms.instance}")
                client_b = await s.ws_connect(f"http://127.0.0.1:{b.port}/ws/{ROOM}")
                await presence(client_b, 2)
                await therapist.send_str('{"v":1,"n":1}')
                assert await frame(client_b) == '{"v":1,"n":1}'
                for ws in (therapist, client_a, client_b):
                    await ws.close()
        finally:
            await a.stop()
            await b.stop()

    run(scenario())
