"""A couples session's cost, and what the forwarding through the therapist's app adds.

    .venv/bin/python benchmarks/bench_couples.py [--seconds 10] [--warmup 4]

Two runs, each peer in its own process, over 127.0.0.1 (``iceServers=[]``), the relay in this
process: a one-device call (the baseline), then a couples session (telehealth.forwarding: two
TherapistSessions, each client's picture and voice re-sent to the other). Everyone sends a
640x480 stamped pattern at 30 fps, the therapist's tinted red and the clients' blue, so that a
client can tell the forwarded picture from the therapist's. Every frame carries its capture time
(benchmarks/bench_call.py's blocks), so the latency of a forwarded frame is glass-to-glass from
one client through the therapist's app (decode, RGB, re-encode) to the other. Figures: the
therapist process's CPU (100 % = one core), and at each client the frame rate and latency of
the therapist's picture and of the other client's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_call import Receiver, RelayThread, loopback_only, make_track

SIZE = (640, 480)
THERAPIST_TINT = (110, 150)  # U, V: reddish
CLIENT_TINT = (150, 110)  # bluish


def reddish(frame: Any) -> bool:
    """Whether a decoded frame has the therapist's tint (its middle row more red than blue)."""
    start = (frame.height // 2) * frame.stride
    row = frame.data[start : start + frame.width * 3]
    return sum(row[0::3]) > sum(row[2::3])


def therapist_process(links: list[str], warmup: float, window: float, out: Any) -> None:
    loopback_only()
    from aiortc import AudioStreamTrack

    from telehealth.forwarding import Forwarding
    from telehealth.invite import parse_invite_link
    from telehealth.session import SessionCallbacks, TherapistSession

    forwarding = Forwarding()
    receivers = [Receiver() for _ in links]
    waiting = [threading.Event() for _ in links]
    sessions: list[TherapistSession] = []
    try:
        for number, link in enumerate(links, start=1):
            session = TherapistSession(
                parse_invite_link(link),
                callbacks=forwarding.callbacks(
                    number,
                    SessionCallbacks(
                        on_client_waiting=lambda _n, e=waiting[number - 1]: e.set(),
                        on_video=receivers[number - 1].on_video,
                    ),
                ),
                media=lambda: [make_track(*SIZE, THERAPIST_TINT), AudioStreamTrack()],
                ice_servers=[],
                stats_interval=None,
            )
            session.start().result(10)
            forwarding.attach(number, session)
            sessions.append(session)
        for session, knocked, received in zip(sessions, waiting, receivers, strict=True):
            if not knocked.wait(60):
                raise RuntimeError("a client never arrived")
            session.admit().result(10)
            if not received.first.wait(60):
                raise RuntimeError("no frame from a client")
        time.sleep(warmup)
        cpu0, wall0 = os.times(), time.monotonic()
        time.sleep(window)
        cpu1, wall1 = os.times(), time.monotonic()
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (wall1 - wall0)
        out.put(("therapist", {"cpu": cpu}))
        time.sleep(2)  # the clients finish measuring
        for session in sessions:
            session.hang_up().result(10)
    except Exception as exc:  # report, do not hang the parent
        out.put(("therapist", {"error": repr(exc)}))
    finally:
        for session in sessions:
            session.stop()


def client_process(name: str, link: str, warmup: float, window: float, out: Any) -> None:
    loopback_only()
    try:
        asyncio.run(_client(name, link, warmup, window, out))
    except Exception as exc:
        out.put((name, {"error": repr(exc)}))


async def _client(name: str, link: str, warmup: float, window: float, out: Any) -> None:
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
    therapist, other = Receiver(), Receiver()

    def on_video(frame: Any) -> None:
        (therapist if reddish(frame) else other).on_video(frame)

    engine = CallEngine(
        "answerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_video=on_video),
        media=lambda: [make_track(*SIZE, CLIENT_TINT), AudioStreamTrack()],
    )
    await asyncio.to_thread(engine.start)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(invite.websocket_url()) as ws:

            async def measure() -> None:
                await asyncio.to_thread(therapist.first.wait, 60)
                await asyncio.sleep(warmup)
                therapist.reset()
                other.reset()
                await asyncio.sleep(window)
                out.put((name, {"therapist": therapist.summary(), "other": other.summary()}))

            measuring: asyncio.Task[None] | None = None
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                count = parse_presence_notice(msg.data)
                if count is not None:
                    if count == 2:
                        await ws.send_str(sealer.seal(protocol.Hello(name=name)))
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
                        if measuring is None:
                            await ws.send_str(sealer.seal(verifier.reveal()))
                            measuring = asyncio.create_task(measure())
                    case protocol.Reveal():
                        verifier.receive_reveal(message)
                    case protocol.Bye():
                        break
                    case _:
                        pass  # admit, others
            if measuring is not None:
                await measuring
    finally:
        await asyncio.to_thread(engine.stop)


def run(devices: int, warmup: float, window: float) -> dict[str, Any]:
    from telehealth.invite import new_invite

    relay = RelayThread()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    links = [new_invite(f"http://127.0.0.1:{relay.server.port}").link for _ in range(devices)]
    processes = [ctx.Process(target=therapist_process, args=(links, warmup, window, out))]
    processes += [
        ctx.Process(target=client_process, args=(f"client {i + 1}", link, warmup, window, out))
        for i, link in enumerate(links)
    ]
    processes[0].start()
    time.sleep(0.5)
    for process in processes[1:]:
        process.start()
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + warmup + window + 120
        while len(results) < len(processes) and time.monotonic() < deadline:
            try:
                who, figures = out.get(timeout=1)
            except Exception:  # queue.Empty
                if not any(p.is_alive() for p in processes):
                    break
                continue
            results[who] = figures
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(5)
        relay.stop()
    return results


def _stream(figures: dict[str, Any]) -> str:
    if not figures.get("frames"):
        return "-"
    return (
        f"{figures['fps']:.1f} fps, {figures['lat_p50']} / {figures['lat_p95']} ms"
        if figures.get("lat_p50") is not None
        else f"{figures['fps']:.1f} fps"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores)")
    for devices in (1, 2):
        results = run(devices, args.warmup, args.seconds)
        title = "one device (baseline)" if devices == 1 else "two devices (couples session)"
        print(f"\n{title}")
        therapist = results.get("therapist", {})
        if "error" in therapist:
            print(f"  therapist: {therapist['error']}")
        else:
            print(f"  therapist process CPU: {therapist.get('cpu', 0) * 100:.0f} %")
        for i in range(devices):
            figures = results.get(f"client {i + 1}", {})
            if "error" in figures:
                print(f"  client {i + 1}: {figures['error']}")
                continue
            print(
                f"  client {i + 1}: therapist's picture {_stream(figures.get('therapist', {}))};"
                f" the other client's {_stream(figures.get('other', {}))} (p50 / p95 latency)"
            )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
