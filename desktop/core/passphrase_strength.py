"""How guessable a new passphrase is, by zxcvbn (Dropbox's estimator: dictionaries, keyboard
patterns, dates, repeats, l33t), not a hand-written rule, and the one rule every place that sets
a passphrase applies (``judge_new_passphrase``): at least ``MIN_PASSPHRASE_CHARS``, a zxcvbn score
of ``GOOD_ENOUGH``, typed the same twice. The vault itself enforces only the minimum length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from zxcvbn import zxcvbn

from desktop.core.errors import PassphraseTooWeakError

MIN_PASSPHRASE_CHARS = 10
GOOD_ENOUGH = 3  # zxcvbn score 0-4; 3 = "safely unguessable: moderate protection from offline
# slow-hash attacks", which an Argon2id vault is
LABELS = ("Very weak", "Weak", "Fair", "Strong", "Very strong")
# zxcvbn's score and its own time estimate can disagree: "Sunflower2024!" scores 3 while its
# offline estimate is 2 days. The label (and acceptance) take the lower of the two, so the meter
# never says "Strong" beside a time counted in days. Seconds at zxcvbn's slow-hash rate (10,000
# guesses a second) below which each label is capped:
TIME_CAPS = (
    (3600.0, 0),  # under an hour: very weak
    (30 * 86400.0, 1),  # under a month: weak
    (365.25 * 86400.0, 2),  # under a year: fair at best
    (100 * 365.25 * 86400.0, 3),  # under a century: strong at best
)
_MAX_CHECKED = 72  # zxcvbn refuses more (its cost grows with length); the rest only adds


@dataclass(frozen=True)
class Strength:
    score: int  # 0..4
    label: str
    warning: str
    suggestions: tuple[str, ...]
    offline_crack_time: str  # at 10,000 guesses per second, zxcvbn's slow-hash scenario

    @property
    def acceptable(self) -> bool:
        return self.score >= GOOD_ENOUGH


def assess(passphrase: str, user_inputs: Sequence[str] = ()) -> Strength:
    """The estimate for ``passphrase``; ``user_inputs`` (the therapist's name, the app's name)
    count as known words an attacker would try first."""
    if not passphrase:
        return Strength(0, LABELS[0], "", (), "instant")
    words = [w for text in (*user_inputs, "quietroom", "therapy") for w in text.split() if w]
    result = zxcvbn(passphrase[:_MAX_CHECKED], user_inputs=words)
    seconds = float(
        (result.get("crack_times_seconds") or {}).get("offline_slow_hashing_1e4_per_second", 0)
    )
    score = min(int(result["score"]), _time_cap(seconds))
    feedback = result.get("feedback") or {}
    crack = result.get("crack_times_display") or {}
    return Strength(
        score=score,
        label=LABELS[score],
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
        offline_crack_time=str(crack.get("offline_slow_hashing_1e4_per_second", "")),
    )


def _time_cap(seconds: float) -> int:
    for limit, cap in TIME_CAPS:
        if seconds < limit:
            return cap
    return 4


def guess_time_text(strength: Strength) -> str:
    """The estimate in words, for under the meter: "Could be guessed in about 2 days." """
    when = strength.offline_crack_time
    if not when:
        return ""
    if when in ("centuries",):
        return "Would take centuries to guess."
    return (
        f"Could be guessed in {when}."
        if strength.score < GOOD_ENOUGH
        else (f"Would take about {when} to guess.")
    )


class Problem(Enum):
    TOO_SHORT = "too short"
    TOO_GUESSABLE = "too guessable"
    UNCONFIRMED = "not typed again yet"
    DIFFERENT = "the two entries differ"


@dataclass(frozen=True)
class Choice:
    """A new passphrase as typed twice: its strength and the first problem, if any."""

    strength: Strength
    problem: Problem | None
    length: int

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def hint(self) -> str:
        """One calm line for under the fields."""
        if self.problem is Problem.TOO_SHORT:
            return f"{self.length} of at least {MIN_PASSPHRASE_CHARS} characters"
        if self.problem is Problem.TOO_GUESSABLE:
            return "Too easy to guess: add another unusual word or two"
        if self.problem is Problem.DIFFERENT:
            return "The two entries differ"
        if self.problem is Problem.UNCONFIRMED:
            return "Now type it again"
        return "Looks good"

    @property
    def refusal(self) -> str:
        """Why the passphrase was not taken, with zxcvbn's advice when it is too guessable."""
        if self.problem is Problem.TOO_GUESSABLE:
            advice = " ".join(a for a in (self.strength.warning, *self.strength.suggestions) if a)
            return f"{self.strength.label}: too easy to guess. {advice}".strip()
        return self.hint + "."


def judge_new_passphrase(
    passphrase: str, confirmation: str, user_inputs: Sequence[str] = ()
) -> Choice:
    strength = assess(passphrase, user_inputs)
    problem: Problem | None = None
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        problem = Problem.TOO_SHORT
    elif not strength.acceptable:
        problem = Problem.TOO_GUESSABLE
    elif confirmation != passphrase:
        problem = Problem.DIFFERENT if confirmation else Problem.UNCONFIRMED
    return Choice(strength, problem, len(passphrase))


def check_new_passphrase(passphrase: str, user_inputs: Sequence[str] = ()) -> None:
    """The one rule for every new passphrase, whichever door it comes through (wizard, Settings,
    recovery, restore, backup passphrase, command line): at least ``MIN_PASSPHRASE_CHARS`` and a
    zxcvbn estimate that is not guessable (``judge_new_passphrase``). Cheap (milliseconds), so
    callers check before any slow key derivation."""
    choice = judge_new_passphrase(passphrase, passphrase, user_inputs)
    if not choice.ok:
        raise PassphraseTooWeakError(f"passphrase refused: {choice.refusal}")
