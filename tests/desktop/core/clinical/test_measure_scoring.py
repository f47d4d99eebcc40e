"""Each instrument scored against worked examples (item 9 included), and reliable and clinically
significant change against hand-computed cases (Jacobson & Truax 1991)."""

from __future__ import annotations

import math

import pytest

from desktop.core.clinical.change import (
    Direction,
    change_between,
    reliable_change_threshold,
    standard_error_of_difference,
)
from desktop.core.clinical.instruments import (
    Band,
    ChangeCriteria,
    Choice,
    Instrument,
    Item,
    Scoring,
    built_in,
    check_instrument,
)
from desktop.core.clinical.scoring import IncompleteAnswersError, score
from desktop.core.errors import InvalidFieldError

PHQ9, GAD7, PCL5 = built_in("phq9"), built_in("gad7"), built_in("pcl5")


def answers(values: list[int]) -> dict[str, int]:
    return {str(n): v for n, v in enumerate(values, 1)}


def test_the_shipped_wording() -> None:
    assert len(PHQ9.items) == 9 and len(GAD7.items) == 7 and len(PCL5.items) == 20
    assert PHQ9.instructions == (
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    assert PHQ9.items[8].text == (
        "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert [c.label for c in PHQ9.choices] == [
        "Not at all", "Several days", "More than half the days", "Nearly every day"]  # fmt: skip
    assert GAD7.items[6].text == "Feeling afraid, as if something awful might happen"
    assert PCL5.items[16].text == 'Being "superalert" or watchful or on guard?'
    assert [c.label for c in PCL5.choices] == [
        "Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely"]  # fmt: skip
    assert "No permission required" in PHQ9.notice and "National Center for PTSD" in PCL5.notice
    assert (PHQ9.min_score, PHQ9.max_score, PCL5.max_score) == (0, 27, 80)


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "Minimal"),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "Minimal"),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "Mild"),
        ([1, 2, 1, 3, 0, 1, 2, 0, 0], 10, "Moderate"),
        ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "Moderate"),
        ([2, 2, 2, 2, 2, 2, 2, 1, 0], 15, "Moderately severe"),
        ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, "Moderately severe"),
        ([3, 3, 3, 3, 3, 2, 2, 1, 0], 20, "Severe"),
        ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "Severe"),
    ],
)
def test_phq9_totals_and_bands(values: list[int], total: int, band: str) -> None:
    scored = score(PHQ9, answers(values))
    assert scored.total == total and scored.band is not None and scored.band.label == band


def test_phq9_item_9_is_flagged_from_several_days() -> None:
    quiet = score(PHQ9, answers([3, 3, 3, 3, 3, 3, 3, 3, 0]))  # 24, severe, item 9 "Not at all"
    assert quiet.total == 24 and not quiet.flagged
    for value, label in ((1, "Several days"), (2, "More than half the days"),
                         (3, "Nearly every day")):  # fmt: skip
        low = score(PHQ9, answers([0, 0, 0, 0, 0, 0, 0, 0, value]))
        assert low.flagged and low.band is not None and low.band.label == "Minimal"
        (critical,) = low.critical
        assert (critical.item_key, critical.value, critical.label) == ("9", value, label)
        assert critical.about == "thoughts of being better off dead or of self-harm"
    assert not score(GAD7, answers([3] * 7)).critical  # GAD-7 has no such item


@pytest.mark.parametrize(
    ("values", "total", "band"),
    [
        ([0, 1, 1, 1, 1, 0, 0], 4, "Minimal"),
        ([1, 1, 1, 1, 1, 0, 0], 5, "Mild"),
        ([3, 3, 2, 2, 1, 1, 0], 12, "Moderate"),
        ([3, 3, 3, 2, 2, 1, 1], 15, "Severe"),
        ([3, 3, 3, 3, 3, 3, 3], 21, "Severe"),
    ],
)
def test_gad7_totals_and_bands(values: list[int], total: int, band: str) -> None:
    scored = score(GAD7, answers(values))
    assert scored.total == total and scored.band is not None and scored.band.label == band


def test_pcl5_total_clusters_and_cutoff() -> None:
    values = [3, 2, 1, 3, 2,  3, 2,  0, 2, 3, 3, 1, 2, 2,  1, 0, 3, 3, 2, 2]  # fmt: skip
    scored = score(PCL5, answers(values))
    assert scored.total == 40
    assert scored.subscales == {"B": 11, "C": 5, "D": 13, "E": 11}
    assert scored.band is not None and scored.band.label == "Probable PTSD (33 or more)"
    assert score(PCL5, answers([1] * 12 + [2] * 8)).total == 28  # below 33
    assert score(PCL5, answers([1] * 12 + [2] * 8)).band.label == "Below the suggested cutoff"  # type: ignore[union-attr]


def test_incomplete_or_impossible_answers_are_refused() -> None:
    with pytest.raises(IncompleteAnswersError, match="items 8, 9 are not answered"):
        score(PHQ9, answers([0] * 7))
    with pytest.raises(InvalidFieldError, match="no answer 4"):
        score(PHQ9, answers([0] * 8 + [4]))
    with pytest.raises(InvalidFieldError, match="no item 10"):
        score(PHQ9, answers([0] * 10))
    with pytest.raises(InvalidFieldError):
        score(PHQ9, {**answers([0] * 8), "9": True})  # type: ignore[dict-item]


