"""Small form fields the clinical dialogs share: dates typed and shown as the locale writes them,
optionally left blank."""

from __future__ import annotations

from datetime import date

from desktop.ui import formats
from desktop.ui.qt import QCheckBox, QDate, QDateEdit, QHBoxLayout, QSizePolicy, QWidget


def date_edit(value: date, name: str) -> QDateEdit:
    edit = QDateEdit(formats.qdate(value))
    edit.setCalendarPopup(True)
    edit.setDisplayFormat(formats.date_input_pattern())
    edit.setAccessibleName(name)
    edit.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    return edit


def day_of(edit: QDateEdit) -> date:
    value: QDate = edit.date()
    return date(value.year(), value.month(), value.day())


class OptionalDate(QWidget):
    """A date that may be unknown: a tick box ("Known") and the date beside it."""

    def __init__(self, name: str, value: date | None, fallback: date, tick: str = "Known") -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.known = QCheckBox(tick)
        self.known.setAccessibleName(f"{name} known")
        self.edit = date_edit(value or fallback, name)
        row.addWidget(self.known)
        row.addWidget(self.edit, 1)
        self.known.toggled.connect(self.edit.setEnabled)
        self.known.setChecked(value is not None)
        self.edit.setEnabled(value is not None)

    def value(self) -> date | None:
        return day_of(self.edit) if self.known.isChecked() else None

    def set_value(self, value: date | None) -> None:
        self.known.setChecked(value is not None)
        if value is not None:
            self.edit.setDate(formats.qdate(value))
