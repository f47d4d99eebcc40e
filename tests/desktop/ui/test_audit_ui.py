"""The audit-log page, driven like a person: entries for what happened, filters by client, action,
date and outcome (one audited read per pause, not per click), Verify on an intact and on a
tampered log, export to CSV and JSON lines, nothing left after lock."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.ui import formats
from desktop.ui.main_window import MainWindow
from desktop.ui.pages import audit_page
from desktop.ui.pages.audit_page import AuditPage
from desktop.ui.qt import QDate, Qt

from . import vocabulary

START = datetime(2026, 1, 5, 12, tzinfo=UTC)


class StepClock:
    """The vault's clock: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def options(tmp_path: Path, clock: StepClock) -> VaultOptions:
    return VaultOptions(actor="user:test", clock=clock, state_dir=tmp_path / "state")


def actions(practice: Practice) -> list[str]:
    return [e.action for e in practice.audit_entries()]


def open_audit(qtbot: QtBot, window: MainWindow, client_id: str | None = None) -> AuditPage:
    window.show_audit(client_id)
    page = window.audit_page
    assert window.current_page() is page
    qtbot.waitUntil(lambda: not page.loading)
    return page


def wait_for_reload(qtbot: QtBot, page: AuditPage) -> None:
    qtbot.waitUntil(lambda: page.loading)
    qtbot.waitUntil(lambda: not page.loading, timeout=5000)


def rows(page: AuditPage) -> list[list[str]]:
    model = page.table.model()
    return [
        [str(model.data(model.index(r, c))) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


@pytest.fixture
def two_clients(practice: Practice, clock: StepClock) -> tuple[str, str]:
    first = practice.create_client(ClientDetails(name="Odalys Fenwick")).id
    practice.open_client(first)
    clock.advance(days=3)
    second = practice.create_client(ClientDetails(name="Bartholomew Quist")).id
    practice.open_client(second)
    practice.open_client(second)
    clock.advance(minutes=5)
    return first, second


def test_shows_what_happened_and_the_view_is_audited_once(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, two_clients: tuple[str, str]
) -> None:
    before = actions(practice).count("audit.viewed")
    page = open_audit(qtbot, main_window)
    qtbot.wait(300)
    assert actions(practice).count("audit.viewed") == before + 1  # activation + filter: one read
    shown = rows(page)
    opened = [r for r in shown if r[1].endswith("'s record")]
    assert [r[1] for r in opened] == [
        "You opened Bartholomew Q.'s record", "You opened Bartholomew Q.'s record",
        "You opened Odalys F.'s record",
    ]  # fmt: skip
    assert opened[-1][0] == formats.date_time_text(START)  # local time, the locale's format
    # newest first: this viewing itself, then the page's own read of the names
    assert [r[1] for r in shown[:2]] == ["You viewed the audit log", "You viewed the client list"]
    assert page.count_label.text() == f"{len(shown)} entries, newest first (this viewing included)"
    assert "You set up Quietroom" in [r[1] for r in shown]
    assert not any(vocabulary.scan(cell) for row in shown for cell in row)

    # the count shown agrees with the count a verification walks next
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.verified_label.isVisible)
    assert f"all {len(shown)} entries" in page.verified_label.text()

    # the raw fields of an entry, behind "Technical details"
    page.table.setCurrentIndex(page.model.index(len(shown) - 1, 1))
    assert not page.details.body.isVisible()
    page.details.set_open(True)
    assert page.details.body.isVisible()
    assert "Action: vault.created" in page.details.text()
    assert "Actor: user:test" in page.details.text()


def test_filter_by_client_action_and_date(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    two_clients: tuple[str, str],
    clock: StepClock,
) -> None:
    first, second = two_clients
    page = open_audit(qtbot, main_window)

    # the client, chosen in the combo box (typing its name), applied after a pause
    page.client_combo.setFocus()
    qtbot.keyClicks(page.client_combo, "Odalys")
    assert page.client_combo.currentData() == first
    wait_for_reload(qtbot, page)
    assert [r[1] for r in rows(page)] == [
        "You viewed the audit log of Odalys F.", "You opened Odalys F.'s record",
        "You added Odalys F. as a client",
    ]  # fmt: skip

    # the action: quick changes of two filters make one read
    viewed = actions(practice).count("audit.viewed")
    page.action_combo.setCurrentIndex(page.action_combo.findData("client.opened"))
    page.client_combo.setCurrentIndex(0)  # all clients
    wait_for_reload(qtbot, page)
    qtbot.wait(300)
    assert actions(practice).count("audit.viewed") == viewed + 1
    assert page.action_combo.currentText() == "Client records opened"
    assert [r[1] for r in rows(page)] == [
        "You opened Bartholomew Q.'s record", "You opened Bartholomew Q.'s record",
        "You opened Odalys F.'s record",
    ]  # fmt: skip

    # dates: from the day the second client came, then up to the first day only
    day = (START + timedelta(days=3)).astimezone()
    page.from_date.setDate(QDate(day.year, day.month, day.day))
    qtbot.mouseClick(page.from_check, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)  # now, not after the pause
    assert page.loading
    qtbot.waitUntil(lambda: not page.loading)
    assert [r[1] for r in rows(page)] == ["You opened Bartholomew Q.'s record"] * 2
    qtbot.mouseClick(page.from_check, Qt.MouseButton.LeftButton)
    first_day = START.astimezone()
    page.to_date.setDate(QDate(first_day.year, first_day.month, first_day.day))
    qtbot.mouseClick(page.to_check, Qt.MouseButton.LeftButton)
    page.reload()
    qtbot.waitUntil(lambda: not page.loading)
    assert [r[1] for r in rows(page)] == ["You opened Odalys F.'s record"]

    # the client page's "audit log" link
    page.to_check.setChecked(False)
    page.action_combo.setCurrentIndex(0)
    open_audit(qtbot, main_window, second)
    assert page.client_combo.currentText() == "Bartholomew Quist"
    assert all("Bartholomew Q." in r[1] for r in rows(page))
    assert not any("Odalys" in r[1] for r in rows(page))


def test_verify_an_intact_log(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, two_clients: tuple[str, str]
) -> None:
    page = open_audit(qtbot, main_window)
    entries = len(actions(practice))
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.verified_label.isVisible)
    assert page.verified_label.text() == (
        f"Checked: all {entries} entries in the log are intact (this check is now recorded too)."
    )
    assert not page.error.isVisible()
    assert page.verify_button.isEnabled()
    assert actions(practice)[-1] == "audit.verified"


