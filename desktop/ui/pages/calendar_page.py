"""The Calendar: every appointment across clients, a day or a week at a time, today first.

Keyboard first: the list has the focus; Alt+Left / Alt+Right move a day or a week, Alt+T comes
back to today, Alt+D / Alt+K switch day and week, Ctrl+N books a new appointment, and each action
on the selected appointment has its mnemonic (Alt+V start the video session, Alt+W write the
note, Alt+A attended, Alt+O no-show, Alt+L late cancellation, Alt+C cancel, Alt+M move); Enter
opens the client; Alt+X exports appointments for the therapist's own calendar app
(``calendar_export_dialog``). Reads run off the UI thread (``run_in_background``), one audited
look at the schedule per day or week shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from desktop.core.calendar import Appointment, Repeat, Scope
from desktop.core.clients import ClientSummary
from desktop.core.clinical.plans import PlanReview
from desktop.core.errors import PracticeError
from desktop.core.sessions import DEFAULT_MINUTES, Attendance, Modality, ScheduledSession, Session
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.calendar_export_dialog import start_calendar_export
from desktop.ui.client_forms import (
    ATTENDANCE_LABELS,
    MODALITY_LABELS,
    FieldError,
    FormDialog,
    error_text,
    next_full_hour,
)
from desktop.ui.clinical.calendar_reviews import review_client, review_item
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDateTimeEdit,
    QHBoxLayout,
    QHeaderView,
    QKeySequence,
    QLabel,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QShortcut,
    QSpinBox,
    Qt,
    QTimeZone,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import heading

ID_ROLE = Qt.ItemDataRole.UserRole
REPEAT_LABELS = {
    Repeat.NONE: "Does not repeat",
    Repeat.WEEKLY: "Every week",
    Repeat.FORTNIGHTLY: "Every two weeks",
    Repeat.MONTHLY: "Every month",
}


def system_zone() -> str:
    """The IANA name of this computer's time zone (a recurring series keeps its wall-clock
    time in it across daylight-saving changes)."""
    zone = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    return zone or "UTC"


def status_text(item: Appointment) -> str:
    if item.late_cancel:
        return "Late cancellation"
    return ATTENDANCE_LABELS[item.session.attendance]


def local_start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day).astimezone()


class CalendarPage(Page):
    nav_title = "Calendar"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self.day = formats.local(ctx.now()).date()
        self.week_view = False
        self._generation = 0
        self._loading = False
        self._items: dict[str, Appointment] = {}
        self._shown_once = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(10)
        top = QHBoxLayout()
        top.addWidget(heading("Calendar"))
        top.addStretch(1)
        self.new_button = self._button(
            "&New appointment…",
            "New appointment",
            "Book an appointment (Ctrl+N)",
            self.new_appointment,
            top,
        )
        self.export_button = self._button(
            "E&xport to your calendar app…",
            "Export to your calendar app",
            "Save appointments for your own calendar app: times only, no names unless you ask",
            self.export_calendar,
            top,
        )
        layout.addLayout(top)

        bar = QHBoxLayout()
        self.previous_button = self._button(
            "◀", "Previous", "Back a day or a week (Alt+Left)", lambda: self.step(-1), bar
        )
        self.today_button = self._button(
            "Today", "Today", "Back to today (Alt+T)", self.go_today, bar
        )
        self.next_button = self._button(
            "▶", "Next", "On a day or a week (Alt+Right)", lambda: self.step(1), bar
        )
        self.range_label = QLabel()
        self.range_label.setAccessibleName("Dates shown")
        font = self.range_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.range_label.setFont(font)
        bar.addSpacing(8)
        bar.addWidget(self.range_label, 1)
        self.day_button = self._button(
            "Day", "Day view", "One day (Alt+D)", lambda: self.set_week(False), bar
        )
        self.week_button = self._button(
            "Week", "Week view", "Seven days (Alt+K)", lambda: self.set_week(True), bar
        )
        for button in (self.day_button, self.week_button):
            button.setCheckable(True)
        layout.addLayout(bar)

        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Appointments")
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Time", "Client", "How", "Attendance", "Repeats"])
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((200, 220, 100, 150)):
            header.resizeSection(column, width)
        self.tree.currentItemChanged.connect(self._selected)
        self.tree.itemActivated.connect(lambda *_: self.open_client())
        layout.addWidget(self.tree, 1)
        self.empty = QLabel("")
        self.empty.setAccessibleName("Calendar summary")
        layout.addWidget(self.empty)

        actions = QHBoxLayout()
        self.video_button = self._button(
            "Start video session",
            "Start video session",
            "Open the video call for this appointment (Alt+V)",
            self.start_video,
            actions,
        )
        self.note_button = self._button(
            "Write note…",
            "Write note",
            "A progress note for this appointment (Alt+W)",
            self.write_note,
            actions,
        )
        actions.addSpacing(12)
        self.attended_button = self._button(
            "Attended",
            "Mark attended",
            "The client came (Alt+A)",
            lambda: self.mark(Attendance.ATTENDED),
            actions,
        )
        self.no_show_button = self._button(
            "No-show",
            "Mark no-show",
            "The client did not come (Alt+O)",
            lambda: self.mark(Attendance.NO_SHOW),
            actions,
        )
        self.late_button = self._button(
            "Late cancel",
            "Mark late cancellation",
            "Cancelled at short notice (Alt+L)",
            lambda: self.cancel(late=True),
            actions,
        )
        self.cancel_button = self._button(
            "Cancel…",
            "Cancel appointment",
            "Cancel this appointment, or this and the following ones (Alt+C)",
            lambda: self.cancel(late=False),
            actions,
        )
        actions.addStretch(1)
        self.move_button = self._button(
            "Move…",
            "Move appointment",
            "Another day or time (Alt+M)",
            self.move_appointment,
            actions,
        )
        layout.addLayout(actions)

        for keys, slot in (
            ("Alt+Left", lambda: self.step(-1)),
            ("Alt+Right", lambda: self.step(1)),
            ("Ctrl+N", self.new_appointment),
            ("Alt+T", self.go_today),
            ("Alt+V", self.start_video),
            ("Alt+W", self.write_note),
            ("Alt+A", lambda: self.mark(Attendance.ATTENDED)),
            ("Alt+O", lambda: self.mark(Attendance.NO_SHOW)),
            ("Alt+L", lambda: self.cancel(late=True)),
            ("Alt+C", lambda: self.cancel(late=False)),
            ("Alt+M", self.move_appointment),
            ("Alt+D", lambda: self.set_week(False)),
            ("Alt+K", lambda: self.set_week(True)),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._selected()
        self._show_range()

    def _button(
        self, text: str, name: str, tip: str, slot: Callable[[], object], row: QHBoxLayout
    ) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        row.addWidget(button)
        return button

    # -- the Page contract ----------------------------------------------------------------------
    def activated(self) -> None:
        if not self._shown_once:  # today first
            self.day = formats.local(self.ctx.now()).date()
            self._shown_once = True
        self.reload()
        self.tree.setFocus()

    def clear_phi(self) -> None:
        self._generation += 1
        self._loading = False
        self._items = {}
        self.tree.clear()
        self.empty.clear()
        for dialog in self.findChildren(FormDialog):
            dialog.reject()
            dialog.clear_phi()
            dialog.deleteLater()
        self._selected()

    # -- what is shown ----------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return self._loading

    def span(self) -> tuple[date, date]:
        """The first day shown and the day after the last."""
        if not self.week_view:
            return self.day, self.day + timedelta(days=1)
        monday = self.day - timedelta(days=self.day.weekday())
        return monday, monday + timedelta(days=7)

    def _show_range(self) -> None:
        first, end = self.span()
        today = formats.local(self.ctx.now()).date()
        if self.week_view:
            last = end - timedelta(days=1)
            text = f"{formats.day_month(first, today=today)} to {formats.date_text(last)}"
        else:
            text = formats.relative_day(first, today=today)
            if text in ("Today", "Tomorrow", "Yesterday"):
                text += f", {formats.weekday(first)} {formats.day_month(first, today=today)}"
        self.range_label.setText(text)
        self.day_button.setChecked(not self.week_view)
        self.week_button.setChecked(self.week_view)

    def step(self, direction: int) -> None:
        self.day += timedelta(days=7 * direction if self.week_view else direction)
        self.reload()

    def go_today(self) -> None:
        self.day = formats.local(self.ctx.now()).date()
        self.reload()

    def set_week(self, week: bool) -> None:
        self.week_view = week
        self.reload()

    def reload(self, select: str | None = None) -> None:
        self._show_range()
        first, end = self.span()
        self._generation += 1
        generation = self._generation
        self._loading = True
        practice = self.ctx.practice
        start, stop = local_start_of(first), local_start_of(end)
        keep = select or self.current_id()
        last = end - timedelta(days=1)
        run_in_background(
            # with the treatment plans due for review in the same days (desktop.ui.clinical)
            lambda: (
                practice.appointments(start, stop),
                practice.clinical.plan_reviews_between(first, last),
            ),
            lambda found: self._loaded(generation, found[0], keep, found[1]),
            lambda exc: self._failed(generation, exc),
            owner=self,
        )

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation == self._generation:
            self._loading = False
            self.empty.setText(f"The calendar could not be read. {error_text(exc)}")

    def _loaded(
        self,
        generation: int,
        found: Sequence[Appointment],
        keep: str | None,
        reviews: Sequence[PlanReview] = (),
    ) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._items = {a.session.id: a for a in found}
        self.tree.clear()
        first, end = self.span()
        today = formats.local(self.ctx.now()).date()
        wanted: QTreeWidgetItem | None = None
        days = [first + timedelta(days=i) for i in range((end - first).days)]
        for day in days:
            on_day = [a for a in found if formats.local(a.session.starts_at).date() == day]
            parent: QTreeWidgetItem | None = None
            if self.week_view:
                title = formats.relative_day(day, today=today)
                if title in ("Today", "Tomorrow", "Yesterday"):
                    title += f", {formats.weekday(day)} {formats.day_month(day, today=today)}"
                parent = QTreeWidgetItem(
                    [
                        title,
                        f"{len(on_day)} appointment" + ("s" if len(on_day) != 1 else "")
                        if on_day
                        else "",
                    ]
                )
                self.tree.addTopLevelItem(parent)
                parent.setExpanded(True)
            for appointment in on_day:
                session = appointment.session
                item = QTreeWidgetItem(
                    [
                        formats.time_range(session.starts_at, session.ends_at),
                        appointment.client_name,
                        MODALITY_LABELS[session.modality],
                        status_text(appointment),
                        REPEAT_LABELS[appointment.repeat]
                        if appointment.repeat is not Repeat.NONE
                        else "",
                    ]
                )
                item.setData(0, ID_ROLE, session.id)
                if parent is None:
                    self.tree.addTopLevelItem(item)
                else:
                    parent.addChild(item)
                if session.id == keep or (
                    wanted is None
                    and keep is None
                    and day == today
                    and session.ends_at >= self.ctx.now()
                ):
                    wanted = item
            for review in (r for r in reviews if r.review_on == day):
                line = review_item(review)
                if parent is None:
                    self.tree.addTopLevelItem(line)
                else:
                    parent.addChild(line)
        if wanted is None:
            wanted = self._first_appointment()
        if wanted is not None:
            self.tree.setCurrentItem(wanted)
        count = len(found)
        self.empty.setText(
            "No appointments." if not count else f"{count} appointment{'s' if count != 1 else ''}"
        )
        self._selected()

    def _appointment_items(self) -> list[QTreeWidgetItem]:
        found = []
        for row in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(row)
            if top is None:
                continue
            for item in [top, *(top.child(i) for i in range(top.childCount()))]:
                if item is not None and item.data(0, ID_ROLE):
                    found.append(item)
        return found

    def _first_appointment(self) -> QTreeWidgetItem | None:
        items = self._appointment_items()
        return items[0] if items else None

    def current(self) -> Appointment | None:
        return self._items.get(self.current_id() or "")

    def current_id(self) -> str | None:
        item = self.tree.currentItem()
        value = None if item is None else item.data(0, ID_ROLE)
        return str(value) if value else None

    def shown(self) -> list[tuple[str, str, str, str]]:
        """(time, client, attendance, repeats) of each appointment, top to bottom (for tests)."""
        return [
            (item.text(0), item.text(1), item.text(3), item.text(4))
            for item in self._appointment_items()
        ]

    def _selected(self, *_: object) -> None:
        chosen = self.current()
        session = chosen.session if chosen else None
        open_ = session is not None and session.attendance is not Attendance.CANCELLED
        self.video_button.setEnabled(
            open_ and session is not None and session.modality is Modality.VIDEO
        )
        for button in (self.note_button, self.attended_button, self.no_show_button):
            button.setEnabled(session is not None)
        for button in (self.late_button, self.cancel_button, self.move_button):
            button.setEnabled(open_)

    # -- actions on the selected appointment -----------------------------------------------
    def open_client(self) -> None:
        chosen = self.current()
        if chosen is not None:
            self.ctx.nav.open_client(chosen.session.client_id)
        elif (client_id := review_client(self.tree.currentItem())) is not None:
            self.ctx.nav.open_client(client_id)  # a treatment plan due for review

    def start_video(self) -> None:
        chosen = self.current()
        if chosen is not None and self.video_button.isEnabled():
            self.ctx.nav.start_video_session(chosen.session.id)  # the client page's path too

    def write_note(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        session = chosen.session
        try:
            note = self.ctx.practice.create_note(session.client_id, "soap", session_id=session.id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self.ctx.nav.open_note(note.id)

    def mark(self, attendance: Attendance) -> None:
        chosen = self.current()
        if chosen is None:
            return
        session_id = chosen.session.id
        self._write(
            lambda: self.ctx.practice.set_attendance(session_id, attendance),
            f"Marked {ATTENDANCE_LABELS[attendance].lower()}.",
        )

    def _write(self, op: Callable[[], object], done: str, select: str | None = None) -> None:
        keep = select or self.current_id()

        def finished(_: object) -> None:
            self.ctx.nav.notify(done)
            self.reload(keep)

        run_in_background(
            op, finished, lambda exc: self.ctx.nav.notify(error_text(exc)), owner=self
        )

    def cancel(self, *, late: bool) -> None:
        chosen = self.current()
        if chosen is None:
            return
        session_id = chosen.session.id
        what = "Late cancellation" if late else "Cancelled"
        if chosen.repeat is Repeat.NONE:
            self._write(
                lambda: self.ctx.practice.cancel_appointment(session_id, late=late), f"{what}."
            )
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Quietroom - cancel",
            "This appointment repeats. Cancel only this one, or this one and all that follow?",
            QMessageBox.StandardButton.NoButton,
            self,
        )
        only = box.addButton("Only this one", QMessageBox.ButtonRole.AcceptRole)
        following = box.addButton("This and following", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Keep them", QMessageBox.ButtonRole.RejectRole)

        def chosen_scope(_: int) -> None:
            clicked = box.clickedButton()
            box.deleteLater()
            if clicked is only or clicked is following:
                scope = Scope.THIS if clicked is only else Scope.FOLLOWING
                self._write(
                    lambda: self.ctx.practice.cancel_appointment(
                        session_id, scope=scope, late=late
                    ),
                    f"{what}.",
                )

        box.finished.connect(chosen_scope)
        box.open()

    def move_appointment(self) -> None:
        chosen = self.current()
        if chosen is None:
            return
        dialog = AppointmentDialog(self, self.ctx, None, chosen)
        dialog.open()

    def export_calendar(self) -> None:
        if self.isVisible():
            start_calendar_export(self.ctx, self)

    def new_appointment(self) -> None:
        if not self.isVisible():
            return
        practice = self.ctx.practice

        def show(clients: tuple[ClientSummary, ...]) -> None:
            dialog = AppointmentDialog(self, self.ctx, clients, None)
            dialog.open()

        run_in_background(
            practice.list_clients,
            show,
            lambda exc: self.ctx.nav.notify(error_text(exc)),
            owner=self,
        )

    def saved(self, session: Session) -> None:
        self.day = formats.local(session.starts_at).date()
        self.reload(session.id)
        self.tree.setFocus()


class AppointmentDialog(FormDialog[Session]):
    """Book an appointment (``clients`` given) or move one (``moving`` given). A double booking
    is shown and needs a second press of the button to go ahead."""

    def __init__(
        self,
        page: CalendarPage,
        ctx: UiContext,
        clients: tuple[ClientSummary, ...] | None,
        moving: Appointment | None,
    ) -> None:
        title = "Quietroom - move appointment" if moving else "Quietroom - new appointment"
        super().__init__(page, title, "Move" if moving else "Book", page.saved)
        self.ctx = ctx
        self.moving = moving
        self._warned: tuple[str, ...] | None = None
        start = moving.session.starts_at if moving else next_full_hour(ctx.now())
        self.client = QComboBox()
        if moving is None:
            for client in clients or ():
                if not client.archived:
                    self.client.addItem(client.name, client.id)
            self.add_row("&Client", self.client, "Client")
        self.starts_at = QDateTimeEdit()
        self.starts_at.setCalendarPopup(True)
        self.starts_at.setDisplayFormat(formats.date_time_input_pattern())
        self.starts_at.setDateTime(formats.qdatetime(start))
        self.add_row(
            "&Date and time",
            self.starts_at,
            "Date and time",
            "Local time; Alt+Down opens a calendar",
        )
        self.duration = QSpinBox()
        self.duration.setRange(1, 1440)
        self.duration.setSingleStep(5)
        self.duration.setSuffix(" minutes")
        self.duration.setValue(moving.session.duration_minutes if moving else DEFAULT_MINUTES)
        self.add_row("D&uration", self.duration, "Duration in minutes")
        self.modality = QComboBox()
        self.repeat = QComboBox()
        self.until_check = QCheckBox("&Ends on")
        self.until = QDateEdit()
        self.this_only = QRadioButton("Only this appointment")
        self.following = QRadioButton("This and the following ones")
        if moving is None:
            for modality, label in MODALITY_LABELS.items():
                self.modality.addItem(label, str(modality))
            self.add_row("&How", self.modality, "How the session is held")
            for repeat, label in REPEAT_LABELS.items():
                self.repeat.addItem(label, str(repeat))
            self.add_row("&Repeats", self.repeat, "Repeats")
            self.until.setDisplayFormat(formats.date_input_pattern())
            self.until.setCalendarPopup(True)
            self.until.setDate(formats.qdate(formats.local(start).date() + timedelta(weeks=12)))
            self.until.setEnabled(False)
            self.until.setAccessibleName("Last date of the series")
            self.until_check.setAccessibleName("The series ends on a date")
            self.until_check.toggled.connect(self.until.setEnabled)
            row = QWidget()
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            line.addWidget(self.until_check)
            line.addWidget(self.until, 1)
            self.form.addRow("", row)
        elif moving.repeat is not Repeat.NONE:
            self.this_only.setChecked(True)
            scope = QWidget()
            column = QVBoxLayout(scope)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(self.this_only)
            column.addWidget(self.following)
            self.form.addRow("Move", scope)
        self.setMinimumWidth(460)

    def _start(self) -> datetime:
        d, t = self.starts_at.date(), self.starts_at.time()
        return datetime(d.year(), d.month(), d.day(), t.hour(), t.minute()).astimezone()

    def save(self) -> Session:
        practice = self.ctx.practice
        start, minutes = self._start(), self.duration.value()
        ignore = (self.moving.session.id,) if self.moving else ()
        clash = practice.booking_conflicts(start, minutes, ignore=ignore)
        key = tuple(c.session.id for c in clash)
        if clash and self._warned != key:
            self._warned = key
            self.save_button.setText("Book anyway" if self.moving is None else "Move anyway")
            raise FieldError(double_booking_text(clash), self.starts_at)
        if self.moving is not None:
            scope = Scope.FOLLOWING if self.following.isChecked() else Scope.THIS
            return practice.move_appointment(
                self.moving.session.id,
                start,
                scope=scope,
                duration_minutes=minutes,
                tzid=system_zone(),
            )
        client_id = self.client.currentData()
        if not client_id:
            raise FieldError("Choose a client (add them on the Clients page first).", self.client)
        return practice.create_appointment(
            str(client_id),
            start,
            duration_minutes=minutes,
            modality=Modality(self.modality.currentData()),
            repeat=Repeat(self.repeat.currentData()),
            until=(
                formats.local(
                    datetime(
                        self.until.date().year(), self.until.date().month(), self.until.date().day()
                    ).astimezone()
                ).date()
                if self.until_check.isChecked()
                else None
            ),
            tzid=system_zone(),
        )


def double_booking_text(clash: Sequence[ScheduledSession]) -> str:
    first = clash[0]
    when = formats.time_range(first.session.starts_at, first.session.ends_at)
    more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
    return (
        f"This overlaps {first.client_name}'s appointment at {when}{more}. Press the button "
        "again to book it anyway."
    )
