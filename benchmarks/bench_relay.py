"""Relay benchmarks, on this machine only (127.0.0.0/8), every loop bounded in count and time.

``scale``: one relay instance (rooms in memory), one instance with Redis, and two instances
sharing rooms through Redis (therapist on one, client on the other), side by side in one run:
rooms held at once, forward latency (p50/p99) of sealed-envelope-sized frames while every room is
open, and memory (RSS) per room. The relays are real ``quietroom relay`` processes; Redis is a
real ``redis-server`` on a Unix socket.

``attack``: a relay with the default limits under 1,000+ stranger sockets (no credential) from
hundreds of loopback addresses, slow-header clients (a byte a second) and idle connections; a real
therapist (with a credential) opens a room and a real client joins it: the time until the client
is in the waiting room with the therapist (presence 2) must stay under 2 s.

    nice python benchmarks/bench_relay.py scale --rooms 500
    nice python benchmarks/bench_relay.py attack --strangers 1200

tests/telehealth/test_relay_load.py runs ``attack`` in small (in CI).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from telehealth.relay_wire import parse_presence_notice  # noqa: E402


# A frame shaped like a sealed envelope (the relay forwards only those), padded to 1 KiB.
def envelope(seq: int, sent_ns: int) -> str:
    body = f"{sent_ns:020d}" + "A" * 1000
    return f'{{"v":1,"from":"client","seq":{seq},"nonce":"AAAAAAAAAAAAAAAA","ct":"{body}"}}'


def sent_at(frame: str) -> int:
    start = frame.index('"ct":"') + 6
    return int(frame[start : start + 20])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    sock = workdir / "redis.sock"
    process = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if sock.exists():
                break
            time.sleep(0.025)
        yield f"unix://{sock}"
    finally:
        process.terminate()
        process.wait(10)


@dataclass
class RelayProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def relays(
    count: int, workdir: Path, credentials: Path, redis_url: str | None, **limits: Any
) -> Iterator[list[RelayProcess]]:
    started: list[RelayProcess] = []
    env = {**os.environ, "QUIETROOM_RELAY_CREDENTIALS_FILE": str(credentials)}
    for name, value in limits.items():
        env[f"QUIETROOM_RELAY_{name.upper()}"] = str(value)
    if redis_url:
        env["QUIETROOM_RELAY_REDIS_URL"] = redis_url
    try:
        for index in range(count):
            port = free_port()
            log = (workdir / f"relay-{index}.log").open("wb")
            process = subprocess.Popen(
                [sys.executable, "-m", "telehealth.relay_cli", "--port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
            started.append(RelayProcess(port, process))
        for relay in started:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", relay.port), timeout=0.2):
                        break
                except OSError:
                    if time.monotonic() > deadline or relay.process.poll() is not None:
                        raise RuntimeError("a relay did not start") from None
                    time.sleep(0.05)
        yield started
    finally:
        for relay in started:
            relay.process.terminate()
        for relay in started:
            try:
                relay.process.wait(30)
            except subprocess.TimeoutExpired:  # still closing sockets of a gone load process
                relay.process.kill()
                relay.process.wait(10)


def issue_credential(path: Path, max_rooms: int) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "telehealth.relay_cli",
            "--credentials-file",
            str(path),
            "credentials",
            "issue",
            "--label",
            "bench",
            "--max-rooms",
            str(max_rooms),
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return str(json.loads(out)["credential"])


async def until_presence(ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        msg = await ws.receive(timeout=max(0.01, left))
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket closed ({ws.close_code})")
        if parse_presence_notice(msg.data) == count:
            return


# -- scale ------------------------------------------------------------------------------------


@dataclass
class ScaleResult:
    name: str
    rooms_held: int = 0
    open_seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    rss_per_room_kib: float = 0.0
    lost: int = 0


async def run_scale(
    name: str, urls: list[str], token: str, rooms: int, frames: int, pids: list[int]
) -> ScaleResult:
    result = ScaleResult(name)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        rss_before = sum(rss_kib(pid) for pid in pids)
        started = time.perf_counter()
        pairs: list[tuple[Any, Any]] = []

        async def open_room(index: int) -> None:
            room = secrets.token_hex(16)
            t_url = urls[index % len(urls)]
            c_url = urls[(index + 1) % len(urls)]  # the other instance when there are two
            therapist = await session.ws_connect(
                f"{t_url}/ws/{room}", headers={"Authorization": f"Bearer {token}"}
            )
            client = await session.ws_connect(f"{c_url}/ws/{room}")
            await until_presence(client, 2, 30)
            await until_presence(therapist, 2, 30)
            pairs.append((therapist, client))

        batch = 50
        for first in range(0, rooms, batch):
            outcomes = await asyncio.gather(
                *(open_room(i) for i in range(first, min(rooms, first + batch))),
                return_exceptions=True,
            )
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            result.lost += len(failures)
            for failure in failures[:3]:
                print(f"{name}: a room did not open: {failure!r}", file=sys.stderr)
        result.open_seconds = time.perf_counter() - started
        result.rooms_held = len(pairs)
        await asyncio.sleep(1.0)  # let the relays settle before measuring memory
        rss_after = sum(rss_kib(pid) for pid in pids)
        result.rss_per_room_kib = (rss_after - rss_before) / max(1, len(pairs))

        # Forward latency: every room sends `frames` frames client -> therapist, spread out.
        async def talk(therapist: Any, client: Any) -> None:
            for seq in range(frames):
                await client.send_str(envelope(seq, time.perf_counter_ns()))
                while True:
                    msg = await therapist.receive(timeout=10)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"socket closed ({therapist.close_code})")
                    if parse_presence_notice(msg.data) is None:
                        break
                result.latencies_ms.append((time.perf_counter_ns() - sent_at(msg.data)) / 1e6)
                await asyncio.sleep(0.5 + random.random() * 0.5)  # signalling is sparse

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(talk(t, c) for t, c in pairs), return_exceptions=True), 300
        )
        result.lost += sum(1 for o in outcomes if isinstance(o, BaseException))
        for t, c in pairs:
            await t.close()
            await c.close()
    return result


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def scale(rooms: int, frames: int) -> list[ScaleResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        work = Path(tmp)
        creds = work / "credentials.json"
        token = issue_credential(creds, rooms + 10)
        # One load process plays every client: a generous heartbeat, so that its own slowness
        # under load does not count as dead sockets.
        limits = {
            "max_rooms": rooms + 10,
            "max_sockets_per_address": 4 * rooms + 10,
            "heartbeat": 60,
        }
        for name, count, with_redis in (
            ("1 instance", 1, False),
            ("1 instance + Redis", 1, True),
            ("2 instances + Redis", 2, True),
        ):
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(redis_server(work)) if with_redis else None
                running = stack.enter_context(relays(count, work, creds, url, **limits))
                result = asyncio.run(
                    run_scale(
                        name,
                        [r.url for r in running],
                        token,
                        rooms,
                        frames,
                        [r.process.pid for r in running],
                    )
                )
                results.append(result)
    return results


# -- attack -----------------------------------------------------------------------------------


def stranger_addresses(count: int, second_octet: int = 1) -> list[str]:
    return [f"127.{second_octet}.{i // 250}.{i % 250 + 1}" for i in range(count)]


async def strangers(
    url: str, addresses: list[str], per_address: int, stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """Sockets with no credential to random rooms, reopened as the relay closes them."""

    async def one(address: str) -> None:
        connector = aiohttp.TCPConnector(local_addr=(address, 0), limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            while not stop.is_set():
                try:
                    ws = await session.ws_connect(f"{url}/ws/{secrets.token_hex(16)}")
                    counts["opened"] += 1
                    while not stop.is_set() and not ws.closed:
                        try:
                            msg = await ws.receive(timeout=1)
                        except TimeoutError:
                            continue
                        if msg.type in (
                            aiohttp.WSMsgType.CLOSE,
                            aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR,
                        ):
                            counts["closed_by_relay"] += 1
                            break
                    await ws.close()
                except (TimeoutError, aiohttp.ClientError, OSError):
                    counts["refused"] += 1
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(one(a) for a in addresses for _ in range(per_address)))


async def slow_headers(
    port: int, addresses: list[str], stop: asyncio.Event, counts: dict[str, int]
) -> None:
    """Clients that send their request headers a byte a second, reconnecting when cut off."""

    async def one(address: str) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, local_addr=(address, 0)
                )
            except OSError:
                await asyncio.sleep(0.5)
                continue
            counts["slow_opened"] += 1
            request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
            try:
                for byte in request:
                    if stop.is_set() or reader.at_eof():
                        break
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(1.0)
            except (ConnectionError, OSError):
                pass
            counts["slow_cut"] += 1
            writer.close()

    await asyncio.gather(*(one(a) for a in addresses))


async def real_session(url: str, token: str) -> float:
    """Seconds from the client's connect until it is in the waiting room with its therapist."""
    room = secrets.token_hex(16)
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.1", 0), limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        therapist = await session.ws_connect(
            f"{url}/ws/{room}", headers={"Authorization": f"Bearer {token}"}
        )
        await until_presence(therapist, 1, 10)
        client = await session.ws_connect(f"{url}/ws/{room}")
        await until_presence(client, 2, 10)
        elapsed = time.perf_counter() - started
        await client.close()
        await therapist.close()
    return elapsed


