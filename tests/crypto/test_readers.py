"""Long walks read a snapshot of their own, so writers do not wait for them (issue 12, item 2);
the audit log's filters by client and period are index lookups."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crypto.audit import store
from crypto.migrations import Migration, statements
from crypto.vault import AuditQuery, Vault

DRAFTS = (
    Migration(1, "drafts", statements("CREATE TABLE drafts(id INTEGER PRIMARY KEY, body TEXT)")),
)


def test_a_frozen_snapshot_does_not_move_while_writers_go_on(
    make_vault: Callable[[], Vault],
) -> None:
    vault = make_vault()
    vault.migrate("drafts", DRAFTS)
    with vault.frozen() as snapshot:
        before = hashlib.sha256(snapshot.database.read_bytes()).digest()
        # Enough writing for SQLite to try its automatic checkpoints (1,000 pages) many times.
        for i in range(40):
            with vault.transaction() as tx:
                tx.execute("INSERT INTO drafts(body) VALUES (?)", ("x" * 200_000 + str(i),))
        assert hashlib.sha256(snapshot.database.read_bytes()).digest() == before
        assert snapshot.commit < vault.commit_count
    assert vault.query("SELECT count(*) FROM drafts") == [(40,)]
    vault.verify_audit()
    vault.lock()


def test_writers_do_not_wait_for_a_walk_of_the_log(make_vault: Callable[[], Vault]) -> None:
    vault = make_vault()
    with vault.transaction() as tx:
        for i in range(3000):
            tx.audit("note.opened", object_type="note", object_id=str(i))
    started, release = threading.Event(), threading.Event()

    def slow_walk() -> None:
        for n, _entry in enumerate(vault.audit_entries()):
            if n == 10:
                started.set()
                release.wait(10)  # the walk is stuck halfway, holding its snapshot

    walker = threading.Thread(target=slow_walk)
    walker.start()
    assert started.wait(10)
    begin = time.monotonic()
    vault.audit("note.created", object_type="note", object_id="during-the-walk")
    waited = time.monotonic() - begin
    release.set()
    walker.join(10)
    assert waited < 5, f"a write waited {waited:.1f} s for a walk of the log"
    vault.lock()


def test_audit_filters_by_client_and_period_use_indexes(
    make_vault: Callable[[], Vault], clock: Callable[[], datetime]
) -> None:
    vault = make_vault()
    with vault.transaction() as tx:
        for i in range(60):
            tx.audit("client.opened", object_type="client", object_id=f"c{i % 3}")
            tx.audit(
                "note.opened", object_type="note", object_id=str(i), details={"client_id": "c1"}
            )
    with vault.reader() as (conn, _header):
        for where in ("client_id = 'c1'", "at >= '2026-01-01T00:00:00.000000Z'"):
            plan = " ".join(
                str(row[-1])
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT seq FROM audit_log WHERE {where}"
                )
            )
            assert "INDEX audit_log_client" in plan or "INDEX audit_log_at" in plan, plan
    by_client = vault.audit_query(AuditQuery(client_id="c1", limit=500))
    assert len(by_client) == 80  # 20 times opened as a client, 60 notes of that client
    assert all(e.object_id == "c1" or e.details_dict().get("client_id") == "c1" for e in by_client)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    recent = vault.audit_query(AuditQuery(start=now - timedelta(days=30), end=now + timedelta(1)))
    assert len(recent) == min(1000, store.count(vault._require_open()))
    # What was written since an earlier query, through the same filter.
    newest = by_client[0].seq
    vault.audit("note.opened", object_type="note", object_id="x", details={"client_id": "c1"})
    vault.audit("note.opened", object_type="note", object_id="y", details={"client_id": "c2"})
    since = vault.audit_query(AuditQuery(client_id="c1", after_seq=newest))
    assert [e.object_id for e in since] == ["x"]
    vault.lock()
