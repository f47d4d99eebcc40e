"""Measures as definitions: the items a client answers, the answer choices and their values, how
the answers are scored, the severity bands, the items that must reach the therapist at once, and
the published figures reliable change is judged by.

Built-in instruments (PHQ-9, GAD-7, PCL-5) are read from ``resources/measures/*.toml`` with their
exact wording (SOURCES.md there); the therapist's own measures are the same ``Instrument`` kept in
the vault (``measures.py``), checked by ``check_instrument`` so that every result can be scored.

FHIR mapping (for exports): an ``Instrument`` is a Questionnaire (items with answerOption value
and display); a result is a QuestionnaireResponse plus an Observation for the total score (and
one per subscale), interpretation = the severity band.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from desktop.core.errors import InvalidFieldError

FORMAT = 1
BUILT_IN = ("phq9", "gad7", "pcl5")
MAX_ITEMS = 100
MAX_CHOICES = 11
MAX_TEXT = 1000


class Scoring(StrEnum):
    SUM = "sum"  # the answers' values added up
    MEAN = "mean"  # their average, to two decimals


@dataclass(frozen=True)
class Choice:
    value: int
    label: str


@dataclass(frozen=True)
class Item:
    key: str
    text: str
    # An answer of at least this value is flagged to the therapist at once (PHQ-9 item 9).
    critical_from: int | None = None
    critical_label: str = ""  # what the item asks about, for the alert ("thoughts of ...")


@dataclass(frozen=True)
class Extra:
    """A question asked with the measure but not scored (the PHQ-9's difficulty question)."""

    key: str
    text: str
    choices: tuple[str, ...]


@dataclass(frozen=True)
class Band:
    low: float
    high: float
    label: str

    def holds(self, score: float) -> bool:
        return self.low <= score <= self.high


@dataclass(frozen=True)
class Subscale:
    key: str
    name: str
    items: tuple[str, ...]


@dataclass(frozen=True)
class ChangeCriteria:
    """What reliable and clinically significant change are judged by (Jacobson & Truax 1991):
    the instrument's test-retest reliability and a published standard deviation, and the score
    that separates the clinical from the non-clinical range."""

    reliability: float
    sd: float
    cutoff: float | None = None
    reliability_source: str = ""
    sd_source: str = ""
    cutoff_source: str = ""


@dataclass(frozen=True)
class Instrument:
    key: str  # "phq9", or "custom:<id>" for the therapist's own
    version: int
    name: str  # short: "PHQ-9"
    title: str
    instructions: str
    choices: tuple[Choice, ...]
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    scoring: Scoring = Scoring.SUM
    higher_is_worse: bool = True
    subscales: tuple[Subscale, ...] = ()
    extras: tuple[Extra, ...] = ()
    change: ChangeCriteria | None = None
    notice: str = ""  # the copyright or source statement shown with it
    built_in: bool = field(default=False, compare=False)

    @property
    def min_score(self) -> float:
        low = min(c.value for c in self.choices)
        return low * len(self.items) if self.scoring is Scoring.SUM else float(low)

    @property
    def max_score(self) -> float:
        high = max(c.value for c in self.choices)
        return high * len(self.items) if self.scoring is Scoring.SUM else float(high)

    def band_of(self, score: float) -> Band | None:
        return next((b for b in self.bands if b.holds(score)), None)

    def choice_label(self, value: int) -> str:
        return next((c.label for c in self.choices if c.value == value), str(value))

    def to_json(self) -> str:
        """Canonical JSON (keys sorted, no spaces): how the vault keeps a custom measure, and
        what ``fingerprint`` hashes."""
        document = asdict(self)
        document.pop("built_in")
        document["format"] = FORMAT
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON: stored with each result, so what a client answered can
        always be matched to the exact wording and scoring it was given with."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()


def instrument_from_dict(document: dict[str, Any], *, built_in: bool = False) -> Instrument:
    if document.get("format") != FORMAT:
        raise InvalidFieldError("this measure was written by a newer Quietroom")
    change = document.get("change")
    return Instrument(
        key=str(document["key"]),
        version=int(document["version"]),
        name=str(document["name"]),
        title=str(document["title"]),
        instructions=str(document.get("instructions", "")),
        choices=tuple(Choice(int(c["value"]), str(c["label"])) for c in document["choices"]),
        items=tuple(
            Item(
                str(i["key"]),
                str(i["text"]),
                None if i.get("critical_from") is None else int(i["critical_from"]),
                str(i.get("critical_label", "")),
            )
            for i in document["items"]
        ),
        bands=tuple(
            Band(float(b["low"]), float(b["high"]), str(b["label"])) for b in document["bands"]
        ),
        scoring=Scoring(document.get("scoring", "sum")),
        higher_is_worse=bool(document.get("higher_is_worse", True)),
        subscales=tuple(
            Subscale(str(s["key"]), str(s["name"]), tuple(str(k) for k in s["items"]))
            for s in document.get("subscales", ())
        ),
        extras=tuple(
            Extra(str(e["key"]), str(e["text"]), tuple(str(c) for c in e["choices"]))
            for e in document.get("extras", ())
        ),
        change=None
        if not change
        else ChangeCriteria(
            float(change["reliability"]),
            float(change["sd"]),
            None if change.get("cutoff") is None else float(change["cutoff"]),
            str(change.get("reliability_source", "")),
            str(change.get("sd_source", "")),
            str(change.get("cutoff_source", "")),
        ),
        notice=str(document.get("notice", "")),
        built_in=built_in,
    )


def instrument_from_json(text: str) -> Instrument:
    return instrument_from_dict(json.loads(text))


@cache
def built_in(key: str) -> Instrument:
    """A shipped instrument (``BUILT_IN``), read from ``resources/measures/<key>.toml``."""
    if key not in BUILT_IN:
        raise InvalidFieldError(f"there is no built-in measure {key!r}")
    path = resources.files("resources") / "measures" / f"{key}.toml"
    instrument = instrument_from_dict(tomllib.loads(path.read_text("utf-8")), built_in=True)
    return check_instrument(instrument)


def built_ins() -> tuple[Instrument, ...]:
    return tuple(built_in(key) for key in BUILT_IN)


def check_instrument(instrument: Instrument) -> Instrument:
    """Refuse a definition that could not score every possible set of answers: the therapist's
    own measures go through this before they are saved (the shipped ones when read)."""

    def text(value: str, what: str, *, required: bool = True, limit: int = MAX_TEXT) -> None:
        if required and not value.strip():
            raise InvalidFieldError(f"give {what}")
        if len(value) > limit:
            raise InvalidFieldError(f"{what} is longer than {limit} characters")

    text(instrument.name, "the measure a short name", limit=40)
    text(instrument.title, "the measure a title", limit=200)
    text(instrument.instructions, "the instructions", required=False, limit=4000)
    if not 1 <= len(instrument.items) <= MAX_ITEMS:
        raise InvalidFieldError(f"a measure has 1 to {MAX_ITEMS} items")
    if not 2 <= len(instrument.choices) <= MAX_CHOICES:
        raise InvalidFieldError(f"a measure has 2 to {MAX_CHOICES} answer choices")
    values = [c.value for c in instrument.choices]
    if len(set(values)) != len(values) or not all(-100 <= v <= 100 for v in values):
        raise InvalidFieldError("answer choices need different values between -100 and 100")
    for choice in instrument.choices:
        text(choice.label, "every answer choice a label", limit=120)
    keys = [i.key for i in instrument.items]
    if len(set(keys)) != len(keys) or not all(k.strip() for k in keys):
        raise InvalidFieldError("every item needs its own key")
    for item in instrument.items:
        text(item.text, f"the wording of item {item.key}")
        if item.critical_from is not None and item.critical_from not in values:
            raise InvalidFieldError(f"item {item.key} is flagged from a value no answer has")
    for subscale in instrument.subscales:
        text(subscale.name, "every subscale a name", limit=200)
        if not subscale.items or set(subscale.items) - set(keys):
            raise InvalidFieldError(f"subscale {subscale.name} names items the measure lacks")
    for extra in instrument.extras:
        text(extra.text, "every extra question its wording")
        if not extra.choices:
            raise InvalidFieldError("every extra question needs answer choices")
    _check_bands(instrument)
    change = instrument.change
    if change is not None:
        if not 0 < change.reliability < 1 or not change.sd > 0:
            raise InvalidFieldError("reliability is between 0 and 1 and the spread above 0")
        if change.cutoff is not None and not (
            instrument.min_score < change.cutoff <= instrument.max_score
        ):
            raise InvalidFieldError("the cutoff lies inside the measure's range of scores")
    return instrument


def _check_bands(instrument: Instrument) -> None:
    """Bands in order, each labelled, covering every possible score exactly once: integer steps
    for a sum, hundredths for a mean."""
    bands = instrument.bands
    if not bands:
        raise InvalidFieldError("give at least one severity band")
    step = 1.0 if instrument.scoring is Scoring.SUM else 0.01
    expected = instrument.min_score
    for band in bands:
        if not band.label.strip():
            raise InvalidFieldError("every severity band needs a label")
        if abs(band.low - expected) > 1e-9 or band.high < band.low:
            raise InvalidFieldError(
                "severity bands must follow each other without gaps or overlaps, from the "
                "lowest possible score to the highest"
            )
        expected = round(band.high + step, 2)
    if abs(bands[-1].high - instrument.max_score) > 1e-9:
        raise InvalidFieldError("the last severity band must end at the highest possible score")
