"""The first-run and unlock windows, driven like a person would."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions, vault_exists
from desktop.ui import formats, recovery_panel
from desktop.ui.app import AppController
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QLabel, Qt, QWidget
from desktop.ui.setup_window import SetupWindow
from desktop.ui.unlock_window import UnlockWindow

PASSPHRASE = "lantern meadow copper tide"


def save(widget: QWidget, folder: Path | None, name: str) -> None:
    image = widget.grab()
    assert not image.isNull() and image.width() > 100
    if folder is not None:
        image.save(str(folder / name))


def visible_texts(widget: QWidget) -> str:
    return "\n".join(label.text() for label in widget.findChildren(QLabel) if label.isVisible())


def test_first_run_creates_vault_and_shows_recovery_key_once(
    qtbot: QtBot,
    tmp_path: Path,
    options: VaultOptions,
    screenshot_dir: Path | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault_dir = tmp_path / "vault"
    controller = AppController(vault_dir, kdf=TEST_ONLY, options=options)
    window = controller.start()
    assert isinstance(window, SetupWindow)
    assert window.windowTitle() == "Quietroom - set up"
    # 1. who signs the notes
    assert not window.next_button.isEnabled()
    qtbot.keyClicks(window.therapist_name, "Dr Sam Rivera")
    qtbot.keyClicks(window.credentials, "LCSW")
    save(window, screenshot_dir, "setup-welcome.png")
    qtbot.keyClick(window.credentials, Qt.Key.Key_Return)
    assert window.currentWidget() is window.passphrase_page
    # 2. the passphrase: zxcvbn's estimate gates it, then the confirmation
    assert not window.create_button.isEnabled()
    qtbot.keyClicks(window.passphrase, "password1234")
    assert window.meter.value() < 3
    assert window.hint.text() == "Too easy to guess: add another unusual word or two"
    qtbot.keyClicks(window.confirm, "password1234")
    assert not window.create_button.isEnabled()
    window.passphrase.clear()
    window.confirm.clear()
    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    assert window.meter.value() >= 3
    assert window.meter.format() in {"Strong", "Very strong"}
    qtbot.keyClicks(window.confirm, PASSPHRASE[:-1] + "X")
    assert not window.create_button.isEnabled()
    assert window.hint.text() == "The two entries differ"
    window.confirm.clear()
    qtbot.keyClicks(window.confirm, PASSPHRASE)
    assert window.create_button.isEnabled()
    save(window, screenshot_dir, "first-run.png")
    # 3. creating, with progress by step
    qtbot.mouseClick(window.create_button, Qt.MouseButton.LeftButton)
    assert window.currentWidget() is window.progress_page
    qtbot.waitUntil(lambda: window.currentWidget() is window.recovery_page, timeout=10_000)
    assert window.progress.value() == window.progress.maximum()
    assert vault_exists(vault_dir)
    key = window.recovery_label.text()
    assert len(key.split("-")) == 8
    assert window.passphrase.text() == ""  # the passphrase does not linger in the widget
    save(window, screenshot_dir, "recovery-key.png")
    # print / save as PDF: one page, written atomically where the therapist chose
    sheet = tmp_path / "usb" / "recovery.pdf"
    sheet.parent.mkdir()
    monkeypatch.setattr(recovery_panel, "ask_save_path", lambda parent, suggested: sheet)
    qtbot.mouseClick(window.pdf_button, Qt.MouseButton.LeftButton)
    pdf = sheet.read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    document = QPdfDocument()
    assert document.load(str(sheet)) == QPdfDocument.Error.None_
    assert document.pageCount() == 1
    assert key in document.getAllText(0).text()
    document.close()
    assert sorted(p.name for p in sheet.parent.iterdir()) == ["recovery.pdf"]
    assert "Saved recovery.pdf" in window.sheet_status.text()
    # continuing needs the written-down check and the last group typed back
    assert not window.continue_button.isEnabled()
    window.written.setChecked(True)
    assert not window.continue_button.isEnabled()
    qtbot.keyClicks(window.typed_back, key.rsplit("-", 1)[-1].lower())
    assert window.continue_button.isEnabled()
    qtbot.mouseClick(window.continue_button, Qt.MouseButton.LeftButton)
    assert window.recovery_label.text() == ""
    # The video-sessions step can be skipped (a session service can be set up later).
    assert window.currentWidget() is window.video_page
    qtbot.mouseClick(window.skip_video_button, Qt.MouseButton.LeftButton)
    home = controller.window
    assert isinstance(home, MainWindow)
    assert home.windowTitle() == "Quietroom"
    settings = home.ctx.practice.settings  # the name signs the notes
    assert (settings.therapist_name, settings.therapist_credentials) == ("Dr Sam Rivera", "LCSW")
    assert not home.unlock_notice.isVisible()  # nothing to report after a clean first run
    home.lock()
    assert isinstance(controller.window, UnlockWindow)
    controller.window.close()


def test_unlock_wrong_then_right_passphrase(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions, screenshot_dir: Path | None
) -> None:
    from desktop.core.practice import Practice

    vault_dir = tmp_path / "vault"
    Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)[0].lock()
    controller = AppController(vault_dir, options=options)
    window = controller.start()
    assert isinstance(window, UnlockWindow)
    save(window, screenshot_dir, "unlock.png")
    qtbot.keyClicks(window.passphrase, "not it at all")
    qtbot.keyClick(window.passphrase, Qt.Key.Key_Return)
    qtbot.waitUntil(window.error.isVisible, timeout=10_000)
    # kind, written for a typo, and the same for every failure (unlock_window.NOT_OPENED)
    assert window.error.text().startswith("That passphrase did not open Quietroom.")
    assert "Caps Lock" in window.error.text()
    assert window.passphrase.isEnabled()
    save(window, screenshot_dir, "unlock-error.png")
    window.passphrase.clear()
    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    qtbot.mouseClick(window.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    home = controller.window
    assert isinstance(home, MainWindow)
    notice = home.unlock_notice.text()
    assert "1 failed unlock attempt since you last opened Quietroom; the last" in notice
    failed_at = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the options' clock
    assert f"{formats.date_text(failed_at)} at {formats.time_text(failed_at)}." in notice
    assert "T09:00" not in notice and "Z" not in notice and "UTC" not in notice
    assert home.unlock_banner.isVisible()
    qtbot.mouseClick(home.dismiss_notice, Qt.MouseButton.LeftButton)  # it can be dismissed
    assert not home.unlock_banner.isVisible()
    practice = controller.practice
    assert practice is not None
    # Ctrl+L locks
    home.show()
    qtbot.keyClick(home, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert isinstance(controller.window, UnlockWindow)
    assert controller.practice is None
    qtbot.waitUntil(lambda: not practice.is_open, timeout=10_000)
    assert PASSPHRASE not in visible_texts(controller.window)
    controller.window.close()


def test_forgotten_passphrase_recovery_key_opens_and_sets_a_new_one(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions
) -> None:
    from desktop.core.practice import Practice

    vault_dir = tmp_path / "vault"
    practice, recovery = Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)
    practice.lock()
    key = recovery.formatted()
    controller = AppController(vault_dir, options=options)
    window = controller.start()
    assert isinstance(window, UnlockWindow)
    qtbot.mouseClick(window.forgot_button, Qt.MouseButton.LeftButton)
    assert window.currentWidget() is window.recovery_page
    new = "violet harbour gravel kite"
    # a typo in the key is refused with the domain's message; nothing changes
    typo = key[:-1] + ("A" if key[-1] != "A" else "B")
    qtbot.keyClicks(window.recovery_key, typo)
    qtbot.keyClicks(window.new_passphrase, "short")
    assert not window.recover_button.isEnabled()
    window.new_passphrase.clear()
    qtbot.keyClicks(window.new_passphrase, new)
    qtbot.keyClicks(window.new_confirm, new)
    assert window.recover_button.isEnabled()
    qtbot.mouseClick(window.recover_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(window.recovery_error.isVisible, timeout=10_000)
    assert "recovery key" in window.recovery_error.text().lower()
    assert isinstance(controller.window, UnlockWindow)
    window.recovery_key.clear()
    qtbot.keyClicks(window.recovery_key, key.lower())
    qtbot.keyClick(window.new_confirm, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    home = controller.window
    assert isinstance(home, MainWindow)
    assert "recovery key" in home.unlock_notice.text()
    home.lock()
    qtbot.waitUntil(lambda: controller.locking is None, timeout=10_000)
    # the new passphrase opens the vault, the old one no longer does
    Practice.unlock(vault_dir, new, options=options).lock()
    with pytest.raises(Exception, match="could not unlock"):
        Practice.unlock(vault_dir, PASSPHRASE, options=options)
    assert isinstance(controller.window, UnlockWindow)
    controller.window.close()


def test_the_installed_command_starts_at_the_unlock_window(
    tmp_path: Path, options: VaultOptions
) -> None:
    """The whole process, as a therapist starts it (offscreen), stops at its first window."""
    from desktop.core.practice import Practice

    vault_dir = tmp_path / "vault"
    Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)[0].lock()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QUIETROOM_STARTUP_PROBE="1",
               XDG_STATE_HOME=str(tmp_path / "state"))  # fmt: skip
    code = "import sys; from desktop.cli.main import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "--vault", str(vault_dir)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "shown UnlockWindow"
    fresh = tmp_path / "new-vault"
    done = subprocess.run([sys.executable, "-c", code, "--vault", str(fresh)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.stdout.strip() == "shown SetupWindow"
    assert not fresh.exists() or not any(fresh.iterdir())  # nothing written before setup


def test_an_unlock_typed_during_the_lock_waits_for_it(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vault locks in the background after its on-lock backup; unlocking meanwhile waits
    for that instead of failing with "open in another process"."""
    import threading

    from desktop.core.backups import BackupService
    from desktop.core.practice import Practice

    vault_dir = tmp_path / "vault"
    Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)[0].lock()
    controller = AppController(vault_dir, options=options)
    window = controller.start()
    assert isinstance(window, UnlockWindow)
    qtbot.keyClicks(window.passphrase, PASSPHRASE)
    qtbot.keyClick(window.passphrase, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    release = threading.Event()

    def slow_backup(self: BackupService, trigger: object) -> None:
        release.wait(10)  # a large on-lock backup still being written

    monkeypatch.setattr(BackupService, "maybe_back_up", slow_backup)
    main = controller.window
    assert isinstance(main, MainWindow)
    main.lock()
    unlock = controller.window
    assert isinstance(unlock, UnlockWindow)
    qtbot.keyClicks(unlock.passphrase, PASSPHRASE)
    qtbot.keyClick(unlock.passphrase, Qt.Key.Key_Return)
    qtbot.wait(300)
    assert controller.window is unlock and not unlock.error.isVisible()  # waiting, no error
    release.set()
    qtbot.waitUntil(lambda: isinstance(controller.window, MainWindow), timeout=10_000)
    assert controller.locking is None and controller.lock_error is None
    reopened = controller.window
    assert isinstance(reopened, MainWindow)
    reopened.lock()
    qtbot.waitUntil(lambda: controller.locking is None, timeout=10_000)
    controller.window.close()


def test_the_app_names_its_icon_and_desktop_entry(qtbot: QtBot) -> None:
    from desktop.ui.app import identify
    from desktop.ui.qt import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    identify(app)
    assert app.desktopFileName() == "quietroom"  # packaging/linux/quietroom.desktop
    assert not app.windowIcon().isNull()
    assert app.windowIcon().availableSizes()[0].width() >= 256
