"""The unlock window: passphrase in, key derivation in the background, one calm error message.
"Forgot your passphrase?" leads to the recovery key, which unlocks and sets a new passphrase
(recorded in the audit log as emergency access)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.core.errors import PracticeError
from desktop.core.passphrase_strength import judge_new_passphrase
from desktop.core.practice import (
    CryptoError,
    Practice,
    RollbackDetectedError,
    UnlockError,
    UnlockThrottledError,
    VaultOptions,
)
from desktop.ui.background import run_in_background
from desktop.ui.qt import QLineEdit, QProgressBar, QPushButton, QStackedWidget, Qt
from desktop.ui.widgets import (
    CardPage,
    TechnicalDetails,
    error_label,
    heading,
    paragraph,
    secret_field,
)


def _busy_bar(text: str) -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 0)
    bar.setFormat(text)
    bar.setTextVisible(True)
    bar.setAccessibleName(text.rstrip("."))
    bar.hide()
    return bar


# One message for every failed unlock (a mistyped passphrase, a wrong one, damaged files look
# alike on purpose), written for the most likely case: a typo.
NOT_OPENED = (
    "That passphrase did not open Quietroom. Passphrases are easy to mistype: check that Caps "
    "Lock is off and the keyboard is set to your usual language, then try again. If it still "
    "does not open, use your recovery key."
)
KEY_NOT_OPENED = (
    "That recovery key did not open Quietroom. Check each group against your printed sheet, "
    "then try again."
)


def _message(exc: Exception, *, recovery: bool = False) -> str:
    if isinstance(exc, UnlockError):
        return KEY_NOT_OPENED if recovery else NOT_OPENED
    if isinstance(exc, UnlockThrottledError):
        seconds = max(1, round(exc.retry_after))
        return (
            "Several attempts did not open Quietroom, so it waits a little before the next one. "
            f"Try again in {seconds} second{'s' if seconds != 1 else ''}."
        )
    if isinstance(exc, CryptoError | PracticeError):
        text = str(exc)
        return text[:1].upper() + text[1:]
    return "Quietroom could not open because of an unexpected problem. Try again."


class UnlockWindow(QStackedWidget):
    def __init__(
        self,
        vault_dir: Path,
        on_unlocked: Callable[[Practice], None],
        *,
        options: VaultOptions | None = None,
        before_unlock: Callable[[], object] | None = None,
    ) -> None:
        """``before_unlock`` runs on the worker before each attempt: the app passes "wait until
        the previous lock (and its on-lock backup) has finished", so that an unlock typed
        quickly does not find the vault still open."""
        super().__init__()
        self.setWindowTitle("Quietroom - locked")
        self._before = before_unlock or (lambda: None)
        self._vault_dir = vault_dir
        self._on_unlocked = on_unlocked
        self._options = options
        self.unlock_page = self._build_unlock_page()
        self.recovery_page = self._build_recovery_page()
        self.rollback_page = self._build_rollback_page()
        self._retry_accepting_rollback: Callable[[], Practice] | None = None
        self.resize(640, 460)

    # -- passphrase ---------------------------------------------------------------------------
    def _build_unlock_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Quietroom is locked"))
        page.body.addWidget(paragraph("Enter your passphrase to open your practice records."))
        self.passphrase = secret_field("Passphrase", "Passphrase")
        self.passphrase.returnPressed.connect(self.unlock)
        page.body.addWidget(self.passphrase)
        self.error = error_label()
        page.body.addWidget(self.error)
        self.progress = _busy_bar("Unlocking...")
        page.body.addWidget(self.progress)
        self.unlock_button = QPushButton("Unlock")
        self.unlock_button.setDefault(True)
        self.unlock_button.clicked.connect(self.unlock)
        page.body.addWidget(self.unlock_button, 0, Qt.AlignmentFlag.AlignRight)
        self.forgot_button = QPushButton("Forgot your passphrase? Use the recovery key")
        self.forgot_button.setFlat(True)
        self.forgot_button.setAccessibleName("Use the recovery key")
        self.forgot_button.clicked.connect(self.show_recovery)
        page.body.addWidget(self.forgot_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.addWidget(page)
        return page

    def unlock(self) -> None:
        passphrase = self.passphrase.text()
        if not passphrase:
            return
        self._set_busy(True)
        path, options, before = self._vault_dir, self._options, self._before

        def op(accept_rollback: bool = False) -> Practice:
            before()
            return Practice.unlock(
                path, passphrase, options=options, accept_rollback=accept_rollback
            )

        self._retry_accepting_rollback = lambda: op(accept_rollback=True)
        run_in_background(op, self._done, self._failed)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.recovery_progress.setVisible(busy)
        for widget in (self.passphrase, self.unlock_button, self.forgot_button,
                       self.recovery_key, self.new_passphrase, self.new_confirm,
                       self.recover_button, self.back_button):  # fmt: skip
            widget.setEnabled(not busy)
        if not busy:
            self._validate_recovery()

    def _done(self, practice: Practice) -> None:
        self._retry_accepting_rollback = None
        self._set_busy(False)
        for field in (self.passphrase, self.recovery_key, self.new_passphrase, self.new_confirm):
            field.clear()
        self.error.hide()
        self.recovery_error.hide()
        self._on_unlocked(practice)

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if isinstance(exc, RollbackDetectedError):
            self._ask_about_rollback(exc)
            return
        self._retry_accepting_rollback = None
        self.passphrase.selectAll()
        self.passphrase.setFocus()
        self.error.setText(_message(exc))
        self.error.show()

    # -- recovery key -------------------------------------------------------------------------
    def _build_recovery_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Open with the recovery key"))
        page.body.addWidget(
            paragraph(
                "Type the recovery key from your printed sheet, then choose a new passphrase. "
                "This is recorded in the audit log as emergency access."
            )
        )
        self.recovery_key = QLineEdit()
        self.recovery_key.setPlaceholderText("XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX")
        self.recovery_key.setAccessibleName("Recovery key")
        self.recovery_key.textChanged.connect(self._validate_recovery)
        page.body.addWidget(self.recovery_key)
        self.new_passphrase = secret_field("New passphrase", "New passphrase")
        self.new_confirm = secret_field("Confirm new passphrase", "Type it again")
        self.new_passphrase.textChanged.connect(self._validate_recovery)
        self.new_confirm.textChanged.connect(self._validate_recovery)
        self.new_confirm.returnPressed.connect(self.recover)
        page.body.addWidget(self.new_passphrase)
        page.body.addWidget(self.new_confirm)
        self.recovery_hint = paragraph("")
        self.recovery_hint.setAccessibleName("New passphrase hint")
        page.body.addWidget(self.recovery_hint)
        self.recovery_error = error_label()
        page.body.addWidget(self.recovery_error)
        self.recovery_progress = _busy_bar("Opening with the recovery key...")
        page.body.addWidget(self.recovery_progress)
        self.back_button = QPushButton("Back")
        self.back_button.clicked.connect(self.show_unlock)
        self.recover_button = QPushButton("Open and set the new passphrase")
        self.recover_button.setDefault(True)
        self.recover_button.setEnabled(False)
        self.recover_button.clicked.connect(self.recover)
        page.body.addWidget(self.recover_button, 0, Qt.AlignmentFlag.AlignRight)
        page.body.addWidget(self.back_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.addWidget(page)
        return page

    def show_recovery(self) -> None:
        self.passphrase.clear()
        self.error.hide()
        self.setCurrentWidget(self.recovery_page)
        self.recovery_key.setFocus()

    def show_unlock(self) -> None:
        for field in (self.recovery_key, self.new_passphrase, self.new_confirm):
            field.clear()
        self.recovery_error.hide()
        self.setCurrentWidget(self.unlock_page)
        self.passphrase.setFocus()

    def _validate_recovery(self) -> None:
        choice = judge_new_passphrase(self.new_passphrase.text(), self.new_confirm.text())
        self.recovery_hint.setText(
            f"{choice.strength.label}. {choice.hint}" if choice.ok else choice.hint
        )
        self.recover_button.setEnabled(bool(self.recovery_key.text().strip()) and choice.ok)

    def recover(self) -> None:
        if not self.recover_button.isEnabled():
            return
        key, new = self.recovery_key.text().strip(), self.new_passphrase.text()
        self._set_busy(True)
        path, options, before = self._vault_dir, self._options, self._before

        def op(accept_rollback: bool = False) -> Practice:
            before()
            return Practice.recover(
                path, key, new, options=options, accept_rollback=accept_rollback
            )

        self._retry_accepting_rollback = lambda: op(accept_rollback=True)

        run_in_background(
            op,
            self._done,
            self._recovery_failed,
        )

    def _recovery_failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if isinstance(exc, RollbackDetectedError):
            self._ask_about_rollback(exc)
            return
        self._retry_accepting_rollback = None
        self.recovery_key.selectAll()
        self.recovery_key.setFocus()
        self.recovery_error.setText(_message(exc, recovery=True))
        self.recovery_error.show()

    # -- an older copy than one seen before ----------------------------------------------------
    def _build_rollback_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("This is an older copy of your records"))
        page.body.addWidget(
            paragraph(
                "Quietroom has already seen a newer state of these records on this computer. "
                "Either you (or someone helping you) put an older copy back, for example from a "
                "backup or another disk, or someone replaced your files without telling you. "
                "Anything written after that older copy was made is not in it."
            )
        )
        page.body.addWidget(
            paragraph(
                "If you put it back yourself on purpose, open it: Quietroom records that you did. "
                "If you did not, do not open it: keep the files as they are, and ask whoever "
                "helps you with your computer to look at them. Your newer records may be in a "
                "backup."
            )
        )
        self.rollback_details = TechnicalDetails()
        page.body.addWidget(self.rollback_details)
        self.accept_rollback_button = QPushButton("I put back an older copy myself: open it")
        self.accept_rollback_button.clicked.connect(self.accept_rollback)
        self.refuse_rollback_button = QPushButton("Do not open it")
        self.refuse_rollback_button.setDefault(True)
        self.refuse_rollback_button.clicked.connect(self.refuse_rollback)
        page.body.addWidget(self.refuse_rollback_button, 0, Qt.AlignmentFlag.AlignRight)
        page.body.addWidget(self.accept_rollback_button, 0, Qt.AlignmentFlag.AlignRight)
        self.addWidget(page)
        return page

    def _ask_about_rollback(self, exc: RollbackDetectedError) -> None:
        self.rollback_details.set_text(
            f"{exc}. Where the newer state was recorded: {exc.where}. The newer state ended at "
            f"commit {exc.seen_commit} (audit entry {exc.first_bad_seq}); this copy is at commit "
            f"{exc.found_commit}."
        )
        for field in (self.passphrase, self.recovery_key, self.new_passphrase, self.new_confirm):
            field.clear()  # the retry holds what was typed until the person decides
        self.setCurrentWidget(self.rollback_page)
        self.refuse_rollback_button.setFocus()

    def accept_rollback(self) -> None:
        retry, self._retry_accepting_rollback = self._retry_accepting_rollback, None
        if retry is None:
            return
        self.setCurrentWidget(self.unlock_page)
        self._set_busy(True)
        run_in_background(retry, self._done, self._failed)

    def refuse_rollback(self) -> None:
        self._retry_accepting_rollback = None  # drops the typed passphrase it held
        self.show_unlock()
