from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto import atomic as atomic_module
from crypto.audit.actions import AuditAction
from crypto.errors import (
    PassphrasePolicyError,
    UnlockError,
    UnlockThrottledError,
    VaultBusyError,
    VaultExistsError,
    VaultLockedError,
    VaultNotFoundError,
)
from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import HEADER_NAME, Vault, VaultOptions

Snapshot = Callable[[Path], dict[str, str]]


def actions(vault: Vault) -> list[str]:
    return [e.action for e in vault.audit_entries()]


def test_create_then_unlock_round_trip(
    vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault, _ = Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)
    with vault.transaction() as tx:
        tx.execute("CREATE TABLE notes(body TEXT)")
        tx.execute("INSERT INTO notes VALUES ('session went well')")
    vault.lock()
    assert not vault.is_open
    with pytest.raises(VaultLockedError):
        vault.query("SELECT 1")
    again = Vault.unlock(vault_dir, passphrase, options=options)
    assert again.query("SELECT body FROM notes") == [("session went well",)]
    assert actions(again) == ["vault.created", "vault.locked", "vault.unlocked"]
    again.lock()
    assert sorted(p.name for p in vault_dir.iterdir()) == [
        "vault-0.db",
        "vault.header",
        "vault.lock",
    ]


def test_two_vaults_with_one_passphrase_share_no_salt_or_key(
    tmp_path: Path, options: VaultOptions, passphrase: str
) -> None:
    a, _ = Vault.create(tmp_path / "a", passphrase, kdf=TEST_ONLY, options=options)
    b, _ = Vault.create(tmp_path / "b", passphrase, kdf=TEST_ONLY, options=options)
    assert a.header.kdf_salt != b.header.kdf_salt
    assert a.backup_key() != b.backup_key()
    assert a.header.passphrase_slot != b.header.passphrase_slot
    a.lock()
    b.lock()


def test_wrong_passphrase_is_opaque_and_changes_no_file(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    snapshot: Snapshot,
) -> None:
    make_vault().lock()
    before = snapshot(vault_dir)
    with pytest.raises(UnlockError) as caught:
        Vault.unlock(vault_dir, "not the passphrase", options=options)
    assert str(caught.value) == "could not unlock: wrong passphrase or damaged vault"
    assert snapshot(vault_dir) == before
    # the lock is released: the right passphrase still opens it
    Vault.unlock(vault_dir, "correct horse battery staple", options=options).lock()


def test_failed_attempts_are_shown_audited_and_cleared(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    clock: Any,
) -> None:
    make_vault().lock()
    for _ in range(2):
        with pytest.raises(UnlockError):
            Vault.unlock(vault_dir, "guess", options=options)
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    assert vault.unlock_info is not None
    assert len(vault.unlock_info.failed_attempts) == 2
    entries = list(vault.audit_entries())
    failed = [e for e in entries if e.action == AuditAction.UNLOCK_FAILED]
    assert len(failed) == 2 and all(e.outcome == "failure" for e in failed)
    assert entries[-1].action == AuditAction.UNLOCK
    assert entries[-1].details_dict()["failed_attempts"] == 2
    vault.lock()
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    assert vault.unlock_info is not None and vault.unlock_info.failed_attempts == ()
    vault.lock()


def test_repeated_failures_meet_a_growing_delay(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    clock: Any,
) -> None:
    make_vault().lock()
    waits = []
    for _ in range(6):
        while True:
            try:
                Vault.unlock(vault_dir, "guess", options=options)
            except UnlockThrottledError as throttled:
                waits.append(throttled.retry_after)
                clock.advance(throttled.retry_after)
            except UnlockError:
                break
    assert waits == [1.0, 2.0, 4.0]
    with pytest.raises(UnlockThrottledError):
        Vault.unlock(vault_dir, passphrase, options=options)  # even the right one must wait
    clock.advance(8)
    Vault.unlock(vault_dir, passphrase, options=options).lock()


def test_corrupted_header_is_the_same_opaque_error(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    snapshot: Snapshot,
) -> None:
    make_vault().lock()
    header = vault_dir / HEADER_NAME
    data = bytearray(header.read_bytes())
    position = data.index(b'"ciphertext": "') + 20
    data[position] = ord("A") if data[position] != ord("A") else ord("B")
    header.write_bytes(bytes(data))
    before = snapshot(vault_dir)
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
    header.write_bytes(b"\x00" * 10)
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
    header.write_bytes(bytes(data))
    assert snapshot(vault_dir) == before


@pytest.mark.parametrize("offset", [0, 20, 1000, 4095])
def test_database_failing_its_hmac_is_the_same_opaque_error(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    snapshot: Snapshot,
    offset: int,
) -> None:
    make_vault().lock()
    db = vault_dir / "vault-0.db"
    data = bytearray(db.read_bytes())
    data[offset] ^= 0x01
    db.write_bytes(bytes(data))
    before = snapshot(vault_dir)
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
    assert snapshot(vault_dir) == before


