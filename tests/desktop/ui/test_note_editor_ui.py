"""The note editor, driven like a person: type a SOAP draft, watch it autosave, sign it, amend it,
see the history; psychotherapy notes, tampered signatures, late flags, discarding, and nothing
left on screen after locking."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from crypto.vault import VaultOptions
from desktop.core.errors import NoteNotFoundError, NoteSignedError
from desktop.core.notes import Note, NoteKind, NoteStatus, SignatureCheck
from desktop.core.practice import ClientDetails, Practice
from desktop.core.sessions import Attendance
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.note_editor import CompareDialog, NoteEditorPage, ReasonDialog, local_time
from desktop.ui.qt import QApplication, QMessageBox, QPlainTextEdit, Qt, QWidget

PASSPHRASE = "lantern meadow copper tide"  # as in conftest.py
SOAP = {
    "subjective": "Reports sleeping better since starting the wind-down routine.",
    "objective": "Calm, good eye contact, PHQ-9 of 9 (was 14).",
    "assessment": "Mild depressive symptoms, improving.",
    "plan": "Continue weekly sessions; keep the sleep diary.",
}


class Clock:
    """The vault's clock: moves only when a test says so (the autosave interval is 2 s)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def options(tmp_path: Path, clock: Clock) -> VaultOptions:
    return VaultOptions(actor="user:test", clock=clock, state_dir=tmp_path / "state")


@pytest.fixture
def editor(main_window: MainWindow) -> Iterator[NoteEditorPage]:
    main_window.activateWindow()
    yield main_window.note_editor


def soap_draft(practice: Practice, clock: Clock, *, session_hours_ago: float = 2) -> Note:
    client = practice.create_client(ClientDetails(name="Rosalind Quarrie"))
    session = practice.schedule_session(
        client.id, clock.now - timedelta(hours=session_hours_ago), attendance=Attendance.ATTENDED
    )
    return practice.create_note(client.id, "soap", session_id=session.id)


def edits(practice: Practice, note_id: str) -> int:
    return sum(
        1 for e in practice.audit_entries() if e.action == "note.edited" and e.object_id == note_id
    )


def actions_for(practice: Practice, object_id: str) -> list[str]:
    return [e.action for e in practice.audit_entries() if e.object_id == object_id]


def click_dialog_button(qtbot: QtBot, box: QWidget, text: str) -> None:
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible)
    (button,) = [b for b in box.buttons() if b.text() == text]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def type_section(qtbot: QtBot, editor: QPlainTextEdit, text: str) -> None:
    editor.setFocus()
    qtbot.keyClicks(editor, text)


