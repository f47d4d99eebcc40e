"""Cold start of the desktop app (issue 3), printed figures.

    .venv/bin/python benchmarks/bench_startup.py [--runs 10]

Starts the installed ``quietroom`` command as a whole new process (offscreen Qt) on an existing
vault, so that it opens the unlock window, and measures from spawning the process until the
window is shown (the app prints "shown UnlockWindow" from its first event-loop turn, then quits)
and until the process has exited. The first run is reported apart: it is the coldest (file cache
not yet warm for this interpreter's modules). Target: median <= 2 s to the unlock window.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice

TARGET_S = 2.0


def quietroom_command() -> list[str]:
    script = Path(sys.executable).with_name("quietroom")
    if script.exists():
        return [str(script)]
    found = shutil.which("quietroom")
    return [found] if found else [sys.executable, "-m", "desktop.cli"]


def one_start(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    shown = time.perf_counter() - start
    proc.wait(30)
    exited = time.perf_counter() - start
    if line.strip() != "shown UnlockWindow":
        raise SystemExit(f"the app did not show the unlock window: {line!r}")
    return shown, exited


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp) / "vault"
        state = Path(tmp) / "state"
        practice, _ = Practice.create(vault, "benchmark passphrase", kdf=TEST_ONLY,
                                      options=VaultOptions(state_dir=state))  # fmt: skip
        practice.lock()
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QUIETROOM_STARTUP_PROBE="1")
        env.update(XDG_STATE_HOME=str(state), XDG_CONFIG_HOME=str(Path(tmp) / "config"))
        command = [*quietroom_command(), "--vault", str(vault)]
        first = one_start(command, env)
        runs = [one_start(command, env) for _ in range(args.runs)]
    shown = [r[0] for r in runs]
    exited = [r[1] for r in runs]
    print(f"cold start of `quietroom` to the unlock window ({args.runs} runs after a first one)")
    print(f"  first run:           shown {first[0]:.2f} s, exited {first[1]:.2f} s")
    print(f"  median:              shown {statistics.median(shown):.2f} s, "
          f"exited {statistics.median(exited):.2f} s")  # fmt: skip
    print(f"  min / max shown:     {min(shown):.2f} / {max(shown):.2f} s")
    verdict = "met" if statistics.median(shown) <= TARGET_S else "MISSED"
    print(f"  target median <= {TARGET_S:.1f} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
