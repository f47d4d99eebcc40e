"""The one way the UI runs work off its thread (after Anki's ``CollectionOp``).

``run_in_background(op, on_success, on_failure)`` runs ``op`` on Qt's thread pool and then calls
exactly one of the two callbacks on the UI thread. Operations never touch widgets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from desktop.ui.qt import QObject, QRunnable, QThreadPool, Signal

T = TypeVar("T")


class _Relay(QObject):
    succeeded = Signal(object)
    failed = Signal(object)


class _Job(QRunnable, Generic[T]):
    def __init__(self, op: Callable[[], T], relay: _Relay) -> None:
        super().__init__()
        self._op = op
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._op()
        except Exception as exc:  # every failure goes to the single failure path
            self._relay.failed.emit(exc)
        else:
            self._relay.succeeded.emit(result)


_live: set[_Relay] = set()


def run_in_background(
    op: Callable[[], T],
    on_success: Callable[[T], None],
    on_failure: Callable[[Exception], None],
) -> None:
    relay = _Relay()  # lives on the UI thread: its signals are delivered there (queued)
    _live.add(relay)

    def done(callback: Callable[[Any], None]) -> Callable[[Any], None]:
        def finish(value: Any) -> None:
            _live.discard(relay)
            callback(value)

        return finish

    relay.succeeded.connect(done(on_success))
    relay.failed.connect(done(on_failure))
    QThreadPool.globalInstance().start(_Job(op, relay))
