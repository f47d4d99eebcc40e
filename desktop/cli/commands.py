"""One function per ``quietroom`` subcommand. Each returns an exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from desktop.cli.secrets_input import ask
from desktop.cli.session import report_unlock, unlocked
from desktop.core.practice import (
    AuditIntegrityError,
    Practice,
    check_new_passphrase,
    kdf_for_profile,
)
from desktop.core.practice import status as vault_status

RECOVERY_NOTICE = """\
Your recovery key (shown once, never stored by Quietroom):

    {key}

Print it or write it down and keep it somewhere safe, away from this computer. It unlocks the
vault if you forget your passphrase. Anyone holding it and your files can read your records.
"""


def init(args: argparse.Namespace) -> int:
    passphrase = ask("New passphrase: ", args.passphrase_file, confirm=True)
    check_new_passphrase(passphrase)  # refuse a guessable one before the slow calibration
    if args.kdf_profile == "calibrated":
        print(
            "Measuring this computer to tune the key derivation (a few seconds)...", file=sys.stderr
        )
    kdf = kdf_for_profile(args.kdf_profile)
    practice, recovery = Practice.create(args.vault, passphrase, kdf=kdf)
    practice.lock()
    print(f"Created a vault in {args.vault}")
    print(
        f"Key derivation: Argon2id, {kdf.memory_kib // 1024} MiB, {kdf.time_cost} passes, "
        f"{kdf.parallelism} lanes ({kdf.profile})"
    )
    print(RECOVERY_NOTICE.format(key=recovery.formatted()))
    return 0


def status(args: argparse.Namespace) -> int:
    path: Path = args.vault
    found = vault_status(path)
    if not found.exists:
        print(f"No vault in {path}. Create one with: quietroom init")
        return 0
    if not found.readable or found.kdf is None:
        print(f"Vault in {path}: header unreadable (damaged?)")
        return 1
    kdf = found.kdf
    print(f"Vault in {path}")
    print(f"  created      {found.created_at}")
    print(f"  key version  {found.key_generation}")
    print(f"  KDF          Argon2id m={kdf.memory_kib} KiB t={kdf.time_cost} p={kdf.parallelism}")
    print(f"  audit entries checkpointed: {found.audit_checkpoint}")
    return 0


def passphrase_change(args: argparse.Namespace) -> int:
    current = ask("Current passphrase: ", args.passphrase_file)
    new = ask("New passphrase: ", args.new_passphrase_file, confirm=True)
    check_new_passphrase(new)  # before the slow unlock
    with unlocked(args, passphrase=current) as practice:
        practice.change_passphrase(new, current_passphrase=current)
    print("Passphrase changed. The old passphrase no longer unlocks this vault.")
    return 0


def recover(args: argparse.Namespace) -> int:
    key = ask("Recovery key: ", args.recovery_key_file)
    new = ask("New passphrase: ", args.new_passphrase_file, confirm=True)
    practice = Practice.recover(args.vault, key, new, accept_audit_damage=args.accept_audit_damage)
    report_unlock(practice)
    practice.lock()
    print(
        "Recovered: the vault now opens with the new passphrase. "
        "This emergency access is recorded in the audit log."
    )
    return 0


def rekey(args: argparse.Namespace) -> int:
    passphrase = ask("Passphrase: ", args.passphrase_file)
    practice = Practice.unlock(args.vault, passphrase)
    try:
        recovery = practice.rekey(passphrase)
    finally:
        practice.lock()
    print("New master key in place; the database was re-encrypted. Your passphrase is unchanged.")
    print("The old recovery key no longer works.")
    print(RECOVERY_NOTICE.format(key=recovery.formatted()))
    return 0


def audit_verify(args: argparse.Namespace) -> int:
    try:
        with unlocked(args) as practice:
            report = practice.verify_audit()
    except AuditIntegrityError as damage:
        print(f"FAILED: {damage}", file=sys.stderr)
        return 1
    print(
        f"OK: {report.entries} audit entries verified, chain intact, checkpoint at entry "
        f"{report.checkpoint_seq}."
    )
    return 0


def audit_export(args: argparse.Namespace) -> int:
    with unlocked(args) as practice, _output(args.output) as out:
        count = practice.export_audit(out, args.format)
    print(f"Exported {count} audit entries.", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield handle


def demo(args: argparse.Namespace) -> int:
    from desktop.core.demo import fill_demo

    with unlocked(args) as practice:
        report = fill_demo(practice, args.clients, args.notes_per_client, seed=args.seed)
    print(
        f"Added {report.clients} fake clients, {report.sessions} sessions and {report.notes} "
        f"notes in {report.seconds:.1f} s."
    )
    return 0
