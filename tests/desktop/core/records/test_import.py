"""Switching in from another practice suite: the shipped sample files import in each layout, the
dry run reports every refused row with its reason and writes nothing, the import is audited, and
re-running the same file creates no duplicates."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import pytest

from desktop.core.practice import Practice
from desktop.core.records.errors import ImportFileError, MappingError
from desktop.core.records.import_layouts import ImportKind, parse_csv, read_csv
from desktop.core.records.importer import RowAction

ZONE = UTC
SAMPLES = files("resources") / "import-samples"


def sample(name: str) -> Path:
    return Path(str(SAMPLES / name))


def _counts(practice: Practice) -> tuple[int, int]:
    vault = practice.vault_for_backups()
    return (
        vault.query("SELECT count(*) FROM clients")[0][0],
        vault.query("SELECT count(*) FROM sessions")[0][0],
    )


@pytest.mark.parametrize(
    ("layout", "clients", "appointments"),
    [("simplepractice", 4, 6), ("therapynotes", 3, 4), ("generic", 2, 3)],
)
def test_sample_files_import_cleanly_and_layouts_are_recognised(
    practice: Practice, layout: str, clients: int, appointments: int
) -> None:
    prefix = {"simplepractice": "simplepractice-like", "therapynotes": "therapynotes-like"}.get(
        layout, layout
    )
    records = practice.records
    table = records.read_import_file(sample(f"{prefix}-clients.csv"))
    assert table.guess_layout(ImportKind.CLIENTS).key == layout
    plan, report = records.run_import(table, ImportKind.CLIENTS, layout)
    assert plan.refused == [] and report.added == clients
    table = records.read_import_file(sample(f"{prefix}-appointments.csv"))
    assert table.guess_layout(ImportKind.APPOINTMENTS).key == layout
    plan, report = records.run_import(table, ImportKind.APPOINTMENTS, layout, zone=ZONE)
    assert plan.refused == [], plan.refused
    assert report.added == appointments
    assert _counts(practice) == (clients, appointments)


def test_simplepractice_values_land_in_the_right_fields(practice: Practice) -> None:
    records = practice.records
    records.run_import(
        records.read_import_file(sample("simplepractice-like-clients.csv")),
        ImportKind.CLIENTS,
        "simplepractice",
    )
    records.run_import(
        records.read_import_file(sample("simplepractice-like-appointments.csv")),
        ImportKind.APPOINTMENTS,
        "simplepractice",
        zone=ZONE,
    )
    avery = next(c for c in practice.list_clients() if c.name == "Avery Demoson")
    record = practice.open_client(avery.id)
    d = record.client.details
    assert (d.preferred_name, d.date_of_birth, d.diagnosis_codes) == (
        "Ave",
        date(1986, 4, 12),
        "F41.1",
    )
    assert d.address == "10 Demo Lane, Sampletown, CA, 90001"
    sessions = sorted(record.sessions, key=lambda s: s.starts_at)
    assert sessions[0].starts_at == datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
    assert [(s.duration_minutes, s.modality, s.attendance) for s in sessions] == [
        (60, "in_person", "attended"),
        (53, "in_person", "attended"),
        (53, "video", "no_show"),
    ]
    casey = next(c for c in practice.list_clients() if c.name == "Casey Placeholder")
    assert casey.status == "discharged"


BAD_APPOINTMENTS = """\
Appointment ID,Client ID,Client,Date,Start Time,Duration,Location,Status
A-1,SP-1001,Avery Demoson,02/02/2026,9:00 AM,60,Office,Show
A-2,SP-9999,Nobody Known,02/02/2026,9:00 AM,60,Office,Show
A-3,SP-1001,Avery Demoson,02/30/2026,9:00 AM,60,Office,Show
A-4,SP-1001,Avery Demoson,02/03/2026,25:00,60,Office,Show
A-5,SP-1001,Avery Demoson,02/04/2026,9:00 AM,0,Office,Show
A-6,SP-1001,Avery Demoson,02/05/2026,9:00 AM,60,Spaceship,Show
A-7,SP-1001,Avery Demoson,02/06/2026,9:00 AM,60,Office,Teleported
A-1,SP-1001,Avery Demoson,02/07/2026,9:00 AM,60,Office,Show

A-8,SP-1002,Blake Fictional,02/08/2026,10:00 AM,45 min,Telehealth,Show
"""

BAD_CLIENTS = (
    "Client ID,First Name,Last Name,Preferred Name,Date of Birth,Email,Phone,Street Address,City,"
    "State,Zip,Emergency Contact,Diagnosis,Status\n"
    """\
