"""Calls over a bad network, side by side with the browser's own WebRTC (issue 11).

    sudo .venv/bin/python benchmarks/bench_network.py [--stacks chromium,quietroom]
        [--settle 10] [--measure 20] [--profiles clean,...]

One run, two stacks, the same impairment profiles, the same picture and sound:

* **chromium**: Chromium ↔ Chromium, the anchor: two headless Chromiums, one on each side,
  connected directly (the SDP handed over by this script), with the browser's own congestion
  control (transport-wide feedback, FEC, RTX);
* **quietroom**: the Quietroom therapist (Python, aiortc, :class:`TherapistSession` with its
  congestion control) ↔ the client's page in headless Chromium, through the real relay.

Each side sits in its own network namespace; between them an impairment stage
(``benchmarks/impairment.py``) impairs both directions. Every side sends the same 640x480 30 fps
picture (a textured scene panning slowly, ``--use-file-for-fake-video-capture`` for Chromium,
the same frames for Python) and a tone. The call stays up across the profiles, in order, so
"clean again" shows the recovery after the constrained ones. For each profile the first
``--settle`` seconds are for adapting and the next ``--measure`` seconds are measured.

Figures per direction: frames per second received, share of time frozen (Chromium's own
definition: a frame later than max(3 x the average frame interval, average + 150 ms) counts its
whole delay as frozen; the Python receiver applies the same rule to its decoded frames), share of
audio missing or concealed, and the round trip (the client's Chromium's ICE round trip, the same
measure in both stacks, median over the window). For the link cut: seconds from the link
returning until the next frame arrives, each way.

Needs root (network namespaces) and Debian's chromium.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import fractions
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from impairment import CLIENT_IP, Impairment, Topology

WIDTH, HEIGHT, FPS = 640, 480, 30
LOOP_FRAMES = 150  # 5 s, panning there and back so that the loop has no cut
RELAY_PORT = 8443
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
DELAY = {"delay_ms": 100.0, "jitter_ms": 20.0}


@dataclass(frozen=True)
class Profile:
    name: str
    impairment: Impairment
    cut_seconds: float = 0.0


PROFILES = (
    Profile("clean", Impairment()),
    Profile("100 ± 20 ms", Impairment(**DELAY)),
    Profile("+ 2 % loss", Impairment(**DELAY, loss=0.02)),
    Profile("+ 5 % loss", Impairment(**DELAY, loss=0.05)),
    Profile("+ 1 Mbit/s, deep queue (3 s)", Impairment(**DELAY, rate_kbps=1000, queue_ms=3000)),
    Profile("+ 1 Mbit/s, 150 ms queue", Impairment(**DELAY, rate_kbps=1000, queue_ms=150)),
    Profile("clean again", Impairment()),
    Profile("10 s link cut", Impairment(), cut_seconds=10.0),
    Profile("+ 500 kbit/s, 200 ms queue", Impairment(**DELAY, rate_kbps=500, queue_ms=200)),
)


# -- the picture and the sound every side sends --------------------------------------------------


def scene_frames() -> list[tuple[bytes, bytes, bytes]]:
    """A textured scene (random 8x8 blocks, like a room with detail) panning 2 px a frame."""
    rng = random.Random(11)
    pan = 2 * LOOP_FRAMES // 2
    block = 8

    def texture(width: int, height: int, lo: int, hi: int) -> list[bytes]:
        rows = []
        for _ in range(height // block):
            values = bytes(rng.randint(lo, hi) for _ in range(width // block))
            row = bytes(v for v in values for _ in range(block))
            rows.extend([row] * block)
        return rows

    luma = texture(WIDTH + pan + block, HEIGHT, 40, 220)
    cb = texture((WIDTH + pan) // 2 + block, HEIGHT // 2, 100, 150)
    cr = texture((WIDTH + pan) // 2 + block, HEIGHT // 2, 110, 160)
    frames = []
    for i in range(LOOP_FRAMES):
        shift = 2 * (i if i < LOOP_FRAMES // 2 else LOOP_FRAMES - i)
        y = b"".join(row[shift : shift + WIDTH] for row in luma)
        u = b"".join(row[shift // 2 : shift // 2 + WIDTH // 2] for row in cb)
        v = b"".join(row[shift // 2 : shift // 2 + WIDTH // 2] for row in cr)
        frames.append((y, u, v))
    return frames


def write_media(folder: Path) -> tuple[Path, Path]:
    video = folder / "scene.y4m"
    with video.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for y, u, v in scene_frames():
            out.write(b"FRAME\n" + y + u + v)
    audio = folder / "voice.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(voice_samples(48000 * 5).tobytes())
    return video, audio


def voice_samples(count: int, rate: int = 48000) -> array.array[int]:
    """Something like a voice, as browsers' Opus encoders see one: a pitch between 100 and 160 Hz
    with its harmonics, in syllables of four a second. (A pure tone is coded as music, CELT only,
    which never carries in-band FEC; speech is coded with SILK, which does.)"""
    out = array.array("h")
    phase = 0.0
    for i in range(count):
        t = i / rate
        phase += 2 * math.pi * (130 + 30 * math.sin(2 * math.pi * 0.7 * t)) / rate
        envelope = 0.15 + 0.85 * (0.5 + 0.5 * math.sin(2 * math.pi * 4 * t)) ** 2
        value = sum(math.sin(k * phase) / k for k in range(1, 13))
        out.append(int(5000 * envelope * value))
    return out


# -- what a receiver saw -------------------------------------------------------------------------


@dataclass
class Counters:
    """Cumulative figures of one receiving side at one moment."""

    at: float
    frames: float
    freeze_s: float
    audio_total: float  # samples received (or expected, for the Python receiver: the clock)
    audio_missing: float  # samples concealed (Chromium), or concealed or never received (Python)
    rtt_ms: float | None


@dataclass
class Window:
    fps: float
    frozen: float  # share of time
    audio_missing: float  # share of samples
    rtts: list[float] = field(default_factory=list)

    @staticmethod
    def between(a: Counters, b: Counters, rtts: list[float]) -> Window:
        span = max(1e-6, b.at - a.at)
        total = b.audio_total - a.audio_total
        return Window(
            fps=(b.frames - a.frames) / span,
            frozen=min(1.0, (b.freeze_s - a.freeze_s) / span),
            audio_missing=(b.audio_missing - a.audio_missing) / total if total > 0 else 1.0,
            rtts=rtts,
        )

    @property
    def rtt_ms(self) -> float | None:
        return statistics.median(self.rtts) if self.rtts else None


class FreezeMeter:
    """Chromium's freeze rule (VideoReceiveStream's stats) for frames decoded in Python."""

    def __init__(self) -> None:
        self.frames = 0
        self.freeze_s = 0.0
        self.last: float | None = None
        self.intervals: list[float] = []

    def frame(self, now: float) -> None:
        self.frames += 1
        if self.last is not None:
            interval = now - self.last
            if len(self.intervals) >= 5:
                average = sum(self.intervals) / len(self.intervals)
                if interval >= max(3 * average, average + 0.150):
                    self.freeze_s += interval
            self.intervals.append(interval)
            del self.intervals[:-30]
        self.last = now


# Cumulative receive figures over every peer connection the page ever had (a reconnect makes a
# new one); each connection's last known figures are kept when it is gone.
STATS_JS = """async () => {
  const t = window.__bench || (window.__bench = {pcs: window.__pcs || [], last: new Map()});
  t.pcs = window.__pcs || t.pcs;
  let rtt = null;
  for (const pc of t.pcs) {
    let report;
    try { report = await pc.getStats(); } catch (e) { continue; }
    const v = {frames: 0, freeze: 0, samples: 0, concealed: 0};
    let pair = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        v.frames += s.framesDecoded || 0;
        v.freeze += s.totalFreezesDuration || 0;
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        v.samples += s.totalSamplesReceived || 0;
        v.concealed += s.concealedSamples || 0;
      }
      if (s.type === "transport" && s.selectedCandidatePairId) pair = s.selectedCandidatePairId;
    });
    const p = pair && report.get(pair);
    if (p && p.currentRoundTripTime !== undefined && pc === t.pcs[t.pcs.length - 1]) {
      rtt = p.currentRoundTripTime * 1000;
    }
    if (v.frames || v.samples) t.last.set(pc, v);
  }
  const sum = {frames: 0, freeze: 0, samples: 0, concealed: 0, rtt};
  for (const v of t.last.values()) {
    sum.frames += v.frames; sum.freeze += v.freeze;
    sum.samples += v.samples; sum.concealed += v.concealed;
  }
  return sum;
}"""

PC_RECORDER = """
window.__pcs = [];
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = function (config) {
  const pc = new NativePC(config);
  window.__pcs.push(pc);
  return pc;
};
window.RTCPeerConnection.prototype = NativePC.prototype;
window.RTCPeerConnection.generateCertificate = (k) => NativePC.generateCertificate(k);
"""


class ChromiumSide:
    """One page in a Chromium that runs inside a namespace."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def counters(self) -> Counters:
        s = self.page.evaluate(STATS_JS)
        return Counters(
            at=time.monotonic(),
            frames=s["frames"],
            freeze_s=s["freeze"],
            audio_total=s["samples"],
            audio_missing=s["concealed"],
            rtt_ms=s["rtt"],
        )


