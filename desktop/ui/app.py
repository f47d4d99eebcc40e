"""Starting the desktop app: the setup window on first run, the unlock window otherwise, and the
switch between locked and unlocked."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.core.practice import KdfParams, Practice, VaultOptions, vault_exists
from desktop.ui.home_window import HomeWindow
from desktop.ui.qt import QApplication, QWidget
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
    ) -> None:
        self.vault_dir = vault_dir
        self._kdf = kdf
        self._options = options
        self.window: QWidget | None = None
        self.practice: Practice | None = None

    def start(self) -> QWidget:
        if vault_exists(self.vault_dir):
            return self.show_locked()
        return self._show(SetupWindow(self.vault_dir, self.unlocked, kdf=self._kdf,
                                      options=self._options))  # fmt: skip

    def show_locked(self) -> QWidget:
        self.practice = None
        return self._show(UnlockWindow(self.vault_dir, self.unlocked, options=self._options))

    def unlocked(self, practice: Practice) -> None:
        self.practice = practice
        self._show(HomeWindow(practice, self._relock))

    def _relock(self) -> None:
        self.show_locked()

    def shutdown(self) -> None:
        if self.practice is not None and self.practice.is_open:
            self.practice.lock()

    def _show(self, window: QWidget) -> QWidget:
        old, self.window = self.window, window
        window.show()
        if old is not None:
            old.close()
            old.deleteLater()
        return window


def run(vault_dir: Path) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Quietroom")
    app.setApplicationDisplayName("Quietroom")
    controller = AppController(vault_dir)
    controller.start()
    app.aboutToQuit.connect(controller.shutdown)
    return int(app.exec())
