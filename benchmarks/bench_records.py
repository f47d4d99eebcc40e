"""Records benchmarks (issue 14), one run, printed figures.

    QUIETROOM_ALLOW_TEST_KDF=1 .venv/bin/python benchmarks/bench_records.py \
        [--clients 50] [--notes-per-client 40] [--import-rows 1000]

1. a client's copy: FHIR Bundle (build + validate + write) and PDF, for the client with the most
   notes, median of 5;
2. the whole-practice export to a .zip;
3. importing a generated CSV of ``--import-rows`` clients (dry run, import, re-run).

The vault uses the cheap test KDF profile (unlock time is bench_vault.py's business).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.import_layouts import ImportKind


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--notes-per-client", type=int, default=40)
    parser.add_argument("--import-rows", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-records-"))
    practice, _ = Practice.create(
        folder / "vault", "bench passphrase words", kdf=TEST_ONLY,
        options=VaultOptions(actor="user:bench", state_dir=folder / "state"),
    )  # fmt: skip
    practice.fill_demo(args.clients, args.notes_per_client, seed=7)
    records = practice.records
    client = max(practice.list_clients(), key=lambda c: len(practice.open_client(c.id).notes))
    notes = len(records.record_set(client.id).notes)
    for fmt in (ExportFormat.FHIR, ExportFormat.PDF):
        request = ExportRequest(frozenset({fmt}), "The client", "Benchmark")
        target = folder / f"copy-{fmt}"
        runs = [
            timed(lambda r=request, t=target: records.export_record(client.id, r, t))
            for _ in range(5)
        ]
        size = target.stat().st_size
        print(f"copy of one record ({notes} signed notes), {fmt}: "
              f"median {statistics.median(runs) * 1000:.0f} ms, {size / 1024:.0f} KiB")  # fmt: skip
    seconds = timed(lambda: records.export_practice(folder / "all.zip"))
    print(f"export everything ({args.clients} clients): {seconds:.1f} s, "
          f"{(folder / 'all.zip').stat().st_size / 2**20:.1f} MiB")  # fmt: skip
    csv_path = folder / "clients.csv"
    lines = ["Client number,Name,Date of birth,Email,Status"]
    lines += [f"B-{i},Bench Person {i},1980-01-{1 + i % 28:02d},p{i}@example.org,active"
              for i in range(args.import_rows)]  # fmt: skip
    csv_path.write_text("\n".join(lines) + "\n")
    table = records.read_import_file(csv_path)
    dry = timed(lambda: records.check_import(table, ImportKind.CLIENTS, "generic"))
    first = timed(lambda: records.run_import(table, ImportKind.CLIENTS, "generic"))
    again = timed(lambda: records.run_import(table, ImportKind.CLIENTS, "generic"))
    each = first / args.import_rows * 1000
    print(f"import {args.import_rows} clients: check {dry:.2f} s, import {first:.1f} s "
          f"({each:.1f} ms each), re-run {again:.2f} s (adds none)")  # fmt: skip
    practice.lock()


if __name__ == "__main__":
    main()
