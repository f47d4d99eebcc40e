"""The client page's Treatment plan tab: the plan in effect (or the draft, when none is signed
yet), any other version on request, and the actions that fit its state: start a plan, edit the
draft, sign it, revise a signed plan, discard a draft.

A version is read (``open_plan``, audited) only when the tab is shown or another version is
chosen, not when the client page opens."""

from __future__ import annotations

import html
from collections.abc import Callable

from desktop.core.clinical.diagnoses import Diagnosis
from desktop.core.clinical.plans import (
    MAX_REASON,
    PlanStatus,
    PlanSummary,
    SignatureCheck,
    TreatmentPlan,
)
from desktop.core.errors import PracticeError
from desktop.ui import formats
from desktop.ui.client_forms import FieldError, FormDialog, error_text
from desktop.ui.clinical.labels import GOAL_STATUS
from desktop.ui.clinical.plan_editor import PlanEditorDialog
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    Qt,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import TechnicalDetails, error_label, paragraph

NONE_YET = (
    "No treatment plan yet. A plan names the problems you work on, measurable goals with target "
    "dates, and what you will do; insurers usually ask for one. Signed, it is locked like a note, "
    "and changes are made as revisions."
)


def plan_html(plan: TreatmentPlan, diagnoses: dict[str, Diagnosis]) -> str:
    """The plan as the tab shows it; every text from the record is escaped."""
    c = plan.content
    parts: list[str] = []
    dates = []
    if c.start_on:
        dates.append(f"Started {formats.date_text(c.start_on)}")
    if c.review_on:
        dates.append(f"review by {formats.date_text(c.review_on)}")
    if dates:
        parts.append(f"<p>{html.escape(', '.join(dates))}</p>")
    for n, problem in enumerate(c.problems, 1):
        parts.append(f"<h3 style='margin-bottom:2px'>Problem {n}: {html.escape(problem.text)}</h3>")
        related = [diagnoses[d] for d in problem.diagnosis_ids if d in diagnoses]
        if related:
            names = "; ".join(f"{d.code} {d.description}" for d in related)
            parts.append(f"<p style='color:palette(mid)'>Related: {html.escape(names)}</p>")
        for m, goal in enumerate(problem.goals, 1):
            facts = [f"measured by {goal.measure}" if goal.measure else "",
                     f"target {formats.date_text(goal.target_on)}" if goal.target_on else "",
                     GOAL_STATUS[goal.status]]  # fmt: skip
            progress = plan.progress.get(goal.id)
            if progress is not None and progress.notes:
                last = f", last {formats.date_text(progress.last_at)}" if progress.last_at else ""
                times = "note" if progress.notes == 1 else "notes"
                facts.append(f"addressed in {progress.notes} {times}{last}")
            parts.append(
                f"<p style='margin-left:12px; margin-bottom:2px'><b>Goal {n}.{m}:</b> "
                f"{html.escape(goal.text)}<br/><i>"
                f"{html.escape(' · '.join(f for f in facts if f))}</i></p>"
            )
            items = [
                f"Objective: {o.text}"
                + (f" (by {formats.date_text(o.target_on)})" if o.target_on else "")
                + ("" if o.status.value == "active" else f" — {GOAL_STATUS[o.status]}")
                for o in goal.objectives
            ] + [
                f"Intervention: {i.text}" + (f" — {i.frequency}" if i.frequency else "")
                for i in goal.interventions
            ]
            if items:
                parts.append(
                    "<ul style='margin-top:0'>"
                    + "".join(f"<li>{html.escape(t)}</li>" for t in items)
                    + "</ul>"
                )
    return "".join(parts) or "<p><i>Nothing written yet.</i></p>"


def version_label(version: PlanSummary, in_effect: str | None) -> str:
    if version.status is PlanStatus.DRAFT:
        what = "draft revision" if version.version > 1 else "draft"
        return f"Version {version.version}: {what}, not signed"
    state = "in effect" if version.id == in_effect else "earlier version"
    signed = formats.date_text(version.signed_at) if version.signed_at else ""
    return f"Version {version.version}: {state}, signed {signed}"


def confirm(parent: QWidget, text: str, action: str, on_yes: Callable[[], None]) -> QMessageBox:
    """A non-blocking yes/cancel question (opened, never exec'd: the auto-lock must be able to
    close it); ``on_yes`` runs if the action button is chosen."""
    box = QMessageBox(QMessageBox.Icon.Question, "Quietroom - treatment plan", text,
                      QMessageBox.StandardButton.Cancel, parent)  # fmt: skip
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


