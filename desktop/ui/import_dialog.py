"""Switching in from another practice suite: choose a CSV export, say which column holds what
(prefilled from the layout that fits the file), preview the first lines, check every line (a dry
run that says what would happen to each and why a line would be refused), then import. The
domain audits the check and the import; importing the same file again adds nothing twice."""

from __future__ import annotations

from pathlib import Path

from desktop.core.errors import PracticeError
from desktop.core.records.import_layouts import (
    LAYOUTS,
    CsvTable,
    ImportKind,
    Layout,
    fields_of,
)
from desktop.core.records.importer import ImportPlan, ImportReport, RowAction, mapped_value
from desktop.ui import formats, records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import error_label, heading, paragraph

TITLE = "Quietroom - import from another program"
NOT_IN_FILE = "(not in the file)"
PREVIEW_LINES = 5
_SEP = "\x1f"
_ACTION_WORDS = {
    RowAction.ADD: "Will be added",
    RowAction.LINK: "Matched to one already here",
    RowAction.ALREADY: "Imported before",
    RowAction.REFUSE: "Refused",
    RowAction.SKIP: "Empty line",
}


class ImportDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.table: CsvTable | None = None
        self.plan: ImportPlan | None = None
        self.report: ImportReport | None = None
        self.resize(860, 720)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Import from another program"))
        layout.addWidget(
            paragraph(
                "Export your client list and your appointments from the other program as CSV "
                "files. Import the clients first, then the appointments. Nothing is added until "
                "you have checked every line."
            )
        )
        kinds = QHBoxLayout()
        self.clients_choice = QRadioButton("&Clients")
        self.clients_choice.setChecked(True)
        self.appointments_choice = QRadioButton("A&ppointments")
        kinds.addWidget(QLabel("The file holds"))
        kinds.addWidget(self.clients_choice)
        kinds.addWidget(self.appointments_choice)
        kinds.addStretch(1)
        self.choose_button = QPushButton("Choose &file…")
        self.choose_button.setAccessibleName("Choose file")
        self.choose_button.clicked.connect(self.choose_file)
        kinds.addWidget(self.choose_button)
        layout.addLayout(kinds)
        self.file_label = QLabel("No file chosen")
        self.file_label.setAccessibleName("Chosen file")
        layout.addWidget(self.file_label)

        self.layout_choice = QComboBox()
        self.layout_choice.setAccessibleName("Exported by")
        for known in LAYOUTS:
            self.layout_choice.addItem(known.name, known.key)
        self.layout_choice.currentIndexChanged.connect(self._layout_changed)
        top = QFormLayout()
        top.addRow("Exported &by", self.layout_choice)
        layout.addLayout(top)
        self.mapping_box = QWidget()
        # Two columns of "field: column" pairs, so the preview and the check keep their room.
        self.mapping_grid = QGridLayout(self.mapping_box)
        self.mapping_grid.setContentsMargins(0, 0, 0, 0)
        self.mapping_grid.setColumnStretch(1, 1)
        self.mapping_grid.setColumnStretch(3, 1)
        self.mapping_grid.setColumnMinimumWidth(2, 160)
        self.columns: dict[str, QComboBox] = {}
        layout.addWidget(self.mapping_box)

        self.preview = QTableWidget()
        self.preview.setAccessibleName("First lines of the file")
        layout.addWidget(QLabel("First lines, as they will be read:"))
        layout.addWidget(self.preview, 1)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("What the check found")
        layout.addWidget(self.summary)
        self.outcomes = QTableWidget()
        self.outcomes.setAccessibleName("Every line and what happens to it")
        layout.addWidget(self.outcomes, 2)
        self.error = error_label()
        layout.addWidget(self.error)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.check_button = QPushButton("C&heck every line")
        self.check_button.setAccessibleName("Check every line")
        self.import_button = QPushButton("&Import")
        self.import_button.setAccessibleName("Import")
        self.buttons.addButton(self.check_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.import_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.check_button.clicked.connect(self.check)
        self.import_button.clicked.connect(self.run)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        for choice in (self.clients_choice, self.appointments_choice):
            choice.toggled.connect(self._kind_changed)
        self.finished.connect(lambda _: self.deleteLater())
        self._set_ready()

    @property
    def kind(self) -> ImportKind:
        return ImportKind.CLIENTS if self.clients_choice.isChecked() else ImportKind.APPOINTMENTS

    def _layout(self) -> Layout:
        return next(k for k in LAYOUTS if k.key == self.layout_choice.currentData())

    # -- choosing ---------------------------------------------------------------------------
    def choose_file(self) -> None:
        records_common.ask_open_path(self, "Quietroom - choose the CSV file",
                                     "CSV files (*.csv *.txt)", self.load_file)  # fmt: skip

    def load_file(self, path: Path | None) -> None:
        if path is None:
            return
        records = self.ctx.practice.records
        run_in_background(
            lambda: records.read_import_file(path),
            lambda table: self._loaded(path, table),
            self._failed,
            owner=self,
        )

    def _loaded(self, path: Path, table: CsvTable) -> None:
        self.table = table
        self.file_label.setText(f"{path.name}: {len(table.rows)} lines")
        guess = table.guess_layout(self.kind)
        self.layout_choice.setCurrentIndex(self.layout_choice.findData(guess.key))
        self._fill_mapping()

    def _kind_changed(self) -> None:
        if self.table is not None:
            self._fill_mapping()

    def _layout_changed(self) -> None:
        if self.table is not None:
            self._fill_mapping()

    def _fill_mapping(self) -> None:
        assert self.table is not None
        while (item := self.mapping_grid.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.deleteLater()
        self.columns.clear()
        preset = self._layout().mapping_for(self.kind, self.table.columns)
        wanted = fields_of(self.kind)
        per_column = (len(wanted) + 1) // 2
        for index, (name, label, required) in enumerate(wanted):
            combo = QComboBox()
            combo.setAccessibleName(f"Column for {label}")
            # Item data are the column names joined by _SEP: Qt compares Python objects (a
            # tuple) by identity, strings by value.
            combo.addItem(NOT_IN_FILE, "")
            chosen = _SEP.join(preset.get(name, ()))
            if len(preset.get(name, ())) > 1:
                combo.addItem(" + ".join(preset[name]), chosen)
            for column in self.table.columns:
                combo.addItem(column, column)
            combo.setCurrentIndex(max(combo.findData(chosen), 0) if chosen else 0)
            combo.currentIndexChanged.connect(self._mapping_changed)
            caption = QLabel(label + (" (needed)" if required else ""))
            caption.setBuddy(combo)
            grid_row, grid_column = index % per_column, 2 * (index // per_column)
            self.mapping_grid.addWidget(caption, grid_row, grid_column)
            self.mapping_grid.addWidget(combo, grid_row, grid_column + 1)
            self.columns[name] = combo
        self._mapping_changed()

    def mapping(self) -> dict[str, tuple[str, ...]]:
        return {
            name: tuple(str(c.currentData()).split(_SEP))
            for name, c in self.columns.items()
            if c.currentData()
        }

    def _mapping_changed(self) -> None:
        self.plan = None
        self.outcomes.clear()
        self.outcomes.setRowCount(0)
        self.summary.clear()
        self._show_preview()
        self._set_ready()

    def _show_preview(self) -> None:
        assert self.table is not None
        mapping = self.mapping()
        shown = [(n, label) for n, label, _ in fields_of(self.kind) if n in mapping]
        lines = [r for r in self.table.rows if r][:PREVIEW_LINES]
        self.preview.clear()
        self.preview.setColumnCount(len(shown))
        self.preview.setRowCount(len(lines))
        self.preview.setHorizontalHeaderLabels([label for _, label in shown])
        for r, line in enumerate(lines):
            for c, (name, _) in enumerate(shown):
                self.preview.setItem(r, c, QTableWidgetItem(mapped_value(line, mapping, name)))
        self.preview.resizeColumnsToContents()

    def _set_ready(self) -> None:
        self.check_button.setEnabled(self.table is not None)
        self.import_button.setEnabled(self.plan is not None and bool(
            self.plan.count(RowAction.ADD) + self.plan.count(RowAction.LINK)))  # fmt: skip

    # -- check and import -------------------------------------------------------------------
    def check(self) -> None:
        if self.table is None:
            return
        records, table, kind = self.ctx.practice.records, self.table, self.kind
        layout_key, mapping = self._layout().key, self.mapping()
        run_in_background(lambda: records.check_import(table, kind, layout_key, mapping),
                          self._checked, self._failed, owner=self)  # fmt: skip

    def _checked(self, plan: ImportPlan) -> None:
        self.plan = plan
        self.error.hide()
        self._show_outcomes(plan)
        refused = plan.count(RowAction.REFUSE)
        self.summary.setText(
            f"{plan.count(RowAction.ADD)} to add, {plan.count(RowAction.LINK)} matched to "
            f"records already here, {plan.count(RowAction.ALREADY)} imported before, "
            f"{refused} refused" + (" (see why below; fix them in the file and check again)."
                                    if refused else ".")
        )  # fmt: skip
        self._set_ready()

    def _show_outcomes(self, plan: ImportPlan) -> None:
        self.outcomes.clear()
        self.outcomes.setColumnCount(5)
        self.outcomes.setHorizontalHeaderLabels(["Line", "Who", "When", "What happens", "Why"])
        self.outcomes.setRowCount(len(plan.outcomes))
        for r, o in enumerate(plan.outcomes):
            when = formats.date_time_text(o.when) if o.when is not None else ""
            texts = [str(o.line), o.summary, when, _ACTION_WORDS[o.action], o.reason]
            for c, text in enumerate(texts):
                self.outcomes.setItem(r, c, QTableWidgetItem(text))
        header = self.outcomes.horizontalHeader()
        assert header is not None
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.outcomes.resizeColumnsToContents()

    def run(self) -> None:
        if self.table is None or self.plan is None:
            return
        records, table, kind = self.ctx.practice.records, self.table, self.kind
        layout_key, mapping = self._layout().key, self.mapping()
        self.import_button.setEnabled(False)
        run_in_background(lambda: records.run_import(table, kind, layout_key, mapping),
                          self._imported, self._failed, owner=self)  # fmt: skip

    def _imported(self, result: tuple[ImportPlan, ImportReport]) -> None:
        plan, report = result
        self.report = report
        self._show_outcomes(plan)
        self.plan = None
        self.summary.setText(
            f"Imported: {report.added} added, {report.linked} matched to records already "
            f"here, {report.already} imported before, {report.refused} refused."
        )
        self.ctx.nav.notify(f"Imported {report.added} {self.kind.value}.")
        self._set_ready()

    def _failed(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, PracticeError) else type(exc).__name__
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()
        self._set_ready()


def start_import(ctx: UiContext, parent: QWidget) -> ImportDialog:
    dialog = ImportDialog(ctx, parent)
    dialog.open()
    return dialog
