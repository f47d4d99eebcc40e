"""The Backups page: where and when backups go, how many are kept, the backups made so far, and
"Back up now" (or "Back up with a passphrase...", for a backup that also opens with a separate
backup passphrase), "Verify" and "Restore...". The long runs happen off the UI thread with a
progress bar and a Cancel button; the window never waits for them.

Backups hold no PHI in the clear and nothing on this page names a client, but on lock the page
still empties its table, cancels a running operation and closes the restore and backup-passphrase
dialogs with their secrets."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from desktop.core.backups import (
    BackupRecord,
    BackupResult,
    BackupService,
    BackupSettings,
    RestoreKey,
    RestoreRequest,
    RestoreResult,
    Step,
    VerifyResult,
    explain,
    is_cancelled,
)
from desktop.core.passphrase_strength import assess, guess_time_text, judge_new_passphrase
from desktop.core.practice import MIN_PASSPHRASE_CHARS, KdfParams
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QObject,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStandardItem,
    QStandardItemModel,
    Qt,
    QTableView,
    QVBoxLayout,
    QWidget,
    Signal,
)
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph, secret_field

T = TypeVar("T")
Work = Callable[[Callable[[Step], None], Callable[[], bool]], T]

HISTORY_COLUMNS = ("Made", "Size", "Check", "Opens with")
OPENS_WITH = {True: "Recovery key or passphrase", False: "Recovery key", None: ""}
STATE_TEXT = {True: "Verified", False: "Failed", None: "Not yet verified"}
STATE_TIP = {
    True: "Everything in it was read back and checked",
    False: "This backup failed its check: do not rely on it",
    None: "Not checked since it was made: select it and press Verify",
}


# --------------------------------------------------------------------------- choosers (tests swap)
def ask_folder(parent: QWidget, title: str, start: str = "") -> str | None:
    """Ask for a folder; ``None`` when the person cancels."""
    chosen = QFileDialog.getExistingDirectory(parent, title, start)
    return chosen or None


def ask_file(parent: QWidget, title: str, start: str = "") -> str | None:
    """Ask for a backup file; ``None`` when the person cancels."""
    chosen, _ = QFileDialog.getOpenFileName(
        parent, title, start, "Quietroom backups (*.qrbackup);;All files (*)"
    )
    return chosen or None


# --------------------------------------------------------------------------- small helpers
def local_time(moment: datetime) -> str:
    return formats.date_time_text(moment)


def human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


class _Life:
    """Whether the page still exists: a background job may end after its window was closed and
    deleted (without a lock), and then its result has nowhere to go."""

    alive = True

    def end(self, *_: object) -> None:
        self.alive = False


class _StepRelay(QObject):
    """Carries progress from the worker thread to the UI thread (queued: the relay lives on the
    UI thread)."""

    step = Signal(object)


class Operation:
    """One long backup operation: its cancel flag (polled by the worker between 64 KiB chunks)
    and its progress reports, thinned to one per visible change."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.relay = _StepRelay()
        self._cancel = threading.Event()
        self._last: tuple[str, int | None] | None = None

    def report(self, step: Step) -> None:  # on the worker thread
        key = (step.phase.value, step.percent)
        if key != self._last:
            self._last = key
            self.relay.step.emit(step)

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()


