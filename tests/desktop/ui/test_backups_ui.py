"""The Backups page, driven like a person would: choose a folder, back up now with a progress bar,
verify, cancel, restore into a new folder; and the automatic backup when the app locks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from crypto.backup import WrongKeyError
from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import VaultOptions
from crypto.vault_backup import BackupSecret, verify_backup
from desktop.core.backup_settings import BackupSettings
from desktop.core.backups import (
    BackupService,
    Phase,
    RestoreKey,
    RestoreRequest,
    Step,
    has_backup_passphrase,
    restore,
)
from desktop.core.practice import Practice
from desktop.core.settings import PracticeSettings
from desktop.ui import formats
from desktop.ui.app import AppController
from desktop.ui.main_window import MainWindow
from desktop.ui.pages import backups_page
from desktop.ui.pages.backups_page import BackupsPage, RestoreDialog
from desktop.ui.qt import QLabel, Qt, QThreadPool
from desktop.ui.unlock_window import UnlockWindow

PASSPHRASE = "lantern meadow copper tide"
NEW_PASSPHRASE = "harbour violet seven stones"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def options(tmp_path: Path, clock: Clock) -> VaultOptions:
    """The shared fixtures' options, with a clock the tests can move."""
    return VaultOptions(actor="user:test", clock=clock, state_dir=tmp_path / "state")


@pytest.fixture
def created(tmp_path: Path, options: VaultOptions) -> Iterator[tuple[Practice, RecoveryKey]]:
    """A practice with a dozen demo clients (a vault of several 64 KiB chunks) and its recovery
    key."""
    opened, recovery = Practice.create(
        tmp_path / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options
    )
    opened.update_settings(PracticeSettings(therapist_name="Dr Ada Test"))
    opened.fill_demo(12, 8)
    try:
        yield opened, recovery
    finally:
        if opened.is_open:
            opened.lock()


@pytest.fixture
def practice(created: tuple[Practice, RecoveryKey]) -> Practice:
    return created[0]


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    folder = tmp_path / "usb-drive"
    folder.mkdir()
    return folder


def open_page(window: MainWindow) -> BackupsPage:
    window.show_backups()
    page = window.backups_page
    assert window.stack.currentWidget() is page
    return page


def wait_idle(qtbot: QtBot, page: BackupsPage) -> None:
    qtbot.waitUntil(lambda: page.operation is None, timeout=20_000)
    # the history is re-read off the UI thread after each operation
    qtbot.waitUntil(lambda: not page.history_loading, timeout=10_000)


def wait_for_workers() -> None:
    """Every background job has returned (a cancelled one removes its partial file on its way
    out, after the page has already moved on)."""
    assert QThreadPool.globalInstance().waitForDone(20_000)


