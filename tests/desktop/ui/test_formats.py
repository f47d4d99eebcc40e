"""Dates and times follow the system's locale (QLocale): the 12- or 24-hour clock, the order of
day and month, month names; a date of birth is typed as the locale writes it; times are local."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.ui import formats
from desktop.ui.client_forms import ClientFormDialog, SessionFormDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QLocale, QWidget

from .vocabulary import scan

AFTERNOON = datetime(2026, 12, 7, 15, 5, tzinfo=UTC)


@pytest.fixture
def in_locale() -> Iterator[object]:
    before = QLocale()

    def use(name: str) -> None:
        QLocale.setDefault(QLocale(name))

    yield use
    QLocale.setDefault(before)


@pytest.mark.parametrize(
    ("name", "clock", "day", "typed"),
    [
        ("en_US", "PM", "December 7, 2026", "3/27/1984"),
        ("en_GB", None, "7 December 2026", "27/03/1984"),
        ("de_DE", None, "7. Dezember 2026", "27.03.1984"),
    ],
)
def test_dates_and_times_follow_the_locale(
    in_locale: object, name: str, clock: str | None, day: str, typed: str
) -> None:
    in_locale(name)  # type: ignore[operator]
    here = AFTERNOON.astimezone()
    shown = formats.time_text(AFTERNOON)
    if clock:  # 12-hour clock: "3:05 PM" (the hour depends on this machine's zone)
        assert clock in shown or "AM" in shown
        assert str(here.hour % 12 or 12) + ":05" in shown
    else:  # 24-hour clock
        assert shown == f"{here.hour:02d}:05"
    assert formats.date_text(date(2026, 12, 7)) == day
    assert formats.short_date(date(1984, 3, 27)) == typed
    assert formats.parse_date(typed) == date(1984, 3, 27)
    assert scan(formats.date_time_text(AFTERNOON)) == []  # no "UTC", no year-month-day


@pytest.mark.parametrize("name", ["C", "POSIX"])
def test_a_system_without_a_locale_gets_british_english_dates(
    qtbot: QtBot, practice: Practice, in_locale: object, name: str
) -> None:
    """Qt's C locale writes a short date as "27 03 1984"; with no locale named, dates read and
    are typed as in British English (day, month, year; 24-hour clock), never year-month-day."""
    in_locale(name)  # type: ignore[operator]
    assert QLocale().language() == QLocale.Language.C  # (what the system said)
    assert formats.date_input_pattern() == "dd/MM/yyyy"
    assert formats.short_date(date(1984, 3, 27)) == "27/03/1984"
    assert formats.date_text(date(2026, 12, 7)) == "7 December 2026"
    here = AFTERNOON.astimezone()
    assert formats.time_text(AFTERNOON) == f"{here.hour:02d}:05"
    assert scan(formats.date_time_text(AFTERNOON)) == []
    assert formats.parse_date("27/03/1984") == date(1984, 3, 27)
    assert formats.parse_date("27/3/84", past=True) == date(1984, 3, 27)
    assert formats.parse_date("1984-03-27") == date(1984, 3, 27)  # still understood
    parent = QWidget()
    qtbot.addWidget(parent)
    saved = []
    dialog = ClientFormDialog(parent, None, practice.create_client, saved.append)
    assert "27/03/1984" in dialog.date_of_birth.placeholderText()
    dialog.name.setText("Jordan Avery")
    dialog.date_of_birth.setText("27/03/1984")
    dialog.try_save()
    assert saved and saved[0].details.date_of_birth == date(1984, 3, 27)


def test_two_digit_years_of_birth_are_in_the_past(in_locale: object) -> None:
    in_locale("en_US")  # type: ignore[operator]
    assert formats.parse_date("3/27/84", past=True) == date(1984, 3, 27)
    assert formats.parse_date("1984-03-27") == date(1984, 3, 27)  # always understood
    assert formats.parse_date("27/3/1984") is None  # not a date in this locale
    assert formats.parse_date("yesterday") is None


@pytest.mark.parametrize(("name", "typed"), [("en_US", "3/27/1984"), ("de_DE", "27.3.1984")])
def test_a_date_of_birth_is_typed_as_the_locale_writes_it(
    qtbot: QtBot, practice: Practice, in_locale: object, name: str, typed: str
) -> None:
    in_locale(name)  # type: ignore[operator]
    parent = QWidget()
    qtbot.addWidget(parent)
    saved = []
    dialog = ClientFormDialog(parent, None, practice.create_client, saved.append)
    assert formats.short_date(date(1984, 3, 27)) in dialog.date_of_birth.placeholderText()
    dialog.name.setText("Jordan Avery")
    dialog.date_of_birth.setText(typed)
    dialog.try_save()
    assert saved and saved[0].details.date_of_birth == date(1984, 3, 27)

    # and shown back in the same way when edited
    again = ClientFormDialog(parent, saved[0].details, practice.create_client, saved.append)
    assert again.date_of_birth.text() == formats.short_date(date(1984, 3, 27))

    # a date the locale does not write that way is refused, with an example, and nothing saved
    wrong = ClientFormDialog(parent, None, practice.create_client, saved.append)
    wrong.name.setText("Someone Else")
    wrong.date_of_birth.setText("27/27/1984")
    wrong.try_save()
    assert len(saved) == 1
    assert formats.date_example() in wrong.error.text()


def test_the_session_form_uses_the_locales_clock(
    qtbot: QtBot, practice: Practice, in_locale: object
) -> None:
    in_locale("en_US")  # type: ignore[operator]
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = SessionFormDialog(parent, None, AFTERNOON, lambda v: None, lambda s: None)  # type: ignore[arg-type,return-value]
    text = dialog.starts_at.text()
    assert "PM" in text or "AM" in text
    assert scan(text) == []
    in_locale("de_DE")  # type: ignore[operator]
    dialog = SessionFormDialog(parent, None, AFTERNOON, lambda v: None, lambda s: None)  # type: ignore[arg-type,return-value]
    assert "M" not in dialog.starts_at.text().replace("Mo", "")  # 24-hour: no AM/PM
    assert dialog.values().starts_at == AFTERNOON.astimezone().replace(second=0)


def test_the_client_list_and_page_show_local_times(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, in_locale: object
) -> None:
    in_locale("en_US")  # type: ignore[operator]
    client = practice.create_client(
        ClientDetails(name="Jordan Avery", date_of_birth=date(1984, 3, 27))
    )
    practice.schedule_session(client.id, datetime(2030, 12, 7, 15, 5, tzinfo=UTC))
    main_window.show_clients()
    qtbot.waitUntil(lambda: main_window.clients_page.table.topLevelItemCount() == 1)
    row = main_window.clients_page.table.topLevelItem(0)
    assert row.text(3) == formats.date_time_text(datetime(2030, 12, 7, 15, 5, tzinfo=UTC))
    assert "PM" in row.text(3) or "AM" in row.text(3)
    main_window.open_client(client.id)
    qtbot.waitUntil(lambda: main_window.client_page.detail_labels["date_of_birth"].text() != "")
    assert main_window.client_page.detail_labels["date_of_birth"].text() == "March 27, 1984"
