"""The client list carries each client's last and next session (for the Clients page), read in
the same audited ``list_clients`` call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from desktop.core.clients import ClientDetails, ClientStatus
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance

Entries = Callable[[], list[tuple[str, str, str]]]


def test_last_and_next_session(practice: Practice, clock: Any, new_entries: Entries) -> None:
    ada = practice.create_client(ClientDetails(name="Ada Applewood")).id
    bo = practice.create_client(ClientDetails(name="Bo Birchwood")).id
    base = clock.now
    practice.schedule_session(ada, base - timedelta(days=14), attendance=Attendance.ATTENDED)
    practice.schedule_session(ada, base - timedelta(days=7), attendance=Attendance.NO_SHOW)
    practice.schedule_session(ada, base - timedelta(days=1), attendance=Attendance.CANCELLED)
    practice.schedule_session(ada, base + timedelta(days=7), attendance=Attendance.CANCELLED)
    practice.schedule_session(ada, base + timedelta(days=14))
    practice.schedule_session(ada, base + timedelta(days=21))
    new_entries()

    listed = {c.id: c for c in practice.list_clients()}

    assert listed[ada].last_session_at == base - timedelta(days=7)  # cancelled ones don't count
    assert listed[ada].next_session_at == base + timedelta(days=14)
    assert listed[bo].last_session_at is None and listed[bo].next_session_at is None
    assert new_entries() == [("client.listed", "client", "")]


def test_filters_still_apply(practice: Practice) -> None:
    practice.create_client(ClientDetails(name="Cy Cedar", status=ClientStatus.WAITLIST))
    gone = practice.create_client(ClientDetails(name="Di Dogwood")).id
    practice.archive_client(gone)

    assert [c.name for c in practice.list_clients(status=ClientStatus.WAITLIST)] == ["Cy Cedar"]
    assert [c.name for c in practice.list_clients()] == ["Cy Cedar"]
    everyone = practice.list_clients(include_archived=True)
    assert [(c.name, c.archived) for c in everyone] == [("Cy Cedar", False), ("Di Dogwood", True)]
