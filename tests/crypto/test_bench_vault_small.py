"""benchmarks/bench_vault.py's new sections in small, in CI (the full run, one million entries, is
in docs/performance.md): unlock after the KDF on an empty and a filled log, and autosave-sized
writes during every long walk."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_vault.py"


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("quietroom_bench_vault", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_unlock_and_writers_during_walks_in_small(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_bench()
    big = bench.bench_unlock_flat(tmp_path, 500, 2)
    bench.bench_writers_during_walks(big, alone_s=0.2)
    out = capsys.readouterr().out
    assert "500 entries" in out and "empty log" in out
    for walk in ("verify", "export", "whole-log walk", "backup snapshot"):
        assert walk in out
