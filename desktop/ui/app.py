"""Starting the desktop app: the setup window on first run, the unlock window otherwise, and the
switch between locked and unlocked."""

from __future__ import annotations

import os
import sys
import threading
from importlib.resources import as_file, files
from pathlib import Path

from desktop.core.backup_policy import Trigger
from desktop.core.backups import BackupService
from desktop.core.practice import KdfParams, Practice, VaultOptions, vault_exists
from desktop.ui.background import run_in_background, share_the_interpreter
from desktop.ui.gc_on_ui_thread import UiThreadCollector
from desktop.ui.idle_lock import Clock
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QApplication, QIcon, QPixmap, QTimer, QWidget
from desktop.ui.setup_window import SetupWindow
from desktop.ui.unlock_window import UnlockWindow


class AppController:
    """Owns the one visible top-level window and swaps it as the vault locks and unlocks."""

    def __init__(
        self,
        vault_dir: Path,
        *,
        kdf: KdfParams | None = None,
        options: VaultOptions | None = None,
        idle_clocks: tuple[Clock, ...] | None = None,
    ) -> None:
        self.vault_dir = vault_dir
        self._kdf = kdf
        self._options = options
        self._idle_clocks = idle_clocks
        self.window: QWidget | None = None
        self.practice: Practice | None = None
        self.backups: BackupService | None = None
        self.locking: Practice | None = None  # locked in the background after an on-lock backup
        self._lock_finished = threading.Event()  # the unlock window waits on it before unlocking
        self._lock_finished.set()
        self.lock_error: Exception | None = None
        share_the_interpreter()  # background work (verify, export, reads) never holds up this one

    def start(self) -> QWidget:
        if vault_exists(self.vault_dir):
            return self.show_locked()
        return self._show(SetupWindow(self.vault_dir, self.unlocked, kdf=self._kdf,
                                      options=self._options))  # fmt: skip

    def show_locked(self) -> QWidget:
        self.practice = None
        return self._show(
            UnlockWindow(self.vault_dir, self.unlocked, options=self._options,
                         before_unlock=self._lock_finished.wait)
        )  # fmt: skip

    def unlocked(self, practice: Practice) -> None:
        self.practice = practice
        self.backups = practice.backup_service()
        self._show(
            MainWindow(
                practice, self.vault_dir, self._relock, backups=self.backups,
                idle_clocks=self._idle_clocks,
            )
        )  # fmt: skip

    def _relock(self) -> None:
        """The main window has emptied itself: show the unlock window at once, then (off the UI
        thread) take the on-lock backup if one is due and lock the vault."""
        practice, backups = self.practice, self.backups
        self.practice = self.backups = None
        if practice is not None:
            self._lock_finished.clear()  # an unlock typed meanwhile waits for this lock
        self.show_locked()
        if practice is None:
            return
        self.locking = practice
        finished = self._lock_finished

        def op() -> None:
            try:
                if backups is not None:
                    backups.maybe_back_up(Trigger.LOCK)
            finally:
                try:
                    practice.lock()
                finally:
                    finished.set()

        def done(_: object) -> None:
            self.locking = None

        def failed(exc: Exception) -> None:  # the vault is locked; only the backup failed
            self.locking = None
            self.lock_error = exc

        run_in_background(op, done, failed)

    def shutdown(self) -> None:
        practice, backups = self.practice, self.backups
        self.practice = self.backups = None
        if practice is None or not practice.is_open:
            return
        if isinstance(self.window, MainWindow):
            self.window.prepare_quit()  # save the draft, end a call, cancel a running backup
        try:
            if backups is not None:
                backups.maybe_back_up(Trigger.QUIT)
        finally:
            practice.lock()

    def _show(self, window: QWidget) -> QWidget:
        old, self.window = self.window, window
        window.show()
        if old is not None:
            old.close()
            old.deleteLater()
        return window


def identify(app: QApplication) -> None:
    """The window icon, and the desktop entry's name (quietroom.desktop) so that a Wayland
    compositor shows Quietroom's icon and groups its windows under it."""
    app.setDesktopFileName("quietroom")
    icon = files("resources") / "icons" / "quietroom-256.png"
    with as_file(icon) as path:
        app.setWindowIcon(QIcon(QPixmap(str(path))))  # read now: the path may be temporary


def run(vault_dir: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Quietroom")
    app.setApplicationDisplayName("Quietroom")
    identify(app)
    collector = UiThreadCollector()  # noqa: F841 (kept alive by this frame while the app runs)
    controller = AppController(vault_dir)
    controller.start()
    app.aboutToQuit.connect(controller.shutdown)
    if os.environ.get(STARTUP_PROBE) == "1":  # benchmarks/bench_startup.py: stop once shown
        QTimer.singleShot(0, lambda: _probe_shown(app, controller))
    return int(app.exec())


STARTUP_PROBE = "QUIETROOM_STARTUP_PROBE"


def _probe_shown(app: QApplication, controller: AppController) -> None:
    window = controller.window
    name = type(window).__name__ if window is not None and window.isVisible() else "none"
    print(f"shown {name}", flush=True)
    app.quit()
