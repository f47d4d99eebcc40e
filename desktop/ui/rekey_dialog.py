"""A new recovery key (and with it a new key for the whole vault), for when the printed sheet is
lost or someone else may have seen it. Three steps: the current passphrase; the new key, shown
once, printed or written down and checked like at first run; then the switch, which re-encrypts
the records. Nothing changes until the new key has been confirmed: closing the dialog before
that (or Quietroom locking) leaves the old recovery key in force."""

from __future__ import annotations

from datetime import datetime

from desktop.core.practice import CryptoError, PendingRekey, Practice, UnlockError
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.qt import (
    QDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    Qt,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.recovery_panel import RecoveryKeyPanel
from desktop.ui.widgets import TechnicalDetails, error_label, heading, paragraph, secret_field

EXPLANATION = (
    "Use this if your recovery sheet is lost, or someone else may have seen it. You get a new "
    "recovery key to print; the old one stops opening Quietroom. Your passphrase stays the same. "
    "Backups made before today still open with the old recovery key, so destroy the old sheet "
    "and, if it may have been seen, the old backups too."
)


def _button_row(secondary: QPushButton, primary: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(secondary)
    row.addWidget(primary)
    return row


class RekeyDialog(QDialog):
    def __init__(self, practice: Practice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quietroom - new recovery key")
        self.setModal(True)
        self._practice = practice
        self._pending: PendingRekey | None = None
        self.switched = False
        self._switching = False  # the re-encryption is running: it finishes (or fails) by itself
        layout = QVBoxLayout(self)
        self.pages = QStackedWidget()
        layout.addWidget(self.pages)
        self.start_page = self._build_start_page()
        self.key_page = self._build_key_page()
        self.done_page = self._build_done_page()
        self.resize(600, 440)

    # -- 1: the current passphrase -------------------------------------------------------------
    def _build_start_page(self) -> QWidget:
        page = QWidget()
        body = QVBoxLayout(page)
        body.addWidget(heading("A new recovery key"))
        body.addWidget(paragraph(EXPLANATION))
        self.passphrase = secret_field("Current passphrase", "Your current passphrase")
        self.passphrase.returnPressed.connect(self.prepare)
        body.addWidget(self.passphrase)
        self.start_error = error_label()
        body.addWidget(self.start_error)
        body.addStretch(1)
        self.prepare_button = QPushButton("Make a new recovery key")
        self.prepare_button.setDefault(True)
        self.prepare_button.clicked.connect(self.prepare)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        body.addLayout(_button_row(cancel, self.prepare_button))
        self.pages.addWidget(page)
        return page

    def prepare(self) -> None:
        passphrase = self.passphrase.text()
        if not passphrase or not self.prepare_button.isEnabled():
            return
        self.prepare_button.setEnabled(False)
        self.start_error.hide()
        practice = self._practice
        run_in_background(
            lambda: practice.prepare_rekey(passphrase), self._prepared, self._not_prepared,
            owner=self,
        )  # fmt: skip

    def _not_prepared(self, exc: Exception) -> None:
        self.prepare_button.setEnabled(True)
        self.passphrase.selectAll()
        self.start_error.setText(
            "That is not your current passphrase. Check Caps Lock and the keyboard language."
            if isinstance(exc, UnlockError)
            else f"Quietroom could not make a new key: {exc}"
        )
        self.start_error.show()

    def _prepared(self, pending: PendingRekey) -> None:
        self.passphrase.clear()
        if not self.isVisible():  # closed (or locked) while the key was being made
            self._practice.cancel_rekey(pending)
            return
        self._pending = pending
        now = datetime.now().astimezone()
        created = f"{formats.date_text(now)}, {formats.time_text(now)}"
        therapist = self._practice.settings.therapist_name
        self.key_panel.show_key(pending.recovery_key.formatted(), therapist, created)
        self.pages.setCurrentWidget(self.key_page)
        self.key_panel.typed_back.setFocus()

    # -- 2: the new key, shown once ------------------------------------------------------------
    def _build_key_page(self) -> QWidget:
        page = QWidget()
        body = QVBoxLayout(page)
        body.addWidget(heading("Your new recovery key"))
        body.addWidget(
            paragraph(
                "Print it or write it down now, and keep it away from this computer. It is shown "
                "only now. Until you switch, your old recovery key still works."
            )
        )
        self.key_panel = RecoveryKeyPanel()
        body.addWidget(self.key_panel)
        self.switch_error = error_label()
        body.addWidget(self.switch_error)
        self.switch_error_details = TechnicalDetails()
        self.switch_error_details.hide()
        body.addWidget(self.switch_error_details)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Re-encrypting your records...")
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName("Re-encrypting your records")
        self.progress.hide()
        body.addWidget(self.progress)
        self.switch_button = QPushButton("Switch to the new key")
        self.switch_button.setEnabled(False)
        self.switch_button.clicked.connect(self.switch)
        self.key_panel.confirmed.connect(self.switch_button.setEnabled)
        self.keep_button = QPushButton("Keep the old key")
        self.keep_button.clicked.connect(self.reject)
        body.addStretch(1)
        body.addLayout(_button_row(self.keep_button, self.switch_button))
        self.pages.addWidget(page)
        return page

    def switch(self) -> None:
        pending = self._pending
        if pending is None or not self.key_panel.is_confirmed():
            return
        key = self.key_panel.key()
        self.switch_button.setEnabled(False)
        self.keep_button.setEnabled(False)
        self.progress.show()
        self._switching = True
        practice = self._practice
        run_in_background(
            lambda: practice.commit_rekey(pending, key), self._switched, self._not_switched,
            owner=self,
        )  # fmt: skip

    def _switched(self, _: object) -> None:
        self._switching = False
        self._pending = None
        self.switched = True
        self.key_panel.forget()
        self.progress.hide()
        self.pages.setCurrentWidget(self.done_page)

    def _not_switched(self, exc: Exception) -> None:
        self._switching = False
        self.progress.hide()
        self.keep_button.setEnabled(True)
        self.switch_button.setEnabled(self.key_panel.is_confirmed())
        detail = str(exc) if isinstance(exc, CryptoError) else type(exc).__name__
        self.switch_error.setText(
            "The switch did not happen; your old recovery key still works. Try again, or keep "
            "the old key."
        )
        self.switch_error_details.set_text(detail)
        self.switch_error_details.show()
        self.switch_error.show()

    # -- 3: done -------------------------------------------------------------------------------
    def _build_done_page(self) -> QWidget:
        page = QWidget()
        body = QVBoxLayout(page)
        body.addWidget(heading("The new recovery key is in force"))
        body.addWidget(
            paragraph(
                "Your old recovery key no longer opens Quietroom. Keep the new sheet safe and "
                "destroy the old one. Your passphrase has not changed."
            )
        )
        self.switch_details = TechnicalDetails()
        self.switch_details.set_text(
            "A new 256-bit master key was made and the database re-encrypted under it; the audit "
            "log records the change, sealed with the old key."
        )
        body.addWidget(self.switch_details)
        body.addStretch(1)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        body.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self.pages.addWidget(page)
        return page

    def done(self, result: int) -> None:  # accept, reject, Esc, a lock closing every dialog
        pending, self._pending = self._pending, None
        if pending is not None and not self.switched and not self._switching:
            self._practice.cancel_rekey(pending)  # nothing had switched
        self.key_panel.forget()
        self.passphrase.clear()
        super().done(result)
