"""Editing a treatment-plan draft: the start and review dates, and an outline of problems, their
goals, and each goal's objectives and interventions, with the selected item's fields beside it.
Below, what the draft still needs before it can be signed (the domain's own list, so the dialog
and the signing rule never disagree). Save writes the draft (``treatment_plan.edited``); signing
is done from the plan tab."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, timedelta

from desktop.core.clinical.diagnoses import Diagnosis
from desktop.core.clinical.plans import (
    Goal,
    GoalStatus,
    Intervention,
    Objective,
    PlanContent,
    Problem,
    TreatmentPlan,
    missing_for_signature,
)
from desktop.ui import formats
from desktop.ui.client_forms import FormDialog
from desktop.ui.clinical.fields import OptionalDate, date_edit, day_of
from desktop.ui.clinical.labels import GOAL_STATUS
from desktop.ui.qt import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import paragraph

OBJECT = Qt.ItemDataRole.UserRole
Item = Problem | Goal | Objective | Intervention


def _text_box(name: str, placeholder: str, lines: int = 3) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setAccessibleName(name)
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 16)
    return box


def _status_combo(name: str) -> QComboBox:
    combo = QComboBox()
    combo.setAccessibleName(name)
    for value, label in GOAL_STATUS.items():
        combo.addItem(label, value)
    return combo


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [c for c in (item.child(i) for i in range(item.childCount())) if c is not None]


def _first_line(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class PlanEditorDialog(FormDialog[TreatmentPlan]):
    def __init__(
        self,
        parent: QWidget,
        plan: TreatmentPlan,
        diagnoses: Sequence[Diagnosis],
        save: Callable[[PlanContent], TreatmentPlan],
        on_saved: Callable[[TreatmentPlan], None],
    ) -> None:
        super().__init__(parent, "Quietroom - treatment plan", "&Save draft", on_saved)
        self._save = save
        self._loading = False
        today = plan.content.start_on or plan.created_at.astimezone().date()
        self._default_target = plan.content.review_on or today + timedelta(days=90)
        self.start = date_edit(today, "Start date")
        self.add_row("S&tart", self.start, "Start date", "When treatment under this plan began")
        self.review = date_edit(self._default_target, "Review by")
        self.add_row("&Review by", self.review, "Review by",
                     "The plan shows as due for review two weeks before this date")  # fmt: skip

        body = QHBoxLayout()
        left = QVBoxLayout()
        self.outline = QTreeWidget()
        self.outline.setAccessibleName("Plan outline")
        self.outline.setHeaderHidden(True)
        self.outline.setMinimumSize(330, 320)
        self.outline.currentItemChanged.connect(self._selected)
        left.addWidget(self.outline, 1)
        buttons = QHBoxLayout()
        self.add_problem_button = self._button("Add &problem", "Add problem", self.add_problem)
        self.add_goal_button = self._button("Add &goal", "Add goal", self.add_goal)
        buttons.addWidget(self.add_problem_button)
        buttons.addWidget(self.add_goal_button)
        left.addLayout(buttons)
        more = QHBoxLayout()
        self.add_objective_button = self._button(
            "Add o&bjective", "Add objective", self.add_objective
        )
        self.add_intervention_button = self._button(
            "Add &intervention", "Add intervention", self.add_intervention
        )
        self.remove_button = self._button("Remo&ve", "Remove item", self.remove)
        more.addWidget(self.add_objective_button)
        more.addWidget(self.add_intervention_button)
        more.addWidget(self.remove_button)
        left.addLayout(more)
        body.addLayout(left, 2)
        self.editors = QStackedWidget()
        self.editors.setMinimumWidth(380)
        self.editors.addWidget(paragraph("Add a problem to start, then its goals."))
        self.editors.addWidget(self._problem_editor(diagnoses))
        self.editors.addWidget(self._goal_editor())
        self.editors.addWidget(self._objective_editor(today))
        self.editors.addWidget(self._intervention_editor())
        body.addWidget(self.editors, 3)
        self.layout_.insertLayout(1, body, 1)
        self.missing = paragraph("")
        self.missing.setAccessibleName("Still needed before signing")
        self.layout_.insertWidget(2, self.missing)

        self._fill(plan.content)
        self.start.dateChanged.connect(lambda _: self._show_missing())
        self.review.dateChanged.connect(lambda _: self._show_missing())
        self.resize(940, 640)

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    # -- the editors on the right ---------------------------------------------------------------
    def _form(self, title: str) -> tuple[QWidget, QFormLayout]:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 0, 0, 0)
        heading = QLabel(title)
        font = heading.font()
        font.setBold(True)
        heading.setFont(font)
        layout.addWidget(heading)
        form = QFormLayout()
        layout.addLayout(form)
        layout.addStretch(1)
        return page, form

    def _problem_editor(self, diagnoses: Sequence[Diagnosis]) -> QWidget:
        page, form = self._form("Problem")
        self.problem_text = _text_box("Problem", "What brings the client, in plain words")
        self.problem_text.textChanged.connect(self._edited)
        form.addRow("Problem", self.problem_text)
        self.problem_diagnoses = QListWidget()
        self.problem_diagnoses.setAccessibleName("Related diagnoses")
        self.problem_diagnoses.setMaximumHeight(110)
        for d in diagnoses:
            if d.counts:
                item = QListWidgetItem(f"{d.code}  {d.description}")
                item.setData(OBJECT, d.id)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Unchecked)
                self.problem_diagnoses.addItem(item)
        self.problem_diagnoses.itemChanged.connect(lambda _: self._edited())
        form.addRow("Related diagnoses", self.problem_diagnoses)
        return page

    def _goal_editor(self) -> QWidget:
        page, form = self._form("Goal")
        self.goal_text = _text_box("Goal", "What will be different, in the client's terms")
        self.goal_text.textChanged.connect(self._edited)
        form.addRow("Goal", self.goal_text)
        self.goal_measure = QLineEdit()
        self.goal_measure.setAccessibleName("Measured by")
        self.goal_measure.setPlaceholderText("e.g. GAD-7 below 10 on two visits in a row")
        self.goal_measure.textChanged.connect(self._edited)
        form.addRow("Measured by", self.goal_measure)
        self.goal_target = date_edit(self._default_target, "Target date")
        self.goal_target.dateChanged.connect(lambda _: self._edited())
        form.addRow("Target date", self.goal_target)
        self.goal_status = _status_combo("Goal status")
        self.goal_status.currentIndexChanged.connect(lambda _: self._edited())
        form.addRow("Status", self.goal_status)
        return page

    def _objective_editor(self, today: date) -> QWidget:
        page, form = self._form("Objective")
        self.objective_text = _text_box("Objective", "A step the client can take and show")
        self.objective_text.textChanged.connect(self._edited)
        form.addRow("Objective", self.objective_text)
        self.objective_target = OptionalDate("Objective target date", None, today, "By")
        self.objective_target.known.toggled.connect(lambda _: self._edited())
        self.objective_target.edit.dateChanged.connect(lambda _: self._edited())
        form.addRow("Target date", self.objective_target)
        self.objective_status = _status_combo("Objective status")
        self.objective_status.currentIndexChanged.connect(lambda _: self._edited())
        form.addRow("Status", self.objective_status)
        return page

    def _intervention_editor(self) -> QWidget:
        page, form = self._form("Intervention")
        self.intervention_text = _text_box("Intervention", "What you will do, e.g. exposure work")
        self.intervention_text.textChanged.connect(self._edited)
        form.addRow("Intervention", self.intervention_text)
        self.intervention_frequency = QLineEdit()
        self.intervention_frequency.setAccessibleName("How often")
        self.intervention_frequency.setPlaceholderText("e.g. weekly, 50 minutes")
        self.intervention_frequency.textChanged.connect(self._edited)
        form.addRow("How often", self.intervention_frequency)
        return page

    # -- the outline ----------------------------------------------------------------------------
    def _fill(self, content: PlanContent) -> None:
        if content.start_on is not None:
            self.start.setDate(formats.qdate(content.start_on))
        if content.review_on is not None:
            self.review.setDate(formats.qdate(content.review_on))
        for problem in content.problems:
            p_item = self._add_item(None, replace(problem, goals=()))
            for goal in problem.goals:
                g_item = self._add_item(p_item, replace(goal, objectives=(), interventions=()))
                for objective in goal.objectives:
                    self._add_item(g_item, objective)
                for intervention in goal.interventions:
                    self._add_item(g_item, intervention)
        self.outline.expandAll()
        first = self.outline.topLevelItem(0)
        if first is not None:
            self.outline.setCurrentItem(first)
        self._relabel()
        self._selected()

    def _add_item(self, parent: QTreeWidgetItem | None, value: Item) -> QTreeWidgetItem:
        item = QTreeWidgetItem([""])
        item.setData(0, OBJECT, value)
        if parent is None:
            self.outline.addTopLevelItem(item)
        else:
            parent.addChild(item)
            parent.setExpanded(True)
        return item

    def _problems(self) -> list[QTreeWidgetItem]:
        items = (self.outline.topLevelItem(i) for i in range(self.outline.topLevelItemCount()))
        return [item for item in items if item is not None]

    def _relabel(self) -> None:
        for i, p_item in enumerate(self._problems()):
            problem = p_item.data(0, OBJECT)
            p_item.setText(0, f"Problem {i + 1}: {_first_line(problem.text) or '(to write)'}")
            for j, g_item in enumerate(_children(p_item)):
                goal = g_item.data(0, OBJECT)
                g_item.setText(0, f"Goal {i + 1}.{j + 1}: {_first_line(goal.text) or '(to write)'}")
                for c_item in _children(g_item):
                    value = c_item.data(0, OBJECT)
                    kind = "Objective" if isinstance(value, Objective) else "Intervention"
                    c_item.setText(0, f"{kind}: {_first_line(value.text) or '(to write)'}")
        self._show_missing()

    def _current(self) -> tuple[QTreeWidgetItem | None, Item | None]:
        item = self.outline.currentItem()
        return (item, None) if item is None else (item, item.data(0, OBJECT))

    def _ancestor(self, kind: type) -> QTreeWidgetItem | None:
        item = self.outline.currentItem()
        while item is not None and not isinstance(item.data(0, OBJECT), kind):
            item = item.parent()
        return item

    def add_problem(self) -> None:
        item = self._add_item(None, Problem(""))
        self._select(item)

    def add_goal(self) -> None:
        parent = self._ancestor(Problem)
        if parent is not None:
            self._select(self._add_item(parent, Goal("", target_on=day_of(self.review))))

    def add_objective(self) -> None:
        parent = self._ancestor(Goal)
        if parent is not None:
            self._select(self._add_item(parent, Objective("")))

    def add_intervention(self) -> None:
        parent = self._ancestor(Goal)
        if parent is not None:
            self._select(self._add_item(parent, Intervention("")))

    def remove(self) -> None:
        item = self.outline.currentItem()
        if item is None:
            return
        parent = item.parent()
        if parent is None:
            self.outline.takeTopLevelItem(self.outline.indexOfTopLevelItem(item))
        else:
            parent.removeChild(item)
        self._relabel()
        self._selected()

    def _select(self, item: QTreeWidgetItem) -> None:
        self.outline.setCurrentItem(item)
        self._relabel()
        editor = {Problem: self.problem_text, Goal: self.goal_text,
                  Objective: self.objective_text, Intervention: self.intervention_text}  # fmt: skip
        editor[type(item.data(0, OBJECT))].setFocus()

    def _selected(self, *_: object) -> None:
        value = self._current()[1]
        self._loading = True
        try:
            if isinstance(value, Problem):
                self.editors.setCurrentIndex(1)
                self.problem_text.setPlainText(value.text)
                for row in range(self.problem_diagnoses.count()):
                    entry = self.problem_diagnoses.item(row)
                    assert entry is not None
                    ticked = entry.data(OBJECT) in value.diagnosis_ids
                    entry.setCheckState(
                        Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked
                    )
            elif isinstance(value, Goal):
                self.editors.setCurrentIndex(2)
                self.goal_text.setPlainText(value.text)
                self.goal_measure.setText(value.measure)
                self.goal_target.setDate(formats.qdate(value.target_on or day_of(self.review)))
                self.goal_status.setCurrentIndex(self.goal_status.findData(value.status))
            elif isinstance(value, Objective):
                self.editors.setCurrentIndex(3)
                self.objective_text.setPlainText(value.text)
                self.objective_target.set_value(value.target_on)
                self.objective_status.setCurrentIndex(self.objective_status.findData(value.status))
            elif isinstance(value, Intervention):
                self.editors.setCurrentIndex(4)
                self.intervention_text.setPlainText(value.text)
                self.intervention_frequency.setText(value.frequency)
            else:
                self.editors.setCurrentIndex(0)
        finally:
            self._loading = False
        in_problem = self._ancestor(Problem) is not None
        in_goal = self._ancestor(Goal) is not None
        self.add_goal_button.setEnabled(in_problem)
        self.add_objective_button.setEnabled(in_goal)
        self.add_intervention_button.setEnabled(in_goal)
        self.remove_button.setEnabled(value is not None)

    def _edited(self) -> None:
        if self._loading:
            return
        item, value = self._current()
        if item is None or value is None:
            return
        new: Item
        if isinstance(value, Problem):
            ticked = tuple(
                str(self.problem_diagnoses.item(r).data(OBJECT))
                for r in range(self.problem_diagnoses.count())
                if self.problem_diagnoses.item(r).checkState() == Qt.CheckState.Checked
            )
            new = replace(value, text=self.problem_text.toPlainText(), diagnosis_ids=ticked)
        elif isinstance(value, Goal):
            new = replace(
                value,
                text=self.goal_text.toPlainText(),
                measure=self.goal_measure.text(),
                target_on=day_of(self.goal_target),
                status=GoalStatus(self.goal_status.currentData()),
            )
        elif isinstance(value, Objective):
            new = replace(
                value,
                text=self.objective_text.toPlainText(),
                target_on=self.objective_target.value(),
                status=GoalStatus(self.objective_status.currentData()),
            )
        else:
            new = replace(
                value,
                text=self.intervention_text.toPlainText(),
                frequency=self.intervention_frequency.text(),
            )
        item.setData(0, OBJECT, new)
        self._relabel()

    # -- the whole ------------------------------------------------------------------------------
    def content(self) -> PlanContent:
        problems = []
        for p_item in self._problems():
            goals = []
            for g_item in _children(p_item):
                parts = [c.data(0, OBJECT) for c in _children(g_item)]
                goals.append(
                    replace(
                        g_item.data(0, OBJECT),
                        objectives=tuple(p for p in parts if isinstance(p, Objective)),
                        interventions=tuple(p for p in parts if isinstance(p, Intervention)),
                    )
                )
            problems.append(replace(p_item.data(0, OBJECT), goals=tuple(goals)))
        return PlanContent(tuple(problems), day_of(self.start), day_of(self.review))

    def _show_missing(self) -> None:
        missing = missing_for_signature(self.content())
        self.missing.setText(
            "Ready to sign once saved."
            if not missing
            else "Still needed before signing: " + "; ".join(missing) + "."
        )

    def save(self) -> TreatmentPlan:
        return self._save(self.content())

    def clear_phi(self) -> None:
        super().clear_phi()
        self.outline.clear()
        self.problem_diagnoses.clear()
        self.missing.clear()
