"""What an unlocked vault shows until the full client arrives: the unlock summary, audit
verification, and Lock (Ctrl+L)."""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.practice import AuditIntegrityError, Practice
from desktop.ui.background import run_in_background
from desktop.ui.qt import QKeySequence, QPushButton, QShortcut, Qt
from desktop.ui.widgets import CardPage, heading, paragraph


class HomeWindow(CardPage):
    def __init__(self, practice: Practice, on_lock: Callable[[], None]) -> None:
        super().__init__()
        self.setWindowTitle("Quietroom")
        self._practice = practice
        self._on_lock = on_lock
        self.body.addWidget(heading("Your vault is open"))
        self.summary = paragraph(self._summary())
        self.summary.setAccessibleName("Unlock summary")
        self.body.addWidget(self.summary)
        self.audit_status = paragraph("")
        self.audit_status.setAccessibleName("Audit log status")
        self.body.addWidget(self.audit_status)
        self.verify_button = QPushButton("Verify audit log")
        self.verify_button.clicked.connect(self.verify)
        self.lock_button = QPushButton("Lock  (Ctrl+L)")
        self.lock_button.setAccessibleName("Lock")
        self.lock_button.clicked.connect(self.lock)
        self._lock_shortcut = QShortcut(QKeySequence("Ctrl+L"), self)
        self._lock_shortcut.activated.connect(self.lock)
        self.body.addWidget(self.verify_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.body.addWidget(self.lock_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.resize(640, 420)

    def _summary(self) -> str:
        info = self._practice.unlock_info
        if info is None:
            return ""
        lines = [f"{info.audit_entries} entries in the audit log."]
        if info.failed_attempts:
            lines.append(
                f"{len(info.failed_attempts)} failed unlock attempt(s) since you last opened "
                f"the vault; the last at {info.failed_attempts[-1].at}."
            )
        if info.method == "recovery":
            lines.append("Opened with the recovery key (recorded as emergency access).")
        return "\n".join(lines)

    def verify(self) -> None:
        self.verify_button.setEnabled(False)
        self.audit_status.setText("Verifying...")
        run_in_background(self._practice.verify_audit, self._verified, self._verify_failed)

    def _verified(self, report: object) -> None:
        self.verify_button.setEnabled(True)
        entries = getattr(report, "entries", 0)
        self.audit_status.setText(f"Audit log verified: {entries} entries, chain intact.")

    def _verify_failed(self, exc: Exception) -> None:
        self.verify_button.setEnabled(True)
        if isinstance(exc, AuditIntegrityError):
            self.audit_status.setText(f"Audit log FAILED verification: {exc}")
        else:
            self.audit_status.setText(f"Could not verify: {exc}")

    def lock(self) -> None:
        self._practice.lock()
        self._on_lock()
