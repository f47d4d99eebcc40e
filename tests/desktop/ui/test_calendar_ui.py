"""The Calendar page, driven like a person: today first, a weekly series with one occurrence moved,
a double booking warned before it is made, attended / no-show / late cancellation, and Start
video session from today's appointment (the same path as the client page)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.calendar import Repeat
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality
from desktop.ui import formats
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.calendar_page import AppointmentDialog, CalendarPage
from desktop.ui.qt import QApplication, Qt

from .vocabulary import words_on_screen

LEFT = Qt.MouseButton.LeftButton


def open_calendar(qtbot: QtBot, window: MainWindow) -> CalendarPage:
    window.activateWindow()  # (keyboard mnemonics reach the active window only)
    qtbot.waitUntil(window.isActiveWindow)
    window.show_calendar()
    page = window.calendar_page
    qtbot.waitUntil(lambda: not page.loading, timeout=10_000)
    return page


def dialog(qtbot: QtBot) -> AppointmentDialog:
    def found() -> AppointmentDialog | None:
        for widget in QApplication.topLevelWidgets():
            if isinstance(widget, AppointmentDialog) and widget.isVisible():
                return widget
        return None

    qtbot.waitUntil(lambda: found() is not None, timeout=10_000)
    shown = found()
    assert shown is not None
    return shown


@pytest.fixture
def now() -> datetime:
    return datetime.now().astimezone().replace(second=0, microsecond=0)


def test_today_first_a_weekly_series_an_exception_and_a_double_booking(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, now: datetime
) -> None:
    jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
    sam = practice.create_client(ClientDetails(name="Sam Lee")).id
    soon = now + timedelta(hours=1)
    practice.create_appointment(jordan, soon, repeat=Repeat.WEEKLY, modality=Modality.VIDEO)

    page = open_calendar(qtbot, main_window)
    assert page.range_label.text().startswith("Today, ")
    assert [(r[1], r[3]) for r in page.shown()] == [("Jordan Avery", "Every week")]
    assert page.shown()[0][0].startswith(formats.time_text(soon))
    assert page.tree.hasFocus()
    assert words_on_screen([main_window]) == []

    # book Sam at the same time: warned first, booked on the second press
    qtbot.keyClick(page.tree, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    form = dialog(qtbot)
    form.client.setCurrentIndex(form.client.findData(sam))
    form.starts_at.setDateTime(formats.qdatetime(soon + timedelta(minutes=20)))
    qtbot.mouseClick(form.save_button, LEFT)
    assert form.isVisible()
    assert "overlaps Jordan Avery's appointment" in form.error.text()
    assert form.save_button.text() == "Book anyway"
    assert len(practice.appointments(now, now + timedelta(days=1))) == 1  # nothing booked yet
    qtbot.mouseClick(form.save_button, LEFT)
    qtbot.waitUntil(lambda: not form.isVisible())
    qtbot.waitUntil(lambda: len(page.shown()) == 2 and not page.loading)

    # next week: move that one occurrence to the day after (the rest of the series stays)
    main_window.activateWindow()
    qtbot.waitUntil(main_window.isActiveWindow)
    page.tree.setFocus()
    qtbot.keyClick(page.tree, Qt.Key.Key_K, Qt.KeyboardModifier.AltModifier)  # week view
    qtbot.keyClick(page.tree, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: not page.loading and page.week_view)
    (jordan_next,) = [r for r in page.shown() if r[1] == "Jordan Avery"]
    page.tree.setCurrentItem(page._appointment_items()[0])
    qtbot.mouseClick(page.move_button, LEFT)
    move = dialog(qtbot)
    assert move.this_only.isChecked()
    move.starts_at.setDateTime(formats.qdatetime(soon + timedelta(weeks=1, days=1)))
    qtbot.mouseClick(move.save_button, LEFT)
    qtbot.waitUntil(lambda: not move.isVisible())
    series = [
        a.session.starts_at
        for a in practice.appointments(now, now + timedelta(weeks=3))
        if a.client_name == "Jordan Avery"
    ]
    assert series == [soon, soon + timedelta(weeks=1, days=1), soon + timedelta(weeks=2)]
    assert jordan_next


def test_attendance_and_a_video_session_from_today(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    screenshot_dir: Path | None,
) -> None:
    jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
    video = practice.create_appointment(
        jordan, now + timedelta(minutes=30), modality=Modality.VIDEO
    )
    started: list[str] = []
    monkeypatch.setattr(main_window.video, "start", started.append)  # the call window's door
    page = open_calendar(qtbot, main_window)
    assert page.current_id() == video.id
    assert page.video_button.isEnabled()
    qtbot.keyClick(page.tree, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)
    assert started == [video.id]  # MainWindow.start_video_session, as from the client page

    qtbot.mouseClick(page.no_show_button, LEFT)
    qtbot.waitUntil(lambda: page.shown()[0][2] == "No-show", timeout=10_000)
    qtbot.mouseClick(page.attended_button, LEFT)
    qtbot.waitUntil(lambda: page.shown()[0][2] == "Attended", timeout=10_000)
    assert practice.open_client(jordan).sessions[0].attendance is Attendance.ATTENDED
    qtbot.mouseClick(page.late_button, LEFT)
    qtbot.waitUntil(lambda: page.shown()[0][2] == "Late cancellation", timeout=10_000)
    assert not page.video_button.isEnabled()  # a cancelled appointment has no call

    if screenshot_dir is not None:  # a week with a few clients, for the README
        monday = now.replace(hour=9, minute=0) - timedelta(days=now.weekday())
        for number, (name, hour, repeat, how) in enumerate(
            (("Maya Okafor", 9, Repeat.WEEKLY, Modality.VIDEO),
             ("Tomás Rivera", 11, Repeat.FORTNIGHTLY, Modality.IN_PERSON),
             ("Priya Nair", 14, Repeat.WEEKLY, Modality.PHONE),
             ("Sam Lee", 16, Repeat.MONTHLY, Modality.VIDEO))
        ):  # fmt: skip
            other = practice.create_client(ClientDetails(name=name)).id
            practice.create_appointment(other, monday + timedelta(days=number % 5, hours=hour - 9),
                                        repeat=repeat, modality=how)  # fmt: skip
        page.set_week(True)
        qtbot.waitUntil(lambda: not page.loading, timeout=10_000)
        main_window.grab().save(str(screenshot_dir / "calendar.png"))
