"""The audit log as the therapist sees it: a table of ``practice.view_audit`` (viewing is itself
audited by the domain), filtered by date, action, client and outcome; "Verify" walks the keyed
chain; "Export…" writes every entry as CSV or JSON lines.

Reads run off the UI thread (a log can hold hundreds of thousands of entries). Filter changes
wait for a pause (``FILTER_DELAY_MS``) or the Apply button, so that choosing dates does not write
one ``audit.viewed`` entry per click; the outcome filter works on the rows already read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from desktop.core.audit_story import action_label, sentence
from desktop.core.audit_view import ACTIONS, MAX_ROWS, AuditFilter, AuditRecord
from desktop.core.practice import AuditIntegrityError, Practice
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.files import replacing
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QAbstractTableModel,
    QCheckBox,
    QColor,
    QComboBox,
    QDate,
    QDateEdit,
    QFileDialog,
    QFont,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPushButton,
    Qt,
    QTableView,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import TechnicalDetails, error_label, heading, paragraph

FILTER_DELAY_MS = 700  # a pause after changing a filter reloads the view
ROW_LIMIT = MAX_ROWS  # the newest entries shown for one filter
COLUMNS = ("When", "What happened")
OUTCOMES = ("success", "failure", "denied")
FAILURE_COLOUR = QColor("#b3261e")
ExportFormat = Literal["csv", "jsonl"]
_ROOT = QModelIndex()


def ask_save_path(parent: QWidget, suggested: Path) -> Path | None:
    """Where to write the export (CSV, or JSON lines for a ``.jsonl`` name); ``None`` when the
    therapist cancels. Tests replace this function."""
    path, chosen = QFileDialog.getSaveFileName(
        parent, "Export the audit log", str(suggested), "CSV (*.csv);;JSON lines (*.jsonl)"
    )
    if not path:
        return None
    target = Path(path)
    if not target.suffix:
        target = target.with_suffix(".jsonl" if chosen.startswith("JSON") else ".csv")
    return target


def export_format(target: Path) -> ExportFormat:
    return "jsonl" if target.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def write_export(practice: Practice, target: Path, fmt: ExportFormat) -> int:
    """Write the whole log to ``target`` atomically: a private temporary file next to it, synced,
    then renamed over it. Returns the number of entries (the export is audited by the vault)."""
    with replacing(target) as temporary, temporary.open("w", encoding="utf-8", newline="") as out:
        count = practice.export_audit(out, fmt)
    return count


def local_midnight(day: date) -> datetime:
    """The start of ``day`` on this computer's clock, as an aware time."""
    return datetime(day.year, day.month, day.day).astimezone()


def _day(edit: QDateEdit) -> date:
    chosen = edit.date()
    return date(chosen.year(), chosen.month(), chosen.day())


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def raw_fields(record: AuditRecord) -> str:
    """The entry as the log stores it (for "Technical details" and whoever supports the
    therapist); the export has the same fields."""
    lines = [
        f"Entry number: {record.seq}",
        f"Time (UTC): {record.at.isoformat()}",
        f"Actor: {record.actor}",
        f"Action: {record.action}",
        f"Object: {record.object_type} {record.object_id}".rstrip(),
        f"Outcome: {record.outcome}",
    ]
    lines += [f"{key}: {_value(value)}" for key, value in record.details.items()]
    return "\n".join(lines)


