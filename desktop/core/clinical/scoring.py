"""Scoring a measure: the answers in, the total, subscale scores, severity band and the answers
that must reach the therapist at once out. Pure, so every caller (the therapist entering a paper
form, a form arriving from the waiting room or the mailbox, a re-check at display) scores the same
way; a score is computed, never typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from desktop.core.clinical.instruments import Band, Instrument, Scoring
from desktop.core.errors import InvalidFieldError


class IncompleteAnswersError(InvalidFieldError):
    """Some items are not answered. Every item needs an answer before the measure can be
    scored; the message names the missing ones."""


@dataclass(frozen=True)
class CriticalAnswer:
    """An answer that must reach the therapist at once (PHQ-9 item 9 above "Not at all")."""

    item_key: str
    item_text: str
    about: str  # the item's subject in a few words, for the alert
    value: int
    label: str


@dataclass(frozen=True)
class Score:
    total: float
    subscales: dict[str, float]
    band: Band | None
    critical: tuple[CriticalAnswer, ...]

    @property
    def flagged(self) -> bool:
        return bool(self.critical)


def _combine(instrument: Instrument, values: list[int]) -> float:
    if instrument.scoring is Scoring.SUM:
        return float(sum(values))
    return round(sum(values) / len(values), 2)


def score(instrument: Instrument, answers: Mapping[str, int]) -> Score:
    """Every item answered with one of the instrument's choice values, else
    ``IncompleteAnswersError`` (naming the missing items) or ``InvalidFieldError``."""
    allowed = {c.value for c in instrument.choices}
    known = {i.key for i in instrument.items}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise InvalidFieldError(f"{instrument.name} has no item {unknown[0]}")
    missing = [i.key for i in instrument.items if i.key not in answers]
    if missing:
        raise IncompleteAnswersError(
            f"answer every item of the {instrument.name}: item"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} not answered"
        )
    for key, value in answers.items():
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise InvalidFieldError(f"item {key} of the {instrument.name} has no answer {value!r}")
    total = _combine(instrument, [answers[i.key] for i in instrument.items])
    subscales = {
        s.key: _combine(instrument, [answers[k] for k in s.items]) for s in instrument.subscales
    }
    critical = tuple(
        CriticalAnswer(
            i.key, i.text, i.critical_label, answers[i.key], instrument.choice_label(answers[i.key])
        )
        for i in instrument.items
        if i.critical_from is not None and answers[i.key] >= i.critical_from
    )
    return Score(total, subscales, instrument.band_of(total), critical)
