from __future__ import annotations

import pytest

from crypto.errors import RecoveryKeyFormatError
from crypto.recovery_key import RecoveryKey


def test_format_is_eight_groups_and_round_trips() -> None:
    key = RecoveryKey.generate()
    text = key.formatted()
    groups = text.split("-")
    assert len(groups) == 8 and all(len(g) == 4 for g in groups)
    assert RecoveryKey.parse(text) == key
    assert "hidden" in repr(key) and text not in repr(key)


def test_parse_forgives_case_spaces_and_confusable_digits() -> None:
    key = RecoveryKey(bytes(range(16)))
    text = key.formatted()
    sloppy = text.lower().replace("-", " ").replace("o", "0").replace("i", "1").replace("b", "8")
    assert RecoveryKey.parse(sloppy) == key


def test_a_single_typo_is_caught_by_the_checksum() -> None:
    text = RecoveryKey(bytes(range(16))).formatted()
    for position in range(len(text)):
        if text[position] == "-":
            continue
        replacement = "A" if text[position] != "A" else "B"
        typo = text[:position] + replacement + text[position + 1 :]
        with pytest.raises(RecoveryKeyFormatError):
            RecoveryKey.parse(typo)


@pytest.mark.parametrize("typed", ["", "ABCD", "ABCD-" * 9, "!!!!-" * 7 + "!!!!"])
def test_malformed_keys_are_refused(typed: str) -> None:
    with pytest.raises(RecoveryKeyFormatError):
        RecoveryKey.parse(typed)
