"""The client page's Measures tab: the measures the client has answered, one at a time as a
chart over time (severity bands, reliable and clinically significant change, flagged answers) and
a table of results; record a new one, print or export one with its chart, mark a result entered
in error, define measures of one's own.

Read when the tab is shown (``list_measure_results``, audited), and one measure's history when it
is chosen (``measure_history``, audited), never before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from desktop.core.clinical.change import Direction
from desktop.core.clinical.instruments import Instrument
from desktop.core.clinical.measures import MeasureHistory, MeasureResult, ResultSource
from desktop.core.disclosure import DisclosureKind
from desktop.core.errors import PracticeError
from desktop.ui import formats
from desktop.ui.client_forms import FieldError, FormDialog, error_text
from desktop.ui.clinical.measure_chart import MeasureChart, chart_image
from desktop.ui.clinical.measure_definition_dialog import MeasureDefinitionDialog
from desktop.ui.clinical.measure_dialog import RecordMeasureDialog
from desktop.ui.context import UiContext
from desktop.ui.disclosure_dialog import DisclosureDialog
from desktop.ui.pdf import print_document, write_pdf
from desktop.ui.qt import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPrinter,
    QPushButton,
    QSplitter,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import paragraph

ID_ROLE = Qt.ItemDataRole.UserRole
SOURCE_WORDS = {
    ResultSource.THERAPIST: "With you",
    ResultSource.WAITING_ROOM: "Waiting room",
    ResultSource.MAILBOX: "Between sessions",
}
CHANGE_WORDS = {
    Direction.IMPROVED: "Reliable improvement",
    Direction.DETERIORATED: "Reliable deterioration",
    Direction.NO_RELIABLE_CHANGE: "No reliable change",
}


def score_text(value: float) -> str:
    return (
        str(int(value)) if float(value).is_integer() else formats.locale().toString(value, "f", 2)
    )


class VoidDialog(FormDialog[MeasureResult]):
    def __init__(
        self, parent: QWidget, void: Callable[[str], MeasureResult], on_saved: Callable[
            [MeasureResult], None]
    ) -> None:  # fmt: skip
        super().__init__(parent, "Quietroom - entered in error", "&Mark as entered in error",
                         on_saved)  # fmt: skip
        self.form.addRow(paragraph("The result stays in the record, marked and left out of the "
                                   "chart. Why is it wrong?"))  # fmt: skip
        self.reason = QPlainTextEdit()
        self.reason.setTabChangesFocus(True)
        self.reason.setFixedHeight(80)
        self.add_row("&Reason", self.reason, "Reason")
        self._void = void

    def save(self) -> MeasureResult:
        text = self.reason.toPlainText().strip()
        if not text:
            raise FieldError("Say why the result is wrong.", self.reason)
        return self._void(text)


class MeasureDisclosureDialog(DisclosureDialog):
    """Print or export one measure with its chart: the usual recipient-and-purpose questions,
    then the audited read and the chart drawn on the UI thread, the PDF written off it."""

    def __init__(self, ctx: UiContext, parent: QWidget, client_id: str, key: str) -> None:
        super().__init__(ctx, parent, client_id=client_id, title="Print or export this measure")
        self.include_psychotherapy.hide()
        self.measure_key = key

    def _suggested_name(self) -> str:
        return f"quietroom-measure-{self.ctx.now().astimezone().date().isoformat()}.pdf"

    def _document(self, kind: DisclosureKind) -> tuple[object, object]:
        assert self.client_id is not None
        letterhead = self._letterhead()
        document, history = self.ctx.practice.clinical.measure_document(
            self.client_id, self.measure_key, kind, recipient=letterhead.recipient,
            purpose=letterhead.purpose, day_text=formats.date_text,
        )  # fmt: skip
        return document, chart_image(history)

    def _save_to(self, path: Path | None) -> None:
        if path is None or self._closed:
            return
        if path.suffix.lower() != ".pdf":
            path = path.with_name(path.name + ".pdf")
        try:
            document, image = self._document(DisclosureKind.EXPORT)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        letterhead = self._letterhead()
        self._start(lambda: write_pdf(document, letterhead, path, figure=image),  # type: ignore[arg-type]
                    "Saved the PDF")  # fmt: skip

    def _print_on(self, printer: QPrinter | None) -> None:
        if printer is None or self._closed:
            return
        try:
            document, image = self._document(DisclosureKind.PRINT)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        letterhead = self._letterhead()
        self._printer = printer
        self._start(lambda: print_document(document, letterhead, printer, figure=image),  # type: ignore[arg-type]
                    "Sent to the printer")  # fmt: skip


class MeasuresTab(QWidget):
    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._client_id: str | None = None
        self._archived = False
        self._results: tuple[MeasureResult, ...] | None = None
        self._history: MeasureHistory | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 12, 4, 4)
        top = QHBoxLayout()
        self.measure = QComboBox()
        self.measure.setAccessibleName("Measure shown")
        self.measure.setMinimumContentsLength(28)
        self.measure.activated.connect(lambda _: self.show_measure())
        top.addWidget(QLabel("Measure"))
        top.addWidget(self.measure, 1)
        self.record_button = self._button(
            "&Record a measure…",
            "Record a measure",
            "Enter the client's answers (Alt+R)",
            self.record,
        )
        self.print_button = self._button("Print &with chart…", "Print with chart",
                                         "Print or save this measure with its chart; recorded "
                                         "as a disclosure (Alt+W)", self.print_measure)  # fmt: skip
        top.addWidget(self.record_button)
        top.addWidget(self.print_button)
        outer.addLayout(top)
        self.empty = paragraph(
            "No measures yet. Record the PHQ-9, GAD-7, PCL-5 or a measure of your own: the "
            "scores are charted over time, with reliable change marked."
        )
        outer.addWidget(self.empty)
        split = QSplitter(Qt.Orientation.Vertical)
        self.chart = MeasureChart()
        split.addWidget(self.chart)
        self.table = QTreeWidget()
        self.table.setAccessibleName("Results")
        self.table.setHeaderLabels(["Given", "Score", "Severity", "Change since the first",
                                    "Where", "Note"])  # fmt: skip
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((140, 55, 140, 300, 110)):
            self.table.header().resizeSection(column, width)
        self.table.currentItemChanged.connect(lambda *_: self._enable())
        split.addWidget(self.table)
        split.setSizes([420, 160])
        outer.addWidget(split, 1)
        self.change_note = paragraph("")
        self.change_note.setAccessibleName("How change is judged")
        self.change_note.setEnabled(False)
        outer.addWidget(self.change_note)
        row = QHBoxLayout()
        self.own_button = self._button("Your own measures…", "Your own measures",
                                       "Define a measure of your own", self.define)  # fmt: skip
        self.void_button = self._button("Entered in error…", "Mark as entered in error",
                                        "Mark the selected result as entered in error; it "
                                        "stays, left out of the chart", self.void)  # fmt: skip
        row.addWidget(self.own_button)
        row.addStretch(1)
        row.addWidget(self.void_button)
        outer.addLayout(row)
        self.clear()

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- loading --------------------------------------------------------------------------------
    def set_client(self, client_id: str, *, archived: bool) -> None:
        """Remember the client; nothing is read until the tab is shown (``load``)."""
        if client_id != self._client_id:
            self.clear()
        self._client_id = client_id
        self._archived = archived
        self._results = None
        self._enable()

    def load(self, select: str | None = None) -> None:
        if self._client_id is None or self._results is not None:
            return
        try:
            self._results = self.ctx.practice.clinical.list_measure_results(self._client_id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        keep = select or self.measure.currentData()
        self.measure.clear()
        seen: dict[str, str] = {}
        for result in self._results:  # newest first: the latest given comes first
            seen.setdefault(result.measure_key, result.measure_name)
        for key, name in seen.items():
            self.measure.addItem(name, key)
        index = self.measure.findData(keep)
        self.measure.setCurrentIndex(index if index >= 0 else 0)
        self.empty.setVisible(not seen)
        if seen:
            self.show_measure()
        else:
            self.chart.clear()
            self.table.clear()
        self._enable()

    def show_measure(self) -> None:
        key = self.measure.currentData()
        if self._client_id is None or not isinstance(key, str):
            return
        try:
            history = self.ctx.practice.clinical.measure_history(self._client_id, key)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self._history = history
        self.chart.show_history(history)
        self.table.clear()
        for point in reversed(history.points):
            r = point.result
            change = ""
            if point.change is not None:
                change = CHANGE_WORDS[point.change.direction]
                if point.change.clinically_significant:
                    change += ", clinically significant"
            item = QTreeWidgetItem([formats.date_text(r.administered_at), score_text(r.total),
                                    r.band, change, SOURCE_WORDS[r.source],
                                    "Flagged answer" if r.flagged else ""])  # fmt: skip
            item.setData(0, ID_ROLE, r.id)
            if r.flagged:
                item.setToolTip(5, "; ".join(f"Item {c.item_key}: {c.label}" for c in r.critical))
            self.table.addTopLevelItem(item)
        for r in history.voided:
            item = QTreeWidgetItem([formats.date_text(r.administered_at), score_text(r.total),
                                    r.band, "", SOURCE_WORDS[r.source],
                                    f"Entered in error: {r.void_reason}"])  # fmt: skip
            item.setData(0, ID_ROLE, r.id)
            for column in range(6):
                font = item.font(column)
                font.setStrikeOut(True)
                item.setFont(column, font)
            self.table.addTopLevelItem(item)
        self.change_note.setText(self._change_text(history.instrument))
        self._enable()

    @staticmethod
    def _change_text(instrument: Instrument) -> str:
        criteria = instrument.change
        if criteria is None:
            return "No published reliability is given for this measure, so change is not judged."
        from desktop.core.clinical.change import reliable_change_threshold

        text = (
            f"Reliable change: more than {reliable_change_threshold(criteria):.1f} points from "
            f"the first result."
        )
        if criteria.cutoff is not None:
            text += f" Clinically significant: a reliable improvement across {criteria.cutoff:g}."
        return text

    def _enable(self) -> None:
        loaded = self._client_id is not None
        self.record_button.setEnabled(loaded and not self._archived)
        self.print_button.setEnabled(loaded and self._history is not None)
        item = self.table.currentItem()
        self.void_button.setEnabled(loaded and not self._archived and item is not None
                                    and not item.font(0).strikeOut())  # fmt: skip
        self.own_button.setEnabled(loaded)

    # -- actions --------------------------------------------------------------------------------
    def record(self, key: str | None = None) -> None:
        client_id = self._client_id
        if client_id is None or self._archived:
            return
        clinical = self.ctx.practice.clinical

        def save(key: str, answers: dict[str, int], extras: dict[str, str],
                 given: datetime | None) -> MeasureResult:  # fmt: skip
            return clinical.record_measure(client_id, key, answers, administered_at=given,
                                           extras=extras)  # fmt: skip

        now = self.ctx.now().astimezone()
        dialog = RecordMeasureDialog(self, clinical.measures(), save, self._recorded,
                                     today=now.date(), now=now,
                                     key=key or self.measure.currentData())  # fmt: skip
        dialog.open()

    def _recorded(self, result: MeasureResult) -> None:
        self.ctx.nav.notify(
            f"{result.measure_name} recorded: {score_text(result.total)}, {result.band}."
        )
        self._results = None
        self.load(select=result.measure_key)

    def void(self) -> None:
        item = self.table.currentItem()
        if item is None:
            return
        result_id = str(item.data(0, ID_ROLE))
        clinical = self.ctx.practice.clinical

        def done(_: MeasureResult) -> None:
            self._results = None
            self.load()

        VoidDialog(self, lambda reason: clinical.void_measure_result(result_id, reason),
                   done).open()  # fmt: skip

    def define(self) -> None:
        clinical = self.ctx.practice.clinical
        own = [m for m in clinical.measures() if not m.built_in]
        current = next((m for m in own if m.key == self.measure.currentData()), None)

        def saved(instrument: Instrument) -> None:
            self.ctx.nav.notify(f"{instrument.name} saved (version {instrument.version}).")

        MeasureDefinitionDialog(self, clinical.save_measure, saved, current).open()

    def print_measure(self) -> None:
        key = self.measure.currentData()
        if self._client_id is not None and isinstance(key, str):
            dialog = MeasureDisclosureDialog(self.ctx, self, self._client_id, key)
            dialog.open()
            dialog.recipient.setFocus()

    def clear(self) -> None:
        self._client_id = None
        self._results = None
        self._history = None
        self.measure.clear()
        self.chart.clear()
        self.table.clear()
        self.change_note.clear()
        self.empty.show()
        self._enable()
