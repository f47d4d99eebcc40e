"""Still fast after ten years (issue 12 item 2): the longest stall of the UI thread in each main
flow, and how long an autosave waits while a long walk runs, on a 1-year and a 10-year vault,
printed side by side.

    .venv/bin/python benchmarks/bench_growth.py [--scale 1.0] [--rebuild]

The 10-year vault holds 500 clients, 200,000 notes and 1,000,000 audit entries; the 1-year
vault a tenth of that. Both are built once with the demo generator (``Practice.fill_demo``) and
the vault's own audit API (``Transaction.audit``), then cached under ``benchmarks/.cache/``
(ignored by git; ``--rebuild`` makes them again). The cheap test KDF is used: unlocking is
measured in bench_vault.py.

Stalls are measured in the real widgets (offscreen): a 5 ms ``QTimer`` heartbeat runs on the UI
thread while a flow runs, and the longest gap between two beats, less the period, is the stall
a person would feel (goal: <= 100 ms in every flow at 10 years). The flows: open the app (main
window, client list), the calendar (this week), a client page (the client with the most notes),
note autosave (typing in a draft), search, the audit page and its filters (a client, the last
30 days), and the Backups page (its history).

Autosave's wait: while verify, export, the backup history and a backup snapshot each run on
another thread, the UI thread's ``save_draft`` calls are timed; the longest is printed (goal:
<= 50 ms).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from crypto.audit.actions import AuditAction
from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice

CACHE = Path(__file__).resolve().parent / ".cache"
PASSPHRASE = "benchmark passphrase"
HEARTBEAT_MS = 5
AUDIT_BATCH = 20_000


@dataclass(frozen=True)
class Size:
    name: str
    clients: int
    notes_per_client: int
    audit_entries: int


def sizes(scale: float) -> tuple[Size, Size]:
    def make(name: str, factor: float) -> Size:
        clients = max(2, round(500 * factor * scale))
        return Size(name, clients, 400, max(100, round(1_000_000 * factor * scale)))

    return make("1 year", 0.1), make("10 years", 1.0)


def options(folder: Path) -> VaultOptions:
    return VaultOptions(actor="user:bench", state_dir=folder / "state")


def build(size: Size, folder: Path) -> None:
    """The demo practice, then audit entries up to ``size.audit_entries`` written through the
    vault's own audit API in batches (each one transaction)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    practice, _ = Practice.create(folder / "vault", PASSPHRASE, kdf=TEST_ONLY,
                                  options=options(folder))  # fmt: skip
    practice.fill_demo(size.clients, size.notes_per_client, seed=12)
    vault = practice._vault
    clients = [c.id for c in practice.list_clients(include_archived=True)]
    have = int(vault.query("SELECT count(*) FROM audit_log")[0][0])
    kinds = (AuditAction.CLIENT_OPENED, AuditAction.NOTE_OPENED, AuditAction.SEARCHED,
             AuditAction.CLIENTS_LISTED, AuditAction.NOTE_EDITED)  # fmt: skip
    number = 0
    while have < size.audit_entries:
        batch = min(AUDIT_BATCH, size.audit_entries - have)
        with vault.transaction() as tx:
            for _ in range(batch):
                client = clients[number % len(clients)]
                action = kinds[number % len(kinds)]
                if action is AuditAction.CLIENT_OPENED:
                    tx.audit(action, object_type="client", object_id=client)
                else:
                    tx.audit(action, object_type="note", object_id=f"{number:032x}",
                             details={"client_id": client})  # fmt: skip
                number += 1
        have += batch
    practice.lock()
    print(f"  built the {size.name} vault in {time.perf_counter() - started:.0f} s", flush=True)


def cached(size: Size, rebuild: bool) -> Path:
    folder = CACHE / f"growth-{size.clients}x{size.notes_per_client}-{size.audit_entries}"
    if rebuild or not (folder / "vault").exists():
        build(size, folder)
    return folder


# -- measuring the UI thread --------------------------------------------------------------------


