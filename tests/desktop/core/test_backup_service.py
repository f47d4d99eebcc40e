from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import Vault, VaultOptions
from desktop.core.backup_policy import Trigger
from desktop.core.backup_settings import BackupSettings, BackupSettingsStore
from desktop.core.backups import BackupService, parse_name


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> tuple[BackupService, Vault, Clock, Path]:
    clock = Clock()
    options = VaultOptions(actor="user:test", clock=clock, state_dir=tmp_path / "state")
    vault, _ = Vault.create(tmp_path / "vault", "a long passphrase", kdf=TEST_ONLY, options=options)
    store = BackupSettingsStore(tmp_path / "state", tmp_path / "vault")
    destination = tmp_path / "usb-drive"
    destination.mkdir()
    service = BackupService(vault, store)
    return service, vault, clock, destination


def test_settings_round_trip_outside_the_vault(
    setup: tuple[BackupService, Vault, Clock, Path],
) -> None:
    service, vault, _, destination = setup
    assert service.settings == BackupSettings()
    service.save_settings(BackupSettings(destination=str(destination), keep_daily=3))
    assert service.settings.keep_daily == 3 and service.destination() == destination
    vault.lock()


def test_automatic_backup_on_lock_at_most_once_a_day(
    setup: tuple[BackupService, Vault, Clock, Path],
) -> None:
    service, vault, clock, destination = setup
    assert service.maybe_back_up(Trigger.LOCK) is None  # no folder configured yet
    assert service.warning() is not None
    service.save_settings(BackupSettings(destination=str(destination)))
    assert "no backup yet" in (service.warning() or "")
    first = service.maybe_back_up(Trigger.LOCK)
    assert first is not None and first.path.exists()
    assert service.warning() is None
    clock.now += timedelta(hours=5)
    assert service.maybe_back_up(Trigger.LOCK) is None
    clock.now += timedelta(hours=20)
    assert service.maybe_back_up(Trigger.QUIT) is not None
    clock.now += timedelta(days=8)
    assert "days old" in (service.warning() or "")
    history = service.history()
    assert len(history) == 2 and all(record.verified for record in history)
    assert history[0].created > history[1].created
    vault.lock()


def test_retention_prunes_old_backups(setup: tuple[BackupService, Vault, Clock, Path]) -> None:
    service, vault, clock, destination = setup
    service.save_settings(
        BackupSettings(destination=str(destination), keep_daily=2, keep_weekly=0, keep_monthly=0)
    )
    for _ in range(4):
        service.back_up_now()
        clock.now += timedelta(days=1)
    names = sorted(p.name for p in destination.iterdir())
    assert len(names) == 2
    kept = sorted(parse_name(destination / n)[0].day for n in names)  # type: ignore[index]
    assert kept == [4, 5]
    vault.lock()


def test_verify_records_the_result(setup: tuple[BackupService, Vault, Clock, Path]) -> None:
    service, vault, _, destination = setup
    result = service.back_up_now(destination)
    assert service.verify(result.path).ok
    entries = [e for e in vault.audit_entries() if e.action == "backup.verified"]
    assert len(entries) == 1 and entries[0].details_dict()["ok"] is True
    vault.lock()
