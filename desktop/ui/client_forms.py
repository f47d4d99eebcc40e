"""The client page's dialogs: the client's details, a session (schedule or edit), a new note.

Every dialog is window-modal over its page, opened with ``open()`` (never ``exec()``: a nested
event loop the auto-lock could not unwind) and closed by the main window's lock like any other.
Titles are generic, never a client's name. A dialog hands the typed values to a ``save``
callable (a facade call); a ``PracticeError`` from it is shown inline and the dialog stays open,
otherwise the dialog closes and ``on_saved`` gets the result.

Also here: the labels and time formats the client pages share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Generic, TypeVar

from desktop.core.clients import Client, ClientDetails, ClientStatus
from desktop.core.errors import PracticeError
from desktop.core.notes import Note, NoteKind, NoteStatus
from desktop.core.sessions import DEFAULT_MINUTES, Attendance, Modality, Session
from desktop.core.templates import Template
from desktop.ui import formats
from desktop.ui.qt import (
    QComboBox,
    QDate,
    QDateTime,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSize,
    QSpinBox,
    Qt,
    QTime,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import dialog_buttons, error_label, paragraph

T = TypeVar("T")

STATUS_LABELS = {
    ClientStatus.ACTIVE: "Active",
    ClientStatus.WAITLIST: "Waitlist",
    ClientStatus.DISCHARGED: "Discharged",
}
MODALITY_LABELS = {
    Modality.IN_PERSON: "In person",
    Modality.VIDEO: "Video",
    Modality.PHONE: "Phone",
}
ATTENDANCE_LABELS = {
    Attendance.SCHEDULED: "Scheduled",
    Attendance.ATTENDED: "Attended",
    Attendance.CANCELLED: "Cancelled",
    Attendance.NO_SHOW: "No-show",
}
KIND_LABELS = {
    NoteKind.ORIGINAL: "Note",
    NoteKind.AMENDMENT: "Amendment",
    NoteKind.ADDENDUM: "Addendum",
    NoteKind.LATE_ENTRY: "Late entry",
}
NOTE_STATUS_LABELS = {NoteStatus.DRAFT: "Draft", NoteStatus.SIGNED: "Signed"}


def local_time(moment: datetime) -> str:
    """A UTC time from the domain, as the therapist's clock and locale show it."""
    return formats.date_time_text(moment)


def local_date(moment: datetime) -> str:
    return formats.date_text(moment)


def row_size(view: QTreeWidget) -> QSize:
    """A list row with some air above and below the text (set on each item's first column)."""
    return QSize(0, view.fontMetrics().height() + 12)


def error_text(exc: Exception) -> str:
    """A domain error as a sentence for the inline error label."""
    text = str(exc).strip() or (type(exc).__doc__ or "").strip() or "That did not work."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


class FieldError(Exception):
    """A value in the form that cannot be sent as is; ``field`` gets the focus."""

    def __init__(self, message: str, field: QWidget) -> None:
        super().__init__(message)
        self.field = field