SP-1001,Avery,Demoson,,04/12/1986,,,,,,,,,Active
SP-1002,Blake,Fictional,,11/03/1992,,,,,,,,,Active
SP-1003,,,,01/01/1990,,,,,,,,,Active
SP-1004,Drew,Synthetic,,13/45/1990,,,,,,,,,Active
SP-1005,Eden,Future,,01/01/2999,,,,,,,,,Active
SP-1006,Fern,Oddstatus,,,,,,,,,,,Vanished
SP-1001,Avery,Again,,,,,,,,,,,Active
"""
)


def test_dry_run_reports_every_refused_row_and_writes_nothing(
    practice: Practice, tmp_path: Path
) -> None:
    records = practice.records
    clients = tmp_path / "clients.csv"
    clients.write_text(BAD_CLIENTS, "utf-8")
    table = records.read_import_file(clients)
    plan = records.check_import(table, ImportKind.CLIENTS, "simplepractice")
    assert _counts(practice) == (0, 0)
    refused = {o.line: o.reason for o in plan.refused}
    assert refused == {
        4: "no name",
        5: "'13/45/1990' is not a date",
        6: "date of birth '01/01/2999' is not a past date",
        7: "'Vanished' is not a client status Quietroom knows",
        8: "the same client appears earlier in the file",
    }
    assert [o.line for o in plan.outcomes if o.action is RowAction.ADD] == [2, 3]
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "import.checked"
    assert json.loads(entry.details)["refuse"] == 5
    assert "Avery" not in entry.details  # counts only, never a client's details

    plan, report = records.run_import(table, ImportKind.CLIENTS, "simplepractice")
    assert (report.added, report.refused) == (2, 5)

    appointments = tmp_path / "appointments.csv"
    appointments.write_text(BAD_APPOINTMENTS, "utf-8")
    table = records.read_import_file(appointments)
    plan = records.check_import(table, ImportKind.APPOINTMENTS, "simplepractice", zone=ZONE)
    refused = {o.line: o.reason for o in plan.refused}
    assert refused == {
        3: "no client with number 'SP-9999': import the client list first",
        4: "'02/30/2026' is not a date",
        5: "'25:00' is not a time of day",
        6: "a session of 0 minutes (it must be 1 minute to 24 hours)",
        7: "'Spaceship' is not a place or way of meeting Quietroom knows",
        8: "'Teleported' is not an attendance value Quietroom knows",
        9: "the same appointment appears earlier in the file",
    }
    assert [o.action for o in plan.outcomes if o.line == 10] == [RowAction.SKIP]
    assert [o.line for o in plan.outcomes if o.action is RowAction.ADD] == [2, 11]
    assert _counts(practice) == (2, 0)


def test_re_running_the_same_files_creates_no_duplicates(practice: Practice) -> None:
    records = practice.records
    clients = records.read_import_file(sample("simplepractice-like-clients.csv"))
    appointments = records.read_import_file(sample("simplepractice-like-appointments.csv"))
    for _ in range(2):
        records.run_import(clients, ImportKind.CLIENTS, "simplepractice")
        records.run_import(appointments, ImportKind.APPOINTMENTS, "simplepractice", zone=ZONE)
    assert _counts(practice) == (4, 6)
    plan = records.check_import(clients, ImportKind.CLIENTS, "simplepractice")
    assert {o.action for o in plan.outcomes} == {RowAction.ALREADY}
    plan = records.check_import(appointments, ImportKind.APPOINTMENTS, "simplepractice", zone=ZONE)
    assert {o.action for o in plan.outcomes} == {RowAction.ALREADY}
    completed = [e for e in practice.audit_entries() if e.action == "import.completed"]
    assert [json.loads(e.details)["added"] for e in completed] == [4, 6, 0, 0]


def test_without_ids_natural_keys_and_existing_records_prevent_duplicates(
    practice: Practice, tmp_path: Path
) -> None:
    from desktop.core.clients import ClientDetails

    practice.create_client(ClientDetails(name="Harper Sampleton", date_of_birth=date(1995, 9, 9)))
    text = sample("generic-clients.csv").read_text("utf-8")
    # The same list without its id column: clients are matched by name and date of birth.
    no_ids = tmp_path / "no-ids.csv"
    no_ids.write_text("\n".join(line.split(",", 1)[1] for line in text.splitlines()) + "\n")
    records = practice.records
    table = records.read_import_file(no_ids)
    plan = records.check_import(table, ImportKind.CLIENTS, "generic")
    assert [o.action for o in plan.outcomes] == [RowAction.LINK, RowAction.ADD]
    records.run_import(table, ImportKind.CLIENTS, "generic")
    records.run_import(table, ImportKind.CLIENTS, "generic")
    assert _counts(practice)[0] == 2
    harper = next(c for c in practice.list_clients() if c.name == "Harper Sampleton")
    practice.schedule_session(harper.id, datetime(2026, 2, 4, 11, 0, tzinfo=UTC))
    appointments = tmp_path / "appointments.csv"
    appointments.write_text(
        "Client name,Date,Start time,Length (minutes)\n"
        "Harper Sampleton,2026-02-04,11:00,53\n"
        "Harper Sampleton,2026-02-11,11:00,53\n"
    )
    table = records.read_import_file(appointments)
    for _ in range(2):
        records.run_import(table, ImportKind.APPOINTMENTS, "generic", zone=ZONE)
    sessions = practice.open_client(harper.id).sessions
    assert sorted(s.starts_at for s in sessions) == [
        datetime(2026, 2, 4, 11, 0, tzinfo=UTC),
        datetime(2026, 2, 4, 11, 0, tzinfo=UTC) + timedelta(weeks=1),
    ]


def test_bad_files_and_mappings_are_refused_clearly(practice: Practice, tmp_path: Path) -> None:
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ImportFileError):
        read_csv(binary)
    with pytest.raises(ImportFileError, match="header"):
        parse_csv("")
    with pytest.raises(ImportFileError, match="same name"):
        parse_csv("a,a\n1,2\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nRenée Cafébrook\n".encode("cp1252"))
    assert read_csv(latin).rows[0]["name"] == "Renée Cafébrook"
    table = parse_csv("Full,Born\nA Person,1990-01-01\n")
    with pytest.raises(MappingError, match="Full name"):
        practice.records.check_import(table, ImportKind.CLIENTS, "generic", {"name": ()})
    with pytest.raises(MappingError, match="no column named"):
        practice.records.check_import(table, ImportKind.CLIENTS, "generic", {"name": ("Nope",)})
    _, report = practice.records.run_import(
        table, ImportKind.CLIENTS, "generic", {"name": ("Full",), "date_of_birth": ("Born",)}
    )
    assert report.added == 1


def test_local_times_keep_their_own_daylight_saving_offset(
    practice: Practice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a zone given, 09:00 in January and 09:00 in July are both 09:00 on the wall
    clock, whatever today's offset is."""
    import time as time_module

    monkeypatch.setenv("TZ", "America/New_York")
    time_module.tzset()
    try:
        records = practice.records
        records.run_import(parse_csv("Name\nHarper Sampleton\n"), ImportKind.CLIENTS, "generic")
        table = parse_csv(
            "Client name,Date,Start time\n"
            "Harper Sampleton,2026-01-15,09:00\n"
            "Harper Sampleton,2026-07-15,09:00\n"
        )
        records.run_import(table, ImportKind.APPOINTMENTS, "generic")
        harper = practice.list_clients()[0]
        starts = sorted(s.starts_at for s in practice.open_client(harper.id).sessions)
        assert starts == [
            datetime(2026, 1, 15, 14, 0, tzinfo=UTC),  # EST, UTC-5
            datetime(2026, 7, 15, 13, 0, tzinfo=UTC),  # EDT, UTC-4
        ]
    finally:
        monkeypatch.delenv("TZ")
        time_module.tzset()