class Heartbeat:
    """A QTimer on the UI thread; the longest gap between two beats is the longest stall."""

    def __init__(self) -> None:
        from desktop.ui.qt import QTimer

        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._beat)
        self.last = 0.0
        self.longest = 0.0

    def _beat(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.longest = max(self.longest, now - self.last - HEARTBEAT_MS / 1000)
        self.last = now

    def measure(self, flow: Callable[[], object], done: Callable[[], bool]) -> float:
        """Run ``flow`` on the UI thread and spin the event loop until ``done``; returns the
        longest stall in milliseconds (the flow's own synchronous part included)."""
        from desktop.ui.qt import QApplication

        self.longest = 0.0
        self.last = time.perf_counter()
        self.timer.start()
        deadline = time.perf_counter() + 120
        QApplication.processEvents()
        self._beat()
        flow()
        self._beat()
        while not done() and time.perf_counter() < deadline:
            QApplication.processEvents()
            time.sleep(0.001)
        for _ in range(5):
            QApplication.processEvents()
        self.timer.stop()
        return max(0.0, self.longest * 1000)


def ui_stalls(folder: Path) -> dict[str, float]:
    from desktop.ui.main_window import MainWindow
    from desktop.ui.qt import QApplication, QEvent

    app = QApplication.instance() or QApplication(sys.argv)
    practice = Practice.unlock(folder / "vault", PASSPHRASE, options=options(folder))
    busiest = practice._vault.query(
        "SELECT client_id FROM notes GROUP BY client_id ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    draft = practice.create_note(busiest, "soap")
    beat = Heartbeat()
    found: dict[str, float] = {}
    holder: list[MainWindow] = []

    def open_app() -> None:
        window = MainWindow(practice, folder / "vault", lambda: None,
                            backups=practice.backup_service())  # fmt: skip
        window.show()
        holder.append(window)

    found["open app"] = beat.measure(open_app, lambda: bool(holder))
    window = holder[0]
    page_idle = lambda page: lambda: not getattr(page, "loading", False)  # noqa: E731
    found["calendar"] = beat.measure(window.show_calendar, page_idle(window.calendar_page))
    found["client page"] = beat.measure(
        lambda: window.open_client(busiest), page_idle(window.client_page)
    )
    window.open_note(draft.id)
    editor = window.note_editor

    def type_words() -> None:
        for word in range(40):
            editor.editors[0].insertPlainText(f"word{word} ")
            QApplication.processEvents()

    found["note autosave"] = beat.measure(type_words, lambda: True)
    window.show_search("")
    found["search"] = beat.measure(
        lambda: window.search_page.focus_search("sleep"),
        lambda: not window.search_page.searching,
    )
    audit = window.audit_page
    found["audit page"] = beat.measure(window.show_audit, lambda: not audit.loading)
    found["audit: one client"] = beat.measure(
        lambda: window.show_audit(busiest), lambda: not audit.loading
    )

    def last_30_days() -> None:
        audit.filter_client(None)
        audit.from_check.setChecked(True)
        audit.reload()

    found["audit: last 30 days"] = beat.measure(last_30_days, lambda: not audit.loading)
    backups = window.backups_page
    found["Backups page"] = beat.measure(window.show_backups, lambda: not backups.history_loading)
    window.idle.stop()
    window.lock()
    practice.lock()
    window.close()
    window.deleteLater()  # (a lingering main window would make its shortcuts ambiguous)
    holder.clear()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del app
    return found


def autosave_waits(folder: Path) -> dict[str, float]:
    """The longest ``save_draft`` while each long walk runs on another thread."""
    practice = Practice.unlock(folder / "vault", PASSPHRASE, options=options(folder))
    client = practice.list_clients()[0].id
    draft = practice.create_note(client, "soap")
    service = practice.backup_service()
    target = folder / "backups"
    target.mkdir(exist_ok=True)
    walks: dict[str, Callable[[], object]] = {
        "verify": practice.verify_audit,
        "export": lambda: practice.export_audit(io.StringIO(), "jsonl"),
        "backup history": service.history,
        "backup snapshot": lambda: practice.vault_for_backups().frozen().__enter__(),
    }
    found: dict[str, float] = {}
    for name, walk in walks.items():
        done = threading.Event()

        def run(w: Callable[[], object] = walk, d: threading.Event = done) -> None:
            try:
                w()
            finally:
                d.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(0.05)
        waits = []
        number = 0
        while not done.is_set() and number < 400:
            started = time.perf_counter()
            practice.save_draft(draft.id, {"subjective": f"text {number}"})
            practice.flush_drafts()
            waits.append(time.perf_counter() - started)
            number += 1
            time.sleep(0.02)
        thread.join(300)
        found[name] = max(waits, default=0.0) * 1000
    practice.lock()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the issue's sizes")
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    results = []
    for size in sizes(args.scale):
        folder = cached(size, args.rebuild)
        work = CACHE / f"run-{size.clients}"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(folder, work)  # each run starts from the same vault
        print(f"measuring the {size.name} vault", flush=True)
        results.append((size, ui_stalls(work), autosave_waits(work)))
        shutil.rmtree(work)
    print()
    print(f"| {'longest UI-thread stall (ms)':<34} | " + " | ".join(
        f"{s.name:>9}" for s, _, _ in results) + " | goal |")  # fmt: skip
    print("|" + "---|" * (len(results) + 2))
    for flow in results[0][1]:
        cells = " | ".join(f"{r[1][flow]:9.0f}" for r in results)
        print(f"| {flow:<34} | {cells} | <= 100 |")
    for walk in results[0][2]:
        cells = " | ".join(f"{r[2][walk]:9.0f}" for r in results)
        print(f"| {'autosave wait during ' + walk:<34} | {cells} | <= 50 |")
    print()
    for size, _, _ in results:
        print(f"{size.name}: {size.clients} clients, {size.clients * size.notes_per_client:,} "
              f"notes, {size.audit_entries:,} audit entries")  # fmt: skip
    _ = (statistics, datetime, UTC, timedelta, ClientDetails)


if __name__ == "__main__":
    main()
