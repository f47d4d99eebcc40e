"""Who may open a room, who may join one, and the relay's defences against strangers: operator
credentials, waiting clients, X-Forwarded-For from trusted proxies only, header timeouts, file
descriptors kept for /healthz, and metrics without identities. Real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from telehealth.relay import RelayLimits
from telehealth.relay_cli import JsonLogFormatter, main
from telehealth.relay_credentials import CredentialStore
from telehealth.relay_net import client_address
from telehealth.relay_wire import CloseCode, parse_presence_notice

ROOM = "c" * 32
LOCAL = (ipaddress.ip_network("127.0.0.0/8"),)


def run(coro: Coroutine[Any, Any, None], timeout: float = 30) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=timeout))


async def presence(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> int:
    while True:
        msg = await ws.receive(timeout=timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        count = parse_presence_notice(msg.data)
        if count is not None:
            return count


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "credentials.json")


def test_only_a_credential_opens_a_room_and_a_client_waits_for_the_therapist(
    relay_server: Any, wait_closed: Any, store: CredentialStore
) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    limits = RelayLimits(client_wait=0.6, sweep_interval=3600)

    async def scenario() -> None:
        async with (
            relay_server(limits=limits, credentials=store) as (server, base),
            aiohttp.ClientSession() as s,
        ):
            # A stranger (no credential) cannot open a room: it waits, then is sent away.
            stranger = await s.ws_connect(f"{base}/ws/{'d' * 32}")
            assert await presence(stranger) == 1
            assert server.relay.room_count == 0
            async with s.get(f"{base}/ice/{'d' * 32}") as response:
                assert response.status == 404  # no TURN for a room without its therapist
            assert await wait_closed(stranger) == CloseCode.THERAPIST_ABSENT
            assert server.relay.waiting_count == 0

            # The client comes first and waits; the therapist arrives; both see each other.
            client = await s.ws_connect(f"{base}/ws/{ROOM}")
            assert await presence(client) == 1
            therapist = await s.ws_connect(f"{base}/ws/{ROOM}", headers=bearer(token))
            assert await presence(therapist) in (1, 2)
            assert await presence(client) == 2
            assert server.relay.room_count == 1
            await client.send_str('{"v":1}')
            msg = await therapist.receive(timeout=5)
            while parse_presence_notice(msg.data) is not None:
                msg = await therapist.receive(timeout=5)
            assert msg.data == '{"v":1}'
            async with s.get(f"{base}/ice/{ROOM}") as response:
                assert response.status == 200
            # A wrong credential is refused outright.
            forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
            bad = await s.ws_connect(f"{base}/ws/{'e' * 32}", headers=bearer(forged))
            assert await wait_closed(bad) == CloseCode.CREDENTIAL_REFUSED
            await client.close()
            await therapist.close()

    run(scenario())


def test_quota_and_revocation(relay_server: Any, wait_closed: Any, store: CredentialStore) -> None:
    cred, token = store.issue("Small practice", 2)

    async def scenario() -> None:
        async with (
            relay_server(credentials=store) as (_server, base),
            aiohttp.ClientSession() as s,
        ):
            rooms = [await s.ws_connect(f"{base}/ws/{c * 32}", headers=bearer(token)) for c in "12"]
            for ws in rooms:
                assert await presence(ws) == 1
            third = await s.ws_connect(f"{base}/ws/{'3' * 32}", headers=bearer(token))
            assert await wait_closed(third) == CloseCode.ROOM_QUOTA
            # The same credential may take its own seat back (an app reconnecting early).
            again = await s.ws_connect(f"{base}/ws/{'1' * 32}", headers=bearer(token))
            assert await presence(again) == 1
            assert await wait_closed(rooms[0]) == CloseCode.ROOM_FULL
            store.revoke(cred.id)
            late = await s.ws_connect(f"{base}/ws/{'4' * 32}", headers=bearer(token))
            assert await wait_closed(late) == CloseCode.CREDENTIAL_REFUSED
            # Rooms already open run to their end.
            assert not rooms[1].closed
            await again.close()
            await rooms[1].close()

    run(scenario())


def test_credentials_file_keeps_only_hashes(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "etc" / "credentials.json"
    common = ["--credentials-file", str(path)]
    assert main([*common, "credentials", "issue", "--label", "Dr Rivera", "--json"]) == 0
    issued = json.loads(capsys.readouterr().out)
    token = issued["credential"]
    assert token.startswith("qrc_")
    text = path.read_text()
    assert token not in text and token.split("_")[-1] not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CredentialStore(path).verify(token) is not None
    assert main([*common, "credentials", "list"]) == 0
    listed = capsys.readouterr().out
    assert issued["id"] in listed and "active" in listed and token not in listed
    assert main([*common, "credentials", "revoke", issued["id"]]) == 0
    assert CredentialStore(path).verify(token) is None
    assert main([*common, "credentials", "revoke", "nosuchid00"]) == 2


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxy = (ipaddress.ip_network("10.9.0.1/32"),)
    # No trusted proxy: the header is ignored (anyone can send it).
    assert client_address("203.0.113.9", ["1.2.3.4"], ()) == "203.0.113.9"
    # From an untrusted peer: ignored.
    assert client_address("203.0.113.9", ["1.2.3.4"], proxy) == "203.0.113.9"
    # From the proxy: the rightmost address the proxy did not add itself is the client.
    assert client_address("10.9.0.1", ["6.6.6.6, 198.51.100.7"], proxy) == "198.51.100.7"
    assert client_address("10.9.0.1", ["6.6.6.6", "198.51.100.7, 10.9.0.1"], proxy) == (
        "198.51.100.7"
    )
    assert client_address("10.9.0.1", ["garbage"], proxy) == "10.9.0.1"
    assert client_address("10.9.0.1", [], proxy) == "10.9.0.1"


def test_per_address_limit_applies_to_the_real_client_behind_a_proxy(
    relay_server: Any, wait_closed: Any
) -> None:
    limits = RelayLimits(max_sockets_per_address=2, sweep_interval=3600)

    async def open_from(s: aiohttp.ClientSession, base: str, address: str, room: str) -> Any:
        return await s.ws_connect(f"{base}/ws/{room}", headers={"X-Forwarded-For": address})

    async def scenario() -> None:
        async with (
            relay_server(limits=limits, trusted_proxies=LOCAL) as (_server, base),
            aiohttp.ClientSession() as s,
        ):
            # A stranger's sockets (one address) reach the limit...
            hog = [await open_from(s, base, "198.51.100.66", c * 32) for c in "ab"]
            refused = await open_from(s, base, "198.51.100.66", "f" * 32)
            assert await wait_closed(refused) == CloseCode.TOO_MANY_ROOMS
            # ...but everyone else, arriving through the same proxy, is unaffected.
            for i in range(6):
                ws = await open_from(s, base, f"198.51.100.{i}", f"{i}" * 32)
                assert await presence(ws) == 1
                await ws.close()
            for ws in hog:
                await ws.close()

    run(scenario())


def test_slow_headers_are_cut_off_and_health_still_answers(relay_server: Any) -> None:
    limits = RelayLimits(header_timeout=1.0, sweep_interval=3600)

    async def slow_client(port: int, closed_after: list[float]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
        try:
            for byte in request:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
                if reader.at_eof():
                    break
            else:
                return
        except ConnectionError:
            pass
        closed_after.append(time.monotonic() - started)
        writer.close()

    async def scenario() -> None:
        async with relay_server(limits=limits) as (_server, base):
            port = int(base.rsplit(":", 1)[1])
            closed_after: list[float] = []
            slow = [asyncio.ensure_future(slow_client(port, closed_after)) for _ in range(30)]
            await asyncio.sleep(0.3)
            async with aiohttp.ClientSession() as s, s.get(f"{base}/healthz") as response:
                assert response.status == 200
            await asyncio.wait_for(asyncio.gather(*slow), 8)
            assert len(closed_after) == 30, "a slow client was never cut off"
            assert max(closed_after) < 3.0

    run(scenario())


def test_idle_connections_cannot_take_the_last_file_descriptors(
    relay_server: Any, store: CredentialStore
) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    limits = RelayLimits(max_connections=40, fd_reserve=8, header_timeout=30.0, sweep_interval=3600)

    async def scenario() -> None:
        async with (
            relay_server(limits=limits, credentials=store, metrics_from=LOCAL) as (server, base),
            aiohttp.ClientSession() as s,
        ):
            port = int(base.rsplit(":", 1)[1])
            therapist = await s.ws_connect(f"{base}/ws/{ROOM}", headers=bearer(token))
            client = await s.ws_connect(f"{base}/ws/{ROOM}")
            assert await presence(client) == 2
            idle = []
            for _ in range(80):  # twice the connection limit, sending nothing
                sock = socket.create_connection(("127.0.0.1", port))
                idle.append(sock)
            await asyncio.sleep(0.2)
            for _ in range(5):
                async with aiohttp.ClientSession() as fresh, fresh.get(f"{base}/healthz") as r:
                    assert r.status == 200
            assert server.relay.guard.open_connections <= 40
            # The admitted room still forwards.
            await therapist.send_str('{"v":2}')
            msg = await client.receive(timeout=5)
            while parse_presence_notice(msg.data) is not None:
                msg = await client.receive(timeout=5)
            assert msg.data == '{"v":2}'
            metrics = await (await s.get(f"{base}/metrics")).text()
            assert 'quietroom_relay_refusals_total{reason="evicted"}' in metrics
            for sock in idle:
                sock.close()
            await client.close()
            await therapist.close()

    run(scenario())


def test_metrics_count_without_identities(
    relay_server: Any, wait_closed: Any, store: CredentialStore
) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    limits = RelayLimits(client_wait=0.3, sweep_interval=3600)

    async def scenario() -> None:
        async with (
            relay_server(
                limits=limits, credentials=store, trusted_proxies=LOCAL, metrics_from=LOCAL
            ) as (_server, base),
            aiohttp.ClientSession() as s,
        ):
            therapist = await s.ws_connect(f"{base}/ws/{ROOM}", headers=bearer(token))
            client = await s.ws_connect(f"{base}/ws/{ROOM}")
            assert await presence(client) == 2
            await client.send_str('{"v":3}')
            stranger = await s.ws_connect(f"{base}/ws/{'9' * 32}")
            assert await wait_closed(stranger) == CloseCode.THERAPIST_ABSENT
            async with s.get(f"{base}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            assert "quietroom_relay_rooms 1.0" in text
            assert 'quietroom_relay_sockets{state="seated"} 2.0' in text
            assert 'quietroom_relay_refusals_total{reason="therapist_absent"} 1.0' in text
            assert 'quietroom_relay_bytes_total{direction="in"} 7.0' in text
            for secret in (ROOM, "9" * 32, token, "127.0.0.1", "Rivera"):
                assert secret not in text
            # A public address (through the trusted proxy) may not read them.
            async with s.get(
                f"{base}/metrics", headers={"X-Forwarded-For": "203.0.113.5"}
            ) as response:
                assert response.status == 403
            await client.close()
            await therapist.close()

    run(scenario())


def test_json_logs_carry_no_room_ids(
    relay_server: Any, caplog: pytest.LogCaptureFixture, store: CredentialStore
) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    caplog.set_level(logging.INFO, logger="telehealth.relay")

    async def scenario() -> None:
        async with (
            relay_server(credentials=store) as (_server, base),
            aiohttp.ClientSession() as s,
        ):
            therapist = await s.ws_connect(f"{base}/ws/{ROOM}", headers=bearer(token))
            client = await s.ws_connect(f"{base}/ws/{ROOM}")
            assert await presence(client) == 2
            await client.close()
            await therapist.close()
            await asyncio.sleep(0.1)

    run(scenario())
    formatter = JsonLogFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "telehealth.relay"]
    assert any("therapist joined" in line for line in lines)
    for line in lines:
        entry = json.loads(line)
        assert set(entry) >= {"time", "level", "logger", "message"}
        assert (
            ROOM not in line
            and token not in line
            and "127.0.0.1" not in line.replace("relay listening on 127.0.0.1", "")
        )


def test_settings_come_from_file_environment_and_flags(tmp_path: Path) -> None:
    from telehealth.errors import RelayConfigError
    from telehealth.relay_config import build_config, read_config_file, settings_help

    config_file = tmp_path / "relay.toml"
    config_file.write_text(
        'open_admission = true\nport = 9001\ntrusted_proxies = ["127.0.0.1"]\n'
        "[relay]\nmax_rooms = 7\nheader_timeout = 4.5\n"
    )
    values = read_config_file(config_file)
    config = build_config(
        file_values=values,
        environ={"QUIETROOM_RELAY_MAX_ROOMS": "9", "QUIETROOM_RELAY_PORT": "9002"},
        overrides={"port": "9003"},
    )
    assert config.port == 9003  # flag > environment > file
    assert config.limits.max_rooms == 9
    assert config.limits.header_timeout == 4.5
    assert config.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"),)
    with pytest.raises(RelayConfigError, match="max_rooms"):
        build_config(
            environ={"QUIETROOM_RELAY_MAX_ROOMS": "0", "QUIETROOM_RELAY_OPEN_ADMISSION": "1"}
        )
    with pytest.raises(RelayConfigError, match="QUIETROOM_RELAY_PORT"):
        build_config(
            environ={"QUIETROOM_RELAY_PORT": "http", "QUIETROOM_RELAY_OPEN_ADMISSION": "1"}
        )
    with pytest.raises(RelayConfigError, match="credentials_file"):
        build_config(environ={})
    config_file.write_text("max_romos = 3\n")
    with pytest.raises(RelayConfigError, match="unknown setting 'max_romos'"):
        read_config_file(config_file)
    text = settings_help()
    from telehealth.relay_config import SETTINGS

    for setting in SETTINGS:
        assert setting.env in text
    assert os.environ.get("QUIETROOM_RELAY_PORT") is None


def test_a_relay_with_a_small_file_limit_keeps_answering_health(tmp_path: Path) -> None:
    """The attack row as measured: a relay process whose open-file limit is 256 (as a service's
    1,024 limit, smaller), 400 idle connections from many addresses, and /healthz still answers
    while an admitted room keeps forwarding."""
    import resource
    import subprocess
    import sys
    import urllib.request

    store = CredentialStore(tmp_path / "credentials.json")
    _cred, token = store.issue("Dr Rivera", 3)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def small_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "telehealth.relay_cli",
            "--port",
            str(port),
            "--credentials-file",
            str(store.path),
            "--header-timeout",
            "60",
        ],
        preexec_fn=small_limit,  # a test: one child, started before any thread of its own
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def health() -> int:
        with urllib.request.urlopen(f"{base}/healthz", timeout=3) as r:
            return int(r.status)

    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert health() == 200
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)

        async def scenario() -> None:
            async with aiohttp.ClientSession() as s:
                therapist = await s.ws_connect(f"{base}/ws/{ROOM}", headers=bearer(token))
                client = await s.ws_connect(f"{base}/ws/{ROOM}")
                assert await presence(client) == 2
                idle = []
                for i in range(400):
                    sock = socket.socket()
                    sock.bind((f"127.9.{i // 200}.{i % 200 + 1}", 0))
                    sock.setblocking(False)
                    with contextlib.suppress(BlockingIOError):
                        sock.connect(("127.0.0.1", port))
                    idle.append(sock)
                await asyncio.sleep(1.0)
                for _ in range(5):
                    assert await asyncio.to_thread(health) == 200
                await therapist.send_str('{"v":9}')
                msg = await client.receive(timeout=5)
                while parse_presence_notice(msg.data) is not None:
                    msg = await client.receive(timeout=5)
                assert msg.data == '{"v":9}'
                for sock in idle:
                    sock.close()
                await client.close()
                await therapist.close()

        run(scenario())
    finally:
        process.terminate()
        process.wait(10)
