"""Backups as the therapist sees them: back up now, automatic backups on lock and quit, retention,
history, and the warning when backups are stale. The file work is ``crypto.vault_backup``'s; this
module decides when and where."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crypto.audit.actions import AuditAction
from crypto.kdf import KdfParams
from crypto.vault import Vault
from crypto.vault_backup import (
    BackupResult,
    BackupSecret,
    Cancel,
    Progress,
    VerifyResult,
    create_backup,
    list_backups,
    record_verification,
    verify_backup,
)
from desktop.core.backup_policy import Retention, Schedule, Trigger, health_warning
from desktop.core.backup_settings import BackupSettings, BackupSettingsStore

_NAME = re.compile(r"-(\d{8}T\d{6})Z-([0-9a-f]{12})\.qrbackup$")


@dataclass(frozen=True)
class BackupRecord:
    """A backup file in the destination, with what the audit log says about it."""

    path: Path
    created: datetime
    size: int
    verified: bool | None  # None: never verified since it was written


def parse_name(path: Path) -> tuple[datetime, str] | None:
    """(creation time, short backup id) from a backup's file name."""
    match = _NAME.search(path.name)
    if not match:
        return None
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return moment, match.group(2)


def created_at(path: Path) -> datetime | None:
    parsed = parse_name(path)
    return parsed[0] if parsed else None


class BackupService:
    def __init__(self, vault: Vault, store: BackupSettingsStore) -> None:
        self._vault = vault
        self._store = store

    @property
    def settings(self) -> BackupSettings:
        return self._store.load()

    def save_settings(self, settings: BackupSettings) -> None:
        self._store.save(settings)

    def destination(self) -> Path | None:
        configured = self.settings.destination
        return Path(configured) if configured else None

    def back_up_now(
        self,
        destination: Path | None = None,
        *,
        backup_passphrase: str | None = None,
        kdf: KdfParams | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
    ) -> BackupResult:
        target = destination or self.destination()
        if target is None:
            raise ValueError("choose a backup folder first")
        result = create_backup(
            self._vault,
            target,
            backup_passphrase=backup_passphrase,
            kdf=kdf,
            progress=progress,
            cancel=cancel,
        )
        self.prune(target)
        return result

    def maybe_back_up(self, trigger: Trigger) -> BackupResult | None:
        """Run an automatic backup if the schedule says one is due (lock, quit, timer)."""
        settings = self.settings
        target = self.destination()
        if target is None or not target.is_dir():
            return None
        schedule = Schedule(on_lock=settings.on_lock, on_quit=settings.on_quit)
        if not schedule.is_due(trigger, self.last_good(), self._vault.options.clock()):
            return None
        return self.back_up_now(target)

    def prune(self, folder: Path) -> list[Path]:
        """Delete the backups retention does not keep; return what was removed."""
        settings = self.settings
        retention = Retention(settings.keep_daily, settings.keep_weekly, settings.keep_monthly)
        dated = {
            moment: listed.path
            for listed in list_backups(folder)
            if (moment := created_at(listed.path)) is not None
        }
        keep = retention.keep(dated)
        removed = [path for moment, path in dated.items() if moment not in keep]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    def verify(self, path: Path) -> VerifyResult:
        """Verify one of this vault's backups with the vault's own key; audited."""
        result = verify_backup(
            path, BackupSecret(vault_secret=self._vault.backup_key()), vault=self._vault
        )
        record_verification(self._vault, path, result)
        return result

    def history(self) -> list[BackupRecord]:
        """The backups in the destination, newest first. A backup written by this vault was read
        back and checked when it was made (verified); a later ``Verify`` updates that."""
        folder = self.destination()
        if folder is None:
            return []
        state: dict[str, bool] = {}
        for entry in self._vault.audit_entries():
            if entry.action == AuditAction.BACKUP_CREATED:
                state[entry.object_id[:12]] = True
            elif entry.action == AuditAction.BACKUP_VERIFIED:
                state[entry.object_id[:12]] = bool(entry.details_dict().get("ok"))
        records = []
        for listed in list_backups(folder):
            parsed = parse_name(listed.path)
            if parsed is not None:
                moment, short_id = parsed
                records.append(BackupRecord(listed.path, moment, listed.size, state.get(short_id)))
        return records

    def last_good(self) -> datetime | None:
        folder = self.destination()
        if folder is None:
            return None
        moments = [m for listed in list_backups(folder) if (m := created_at(listed.path))]
        return max(moments, default=None)

    def warning(self) -> str | None:
        folder = self.destination()
        reachable = folder is not None and folder.is_dir()
        if folder is None:
            return (
                "No backup folder is set. Choose one so that a lost laptop does not mean lost "
                "records."
            )
        return health_warning(self.last_good(), reachable, self._vault.options.clock())
