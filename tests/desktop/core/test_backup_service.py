from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.backup import WrongKeyError as WrongKeyErrorType
from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import Vault, VaultOptions
from crypto.vault_backup import create_backup
from desktop.core.backup_policy import Trigger
from desktop.core.backup_settings import BackupSettings, BackupSettingsStore
from desktop.core.backups import (
    BackupCancelledError,
    BackupError,
    BackupService,
    Phase,
    RestoreKey,
    RestoreRequest,
    RestoreResult,
    Step,
    VaultExistsError,
    explain,
    is_cancelled,
    parse_name,
)
from desktop.core.errors import PassphraseTooWeakError


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


# --------------------------------------------------------------------------- progress and cancel
@pytest.fixture
def filled(tmp_path: Path) -> tuple[BackupService, Vault, RecoveryKey, Path]:
    """A vault of a few hundred KiB (several 64 KiB chunks) with a backup folder configured."""
    options = VaultOptions(actor="user:test", clock=Clock(), state_dir=tmp_path / "state")
    vault, recovery = Vault.create(tmp_path / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    with vault.transaction() as tx:
        for index in range(1500):
            tx.audit("note.viewed", object_type="note", object_id=f"n{index:04d}" * 4)
    destination = tmp_path / "usb-drive"
    destination.mkdir()
    service = BackupService(vault, BackupSettingsStore(tmp_path / "state", tmp_path / "vault"))
    service.save_settings(BackupSettings(destination=str(destination)))
    return service, vault, recovery, destination


PASSPHRASE = "a long passphrase"


def test_back_up_now_reports_steps_a_progress_bar_can_show(
    filled: tuple[BackupService, Vault, RecoveryKey, Path],
) -> None:
    service, vault, _, _ = filled
    steps: list[Step] = []
    counts: list[int] = []
    result = service.back_up_now(on_step=steps.append, progress=counts.append)
    assert result.path.exists()
    assert counts and counts == sorted(counts)  # the byte counts still reach their caller
    assert steps[0] == Step(Phase.WRITING, 0, steps[0].total) and steps[0].percent == 0
    writing = [s.percent or 0 for s in steps if s.phase is Phase.WRITING]
    assert writing == sorted(writing) and any(0 < p < 100 for p in writing)
    assert steps[-1].phase is Phase.CHECKING_WRITE and steps[-1].percent is None
    assert not steps[-1].cancellable and steps[0].cancellable
    vault.lock()


def test_a_cancelled_backup_leaves_no_file(
    filled: tuple[BackupService, Vault, RecoveryKey, Path],
) -> None:
    service, vault, _, destination = filled
    steps: list[Step] = []
    with pytest.raises(BackupCancelledError):
        service.back_up_now(on_step=steps.append, cancel=lambda: len(steps) > 1)
    assert list(destination.iterdir()) == []  # no backup, no hidden partial file
    assert service.history() == [] and is_cancelled(BackupCancelledError(0))
    assert explain(BackupCancelledError(0)) == "Cancelled. Nothing was written."
    assert not any(e.action == "backup.created" for e in vault.audit_entries())
    vault.lock()


def test_verify_reports_reading_then_checking_and_can_be_cancelled(
    filled: tuple[BackupService, Vault, RecoveryKey, Path],
) -> None:
    service, vault, _, destination = filled
    made = service.back_up_now()
    steps: list[Step] = []
    assert service.verify(made.path, on_step=steps.append).ok
    assert steps[0] == Step(Phase.READING, 0, made.size)
    assert any(s.phase is Phase.READING and 0 < (s.percent or 0) < 100 for s in steps)
    assert steps[-1].phase is Phase.CHECKING
    verified = [e for e in vault.audit_entries() if e.action == "backup.verified"]
    assert len(verified) == 1

    steps.clear()
    with pytest.raises(BackupCancelledError):
        service.verify(made.path, on_step=steps.append, cancel=lambda: len(steps) > 2)
    assert [e for e in vault.audit_entries() if e.action == "backup.verified"] == verified
    assert [p.name for p in destination.iterdir()] == [made.path.name]  # staging removed
    vault.lock()


def test_a_damaged_backup_is_recorded_as_failed(
    filled: tuple[BackupService, Vault, RecoveryKey, Path],
) -> None:
    service, vault, _, _ = filled
    made = service.back_up_now()
    assert service.history()[0].verified is True
    data = bytearray(made.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    made.path.write_bytes(bytes(data))
    with pytest.raises(BackupError) as caught:
        service.verify(made.path)
    assert "chunk" in explain(caught.value).lower()
    assert service.history()[0].verified is False
    failed = [e for e in vault.audit_entries() if e.action == "backup.verified"][-1]
    assert failed.outcome == "failure" and failed.details_dict()["ok"] is False
    vault.lock()


def test_another_vaults_backups_in_a_shared_folder_are_left_alone(
    filled: tuple[BackupService, Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    service, vault, _, destination = filled
    service.save_settings(
        BackupSettings(destination=str(destination), keep_daily=1, keep_weekly=0, keep_monthly=0)
    )
    other_options = VaultOptions(actor="user:test", state_dir=tmp_path / "state2")
    other, _ = Vault.create(tmp_path / "other", PASSPHRASE, kdf=TEST_ONLY, options=other_options)
    theirs = create_backup(other, destination).path
    other.lock()
    clock = vault.options.clock
    assert isinstance(clock, Clock)
    first = service.back_up_now()
    clock.now += timedelta(days=1)
    second = service.back_up_now()
    assert not first.path.exists() and second.path.exists()  # pruned: keep one daily
    assert theirs.exists()  # never pruned by this vault
    assert [r.path for r in service.history()] == [second.path]
    vault.lock()


# --------------------------------------------------------------------------- restore
def test_restore_with_the_recovery_key_into_a_new_folder(
    filled: tuple[BackupService, Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    service, vault, recovery, _ = filled
    made = service.back_up_now()
    target = tmp_path / "restored" / "vault"
    steps: list[Step] = []
    result = service.restore(
        RestoreRequest(
            made.path,
            target,
            RestoreKey.RECOVERY_KEY,
            secret=recovery.formatted().lower(),
            passphrase="a brand new passphrase",
        ),
        on_step=steps.append,
    )
    assert result == RestoreResult(target, None)
    assert steps[0].phase is Phase.READING and steps[-1].phase is Phase.CHECKING
    assert vault.is_open  # the open vault is untouched
    restored = Vault.unlock(target, "a brand new passphrase", options=vault.options)
    actions = [e.action for e in restored.audit_entries()]
    assert actions.count("note.viewed") == 1500 and "backup.restored" in actions
    restored.lock()
    vault.lock()


def test_restore_with_the_backup_passphrase_or_this_vaults_key(
    filled: tuple[BackupService, Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    service, vault, _, _ = filled
    made = service.back_up_now(backup_passphrase="backup words here", kdf=TEST_ONLY)
    by_passphrase = tmp_path / "by-passphrase"
    service.restore(
        RestoreRequest(
            made.path,
            by_passphrase,
            RestoreKey.BACKUP_PASSPHRASE,
            secret="backup words here",
            passphrase=PASSPHRASE,
        )
    )
    Vault.unlock(by_passphrase, PASSPHRASE, options=vault.options).lock()
    by_vault_key = tmp_path / "by-vault-key"
    by_vault_key.mkdir()  # an empty folder is fine
    service.restore(
        RestoreRequest(made.path, by_vault_key, RestoreKey.THIS_VAULT, passphrase=PASSPHRASE)
    )
    Vault.unlock(by_vault_key, PASSPHRASE, options=vault.options).lock()
    with pytest.raises(WrongKeyErrorType):
        service.restore(
            RestoreRequest(
                made.path,
                tmp_path / "wrong",
                RestoreKey.BACKUP_PASSPHRASE,
                secret="not the backup words",
                passphrase=PASSPHRASE,
            )
        )
    assert not (tmp_path / "wrong").exists()
    vault.lock()


def test_restore_refuses_existing_folders_unless_told_to_move_a_vault_aside(
    filled: tuple[BackupService, Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    service, vault, recovery, _ = filled
    made = service.back_up_now()

    def request(target: Path, *, replace: bool = False) -> RestoreRequest:
        return RestoreRequest(
            made.path,
            target,
            RestoreKey.RECOVERY_KEY,
            secret=recovery.formatted(),
            passphrase="a brand new passphrase",
            replace_existing=replace,
        )

    first = tmp_path / "first"
    service.restore(request(first))
    with pytest.raises(VaultExistsError) as caught:
        service.restore(request(first))
    assert "already" in explain(caught.value)
    result = service.restore(request(first, replace=True))
    assert result.moved_aside is not None and (result.moved_aside / "vault.header").is_file()
    # the open vault's folder: never, even when asked to move a vault aside
    with pytest.raises(ValueError, match="you have open"):
        service.restore(request(vault.path, replace=True))
    with pytest.raises(ValueError, match="you have open"):
        service.restore(request(vault.path / "inside"))
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "letter.txt").write_text("hello")
    with pytest.raises(ValueError, match="not empty"):
        service.restore(request(papers))
    assert (papers / "letter.txt").read_text() == "hello"
    with pytest.raises(PassphraseTooWeakError):
        service.restore(
            RestoreRequest(
                made.path, tmp_path / "x", RestoreKey.RECOVERY_KEY, recovery.formatted(), "short"
            )
        )
    assert vault.is_open
    vault.lock()


def test_a_cancelled_restore_leaves_the_target_as_it_was(
    filled: tuple[BackupService, Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    service, vault, recovery, _ = filled
    made = service.back_up_now()
    target = tmp_path / "empty"
    target.mkdir()
    steps: list[Step] = []
    with pytest.raises(BackupCancelledError):
        service.restore(
            RestoreRequest(
                made.path, target, RestoreKey.RECOVERY_KEY, recovery.formatted(), "a new passphrase"
            ),
            on_step=steps.append,
            cancel=lambda: len(steps) > 2,
        )
    assert target.is_dir() and list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "empty", "state", "usb-drive", "vault"
    ]  # fmt: skip
    vault.lock()


def test_history_reads_the_backup_entries_through_the_index_not_the_whole_log(
    setup: tuple[BackupService, Vault, Clock, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At ten years the log holds a million entries: the history asks the log for backup
    entries since the oldest backup in the folder (action and time index) and never walks it."""
    service, vault, clock, destination = setup
    service.save_settings(BackupSettings(destination=str(destination)))
    first = service.back_up_now()
    with vault.transaction() as tx:  # a busy practice between two backups
        for number in range(300):
            tx.audit("note.opened", object_type="note", object_id=str(number))
    clock.now += timedelta(days=2)
    second = service.back_up_now()
    asked = []
    query = Vault.audit_query
    monkeypatch.setattr(Vault, "audit_entries", lambda *_: pytest.fail("walked the whole log"))
    monkeypatch.setattr(Vault, "audit_query", lambda v, q=None: asked.append(q) or query(v, q))
    history = service.history()
    assert [r.path for r in history] == [second.path, first.path]
    assert all(r.verified for r in history)
    (wanted,) = asked
    assert wanted is not None and set(wanted.actions) == {"backup.created", "backup.verified"}
    made = parse_name(first.path)
    assert made is not None and wanted.start is not None and wanted.start <= made[0]
    vault.lock()
