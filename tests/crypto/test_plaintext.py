"""No plaintext on disk: a canary written through the vault, with heavy WAL traffic and a SIGKILL in
the middle of a write, appears in no file under the vault, state or temp folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import Vault, VaultOptions

CANARY = "CANARY-7f3a-plaintext-must-never-touch-disk"

WRITER = """
import sys, time
from pathlib import Path
from crypto.vault import Vault, VaultOptions
options = VaultOptions(state_dir=Path(sys.argv[3]))
vault = Vault.unlock(Path(sys.argv[1]), sys.argv[2], options=options)
with vault.transaction() as tx:
    tx.execute("CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY, body TEXT)")
    tx.execute("CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(body)")
i = 0
while True:
    with vault.transaction() as tx:
        body = sys.argv[4] + " " + ("session detail " * 400) + str(i)
        tx.execute("INSERT INTO notes(body) VALUES (?)", (body,))
        tx.execute("INSERT INTO notes_fts(body) VALUES (?)", (body,))
        if i % 3 == 0:
            tx.execute("DELETE FROM notes WHERE id = ?", (i // 2,))
        tx.audit("test.note_written", object_type="note", object_id=str(i))
    i += 1
    if i == 40:
        print("writing", flush=True)
"""


def files_containing(folder: Path, needle: bytes) -> list[str]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            hits.append(str(path))
    return hits


def scan_all(folders: list[Path]) -> list[str]:
    hits: list[str] = []
    for needle in (CANARY.encode("utf-8"), CANARY.encode("utf-16-le")):
        for folder in folders:
            hits += files_containing(folder, needle)
    return hits


@pytest.mark.slow
def test_canary_never_reaches_disk_even_after_sigkill(
    tmp_path: Path, options: VaultOptions, passphrase: str
) -> None:
    vault_dir, temp = tmp_path / "vault", tmp_path / "tmp"
    temp.mkdir()
    Vault.create(vault_dir, passphrase, kdf=TEST_ONLY, options=options)[0].lock()
    env = {**os.environ, "TMPDIR": str(temp), "TEMP": str(temp), "TMP": str(temp)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(vault_dir), passphrase, str(options.state_dir), CANARY],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"writing"
    # mid-write: WAL present and growing
    wal = vault_dir / "vault-0.db-wal"
    deadline = time.monotonic() + 10
    while not (wal.exists() and wal.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wal.exists() and wal.stat().st_size > 0
    during = scan_all([vault_dir, temp, options.state_dir])
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    after_crash = scan_all([vault_dir, temp, options.state_dir])
    assert wal.exists(), "the kill left a WAL behind, as a crash would"
    assert not (vault_dir / "vault-0.db").read_bytes().startswith(b"SQLite format 3")
    # recovery after the crash replays the WAL; still nothing in the clear, and the data is there
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    rows = vault.query("SELECT count(*) FROM notes WHERE body LIKE ?", (CANARY + "%",))
    written = [e for e in vault.audit_entries() if e.action == "test.note_written"]
    assert len(written) >= 40 and rows[0][0] > 0
    vault.verify_audit()
    vault.lock()
    after_lock = scan_all([vault_dir, temp, options.state_dir])
    assert during == [] and after_crash == [] and after_lock == []