@pytest.mark.parametrize("page", ["middle", "last"])
def test_damage_deeper_in_the_database_is_found(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    snapshot: Snapshot,
    page: str,
) -> None:
    vault = make_vault()
    with vault.transaction() as tx:
        tx.execute("CREATE TABLE filler(x BLOB)")
        tx.executemany("INSERT INTO filler VALUES (randomblob(3000))", [()] * 200)
    assert vault.integrity_problems() == []
    vault.lock()
    db = vault_dir / "vault-0.db"
    data = bytearray(db.read_bytes())
    offset = len(data) // 2 if page == "middle" else len(data) - 100
    data[offset] ^= 0x01
    db.write_bytes(bytes(data))
    before = snapshot(vault_dir)
    try:
        vault = Vault.unlock(vault_dir, passphrase, options=options)
    except UnlockError:
        assert snapshot(vault_dir) == before  # refused at unlock, nothing written
        return
    problems = vault.integrity_problems()
    vault._close()
    assert problems, "a flipped bit in a page must fail SQLCipher's page HMAC check"


def test_missing_and_existing_vaults(
    make_vault: Callable[[], Vault], vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    with pytest.raises(VaultNotFoundError):
        Vault.unlock(vault_dir, passphrase, options=options)
    vault = make_vault()
    with pytest.raises(VaultBusyError):
        Vault.unlock(vault_dir, passphrase, options=options)
    vault.lock()
    with pytest.raises(VaultExistsError):
        Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)


@pytest.mark.parametrize("bad", ["", "x" * 1025])
def test_passphrase_policy(vault_dir: Path, options: VaultOptions, bad: str) -> None:
    with pytest.raises(PassphrasePolicyError):
        Vault.create(vault_dir, bad, kdf=TEST_ONLY, options=options)
    assert not (vault_dir / HEADER_NAME).exists()


def test_unicode_passphrase_normalised(vault_dir: Path, options: VaultOptions) -> None:
    composed, decomposed = "caf\u00e9 au lait", "cafe\u0301 au lait"
    Vault.create(vault_dir, composed, kdf=TEST_ONLY, options=options)[0].lock()
    Vault.unlock(vault_dir, decomposed, options=options).lock()


