"""The note editor: a draft's sections as plain-text editors, autosaved as the therapist types;
the signed note as a read-only record with its signature check, its history (original,
amendments, addenda, late entries) and the ways to add to it.

Every change goes to ``practice.save_draft`` (the domain debounces the writes and audits the
editing session once); a half-second timer calls ``practice.autosave_tick`` so that a pause is
saved. ``close_note`` (called before the page is left and before locking) folds the autosaved
text into the note and ends the editing session. Dialogs are opened with ``open()`` so that
locking can close them; their titles are generic, never a client's name."""

from __future__ import annotations

import difflib
import html
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from desktop.core.autosave import DraftSaveState
from desktop.core.errors import PracticeError
from desktop.core.note_header import NoteHeader
from desktop.core.notes import (
    MAX_REASON,
    Compartment,
    Note,
    NoteKind,
    NoteSection,
    NoteStatus,
    NoteSummary,
    SignatureCheck,
)
from desktop.core.sessions import Modality
from desktop.ui import formats
from desktop.ui.background import run_in_background, wait_in_order
from desktop.ui.client_forms import MODALITY_LABELS
from desktop.ui.clinical.note_goals import GoalsAddressed
from desktop.ui.context import UiContext
from desktop.ui.disclosure_dialog import start_disclosure
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFont,
    QFrame,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSizeF,
    QSpinBox,
    QStackedWidget,
    Qt,
    QTextBrowser,
    QTextCursor,
    QTimer,
    QVBoxLayout,
    QWidget,
    is_alive,
)
from desktop.ui.widgets import TechnicalDetails, error_label, paragraph

TICK_MS = 500
KIND_LABELS = {
    NoteKind.ORIGINAL: "Original",
    NoteKind.AMENDMENT: "Amendment",
    NoteKind.ADDENDUM: "Addendum",
    NoteKind.LATE_ENTRY: "Late entry",
}
HEADER_SAVE_MS = 600  # header field changes are saved after this pause
REMOVED_STYLE = "background: rgba(179, 38, 30, 0.18); text-decoration: line-through;"
ADDED_STYLE = "background: rgba(46, 125, 50, 0.22);"
ADDENDUM_PROMPT = "What you add to the signed note: new information, results, follow-up."
_BANNER = "border-radius: 6px; padding: 8px 12px;"
TAMPER_STYLE = f"QLabel#tampered {{ color: #ffffff; background: #b3261e; {_BANNER} }}"
LATE_STYLE = f"QLabel#late {{ color: #3d3000; background: #f6e7b4; {_BANNER} }}"


def local_time(moment: datetime) -> str:
    """A UTC moment as the therapist's local date and time, e.g. "5 Jan 2026, 10:00"."""
    return formats.date_time_text(moment)


def header_text(header: NoteHeader) -> str:
    """ "Held Mon 7 December, 10:00 · 50 minutes · Video"."""
    minutes = header.duration_minutes
    return (
        f"Held {formats.date_time_text(header.held_at)} · {minutes} minute"
        f"{'s' if minutes != 1 else ''} · {MODALITY_LABELS[header.modality]}"
    )


def _diff_html(old: str, new: str, *, side: str) -> str:
    """One side of a word-level comparison, the words that differ marked (escaped text)."""
    a, b = old.split(), new.split()
    marked: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        words = a[i1:i2] if side == "old" else b[j1:j2]
        text = html.escape(" ".join(words))
        if not text:
            continue
        if op == "equal":
            marked.append(text)
        elif side == "old":
            marked.append(f"<span style='{REMOVED_STYLE}'>{text}</span>")
        else:
            marked.append(f"<span style='{ADDED_STYLE}'>{text}</span>")
    return " ".join(marked) or "<i>(empty)</i>"


