"""Vault benchmarks (issue: encrypted vault foundation). Prints figures side by side in one run.

    .venv/bin/python benchmarks/bench_vault.py [--notes 5000] [--audit 100000]

1. unlock: Argon2id time with this machine's calibrated parameters, and separately everything
   after the KDF until the database answers a query (target <= 50 ms), then the same on an empty
   log and on a log of --big-log entries (default 1,000,000; target <= 20 ms, flat);
2. the same insert-and-query workload (notes-sized rows with an FTS5 index) on plain SQLite and on
   the vault (target ratio vault/plain <= 1.3);
3. audit: append cost inside one write transaction (target <= 0.2 ms per entry) and verification
   speed (target >= 100,000 entries/s);
4. writers during long walks: an autosave-sized write (12 KB upsert, sealed) issued every 20 ms
   while verify, export, the whole-log walk and a backup snapshot run on the big vault (goal: no
   write waits more than 50 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")  # only for the audit/workload vaults

import sqlcipher3

import crypto.key_slots as key_slots
from crypto.kdf import TEST_ONLY, calibrate, derive_key
from crypto.migrations import Migration, statements
from crypto.vault import Vault, VaultOptions

# A Zipf-like vocabulary, so that searches are selective the way real words are.
VOCAB = [f"w{i:04d}" for i in range(4000)]
WEIGHTS = [1 / (i + 1) for i in range(4000)]


def note_text(rng: random.Random, words: int = 350) -> str:
    return " ".join(rng.choices(VOCAB, WEIGHTS, k=words))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


# --------------------------------------------------------------------------- 1. unlock
def bench_unlock(folder: Path, rounds: int) -> None:
    params = calibrate()
    print(
        f"calibrated Argon2id: m={params.memory_kib // 1024} MiB t={params.time_cost} "
        f"p={params.parallelism}"
    )
    opts = VaultOptions(actor="bench", state_dir=folder / "state")
    path = folder / "unlock"
    vault, _ = Vault.create(path, "benchmark passphrase", kdf=params, options=opts)
    vault.lock()
    kdf_times: list[float] = []

    def timed_derive(secret: bytes, salt: bytes, p: Any) -> bytes:
        start = time.perf_counter()
        key = derive_key(secret, salt, p)
        kdf_times.append(time.perf_counter() - start)
        return key

    key_slots.derive_key = timed_derive  # type: ignore[assignment]
    totals, after = [], []
    for _ in range(rounds):
        kdf_times.clear()
        start = time.perf_counter()
        v = Vault.unlock(path, "benchmark passphrase", options=opts)
        v.query("SELECT count(*) FROM audit_log")
        total = time.perf_counter() - start
        totals.append(total)
        after.append(total - sum(kdf_times))
        v.lock()
    key_slots.derive_key = derive_key
    kdf = [t - a for t, a in zip(totals, after, strict=True)]
    print(f"unlock, {rounds} rounds:")
    print(f"  KDF (Argon2id)                 median {statistics.median(kdf) * 1000:8.1f} ms")
    print(
        f"  after KDF until query answers  median {statistics.median(after) * 1000:8.1f} ms"
        f"   p95 {pct(after, 0.95) * 1000:6.1f} ms   (target <= 50 ms)"
    )


def after_kdf(path: Path, opts: VaultOptions, rounds: int) -> list[float]:
    """Unlock ``path`` ``rounds`` times; the time of each minus its Argon2id."""
    kdf_times: list[float] = []

    def timed_derive(secret: bytes, salt: bytes, p: Any) -> bytes:
        start = time.perf_counter()
        key = derive_key(secret, salt, p)
        kdf_times.append(time.perf_counter() - start)
        return key

    key_slots.derive_key = timed_derive  # type: ignore[assignment]
    after = []
    try:
        for _ in range(rounds):
            kdf_times.clear()
            start = time.perf_counter()
            v = Vault.unlock(path, "benchmark passphrase", options=opts)
            v.query("SELECT 1 FROM audit_log ORDER BY seq DESC LIMIT 1")
            after.append(time.perf_counter() - start - sum(kdf_times))
            v.lock()
    finally:
        key_slots.derive_key = derive_key
    return after


def fill_log(vault: Vault, entries: int, batch: int = 20_000) -> None:
    done = 0
    while done < entries:
        with vault.transaction() as tx:
            for i in range(done, min(entries, done + batch)):
                tx.audit(
                    "note.opened",
                    object_type="note",
                    object_id=str(i),
                    details={"client_id": f"c{i % 500}"},
                )
        done = min(entries, done + batch)


def bench_unlock_flat(folder: Path, big: int, rounds: int) -> Path:
    """Unlock after the KDF on an empty log and on a big one; returns the big vault's folder."""
    opts = VaultOptions(actor="bench", state_dir=folder / "state-flat")
    small, _ = Vault.create(folder / "small", "benchmark passphrase", kdf=TEST_ONLY, options=opts)
    small.lock()
    large, _ = Vault.create(folder / "large", "benchmark passphrase", kdf=TEST_ONLY, options=opts)
    start = time.perf_counter()
    fill_log(large, big)
    print(f"  (filled a log of {big:,} entries in {time.perf_counter() - start:.0f} s)")
    large.lock()
    empty = after_kdf(folder / "small", opts, rounds)
    full = after_kdf(folder / "large", opts, rounds)
    print(f"unlock after the KDF, {rounds} rounds each (target <= 20 ms, flat):")
    print(
        f"  empty log                      median {statistics.median(empty) * 1000:6.1f} ms"
        f"   p95 {pct(empty, 0.95) * 1000:6.1f} ms"
    )
    print(
        f"  {big:>9,} entries              median {statistics.median(full) * 1000:6.1f} ms"
        f"   p95 {pct(full, 0.95) * 1000:6.1f} ms"
    )
    return folder / "large"