async def run_load(
    url: str, port: int, stranger_count: int, slow_count: int, idle_count: int, seconds: float
) -> dict[str, Any]:
    """The strangers, slow clients and idle connections, for ``seconds``."""
    counts: dict[str, int] = {
        k: 0 for k in ("opened", "refused", "closed_by_relay", "slow_opened", "slow_cut")
    }
    stop = asyncio.Event()
    addresses = stranger_addresses(max(1, stranger_count // 4))
    per_address = max(1, stranger_count // len(addresses))
    idle = []
    for address in stranger_addresses(idle_count, second_octet=3):
        with contextlib.suppress(OSError):
            sock = socket.socket()
            sock.bind((address, 0))
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", port))
            idle.append(sock)
    load = [
        asyncio.ensure_future(strangers(url, addresses, per_address, stop, counts)),
        asyncio.ensure_future(
            slow_headers(port, stranger_addresses(slow_count, second_octet=2), stop, counts)
        ),
    ]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(load, timeout=15)
    for task in load:
        task.cancel()
    for sock in idle:
        sock.close()
    return {**counts, "addresses": len(addresses) + slow_count + idle_count}


async def measure_sessions(url: str, token: str, settle: float, sessions: int) -> list[float]:
    await asyncio.sleep(settle)
    times = []
    for _ in range(sessions):
        times.append(await real_session(url, token))
        await asyncio.sleep(0.3)
    return times


def attack(
    stranger_count: int,
    slow_count: int,
    idle_count: int,
    settle: float,
    sessions: int,
    limits: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the load in a process of its own (so that its work does not delay the measurement)
    and measure real sessions from this one."""
    with tempfile.TemporaryDirectory(prefix="relay-attack-") as tmp:
        work = Path(tmp)
        creds = work / "credentials.json"
        token = issue_credential(creds, 20)
        with relays(1, work, creds, None, **(limits or {})) as (relay,):
            duration = settle + sessions * 0.5 + 5
            load = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "_load",
                    relay.url,
                    str(relay.port),
                    str(stranger_count),
                    str(slow_count),
                    str(idle_count),
                    str(duration),
                ],
                stdout=subprocess.PIPE,
                cwd=ROOT,
            )
            try:
                times = asyncio.run(measure_sessions(relay.url, token, settle, sessions))
                with contextlib.suppress(OSError), urllib_get(f"{relay.url}/metrics") as text:
                    metrics = [
                        line
                        for line in text.splitlines()
                        if line.startswith(
                            (
                                "quietroom_relay_refusals_total",
                                "quietroom_relay_sockets",
                                "quietroom_relay_conn",
                            )
                        )
                        and not line.endswith(" 0.0")
                    ]
                out, _ = load.communicate(timeout=duration + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            result: dict[str, Any] = json.loads(out)
            result["session_seconds"] = times
            result["metrics_during_load"] = metrics
    return result


@contextlib.contextmanager
def urllib_get(url: str) -> Iterator[str]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as response:
        yield response.read().decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("scale")
    s.add_argument("--rooms", type=int, default=500)
    s.add_argument("--frames", type=int, default=10)
    a = sub.add_parser("attack")
    a.add_argument("--strangers", type=int, default=1200)
    a.add_argument("--slow", type=int, default=300)
    a.add_argument("--idle", type=int, default=300)
    a.add_argument("--settle", type=float, default=5.0)
    a.add_argument("--sessions", type=int, default=5)
    l_ = sub.add_parser("_load")  # internal: the load process of 'attack'
    for name in ("url", "port", "strangers", "slow", "idle", "seconds"):
        l_.add_argument(name)
    args = parser.parse_args()
    if args.what == "_load":
        counts = asyncio.run(
            run_load(
                args.url,
                int(args.port),
                int(args.strangers),
                int(args.slow),
                int(args.idle),
                float(args.seconds),
            )
        )
        print(json.dumps(counts))
        return
    if shutil.which("redis-server") is None and args.what == "scale":
        sys.exit("redis-server is needed (Debian package redis-server)")
    if args.what == "scale":
        results = scale(args.rooms, args.frames)
        print(f"{'':<28}" + "".join(f"{r.name:>22}" for r in results))
        rows = [
            ("rooms held at once", lambda r: f"{r.rooms_held} / {args.rooms}"),
            ("seconds to open them", lambda r: f"{r.open_seconds:.1f}"),
            ("forward latency p50 (ms)", lambda r: f"{statistics.median(r.latencies_ms):.2f}"),
            ("forward latency p99 (ms)", lambda r: f"{percentile(r.latencies_ms, 99):.2f}"),
            ("frames measured", lambda r: str(len(r.latencies_ms))),
            ("rooms that failed", lambda r: str(r.lost)),
            ("memory per room (KiB RSS)", lambda r: f"{r.rss_per_room_kib:.1f}"),
        ]
        for label, cell in rows:
            print(f"{label:<28}" + "".join(f"{cell(r):>22}" for r in results))
    else:
        result = attack(args.strangers, args.slow, args.idle, args.settle, args.sessions)
        times = result.pop("session_seconds")
        print(json.dumps(result, indent=1))
        print(
            f"real sessions reaching the waiting room: {len(times)}, "
            f"max {max(times):.3f} s, median {statistics.median(times):.3f} s"
        )


if __name__ == "__main__":
    main()
