"""The one way the UI runs work off its thread (after Anki's ``CollectionOp``).

``run_in_background(op, on_success, on_failure)`` runs ``op`` on Qt's thread pool and then calls
exactly one of the two callbacks on the UI thread. Operations never touch widgets.

Every reference the worker takes (the operation and the closure it carries, the result, the
exception and its traceback) travels back in one list that the UI thread empties: the last
reference to a page or window captured by an operation must never be dropped on a worker thread,
where Qt would destroy it in the wrong thread (timers left registered, a crash later).
"""

from __future__ import annotations

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


_relay: _Relay | None = None


def run_in_background(
    op: Callable[[], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[Exception], None],
    *,
    owner: QObject | None = None,
) -> None:
    """``owner``: the widget the callbacks update; when Qt has destroyed it by the time the work
    ends (the app locked, the window closed), neither callback runs."""
    global _relay
    if _relay is None:
        _relay = _Relay()
        _relay.done.connect(_finish)
    QThreadPool.globalInstance().start(_Job([op, on_success, on_failure, owner], _relay))