# --------------------------------------------------------------------------- 4. writers wait?
DRAFTS = (
    Migration(
        1, "drafts", statements("CREATE TABLE drafts(id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    ),
)


def bench_writers_during_walks(path: Path, alone_s: float = 2.0) -> None:
    import io
    import threading

    opts = VaultOptions(actor="bench", state_dir=path.parent / "state-flat")
    vault = Vault.unlock(path, "benchmark passphrase", options=opts)
    vault.migrate("bench", DRAFTS)
    body = "x" * 12_000

    def autosave() -> float:
        start = time.perf_counter()
        with vault.transaction() as tx:
            tx.execute(
                "INSERT INTO drafts(id, body) VALUES (1, ?)"
                " ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (body,),
            )
        return time.perf_counter() - start

    def snapshot_read() -> None:
        with vault.frozen() as snap, open(snap.database, "rb") as handle:
            while handle.read(1 << 20):
                pass

    walks = {
        "alone (no walk)": None,
        "verify (chain, seal, rows, pages, quick_check)": vault.verify_audit,
        "export (CSV)": lambda: vault.export_audit(io.StringIO(), "csv"),
        "whole-log walk (audit_entries)": lambda: sum(1 for _ in vault.audit_entries()),
        "backup snapshot (read the frozen file)": snapshot_read,
    }
    print("an autosave-sized write every 20 ms during each walk (goal: max <= 50 ms):")
    for name, walk in walks.items():
        waits: list[float] = []
        done = threading.Event()
        took = [0.0]

        def run(walk: Any = walk, done: threading.Event = done, took: list[float] = took) -> None:
            start = time.perf_counter()
            if walk is not None:
                walk()
            else:
                time.sleep(alone_s)
            took[0] = time.perf_counter() - start
            done.set()

        thread = threading.Thread(target=run)
        thread.start()
        while not waits or not done.is_set():  # at least one write, however short the walk
            waits.append(autosave())
            time.sleep(0.02)
        thread.join()
        print(
            f"  {name:48} walk {took[0]:6.2f} s   writes {len(waits):4}   "
            f"median {statistics.median(waits) * 1000:6.1f} ms   "
            f"p95 {pct(waits, 0.95) * 1000:6.1f} ms   max {max(waits) * 1000:6.1f} ms"
        )
    vault.lock()


# --------------------------------------------------------------------------- 2. workload
PRAGMAS = ("journal_mode = WAL", "synchronous = FULL", "temp_store = MEMORY", "secure_delete = ON",
           "cache_size = -65536")  # fmt: skip


def workload(conn: Any, notes: int) -> dict[str, float]:
    rng = random.Random(7)
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, client INTEGER, body TEXT)")
    conn.execute(
        "CREATE VIRTUAL TABLE notes_fts USING fts5(body, content='notes', content_rowid='id')"
    )
    texts = [note_text(rng) for _ in range(notes)]
    start = time.perf_counter()
    for i in range(0, notes, 50):
        conn.execute("BEGIN IMMEDIATE")
        for j, text in enumerate(texts[i : i + 50], start=i + 1):
            conn.execute("INSERT INTO notes(id, client, body) VALUES (?, ?, ?)", (j, j % 500, text))
            conn.execute("INSERT INTO notes_fts(rowid, body) VALUES (?, ?)", (j, text))
        conn.execute("COMMIT")
    insert_s = time.perf_counter() - start
    queries = [" ".join(rng.choices(VOCAB[:800], k=2)) for _ in range(300)]
    start = time.perf_counter()
    for q in queries:
        conn.execute(
            "SELECT rowid, snippet(notes_fts, 0, '[', ']', '...', 10) FROM notes_fts "
            "WHERE notes_fts MATCH ? ORDER BY rank LIMIT 20",
            (q,),
        ).fetchall()
    for k in range(300):
        conn.execute("SELECT id, body FROM notes WHERE client = ? LIMIT 50", (k,)).fetchall()
    query_s = time.perf_counter() - start
    return {"insert": insert_s, "query": query_s, "total": insert_s + query_s}


def raw_connection(path: Path, key: bytes | None, memory_security: bool) -> Any:
    conn = sqlcipher3.connect(str(path), isolation_level=None)
    if key is not None:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        if memory_security:
            conn.execute("PRAGMA cipher_memory_security = ON")
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}").fetchall()
    return conn