class FormDialog(QDialog, Generic[T]):
    """A form with an inline error line and Save / Cancel buttons."""

    def __init__(
        self, parent: QWidget, title: str, save_text: str, on_saved: Callable[[T], None]
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._on_saved = on_saved
        self.layout_ = QVBoxLayout(self)
        self.layout_.setSpacing(12)
        self.form = QFormLayout()
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.layout_.addLayout(self.form)
        self.error = error_label()
        self.layout_.addWidget(self.error)
        self.buttons, self.save_button = dialog_buttons(
            self, save_text, self.try_save, kind=QDialogButtonBox.StandardButton.Save
        )
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAccessibleName("Cancel")
        self.cancel_button.setToolTip("Close without saving (Esc)")
        self.layout_.addWidget(self.buttons)

    def add_row(self, label: str, field: QWidget, name: str, hint: str = "") -> None:
        """A labelled field; ``label`` may carry a mnemonic (``&Name``) that focuses it."""
        caption = QLabel(label)
        caption.setBuddy(field)
        field.setAccessibleName(name)
        if hint:
            field.setToolTip(hint)
            field.setAccessibleDescription(hint)
        self.form.addRow(caption, field)

    def try_save(self) -> None:
        self.error.hide()
        try:
            result = self.save()
        except FieldError as problem:
            self.show_error(str(problem))
            problem.field.setFocus()
            return
        except PracticeError as exc:
            self.show_error(error_text(exc))
            return
        self.accept()
        self._on_saved(result)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def save(self) -> T:
        """Read the fields and call the facade; raise ``FieldError`` or ``PracticeError``."""
        raise NotImplementedError

    def clear_phi(self) -> None:
        """Empty every field (the lock calls it before the dialog is deleted)."""
        self.error.clear()
        for edit in self.findChildren(QLineEdit):
            edit.clear()
        for text in self.findChildren(QPlainTextEdit):
            text.clear()
        for combo in self.findChildren(QComboBox):
            combo.clear()


def _line(placeholder: str = "") -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(False)
    return edit


def _text_box(placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)  # Tab moves on, as in every other field
    height = box.fontMetrics().lineSpacing() * lines + 16
    box.setFixedHeight(height)
    return box


class ClientFormDialog(FormDialog[Client]):
    """New client or the client's details; ``save`` is ``create_client`` or ``update_client``."""

    def __init__(
        self,
        parent: QWidget,
        existing: ClientDetails | None,
        save: Callable[[ClientDetails], Client],
        on_saved: Callable[[Client], None],
    ) -> None:
        title = "Quietroom - new client" if existing is None else "Quietroom - client details"
        super().__init__(parent, title, "Create client" if existing is None else "Save", on_saved)
        self._save = save
        self.name = _line("Full name, as on official records")
        self.preferred_name = _line("What the client likes to be called")
        self.pronouns = _line("e.g. she/her, they/them")
        self.date_of_birth = _line(f"e.g. {formats.date_example()}")
        self.email = _line("name@example.org")
        self.phone = _line()
        self.address = _text_box("Street, town, postcode", 3)
        self.emergency_contact = _text_box("Name, relationship, phone", 2)
        self.diagnosis_codes = _line("e.g. F41.1, Z63.0")
        self.status = QComboBox()
        for status, label in STATUS_LABELS.items():
            self.status.addItem(label, str(status))
        self.add_row("&Name *", self.name, "Name (required)")
        self.add_row("&Preferred name", self.preferred_name, "Preferred name")
        self.add_row("Pr&onouns", self.pronouns, "Pronouns")
        self.add_row(
            "&Date of birth",
            self.date_of_birth,
            "Date of birth",
            f"As you write dates, e.g. {formats.date_example()}; leave empty if not known",
        )
        self.add_row("&E-mail", self.email, "E-mail")
        self.add_row("P&hone", self.phone, "Phone")
        self.add_row("&Address", self.address, "Address")
        self.add_row("Emergency &contact", self.emergency_contact, "Emergency contact")
        self.add_row(
            "Dia&gnosis codes",
            self.diagnosis_codes,
            "Diagnosis codes",
            "Free text, e.g. ICD-10 codes separated by commas",
        )
        self.add_row("S&tatus", self.status, "Status")
        if existing is not None:
            self._fill(existing)
        self.setMinimumWidth(520)

    def _fill(self, d: ClientDetails) -> None:
        self.name.setText(d.name)
        self.preferred_name.setText(d.preferred_name)
        self.pronouns.setText(d.pronouns)
        self.date_of_birth.setText(formats.short_date(d.date_of_birth) if d.date_of_birth else "")
        self.email.setText(d.email)
        self.phone.setText(d.phone)
        self.address.setPlainText(d.address)
        self.emergency_contact.setPlainText(d.emergency_contact)
        self.diagnosis_codes.setText(d.diagnosis_codes)
        self.status.setCurrentIndex(max(0, self.status.findData(str(d.status))))

    def details(self) -> ClientDetails:
        name = self.name.text().strip()
        if not name:
            raise FieldError("Enter the client's name.", self.name)
        born: date | None = None
        if text := self.date_of_birth.text().strip():
            born = formats.parse_date(text, past=True)
            if born is None:
                raise FieldError(
                    f"Write the date of birth as you write dates, e.g. {formats.date_example()}.",
                    self.date_of_birth,
                )
            if born > date.today():
                raise FieldError("The date of birth is in the future.", self.date_of_birth)
        return ClientDetails(
            name=name,
            preferred_name=self.preferred_name.text().strip(),
            date_of_birth=born,
            pronouns=self.pronouns.text().strip(),
            email=self.email.text().strip(),
            phone=self.phone.text().strip(),
            address=self.address.toPlainText().strip(),
            emergency_contact=self.emergency_contact.toPlainText().strip(),
            diagnosis_codes=self.diagnosis_codes.text().strip(),
            status=ClientStatus(self.status.currentData()),
        )

    def save(self) -> Client:
        return self._save(self.details())


@dataclass(frozen=True)
class SessionValues:
    starts_at: datetime  # aware (local zone); the domain stores it as UTC
    duration_minutes: int
    modality: Modality
    attendance: Attendance


def next_full_hour(now: datetime) -> datetime:
    local = now.astimezone()
    return local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class SessionFormDialog(FormDialog[Session]):
    """Schedule a session, or change one (time, length, modality, attendance)."""

    def __init__(
        self,
        parent: QWidget,
        existing: Session | None,
        default_start: datetime,
        save: Callable[[SessionValues], Session],
        on_saved: Callable[[Session], None],
    ) -> None:
        title = "Quietroom - schedule session" if existing is None else "Quietroom - session"
        super().__init__(parent, title, "Schedule" if existing is None else "Save", on_saved)
        self._save = save
        start = (existing.starts_at if existing else default_start).astimezone()
        self.starts_at = QDateTimeEdit()
        self.starts_at.setDisplayFormat(formats.date_time_input_pattern())
        self.starts_at.setCalendarPopup(True)
        self.starts_at.setDateTime(
            QDateTime(QDate(start.year, start.month, start.day), QTime(start.hour, start.minute))
        )
        self.duration = QSpinBox()
        self.duration.setRange(1, 1440)
        self.duration.setSingleStep(5)
        self.duration.setSuffix(" minutes")
        self.duration.setValue(existing.duration_minutes if existing else DEFAULT_MINUTES)
        self.modality = QComboBox()
        for modality, label in MODALITY_LABELS.items():
            self.modality.addItem(label, str(modality))
        self.attendance = QComboBox()
        for attendance, label in ATTENDANCE_LABELS.items():
            self.attendance.addItem(label, str(attendance))
        if existing is not None:
            self.modality.setCurrentIndex(self.modality.findData(str(existing.modality)))
            self.attendance.setCurrentIndex(self.attendance.findData(str(existing.attendance)))
        self.add_row(
            "&Date and time",
            self.starts_at,
            "Date and time",
            "Local time; Alt+Down opens a calendar",
        )
        self.add_row("D&uration", self.duration, "Duration in minutes")
        self.add_row("&Modality", self.modality, "Modality")
        self.add_row("&Attendance", self.attendance, "Attendance")
        self.setMinimumWidth(420)

    def values(self) -> SessionValues:
        d, t = self.starts_at.date(), self.starts_at.time()
        local = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute()).astimezone()
        return SessionValues(
            starts_at=local,
            duration_minutes=self.duration.value(),
            modality=Modality(self.modality.currentData()),
            attendance=Attendance(self.attendance.currentData()),
        )

    def save(self) -> Session:
        return self._save(self.values())


