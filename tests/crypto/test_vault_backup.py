"""Vault backups end to end: create, verify, restore, and every kind of bad input."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto import vault_backup
from crypto.audit.actions import AuditAction
from crypto.backup import (
    BackupCancelledError,
    BackupIOError,
    ChunkCorruptError,
    TruncatedError,
    WrongKeyError,
)
from crypto.errors import UnlockError, VaultExistsError
from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import Vault, VaultOptions
from crypto.vault_backup import BackupSecret, create_backup, restore_backup, verify_backup

CANARY = "CANARY-backup-9d1e-must-not-leak"
Snapshot = Callable[[Path], dict[str, str]]


@pytest.fixture
def world(
    tmp_path: Path, options: VaultOptions, passphrase: str
) -> tuple[Vault, RecoveryKey, Path]:
    vault, recovery = Vault.create(tmp_path / "vault", passphrase, kdf=TEST_ONLY, options=options)
    with vault.transaction() as tx:
        tx.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
        tx.executemany(
            "INSERT INTO notes(body) VALUES (?)",
            [(f"{CANARY} {i} " + "x" * 3000,) for i in range(60)],
        )
        tx.audit("test.notes_written", details={"count": 60})
    backups = tmp_path / "backups"
    backups.mkdir()
    return vault, recovery, backups


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def scan(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and CANARY.encode() in p.read_bytes()]


def test_create_writes_one_verified_file_and_audits(world: tuple[Vault, RecoveryKey, Path]) -> None:
    vault, _, backups = world
    result = create_backup(vault, backups)
    assert result.path.parent == backups and result.path.name.endswith(".qrbackup")
    assert [p.name for p in backups.iterdir()] == [result.path.name]
    created = [e for e in vault.audit_entries() if e.action == AuditAction.BACKUP_CREATED]
    assert len(created) == 1 and created[0].object_id == result.backup_id
    assert scan(backups) == [] and scan(vault.path) == []
    vault.lock()


def test_a_backup_hands_its_bytes_to_the_disk_as_it_goes(
    world: tuple[Vault, RecoveryKey, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large backup is synced every ``_SYNC_EVERY`` bytes, not only at its end, so the
    vault's own commits never queue behind the whole backup's writeback."""
    vault, _, backups = world
    every = 32 * 1024
    synced: list[int] = []
    fdatasync = os.fdatasync
    monkeypatch.setattr(vault_backup, "_SYNC_EVERY", every)
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(fd) or fdatasync(fd))
    result = create_backup(vault, backups)
    size = result.path.stat().st_size
    assert size > 4 * every
    assert len(synced) >= size // (2 * every)
    vault.lock()


def test_two_backups_share_no_ciphertext(world: tuple[Vault, RecoveryKey, Path]) -> None:
    vault, _, backups = world
    a = create_backup(vault, backups).path.read_bytes()
    vault.options.clock.advance(1)  # type: ignore[attr-defined]
    b = create_backup(vault, backups).path.read_bytes()
    blocks_a = {a[i : i + 32] for i in range(300, len(a) - 32, 32)}
    assert not any(b[i : i + 32] in blocks_a for i in range(300, len(b) - 32, 32))
    vault.lock()


def test_verify_with_recovery_key_and_with_backup_passphrase(
    world: tuple[Vault, RecoveryKey, Path], passphrase: str
) -> None:
    vault, recovery, backups = world
    path = create_backup(vault, backups, backup_passphrase="a separate backup passphrase").path
    entries = len(list(vault.audit_entries()))
    vault.lock()
    by_recovery = verify_backup(path, BackupSecret(recovery_key=recovery))
    assert by_recovery.ok and by_recovery.report.entries == entries - 1
    by_passphrase = verify_backup(
        path, BackupSecret(backup_passphrase="a separate backup passphrase"),
        vault_passphrase=passphrase,
    )  # fmt: skip
    assert by_passphrase.ok
    with pytest.raises(WrongKeyError):
        verify_backup(path, BackupSecret(recovery_key=RecoveryKey.generate()))
    with pytest.raises(WrongKeyError):
        verify_backup(path, BackupSecret(backup_passphrase="wrong backup passphrase"))
    with pytest.raises(UnlockError):
        verify_backup(
            path, BackupSecret(backup_passphrase="a separate backup passphrase"),
            vault_passphrase="wrong vault passphrase",
        )  # fmt: skip
    assert leftovers(backups) == []


