"""Export to your calendar app: the appointments of a span of days as a file the therapist's own
calendar app imports. Times and "Session" only unless client names are ticked, with a plain
warning when they are. The domain (``Practice.export_calendar``) writes and audits it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from desktop.core.calendar_export import CalendarExport
from desktop.core.errors import PracticeError
from desktop.ui import formats, records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import QCheckBox, QDate, QDateEdit, QDialog, QFormLayout, QVBoxLayout, QWidget
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph

TITLE = "Quietroom - export to your calendar app"
SUGGESTED_NAME = "sessions.ics"  # no client's name, whatever is in the file
NAMES_WARNING = (
    "Your calendar app, and any service it keeps in step with (for example Google, Apple or "
    "Microsoft), will then hold the names of the people you see and when. Anyone who can see "
    "that calendar will see them too. Quietroom records this in the audit log as a disclosure "
    "for each client named."
)


def _day(edit: QDateEdit) -> date:
    chosen = edit.date()
    return date(chosen.year(), chosen.month(), chosen.day())


class CalendarExportDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.exported: CalendarExport | None = None
        days = ctx.practice.calendar_export_days()  # the domain's today and its limit
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Export to your calendar app"))
        layout.addWidget(
            paragraph(
                "Saves your appointments in a file that your own calendar app (on your phone "
                "or computer) can import. Each appointment shows only its time and the word "
                "\u201cSession\u201d: no names, no notes. Cancelled appointments are left out. "
                "Most calendar apps update the appointments already there when you import a "
                "newer file; one cancelled since stays until you delete it there."
            )
        )
        form = QFormLayout()
        self.first_day = self._date_edit(days.first_day, "First day")
        self.last_day = self._date_edit(days.last_day, "Last day")
        for edit in (self.first_day, self.last_day):
            edit.setMaximumDate(formats.qdate(days.latest_last_day))
        form.addRow("&From", self.first_day)
        form.addRow("&To (included)", self.last_day)
        layout.addLayout(form)
        label = "Include client names"
        self.include_names = QCheckBox(f"&{label}")
        self.include_names.setAccessibleName(label)
        self.include_names.setChecked(False)
        layout.addWidget(self.include_names)
        self.warning = paragraph(NAMES_WARNING)
        self.warning.setObjectName("namesWarning")
        self.warning.setAccessibleName("Warning about client names")
        self.warning.setStyleSheet(
            "QLabel#namesWarning { border: 1px solid #b26a00; border-radius: 6px;"
            " padding: 6px 10px; }"
        )
        self.warning.hide()
        layout.addWidget(self.warning)
        self.include_names.toggled.connect(self._names_toggled)
        self.error = error_label()
        layout.addWidget(self.error)
        self.buttons, self.go_button = dialog_buttons(self, "&Save as…", self.go)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)
        self.finished.connect(lambda _: self.deleteLater())

    def _date_edit(self, day: date, name: str) -> QDateEdit:
        edit = QDateEdit()
        edit.setCalendarPopup(True)
        edit.setDisplayFormat(formats.date_input_pattern())
        edit.setDate(formats.qdate(day))
        edit.setMinimumDate(QDate(2000, 1, 1))
        edit.setAccessibleName(name)
        edit.setToolTip("Alt+Down opens a calendar")
        return edit

    def _names_toggled(self, on: bool) -> None:
        self.warning.setVisible(on)
        self.adjustSize()

    def go(self) -> None:
        if _day(self.last_day) < _day(self.first_day):
            self._show_error("The last day comes before the first day.")
            self.last_day.setFocus()
            return
        records_common.ask_save_path(
            self, "Quietroom - save the calendar file", SUGGESTED_NAME,
            "Calendar files (*.ics)", self._save_to,
        )  # fmt: skip

    def _save_to(self, path: Path | None) -> None:
        if path is None:
            return
        if path.suffix.lower() != ".ics":
            path = path.with_name(path.name + ".ics")
        practice = self.ctx.practice
        first, last = _day(self.first_day), _day(self.last_day)
        names = self.include_names.isChecked()
        self.error.hide()
        self.buttons.setEnabled(False)
        run_in_background(
            lambda: practice.export_calendar(path, first, last, include_names=names),
            self._done, self._failed, owner=self,
        )  # fmt: skip

    def _done(self, result: CalendarExport) -> None:
        self.exported = result
        count = f"{result.events} appointment{'s' if result.events != 1 else ''}"
        names = " with client names" if result.names_included else ""
        self.ctx.nav.notify(f"Saved {count}{names} for your calendar app.")
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.buttons.setEnabled(True)
        message = str(exc) if isinstance(exc, PracticeError) else "The file could not be saved."
        self._show_error(message[:1].upper() + message[1:] + ("" if message.endswith(".") else "."))

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()


def start_calendar_export(ctx: UiContext, parent: QWidget) -> CalendarExportDialog:
    dialog = CalendarExportDialog(ctx, parent)
    dialog.open()
    return dialog