class PythonSide:
    """The therapist process's figures, read from the file it rewrites every 200 ms."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start: float | None = None

    def read(self) -> dict[str, Any]:
        for _ in range(50):
            with contextlib.suppress(OSError, ValueError):
                data: dict[str, Any] = json.loads(self.path.read_text())
                return data
            time.sleep(0.05)
        raise RuntimeError("the therapist process stopped reporting")

    def counters(self) -> Counters:
        s = self.read()
        now = time.monotonic()
        expected = (now - s["audio_since"]) * 48000 if s["audio_since"] else 0.0
        return Counters(
            at=now,
            frames=s["frames"],
            freeze_s=s["freeze_s"],
            audio_total=expected,
            # Concealment counts as missing, as Chromium's concealedSamples do; audio rebuilt
            # from in-band FEC does not, in either stack.
            audio_missing=expected - s["audio_samples"] + s["audio_concealed"],
            rtt_ms=s["rtt_ms"],
        )


# -- running a stack through the profiles ----------------------------------------------------------


@dataclass
class Row:
    profile: str
    to_therapist: Window | None = None  # the client's picture and sound, at the therapist
    to_client: Window | None = None
    back_s: tuple[float | None, float | None] = (None, None)  # cut: (at therapist, at client)
    notes: str = ""


def measure(
    net: Topology,
    therapist: Any,
    client: Any,
    profiles: tuple[Profile, ...],
    settle: float,
    window: float,
    extra: Callable[[], str] = lambda: "",
) -> list[Row]:
    rows = []
    for profile in profiles:
        print(f"  {profile.name} ...", flush=True)
        net.set(profile.impairment)
        row = Row(profile.name)
        if profile.cut_seconds:
            time.sleep(5)
            net.set(Impairment(cut=True))
            time.sleep(profile.cut_seconds)
            before = (therapist.counters().frames, client.counters().frames)
            net.set(profile.impairment)
            returned = time.monotonic()
            back: list[float | None] = [None, None]
            while time.monotonic() - returned < 30 and None in back:
                for i, side in enumerate((therapist, client)):
                    if back[i] is None and side.counters().frames > before[i]:
                        back[i] = time.monotonic() - returned
                time.sleep(0.05)
            row.back_s = (back[0], back[1])
            settle_left = max(0.0, 3.0 - (time.monotonic() - returned))
            time.sleep(settle_left)
        else:
            time.sleep(settle)
        start = (therapist.counters(), client.counters())
        rtts: tuple[list[float], list[float]] = ([], [])
        end_at = time.monotonic() + (window if not profile.cut_seconds else window / 2)
        while time.monotonic() < end_at:
            time.sleep(1.0)
            for i, side in enumerate((therapist, client)):
                rtt = side.counters().rtt_ms
                if rtt is not None:
                    rtts[i].append(rtt)
        end = (therapist.counters(), client.counters())
        row.to_therapist = Window.between(start[0], end[0], rtts[0])
        row.to_client = Window.between(start[1], end[1], rtts[1])
        row.notes = extra()
        rows.append(row)
        print(f"    {format_row(row)}", flush=True)
    return rows


@contextlib.contextmanager
def chromium_in(pw: Any, net: Topology, ns: str, folder: Path, video: Path, audio: Path) -> Any:
    wrapper = folder / f"chromium-{ns}"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {ns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    browser = pw.chromium.launch(
        executable_path=str(wrapper),
        args=[
            *CHROMIUM_ARGS,
            f"--use-file-for-fake-video-capture={video}",
            f"--use-file-for-fake-audio-capture={audio}",
        ],
    )
    try:
        yield browser
    finally:
        with contextlib.suppress(Exception):
            browser.close()


ANCHOR_PAGE = """<!doctype html><html><body>
<video id="v" autoplay playsinline muted></video><audio id="a" autoplay></audio>
<script>
let pc;
async function setup() {
  const stream = await navigator.mediaDevices.getUserMedia(
    {audio: true, video: {width: 640, height: 480, frameRate: 30}});
  pc = new RTCPeerConnection({});
  stream.getTracks().forEach((t) => pc.addTrack(t, stream));
  pc.ontrack = (e) => {
    const el = document.getElementById(e.track.kind === "video" ? "v" : "a");
    el.srcObject = e.streams[0]; el.play().catch(() => {});
  };
}
async function gathered() {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((r) => pc.addEventListener("icegatheringstatechange",
    () => pc.iceGatheringState === "complete" && r()));
}
async function makeOffer() {
  await setup(); await pc.setLocalDescription(await pc.createOffer()); await gathered();
  return pc.localDescription.sdp;
}
async function takeOffer(sdp) {
  await setup(); await pc.setRemoteDescription({type: "offer", sdp});
  await pc.setLocalDescription(await pc.createAnswer()); await gathered();
  return pc.localDescription.sdp;
}
async function takeAnswer(sdp) { await pc.setRemoteDescription({type: "answer", sdp}); }
</script></body></html>"""


def anchor_page(browser: Any) -> Any:
    page = browser.new_page()
    page.add_init_script(PC_RECORDER)
    page.route(
        "http://localhost/anchor",
        lambda route: route.fulfill(status=200, content_type="text/html", body=ANCHOR_PAGE),
    )
    page.goto("http://localhost/anchor")
    return page


def run_chromium_stack(
    pw: Any, net: Topology, folder: Path, media: tuple[Path, Path], args: argparse.Namespace
) -> list[Row]:
    with (
        chromium_in(pw, net, net.therapist_ns, folder, *media) as t_browser,
        chromium_in(pw, net, net.client_ns, folder, *media) as c_browser,
    ):
        t_page, c_page = anchor_page(t_browser), anchor_page(c_browser)
        offer = t_page.evaluate("makeOffer()")
        answer = c_page.evaluate("(sdp) => takeOffer(sdp)", offer)
        t_page.evaluate("(sdp) => takeAnswer(sdp)", answer)
        therapist, client = ChromiumSide(t_page), ChromiumSide(c_page)
        wait_for_frames(therapist, client)
        return measure(net, therapist, client, args.profiles, args.settle, args.measure)


def wait_for_frames(therapist: Any, client: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while therapist.counters().frames < 30 or client.counters().frames < 30:
        if time.monotonic() > deadline:
            raise RuntimeError(
                "no media both ways within a minute: frames at the therapist "
                f"{therapist.counters().frames}, at the client {client.counters().frames}; "
                f"the therapist's side: {getattr(therapist, 'read', dict)().get('inbound_video')}"
            )
        time.sleep(0.5)


def run_quietroom_stack(
    pw: Any, net: Topology, folder: Path, media: tuple[Path, Path], args: argparse.Namespace
) -> list[Row]:
    python = sys.executable
    relay = subprocess.Popen(
        net.exec_args(
            net.client_ns,
            python,
            "-m",
            "telehealth.relay_cli",
            "--open-admission",
            "--host",
            "0.0.0.0",
            "--port",
            str(RELAY_PORT),
        ),
        stdout=subprocess.DEVNULL,
        stderr=(folder / "relay.log").open("wb"),
        cwd=Path(__file__).resolve().parents[1],
    )
    net.processes.append(relay)
    stats_path, link_path = folder / "therapist.json", folder / "link.txt"
    therapist_proc = subprocess.Popen(
        net.exec_args(
            net.therapist_ns,
            python,
            __file__,
            "--therapist",
            f"http://{CLIENT_IP}:{RELAY_PORT}",
            str(media[0]),
            str(stats_path),
            str(link_path),
        ),
        stdin=subprocess.PIPE,
        stderr=(folder / "therapist.log").open("wb"),
        cwd=Path(__file__).resolve().parents[1],
    )
    net.processes.append(therapist_proc)
    deadline = time.monotonic() + 30
    while not link_path.exists():
        if therapist_proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the therapist process did not start: see therapist.log")
        time.sleep(0.1)
    link = link_path.read_text().strip()  # http://127.0.0.1:<port>: the relay on the client side
    with chromium_in(pw, net, net.client_ns, folder, *media) as c_browser:
        page = c_browser.new_page()
        page.add_init_script(PC_RECORDER)
        page.goto(link)
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        therapist, client = PythonSide(stats_path), ChromiumSide(page)
        wait_for_frames(therapist, client)

        def extra() -> str:
            s = therapist.read()
            return (
                f"therapist sends {s['target'] / 1000:.0f} kbit/s at {s['size']}, "
                f"state {s['state']}, {s['restarts']} new offers, "
                f"audio from FEC {s['audio_fec'] / 48000:.1f} s, concealed "
                f"{s['audio_concealed'] / 48000:.1f} s, "
                f"therapist process CPU {100 * s['cpu']:.0f} % of a core"
            )

        try:
            return measure(net, therapist, client, args.profiles, args.settle, args.measure, extra)
        finally:
            if therapist_proc.stdin is not None:
                with contextlib.suppress(OSError):
                    therapist_proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                therapist_proc.wait(15)


# -- the therapist process -------------------------------------------------------------------------


async def tcp_forwarder(listen: tuple[str, int], to: tuple[str, int]) -> None:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*to)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    await asyncio.start_server(handle, *listen)


def therapist_main(relay: str, y4m: str, stats_path: str, link_path: str) -> None:
    import logging

    import av
    from aiortc import MediaStreamTrack

    from telehealth.invite import new_invite
    from telehealth.session import SessionCallbacks, TherapistSession
    from telehealth.synthetic_media import ToneAudio

    logging.basicConfig(level=logging.INFO, format="%(relativeCreated)8.0f %(name)s %(message)s")
    logging.getLogger("telehealth.sender_control").setLevel(logging.DEBUG)
    data = Path(y4m).read_bytes()
    _header, _, body = data.partition(b"\n")
    size = WIDTH * HEIGHT * 3 // 2
    frames = [body[i + 6 : i + 6 + size] for i in range(0, len(body), size + 6)]

    class Scene(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0
            self.start: float | None = None

        async def recv(self) -> av.VideoFrame:
            if self.start is None:
                self.start = time.monotonic()
            wait = self.start + self.count / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -1 / FPS:  # behind (busy): a camera drops frames
                self.count += int(-wait * FPS)
            raw = frames[self.count % len(frames)]
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            y, u = WIDTH * HEIGHT, WIDTH * HEIGHT // 4
            frame.planes[0].update(raw[:y])
            frame.planes[1].update(raw[y : y + u])
            frame.planes[2].update(raw[y + u :])
            frame.pts = self.count * (90000 // FPS)
            frame.time_base = fractions.Fraction(1, 90000)
            self.count += 1
            return frame

    lock = threading.Lock()
    meter = FreezeMeter()
    state: dict[str, Any] = {
        "audio_samples": 0,
        "audio_concealed": 0,
        "audio_since": None,
        "stats": {},
        "state": "starting",
    }
    waiting = threading.Event()

    def on_video(_frame: Any) -> None:
        with lock:
            meter.frame(time.monotonic())

    def on_audio(chunk: Any) -> None:
        with lock:
            if state["audio_since"] is None:
                state["audio_since"] = time.monotonic()
            state["audio_samples"] += len(chunk.data) // (2 * chunk.channels)
            state["audio_concealed"] += chunk.concealed

    def on_stats(stats: dict[str, float]) -> None:
        with lock:
            state["stats"] = stats

    # Plain-http links are for loopback only: reach the relay across the link through a port
    # forwarder on this namespace's 127.0.0.1 (the signalling still crosses the bad link).
    proxy_loop = asyncio.new_event_loop()
    threading.Thread(target=proxy_loop.run_forever, daemon=True).start()
    target = relay.split("://", 1)[1]
    host, port = target.rsplit(":", 1)
    asyncio.run_coroutine_threadsafe(
        tcp_forwarder(("127.0.0.1", int(port)), (host, int(port))), proxy_loop
    ).result(10)
    session = TherapistSession(
        new_invite(f"http://127.0.0.1:{port}"),
        callbacks=SessionCallbacks(
            on_state=lambda s, _e: state.__setitem__("state", s.value),
            on_client_waiting=lambda _name: waiting.set(),
            on_video=on_video,
            on_audio=on_audio,
            on_stats=on_stats,
        ),
        media=lambda: [Scene(), ToneAudio()],
        ice_servers=[],
        stats_interval=1.0,
        reconnect_timeout=120,
    )
    session.start().result(30)
    Path(link_path).write_text(session.link)
    stop = threading.Event()

    import resource

    def cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    cpu_mark = (time.monotonic(), cpu_seconds())
    cpu_share = 0.0

    def report() -> None:
        nonlocal cpu_mark, cpu_share
        while not stop.is_set():
            now, used = time.monotonic(), cpu_seconds()
            if now - cpu_mark[0] >= 5.0:
                cpu_share = (used - cpu_mark[1]) / (now - cpu_mark[0])
                cpu_mark = (now, used)
            with lock:
                stats = state["stats"]
                rtt = stats.get("sender.video.roundTripTime")
                out = {
                    "frames": meter.frames,
                    "freeze_s": meter.freeze_s,
                    "audio_samples": state["audio_samples"],
                    "audio_concealed": state["audio_concealed"],
                    "audio_fec": stats.get("inbound-rtp.audio.fecSamples", 0),
                    "audio_since": state["audio_since"],
                    "rtt_ms": None if rtt is None else rtt * 1000,
                    "target": stats.get("sender.video.targetBitrate", 0),
                    "size": f"{stats.get('sender.video.frameWidth', 0):.0f}x"
                    f"{stats.get('sender.video.frameHeight', 0):.0f}",
                    "state": state["state"],
                    "restarts": session.restart_count,
                    "cpu": cpu_share,
                    "inbound_video": {
                        k: v for k, v in stats.items() if k.startswith("inbound-rtp.video")
                    },
                }
            tmp = Path(stats_path + ".tmp")
            tmp.write_text(json.dumps(out))
            tmp.replace(stats_path)
            stop.wait(0.2)

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    try:
        if not waiting.wait(60):
            raise RuntimeError("the client never arrived")
        session.admit().result(10)
        sys.stdin.read()  # until the benchmark closes our stdin
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            session.hang_up().result(5)
        session.stop()


# -- two bare engines (the CI check) -----------------------------------------------------------


def peer_main(role: str, folder: str, seconds: str) -> None:
    """One CallEngine (``offerer`` = therapist side, ``answerer``), the scene at 640x480 30 fps
    and a tone; SDP through files in ``folder``; figures to ``folder/<role>.json`` every 0.25 s
    for ``seconds``. Used by tests/e2e/test_network_impairment.py through the impairment stage."""
    import av
    from aiortc import MediaStreamTrack

    from telehealth.engine import CallEngine, EngineCallbacks
    from telehealth.synthetic_media import ToneAudio

    frames = scene_frames()

    class Scene(MediaStreamTrack):
        """The benchmark's panning scene: enough detail to use the whole bitrate allowed."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0
            self.start = time.monotonic()

        async def recv(self) -> av.VideoFrame:
            wait = self.start + self.count / FPS - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            for plane, data in zip(frame.planes, frames[self.count % len(frames)], strict=True):
                plane.update(data)
            frame.pts = self.count * (90000 // FPS)
            frame.time_base = fractions.Fraction(1, 90000)
            self.count += 1
            return frame

    base = Path(folder)
    lock = threading.Lock()
    state: dict[str, Any] = {"frames": 0, "stats": {}}

    def on_video(_frame: Any) -> None:
        with lock:
            state["frames"] += 1

    def on_stats(stats: dict[str, float]) -> None:
        with lock:
            state["stats"] = stats

    engine = CallEngine(
        "offerer" if role == "offerer" else "answerer",
        ice_servers=[],
        callbacks=EngineCallbacks(on_video=on_video, on_stats=on_stats),
        media=lambda: [Scene(), ToneAudio()],
        stats_interval=0.5,
    )
    engine.start()
    try:
        if role == "offerer":
            (base / "offer.sdp").write_text(engine.create_offer().result(20))
            while not (base / "answer.sdp").exists():
                time.sleep(0.05)
            time.sleep(0.1)
            engine.accept_answer((base / "answer.sdp").read_text()).result(20)
        else:
            while not (base / "offer.sdp").exists():
                time.sleep(0.05)
            time.sleep(0.1)
            tmp = base / "answer.tmp"
            tmp.write_text(engine.accept_offer((base / "offer.sdp").read_text()).result(20))
            tmp.replace(base / "answer.sdp")
        end = time.monotonic() + float(seconds)
        while time.monotonic() < end and not (base / "stop").exists():
            with lock:
                out = {"at": time.monotonic(), "frames": state["frames"], **state["stats"]}
            tmp = base / f"{role}.tmp"
            tmp.write_text(json.dumps(out))
            tmp.replace(base / f"{role}.json")
            time.sleep(0.25)
    finally:
        engine.stop()


# -- the table ---------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:.0f} %" if x >= 0.01 or x == 0 else f"{100 * x:.1f} %"


def side(w: Window | None) -> str:
    if w is None:
        return "-"
    return f"{w.fps:.1f} fps, {pct(w.frozen)} frozen, {pct(max(0.0, w.audio_missing))} audio lost"


def format_row(row: Row) -> str:
    rtt = row.to_client.rtt_ms if row.to_client else None
    text = (
        f"{row.profile}: to therapist {side(row.to_therapist)} | to client {side(row.to_client)}"
        f" | round trip {'-' if rtt is None else f'{rtt:.0f} ms'}"
    )
    if row.back_s != (None, None):
        text += " | back after " + ", ".join(
            "never" if b is None else f"{b:.1f} s" for b in row.back_s
        )
    return text + (f" | {row.notes}" if row.notes else "")


def goals(row: Row, anchor: Row | None) -> list[str]:
    misses = []
    for name, w, a in (
        ("to therapist", row.to_therapist, anchor.to_therapist if anchor else None),
        ("to client", row.to_client, anchor.to_client if anchor else None),
    ):
        if w is None:
            continue
        if w.fps < 10:
            misses.append(f"{name} {w.fps:.1f} fps < 10")
        if w.frozen >= 0.10:
            misses.append(f"{name} {pct(w.frozen)} frozen >= 10 %")
        if w.audio_missing > 0.05:
            misses.append(f"{name} {pct(w.audio_missing)} audio lost > 5 %")
        if a is not None and w.frozen > max(1.2 * a.frozen, 0.01):
            misses.append(f"{name} frozen {pct(w.frozen)} > 1.2 x anchor {pct(a.frozen)}")
    rtt = row.to_client.rtt_ms if row.to_client else None
    if "1 Mbit/s" in row.profile and rtt is not None and rtt >= 400:
        misses.append(f"round trip {rtt:.0f} ms >= 400 ms")
    for name, back in zip(("therapist", "client"), row.back_s, strict=True):
        if "cut" in row.profile and (back is None or back > 3.0):
            misses.append(f"media back at the {name} after {back} s > 3 s")
    return misses


def print_table(results: dict[str, list[Row]]) -> None:
    print()
    print("| profile | stack | client → therapist | therapist → client | round trip | goals |")
    print("|---|---|---|---|---|---|")
    anchors = {row.profile: row for row in results.get("chromium", [])}
    for stack, rows in results.items():
        for row in rows:
            rtt = row.to_client.rtt_ms if row.to_client else None
            misses = goals(row, anchors.get(row.profile) if stack != "chromium" else None)
            back = ""
            if row.back_s != (None, None) or "cut" in row.profile:
                back = (
                    " (back after "
                    + " / ".join("never" if b is None else f"{b:.1f} s" for b in row.back_s)
                    + ")"
                )
            print(
                f"| {row.profile} | {stack} | {side(row.to_therapist)}{back} | "
                f"{side(row.to_client)} | {'-' if rtt is None else f'{rtt:.0f} ms'} | "
                f"{'met' if not misses else '; '.join(misses)} |"
            )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer_main(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--therapist":
        therapist_main(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", default="chromium,quietroom")
    parser.add_argument("--settle", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=20.0)
    parser.add_argument("--keep-logs", action="store_true", help="print the processes' logs")
    parser.add_argument("--profiles", default="", help="names separated by ; (default: all)")
    args = parser.parse_args()
    wanted = [p.strip() for p in args.profiles.split(";") if p.strip()]
    args.profiles = tuple(p for p in PROFILES if not wanted or p.name in wanted)
    if os.geteuid() != 0:
        sys.exit("bench_network.py needs root (it creates network namespaces)")
    from playwright.sync_api import sync_playwright

    print(f"load before: {os.getloadavg()}", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="media-bench-"))
    results: dict[str, list[Row]] = {}
    try:
        media = write_media(folder)
        with sync_playwright() as pw:
            for stack in args.stacks.split(","):
                print(f"{stack}:", flush=True)
                with Topology() as net:
                    run = run_chromium_stack if stack == "chromium" else run_quietroom_stack
                    results[stack] = run(pw, net, folder, media, args)
    finally:
        print(f"load after: {os.getloadavg()}", flush=True)
        print_table(results)
        for log in ("therapist.log", "relay.log"):
            path = folder / log
            if path.exists() and path.stat().st_size and args.keep_logs:
                print(path.read_text()[-3000:])
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