def test_the_app_verifies_its_own_backup_without_any_secret(
    world: tuple[Vault, RecoveryKey, Path],
) -> None:
    vault, _, backups = world
    path = create_backup(vault, backups).path
    result = verify_backup(path, BackupSecret(vault_secret=vault.backup_key()), vault=vault)
    assert result.ok
    vault.lock()


def test_restore_with_recovery_key_on_a_new_machine(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path, options: VaultOptions
) -> None:
    vault, recovery, backups = world
    path = create_backup(vault, backups).path
    vault.lock()
    target = tmp_path / "new-machine" / "vault"
    moved = restore_backup(
        path, target, BackupSecret(recovery_key=recovery), new_passphrase="fresh start here",
        options=options,
    )  # fmt: skip
    assert moved is None
    restored = Vault.unlock(target, "fresh start here", options=options)
    assert restored.query("SELECT count(*) FROM notes") == [(60,)]
    actions = [e.action for e in restored.audit_entries()]
    assert AuditAction.BACKUP_RESTORED in actions and AuditAction.RECOVERY_UNLOCK in actions
    restored.verify_audit()
    restored.lock()
    assert leftovers(target.parent) == []


def test_restore_with_backup_passphrase_keeps_the_vault_passphrase(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path, options: VaultOptions, passphrase: str
) -> None:
    vault, _, backups = world
    path = create_backup(vault, backups, backup_passphrase="backup pass phrase").path
    vault.lock()
    target = tmp_path / "restored"
    restore_backup(
        path, target, BackupSecret(backup_passphrase="backup pass phrase"),
        vault_passphrase=passphrase, options=options,
    )  # fmt: skip
    Vault.unlock(target, passphrase, options=options).lock()


def test_restore_never_overwrites_without_being_told(
    world: tuple[Vault, RecoveryKey, Path],
    options: VaultOptions,
    passphrase: str,
    snapshot: Snapshot,
) -> None:
    vault, recovery, backups = world
    path = create_backup(vault, backups).path
    with vault.transaction() as tx:
        tx.execute("INSERT INTO notes(body) VALUES ('written after the backup')")
    vault.lock()
    before = snapshot(vault.path)
    with pytest.raises(VaultExistsError):
        restore_backup(
            path, vault.path, BackupSecret(recovery_key=recovery), new_passphrase="x" * 12
        )
    assert snapshot(vault.path) == before
    moved = restore_backup(
        path, vault.path, BackupSecret(recovery_key=recovery), new_passphrase="y" * 12,
        overwrite=True, options=options,
    )  # fmt: skip
    assert moved is not None and snapshot(moved) == before  # the old vault is kept, untouched
    restored = Vault.unlock(vault.path, "y" * 12, options=options)
    assert restored.query("SELECT count(*) FROM notes") == [(60,)]
    restored.lock()


