"""Add or change a diagnosis: find the ICD-10-CM code by code or by words, then onset, status,
certainty and whether it is the primary diagnosis.

The code search runs off the UI thread (the first one parses the code set, about two seconds);
a newer search drops the results of an older one. Looking codes up reads no record and is not
audited; saving is (``diagnosis.added`` / ``diagnosis.updated``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from desktop.core.clinical.codeset import CodeEntry
from desktop.core.clinical.diagnoses import Certainty, Diagnosis, DiagnosisDetails, DiagnosisStatus
from desktop.ui.background import run_in_background
from desktop.ui.client_forms import FieldError, FormDialog, error_text
from desktop.ui.clinical.fields import OptionalDate
from desktop.ui.clinical.labels import CERTAINTY, DIAGNOSIS_STATUS
from desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    Qt,
    QTimer,
    QWidget,
)

CODE_ROLE = Qt.ItemDataRole.UserRole
SEARCH_DELAY_MS = 200


class DiagnosisDialog(FormDialog[Diagnosis]):
    """``save`` is ``clinical.add_diagnosis`` or ``clinical.update_diagnosis`` (bound to the
    client or the diagnosis by the caller)."""

    def __init__(
        self,
        parent: QWidget,
        search: Callable[[str], tuple[CodeEntry, ...]],
        save: Callable[[DiagnosisDetails], Diagnosis],
        on_saved: Callable[[Diagnosis], None],
        *,
        today: date,
        current: Diagnosis | None = None,
    ) -> None:
        action = "&Save diagnosis" if current else "&Add diagnosis"
        super().__init__(parent, "Quietroom - diagnosis", action, on_saved)
        self._search = search
        self._save = save
        self._generation = 0
        self._chosen: tuple[str, str] | None = (
            (current.code, current.description) if current is not None else None
        )

        self.code_search = QLineEdit()
        self.code_search.setPlaceholderText("A code (F41.1) or words (generalized anxiety)")
        self.code_search.setClearButtonEnabled(True)
        self.add_row("&Find a code", self.code_search, "Find a code",
                     "Type a code or words; the list shows matching ICD-10-CM codes")  # fmt: skip
        self.results = QListWidget()
        self.results.setAccessibleName("Matching codes")
        self.results.setMinimumSize(520, 180)
        self.form.addRow("", self.results)
        self.searching = QLabel("")
        self.searching.setAccessibleName("Search state")
        self.form.addRow("", self.searching)
        self.chosen = QLabel()
        self.chosen.setTextFormat(Qt.TextFormat.PlainText)
        self.chosen.setWordWrap(True)
        self.add_row("Code", self.chosen, "Chosen code")
        self.onset = OptionalDate("Onset", current.onset if current else None, today)
        self.add_row("&Onset", self.onset, "Onset", "When the condition began, if known")
        self.status = QComboBox()
        for status, label in DIAGNOSIS_STATUS.items():
            self.status.addItem(label, status)
        self.add_row("S&tatus", self.status, "Status")
        self.resolved = OptionalDate(
            "Resolved on", current.resolved_on if current else None, today, "Resolved"
        )
        self.add_row("Resolved o&n", self.resolved, "Resolved on",
                     "For a resolved diagnosis or one in remission: since when")  # fmt: skip
        self.certainty = QComboBox()
        for certainty, label in CERTAINTY.items():
            self.certainty.addItem(label, certainty)
        self.add_row("&Certainty", self.certainty, "Certainty",
                     "Provisional: a working diagnosis still to be confirmed")  # fmt: skip
        self.primary = QCheckBox("Primary diagnosis")
        self.primary.setAccessibleName("Primary diagnosis")
        self.primary.setToolTip("The main reason for treatment (listed first on claims)")
        self.form.addRow("", self.primary)
        self.comment = QPlainTextEdit()
        self.comment.setTabChangesFocus(True)
        self.comment.setFixedHeight(self.comment.fontMetrics().lineSpacing() * 3 + 16)
        self.add_row("Co&mment", self.comment, "Comment", "Anything worth keeping with it")
        if current is not None:
            self.status.setCurrentIndex(self.status.findData(current.status))
            self.certainty.setCurrentIndex(self.certainty.findData(current.certainty))
            self.primary.setChecked(current.primary)
            self.comment.setPlainText(current.comment)
        self._show_chosen()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)
        self.code_search.textChanged.connect(lambda _: self._timer.start())
        self.results.currentItemChanged.connect(self._picked)
        self.results.itemActivated.connect(lambda _: self.comment.setFocus())
        self.code_search.setFocus()

    # -- finding the code ----------------------------------------------------------------------
    def run_search(self) -> None:
        text = self.code_search.text()
        self._generation += 1
        generation = self._generation
        if not text.strip():
            self.results.clear()
            self.searching.setText("")
            return
        self.searching.setText("Searching…")
        search = self._search

        def done(found: tuple[CodeEntry, ...]) -> None:
            if generation == self._generation:
                self._show_results(found)

        def failed(exc: Exception) -> None:
            if generation == self._generation:
                self.searching.setText(error_text(exc))

        run_in_background(lambda: search(text), done, failed, owner=self)

    def _show_results(self, found: tuple[CodeEntry, ...]) -> None:
        self.results.clear()
        for entry in found:
            item = QListWidgetItem(f"{entry.code}   {entry.description}")
            item.setData(CODE_ROLE, (entry.code, entry.description))
            if entry.inclusion_terms:
                item.setToolTip("Also: " + "; ".join(entry.inclusion_terms))
            self.results.addItem(item)
        self.searching.setText(
            "No code matches." if not found else f"{len(found)} codes" if len(found) > 1 else ""
        )

    def _picked(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            code, description = item.data(CODE_ROLE)
            self._chosen = (str(code), str(description))
            self._show_chosen()

    def _show_chosen(self) -> None:
        self.chosen.setText(
            "None yet: find one above." if self._chosen is None else "   ".join(self._chosen)
        )

    # -- saving --------------------------------------------------------------------------------
    def save(self) -> Diagnosis:
        if self._chosen is None:
            raise FieldError("Choose a code from the list first.", self.code_search)
        details = DiagnosisDetails(
            code=self._chosen[0],
            onset=self.onset.value(),
            status=DiagnosisStatus(self.status.currentData()),
            certainty=Certainty(self.certainty.currentData()),
            primary=self.primary.isChecked(),
            resolved_on=self.resolved.value(),
            comment=self.comment.toPlainText(),
        )
        return self._save(details)

    def clear_phi(self) -> None:
        super().clear_phi()
        self.results.clear()
        self.chosen.clear()
        self._chosen = None
