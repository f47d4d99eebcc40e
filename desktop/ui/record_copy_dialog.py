"""A client's copy of their record (right of access): readable PDF, machine-readable FHIR, or
both, optionally protected with a passphrase the therapist tells the client another way. A
disclosure: recipient and purpose go into the audit log. Psychotherapy notes stay out unless
ticked. Opened with ``open()``, never ``exec()``: locking closes it."""

from __future__ import annotations

from pathlib import Path

from desktop.core.disclosure import MAX_DISCLOSURE_TEXT
from desktop.core.errors import PracticeError
from desktop.core.passphrase_strength import judge_new_passphrase
from desktop.core.records.access_request import ExportFormat, ExportRequest, ExportResult
from desktop.ui import records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph, secret_field

TITLE = "Quietroom - copy of the record"
PURPOSES = (
    "Requested by the client (right of access)",
    "Continuity of care",
    "Moving to another therapist",
    "Legal request (court order or subpoena)",
)


class RecordCopyDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget, client_id: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.client_id = client_id
        self.busy = False
        self._closed = False
        self.result_paths: tuple[Path, ...] = ()
        self.setMinimumWidth(580)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(heading("Copy of the record"))
        layout.addWidget(
            paragraph(
                "Everything in the client's record: details, sessions, diagnoses and signed "
                "notes with their amendments. The recipient and the purpose are recorded in the "
                "audit log."
            )
        )
        form = QFormLayout()
        self.recipient = QLineEdit("The client")
        self.recipient.setMaxLength(MAX_DISCLOSURE_TEXT)
        self.recipient.setAccessibleName("Recipient")
        self.recipient.setMinimumWidth(340)
        form.addRow("&Recipient", self.recipient)
        self.purpose = QComboBox()
        self.purpose.setEditable(True)
        self.purpose.addItems(PURPOSES)
        self.purpose.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.purpose.setAccessibleName("Purpose")
        form.addRow("&Purpose", self.purpose)
        self.pdf = QCheckBox("A readable document (PDF)")
        self.pdf.setAccessibleName("Include a readable document")
        self.pdf.setChecked(True)
        self.fhir = QCheckBox("A file other health software can read (FHIR)")
        self.fhir.setAccessibleName("Include a file other health software can read")
        self.fhir.setChecked(True)
        kinds = QVBoxLayout()
        kinds.addWidget(self.pdf)
        kinds.addWidget(self.fhir)
        form.addRow("Contents", kinds)
        layout.addLayout(form)

        label = "Include psychotherapy notes (this copy only)"
        self.include_psychotherapy = QCheckBox(label)
        self.include_psychotherapy.setAccessibleName(label)
        layout.addWidget(self.include_psychotherapy)
        layout.addWidget(
            paragraph(
                "Psychotherapy notes are not part of what a client may ask for; they are left "
                "out unless you tick the box."
            )
        )

        self.protect = QCheckBox("Protect the copy with a passphrase")
        self.protect.setAccessibleName("Protect the copy with a passphrase")
        layout.addWidget(self.protect)
        self.passphrase_box = QWidget()
        secret = QFormLayout(self.passphrase_box)
        secret.setContentsMargins(24, 0, 0, 0)
        self.passphrase = secret_field("Passphrase for the copy", "A passphrase for the client")
        self.again = secret_field("Passphrase again", "Type it again")
        self.hint = QLabel()
        self.hint.setAccessibleName("Passphrase advice")
        secret.addRow("Pa&ssphrase", self.passphrase)
        secret.addRow("&Again", self.again)
        secret.addRow("", self.hint)
        secret.addRow(
            "",
            paragraph(
                "Tell the client the passphrase in person or by phone, never in the same "
                "message as the file. It is a PDF: any PDF reader opens it after asking for the "
                "passphrase, and the FHIR file, if chosen, is attached inside it."
            ),
        )
        self.passphrase_box.hide()
        layout.addWidget(self.passphrase_box)
        self.protect.toggled.connect(self._protect_toggled)
        self.passphrase.textChanged.connect(self._judge)
        self.again.textChanged.connect(self._judge)

        self.error = error_label()
        layout.addWidget(self.error)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Preparing the copy…")
        self.progress.setAccessibleName("Preparing the copy")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.buttons, self.go_button = dialog_buttons(self, "&Save the copy…", self.go)
        layout.addWidget(self.buttons)
        self.finished.connect(self._finished)

    def _protect_toggled(self, on: bool) -> None:
        self.passphrase_box.setVisible(on)
        self.adjustSize()  # grow (or shrink) to fit the passphrase fields

    def _judge(self) -> None:
        self.error.hide()
        choice = judge_new_passphrase(self.passphrase.text(), self.again.text())
        self.hint.setText(choice.hint)

    def _show_error(self, message: str) -> None:
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()

    def request(self) -> ExportRequest | None:
        """The answers, checked; None (with the reason shown) when something is missing."""
        formats = frozenset(
            f for f, box in ((ExportFormat.PDF, self.pdf), (ExportFormat.FHIR, self.fhir))
            if box.isChecked()
        )  # fmt: skip
        if not formats:
            self._show_error("Choose a readable document, a FHIR file, or both.")
            return None
        if not self.recipient.text().strip() or not self.purpose.currentText().strip():
            self._show_error("Say who receives the copy and why.")
            return None
        passphrase = None
        if self.protect.isChecked():
            choice = judge_new_passphrase(self.passphrase.text(), self.again.text())
            if not choice.ok:
                self._show_error(choice.refusal)
                self.passphrase.setFocus()
                return None
            passphrase = self.passphrase.text()
        return ExportRequest(
            formats,
            recipient=self.recipient.text().strip(),
            purpose=self.purpose.currentText().strip(),
            include_psychotherapy=self.include_psychotherapy.isChecked(),
            package_passphrase=passphrase,
        )

    def go(self) -> None:
        if self.busy:
            return
        request = self.request()
        if request is None:
            return
        self.error.hide()
        day = self.ctx.now().astimezone().date().isoformat()
        if request.package_passphrase is not None:
            suggested, name_filter = f"record-{day}.pdf", "PDF documents (*.pdf)"
        elif request.formats == {ExportFormat.FHIR}:
            suggested, name_filter = f"record-{day}.fhir.json", "FHIR files (*.json)"
        elif request.formats == {ExportFormat.PDF}:
            suggested, name_filter = f"record-{day}.pdf", "PDF documents (*.pdf)"
        else:
            suggested, name_filter = f"record-{day}", "PDF and FHIR files (*.pdf *.json)"
        records_common.ask_save_path(
            self, "Quietroom - save the copy", suggested, name_filter,
            lambda path: self._save_to(request, path),
        )  # fmt: skip

    def _save_to(self, request: ExportRequest, path: Path | None) -> None:
        if path is None or self._closed:
            return  # cancelled: nothing read, nothing written
        records = self.ctx.practice.records
        formats = records_common.locale_formats()
        client_id = self.client_id
        self._set_busy(True)
        run_in_background(
            lambda: records.export_record(client_id, request, path, formats=formats),
            self._done,
            self._failed,
            owner=self,
        )

    def _done(self, result: ExportResult) -> None:
        self._set_busy(False)
        self.result_paths = result.paths
        files = len(result.paths)
        self.ctx.nav.notify(
            f"Saved the copy of the record ({files} file{'s' if files > 1 else ''})."
        )
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if isinstance(exc, PracticeError):
            self._show_error(str(exc))
        elif isinstance(exc, OSError):
            self._show_error(f"Could not write the file: {exc.strerror or 'not writable'}.")
        else:
            self._show_error(f"Unexpected problem: {type(exc).__name__}")

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.progress.setVisible(busy)
        self.buttons.setEnabled(not busy)

    def _finished(self, _: int) -> None:
        """Closed (done, cancelled, or by locking): forget the passphrase."""
        self._closed = True
        self.passphrase.clear()
        self.again.clear()
        if not self.busy:
            self.deleteLater()


def start_record_copy(ctx: UiContext, parent: QWidget, client_id: str) -> RecordCopyDialog:
    dialog = RecordCopyDialog(ctx, parent, client_id)
    dialog.open()
    dialog.recipient.setFocus()
    return dialog