def test_change_passphrase_rewraps_without_reencrypting(
    make_vault: Callable[[], Vault], vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault = make_vault()
    db_salt = (vault_dir / "vault-0.db").read_bytes()[:16]
    old_slot = vault.header.passphrase_slot
    vault.change_passphrase("a brand new passphrase")
    assert vault.header.passphrase_slot != old_slot
    vault.lock()
    # same database file, same SQLCipher salt: the pages were not re-encrypted
    assert (vault_dir / "vault-0.db").read_bytes()[:16] == db_salt
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
    vault = Vault.unlock(vault_dir, "a brand new passphrase", options=options)
    assert AuditAction.PASSPHRASE_CHANGED in actions(vault)
    vault.lock()


def test_recovery_key_unlocks_forces_new_passphrase_and_is_emergency_access(
    vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault, recovery = Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)
    vault.lock()
    typed = RecoveryKey.parse(recovery.formatted().lower())
    vault = Vault.recover(vault_dir, typed, "after the recovery", options=options)
    entries = list(vault.audit_entries())
    emergency = [e for e in entries if e.action == AuditAction.RECOVERY_UNLOCK]
    assert len(emergency) == 1 and emergency[0].details_dict()["emergency"] is True
    assert entries[-1].action == AuditAction.PASSPHRASE_CHANGED
    vault.lock()
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
    Vault.unlock(vault_dir, "after the recovery", options=options).lock()


def test_wrong_recovery_key_is_opaque_and_changes_nothing(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    snapshot: Snapshot,
) -> None:
    make_vault().lock()
    before = snapshot(vault_dir)
    with pytest.raises(UnlockError):
        Vault.recover(vault_dir, RecoveryKey.generate(), "new one", options=options)
    assert snapshot(vault_dir) == before
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    assert vault.unlock_info is not None
    assert [f.method for f in vault.unlock_info.failed_attempts] == ["recovery"]
    vault.lock()


def test_rekey_replaces_master_key_and_database(
    vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault, old_recovery = Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)
    with vault.transaction() as tx:
        tx.execute("CREATE TABLE notes(body TEXT)")
        tx.execute("INSERT INTO notes VALUES ('kept across rekey')")
        tx.audit("test.note_written", object_type="note", object_id="1")
    old_backup_key = vault.backup_key()
    with pytest.raises(UnlockError):
        vault.rekey("not the passphrase")
    new_recovery = vault.rekey(passphrase)
    assert vault.backup_key() != old_backup_key
    assert vault.header.generation == 1
    report = vault.verify_audit()
    assert report.head.epoch == 1
    vault.lock()
    assert sorted(p.name for p in vault_dir.iterdir()) == [
        "vault-1.db",
        "vault.header",
        "vault.lock",
    ]
    with pytest.raises(UnlockError):
        Vault.recover(vault_dir, old_recovery, "x y z", options=options)
    vault = Vault.recover(vault_dir, new_recovery, "after rekey", options=options)
    assert vault.query("SELECT body FROM notes") == [("kept across rekey",)]
    rekeys = [e for e in vault.audit_entries() if e.action == AuditAction.REKEY]
    assert len(rekeys) == 1 and rekeys[0].epoch == 0
    vault.verify_audit()
    vault.lock()


def test_interrupted_rekey_leaves_the_old_vault_working(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault = make_vault()

    def crash(self: Vault, header: Any) -> None:
        raise OSError("power cut")

    with monkeypatch.context() as patch:
        patch.setattr(Vault, "_write_header", crash)
        with pytest.raises(OSError, match="power cut"):
            vault.rekey(passphrase)
    vault._close()  # the process dies
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    assert vault.header.generation == 0
    vault.verify_audit()
    vault.lock()
    assert not (vault_dir / "vault-1.db").exists()


def test_header_write_is_atomic(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    options: VaultOptions,
    passphrase: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vault = make_vault()
    before = (vault_dir / HEADER_NAME).read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError("crash before rename")

    with monkeypatch.context() as patch:
        patch.setattr(atomic_module.os, "replace", crash)
        # A key change writes its header first: nothing else moved.
        with pytest.raises(OSError):
            vault.change_passphrase("never lands")
        # An ordinary commit writes the database first: it committed, the header did not move.
        with pytest.raises(OSError):
            vault.audit("test.committed")
    vault._close()
    assert (vault_dir / HEADER_NAME).read_bytes() == before
    assert [p.name for p in vault_dir.iterdir() if p.name.endswith(".tmp")] == []
    # the old passphrase still works and the checkpoint lags by one commit (one entry), which the
    # unlock accepts and reports
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    assert vault.unlock_info is not None and vault.unlock_info.checkpoint_lag == 1
    assert [e.action for e in vault.audit_entries()][-2:] == ["test.committed", "vault.unlocked"]
    vault.verify_audit()
    vault.lock()


def test_interrupted_creation_is_set_aside(
    vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault_dir.mkdir()
    (vault_dir / "vault-0.db").write_bytes(b"\x01" * 4096)
    vault, _ = Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)
    vault.lock()
    names = {p.name for p in vault_dir.iterdir()}
    assert any(n.startswith("vault-0.db.orphan-") for n in names)
    Vault.unlock(vault_dir, passphrase, options=options).lock()


def test_copy_of_vault_folder_opens_elsewhere(
    make_vault: Callable[[], Vault], vault_dir: Path, options: VaultOptions, tmp_path: Path
) -> None:
    make_vault().lock()
    moved = tmp_path / "moved"
    shutil.copytree(vault_dir, moved)
    Vault.unlock(moved, "correct horse battery staple", options=options).lock()
    assert json.loads((moved / HEADER_NAME).read_text())["database"] == "vault-0.db"


def test_unlocked_on_one_thread_locked_on_another_frees_the_vault(
    vault_dir: Path, options: VaultOptions
) -> None:
    """The app unlocks on a worker thread and locks on another: the single-process guard must
    follow the vault, not the thread (a thread-local file lock stayed held and refused the next
    unlock as "open in another process")."""
    import threading

    Vault.create(vault_dir, "a long passphrase", kdf=TEST_ONLY, options=options)[0].lock()
    opened: list[Vault] = []
    worker = threading.Thread(
        target=lambda: opened.append(Vault.unlock(vault_dir, "a long passphrase", options=options))
    )
    worker.start()
    worker.join()
    with pytest.raises(VaultBusyError):  # still held while open, whichever thread asks
        Vault.unlock(vault_dir, "a long passphrase", options=options)
    closer = threading.Thread(target=opened[0].lock)
    closer.start()
    closer.join()
    Vault.unlock(vault_dir, "a long passphrase", options=options).lock()


def test_change_passphrase_with_a_wrong_current_one_is_refused_and_audited(
    make_vault: Callable[[], Vault], vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault = make_vault()
    header_before = (vault_dir / HEADER_NAME).read_bytes()
    for wrong in ("not the passphrase", ""):
        with pytest.raises(UnlockError):
            vault.change_passphrase("a brand new passphrase", current_passphrase=wrong)
    failures = [
        e for e in vault.audit_entries()
        if e.action == AuditAction.PASSPHRASE_CHANGED and e.outcome == "failure"
    ]  # fmt: skip
    assert len(failures) == 2
    after = json.loads((vault_dir / HEADER_NAME).read_bytes())
    before = json.loads(header_before)
    assert after["wrapped"] == before["wrapped"]  # nothing re-wrapped
    vault.change_passphrase("a brand new passphrase", current_passphrase=passphrase)
    vault.lock()
    Vault.unlock(vault_dir, "a brand new passphrase", options=options).lock()
