"""The session service's address and the practice's key, with "Test connection": one widget for
Settings > Video sessions and for the first-run step.

The test runs in the background (telehealth.relay_check): the address answers, its certificate
is valid, it is a Quietroom session service of our version, it accepts the key, and its media
relay works. Each step is shown in plain words; what IT needs (addresses, errors, protocol
versions) is behind "Technical details". The key is a secret: typed into a password field, kept
in the vault (never QSettings), never shown in the details.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from desktop.core.errors import SettingsError
from desktop.core.settings import MAX_TEXT, PracticeSettings
from desktop.ui.background import run_in_background
from desktop.ui.qt import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from desktop.ui.widgets import TechnicalDetails, paragraph, secret_field

if TYPE_CHECKING:
    from telehealth.relay_check import RelayCheck

STEP_TITLES = {
    "reach": "Address",
    "tls": "Secure connection",
    "version": "Session service",
    "credential": "Practice key",
    "turn": "Media relay",
}
MARKS = {True: "✓", False: "✗", None: "-"}

Checker = Callable[[str, str], "RelayCheck"]


def _network_check(url: str, key: str) -> RelayCheck:
    # Loaded on first use: aiohttp and aioice stay out of the app's start-up.
    from telehealth.relay_check import check_relay_blocking

    return check_relay_blocking(url, key)


class RelaySetup(QWidget):
    """Address + key + Test connection. ``checker`` is injectable for tests (default: the real
    network check)."""

    tested = Signal(bool)  # a test finished: everything usable or not

    def __init__(
        self,
        *,
        default_address: str = "",
        checker: Checker | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._checker: Checker = checker or _network_check
        self._default = default_address
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        self.address_field = QLineEdit()
        self.address_field.setAccessibleName("Session service address")
        self.address_field.setMaxLength(MAX_TEXT)
        self.address_field.setPlaceholderText(
            default_address or "From your provider (empty: sessions on this computer only)"
        )
        form.addRow("Service &address", self.address_field)
        self.key_field = secret_field("Practice key", "The key your provider gave your practice")
        self.key_field.setMaxLength(MAX_TEXT)
        form.addRow("Practice &key", self.key_field)
        layout.addLayout(form)
        row = QHBoxLayout()
        self.test_button = QPushButton("&Test connection")
        self.test_button.setAccessibleName("Test connection")
        self.test_button.clicked.connect(self.test)
        row.addWidget(self.test_button)
        self.test_summary = QLabel("")
        self.test_summary.setWordWrap(True)
        self.test_summary.setAccessibleName("Connection test result")
        row.addWidget(self.test_summary, 1)
        layout.addLayout(row)
        self.steps = QLabel("")
        self.steps.setWordWrap(True)
        self.steps.setTextFormat(Qt.TextFormat.PlainText)
        self.steps.setAccessibleName("Connection test steps")
        self.steps.hide()
        layout.addWidget(self.steps)
        self.details = TechnicalDetails(name="Technical details of the connection test")
        self.details.hide()
        layout.addWidget(self.details)
        self.last_result: RelayCheck | None = None

    # -- values ---------------------------------------------------------------------------------

    def load(self, settings: PracticeSettings) -> None:
        self.address_field.setText(settings.relay_url)
        self.key_field.setText(settings.relay_credential)
        self._clear_result()

    def apply(self, settings: PracticeSettings) -> PracticeSettings:
        return replace(
            settings,
            relay_url=self.address_field.text().strip(),
            relay_credential=self.key_field.text().strip(),
        )

    def clear(self) -> None:
        self.address_field.clear()
        self.key_field.clear()
        self._clear_result()

    def _clear_result(self) -> None:
        self.test_summary.clear()
        self.steps.clear()
        self.steps.hide()
        self.details.clear()
        self.details.hide()
        self.last_result = None

    # -- the test -------------------------------------------------------------------------------

    def address(self) -> str:
        """The service sessions will use: the one typed, else the build's default."""
        return self.address_field.text().strip() or self._default

    def test(self) -> None:
        url = self.address()
        key = self.key_field.text().strip()
        self._clear_result()
        if not url:
            self.test_summary.setText(
                "Enter your provider's address first. Without one, sessions work only on this "
                "computer."
            )
            return
        try:
            PracticeSettings(relay_url=url, relay_credential=key).check()
        except SettingsError as exc:
            self.test_summary.setText(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            return
        self.test_button.setEnabled(False)
        self.test_summary.setText("Testing…")
        run_in_background(lambda: self._checker(url, key), self._show, self._failed, owner=self)

    def _show(self, result: RelayCheck) -> None:
        self.test_button.setEnabled(True)
        self.last_result = result
        if result.ok:
            self.test_summary.setText("Everything works: your clients can join from anywhere.")
        else:
            failed = next(step for step in result.steps if step.ok is False)
            title = STEP_TITLES.get(failed.name, failed.name).lower()
            self.test_summary.setText(f"Not ready yet: the {title} step did not work (below).")
        self.steps.setText(
            "\n".join(
                f"{MARKS[step.ok]} {STEP_TITLES.get(step.name, step.name)}: {step.words}"
                for step in result.steps
            )
        )
        self.steps.show()
        self.details.set_text(
            "\n".join(f"{step.name}: {step.detail}" for step in result.steps if step.detail)
        )
        self.details.show()
        self.tested.emit(result.ok)

    def _failed(self, error: Exception) -> None:
        self.test_button.setEnabled(True)
        self.test_summary.setText("The test could not run. Try again.")
        self.details.set_text(f"{type(error).__name__}: {error}")
        self.details.show()
        self.tested.emit(False)


def intro() -> QLabel:
    """The few words above the fields, for Settings and the first-run step."""
    return paragraph(
        "To meet clients who are not at this computer, Quietroom needs a session service on "
        "the internet. Your provider gives you its address and a key for your practice. "
        "The service only passes sealed messages between you and your client: it cannot see "
        "or hear your sessions."
    )