def test_a_tampered_log_fails_verification_prominently(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, two_clients: tuple[str, str]
) -> None:
    page = open_audit(qtbot, main_window)
    # an insider with the key edits an entry with SQL, past the append-only triggers
    connection = practice.vault_for_backups()._require_open()
    connection.execute("DROP TRIGGER audit_log_no_update")
    connection.execute("UPDATE audit_log SET object_id = 'someone else' WHERE seq = 3")
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.error.isVisible)
    assert page.error.text().startswith("The audit log failed its check at entry 3.")
    assert not page.verified_label.isVisible()

    # the failed check is itself an entry, found with the outcome filter
    page.reload()
    qtbot.waitUntil(lambda: not page.loading)
    page.outcome_combo.setCurrentIndex(page.outcome_combo.findData("failure"))
    assert not page.loading  # the outcome filter works on the rows already read
    (failed,) = rows(page)
    assert failed[1] == "The check of the audit log found a problem at entry 3"
    page.table.setCurrentIndex(page.model.index(0, 1))
    assert "Action: audit.verified" in page.details.text()
    assert "Outcome: failure" in page.details.text()
    assert "first_bad_seq: 3" in page.details.text()


@pytest.mark.parametrize("name", ["audit.csv", "audit.jsonl"])
def test_export(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    two_clients: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / name
    target.write_text("an older file, replaced whole")
    asked: list[Path] = []

    def ask(_parent: object, suggested: Path) -> Path:
        asked.append(suggested)
        return target

    monkeypatch.setattr(audit_page, "ask_save_path", ask)
    page = open_audit(qtbot, main_window)
    entries = len(actions(practice))
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.verified_label.isVisible)
    assert asked[0].name.startswith("quietroom-audit-") and asked[0].suffix == ".csv"
    assert page.verified_label.text() == f"Exported {entries} entries to {name}."
    assert main_window.statusBar().currentMessage() == f"Audit log exported ({entries} entries)"
    assert [p.name for p in folder.iterdir()] == [name]  # no temporary file left
    text = target.read_text("utf-8")
    if name.endswith(".csv"):
        table = list(csv.reader(text.splitlines()))
        assert table[0][:4] == ["seq", "at", "actor", "action"]
        assert len(table) == entries + 1
        assert [row[3] for row in table[1:]].count("client.opened") == 3
    else:
        lines = [json.loads(line) for line in text.splitlines()]
        assert len(lines) == entries
        assert [line["action"] for line in lines].count("client.opened") == 3
    assert actions(practice)[-1] == "audit.exported"


def test_export_cancelled_writes_nothing(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit_page, "ask_save_path", lambda _parent, _suggested: None)
    page = open_audit(qtbot, main_window)
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    assert "audit.exported" not in actions(practice)
    assert page.export_button.isEnabled()


def test_lock_empties_the_page(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    two_clients: tuple[str, str],
    widget_text: Callable[[], str],
) -> None:
    page = open_audit(qtbot, main_window, two_clients[0])
    assert "Odalys Fenwick" in widget_text()
    main_window.lock()
    text = widget_text()
    assert "Odalys" not in text and "Bartholomew" not in text
    assert page.model.rowCount() == 0
    assert page.client_combo.count() == 1


def test_screenshot(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    clock: StepClock,
    screenshot_dir: Path | None,
) -> None:
    practice.fill_demo(clients=12, notes_per_client=4, seed=3)
    clients = practice.list_clients()
    for i, client in enumerate(clients[:6]):
        clock.advance(minutes=7 + i)
        record = practice.open_client(client.id)
        if record.notes:
            clock.advance(minutes=2)
            practice.open_note(record.notes[0].id)
        if i == 2:
            practice.search("sleep")
    clock.advance(minutes=3)
    practice.verify_audit()
    clock.advance(minutes=1)
    page = open_audit(qtbot, main_window)
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(page.verified_label.isVisible)
    page.table.selectRow(2)
    image = main_window.grab()
    assert image.width() == 1180
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "audit-log.png"))
