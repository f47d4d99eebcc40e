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
import gc
import io
import os
import shutil
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from crypto.audit.actions import AuditAction
from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice

CACHE = Path(__file__).resolve().parent / ".cache"
PASSPHRASE = "benchmark passphrase"
HEARTBEAT_MS = 5
AUDIT_BATCH = 20_000
TRACE_AFTER_MS = 30
MIN_WALK_S = 2.0


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


class StallTracer:
    """While a flow runs, a thread looks at the UI thread every 2 ms; whenever the heartbeat is
    more than ``TRACE_AFTER_MS`` late, it notes what the UI thread is doing (its Python stack,
    our own frames). ``--trace`` prints the most frequent stacks per flow: where the stalls are."""

    def __init__(self, beat: Heartbeat) -> None:
        self.beat = beat
        self.ui_thread = threading.get_ident()
        self.samples: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.samples = Counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            late = time.perf_counter() - self.beat.last
            if late * 1000 < TRACE_AFTER_MS:
                continue
            frame = sys._current_frames().get(self.ui_thread)
            if frame is None:
                continue
            stack = [
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack(frame)
                if "/desktop/" in f.filename
                or "/crypto/" in f.filename
                or "/benchmarks/" in f.filename
            ]
            self.samples[" < ".join(reversed(stack[-6:]))] += 1

    def report(self, flow: str) -> None:
        if not self.samples:
            return
        print(f"  stalls in {flow}: (2 ms samples while the UI thread was late)")
        for stack, count in self.samples.most_common(6):
            print(f"    {count:4d}  {stack}")


class DatabaseWatch:
    """Counts the vault's use from the UI thread (every read or write goes through
    ``VaultCore._require_open`` or ``VaultCore.reader``) and where it came from: the main flows
    should have none."""

    def __init__(self) -> None:
        from crypto.vault_core import VaultCore

        self.ui_thread = threading.get_ident()
        self.calls: Counter[str] = Counter()
        self._originals = (VaultCore._require_open, VaultCore.reader)
        watch = self
        require_open, reader = self._originals

        def watched_require_open(vault: VaultCore) -> object:
            watch.note()
            return require_open(vault)

        def watched_reader(vault: VaultCore) -> object:
            watch.note()
            return reader(vault)

        VaultCore._require_open = watched_require_open  # type: ignore[method-assign,assignment]
        VaultCore.reader = watched_reader  # type: ignore[method-assign,assignment]

    def note(self) -> None:
        if threading.get_ident() != self.ui_thread:
            return
        stack = [
            f"{Path(f.filename).name}:{f.lineno} {f.name}"
            for f in traceback.extract_stack()[:-2]
            if "/desktop/" in f.filename
        ]
        self.calls[" < ".join(reversed(stack[-5:]))] += 1

    def take(self) -> Counter[str]:
        calls, self.calls = self.calls, Counter()
        return calls

    def close(self) -> None:
        from crypto.vault_core import VaultCore

        VaultCore._require_open, VaultCore.reader = self._originals  # type: ignore[method-assign]


class Heartbeat:
    """A QTimer on the UI thread; the longest gap between two beats is the longest stall."""

    def __init__(self, trace: bool = False) -> None:
        from desktop.ui.qt import QTimer

        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._beat)
        self.last = 0.0
        self.longest = 0.0
        self.tracer = StallTracer(self) if trace else None

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
        if self.tracer is not None:
            self.tracer.start()
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
        if self.tracer is not None:
            self.tracer.stop()
        return max(0.0, self.longest * 1000)


def with_a_backup(practice: Practice, folder: Path) -> None:
    """The Backups page and its history need a backup folder holding a backup of this vault."""
    from desktop.core.backup_settings import BackupSettings

    service = practice.backup_service()
    target = folder / "backups"
    target.mkdir(exist_ok=True)
    service.save_settings(BackupSettings(destination=str(target)))
    if not service.history():
        service.back_up_now(target)


