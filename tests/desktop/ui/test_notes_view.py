"""Notes as therapists read them: notes and linked entries counted apart, and the call note's
date, time, length and modality in its header fields (editable while a draft, signed with it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.sessions import Modality
from desktop.ui import formats
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.note_editor import header_text

from .vocabulary import words_on_screen
from .waiting import client_shown


def test_notes_and_amendments_are_counted_apart(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client = practice.create_client(ClientDetails(name="Jordan Avery"))
    session = practice.schedule_session(client.id, datetime(2026, 1, 5, 9, tzinfo=UTC))
    first = practice.create_note(client.id, "soap", session_id=session.id)
    practice.save_draft(first.id, {"subjective": "Slept better."})
    practice.sign_note(first.id)
    practice.amend_note(first.id, "the wrong week")
    practice.add_addendum(first.id, "results came")
    practice.create_note(client.id, "dap")
    main_window.open_client(client.id)
    client_shown(qtbot, main_window, client.id)
    page = main_window.client_page
    assert page.notes_count.text() == "2 notes, 1 amendment, 1 addendum"
    row = page.sessions.topLevelItem(0)
    assert row.text(4) == "1 note, 1 amendment, 1 addendum"  # not "3 notes"


def test_the_call_note_header_fields(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client = practice.create_client(ClientDetails(name="Jordan Avery"))
    session = practice.schedule_session(
        client.id, datetime.now(UTC) - timedelta(hours=1), modality=Modality.VIDEO
    )
    started = datetime(2026, 12, 7, 10, 3, tzinfo=UTC)
    note = practice.create_call_note(session.id, started, 48 * 60 + 20)
    main_window.open_note(note.id)
    editor = main_window.note_editor
    assert editor.header_fields.isVisible()
    assert editor.held_at.dateTime() == formats.qdatetime(started)
    assert editor.held_minutes.value() == 48
    assert editor.held_how.currentText() == "Video"
    assert all(e.toPlainText() == "" for e in editor.editors)  # nothing in Subjective
    assert words_on_screen([main_window]) == []

    editor.held_minutes.setValue(50)  # a correction, saved after a pause
    qtbot.waitUntil(lambda: practice.open_note(note.id).header.duration_minutes == 50)  # type: ignore[union-attr]
    editor.editors[0].setPlainText("Talked about the new job.")
    practice.save_draft(note.id, editor.texts())
    signed = practice.sign_note(note.id)
    main_window.open_note(note.id)
    assert not editor.header_fields.isVisible()
    assert signed.header is not None
    assert editor.header_line.text() == header_text(signed.header)
    assert editor.header_line.text().endswith("· 50 minutes · Video")
    assert "UTC" not in editor.header_line.text()
