"""Key safety in the app (issue 9): a new recovery key from Settings switches only once the new
key has been shown and confirmed (cancelled or locked before that, the old key stays in force); an
older copy of the vault than one already seen is a clear choice at unlock, not a silent open; and
a key change that a crash interrupted is explained after the next unlock."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytestqt.qtbot import QtBot

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice, status
from desktop.core.unlock_notices import ROLLBACK_ACCEPTED, key_change_notice
from desktop.ui.app import AppController
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import Qt, QWidget
from desktop.ui.rekey_dialog import RekeyDialog
from desktop.ui.unlock_window import UnlockWindow
from tests.desktop.ui.conftest import PASSPHRASE

LEFT = Qt.MouseButton.LeftButton


def save(widget: QWidget, folder: Path | None, name: str) -> None:
    if folder is not None:
        widget.grab().save(str(folder / name))


def open_rekey(qtbot: QtBot, window: MainWindow) -> RekeyDialog:
    window.show_settings()
    qtbot.mouseClick(window.settings_page.rekey_button, LEFT)
    dialog = window.settings_page.rekey_dialog
    assert isinstance(dialog, RekeyDialog) and dialog.isVisible()
    return dialog


def reach_the_new_key(qtbot: QtBot, dialog: RekeyDialog) -> str:
    qtbot.keyClicks(dialog.passphrase, PASSPHRASE)
    qtbot.mouseClick(dialog.prepare_button, LEFT)
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.key_page, timeout=10_000)
    return dialog.key_panel.key()


def test_new_recovery_key_switches_only_once_confirmed(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, tmp_path: Path,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    vault = tmp_path / "vault"
    dialog = open_rekey(qtbot, main_window)
    qtbot.keyClicks(dialog.passphrase, "not my passphrase")
    qtbot.mouseClick(dialog.prepare_button, LEFT)
    qtbot.waitUntil(dialog.start_error.isVisible, timeout=10_000)
    assert "not your current passphrase" in dialog.start_error.text()
    dialog.passphrase.clear()
    key = reach_the_new_key(qtbot, dialog)
    assert len(key.split("-")) == 8
    assert not dialog.switch_button.isEnabled()  # not before it is written down
    save(dialog, screenshot_dir, "new-recovery-key.png")
    qtbot.mouseClick(dialog.keep_button, LEFT)  # changed my mind
    assert not dialog.isVisible()
    assert status(vault).key_generation == 0
    assert not (vault / "vault.rekey").exists()

    dialog = open_rekey(qtbot, main_window)
    key = reach_the_new_key(qtbot, dialog)
    qtbot.keyClicks(dialog.key_panel.typed_back, key.rsplit("-", 1)[-1].lower())
    assert not dialog.switch_button.isEnabled()
    dialog.key_panel.written.setChecked(True)
    assert dialog.switch_button.isEnabled()
    qtbot.mouseClick(dialog.switch_button, LEFT)
    qtbot.waitUntil(lambda: dialog.pages.currentWidget() is dialog.done_page, timeout=20_000)
    assert dialog.key_panel.key() == ""  # shown once
    assert status(vault).key_generation == 1
    assert [e.action for e in practice.audit_entries()].count("vault.rekeyed") == 1


def test_locking_while_the_new_key_is_shown_changes_nothing(
    qtbot: QtBot, main_window: MainWindow, tmp_path: Path
) -> None:
    dialog = open_rekey(qtbot, main_window)
    reach_the_new_key(qtbot, dialog)
    main_window.settings_page.clear_phi()  # what locking does to every page
    assert not dialog.isVisible()
    assert status(tmp_path / "vault").key_generation == 0
    assert not (tmp_path / "vault" / "vault.rekey").exists()


def test_an_older_copy_is_a_choice_at_unlock(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions, screenshot_dir: Path | None
) -> None:
    vault, older = tmp_path / "vault", tmp_path / "older-copy"
    practice, _ = Practice.create(vault, PASSPHRASE, kdf=TEST_ONLY, options=options)
    practice.lock()
    shutil.copytree(vault, older)
    again = Practice.unlock(vault, PASSPHRASE, options=options)
    again.update_settings(again.settings)  # something newer than the copy
    again.lock()  # the anchor outside the folder now names the newer state
    shutil.rmtree(vault)
    shutil.copytree(older, vault)  # someone puts the older copy back

    controller = AppController(vault, options=options)
    window = controller.start()
    assert isinstance(window, UnlockWindow)
    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    qtbot.mouseClick(window.unlock_button, LEFT)
    qtbot.waitUntil(lambda: window.currentWidget() is window.rollback_page, timeout=10_000)
    assert controller.practice is None
    assert window.passphrase.text() == ""
    save(window, screenshot_dir, "unlock-older-copy.png")
    qtbot.mouseClick(window.refuse_rollback_button, LEFT)
    assert window.currentWidget() is window.unlock_page
    assert controller.practice is None and window._retry_accepting_rollback is None

    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    qtbot.mouseClick(window.unlock_button, LEFT)
    qtbot.waitUntil(lambda: window.currentWidget() is window.rollback_page, timeout=10_000)
    qtbot.mouseClick(window.accept_rollback_button, LEFT)
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    home = controller.window
    assert isinstance(home, MainWindow)
    assert ROLLBACK_ACCEPTED in home.unlock_notice.text()
    assert controller.practice is not None
    actions = [e.action for e in controller.practice.audit_entries()]
    assert "vault.rollback_accepted" in actions
    controller.shutdown()
    home.close()  # no second main window may linger (its shortcuts would be ambiguous)
    home.deleteLater()


def test_an_interrupted_key_change_is_explained(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions
) -> None:
    vault = tmp_path / "vault"
    practice, _ = Practice.create(vault, PASSPHRASE, kdf=TEST_ONLY, options=options)
    practice.prepare_rekey(PASSPHRASE)  # the new key was shown, then the power went
    practice.lock()
    controller = AppController(vault, options=options)
    window = controller.start()
    assert isinstance(window, UnlockWindow)
    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    qtbot.mouseClick(window.unlock_button, LEFT)
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    home = controller.window
    assert isinstance(home, MainWindow)
    notice = home.unlock_notice.text()
    assert key_change_notice("rekey-abandoned") in notice
    assert "earlier recovery key still works" in notice
    controller.shutdown()
    home.close()  # no second main window may linger (its shortcuts would be ambiguous)
    home.deleteLater()
