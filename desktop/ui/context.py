"""What every page of the unlocked app is handed: the practice facade, a way to move between
pages, a clock, and the backup service. Pages never reach for globals or for each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from desktop.core.backups import BackupService
from desktop.core.practice import Practice


class Navigator(Protocol):
    """Moving around the main window. Implemented by ``MainWindow``; pages call it instead of
    knowing about each other."""

    def show_clients(self) -> None: ...
    def open_client(self, client_id: str) -> None: ...
    def open_note(self, note_id: str, *, psychotherapy: bool = False) -> None: ...
    def show_search(self, text: str = "") -> None: ...
    def show_audit(self, client_id: str | None = None) -> None: ...
    def show_settings(self) -> None: ...
    def show_backups(self) -> None: ...
    def start_video_session(self, session_id: str) -> None: ...
    def notify(self, message: str) -> None:
        """A short, PHI-free message in the status bar."""
        ...

    def backups_changed(self) -> None:
        """A backup was made, verified or the folder changed: refresh the status-bar warning."""
        ...

    def settings_changed(self) -> None:
        """Settings were saved: re-read what depends on them (auto-lock time)."""
        ...

    def set_call_active(self, active: bool) -> None:
        """A video call is live: auto-lock waits until it ends (lock on demand still works)."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class UiContext:
    practice: Practice
    nav: Navigator
    vault_dir: Path
    now: Callable[[], datetime] = _utc_now
    backups: BackupService | None = None
    relay_url: Callable[[], str] | None = field(default=None)
