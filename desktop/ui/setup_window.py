"""First run, as a short wizard: who you are, a passphrase (with zxcvbn's strength estimate),
tuning the key derivation to this computer (with progress), then the recovery key, shown once,
with print / save as PDF and a check that it was written down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from desktop.core.errors import SettingsError
from desktop.core.passphrase_strength import guess_time_text, judge_new_passphrase
from desktop.core.practice import (
    KdfParams,
    Practice,
    VaultOptions,
    calibrate,
)
from desktop.core.settings import PracticeSettings, build_default_relay
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.qt import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    Qt,
    Signal,
)
from desktop.ui.recovery_panel import RecoveryKeyPanel
from desktop.ui.relay_setup import RelaySetup
from desktop.ui.relay_setup import intro as relay_intro
from desktop.ui.widgets import (
    CardPage,
    TechnicalDetails,
    error_label,
    heading,
    paragraph,
    secret_field,
)

STEPS = (
    "Measuring this computer",
    "Protecting your key with your passphrase",
    "Creating your encrypted records",
)


class _Steps(QObject):
    """Carries progress from the worker thread to the UI thread (queued signal)."""

    step = Signal(int)


def _field(name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(name)
    field.setMaxLength(200)
    return field


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
        self._created_at = ""
        self._steps = _Steps()
        self._steps.step.connect(self._show_step)
        self.profile_page = self._build_profile_page()
        self.passphrase_page = self._build_passphrase_page()
        self.progress_page = self._build_progress_page()
        self.recovery_page = self._build_recovery_page()
        self.video_page = self._build_video_page()
        self.resize(680, 600)

    # -- page 1: who you are --------------------------------------------------------------------
    def _build_profile_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Welcome to Quietroom"))
        page.body.addWidget(
            paragraph(
                "Quietroom keeps your clients' records encrypted on this computer. First, how "
                "should your notes be signed?"
            )
        )
        self.therapist_name = _field("Your name", "Your name, e.g. Dr Sam Rivera")
        self.credentials = _field("Credentials", "Credentials (optional), e.g. LCSW, PsyD")
        self.therapist_name.textChanged.connect(self._profile_changed)
        self.therapist_name.returnPressed.connect(self._to_passphrase)
        self.credentials.returnPressed.connect(self._to_passphrase)
        page.body.addWidget(self.therapist_name)
        page.body.addWidget(self.credentials)
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.next_button.setEnabled(False)
        self.next_button.clicked.connect(self._to_passphrase)
        page.body.addWidget(self.next_button, 0, Qt.AlignmentFlag.AlignRight)
        self.addWidget(page)
        return page

    def _profile_changed(self) -> None:
        self.next_button.setEnabled(bool(self.therapist_name.text().strip()))

    def _to_passphrase(self) -> None:
        if not self.next_button.isEnabled():
            return
        self.setCurrentWidget(self.passphrase_page)
        self.passphrase.setFocus()

    # -- page 2: passphrase ---------------------------------------------------------------------
    def _build_passphrase_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Choose a passphrase"))
        page.body.addWidget(
            paragraph(
                "It unlocks your records every day. A few unrelated words work well. Nobody, "
                "including Quietroom, can recover it for you - you will get a recovery key next."
            )
        )
        self.passphrase = secret_field("Passphrase", "Passphrase")
        self.confirm = secret_field("Confirm passphrase", "Type it again")
        self.passphrase.textChanged.connect(self._validate)
        self.confirm.textChanged.connect(self._validate)
        self.confirm.returnPressed.connect(self._create)
        page.body.addWidget(self.passphrase)
        self.meter = QProgressBar()
        self.meter.setRange(0, 4)
        self.meter.setTextVisible(True)
        self.meter.setFormat("Strength")
        self.meter.setAccessibleName("Passphrase strength")
        page.body.addWidget(self.meter)
        self.strength_hint = paragraph("")
        self.strength_hint.setAccessibleName("Passphrase advice")
        page.body.addWidget(self.strength_hint)
        page.body.addWidget(self.confirm)
        self.hint = QLabel()
        self.hint.setAccessibleName("Passphrase hint")
        page.body.addWidget(self.hint)
        self.error = error_label()
        page.body.addWidget(self.error)
        row = QHBoxLayout()
        self.back_button = QPushButton("Back")
        self.back_button.clicked.connect(lambda: self.setCurrentWidget(self.profile_page))
        row.addWidget(self.back_button)
        row.addStretch(1)
        self.create_button = QPushButton("Create my vault")
        self.create_button.setDefault(True)
        self.create_button.setEnabled(False)
        self.create_button.clicked.connect(self._create)
        row.addWidget(self.create_button)
        page.body.addLayout(row)
        self.addWidget(page)
        return page

    def _validate(self) -> None:
        first = self.passphrase.text()
        choice = judge_new_passphrase(first, self.confirm.text(), [self.therapist_name.text()])
        strength = choice.strength
        self.meter.setValue(strength.score if first else 0)
        self.meter.setFormat(strength.label if first else "Strength")
        advice = [strength.warning, *strength.suggestions] if first else []
        if first:
            advice.append(guess_time_text(strength))
        self.strength_hint.setText(" ".join(a for a in advice if a))
        self.hint.setText(choice.hint)
        self.create_button.setEnabled(choice.ok)

    # -- page 3: tuning and creating ------------------------------------------------------------
    def _build_progress_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Setting up encryption"))
        page.body.addWidget(
            paragraph(
                "Quietroom is measuring this computer so that every guess at your passphrase "
                "costs whoever tries it real time and effort. This takes a few seconds."
            )
        )
        self.progress = QProgressBar()
        self.progress.setRange(0, len(STEPS))
        self.progress.setTextVisible(True)
        self.progress.setAccessibleName("Creating the vault")
        page.body.addWidget(self.progress)
        self.step_label = paragraph("")
        self.step_label.setAccessibleName("Current step")
        page.body.addWidget(self.step_label)
        self.addWidget(page)
        return page

    def _show_step(self, index: int) -> None:
        self.progress.setValue(index)
        self.progress.setFormat(f"Step {min(index + 1, len(STEPS))} of {len(STEPS)}")
        if index < len(STEPS):
            self.step_label.setText(STEPS[index] + "...")

    def _create(self) -> None:
        if not self.create_button.isEnabled():
            return
        passphrase = self.passphrase.text()
        settings = PracticeSettings(
            therapist_name=self.therapist_name.text().strip(),
            therapist_credentials=self.credentials.text().strip(),
        )
        kdf, options, path, steps = self._kdf, self._options, self._vault_dir, self._steps
        self.error.hide()
        self._show_step(0)
        self.setCurrentWidget(self.progress_page)

        def op() -> tuple[Practice, str, KdfParams]:
            steps.step.emit(0)
            params = kdf or calibrate()
            steps.step.emit(1)
            practice, recovery = Practice.create(path, passphrase, kdf=params, options=options)
            steps.step.emit(2)
            practice.update_settings(settings)
            return practice, recovery.formatted(), params

        run_in_background(op, self._created, self._failed)

    def _failed(self, exc: Exception) -> None:
        self.setCurrentWidget(self.passphrase_page)
        self._validate()
        self.error.setText(f"The vault could not be created: {exc}")
        self.error.show()

    def _created(self, result: tuple[Practice, str, KdfParams]) -> None:
        self._practice, key, params = result
        self.progress.setValue(len(STEPS))
        self.passphrase.clear()
        self.confirm.clear()
        now = datetime.now().astimezone()
        self._created_at = f"{formats.date_text(now)}, {formats.time_text(now)}"
        self.key_panel.show_key(key, self.therapist_name.text().strip(), self._created_at)
        memory = (f"{params.memory_kib // 1024} MiB" if params.memory_kib >= 1024
                  else f"{params.memory_kib} KiB")  # fmt: skip
        passes = "1 pass" if params.time_cost == 1 else f"{params.time_cost} passes"
        self.kdf_summary.setText(
            "Your records are encrypted. Each guess at your passphrase takes this computer "
            "about a second of hard work, so guessing it would take far too long."
        )
        self.kdf_details.set_text(
            f"Key derivation: Argon2id, {memory} of memory, {passes}, "
            f"{params.parallelism} lane{'s' if params.parallelism != 1 else ''}, tuned to this "
            "computer. The database is SQLCipher 4 with a random 256-bit key, wrapped by the "
            "passphrase's key and, separately, by the recovery key."
        )
        self.setCurrentWidget(self.recovery_page)
        self.typed_back.setFocus()

    # -- page 4: recovery key -------------------------------------------------------------------
    def _build_recovery_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Your recovery key"))
        self.kdf_summary = paragraph("")
        page.body.addWidget(self.kdf_summary)
        self.kdf_details = TechnicalDetails(name="Technical details of the encryption")
        page.body.addWidget(self.kdf_details)
        page.body.addWidget(
            paragraph(
                "If you forget your passphrase, this key is the only way back in, and it opens "
                "your backups on a new computer. Print it or write it down, and keep it away "
                "from this computer. It is shown only now."
            )
        )
        self.key_panel = RecoveryKeyPanel()
        page.body.addWidget(self.key_panel)
        # the panel's parts, by the names the wizard's callers know
        self.recovery_label = self.key_panel.key_label
        self.print_button, self.pdf_button = self.key_panel.print_button, self.key_panel.pdf_button
        self.sheet_status = self.key_panel.sheet_status
        self.typed_back, self.written = self.key_panel.typed_back, self.key_panel.written
        self.continue_button = QPushButton("Continue")
        self.continue_button.setEnabled(False)
        self.continue_button.clicked.connect(self._finish)
        self.key_panel.confirmed.connect(self.continue_button.setEnabled)
        page.body.addWidget(self.continue_button, 0, Qt.AlignmentFlag.AlignRight)
        self.addWidget(page)
        return page

    def _finish(self) -> None:
        self.key_panel.forget()  # the key is shown once
        if self._practice is not None:
            self.setCurrentWidget(self.video_page)
            self.relay_setup.address_field.setFocus()

    # -- page 5: video sessions (can be skipped) -----------------------------------------------
    def _build_video_page(self) -> CardPage:
        page = CardPage()
        page.body.addWidget(heading("Video sessions"))
        page.body.addWidget(relay_intro())
        page.body.addWidget(
            paragraph(
                "No provider yet? Skip this: you can try sessions on this computer, and set a "
                "service up later in Settings."
            )
        )
        self.relay_setup = RelaySetup(default_address=build_default_relay())
        page.body.addWidget(self.relay_setup)
        self.video_error = error_label()
        self.video_error.setAccessibleName("Video sessions not saved")
        page.body.addWidget(self.video_error)
        row = QHBoxLayout()
        self.skip_video_button = QPushButton("Skip for now")
        self.skip_video_button.setAccessibleName("Skip setting up video sessions")
        self.skip_video_button.clicked.connect(self._open)
        self.save_video_button = QPushButton("Save and open Quietroom")
        self.save_video_button.setDefault(True)
        self.save_video_button.clicked.connect(self._save_video)
        row.addStretch(1)
        row.addWidget(self.skip_video_button)
        row.addWidget(self.save_video_button)
        page.body.addLayout(row)
        self.addWidget(page)
        return page

    def _save_video(self) -> None:
        practice = self._practice
        if practice is None:
            return
        try:
            practice.update_settings(self.relay_setup.apply(practice.settings))
        except SettingsError as exc:
            self.video_error.setText(f"Not saved: {exc}.")
            self.video_error.show()
            return
        self._open()

    def _open(self) -> None:
        practice, self._practice = self._practice, None
        self.relay_setup.clear()  # the key is in the vault now (or was skipped)
        if practice is not None:
            self._on_done(practice)
