"""``quietroom backup create|verify|restore|list|configure``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from crypto.paths import default_state_dir
from crypto.recovery_key import RecoveryKey
from crypto.vault import Vault
from crypto.vault_backup import (
    BackupSecret,
    create_backup,
    list_backups,
    restore_backup,
    verify_backup,
)
from desktop.cli.secrets_input import InputError, ask
from desktop.core.backup_settings import BackupSettingsStore
from desktop.core.practice import check_new_passphrase


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
        "verify", help="check every chunk, the database and the audit chain; restores nothing"
    )
    p.set_defaults(func=verify)
    p.add_argument("file", type=Path)
    _opening_options(p)

    p = b_sub.add_parser("restore", help="restore a backup into a new vault folder")
    p.set_defaults(func=restore)
    p.add_argument("file", type=Path)
    p.add_argument(
        "--vault",
        dest="restore_target",
        type=Path,
        metavar="DIR",
        help="vault folder to restore into",
    )
    p.add_argument(
        "--replace-existing",
        action="store_true",
        help="if a vault is there, move it aside (never deleted) and restore in its place",
    )
    _opening_options(p)
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


def _opening_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--use-backup-passphrase",
        action="store_true",
        help="open with the backup passphrase (then the vault passphrase is asked too); "
        "the default is the recovery key",
    )
    _secret(p, "recovery-key", "recovery key")
    _secret(p, "backup-passphrase", "backup passphrase")
    _secret(p, "passphrase", "vault passphrase (with the backup passphrase)")


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
    passphrase = ask("Vault passphrase: ", args.passphrase_file)
    backup_passphrase = None
    if args.with_backup_passphrase or args.backup_passphrase_file:
        backup_passphrase = ask("Backup passphrase: ", args.backup_passphrase_file, confirm=True)
        check_new_passphrase(backup_passphrase)
    vault = Vault.unlock(args.vault, passphrase)
    try:
        result = create_backup(vault, destination, backup_passphrase=backup_passphrase)
    finally:
        vault.lock()
    print(f"Backup written and verified: {result.path} ({result.size:,} bytes)")
    also = " or the backup passphrase" if backup_passphrase else ""
    print(f"It opens with your recovery key{also}.")
    return 0


def _opening_secret(args: argparse.Namespace) -> tuple[BackupSecret, str | None]:
    if args.use_backup_passphrase or args.backup_passphrase_file:
        backup_passphrase = ask("Backup passphrase: ", args.backup_passphrase_file)
        secret = BackupSecret(backup_passphrase=backup_passphrase)
        vault_passphrase = ask("Passphrase of the vault inside: ", args.passphrase_file)
        return secret, vault_passphrase
    key = RecoveryKey.parse(ask("Recovery key: ", args.recovery_key_file))
    return BackupSecret(recovery_key=key), None


def verify(args: argparse.Namespace) -> int:
    secret, vault_passphrase = _opening_secret(args)
    result = verify_backup(args.file, secret, vault_passphrase=vault_passphrase)
    manifest = result.manifest
    if not result.ok:
        print(f"FAILED: {args.file}: " + "; ".join(result.problems), file=sys.stderr)
        return 1
    print(
        f"OK: {args.file}: every chunk authentic, database intact, "
        f"{result.report.entries} audit entries verified "
        f"(backup {manifest.get('backup_id')}, made {manifest.get('created_at')})."
    )
    return 0


def restore(args: argparse.Namespace) -> int:
    target: Path = args.restore_target or args.vault
    secret, vault_passphrase = _opening_secret(args)
    new_passphrase = None
    if secret.recovery_key is not None:
        new_passphrase = ask("New passphrase: ", args.new_passphrase_file, confirm=True)
        check_new_passphrase(new_passphrase)
    moved = restore_backup(
        args.file,
        target,
        secret,
        vault_passphrase=vault_passphrase,
        new_passphrase=new_passphrase,
        overwrite=args.replace_existing,
    )
    if moved is not None:
        print(f"The vault that was there was moved aside to {moved}.")
    print(f"Restored into {target}. The restore is recorded in the vault's audit log.")
    return 0


def list_(args: argparse.Namespace) -> int:
    folder = _destination(args, args.folder)
    backups = list_backups(folder)
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