def ui_stalls(folder: Path, *, trace: bool = False) -> dict[str, float]:
    from desktop.ui.background import share_the_interpreter, wait_in_order
    from desktop.ui.gc_on_ui_thread import UiThreadCollector
    from desktop.ui.main_window import MainWindow
    from desktop.ui.qt import QApplication, QEvent

    app = QApplication.instance() or QApplication(sys.argv)
    share_the_interpreter()  # as the app does (AppController)
    collector = UiThreadCollector()  # as the app does (app.run): collections on the UI thread
    practice = Practice.unlock(folder / "vault", PASSPHRASE, options=options(folder))
    with_a_backup(practice, folder)
    busiest = practice._vault.query(
        "SELECT client_id FROM notes GROUP BY client_id ORDER BY count(*) DESC LIMIT 1"
    )[0][0]
    draft = practice.create_note(busiest, "soap")
    beat = Heartbeat(trace)
    found: dict[str, float] = {}
    holder: list[MainWindow] = []

    watch = DatabaseWatch()

    def flow(name: str, action: Callable[[], object], done: Callable[[], bool]) -> None:
        watch.take()
        found[name] = beat.measure(action, done)
        on_ui_thread = watch.take()
        if on_ui_thread:
            print(f"  {name}: {sum(on_ui_thread.values())} uses of the vault on the UI thread")
            if trace:
                for stack, count in on_ui_thread.most_common(5):
                    print(f"    {count:4d}  {stack}")
        if beat.tracer is not None:
            beat.tracer.report(name)

    def open_app() -> None:
        window = MainWindow(practice, folder / "vault", lambda: None,
                            backups=practice.backup_service())  # fmt: skip
        window.show()
        holder.append(window)

    flow("open app", open_app, lambda: bool(holder) and not holder[0].clients_page.loading)
    window = holder[0]

    def page_idle(page: object) -> Callable[[], bool]:
        return lambda: not getattr(page, "loading", False)

    flow("calendar", window.show_calendar, page_idle(window.calendar_page))
    flow("client page", lambda: window.open_client(busiest), page_idle(window.client_page))
    window.open_note(draft.id)
    editor = window.note_editor

    def type_words() -> None:
        for word in range(40):
            editor.editors[0].insertPlainText(f"word{word} ")
            QApplication.processEvents()
        editor.save_now()

    flow("note autosave", type_words,
         lambda: wait_in_order(0) and editor.save_state.text().startswith("Saved"))  # fmt: skip
    window.show_search("")
    flow("search", lambda: window.search_page.focus_search("sleep"),
         lambda: not window.search_page.searching)  # fmt: skip
    audit = window.audit_page
    flow("audit page", window.show_audit, lambda: not audit.loading)
    flow("audit: one client", lambda: window.show_audit(busiest), lambda: not audit.loading)

    def last_30_days() -> None:
        audit.filter_client(None)
        audit.from_check.setChecked(True)
        audit.reload()

    flow("audit: last 30 days", last_30_days, lambda: not audit.loading)
    backups = window.backups_page
    flow("Backups page", window.show_backups,
         lambda: not backups.history_loading and bool(backups.history_texts()))  # fmt: skip
    # The app's collector (gc_on_ui_thread) runs a full collection once a minute on the UI
    # thread, with everything the flows above left alive.
    started = time.perf_counter()
    gc.collect(2)
    found["full garbage collection (once a minute)"] = (time.perf_counter() - started) * 1000
    collector.stop()
    watch.close()
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
    """The longest autosave (``save_draft`` then ``flush_drafts``, one durable commit, every
    20 ms) while each long walk runs on another thread; a walk shorter than ``MIN_WALK_S`` is
    run again until that much time has passed. "alone" is the same autosave with no walk, for
    ten times that (as many saves as the longest walk gives)."""
    from desktop.ui.background import share_the_interpreter

    share_the_interpreter()
    practice = Practice.unlock(folder / "vault", PASSPHRASE, options=options(folder))
    with_a_backup(practice, folder)
    client = practice.list_clients()[0].id
    draft = practice.create_note(client, "soap")
    service = practice.backup_service()
    target = folder / "backups"
    walks: dict[str, Callable[[], object]] = {
        # As many saves with no walk as during the longest walk (verify, ~20 s at ten years):
        # the machine's own tail (fsync, other processes) with nothing of ours beside it.
        "alone": lambda: time.sleep(10 * MIN_WALK_S),
        "verify": practice.verify_audit,
        "export": lambda: practice.export_audit(io.StringIO(), "jsonl"),
        "backup history": service.history,
        "backup snapshot": lambda: service.back_up_now(target),
    }
    found: dict[str, float] = {}
    for name, walk in walks.items():
        done = threading.Event()

        def run(w: Callable[[], object] = walk, d: threading.Event = done) -> None:
            started = time.perf_counter()
            try:
                w()
                while time.perf_counter() - started < MIN_WALK_S:
                    w()
            finally:
                d.set()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        time.sleep(0.05)
        waits = []
        number = 0
        while not done.is_set() and number < 2000:
            started = time.perf_counter()
            practice.save_draft(draft.id, {"subjective": f"text {name} {number}"})
            practice.flush_drafts()
            waits.append(time.perf_counter() - started)
            number += 1
            time.sleep(0.02)
        thread.join(600)
        found[name] = max(waits, default=0.0) * 1000
        ranked = sorted(waits) or [0.0]
        print(f"  autosave during {name}: {len(waits)} saves, median "
              f"{statistics.median(ranked) * 1000:.1f} ms, "
              f"95th percentile {ranked[int(0.95 * (len(ranked) - 1))] * 1000:.1f} ms, "
              f"max {found[name]:.1f} ms", flush=True)  # fmt: skip
    practice.lock()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the issue's sizes")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--only", choices=("1", "10"), help="measure one vault only (years)")
    parser.add_argument("--ui-only", action="store_true", help="skip the autosave waits")
    parser.add_argument("--trace", action="store_true",
                        help="print where the UI thread was while it stalled")  # fmt: skip
    args = parser.parse_args()
    results = []
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)
    for size in sizes(args.scale):
        if args.only and size.name != ("1 year" if args.only == "1" else "10 years"):
            continue
        folder = cached(size, args.rebuild)
        work = CACHE / f"run-{size.clients}"
        if work.exists():
            shutil.rmtree(work)
        shutil.copytree(folder, work)  # each run starts from the same vault
        print(f"measuring the {size.name} vault", flush=True)
        stalls = ui_stalls(work, trace=args.trace)
        waits = {} if args.ui_only else autosave_waits(work)
        results.append((size, stalls, waits))
        shutil.rmtree(work)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print()
    print(f"| {'longest UI-thread stall (ms)':<34} | " + " | ".join(
        f"{s.name:>9}" for s, _, _ in results) + " | goal |")  # fmt: skip
    print("|" + "---|" * (len(results) + 2))
    for flow in results[0][1]:
        cells = " | ".join(f"{r[1][flow]:9.0f}" for r in results)
        print(f"| {flow:<34} | {cells} | <= 100 |")
    for walk in results[0][2]:
        cells = " | ".join(f"{r[2][walk]:9.0f}" for r in results)
        goal = "" if walk == "alone" else "<= 50"
        print(f"| {'autosave wait during ' + walk:<34} | {cells} | {goal} |")
    print()
    for size, _, _ in results:
        print(f"{size.name}: {size.clients} clients, {size.clients * size.notes_per_client:,} "
              f"notes, {size.audit_entries:,} audit entries")  # fmt: skip


if __name__ == "__main__":
    main()