def test_reliable_change_by_hand() -> None:
    """PHQ-9: r = 0.84, SD = 3.5. SE = 3.5 * sqrt(0.16) = 1.4; Sdiff = sqrt(2 * 1.4**2) =
    1.979899; a reliable change needs |x2 - x1| > 1.96 * 1.979899 = 3.8806 points."""
    criteria = PHQ9.change
    assert criteria is not None
    assert standard_error_of_difference(criteria) == pytest.approx(1.979899, abs=1e-6)
    assert reliable_change_threshold(criteria) == pytest.approx(3.880602, abs=1e-6)

    def change(before: float, after: float):  # type: ignore[no-untyped-def]
        return change_between(criteria, before, after, higher_is_worse=True)

    improved = change(18, 13)  # -5 / 1.979899 = -2.5254
    assert improved.rci == pytest.approx(-2.525381, abs=1e-6)
    assert improved.direction is Direction.IMPROVED and not improved.clinically_significant
    recovered = change(18, 8)  # -10 / 1.979899 = -5.0508, and 18 >= 10 > 8
    assert recovered.direction is Direction.IMPROVED and recovered.clinically_significant
    assert change(18, 15).direction is Direction.NO_RELIABLE_CHANGE  # -3: RCI -1.515
    assert change(16, 12).direction is Direction.IMPROVED  # -4: RCI -2.020, reliable
    assert not change(16, 12).clinically_significant  # still 10 or more
    assert change(11, 7).clinically_significant  # -4, and 11 >= 10 > 7
    assert not change(11, 8).clinically_significant  # crosses 10, but -3 is not reliable
    assert change(10, 5).clinically_significant  # 10 is in the clinical range
    assert not change(14, 10).clinically_significant  # ... and so is a result of 10
    worse = change(9, 13)  # +4: RCI 2.020
    assert worse.direction is Direction.DETERIORATED and not worse.clinically_significant
    # GAD-7: r = 0.83, SD = 3.5; Sdiff = 3.5 * sqrt(2 * 0.17) = 2.040833: 4 points is RCI 1.95998
    gad = GAD7.change
    assert gad is not None
    four = change_between(gad, 14, 10, higher_is_worse=True)
    assert four.rci == pytest.approx(-4 / (3.5 * math.sqrt(0.34)), abs=1e-9)
    assert four.direction is Direction.NO_RELIABLE_CHANGE
    assert change_between(gad, 14, 9, higher_is_worse=True).clinically_significant
    # PCL-5: r = 0.82, SD = 12.40: threshold 1.96 * 12.4 * sqrt(0.36) = 14.58 points
    assert PCL5.change is not None
    assert reliable_change_threshold(PCL5.change) == pytest.approx(14.5824, abs=1e-4)
    # a measure where higher is better: the signs turn round
    up = ChangeCriteria(0.84, 3.5, cutoff=10)
    assert change_between(up, 6, 12, higher_is_worse=False).clinically_significant
    assert change_between(up, 12, 6, higher_is_worse=False).direction is Direction.DETERIORATED


def test_the_figures_come_from_the_cited_sources() -> None:
    for instrument, r, sd, cutoff in ((PHQ9, 0.84, 3.5, 10), (GAD7, 0.83, 3.5, 10),
                                      (PCL5, 0.82, 12.40, 33)):  # fmt: skip
        c = instrument.change
        assert c is not None and (c.reliability, c.sd, c.cutoff) == (r, sd, cutoff)
        assert c.reliability_source and c.sd_source and c.cutoff_source


def own(**changes: object) -> Instrument:
    base = Instrument(
        key="",
        version=1,
        name="Sleep",
        title="Sleep quality",
        instructions="Last week:",
        choices=(Choice(0, "Never"), Choice(1, "Sometimes"), Choice(2, "Often")),
        items=(Item("a", "Trouble falling asleep"), Item("b", "Waking too early")),
        bands=(Band(0, 1, "Fine"), Band(2, 4, "Poor")),
    )
    return Instrument(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_a_measure_of_ones_own_is_checked() -> None:
    check_instrument(own())
    assert score(own(), {"a": 2, "b": 1}).total == 3
    mean = own(scoring=Scoring.MEAN, bands=(Band(0, 0.99, "Fine"), Band(1, 2, "Poor")))
    assert score(check_instrument(mean), {"a": 2, "b": 1}).total == 1.5
    for bad, message in (
        (own(bands=(Band(0, 1, "Fine"), Band(3, 4, "Poor"))), "without gaps"),
        (own(bands=(Band(0, 2, "Fine"), Band(2, 4, "Poor"))), "without gaps"),
        (own(bands=(Band(0, 1, "Fine"), Band(2, 3, "Poor"))), "highest possible"),
        (own(items=()), "1 to 100 items"),
        (own(choices=(Choice(0, "Never"),)), "2 to 11"),
        (own(choices=(Choice(0, "Never"), Choice(0, "Always"))), "different values"),
        (own(items=(Item("a", "x"), Item("a", "y"))), "its own key"),
        (own(items=(Item("a", " "), Item("b", "y"))), "wording of item a"),
        (own(name=""), "short name"),
        (own(items=(Item("a", "x", critical_from=5), Item("b", "y"))), "flagged from"),
        (own(change=ChangeCriteria(1.2, 3)), "reliability"),
        (own(change=ChangeCriteria(0.8, 3, cutoff=9)), "cutoff"),
    ):
        with pytest.raises(InvalidFieldError, match=message):
            check_instrument(bad)
