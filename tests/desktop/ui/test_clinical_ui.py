"""The clinical record on the client page, driven like a person: find a diagnosis by words,
write a treatment plan in its editor, sign it, revise it, see the review reminder, lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.clinical.diagnoses import DiagnosisDetails, DiagnosisStatus
from desktop.core.clinical.plans import (
    Goal,
    Intervention,
    Objective,
    PlanContent,
    PlanStatus,
    Problem,
)
from desktop.core.practice import Practice
from desktop.ui.client_forms import FormDialog
from desktop.ui.clinical.diagnosis_dialog import DiagnosisDialog
from desktop.ui.clinical.plan_editor import PlanEditorDialog
from desktop.ui.clinical.plan_tab import ReasonDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.qt import QApplication, QEvent, QMessageBox, Qt, QWidget

from .vocabulary import texts_of, words_on_screen
from .waiting import client_shown

D = TypeVar("D", bound=QWidget)
LEFT = Qt.MouseButton.LeftButton
NAME = "Imogen Ashdown-Reyes"


@pytest.fixture(autouse=True)
def earlier_windows_gone() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def dialog_of(qtbot: QtBot, parent: QWidget, kind: type[D]) -> D:
    found: list[D] = []

    def visible() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return len(found) == 1

    qtbot.waitUntil(visible)
    return found[0]


def message_box(qtbot: QtBot, parent: QWidget, button: str) -> None:
    box = dialog_of(qtbot, parent, QMessageBox)
    (chosen,) = [b for b in box.buttons() if b.text() == button]
    qtbot.mouseClick(chosen, LEFT)


def open_tab(page: ClientPage, title: str) -> QWidget:
    for index in range(page.tabs.count()):
        if page.tabs.tabText(index).replace("&", "") == title:
            page.tabs.setCurrentIndex(index)
            widget = page.tabs.widget(index)
            assert widget is not None
            return widget
    raise AssertionError(f"no tab {title}")


def actions(practice: Practice) -> list[str]:
    return [e.action for e in practice.audit_entries()]


def signed_plan(practice: Practice, client_id: str, review_in_days: int = 90) -> str:
    clinical = practice.clinical
    plan = clinical.start_plan(client_id)
    start = plan.content.start_on
    assert start is not None
    goal = Goal(
        "Return to full days at work",
        "Work days kept, from the weekly log",
        start + timedelta(days=70),
        objectives=(Objective("Plan the first half-day back", start + timedelta(days=14)),),
        interventions=(Intervention("Graded activity planning", "weekly"),),
    )
    content = PlanContent(
        (Problem("Panic attacks on the commute", (goal,)),),
        start,
        start + timedelta(days=review_in_days),
    )
    clinical.save_plan(plan.id, content)
    return clinical.sign_plan(plan.id).id


def test_a_diagnosis_found_by_words_and_changed(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    tab = open_tab(page, "Diagnoses")
    assert tab.isVisible() and page.clinical.diagnoses.empty.isVisible()
    qtbot.mouseClick(page.clinical.diagnoses.add_button, LEFT)
    dialog = dialog_of(qtbot, page, DiagnosisDialog)
    qtbot.mouseClick(dialog.save_button, LEFT)  # nothing chosen yet: refused in the dialog
    assert dialog.isVisible() and "Choose a code" in dialog.error.text()
    qtbot.keyClicks(dialog.code_search, "panic disorder")
    qtbot.waitUntil(lambda: dialog.results.count() > 0, timeout=60_000)
    first = dialog.results.item(0)
    assert first is not None and first.text().startswith("F41.0")
    dialog.results.setCurrentItem(first)
    dialog.primary.setChecked(True)
    assert words_on_screen([dialog]) == []
    qtbot.mouseClick(dialog.save_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    tree = page.clinical.diagnoses.tree
    row = tree.topLevelItem(0)
    assert row is not None and row.text(0) == "F41.0" and "(primary)" in row.text(1)
    assert actions(practice)[-2:] == ["diagnosis.added", "clinical.summary_viewed"]

    # entered in error: kept, struck out, and no longer offered to the plan
    tree.setCurrentItem(row)
    qtbot.mouseClick(page.clinical.diagnoses.change_button, LEFT)
    change = dialog_of(qtbot, page, DiagnosisDialog)
    change.status.setCurrentIndex(change.status.findData(DiagnosisStatus.ENTERED_IN_ERROR))
    qtbot.mouseClick(change.save_button, LEFT)
    qtbot.waitUntil(lambda: not change.isVisible())
    row = tree.topLevelItem(0)
    assert row is not None and row.font(0).strikeOut() and row.text(3) == "Entered in error"
    assert words_on_screen([page]) == []


def test_write_sign_and_revise_a_treatment_plan(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    practice.clinical.add_diagnosis(client_id, DiagnosisDetails("F41.0"))
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    plan_tab = page.clinical.plan
    before = actions(practice).count("treatment_plan.opened")
    open_tab(page, "Treatment plan")
    assert plan_tab.none_yet.isVisible() and plan_tab.start_button.isVisible()
    assert actions(practice).count("treatment_plan.opened") == before  # nothing to read yet
    qtbot.mouseClick(plan_tab.start_button, LEFT)
    editor = dialog_of(qtbot, page, PlanEditorDialog)
    assert "at least one problem" in editor.missing.text()
    qtbot.mouseClick(editor.add_problem_button, LEFT)
    qtbot.keyClicks(editor.problem_text, "Panic attacks on the commute")
    related = editor.problem_diagnoses.item(0)
    assert related is not None and related.text().startswith("F41.0")
    related.setCheckState(Qt.CheckState.Checked)
    qtbot.mouseClick(editor.add_goal_button, LEFT)
    qtbot.keyClicks(editor.goal_text, "Take the train to work twice a week")
    assert "how goal 1.1 will be measured" in editor.missing.text()
    qtbot.keyClicks(editor.goal_measure, "Trips logged; panic frequency under 1 a week")
    qtbot.mouseClick(editor.add_objective_button, LEFT)
    qtbot.keyClicks(editor.objective_text, "Ride one stop with the therapist's plan")
    qtbot.mouseClick(editor.add_intervention_button, LEFT)
    qtbot.keyClicks(editor.intervention_text, "Interoceptive exposure")
    qtbot.keyClicks(editor.intervention_frequency, "weekly, 50 minutes")
    assert editor.missing.text() == "Ready to sign once saved."
    assert [editor.outline.topLevelItem(0).text(0)] == [  # type: ignore[union-attr]
        "Problem 1: Panic attacks on the commute"
    ]
    assert words_on_screen([editor]) == []
    qtbot.mouseClick(editor.save_button, LEFT)
    qtbot.waitUntil(lambda: not editor.isVisible())
    qtbot.waitUntil(lambda: "Take the train" in plan_tab.view.toPlainText())
    assert "Draft" in plan_tab.state.text() and plan_tab.sign_button.isVisible()

    qtbot.mouseClick(plan_tab.sign_button, LEFT)
    message_box(qtbot, plan_tab, "Sign and lock")
    qtbot.waitUntil(lambda: "Signed by Dr Ada Test" in plan_tab.state.text())
    text = plan_tab.view.toPlainText()
    assert "Related: F41.0 Panic disorder" in text and "Interoceptive exposure" in text
    assert not plan_tab.edit_button.isVisible() and plan_tab.revise_button.isVisible()
    assert words_on_screen([page]) == []

    qtbot.mouseClick(plan_tab.revise_button, LEFT)
    reason = dialog_of(qtbot, plan_tab, ReasonDialog)
    qtbot.keyClicks(reason.reason, "Four-week review: add a goal for sleep")
    qtbot.mouseClick(reason.save_button, LEFT)
    revision = dialog_of(qtbot, page, PlanEditorDialog)
    assert revision.outline.topLevelItem(0).childCount() == 1  # type: ignore[union-attr]
    qtbot.mouseClick(revision.save_button, LEFT)
    qtbot.waitUntil(lambda: not revision.isVisible())
    qtbot.waitUntil(lambda: plan_tab.versions.count() == 2)
    assert plan_tab.versions.itemText(0) == "Version 2: draft revision, not signed"
    assert plan_tab.versions.itemText(1).startswith("Version 1: in effect, signed ")
    assert "Revised because: Four-week review" in plan_tab.state.text()
    # the signed version is one choice away, read again (audited) when chosen
    opened = actions(practice).count("treatment_plan.opened")
    plan_tab.versions.setCurrentIndex(1)
    plan_tab.versions.activated.emit(1)
    assert actions(practice).count("treatment_plan.opened") == opened + 1
    assert "Signed by" in plan_tab.state.text()
    summary = practice.clinical.summary(client_id)
    assert summary.plan is not None and summary.plan.status is PlanStatus.SIGNED
    assert summary.draft is not None and summary.draft.version == 2


def test_the_review_reminder_on_the_client_page(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    soon = practice.create_client(ClientDetails(name=NAME)).id
    later = practice.create_client(ClientDetails(name="Bertrand Olufemi")).id
    signed_plan(practice, soon, review_in_days=10)  # the fixture clock: 5 January 2026
    signed_plan(practice, later, review_in_days=60)
    main_window.open_client(later)
    client_shown(qtbot, main_window, later)
    banner = main_window.client_page.clinical.banner
    assert not banner.isVisible()
    main_window.open_client(soon)
    client_shown(qtbot, main_window, soon)
    assert banner.isVisible()
    assert banner.text().startswith("Treatment plan review due by 15 January 2026")
    assert words_on_screen([main_window.client_page]) == []
    assert [r.client_id for r in practice.clinical.plans_due_for_review()] == [soon]
    # archived: no reminder
    practice.archive_client(soon)
    main_window.open_client(soon)
    client_shown(qtbot, main_window, soon)
    assert not banner.isVisible()


def test_lock_clears_the_clinical_record(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, widget_text: Callable[[], str]
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    practice.clinical.add_diagnosis(client_id, DiagnosisDetails("F41.0", onset=date(2025, 3, 1)))
    plan_id = signed_plan(practice, client_id, review_in_days=7)
    practice.clinical.revise_plan(plan_id, "Adding a goal")
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    open_tab(page, "Diagnoses")
    open_tab(page, "Treatment plan")
    versions = page.clinical.plan.versions
    assert "A revision is in progress" in page.clinical.plan.state.text()
    versions.setCurrentIndex(0)  # the draft revision, listed first
    versions.activated.emit(0)
    page.clinical.plan.edit()  # its editor stays open
    editor = dialog_of(qtbot, page, PlanEditorDialog)
    text = widget_text()
    for value in (NAME, "Panic disorder", "Panic attacks on the commute", "Graded activity",
                  "Return to full days", "review due"):  # fmt: skip
        assert value in text, value
    # what the lock asks of a dialog before deleting it: nothing of the plan left in it
    editor.clear_phi()
    left = "\n".join(t for w in [editor, *editor.findChildren(QWidget)] for t in texts_of(w))
    assert "Panic" not in left and "Graded activity" not in left and "Return to" not in left
    editor.reject()
    page.clinical.plan.edit()
    editor = dialog_of(qtbot, page, PlanEditorDialog)

    main_window.lock()

    assert not editor.isVisible()
    text = widget_text()
    for value in (NAME, "Panic disorder", "F41.0", "Panic attacks", "Graded activity",
                  "Return to full days", "half-day", "review due", "Adding a goal"):  # fmt: skip
        assert value not in text, value


def test_screenshots(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, screenshot_dir: Path | None
) -> None:
    """The Diagnoses and Treatment plan tabs and the plan editor, for the README."""
    client_id = practice.create_client(ClientDetails(name=NAME, preferred_name="Immy")).id
    clinical = practice.clinical
    clinical.add_diagnosis(
        client_id, DiagnosisDetails("F41.0", onset=date(2025, 9, 1), primary=True)
    )
    clinical.add_diagnosis(client_id, DiagnosisDetails("F40.240", onset=date(2023, 5, 1)))
    clinical.add_diagnosis(client_id, DiagnosisDetails("Z56.6"))
    signed_plan(practice, client_id, review_in_days=12)
    main_window.resize(1180, 760)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    open_tab(page, "Diagnoses")
    assert words_on_screen([main_window]) == []
    if screenshot_dir is not None:
        qtbot.wait(30)
        main_window.grab().save(str(screenshot_dir / "diagnoses.png"))
    open_tab(page, "Treatment plan")
    qtbot.waitUntil(lambda: "Return to full days" in page.clinical.plan.view.toPlainText())
    assert words_on_screen([main_window]) == []
    if screenshot_dir is not None:
        qtbot.wait(30)
        main_window.grab().save(str(screenshot_dir / "treatment-plan.png"))
        plan = practice.clinical.summary(client_id).plan
        assert plan is not None
        revision = practice.clinical.revise_plan(plan.id, "90-day review")
        page.clinical.plan._wanted = revision.id
        page.clinical.reload()
        page.clinical.plan.edit()
        editor: FormDialog[Any] = dialog_of(qtbot, page, PlanEditorDialog)
        editor.outline.setCurrentItem(editor.outline.topLevelItem(0).child(0))  # type: ignore[attr-defined,union-attr]
        qtbot.wait(50)
        editor.grab().save(str(screenshot_dir / "treatment-plan-editor.png"))
        editor.reject()


def test_a_plan_due_for_review_is_on_the_calendar(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    from datetime import datetime

    client_id = practice.create_client(ClientDetails(name=NAME)).id
    plan = practice.clinical.start_plan(client_id)
    review_day = datetime.now().astimezone().date() + timedelta(days=1)
    content = PlanContent(
        (Problem("Panic attacks on the commute", (Goal("Take the train", "Trips logged",
            review_day, interventions=(Intervention("Exposure"),)),)),),
        plan.content.start_on,
        review_day,
    )  # fmt: skip
    practice.clinical.save_plan(plan.id, content)
    practice.clinical.sign_plan(plan.id)
    main_window.activateWindow()
    main_window.show_calendar()
    page = main_window.calendar_page
    page.set_week(True)
    qtbot.waitUntil(lambda: not page.loading, timeout=10_000)
    lines = [item for item in page.tree.findItems("Plan review", Qt.MatchFlag.MatchRecursive)]
    assert len(lines) == 1
    line = lines[0]
    assert (line.text(1), line.text(2)) == (NAME, "Treatment plan review due")
    assert line.parent() is not None and "Tomorrow" in line.parent().text(0)  # type: ignore[union-attr]
    assert "treatment_plan.reviews_listed" in actions(practice)
    assert words_on_screen([main_window]) == []
    page.tree.setCurrentItem(line)
    page.open_client()
    assert main_window.current_page() is main_window.client_page
    qtbot.waitUntil(lambda: main_window.client_page.name_label.text() == NAME)


def test_a_note_says_which_goals_it_addressed(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(ClientDetails(name=NAME)).id
    plan_id = signed_plan(practice, client_id)
    note = practice.create_note(client_id, "free")
    main_window.open_note(note.id)
    goals = main_window.note_editor.goals
    assert goals.isVisible() and goals.goals.count() == 1
    item = goals.goals.item(0)
    assert item is not None and item.text() == "Return to full days at work"
    assert item.checkState() == Qt.CheckState.Unchecked
    item.setCheckState(Qt.CheckState.Checked)  # saved at once
    assert practice.clinical.note_goals(note.id).addressed == {
        practice.clinical.open_plan(plan_id).content.goals[0].id
    }
    assert "note.goals_addressed" in actions(practice)
    practice.save_draft(note.id, {"note": "Planned the first half-day back."})
    practice.sign_note(note.id)
    main_window.open_note(note.id)
    item = goals.goals.item(0)
    assert item is not None and item.checkState() == Qt.CheckState.Checked
    assert not item.flags() & Qt.ItemFlag.ItemIsUserCheckable
    assert goals.note_label.text() == "Signed with the note; it cannot change."
    assert words_on_screen([main_window]) == []
    # a psychotherapy note has no goals list
    private = practice.create_psychotherapy_note(client_id)
    main_window.open_note(private.id, psychotherapy=True)
    assert not goals.isVisible()