def test_insurance_columns_are_imported_checked_and_kept_on_a_re_run(practice: Practice) -> None:
    records = practice.records
    table = records.read_import_file(sample("generic-clients.csv"))
    plan, report = records.run_import(table, ImportKind.CLIENTS, "generic")
    assert plan.refused == [] and report.added == 2
    by_name = {c.name: c.id for c in practice.list_clients()}
    insured = records.client_billing(by_name["Harper Sampleton"])[1]
    assert insured is not None
    assert (insured.payer_name, insured.member_id, insured.group_number) == (
        "Example Health Plan", "EHP000123", "GRP-77",
    )  # fmt: skip
    assert (insured.relationship, insured.subscriber_name) == ("spouse", "Quinn Sampleton")
    assert records.client_billing(by_name["Indigo Fakeworth"])[1] is None  # self-pay
    changed = [e for e in practice.audit_entries() if e.action == "billing.insurance_changed"]
    assert [e.object_id for e in changed] == [by_name["Harper Sampleton"]]
    assert "EHP000123" not in changed[0].details
    records.run_import(table, ImportKind.CLIENTS, "generic")  # again: nothing added or changed
    assert sum(1 for e in practice.audit_entries() if e.action == "billing.insurance_changed") == 1

    bad = parse_csv(
        "Name,Insurance company,Member ID,Relationship to policy holder,Policy holder\n"
        "No Member Id,Aetna,,,\n"
        "Unknown Holder,Aetna,W1,child,\n"
        "Odd Relation,Aetna,W2,cousin,Pat Odd\n"
        "Holder No Relation,Aetna,W3,,Pat Holder\n"
        "Fine Self,Aetna,W4,Self,\n"
    )
    plan = records.check_import(bad, ImportKind.CLIENTS, "generic")
    reasons = {o.summary: o.reason for o in plan.refused}
    assert "member ID" in reasons["No Member Id"]
    assert "name the subscriber" in reasons["Unknown Holder"]
    assert "'cousin' is not a relationship" in reasons["Odd Relation"]
    assert "not how the client is related" in reasons["Holder No Relation"]
    assert [o.summary for o in plan.outcomes if o.action is RowAction.ADD] == ["Fine Self"]
