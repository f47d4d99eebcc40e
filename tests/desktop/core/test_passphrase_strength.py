"""The strength estimate the setup wizard shows (zxcvbn)."""

from __future__ import annotations

import pytest

from desktop.core.passphrase_strength import GOOD_ENOUGH, assess


@pytest.mark.parametrize(
    "weak", ["password123", "qwertyuiop", "1234567890", "iloveyou2024", "aaaaaaaaaaaa"]
)
def test_common_passwords_are_not_acceptable(weak: str) -> None:
    strength = assess(weak)
    assert strength.score < GOOD_ENOUGH
    assert not strength.acceptable


def test_a_few_unrelated_words_are_acceptable() -> None:
    strength = assess("lantern meadow copper tide")
    assert strength.score >= GOOD_ENOUGH
    assert strength.acceptable
    assert strength.label in {"Strong", "Very strong"}


def test_the_therapists_own_name_counts_against_the_passphrase() -> None:
    passphrase = "Henrietta Oyelaran-Blackwood"
    assert assess(passphrase, ["Henrietta Oyelaran-Blackwood"]).score < assess(passphrase).score


def test_feedback_explains_a_weak_choice() -> None:
    strength = assess("qwertyuiop")
    assert strength.warning or strength.suggestions


def test_empty_and_very_long_inputs() -> None:
    assert assess("").score == 0
    long = "lantern meadow copper tide " + "z" * 5000
    assert assess(long).acceptable  # only the first 72 characters are analysed, quickly


def test_one_rule_for_every_new_passphrase() -> None:
    from desktop.core.passphrase_strength import Problem, judge_new_passphrase

    strong = "lantern meadow copper tide"
    assert judge_new_passphrase("short", "short").problem is Problem.TOO_SHORT
    assert judge_new_passphrase("short", "short").hint == "5 of at least 10 characters"
    weak = judge_new_passphrase("password1234", "password1234")
    assert weak.problem is Problem.TOO_GUESSABLE
    assert weak.refusal.startswith(f"{weak.strength.label}: too easy to guess.")
    assert judge_new_passphrase(strong, "").problem is Problem.UNCONFIRMED
    assert judge_new_passphrase(strong, strong + "x").problem is Problem.DIFFERENT
    assert judge_new_passphrase(strong, strong + "x").refusal == "The two entries differ."
    typed = "ottolinemarchbanks"
    assert judge_new_passphrase(typed, typed).ok
    assert not judge_new_passphrase(typed, typed, ["Ottoline Marchbanks"]).ok  # a known name
    assert judge_new_passphrase(strong, strong).ok
