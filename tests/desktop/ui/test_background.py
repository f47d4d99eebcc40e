"""run_in_background: one callback on the UI thread, and everything the work held is let go on
the UI thread (a Qt object freed on a worker thread crashed the app later, in a timer)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest
from pytestqt.qtbot import QtBot

from desktop.ui.app import AppController
from desktop.ui.background import SWITCH_INTERVAL_S, run_in_background


class Tracked:
    """Records the thread it is freed on."""

    freed_on: ClassVar[list[str]] = []

    def __del__(self) -> None:
        Tracked.freed_on.append(threading.current_thread().name)


def test_success_is_reported_on_the_ui_thread_and_the_work_freed_there(qtbot: QtBot) -> None:
    Tracked.freed_on = []
    seen: list[tuple[object, str]] = []

    def start() -> None:
        held = Tracked()  # captured by the operation only

        def op() -> Tracked:
            time.sleep(0.05)  # the UI thread is back in its loop before the worker finishes
            assert held is not None
            return Tracked()  # the result is freed on the UI thread too

        run_in_background(
            op, lambda r: seen.append((r, threading.current_thread().name)), seen.append
        )

    start()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5000)
    assert seen[0][1] == threading.main_thread().name
    seen.clear()
    qtbot.waitUntil(lambda: len(Tracked.freed_on) == 2, timeout=5000)
    assert Tracked.freed_on == [threading.main_thread().name] * 2


def test_failure_is_reported_once_and_its_traceback_does_not_keep_the_work_alive(
    qtbot: QtBot,
) -> None:
    Tracked.freed_on = []
    failures: list[Exception] = []

    def start() -> None:
        held = Tracked()

        def op() -> None:
            assert held is not None
            raise ValueError("the disk is full")

        run_in_background(op, lambda _: failures.append(AssertionError("not a success")),
                          failures.append)  # fmt: skip

    start()
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=5000)
    assert isinstance(failures[0], ValueError) and str(failures[0]) == "the disk is full"
    assert failures[0].__traceback__ is None
    qtbot.waitUntil(lambda: len(Tracked.freed_on) == 1, timeout=5000)
    assert Tracked.freed_on == [threading.main_thread().name]


def test_no_callback_once_its_owner_is_gone(qtbot: QtBot) -> None:
    """The app locked or the page closed while the work ran: nothing touches dead widgets."""
    from desktop.ui.qt import QApplication, QEvent, QLabel

    label = QLabel("waiting")
    calls: list[object] = []
    release = threading.Event()

    def op() -> str:
        release.wait(5)
        return "done"

    run_in_background(op, calls.append, calls.append, owner=label)
    label.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    release.set()
    qtbot.wait(300)
    assert calls == []
    alive = QLabel()
    qtbot.addWidget(alive)
    run_in_background(lambda: "done", calls.append, calls.append, owner=alive)
    qtbot.waitUntil(lambda: calls == ["done"], timeout=5000)


def test_the_app_collects_cycles_on_the_ui_thread(qtbot: QtBot) -> None:
    import gc

    from desktop.ui.gc_on_ui_thread import FULL_EVERY, UiThreadCollector

    collector = UiThreadCollector(interval_ms=10)
    try:
        assert not gc.isenabled()  # never on a worker thread that happens to allocate
        assert gc.get_freeze_count() > 10_000  # what was imported is out of every collection
        Tracked.freed_on = []

        class Cycle:
            def __init__(self) -> None:
                self.me = self
                self.tracked = Tracked()

        Cycle()
        for _ in range(FULL_EVERY):
            collector.collect()
        assert Tracked.freed_on == [threading.main_thread().name]
    finally:
        collector.stop()
    assert gc.isenabled() is True
    assert gc.get_freeze_count() == 0


def test_the_app_hands_the_interpreter_between_threads_often(tmp_path: Path) -> None:
    """A worker running Python (a verification walking the log) keeps the interpreter at most
    ``SWITCH_INTERVAL_S`` while the UI thread waits for it, not CPython's default 5 ms at each
    of the UI thread's many handovers."""
    default = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    try:
        AppController(tmp_path / "vault")
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert SWITCH_INTERVAL_S <= 0.001
    finally:
        sys.setswitchinterval(default)
