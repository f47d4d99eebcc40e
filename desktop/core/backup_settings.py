"""Where and when automatic backups go. Kept outside the vault (the app must know where to write
a backup while the vault is being locked) in the per-user state folder. It holds a folder path
and numbers, never PHI."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from crypto.atomic import atomic_write


@dataclass(frozen=True)
class BackupSettings:
    destination: str | None = None
    on_lock: bool = True
    on_quit: bool = True
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12


class BackupSettingsStore:
    def __init__(self, state_dir: Path, vault_dir: Path) -> None:
        digest = hashlib.sha256(str(vault_dir.resolve()).encode("utf-8")).hexdigest()[:32]
        self.path = state_dir / "backup-settings" / f"{digest}.json"

    def load(self) -> BackupSettings:
        try:
            doc = json.loads(self.path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            return BackupSettings()
        known = {k: v for k, v in doc.items() if k in BackupSettings.__dataclass_fields__}
        try:
            return BackupSettings(**known)
        except TypeError:
            return BackupSettings()

    def save(self, settings: BackupSettings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(asdict(settings), indent=2).encode("utf-8"))
