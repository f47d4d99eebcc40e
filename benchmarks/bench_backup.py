"""Vault backup benchmarks (issue: encrypted backups). Prints figures side by side in one run.

    .venv/bin/python benchmarks/bench_backup.py [--sizes 100,1000]   (vault sizes in MB)

For each vault size: a plain file copy of the vault folder (with fsync, as a backup does), then
backup create, verify and restore, each in a fresh process so that its peak RSS is its own.
Targets: create <= 3x the copy; verify >= 300 MB/s; restore <= 3x the copy; peak RSS <= 200 MB
and flat as the vault grows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")

from crypto.kdf import TEST_ONLY
from crypto.recovery_key import RecoveryKey
from crypto.vault import Vault, VaultOptions
from crypto.vault_backup import (
    BackupSecret,
    create_backup,
    restore_backup,
    verify_backup,
)

PASSPHRASE = "benchmark passphrase"


def build_vault(folder: Path, megabytes: int) -> RecoveryKey:
    options = VaultOptions(actor="bench", state_dir=folder / "state")
    vault, recovery = Vault.create(folder / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    with vault.transaction() as tx:
        tx.execute("CREATE TABLE attachments(id INTEGER PRIMARY KEY, body BLOB)")
        tx.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    remaining = megabytes
    while remaining > 0:
        step = min(remaining, 50)
        with vault.transaction() as tx:
            tx.executemany(
                "INSERT INTO attachments(body) VALUES (randomblob(1048576))", [()] * step
            )
            tx.executemany(
                "INSERT INTO notes(body) VALUES (?)",
                [(f"progress note {i} " + "calm steady progress " * 100,) for i in range(200)],
            )
        remaining -= step
    vault.lock()
    return recovery


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def copy_folder(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    for path in dst.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def child(op: str, folder: Path) -> dict[str, float]:
    """Runs in its own process: one operation, timed."""
    options = VaultOptions(actor="bench", state_dir=folder / "state")
    recovery = RecoveryKey.parse((folder / "recovery.txt").read_text())
    start = time.perf_counter()
    if op == "create":
        vault = Vault.unlock(folder / "vault", PASSPHRASE, options=options)
        unlocked = time.perf_counter()
        result = create_backup(vault, folder / "backups")
        elapsed = time.perf_counter() - unlocked
        vault.lock()
        (folder / "backup-path.txt").write_text(str(result.path))
        return {"seconds": elapsed, "bytes": result.size}
    path = Path((folder / "backup-path.txt").read_text())
    if op == "verify":
        verify_backup(path, BackupSecret(recovery_key=recovery))
    elif op == "restore":
        target = folder / "restored"
        shutil.rmtree(target, ignore_errors=True)
        restore_backup(
            path, target, BackupSecret(recovery_key=recovery),
            new_passphrase="another benchmark passphrase", options=options,
        )  # fmt: skip
    return {"seconds": time.perf_counter() - start, "bytes": path.stat().st_size}


def run_child(op: str, folder: Path) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", op, "--folder", str(folder)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{op} failed")
    result: dict[str, float] = json.loads(out)
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def bench(size_mb: int, root: Path) -> dict[str, dict[str, float]]:
    folder = root / f"v{size_mb}"
    folder.mkdir()
    (folder / "backups").mkdir()
    recovery = build_vault(folder, size_mb)
    (folder / "recovery.txt").write_text(recovery.formatted())
    vault_bytes = folder_size(folder / "vault")
    start = time.perf_counter()
    copy_folder(folder / "vault", folder / "copy")
    copy_s = time.perf_counter() - start
    shutil.rmtree(folder / "copy")
    results = {"copy": {"seconds": copy_s, "bytes": vault_bytes}}
    for op in ("create", "verify", "restore"):
        results[op] = run_child(op, folder)
    shutil.rmtree(folder)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder)))
        return 0
    print(f"machine: {os.cpu_count()} cores; vault sizes {args.sizes} MB")
    with tempfile.TemporaryDirectory(prefix="qr-bench-backup-", dir=Path.cwd()) as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            r = bench(size, Path(tmp))
            mb = r["copy"]["bytes"] / 1e6
            copy_s = r["copy"]["seconds"]
            print(f"\nvault of {mb:,.0f} MB (backup file {r['create']['bytes'] / 1e6:,.0f} MB):")
            print(f"  {'operation':10} {'seconds':>8} {'vs copy':>8} {'MB/s':>8} {'peak RSS':>9}")
            print(f"  {'file copy':10} {copy_s:8.2f} {1:8.2f} {mb / copy_s:8.0f} {'':>9}")
            for op, target in (("create", "<= 3x copy"), ("verify", ">= 300 MB/s"),
                               ("restore", "<= 3x copy")):  # fmt: skip
                s = r[op]["seconds"]
                print(
                    f"  {op:10} {s:8.2f} {s / copy_s:8.2f} {mb / s:8.0f} "
                    f"{r[op]['peak_rss_mb']:7.0f} MB   target {target}, RSS <= 200 MB"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
