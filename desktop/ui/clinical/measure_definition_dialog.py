"""Defining a measure of one's own: its name and instructions, the answer choices and their
values, the items, how answers are combined, the severity bands, and (optionally) the published
reliability, spread and cutoff that reliable and clinically significant change are judged by.

Written as plain lines ("0 = Never", "0-4 Minimal") so a scale copied from a paper is quick to
enter; the domain checks the whole (every possible score falls in exactly one band) and a saved
change is a new version: results already given keep the version they were scored with."""

from __future__ import annotations

import re
from collections.abc import Callable

from desktop.core.clinical.instruments import (
    Band,
    ChangeCriteria,
    Choice,
    Instrument,
    Item,
    Scoring,
)
from desktop.ui.client_forms import FieldError, FormDialog
from desktop.ui.qt import QComboBox, QLineEdit, QPlainTextEdit, QWidget

_CHOICE = re.compile(r"^\s*(-?\d+)\s*[=:]\s*(.+?)\s*$")
_BAND = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*(?:-|\u2013|to)\s*(-?\d+(?:[.,]\d+)?)\s+(.+?)\s*$")


def _box(placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 16)
    return box


def _number(text: str) -> float:
    return float(text.replace(",", "."))


class MeasureDefinitionDialog(FormDialog[Instrument]):
    def __init__(
        self,
        parent: QWidget,
        save: Callable[[Instrument], Instrument],
        on_saved: Callable[[Instrument], None],
        current: Instrument | None = None,
    ) -> None:
        super().__init__(parent, "Quietroom - your own measure", "&Save measure", on_saved)
        self._save = save
        self._key = current.key if current is not None else ""
        self.name = QLineEdit()
        self.name.setMaxLength(40)
        self.add_row("Short &name", self.name, "Short name", "Shown on charts, e.g. Sleep-5")
        self.title_field = QLineEdit()
        self.add_row("&Title", self.title_field, "Title", "The measure's full name")
        self.instructions = _box("What the client is asked, e.g. Over the last week…", 2)
        self.add_row("&Instructions", self.instructions, "Instructions")
        self.choices = _box("One per line: value = label, e.g.\n0 = Never\n1 = Sometimes", 4)
        self.add_row("Answer &choices", self.choices, "Answer choices")
        self.items = _box("One item per line, as the client reads it", 5)
        self.add_row("Ite&ms", self.items, "Items")
        self.scoring = QComboBox()
        self.scoring.addItem("Add the answers up", Scoring.SUM)
        self.scoring.addItem("Average of the answers", Scoring.MEAN)
        self.add_row("Sc&ore", self.scoring, "Score")
        self.direction = QComboBox()
        self.direction.addItem("more difficulty", True)
        self.direction.addItem("things going better", False)
        self.add_row("Higher scores &mean", self.direction, "Higher scores mean")
        self.bands = _box("One per line: from-to label, e.g.\n0-4 Minimal\n5-9 Mild", 4)
        self.add_row("Severity &bands", self.bands, "Severity bands",
                     "Every possible score must fall in exactly one band")  # fmt: skip
        self.reliability = QLineEdit()
        self.reliability.setPlaceholderText("e.g. 0.84 (optional)")
        self.add_row("Test-retest &reliability", self.reliability, "Test-retest reliability",
                     "From the measure's validation; used to mark reliable change")  # fmt: skip
        self.spread = QLineEdit()
        self.spread.setPlaceholderText("e.g. 5.2 (optional)")
        self.add_row("Standard &deviation", self.spread, "Standard deviation",
                     "The published spread of scores the reliability was measured in")  # fmt: skip
        self.cutoff = QLineEdit()
        self.cutoff.setPlaceholderText("e.g. 10 (optional)")
        self.add_row("Clinical c&utoff", self.cutoff, "Clinical cutoff",
                     "The score from which the clinical range begins")  # fmt: skip
        if current is not None:
            self._fill(current)
        self.resize(640, 720)

    def _fill(self, current: Instrument) -> None:
        self.name.setText(current.name)
        self.title_field.setText(current.title)
        self.instructions.setPlainText(current.instructions)
        self.choices.setPlainText("\n".join(f"{c.value} = {c.label}" for c in current.choices))
        self.items.setPlainText("\n".join(i.text for i in current.items))
        self.scoring.setCurrentIndex(self.scoring.findData(current.scoring))
        self.direction.setCurrentIndex(0 if current.higher_is_worse else 1)
        self.bands.setPlainText("\n".join(f"{b.low:g}-{b.high:g} {b.label}" for b in current.bands))
        if current.change is not None:
            self.reliability.setText(f"{current.change.reliability:g}")
            self.spread.setText(f"{current.change.sd:g}")
            if current.change.cutoff is not None:
                self.cutoff.setText(f"{current.change.cutoff:g}")

    def definition(self) -> Instrument:
        choices = []
        for line in self.choices.toPlainText().splitlines():
            if line.strip():
                match = _CHOICE.match(line)
                if match is None:
                    raise FieldError(f"Write each answer choice as value = label: {line!r}",
                                     self.choices)  # fmt: skip
                choices.append(Choice(int(match.group(1)), match.group(2)))
        texts = [t.strip() for t in self.items.toPlainText().splitlines() if t.strip()]
        bands = []
        for line in self.bands.toPlainText().splitlines():
            if line.strip():
                match = _BAND.match(line)
                if match is None:
                    raise FieldError(f"Write each band as from-to label: {line!r}", self.bands)
                bands.append(Band(_number(match.group(1)), _number(match.group(2)),
                                  match.group(3)))  # fmt: skip
        change = None
        figures = (self.reliability.text().strip(), self.spread.text().strip())
        if any(figures) or self.cutoff.text().strip():
            if not all(figures):
                raise FieldError("Give both the reliability and the standard deviation, or "
                                 "neither.", self.reliability)  # fmt: skip
            try:
                change = ChangeCriteria(
                    _number(figures[0]),
                    _number(figures[1]),
                    _number(self.cutoff.text()) if self.cutoff.text().strip() else None,
                    reliability_source="entered by the therapist",
                    sd_source="entered by the therapist",
                )
            except ValueError:
                raise FieldError("Reliability, deviation and cutoff are numbers.",
                                 self.reliability) from None  # fmt: skip
        return Instrument(
            key=self._key,
            version=1,
            name=self.name.text().strip(),
            title=self.title_field.text().strip() or self.name.text().strip(),
            instructions=self.instructions.toPlainText().strip(),
            choices=tuple(choices),
            items=tuple(Item(str(n), text) for n, text in enumerate(texts, 1)),
            bands=tuple(bands),
            scoring=Scoring(self.scoring.currentData()),
            higher_is_worse=bool(self.direction.currentData()),
            change=change,
        )

    def save(self) -> Instrument:
        return self._save(self.definition())
