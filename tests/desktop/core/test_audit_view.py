"""The audit page's view of the log: filters by client and by period go through the vault's
indexed queries (``Vault.audit_query``) on a snapshot of their own, and the view still includes
its own entry, so its count agrees with a verification that follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crypto.audit import store
from crypto.vault import AuditQuery, Vault
from desktop.core.audit_view import AuditFilter
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice

from .conftest import FakeClock


def test_client_and_period_filters_use_the_indexed_query(
    practice: Practice, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
    other = practice.create_client(ClientDetails(name="Rosa Blanco")).id
    note = practice.create_note(jordan, "soap")  # an entry naming the client in its details
    practice.open_client(other)
    clock.advance(40 * 86_400)
    practice.open_client(jordan)

    asked: list[AuditQuery | None] = []
    query = Vault.audit_query
    monkeypatch.setattr(Vault, "audit_query", lambda v, q=None: asked.append(q) or query(v, q))

    records = practice.view_audit(AuditFilter(client_id=jordan))
    assert asked and all(q is not None and q.client_id == jordan for q in asked)
    assert [(r.action, r.object_id) for r in records] == [
        ("audit.viewed", jordan),  # this viewing, about Jordan, included
        ("client.opened", jordan),
        ("note.created", note.id),
        ("client.created", jordan),
    ]

    asked.clear()
    since = clock.now - timedelta(days=30)
    records = practice.view_audit(AuditFilter(start=since))
    assert asked and all(q is not None and q.start == since for q in asked)
    assert [r.action for r in records] == ["audit.viewed", "audit.viewed", "client.opened"]
    assert all(r.at >= since for r in records)


def test_the_count_shown_agrees_with_verification(practice: Practice) -> None:
    practice.create_client(ClientDetails(name="Jordan Avery"))
    shown = practice.view_audit()
    assert shown[0].action == "audit.viewed"
    assert len(shown) == practice.verify_audit().entries


def test_every_filter_searches_an_index_and_never_scans_the_log(
    practice: Practice, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What SQLite plans for each query the audit page's filters and the Backups history run:
    a search through an index (client, time, action), never a scan of the whole log, which
    at ten years holds a million entries."""
    jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
    practice.create_note(jordan, "soap")
    clock.advance(40 * 86_400)
    practice.open_client(jordan)
    plans: list[str] = []
    filtered = store.filtered

    class Explained:
        """The reader's connection; each query's plan noted before it runs."""

        def __init__(self, conn: Any) -> None:
            self.conn = conn

        def execute(self, sql: str, params: Any = ()) -> Any:
            plan = self.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            plans.append(" / ".join(str(row[-1]) for row in plan))
            return self.conn.execute(sql, params)

    monkeypatch.setattr(store, "filtered", lambda conn, **kw: filtered(Explained(conn), **kw))
    since = clock.now - timedelta(days=30)
    practice.view_audit(AuditFilter(client_id=jordan))
    practice.view_audit(AuditFilter(start=since))
    practice.view_audit(AuditFilter(start=since, actions=("client.opened",)))
    practice.backup_service().history()  # (no folder set: nothing listed, nothing asked)
    assert len(plans) == 6  # each view: its entries, then its own entry and any since
    for plan in plans:
        assert plan.startswith("SEARCH audit_log USING"), plan
        assert "SCAN audit_log" not in plan, plan
