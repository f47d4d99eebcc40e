"""Which goals of the treatment plan a progress note addressed. Chosen while the note is a draft,
from the goals of the client's plan in effect (the latest signed version); fixed once the note is
signed (the database refuses a change). Goals keep their ids across plan revisions, so a link
made under version 1 still names the same goal under version 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clinical.errors import GoalLinkError
from desktop.core.clinical.plans import Goal, in_effect, read_plan, versions_of
from desktop.core.errors import NoteNotFoundError


@dataclass(frozen=True)
class NoteGoals:
    """The goals a note can address (the plan in effect) and those it does."""

    note_id: str
    plan_id: str | None  # None: the client has no signed plan yet
    plan_version: int | None
    goals: tuple[Goal, ...]
    addressed: frozenset[str]  # goal ids
    editable: bool  # the note is still a draft


def _note(vault: Vault, note_id: str) -> tuple[str, str, str]:
    rows = vault.query("SELECT client_id, status, compartment FROM notes WHERE id = ?", (note_id,))
    if not rows:
        raise NoteNotFoundError(f"no note {note_id}")
    client_id, status, compartment = rows[0]
    return str(client_id), str(status), str(compartment)


def _read(vault: Vault, note_id: str) -> NoteGoals:
    client_id, status, _ = _note(vault, note_id)
    addressed = frozenset(
        r[0] for r in vault.query("SELECT goal_id FROM note_goals WHERE note_id = ?", (note_id,))
    )
    current = in_effect(versions_of(vault, client_id))
    if current is None:
        return NoteGoals(note_id, None, None, (), addressed, status == "draft")
    plan = read_plan(vault, current.id)
    return NoteGoals(
        note_id, plan.id, plan.version, plan.content.goals, addressed, status == "draft"
    )


def note_goals(vault: Vault, note_id: str) -> NoteGoals:
    """Audited as ``treatment_plan.goals_listed`` (the note's id and client)."""
    found = _read(vault, note_id)
    client_id, _, _ = _note(vault, note_id)
    vault.audit(
        AuditAction.TREATMENT_PLAN_GOALS_LISTED,
        object_type="note",
        object_id=note_id,
        details={"client_id": client_id, "addressed": len(found.addressed)},
    )
    return found


def set_note_goals(vault: Vault, note_id: str, goal_ids: Iterable[str]) -> NoteGoals:
    """Replace the goals a draft progress note addressed (audited with their count)."""
    client_id, status, compartment = _note(vault, note_id)
    if status != "draft":
        raise GoalLinkError("the note is signed; the goals it addressed are part of it now")
    if compartment != "progress":
        raise GoalLinkError("goals are recorded on progress notes")
    wanted = set(goal_ids)
    current = in_effect(versions_of(vault, client_id))
    if current is None:
        if wanted:
            raise GoalLinkError("this client has no signed treatment plan yet")
        return _read(vault, note_id)
    plan = read_plan(vault, current.id)
    known = {g.id for g in plan.content.goals}
    if wanted - known:
        raise GoalLinkError("a chosen goal is not in the client's treatment plan in effect")
    with vault.transaction() as tx:
        tx.execute("DELETE FROM note_goals WHERE note_id = ?", (note_id,))
        tx.executemany(
            "INSERT INTO note_goals(note_id, goal_id, plan_id) VALUES (?, ?, ?)",
            [(note_id, goal_id, plan.id) for goal_id in sorted(wanted)],
        )
        tx.audit(
            AuditAction.NOTE_GOALS_ADDRESSED,
            object_type="note",
            object_id=note_id,
            details={"client_id": client_id, "plan_id": plan.id, "goals": len(wanted)},
        )
    return _read(vault, note_id)
