"""Everything the therapist owns, in open formats, into a ZIP file: so nobody is locked in.
Audited by the domain."""

from __future__ import annotations

from pathlib import Path

from desktop.core.errors import PracticeError
from desktop.core.records.practice_export import PracticeExport
from desktop.ui import records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import QCheckBox, QDialog, QProgressBar, QVBoxLayout, QWidget
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph

TITLE = "Quietroom - export everything"


class PracticeExportDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.exported: PracticeExport | None = None
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Export everything"))
        layout.addWidget(
            paragraph(
                "All your clients, sessions, payments and notes, and the audit log, in open "
                "formats any other program can read: spreadsheets (CSV) and one health-record "
                "file (FHIR) per client. Keep the file as safe as the records themselves: it "
                "is not protected by your passphrase."
            )
        )
        label = "Include psychotherapy notes"
        self.include_psychotherapy = QCheckBox(label)
        self.include_psychotherapy.setAccessibleName(label)
        self.include_psychotherapy.setChecked(True)
        layout.addWidget(self.include_psychotherapy)
        self.error = error_label()
        layout.addWidget(self.error)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Exporting…")
        self.progress.setAccessibleName("Exporting")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.buttons, self.go_button = dialog_buttons(self, "&Save as…", self.go)
        layout.addWidget(self.buttons)
        self.finished.connect(lambda _: self.deleteLater())

    def go(self) -> None:
        day = self.ctx.now().astimezone().date().isoformat()
        records_common.ask_save_path(
            self, "Quietroom - save everything", f"quietroom-export-{day}.zip",
            "ZIP archives (*.zip)", self._save_to,
        )  # fmt: skip

    def _save_to(self, path: Path | None) -> None:
        if path is None:
            return
        if path.suffix.lower() != ".zip":
            path = path.with_name(path.name + ".zip")
        records = self.ctx.practice.records
        include = self.include_psychotherapy.isChecked()
        self.progress.show()
        self.buttons.setEnabled(False)
        run_in_background(
            lambda: records.export_practice(path, include_psychotherapy=include),
            self._done, self._failed, owner=self,
        )  # fmt: skip

    def _done(self, result: PracticeExport) -> None:
        self.exported = result
        self.progress.hide()
        self.ctx.nav.notify(f"Exported {result.clients} clients and {result.sessions} sessions.")
        self.accept()

    def _failed(self, exc: Exception) -> None:
        self.progress.hide()
        self.buttons.setEnabled(True)
        message = str(exc) if isinstance(exc, PracticeError) else type(exc).__name__
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()


def start_practice_export(ctx: UiContext, parent: QWidget) -> PracticeExportDialog:
    dialog = PracticeExportDialog(ctx, parent)
    dialog.open()
    return dialog
