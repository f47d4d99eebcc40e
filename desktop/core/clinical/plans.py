"""Treatment plans: per client, problems, each with measurable goals, and for each goal the
objectives (steps toward it) and the interventions (what the therapist does); a start date and a
review date. A plan is signed and locked like a note; a change is a *revision*: a new version,
prefilled with the signed one, with its own reason, author and time, signed in turn. The latest
signed version is the plan in effect; older versions stay, read-only, as its history.

Lifecycle::

    start_plan ──> draft v1 ──save_plan──> draft ──sign_plan──> signed v1 (locked for ever)
                                                                   │ revise_plan(reason)
                                                                   v
                                     draft v2 (revises v1) ──sign_plan──> signed v2 (in effect)

Goals keep their ``id`` across versions, so a progress note that addressed a goal (``note_goals``)
still points at it after a revision. A plan is *due for review* from ``REVIEW_NOTICE_DAYS`` before
its review date; a signed revision with a later review date clears it.

FHIR mapping (for exports): a version is a CarePlan (status active for the version in effect,
revoked/completed for older ones; ``replaces`` = ``revises``; period = start/review dates);
``Problem`` -> CarePlan.addresses (a Condition when ``diagnosis_ids`` names one); ``Goal`` -> Goal
(description = text, target.dueDate = ``target_on``, target.measure described by ``measure``;
lifecycle/achievement from ``status``); ``Objective`` -> a Goal with a ``target_on`` too, linked to
its goal; ``Intervention`` -> CarePlan.activity.detail (description, scheduledString =
``frequency``, goal = the goal it serves).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction, Outcome
from crypto.vault import Vault
from desktop.core.clients import load_client, require_active
from desktop.core.clinical.errors import (
    PlanIncompleteError,
    PlanNotFoundError,
    PlanSignedError,
    PlanStateError,
)
from desktop.core.clinical.plan_signature import SignedPlan, plan_signature
from desktop.core.errors import InvalidFieldError
from desktop.core.stamps import (
    date_from_text,
    date_to_text,
    from_iso,
    maybe_from_iso,
    new_id,
    to_iso,
)

CONTENT_FORMAT = 1
REVIEW_NOTICE_DAYS = 14  # a plan shows as due for review this long before its review date
DEFAULT_REVIEW_DAYS = 90  # a new plan's first review, from its start
MAX_TEXT = 2000
MAX_REASON = 500
MAX_ITEMS = 30  # problems per plan; goals per problem; objectives and interventions per goal


class GoalStatus(StrEnum):
    ACTIVE = "active"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"
    DISCONTINUED = "discontinued"


class PlanStatus(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"


class SignatureCheck(StrEnum):
    UNSIGNED = "unsigned"
    VALID = "valid"
    TAMPERED = "tampered"


class ReviewState(StrEnum):
    DUE_SOON = "due_soon"  # within REVIEW_NOTICE_DAYS of the review date
    OVERDUE = "overdue"  # the review date has passed


@dataclass(frozen=True)
class Objective:
    """A short-term, observable step toward a goal."""

    text: str
    target_on: date | None = None
    status: GoalStatus = GoalStatus.ACTIVE
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Intervention:
    """What the therapist does toward a goal, and how often (free text: "weekly CBT session")."""

    text: str
    frequency: str = ""
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Goal:
    """A measurable goal: what should change, how it will be measured, and by when."""

    text: str
    measure: str = ""  # how progress is measured, e.g. "PHQ-9 below 10 twice in a row"
    target_on: date | None = None
    status: GoalStatus = GoalStatus.ACTIVE
    objectives: tuple[Objective, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class Problem:
    """A problem the plan addresses, optionally tied to diagnoses on the record."""

    text: str
    goals: tuple[Goal, ...] = ()
    diagnosis_ids: tuple[str, ...] = ()
    id: str = field(default_factory=new_id)


@dataclass(frozen=True)
class PlanContent:
    """Everything a plan version says (what is signed, with the version's identity)."""

    problems: tuple[Problem, ...] = ()
    start_on: date | None = None
    review_on: date | None = None

    @property
    def goals(self) -> tuple[Goal, ...]:
        return tuple(g for p in self.problems for g in p.goals)


@dataclass(frozen=True)
class PlanSummary:
    """A plan version in a list or a history: no content."""

    id: str
    client_id: str
    version: int
    revises: str | None
    reason: str
    status: PlanStatus
    author: str
    start_on: date | None
    review_on: date | None
    created_at: datetime
    updated_at: datetime
    signed_at: datetime | None


@dataclass(frozen=True)
class GoalProgress:
    """How often progress notes said they addressed a goal, and the latest of them."""

    notes: int
    last_at: datetime | None


@dataclass(frozen=True)
class TreatmentPlan(PlanSummary):
    content: PlanContent
    signature: str | None
    signature_check: SignatureCheck
    history: tuple[PlanSummary, ...]  # every version of the client's plan, oldest first
    progress: dict[str, GoalProgress]  # goal id -> notes that addressed it


@dataclass(frozen=True)
class PlanReview:
    """A plan in effect whose review is due (for the client page and the calendar)."""

    plan_id: str
    client_id: str
    client_name: str
    version: int
    review_on: date
    state: ReviewState


# -- content as canonical JSON ---------------------------------------------------------------
def _check_text(text: str, what: str, *, limit: int = MAX_TEXT) -> str:
    if not isinstance(text, str):
        raise InvalidFieldError(f"{what} must be text")
    if len(text) > limit:
        raise InvalidFieldError(f"{what} is longer than {limit} characters")
    return text.strip()


def _check_count(items: Sequence[object], what: str) -> None:
    if len(items) > MAX_ITEMS:
        raise InvalidFieldError(f"a plan holds at most {MAX_ITEMS} {what}")


def _check_id(value: str) -> str:
    if not (isinstance(value, str) and 1 <= len(value) <= 64 and value.isalnum()):
        raise InvalidFieldError("an item of the plan has a malformed id")
    return value


def encode_content(content: PlanContent) -> str:
    """Canonical JSON (sorted keys, no spaces, UTF-8): the form that is stored and signed."""
    _check_count(content.problems, "problems")
    seen: set[str] = set()

    def unique(value: str) -> str:
        value = _check_id(value)
        if value in seen:
            raise InvalidFieldError("two items of the plan share an id")
        seen.add(value)
        return value

    problems = []
    for p in content.problems:
        _check_count(p.goals, "goals per problem")
        goals = []
        for g in p.goals:
            _check_count(g.objectives, "objectives per goal")
            _check_count(g.interventions, "interventions per goal")
            goals.append(
                {
                    "id": unique(g.id),
                    "text": _check_text(g.text, "a goal"),
                    "measure": _check_text(g.measure, "how a goal is measured"),
                    "target_on": date_to_text(g.target_on),
                    "status": str(GoalStatus(g.status)),
                    "objectives": [
                        {
                            "id": unique(o.id),
                            "text": _check_text(o.text, "an objective"),
                            "target_on": date_to_text(o.target_on),
                            "status": str(GoalStatus(o.status)),
                        }
                        for o in g.objectives
                    ],
                    "interventions": [
                        {
                            "id": unique(i.id),
                            "text": _check_text(i.text, "an intervention"),
                            "frequency": _check_text(i.frequency, "a frequency", limit=200),
                        }
                        for i in g.interventions
                    ],
                }
            )
        problems.append(
            {
                "id": unique(p.id),
                "text": _check_text(p.text, "a problem"),
                "diagnosis_ids": [_check_id(d) for d in p.diagnosis_ids],
                "goals": goals,
            }
        )
    document = {
        "format": CONTENT_FORMAT,
        "start_on": date_to_text(content.start_on),
        "review_on": date_to_text(content.review_on),
        "problems": problems,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_content(text: str) -> PlanContent:
    document = json.loads(text)
    if document.get("format") != CONTENT_FORMAT:
        raise InvalidFieldError("this treatment plan was written by a newer Quietroom")
    return PlanContent(
        problems=tuple(
            Problem(
                text=p["text"],
                diagnosis_ids=tuple(p["diagnosis_ids"]),
                id=p["id"],
                goals=tuple(
                    Goal(
                        text=g["text"],
                        measure=g["measure"],
                        target_on=date_from_text(g["target_on"]),
                        status=GoalStatus(g["status"]),
                        id=g["id"],
                        objectives=tuple(
                            Objective(
                                o["text"],
                                date_from_text(o["target_on"]),
                                GoalStatus(o["status"]),
                                o["id"],
                            )
                            for o in g["objectives"]
                        ),
                        interventions=tuple(
                            Intervention(i["text"], i["frequency"], i["id"])
                            for i in g["interventions"]
                        ),
                    )
                    for g in p["goals"]
                ),
            )
            for p in document["problems"]
        ),
        start_on=date_from_text(document["start_on"]),
        review_on=date_from_text(document["review_on"]),
    )


def search_text(content: PlanContent) -> str:
    """What the search index holds for a plan: every problem, goal, objective and intervention."""
    parts: list[str] = []
    for p in content.problems:
        parts.append(p.text)
        for g in p.goals:
            parts += [g.text, g.measure]
            parts += [o.text for o in g.objectives]
            parts += [i.text for i in g.interventions]
    return "\n".join(t for t in parts if t)


def missing_for_signature(content: PlanContent) -> list[str]:
    """What keeps a draft from being signed, in the therapist's words ([] when complete)."""
    missing: list[str] = []
    if not content.problems:
        missing.append("at least one problem")
    if content.start_on is None:
        missing.append("a start date")
    if content.review_on is None:
        missing.append("a review date")
    elif content.start_on is not None and content.review_on <= content.start_on:
        missing.append("a review date after the start date")
    for n, p in enumerate(content.problems, 1):
        if not p.text:
            missing.append(f"the wording of problem {n}")
        if not p.goals:
            missing.append(f"a goal for problem {n}")
        for m, g in enumerate(p.goals, 1):
            name = f"goal {n}.{m}"
            if not g.text:
                missing.append(f"the wording of {name}")
            if not g.measure:
                missing.append(f"how {name} will be measured")
            if g.target_on is None:
                missing.append(f"a target date for {name}")
            if not g.objectives and not g.interventions:
                missing.append(f"an objective or an intervention for {name}")
            missing += [
                f"the wording of an objective of {name}" for o in g.objectives if not o.text
            ]
            missing += [
                f"the wording of an intervention for {name}" for i in g.interventions if not i.text
            ]
    if content.problems and not any(g.interventions for g in content.goals):
        missing.append("at least one intervention")
    return missing


# -- rows ------------------------------------------------------------------------------------
_SUMMARY = (
    "id, client_id, version, revises, reason, status, author, start_on, review_on, created_at,"
    " updated_at, signed_at"
)
_FULL = _SUMMARY + ", content, signature"


def _summary(row: Sequence[Any]) -> PlanSummary:
    return PlanSummary(
        row[0],
        row[1],
        int(row[2]),
        row[3],
        row[4],
        PlanStatus(row[5]),
        row[6],
        date_from_text(row[7]),
        date_from_text(row[8]),
        from_iso(row[9]),
        from_iso(row[10]),
        maybe_from_iso(row[11]),
    )


def versions_of(vault: Vault, client_id: str) -> tuple[PlanSummary, ...]:
    """Every version of the client's plan, oldest first (unaudited helper; callers audit)."""
    rows = vault.query(
        f"SELECT {_SUMMARY} FROM treatment_plans WHERE client_id = ? ORDER BY version",  # noqa: S608 (constant SQL)
        (client_id,),
    )
    return tuple(_summary(r) for r in rows)


def in_effect(history: Sequence[PlanSummary]) -> PlanSummary | None:
    """The latest signed version: the plan in effect."""
    signed = [v for v in history if v.status is PlanStatus.SIGNED]
    return signed[-1] if signed else None


def draft_of(history: Sequence[PlanSummary]) -> PlanSummary | None:
    return next((v for v in history if v.status is PlanStatus.DRAFT), None)


def _signed(row: Sequence[Any], author: str, signed_at: str) -> SignedPlan:
    return SignedPlan(
        plan_id=row[0],
        client_id=row[1],
        version=int(row[2]),
        revises=row[3],
        reason=row[4],
        content=row[12],
        author=author,
        signed_at=signed_at,
    )


def _check_signature(vault: Vault, row: Sequence[Any]) -> SignatureCheck:
    if row[5] != PlanStatus.SIGNED:
        return SignatureCheck.UNSIGNED
    if plan_signature(_signed(row, row[6], row[11])) != row[13]:
        return SignatureCheck.TAMPERED
    # The signing entry in the keyed audit chain is the anchor (as for notes).
    for (details,) in vault.query(
        "SELECT details FROM audit_log WHERE object_type = 'treatment_plan' AND object_id = ?"
        " AND action = ?",
        (row[0], str(AuditAction.TREATMENT_PLAN_SIGNED)),
    ):
        if json.loads(details).get("signature") != row[13]:
            return SignatureCheck.TAMPERED
    return SignatureCheck.VALID


def _progress(vault: Vault, content: PlanContent) -> dict[str, GoalProgress]:
    ids = [g.id for g in content.goals]
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    sql = (
        "SELECT g.goal_id, count(*), max(n.created_at) FROM note_goals g"  # noqa: S608 (placeholders only)
        f" JOIN notes n ON n.id = g.note_id WHERE g.goal_id IN ({marks}) GROUP BY g.goal_id"
    )
    rows = vault.query(sql, ids)
    found = {r[0]: GoalProgress(int(r[1]), maybe_from_iso(r[2])) for r in rows}
    return {i: found.get(i, GoalProgress(0, None)) for i in ids}


def read_plan(vault: Vault, plan_id: str) -> TreatmentPlan:
    """The version with its signature checked, its history and goal progress; unaudited."""
    rows = vault.query(f"SELECT {_FULL} FROM treatment_plans WHERE id = ?", (plan_id,))  # noqa: S608 (constant SQL)
    if not rows:
        raise PlanNotFoundError(f"no treatment plan {plan_id}")
    row = rows[0]
    summary = _summary(row)
    content = decode_content(row[12])
    return TreatmentPlan(
        **vars(summary),
        content=content,
        signature=row[13],
        signature_check=_check_signature(vault, row),
        history=versions_of(vault, summary.client_id),
        progress=_progress(vault, content),
    )


def open_plan(vault: Vault, plan_id: str) -> TreatmentPlan:
    """Read a version for display, audited (and a tampered signature audited as a failure)."""
    plan = read_plan(vault, plan_id)
    with vault.transaction() as tx:
        tx.audit(
            AuditAction.TREATMENT_PLAN_OPENED,
            object_type="treatment_plan",
            object_id=plan.id,
            details={
                "client_id": plan.client_id,
                "version": plan.version,
                "signature": str(plan.signature_check),
            },
        )
        if plan.signature_check is SignatureCheck.TAMPERED:
            tx.audit(
                AuditAction.TREATMENT_PLAN_SIGNATURE_MISMATCH,
                object_type="treatment_plan",
                object_id=plan.id,
                outcome=Outcome.FAILURE,
                details={"client_id": plan.client_id},
            )
    return plan


def _insert(
    vault: Vault,
    client_id: str,
    version: int,
    revises: str | None,
    reason: str,
    content: PlanContent,
    author: str,
) -> str:
    plan_id = new_id()
    now = to_iso(vault.options.clock())
    encoded = encode_content(content)
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO treatment_plans(id, client_id, version, revises, reason, content,"
            " search_text, start_on, review_on, status, author, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', ?, ?, ?)",
            (plan_id, client_id, version, revises, reason, encoded, search_text(content),
             date_to_text(content.start_on), date_to_text(content.review_on), author, now, now),
        )  # fmt: skip
        details: dict[str, str | int | bool | None] = {"client_id": client_id, "version": version}
        if revises is not None:
            details["revises"] = revises
        tx.audit(
            AuditAction.TREATMENT_PLAN_REVISED if revises else AuditAction.TREATMENT_PLAN_CREATED,
            object_type="treatment_plan",
            object_id=plan_id,
            details=details,
        )
    return plan_id


def start_plan(vault: Vault, client_id: str, *, author: str, today: date) -> TreatmentPlan:
    """The client's first plan, as an empty draft starting today, reviewed in 90 days."""
    require_active(vault, client_id)
    if versions_of(vault, client_id):
        raise PlanStateError("this client already has a treatment plan; revise it instead")
    content = PlanContent(start_on=today, review_on=today + timedelta(days=DEFAULT_REVIEW_DAYS))
    return read_plan(vault, _insert(vault, client_id, 1, None, "", content, author))


def revise_plan(vault: Vault, plan_id: str, reason: str, *, author: str) -> TreatmentPlan:
    """A new draft version of the plan in effect, prefilled with it, for a stated reason."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidFieldError(f"give a reason of 1-{MAX_REASON} characters")
    current = read_plan(vault, plan_id)
    require_active(vault, current.client_id)
    if current.status is not PlanStatus.SIGNED:
        raise PlanStateError("only a signed plan can be revised; edit the draft instead")
    if draft_of(current.history) is not None:
        raise PlanStateError("a revision of this plan is already in progress")
    latest = in_effect(current.history)
    if latest is None or latest.id != plan_id:
        raise PlanStateError("revise the plan in effect (the latest signed version)")
    new = _insert(vault, current.client_id, current.version + 1, plan_id, reason,
                  current.content, author)  # fmt: skip
    return read_plan(vault, new)


def save_plan(vault: Vault, plan_id: str, content: PlanContent) -> TreatmentPlan:
    """Replace a draft's content (each save audited as ``treatment_plan.edited``)."""
    encoded = encode_content(content)
    rows = vault.query("SELECT client_id, status FROM treatment_plans WHERE id = ?", (plan_id,))
    if not rows:
        raise PlanNotFoundError(f"no treatment plan {plan_id}")
    client_id, status = rows[0]
    if status == PlanStatus.SIGNED:
        raise PlanSignedError("this version is signed; start a revision to change the plan")
    require_active(vault, client_id)
    with vault.transaction() as tx:
        cursor = tx.execute(
            "UPDATE treatment_plans SET content = ?, search_text = ?, start_on = ?,"
            " review_on = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
            (encoded, search_text(content), date_to_text(content.start_on),
             date_to_text(content.review_on), to_iso(vault.options.clock()), plan_id),
        )  # fmt: skip
        if cursor.rowcount != 1:
            raise PlanSignedError("this version is signed; start a revision to change the plan")
        tx.audit(
            AuditAction.TREATMENT_PLAN_EDITED,
            object_type="treatment_plan",
            object_id=plan_id,
            details={"client_id": client_id},
        )
    return read_plan(vault, plan_id)


def sign_plan(vault: Vault, plan_id: str, *, author: str) -> TreatmentPlan:
    """Sign and lock a draft that is complete (``missing_for_signature`` is empty)."""
    plan = read_plan(vault, plan_id)
    if plan.status is PlanStatus.SIGNED:
        raise PlanSignedError("this version is already signed")
    require_active(vault, plan.client_id)
    missing = missing_for_signature(plan.content)
    if missing:
        raise PlanIncompleteError("before signing, add " + "; ".join(missing))
    signed_at = to_iso(vault.options.clock())
    encoded = encode_content(plan.content)
    signature = plan_signature(
        SignedPlan(plan.id, plan.client_id, plan.version, plan.revises, plan.reason, encoded,
                   author, signed_at)
    )  # fmt: skip
    with vault.transaction() as tx:
        cursor = tx.execute(
            "UPDATE treatment_plans SET content = ?, status = 'signed', author = ?,"
            " signed_at = ?, signature = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
            (encoded, author, signed_at, signature, signed_at, plan_id),
        )
        if cursor.rowcount != 1:
            raise PlanSignedError("this version is already signed")
        tx.audit(
            AuditAction.TREATMENT_PLAN_SIGNED,
            object_type="treatment_plan",
            object_id=plan_id,
            details={"client_id": plan.client_id, "version": plan.version, "signature": signature},
        )
    return read_plan(vault, plan_id)


def discard_plan_draft(vault: Vault, plan_id: str) -> None:
    plan = read_plan(vault, plan_id)
    if plan.status is PlanStatus.SIGNED:
        raise PlanSignedError("a signed plan cannot be discarded")
    with vault.transaction() as tx:
        tx.execute("DELETE FROM note_goals WHERE plan_id = ?", (plan_id,))
        tx.execute("DELETE FROM treatment_plans WHERE id = ? AND status = 'draft'", (plan_id,))
        tx.audit(
            AuditAction.TREATMENT_PLAN_DRAFT_DISCARDED,
            object_type="treatment_plan",
            object_id=plan_id,
            details={"client_id": plan.client_id, "version": plan.version},
        )


def review_state(review_on: date | None, today: date) -> ReviewState | None:
    if review_on is None:
        return None
    if today > review_on:
        return ReviewState.OVERDUE
    if today >= review_on - timedelta(days=REVIEW_NOTICE_DAYS):
        return ReviewState.DUE_SOON
    return None


def review_of(history: Sequence[PlanSummary], client_name: str, today: date) -> PlanReview | None:
    current = in_effect(history)
    if current is None or current.review_on is None:
        return None
    state = review_state(current.review_on, today)
    if state is None:
        return None
    return PlanReview(current.id, current.client_id, client_name, current.version,
                      current.review_on, state)  # fmt: skip


def reviews_due(vault: Vault, today: date, until: date) -> tuple[PlanReview, ...]:
    """Plans in effect (latest signed version, client not archived) whose review date falls on
    or before ``until``, earliest first; audited as ``treatment_plan.reviews_listed``."""
    rows = vault.query(
        "SELECT p.id, p.client_id, c.name, p.version, p.review_on FROM treatment_plans p"
        " JOIN clients c ON c.id = p.client_id"
        " WHERE p.status = 'signed' AND c.archived_at IS NULL AND p.review_on <= ?"
        " AND p.version = (SELECT max(version) FROM treatment_plans q"
        "  WHERE q.client_id = p.client_id AND q.status = 'signed')"
        " ORDER BY p.review_on, c.name",
        (until.isoformat(),),
    )
    found = []
    for plan_id, client_id, name, version, review_text in rows:
        review_on = date.fromisoformat(review_text)
        state = review_state(review_on, today) or ReviewState.DUE_SOON
        found.append(PlanReview(plan_id, client_id, name, int(version), review_on, state))
    vault.audit(
        AuditAction.TREATMENT_PLAN_REVIEWS_LISTED,
        details={"count": len(found), "until": until.isoformat()},
    )
    return tuple(found)


def client_plan_history(vault: Vault, client_id: str) -> tuple[PlanSummary, ...]:
    load_client(vault, client_id)
    return versions_of(vault, client_id)


def with_review_date(content: PlanContent, review_on: date) -> PlanContent:
    return replace(content, review_on=review_on)