def test_write_autosave_sign_amend_and_history(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    assert main_window.current_page() is editor
    assert editor.views.currentWidget() is editor.draft_view
    assert [e.accessibleName() for e in editor.editors] == [
        "Subjective", "Objective", "Assessment", "Plan",
    ]  # fmt: skip
    assert editor.editors[0].placeholderText().startswith("What the client reports")
    assert editor.title.text() == "SOAP note · Rosalind Quarrie"  # the note screen names the client
    assert main_window.windowTitle() == "Quietroom"
    assert not editor.late.isVisible()  # the session ended 1 h ago

    # Typing: the first change is written at once, the rest wait for the interval.
    first = editor.editors[0]
    type_section(qtbot, first, SOAP["subjective"])
    assert editor.save_state.text() == "Saving…"
    qtbot.waitUntil(lambda: not editor.writing)  # (written off the UI thread)
    assert editor.save_state.text() == "Saving…"
    assert edits(practice, note.id) == 1
    clock.advance(3)
    qtbot.waitUntil(lambda: editor.save_state.text().startswith("Saved at"), timeout=3000)
    assert editor.save_state.text() == f"Saved at {clock.now.astimezone():%H:%M}"

    # Tab moves to the next section (it does not insert a tab).
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is editor.editors[1]
    assert "\t" not in first.toPlainText()
    for section_editor in editor.editors[1:]:
        type_section(qtbot, section_editor, SOAP[section_editor.key])
        clock.advance(1)
    words = sum(len(t.split()) for t in SOAP.values())
    assert editor.words.text() == f"{words} words"

    # Ctrl+S writes what is pending; the vault has every section.
    qtbot.keyClick(editor.editors[-1], Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: editor.save_state.text().startswith("Saved at"))
    practice.flush_drafts()
    stored = practice.open_note(note.id)
    assert {s.key: s.text for s in stored.sections} == SOAP
    assert edits(practice, note.id) == 1  # one editing session, however many keystrokes

    # Sign with the button, after the confirmation.
    qtbot.mouseClick(editor.sign_button, Qt.MouseButton.LeftButton)
    box = editor.dialogs[-1]
    assert box.windowTitle() == "Quietroom - sign note"
    assert "can never change" in box.text()  # type: ignore[attr-defined]
    click_dialog_button(qtbot, box, "Sign and lock")
    assert editor.note is not None and editor.note.status is NoteStatus.SIGNED
    signed = practice.open_note(note.id)
    assert signed.signature_check is SignatureCheck.VALID

    # The read-only view: every section, author, time, short signature, check.
    assert editor.views.currentWidget() is editor.reader
    shown = editor.reader.toPlainText()
    assert all(text in shown for text in SOAP.values())
    assert editor.reader.isReadOnly()
    assert editor.editors == []
    assert not editor.sign_button.isVisible() and editor.amend_button.isVisible()
    assert editor.author.text() == "Signed by Dr Ada Test, PsyD"
    assert signed.signed_at is not None
    assert signed.signed_at.astimezone().strftime("%H:%M") in editor.signed_at.text()
    assert signed.signature is not None
    # the signature itself is a technical fact: behind "Technical details", closed
    assert signed.signature in editor.signature.text()
    assert not editor.signature.body.isVisible() and editor.signature.toggle.isVisible()
    assert editor.check.text() == "✓ Signature verified"
    assert not editor.tampered.isVisible()

    # Editing is impossible: typing into the view changes nothing, the domain refuses too.
    editor.reader.setFocus()
    qtbot.keyClicks(editor.reader, "changed my mind")
    assert editor.reader.toPlainText() == shown
    with pytest.raises(NoteSignedError):
        practice.save_draft(note.id, {"plan": "changed"})
    qtbot.keyClick(editor.reader, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert not any(d.isVisible() for d in editor.dialogs)  # Ctrl+Enter does nothing here

    # Amend: a reason is required, then the amendment opens prefilled.
    qtbot.mouseClick(editor.amend_button, Qt.MouseButton.LeftButton)
    dialog = editor.dialogs[-1]
    assert isinstance(dialog, ReasonDialog)
    qtbot.waitUntil(dialog.isVisible)
    assert dialog.windowTitle() == "Quietroom - amend note"
    assert not dialog.ok.isEnabled()
    qtbot.keyClicks(dialog.reason, "   ")
    assert not dialog.ok.isEnabled()
    qtbot.keyClicks(dialog.reason, "wrong PHQ-9 score")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    amendment = editor.note
    assert amendment is not None and amendment.kind is NoteKind.AMENDMENT
    assert amendment.status is NoteStatus.DRAFT and amendment.parent_id == note.id
    assert editor.title.text() == "SOAP amendment · Rosalind Quarrie"
    assert "Reason for this amendment: wrong PHQ-9 score" in editor.subtitle.text()
    objective = editor.editors[1]
    assert objective.toPlainText() == SOAP["objective"]
    objective.setFocus()
    objective.selectAll()
    qtbot.keyClicks(objective, "Calm, good eye contact, PHQ-9 of 10 (was 14).")

    # Sign the amendment with Ctrl+Enter.
    qtbot.keyClick(objective, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    click_dialog_button(qtbot, editor.dialogs[-1], "Sign and lock")
    assert editor.note is not None and editor.note.id == amendment.id
    assert editor.note.status is NoteStatus.SIGNED
    assert "PHQ-9 of 10" in editor.reader.toPlainText()

    # The history: the original, then the amendment, with kind, reason, author and time.
    items = [editor.history.item(i) for i in range(editor.history.count())]
    assert [i.data(Qt.ItemDataRole.UserRole) for i in items] == [note.id, amendment.id]
    assert items[0].text().splitlines()[:2] == ["1. Original", f"Signed {local_time(clock.now)}"]
    assert items[1].text().splitlines() == [
        "2. Amendment", f"Signed {local_time(clock.now)}", "Dr Ada Test, PsyD",
        "Reason: wrong PHQ-9 score",
    ]  # fmt: skip
    assert items[1].toolTip() == "Reason: wrong PHQ-9 score"
    # Compare the amendment with what it amends, side by side, the changed words marked.
    qtbot.mouseClick(editor.compare_button, Qt.MouseButton.LeftButton)
    compare = editor.dialogs[-1]
    assert isinstance(compare, CompareDialog)
    qtbot.waitUntil(compare.isVisible)
    left, right = compare.texts()
    assert "PHQ-9 of 9" in left and "PHQ-9 of 10" not in left
    assert "PHQ-9 of 10" in right and "PHQ-9 of 9" not in right
    assert "line-through" in compare.left.toHtml() and "line-through" not in compare.right.toHtml()
    compare.reject()

    # Selecting a version in the history shows that version's text (arrow keys or a click).
    editor.history.setFocus()
    editor.history.setCurrentItem(items[0])
    assert editor.note is not None and editor.note.id == note.id
    assert "PHQ-9 of 9" in editor.reader.toPlainText()
    assert "PHQ-9 of 10" not in editor.reader.toPlainText()
    assert not editor.compare_button.isVisible()  # an original has nothing to compare with
    qtbot.keyClick(editor.history, Qt.Key.Key_Down)
    assert editor.note is not None and editor.note.id == amendment.id
    assert "PHQ-9 of 10" in editor.reader.toPlainText()
    editor.history.itemActivated.emit(editor.history.item(0))  # Enter opens one too
    assert editor.note is not None and editor.note.id == note.id
    assert practice.open_note(note.id).text("objective") == SOAP["objective"]  # unchanged


def test_one_edit_entry_per_editing_session(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    for word in ("slept", "badly", "most", "nights", "this", "week"):
        type_section(qtbot, editor.editors[0], word + " ")
        qtbot.waitUntil(lambda: not editor.writing)  # the typing reached the vault
        clock.advance(2.5)  # every word is a separate write
        qtbot.waitUntil(lambda: editor.save_state.text().startswith("Saved at"), timeout=3000)
    assert edits(practice, note.id) == 1
    main_window.show_clients()  # leaving the page closes the draft: the session ends
    assert editor.note is None and editor.editors == []
    assert practice.open_note(note.id).text("subjective") == "slept badly most nights this week "
    main_window.open_note(note.id)
    assert editor.editors[0].toPlainText() == "slept badly most nights this week "
    type_section(qtbot, editor.editors[0], "again")
    qtbot.waitUntil(lambda: not editor.writing)
    assert edits(practice, note.id) == 2


def test_psychotherapy_note_is_opened_through_its_compartment(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice
) -> None:
    client = practice.create_client(ClientDetails(name="Ottoline Brisk"))
    note = practice.create_psychotherapy_note(client.id)
    practice.save_draft(note.id, {"note": "CANARY process notes about the dream"})
    practice.close_draft(note.id)

    main_window.open_note(note.id)  # the ordinary way is refused and shows nothing
    assert editor.note is None and editor.error.isVisible()
    assert "CANARY" not in editor.reader.toPlainText()
    assert "psychotherapy_note.opened" not in actions_for(practice, note.id)

    main_window.open_note(note.id, psychotherapy=True)
    assert actions_for(practice, note.id).count("psychotherapy_note.opened") == 1
    assert "note.opened" not in actions_for(practice, note.id)
    assert editor.subtitle.text().startswith("Psychotherapy note · draft")
    assert editor.editors[0].toPlainText() == "CANARY process notes about the dream"
    type_section(qtbot, editor.editors[0], " more")
    qtbot.keyClick(editor.editors[0], Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    click_dialog_button(qtbot, editor.dialogs[-1], "Sign and lock")
    qtbot.mouseClick(editor.addendum_button, Qt.MouseButton.LeftButton)
    dialog = editor.dialogs[-1]
    assert isinstance(dialog, ReasonDialog)
    qtbot.keyClicks(dialog.reason, "follow-up")
    qtbot.mouseClick(dialog.ok, Qt.MouseButton.LeftButton)
    addendum = editor.note
    assert addendum is not None and addendum.kind is NoteKind.ADDENDUM
    assert editor.title.text() == "Addendum · Ottoline Brisk"
    assert [e.accessibleName() for e in editor.editors] == ["Addendum"]
    assert "psychotherapy_note.opened" in actions_for(practice, addendum.id)  # same compartment


def test_a_tampered_signature_is_a_warning(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock)
    practice.save_draft(note.id, SOAP)
    practice.sign_note(note.id)
    with practice.vault_for_backups().transaction() as tx:  # someone with the key edits the DB
        tx.execute("DROP TRIGGER notes_signed_frozen")
        tx.execute("UPDATE notes SET body = body || ' (edited)' WHERE id = ?", (note.id,))
    main_window.open_note(note.id)
    assert editor.tampered.isVisible()
    assert editor.tampered.text().startswith("Warning: this note no longer matches its signature")
    assert editor.check.text() == "✗ Does not match the signature"
    assert "note.signature_mismatch" in actions_for(practice, note.id)


def test_late_flag_shown_while_drafting(
    main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock, session_hours_ago=72)
    main_window.open_note(note.id)
    assert editor.late.isVisible()
    assert editor.late.text().startswith("Would be a late entry if signed now")


def test_discard_draft_and_escape_back(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    type_section(qtbot, editor.editors[0], "not needed after all")
    qtbot.keyClick(editor.editors[0], Qt.Key.Key_Escape)
    assert main_window.current_page() is main_window.client_page
    assert practice.open_note(note.id).text("subjective") == "not needed after all"

    main_window.open_note(note.id)
    qtbot.mouseClick(editor.discard_button, Qt.MouseButton.LeftButton)
    box = editor.dialogs[-1]
    assert box.windowTitle() == "Quietroom - discard draft"
    click_dialog_button(qtbot, box, "Discard draft")
    assert main_window.current_page() is main_window.client_page
    with pytest.raises(NoteNotFoundError):
        practice.open_note(note.id)
    assert "note.draft_discarded" in actions_for(practice, note.id)


def test_signing_an_empty_note_is_refused(
    qtbot: QtBot, main_window: MainWindow, editor: NoteEditorPage, practice: Practice, clock: Clock
) -> None:
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    qtbot.keyClick(editor.editors[0], Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    click_dialog_button(qtbot, editor.dialogs[-1], "Sign and lock")
    assert editor.error.isVisible() and "empty" in editor.error.text()
    assert editor.note is not None and editor.note.status is NoteStatus.DRAFT


def test_lock_saves_the_draft_and_leaves_no_note_text(
    qtbot: QtBot,
    main_window: MainWindow,
    editor: NoteEditorPage,
    practice: Practice,
    clock: Clock,
    options: VaultOptions,
    tmp_path: Path,
    widget_text: Callable[[], str],
) -> None:
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    type_section(qtbot, editor.editors[0], "CANARY first ")
    type_section(qtbot, editor.editors[0], "CANARY pending")  # not yet written: saved at lock
    qtbot.mouseClick(editor.sign_button, Qt.MouseButton.LeftButton)  # a dialog is open too
    assert "CANARY" in widget_text()
    main_window.lock()
    assert not practice.is_open
    assert "CANARY" not in widget_text()
    assert editor.note is None and editor.editors == [] and editor.history.count() == 0
    reopened = Practice.unlock(tmp_path / "vault", PASSPHRASE, options=options)
    try:
        assert reopened.open_note(note.id).text("subjective") == "CANARY first CANARY pending"
        assert reopened.open_note(note.id).status is NoteStatus.DRAFT
        closed = [json.loads(e.details) for e in reopened.audit_entries() if e.object_id == note.id]
        assert closed  # (the entries hold ids only: no note text in the audit log)
        assert "CANARY" not in json.dumps(closed)
    finally:
        reopened.lock()


@pytest.mark.parametrize("leave", ["close", "lock"])
def test_writes_go_in_order_and_a_close_or_lock_right_after_typing_keeps_the_text(
    qtbot: QtBot,
    main_window: MainWindow,
    editor: NoteEditorPage,
    practice: Practice,
    clock: Clock,
    options: VaultOptions,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    leave: str,
) -> None:
    """Autosaves are written off the UI thread, one after another in the order typed; the
    window closing (or the app locking) right after the last keystroke, with writes still on
    their way behind a busy vault, keeps the last text, not an earlier one."""
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    ui_thread = threading.current_thread()
    written: list[str] = []
    save_draft = practice.save_draft
    busy = threading.Event()  # the vault is busy until this is set

    def busy_vault(note_id: str, texts: dict[str, str]) -> object:
        if threading.current_thread() is not ui_thread:
            busy.wait(10)  # the writes queue up behind each other meanwhile
            written.append(texts["subjective"])
        return save_draft(note_id, texts)

    monkeypatch.setattr(practice, "save_draft", busy_vault)
    type_section(qtbot, editor.editors[0], "CANARY last words")
    assert editor.writing  # (writes are still on their way)
    free = threading.Timer(0.3, busy.set)  # the vault is free again just after the close
    free.start()
    # Closing (before the app's on-quit backup) or locking returns only once every write on its
    # way has landed, in order: none runs later against a copy already taken or a locked vault.
    if leave == "close":
        main_window.prepare_quit()
        assert written[-1:] == ["CANARY last words"]
        stored = practice.open_note(note.id).text("subjective")
    else:
        main_window.lock()
        assert written[-1:] == ["CANARY last words"]
        reopened = Practice.unlock(tmp_path / "vault", PASSPHRASE, options=options)
        try:
            stored = reopened.open_note(note.id).text("subjective")
        finally:
            reopened.lock()
    assert stored == "CANARY last words"
    assert written and all(b.startswith(a) for a, b in itertools.pairwise(written))


def test_screenshots(
    qtbot: QtBot,
    main_window: MainWindow,
    editor: NoteEditorPage,
    practice: Practice,
    clock: Clock,
    screenshot_dir: Path | None,
) -> None:
    """A realistic, obviously fake SOAP draft being written, and a signed note with history."""
    note = soap_draft(practice, clock)
    main_window.open_note(note.id)
    fake = {
        "subjective": (
            "Client reports a calmer week. Slept 6-7 hours on most nights after keeping the "
            "wind-down routine (no screens after 22:00, short breathing practice).\n"
            "Two episodes of worry about the work review on Thursday; used the worry-time "
            'technique once and found it "surprisingly helpful".'
        ),
        "objective": (
            "Arrived on time, casually dressed, good eye contact. Affect brighter than last "
            "session, speech normal in rate and volume. PHQ-9: 9 (was 14). GAD-7: 8 (was 12)."
        ),
        "assessment": "Mild depressive symptoms, improving. Sleep hygiene gains are holding. "
        "No risk indicators today.",
        "plan": "Continue weekly CBT sessions. Homework: sleep diary and one",
    }
    for section_editor in editor.editors:
        section_editor.setPlainText(fake[section_editor.key])
    qtbot.waitUntil(lambda: not editor.writing)
    clock.advance(3)
    qtbot.waitUntil(lambda: editor.save_state.text().startswith("Saved at"), timeout=3000)
    plan = editor.editors[-1]
    plan.setFocus()
    plan.moveCursor(plan.textCursor().MoveOperation.End)
    qtbot.keyClicks(plan, " behavioural")
    qtbot.wait(50)
    image = main_window.grab()
    assert image.width() == 1180 and image.height() == 760
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "note-editor.png"))

    practice.save_draft(note.id, {**fake, "plan": fake["plan"] + " pleasant activity."})
    practice.sign_note(note.id)
    clock.advance(26 * 3600)
    amendment = practice.amend_note(note.id, "PHQ-9 score mistyped")
    practice.save_draft(amendment.id, {"objective": fake["objective"].replace("9 (was", "10 (was")})
    practice.sign_note(amendment.id)
    main_window.open_note(note.id)
    qtbot.wait(50)
    image = main_window.grab()
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "signed-note.png"))
