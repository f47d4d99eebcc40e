"""The alert for a flagged answer (PHQ-9 item 9 above "Not at all"): a red band across the top
of the main window, above every page, the moment the answer is recorded (by the therapist, in the
waiting room, or fetched from the mailbox), and again at every unlock until the therapist says
they have seen it. Non-modal, so a call or a note in progress is not interrupted, but it cannot be
scrolled away or closed without an answer, and the taskbar is asked to draw attention to the
window.

The domain tells its listeners on the thread that stored the result; a queued signal brings the
notice to the UI thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from desktop.core.clinical.measures import FlagNotice
from desktop.core.errors import PracticeError
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.client_forms import error_text
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QObject,
    QPushButton,
    Qt,
    Signal,
)

SOURCE_WORDS = {
    "therapist": "with you",
    "waiting_room": "in the waiting room",
    "mailbox": "between sessions",
}


class _Relay(QObject):
    arrived = Signal(object)


def describe(notice: FlagNotice) -> str:
    answers = "; ".join(
        f"item {c.item_key} ({c.about or c.item_text}): “{c.label}”" for c in notice.critical
    )
    return (
        f"{notice.client_name} answered {notice.measure_name} {answers}, "
        f"{SOURCE_WORDS.get(str(notice.source), '')} on {formats.date_text(notice.administered_at)}"
        f" at {formats.time_text(notice.administered_at)}."
    )


class FlagAlert(QFrame):
    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.setObjectName("flagAlert")
        self.setStyleSheet(
            "QFrame#flagAlert { background: #b3261e; border-bottom: 2px solid #7f1a14; }"
            "QFrame#flagAlert QLabel { color: white; }"
        )
        self.setAccessibleName("Safety alert")
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 8, 14, 8)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        self.text.setAccessibleName("Safety alert")
        font = self.text.font()
        font.setBold(True)
        self.text.setFont(font)
        row.addWidget(self.text, 1)
        self.open_button = QPushButton("Open the client's record")
        self.open_button.setAccessibleName("Open the client's record")
        self.open_button.clicked.connect(self.open_client)
        self.seen_button = QPushButton("I have seen this")
        self.seen_button.setAccessibleName("I have seen this")
        self.seen_button.setToolTip("Recorded in the audit trail; the alert then goes")
        self.seen_button.clicked.connect(self.acknowledge)
        row.addWidget(self.open_button)
        row.addWidget(self.seen_button)
        self.pending: list[FlagNotice] = []
        self._relay = _Relay()
        self._relay.arrived.connect(self._arrived, Qt.ConnectionType.QueuedConnection)
        self._remove: Callable[[], None] | None = ctx.practice.clinical.add_flag_listener(
            self._relay.arrived.emit
        )
        self.hide()

    def load(self) -> None:
        """At unlock: every flagged answer not yet seen (audited read, off the UI thread)."""
        run_in_background(
            self.ctx.practice.clinical.unacknowledged_flags,
            self._loaded,
            lambda exc: self.ctx.nav.notify(error_text(exc)),
            owner=self,
        )

    def _loaded(self, found: Sequence[FlagNotice]) -> None:
        if self._remove is None:
            return  # (locked meanwhile)
        known = {n.result_id for n in self.pending}
        self.pending += [n for n in found if n.result_id not in known]
        self._show()

    def _arrived(self, notice: object) -> None:
        if not isinstance(notice, FlagNotice) or self._remove is None:
            return  # (locked meanwhile)
        if all(n.result_id != notice.result_id for n in self.pending):
            self.pending.append(notice)
        self._show()
        window = self.window()
        if window is not None:
            QApplication.alert(window)

    def _show(self) -> None:
        if not self.pending:
            self.text.clear()
            self.hide()
            return
        first = self.pending[0]
        more = len(self.pending) - 1
        self.text.setText("Safety answer: " + describe(first) + (f" ({more} more)" if more else ""))
        self.show()
        self.raise_()

    def open_client(self) -> None:
        if self.pending:
            self.ctx.nav.open_client(self.pending[0].client_id)

    def acknowledge(self) -> None:
        if not self.pending:
            return
        notice = self.pending[0]
        try:
            self.ctx.practice.clinical.acknowledge_flag(notice.result_id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self.pending.pop(0)
        self._show()

    def clear_phi(self) -> None:
        """On lock: stop listening and forget every notice (they come back at unlock)."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        self.pending = []
        self.text.clear()
        self.hide()
