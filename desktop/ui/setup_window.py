"""First run: choose a passphrase, tune the key derivation, then see the recovery key once and
confirm it was written down."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.core.practice import MIN_PASSPHRASE_CHARS, KdfParams, Practice, VaultOptions, calibrate
from desktop.ui.background import run_in_background
from desktop.ui.qt import (
    QCheckBox,
    QFont,
    QFontDatabase,
    QLabel,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    Qt,
)
from desktop.ui.widgets import CardPage, error_label, heading, paragraph, secret_field


class SetupWindow(QStackedWidget):
    def __init__(
        self,
        vault_dir: Path,
        on_done: Callable[[Practice], None],
        *,
        kdf: KdfParams | None = None,
        options: VaultOptions | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Quietroom - set up")
        self._vault_dir = vault_dir
        self._on_done = on_done
        self._kdf = kdf
        self._options = options
        self._practice: Practice | None = None
        self._build_passphrase_page()
        self._build_recovery_page()
        self.resize(640, 560)

    # -- page 1: passphrase ---------------------------------------------------------------------
    def _build_passphrase_page(self) -> None:
        page = CardPage()
        page.body.addWidget(heading("Welcome to Quietroom"))
        page.body.addWidget(
            paragraph(
                "Your clients' records are kept encrypted on this computer. Choose a passphrase "
                f"of at least {MIN_PASSPHRASE_CHARS} characters: a few unrelated words work "
                "well. Nobody, including Quietroom, can recover it for you - you will get a "
                "recovery key next."
            )
        )
        self.passphrase = secret_field("Passphrase", "Passphrase")
        self.confirm = secret_field("Confirm passphrase", "Type it again")
        self.passphrase.textChanged.connect(self._validate)
        self.confirm.textChanged.connect(self._validate)
        self.confirm.returnPressed.connect(self._create)
        page.body.addWidget(self.passphrase)
        page.body.addWidget(self.confirm)
        self.hint = QLabel()
        self.hint.setAccessibleName("Passphrase hint")
        page.body.addWidget(self.hint)
        self.error = error_label()
        page.body.addWidget(self.error)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Tuning encryption to this computer...")
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName("Creating the vault")
        self.progress.hide()
        page.body.addWidget(self.progress)
        self.create_button = QPushButton("Create my vault")
        self.create_button.setDefault(True)
        self.create_button.setEnabled(False)
        self.create_button.clicked.connect(self._create)
        page.body.addWidget(self.create_button, 0, Qt.AlignmentFlag.AlignRight)
        self.addWidget(page)

    def _validate(self) -> None:
        first, second = self.passphrase.text(), self.confirm.text()
        if len(first) < MIN_PASSPHRASE_CHARS:
            self.hint.setText(f"{len(first)} of at least {MIN_PASSPHRASE_CHARS} characters")
        elif second and second != first:
            self.hint.setText("The two entries differ")
        elif second == first:
            self.hint.setText("Looks good")
        else:
            self.hint.setText("Now type it again")
        self.create_button.setEnabled(len(first) >= MIN_PASSPHRASE_CHARS and first == second)

    def _create(self) -> None:
        if not self.create_button.isEnabled():
            return
        passphrase = self.passphrase.text()
        self._set_busy(True)
        kdf, options, path = self._kdf, self._options, self._vault_dir

        def op() -> tuple[Practice, str]:
            params = kdf or calibrate()
            practice, recovery = Practice.create(path, passphrase, kdf=params, options=options)
            return practice, recovery.formatted()

        run_in_background(op, self._created, self._failed)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        for widget in (self.passphrase, self.confirm, self.create_button):
            widget.setEnabled(not busy)

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        self._validate()
        self.error.setText(f"The vault could not be created: {exc}")
        self.error.show()

    def _created(self, result: tuple[Practice, str]) -> None:
        self._practice, key = result
        self.passphrase.clear()
        self.confirm.clear()
        self.recovery_label.setText(key)
        self.setCurrentIndex(1)
        self.typed_back.setFocus()

    # -- page 2: recovery key -------------------------------------------------------------------
    def _build_recovery_page(self) -> None:
        page = CardPage()
        page.body.addWidget(heading("Your recovery key"))
        page.body.addWidget(
            paragraph(
                "If you forget your passphrase, this key is the only way back in. Write it "
                "down or print it, and keep it away from this computer. It is shown only now."
            )
        )
        self.recovery_label = QLabel()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(mono.pointSizeF() * 1.4)
        mono.setWeight(QFont.Weight.DemiBold)
        self.recovery_label.setFont(mono)
        self.recovery_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recovery_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.recovery_label.setAccessibleName("Recovery key")
        self.recovery_label.setStyleSheet("padding: 14px; border: 1px dashed palette(mid);")
        page.body.addWidget(self.recovery_label)
        page.body.addWidget(paragraph("To check you have it, type its last group:"))
        self.typed_back = secret_field("Last group of the recovery key", "e.g. ABCD")
        self.typed_back.setEchoMode(self.typed_back.EchoMode.Normal)
        self.typed_back.textChanged.connect(self._check_written)
        page.body.addWidget(self.typed_back)
        self.written = QCheckBox("I have written down or printed my recovery key")
        self.written.toggled.connect(self._check_written)
        page.body.addWidget(self.written)
        self.continue_button = QPushButton("Continue")
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(self._finish)
        page.body.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignRight)
        self.addWidget(page)

    def _check_written(self) -> None:
        last_group = self.recovery_label.text().rsplit("-", 1)[-1]
        typed = self.typed_back.text().strip().upper()
        self.continue_button.setEnabled(self.written.isChecked() and typed == last_group)

    def _finish(self) -> None:
        practice, self._practice = self._practice, None
        self.recovery_label.clear()  # the key is shown once
        if practice is not None:
            self._on_done(practice)
