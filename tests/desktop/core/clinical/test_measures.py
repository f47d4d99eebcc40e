"""Measures given to a client: recorded and scored by the domain, never changed, flagged answers
told at once and kept until seen, the history with change markers, the therapist's own measures,
and the printed document; every step audited without the answers or the score."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crypto.database import IntegrityError
from desktop.core.clients import DestructionReason
from desktop.core.clinical.change import Direction
from desktop.core.clinical.errors import MeasureNotFoundError
from desktop.core.clinical.instruments import Band, Choice, Instrument, Item
from desktop.core.clinical.measures import FlagNotice, ResultSource
from desktop.core.clinical.scoring import IncompleteAnswersError
from desktop.core.disclosure import DisclosureKind
from desktop.core.errors import ClientArchivedError, InvalidFieldError
from desktop.core.practice import Practice

Entries = Callable[[], list[tuple[str, str, str]]]


def phq9(values: list[int]) -> dict[str, int]:
    return {str(n): v for n, v in enumerate(values, 1)}


def test_record_a_phq9_and_read_it_back(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    new_entries()
    result = clinical.record_measure(
        client_id,
        "phq9",
        phq9([1, 2, 1, 3, 0, 1, 2, 0, 0]),
        extras={"difficulty": "Very difficult"},
    )
    assert (result.total, result.band, result.flagged) == (10, "Moderate", False)
    assert result.source is ResultSource.THERAPIST and result.entered_by == "user:test"
    assert result.extras == {"difficulty": "Very difficult"}
    assert new_entries() == [("measure.recorded", "measure_result", result.id)]
    details = next(e for e in practice.audit_entries() if e.action == "measure.recorded")
    assert details.details_dict() == {"client_id": client_id, "measure": "phq9", "version": 1,
                                      "source": "therapist", "flagged": False}  # fmt: skip
    assert clinical.list_measure_results(client_id) == (result,)
    assert new_entries() == [("measure.listed", "client", client_id)]
    # the database keeps it as recorded
    with pytest.raises(IntegrityError, match="never changes"), practice._vault.transaction() as tx:
        tx.execute("UPDATE measure_results SET total = 3 WHERE id = ?", (result.id,))
    with pytest.raises(IntegrityError, match="kept"), practice._vault.transaction() as tx:
        tx.execute("DELETE FROM measure_results WHERE id = ?", (result.id,))


def test_the_score_shown_is_computed_from_the_answers(practice: Practice, client_id: str) -> None:
    """Even a total column changed behind the app's back is not what is shown."""
    result = practice.clinical.record_measure(client_id, "gad7", phq9([3, 3, 2, 2, 1, 1, 0]))
    with practice._vault.transaction() as tx:
        tx.execute("DROP TRIGGER measure_results_frozen")
        tx.execute("UPDATE measure_results SET total = 2, band = 'Minimal' WHERE id = ?",
                   (result.id,))  # fmt: skip
    (again,) = practice.clinical.list_measure_results(client_id)
    assert (again.total, again.band) == (12, "Moderate")


