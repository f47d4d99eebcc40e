"""Call benchmarks (issue 5): printed figures, one run, each peer in its own process.

    .venv/bin/python benchmarks/bench_call.py [--seconds 10] [--rooms 200] [--skip-relay]

1. A call at 640x480 and at 1280x720, 30 fps, video and audio both ways at once, over 127.0.0.1
   (``iceServers=[]``, host candidates on loopback only). The therapist is a real
   :class:`telehealth.session.TherapistSession` in one process, the client a Python stand-in for
   the page (sealed signalling, an answering :class:`telehealth.engine.CallEngine`) in another,
   the relay in this process. Figures:

   * received frame rate each way (decoded and converted to RGB, what the UI would paint);
   * CPU use of the therapist process (user + system time over wall time; 100 % = one core);
   * glass-to-glass latency: every frame carries the capture time (CLOCK_MONOTONIC, shared by all
     processes on the machine) as 40 black/white 16x16 blocks (32-bit millisecond time and an
     8-bit check) drawn into its top rows; the receiver reads them back from the decoded RGB frame;
   * call set-up time, from ``admit()`` to the first remote frame in the therapist process.

2. The relay (its own process) with ``--rooms`` rooms, two sockets each, all exchanging sealed
   signalling at once (an offer-sized envelope then ICE-sized ones, 10 per second per socket):
   p50/p99/max forward latency and resident memory per room.

Targets: >= 28 fps at 640x480, >= 24 fps at 1280x720, latency p95 <= 150 ms at 640x480, set-up
<= 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FPS = 30
BLOCK = 16
BITS = 40  # 32-bit timestamp (ms) + 8-bit check


# -- the stamped moving pattern -----------------------------------------------------------------


def _check(value: int) -> int:
    data = value.to_bytes(4, "big")
    return (data[0] * 7 + data[1] * 13 + data[2] * 29 + data[3] * 31 + 0x5A) & 0xFF


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


def make_track(width: int, height: int, chroma: tuple[int, int] = (110, 150)) -> Any:
    import av
    from aiortc import MediaStreamTrack

    period = 128
    base = bytes((i * 2) % 256 for i in range(width + period))
    chroma_u = bytes([chroma[0]]) * (width // 2 * height // 2)
    chroma_v = bytes([chroma[1]]) * (width // 2 * height // 2)

    class StampedPattern(MediaStreamTrack):
        """Diagonal stripes that move every frame, the capture time drawn in blocks, 30 fps."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self._count = 0
            self._start: float | None = None

        async def recv(self) -> av.VideoFrame:
            if self._start is None:
                self._start = time.monotonic()
            wait = self._start + self._count / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -1 / FPS:
                # Behind schedule (the encoder is busy): a camera drops frames rather than
                # delivering a backlog, so skip to the present.
                self._count += int(-wait * FPS)
            shift = self._count * 3
            rows = [
                base[(y + shift) % period : (y + shift) % period + width] for y in range(height)
            ]
            stamp = now_ms()
            word = (stamp << 8) | _check(stamp)
            strip = bytearray()
            for bit in range(BITS - 1, -1, -1):
                strip += (b"\xeb" if (word >> bit) & 1 else b"\x10") * BLOCK
            for y in range(BLOCK):
                rows[y] = bytes(strip) + rows[y][len(strip) :]
            frame = av.VideoFrame(width, height, "yuv420p")
            frame.planes[0].update(b"".join(rows))
            frame.planes[1].update(chroma_u)
            frame.planes[2].update(chroma_v)
            frame.pts = self._count * (90000 // FPS)
            frame.time_base = fractions.Fraction(1, 90000)
            self._count += 1
            return frame

    return StampedPattern()


def read_stamp(frame: Any) -> int | None:
    """The capture time drawn into an RgbFrame, or None when the blocks do not check out."""
    data, stride = frame.data, frame.stride
    if frame.width < BITS * BLOCK or frame.height < BLOCK:
        return None
    word = 0
    row = (BLOCK // 2) * stride
    for bit in range(BITS):
        x = bit * BLOCK + BLOCK // 2
        g = data[row + x * 3 + 1] + data[row + (x - 3) * 3 + 1] + data[row + (x + 3) * 3 + 1]
        word = (word << 1) | (1 if g > 3 * 128 else 0)
    stamp, check = word >> 8, word & 0xFF
    return stamp if _check(stamp) == check else None


class Receiver:
    """Frame arrivals and latencies, from the engine thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first = threading.Event()
        self.first_at = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.frames = 0
            self.latencies: list[int] = []
            self.unreadable = 0
            self.since = time.monotonic()
            self.size = (0, 0)

    def on_video(self, frame: Any) -> None:
        arrived = now_ms()
        stamp = read_stamp(frame)
        with self.lock:
            if not self.first.is_set():
                self.first_at = time.monotonic()
                self.first.set()
            self.frames += 1
            self.size = (frame.width, frame.height)
            if stamp is None:
                self.unreadable += 1
            else:
                self.latencies.append((arrived - stamp) & 0xFFFFFFFF)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            elapsed = time.monotonic() - self.since
            lat = sorted(self.latencies)
            return {
                "fps": self.frames / elapsed,
                "frames": self.frames,
                "size": self.size,
                "unreadable": self.unreadable,
                "lat_p50": lat[len(lat) // 2] if lat else None,
                "lat_p95": lat[int(len(lat) * 0.95)] if lat else None,
                "lat_max": lat[-1] if lat else None,
            }


def loopback_only() -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# -- the two peers ------------------------------------------------------------------------------


def therapist_process(
    link: str, width: int, height: int, warmup: float, window: float, out: Any
) -> None:
    loopback_only()
    from aiortc import AudioStreamTrack

    from telehealth.invite import parse_invite_link
    from telehealth.session import SessionCallbacks, TherapistSession

    received = Receiver()
    waiting = threading.Event()
    stats: dict[str, float] = {}
    session = TherapistSession(
        parse_invite_link(link),
        callbacks=SessionCallbacks(
            on_client_waiting=lambda _name: waiting.set(),
            on_video=received.on_video,
            on_stats=stats.update,
        ),
        media=lambda: [make_track(width, height), AudioStreamTrack()],
        ice_servers=[],
        stats_interval=1.0,
    )
    try:
        session.start().result(10)
        if not waiting.wait(30):
            raise RuntimeError("the client never arrived")
        admitted = time.monotonic()
        session.admit().result(10)
        if not received.first.wait(30):
            raise RuntimeError("no frame from the client")
        setup = received.first_at - admitted
        time.sleep(warmup)
        received.reset()
        cpu0, wall0 = os.times(), time.monotonic()
        time.sleep(window)
        cpu1, wall1 = os.times(), time.monotonic()
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0)
        encoder = {
            "encode_cpu_ms": stats.get("sender.video.encodeCpuMs", 0.0),
            "encode_ms": stats.get("sender.video.encodeMs", 0.0),
            "sent_size": (
                int(stats.get("sender.video.frameWidth", 0)),
                int(stats.get("sender.video.frameHeight", 0)),
            ),
        }
        out.put(("therapist", {"setup": setup, "cpu": cpu, **encoder, **received.summary()}))
        session.hang_up().result(10)
    except Exception as exc:  # report, do not hang the parent
        out.put(("therapist", {"error": repr(exc)}))
    finally:
        session.stop()


def client_process(
    link: str, width: int, height: int, warmup: float, window: float, out: Any
) -> None:
    loopback_only()
    try:
        asyncio.run(_client(link, width, height, warmup, window, out))
    except Exception as exc:
        out.put(("client", {"error": repr(exc)}))


async def _client(
    link: str, width: int, height: int, warmup: float, window: float, out: Any
) -> None:
    import aiohttp
    from aiortc import AudioStreamTrack

    from telehealth import protocol
    from telehealth.engine import CallEngine, EngineCallbacks
    from telehealth.invite import parse_invite_link
    from telehealth.relay_wire import parse_presence_notice
    from telehealth.sealing import Opener, Sealer
    from telehealth.verification import Verifier

    invite = parse_invite_link(link)
    keys = invite.keys
    sealer, opener = Sealer("client", keys.signalling_key), Opener("therapist", keys.signalling_key)
    verifier = Verifier("answerer", keys.verification_key)
    received = Receiver()
    engine = CallEngine(
        "answerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_video=received.on_video),
        media=lambda: [make_track(width, height), AudioStreamTrack()],
    )
    await asyncio.to_thread(engine.start)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(invite.websocket_url()) as ws:

            async def measure() -> None:
                await asyncio.to_thread(received.first.wait, 30)
                await asyncio.sleep(warmup)
                received.reset()
                cpu0, wall0 = os.times(), time.monotonic()
                await asyncio.sleep(window)
                cpu1, wall1 = os.times(), time.monotonic()
                cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0)
                out.put(("client", {"cpu": cpu, **received.summary()}))

            measuring: asyncio.Task[None] | None = None
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                count = parse_presence_notice(msg.data)
                if count is not None:
                    if count == 2:
                        await ws.send_str(sealer.seal(protocol.Hello(name="Benchmark")))
                    continue
                message = opener.open(msg.data)
                match message:
                    case protocol.Commit():
                        verifier.receive_commit(message)
                    case protocol.Offer(sdp=sdp):
                        verifier.set_remote_sdp(sdp)
                        answer = await asyncio.wrap_future(engine.accept_offer(sdp))
                        verifier.set_local_sdp(answer)
                        await ws.send_str(sealer.seal(protocol.Answer(sdp=answer)))
                        await ws.send_str(sealer.seal(verifier.reveal()))
                        measuring = asyncio.create_task(measure())
                    case protocol.Reveal():
                        verifier.receive_reveal(message)
                    case protocol.Bye():
                        break
                    case _:
                        pass
            if measuring is not None:
                await measuring
    finally:
        await asyncio.to_thread(engine.stop)


class RelayThread:
    def __init__(self) -> None:
        from telehealth.relay import start_relay

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            start_relay("127.0.0.1", 0, static_dir=None), self.loop
        ).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def bench_call(width: int, height: int, warmup: float, window: float) -> dict[str, Any]:
    from telehealth.invite import new_invite

    relay = RelayThread()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    link = new_invite(f"http://127.0.0.1:{relay.server.port}").link
    args = (link, width, height, warmup, window, out)
    therapist = ctx.Process(target=therapist_process, args=args)
    client = ctx.Process(target=client_process, args=args)
    therapist.start()
    time.sleep(0.5)
    client.start()
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + warmup + window + 90
        while len(results) < 2 and time.monotonic() < deadline:
            try:
                who, figures = out.get(timeout=1)
            except Exception:  # queue.Empty
                if not therapist.is_alive() and not client.is_alive():
                    break
                continue
            results[who] = figures
    finally:
        for process in (therapist, client):
            process.join(20)
            if process.is_alive():
                process.terminate()
                process.join(5)
        relay.stop()
    return results


# -- relay load ---------------------------------------------------------------------------------


def relay_process(port_out: Any, stop: Any) -> None:
    from telehealth.relay import RelayLimits, start_relay

    async def main() -> None:
        limits = RelayLimits(max_sockets_per_address=100_000, max_rooms=100_000)
        server = await start_relay("127.0.0.1", 0, static_dir=None, limits=limits)
        port_out.put(server.port)
        while not stop.is_set():
            await asyncio.sleep(0.2)
        await server.stop()

    asyncio.run(main())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _relay_load(
    port: int, pid: int, rooms: int, per_socket: int, rate: float
) -> dict[str, Any]:
    import secrets as pysecrets

    import aiohttp

    from telehealth import protocol
    from telehealth.sealing import Sealer

    sample_sdp = ("a=candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host\r\n" * 90)[:6000]
    candidate = "candidate:842163049 1 udp 1677729535 198.51.100.7 61234 typ srflx raddr 0.0.0.0"
    connector = aiohttp.TCPConnector(limit=0)
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    rss_before = rss_kib(pid)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[tuple[Any, Any, list[str]]] = []
        for _room in range(rooms):
            room_id = pysecrets.token_hex(16)
            key = os.urandom(32)
            for role in ("therapist", "client"):
                sealer = Sealer(role, key)
                envelopes = [sealer.seal(protocol.Offer(sdp="v=0\r\n" + sample_sdp))]
                envelopes += [
                    sealer.seal(protocol.Ice(candidate=candidate, sdp_mid="0", sdp_mline_index=0))
                    for _ in range(per_socket - 1)
                ]
                ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws/{room_id}")
                sockets.append((ws, role, envelopes))
        await asyncio.sleep(1.0)  # presence notices settle
        rss_connected = rss_kib(pid)
        expected = len(sockets) * per_socket

        async def reader(ws: Any) -> None:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                t = sent_at.pop(msg.data, None)
                if t is not None:
                    latencies.append(time.perf_counter() - t)

        async def writer(ws: Any, envelopes: list[str], offset: float) -> None:
            await asyncio.sleep(offset)
            start = time.perf_counter()
            for i, envelope in enumerate(envelopes):
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                sent_at[envelope] = time.perf_counter()
                await ws.send_str(envelope)

        readers = [asyncio.create_task(reader(ws)) for ws, _r, _e in sockets]
        t0 = time.perf_counter()
        await asyncio.gather(
            *(writer(ws, env, (i % 50) / 500) for i, (ws, _r, env) in enumerate(sockets))
        )
        deadline = time.perf_counter() + 10
        while len(latencies) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t0
        rss_loaded = rss_kib(pid)
        for ws, _r, _e in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    lat = sorted(latencies)
    return {
        "rooms": rooms,
        "messages": expected,
        "delivered": len(lat),
        "rate": len(lat) / elapsed,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "max_ms": 1000 * lat[-1],
        "rss_before_mib": rss_before / 1024,
        "rss_connected_mib": rss_connected / 1024,
        "rss_loaded_mib": rss_loaded / 1024,
        "kib_per_room_connected": (rss_connected - rss_before) / rooms,
        "kib_per_room_loaded": (rss_loaded - rss_before) / rooms,
    }


def bench_relay(rooms: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port_out, stop = ctx.Queue(), ctx.Event()
    process = ctx.Process(target=relay_process, args=(port_out, stop))
    process.start()
    try:
        port = port_out.get(timeout=20)
        time.sleep(0.3)
        assert process.pid is not None
        return asyncio.run(_relay_load(port, process.pid, rooms, per_socket=30, rate=10.0))
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.terminate()


# -- report -------------------------------------------------------------------------------------


def _fmt_ms(value: Any) -> str:
    return "n/a" if value is None else f"{value} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window per call")
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--skip-relay", action="store_true")
    parser.add_argument("--sizes", default="640x480,1280x720")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        results = bench_call(width, height, args.warmup, args.seconds)
        t, c = results.get("therapist", {}), results.get("client", {})
        print(f"\ncall {width}x{height} @ {FPS} fps, both directions, {args.seconds:.0f} s window")
        if "error" in t or "error" in c or not t or not c:
            print(f"  FAILED: therapist {t.get('error')}, client {c.get('error')}")
            continue
        target_fps = 28 if width <= 640 else 24
        for label, figures in (("client -> therapist", t), ("therapist -> client", c)):
            fps = figures["fps"]
            verdict = "ok" if fps >= target_fps else f"MISSED by {target_fps - fps:.1f}"
            print(
                f"  {label}: {fps:5.1f} fps received ({figures['frames']} frames, "
                f"{figures['size'][0]}x{figures['size'][1]}; target >= {target_fps}: {verdict})"
            )
            p95 = figures["lat_p95"]
            lat_verdict = ""
            if width <= 640 and p95 is not None:
                lat_verdict = "  (target p95 <= 150 ms: " + (
                    "ok)" if p95 <= 150 else f"MISSED by {p95 - 150} ms)"
                )
            print(
                f"    glass-to-glass latency p50 {_fmt_ms(figures['lat_p50'])}, "
                f"p95 {_fmt_ms(p95)}, max {_fmt_ms(figures['lat_max'])}"
                f"{lat_verdict}; {figures['unreadable']} frames without a readable stamp"
            )
        print(
            f"  therapist process CPU: {100 * t['cpu']:.0f} % of one core "
            f"(client process {100 * c['cpu']:.0f} %)"
        )
        size = t["sent_size"]
        print(
            f"  therapist's video encoder, per frame ({size[0]}x{size[1]}): "
            f"{t['encode_cpu_ms']:.1f} ms of processor time, {t['encode_ms']:.1f} ms wall "
            f"({100 * t['encode_cpu_ms'] * FPS / 1000:.0f} % of one core at {FPS} fps)"
        )
        setup = t["setup"]
        print(
            f"  set-up, admit -> first remote frame: {setup:.2f} s "
            f"(target <= 1.5 s: {'ok' if setup <= 1.5 else 'MISSED'})"
        )

    if not args.skip_relay:
        r = bench_relay(args.rooms)
        print(f"\nrelay: {r['rooms']} rooms, 2 sockets each, all sending sealed signalling at once")
        print(f"  {r['delivered']}/{r['messages']} messages forwarded, {r['rate']:.0f} msg/s")
        print(
            f"  forward latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
            f"max {r['max_ms']:.1f} ms"
        )
        print(
            f"  relay RSS {r['rss_before_mib']:.1f} MiB idle, {r['rss_connected_mib']:.1f} MiB "
            f"with the rooms open, {r['rss_loaded_mib']:.1f} MiB after the exchange: "
            f"{r['kib_per_room_connected']:.0f} KiB per room open, "
            f"{r['kib_per_room_loaded']:.0f} KiB per room after traffic"
        )


if __name__ == "__main__":
    main()