class ReasonDialog(FormDialog[TreatmentPlan]):
    """Why the plan is revised (required; kept with the new version). ``save`` starts the
    revision with that reason, so a refusal shows inside the dialog."""

    def __init__(
        self,
        parent: QWidget,
        revise: Callable[[str], TreatmentPlan],
        on_saved: Callable[[TreatmentPlan], None],
    ) -> None:
        super().__init__(parent, "Quietroom - revise treatment plan", "&Start revision", on_saved)
        self._revise = revise
        self.form.addRow(
            paragraph(
                "Why are you revising the plan? For example: the 90-day review, a goal met, a "
                "new problem. The reason is kept with the new version."
            )
        )
        self.reason = QPlainTextEdit()
        self.reason.setTabChangesFocus(True)
        self.reason.setMinimumWidth(420)
        self.reason.setFixedHeight(96)
        self.add_row("&Reason", self.reason, "Reason")

    def save(self) -> TreatmentPlan:
        text = self.reason.toPlainText().strip()
        if not text or len(text) > MAX_REASON:
            raise FieldError(f"Give a reason of 1 to {MAX_REASON} characters.", self.reason)
        return self._revise(text)


class PlanTab(QWidget):
    def __init__(self, ctx: UiContext, on_changed: Callable[[], None]) -> None:
        super().__init__()
        self.ctx = ctx
        self._on_changed = on_changed
        self._client_id: str | None = None
        self._archived = False
        self._wanted: str | None = None  # the version to show when the tab is next shown
        self._in_effect: str | None = None
        self._plan: TreatmentPlan | None = None
        self._diagnoses: dict[str, Diagnosis] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 12, 4, 4)
        top = QHBoxLayout()
        self.versions = QComboBox()
        self.versions.setAccessibleName("Plan version")
        self.versions.setToolTip("Earlier versions stay, signed, as the plan's history")
        self.versions.activated.connect(self._version_chosen)
        top.addWidget(self.versions, 1)
        outer.addLayout(top)
        self.state = QLabel()
        self.state.setAccessibleName("Plan state")
        self.state.setTextFormat(Qt.TextFormat.PlainText)
        self.state.setWordWrap(True)
        outer.addWidget(self.state)
        self.warning = error_label()
        outer.addWidget(self.warning)
        self.none_yet = paragraph(NONE_YET)
        outer.addWidget(self.none_yet)
        self.view = QTextBrowser()
        self.view.setAccessibleName("Treatment plan")
        self.view.setOpenLinks(False)
        outer.addWidget(self.view, 1)
        self.details = TechnicalDetails(name="Technical details of the plan")
        outer.addWidget(self.details)
        self.error = error_label()
        outer.addWidget(self.error)
        row = QHBoxLayout()
        self.start_button = self._button("St&art a treatment plan", "Start a treatment plan",
                                         "An empty draft from today", self.start)  # fmt: skip
        self.edit_button = self._button("&Edit draft…", "Edit draft",
                                        "Problems, goals, objectives, interventions, dates",
                                        self.edit)  # fmt: skip
        self.sign_button = self._button("Sign and loc&k…", "Sign plan",
                                        "Sign and lock this version; changes then go into a "
                                        "revision", self.sign)  # fmt: skip
        self.revise_button = self._button("Re&vise…", "Revise plan",
                                          "A new version, prefilled with this one, for a reason "
                                          "you give", self.revise)  # fmt: skip
        self.discard_button = self._button(
            "Discard draft", "Discard draft", "Throw this unsigned draft away", self.discard
        )
        for button in (self.start_button, self.edit_button, self.sign_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.revise_button)
        row.addWidget(self.discard_button)
        outer.addLayout(row)
        self.clear()

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- what the client page read -------------------------------------------------------------
    def set_client(
        self,
        client_id: str,
        plan: PlanSummary | None,
        draft: PlanSummary | None,
        diagnoses: tuple[Diagnosis, ...],
        *,
        archived: bool,
    ) -> None:
        """Remember which version to show; nothing of the plan is read until ``load``."""
        same = client_id == self._client_id
        self._client_id = client_id
        self._archived = archived
        self._in_effect = plan.id if plan else None
        self._diagnoses = {d.id: d for d in diagnoses}
        shown = plan or draft
        default = shown.id if shown is not None else None
        if not same or self._wanted is None:
            self._wanted = default  # otherwise the version chosen or just written stays
        self._plan = None
        self.view.clear()
        self.versions.clear()
        self.details.set_text("")
        self.state.clear()
        self.warning.hide()
        self.none_yet.setVisible(default is None)
        self.view.setVisible(default is not None)
        self._enable()

    def load(self) -> None:
        """The tab is shown: read the wanted version (audited)."""
        if self._client_id is None or self._wanted is None:
            return
        if self._plan is not None and self._plan.id == self._wanted:
            return
        try:
            plan = self.ctx.practice.clinical.open_plan(self._wanted)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        self._show(plan)

    def _show(self, plan: TreatmentPlan) -> None:
        self._plan = plan
        self._wanted = plan.id
        self.error.hide()
        self.versions.clear()
        for version in reversed(plan.history):
            self.versions.addItem(version_label(version, self._in_effect), version.id)
        self.versions.setCurrentIndex(self.versions.findData(plan.id))
        self.view.setHtml(plan_html(plan, self._diagnoses))
        if plan.status is PlanStatus.SIGNED and plan.signed_at is not None:
            state = (
                f"Signed by {plan.author} on {formats.date_text(plan.signed_at)} at "
                f"{formats.time_text(plan.signed_at)}; it cannot change."
            )
        else:
            state = "Draft: not signed yet."
        if plan.reason:
            state += f" Revised because: {plan.reason}"
        draft = next((v for v in plan.history if v.status is PlanStatus.DRAFT), None)
        if draft is not None and draft.id != plan.id:
            state += f" A revision is in progress: choose version {draft.version} above."
        self.state.setText(state)
        if plan.signature_check is SignatureCheck.TAMPERED:
            self.warning.setText(
                "This version no longer matches what was signed: it was changed outside "
                "Quietroom. The opening was recorded in the audit trail."
            )
            self.warning.show()
        else:
            self.warning.hide()
        self.details.set_text(
            f"Version {plan.version}; signature {plan.signature} ({plan.signature_check.value})"
            if plan.signature
            else f"Version {plan.version}; not signed"
        )
        self.none_yet.hide()
        self.view.show()
        self._enable()

    def _version_chosen(self, index: int) -> None:
        plan_id = self.versions.itemData(index)
        if isinstance(plan_id, str) and (self._plan is None or plan_id != self._plan.id):
            self._wanted = plan_id
            self.load()

    def _enable(self) -> None:
        plan = self._plan
        loaded = self._client_id is not None and not self._archived
        nothing = self._wanted is None
        draft = plan is not None and plan.status is PlanStatus.DRAFT
        self.start_button.setVisible(loaded and nothing)
        self.edit_button.setVisible(loaded and draft)
        self.sign_button.setVisible(loaded and draft)
        self.discard_button.setVisible(loaded and draft)
        self.revise_button.setVisible(
            loaded and plan is not None and plan.id == self._in_effect
            and not any(v.status is PlanStatus.DRAFT for v in plan.history)
        )  # fmt: skip
        self.versions.setVisible(plan is not None and len(plan.history) > 1)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    # -- actions --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._client_id is None:
            return
        try:
            plan = self.ctx.practice.clinical.start_plan(self._client_id)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        self._wanted = plan.id
        self._on_changed()
        self.edit()

    def edit(self) -> None:
        plan = self._plan
        if plan is None or plan.status is not PlanStatus.DRAFT:
            return
        clinical = self.ctx.practice.clinical
        plan_id = plan.id
        dialog = PlanEditorDialog(
            self,
            plan,
            tuple(self._diagnoses.values()),
            lambda content: clinical.save_plan(plan_id, content),
            self._saved,
        )
        dialog.open()

    def _saved(self, plan: TreatmentPlan) -> None:
        self.ctx.nav.notify("Treatment plan saved.")
        self._wanted = plan.id
        self._on_changed()

    def sign(self) -> None:
        plan = self._plan
        if plan is None or plan.status is not PlanStatus.DRAFT:
            return
        confirm(
            self,
            "Sign this treatment plan now?\n\nA signed plan can never change: to change it "
            "later you revise it, and the new version is kept next to this one.",
            "Sign and lock",
            self._sign_confirmed,
        )

    def _sign_confirmed(self) -> None:
        if self._plan is None:
            return
        try:
            signed = self.ctx.practice.clinical.sign_plan(self._plan.id)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        self.ctx.nav.notify("Treatment plan signed.")
        self._wanted = signed.id
        self._on_changed()

    def revise(self) -> None:
        plan = self._plan
        if plan is None:
            return
        plan_id = plan.id
        clinical = self.ctx.practice.clinical

        def revised(revision: TreatmentPlan) -> None:
            self._wanted = revision.id
            self._on_changed()
            self.edit()

        ReasonDialog(self, lambda reason: clinical.revise_plan(plan_id, reason), revised).open()

    def discard(self) -> None:
        plan = self._plan
        if plan is None or plan.status is not PlanStatus.DRAFT:
            return
        confirm(
            self,
            "Throw this unsigned draft away? The signed versions stay as they are.",
            "Discard draft",
            self._discard_confirmed,
        )

    def _discard_confirmed(self) -> None:
        if self._plan is None:
            return
        try:
            self.ctx.practice.clinical.discard_plan_draft(self._plan.id)
        except PracticeError as exc:
            self._show_error(error_text(exc))
            return
        self._wanted = self._in_effect
        self._on_changed()

    def clear(self) -> None:
        self._client_id = None
        self._plan = None
        self._wanted = None
        self._in_effect = None
        self._diagnoses = {}
        self.versions.clear()
        self.view.clear()
        self.state.clear()
        self.details.set_text("")
        self.warning.hide()
        self.error.hide()
        self.none_yet.show()
        self.view.hide()
        self._enable()
