"""The unlock window: passphrase in, key derivation in the background, one calm error message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.core.practice import CryptoError, Practice, VaultOptions
from desktop.ui.background import run_in_background
from desktop.ui.qt import QProgressBar, QPushButton, Qt
from desktop.ui.widgets import CardPage, error_label, heading, paragraph, secret_field


class UnlockWindow(CardPage):
    def __init__(
        self,
        vault_dir: Path,
        on_unlocked: Callable[[Practice], None],
        *,
        options: VaultOptions | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Quietroom - locked")
        self._vault_dir = vault_dir
        self._on_unlocked = on_unlocked
        self._options = options
        self.body.addWidget(heading("Quietroom is locked"))
        self.body.addWidget(paragraph("Enter your passphrase to open your practice records."))
        self.passphrase = secret_field("Passphrase", "Passphrase")
        self.passphrase.returnPressed.connect(self.unlock)
        self.body.addWidget(self.passphrase)
        self.error = error_label()
        self.body.addWidget(self.error)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Unlocking...")
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName("Unlocking")
        self.progress.hide()
        self.body.addWidget(self.progress)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.unlock)
        self.body.addWidget(self.unlock_button, 0, Qt.AlignmentFlag.AlignRight)
        self.resize(640, 420)

    def unlock(self) -> None:
        passphrase = self.passphrase.text()
        if not passphrase:
            return
        self._set_busy(True)
        path, options = self._vault_dir, self._options
        run_in_background(
            lambda: Practice.unlock(path, passphrase, options=options), self._done, self._failed
        )

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.passphrase.setEnabled(not busy)
        self.unlock_button.setEnabled(not busy)

    def _done(self, practice: Practice) -> None:
        self._set_busy(False)
        self.passphrase.clear()
        self.error.hide()
        self._on_unlocked(practice)

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self.passphrase.selectAll()
        self.passphrase.setFocus()
        message = str(exc) if isinstance(exc, CryptoError) else f"Unexpected problem: {exc}"
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()
