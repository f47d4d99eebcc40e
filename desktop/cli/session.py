"""Opening the vault for one command: passphrase in, ``Practice`` out, locked again on the way out,
with what the person must know about the unlock (failed attempts, accepted damage) on stderr."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from desktop.cli.secrets_input import ask
from desktop.core.practice import Practice
from desktop.core.unlock_notices import ROLLBACK_ACCEPTED, key_change_notice


@contextlib.contextmanager
def unlocked(
    args: argparse.Namespace, prompt: str = "Passphrase: ", *, passphrase: str | None = None
) -> Iterator[Practice]:
    if passphrase is None:
        passphrase = ask(prompt, args.passphrase_file)
    practice = Practice.unlock(
        args.vault,
        passphrase,
        accept_audit_damage=getattr(args, "accept_audit_damage", False),
        accept_rollback=getattr(args, "accept_rollback", False),
    )
    report_unlock(practice)
    try:
        yield practice
    finally:
        practice.lock()


def report_unlock(practice: Practice) -> None:
    info = practice.unlock_info
    if info is None:
        return
    if info.failed_attempts:
        print(
            f"Note: {len(info.failed_attempts)} failed unlock attempt(s) since the last unlock, "
            f"the last at {info.failed_attempts[-1].at}.",
            file=sys.stderr,
        )
    if info.audit_damage is not None:
        print(f"WARNING: {info.audit_damage} (acknowledged and recorded)", file=sys.stderr)
    if info.key_change is not None:
        print(f"Note: {key_change_notice(info.key_change)}", file=sys.stderr)
    if info.rolled_back_to is not None:
        print(f"Note: {ROLLBACK_ACCEPTED}", file=sys.stderr)