class NewNoteDialog(FormDialog[Note]):
    """Choose a template (and the session the note is for) for a new draft."""

    def __init__(
        self,
        parent: QWidget,
        templates: Sequence[Template],
        sessions: Sequence[Session],
        *,
        template_key: str,
        session_id: str | None,
        psychotherapy: bool,
        save: Callable[[str, str | None], Note],
        on_saved: Callable[[Note], None],
    ) -> None:
        title = "Quietroom - new psychotherapy note" if psychotherapy else "Quietroom - new note"
        super().__init__(parent, title, "Create draft", on_saved)
        self._save = save
        if psychotherapy:
            notice = paragraph(
                "Psychotherapy notes are kept apart from the record: they are not part of the "
                "client's timeline, search or exports unless you include them explicitly."
            )
            notice.setAccessibleName("About psychotherapy notes")
            self.layout_.insertWidget(0, notice)
        self.template = QComboBox()
        for template in templates:
            self.template.addItem(template.name, template.key)
            index = self.template.count() - 1
            self.template.setItemData(index, template.description, Qt.ItemDataRole.ToolTipRole)
        self.template.setCurrentIndex(max(0, self.template.findData(template_key)))
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setAccessibleName("Template description")
        self._descriptions = {t.key: t.description for t in templates}
        self.template.currentIndexChanged.connect(self._describe)
        self._describe()
        self.session = QComboBox()
        self.session.addItem("No session", None)
        for session in sessions:
            label = (
                f"{local_time(session.starts_at)} - {MODALITY_LABELS[session.modality]}, "
                f"{ATTENDANCE_LABELS[session.attendance].lower()}"
            )
            self.session.addItem(label, session.id)
        self.session.setCurrentIndex(max(0, self.session.findData(session_id)))
        self.add_row("&Template", self.template, "Template")
        self.form.addRow("", self.description)
        self.add_row(
            "&Session",
            self.session,
            "Session",
            "The session this note documents (it decides whether signing is late)",
        )
        self.setMinimumWidth(460)

    def _describe(self) -> None:
        self.description.setText(self._descriptions.get(str(self.template.currentData()), ""))

    def save(self) -> Note:
        key = self.template.currentData()
        if not key:
            raise FieldError("Choose a template.", self.template)
        session = self.session.currentData()
        return self._save(str(key), str(session) if session else None)

    def clear_phi(self) -> None:
        super().clear_phi()
        self.description.clear()
