"""One therapist's morning, end to end, driven like a person (keys and clicks through qtbot) with
the real AppController: first run, a new client, a SOAP note written, signed and amended, a
search, auto-lock, unlock and the audit log. Along the way no window title names the client;
after the lock no widget holds anything about them; no settings or state file ever does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.audit_story import short_name
from desktop.core.notes import NoteStatus
from desktop.core.search import NoteHit
from desktop.ui.app import AppController
from desktop.ui.client_forms import ClientFormDialog, NewNoteDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.audit_page import AuditPage
from desktop.ui.pages.note_editor import NoteEditorPage, ReasonDialog
from desktop.ui.pages.search_page import HIT_ROLE
from desktop.ui.qt import QApplication, QLabel, QMessageBox, QSettings, Qt, QWidget
from desktop.ui.setup_window import SetupWindow
from desktop.ui.unlock_window import UnlockWindow

PASSPHRASE = "lantern meadow copper tide"
THERAPIST = "Dr Imogen Halvorsen"
CLIENT = "Perpetua Vantongeren"
PHONE = "555-0193"
DIAGNOSIS = "F43.22"
CANARY = "QUILLWORT"
SOAP = {
    "subjective": f"Drinks {CANARY} tea before bed; racing thoughts fewer since the journal.",
    "objective": "Bright affect, steady speech, turning a brass thimble in her hands.",
    "assessment": "Adjustment symptoms easing; the thimble habit looks self-soothing.",
    "plan": "Keep the evening journal; next rung of the greenhouse exposure ladder.",
}
AMENDED_OBJECTIVE = "Bright affect, steady speech, turning a pewter thimble in her hands."
REASON = "thimble metal misremembered"
# Everything typed about the client: none of it may outlive the lock on screen or leave the vault.
PHI = (CLIENT, *CLIENT.split(), PHONE, DIAGNOSIS, CANARY, *SOAP.values(), AMENDED_OBJECTIVE, REASON)
EXPECTED_ACTIONS = (
    "client.created", "client.opened", "note.created", "note.edited", "note.signed",
    "note.amended", "search.performed", "note.opened", "vault.locked", "vault.unlock_failed",
    "vault.unlocked",
)  # fmt: skip

LEFT = Qt.MouseButton.LeftButton
ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
WAIT_MS = 20_000  # generous: other work may be loading the machine


class VaultClock:
    """The vault's clock: moves only when the test says so (the autosave interval is 2 s)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def vault_clock() -> VaultClock:
    return VaultClock()


@pytest.fixture
def options(tmp_path: Path, vault_clock: VaultClock) -> VaultOptions:
    """As conftest's, but on a clock the test can move (to let the autosave interval pass)."""
    return VaultOptions(actor="user:test", clock=vault_clock, state_dir=tmp_path / "state")


# -- helpers ---------------------------------------------------------------------------------------


def redirect_qsettings(folder: Path) -> Callable[[], None]:
    """Send every QSettings (INI and native) under ``folder``; returns the undo. Qt has no getter
    for the search paths, so the old ones are read from a probe object's file name."""
    scope = QSettings.Scope.UserScope
    formats = (QSettings.Format.IniFormat, QSettings.Format.NativeFormat)

    def current_path(fmt: QSettings.Format) -> str:
        probe = QSettings(fmt, scope, "probe-organization", "probe-application")
        return str(Path(probe.fileName()).parent.parent)

    old_default = QSettings.defaultFormat()
    old_paths = {fmt: current_path(fmt) for fmt in formats}
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in formats:
        QSettings.setPath(fmt, scope, str(folder))

    def restore() -> None:
        QSettings.setDefaultFormat(old_default)
        for fmt, path in old_paths.items():
            QSettings.setPath(fmt, scope, path)

    return restore


def assert_titles_private(main_window: MainWindow) -> None:
    """The window title reaches task bars and screen-sharing pickers: never a client's name."""
    assert main_window.windowTitle() == "Quietroom"
    for window in QApplication.topLevelWidgets():
        title = window.windowTitle()
        assert not any(part in title for part in CLIENT.split()), title


def activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def visible_dialog(qtbot: QtBot, parent: QWidget, kind: type[QWidget]) -> QWidget:
    """The one visible dialog of that kind the page has just opened (non-blocking)."""
    found: list[QWidget] = []

    def one_visible() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return len(found) == 1

    qtbot.waitUntil(one_visible, timeout=WAIT_MS)
    return found[0]