# --------------------------------------------------------------------------- the page
class BackupsPage(Page):
    nav_title = "Backups"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self.operation: Operation | None = None
        self.restore_dialog: RestoreDialog | None = None
        self.passphrase_dialog: BackupPassphraseDialog | None = None
        # Argon2id parameters for a backup passphrase slot; None: the backup module's default
        # (RFC 9106 low-memory). Tests set a cheap one.
        self.backup_kdf: KdfParams | None = None
        self._loading_settings = False
        self._history_generation = 0
        self.history_loading = False
        self._cleared = False
        self._life = _Life()
        self.destroyed.connect(self._life.end)
        app = QApplication.instance()
        if app is not None:  # quitting stops a running operation as locking does
            app.aboutToQuit.connect(self.cancel)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 24, 28, 20)
        outer.setSpacing(12)
        outer.addWidget(heading("Backups"))
        intro = paragraph(
            "Every backup is encrypted and opens with your recovery key, so it can bring your "
            "records back on a new computer. Keep backups on an external drive or in a folder "
            "that is not on this computer's own disk."
        )
        outer.addWidget(intro)
        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setObjectName("backupWarning")
        self.warning.setAccessibleName("Backup warning")
        self.warning.setStyleSheet(
            "QLabel#backupWarning { background: #fbf1d5; color: #4a3b00;"
            " border: 1px solid #e6d29c; border-radius: 6px; padding: 8px 12px; }"
        )
        self.warning.hide()
        outer.addWidget(self.warning)
        outer.addWidget(self._build_settings())
        outer.addWidget(self._build_history(), 1)

    # -- building -------------------------------------------------------------------------------
    def _build_settings(self) -> QGroupBox:
        box = QGroupBox("Where and when")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.folder_label = QLabel("No folder chosen")
        self.folder_label.setAccessibleName("Backup folder")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Choose folder...")
        self.choose_button.setAccessibleName("Choose the backup folder")
        self.choose_button.clicked.connect(self.choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.choose_button)
        form.addRow("Backup folder:", folder_row)

        self.on_lock = QCheckBox("When I lock Quietroom")
        self.on_quit = QCheckBox("When I quit")
        self.on_lock.setAccessibleName("Back up automatically when I lock Quietroom")
        self.on_quit.setAccessibleName("Back up automatically when I quit")
        schedule_row = QHBoxLayout()
        schedule_row.addWidget(self.on_lock)
        schedule_row.addWidget(self.on_quit)
        once = QLabel("(at most once a day)")
        once.setEnabled(False)
        schedule_row.addWidget(once)
        schedule_row.addStretch(1)
        form.addRow("Back up automatically:", schedule_row)

        self.keep_daily = _spin(0, 366, "Daily backups to keep", " days")
        self.keep_weekly = _spin(0, 260, "Weekly backups to keep", " weeks")
        self.keep_monthly = _spin(0, 240, "Monthly backups to keep", " months")
        keep_row = QHBoxLayout()
        for spin in (self.keep_daily, self.keep_weekly, self.keep_monthly):
            keep_row.addWidget(spin)
        keep_row.addStretch(1)
        form.addRow("Keep the newest backup of the last:", keep_row)
        hint = QLabel(
            "Older backups are deleted after each new backup; the newest one is always kept. "
            "Changes are saved at once."
        )
        hint.setEnabled(False)
        form.addRow("", hint)

        for check in (self.on_lock, self.on_quit):
            check.toggled.connect(self._save_settings)
        for spin in (self.keep_daily, self.keep_weekly, self.keep_monthly):
            spin.valueChanged.connect(self._save_settings)
        return box

    def _build_history(self) -> QGroupBox:
        box = QGroupBox("Backups in this folder")
        column = QVBoxLayout(box)
        self.model = QStandardItemModel(0, len(HISTORY_COLUMNS))
        self.model.setHorizontalHeaderLabels(list(HISTORY_COLUMNS))
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Backups")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        metrics = self.table.fontMetrics()
        widths = ((1, "999.9 MB"), (2, STATE_TEXT[None]), (3, OPENS_WITH[True]))
        for col, widest in widths:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(col, metrics.horizontalAdvance(widest) + 48)
        selection = self.table.selectionModel()
        assert selection is not None
        selection.selectionChanged.connect(self._update_buttons)
        column.addWidget(self.table, 1)
        self.empty_label = paragraph("")
        self.empty_label.setAccessibleName("No backups")
        self.empty_label.hide()
        column.addWidget(self.empty_label)

        buttons = QHBoxLayout()
        self.backup_button = QPushButton("Back up now")
        self.backup_button.setAccessibleName("Back up now")
        self.backup_button.clicked.connect(self.back_up_now)
        self.passphrase_backup_button = QPushButton("Back up with a passphrase...")
        self.passphrase_backup_button.setAccessibleName("Back up with a backup passphrase")
        self.passphrase_backup_button.clicked.connect(self.open_passphrase_backup)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setAccessibleName("Verify the selected backup")
        self.verify_button.setToolTip("Read the selected backup and check everything in it")
        self.verify_button.clicked.connect(self.verify_selected)
        self.restore_button = QPushButton("Restore...")
        self.restore_button.setAccessibleName("Restore a backup")
        self.restore_button.setToolTip("Make a new vault folder from a backup")
        self.restore_button.clicked.connect(self.open_restore)
        buttons.addWidget(self.backup_button)
        buttons.addWidget(self.passphrase_backup_button)
        buttons.addWidget(self.verify_button)
        buttons.addStretch(1)
        buttons.addWidget(self.restore_button)
        column.addLayout(buttons)

        progress_row = QHBoxLayout()
        self.progress_label = QLabel()
        self.progress_label.setAccessibleName("What is happening")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setAccessibleName("Progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the running operation")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_row = QWidget()
        self.progress_row.setLayout(progress_row)
        self.progress_row.hide()
        column.addWidget(self.progress_row)

        self.message = paragraph("")
        self.message.setAccessibleName("Result")
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        column.addWidget(self.message)
        return box

    # -- the Page contract ----------------------------------------------------------------------
    @property
    def service(self) -> BackupService | None:
        return self.ctx.backups

    def activated(self) -> None:
        self._cleared = False
        self._load_settings()
        self.refresh()

    def clear_phi(self) -> None:
        """Nothing here names a client; still: cancel what runs, forget the table, close the
        restore and backup-passphrase dialogs with their secrets."""
        self._cleared = True
        if self.operation is not None:
            self.operation.cancel()  # the worker stops at its next chunk; its result is ignored
            self.operation = None
        self._history_generation += 1
        self.history_loading = False
        self.model.removeRows(0, self.model.rowCount())
        self.progress_row.hide()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress_label.clear()
        self.message.clear()
        self.message.hide()
        dialog, self.restore_dialog = self.restore_dialog, None
        if dialog is not None:
            dialog.clear_secrets()
            dialog.reject()
            dialog.deleteLater()
        asking, self.passphrase_dialog = self.passphrase_dialog, None
        if asking is not None:
            asking.clear_secrets()
            asking.reject()
            asking.deleteLater()

    # -- settings -------------------------------------------------------------------------------
    def _load_settings(self) -> None:
        service = self.service
        settings = service.settings if service is not None else BackupSettings()
        self._loading_settings = True
        try:
            self.on_lock.setChecked(settings.on_lock)
            self.on_quit.setChecked(settings.on_quit)
            self.keep_daily.setValue(settings.keep_daily)
            self.keep_weekly.setValue(settings.keep_weekly)
            self.keep_monthly.setValue(settings.keep_monthly)
        finally:
            self._loading_settings = False
        self.folder_label.setText(settings.destination or "No folder chosen")

    def _save_settings(self) -> None:
        service = self.service
        if self._loading_settings or service is None or self._cleared:
            return
        service.save_settings(
            replace(
                service.settings,
                on_lock=self.on_lock.isChecked(),
                on_quit=self.on_quit.isChecked(),
                keep_daily=self.keep_daily.value(),
                keep_weekly=self.keep_weekly.value(),
                keep_monthly=self.keep_monthly.value(),
            )
        )

    def choose_folder(self) -> None:
        service = self.service
        if service is None:
            return
        start = service.settings.destination or str(Path.home())
        chosen = ask_folder(self, "Choose where backups go", start)
        if chosen is None or self._cleared:  # cancelled, or locked while the chooser was open
            return
        folder = Path(chosen).resolve()
        if folder.is_relative_to(self.ctx.vault_dir.resolve()):
            self._show_message(
                "Backups cannot go inside the vault's own folder. Choose a folder elsewhere, "
                "ideally on an external drive."
            )
            return
        service.save_settings(replace(service.settings, destination=str(folder)))
        self.folder_label.setText(str(folder))
        self.ctx.nav.notify("Backup folder saved.")
        self.refresh()

    # -- history and warning --------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the warning (cheap: file names) and, off the UI thread, the history (it reads
        the audit log for the verification states)."""
        service = self.service
        warning = service.warning() if service is not None else "Backups are not available."
        self.warning.setText(warning or "")
        self.warning.setVisible(bool(warning))
        self._update_buttons()
        if service is None:
            return
        self._history_generation += 1
        generation = self._history_generation
        self.history_loading = True

        def shown(records: list[BackupRecord]) -> None:
            if generation == self._history_generation:
                self.history_loading = False
                self._show_history(records)
                self.ctx.nav.backups_changed()

        def failed(exc: Exception) -> None:
            if generation == self._history_generation:
                self.history_loading = False
                self._show_message(f"The list of backups could not be read. {explain(exc)}")

        run_in_background(service.history, self._while_alive(shown), self._while_alive(failed))

    def _while_alive(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        life = self._life

        def call(value: Any) -> None:
            if life.alive:
                callback(value)

        return call

    def _show_history(self, records: list[BackupRecord]) -> None:
        selected = self.selected_backup()
        self.model.removeRows(0, self.model.rowCount())
        for record in records:
            made = QStandardItem(local_time(record.created))
            made.setData(str(record.path), Qt.ItemDataRole.UserRole)
            made.setToolTip(record.path.name)
            size = QStandardItem(human_size(record.size))
            size.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            state = QStandardItem(STATE_TEXT[record.verified])
            state.setToolTip(STATE_TIP[record.verified])
            opens = QStandardItem(OPENS_WITH[record.passphrase])
            if record.passphrase:
                opens.setToolTip("It also opens with the backup passphrase set when it was made")
            self.model.appendRow([made, size, state, opens])
            if selected is not None and record.path == selected:
                self.table.selectRow(self.model.rowCount() - 1)
        folder = self.service.destination() if self.service is not None else None
        self.empty_label.setText(
            "No backups of this vault in the folder yet." if folder else "No backup folder yet."
        )
        self.empty_label.setVisible(not records)
        self._update_buttons()

    def selected_backup(self) -> Path | None:
        selection = self.table.selectionModel()
        if selection is None:
            return None
        rows = selection.selectedRows(0)
        if not rows:
            return None
        value = self.model.data(rows[0], Qt.ItemDataRole.UserRole)
        return Path(str(value)) if value else None

    def history_texts(self) -> list[list[str]]:
        """The table as text, row by row (for tests and screen readers' sake of checking)."""
        return [
            [
                str(self.model.data(self.model.index(row, col)) or "")
                for col in range(self.model.columnCount())
            ]
            for row in range(self.model.rowCount())
        ]

    def _update_buttons(self) -> None:
        service = self.service
        idle = self.operation is None
        has_folder = service is not None and service.destination() is not None
        self.backup_button.setEnabled(idle and has_folder)
        self.backup_button.setToolTip("" if has_folder else "Choose a backup folder first")
        self.passphrase_backup_button.setEnabled(idle and has_folder)
        self.passphrase_backup_button.setToolTip(
            "A backup that opens with a passphrase you choose, or with your recovery key"
            if has_folder
            else "Choose a backup folder first"
        )
        self.verify_button.setEnabled(idle and self.selected_backup() is not None)
        self.restore_button.setEnabled(idle and service is not None)
        self.choose_button.setEnabled(idle and service is not None)

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # -- long operations ------------------------------------------------------------------------
    def _run(
        self,
        kind: str,
        work: Work[T],
        on_done: Callable[[T], None],
        on_failed: Callable[[Exception], None],
    ) -> Operation:
        operation = Operation(kind)
        self.operation = operation
        operation.relay.step.connect(self._on_step)
        self.message.hide()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress_label.setText(kind)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.progress_row.show()
        self._update_buttons()

        def op() -> T:
            return work(operation.report, operation.cancelled)

        def finished(result: T) -> None:
            if self._end(operation, success=True):
                on_done(result)

        def failed(exc: Exception) -> None:
            if self._end(operation, success=False):
                on_failed(exc)

        run_in_background(op, self._while_alive(finished), self._while_alive(failed))
        return operation

    def _on_step(self, step: Step) -> None:
        operation = self.operation
        if operation is None or self.sender() is not operation.relay:
            return  # a report from an operation that was cancelled by a lock
        percent = step.percent
        if percent is None:
            self.progress.setRange(0, 0)  # busy: no measure for this phase
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(percent)
        self.progress_label.setText(step.phase.value)
        if not operation.cancelled():
            self.cancel_button.setEnabled(step.cancellable)

    def _end(self, operation: Operation, *, success: bool) -> bool:
        """The operation ended; False when its result no longer matters (locked meanwhile)."""
        if operation is not self.operation:
            return False
        self.operation = None
        if success:
            self.progress.setRange(0, 100)
            self.progress.setValue(100)
        self.progress_row.hide()
        self._update_buttons()
        return True

    def cancel(self) -> None:
        operation = self.operation
        if operation is None:
            return
        operation.cancel()
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Cancelling...")

    # back up now
    def back_up_now(self) -> None:
        self._back_up(None)

    def _back_up(self, backup_passphrase: str | None) -> None:
        service = self.service
        if service is None or self.operation is not None:
            return
        kdf = self.backup_kdf

        def work(step: Callable[[Step], None], cancelled: Callable[[], bool]) -> BackupResult:
            if backup_passphrase is None:
                return service.back_up_now(on_step=step, cancel=cancelled)
            return service.back_up_now(
                backup_passphrase=backup_passphrase, kdf=kdf, on_step=step, cancel=cancelled
            )

        with_passphrase = backup_passphrase is not None
        self._run(
            "Backing up",
            work,
            lambda result: self._backed_up(result, with_passphrase=with_passphrase),
            self._backup_failed,
        )

    def open_passphrase_backup(self) -> None:
        service = self.service
        if service is None or service.destination() is None or self.operation is not None:
            return
        if self.passphrase_dialog is None:
            self.passphrase_dialog = BackupPassphraseDialog(
                self, [self.ctx.practice.settings.therapist_name]
            )
            self.passphrase_dialog.submitted.connect(self._back_up_with_passphrase)
        self.passphrase_dialog.open()

    def _back_up_with_passphrase(self, passphrase: str) -> None:
        dialog = self.passphrase_dialog
        if dialog is not None:
            dialog.accept()  # clears its fields; the passphrase lives on only in the job
        self._back_up(passphrase)

    def _backed_up(self, result: BackupResult, *, with_passphrase: bool = False) -> None:
        opens = (
            "It opens with the backup passphrase you just set or with your recovery key."
            if with_passphrase
            else "It opens with your recovery key."
        )
        written = f"{result.path.name} ({human_size(result.size)})"
        self._show_message(f"Backup written and verified: {written}. {opens}")
        self.ctx.nav.notify("Backup written and verified.")
        self.refresh()

    def _backup_failed(self, exc: Exception) -> None:
        if is_cancelled(exc):
            self._show_message("Backup cancelled. Nothing was written.")
            self.ctx.nav.notify("Backup cancelled.")
        else:
            self._show_message(f"The backup did not complete. {explain(exc)}")
            self.ctx.nav.notify("The backup did not complete.")
        self.refresh()

    # verify
    def verify_selected(self) -> None:
        service, path = self.service, self.selected_backup()
        if service is None or path is None or self.operation is not None:
            return

        def work(step: Callable[[Step], None], cancelled: Callable[[], bool]) -> VerifyResult:
            return service.verify(path, on_step=step, cancel=cancelled)

        name = self._selected_made() or path.name
        self._run(
            "Verifying",
            work,
            lambda result: self._verified(name, result),
            lambda exc: self._verify_failed(name, exc),
        )

    def _selected_made(self) -> str | None:
        selection = self.table.selectionModel()
        rows = selection.selectedRows(0) if selection is not None else []
        if not rows:
            return None
        return str(self.model.data(rows[0]) or "") or None

    def _verified(self, name: str, result: VerifyResult) -> None:
        if result.ok:
            self._show_message(
                f"The backup of {name} is intact: everything in it was read back and checked, "
                f"including the {result.report.entries:,} entries of its audit log."
            )
            self.ctx.nav.notify("Backup verified.")
        else:
            self._show_message(
                f"The backup of {name} failed its check: " + "; ".join(result.problems) + ". "
                "Do not rely on it; make a new backup."
            )
            self.ctx.nav.notify("A backup failed its check.")
        self.refresh()

    def _verify_failed(self, name: str, exc: Exception) -> None:
        if is_cancelled(exc):
            self._show_message("Verification cancelled.")
            self.ctx.nav.notify("Verification cancelled.")
        else:
            self._show_message(f"The backup of {name} could not be verified. {explain(exc)}")
            self.ctx.nav.notify("A backup could not be verified.")
        self.refresh()

    # restore
    def open_restore(self) -> None:
        if self.service is None or self.operation is not None:
            return
        if self.restore_dialog is None:
            stamp = self.ctx.now().astimezone().strftime("%Y%m%d")
            suggested = self.ctx.vault_dir.with_name(f"{self.ctx.vault_dir.name}-restored-{stamp}")
            self.restore_dialog = RestoreDialog(self, suggested)
            self.restore_dialog.submitted.connect(self._restore)
        selected = self.selected_backup()
        if selected is not None:
            self.restore_dialog.backup_field.setText(str(selected))
        self.restore_dialog.open()

    def _restore(self, request: RestoreRequest) -> None:
        service, dialog = self.service, self.restore_dialog
        if service is None or dialog is None or self.operation is not None:
            return
        dialog.hide()

        def work(step: Callable[[Step], None], cancelled: Callable[[], bool]) -> RestoreResult:
            return service.restore(request, on_step=step, cancel=cancelled)

        self._run("Restoring", work, self._restored, self._restore_failed)

    def _restored(self, result: RestoreResult) -> None:
        dialog, self.restore_dialog = self.restore_dialog, None
        if dialog is not None:
            dialog.clear_secrets()
            dialog.deleteLater()
        lines = [f"Restored into {result.target}. The vault you have open was not changed."]
        if result.moved_aside is not None:
            lines.append(
                f"The vault that was in that folder was moved aside to {result.moved_aside}."
            )
        lines.append(
            "To open the restored vault, lock and quit Quietroom, then start it with: "
            f'quietroom --vault "{result.target}"'
        )
        self._show_message("\n".join(lines))
        self.ctx.nav.notify("Backup restored into a new folder.")

    def _restore_failed(self, exc: Exception) -> None:
        dialog = self.restore_dialog
        if is_cancelled(exc):
            self._show_message("Restore cancelled. Nothing was restored.")
            self.ctx.nav.notify("Restore cancelled.")
            if dialog is not None:
                dialog.clear_secrets()
                self.restore_dialog = None
                dialog.deleteLater()
            return
        self.ctx.nav.notify("The backup was not restored.")
        if dialog is not None:  # back to the dialog, its fields as they were, to fix the cause
            dialog.show_error(f"Nothing was restored. {explain(exc)}")
            dialog.open()
        else:
            self._show_message(f"Nothing was restored. {explain(exc)}")


# --------------------------------------------------------------------------- the restore dialog
class RestoreDialog(QDialog):
    """Which backup, what opens it, and the new folder for the restored vault. Emits
    ``submitted`` with the request; the page runs it (with progress) and reopens the dialog with
    the reason if it fails."""

    submitted = Signal(object)

    def __init__(self, parent: QWidget, suggested_target: Path) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore a backup")
        self.setModal(True)
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(
            paragraph(
                "Restoring makes a new vault folder from a backup. The vault you have open is "
                "not changed."
            )
        )
        form = QFormLayout()
        self.backup_field = QLineEdit()
        self.backup_field.setAccessibleName("Backup file")
        self.backup_field.setPlaceholderText("A .qrbackup file")
        self.backup_choose = QPushButton("Choose...")
        self.backup_choose.setAccessibleName("Choose the backup file")
        self.backup_choose.clicked.connect(self._choose_backup)
        form.addRow("Backup file:", _row(self.backup_field, self.backup_choose))

        self.use_recovery = QRadioButton("My recovery key")
        self.use_backup_passphrase = QRadioButton("A backup passphrase")
        self.use_this_vault = QRadioButton("This vault's own key (for its own backups)")
        self.keys = QButtonGroup(self)
        column = QVBoxLayout()
        for button, key in (
            (self.use_recovery, RestoreKey.RECOVERY_KEY),
            (self.use_backup_passphrase, RestoreKey.BACKUP_PASSPHRASE),
            (self.use_this_vault, RestoreKey.THIS_VAULT),
        ):
            button.setProperty("restore_key", key.value)
            self.keys.addButton(button)
            column.addWidget(button)
            button.toggled.connect(self._key_changed)
        form.addRow("Open it with:", column)

        self.secret_label = QLabel("Recovery key:")
        self.secret = secret_field("Recovery key", "e.g. ABCD-EFGH-...")
        form.addRow(self.secret_label, self.secret)
        self.passphrase_label = QLabel()
        self.passphrase = secret_field("Passphrase", "")
        form.addRow(self.passphrase_label, self.passphrase)
        self.confirm_label = QLabel("Type it again:")
        self.confirm = secret_field("Confirm the new passphrase", "The same passphrase")
        form.addRow(self.confirm_label, self.confirm)

        self.target_field = QLineEdit(str(suggested_target))
        self.target_field.setAccessibleName("Folder for the restored vault")
        self.target_choose = QPushButton("Choose...")
        self.target_choose.setAccessibleName("Choose the folder for the restored vault")
        self.target_choose.clicked.connect(self._choose_target)
        form.addRow("Restore into:", _row(self.target_field, self.target_choose))
        self.replace_existing = QCheckBox(
            "If a vault is already in that folder, move it aside (kept, renamed) and restore in "
            "its place"
        )
        self.replace_existing.setAccessibleName("Move an existing vault aside")
        form.addRow("", self.replace_existing)
        layout.addLayout(form)

        self.error = error_label()
        layout.addWidget(self.error)
        buttons, self.restore_button = dialog_buttons(self, "Restore", self._submit)
        layout.addWidget(buttons)
        self.use_recovery.setChecked(True)
        self._key_changed()
        self.rejected.connect(self.clear_secrets)

    def key(self) -> RestoreKey:
        checked = self.keys.checkedButton()
        value = checked.property("restore_key") if checked is not None else None
        return RestoreKey(str(value)) if value else RestoreKey.RECOVERY_KEY

    def _key_changed(self, *_: Any) -> None:
        key = self.key()
        self.secret_label.setVisible(key is not RestoreKey.THIS_VAULT)
        self.secret.setVisible(key is not RestoreKey.THIS_VAULT)
        recovery = key is RestoreKey.RECOVERY_KEY
        self.confirm_label.setVisible(recovery)
        self.confirm.setVisible(recovery)
        if recovery:
            self.secret_label.setText("Recovery key:")
            self.secret.setAccessibleName("Recovery key")
            self.secret.setPlaceholderText("e.g. ABCD-EFGH-...")
            self.passphrase_label.setText("New passphrase for the restored vault:")
            self.passphrase.setAccessibleName("New passphrase for the restored vault")
            self.passphrase.setPlaceholderText("At least 10 characters")
        else:
            self.secret_label.setText("Backup passphrase:")
            self.secret.setAccessibleName("Backup passphrase")
            self.secret.setPlaceholderText("The passphrase set for this backup")
            self.passphrase_label.setText("Vault passphrase at the time:")
            self.passphrase.setAccessibleName("The vault passphrase when the backup was made")
            self.passphrase.setPlaceholderText("The passphrase the vault had then")
        self.error.hide()

    def _choose_backup(self) -> None:
        start = self.backup_field.text() or str(Path.home())
        chosen = ask_file(self, "Choose a backup to restore", start)
        if chosen is not None:
            self.backup_field.setText(chosen)

    def _choose_target(self) -> None:
        start = str(Path(self.target_field.text()).parent) if self.target_field.text() else ""
        chosen = ask_folder(self, "Choose a new or empty folder for the restored vault", start)
        if chosen is not None:
            self.target_field.setText(chosen)

    def _submit(self) -> None:
        key = self.key()
        backup = self.backup_field.text().strip()
        target = self.target_field.text().strip()
        problem = None
        if not backup:
            problem = "Choose the backup file to restore."
        elif not Path(backup).is_file():
            problem = "That backup file cannot be found."
        elif not target:
            problem = "Choose a folder for the restored vault."
        elif key is not RestoreKey.THIS_VAULT and not self.secret.text():
            problem = f"Type the {key.value}."
        elif not self.passphrase.text():
            problem = "Type the passphrase."
        elif key is RestoreKey.RECOVERY_KEY and self.passphrase.text() != self.confirm.text():
            problem = "The two new passphrases differ."
        if problem is not None:
            self.show_error(problem)
            return
        self.error.hide()
        self.submitted.emit(
            RestoreRequest(
                backup=Path(backup),
                target=Path(target).expanduser(),
                key=key,
                secret=self.secret.text() if key is not RestoreKey.THIS_VAULT else "",
                passphrase=self.passphrase.text(),
                replace_existing=self.replace_existing.isChecked(),
            )
        )

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def clear_secrets(self) -> None:
        for field in (self.secret, self.passphrase, self.confirm):
            field.clear()


# --------------------------------------------------------------------------- backup passphrase
class BackupPassphraseDialog(QDialog):
    """Asks twice for a backup passphrase, strength-checked as at setup (length and zxcvbn).
    Emits ``submitted`` with it; the page runs the backup. Its fields are emptied whenever it
    closes."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget, known_words: list[str]) -> None:
        super().__init__(parent)
        self._known_words = known_words
        self.setWindowTitle("Back up with a passphrase")
        self.setModal(True)
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        explanation = paragraph(
            "This backup will open with this passphrase or with your recovery key. Quietroom "
            "does not keep the passphrase: write it down and keep it with the backup's owner."
        )
        explanation.setAccessibleName("About backup passphrases")
        layout.addWidget(explanation)
        form = QFormLayout()
        self.passphrase = secret_field(
            "Backup passphrase", f"At least {MIN_PASSPHRASE_CHARS} characters"
        )
        self.confirm = secret_field("Confirm the backup passphrase", "The same passphrase")
        form.addRow("Backup passphrase:", self.passphrase)
        form.addRow("Type it again:", self.confirm)
        layout.addLayout(form)
        self.strength = QLabel()
        self.strength.setAccessibleName("Passphrase strength")
        layout.addWidget(self.strength)
        self.advice = paragraph("")
        self.advice.setAccessibleName("Passphrase advice")
        layout.addWidget(self.advice)
        self.error = error_label()
        layout.addWidget(self.error)
        buttons, self.ok_button = dialog_buttons(self, "Back up", self._submit)
        self.ok_button.setAccessibleName("Back up with this passphrase")
        layout.addWidget(buttons)
        self.passphrase.textChanged.connect(self._assess)
        self.finished.connect(self.clear_secrets)
        self._assess()

    def _assess(self, *_: Any) -> None:
        text = self.passphrase.text()
        if not text:
            self.strength.setText("")
            self.advice.setText("")
            return
        strength = assess(text, self._known_words)
        self.strength.setText(f"Strength: {strength.label}")
        advice = [strength.warning, *strength.suggestions, guess_time_text(strength)]
        self.advice.setText(" ".join(a for a in advice if a))

    def _submit(self) -> None:
        first = self.passphrase.text()
        choice = judge_new_passphrase(first, self.confirm.text(), self._known_words)
        if not choice.ok:
            self.show_error(choice.refusal)
            return
        self.error.hide()
        self.submitted.emit(first)

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def clear_secrets(self, *_: Any) -> None:
        for field in (self.passphrase, self.confirm):
            field.clear()
        self.error.hide()


def _spin(low: int, high: int, name: str, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    spin.setAccessibleName(name)
    return spin


def _row(*widgets: QWidget) -> QHBoxLayout:
    row = QHBoxLayout()
    for index, widget in enumerate(widgets):
        row.addWidget(widget, 1 if index == 0 else 0)
    return row
