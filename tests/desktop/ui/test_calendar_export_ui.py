"""Export to your calendar app, from the Calendar page, driven like a person: the dialog opens on
today through three months on with client names off; ticking them shows a plain warning; the file
is chosen through a stand-in for the file dialog; what lands on disk (read back with
``icalendar``) and in the audit log is checked. A picture of the dialog is saved (and, with
QUIETROOM_SCREENSHOTS=1, kept for the docs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from icalendar import Calendar
from pytestqt.qtbot import QtBot

from desktop.core.calendar import Repeat
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.ui import records_common
from desktop.ui.calendar_export_dialog import CalendarExportDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QApplication, Qt, QWidget

from .test_calendar_ui import open_calendar
from .vocabulary import words_on_screen

LEFT = Qt.MouseButton.LeftButton
VAULT_NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the vault's clock in the UI tests (conftest)


class Chooser:
    """Stands in for the save dialog: answers with ``path`` and remembers what was suggested."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.suggested: list[tuple[str, str]] = []

    def save(self, parent: QWidget, title: str, suggested: str, name_filter: str,
             on_chosen: Callable[[Any], None]) -> None:  # fmt: skip
        self.suggested.append((suggested, name_filter))
        on_chosen(self.path)


def the_dialog(qtbot: QtBot) -> CalendarExportDialog:
    def found() -> list[CalendarExportDialog]:
        return [
            w
            for w in QApplication.topLevelWidgets()
            if isinstance(w, CalendarExportDialog) and w.isVisible()
        ]

    qtbot.waitUntil(lambda: len(found()) == 1, timeout=10_000)
    return found()[0]


def look(widget: QWidget, name: str, tmp_path: Path, screenshot_dir: Path | None) -> Path:
    assert words_on_screen([widget]) == []
    shot = (screenshot_dir or tmp_path) / name
    assert widget.grab().save(str(shot))
    return shot


def save(qtbot: QtBot, dialog: CalendarExportDialog) -> None:
    """Press Save as… and wait until the dialog has closed (it is deleted then) or shows why
    not."""
    closed: list[int] = []
    dialog.finished.connect(closed.append)
    qtbot.mouseClick(dialog.go_button, LEFT)
    qtbot.waitUntil(lambda: bool(closed) or dialog.error.isVisible(), timeout=10_000)
    assert closed, dialog.error.text()


def summaries(path: Path) -> list[str]:
    return [str(e["SUMMARY"]) for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")]


def test_export_without_then_with_client_names(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    screenshot_dir: Path | None,
) -> None:
    now = VAULT_NOW  # the export's "today" is the vault's
    jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
    practice.create_appointment(jordan, now + timedelta(hours=1), repeat=Repeat.WEEKLY)
    chooser = Chooser(tmp_path / "my-sessions")  # no suffix typed: .ics is added
    monkeypatch.setattr(records_common, "ask_save_path", chooser.save)

    page = open_calendar(qtbot, main_window)
    assert page.export_button.isVisible()
    look(main_window, "calendar-page.png", tmp_path, None)
    qtbot.mouseClick(page.export_button, LEFT)
    dialog = the_dialog(qtbot)
    today = now.astimezone().date()
    assert (dialog.first_day.date().toPython(), dialog.last_day.date().toPython()) == (
        today,
        today + relativedelta(months=3),
    )
    assert not dialog.include_names.isChecked()
    assert not dialog.warning.isVisible()
    look(dialog, "calendar-export.png", tmp_path, None)

    save(qtbot, dialog)
    saved = tmp_path / "my-sessions.ics"
    assert chooser.suggested == [("sessions.ics", "Calendar files (*.ics)")]
    found = summaries(saved)
    assert found and set(found) == {"Session"}
    assert b"Jordan" not in saved.read_bytes()
    assert [e.action for e in practice.audit_entries() if e.action.startswith("calendar.")] == [
        "calendar.exported"
    ]

    # again, with names: a plain warning first, then a disclosure in the log
    qtbot.mouseClick(page.export_button, LEFT)
    dialog = the_dialog(qtbot)
    dialog.include_names.setFocus()
    qtbot.keyClick(dialog.include_names, Qt.Key.Key_Space)
    assert dialog.include_names.isChecked()
    qtbot.waitUntil(dialog.warning.isVisible)
    assert "will then hold the names of the people you see" in dialog.warning.text()
    assert "disclosure" in dialog.warning.text()
    look(dialog, "calendar-export-names.png", tmp_path, screenshot_dir)
    dialog.last_day.setDate(dialog.first_day.date().addDays(14))
    save(qtbot, dialog)
    assert summaries(saved) == ["Session \N{EN DASH} Jordan Avery"] * len(summaries(saved))
    assert 2 <= len(summaries(saved)) <= 3
    log = [
        (e.action, e.object_id)
        for e in practice.audit_entries()
        if e.action.startswith("calendar.")
    ]
    assert log[1:] == [("calendar.exported", ""), ("calendar.names_disclosed", jordan)]


def test_a_last_day_before_the_first_is_refused_in_words(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chooser = Chooser(tmp_path / "x.ics")
    monkeypatch.setattr(records_common, "ask_save_path", chooser.save)
    page = open_calendar(qtbot, main_window)
    qtbot.keyClick(page.tree, Qt.Key.Key_X, Qt.KeyboardModifier.AltModifier)  # the mnemonic
    dialog = the_dialog(qtbot)
    dialog.last_day.setDate(dialog.first_day.date().addDays(-1))
    qtbot.mouseClick(dialog.go_button, LEFT)
    assert dialog.isVisible()
    assert dialog.error.text() == "The last day comes before the first day."
    assert chooser.suggested == []  # nothing asked, nothing written
    assert not (tmp_path / "x.ics").exists()
    dialog.reject()
