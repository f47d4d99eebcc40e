"""Global search, driven like a person: Ctrl+K, typing, arrow keys, Enter; one audit entry per
pause in typing; psychotherapy notes only when asked for; escaped snippets; stale answers
dropped; nothing left after lock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.notes import Compartment
from desktop.core.practice import Practice
from desktop.core.search import ClientHit, NoteHit
from desktop.ui.main_window import MainWindow
from desktop.ui.pages import search_page
from desktop.ui.pages.search_page import HIT_ROLE, HTML_ROLE, SEARCH_DELAY_MS, SearchPage
from desktop.ui.qt import Qt, QTextDocument

Records = dict[str, str]


def write_note(
    practice: Practice, client_id: str, text: str, *, sign: bool, psychotherapy: bool = False
) -> str:
    if psychotherapy:
        note = practice.create_psychotherapy_note(client_id)
    else:
        note = practice.create_note(client_id, "free")
    practice.save_draft(note.id, {"note": text})
    practice.close_draft(note.id)  # what the editor does when it closes: the index sees it
    if sign:
        practice.sign_note(note.id)
    return note.id


@pytest.fixture
def records(practice: Practice) -> Records:
    marguerite = practice.create_client(
        ClientDetails(name="Marguerite Oyelaran", preferred_name="Daisy", diagnosis_codes="F41.1")
    ).id
    tobias = practice.create_client(ClientDetails(name="Tobias Quince")).id
    return {
        "marguerite": marguerite,
        "tobias": tobias,
        "signed": write_note(
            practice, marguerite,
            "Reports lighthouse dreams and calmer mornings; made quince jam with her sister.",
            sign=True,
        ),
        "draft": write_note(
            practice, tobias, "Talked about the lighthouse trip and sleep.", sign=False
        ),
        "psychotherapy": write_note(
            practice, marguerite, "Transference around the walled orchard image.", sign=True,
            psychotherapy=True,
        ),
    }  # fmt: skip


def searches(practice: Practice) -> list[dict[str, Any]]:
    return [e.details_dict() for e in practice.audit_entries() if e.action == "search.performed"]


def open_search(qtbot: QtBot, window: MainWindow) -> SearchPage:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() is window.search_page
    qtbot.waitUntil(window.search_page.field.hasFocus)
    return window.search_page


def type_and_wait(qtbot: QtBot, page: SearchPage, text: str) -> None:
    qtbot.keyClicks(page.field, text)
    qtbot.waitUntil(lambda: not page.pending and page.status.text() not in ("", "Searching…"))


def hits(page: SearchPage) -> list[ClientHit | NoteHit]:
    return [item.data(0, HIT_ROLE) for item in page.hit_items()]


def groups(page: SearchPage) -> list[str]:
    return [
        item.text(0)
        for i in range(page.results.topLevelItemCount())
        if (item := page.results.topLevelItem(i)) is not None
    ]


def test_typing_searches_once_after_a_pause_grouped_and_highlighted(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    before = len(searches(practice))
    type_and_wait(qtbot, page, "quince")
    qtbot.wait(SEARCH_DELAY_MS * 2)  # nothing more comes
    # one executed search for six keystrokes, audited with counts only
    assert searches(practice)[before:] == [
        {"client_hits": 1, "note_hits": 1, "include_psychotherapy": False}
    ]
    assert groups(page) == ["Clients (1)", "Notes (1)"]
    client_hit, note_hit = hits(page)
    assert isinstance(client_hit, ClientHit) and client_hit.client_id == records["tobias"]
    assert isinstance(note_hit, NoteHit) and note_hit.note_id == records["signed"]
    assert page.status.text() == "1 client and 1 note found"
    note_item = page.hit_items()[1]
    assert '<b class="mark">quince</b>' in note_item.data(0, HTML_ROLE)
    assert "Marguerite Oyelaran" in note_item.text(0)  # plain text for screen readers
    assert "Progress note" in note_item.text(0)
    assert "quince jam" in note_item.text(0)


def test_ranked_order_and_drafts_are_found(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "lighthouse")
    found = hits(page)
    assert {h.note_id for h in found if isinstance(h, NoteHit)} == {
        records["signed"],
        records["draft"],
    }
    assert [h.score for h in found] == sorted(h.score for h in found)  # bm25 order kept
    assert any("draft" in item.text(0) for item in page.hit_items())


def test_empty_text_clears_results_without_searching(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "quince")
    before = len(searches(practice))
    page.field.selectAll()
    qtbot.keyClick(page.field, Qt.Key.Key_Backspace)
    assert page.hit_items() == [] and page.status.text() == ""
    qtbot.wait(SEARCH_DELAY_MS * 2)
    assert len(searches(practice)) == before


def test_no_results_is_said_calmly(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "zeppelin")
    assert page.hit_items() == []
    assert page.status.text().startswith("Nothing matches")


def test_psychotherapy_notes_only_with_the_checkbox_reset_on_each_visit(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    assert not page.psychotherapy.isChecked()
    type_and_wait(qtbot, page, "orchard")
    assert page.hit_items() == []
    qtbot.mouseClick(page.psychotherapy, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(page.hit_items()) == 1)
    (hit,) = hits(page)
    assert isinstance(hit, NoteHit) and hit.compartment is Compartment.PSYCHOTHERAPY
    assert "Psychotherapy note" in page.hit_items()[0].text(0)
    assert searches(practice)[-1]["include_psychotherapy"] is True

    opened: list[tuple[str, bool]] = []
    main_window.open_note = lambda note_id, *, psychotherapy=False: opened.append(  # type: ignore[method-assign]
        (note_id, psychotherapy)
    )
    qtbot.keyClick(page.field, Qt.Key.Key_Down)
    assert page.results.hasFocus()
    qtbot.keyClick(page.results, Qt.Key.Key_Return)
    assert opened == [(records["psychotherapy"], True)]

    main_window.show_clients()
    main_window.show_search()
    assert not page.psychotherapy.isChecked()  # asked for again on each visit
    qtbot.waitUntil(lambda: page.status.text().startswith("Nothing matches"))
    assert searches(practice)[-1]["include_psychotherapy"] is False


def test_arrow_keys_and_enter_open_a_client_in_place(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "quince")
    qtbot.keyClick(page.field, Qt.Key.Key_Down)
    assert page.results.hasFocus()
    assert page.results.currentItem() is page.hit_items()[0]  # the group header is skipped
    qtbot.keyClick(page.results, Qt.Key.Key_Down)
    assert page.results.currentItem() is page.hit_items()[1]
    qtbot.keyClick(page.results, Qt.Key.Key_Down)  # stays on the last hit
    assert page.results.currentItem() is page.hit_items()[1]
    qtbot.keyClick(page.results, Qt.Key.Key_Up)
    qtbot.keyClick(page.results, Qt.Key.Key_Up)  # from the first hit back to the field
    assert page.field.hasFocus()
    qtbot.keyClick(page.field, Qt.Key.Key_Return)  # Enter in the field goes to the results
    assert page.results.currentItem() is page.hit_items()[0]

    opened: list[str] = []
    real_open_client = main_window.open_client

    def open_client(client_id: str) -> None:
        opened.append(client_id)
        real_open_client(client_id)

    main_window.open_client = open_client  # type: ignore[method-assign]
    qtbot.keyClick(page.results, Qt.Key.Key_Return)
    assert opened == [records["tobias"]]
    assert main_window.current_page() is main_window.client_page


def test_double_click_opens_a_note(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "lighthouse dreams")
    opened: list[tuple[str, bool]] = []
    main_window.open_note = lambda note_id, *, psychotherapy=False: opened.append(  # type: ignore[method-assign]
        (note_id, psychotherapy)
    )
    (item,) = page.hit_items()
    centre = page.results.visualItemRect(item).center()
    qtbot.mouseClick(page.results.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseDClick(page.results.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert opened[-1:] == [(records["signed"], False)]


def test_markup_in_records_and_queries_is_escaped(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    name = "Zed <b>Ampersand</b> & <img src=x> Co"
    client_id = practice.create_client(ClientDetails(name=name)).id
    write_note(practice, client_id, "Wrote <b>Ampersand</b> & <script>x</script> in bold.",
               sign=True)  # fmt: skip
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "Ampersand <b>&")
    items = page.hit_items()
    assert len(items) == 2
    for item in items:
        rich = item.data(0, HTML_ROLE)
        assert "<i>" not in rich and "<script>" not in rich and "<img" not in rich
        assert "<b>Ampersand" not in rich
        document = QTextDocument()
        document.setHtml(rich)
        shown = document.toPlainText()
        assert "Ampersand" in shown
    client_doc = QTextDocument()
    client_doc.setHtml(items[0].data(0, HTML_ROLE))
    assert name in client_doc.toPlainText()  # shown exactly as typed
    note_doc = QTextDocument()
    note_doc.setHtml(items[1].data(0, HTML_ROLE))
    assert "<b>Ampersand</b> & <script>x</script>" in note_doc.toPlainText()


def test_a_stale_answer_never_overwrites_a_newer_one(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, records: Records,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    started: list[tuple[Callable[[], Any], Callable[[Any], None]]] = []
    monkeypatch.setattr(
        search_page, "run_in_background", lambda op, ok, _failed, **_: started.append((op, ok))
    )
    page = open_search(qtbot, main_window)
    page.field.setText("quince")
    page.run_search()
    page.field.setText("lighthouse")
    page.run_search()
    (old_op, old_done), (new_op, new_done) = started
    old_results, new_results = old_op(), new_op()
    old_done(old_results)  # the older answer arrives while the newer search runs: dropped
    assert page.hit_items() == []
    new_done(new_results)
    old_done(old_results)  # and arriving late changes nothing
    assert {h.note_id for h in hits(page) if isinstance(h, NoteHit)} == {
        records["signed"],
        records["draft"],
    }
    assert groups(page) == ["Notes (2)"]


def test_lock_leaves_no_search_text_or_results(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    records: Records,
    widget_text: Callable[[], str],
) -> None:
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "quince")
    assert "Tobias Quince" in widget_text()
    main_window.lock()
    text = widget_text()
    assert "Quince" not in text and "quince" not in text and "Marguerite" not in text
    assert page.field.text() == "" and page.hit_items() == []


def test_screenshot(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, screenshot_dir: Path | None
) -> None:
    practice.fill_demo(clients=24, notes_per_client=6, seed=7)
    practice.create_client(ClientDetails(name="Jonah Sleepwell", diagnosis_codes="G47.00"))
    page = open_search(qtbot, main_window)
    type_and_wait(qtbot, page, "sleep")
    assert page.hit_items()
    qtbot.keyClick(page.field, Qt.Key.Key_Down)
    qtbot.keyClick(page.results, Qt.Key.Key_Down)
    qtbot.keyClick(page.results, Qt.Key.Key_Down)
    image = main_window.grab()
    assert image.width() == 1180
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "search.png"))