@pytest.mark.parametrize(
    "damage", ["flip-payload", "flip-last", "truncate-boundary", "truncate-mid"]
)
def test_damaged_backup_is_refused_and_target_untouched(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path, damage: str
) -> None:
    vault, recovery, backups = world
    path = create_backup(vault, backups).path
    vault.lock()
    data = bytearray(path.read_bytes())
    header_end = 300
    chunk = 64 * 1024 + 16
    if damage == "flip-payload":
        data[header_end + chunk + 5] ^= 1
        expected: type[Exception] = ChunkCorruptError
    elif damage == "flip-last":
        data[-3] ^= 1
        expected = ChunkCorruptError
    elif damage == "truncate-boundary":
        n_chunks = (len(data) - header_end) // chunk
        data = data[: len(data) - chunk * max(1, n_chunks // 2)]
        expected = TruncatedError
    else:
        data = data[: len(data) - 1000]
        expected = TruncatedError
    path.write_bytes(bytes(data))
    target = tmp_path / "target"
    with pytest.raises(expected):
        restore_backup(path, target, BackupSecret(recovery_key=recovery), new_passphrase="z" * 12)
    assert not target.exists()
    assert leftovers(tmp_path) == [] and leftovers(backups) == []
    with pytest.raises(expected):
        verify_backup(path, BackupSecret(recovery_key=recovery))


def test_cancel_midway_leaves_nothing(world: tuple[Vault, RecoveryKey, Path]) -> None:
    vault, _, backups = world
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    with pytest.raises(BackupCancelledError):
        create_backup(vault, backups, cancel=cancel)
    assert list(backups.iterdir()) == []
    vault.lock()


class _FullDisk:
    def __init__(self, inner: Any, budget: int) -> None:
        self.inner, self.budget = inner, budget

    def write(self, data: bytes) -> int:
        if self.budget < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        return int(self.inner.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


def test_full_disk_during_create(
    world: tuple[Vault, RecoveryKey, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, _, backups = world
    real = vault_backup.write_backup_with_manifest

    def on_small_disk(manifest: Any, src: Any, dst: Any, **kw: Any) -> Any:
        return real(manifest, src, _FullDisk(dst, 100_000), **kw)

    monkeypatch.setattr(vault_backup, "write_backup_with_manifest", on_small_disk)
    with pytest.raises(BackupIOError) as caught:
        create_backup(vault, backups)
    assert caught.value.errno == errno.ENOSPC
    assert list(backups.iterdir()) == []
    vault.lock()


def test_full_disk_during_restore(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault, recovery, backups = world
    path = create_backup(vault, backups).path
    vault.lock()
    real_open = open

    def small_disk_open(file: Any, mode: str = "r", *args: Any, **kw: Any) -> Any:
        handle = real_open(file, mode, *args, **kw)
        return _FullDisk(handle, 50_000) if "w" in mode else handle

    monkeypatch.setattr(vault_backup, "open", small_disk_open, raising=False)
    target = tmp_path / "target"
    with pytest.raises(BackupIOError):
        restore_backup(path, target, BackupSecret(recovery_key=recovery), new_passphrase="z" * 12)
    assert not target.exists() and leftovers(tmp_path) == []


def test_not_a_backup_and_missing_folder(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path
) -> None:
    from crypto.backup import EmptyFileError, NotABackupError

    vault, recovery, _ = world
    with pytest.raises(BackupIOError):
        create_backup(vault, tmp_path / "unplugged-drive")
    vault.lock()
    empty = tmp_path / "empty.qrbackup"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        verify_backup(empty, BackupSecret(recovery_key=recovery))
    foreign = tmp_path / "photo.qrbackup"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    with pytest.raises(NotABackupError):
        verify_backup(foreign, BackupSecret(recovery_key=recovery))


def test_backup_of_a_rekeyed_vault_needs_the_recovery_key_of_its_time(
    world: tuple[Vault, RecoveryKey, Path], tmp_path: Path, passphrase: str
) -> None:
    vault, old_recovery, backups = world
    old = create_backup(vault, backups).path
    new_recovery = vault.rekey(passphrase)
    vault.options.clock.advance(1)  # type: ignore[attr-defined]
    new = create_backup(vault, backups).path
    vault.lock()
    assert verify_backup(old, BackupSecret(recovery_key=old_recovery)).ok
    assert verify_backup(new, BackupSecret(recovery_key=new_recovery)).ok
    with pytest.raises(WrongKeyError):
        verify_backup(new, BackupSecret(recovery_key=old_recovery))