def run_isolated(variant: str, folder: Path, notes: int) -> dict[str, float]:
    """cipher_memory_security is process-wide and cannot be turned off once on: each variant runs
    in a fresh process of its own."""
    out = subprocess.run(
        [sys.executable, __file__, "--variant", variant, "--folder", str(folder),
         "--notes", str(notes)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, float] = json.loads(out.stdout)
    return result


def variant_main(variant: str, folder: Path, notes: int) -> None:
    if variant == "vault":
        opts = VaultOptions(actor="bench", state_dir=folder / "state")
        vault, _ = Vault.create(
            folder / "work", "benchmark passphrase", kdf=TEST_ONLY, options=opts
        )
        result = workload(vault._require_open(), notes)
        vault.lock()
    else:
        key = None if variant == "plain" else bytes(range(32))
        conn = raw_connection(folder / f"{variant}.db", key, memory_security=variant == "memsec")
        result = workload(conn, notes)
        conn.close()
    print(json.dumps(result))


def bench_workload(folder: Path, notes: int) -> None:
    results = {v: run_isolated(v, folder, notes) for v in ("plain", "vault", "memsec")}
    plain = results["plain"]
    print(f"insert-and-query workload, {notes} notes of ~2.4 KB with FTS5, 600 queries:")
    print(f"  {'phase':8} {'plain SQLite':>13} {'vault':>9} {'ratio':>6}   "
          f"{'with memory security (opt-in)':>30} {'ratio':>6}")  # fmt: skip
    for phase in ("insert", "query", "total"):
        print(
            f"  {phase:8} {plain[phase]:12.3f}s {results['vault'][phase]:8.3f}s "
            f"{results['vault'][phase] / plain[phase]:6.2f}   "
            f"{results['memsec'][phase]:29.3f}s "
            f"{results['memsec'][phase] / plain[phase]:6.2f}"
        )
    print("  (target: vault/plain total <= 1.3; same SQLite build and pragmas in every column)")


# --------------------------------------------------------------------------- 3. audit
def bench_audit(folder: Path, entries: int) -> None:
    opts = VaultOptions(actor="bench", state_dir=folder / "state")
    vault, _ = Vault.create(folder / "audit", "benchmark passphrase", kdf=TEST_ONLY, options=opts)
    start = time.perf_counter()
    with vault.transaction() as tx:
        for i in range(entries):
            tx.audit(
                "note.opened", object_type="note", object_id=str(i), details={"client_id": i % 500}
            )
    per_entry = (time.perf_counter() - start) / entries
    start = time.perf_counter()
    report = vault.verify_audit()
    verify_s = time.perf_counter() - start
    vault.lock()
    print(f"audit, {entries} entries:")
    print(
        f"  append inside a write transaction  {per_entry * 1000:.4f} ms/entry   (target <= 0.2 ms)"
    )
    print(
        f"  full verification                  {report.entries / verify_s:,.0f} entries/s "
        f"({verify_s:.2f} s)   (target >= 100,000/s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notes", type=int, default=5000)
    parser.add_argument("--audit", type=int, default=200_000)
    parser.add_argument("--unlock-rounds", type=int, default=5)
    parser.add_argument("--big-log", type=int, default=1_000_000)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        variant_main(args.variant, args.folder, args.notes)
        return 0
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"SQLCipher {sqlcipher3.connect(':memory:').execute('PRAGMA cipher_version').fetchone()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="qr-bench-") as tmp:
        folder = Path(tmp)
        bench_unlock(folder, args.unlock_rounds)
        big = bench_unlock_flat(folder, args.big_log, args.unlock_rounds * 2)
        bench_writers_during_walks(big)
        bench_workload(folder, args.notes)
        bench_audit(folder, args.audit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
