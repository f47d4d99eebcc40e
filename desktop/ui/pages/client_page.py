"""One client: details, sessions, the progress-note timeline and, kept apart, the psychotherapy
notes.

``show_client`` reads the record in one audited call (``open_client``); a change made here
(details, archive, a session) reads it again the same way. Psychotherapy notes are listed only
when the therapist asks for them with the button on their tab (``list_psychotherapy_notes``,
audited on its own), and the list is hidden again whenever a client is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from desktop.core.clients import Client, ClientDetails
from desktop.core.clinical.facade import ClinicalSummary
from desktop.core.errors import PracticeError
from desktop.core.notes import Note, NoteKind, NoteStatus, NoteSummary
from desktop.core.practice import Practice
from desktop.core.record import ClientRecord
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.templates import FREE_FORM
from desktop.ui import billing_dialog, disclosure_dialog, formats, record_copy_dialog
from desktop.ui.background import run_in_background
from desktop.ui.client_forms import (
    ATTENDANCE_LABELS,
    KIND_LABELS,
    MODALITY_LABELS,
    NOTE_STATUS_LABELS,
    STATUS_LABELS,
    ClientFormDialog,
    FormDialog,
    NewNoteDialog,
    SessionFormDialog,
    SessionValues,
    error_text,
    local_date,
    local_time,
    next_full_hour,
    row_size,
)
from desktop.ui.clinical.client_section import ClinicalSection, read_summary
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QFont,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QPushButton,
    QScrollArea,
    QShortcut,
    QSize,
    QStackedWidget,
    Qt,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import error_label, paragraph

NEW_NOTE_KEYS = "Ctrl+N"
SCHEDULE_KEYS = "Ctrl+Shift+N"
ID_ROLE = Qt.ItemDataRole.UserRole
EMPTY = "—"

# Subtle, translucent tints that sit on light and dark palettes alike; the text keeps the
# palette's colour.
CHIP_TINTS = {
    "active": "rgba(46, 125, 50, 0.16)",
    "waitlist": "rgba(237, 145, 33, 0.20)",
    "discharged": "rgba(120, 120, 120, 0.18)",
    "archived": "rgba(120, 120, 120, 0.30)",
}


def _button(text: str, name: str, tip: str, slot: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setAccessibleName(name)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


def _tree(name: str, titles: Sequence[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setAccessibleName(name)
    tree.setColumnCount(len(titles))
    tree.setHeaderLabels(list(titles))
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setAllColumnsShowFocus(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    tree.setRootIsDecorated(False)
    tree.header().setStretchLastSection(True)
    tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    return tree


def _value_label() -> QLabel:
    """A detail's value: plain text (a name is never markup), selectable with the mouse."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class Chip(QLabel):
    """A small rounded status label."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setAccessibleName(name)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.hide()

    def show_as(self, text: str, tint: str) -> None:
        self.setText(text)
        self.setStyleSheet(
            f"QLabel {{ background: {tint}; border: 1px solid palette(mid);"
            " border-radius: 9px; padding: 1px 9px; }"
        )
        self.show()


class ClientPage(Page):
    nav_title = ""

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self._record: ClientRecord | None = None
        self._client_id: str | None = None
        self._generation = 0  # bumped by every read started (and by clearing)
        self._loading_id: str | None = None
        self._psychotherapy_notes: tuple[NoteSummary, ...] | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        layout.addLayout(self._build_header())
        self.archived_notice = paragraph("")
        self.archived_notice.setAccessibleName("Archived")
        self.archived_notice.setObjectName("archivedNotice")
        self.archived_notice.setStyleSheet(
            "QLabel#archivedNotice { background: palette(alternate-base);"
            " border: 1px solid palette(mid); border-radius: 6px; padding: 6px 10px; }"
        )
        self.archived_notice.hide()
        layout.addWidget(self.archived_notice)
        self.load_error = error_label()
        layout.addWidget(self.load_error)
        self.clinical = ClinicalSection(ctx)  # diagnoses, treatment plan, review reminder
        layout.addWidget(self.clinical.banner)

        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Client record")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_details_tab(), "&Details")
        self.tabs.addTab(self._build_sessions_tab(), "&Sessions")
        self.tabs.addTab(self._build_notes_tab(), "&Notes")
        self.tabs.addTab(self._build_psychotherapy_tab(), "&Psychotherapy notes")
        for index, tip in enumerate(
            (
                "Contact details, diagnosis codes and status (Alt+D)",
                "Appointments, past and coming (Alt+S)",
                "The progress-note timeline, newest first (Alt+N)",
                "Psychotherapy notes, kept apart and listed only on request (Alt+P)",
            )
        ):
            self.tabs.setTabToolTip(index, tip)
        self.clinical.add_tabs(self.tabs)
        layout.addWidget(self.tabs, 1)

        new_note = QShortcut(QKeySequence(NEW_NOTE_KEYS), self)
        new_note.activated.connect(self._new_note_shortcut)
        schedule = QShortcut(QKeySequence(SCHEDULE_KEYS), self)
        schedule.activated.connect(self._schedule_shortcut)
        self._set_enabled(False)

    # -- building --------------------------------------------------------------------------------
    def _build_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        names = QVBoxLayout()
        names.setSpacing(4)
        self.name_label = QLabel()
        self.name_label.setTextFormat(Qt.TextFormat.PlainText)
        self.name_label.setAccessibleName("Client name")
        font = self.name_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setWeight(QFont.Weight.DemiBold)
        self.name_label.setFont(font)
        names.addWidget(self.name_label)
        facts = QHBoxLayout()
        facts.setSpacing(8)
        self.subtitle = QLabel()
        self.subtitle.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle.setAccessibleName("Preferred name and pronouns")
        self.status_chip = Chip("Status")
        self.archived_chip = Chip("Archived")
        facts.addWidget(self.subtitle)
        facts.addWidget(self.status_chip)
        facts.addWidget(self.archived_chip)
        facts.addStretch(1)
        names.addLayout(facts)
        row.addLayout(names, 1)
        self.export_button = _button(
            "Print / e&xport…",
            "Print or export",
            "Print the record or save it as a PDF; recorded as a disclosure (Alt+X)",
            self.print_or_export,
        )
        self.audit_button = _button(
            "Audit &trail",
            "Audit trail",
            "Every access to this client's record (Alt+T)",
            self.show_audit_trail,
        )
        # Records (desktop/ui/record_copy_dialog.py, billing_dialog.py)
        self.copy_button = _button(
            "Copy of re&cord…",
            "Copy of the record",
            "The client's copy of their record, readable and for other health software",
            self.copy_of_record,
        )
        self.billing_button = _button(
            "Billin&g…", "Billing", "Fees, payments, balance and superbills", self.billing
        )
        row.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.copy_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.billing_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.audit_button, 0, Qt.AlignmentFlag.AlignTop)
        return row

    def _build_details_tab(self) -> QWidget:
        tab = QWidget()
        outer = QVBoxLayout(tab)
        outer.setContentsMargins(4, 12, 4, 4)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        form = QFormLayout(body)
        form.setHorizontalSpacing(24)
        form.setVerticalSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        self.detail_labels: dict[str, QLabel] = {}
        for key, caption in (
            ("name", "Name"),
            ("preferred_name", "Preferred name"),
            ("pronouns", "Pronouns"),
            ("date_of_birth", "Date of birth"),
            ("email", "E-mail"),
            ("phone", "Phone"),
            ("address", "Address"),
            ("emergency_contact", "Emergency contact"),
            ("diagnosis_codes", "Diagnosis codes"),
            ("status", "Status"),
            ("created_at", "Client since"),
            ("archived_at", "Archived"),
        ):
            label = _value_label()
            label.setAccessibleName(caption)
            self.detail_labels[key] = label
            form.addRow(QLabel(caption), label)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        buttons = QHBoxLayout()
        self.edit_button = _button(
            "&Edit details…", "Edit details", "Change the client's details (Alt+E)", self.edit
        )
        self.archive_button = _button(
            "&Archive client",
            "Archive client",
            "Move the client to the archive; nothing is deleted and you can restore them (Alt+A)",
            self.archive,
        )
        self.restore_button = _button(
            "&Restore client",
            "Restore client",
            "Bring the client back from the archive (Alt+R)",
            self.restore,
        )
        buttons.addWidget(self.edit_button)
        buttons.addStretch(1)
        buttons.addWidget(self.archive_button)
        buttons.addWidget(self.restore_button)
        outer.addLayout(buttons)
        return tab

    def _build_sessions_tab(self) -> QWidget:
        tab = QWidget()
        outer = QVBoxLayout(tab)
        outer.setContentsMargins(4, 12, 4, 4)
        self.sessions = _tree(
            "Sessions", ("Date and time", "Duration", "Modality", "Attendance", "Notes")
        )
        for column, width in enumerate((230, 110, 110, 120)):
            self.sessions.header().resizeSection(column, width)
        self.sessions.currentItemChanged.connect(self._session_selected)
        self.sessions.itemActivated.connect(lambda *_: self.edit_session())
        outer.addWidget(self.sessions, 1)
        self.sessions_empty = QLabel("No sessions yet.")
        self.sessions_empty.setEnabled(False)
        outer.addWidget(self.sessions_empty)
        buttons = QHBoxLayout()
        self.schedule_button = _button(
            "Sc&hedule session…",
            "Schedule session",
            f"Add an appointment ({SCHEDULE_KEYS})",
            self.schedule_session,
        )
        self.edit_session_button = _button(
            "&Edit session…",
            "Edit session",
            "Change the time, length, modality or attendance (Enter)",
            self.edit_session,
        )
        self.session_note_button = _button(
            "&Write note…",
            "Write a note for this session",
            "A new progress note for the selected session (Alt+W)",
            self.new_note_for_session,
        )
        self.video_button = _button(
            "Start &video session",
            "Start video session",
            "Open the video call for this appointment (Alt+V)",
            self.start_video,
        )
        self.video_button.hide()
        buttons.addWidget(self.schedule_button)
        buttons.addWidget(self.edit_session_button)
        buttons.addWidget(self.session_note_button)
        buttons.addStretch(1)
        buttons.addWidget(self.video_button)
        outer.addLayout(buttons)
        return tab

    def _build_notes_tab(self) -> QWidget:
        tab = QWidget()
        outer = QVBoxLayout(tab)
        outer.setContentsMargins(4, 12, 4, 4)
        self.notes = _tree(
            "Progress notes", ("Written", "Template", "Entry", "Status", "Session", "Late")
        )
        self.notes.setRootIsDecorated(True)  # amendments and addenda sit under their original
        for column, width in enumerate((230, 120, 120, 170, 140)):
            self.notes.header().resizeSection(column, width)
        self.notes.itemActivated.connect(lambda *_: self.open_selected_note())
        outer.addWidget(self.notes, 1)
        self.notes_empty = QLabel("No progress notes yet.")
        self.notes_empty.setEnabled(False)
        outer.addWidget(self.notes_empty)
        self.notes_count = QLabel()
        self.notes_count.setAccessibleName("Number of notes and linked entries")
        outer.addWidget(self.notes_count)
        buttons = QHBoxLayout()
        self.new_note_button = _button(
            "New n&ote…",
            "New note",
            f"A new progress-note draft from a template ({NEW_NOTE_KEYS})",
            self.new_note,
        )
        self.open_note_button = _button(
            "Open note", "Open note", "Open the selected note (Enter)", self.open_selected_note
        )
        buttons.addWidget(self.new_note_button)
        buttons.addStretch(1)
        buttons.addWidget(self.open_note_button)
        outer.addLayout(buttons)
        return tab

    def _build_psychotherapy_tab(self) -> QWidget:
        tab = QWidget()
        outer = QVBoxLayout(tab)
        outer.setContentsMargins(4, 12, 4, 4)
        self.psy_stack = QStackedWidget()
        # Closed: what they are, how many, and the explicit button.
        closed = QWidget()
        closed_layout = QVBoxLayout(closed)
        closed_layout.setContentsMargins(0, 0, 0, 0)
        closed_layout.setSpacing(10)
        about = paragraph(
            "Psychotherapy notes are kept apart from the rest of the record. They are not listed "
            "with the progress notes, not found by an ordinary search and left out of every print "
            "or export unless you include them. Showing the list is recorded in the audit trail."
        )
        about.setMaximumWidth(640)
        closed_layout.addWidget(about)
        self.psy_count = QLabel()
        self.psy_count.setAccessibleName("Number of psychotherapy notes")
        closed_layout.addWidget(self.psy_count)
        self.show_psy_button = _button(
            "S&how psychotherapy notes",
            "Show psychotherapy notes",
            "List this client's psychotherapy notes (recorded in the audit trail; Alt+H)",
            self.show_psychotherapy_notes,
        )
        closed_layout.addWidget(self.show_psy_button, 0, Qt.AlignmentFlag.AlignLeft)
        closed_layout.addStretch(1)
        self.psy_stack.addWidget(closed)
        # Open: the list.
        self.psy_notes = _tree(
            "Psychotherapy notes", ("Written", "Template", "Entry", "Status", "Session")
        )
        self.psy_notes.setRootIsDecorated(True)
        for column, width in enumerate((230, 120, 120, 170)):
            self.psy_notes.header().resizeSection(column, width)
        self.psy_notes.itemActivated.connect(lambda *_: self.open_selected_psychotherapy_note())
        self.psy_stack.addWidget(self.psy_notes)
        outer.addWidget(self.psy_stack, 1)
        row = QHBoxLayout()
        self.new_psy_button = _button(
            "New ps&ychotherapy note…",
            "New psychotherapy note",
            f"A new psychotherapy-note draft, kept apart from the record ({NEW_NOTE_KEYS} on this"
            " tab; Alt+Y)",
            self.new_psychotherapy_note,
        )
        self.hide_psy_button = _button(
            "Hide &list",
            "Hide psychotherapy notes",
            "Hide the list again (Alt+L)",
            self.hide_psychotherapy_notes,
        )
        self.open_psy_button = _button(
            "Open note",
            "Open psychotherapy note",
            "Open the selected psychotherapy note (Enter; recorded in the audit trail)",
            self.open_selected_psychotherapy_note,
        )
        row.addWidget(self.new_psy_button)
        row.addWidget(self.hide_psy_button)
        row.addStretch(1)
        row.addWidget(self.open_psy_button)
        outer.addLayout(row)
        self._show_psy_list(False)
        return tab

    def _show_psy_list(self, shown: bool) -> None:
        self.psy_stack.setCurrentIndex(1 if shown else 0)
        self.hide_psy_button.setVisible(shown)
        self.open_psy_button.setVisible(shown)

    # -- loading ---------------------------------------------------------------------------------
    def show_client(self, client_id: str) -> None:
        """Load and show one client (an audited ``open_client``). The psychotherapy list starts
        hidden again, and a different client starts on the Details tab."""
        if client_id != self._client_id:
            self.tabs.setCurrentIndex(0)
        self.hide_psychotherapy_notes()
        self._client_id = client_id
        self._reload()
        self.tabs.setFocus()

    @property
    def loading(self) -> bool:
        """The record is being read (off the UI thread)."""
        return self._loading_id is not None

    def _reload(self, *, select_session: str | None = None) -> None:
        """Read the record and its clinical summary off the UI thread (one audited
        ``open_client``, one ``clinical.summary``), with the text of every row, then show it.
        Another client's record is cleared at once, so nothing is done to the wrong one."""
        if self._client_id is None:
            return
        self.load_error.hide()
        if self._record is not None and self._record.client.id != self._client_id:
            self._clear_record()
        if self._record is None:
            self.name_label.setText("Opening…")
        self._generation += 1
        generation, client_id = self._generation, self._client_id
        self._loading_id = client_id
        practice = self.ctx.practice
        run_in_background(
            lambda: read_client(practice, client_id),
            lambda read: self._loaded(generation, read, select_session),
            lambda exc: self._load_failed(generation, exc),
            owner=self,
        )

    def _load_failed(self, generation: int, exc: Exception) -> None:
        if generation != self._generation:
            return
        self._loading_id = None
        self._clear_record()
        self.load_error.setText(error_text(exc))
        self.load_error.show()

    def _loaded(self, generation: int, read: ClientRead, select_session: str | None) -> None:
        if generation != self._generation:
            return
        self._loading_id = None
        record = read.record
        self._record = record
        self._show_header(record.client)
        self._show_details(record.client)
        self._show_sessions(read.session_rows, select_session)
        self._show_notes(record, read.note_rows)
        self._set_enabled(True)
        self.clinical.show_client(record.client, read.summary, read.problem)

    @property
    def shown_client_id(self) -> str | None:
        """Whose record is on screen (None while one is being read, or none is)."""
        if self.loading or self._record is None:
            return None
        return self._record.client.id

    def _show_header(self, client: Client) -> None:
        d = client.details
        self.name_label.setText(d.name)
        bits = []
        if d.preferred_name:
            bits.append(f"Preferred: {d.preferred_name}")
        if d.pronouns:
            bits.append(d.pronouns)
        self.subtitle.setText("  ·  ".join(bits))
        self.subtitle.setVisible(bool(bits))
        self.status_chip.show_as(STATUS_LABELS[d.status], CHIP_TINTS[d.status.value])
        if client.archived:
            self.archived_chip.show_as("Archived", CHIP_TINTS["archived"])
            self.archived_notice.setText(
                "This client is archived: the record is kept, read-only. Restore the client "
                "(Details tab) to schedule sessions or write notes."
            )
        else:
            self.archived_chip.hide()
        self.archived_notice.setVisible(client.archived)

    def _show_details(self, client: Client) -> None:
        d = client.details
        values = {
            "name": d.name,
            "preferred_name": d.preferred_name,
            "pronouns": d.pronouns,
            "date_of_birth": formats.date_text(d.date_of_birth) if d.date_of_birth else "",
            "email": d.email,
            "phone": d.phone,
            "address": d.address,
            "emergency_contact": d.emergency_contact,
            "diagnosis_codes": d.diagnosis_codes,
            "status": STATUS_LABELS[d.status],
            "created_at": local_date(client.created_at),
            "archived_at": local_date(client.archived_at) if client.archived_at else "",
        }
        for key, value in values.items():
            self.detail_labels[key].setText(value or EMPTY)
        self.archive_button.setVisible(not client.archived)
        self.restore_button.setVisible(client.archived)
        self.edit_button.setEnabled(True)

    def _show_sessions(self, rows: Sequence[Row], select: str | None) -> None:
        current = select or self.current_session_id()
        self.sessions.clear()
        size = row_size(self.sessions)
        items = [_item(row, size) for row in rows]
        self.sessions.addTopLevelItems(items)
        wanted = next((i for i in items if i.data(0, ID_ROLE) == current), None)
        if wanted is None and items and self._record is not None:
            wanted = self._next_session_item(self._record.sessions, items)
        if wanted is not None:
            self.sessions.setCurrentItem(wanted)
        self.sessions_empty.setVisible(not items)
        self._session_selected()

    def _next_session_item(
        self, sessions: Sequence[Session], items: list[QTreeWidgetItem]
    ) -> QTreeWidgetItem:
        """The coming session closest to now, else the latest one (lists are newest first)."""
        now = self.ctx.now()
        coming = [i for i, s in enumerate(sessions) if s.starts_at >= now]
        return items[coming[-1]] if coming else items[0]

    def _show_notes(self, record: ClientRecord, rows: Sequence[Row]) -> None:
        _fill_notes(self.notes, rows)
        self.notes_empty.setVisible(not record.notes)
        self.notes_count.setText(entry_counts([n.kind for n in record.notes]))
        count = record.psychotherapy_note_count
        self.psy_count.setText(
            "No psychotherapy notes."
            if count == 0
            else f"{count} psychotherapy note{'s' if count != 1 else ''}."
        )

    def _set_enabled(self, loaded: bool) -> None:
        archived = self._record is not None and self._record.client.archived
        can_add = loaded and not archived
        for button in (
            self.export_button,
            self.copy_button,
            self.billing_button,
            self.audit_button,
            self.edit_button,
        ):
            button.setEnabled(loaded)
        for button in (self.schedule_button, self.new_note_button, self.new_psy_button):
            button.setEnabled(can_add)
        self.show_psy_button.setEnabled(loaded)
        self.open_note_button.setEnabled(loaded and self.notes.topLevelItemCount() > 0)
        self._session_selected()

    # -- sessions --------------------------------------------------------------------------------
    def current_session(self) -> Session | None:
        session_id = self.current_session_id()
        if self._record is None or session_id is None:
            return None
        return next((s for s in self._record.sessions if s.id == session_id), None)

    def current_session_id(self) -> str | None:
        item = self.sessions.currentItem()
        return None if item is None else str(item.data(0, ID_ROLE))

    def _session_selected(self, *_: object) -> None:
        session = self.current_session()
        archived = self._record is None or self._record.client.archived
        self.edit_session_button.setEnabled(session is not None and not archived)
        self.session_note_button.setEnabled(session is not None and not archived)
        self.video_button.setVisible(
            session is not None
            and session.modality is Modality.VIDEO
            and session.attendance is not Attendance.CANCELLED
        )

    def _schedule_shortcut(self) -> None:
        if self.isVisible() and self.schedule_button.isEnabled():
            self.tabs.setCurrentIndex(1)
            self.schedule_session()

    def schedule_session(self) -> None:
        client_id = self._client_id
        if client_id is None:
            return

        def save(values: SessionValues) -> Session:
            return self.ctx.practice.schedule_session(
                client_id,
                values.starts_at,
                duration_minutes=values.duration_minutes,
                modality=values.modality,
                attendance=values.attendance,
            )

        dialog = SessionFormDialog(
            self, None, next_full_hour(self.ctx.now()), save, self._session_saved
        )
        dialog.open()

    def edit_session(self) -> None:
        session = self.current_session()
        if session is None or self._record is None or self._record.client.archived:
            return
        session_id = session.id

        def save(values: SessionValues) -> Session:
            return self.ctx.practice.update_session(
                session_id,
                starts_at=values.starts_at,
                duration_minutes=values.duration_minutes,
                modality=values.modality,
                attendance=values.attendance,
            )

        dialog = SessionFormDialog(self, session, session.starts_at, save, self._session_saved)
        dialog.open()

    def _session_saved(self, session: Session) -> None:
        self._reload(select_session=session.id)
        self.tabs.setCurrentIndex(1)
        self.sessions.setFocus()

    def start_video(self) -> None:
        session = self.current_session()
        if session is not None and self.video_button.isVisible():
            self.ctx.nav.start_video_session(session.id)

    # -- notes -----------------------------------------------------------------------------------
    def _new_note_shortcut(self) -> None:
        if self.isVisible() and self.new_note_button.isEnabled():
            if self.tabs.currentIndex() == 3:
                self.new_psychotherapy_note()
            else:
                self.new_note()

    def _default_note_session(self) -> str | None:
        """The latest session already begun, not cancelled and without a note: usually the one
        just held."""
        if self._record is None:
            return None
        now = self.ctx.now()
        for session in self._record.sessions:  # newest first
            if session.starts_at <= now and session.attendance is not Attendance.CANCELLED:
                return None if session.note_ids else session.id
        return None

    def new_note(self, session_id: str | None = None, *, psychotherapy: bool = False) -> None:
        if self._record is None or self._client_id is None:
            return
        client_id = self._client_id
        practice = self.ctx.practice

        def save(template_key: str, chosen: str | None) -> Note:
            if psychotherapy:
                return practice.create_psychotherapy_note(
                    client_id, template_key, session_id=chosen
                )
            return practice.create_note(client_id, template_key, session_id=chosen)

        def saved(note: Note) -> None:
            self.ctx.nav.open_note(note.id, psychotherapy=psychotherapy)

        dialog = NewNoteDialog(
            self,
            practice.templates(),
            self._record.sessions,
            template_key=FREE_FORM if psychotherapy else "soap",
            session_id=session_id or self._default_note_session(),
            psychotherapy=psychotherapy,
            save=save,
            on_saved=saved,
        )
        dialog.open()

    def new_note_for_session(self) -> None:
        session_id = self.current_session_id()
        if session_id is not None:
            self.new_note(session_id)

    def new_psychotherapy_note(self) -> None:
        self.new_note(psychotherapy=True)

    def open_selected_note(self) -> None:
        item = self.notes.currentItem()
        if item is not None:
            self.ctx.nav.open_note(str(item.data(0, ID_ROLE)))

    # -- psychotherapy notes ---------------------------------------------------------------------
    def show_psychotherapy_notes(self) -> None:
        if self._client_id is None or self._record is None:
            return
        try:
            found = self.ctx.practice.list_psychotherapy_notes(self._client_id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self._psychotherapy_notes = found
        sessions = {s.id: s for s in self._record.sessions}
        _fill_notes(self.psy_notes, note_rows(found, sessions, late_column=False))
        self.open_psy_button.setEnabled(bool(found))
        self._show_psy_list(True)
        self.psy_notes.setFocus()

    def hide_psychotherapy_notes(self) -> None:
        had_focus = self.psy_stack.currentIndex() == 1 and self.psy_notes.hasFocus()
        self._psychotherapy_notes = None
        self.psy_notes.clear()
        self._show_psy_list(False)
        if had_focus:
            self.show_psy_button.setFocus()

    @property
    def psychotherapy_list_shown(self) -> bool:
        return self._psychotherapy_notes is not None

    def open_selected_psychotherapy_note(self) -> None:
        item = self.psy_notes.currentItem()
        if item is not None and self._psychotherapy_notes is not None:
            self.ctx.nav.open_note(str(item.data(0, ID_ROLE)), psychotherapy=True)

    # -- details ---------------------------------------------------------------------------------
    def edit(self) -> None:
        if self._record is None:
            return
        client_id = self._record.client.id

        def save(details: ClientDetails) -> Client:
            return self.ctx.practice.update_client(client_id, details)

        dialog = ClientFormDialog(self, self._record.client.details, save, self._details_saved)
        dialog.open()

    def _details_saved(self, _client: Client) -> None:
        self.ctx.nav.notify("Details saved.")
        self._reload()

    def archive(self) -> None:
        self._set_archived(True)

    def restore(self) -> None:
        self._set_archived(False)

    def _set_archived(self, archived: bool) -> None:
        if self._client_id is None:
            return
        practice = self.ctx.practice
        try:
            if archived:
                practice.archive_client(self._client_id)
            else:
                practice.restore_client(self._client_id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self.ctx.nav.notify("Client archived." if archived else "Client restored.")
        self._reload()
        (self.restore_button if archived else self.archive_button).setFocus()

    # -- elsewhere -------------------------------------------------------------------------------
    def print_or_export(self) -> None:
        if self._client_id is not None:
            disclosure_dialog.start_disclosure(self.ctx, self, client_id=self._client_id)

    def copy_of_record(self) -> None:
        if self._client_id is not None:
            record_copy_dialog.start_record_copy(self.ctx, self, self._client_id)

    def billing(self) -> None:
        if self._client_id is not None:
            billing_dialog.start_billing(self.ctx, self, self._client_id)

    def show_audit_trail(self) -> None:
        if self._client_id is not None:
            self.ctx.nav.show_audit(self._client_id)

    # -- lock ------------------------------------------------------------------------------------
    def _clear_record(self) -> None:
        self._record = None
        self._psychotherapy_notes = None
        self.name_label.clear()
        self.subtitle.clear()
        self.status_chip.clear()
        self.status_chip.hide()
        self.archived_chip.hide()
        self.archived_notice.hide()
        self.load_error.clear()
        self.load_error.hide()
        for label in self.detail_labels.values():
            label.clear()
        self.sessions.clear()
        self.notes.clear()
        self.psy_notes.clear()
        self.psy_count.clear()
        self.notes_count.clear()
        self._show_psy_list(False)
        self._set_enabled(False)
        self.clinical.clear()

    def clear_phi(self) -> None:
        self._generation += 1  # a record still on its way is dropped
        self._loading_id = None
        for dialog in self.findChildren(FormDialog):
            dialog.reject()
            dialog.clear_phi()
            dialog.deleteLater()
        self._client_id = None
        self._clear_record()
        self.tabs.setCurrentIndex(0)


def entry_counts(kinds: Sequence[NoteKind]) -> str:
    """ "3 notes, 1 amendment, 1 addendum": notes and the entries linked to them counted apart."""
    words = (
        (NoteKind.ORIGINAL, "note", "notes"),
        (NoteKind.AMENDMENT, "amendment", "amendments"),
        (NoteKind.ADDENDUM, "addendum", "addenda"),
        (NoteKind.LATE_ENTRY, "late entry", "late entries"),
    )
    parts = []
    for kind, one, many in words:
        count = sum(1 for k in kinds if k is kind)
        if count:
            parts.append(f"{count} {one if count == 1 else many}")
    return ", ".join(parts)


@dataclass(frozen=True)
class Row:
    """A list row, its texts written off the UI thread; the UI thread only makes the item."""

    id: str
    texts: tuple[str, ...]
    tooltip: str = ""  # on the kind column (an amendment's reason)
    draft: bool = False  # the status column in italics
    children: tuple[Row, ...] = ()


@dataclass(frozen=True)
class ClientRead:
    """What ``read_client`` brings back to the UI thread."""

    record: ClientRecord
    summary: ClinicalSummary | None
    problem: PracticeError | None
    session_rows: tuple[Row, ...]
    note_rows: tuple[Row, ...]


def read_client(practice: Practice, client_id: str) -> ClientRead:
    """Off the UI thread: the record (audited ``open_client``), the clinical summary and the
    text of every session and note row (dates through the locale cost a little each, and a
    client seen for years has hundreds)."""
    record = practice.open_client(client_id)
    summary, problem = read_summary(practice, client_id)
    sessions = {s.id: s for s in record.sessions}
    return ClientRead(
        record,
        summary,
        problem,
        session_rows(record),
        note_rows(record.notes, sessions, late_column=True),
    )


def session_rows(record: ClientRecord) -> tuple[Row, ...]:
    kinds = {n.id: n.kind for n in record.notes}
    rows = []
    for session in record.sessions:
        linked = [kinds.get(i, NoteKind.ORIGINAL) for i in session.note_ids]
        texts = (
            local_time(session.starts_at),
            f"{session.duration_minutes} min",
            MODALITY_LABELS[session.modality],
            ATTENDANCE_LABELS[session.attendance],
            entry_counts(linked) or EMPTY,
        )
        rows.append(Row(session.id, texts))
    return tuple(rows)


def _note_row(
    note: NoteSummary,
    sessions: dict[str, Session],
    *,
    late_column: bool,
    children: tuple[Row, ...] = (),
) -> Row:
    if note.status is NoteStatus.SIGNED and note.signed_at is not None:
        status = f"Signed {local_date(note.signed_at)}"
    else:
        status = NOTE_STATUS_LABELS[note.status]
    session = sessions.get(note.session_id or "")
    columns = [
        local_time(note.created_at),
        note.template_name,
        KIND_LABELS[note.kind] if note.kind is not NoteKind.ORIGINAL else "Original",
        status,
        local_date(session.starts_at) if session else EMPTY,
    ]
    if late_column:
        columns.append("Late" if note.late else "")
    reason = str(getattr(note, "reason", "") or "")
    return Row(
        note.id,
        tuple(columns),
        f"Reason: {reason}" if reason else "",
        note.status is NoteStatus.DRAFT,
        children,
    )


def note_rows(
    notes: Sequence[NoteSummary], sessions: dict[str, Session], *, late_column: bool
) -> tuple[Row, ...]:
    """Originals newest first; each one's amendments, addenda and late entries under it, in the
    order they were written."""
    originals = [n for n in notes if n.parent_id is None]
    ids = {n.id for n in originals}
    linked: dict[str, list[NoteSummary]] = {}
    for note in notes:
        if note.parent_id is not None and note.parent_id in ids:
            linked.setdefault(note.parent_id, []).append(note)
        elif note.parent_id is not None:
            originals.append(note)  # its original is missing from the list: show it alone
    return tuple(
        _note_row(
            note,
            sessions,
            late_column=late_column,
            children=tuple(
                _note_row(entry, sessions, late_column=late_column)
                for entry in sorted(linked.get(note.id, ()), key=lambda n: n.created_at)
            ),
        )
        for note in originals
    )


def _item(row: Row, size: QSize) -> QTreeWidgetItem:
    item = QTreeWidgetItem(list(row.texts))
    item.setData(0, ID_ROLE, row.id)
    item.setSizeHint(0, size)
    if row.tooltip:
        item.setToolTip(2, row.tooltip)
    if row.draft:
        font = item.font(3)
        font.setItalic(True)
        item.setFont(3, font)
    return item


def _fill_notes(tree: QTreeWidget, rows: Sequence[Row]) -> None:
    """The rows, each original's linked entries under it, expanded; the selection kept."""
    current = tree.currentItem()
    keep = None if current is None else current.data(0, ID_ROLE)
    tree.clear()
    size = row_size(tree)
    found: QTreeWidgetItem | None = None
    items = []
    for row in rows:
        item = _item(row, size)
        for entry in row.children:
            child = _item(entry, size)
            item.addChild(child)
            if entry.id == keep:
                found = child
        items.append(item)
        if row.id == keep:
            found = item
    tree.addTopLevelItems(items)
    for item in items:
        if item.childCount():
            item.setExpanded(True)
    first = tree.topLevelItem(0)
    target = found or first
    if target is not None:
        tree.setCurrentItem(target)
