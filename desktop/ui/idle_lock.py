"""Auto-lock after idle time: any key, mouse or wheel input anywhere in the application (modal
dialogs included) counts as activity; a timer compares the time since the last input with the
limit on two clocks at once, the monotonic one (immune to clock changes) and the wall clock
(which, unlike the monotonic clock on Linux, keeps running while the machine sleeps), so that the
first tick after waking from sleep locks. Tests inject one fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from desktop.ui.qt import QApplication, QEvent, QObject, QTimer

Clock = Callable[[], float]

_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
        QEvent.Type.TabletPress,
        QEvent.Type.Shortcut,
    }
)


class IdleLock(QObject):
    DEFAULT_CLOCKS: tuple[Clock, ...] = (time.monotonic, time.time)

    def __init__(
        self,
        on_idle: Callable[[], None],
        *,
        minutes: float,
        clocks: Sequence[Clock] = DEFAULT_CLOCKS,
        poll_ms: int = 1000,
    ) -> None:
        super().__init__()
        self._on_idle = on_idle
        self._limit = minutes * 60.0
        self._clocks = tuple(clocks)
        self._last = [clock() for clock in self._clocks]
        self._inhibited = False
        self._fired = False
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.check)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._timer.start()

    @property
    def minutes(self) -> float:
        return self._limit / 60.0

    def set_minutes(self, minutes: float) -> None:
        self._limit = minutes * 60.0

    def set_inhibited(self, inhibited: bool) -> None:
        """While inhibited (a live video call), idle time does not lock; it restarts from zero."""
        self._inhibited = inhibited
        self.touch()

    def touch(self) -> None:
        self._last = [clock() for clock in self._clocks]

    def idle_seconds(self) -> float:
        return max(clock() - last for clock, last in zip(self._clocks, self._last, strict=True))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() in _INPUT:
            self.touch()
        return False

    def check(self) -> None:
        if self._fired or self._inhibited:
            return
        if self.idle_seconds() >= self._limit:
            self._fired = True
            self.stop()
            self._on_idle()

    def stop(self) -> None:
        self._timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