def backups_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def choose(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setattr(backups_page, "ask_folder", lambda *args: str(folder))


def service_of(window: MainWindow) -> BackupService:
    assert window.ctx.backups is not None
    return window.ctx.backups


def gate_first_backup(monkeypatch: pytest.MonkeyPatch, service: BackupService) -> threading.Event:
    """The page's next backup pauses after its first written chunk until it is cancelled (or 10 s
    pass); later backups (the automatic one on lock) run freely. Returns "it has paused"."""
    paused = threading.Event()
    original = service.back_up_now

    def gated(*args: Any, **kwargs: Any) -> Any:
        on_step: Callable[[Step], None] | None = kwargs.get("on_step")
        cancel: Callable[[], bool] | None = kwargs.get("cancel")
        if paused.is_set() or on_step is None or cancel is None:
            return original(*args, **kwargs)

        def step(report: Step) -> None:
            on_step(report)
            if report.phase is Phase.WRITING and report.done > 0 and not paused.is_set():
                paused.set()
                deadline = time.monotonic() + 10
                while not cancel() and time.monotonic() < deadline:
                    time.sleep(0.01)

        return original(*args, **{**kwargs, "on_step": step})

    monkeypatch.setattr(service, "back_up_now", gated)
    return paused


# --------------------------------------------------------------------------- back up, verify


def test_choose_a_folder_back_up_now_and_verify(
    qtbot: QtBot,
    main_window: MainWindow,
    destination: Path,
    monkeypatch: pytest.MonkeyPatch,
    practice: Practice,
) -> None:
    page = open_page(main_window)
    qtbot.waitUntil(lambda: not page.history_loading)
    assert page.warning.isVisible() and "No backup folder is set" in page.warning.text()
    assert not page.backup_button.isEnabled() and page.history_texts() == []
    status = main_window.backup_warning  # the same warning in the status bar, read off-thread
    qtbot.waitUntil(lambda: "No backup folder is set" in status.text())

    choose(monkeypatch, destination)
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    assert page.folder_label.text() == str(destination.resolve())
    assert service_of(main_window).destination() == destination.resolve()
    assert "no backup yet" in page.warning.text() and page.backup_button.isEnabled()
    assert main_window.statusBar().currentMessage() == "Backup folder saved."
    # schedule and retention are saved as they change, next to the folder
    assert page.on_lock.isChecked() and page.on_quit.isChecked()
    page.on_quit.setChecked(False)
    page.keep_daily.setValue(3)
    saved = service_of(main_window).settings
    assert (saved.on_lock, saved.on_quit, saved.keep_daily, saved.keep_monthly) == (
        True, False, 3, 12
    )  # fmt: skip
    assert saved.destination == str(destination.resolve())

    shown: list[int] = []
    page.progress.valueChanged.connect(shown.append)
    qtbot.mouseClick(page.backup_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    assert shown[-1] == 100 and any(0 < value < 100 for value in shown)
    files = backups_in(destination)
    assert len(files) == 1 and files[0].endswith(".qrbackup")  # and no partial file
    assert not page.progress_row.isVisible()
    assert "Backup written and verified" in page.message.text()
    assert main_window.statusBar().currentMessage() == "Backup written and verified."
    assert not page.warning.isVisible()
    qtbot.waitUntil(lambda: not status.isVisible() and status.text() == "")  # cleared as well
    rows = page.history_texts()
    assert len(rows) == 1 and rows[0][2] == "Verified" and rows[0][1].endswith("kB")
    assert rows[0][3] == "Recovery key"  # no backup passphrase slot
    assert rows[0][0] == formats.date_time_text(datetime(2026, 1, 5, 9, tzinfo=UTC))

    # Verify the selected backup: read back and checked again, recorded in the audit log
    assert not page.verify_button.isEnabled()
    page.table.selectRow(0)
    assert page.verify_button.isEnabled()
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    assert "is intact" in page.message.text()
    assert main_window.statusBar().currentMessage() == "Backup verified."
    assert page.history_texts()[0][2] == "Verified"
    verified = [e for e in practice.audit_entries() if e.action == "backup.verified"]
    assert len(verified) == 1 and verified[0].details_dict()["ok"] is True

    # A backup damaged on the drive: Verify says so and the history shows it failed
    path = destination / files[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    page.table.selectRow(0)
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    assert "could not be verified" in page.message.text()
    assert main_window.statusBar().currentMessage() == "A backup could not be verified."
    assert page.history_texts()[0][2] == "Failed"


def test_cancel_midway_leaves_no_file_while_the_window_keeps_working(
    qtbot: QtBot, main_window: MainWindow, destination: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_of(main_window)
    service.save_settings(BackupSettings(destination=str(destination)))
    paused = gate_first_backup(monkeypatch, service)
    page = open_page(main_window)
    qtbot.mouseClick(page.backup_button, Qt.MouseButton.LeftButton)
    # The worker is paused mid-backup; the UI thread still runs and draws the progress so far.
    qtbot.waitUntil(paused.is_set, timeout=10_000)
    qtbot.waitUntil(lambda: 0 < page.progress.value() < 100, timeout=10_000)
    assert page.operation is not None and page.cancel_button.isEnabled()
    assert "Writing" in page.progress_label.text()
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    assert page.cancel_button.text() == "Cancelling..." and not page.cancel_button.isEnabled()
    wait_idle(qtbot, page)
    assert backups_in(destination) == []  # no backup, no hidden partial file
    assert page.message.text() == "Backup cancelled. Nothing was written."
    assert main_window.statusBar().currentMessage() == "Backup cancelled."
    assert page.history_texts() == [] and page.backup_button.isEnabled()


# --------------------------------------------------------------------------- restore


def fill_restore(
    dialog: RestoreDialog, backup: Path, *, secret: str, passphrase: str, confirm: bool = True
) -> None:
    dialog.backup_field.setText(str(backup))
    dialog.secret.setText(secret)
    dialog.passphrase.setText(passphrase)
    if confirm:
        dialog.confirm.setText(passphrase)


def test_restore_with_the_recovery_key_into_a_new_folder(
    qtbot: QtBot,
    main_window: MainWindow,
    created: tuple[Practice, RecoveryKey],
    destination: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: VaultOptions,
) -> None:
    practice, recovery = created
    service = service_of(main_window)
    service.save_settings(BackupSettings(destination=str(destination)))
    made = service.back_up_now()
    page = open_page(main_window)
    qtbot.waitUntil(lambda: len(page.history_texts()) == 1)
    page.table.selectRow(0)
    qtbot.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    dialog = page.restore_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.backup_field.text() == str(made.path)  # the selected backup
    assert dialog.use_recovery.isChecked() and dialog.confirm.isVisible()

    target = tmp_path / "restored-here"
    target.mkdir()  # a new, empty folder as a folder chooser returns it
    choose(monkeypatch, target)
    qtbot.mouseClick(dialog.target_choose, Qt.MouseButton.LeftButton)
    assert dialog.target_field.text() == str(target)
    fill_restore(dialog, made.path, secret=recovery.formatted(), passphrase=NEW_PASSPHRASE)
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    wait_idle(qtbot, page)
    assert page.restore_dialog is None
    text = page.message.text()
    assert f"Restored into {target}" in text and f'quietroom --vault "{target}"' in text
    assert main_window.statusBar().currentMessage() == "Backup restored into a new folder."
    assert practice.is_open  # the open vault was not touched

    restored = Practice.unlock(target, NEW_PASSPHRASE, options=options)
    try:
        assert [c.name for c in restored.list_clients()] == [
            c.name for c in practice.list_clients()
        ]
        assert len(restored.list_clients()) == 12
    finally:
        restored.lock()


def test_restore_with_the_backup_passphrase_and_refusing_an_existing_vault(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    destination: Path,
    tmp_path: Path,
    options: VaultOptions,
) -> None:
    service = service_of(main_window)
    made = service.back_up_now(destination, backup_passphrase="paper in the safe", kdf=TEST_ONLY)
    page = open_page(main_window)
    qtbot.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    dialog = page.restore_dialog
    assert dialog is not None
    dialog.use_backup_passphrase.setChecked(True)
    assert not dialog.confirm.isVisible()
    assert dialog.passphrase.accessibleName() == "The vault passphrase when the backup was made"

    # a folder that already holds a vault is refused, and left as it was
    existing = tmp_path / "existing"
    Practice.create(existing, "another long passphrase", kdf=TEST_ONLY, options=options)[0].lock()
    before = backups_in(existing)
    fill_restore(dialog, made.path, secret="paper in the safe", passphrase=PASSPHRASE)
    dialog.target_field.setText(str(existing))
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    qtbot.waitUntil(dialog.isVisible)  # back, with the reason
    assert dialog.error.isVisible() and "already in that folder" in dialog.error.text()
    assert backups_in(existing) == before
    assert main_window.statusBar().currentMessage() == "The backup was not restored."

    # the open vault's own folder: never, even when allowed to move a vault aside
    dialog.replace_existing.setChecked(True)
    dialog.target_field.setText(str(main_window.ctx.vault_dir))
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    qtbot.waitUntil(dialog.isVisible)
    assert "the vault you have open" in dialog.error.text()
    assert practice.is_open

    # a wrong backup passphrase: the calm message, nothing written
    dialog.target_field.setText(str(tmp_path / "fresh"))
    dialog.secret.setText("not the words")
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    qtbot.waitUntil(dialog.isVisible)
    assert "does not open this backup" in dialog.error.text()
    assert not (tmp_path / "fresh").exists()

    # explicitly allowed: the existing vault is moved aside, never deleted
    dialog.secret.setText("paper in the safe")
    dialog.target_field.setText(str(existing))
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    assert page.restore_dialog is None
    assert "moved aside to" in page.message.text()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("existing.replaced-")]
    assert len(aside) == 1 and (aside[0] / "vault.header").is_file()
    restored = Practice.unlock(existing, PASSPHRASE, options=options)
    try:
        assert len(restored.list_clients()) == 12
    finally:
        restored.lock()


def test_the_restore_dialog_checks_what_it_can_before_starting(
    qtbot: QtBot, main_window: MainWindow, destination: Path
) -> None:
    page = open_page(main_window)
    qtbot.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    dialog = page.restore_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert dialog.error.text() == "Choose the backup file to restore."
    backup = destination / "x.qrbackup"
    backup.write_bytes(b"")
    fill_restore(dialog, backup, secret="ABCD", passphrase=NEW_PASSPHRASE, confirm=False)
    dialog.confirm.setText("something else entirely")
    qtbot.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert dialog.error.text() == "The two new passphrases differ."
    assert page.operation is None and dialog.isVisible()
    dialog.use_this_vault.setChecked(True)
    assert not dialog.secret.isVisible() and not dialog.error.isVisible()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # closing clears what was typed
    assert not dialog.isVisible() and dialog.passphrase.text() == ""


# --------------------------------------------------------------------------- lock and quit


def test_lock_cancels_a_running_backup_and_empties_the_page(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    destination: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = service_of(main_window)
    service.save_settings(BackupSettings(destination=str(destination)))
    service.back_up_now()
    paused = gate_first_backup(monkeypatch, service)
    page = open_page(main_window)
    qtbot.waitUntil(lambda: len(page.history_texts()) == 1)
    qtbot.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    dialog = page.restore_dialog
    assert dialog is not None
    dialog.passphrase.setText("typed but not submitted")
    dialog.reject()
    qtbot.mouseClick(page.backup_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(paused.is_set, timeout=10_000)
    operation = page.operation
    assert operation is not None
    main_window.lock()  # the fixture's on_lock locks the practice at once, after clear_phi
    assert operation.cancelled() and page.operation is None
    assert not practice.is_open
    assert page.history_texts() == [] and not page.progress_row.isVisible()
    assert page.restore_dialog is None and dialog.passphrase.text() == ""
    wait_for_workers()
    assert len(backups_in(destination)) == 1  # only the earlier backup; no partial file


def test_lock_backs_up_once_a_day_and_ends_locked(
    qtbot: QtBot,
    tmp_path: Path,
    options: VaultOptions,
    clock: Clock,
    destination: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault_dir = tmp_path / "vault"
    first, _ = Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)
    first.backup_service().save_settings(BackupSettings(destination=str(destination)))
    controller = AppController(vault_dir, options=options)

    def unlock_and_lock(practice: Practice) -> None:
        controller.unlocked(practice)
        window = controller.window
        assert isinstance(window, MainWindow)
        window.lock()
        assert isinstance(controller.window, UnlockWindow)  # shown at once, before the backup
        qtbot.waitUntil(lambda: controller.locking is None, timeout=20_000)
        assert controller.lock_error is None and not practice.is_open

    unlock_and_lock(first)
    assert len(backups_in(destination)) == 1  # Trigger.LOCK: the first backup of the day
    clock.now += timedelta(hours=3)
    unlock_and_lock(Practice.unlock(vault_dir, PASSPHRASE, options=options))
    assert len(backups_in(destination)) == 1  # at most once a day
    clock.now += timedelta(days=1)
    unlock_and_lock(Practice.unlock(vault_dir, PASSPHRASE, options=options))
    assert len(backups_in(destination)) == 2

    # a backup the page had running when the window locked is cancelled; the on-lock one runs
    clock.now += timedelta(days=1)
    practice = Practice.unlock(vault_dir, PASSPHRASE, options=options)
    controller.unlocked(practice)
    window = controller.window
    assert isinstance(window, MainWindow)
    assert controller.backups is not None
    paused = gate_first_backup(monkeypatch, controller.backups)
    page = open_page(window)
    qtbot.mouseClick(page.backup_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(paused.is_set, timeout=10_000)
    window.lock()
    assert page.operation is None and page.history_texts() == []
    qtbot.waitUntil(lambda: controller.locking is None, timeout=20_000)
    wait_for_workers()
    assert controller.lock_error is None and not practice.is_open
    names = backups_in(destination)
    assert len(names) == 3 and all(n.endswith(".qrbackup") for n in names)  # no partial file

    # quitting: Trigger.QUIT, also at most once a day, and the vault ends locked
    practice = Practice.unlock(vault_dir, PASSPHRASE, options=options)
    controller.unlocked(practice)
    controller.shutdown()
    assert not practice.is_open and len(backups_in(destination)) == 3  # one today already
    clock.now += timedelta(days=1)
    practice = Practice.unlock(vault_dir, PASSPHRASE, options=options)
    controller.unlocked(practice)
    controller.shutdown()
    assert not practice.is_open and len(backups_in(destination)) == 4
    assert controller.window is not None
    controller.window.close()


# --------------------------------------------------------------------------- screenshot


def test_screenshot_with_a_few_backups(
    qtbot: QtBot,
    main_window: MainWindow,
    clock: Clock,
    destination: Path,
    screenshot_dir: Path | None,
) -> None:
    service = service_of(main_window)
    service.save_settings(BackupSettings(destination=str(destination)))
    for hours in (0, 26, 49):
        clock.now = datetime(2026, 1, 2, 17, 40, tzinfo=UTC) + timedelta(hours=hours)
        service.back_up_now()
    page = open_page(main_window)
    qtbot.waitUntil(lambda: len(page.history_texts()) == 3)
    page.table.selectRow(0)
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, page)
    assert [row[2] for row in page.history_texts()] == ["Verified"] * 3
    assert main_window.width() == 1180 and main_window.height() == 760
    main_window.refresh_backup_warning()  # the status bar's own refresh (a 10-minute timer)
    qtbot.waitUntil(lambda: not main_window.backup_warning.isVisible())  # backups are fresh
    image = main_window.grab()
    assert not image.isNull()
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "backups.png"))


# --------------------------------------------------------------------------- backup passphrase
BACKUP_PASSPHRASE = "orchard lamplight ninety kestrels"


def test_back_up_with_a_passphrase_that_alone_opens_it(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    destination: Path,
    tmp_path: Path,
    options: VaultOptions,
) -> None:
    service = service_of(main_window)
    service.save_settings(BackupSettings(destination=str(destination)))
    page = open_page(main_window)
    page.backup_kdf = TEST_ONLY  # a cheap Argon2id for the passphrase slot
    qtbot.waitUntil(lambda: not page.history_loading)
    assert page.passphrase_backup_button.isEnabled()
    qtbot.mouseClick(page.passphrase_backup_button, Qt.MouseButton.LeftButton)
    dialog = page.passphrase_dialog
    assert dialog is not None and dialog.isVisible()
    assert "with this passphrase or with your recovery key" in widget_texts(dialog)
    assert "does not keep the passphrase" in widget_texts(dialog)

    # weak (long enough, but guessable): refused with zxcvbn's label and advice, nothing written
    dialog.passphrase.setText("password1234")
    dialog.confirm.setText("password1234")
    assert dialog.strength.text().startswith("Strength: ") and dialog.advice.text()
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.error.isVisible()
    assert "too easy to guess" in dialog.error.text()
    assert len(dialog.error.text()) > len("Very weak: too easy to guess.")  # with the advice
    # too short
    dialog.passphrase.setText("k3str#l")
    dialog.confirm.setText("k3str#l")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "at least" in dialog.error.text()
    # the two entries differ
    dialog.passphrase.setText(BACKUP_PASSPHRASE)
    dialog.confirm.setText(BACKUP_PASSPHRASE + "s")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "differ" in dialog.error.text()
    assert page.operation is None and backups_in(destination) == []

    # strong and the same twice: the backup runs as Back up now does, with progress
    shown: list[int] = []
    page.progress.valueChanged.connect(shown.append)
    dialog.confirm.setText(BACKUP_PASSPHRASE)
    assert dialog.strength.text() in ("Strength: Strong", "Strength: Very strong")
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    assert dialog.passphrase.text() == "" and dialog.confirm.text() == ""  # cleared on close
    assert page.operation is not None and page.cancel_button.isEnabled()
    wait_idle(qtbot, page)
    assert shown[-1] == 100
    files = backups_in(destination)
    assert len(files) == 1 and files[0].endswith(".qrbackup")
    path = destination / files[0]
    assert "backup passphrase you just set or with your recovery key" in page.message.text()
    assert BACKUP_PASSPHRASE not in page.message.text()
    rows = page.history_texts()
    assert len(rows) == 1 and rows[0][2] == "Verified"
    assert rows[0][3] == "Recovery key or passphrase" and has_backup_passphrase(path) is True

    # the backup passphrase alone opens it (no recovery key, no vault key) ...
    checked = verify_backup(
        path, BackupSecret(backup_passphrase=BACKUP_PASSPHRASE), vault_passphrase=PASSPHRASE
    )
    assert checked.ok
    target = tmp_path / "restored-with-passphrase"
    request = RestoreRequest(
        backup=path,
        target=target,
        key=RestoreKey.BACKUP_PASSPHRASE,
        secret=BACKUP_PASSPHRASE,
        passphrase=PASSPHRASE,
    )
    restore(request, options=options)
    restored = Practice.unlock(target, PASSPHRASE, options=options)
    try:
        assert len(restored.list_clients()) == 12
    finally:
        restored.lock()

    # ... and a wrong one does not
    with pytest.raises(WrongKeyError):
        verify_backup(
            path, BackupSecret(backup_passphrase="orchard lamplight ninety kestrel"),
            vault_passphrase=PASSPHRASE,
        )  # fmt: skip
    elsewhere = tmp_path / "wrong-passphrase"
    with pytest.raises(WrongKeyError):
        restore(
            RestoreRequest(
                backup=path,
                target=elsewhere,
                key=RestoreKey.BACKUP_PASSPHRASE,
                secret="not the backup passphrase at all",
                passphrase=PASSPHRASE,
            ),
            options=options,
        )
    assert not elsewhere.exists()
    assert practice.is_open  # the open vault was not touched


def test_lock_while_the_passphrase_dialog_is_open_forgets_the_passphrase(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    destination: Path,
    widget_text: Callable[[], str],
) -> None:
    service_of(main_window).save_settings(BackupSettings(destination=str(destination)))
    page = open_page(main_window)
    qtbot.waitUntil(lambda: not page.history_loading)
    qtbot.mouseClick(page.passphrase_backup_button, Qt.MouseButton.LeftButton)
    dialog = page.passphrase_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.passphrase.setText(BACKUP_PASSPHRASE)
    dialog.confirm.setText(BACKUP_PASSPHRASE)
    assert BACKUP_PASSPHRASE in widget_text()
    main_window.lock()
    assert page.passphrase_dialog is None and not practice.is_open
    assert BACKUP_PASSPHRASE not in widget_text()
    assert backups_in(destination) == []


def widget_texts(dialog: Any) -> str:
    return " ".join(label.text() for label in dialog.findChildren(QLabel))
