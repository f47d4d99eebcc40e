"""Measures on the client page, driven like a person: answer a PHQ-9 in the dialog (a missing
answer refused), see the chart with its bands and change markers, print it with the chart, define
a measure of one's own; a flagged item 9 shown at once wherever the therapist is, until seen;
lock clears it all."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.clinical.measures import ResultSource
from desktop.core.practice import Practice
from desktop.ui import disclosure_dialog
from desktop.ui.clinical.measure_definition_dialog import MeasureDefinitionDialog
from desktop.ui.clinical.measure_dialog import RecordMeasureDialog
from desktop.ui.clinical.measures_tab import MeasureDisclosureDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.qt import QApplication, QEvent, QScatterSeries, Qt, QWidget

from .vocabulary import words_on_screen
from .waiting import client_shown

D = TypeVar("D", bound=QWidget)
LEFT = Qt.MouseButton.LeftButton
NAME = "Perpetua Lindqvist-Obi"


@pytest.fixture(autouse=True)
def earlier_windows_gone() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def dialog_of(qtbot: QtBot, parent: QWidget, kind: type[D]) -> D:
    found: list[D] = []

    def visible() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return len(found) == 1

    qtbot.waitUntil(visible)
    return found[0]


def open_tab(page: ClientPage, title: str) -> QWidget:
    for index in range(page.tabs.count()):
        if page.tabs.tabText(index).replace("&", "") == title:
            page.tabs.setCurrentIndex(index)
            return page.tabs.widget(index)  # type: ignore[return-value]
    raise AssertionError(title)


def pdf_text(path: Path) -> str:
    document = QPdfDocument()
    assert document.load(str(path)) == QPdfDocument.Error.None_
    text = "\n".join(document.getAllText(i).text() for i in range(document.pageCount()))
    document.close()
    return text


def actions(practice: Practice) -> list[str]:
    return [e.action for e in practice.audit_entries()]


def phq9(values: list[int]) -> dict[str, int]:
    return {str(n): v for n, v in enumerate(values, 1)}


def history(practice: Practice, client_id: str) -> None:
    """Four PHQ-9s a fortnight apart: 18, 13, 7 (flagged), 4."""
    start = datetime(2025, 11, 10, 10, tzinfo=UTC)
    given = (
        (0, [2, 2, 2, 3, 2, 2, 2, 3, 0]),
        (2, [2, 2, 1, 2, 1, 1, 2, 2, 0]),
        (4, [1, 1, 1, 1, 1, 0, 1, 0, 1]),
        (6, [1, 0, 1, 1, 0, 0, 1, 0, 0]),
    )
    for weeks, values in given:
        practice.clinical.record_measure(
            client_id, "phq9", phq9(values), administered_at=start + timedelta(weeks=weeks)
        )


def test_answer_a_phq9_in_the_dialog(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    tab = page.clinical.measures
    before = actions(practice)
    open_tab(page, "Measures")
    assert actions(practice)[len(before) :] == ["measure.listed"]  # read when shown
    assert tab.empty.isVisible()
    qtbot.mouseClick(tab.record_button, LEFT)
    dialog = dialog_of(qtbot, page, RecordMeasureDialog)
    assert dialog.measure.currentData() == "phq9"
    assert words_on_screen([dialog]) == []
    values = [1, 2, 1, 3, 0, 1, 2, 0]
    for key, value in zip("12345678", values, strict=True):
        dialog.groups[key].button(value + 1000).setChecked(True)
    qtbot.mouseClick(dialog.save_button, LEFT)  # item 9 unanswered: refused here first
    assert dialog.isVisible() and "item 9 has no answer yet" in dialog.error.text()
    assert "measure.recorded" not in actions(practice)
    dialog.groups["9"].button(1000).setChecked(True)  # "Not at all"
    dialog.extra_groups["difficulty"].button(2).setChecked(True)
    qtbot.mouseClick(dialog.save_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    row = tab.table.topLevelItem(0)
    assert row is not None and (row.text(1), row.text(2)) == ("10", "Moderate")
    (result,) = practice.clinical.list_measure_results(client_id)
    assert result.extras == {"difficulty": "Very difficult"} and not result.flagged
    assert not main_window.flag_alert.isVisible()


def test_the_chart_marks_change_and_prints_with_the_measure(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    screenshot_dir: Path | None,
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    history(practice, client_id)
    qtbot.waitUntil(main_window.flag_alert.isVisible)  # the flagged one, told at once
    qtbot.mouseClick(main_window.flag_alert.seen_button, LEFT)
    assert not main_window.flag_alert.isVisible()
    main_window.resize(1180, 800)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    tab = page.clinical.measures
    open_tab(page, "Measures")
    qtbot.waitUntil(lambda: tab.chart.history is not None)
    assert [tab.table.topLevelItem(i).text(1) for i in range(4)] == ["4", "7", "13", "18"]  # type: ignore[union-attr]
    assert tab.table.topLevelItem(0).text(3) == (  # type: ignore[union-attr]
        "Reliable improvement, clinically significant"
    )
    assert tab.table.topLevelItem(2).text(3) == "Reliable improvement"  # type: ignore[union-attr]
    series = {s.name(): s for s in tab.chart.chart().series()}
    assert {"Minimal", "Mild", "Moderate", "Moderately severe", "Severe", "Cutoff (10)",
            "Score"} <= set(series)  # fmt: skip
    assert series["Score"].count() == 4
    stars = series["Clinically significant improvement"]
    assert isinstance(stars, QScatterSeries) and [p.y() for p in stars.points()] == [7, 4]
    assert [p.y() for p in series["Reliable improvement"].points()] == [13]  # type: ignore[attr-defined]
    assert [p.y() for p in series["Flagged answer"].points()] == [7]  # type: ignore[attr-defined]
    assert "more than 3.9 points" in tab.change_note.text()
    assert words_on_screen([main_window]) == []
    if screenshot_dir is not None:
        qtbot.wait(50)
        main_window.grab().save(str(screenshot_dir / "measures.png"))

    pdf = tmp_path / "phq9.pdf"
    monkeypatch.setattr(disclosure_dialog, "ask_save_path", lambda _p, _s, done: done(pdf))
    qtbot.mouseClick(tab.print_button, LEFT)
    dialog = dialog_of(qtbot, tab, MeasureDisclosureDialog)
    assert not dialog.include_psychotherapy.isVisible()
    assert words_on_screen([dialog]) == []
    qtbot.keyClicks(dialog.recipient, "Dr Jones (GP)")
    qtbot.keyClicks(dialog.purpose.lineEdit(), "Continuity of care")  # type: ignore[arg-type]
    with qtbot.waitSignal(dialog.finished, timeout=20_000):
        qtbot.mouseClick(dialog.go_button, LEFT)
    data = pdf.read_bytes()  # Qt writes image dictionaries uncompressed
    assert len(re.findall(rb"/Subtype\s*/Image", data)) == 1  # the chart
    assert int(re.findall(rb"/Width\s+(\d+)", data)[0]) == 1000
    text = pdf_text(pdf).replace("ﬁ", "fi").replace("ﬂ", "fl")
    assert f"PHQ-9 — {NAME}" in text and "Dr Jones (GP)" in text
    assert "7 (Mild); reliable improvement, clinically significant; flagged answer" in text
    assert actions(practice)[-1] == "measure.exported"
    if screenshot_dir is not None:
        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf),
                        str(screenshot_dir / "measure-pdf")], check=True)  # fmt: skip


def test_a_flagged_item_9_is_shown_at_once_wherever_the_therapist_is(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, tmp_path: Path,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    main_window.show_search()  # far from the client's page
    alert = main_window.flag_alert
    assert not alert.isVisible()

    # a form arriving on another thread (the mailbox fetch) is told at once
    done = threading.Event()

    def arrive() -> None:
        practice.clinical.record_measure(client_id, "phq9", phq9([0, 1, 0, 0, 0, 0, 0, 0, 2]),
                                         source=ResultSource.MAILBOX)  # fmt: skip
        done.set()

    threading.Thread(target=arrive).start()
    qtbot.waitUntil(alert.isVisible, timeout=5000)
    assert done.is_set() and main_window.current_page() is main_window.search_page
    assert alert.text.text().startswith(f"Safety answer: {NAME} answered PHQ-9 item 9")
    assert "“More than half the days”" in alert.text.text()
    assert "between sessions" in alert.text.text()
    assert words_on_screen([alert]) == []
    if screenshot_dir is not None:
        main_window.resize(1180, 760)
        qtbot.wait(50)
        main_window.grab().save(str(screenshot_dir / "item9-alert.png"))
    # a second one queues behind it
    practice.clinical.record_measure(client_id, "phq9", phq9([0] * 8 + [1]))
    qtbot.waitUntil(lambda: "(1 more)" in alert.text.text())
    qtbot.mouseClick(alert.open_button, LEFT)
    assert main_window.current_page() is main_window.client_page
    qtbot.mouseClick(alert.seen_button, LEFT)
    assert alert.isVisible() and "(1 more)" not in alert.text.text()
    assert actions(practice).count("measure.flag_acknowledged") == 1

    # still unseen at the next unlock: shown again by a new window
    practice_path = tmp_path / "vault"
    other = MainWindow(practice, practice_path, lambda: None)
    qtbot.addWidget(other)
    other.show()
    qtbot.waitUntil(other.flag_alert.isVisible)  # read off the UI thread as the window opens
    assert len(other.flag_alert.pending) == 1
    other.flag_alert.clear_phi()
    other.idle.stop()

    main_window.lock()
    assert not alert.isVisible() and alert.text.text() == "" and alert.pending == []


def test_define_a_measure_of_ones_own(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    tab = page.clinical.measures
    open_tab(page, "Measures")
    qtbot.mouseClick(tab.own_button, LEFT)
    dialog = dialog_of(qtbot, page, MeasureDefinitionDialog)
    qtbot.keyClicks(dialog.name, "Sleep-3")
    dialog.choices.setPlainText("0 = Never\n1 = Sometimes\n2 = Often")
    dialog.items.setPlainText("Trouble falling asleep\nWaking in the night\nTired by day")
    dialog.bands.setPlainText("0-2 Sleeping well\n3-5 Some trouble")  # stops short of 6
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible() and "highest possible score" in dialog.error.text()
    dialog.bands.setPlainText("0-2 Sleeping well\n3-6 Sleeping poorly")
    assert words_on_screen([dialog]) == []
    qtbot.mouseClick(dialog.save_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    qtbot.mouseClick(tab.record_button, LEFT)
    record = dialog_of(qtbot, page, RecordMeasureDialog)
    record.measure.setCurrentIndex(record.measure.count() - 1)
    assert record.measure.currentText().startswith("Sleep-3")
    for key in "123":
        record.groups[key].button(1002).setChecked(True)  # "Often"
    qtbot.mouseClick(record.save_button, LEFT)
    qtbot.waitUntil(lambda: not record.isVisible())
    assert tab.measure.currentText() == "Sleep-3"
    row = tab.table.topLevelItem(0)
    assert row is not None and (row.text(1), row.text(2)) == ("6", "Sleeping poorly")
    assert "not judged" in tab.change_note.text()


def test_lock_clears_the_measures(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, widget_text: Callable[[], str]
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    history(practice, client_id)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    open_tab(page, "Measures")
    qtbot.mouseClick(page.clinical.measures.record_button, LEFT)
    dialog_of(qtbot, page, RecordMeasureDialog)
    text = widget_text()
    assert NAME in text and "Moderately severe" in text and "Little interest" in text
    main_window.lock()
    text = widget_text()
    for value in (NAME, "Moderately severe", "Little interest", "Reliable improvement"):
        assert value not in text, value
    assert page.clinical.measures.chart.history is None
    assert page.clinical.measures.chart.chart().series() == []
