"""Print / export as an audited disclosure: one note or a client's whole record, on paper or as
a PDF. The dialog asks who receives it and why (both recorded in the audit log by the domain),
and, for a client's record, whether psychotherapy notes go too (unchecked unless the therapist
ticks it, for this one disclosure). Only after the destination is chosen is the document fetched
(the audited step) and rendered, off the UI thread; cancelling at any point writes nothing.

``ask_save_path`` and ``ask_printer`` are module-level so that tests can stand in for the file and
print dialogs. Every dialog here is opened with ``open()``, never ``exec()``: locking closes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.core.disclosure import MAX_DISCLOSURE_TEXT, DisclosureKind, Document
from desktop.core.errors import PracticeError
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.pdf import Letterhead, print_document, write_pdf
from desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLineEdit,
    QPrintDialog,
    QPrinter,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import error_label, heading, paragraph

TITLE = "Quietroom - print or export"
PURPOSES = (
    "Continuity of care",
    "Requested by the client",
    "Referral",
    "Insurance or billing",
    "Consultation or supervision",
    "Legal request (court order or subpoena)",
)

PathCallback = Callable[[Path | None], None]
PrinterCallback = Callable[[QPrinter | None], None]


def _documents_folder() -> Path:
    documents = Path.home() / "Documents"
    return documents if documents.is_dir() else Path.home()


def ask_save_path(parent: QWidget, suggested: str, on_chosen: PathCallback) -> None:
    """Ask where to save the PDF (non-blocking); ``on_chosen`` gets the path, or None."""
    dialog = QFileDialog(parent, "Quietroom - save as PDF")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter("PDF documents (*.pdf)")
    dialog.setDefaultSuffix("pdf")
    # Qt's own dialog, not the platform's: GTK and Windows file pickers add what they save to the
    # OS "recent files" list, and a disclosure's file name may name a client.
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setDirectory(str(_documents_folder()))
    dialog.selectFile(suggested)
    chosen: list[Path] = []
    dialog.fileSelected.connect(lambda name: chosen.append(Path(name)))

    def finished(_: int) -> None:
        dialog.deleteLater()
        on_chosen(chosen[0] if chosen else None)

    dialog.finished.connect(finished)
    dialog.open()


def ask_printer(parent: QWidget, on_chosen: PrinterCallback) -> None:
    """Ask which printer (non-blocking); ``on_chosen`` gets the set-up printer, or None."""
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    dialog = QPrintDialog(printer, parent)
    dialog.setWindowTitle("Quietroom - print")

    def finished(result: int) -> None:
        dialog.deleteLater()
        on_chosen(printer if result == QDialog.DialogCode.Accepted.value else None)

    dialog.finished.connect(finished)
    QDialog.open(dialog)  # (the stubs know only QPrintDialog's two-argument open)


class DisclosureDialog(QDialog):
    def __init__(
        self,
        ctx: UiContext,
        parent: QWidget,
        *,
        client_id: str | None = None,
        note_id: str | None = None,
        psychotherapy: bool = False,
        title: str | None = None,
    ) -> None:
        super().__init__(parent)
        if (client_id is None) == (note_id is None):
            raise ValueError("disclose either a client's record or one note")
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.client_id = client_id
        self.note_id = note_id
        self.psychotherapy_note = psychotherapy and note_id is not None
        self.busy = False
        self._closed = False
        self._printer: QPrinter | None = None

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        what = "this note" if note_id is not None else "the client's record"
        layout.addWidget(heading(title or f"Print or export {what}"))
        layout.addWidget(
            paragraph(
                "This is a disclosure of health information: the recipient and the purpose are "
                "recorded in the audit log."
            )
        )
        form = QFormLayout()
        self.recipient = QLineEdit()
        self.recipient.setMaxLength(MAX_DISCLOSURE_TEXT)
        self.recipient.setPlaceholderText("Who receives it, e.g. the client's physician")
        self.recipient.setAccessibleName("Recipient")
        self.recipient.setMinimumWidth(340)
        form.addRow("&Recipient", self.recipient)
        self.purpose = QComboBox()
        self.purpose.setEditable(True)
        self.purpose.addItems(PURPOSES)
        self.purpose.setCurrentIndex(-1)
        self.purpose.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.purpose.setAccessibleName("Purpose")
        line = self.purpose.lineEdit()
        if line is not None:
            line.setMaxLength(MAX_DISCLOSURE_TEXT)
            line.setPlaceholderText("Choose or type the purpose")
        form.addRow("&Purpose", self.purpose)
        self.save_choice = QRadioButton("Save as PDF")
        self.save_choice.setAccessibleName("Destination: save as PDF")
        self.save_choice.setChecked(True)
        self.print_choice = QRadioButton("Print")
        self.print_choice.setAccessibleName("Destination: print")
        destination = QVBoxLayout()
        destination.addWidget(self.save_choice)
        destination.addWidget(self.print_choice)
        form.addRow("Destination", destination)
        layout.addLayout(form)

        if self.psychotherapy_note:
            label = "Include this psychotherapy note (this disclosure only)"
        else:
            label = "Include psychotherapy notes (this disclosure only)"
        self.include_psychotherapy = QCheckBox(label)
        self.include_psychotherapy.setAccessibleName(label)
        self.include_psychotherapy.setChecked(False)
        self.include_psychotherapy.setVisible(client_id is not None or self.psychotherapy_note)
        layout.addWidget(self.include_psychotherapy)
        if self.psychotherapy_note:
            layout.addWidget(
                paragraph(
                    "Psychotherapy notes are kept apart from the record and are disclosed only "
                    "when you include them explicitly."
                )
            )

        self.error = error_label()
        layout.addWidget(self.error)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Preparing the document…")
        self.progress.setAccessibleName("Preparing the document")
        self.progress.hide()
        layout.addWidget(self.progress)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.go_button = QPushButton("Save as PDF…")
        self.go_button.setAccessibleName("Continue")
        self.buttons.addButton(self.go_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.go)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.go_button.setDefault(True)  # (only once it is inside the dialog): Enter continues
        self.save_choice.toggled.connect(self._destination_changed)
        self.finished.connect(self._finished)

    # -- the steps ------------------------------------------------------------------------------
    def _destination_changed(self) -> None:
        self.go_button.setText("Save as PDF…" if self.save_choice.isChecked() else "Print…")

    def _show_error(self, message: str) -> None:
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()

    def go(self) -> None:
        """Check the answers, then ask for the file (or printer)."""
        if self.busy:
            return
        if not self.recipient.text().strip():
            self._show_error("Say who receives this disclosure.")
            self.recipient.setFocus()
            return
        if not self.purpose.currentText().strip():
            self._show_error("Say what the disclosure is for.")
            self.purpose.setFocus()
            return
        if self.psychotherapy_note and not self.include_psychotherapy.isChecked():
            self._show_error("Tick the box to include this psychotherapy note, or cancel.")
            self.include_psychotherapy.setFocus()
            return
        self.error.hide()
        if self.save_choice.isChecked():
            ask_save_path(self, self._suggested_name(), self._save_to)
        else:
            ask_printer(self, self._print_on)

    def _suggested_name(self) -> str:
        day = self.ctx.now().astimezone().date().isoformat()
        what = "note" if self.note_id is not None else "record"
        return f"quietroom-{what}-{day}.pdf"  # no name in it: file names travel far

    def _letterhead(self) -> Letterhead:
        settings = self.ctx.practice.settings
        return Letterhead(
            practice=settings.author("") or "Quietroom",
            recipient=self.recipient.text().strip(),
            purpose=self.purpose.currentText().strip(),
            day=self.ctx.now().astimezone().date(),
        )

    def _fetch(self, kind: DisclosureKind) -> Callable[[], Document]:
        """The audited read, as a function for the worker thread."""
        practice = self.ctx.practice
        letterhead = self._letterhead()
        include = self.include_psychotherapy.isChecked()
        note_id, client_id = self.note_id, self.client_id

        def fetch() -> Document:
            if note_id is not None:
                return practice.note_document(
                    note_id, kind, recipient=letterhead.recipient, purpose=letterhead.purpose,
                    include_psychotherapy=include,
                )  # fmt: skip
            assert client_id is not None
            return practice.client_document(
                client_id, kind, recipient=letterhead.recipient, purpose=letterhead.purpose,
                include_psychotherapy=include,
            )  # fmt: skip

        return fetch

    def _save_to(self, path: Path | None) -> None:
        if path is None or self._closed:
            return  # cancelled: nothing fetched, nothing written
        if path.suffix.lower() != ".pdf":
            path = path.with_name(path.name + ".pdf")
        fetch, letterhead = self._fetch(DisclosureKind.EXPORT), self._letterhead()
        self._start(lambda: write_pdf(fetch(), letterhead, path), "Saved the PDF")

    def _print_on(self, printer: QPrinter | None) -> None:
        if printer is None or self._closed:
            return
        fetch, letterhead = self._fetch(DisclosureKind.PRINT), self._letterhead()
        self._printer = printer  # kept alive until the job is done
        self._start(lambda: print_document(fetch(), letterhead, printer), "Sent to the printer")

    def _start(self, op: Callable[[], int], done_message: str) -> None:
        self._set_busy(True)

        def done(pages: int) -> None:
            self._set_busy(False)
            if self._closed:
                self.deleteLater()
                return
            self.ctx.nav.notify(f"{done_message} ({pages} page{'s' if pages != 1 else ''}).")
            self.accept()

        run_in_background(op, done, self._failed, owner=self)

    def _failed(self, exc: Exception) -> None:
        self._set_busy(False)
        if self._closed:
            self.deleteLater()
            return
        if isinstance(exc, PracticeError):
            message = str(exc)
        elif isinstance(exc, OSError):
            message = f"Could not write the file: {exc.strerror or 'the folder is not writable'}."
        else:
            message = f"Unexpected problem: {type(exc).__name__}"
        self._show_error(message)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.progress.setVisible(busy)
        for widget in (self.recipient, self.purpose, self.include_psychotherapy, self.buttons):
            widget.setEnabled(not busy)
        self.save_choice.setEnabled(not busy)
        self.print_choice.setEnabled(not busy)

    def _finished(self, _: int) -> None:
        """Closed (done, cancelled, or by locking): forget the answers."""
        self._closed = True
        self.recipient.clear()
        self.purpose.setCurrentIndex(-1)
        self.purpose.clearEditText()
        self.error.clear()
        if not self.busy:
            self.deleteLater()


def start_disclosure(
    ctx: UiContext,
    parent: QWidget,
    *,
    client_id: str | None = None,
    note_id: str | None = None,
    psychotherapy: bool = False,
) -> DisclosureDialog:
    """Ask for recipient and purpose (and whether psychotherapy notes go too), then print or save
    the client record (``client_id``) or one note (``note_id``; ``psychotherapy`` if it is a
    psychotherapy note) as a PDF. Non-blocking: returns the open dialog."""
    dialog = DisclosureDialog(
        ctx, parent, client_id=client_id, note_id=note_id, psychotherapy=psychotherapy
    )
    dialog.open()
    dialog.recipient.setFocus()
    return dialog
