"""The one way the UI runs work off its thread (after Anki's ``CollectionOp``).

``run_in_background(op, on_success, on_failure)`` runs ``op`` on Qt's thread pool and then calls
exactly one of the two callbacks on the UI thread. Operations never touch widgets.

Every reference the worker takes (the operation and the closure it carries, the result, the
exception and its traceback) travels back in one list that the UI thread empties: the last
reference to a page or window captured by an operation must never be dropped on a worker thread,
where Qt would destroy it in the wrong thread (timers left registered, a crash later).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from desktop.ui.qt import QObject, QRunnable, QThreadPool, Signal, is_alive

T = TypeVar("T")


class _Relay(QObject):
    """Lives on the UI thread for the life of the app; its signal is queued to that thread."""

    done = Signal(object)


class _Job(QRunnable):
    def __init__(self, box: list[Any], relay: _Relay) -> None:
        super().__init__()
        self._box = box  # [op, on_success, on_failure, owner], then the outcome
        self._relay = relay

    def run(self) -> None:
        box = self._box
        try:
            box.append((True, box[0]()))
        except Exception as exc:  # every failure goes to the single failure path
            box.append((False, exc))
        self._relay.done.emit(box)


def _finish(box: list[Any]) -> None:
    """On the UI thread: call back (unless the owner is gone), then drop everything the job
    held."""
    _op, on_success, on_failure, owner, (ok, value) = box
    box.clear()
    try:
        if owner is None or is_alive(owner):
            (on_success if ok else on_failure)(value)
    finally:
        if not ok:
            value.__traceback__ = None  # frames would keep the operation's closure alive


# How long a thread running Python may keep the interpreter when another thread wants it.
# CPython's default is 5 ms: a worker walking the audit log in Python then holds up the UI
# thread (or an autosave) for up to 5 ms at *each* of the many points where that thread hands the
# interpreter back (every SQLite call, many Qt calls), which added up to several hundred ms of
# stall while a verification ran on a ten-year log. At 0.5 ms the same handovers cost a tenth.
SWITCH_INTERVAL_S = 0.0005


def share_the_interpreter() -> None:
    """Called once at start (``app.run``): hand the interpreter between threads often enough
    that background work never holds up the UI thread for long."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


_relay: _Relay | None = None
_in_order: QThreadPool | None = None


def _serial_pool() -> QThreadPool:
    """One worker thread: jobs started with ``in_order=True`` run one after another, in the
    order they were started (autosaves of a draft must never overtake each other)."""
    global _in_order
    if _in_order is None:
        _in_order = QThreadPool()
        _in_order.setMaxThreadCount(1)
        _in_order.setExpiryTimeout(-1)
    return _in_order


def wait_in_order(timeout_ms: int = 30_000) -> bool:
    """Block until every ``in_order`` job has run (before the UI writes the same thing itself,
    e.g. a draft's last text when the editor closes). True when they all finished."""
    return _in_order is None or _in_order.waitForDone(timeout_ms)


def run_in_background(
    op: Callable[[], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[Exception], None],
    *,
    owner: QObject | None = None,
    in_order: bool = False,
) -> None:
    """``owner``: the widget the callbacks update; when Qt has destroyed it by the time the work
    ends (the app locked, the window closed), neither callback runs. ``in_order``: run on the
    one serial worker, after every ``in_order`` job started before it."""
    global _relay
    if _relay is None:
        _relay = _Relay()
        _relay.done.connect(_finish)
    pool = _serial_pool() if in_order else QThreadPool.globalInstance()
    pool.start(_Job([op, on_success, on_failure, owner], _relay))
