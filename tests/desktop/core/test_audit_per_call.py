"""Each facade call that returns PHI leaves exactly the expected audit entries (and no others),
naming object ids only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from desktop.core.audit_view import AuditFilter
from desktop.core.clients import ClientDetails
from desktop.core.disclosure import DisclosureKind
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance

Entries = Callable[[], list[tuple[str, str, str]]]
SECRET = "Heliotrope-Quasar-7731"  # appears in every piece of PHI below, never in the log


@dataclass
class Ids:
    client: str
    session: str
    signed: str
    draft: str
    private: str


@pytest.fixture
def ids(practice: Practice) -> Ids:
    client = practice.create_client(
        ClientDetails(name=f"Hugo {SECRET}", email=f"{SECRET}@example.org")
    )
    session = practice.schedule_session(client.id, datetime(2026, 1, 5, 8, tzinfo=UTC))
    signed = practice.create_note(client.id, "soap", session_id=session.id)
    practice.save_draft(signed.id, {"subjective": f"said {SECRET}"})
    practice.sign_note(signed.id)
    draft = practice.create_note(client.id, "dap")
    practice.save_draft(draft.id, {"data": f"draft {SECRET}"})
    practice.close_draft(draft.id)
    private = practice.create_psychotherapy_note(client.id, session_id=session.id)
    practice.save_draft(private.id, {"note": f"private {SECRET}"})
    practice.sign_note(private.id)
    return Ids(client.id, session.id, signed.id, draft.id, private.id)


Call = Callable[[Practice, Ids], Any]
Expect = Callable[[Ids, Any], list[tuple[str, str, str]]]
DISCLOSE = {"recipient": "Dr. Example, referral", "purpose": "continuity of care"}

CASES: dict[str, tuple[Call, Expect]] = {
    "list_clients": (
        lambda p, i: p.list_clients(),
        lambda i, r: [("client.listed", "client", "")],
    ),
    "open_client": (
        lambda p, i: p.open_client(i.client),
        lambda i, r: [("client.opened", "client", i.client)],
    ),
    "create_client": (
        lambda p, i: p.create_client(ClientDetails(name=f"New {SECRET}")),
        lambda i, r: [("client.created", "client", r.id)],
    ),
    "update_client": (
        lambda p, i: p.update_client(i.client, ClientDetails(name=f"Renamed {SECRET}")),
        lambda i, r: [("client.updated", "client", i.client)],
    ),
    "archive_client": (
        lambda p, i: p.archive_client(i.client),
        lambda i, r: [("client.archived", "client", i.client)],
    ),
    "schedule_session": (
        lambda p, i: p.schedule_session(i.client, datetime(2026, 1, 12, 8, tzinfo=UTC)),
        lambda i, r: [("session.created", "session", r.id)],
    ),
    "update_session": (
        lambda p, i: p.update_session(i.session, attendance=Attendance.NO_SHOW),
        lambda i, r: [("session.updated", "session", i.session)],
    ),
    "list_sessions": (
        lambda p, i: p.list_sessions(
            datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=1)
        ),
        lambda i, r: [("session.listed", "session", "")],
    ),
    "create_note": (
        lambda p, i: p.create_note(i.client, "birp", session_id=i.session),
        lambda i, r: [("note.created", "note", r.id)],
    ),
    "open_note": (
        lambda p, i: p.open_note(i.signed),
        lambda i, r: [("note.opened", "note", i.signed)],
    ),
    "open_draft": (
        lambda p, i: p.open_note(i.draft),
        lambda i, r: [("note.opened", "note", i.draft)],
    ),
    "save_draft": (
        lambda p, i: p.save_draft(i.draft, {"data": f"more {SECRET}"}),
        lambda i, r: [("note.edited", "note", i.draft)],
    ),
    "sign_note": (
        lambda p, i: p.sign_note(i.draft),
        lambda i, r: [("note.signed", "note", i.draft)],
    ),
    "amend_note": (
        lambda p, i: p.amend_note(i.signed, "correction"),
        lambda i, r: [("note.amended", "note", r.id)],
    ),
    "add_addendum": (
        lambda p, i: p.add_addendum(i.signed, "phone call"),
        lambda i, r: [("note.addendum_added", "note", r.id)],
    ),
    "add_late_entry": (
        lambda p, i: p.add_late_entry(i.signed, "forgot"),
        lambda i, r: [("note.late_entry_added", "note", r.id)],
    ),
    "list_psychotherapy_notes": (
        lambda p, i: p.list_psychotherapy_notes(i.client),
        lambda i, r: [("psychotherapy_note.listed", "client", i.client)],
    ),
    "open_psychotherapy_note": (
        lambda p, i: p.open_psychotherapy_note(i.private),
        lambda i, r: [("psychotherapy_note.opened", "note", i.private)],
    ),
    "search": (
        lambda p, i: p.search(SECRET),
        lambda i, r: [("search.performed", "", "")],
    ),
    "search_psychotherapy": (
        lambda p, i: p.search(SECRET, include_psychotherapy=True),
        lambda i, r: [("search.performed", "", "")],
    ),
    "print_note": (
        lambda p, i: p.note_document(i.signed, DisclosureKind.PRINT, **DISCLOSE),
        lambda i, r: [("note.printed", "note", i.signed)],
    ),
    "export_note": (
        lambda p, i: p.note_document(i.signed, DisclosureKind.EXPORT, **DISCLOSE),
        lambda i, r: [("note.exported", "note", i.signed)],
    ),
    "print_client": (
        lambda p, i: p.client_document(i.client, DisclosureKind.PRINT, **DISCLOSE),
        lambda i, r: [("client.printed", "client", i.client)],
    ),
    "export_client": (
        lambda p, i: p.client_document(i.client, DisclosureKind.EXPORT, **DISCLOSE),
        lambda i, r: [("client.exported", "client", i.client)],
    ),
    "view_audit": (
        lambda p, i: p.view_audit(),
        lambda i, r: [("audit.viewed", "", "")],
    ),
    "view_audit_of_a_client": (
        lambda p, i: p.view_audit(AuditFilter(client_id=i.client)),
        lambda i, r: [("audit.viewed", "client", i.client)],
    ),
    "discard_draft": (
        lambda p, i: p.discard_draft(i.draft),
        lambda i, r: [("note.draft_discarded", "note", i.draft)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_call_leaves_exactly_its_entries(
    practice: Practice,
    ids: Ids,
    new_entries: Entries,
    all_details: Callable[[], str],
    name: str,
) -> None:
    call, expect = CASES[name]
    new_entries()
    result = call(practice, ids)
    assert new_entries() == expect(ids, result)
    assert SECRET not in all_details()
    assert f"said {SECRET}" not in all_details()


def test_no_read_without_an_entry(practice: Practice, ids: Ids, new_entries: Entries) -> None:
    """A failed read (wrong compartment) leaves no entry and returns nothing."""
    from desktop.core.errors import CompartmentError

    new_entries()
    with pytest.raises(CompartmentError):
        practice.open_note(ids.private)
    with pytest.raises(CompartmentError):
        practice.note_document(ids.private, DisclosureKind.PRINT, **DISCLOSE)
    assert new_entries() == []


def test_audit_view_filters(practice: Practice, ids: Ids, clock: object) -> None:
    practice.open_note(ids.signed)
    records = practice.view_audit(AuditFilter(client_id=ids.client))
    actions = [r.action for r in records]
    # the view's own entry first (it is about this client), so the count shown agrees with the
    # log a verification walks next
    assert actions[:2] == ["audit.viewed", "note.opened"] and "client.created" in actions
    assert all(
        r.object_id == ids.client or r.details.get("client_id") == ids.client for r in records
    )
    only = practice.view_audit(AuditFilter(actions=("note.signed",)))
    assert [r.object_id for r in only] == [ids.private, ids.signed]  # newest first
    later = clock() + timedelta(hours=1)  # type: ignore[operator]
    assert practice.view_audit(AuditFilter(start=later)) == ()
    assert practice.view_audit(AuditFilter(limit=2))[0].action == "audit.viewed"


def test_disclosures_leave_psychotherapy_notes_out_unless_chosen(
    practice: Practice, ids: Ids
) -> None:
    plain = practice.client_document(ids.client, DisclosureKind.EXPORT, **DISCLOSE)
    text = "\n".join(s.text for s in plain.sections)
    assert f"said {SECRET}" in text
    assert f"private {SECRET}" not in text and f"draft {SECRET}" not in text
    full = practice.client_document(
        ids.client, DisclosureKind.EXPORT, include_psychotherapy=True, **DISCLOSE
    )
    assert f"private {SECRET}" in "\n".join(s.text for s in full.sections)
    assert list(practice.audit_entries())[-1].details_dict()["include_psychotherapy"] is True
    one = practice.note_document(
        ids.private, DisclosureKind.PRINT, include_psychotherapy=True, **DISCLOSE
    )
    assert "continuity of care" in one.footer
