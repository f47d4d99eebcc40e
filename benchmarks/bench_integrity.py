"""Why backup verification runs at about 100 MB/s and not 300 (issue 4), printed side by side.

    .venv/bin/python benchmarks/bench_integrity.py [--clients 250] [--notes-per-client 400]

Builds a demo vault, backs it up, then times on the same data:
1. ``verify_backup`` as a whole (every chunk, then the snapshot's page check, structural check
   and audit-chain walk; the first and last two run on two cores at once);
2. each database check alone on the SQLCipher file: ``cipher_integrity_check`` (every page's
   HMAC), ``quick_check`` and ``integrity_check`` (SQLite's structural checks), with the app's
   64 MiB page cache;
3. the same structural checks on a plain SQLite copy of the same database (no encryption), the
   upper bound any encrypted check could reach on this machine;
4. the app's Verify as a whole (``Vault.verify_audit``: chain, heads, every table's row sums,
   ``cipher_integrity_check`` and ``quick_check``), the row sums alone, and backup create's
   pre-check (page check + ``quick_check``).
The plaintext copy holds demo data only and is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")

from crypto.database import open_database
from crypto.kdf import TEST_ONLY
from crypto.vault import Vault, VaultOptions
from crypto.vault_backup import BackupSecret, create_backup, verify_backup
from desktop.core.practice import Practice

PASSPHRASE = "benchmark passphrase"


def timed_pragma(connect: object, pragma: str, size_mb: float) -> str:
    conn = connect()  # type: ignore[operator]
    conn.execute("PRAGMA cache_size = -65536")
    start = time.perf_counter()
    rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}")]
    seconds = time.perf_counter() - start
    conn.close()
    ok = rows in ([], ["ok"])
    return f"{seconds:6.2f} s  {size_mb / seconds:6.0f} MB/s  {'ok' if ok else rows[:3]}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=250)
    parser.add_argument("--notes-per-client", type=int, default=400)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-integrity-"))
    try:
        options = VaultOptions(state_dir=folder / "state")
        practice, recovery = Practice.create(folder / "vault", PASSPHRASE, kdf=TEST_ONLY,
                                             options=options)  # fmt: skip
        practice.fill_demo(args.clients, args.notes_per_client, seed=1)
        practice.lock()
        vault = Vault.unlock(folder / "vault", PASSPHRASE, options=options)
        (folder / "backups").mkdir()
        backup = create_backup(vault, folder / "backups").path
        db = folder / "vault" / vault.header.database
        key = bytes(vault._require_keys().database)
        vault.lock()
        size = db.stat().st_size / 1e6
        print(f"demo vault {args.clients} x {args.notes_per_client}: database {size:.0f} MB, "
              f"backup {backup.stat().st_size / 1e6:.0f} MB")  # fmt: skip

        start = time.perf_counter()
        verify_backup(backup, BackupSecret(recovery_key=recovery), options=options)
        seconds = time.perf_counter() - start
        print(f"verify_backup, whole:                 {seconds:6.2f} s  {size / seconds:6.0f} MB/s")
        for pragma in ("cipher_integrity_check", "quick_check", "integrity_check"):
            figure = timed_pragma(lambda: open_database(db, key), pragma, size)
            print(f"SQLCipher {pragma:<27} {figure}")

        vault = Vault.unlock(folder / "vault", PASSPHRASE, options=options)
        start = time.perf_counter()
        report = vault.verify_audit()
        seconds = time.perf_counter() - start
        print(f"Verify (chain {report.entries:,} entries, {report.tables} tables' rows, pages,"
              f" quick_check): {seconds:6.2f} s")  # fmt: skip
        from crypto import integrity

        with vault.reader() as (conn, _header):
            start = time.perf_counter()
            bad = list(integrity.mismatched_tables(conn, bytes(vault._require_keys().rows)))
            seconds = time.perf_counter() - start
        print(f"row sums recomputed from every row:   {seconds:6.2f} s  {size / seconds:6.0f} MB/s"
              f"  {bad or 'ok'}")  # fmt: skip
        start = time.perf_counter()
        problems = vault.structure_problems()
        seconds = time.perf_counter() - start
        print(f"backup create's pre-check:            {seconds:6.2f} s  {size / seconds:6.0f} MB/s"
              f"  {problems[:3] or 'ok'}")  # fmt: skip
        vault.lock()

        plain = folder / "plain.db"
        conn = open_database(db, key)
        conn.execute("ATTACH DATABASE ? AS plaintext KEY ''", (str(plain),))
        conn.execute("SELECT sqlcipher_export('plaintext')")
        conn.execute("DETACH DATABASE plaintext")
        conn.close()
        for pragma in ("quick_check", "integrity_check"):
            figure = timed_pragma(lambda: sqlite3.connect(plain), pragma, size)
            print(f"plain SQLite {pragma:<24} {figure}")
        print("target: verify >= 300 MB/s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
