"""The practice domain's error root."""

from __future__ import annotations


class PracticeError(Exception):
    """Root of the practice domain's own errors. Never raised itself."""


class PassphraseTooWeakError(PracticeError):
    """The new passphrase is too short. Use at least 10 characters; a few unrelated words are
    easier to remember and harder to guess than a short password."""
