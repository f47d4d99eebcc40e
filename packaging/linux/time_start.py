"""Time starts of the app to its first window: ``time_start.py RUNS COMMAND...``.

Each run spawns COMMAND with QUIETROOM_STARTUP_PROBE=1 (the app prints ``shown <Window>`` from
its first event-loop turn, then quits; see desktop/ui/app.py) and measures from the spawn to that
line. Prints the seconds of each run on one line; exits 1 if a run shows no window.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time


def one_start(command: list[str]) -> float:
    env = dict(os.environ, QUIETROOM_STARTUP_PROBE="1")
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    if not selector.select(timeout=120):
        proc.kill()
        raise SystemExit("time_start: no window within 120 s")
    line = proc.stdout.readline().strip()
    shown = time.perf_counter() - start
    proc.wait(60)
    if not line.startswith("shown ") or line == "shown none":
        raise SystemExit(f"time_start: the app printed {line!r} instead of showing a window")
    return shown


def main() -> int:
    runs = int(sys.argv[1])
    print(" ".join(f"{one_start(sys.argv[2:]):.3f}" for _ in range(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
