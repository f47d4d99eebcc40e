"""How guessable a new passphrase is, by zxcvbn (Dropbox's estimator: dictionaries, keyboard
patterns, dates, repeats, l33t), not a hand-written rule. The setup wizard shows the estimate
and requires ``GOOD_ENOUGH``; the vault itself enforces only the minimum length."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zxcvbn import zxcvbn

GOOD_ENOUGH = 3  # zxcvbn score 0-4; 3 = "safely unguessable: moderate protection from offline
# slow-hash attacks", which an Argon2id vault is
LABELS = ("Very weak", "Weak", "Fair", "Strong", "Very strong")
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
    score = int(result["score"])
    feedback = result.get("feedback") or {}
    crack = result.get("crack_times_display") or {}
    return Strength(
        score=score,
        label=LABELS[score],
        warning=str(feedback.get("warning") or ""),
        suggestions=tuple(str(s) for s in feedback.get("suggestions") or ()),
        offline_crack_time=str(crack.get("offline_slow_hashing_1e4_per_second", "")),
    )
