"""Key changes killed (SIGKILL) at every step, in a real subprocess: the next unlock always opens
with the right passphrase, says what happened, cleans up, and the right recovery key works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from crypto.errors import UnlockError
from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import Vault, VaultOptions

from .conftest import PASSPHRASE

NEW_PASSPHRASE = "a brand new passphrase"
REKEY_STEPS = (
    "rekey-prepared",
    "rekey-exported",
    "rekey-new-database-committed",
    "rekey-header-switched",
    "rekey-old-database-removed",
    "",  # not killed: the whole change
)
PASSPHRASE_STEPS = ("passphrase-header-written", "passphrase-committed", "")

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from crypto import vault_keys
    from crypto.vault import Vault, VaultOptions

    folder, state, operation, kill_at, passphrase, new_passphrase = sys.argv[1:7]

    def step(name):
        if name == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    vault_keys.step = step
    options = VaultOptions(actor="user:test", state_dir=Path(state))
    vault = Vault.unlock(Path(folder), passphrase, options=options)
    vault.audit("note.created", object_type="note", object_id="before-the-change")
    if operation == "rekey":
        pending = vault.prepare_rekey(passphrase)
        print(pending.recovery_key.formatted(), flush=True)  # shown to the person
        vault.commit_rekey(pending, pending.recovery_key.formatted())
    else:
        vault.change_passphrase(new_passphrase)
    vault.lock()
    """
)


def _run(folder: Path, state: Path, operation: str, kill_at: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(folder),
            str(state),
            operation,
            kill_at,
            PASSPHRASE,
            NEW_PASSPHRASE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QUIETROOM_ALLOW_TEST_KDF": "1"},
        check=False,
    )
    if kill_at:
        assert result.returncode == -9, result.stderr
    else:
        assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _created(tmp_path: Path) -> tuple[Path, Path, RecoveryKey]:
    folder, state = tmp_path / "vault", tmp_path / "state"
    vault, recovery = Vault.create(
        folder, PASSPHRASE, kdf=TEST_ONLY, options=VaultOptions(actor="user:test", state_dir=state)
    )
    vault.lock()
    return folder, state, recovery


@pytest.mark.parametrize("kill_at", REKEY_STEPS)
def test_rekey_killed_at_any_step(tmp_path: Path, kill_at: str) -> None:
    folder, state, old_recovery = _created(tmp_path)
    shown = _run(folder, state, "rekey", kill_at)
    options = VaultOptions(actor="user:test", state_dir=state)
    vault = Vault.unlock(folder, PASSPHRASE, options=options)
    info = vault.unlock_info
    assert info is not None
    switched = kill_at in ("rekey-header-switched", "rekey-old-database-removed", "")
    assert vault.header.generation == (1 if switched else 0)
    expected = {
        "": None,
        "rekey-prepared": "rekey-abandoned",
        "rekey-exported": "rekey-abandoned",
        "rekey-new-database-committed": "rekey-abandoned",
        "rekey-header-switched": "rekey-completed",
        "rekey-old-database-removed": "rekey-completed",
    }[kill_at]
    assert info.key_change == expected
    # Every stray file is gone: one database, no marker, no temporary header.
    db = vault.header.database
    assert sorted(p.name for p in folder.iterdir() if p.name != "vault.lock") == sorted(
        ["vault.header", db, db + "-shm", db + "-wal"]
    )
    vault.verify_audit()
    actions = [e.action for e in vault.audit_entries()]
    assert "note.created" in actions
    vault.lock()
    # The recovery key that works is the one in force; the other never opens. (Killed at
    # "rekey-prepared", the new key was never shown.)
    new_recovery = RecoveryKey.parse(shown) if shown else None
    works, refused = (new_recovery, old_recovery) if switched else (old_recovery, new_recovery)
    if refused is not None:
        with pytest.raises(UnlockError):
            Vault.recover(folder, refused, "whatever passphrase", options=options)
    assert works is not None
    Vault.recover(folder, works, NEW_PASSPHRASE, options=options).lock()


@pytest.mark.parametrize("kill_at", PASSPHRASE_STEPS)
def test_passphrase_change_killed_at_any_step(tmp_path: Path, kill_at: str) -> None:
    folder, state, _ = _created(tmp_path)
    _run(folder, state, "passphrase", kill_at)
    options = VaultOptions(actor="user:test", state_dir=state)
    with pytest.raises(UnlockError):  # the new slot was written first: the old one is gone
        Vault.unlock(folder, PASSPHRASE, options=options)
    vault = Vault.unlock(folder, NEW_PASSPHRASE, options=options)
    assert vault.unlock_info is not None
    completed = "passphrase-completed" if kill_at == "passphrase-header-written" else None
    assert vault.unlock_info.key_change == completed
    changes = [e for e in vault.audit_entries() if e.action == "vault.passphrase_changed"]
    assert len(changes) == 1
    vault.verify_audit()
    vault.lock()