class AuditTableModel(QAbstractTableModel):
    """The entries read for the current filter; client names only from the page's client list
    (no lookup per row)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.records: list[AuditRecord] = []
        self.names: Mapping[str, str] = {}

    def set_records(self, records: Sequence[AuditRecord], names: Mapping[str, str]) -> None:
        self.beginResetModel()
        self.records = list(records)
        self.names = dict(names)
        self.endResetModel()

    def rowCount(  # noqa: N802 (Qt API)
        self, parent: QModelIndex | QPersistentModelIndex = _ROOT
    ) -> int:
        return 0 if parent.isValid() else len(self.records)

    def columnCount(  # noqa: N802 (Qt API)
        self, parent: QModelIndex | QPersistentModelIndex = _ROOT
    ) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if not index.isValid():
            return None
        record = self.records[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(record, column)
        if record.outcome != "success":
            if role == Qt.ItemDataRole.ForegroundRole:
                return FAILURE_COLOUR
            if role == Qt.ItemDataRole.FontRole and column == 1:
                font = QFont()
                font.setWeight(QFont.Weight.DemiBold)
                return font
        return None

    def text(self, record: AuditRecord, column: int) -> str:
        if column == 0:
            return formats.date_time_text(record.at)
        return sentence(record, self.names, formats.day_month)


class AuditPage(Page):
    nav_title = "Audit log"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self._generation = 0  # bumped by every read started (and by clearing)
        self._cleared = 0  # bumped by clear_phi: verify/export answers after a lock are dropped
        self._loading = False
        self._client_id: str | None = None
        self._clients_stale = True
        self._names: dict[str, str] = {}
        self._records: tuple[AuditRecord, ...] = ()
        self._last_filter: AuditFilter | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 20)
        layout.setSpacing(10)
        layout.addWidget(heading("Audit log"))
        layout.addWidget(
            paragraph(
                "Every time a record is read, changed, printed or exported, Quietroom writes an "
                "entry here (never what a note says). Entries are sealed one after another: "
                "Verify shows whether any was changed, removed or put out of order."
            )
        )

        filters = QHBoxLayout()
        filters.setSpacing(8)
        today = QDate.currentDate()
        self.from_check = QCheckBox("&From")
        self.from_check.setAccessibleName("Only entries from a date")
        self.from_date = self._date_edit("From date", today.addDays(-30))
        self.to_check = QCheckBox("&To")
        self.to_check.setAccessibleName("Only entries up to a date")
        self.to_date = self._date_edit("To date", today)
        for check, edit in ((self.from_check, self.from_date), (self.to_check, self.to_date)):
            check.toggled.connect(edit.setEnabled)
            check.toggled.connect(self._filter_changed)
            edit.setEnabled(False)
            filters.addWidget(check)
            filters.addWidget(edit)
        filters.addSpacing(8)

        self.action_combo = QComboBox()
        self.action_combo.setAccessibleName("Action")
        self.action_combo.setToolTip("Only entries of one kind")
        self.action_combo.addItem("Everything", None)
        for action in sorted(ACTIONS, key=lambda a: action_label(a).casefold()):
            self.action_combo.addItem(action_label(action), action)
        self.action_combo.setMaxVisibleItems(20)
        self.action_combo.setMinimumContentsLength(14)
        self.action_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.action_combo.currentIndexChanged.connect(self._filter_changed)
        filters.addWidget(self.action_combo)

        self.client_combo = QComboBox()
        self.client_combo.setAccessibleName("Client")
        self.client_combo.setToolTip("Only entries about one client")
        self.client_combo.setMinimumContentsLength(14)
        self.client_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.client_combo.addItem("All clients", None)
        self.client_combo.currentIndexChanged.connect(self._client_chosen)
        filters.addWidget(self.client_combo)

        self.outcome_combo = QComboBox()
        self.outcome_combo.setAccessibleName("Outcome")
        self.outcome_combo.setToolTip("Only successful, failed or refused actions")
        self.outcome_combo.addItem("Any outcome", None)
        for outcome in OUTCOMES:
            self.outcome_combo.addItem(outcome.capitalize(), outcome)
        self.outcome_combo.currentIndexChanged.connect(self._show_rows)
        filters.addWidget(self.outcome_combo)
        filters.addStretch(1)
        self.apply_button = QPushButton("A&pply")
        self.apply_button.setAccessibleName("Apply the filters")
        self.apply_button.setToolTip("Show the entries for these filters now")
        self.apply_button.clicked.connect(self.reload)
        filters.addWidget(self.apply_button)
        layout.addLayout(filters)

        actions = QHBoxLayout()
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Entries shown")
        actions.addWidget(self.count_label, 1)
        self.verify_button = QPushButton("&Verify")
        self.verify_button.setAccessibleName("Verify the audit log")
        self.verify_button.setToolTip("Check that no entry was changed, removed or reordered")
        self.verify_button.clicked.connect(self.verify)
        actions.addWidget(self.verify_button)
        self.export_button = QPushButton("&Export…")
        self.export_button.setAccessibleName("Export the audit log")
        self.export_button.setToolTip(
            "Save every entry, with all its recorded fields, as a spreadsheet (CSV) or JSON file"
        )
        self.export_button.clicked.connect(self.export)
        actions.addWidget(self.export_button)
        layout.addLayout(actions)

        self.verified_label = QLabel()
        self.verified_label.setObjectName("verified")
        self.verified_label.setAccessibleName("Verification result")
        self.verified_label.setWordWrap(True)
        self.verified_label.setStyleSheet(
            "QLabel#verified { background: palette(alternate-base); border-radius: 6px;"
            " padding: 6px 10px; }"
        )
        self.verified_label.hide()
        layout.addWidget(self.verified_label)
        self.error = error_label()
        self.error.setAccessibleName("Audit log problem")
        font = self.error.font()
        font.setWeight(QFont.Weight.DemiBold)
        self.error.setFont(font)
        layout.addWidget(self.error)

        self.model = AuditTableModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Audit entries")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.resizeSection(0, 210)
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        layout.addWidget(self.table, 1)
        self.details = TechnicalDetails(name="Technical details of the selected entry")
        layout.addWidget(self.details)
        self.table.selectionModel().currentRowChanged.connect(self._entry_selected)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.reload)

    def _date_edit(self, name: str, value: QDate) -> QDateEdit:
        edit = QDateEdit(value)
        edit.setAccessibleName(name)
        edit.setCalendarPopup(True)
        edit.setDisplayFormat(formats.date_input_pattern())
        edit.dateChanged.connect(self._filter_changed)
        return edit

    # -- the Page contract ------------------------------------------------------------------
    def activated(self) -> None:
        self._clients_stale = True  # clients may have been added since
        self._schedule(0)

    def filter_client(self, client_id: str | None) -> None:
        """Show the audit entries of one client (or all)."""
        self._client_id = client_id
        self._select_client()
        self._schedule(0)

    def clear_phi(self) -> None:
        self._timer.stop()
        self._generation += 1  # an answer still on its way is dropped
        self._cleared += 1
        self._loading = False
        self._client_id = None
        self._names = {}
        self._records = ()
        self._last_filter = None
        self.model.set_records((), {})
        self.details.clear()
        self.client_combo.blockSignals(True)
        self.client_combo.clear()
        self.client_combo.addItem("All clients", None)
        self.client_combo.blockSignals(False)
        self.count_label.clear()
        self.verified_label.hide()
        self.verified_label.clear()
        self.error.hide()
        self.error.clear()

    # -- loading ----------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._loading or self._timer.isActive()

    @property
    def shown_records(self) -> list[AuditRecord]:
        return list(self.model.records)

    def current_filter(self) -> AuditFilter:
        start = end = None
        if self.from_check.isChecked():
            start = local_midnight(_day(self.from_date))
        if self.to_check.isChecked():
            end = local_midnight(_day(self.to_date)) + timedelta(days=1)
        action = self.action_combo.currentData()
        return AuditFilter(
            start=start,
            end=end,
            actions=(action,) if isinstance(action, str) else (),
            client_id=self._client_id,
            limit=ROW_LIMIT,
        )

    def _filter_changed(self, *_args: object) -> None:
        self._schedule(FILTER_DELAY_MS)

    def _client_chosen(self, index: int) -> None:
        data = self.client_combo.itemData(index)
        self._client_id = data if isinstance(data, str) else None
        self._schedule(FILTER_DELAY_MS)

    def _schedule(self, delay_ms: int) -> None:
        self._timer.start(delay_ms)

    def reload(self) -> None:
        """Read the entries for the current filters now (audited as ``audit.viewed``)."""
        self._timer.stop()
        self._generation += 1
        generation = self._generation
        audit_filter = self.current_filter()
        want_clients = self._clients_stale
        practice = self.ctx.practice
        self._loading = True
        self.count_label.setText("Reading the log…")

        def op() -> tuple[dict[str, str] | None, tuple[AuditRecord, ...]]:
            names = None
            if want_clients:
                listed = practice.list_clients(include_archived=True)
                names = {client.id: client.name for client in listed}
            return names, practice.view_audit(audit_filter)

        run_in_background(
            op,
            lambda result: self._loaded(generation, audit_filter, *result),
            lambda exc: self._failed(generation, exc),
            owner=self,
        )

    def _loaded(
        self,
        generation: int,
        audit_filter: AuditFilter,
        names: dict[str, str] | None,
        records: tuple[AuditRecord, ...],
    ) -> None:
        if generation != self._generation:
            return
        self._loading = False
        if names is not None:
            self._names = names
            self._clients_stale = False
            self._fill_clients()
        self._records = records
        self._last_filter = audit_filter
        known = {self.action_combo.itemData(i) for i in range(self.action_combo.count())}
        for action in sorted({r.action for r in records} - known):
            self.action_combo.addItem(action_label(action), action)
        self._show_rows()

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self.count_label.setText("")
        self._show_error(f"The audit log could not be read: {exc}")

    def _show_rows(self, *_args: object) -> None:
        outcome = self.outcome_combo.currentData()
        rows = [r for r in self._records if outcome is None or r.outcome == outcome]
        self.model.set_records(rows, self._names)
        self.details.set_text("")
        if self._last_filter is None:
            return
        count = f"{len(rows):,} entr{'y' if len(rows) == 1 else 'ies'}, newest first"
        if len(self._records) >= ROW_LIMIT:
            count += f" (the newest {ROW_LIMIT:,}: narrow the dates to see older ones)"
        elif self._unfiltered():
            count += " (this viewing included)"
        self.count_label.setText(count)

    def _unfiltered(self) -> bool:
        flt = self._last_filter
        return (
            flt is not None
            and flt.start is None
            and flt.end is None
            and not flt.actions
            and flt.client_id is None
            and self.outcome_combo.currentData() is None
        )

    def _entry_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and current.row() < len(self.model.records):
            self.details.set_text(raw_fields(self.model.records[current.row()]))
        else:
            self.details.set_text("")

    def _fill_clients(self) -> None:
        self.client_combo.blockSignals(True)
        self.client_combo.clear()
        self.client_combo.addItem("All clients", None)
        for client_id, name in sorted(self._names.items(), key=lambda kv: kv[1].casefold()):
            self.client_combo.addItem(name, client_id)
        self.client_combo.blockSignals(False)
        self._select_client()

    def _select_client(self) -> None:
        self.client_combo.blockSignals(True)
        index = self.client_combo.findData(self._client_id)
        if index < 0 and self._client_id is not None:  # e.g. a destroyed client: ids remain
            self.client_combo.addItem("A client no longer in the records", self._client_id)
            index = self.client_combo.count() - 1
        self.client_combo.setCurrentIndex(max(index, 0))
        self.client_combo.blockSignals(False)

    # -- verify and export ------------------------------------------------------------------
    def verify(self) -> None:
        """Walk the whole chain off the UI thread (the check is recorded in the log)."""
        self.verify_button.setEnabled(False)
        self.verify_button.setText("Verifying…")
        self.verified_label.hide()
        self.error.hide()
        generation = self._cleared
        practice = self.ctx.practice
        run_in_background(
            lambda: practice.verify_audit().entries,
            lambda entries: self._verified(generation, entries),
            lambda exc: self._verify_failed(generation, exc),
            owner=self,
        )

    def _verify_done(self) -> None:
        self.verify_button.setEnabled(True)
        self.verify_button.setText("&Verify")

    def _verified(self, generation: int, entries: int) -> None:
        self._verify_done()
        if generation != self._cleared:
            return
        self.verified_label.setText(
            f"Checked: all {entries:,} entries in the log are intact (this check is now "
            "recorded too)."
        )
        self.verified_label.show()

    def _verify_failed(self, generation: int, exc: Exception) -> None:
        self._verify_done()
        if generation != self._cleared:
            return
        if isinstance(exc, AuditIntegrityError):
            self._show_error(
                f"The audit log failed its check at entry {exc.first_bad_seq:,}. An entry was "
                "changed, removed or put out of order, or the records were replaced by an older "
                "copy. Keep this computer's Quietroom folder and your backups unchanged as "
                "evidence, and get help before you go on."
            )
            self.details.set_text(f"First bad entry: {exc.first_bad_seq}\nReason: {exc.reason}")
        else:
            self._show_error(f"The audit log could not be verified: {exc}")

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def export(self) -> None:
        """Ask where, then write every entry there (CSV or JSON lines) off the UI thread."""
        stamp = self.ctx.now().astimezone().strftime("%Y-%m-%d")
        target = ask_save_path(self, Path.home() / f"quietroom-audit-{stamp}.csv")
        practice = self.ctx.practice
        if target is None or not practice.is_open:  # cancelled, or locked meanwhile
            return
        fmt = export_format(target)
        self.export_button.setEnabled(False)
        self.error.hide()
        generation = self._cleared

        def done(count: int) -> None:
            self.export_button.setEnabled(True)
            if generation != self._cleared:
                return
            self.verified_label.setText(f"Exported {count:,} entries to {target.name}.")
            self.verified_label.show()
            self.ctx.nav.notify(f"Audit log exported ({count:,} entries)")

        def failed(exc: Exception) -> None:
            self.export_button.setEnabled(True)
            if generation != self._cleared:
                return
            self._show_error(f"The audit log was not exported: {exc}")

        run_in_background(lambda: write_export(practice, target, fmt), done, failed, owner=self)
