"""One function per ``quietroom`` subcommand. Each returns an exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from desktop.cli.secrets_input import InputError, ask, ask_visible, write_private_file
from desktop.cli.session import report_unlock, unlocked
from desktop.core.practice import (
    AuditIntegrityError,
    PendingRekey,
    Practice,
    RekeyConfirmationError,
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
    practice = Practice.recover(
        args.vault,
        key,
        new,
        accept_audit_damage=args.accept_audit_damage,
        accept_rollback=args.accept_rollback,
    )
    report_unlock(practice)
    practice.lock()
    print(
        "Recovered: the vault now opens with the new passphrase. "
        "This emergency access is recorded in the audit log."
    )
    return 0


def rekey(args: argparse.Namespace) -> int:
    out: Path | None = args.recovery_key_out
    if out is None and not sys.stdin.isatty():
        raise InputError(
            "a new key switches only once its recovery key has been typed back: run this in a "
            "terminal, or save the new key with --recovery-key-out PATH"
        )
    if out is not None and out.exists():
        raise InputError(f"{out} already exists; name a new file for the recovery key")
    passphrase = ask("Passphrase: ", args.passphrase_file)
    with unlocked(args, passphrase=passphrase) as practice:
        pending = practice.prepare_rekey(passphrase)
        try:
            formatted = pending.recovery_key.formatted()
            if out is not None:
                write_private_file(out, formatted + "\n")
                print(f"The new recovery key is in {out}. Print it and delete the file.")
                practice.commit_rekey(pending, formatted)
            else:
                print(RECOVERY_NOTICE.format(key=formatted))
                _confirm_rekey(practice, pending)
        except BaseException:
            practice.cancel_rekey(pending)  # nothing switched: the old recovery key still works
            raise
    print("New master key in place; the database was re-encrypted. Your passphrase is unchanged.")
    print("The old recovery key no longer works.")
    return 0


def _confirm_rekey(practice: Practice, pending: PendingRekey, tries: int = 3) -> None:
    for attempt in range(1, tries + 1):
        typed = ask_visible("Type the new recovery key to confirm it is written down: ")
        try:
            practice.commit_rekey(pending, typed)
            return
        except RekeyConfirmationError:
            if attempt == tries:
                raise
            print("That is not the key shown above; check your copy and type it again.")


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
    with unlocked(args) as practice:
        report = practice.fill_demo(args.clients, args.notes_per_client, seed=args.seed)
    print(
        f"Added {report.clients} fake clients, {report.sessions} sessions and {report.notes} "
        f"notes in {report.seconds:.1f} s."
    )
    return 0
