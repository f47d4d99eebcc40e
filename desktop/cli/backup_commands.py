"""``quietroom backup create|verify|restore|list|configure``, through the ``desktop.core``
facade like everything else: an unlocked ``Practice`` and its ``BackupService`` (migrations,
retention and auditing included) for the vault's own backups; the domain's ``restore`` and
``verify_file`` for a backup opened with its recovery key or backup passphrase."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from desktop.cli.secrets_input import InputError, ask
from desktop.cli.session import unlocked
from desktop.core.backup_settings import BackupSettingsStore
from desktop.core.backups import (
    RestoreKey,
    RestoreRequest,
    VerifyResult,
    list_folder,
    restore,
    verify_file,
)
from desktop.core.practice import check_new_passphrase, default_state_dir


def register(sub: Any) -> None:
    bp = sub.add_parser("backup", help="encrypted backups", description="encrypted backups")
    bp.set_defaults(func=_needs_sub)
    b_sub = bp.add_subparsers(dest="backup_command", metavar="COMMAND")

    p = b_sub.add_parser("create", help="write a verified encrypted backup of the vault")
    p.set_defaults(func=create)
    p.add_argument("--to", type=Path, metavar="DIR", help="backup folder (default: configured)")
    p.add_argument(
        "--with-backup-passphrase",
        action="store_true",
        help="also let a separate backup passphrase open it (the recovery key always does)",
    )
    _secret(p, "passphrase", "vault passphrase")
    _secret(p, "backup-passphrase", "backup passphrase (implies --with-backup-passphrase)")

    p = b_sub.add_parser(
        "verify",
        help="check every chunk, the database and the audit chain; restores nothing",
        description="Check every chunk, the database and the audit chain of a backup; restores "
        "nothing. By default the vault is unlocked with its passphrase and the check is recorded "
        "in its audit log. With --recovery-key-file or --use-backup-passphrase (for a machine "
        "without the vault) nothing is recorded.",
    )
    p.set_defaults(func=verify)
    p.add_argument("file", type=Path)
    _opening_options(p, default="the vault's own key (the vault is unlocked with its passphrase)")

    p = b_sub.add_parser(
        "restore",
        help="restore a backup into a new vault folder (--vault DIR, default: the vault folder)",
    )
    p.set_defaults(func=restore_)
    p.add_argument("file", type=Path)
    p.add_argument(
        "--replace-existing",
        action="store_true",
        help="if a vault is there, move it aside (never deleted) and restore in its place",
    )
    _opening_options(p, default="the recovery key")
    _secret(p, "new-passphrase", "new passphrase (when restoring with the recovery key)")

    p = b_sub.add_parser("list", help="list the backups in the backup folder")
    p.set_defaults(func=list_)
    p.add_argument("--in", dest="folder", type=Path, metavar="DIR")

    p = b_sub.add_parser("configure", help="set the backup folder and retention")
    p.set_defaults(func=configure)
    p.add_argument("--to", type=Path, metavar="DIR", required=True)
    p.add_argument("--keep-daily", type=int)
    p.add_argument("--keep-weekly", type=int)
    p.add_argument("--keep-monthly", type=int)


def _secret(p: argparse.ArgumentParser, name: str, what: str) -> None:
    p.add_argument(f"--{name}-file", type=Path, metavar="PATH", help=f"read the {what} from PATH")


def _opening_options(p: argparse.ArgumentParser, *, default: str) -> None:
    p.add_argument(
        "--use-backup-passphrase",
        action="store_true",
        help="open with the backup passphrase (then the vault passphrase is asked too); "
        f"the default is {default}",
    )
    _secret(p, "recovery-key", "recovery key (open the backup with it)")
    _secret(p, "backup-passphrase", "backup passphrase")
    _secret(p, "passphrase", "vault passphrase")


def _needs_sub(args: argparse.Namespace) -> int:
    raise InputError("'backup' needs a subcommand: create, verify, restore, list or configure")


def _store(args: argparse.Namespace) -> BackupSettingsStore:
    return BackupSettingsStore(default_state_dir(), args.vault)


def _destination(args: argparse.Namespace, given: Path | None) -> Path:
    if given is not None:
        return given
    configured = _store(args).load().destination
    if configured is None:
        raise InputError(
            "no backup folder: pass --to DIR, or set one with 'quietroom backup configure --to DIR'"
        )
    return Path(configured)


def create(args: argparse.Namespace) -> int:
    destination = _destination(args, args.to)
    backup_passphrase = None
    if args.with_backup_passphrase or args.backup_passphrase_file:
        backup_passphrase = ask("Backup passphrase: ", args.backup_passphrase_file, confirm=True)
        check_new_passphrase(backup_passphrase)  # before the vault's slow unlock
    with unlocked(args, "Vault passphrase: ") as practice:
        result = practice.backup_service().back_up_now(
            destination, backup_passphrase=backup_passphrase
        )
    print(f"Backup written and verified: {result.path} ({result.size:,} bytes)")
    also = " or the backup passphrase" if backup_passphrase else ""
    print(f"It opens with your recovery key{also}.")
    return 0


def _chosen_key(args: argparse.Namespace) -> RestoreKey | None:
    if args.use_backup_passphrase or args.backup_passphrase_file:
        return RestoreKey.BACKUP_PASSPHRASE
    if args.recovery_key_file:
        return RestoreKey.RECOVERY_KEY
    return None


def verify(args: argparse.Namespace) -> int:
    key = _chosen_key(args)
    if key is None:
        with unlocked(args) as practice:
            result = practice.backup_service().verify(args.file)
        recorded = "recorded in the vault's audit log"
    else:
        secret, passphrase = _opening_secret(args, key)
        result = verify_file(args.file, key, secret, passphrase)
        recorded = "not recorded anywhere: no vault was unlocked"
    return _print_verdict(args.file, result, recorded)


def _print_verdict(path: Path, result: VerifyResult, recorded: str) -> int:
    manifest = result.manifest
    if not result.ok:
        print(f"FAILED: {path}: " + "; ".join(result.problems), file=sys.stderr)
        return 1
    print(
        f"OK: {path}: every chunk authentic, database intact, "
        f"{result.report.entries} audit entries verified "
        f"(backup {manifest.get('backup_id')}, made {manifest.get('created_at')}; {recorded})."
    )
    return 0


def _opening_secret(args: argparse.Namespace, key: RestoreKey) -> tuple[str, str]:
    """The secret that opens the backup, and the passphrase that goes with it: with the backup
    passphrase, the vault passphrase the backup was made with."""
    if key is RestoreKey.BACKUP_PASSPHRASE:
        backup_passphrase = ask("Backup passphrase: ", args.backup_passphrase_file)
        return backup_passphrase, ask("Passphrase of the vault inside: ", args.passphrase_file)
    return ask("Recovery key: ", args.recovery_key_file), ""


def restore_(args: argparse.Namespace) -> int:
    key = _chosen_key(args) or RestoreKey.RECOVERY_KEY
    secret, passphrase = _opening_secret(args, key)
    if key is RestoreKey.RECOVERY_KEY:
        passphrase = ask("New passphrase: ", args.new_passphrase_file, confirm=True)
    result = restore(
        RestoreRequest(
            backup=args.file,
            target=args.vault,
            key=key,
            secret=secret,
            passphrase=passphrase,
            replace_existing=args.replace_existing,
        )
    )
    if result.moved_aside is not None:
        print(f"The vault that was there was moved aside to {result.moved_aside}.")
    print(f"Restored into {result.target}. The restore is recorded in the vault's audit log.")
    return 0


def list_(args: argparse.Namespace) -> int:
    folder = _destination(args, args.folder)
    backups = list_folder(folder)
    if not backups:
        print(f"No backups in {folder}.")
        return 0
    for backup in backups:
        print(f"{backup.path.name}  {backup.size:>14,} bytes")
    return 0


def configure(args: argparse.Namespace) -> int:
    store = _store(args)
    settings = store.load()
    changes: dict[str, Any] = {"destination": str(args.to.resolve())}
    for name in ("keep_daily", "keep_weekly", "keep_monthly"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    store.save(dataclasses.replace(settings, **changes))
    print(f"Backups go to {args.to.resolve()}.")
    return 0
