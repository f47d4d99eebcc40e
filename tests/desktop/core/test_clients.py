from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from desktop.core.clients import ClientDetails, ClientStatus, DestructionReason
from desktop.core.errors import (
    ClientArchivedError,
    ClientNotFoundError,
    InvalidFieldError,
    RetentionError,
)
from desktop.core.practice import Practice

Entries = Callable[[], list[tuple[str, str, str]]]

FULL = ClientDetails(
    name="Dana Dewberry",
    preferred_name="Dee",
    date_of_birth=date(1990, 4, 1),
    pronouns="they/them",
    email="dana@example.org",
    phone="555-0101",
    address="1 Demo Lane",
    emergency_contact="Sam Dewberry, 555-0102",
    diagnosis_codes="F41.1, Z63.0",
    status=ClientStatus.WAITLIST,
)


def test_create_open_update_round_trip(practice: Practice, clock: object) -> None:
    client = practice.create_client(FULL)
    assert client.details == FULL and not client.archived
    assert client.display_name == "Dee"
    record = practice.open_client(client.id)
    assert record.client == client and record.sessions == () and record.notes == ()
    updated = practice.update_client(client.id, replace(FULL, status=ClientStatus.ACTIVE))
    assert updated.details.status is ClientStatus.ACTIVE
    assert updated.created_at == client.created_at


def test_update_audits_field_names_not_values(
    practice: Practice, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    client = practice.create_client(FULL)
    new_entries()
    practice.update_client(client.id, replace(FULL, phone="555-0199", email="new@example.org"))
    assert new_entries() == [("client.updated", "client", client.id)]
    log = all_details()
    assert "email,phone" in log
    assert "555-0199" not in log and "Dewberry" not in log and "new@example.org" not in log
    practice.update_client(client.id, replace(FULL, phone="555-0199", email="new@example.org"))
    assert new_entries() == []  # nothing changed, nothing written


@pytest.mark.parametrize(
    "details",
    [ClientDetails(name="  "), ClientDetails(name="x", pronouns="y" * 3000)],
)
def test_invalid_details_are_refused(practice: Practice, details: ClientDetails) -> None:
    with pytest.raises(InvalidFieldError):
        practice.create_client(details)


def test_list_filters_and_archive(practice: Practice) -> None:
    a = practice.create_client(ClientDetails(name="Zeke Zephyrine"))
    b = practice.create_client(ClientDetails(name="ada Acornfield", status=ClientStatus.WAITLIST))
    assert [c.id for c in practice.list_clients()] == [b.id, a.id]  # by name, case-insensitive
    assert [c.id for c in practice.list_clients(status=ClientStatus.WAITLIST)] == [b.id]
    practice.archive_client(a.id)
    assert [c.id for c in practice.list_clients()] == [b.id]
    listed = practice.list_clients(include_archived=True)
    assert [c.archived for c in listed] == [False, True]
    with pytest.raises(ClientArchivedError):
        practice.create_note(a.id)
    with pytest.raises(ClientArchivedError):
        practice.schedule_session(a.id, datetime(2026, 1, 6, tzinfo=UTC))
    assert not practice.restore_client(a.id).archived
    practice.create_note(a.id)


def test_destruction_only_through_the_retention_action(
    practice: Practice, clock: object, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    client = practice.create_client(FULL)
    session = practice.schedule_session(client.id, datetime(2026, 1, 4, 10, tzinfo=UTC))
    note = practice.create_note(client.id, "free", session_id=session.id)
    practice.save_draft(note.id, {"note": "signed text"})
    practice.sign_note(note.id)
    practice.amend_note(note.id, "typo")
    reason = DestructionReason.RETENTION_PERIOD_ENDED

    with pytest.raises(RetentionError, match="archive"):
        practice.destroy_client(client.id, confirm_name=FULL.name, reason=reason)
    practice.archive_client(client.id)
    with pytest.raises(RetentionError, match="name"):
        practice.destroy_client(client.id, confirm_name="Dana", reason=reason)
    with pytest.raises(RetentionError, match="retention period runs until 2033"):
        practice.destroy_client(client.id, confirm_name=FULL.name, reason=reason)

    clock.advance(timedelta(days=365 * 7 + 3).total_seconds())  # type: ignore[attr-defined]
    new_entries()
    report = practice.destroy_client(client.id, confirm_name=FULL.name, reason=reason)
    assert (report.sessions, report.notes) == (1, 2)
    assert new_entries() == [("client.destroyed", "client", client.id)]
    with pytest.raises(ClientNotFoundError):
        practice.open_client(client.id)
    for table in ("clients", "sessions", "notes", "notes_fts", "retention_purge"):
        assert practice._vault.query(f"SELECT count(*) FROM {table}") == [(0,)]
    assert "retention_period_ended" in all_details() and FULL.name not in all_details()


def test_early_destruction_needs_an_explicit_choice(practice: Practice) -> None:
    client = practice.create_client(ClientDetails(name="Eli Emberly"))
    practice.archive_client(client.id)
    report = practice.destroy_client(
        client.id,
        confirm_name="Eli Emberly",
        reason=DestructionReason.CREATED_IN_ERROR,
        before_retention_ends=True,
    )
    assert report.notes == 0
    last = list(practice.audit_entries())[-1]
    assert last.details_dict()["before_retention_ended"] is True
