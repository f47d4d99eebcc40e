"""Python's cyclic garbage collector runs on whichever thread happens to allocate. A reference
cycle holding a Qt object (a window and a lambda connected to it) collected on a worker thread
destroys that object in the wrong thread, which Qt does not survive. As Anki does, automatic
collection is turned off and the UI thread collects on a timer instead.

What is alive when the collector starts (every module, class and function imported: tens of
thousands of objects) lives as long as the app, so it is frozen out of the collector's way
(``gc.freeze``): a full collection then looks only at what the app made since, and costs a few
milliseconds instead of the 100 ms measured at ten years' growth (benchmarks/bench_growth.py)."""

from __future__ import annotations

import gc

from desktop.ui.qt import QObject, QTimer

INTERVAL_MS = 5_000
FULL_EVERY = 12  # ticks: the young generations every 5 s (a few ms), everything once a minute


class UiThreadCollector(QObject):
    def __init__(self, interval_ms: int = INTERVAL_MS) -> None:
        super().__init__()
        gc.disable()
        gc.collect()
        gc.freeze()
        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.collect)
        self._timer.start()

    def collect(self) -> int:
        self._ticks += 1
        return gc.collect(2 if self._ticks % FULL_EVERY == 0 else 1)

    def stop(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        gc.enable()
