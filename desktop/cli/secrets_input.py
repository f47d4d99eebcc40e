"""Reading passphrases and recovery keys: from the terminal with no echo, or from a file named on
the command line (for scripts and tests). Never from argv."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path


class InputError(Exception):
    """The secret could not be read (no terminal, unreadable file, or the two entries differ)."""


def read_secret_file(path: Path) -> str:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    # A byte-order mark (Notepad writes one) is an artefact of the editor, not of the secret.
    text = text.removeprefix("\ufeff")
    # Only the final line break is not part of the secret.
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def ask(prompt: str, file: Path | None, *, confirm: bool = False) -> str:
    if file is not None:
        return read_secret_file(file)
    if not sys.stdin.isatty():
        raise InputError(
            "no terminal to type the secret in: pass it in a file with the matching --*-file option"
        )
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Type it again: ") != first:
        raise InputError("the two entries differ")
    return first


def ask_visible(prompt: str) -> str:
    """A line typed at the terminal, echoed (a recovery key being copied from paper)."""
    try:
        return input(prompt)
    except EOFError:
        raise InputError("no answer: the input ended") from None


def write_private_file(path: Path, text: str) -> None:
    """A new file only its owner can read; refuses to replace anything."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
