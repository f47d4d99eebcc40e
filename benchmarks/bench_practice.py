"""Practice-domain benchmarks (issue 3), one run, printed figures.

    .venv/bin/python benchmarks/bench_practice.py [--clients 500] [--notes-per-client 400]

Builds a demo vault once (``fill_demo``) and a plain-SQLite twin holding the same rows (same
generator, same seed, same schema and pragmas, no encryption) in a separate process, because
SQLCipher's memory security is process-wide. Then:

1. search: p50/p95 over 200 varied queries through ``Practice.search`` (the domain call,
   including its audit entry), the same SQL on the vault without the audit write, and on plain
   SQLite; targets p95 <= 50 ms and vault/plain <= 1.3;
2. open a client with ~400 notes (``Practice.open_client``, with its audit entry): p95 <= 100 ms;
3. autosave of a 2,000-word draft (each call writes): p95 <= 10 ms;
4. peak RSS of a fresh process with the vault unlocked, a client and a note open: <= 400 MB.

The vault uses the cheap test KDF profile: unlock time is measured in bench_vault.py.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")

import sqlcipher3

from crypto.kdf import TEST_ONLY
from crypto.migrations import migrate
from crypto.vault import VaultOptions
from desktop.core import demo
from desktop.core.practice import Practice
from desktop.core.schema import COMPONENT, PRACTICE_MIGRATIONS
from desktop.core.search import (
    _CLIENT_SQL,
    RANK_WINDOW,
    _note_sql,
    expand_prefix,
    fts_query,
)

PASSPHRASE = "benchmark passphrase"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
AUTHOR = "bench"
PRAGMAS = ("journal_mode = WAL", "synchronous = FULL", "temp_store = MEMORY",
           "secure_delete = ON", "cache_size = -65536", "foreign_keys = ON")  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def queries(seed: int = 11) -> list[str]:
    """200 varied queries: single common and rare words, two and three words, phrases, prefixes
    being typed, client names, diagnosis codes, words that match nothing."""
    rng = random.Random(seed)
    words = sorted({w.strip("().,-'") for s in (*demo.THEMES, *demo.INTERVENTIONS,
                    *demo.FEELINGS, *demo.HOMEWORK) for w in s.split() if len(w) > 3})  # fmt: skip
    phrases = list(demo.THEMES) + list(demo.INTERVENTIONS)
    out: list[str] = []
    kinds = ["word", "two", "three", "phrase", "prefix", "name", "code", "none", "rare"]
    for i in range(200):
        kind = kinds[i % len(kinds)]
        if kind == "word":
            out.append(rng.choice(words) + " ")
        elif kind == "two":
            out.append(" ".join(rng.sample(words, 2)) + " ")
        elif kind == "three":
            out.append(" ".join(rng.sample(words, 3)) + " ")
        elif kind == "phrase":
            out.append(f'"{rng.choice(phrases)}"')
        elif kind == "prefix":
            word = rng.choice(words)
            out.append(word[: max(3, len(word) // 2)])
        elif kind == "name":
            out.append(f"{rng.choice(demo.FIRST)} {rng.choice(demo.LAST)} ")
        elif kind == "code":
            out.append(rng.choice(demo.DIAGNOSES).split()[0] + " ")
        elif kind == "none":
            out.append(f"zzq{i}xy ")
        else:
            out.append(rng.choice(["supervision", "transference", "dream", "medication",
                                   "sibling", "breakup", "insomnia"]) + " ")  # fmt: skip
    return out


def run_sql(execute: Any, text: str) -> int:
    query = fts_query(text)
    rows = execute(_CLIENT_SQL, (query, 50)).fetchall()
    expanded = expand_prefix(execute, "notes_fts", query)
    if expanded is not None:
        rows += execute(_note_sql("notes_fts"), (expanded, RANK_WINDOW, 50)).fetchall()
    return len(rows)


# --------------------------------------------------------------------------- plain twin
def plain_main(folder: Path, clients: int, notes: int) -> None:
    """In its own process: build the plain twin, then time the same queries."""
    conn = sqlcipher3.connect(str(folder / "plain.db"), isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}").fetchall()
    migrate(conn, COMPONENT, PRACTICE_MIGRATIONS)
    started = time.perf_counter()
    for batch in demo.demo_batches(clients, notes, 1, START, AUTHOR):
        conn.execute("BEGIN IMMEDIATE")
        demo.insert_batch(conn.execute, batch)
        conn.execute("COMMIT")
    build = time.perf_counter() - started
    qs = queries()
    for text in qs[:20]:
        run_sql(conn.execute, text)  # warm the cache, as in the vault run
    times, hits = [], []
    for text in qs:
        t = time.perf_counter()
        hits.append(run_sql(conn.execute, text))
        times.append(time.perf_counter() - t)
    conn.close()
    print(json.dumps({"build": build, "times": times, "hits": hits}))


def peak_rss_mib() -> float:
    """VmHWM: this process's own peak (ru_maxrss survives execve on Linux, so a child spawned
    by a big parent would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_main(folder: Path, client_id: str, note_id: str) -> None:
    """The desktop app as the therapist has it: the main window (offscreen) on the unlocked
    vault, the client page of a 400-note client, then a note in the editor, then a search."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desktop.ui.main_window import MainWindow
    from desktop.ui.qt import QApplication

    app = QApplication([])
    practice = Practice.unlock(
        folder / "vault", PASSPHRASE,
        options=VaultOptions(actor=AUTHOR, state_dir=folder / "state"),
    )  # fmt: skip
    window = MainWindow(practice, folder / "vault", practice.lock)
    window.show()
    window.open_client(client_id)
    app.processEvents()
    window.open_note(note_id)
    app.processEvents()
    window.show_search("sleep")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the search runs on the thread pool
        app.processEvents()
        time.sleep(0.02)
    peak = peak_rss_mib()
    window.lock()
    print(json.dumps({"peak_mib": peak}))


# --------------------------------------------------------------------------- vault
def main(clients: int, notes: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-practice-"))
    memsec = os.environ.get("QUIETROOM_SQLCIPHER_MEMORY_SECURITY") == "1"
    print(f"demo vault: {clients} clients x {notes} notes, in {folder} "
          f"(cipher_memory_security {'ON' if memsec else 'off, the default'})")  # fmt: skip
    plain = subprocess.Popen(
        [sys.executable, __file__, "--plain", str(folder), "--clients", str(clients),
         "--notes-per-client", str(notes)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    clock = Clock()
    options = VaultOptions(actor=AUTHOR, clock=clock, state_dir=folder / "state")
    practice, _ = Practice.create(folder / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    report = practice.fill_demo(clients, notes, seed=1)
    size = sum(f.stat().st_size for f in (folder / "vault").iterdir()) / 2**20
    print(f"  generated {report.notes:,} notes, {report.sessions:,} sessions in "
          f"{report.seconds:.0f} s (vault {size:,.0f} MiB)")  # fmt: skip

    # 1. search
    qs = queries()
    vault = practice._vault
    for text in qs[:20]:
        practice.search(text)
    domain, sql_only, hits = [], [], []
    for text in qs:
        t = time.perf_counter()
        found = practice.search(text)
        domain.append(time.perf_counter() - t)
        hits.append(len(found.clients) + len(found.notes))
        t = time.perf_counter()
        with vault._mutex:
            run_sql(vault._require_open().execute, text)
        sql_only.append(time.perf_counter() - t)
    out, _ = plain.communicate()
    twin = json.loads(out)
    assert twin["hits"] == hits, "the plain twin does not hold the same data"
    p = twin["times"]
    print(
        f"search, {len(qs)} queries (after 20 warm-up queries), "
        f"{sum(1 for h in hits if h)} with hits, median {statistics.median(hits):.0f} hits:"
    )
    print(f"  {'':34} {'p50':>8} {'p95':>8} {'max':>8}")
    for label, values in (("Practice.search (with audit entry)", domain),
                          ("same SQL on the vault, no audit", sql_only),
                          ("same SQL on plain SQLite", p)):  # fmt: skip
        print(f"  {label:34} {pct(values, .5) * 1e3:7.1f}ms {pct(values, .95) * 1e3:7.1f}ms "
              f"{max(values) * 1e3:7.1f}ms")  # fmt: skip
    print(f"  ratio vault SQL / plain: p50 {pct(sql_only, .5) / pct(p, .5):.2f}, "
          f"p95 {pct(sql_only, .95) / pct(p, .95):.2f};  domain call / plain: p50 "
          f"{pct(domain, .5) / pct(p, .5):.2f}, p95 {pct(domain, .95) / pct(p, .95):.2f}"
          "   (targets: p95 <= 50 ms, ratio <= 1.3)")  # fmt: skip
    print(f"  (plain twin built in {twin['build']:.0f} s without encryption)")

    # 2. open a client
    ids = [c.id for c in practice.list_clients(include_archived=True)]
    rng = random.Random(3)
    sample = rng.sample(ids, min(50, len(ids)))
    opened, sizes = [], []
    for cid in sample:
        t = time.perf_counter()
        record = practice.open_client(cid)
        opened.append(time.perf_counter() - t)
        sizes.append(len(record.notes))
    print(
        f"open a client ({len(sample)} clients, median {statistics.median(sizes):.0f} notes "
        f"and {len(record.sessions)} sessions each, audit entry included):"
    )
    print(f"  p50 {pct(opened, .5) * 1e3:.1f} ms   p95 {pct(opened, .95) * 1e3:.1f} ms   "
          "(target p95 <= 100 ms)")  # fmt: skip

    # 3. autosave
    cid = sample[0]
    note = practice.create_note(cid, "free")
    words = [rng.choice(demo.FEELINGS + demo.THEMES).split()[0] for _ in range(2000)]
    saves = []
    for i in range(100):
        words[i] = f"edit{i}"
        clock.now += timedelta(seconds=2.1)  # each call is due: every call writes
        t = time.perf_counter()
        state = practice.save_draft(note.id, {"note": " ".join(words)})
        saves.append(time.perf_counter() - t)
        assert not state.pending
    print("autosave of a 2,000-word draft (100 writes, the first also writes the edit entry):")
    print(f"  p50 {pct(saves, .5) * 1e3:.2f} ms   p95 {pct(saves, .95) * 1e3:.2f} ms   "
          "(target p95 <= 10 ms)")  # fmt: skip
    practice.close_draft(note.id)
    any_note = practice.open_client(cid).notes[-1].id
    print(f"  peak RSS of this process (generation included): {peak_rss_mib():.0f} MiB")
    practice.lock()

    # 4. memory, fresh process
    out = subprocess.run(
        [sys.executable, __file__, "--rss", str(folder), "--client", cid, "--note", any_note],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    print(
        f"memory: peak RSS of the app (fresh process, main window, vault unlocked, the client "
        f"page, a note in the editor, one search): {json.loads(out)['peak_mib']:.0f} MiB   "
        "(target <= 400 MB)"
    )
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--notes-per-client", type=int, default=400)
    parser.add_argument("--plain", type=Path)
    parser.add_argument("--rss", type=Path)
    parser.add_argument("--client")
    parser.add_argument("--note")
    args = parser.parse_args()
    if args.plain:
        plain_main(args.plain, args.clients, args.notes_per_client)
    elif args.rss:
        rss_main(args.rss, args.client, args.note)
    else:
        main(args.clients, args.notes_per_client)
