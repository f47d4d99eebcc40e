"""The CI share of benchmarks/bench_network.py: the same impairment stage (three network
namespaces and the userspace forwarder of benchmarks/impairment.py) and the therapist's congestion
control reacting to it, in about a minute.

Two call engines in their own processes, one per namespace: the therapist's side (the offerer)
sends the benchmark's detailed 640x480 scene, which takes the whole 1.5 Mbit/s the encoder
allows on a clear link.
The link then narrows to 500 kbit/s with a 150 ms router queue: the controller must bring the
video below what the link carries (a sender that does not adapt fills the queue and loses a
third of its packets, which is what stalled calls before), the picture must keep moving at the
far end, and once the limit is lifted the rate must climb back. Needs root (CI runs as root)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"quietroom_bench_{name}", BENCHMARKS / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read(path: Path) -> dict[str, Any]:
    for _ in range(40):
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return data
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError(f"{path.name} stopped reporting")


def wait_for(what: str, check: Any, timeout: float, folder: Path | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = read(folder / "offerer.json") if folder is not None else ""
            raise AssertionError(f"timed out waiting for {what}; the therapist's side: {seen}")
        time.sleep(0.25)


@pytest.mark.slow
def test_the_sender_adapts_to_a_narrow_link_and_recovers(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("this check needs root and iproute2 (network namespaces); CI runs as root")
    impairment = load("impairment")
    impaired = impairment.Impairment
    with impairment.Topology() as net:
        peers = {}
        for role, ns in (("offerer", net.therapist_ns), ("answerer", net.client_ns)):
            peers[role] = subprocess.Popen(
                net.exec_args(
                    ns,
                    sys.executable,
                    str(BENCHMARKS / "bench_network.py"),
                    "--peer",
                    role,
                    str(tmp_path),
                    "75",
                ),
                stderr=(tmp_path / f"{role}.log").open("wb"),
            )
            net.processes.append(peers[role])
        therapist, client = tmp_path / "offerer.json", tmp_path / "answerer.json"

        def flowing() -> bool:
            return (
                therapist.exists()
                and client.exists()
                and read(client)["frames"] > 30
                and read(therapist)["frames"] > 30
            )

        wait_for("media both ways", flowing, 30)
        clear = wait_for(
            "the sender to use a clear link",
            lambda: read(therapist).get("sender.video.targetBitrate", 0) >= 900_000 or None,
            20,
            tmp_path,
        )
        assert clear

        # -- 500 kbit/s with a 150 ms queue, both ways ---------------------------------------
        net.set(impaired(rate_kbps=500, queue_ms=150))
        wait_for(
            "the video rate to drop below the link's 500 kbit/s",
            lambda: read(therapist).get("sender.video.targetBitrate", 1e9) <= 420_000,
            15,
            tmp_path,
        )
        time.sleep(6)  # settled
        before, sender_before, counters_before = read(client), read(therapist), net.counters()
        time.sleep(10)
        after, sender_after, counters_after = read(client), read(therapist), net.counters()
        span = after["at"] - before["at"]
        # What the therapist's side actually put on the wire for video, not just its target:
        # below what the link carries (a sender that does not adapt keeps sending 1.2 Mbit/s).
        sent_bits = 8 * (
            sender_after["outbound-rtp.video.bytesSent"]
            - sender_before["outbound-rtp.video.bytesSent"]
        )
        assert sent_bits / span <= 480_000, f"video sent at {sent_bits / span / 1000:.0f} kbit/s"
        # What overflowed the router's queue towards the client (the stage's own count): a
        # sender that adapted loses little there (one that does not loses over half).
        towards_client = next(k for k in counters_after if k.endswith("t"))
        after_c, before_c = counters_after[towards_client], counters_before[towards_client]
        sent = after_c["forwarded"] - before_c["forwarded"]
        dropped = after_c["overflow"] - before_c["overflow"]
        assert sent > 100
        assert dropped <= 0.15 * (sent + dropped), f"{dropped} of {sent + dropped} packets lost"
        # The picture keeps moving at the far end. The goal (10 fps, measured against Chromium)
        # is bench_network.py's; here both ends are Python on a shared CI machine, so this asks
        # only that the call is not stuck, which is how it failed before.
        fps = (after["frames"] - before["frames"]) / span
        assert fps >= 2, f"the picture at the client's end stalled: {fps:.1f} fps"
        assert read(therapist)["sender.video.frameWidth"] < 640  # a smaller picture, not a stall

        # -- the limit lifted: back up ----------------------------------------------------------
        low = read(therapist)["sender.video.targetBitrate"]
        net.set(impaired())
        wait_for(
            "the video rate to climb back",
            lambda: read(therapist).get("sender.video.targetBitrate", 0) >= 1.6 * low,
            25,
            tmp_path,
        )
        (tmp_path / "stop").write_text("")
        for process in peers.values():
            process.wait(20)
