"""The client page's Diagnoses tab: the client's ICD-10-CM diagnoses (primary first; one entered
in error stays, struck out, at the end), with Add and Change. It shows what the client page read
in its clinical summary (one audited read) and asks for nothing more."""

from __future__ import annotations

from collections.abc import Callable

from desktop.core.clinical.diagnoses import Diagnosis, DiagnosisStatus
from desktop.ui import formats
from desktop.ui.clinical.diagnosis_dialog import DiagnosisDialog
from desktop.ui.clinical.labels import CERTAINTY, DIAGNOSIS_STATUS
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

ID_ROLE = Qt.ItemDataRole.UserRole
EMPTY = "—"


class DiagnosesTab(QWidget):
    def __init__(self, ctx: UiContext, on_changed: Callable[[], None]) -> None:
        super().__init__()
        self.ctx = ctx
        self._on_changed = on_changed
        self._client_id: str | None = None
        self._archived = False
        self._diagnoses: tuple[Diagnosis, ...] = ()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 12, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Diagnoses")
        self.tree.setHeaderLabels(["Code", "Diagnosis", "Onset", "Status", "Certainty"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((90, 380, 130, 120)):
            self.tree.header().resizeSection(column, width)
        self.tree.itemActivated.connect(lambda *_: self.change())
        self.tree.currentItemChanged.connect(lambda *_: self._enable())
        outer.addWidget(self.tree, 1)
        self.empty = QLabel("No diagnoses yet.")
        self.empty.setEnabled(False)
        outer.addWidget(self.empty)
        row = QHBoxLayout()
        self.add_button = QPushButton("&Add diagnosis…")
        self.add_button.setAccessibleName("Add diagnosis")
        self.add_button.setToolTip("Find an ICD-10-CM code by code or words (Alt+A)")
        self.add_button.clicked.connect(self.add)
        self.change_button = QPushButton("C&hange…")
        self.change_button.setAccessibleName("Change diagnosis")
        self.change_button.setToolTip(
            "Onset, status, certainty; a diagnosis made by mistake is marked as entered in error "
            "and kept (Enter)"
        )
        self.change_button.clicked.connect(self.change)
        row.addWidget(self.add_button)
        row.addStretch(1)
        row.addWidget(self.change_button)
        outer.addLayout(row)
        self._enable()

    def show_diagnoses(
        self, client_id: str, diagnoses: tuple[Diagnosis, ...], *, archived: bool
    ) -> None:
        self._client_id = client_id
        self._archived = archived
        self._diagnoses = diagnoses
        keep = self.current_id()
        self.tree.clear()
        for d in diagnoses:
            item = QTreeWidgetItem(
                [
                    d.code,
                    d.description + ("  (primary)" if d.primary else ""),
                    formats.date_text(d.onset) if d.onset else EMPTY,
                    DIAGNOSIS_STATUS[d.status]
                    + (f" since {formats.date_text(d.resolved_on)}" if d.resolved_on else ""),
                    CERTAINTY[d.certainty],
                ]
            )
            item.setData(0, ID_ROLE, d.id)
            if d.comment:
                item.setToolTip(1, d.comment)
            if d.status is DiagnosisStatus.ENTERED_IN_ERROR:
                for column in range(5):
                    font = item.font(column)
                    font.setStrikeOut(True)
                    item.setFont(column, font)
            self.tree.addTopLevelItem(item)
            if d.id == keep or self.tree.currentItem() is None:
                self.tree.setCurrentItem(item)
        self.empty.setVisible(not diagnoses)
        self._enable()

    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        return None if item is None else str(item.data(0, ID_ROLE))

    def _enable(self) -> None:
        loaded = self._client_id is not None and not self._archived
        self.add_button.setEnabled(loaded)
        self.change_button.setEnabled(loaded and self.current_id() is not None)

    def add(self) -> None:
        client_id = self._client_id
        if client_id is None or self._archived:
            return
        clinical = self.ctx.practice.clinical
        dialog = DiagnosisDialog(
            self,
            clinical.search_codes,
            lambda details: clinical.add_diagnosis(client_id, details),
            self._saved,
            today=self.ctx.now().astimezone().date(),
        )
        dialog.open()

    def change(self) -> None:
        diagnosis_id = self.current_id()
        current = next((d for d in self._diagnoses if d.id == diagnosis_id), None)
        if current is None or self._archived:
            return
        clinical = self.ctx.practice.clinical
        dialog = DiagnosisDialog(
            self,
            clinical.search_codes,
            lambda details: clinical.update_diagnosis(current.id, details),
            self._saved,
            today=self.ctx.now().astimezone().date(),
            current=current,
        )
        dialog.open()

    def _saved(self, diagnosis: Diagnosis) -> None:
        self.ctx.nav.notify("Diagnosis saved.")
        self._on_changed()

    def clear(self) -> None:
        self._client_id = None
        self._diagnoses = ()
        self.tree.clear()
        self._enable()