class CompareDialog(QDialog):
    """An amendment and the note it corrects, side by side, section by section; what the
    amendment changed is marked on both sides."""

    def __init__(self, parent: QWidget, original: Note, amendment: Note) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quietroom - compare")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        layout.addWidget(paragraph(
            "Left, the signed note as it was written; right, the amendment. Words taken out are "
            "struck through on the left; words put in are marked on the right."
        ))  # fmt: skip
        row = QHBoxLayout()
        self.left = self._side("The original note", original, original, amendment, "old")
        self.right = self._side("The amendment", amendment, original, amendment, "new")
        row.addWidget(self.left)
        row.addWidget(self.right)
        layout.addLayout(row, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(980, 620)

    @staticmethod
    def _side(name: str, shown: Note, original: Note, amendment: Note, side: str) -> QTextBrowser:
        view = QTextBrowser()
        view.setAccessibleName(name)
        when = shown.signed_at or shown.created_at
        state = "signed" if shown.status is NoteStatus.SIGNED else "draft, started"
        parts = [f"<p><b>{html.escape(name)}</b><br/>{state} {formats.date_time_text(when)}</p>"]
        old = {s.key: s.text for s in original.sections}
        new = {s.key: s.text for s in amendment.sections}
        for section in shown.sections:
            body = _diff_html(old.get(section.key, ""), new.get(section.key, ""), side=side)
            parts.append(f"<h3>{html.escape(section.title)}</h3><p>{body}</p>")
        view.setHtml("".join(parts))
        return view

    def texts(self) -> tuple[str, str]:
        return self.left.toPlainText(), self.right.toPlainText()


def word_count(texts: list[str]) -> int:
    return sum(len(text.split()) for text in texts)


def error_message(exc: Exception) -> str:
    return "The draft could not be saved just now; Quietroom will try again as you type."


def _save_label(state: DraftSaveState) -> str:
    if state.pending:
        return "Saving…"
    if state.saved_at is None:
        return "No changes yet"
    return f"Saved at {formats.time_text(state.saved_at)}"


def confirm(
    parent: QWidget, title: str, text: str, action: str, on_yes: Callable[[], None]
) -> QMessageBox:
    """A non-blocking yes/cancel question; ``on_yes`` runs if the action button is chosen."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel,
                      parent)  # fmt: skip
    yes = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(yes)

    def finished(_: int) -> None:
        chosen = box.clickedButton() is yes
        box.deleteLater()
        if chosen:
            on_yes()

    box.finished.connect(finished)
    box.open()
    return box


class SectionEditor(QPlainTextEdit):
    """One section of a draft: grows with its text (up to a limit), Tab moves on."""

    MIN_HEIGHT = 96
    MAX_HEIGHT = 420

    def __init__(self, key: str, title: str, prompt: str) -> None:
        super().__init__()
        self.key = key
        self.setTabChangesFocus(True)
        self.setPlaceholderText(prompt)
        self.setAccessibleName(title)
        self.setAccessibleDescription(prompt)
        self.setMinimumHeight(self.MIN_HEIGHT)
        layout = self.document().documentLayout()
        layout.documentSizeChanged.connect(self._fit)

    def _fit(self, size: QSizeF) -> None:
        lines = max(3, int(size.height()) + 1)  # the plain-text layout measures in lines
        margins = self.contentsMargins()
        wanted = lines * self.fontMetrics().lineSpacing() + margins.top() + margins.bottom() + 12
        self.setFixedHeight(max(self.MIN_HEIGHT, min(self.MAX_HEIGHT, wanted)))


class ReasonDialog(QDialog):
    """Asks why an amendment, addendum or late entry is written (required)."""

    def __init__(self, parent: QWidget, title: str, question: str, action: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        layout.addWidget(paragraph(question))
        self.reason = QPlainTextEdit()
        self.reason.setTabChangesFocus(True)
        self.reason.setAccessibleName("Reason")
        self.reason.setPlaceholderText(
            "The reason is kept with the entry and shown in its history."
        )
        self.reason.setMinimumWidth(420)
        self.reason.setFixedHeight(110)
        layout.addWidget(self.reason)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok = QPushButton(action)
        self.ok.setEnabled(False)
        self.buttons.addButton(self.ok, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.ok.setDefault(True)  # (only once it is inside the dialog)
        self.reason.textChanged.connect(self._changed)

    def _changed(self) -> None:
        text = self.reason.toPlainText()
        self.ok.setEnabled(0 < len(text.strip()) <= MAX_REASON)

    def text(self) -> str:
        return self.reason.toPlainText().strip()


class NoteEditorPage(Page):
    nav_title = ""

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self.note: Note | None = None
        self.psychotherapy = False
        self.editors: list[SectionEditor] = []
        self.dialogs: list[QWidget] = []  # open confirmations and reason dialogs
        self._loading = False
        self._filling_history = False
        self._writes = 0  # writes of the draft started (each numbered)
        self._in_flight = 0  # writes started and not yet reported back
        self._typed_at = 0  # number of the latest write carrying newly typed text

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 12)
        outer.setSpacing(8)

        top = QHBoxLayout()
        self.back_button = QPushButton("← Back")
        self.back_button.setAccessibleName("Back to the client")
        self.back_button.setToolTip("Back to the client (Esc)")
        self.back_button.clicked.connect(self.back)
        top.addWidget(self.back_button)
        top.addSpacing(8)
        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setWeight(QFont.Weight.DemiBold)
        self.title.setFont(font)
        self.title.setAccessibleName("Note")
        top.addWidget(self.title, 1)
        self.save_state = QLabel()
        self.save_state.setAccessibleName("Autosave status")
        self.save_state.setObjectName("saveState")
        self.save_state.setStyleSheet("QLabel#saveState { color: palette(placeholder-text); }")
        top.addWidget(self.save_state)
        outer.addLayout(top)

        self.subtitle = paragraph("")
        self.subtitle.setAccessibleName("About this note")
        outer.addWidget(self.subtitle)
        outer.addWidget(self._build_header())
        self.tampered = paragraph("")
        self.tampered.setObjectName("tampered")
        self.tampered.setStyleSheet(TAMPER_STYLE)
        self.tampered.setAccessibleName("Signature warning")
        self.tampered.hide()
        outer.addWidget(self.tampered)
        self.late = paragraph("")
        self.late.setObjectName("late")
        self.late.setStyleSheet(LATE_STYLE)
        self.late.setAccessibleName("Late entry")
        self.late.hide()
        outer.addWidget(self.late)
        self.error = error_label()
        outer.addWidget(self.error)

        body = QHBoxLayout()
        body.setSpacing(16)
        self.views = QStackedWidget()
        # the draft: one titled editor per section, in a scroll area
        self.sections_box = QWidget()
        self.sections_layout = QVBoxLayout(self.sections_box)
        self.sections_layout.setContentsMargins(0, 0, 8, 0)
        self.sections_layout.setSpacing(4)
        self.sections_layout.addStretch(1)
        self.draft_view = QScrollArea()
        self.draft_view.setWidgetResizable(True)
        self.draft_view.setFrameShape(QFrame.Shape.NoFrame)
        self.draft_view.setWidget(self.sections_box)
        self.views.addWidget(self.draft_view)
        # the signed note: read-only text of every section
        self.reader = QTextBrowser()
        self.reader.setOpenLinks(False)
        self.reader.setReadOnly(True)
        self.reader.setAccessibleName("Signed note text")
        self.views.addWidget(self.reader)
        # nothing open (or it could not be opened)
        self.empty = paragraph("No note is open.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.views.addWidget(self.empty)
        body.addWidget(self.views, 1)

        side = QVBoxLayout()
        side.setSpacing(6)
        self.draft_panel = QWidget()
        draft = QVBoxLayout(self.draft_panel)
        draft.setContentsMargins(0, 0, 0, 0)
        self.words = QLabel()
        self.words.setAccessibleName("Word count")
        draft.addWidget(self.words)
        self.sign_button = self._button("Sign…", "Sign the note (Ctrl+Enter)", self.sign, draft)
        self.sign_button.setDefault(True)
        self.save_button = self._button("Save now", "Save now (Ctrl+S)", self.save_now, draft)
        self.discard_button = self._button(
            "Discard draft…", "Delete this draft", self.discard, draft
        )
        hint = paragraph(
            "Tab moves between sections. Ctrl+Enter signs, Ctrl+S saves, Esc goes back."
        )
        hint.setObjectName("hint")
        hint.setStyleSheet("QLabel#hint { color: palette(placeholder-text); }")
        draft.addWidget(hint)
        side.addWidget(self.draft_panel)

        self.signed_panel = QWidget()
        signed = QVBoxLayout(self.signed_panel)
        signed.setContentsMargins(0, 0, 0, 0)
        self.author = self._meta("Author", signed)
        self.signed_at = self._meta("Signed at", signed)
        self.check = self._meta("Signature check", signed)
        self.signature = TechnicalDetails(name="Technical details of the signature")
        signed.addWidget(self.signature)
        signed.addSpacing(6)
        self.amend_button = self._button(
            "Amend…", "Correct this note in a linked amendment", self.amend, signed
        )
        self.addendum_button = self._button(
            "Add addendum…", "Add information in a linked addendum", self.add_addendum, signed
        )
        self.late_button = self._button(
            "Late entry…", "Document what belonged with this note", self.add_late_entry, signed
        )
        self.export_button = self._button(
            "Print / export…", "Print the note or save it as a PDF", self.export, signed
        )
        side.addWidget(self.signed_panel)
        self.compare_button = QPushButton("Compare with the original…")
        self.compare_button.setAccessibleName("Compare with the original")
        self.compare_button.setToolTip("This amendment and the note it corrects, side by side")
        self.compare_button.clicked.connect(self.compare)
        self.compare_button.hide()
        side.addWidget(self.compare_button)
        self.goals = GoalsAddressed(ctx)  # which treatment-plan goals the note addressed
        side.addWidget(self.goals)

        side.addSpacing(10)
        history_title = QLabel("History")
        history_font = history_title.font()
        history_font.setWeight(QFont.Weight.DemiBold)
        history_title.setFont(history_font)
        side.addWidget(history_title)
        self.history = QListWidget()
        self.history.setAccessibleName("History")
        self.history.setToolTip("The original and every linked entry; Enter opens one")
        self.history.setSpacing(2)
        self.history.setWordWrap(True)  # a long reason wraps instead of scrolling sideways
        self.history.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history.itemActivated.connect(self._history_activated)
        self.history.currentItemChanged.connect(self._history_selected)
        history_title.setBuddy(self.history)
        side.addWidget(self.history, 1)
        panel = QWidget()
        panel.setFixedWidth(280)
        panel.setLayout(side)
        body.addWidget(panel)
        outer.addLayout(body, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.tick)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            self._shortcut(keys, self.sign)
        self._shortcut("Ctrl+S", self.save_now)
        self._shortcut("Escape", self.back)
        self._show_nothing()

    def _button(
        self, text: str, tip: str, slot: Callable[[], None], layout: QVBoxLayout
    ) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setAccessibleName(text.rstrip("…"))
        button.clicked.connect(slot)
        layout.addWidget(button)
        return button

    def _meta(self, name: str, layout: QVBoxLayout) -> QLabel:
        label = paragraph("")
        label.setAccessibleName(name)
        layout.addWidget(label)
        return label

    def _shortcut(self, keys: str, slot: Callable[[], None]) -> None:
        shortcut = QShortcut(QKeySequence(keys), self)
        shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        shortcut.activated.connect(slot)

    # -- header fields: when, how long, how ------------------------------------------------------
    def _build_header(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.header_line = QLabel()
        self.header_line.setAccessibleName("Session held")
        row.addWidget(self.header_line)
        self.held_at = QDateTimeEdit()
        self.held_at.setCalendarPopup(True)
        self.held_at.setAccessibleName("Session held on")
        self.held_at.setToolTip("When the session began, in local time")
        self.held_minutes = QSpinBox()
        self.held_minutes.setRange(0, 1440)
        self.held_minutes.setSingleStep(5)
        self.held_minutes.setSuffix(" minutes")
        self.held_minutes.setAccessibleName("Session length")
        self.held_how = QComboBox()
        self.held_how.setAccessibleName("How the session was held")
        for modality, text in MODALITY_LABELS.items():
            self.held_how.addItem(text, str(modality))
        self.header_fields = QWidget()
        fields = QHBoxLayout(self.header_fields)
        fields.setContentsMargins(0, 0, 0, 0)
        for caption, field in (("Held", self.held_at), ("Length", self.held_minutes),
                               ("How", self.held_how)):  # fmt: skip
            caption_label = QLabel(caption)
            caption_label.setBuddy(field)
            fields.addWidget(caption_label)
            fields.addWidget(field)
        row.addWidget(self.header_fields)
        row.addStretch(1)
        self.held_at.dateTimeChanged.connect(self._header_changed)
        self.held_minutes.valueChanged.connect(self._header_changed)
        self.held_how.currentIndexChanged.connect(self._header_changed)
        self._header_timer = QTimer(self)
        self._header_timer.setSingleShot(True)
        self._header_timer.setInterval(HEADER_SAVE_MS)
        self._header_timer.timeout.connect(self.save_header)
        self.header_fields.hide()
        return box

    def _show_header(self, note: Note) -> None:
        header = note.header
        draft = note.status is NoteStatus.DRAFT
        self.header_fields.setVisible(draft and header is not None)
        if header is None:
            self.header_line.setText("" if not draft else "No session linked")
            self.header_line.setVisible(draft)
            return
        if draft:
            self._loading = True
            self.held_at.setDisplayFormat(formats.date_time_input_pattern())
            self.held_at.setDateTime(formats.qdatetime(header.held_at))
            self.held_minutes.setValue(header.duration_minutes)
            self.held_how.setCurrentIndex(max(0, self.held_how.findData(str(header.modality))))
            self._loading = False
            self.header_line.hide()
        else:
            self.header_line.setText(header_text(header))
            self.header_line.show()

    def _header_changed(self, *_: object) -> None:
        if not self._loading and self.is_draft:
            self._header_timer.start()

    def header_values(self) -> NoteHeader:
        d, t = self.held_at.date(), self.held_at.time()
        local = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute()).astimezone()
        return NoteHeader(local, self.held_minutes.value(), Modality(self.held_how.currentData()))

    def save_header(self) -> None:
        """Write the header fields now (they are saved a moment after each change)."""
        self._header_timer.stop()
        note = self.note
        if note is None or note.status is not NoteStatus.DRAFT or note.header is None:
            return
        try:
            header = self.ctx.practice.set_note_header(note.id, self.header_values())
        except PracticeError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.note = replace(note, header=header)

    # -- comparing an amendment with its original --------------------------------------------------
    def compare(self) -> None:
        note = self.note
        if note is None or note.kind is not NoteKind.AMENDMENT or note.parent_id is None:
            return
        try:
            if self.psychotherapy:
                original = self.ctx.practice.open_psychotherapy_note(note.parent_id)
            else:
                original = self.ctx.practice.open_note(note.parent_id)
        except PracticeError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        current = note if not self.editors else replace(note, sections=self._current_sections())
        dialog = CompareDialog(self, original, current)
        self.dialogs.append(dialog)
        dialog.open()

    def _current_sections(self) -> tuple[NoteSection, ...]:
        assert self.note is not None
        texts = self.texts()
        return tuple(replace(s, text=texts.get(s.key, s.text)) for s in self.note.sections)

    # -- opening and closing ----------------------------------------------------------------------
    @property
    def is_draft(self) -> bool:
        return self.note is not None and self.note.status is NoteStatus.DRAFT

    def open_note(self, note_id: str, *, psychotherapy: bool = False) -> None:
        """Load a note (audited) into the editor or, when signed, the read-only view."""
        self.close_note()
        practice = self.ctx.practice
        try:
            if psychotherapy:
                note = practice.open_psychotherapy_note(note_id)
            else:
                note = practice.open_note(note_id)
        except PracticeError as exc:
            self._show_error(str(exc))
            return
        self.psychotherapy = note.compartment is Compartment.PSYCHOTHERAPY
        self._show(note)

    def close_note(self) -> None:
        """Save and close the open draft (called before the page is left and before lock)."""
        if self._header_timer.isActive() and self.ctx.practice.is_open:
            self.save_header()
        note = self.note
        self.note = None
        self.timer.stop()
        wait_in_order()  # autosaves still on their way land first, then the last text below
        if note is not None and note.status is NoteStatus.DRAFT and self.ctx.practice.is_open:
            try:
                if self.editors:  # (sections not shown would be saved as empty)
                    self.ctx.practice.save_draft(note.id, self.texts())
                self.ctx.practice.close_draft(note.id)
            except PracticeError:
                pass  # signed or discarded elsewhere: nothing of ours is pending
        self.clear_phi()

    def clear_phi(self) -> None:
        self.note = None
        self.timer.stop()
        for dialog in self.dialogs:
            if isinstance(dialog, QDialog) and is_alive(dialog) and dialog.isVisible():
                dialog.reject()
        self.dialogs = []
        self._remove_editors()
        self.reader.clear()
        labels = (self.title, self.subtitle, self.tampered, self.late, self.save_state,
                  self.words, self.author, self.signed_at, self.check)  # fmt: skip
        for label in labels:
            label.clear()
            label.setToolTip("")
        self.signature.clear()
        self._header_timer.stop()
        self.header_line.clear()
        self.header_fields.hide()
        self.compare_button.hide()
        self.goals.clear()
        self.error.clear()
        self.error.hide()
        self.history.clear()
        self._show_nothing()

    def _remove_editors(self) -> None:
        for editor in self.editors:
            editor.blockSignals(True)
            editor.clear()
        while self.sections_layout.count() > 1:  # the stretch stays
            item = self.sections_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.editors = []

    def _show_nothing(self) -> None:
        self.views.setCurrentWidget(self.empty)
        self.draft_panel.hide()
        self.signed_panel.hide()
        self.tampered.hide()
        self.late.hide()

    def _show_error(self, message: str) -> None:
        self.clear_phi()
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()

    # -- showing a note ---------------------------------------------------------------------------
    def _show(self, note: Note) -> None:
        self.clear_phi()
        self.note = note
        kind = KIND_LABELS[note.kind]
        if note.kind is NoteKind.ADDENDUM:
            self.title.setText("Addendum")
        elif note.kind is NoteKind.ORIGINAL:
            self.title.setText(f"{note.template_name} note")
        else:
            self.title.setText(f"{note.template_name} {kind.lower()}")
        if note.client_name:  # inside the window only; the window title stays "Quietroom"
            self.title.setText(f"{self.title.text()} · {note.client_name}")
        compartment = "Psychotherapy note" if self.psychotherapy else "Progress note"
        state = "draft" if note.status is NoteStatus.DRAFT else "signed"
        about = f"{compartment} · {state} · written {local_time(note.created_at)}"
        later = [h for h in note.history if h.kind is NoteKind.AMENDMENT and h.id != note.id]
        if note.kind is NoteKind.ORIGINAL and later:
            about += " · amended later (see History)"
        if note.reason:
            about += f"\nReason for this {kind.lower()}: {note.reason}"
        self.subtitle.setText(about)
        self._fill_history(note)
        self._show_header(note)
        self.compare_button.setVisible(note.kind is NoteKind.AMENDMENT)
        self.goals.show_note(note, psychotherapy=self.psychotherapy)
        if note.status is NoteStatus.DRAFT:
            self._show_draft(note)
        else:
            self._show_signed(note)

    def _prompts(self, note: Note) -> dict[str, str]:
        if note.kind is NoteKind.ADDENDUM:
            return {"addendum": ADDENDUM_PROMPT}
        try:
            templates = self.ctx.practice.templates(include_archived=True)
        except PracticeError:
            return {}
        for template in templates:
            if template.key == note.template_key:
                return {s.key: s.prompt for s in template.sections}
        return {}

    def _show_draft(self, note: Note) -> None:
        prompts = self._prompts(note)
        self._loading = True
        for index, section in enumerate(note.sections):
            label = QLabel(section.title)
            font = label.font()
            font.setWeight(QFont.Weight.DemiBold)
            label.setFont(font)
            if index:
                self.sections_layout.insertSpacing(self.sections_layout.count() - 1, 10)
            editor = SectionEditor(section.key, section.title, prompts.get(section.key, ""))
            editor.setPlainText(section.text)
            label.setBuddy(editor)
            editor.textChanged.connect(self._changed)
            self.sections_layout.insertWidget(self.sections_layout.count() - 1, label)
            self.sections_layout.insertWidget(self.sections_layout.count() - 1, editor)
            self.editors.append(editor)
        self._loading = False
        self.views.setCurrentWidget(self.draft_view)
        self.draft_panel.show()
        if note.late:
            hours = self.ctx.practice.settings.late_entry_hours
            self.late.setText(
                "Late entry: it is flagged late when signed."
                if note.kind is NoteKind.LATE_ENTRY
                else f"Would be a late entry if signed now: the session ended more than "
                f"{hours} hours ago."
            )
            self.late.show()
        self.save_state.setText(f"Saved at {formats.time_text(note.updated_at)}")
        self._count_words()
        self.timer.start()
        if self.editors:
            first = next((e for e in self.editors if not e.toPlainText()), self.editors[0])
            first.setFocus()
            first.moveCursor(QTextCursor.MoveOperation.End)

    def _show_signed(self, note: Note) -> None:
        parts = []
        for section in note.sections:
            text = html.escape(section.text.strip()).replace("\n", "<br/>")
            parts.append(f"<h3>{html.escape(section.title)}</h3>")
            parts.append(f"<p>{text}</p>" if text else "<p><i>(empty)</i></p>")
        self.reader.setHtml("".join(parts))
        self.reader.document().setDocumentMargin(14)
        self.views.setCurrentWidget(self.reader)
        self.signed_panel.show()
        self.author.setText(f"Signed by {note.author}")
        if note.signed_at is not None:
            self.signed_at.setText(f"on {local_time(note.signed_at)}")
        self.signature.set_text(
            f"Signature (SHA-256 of the note's fields, encoding v1):\n{note.signature or ''}\n"
            "Checked on display against the note.signed entry of the audit log."
        )
        if note.late:
            self.late.setText("Signed late: this is a late entry.")
            self.late.show()
        if note.signature_check is SignatureCheck.TAMPERED:
            self.check.setText("✗ Does not match the signature")
            self.tampered.setText(
                "Warning: this note no longer matches its signature. Its text, author or time "
                "changed after it was signed, outside Quietroom. The mismatch has been recorded "
                "in the audit log; keep a backup from before the change."
            )
            self.tampered.show()
        else:
            self.check.setText("✓ Signature verified")
        self.reader.setFocus()

    def _fill_history(self, note: Note) -> None:
        self._filling_history = True
        try:
            self._add_history(note)
        finally:
            self._filling_history = False

    def _add_history(self, note: Note) -> None:
        for number, entry in enumerate(note.history, start=1):
            item = QListWidgetItem(self._history_text(number, entry))
            item.setData(Qt.ItemDataRole.UserRole, entry.id)
            item.setToolTip(f"Reason: {entry.reason}" if entry.reason else "")
            if entry.id == note.id:
                font = item.font()
                font.setWeight(QFont.Weight.DemiBold)
                item.setFont(font)
            self.history.addItem(item)
            if entry.id == note.id:
                self.history.setCurrentItem(item)

    @staticmethod
    def _history_text(number: int, entry: NoteSummary) -> str:
        kind = KIND_LABELS[entry.kind]
        if entry.status is NoteStatus.SIGNED and entry.signed_at is not None:
            when = f"Signed {local_time(entry.signed_at)}"
        else:
            when = f"Draft, started {local_time(entry.created_at)}"
        late = " · late" if entry.late and entry.status is NoteStatus.SIGNED else ""
        lines = [f"{number}. {kind}{late}", when, entry.author]
        if entry.reason:
            first_line = entry.reason.splitlines()[0]
            reason = first_line if len(first_line) <= 120 else first_line[:119] + "…"
            lines.append(f"Reason: {reason}")
        return "\n".join(lines)

    def _history_selected(
        self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None
    ) -> None:
        """Selecting a version in the history shows that version (an audited opening)."""
        if item is None or self._filling_history:
            return
        self._history_activated(item)

    def _history_activated(self, item: QListWidgetItem) -> None:
        note_id = item.data(Qt.ItemDataRole.UserRole)
        if self.note is not None and note_id != self.note.id:
            self.ctx.nav.open_note(str(note_id), psychotherapy=self.psychotherapy)

    # -- editing a draft --------------------------------------------------------------------------
    def texts(self) -> dict[str, str]:
        return {editor.key: editor.toPlainText() for editor in self.editors}

    def _count_words(self) -> None:
        count = word_count([e.toPlainText() for e in self.editors])
        self.words.setText(f"{count} word{'' if count == 1 else 's'}")

    def _changed(self) -> None:
        if self._loading or not self.is_draft:
            return
        self._count_words()
        texts, practice = self.texts(), self.ctx.practice  # read on the UI thread, written off it
        self._save(lambda note_id: practice.save_draft(note_id, texts), typed=True)

    @property
    def writing(self) -> bool:
        """A write of this draft is on its way (off the UI thread) and not yet reported back."""
        return self._in_flight > 0

    def _save(self, write: Callable[[str], DraftSaveState | None], *, typed: bool) -> None:
        """Run ``write`` off the UI thread, after every write started before it (autosaves of
        a draft never overtake each other), then show the result. ``typed``: the write carries
        new text, so the indicator says "Saving…" at once, and only this write's result (or a
        later one's) may change it: an earlier write reporting back late never shows "Saved"
        over text typed since."""
        assert self.note is not None
        note_id = self.note.id
        self._writes += 1
        self._in_flight += 1
        number = self._writes
        if typed:
            self._typed_at = number
            self.save_state.setText("Saving…")
        run_in_background(
            lambda: write(note_id),
            lambda state: self._written(number, note_id, state),
            lambda exc: self._write_failed(number, note_id, exc),
            owner=self,
            in_order=True,
        )

    def _reported(self, number: int, note_id: str) -> bool:
        """Count a write as back; True when its result is still the one to show."""
        self._in_flight = max(0, self._in_flight - 1)
        return self.note is not None and self.note.id == note_id and number >= self._typed_at

    def _written(self, number: int, note_id: str, state: DraftSaveState | None) -> None:
        if self._reported(number, note_id) and state is not None:
            self.error.hide()
            self.save_state.setText(_save_label(state))

    def _write_failed(self, number: int, note_id: str, exc: Exception) -> None:
        self._reported(number, note_id)
        if self.note is None or self.note.id != note_id:
            return
        self.save_state.setText("Unsaved changes")
        self.error.setText(str(exc) if isinstance(exc, PracticeError) else error_message(exc))
        self.error.show()

    def tick(self) -> None:
        """The autosave timer: write a pause's pending text (off the UI thread), then show it
        as saved."""
        if not self.is_draft or not self.ctx.practice.is_open:
            return
        texts, practice = self.texts(), self.ctx.practice

        def write(note_id: str) -> DraftSaveState | None:
            if note_id not in practice.autosave_tick():
                return None
            return practice.save_draft(note_id, texts)

        self._save(write, typed=False)

    def save_now(self) -> None:
        """Ctrl+S: write what is pending now."""
        if not self.is_draft:
            return
        texts, practice = self.texts(), self.ctx.practice

        def flush(note_id: str) -> DraftSaveState:
            practice.save_draft(note_id, texts)
            practice.flush_drafts()
            return practice.save_draft(note_id, texts)

        self._save(flush, typed=True)

    def sign(self) -> None:
        if not self.is_draft or self._dialog_open():
            return
        self.dialogs.append(
            confirm(
                self,
                "Quietroom - sign note",
                "Sign this note now?\n\nA signed note can never change: corrections and "
                "additions go into amendments and addenda kept next to it.",
                "Sign and lock",
                self._sign_confirmed,
            )
        )

    def _sign_confirmed(self) -> None:
        note = self.note
        if note is None or note.status is not NoteStatus.DRAFT:
            return
        practice = self.ctx.practice
        wait_in_order()  # autosaves still on their way land first
        try:
            practice.save_draft(note.id, self.texts())
            signed = practice.sign_note(note.id)
        except PracticeError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.timer.stop()
        self._show(signed)
        self.ctx.nav.notify("Note signed.")

    def discard(self) -> None:
        if not self.is_draft or self._dialog_open():
            return
        self.dialogs.append(
            confirm(
                self,
                "Quietroom - discard draft",
                "Discard this draft? Its text is deleted; the audit log keeps a record that a "
                "draft was discarded.",
                "Discard draft",
                self._discard_confirmed,
            )
        )

    def _discard_confirmed(self) -> None:
        note = self.note
        if note is None or note.status is not NoteStatus.DRAFT:
            return
        self.note = None  # nothing to save or close any more
        self.timer.stop()
        wait_in_order()
        try:
            self.ctx.practice.discard_draft(note.id)
        except PracticeError as exc:
            self._show_error(str(exc))
            return
        self.clear_phi()
        self.ctx.nav.notify("Draft discarded.")
        self.ctx.nav.open_client(note.client_id)

    def _dialog_open(self) -> bool:
        # A dialog closed and deleted (deleteLater) is gone from Qt: forget it.
        self.dialogs = [d for d in self.dialogs if is_alive(d)]
        return any(d.isVisible() for d in self.dialogs)

    # -- a signed note ----------------------------------------------------------------------------
    def amend(self) -> None:
        self._linked_entry(
            "Quietroom - amend note",
            "Why does this note need correcting? The amendment starts with the signed text; the "
            "original stays as it was.",
            "Write amendment",
            self.ctx.practice.amend_note,
        )

    def add_addendum(self) -> None:
        self._linked_entry(
            "Quietroom - add addendum",
            "Why are you adding to this note? The addendum is kept next to it.",
            "Write addendum",
            self.ctx.practice.add_addendum,
        )

    def add_late_entry(self) -> None:
        self._linked_entry(
            "Quietroom - late entry",
            "Why is this being documented late? A late entry is always flagged as such.",
            "Write late entry",
            self.ctx.practice.add_late_entry,
        )

    def _linked_entry(
        self, title: str, question: str, action: str, create: Callable[[str, str], Note]
    ) -> None:
        note = self.note
        if note is None or note.status is not NoteStatus.SIGNED or self._dialog_open():
            return
        dialog = ReasonDialog(self, title, question, action)

        def accepted() -> None:
            reason = dialog.text()
            dialog.reason.clear()
            dialog.deleteLater()
            try:
                entry = create(note.id, reason)
            except PracticeError as exc:
                self.error.setText(str(exc))
                self.error.show()
                return
            self.ctx.nav.open_note(entry.id, psychotherapy=self.psychotherapy)

        def rejected() -> None:
            dialog.reason.clear()
            dialog.deleteLater()

        dialog.accepted.connect(accepted)
        dialog.rejected.connect(rejected)
        self.dialogs.append(dialog)
        dialog.open()
        dialog.reason.setFocus()

    def export(self) -> None:
        if self.note is None or self.note.status is not NoteStatus.SIGNED:
            return
        start_disclosure(self.ctx, self, note_id=self.note.id, psychotherapy=self.psychotherapy)

    def back(self) -> None:
        if self._dialog_open():
            return
        note = self.note
        if note is None:
            self.ctx.nav.show_clients()
        else:
            self.ctx.nav.open_client(note.client_id)
