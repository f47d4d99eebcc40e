"""Guards that once survived their own removal (issue 9, item 7): each test here goes red when the
guard it names is taken out. Keys are rebuilt by an independent path (the spec in
docs/vault-format.md), never by the code under test."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlcipher3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import kdf
from crypto.audit.chain import make_checkpoint, verify_checkpoint
from crypto.errors import AuditIntegrityError, UnlockError, WeakParametersError
from crypto.header import VaultHeader
from crypto.vault import Vault, VaultOptions, unwrap_with_passphrase

from .conftest import PASSPHRASE


def _sqlcipher_key(master: bytes, vault_id: str) -> bytes:
    """HKDF-SHA256, no salt, info = "quietroom/v1/sqlcipher-key" | vault_id (vault-format.md)."""
    info = b"quietroom/v1/sqlcipher-key|" + vault_id.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def _open_independently(db: Path, key: bytes) -> int:
    """Open a vault database the way any SQLCipher 4 tool would, with the raw key written out by
    hand; return how many audit entries it holds."""
    conn = sqlcipher3.connect(str(db))
    try:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    finally:
        conn.close()


def _master(folder: Path) -> tuple[VaultHeader, bytes]:
    header = VaultHeader.from_bytes((folder / "vault.header").read_bytes())
    return header, unwrap_with_passphrase(header, PASSPHRASE.encode())


def test_database_is_keyed_with_the_raw_hkdf_key(make_vault: Callable[[], Vault]) -> None:
    """If SQLCipher were handed the key as a passphrase (it would run its own PBKDF2 over it), the
    app would still open its own files, but no other SQLCipher reader could."""
    vault = make_vault()
    folder = vault.path
    vault.lock()
    header, master = _master(folder)
    assert _open_independently(folder / header.database, _sqlcipher_key(master, header.vault_id))
    with pytest.raises(sqlcipher3.DatabaseError):
        _open_independently(folder / header.database, bytes(32))


def test_rekey_attaches_the_new_database_with_its_raw_key(make_vault: Callable[[], Vault]) -> None:
    vault = make_vault()
    folder = vault.path
    vault.rekey(PASSPHRASE)
    vault.lock()
    header, master = _master(folder)
    assert header.generation == 1
    assert _open_independently(folder / header.database, _sqlcipher_key(master, header.vault_id))


def test_checkpoint_naming_another_entry_mac_is_refused() -> None:
    """A checkpoint whose tag is valid (made with the key) but whose MAC is not the one stored at
    its sequence number: two histories of the same length (an equal-length fork)."""
    key = os.urandom(32)
    vault_id = "ab" * 16
    ours, theirs = os.urandom(32), os.urandom(32)
    checkpoint = make_checkpoint(key, vault_id, 5, 0, theirs)
    with pytest.raises(AuditIntegrityError, match="forked"):
        verify_checkpoint(checkpoint, key, vault_id, 5, {5: ours})
    assert verify_checkpoint(checkpoint, key, vault_id, 5, {5: theirs}) == 5


def _modes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode)
        for p in [folder, *folder.rglob("*")]
    }


def test_files_are_owner_only(make_vault: Callable[[], Vault], options: VaultOptions) -> None:
    vault = make_vault()
    vault.audit("settings.changed")
    open_modes = _modes(vault.path)  # the database, its -wal and -shm, the lock and the header
    assert {name for name in open_modes if name.endswith(("-wal", "-shm"))}
    folder = vault.path
    vault.lock()
    with pytest.raises(UnlockError):
        Vault.unlock(folder, "wrong passphrase", options=options)  # writes the attempt counter
    for name, mode in {**open_modes, **_modes(folder), **_modes(options.state_dir)}.items():
        is_dir = (folder / name).is_dir() or (options.state_dir / name).is_dir() or name == "."
        assert mode == (0o700 if is_dir else 0o600), (name, oct(mode))


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_kib", 4 * 1024 * 1024), ("time_cost", 64), ("parallelism", 16)],
)
def test_kdf_cost_in_the_header_is_refused_before_argon2_runs(
    make_vault: Callable[[], Vault],
    options: VaultOptions,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    value: int,
) -> None:
    vault = make_vault()
    folder = vault.path
    vault.lock()
    doc = json.loads((folder / "vault.header").read_bytes())
    doc["kdf"][field] = value
    (folder / "vault.header").write_text(json.dumps(doc))

    def must_not_run(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2id ran on parameters above the caps")

    monkeypatch.setattr(kdf, "hash_secret_raw", must_not_run)
    with pytest.raises((UnlockError, WeakParametersError)):
        Vault.unlock(folder, PASSPHRASE, options=options)


def test_caps_are_what_calibration_can_write() -> None:
    fastest = kdf.calibrate(cpu_count=64, clock=iter([0.0, 1e-6]).__next__)
    fastest.check()
    assert fastest.memory_kib == kdf.MAX_MEMORY_KIB
    assert fastest.time_cost == kdf.MAX_TIME_COST
    assert fastest.parallelism == kdf.MAX_PARALLELISM


def test_leftovers_of_interrupted_operations_are_cleaned(
    make_vault: Callable[[], Vault], options: VaultOptions, tmp_path: Path
) -> None:
    """A restore or verification killed mid-way leaves a staging folder; a backup killed mid-way
    leaves a .partial file. An hour later they are removed (the next unlock, the next backup)."""
    from crypto.vault_backup import create_backup

    vault = make_vault()
    folder = vault.path
    vault.lock()
    hour_ago = time.time() - 3700
    old, fresh = folder.parent / ".qr-staging-old", folder.parent / ".qr-staging-fresh"
    for staging in (old, fresh):
        staging.mkdir()
        (staging / "vault-0.db").write_bytes(b"encrypted pages")
    os.utime(old, (hour_ago, hour_ago))
    vault = Vault.unlock(folder, PASSPHRASE, options=options)
    assert vault.unlock_info is not None and ".qr-staging-old" in vault.unlock_info.cleaned
    assert not old.exists() and fresh.exists()
    backups = tmp_path / "backups"
    backups.mkdir()
    partial = backups / ".quietroom-0123abcd-20260101T000000Z-0123456789ab.qrbackup.partial"
    partial.write_bytes(b"half a backup")
    os.utime(partial, (hour_ago, hour_ago))
    create_backup(vault, backups)
    assert not partial.exists() and len(list(backups.iterdir())) == 1
    vault.lock()
