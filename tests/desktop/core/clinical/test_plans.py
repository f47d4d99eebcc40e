"""Treatment plans: drafts, signing and locking, revisions as new versions, the goals notes
addressed, and review reminders."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest

from crypto.database import IntegrityError
from desktop.core.clients import ClientDetails, DestructionReason
from desktop.core.clinical.diagnoses import DiagnosisDetails
from desktop.core.clinical.errors import (
    GoalLinkError,
    PlanIncompleteError,
    PlanSignedError,
    PlanStateError,
)
from desktop.core.clinical.plan_signature import SignedPlan, plan_signature
from desktop.core.clinical.plans import (
    Goal,
    GoalStatus,
    Intervention,
    Objective,
    PlanContent,
    PlanStatus,
    Problem,
    ReviewState,
    SignatureCheck,
    TreatmentPlan,
    encode_content,
)
from desktop.core.errors import InvalidFieldError
from desktop.core.practice import Practice

Entries = Callable[[], list[tuple[str, str, str]]]


def advance_days(clock: object, days: int) -> None:
    clock.advance(days * 86400)  # type: ignore[attr-defined]


def complete(plan: TreatmentPlan, diagnosis_id: str | None = None) -> PlanContent:
    start = plan.content.start_on or date(2026, 1, 5)
    return PlanContent(
        problems=(
            Problem(
                "Worry most days, poor sleep",
                diagnosis_ids=(diagnosis_id,) if diagnosis_id else (),
                goals=(
                    Goal(
                        "Worry no longer gets in the way of work",
                        measure="GAD-7 below 10 on two administrations in a row",
                        target_on=start + timedelta(days=84),
                        objectives=(
                            Objective("Name three worry triggers", start + timedelta(days=21)),
                        ),
                        interventions=(
                            Intervention("Cognitive restructuring", "weekly, 50 minutes"),
                        ),
                    ),
                    Goal(
                        "Sleep seven hours most nights",
                        measure="Sleep diary: 5 of 7 nights",
                        target_on=start + timedelta(days=56),
                        interventions=(Intervention("Sleep hygiene and stimulus control"),),
                    ),
                ),
            ),
        ),
        start_on=start,
        review_on=plan.content.review_on,
    )


def signed_plan(practice: Practice, client_id: str) -> TreatmentPlan:
    clinical = practice.clinical
    plan = clinical.start_plan(client_id)
    clinical.save_plan(plan.id, complete(plan))
    return clinical.sign_plan(plan.id)


def test_a_plan_from_draft_to_signed(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    dx = clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1"))
    new_entries()
    plan = clinical.start_plan(client_id)
    assert (plan.version, plan.status, plan.revises) == (1, PlanStatus.DRAFT, None)
    assert plan.content.start_on == date(2026, 1, 5)  # the fixture clock's day
    assert plan.content.review_on == date(2026, 4, 5)  # 90 days on
    with pytest.raises(PlanStateError, match="already"):
        clinical.start_plan(client_id)
    with pytest.raises(PlanIncompleteError, match="at least one problem"):
        clinical.sign_plan(plan.id)
    half = PlanContent((Problem("Worry", (Goal("Worry less"),)),), plan.content.start_on,
                       plan.content.review_on)  # fmt: skip
    clinical.save_plan(plan.id, half)
    with pytest.raises(PlanIncompleteError) as caught:
        clinical.sign_plan(plan.id)
    assert "how goal 1.1 will be measured" in str(caught.value)
    assert "a target date for goal 1.1" in str(caught.value)
    assert "at least one intervention" in str(caught.value)
    content = complete(plan, dx.id)
    saved = clinical.save_plan(plan.id, content)
    assert saved.content == content  # round trip through canonical JSON
    signed = clinical.sign_plan(plan.id)
    assert signed.status is PlanStatus.SIGNED and signed.signature_check is SignatureCheck.VALID
    assert signed.author == "user:test"
    assert new_entries() == [
        ("treatment_plan.created", "treatment_plan", plan.id),
        ("treatment_plan.edited", "treatment_plan", plan.id),
        ("treatment_plan.edited", "treatment_plan", plan.id),
        ("treatment_plan.signed", "treatment_plan", plan.id),
    ]
    entry = next(e for e in practice.audit_entries() if e.action == "treatment_plan.signed")
    assert entry.details_dict()["signature"] == signed.signature
    assert "Worry" not in json.dumps([e.details_dict() for e in practice.audit_entries()])
    opened = clinical.open_plan(plan.id)
    assert opened.signature_check is SignatureCheck.VALID
    assert new_entries() == [("treatment_plan.opened", "treatment_plan", plan.id)]


def test_a_signed_plan_never_changes(practice: Practice, client_id: str) -> None:
    plan = signed_plan(practice, client_id)
    with pytest.raises(PlanSignedError):
        practice.clinical.save_plan(plan.id, PlanContent())
    with pytest.raises(PlanSignedError):
        practice.clinical.sign_plan(plan.id)
    with pytest.raises(PlanSignedError):
        practice.clinical.discard_plan_draft(plan.id)
    vault = practice._vault
    with pytest.raises(IntegrityError, match="cannot change"), vault.transaction() as tx:
        tx.execute("UPDATE treatment_plans SET content = '{}' WHERE id = ?", (plan.id,))
    with pytest.raises(IntegrityError, match="retention"), vault.transaction() as tx:
        tx.execute("DELETE FROM treatment_plans WHERE id = ?", (plan.id,))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("content", "replace(content, 'weekly', 'monthly')"),
        ("author", "'someone else'"),
        ("signed_at", "'2026-01-04T09:00:00.000000Z'"),
        ("reason", "'changed'"),
    ],
)
def test_a_tampered_plan_is_reported(
    practice: Practice, client_id: str, new_entries: Entries, column: str, value: str
) -> None:
    plan = signed_plan(practice, client_id)
    with practice._vault.transaction() as tx:  # someone with the key, bypassing the trigger
        tx.execute("DROP TRIGGER treatment_plans_signed_frozen")
        tx.execute(f"UPDATE treatment_plans SET {column} = {value} WHERE id = ?", (plan.id,))
    new_entries()
    assert practice.clinical.open_plan(plan.id).signature_check is SignatureCheck.TAMPERED
    assert new_entries() == [
        ("treatment_plan.opened", "treatment_plan", plan.id),
        ("treatment_plan.signature_mismatch", "treatment_plan", plan.id),
    ]


def test_rehashing_a_tampered_plan_still_shows(practice: Practice, client_id: str) -> None:
    """The signing entry in the keyed audit log anchors the signature."""
    plan = signed_plan(practice, client_id)
    forged = replace(plan.content, review_on=date(2030, 1, 1))
    encoded = encode_content(forged)
    assert plan.signed_at is not None
    signature = plan_signature(
        SignedPlan(plan.id, client_id, 1, None, "", encoded, plan.author,
                   plan.signed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    )  # fmt: skip
    with practice._vault.transaction() as tx:
        tx.execute("DROP TRIGGER treatment_plans_signed_frozen")
        tx.execute(
            "UPDATE treatment_plans SET content = ?, signature = ? WHERE id = ?",
            (encoded, signature, plan.id),
        )
    assert practice.clinical.open_plan(plan.id).signature_check is SignatureCheck.TAMPERED


def test_a_revision_is_a_new_version(
    practice: Practice, client_id: str, new_entries: Entries, clock: object
) -> None:
    clinical = practice.clinical
    v1 = signed_plan(practice, client_id)
    with pytest.raises(InvalidFieldError, match="reason"):
        clinical.revise_plan(v1.id, "  ")
    new_entries()
    v2 = clinical.revise_plan(v1.id, "Sleep goal met; add a goal for social contact")
    assert new_entries() == [("treatment_plan.revised", "treatment_plan", v2.id)]
    assert (v2.version, v2.revises, v2.status) == (2, v1.id, PlanStatus.DRAFT)
    assert v2.content == v1.content  # prefilled, goal ids and all
    with pytest.raises(PlanStateError, match="already in progress"):
        clinical.revise_plan(v1.id, "again")
    # the signed version stays in effect until the revision is signed
    summary = clinical.summary(client_id)
    assert summary.plan is not None and summary.plan.id == v1.id
    assert summary.draft is not None and summary.draft.id == v2.id
    problem = v2.content.problems[0]
    sleep = replace(problem.goals[1], status=GoalStatus.ACHIEVED)
    social = Goal("Meet a friend once a week", "Activity log", date(2026, 5, 1),
                  interventions=(Intervention("Behavioural activation"),))  # fmt: skip
    changed = replace(v2.content, problems=(replace(problem, goals=(problem.goals[0], sleep,
                                                                     social)),))  # fmt: skip
    clinical.save_plan(v2.id, changed)
    signed = clinical.sign_plan(v2.id)
    assert [v.version for v in signed.history] == [1, 2]
    assert clinical.summary(client_id).plan.id == v2.id  # type: ignore[union-attr]
    # the old version is unchanged and still checks
    old = clinical.open_plan(v1.id)
    assert old.signature_check is SignatureCheck.VALID and len(old.content.goals) == 2
    with pytest.raises(PlanStateError, match="plan in effect"):
        clinical.revise_plan(v1.id, "from an old version")


def test_discarding_a_revision_draft(practice: Practice, client_id: str) -> None:
    clinical = practice.clinical
    v1 = signed_plan(practice, client_id)
    v2 = clinical.revise_plan(v1.id, "typo")
    clinical.discard_plan_draft(v2.id)
    assert clinical.summary(client_id).draft is None
    assert clinical.revise_plan(v1.id, "second try").version == 2


def test_notes_say_which_goals_they_addressed(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    note = practice.create_note(client_id, "free")
    assert clinical.note_goals(note.id).plan_id is None  # no plan yet: nothing to choose
    with pytest.raises(GoalLinkError, match="no signed treatment plan"):
        clinical.set_note_goals(note.id, ["whatever"])
    plan = signed_plan(practice, client_id)
    worry, sleep = (g.id for g in plan.content.goals)
    new_entries()
    linked = clinical.set_note_goals(note.id, [worry])
    assert linked.addressed == {worry} and linked.editable and linked.plan_version == 1
    assert new_entries() == [("note.goals_addressed", "note", note.id)]
    with pytest.raises(GoalLinkError, match="not in the client's treatment plan"):
        clinical.set_note_goals(note.id, ["0123abcd"])
    practice.save_draft(note.id, {"note": "Worked on worry triggers."})
    practice.sign_note(note.id)
    with pytest.raises(GoalLinkError, match="signed"):
        clinical.set_note_goals(note.id, [worry, sleep])
    with pytest.raises(IntegrityError, match="signed note"), practice._vault.transaction() as tx:
        tx.execute("DELETE FROM note_goals WHERE note_id = ?", (note.id,))
    with pytest.raises(IntegrityError, match="signed note"), practice._vault.transaction() as tx:
        tx.execute(
            "INSERT INTO note_goals(note_id, goal_id, plan_id) VALUES (?, ?, ?)",
            (note.id, sleep, plan.id),
        )
    seen = clinical.note_goals(note.id)
    assert seen.addressed == {worry} and not seen.editable
    progress = clinical.open_plan(plan.id).progress
    assert progress[worry].notes == 1 and progress[sleep].notes == 0
    # a revision keeps goal ids, so the link still names the goal
    v2 = clinical.revise_plan(plan.id, "more objectives")
    assert clinical.open_plan(v2.id).progress[worry].notes == 1
    # psychotherapy notes are kept apart from the plan
    private = practice.create_psychotherapy_note(client_id)
    with pytest.raises(GoalLinkError, match="progress notes"):
        clinical.set_note_goals(private.id, [worry])
    # a discarded draft takes its links along
    draft = practice.create_note(client_id, "free")
    clinical.set_note_goals(draft.id, [sleep])
    practice.discard_draft(draft.id)
    assert practice._vault.query("SELECT count(*) FROM note_goals WHERE note_id = ?",
                                 (draft.id,)) == [(0,)]  # fmt: skip


def test_a_plan_due_for_review(
    practice: Practice, client_id: str, new_entries: Entries, clock: object
) -> None:
    clinical = practice.clinical
    plan = signed_plan(practice, client_id)  # review on 5 April 2026
    assert clinical.summary(client_id).review is None
    assert clinical.plans_due_for_review() == ()
    advance_days(clock, 75)  # 21 March: 15 days before
    assert clinical.summary(client_id).review is None
    advance_days(clock, 1)  # 22 March: 14 days before
    review = clinical.summary(client_id).review
    assert review is not None and review.state is ReviewState.DUE_SOON
    assert review.review_on == date(2026, 4, 5) and review.plan_id == plan.id
    new_entries()
    due = clinical.plans_due_for_review()
    assert [(r.client_name, r.review_on) for r in due] == [("Avery Applewood", date(2026, 4, 5))]
    assert new_entries() == [("treatment_plan.reviews_listed", "", "")]
    # for a calendar: the reviews falling inside a range
    assert clinical.plan_reviews_between(date(2026, 4, 1), date(2026, 4, 30)) == due
    assert clinical.plan_reviews_between(date(2026, 5, 1), date(2026, 5, 31)) == ()
    advance_days(clock, 15)  # 6 April
    review = clinical.summary(client_id).review
    assert review is not None and review.state is ReviewState.OVERDUE
    # a revision in progress does not clear it; the signed revision with a later date does
    v2 = clinical.revise_plan(plan.id, "90-day review")
    assert clinical.summary(client_id).review is not None
    clinical.save_plan(v2.id, replace(v2.content, review_on=date(2026, 7, 6)))
    clinical.sign_plan(v2.id)
    assert clinical.summary(client_id).review is None
    assert clinical.plans_due_for_review() == ()
    # archived clients are not reminded
    other = practice.create_client(ClientDetails(name="Blake Brightwater")).id
    signed_plan(practice, other)
    advance_days(clock, 120)
    practice.archive_client(other)
    assert [r.client_id for r in clinical.plans_due_for_review()] == [client_id]


def test_the_retention_action_takes_the_clinical_record_along(
    practice: Practice, client_id: str, clock: object
) -> None:
    clinical = practice.clinical
    clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1"))
    plan = signed_plan(practice, client_id)
    clinical.revise_plan(plan.id, "draft left open")
    note = practice.create_note(client_id, "free")
    clinical.set_note_goals(note.id, [plan.content.goals[0].id])
    practice.save_draft(note.id, {"note": "text"})
    practice.sign_note(note.id)
    practice.archive_client(client_id)
    advance_days(clock, 365 * 8)
    practice.destroy_client(
        client_id, confirm_name="Avery Applewood", reason=DestructionReason.RETENTION_PERIOD_ENDED
    )
    for table in ("diagnoses", "treatment_plans", "note_goals"):
        assert practice._vault.query(f"SELECT count(*) FROM {table}") == [(0,)], table
    assert practice.search("worry").clients == ()