def click_button(qtbot: QtBot, box: QWidget, text: str) -> None:
    assert isinstance(box, QMessageBox)
    qtbot.waitUntil(box.isVisible, timeout=WAIT_MS)
    (button,) = [b for b in box.buttons() if b.text() == text]
    qtbot.mouseClick(button, LEFT)


def wait_saved(qtbot: QtBot, editor: NoteEditorPage) -> None:
    qtbot.waitUntil(lambda: editor.save_state.text().startswith("Saved at"), timeout=WAIT_MS)


def laid_out(labels: tuple[QLabel, ...]) -> bool:
    """The labels' new text has been laid out (a line high at least), as the next paint shows."""
    return all(label.height() >= label.fontMetrics().height() for label in labels)


def actions(main_window: MainWindow) -> list[str]:
    """Every audit action so far (raw entries: reading them writes nothing)."""
    return [entry.action for entry in main_window.ctx.practice.audit_entries()]


def audit_rows(page: AuditPage) -> list[list[str]]:
    model = page.table.model()
    return [
        [str(model.data(model.index(r, c))) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]


def files_holding_phi(folder: Path) -> list[str]:
    """``file: text`` for every file under ``folder`` holding any PHI (UTF-8, any case)."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        found += [f"{path}: {t}" for t in PHI if t.lower().encode("utf-8") in data]
    return found


# -- the morning -----------------------------------------------------------------------------------


def test_a_therapists_morning(
    qtbot: QtBot,
    tmp_path: Path,
    options: VaultOptions,
    vault_clock: VaultClock,
    fake_clock: Any,
    widget_text: Callable[[], str],
    screenshot_dir: Path | None,
) -> None:
    # 1. QSettings write under tmp_path only (restored at the end, pass or fail).
    # (6. After every step below, assert_titles_private: no window title names the client.)
    qsettings_dir = tmp_path / "qsettings"
    restore_qsettings = redirect_qsettings(qsettings_dir)
    vault_dir = tmp_path / "vault"
    controller = AppController(vault_dir, kdf=TEST_ONLY, options=options, idle_clocks=(fake_clock,))
    try:
        # 2. First run: who signs the notes, the passphrase, the recovery key typed back.
        setup = controller.start()
        assert isinstance(setup, SetupWindow)
        activate(qtbot, setup)
        qtbot.keyClicks(setup.therapist_name, THERAPIST)
        qtbot.mouseClick(setup.next_button, LEFT)
        assert setup.currentWidget() is setup.passphrase_page
        qtbot.keyClicks(setup.passphrase, PASSPHRASE)
        qtbot.keyClicks(setup.confirm, PASSPHRASE)
        qtbot.mouseClick(setup.create_button, LEFT)
        qtbot.waitUntil(lambda: setup.currentWidget() is setup.recovery_page, timeout=WAIT_MS)
        last_group = setup.recovery_label.text().rsplit("-", 1)[-1]
        qtbot.keyClicks(setup.typed_back, last_group.lower())
        setup.written.setFocus()
        qtbot.keyClick(setup.written, Qt.Key.Key_Space)
        assert setup.written.isChecked() and setup.continue_button.isEnabled()
        qtbot.mouseClick(setup.continue_button, LEFT)
        qtbot.mouseClick(setup.skip_video_button, LEFT)  # no session service yet
        main_window = controller.window
        assert isinstance(main_window, MainWindow)
        practice = main_window.ctx.practice
        assert practice.settings.therapist_name == THERAPIST
        assert main_window.current_page() is main_window.clients_page
        assert_titles_private(main_window)

        # 3. A new client from the Clients page (Ctrl+N); saving opens the client's page.
        activate(qtbot, main_window)
        clients = main_window.clients_page
        qtbot.keyClick(clients.filter, Qt.Key.Key_N, CTRL)
        form = visible_dialog(qtbot, clients, ClientFormDialog)
        assert isinstance(form, ClientFormDialog)
        assert_titles_private(main_window)
        qtbot.keyClicks(form.name, CLIENT)
        qtbot.keyClicks(form.phone, PHONE)
        qtbot.keyClicks(form.diagnosis_codes, DIAGNOSIS)
        qtbot.mouseClick(form.save_button, LEFT)
        qtbot.waitUntil(lambda: not form.isVisible(), timeout=WAIT_MS)
        page = main_window.client_page
        assert main_window.current_page() is page
        qtbot.waitUntil(lambda: page.name_label.text() == CLIENT, timeout=WAIT_MS)
        assert page.detail_labels["phone"].text() == PHONE
        assert page.detail_labels["diagnosis_codes"].text() == DIAGNOSIS
        assert_titles_private(main_window)

        # 4. A SOAP note from the Notes tab: typed, autosaved, signed, amended with a reason.
        activate(qtbot, main_window)
        qtbot.keyClick(page.tabs, Qt.Key.Key_N, ALT)
        assert page.tabs.currentIndex() == 2
        qtbot.mouseClick(page.new_note_button, LEFT)
        new_note = visible_dialog(qtbot, page, NewNoteDialog)
        assert isinstance(new_note, NewNoteDialog)
        assert new_note.template.currentText() == "SOAP"
        assert_titles_private(main_window)
        qtbot.mouseClick(new_note.save_button, LEFT)
        qtbot.waitUntil(lambda: not new_note.isVisible(), timeout=WAIT_MS)
        activate(qtbot, main_window)  # back from the dialog (the offscreen platform has no WM)
        editor = main_window.note_editor
        assert main_window.current_page() is editor
        assert [e.key for e in editor.editors] == list(SOAP)
        assert QApplication.focusWidget() is editor.editors[0]
        for section in editor.editors:  # type each section, Tab to the next
            assert QApplication.focusWidget() is section
            qtbot.keyClicks(section, SOAP[section.key])
            qtbot.keyClick(section, Qt.Key.Key_Tab)
        assert editor.save_state.text() == "Saving…"  # the rest waits for the autosave interval
        qtbot.waitUntil(lambda: not editor.writing, timeout=WAIT_MS)  # typing written
        vault_clock.advance(3)
        wait_saved(qtbot, editor)
        assert_titles_private(main_window)

        qtbot.mouseClick(editor.sign_button, LEFT)
        assert_titles_private(main_window)  # the confirmation is a window of its own
        click_button(qtbot, editor.dialogs[-1], "Sign and lock")
        original = editor.note
        assert original is not None and original.status is NoteStatus.SIGNED
        assert CANARY in editor.reader.toPlainText()

        activate(qtbot, main_window)
        qtbot.mouseClick(editor.amend_button, LEFT)
        reason = editor.dialogs[-1]
        assert isinstance(reason, ReasonDialog)
        qtbot.waitUntil(reason.isVisible, timeout=WAIT_MS)
        assert_titles_private(main_window)
        qtbot.keyClicks(reason.reason, REASON)
        qtbot.mouseClick(reason.ok, LEFT)
        amendment = editor.note
        assert amendment is not None and amendment.parent_id == original.id
        activate(qtbot, main_window)  # back from the dialog (the offscreen platform has no WM)
        objective = editor.editors[1]
        objective.setFocus()
        objective.selectAll()
        qtbot.keyClicks(objective, AMENDED_OBJECTIVE)
        assert editor.save_state.text() == "Saving…"
        qtbot.waitUntil(lambda: not editor.writing, timeout=WAIT_MS)  # typing written
        vault_clock.advance(3)
        wait_saved(qtbot, editor)
        qtbot.keyClick(objective, Qt.Key.Key_Return, CTRL)  # Ctrl+Enter signs
        click_button(qtbot, editor.dialogs[-1], "Sign and lock")
        assert editor.note is not None and editor.note.id == amendment.id
        assert editor.note.status is NoteStatus.SIGNED
        assert AMENDED_OBJECTIVE in editor.reader.toPlainText()
        assert_titles_private(main_window)

        # 5. Ctrl+K, the canary word, Enter to the results, Enter opens the first note found.
        activate(qtbot, main_window)
        qtbot.keyClick(editor.reader, Qt.Key.Key_K, CTRL)
        search = main_window.search_page
        assert main_window.current_page() is search
        qtbot.waitUntil(search.field.hasFocus, timeout=WAIT_MS)
        qtbot.keyClicks(search.field, CANARY.lower())
        qtbot.waitUntil(lambda: bool(search.hit_items()), timeout=WAIT_MS)
        found = [item.data(0, HIT_ROLE) for item in search.hit_items()]
        assert all(isinstance(hit, NoteHit) for hit in found)
        assert {hit.note_id for hit in found} == {original.id, amendment.id}
        assert_titles_private(main_window)
        opened_before = actions(main_window).count("note.opened")
        qtbot.keyClick(search.field, Qt.Key.Key_Return)  # into the results, first hit selected
        assert search.results.hasFocus()
        qtbot.keyClick(search.results, Qt.Key.Key_Return)
        assert main_window.current_page() is editor
        assert editor.note is not None and editor.note.id == found[0].note_id
        assert CANARY in editor.reader.toPlainText()
        assert actions(main_window).count("note.opened") == opened_before + 1
        assert_titles_private(main_window)
        signed_by = (editor.author, editor.signed_at, editor.signature, editor.check)
        assert editor.author.text() == f"Signed by {THERAPIST}"
        assert editor.check.text() == "✓ Signature verified"
        qtbot.waitUntil(lambda: laid_out(signed_by), timeout=WAIT_MS)  # before the picture
        image = main_window.grab()
        assert (image.width(), image.height()) == (1180, 760)
        if screenshot_dir is not None:
            image.save(str(screenshot_dir / "main-window.png"))

        assert CANARY in widget_text() and CLIENT in widget_text()  # (so the check below bites)

        # 7. Five idle minutes: auto-lock; the unlock window at once, the vault locked behind it.
        fake_clock.advance(5 * 60 + 1)
        main_window.idle.check()
        unlock = controller.window
        assert isinstance(unlock, UnlockWindow)
        assert controller.practice is None
        qtbot.waitUntil(
            lambda: controller.locking is None and not practice.is_open, timeout=WAIT_MS
        )
        assert controller.lock_error is None
        text = widget_text()
        assert [t for t in PHI if t.lower() in text.lower()] == []

        # 8. A typo first (recorded in the state folder), then the passphrase; the audit log
        # (Alt+3) lists every access of the morning, newest first.
        activate(qtbot, unlock)
        qtbot.keyClicks(unlock.passphrase, PASSPHRASE[:-1] + "x")
        qtbot.keyClick(unlock.passphrase, Qt.Key.Key_Return)
        qtbot.waitUntil(unlock.error.isVisible, timeout=WAIT_MS)
        assert any(options.state_dir.rglob("*.json"))  # the failure is counted outside the vault
        assert files_holding_phi(options.state_dir) == []  # (the count is cleared on unlock)
        unlock.passphrase.clear()
        qtbot.keyClicks(unlock.passphrase, PASSPHRASE)
        qtbot.keyClick(unlock.passphrase, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=WAIT_MS)
        main_window = controller.window
        assert isinstance(main_window, MainWindow)
        assert_titles_private(main_window)
        activate(qtbot, main_window)
        qtbot.keyClick(main_window, Qt.Key.Key_3, ALT)
        audit = main_window.audit_page
        assert main_window.current_page() is audit
        qtbot.waitUntil(lambda: not audit.loading and audit.model.rowCount() > 0, timeout=WAIT_MS)
        listed = [r.action for r in audit.shown_records]
        assert [a for a in EXPECTED_ACTIONS if a not in listed] == []
        assert listed.index("vault.unlocked") < listed.index("vault.locked")  # newest first
        said = {row[1] for row in audit_rows(audit)}  # the log reads as sentences
        assert {
            f"You added {short_name(CLIENT)} as a client",
            f"You opened {short_name(CLIENT)}'s record",
        } <= said
        objects = {(r.action, r.object_id) for r in audit.shown_records}
        assert {
            ("note.created", original.id),
            ("note.signed", original.id),
            ("note.amended", amendment.id),
            ("note.signed", amendment.id),
            ("note.opened", found[0].note_id),  # the search result opened
        } <= objects
        assert_titles_private(main_window)
        reopened = controller.practice
        assert reopened is not None
        details = [entry.details for entry in reopened.audit_entries()]
        assert [t for t in PHI if any(t.lower() in d.lower() for d in details)] == []

        main_window.lock()  # the end of the morning
        assert isinstance(controller.window, UnlockWindow)
        qtbot.waitUntil(
            lambda: controller.locking is None and not reopened.is_open, timeout=WAIT_MS
        )

        # 9. Nothing about the client in settings or state files, nor in plain text in the vault.
        assert files_holding_phi(qsettings_dir) == []  # (Quietroom writes none at all today)
        assert files_holding_phi(options.state_dir) == []
        assert files_holding_phi(vault_dir) == []
    finally:
        shut_down(qtbot, controller)
        restore_qsettings()


def shut_down(qtbot: QtBot, controller: AppController) -> None:
    """Lock what is still open (a failed step leaves the vault unlocked) and close the window."""
    window = controller.window
    if isinstance(window, MainWindow):
        window.lock()
    qtbot.waitUntil(lambda: controller.locking is None, timeout=WAIT_MS)
    window = controller.window
    if window is not None:
        window.close()
