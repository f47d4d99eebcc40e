"""The attack of benchmarks/bench_relay.py in small, in CI: a real relay process with the default
limits, hundreds of stranger sockets (no credential) from many loopback addresses, slow-header
clients and idle connections; real sessions must still reach the waiting room within 2 s.
(The full run, 1,200 strangers, is in docs/performance.md.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_relay.py"


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("quietroom_bench_relay", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_strangers_and_slow_clients_do_not_keep_a_session_out() -> None:
    bench = load_bench()
    result = bench.attack(
        stranger_count=240,
        slow_count=60,
        idle_count=60,
        settle=2.0,
        sessions=3,
        # Fewer rooms than strangers: if a stranger could open a room, they would all be full.
        limits={"max_rooms": 100},
    )
    times = result["session_seconds"]
    assert len(times) == 3
    assert max(times) < 2.0, times
    assert result["opened"] >= 240  # the strangers really were connected meanwhile
    assert result["slow_opened"] >= 60
