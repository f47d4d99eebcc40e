from __future__ import annotations

import pytest

from desktop.core.demo import demo_batches
from desktop.core.errors import SettingsError
from desktop.core.notes import SignatureCheck
from desktop.core.practice import Practice
from desktop.core.settings import PracticeSettings
from desktop.core.templates import builtin_templates


def test_settings_live_in_the_vault(practice: Practice, reopen: object) -> None:
    assert practice.settings == PracticeSettings()
    changed = PracticeSettings(late_entry_hours=24, auto_lock_minutes=10, therapist_name="Dr. Q")
    practice.update_settings(changed)
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "settings.changed"
    assert entry.details_dict()["changed"] == "auto_lock_minutes,late_entry_hours,therapist_name"
    again = reopen(practice)  # type: ignore[operator]
    assert again.settings == changed
    again.lock()


@pytest.mark.parametrize(
    "bad",
    [
        PracticeSettings(late_entry_hours=0),
        PracticeSettings(auto_lock_minutes=1000),
        PracticeSettings(retention_years=-1),
        PracticeSettings(therapist_name="x" * 500),
    ],
)
def test_out_of_range_settings_are_refused(practice: Practice, bad: PracticeSettings) -> None:
    with pytest.raises(SettingsError):
        practice.update_settings(bad)


def test_demo_is_deterministic_and_obviously_fake(clock: object) -> None:
    now = clock()  # type: ignore[operator]
    first = list(demo_batches(30, 20, 7, now, "me"))
    second = list(demo_batches(30, 20, 7, now, "me"))
    assert first == second
    assert first != list(demo_batches(30, 20, 8, now, "me"))
    clients = [c for b in first for c in b.clients]
    assert len(clients) == 30 and len({c[0] for c in clients}) == 30
    assert all(c[5].endswith("@example.org") and c[6].startswith("555-01") for c in clients)
    assert all("Demo Lane" in c[7] for c in clients)
    assert sum(len(b.notes) for b in first) == 30 * 20


def test_fill_demo_makes_a_usable_practice(practice: Practice) -> None:
    report = practice.fill_demo(4, 30, seed=3)
    assert (report.clients, report.notes) == (4, 120)
    listed = practice.list_clients(include_archived=True)
    assert len(listed) == 4
    record = practice.open_client(listed[0].id)
    assert record.notes and record.sessions
    note = practice.open_note(record.notes[-1].id)
    assert note.signature_check is SignatureCheck.VALID
    assert {n.template_name for n in record.notes} <= {t.name for t in builtin_templates()} | {
        "Addendum"
    }
    assert practice.search("sleep").notes  # the demo text is indexed
    assert "demo.filled" in [e.action for e in practice.audit_entries()]