def test_bad_answers_write_nothing(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    new_entries()
    with pytest.raises(IncompleteAnswersError, match="item 9 is not answered"):
        clinical.record_measure(client_id, "phq9", phq9([0] * 8))
    with pytest.raises(InvalidFieldError, match="no answer"):
        clinical.record_measure(client_id, "phq9", phq9([0] * 9), extras={"difficulty": "Awful"})
    with pytest.raises(InvalidFieldError, match="future"):
        clinical.record_measure(client_id, "phq9", phq9([0] * 9),
                                administered_at=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    with pytest.raises(MeasureNotFoundError):
        clinical.record_measure(client_id, "bdi", phq9([0] * 9))
    practice.archive_client(client_id)
    new_entries()
    with pytest.raises(ClientArchivedError):
        clinical.record_measure(client_id, "phq9", phq9([0] * 9))
    assert new_entries() == []
    assert practice._vault.query("SELECT count(*) FROM measure_results") == [(0,)]


def test_item_9_reaches_the_therapist_at_once_and_stays_until_seen(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    heard: list[FlagNotice] = []
    remove = clinical.add_flag_listener(heard.append)
    clinical.add_flag_listener(lambda _: (_ for _ in ()).throw(RuntimeError("broken")))
    clinical.record_measure(client_id, "phq9", phq9([2, 2, 2, 2, 2, 2, 2, 2, 0]))
    assert heard == []  # 16, moderately severe, but item 9 "Not at all": no flag
    flagged = clinical.record_measure(
        client_id, "phq9", phq9([0, 1, 0, 0, 0, 0, 0, 0, 1]), source=ResultSource.MAILBOX
    )
    assert flagged.flagged and flagged.band == "Minimal"  # low total, yet flagged
    (notice,) = heard  # told at once, whatever the total
    assert (notice.result_id, notice.client_name, notice.measure_name) == (
        flagged.id, "Avery Applewood", "PHQ-9")  # fmt: skip
    assert notice.critical[0].label == "Several days" and notice.source is ResultSource.MAILBOX
    new_entries()
    assert [n.result_id for n in clinical.unacknowledged_flags()] == [flagged.id]
    assert new_entries() == [("measure.flags_listed", "", "")]
    # the flag outlives a lock: it is in the vault, not in memory
    clinical.acknowledge_flag(flagged.id)
    assert new_entries()[-1] == ("measure.flag_acknowledged", "measure_result", flagged.id)
    assert clinical.unacknowledged_flags() == ()
    remove()
    clinical.record_measure(client_id, "phq9", phq9([0, 0, 0, 0, 0, 0, 0, 0, 3]))
    assert len(heard) == 1  # removed listeners hear nothing more
    assert len(clinical.unacknowledged_flags()) == 1
    with pytest.raises(InvalidFieldError, match="no flagged answer"):
        clinical.acknowledge_flag(clinical.list_measure_results(client_id)[-1].id)


def test_a_flag_survives_lock_and_unlock(
    practice: Practice, client_id: str, reopen: Callable[[Practice], Practice]
) -> None:
    practice.clinical.record_measure(client_id, "phq9", phq9([0] * 8 + [2]))
    again = reopen(practice)
    assert [n.critical[0].value for n in again.clinical.unacknowledged_flags()] == [2]
    again.lock()


def test_the_history_marks_reliable_and_clinically_significant_change(
    practice: Practice, client_id: str, clock: object, new_entries: Entries
) -> None:
    clinical = practice.clinical
    scores = [[2, 2, 2, 2, 2, 2, 2, 2, 0],  # 16
              [2, 2, 2, 2, 2, 1, 1, 1, 0],  # 13: -3, no reliable change
              [1, 1, 1, 1, 1, 1, 1, 1, 0],  # 8: -8, reliable, 16 >= 10 > 8: significant
              [3, 3, 3, 3, 3, 2, 2, 1, 0]]  # 20: +4, reliable deterioration  # fmt: skip
    for values in scores:
        clinical.record_measure(client_id, "phq9", phq9(values))
        clock.advance(7 * 86400)  # type: ignore[attr-defined]
    wrong = clinical.record_measure(client_id, "phq9", phq9([0] * 9))
    clinical.void_measure_result(wrong.id, "Answers entered for the wrong client")
    new_entries()
    history = clinical.measure_history(client_id, "phq9")
    assert new_entries() == [("measure.viewed", "client", client_id)]
    assert [p.result.total for p in history.points] == [16, 13, 8, 20]
    assert [r.id for r in history.voided] == [wrong.id]
    changes = [p.change for p in history.points]
    assert changes[0] is None
    assert [c.direction for c in changes[1:] if c] == [
        Direction.NO_RELIABLE_CHANGE, Direction.IMPROVED, Direction.DETERIORATED]  # fmt: skip
    assert [c.clinically_significant for c in changes[1:] if c] == [False, True, False]
    with pytest.raises(InvalidFieldError, match="already"):
        clinical.void_measure_result(wrong.id, "again")


def sleep_scale(key: str = "") -> Instrument:
    return Instrument(
        key=key,
        version=1,
        name="Sleep",
        title="Sleep this week",
        instructions="How often last week:",
        choices=(Choice(0, "Never"), Choice(1, "Sometimes"), Choice(2, "Often")),
        items=(Item("a", "Trouble falling asleep"), Item("b", "Woke up too early")),
        bands=(Band(0, 1, "Sleeping well"), Band(2, 4, "Sleeping poorly")),
    )


def test_a_measure_of_ones_own_keeps_its_versions(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    new_entries()
    first = clinical.save_measure(sleep_scale())
    assert first.key.startswith("custom:") and first.version == 1
    assert new_entries() == [("measure.defined", "measure", first.key)]
    assert [m.name for m in clinical.measures()] == ["PHQ-9", "GAD-7", "PCL-5", "Sleep"]
    old = clinical.record_measure(client_id, first.key, {"a": 2, "b": 1})
    assert (old.total, old.band) == (3, "Sleeping poorly")
    items = (Item("a", "Took long"), Item("b", "Woke up too early"), Item("c", "Tired by day"))
    bands = (Band(0, 2, "Sleeping well"), Band(3, 6, "Sleeping poorly"))
    reworded = replace(first, items=items, bands=bands)
    second = clinical.save_measure(reworded)
    assert (second.key, second.version) == (first.key, 2)
    new = clinical.record_measure(client_id, first.key, {"a": 1, "b": 1, "c": 0})
    # the old result is still scored with the version it was given with
    history = clinical.measure_history(client_id, first.key)
    assert [(p.result.measure_version, p.result.total, p.result.band) for p in history.points] == [
        (1, 3, "Sleeping poorly"), (2, 2, "Sleeping well")]  # fmt: skip
    assert new.id == history.points[1].result.id
    with pytest.raises(InvalidFieldError, match="built-in"):
        clinical.save_measure(replace(sleep_scale(), key="phq9"))
    with pytest.raises(IntegrityError, match="never changes"), practice._vault.transaction() as tx:
        tx.execute("UPDATE measure_definitions SET definition = '{}'")
    clinical.archive_measure(first.key)
    assert [m.name for m in clinical.measures()] == ["PHQ-9", "GAD-7", "PCL-5"]
    assert clinical.measure(first.key).version == 2  # still readable for its results


def test_printing_a_measure_is_a_disclosure(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    clinical.record_measure(client_id, "phq9", phq9([2] * 8 + [0]))
    clinical.record_measure(client_id, "phq9", phq9([0] * 8 + [1]))
    new_entries()
    with pytest.raises(InvalidFieldError, match="recipient"):
        clinical.measure_document(client_id, "phq9", DisclosureKind.PRINT, recipient=" ",
                                  purpose="x", day_text=lambda d: d.date().isoformat())  # fmt: skip
    assert new_entries() == []
    document, history = clinical.measure_document(
        client_id, "phq9", DisclosureKind.EXPORT, recipient="Dr Jones (GP)",
        purpose="Continuity of care", day_text=lambda d: f"{d:%d %B %Y}")  # fmt: skip
    assert document.title == "PHQ-9 — Avery Applewood"
    text = "\n".join(f"{s.heading}\n{s.text}" for s in document.sections)
    assert "05 January 2026: 16 (Moderately severe)" in text
    assert "1 (Minimal); reliable improvement, clinically significant; flagged answer" in text
    assert "more than 3.9 points" in text and "No permission required" in text
    assert len(history.points) == 2
    entry = list(practice.audit_entries())[-1]
    assert (entry.action, entry.details_dict()["recipient"]) == ("measure.exported",
                                                                 "Dr Jones (GP)")  # fmt: skip


def test_the_retention_action_takes_the_measures_along(
    practice: Practice, client_id: str, clock: object
) -> None:
    clinical = practice.clinical
    flagged = clinical.record_measure(client_id, "phq9", phq9([0] * 8 + [1]))
    clinical.acknowledge_flag(flagged.id)
    wrong = clinical.record_measure(client_id, "gad7", phq9([0] * 7))
    clinical.void_measure_result(wrong.id, "test")
    practice.archive_client(client_id)
    clock.advance(8 * 366 * 86400)  # type: ignore[attr-defined]
    practice.destroy_client(client_id, confirm_name="Avery Applewood",
                            reason=DestructionReason.RETENTION_PERIOD_ENDED)  # fmt: skip
    for table in ("measure_results", "measure_voids", "measure_flag_acks"):
        assert practice._vault.query(f"SELECT count(*) FROM {table}") == [(0,)], table


def test_answers_are_never_in_the_audit_log(practice: Practice, client_id: str) -> None:
    clinical = practice.clinical
    result = clinical.record_measure(client_id, "phq9", phq9([3] * 9))
    clinical.measure_history(client_id, "phq9")
    clinical.acknowledge_flag(result.id)
    details = [e.details_dict() for e in practice.audit_entries()]
    values = [v for d in details for v in d.values()]  # ids are random hex: "27" may be in one
    assert not {27, "27"} & {v for v in values if isinstance(v, int | float | str)}
    logged = json.dumps(details)
    assert "Severe" not in logged and "Nearly every day" not in logged
