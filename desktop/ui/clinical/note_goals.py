"""Which treatment-plan goals a progress note addressed: a short checklist beside the note (the
goals of the client's plan in effect), ticked while the note is a draft and fixed once it is
signed. Read when a progress note opens (``clinical.note_goals``, audited); each tick is saved at
once (``clinical.set_note_goals``, audited). Psychotherapy notes are kept apart from the plan."""

from __future__ import annotations

from desktop.core.clinical.goal_links import NoteGoals
from desktop.core.errors import PracticeError
from desktop.core.notes import Note, NoteStatus
from desktop.ui.client_forms import error_text
from desktop.ui.context import UiContext
from desktop.ui.qt import QFont, QLabel, QListWidget, QListWidgetItem, Qt, QVBoxLayout, QWidget

GOAL_ROLE = Qt.ItemDataRole.UserRole


class GoalsAddressed(QWidget):
    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._note_id: str | None = None
        self._filling = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 8, 0, 0)
        title = QLabel("Treatment goals addressed")
        font = title.font()
        font.setWeight(QFont.Weight.DemiBold)
        title.setFont(font)
        layout.addWidget(title)
        self.goals = QListWidget()
        self.goals.setAccessibleName("Treatment goals addressed")
        self.goals.setToolTip("Tick the goals of the treatment plan this session worked on")
        self.goals.setWordWrap(True)
        self.goals.setMaximumHeight(150)
        self.goals.itemChanged.connect(self._ticked)
        title.setBuddy(self.goals)
        layout.addWidget(self.goals)
        self.note_label = QLabel()
        self.note_label.setWordWrap(True)
        self.note_label.setEnabled(False)
        layout.addWidget(self.note_label)
        self.hide()

    def show_note(self, note: Note, *, psychotherapy: bool) -> None:
        self.clear()
        if psychotherapy:
            return
        try:
            found = self.ctx.practice.clinical.note_goals(note.id)
        except PracticeError as exc:
            self.note_label.setText(error_text(exc))
            self.show()
            return
        self._fill(found, signed=note.status is NoteStatus.SIGNED)

    def _fill(self, found: NoteGoals, *, signed: bool) -> None:
        self._note_id = found.note_id
        self._filling = True
        try:
            self.goals.clear()
            for goal in found.goals:
                item = QListWidgetItem(goal.text)
                item.setData(GOAL_ROLE, goal.id)
                flags = Qt.ItemFlag.ItemIsEnabled
                if found.editable:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setFlags(flags)
                ticked = goal.id in found.addressed
                item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
                self.goals.addItem(item)
        finally:
            self._filling = False
        self.goals.setVisible(bool(found.goals))
        if found.plan_id is None:
            self.note_label.setText("The client has no signed treatment plan yet.")
        elif signed or not found.editable:
            self.note_label.setText("Signed with the note; it cannot change.")
        else:
            self.note_label.setText("")
        self.show()

    def _ticked(self, _item: QListWidgetItem) -> None:
        if self._filling or self._note_id is None:
            return
        chosen = [
            str(item.data(GOAL_ROLE))
            for item in (self.goals.item(i) for i in range(self.goals.count()))
            if item is not None and item.checkState() == Qt.CheckState.Checked
        ]
        try:
            self.ctx.practice.clinical.set_note_goals(self._note_id, chosen)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))

    def clear(self) -> None:
        self._note_id = None
        self._filling = True
        self.goals.clear()
        self._filling = False
        self.note_label.clear()
        self.hide()
