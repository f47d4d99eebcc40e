"""What the person must be told after an unlock, in words: a key change that a crash interrupted
(and this unlock settled), and an older copy they chose to open. One wording for the app and the
command line."""

from __future__ import annotations

# UnlockInfo.key_change -> what it means for the person: which recovery key now works.
_KEY_CHANGES = {
    "passphrase-completed": "Your last passphrase change was interrupted, but it had already "
    "taken effect: your new passphrase is the one that works.",
    "rekey-completed": "Your last change of recovery key was interrupted after the switch; it is "
    "complete: the new recovery key is the one that works.",
    "rekey-abandoned": "Your last change of recovery key was interrupted before the switch, so "
    "nothing changed: your earlier recovery key still works, and the new one that was shown never "
    "will. Make a new one again if you still want it.",
}

ROLLBACK_ACCEPTED = "You opened an older copy of your records; this is recorded in the audit log."


def key_change_notice(key_change: str | None) -> str:
    """The sentence for an interrupted key change, or "" when there was none."""
    if key_change is None:
        return ""
    return _KEY_CHANGES.get(key_change, "A key change was interrupted; it has been settled.")
