"""Recording a measure the client answered with the therapist (on paper, or asked aloud): choose
the measure and the day, then one answer per item, exactly as the instrument words it. Saving
is refused, here and again by the domain, until every item has an answer; the score is then
computed by the domain and shown, never typed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time

from desktop.core.clinical.instruments import Instrument
from desktop.core.clinical.measures import MeasureResult
from desktop.ui.client_forms import FieldError, FormDialog
from desktop.ui.clinical.fields import date_edit, day_of
from desktop.ui.qt import (
    QButtonGroup,
    QComboBox,
    QFrame,
    QGridLayout,
    QLabel,
    QRadioButton,
    QScrollArea,
    Qt,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import paragraph

# key, answers, extras, and when it was given (None: now, by the vault's clock)
Save = Callable[[str, dict[str, int], dict[str, str], datetime | None], MeasureResult]


class RecordMeasureDialog(FormDialog[MeasureResult]):
    def __init__(
        self,
        parent: QWidget,
        instruments: Sequence[Instrument],
        save: Save,
        on_saved: Callable[[MeasureResult], None],
        *,
        today: date,
        now: datetime,
        key: str | None = None,
    ) -> None:
        super().__init__(parent, "Quietroom - record a measure", "&Save and score", on_saved)
        self._instruments = {i.key: i for i in instruments}
        self._save = save
        self._now = now
        self.measure = QComboBox()
        for instrument in instruments:
            self.measure.addItem(f"{instrument.name} — {instrument.title}", instrument.key)
        if key is not None and key in self._instruments:
            self.measure.setCurrentIndex(self.measure.findData(key))
        self.add_row("&Measure", self.measure, "Measure")
        self.given = date_edit(today, "Given on")
        self.given.setMaximumDate(self.given.date())
        self.add_row("&Given on", self.given, "Given on", "The day the client answered")
        self.answer_area = QScrollArea()
        self.answer_area.setWidgetResizable(True)
        self.answer_area.setFrameShape(QFrame.Shape.NoFrame)
        self.answer_area.setMinimumSize(720, 420)
        self.layout_.insertWidget(1, self.answer_area, 1)
        self.groups: dict[str, QButtonGroup] = {}
        self.extra_groups: dict[str, QButtonGroup] = {}
        self.measure.currentIndexChanged.connect(lambda _: self._build())
        self._build()
        self.resize(820, 640)

    @property
    def instrument(self) -> Instrument:
        return self._instruments[str(self.measure.currentData())]

    def _build(self) -> None:
        if str(self.measure.currentData()) not in self._instruments:
            return  # (the combo was emptied: the dialog is being cleared)
        instrument = self.instrument
        self.groups = {}
        self.extra_groups = {}
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setSpacing(10)
        if instrument.instructions:
            intro = paragraph(instrument.instructions)
            intro.setAccessibleName("Instructions")
            layout.addWidget(intro)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(8)
        for column, choice in enumerate(instrument.choices, 1):
            head = QLabel(choice.label)
            head.setWordWrap(True)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            grid.addWidget(head, 0, column)
        for row, item in enumerate(instrument.items, 1):
            text = QLabel(f"{item.key}. {item.text}")
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.setMinimumWidth(300)
            grid.addWidget(text, row, 0)
            group = QButtonGroup(body)
            for column, choice in enumerate(instrument.choices, 1):
                button = QRadioButton()
                button.setAccessibleName(f"Item {item.key}: {choice.label}")
                group.addButton(button, choice.value + 1000)  # ids must not be -1
                grid.addWidget(button, row, column, Qt.AlignmentFlag.AlignCenter)
            self.groups[item.key] = group
        grid.setColumnStretch(0, 1)
        layout.addLayout(grid)
        for extra in instrument.extras:
            layout.addWidget(paragraph(extra.text))
            group = QButtonGroup(body)
            for index, label in enumerate(extra.choices):
                button = QRadioButton(label)
                button.setAccessibleName(label)
                group.addButton(button, index)
                layout.addWidget(button)
            self.extra_groups[extra.key] = group
        if instrument.notice:
            notice = paragraph(instrument.notice)
            notice.setEnabled(False)
            layout.addWidget(notice)
        layout.addStretch(1)
        old = self.answer_area.takeWidget()
        if old is not None:
            old.deleteLater()
        self.answer_area.setWidget(body)

    def answers(self) -> dict[str, int]:
        return {key: g.checkedId() - 1000 for key, g in self.groups.items() if g.checkedId() != -1}

    def save(self) -> MeasureResult:
        instrument = self.instrument
        answers = self.answers()
        missing = [i.key for i in instrument.items if i.key not in answers]
        if missing:
            first = self.groups[missing[0]].buttons()[0]
            self.answer_area.ensureWidgetVisible(first)
            raise FieldError(
                f"Answer every item: item{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} {'have' if len(missing) > 1 else 'has'} no answer yet.",
                first,
            )
        extras = {}
        for extra in instrument.extras:
            chosen = self.extra_groups[extra.key].checkedId()
            if chosen != -1:
                extras[extra.key] = extra.choices[chosen]
        day = day_of(self.given)
        given = None if day == self._now.date() else datetime.combine(day, time(12, 0)).astimezone()
        return self._save(instrument.key, answers, extras, given)

    def clear_phi(self) -> None:
        super().clear_phi()
        old = self.answer_area.takeWidget()
        if old is not None:
            old.deleteLater()
        self.groups = {}
        self.extra_groups = {}
