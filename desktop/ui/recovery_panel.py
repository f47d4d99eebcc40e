"""The recovery key, shown once: the key in large type, Print... and Save as PDF..., and the check
that it was written down (its last group typed back, and a box ticked). The first-run wizard and
the "new recovery key" dialog show the same panel."""

from __future__ import annotations

from pathlib import Path

from desktop.ui import recovery_sheet
from desktop.ui.qt import (
    QCheckBox,
    QFileDialog,
    QFont,
    QFontDatabase,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPrintDialog,
    QPrinter,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from desktop.ui.widgets import paragraph, secret_field


def ask_save_path(parent: QWidget, suggested: str) -> Path | None:
    """Where to save the recovery sheet (tests replace this)."""
    name, _ = QFileDialog.getSaveFileName(parent, "Quietroom - save recovery key", suggested,
                                          "PDF (*.pdf)")  # fmt: skip
    return Path(name) if name else None


class RecoveryKeyPanel(QWidget):
    """``confirmed`` says whether the person has shown they have the key (the last group typed
    back and the box ticked)."""

    confirmed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self._therapist = ""
        self._created_at = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.key_label = QLabel()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(mono.pointSizeF() * 1.4)
        mono.setWeight(QFont.Weight.DemiBold)
        self.key_label.setFont(mono)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.key_label.setAccessibleName("Recovery key")
        self.key_label.setStyleSheet("padding: 14px; border: 1px dashed palette(mid);")
        layout.addWidget(self.key_label)
        row = QHBoxLayout()
        self.print_button = QPushButton("Print...")
        self.print_button.setAccessibleName("Print the recovery key")
        self.print_button.clicked.connect(self.print_key)
        self.pdf_button = QPushButton("Save as PDF...")
        self.pdf_button.setAccessibleName("Save the recovery key as a PDF")
        self.pdf_button.setToolTip("Save it to a USB stick to print, not to this computer")
        self.pdf_button.clicked.connect(self.save_key_pdf)
        row.addWidget(self.print_button)
        row.addWidget(self.pdf_button)
        row.addStretch(1)
        layout.addLayout(row)
        self.sheet_status = paragraph("")
        self.sheet_status.setAccessibleName("Recovery sheet status")
        layout.addWidget(self.sheet_status)
        layout.addWidget(paragraph("To check you have it, type its last group:"))
        self.typed_back = secret_field("Last group of the recovery key", "e.g. ABCD")
        self.typed_back.setEchoMode(QLineEdit.EchoMode.Normal)
        self.typed_back.textChanged.connect(self._check)
        layout.addWidget(self.typed_back)
        self.written = QCheckBox("I have written down or printed my recovery key")
        self.written.toggled.connect(self._check)
        layout.addWidget(self.written)

    def show_key(self, key: str, therapist: str, created_at: str) -> None:
        self.key_label.setText(key)
        self._therapist, self._created_at = therapist, created_at
        self._check()

    def key(self) -> str:
        return self.key_label.text()

    def is_confirmed(self) -> bool:
        last_group = self.key_label.text().rsplit("-", 1)[-1]
        typed = self.typed_back.text().strip().upper()
        return bool(last_group) and self.written.isChecked() and typed == last_group

    def forget(self) -> None:
        """The key is shown once: clear it from the screen."""
        self.key_label.clear()
        self.typed_back.clear()
        self.written.setChecked(False)
        self.sheet_status.setText("")

    def _check(self) -> None:
        self.confirmed.emit(self.is_confirmed())

    def _sheet_args(self) -> tuple[str, str, str]:
        return self.key_label.text(), self._therapist, self._created_at

    def save_key_pdf(self) -> None:
        path = ask_save_path(self, "quietroom-recovery-key.pdf")
        if path is None:
            return
        try:
            recovery_sheet.save_pdf(path, *self._sheet_args())
        except OSError as exc:
            self.sheet_status.setText(f"Could not save the PDF: {exc.strerror or exc}")
        else:
            self.sheet_status.setText(
                f"Saved {path.name}. Print it, then delete the file from this computer."
            )

    def print_key(self) -> None:
        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle("Quietroom - print recovery key")
        args = self._sheet_args()
        dialog.accepted.connect(lambda: recovery_sheet.print_sheet(printer, *args))
        dialog.accepted.connect(lambda: self.sheet_status.setText("Sent to the printer."))
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.show()
