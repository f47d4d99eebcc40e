"""The notice shown right after an unlock tells the therapist what a crash during a key change
left, in plain words (crypto reports it in UnlockInfo.key_change)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from desktop.core.practice import UnlockInfo
from desktop.ui.main_window import _unlock_summary


@pytest.mark.parametrize(
    ("key_change", "words"),
    [
        ("passphrase-completed", "new passphrase"),
        ("rekey-completed", "new recovery key is the one that works"),
        ("rekey-abandoned", "earlier recovery key still works"),
    ],
)
def test_an_interrupted_key_change_is_explained(key_change: str, words: str) -> None:
    info = UnlockInfo("passphrase", (), 10, 0, key_change=key_change)
    assert words in _unlock_summary(SimpleNamespace(unlock_info=info))  # type: ignore[arg-type]


def test_a_rollback_the_therapist_accepted_is_mentioned() -> None:
    info = UnlockInfo("passphrase", (), 10, 0, rolled_back_to=7)
    assert "older copy" in _unlock_summary(SimpleNamespace(unlock_info=info))  # type: ignore[arg-type]
    assert _unlock_summary(SimpleNamespace(unlock_info=UnlockInfo("passphrase", (), 1, 0))) == ""  # type: ignore[arg-type]
