"""The growth benchmark's own code on a tiny vault, so that it keeps working: it builds a vault
with the demo generator and the audit API, measures every flow in the real widgets and every
long walk, and reports a figure for each. (No timing is asserted here: the figures come from
``benchmarks/bench_growth.py`` on the full-size vaults, in docs/performance.md.)"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pytestqt.qtbot import QtBot

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_growth.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_growth", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_growth"] = module
    spec.loader.exec_module(module)
    return module


def test_the_growth_benchmark_on_a_tiny_vault(
    qtbot: QtBot, bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "MIN_WALK_S", 0.2)  # (each walk runs at least this long)
    size = bench.Size("tiny", clients=3, notes_per_client=6, audit_entries=2_500)
    bench.build(size, tmp_path / "vault-folder")
    from desktop.core.practice import Practice

    practice = Practice.unlock(tmp_path / "vault-folder" / "vault", bench.PASSPHRASE,
                               options=bench.options(tmp_path / "vault-folder"))  # fmt: skip
    entries = len(list(practice.audit_entries()))
    practice.lock()
    assert entries >= 2_500  # the audit API wrote the log up to the size asked

    stalls = bench.ui_stalls(tmp_path / "vault-folder")
    assert set(stalls) == {
        "open app", "calendar", "client page", "note autosave", "search", "audit page",
        "audit: one client", "audit: last 30 days", "Backups page",
        "full garbage collection (once a minute)",
    }  # fmt: skip
    assert all(math.isfinite(v) and v >= 0 for v in stalls.values())
    waits = bench.autosave_waits(tmp_path / "vault-folder")
    assert set(waits) == {"alone", "verify", "export", "backup history", "backup snapshot"}
    assert all(math.isfinite(v) and v >= 0 for v in waits.values())
