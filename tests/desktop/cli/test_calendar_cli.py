"""``quietroom calendar export`` end to end, in a subprocess as a script would use it: no client
name by default, names and a disclosure per client when asked, and clear refusals (a bad date, a
range past what the calendar holds, a file that is not .ics) that write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from icalendar import Calendar

from desktop.core.calendar import Repeat
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from tests.desktop.cli.test_cli import PASS, Cli, cli, init

__all__ = ["cli"]  # the fixture, imported for pytest


def summaries(path: Path) -> list[str]:
    return [str(e["SUMMARY"]) for e in Calendar.from_ical(path.read_bytes()).walk("VEVENT")]


def calendar_actions(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    practice = open_practice(cli, monkeypatch)
    try:
        return [
            (e.action, e.object_id)
            for e in practice.audit_entries()
            if e.action.startswith("calendar.")
        ]
    finally:
        practice.lock()


def open_practice(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Practice:
    monkeypatch.setenv("QUIETROOM_ALLOW_TEST_KDF", "1")
    monkeypatch.setenv("QUIETROOM_STATE_DIR", cli.env["QUIETROOM_STATE_DIR"])
    return Practice.unlock(cli.vault, PASS)


def test_calendar_export_without_then_with_names(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(cli)
    practice = open_practice(cli, monkeypatch)
    soon = datetime.now().astimezone().replace(microsecond=0) + timedelta(hours=2)
    try:
        jordan = practice.create_client(ClientDetails(name="Jordan Avery")).id
        practice.create_appointment(jordan, soon, repeat=Repeat.WEEKLY)
        cancelled = practice.create_appointment(jordan, soon + timedelta(days=1))
        practice.cancel_appointment(cancelled.id)
    finally:
        practice.lock()
    pw = cli.secret("p", PASS)

    plain = tmp_path / "sessions.ics"
    result = cli.run("calendar", "export", "--to", str(plain), "--passphrase-file", pw)
    assert result.returncode == 0, result.stderr
    assert "appointments" in result.stdout and "without client names" in result.stdout
    found = summaries(plain)
    # weekly, today through the same day three months on; the cancelled one left out
    last_day = datetime.now().astimezone().date() + relativedelta(months=3)
    weekly = [soon + timedelta(weeks=k) for k in range(20)]
    assert len(found) == sum(1 for t in weekly if t.astimezone().date() <= last_day)
    assert set(found) == {"Session"}
    assert b"Jordan" not in plain.read_bytes() and b"Avery" not in plain.read_bytes()
    assert calendar_actions(cli, monkeypatch) == [("calendar.exported", "")]

    named = tmp_path / "named.ics"
    last = (soon + timedelta(weeks=2)).date().isoformat()
    result = cli.run(
        "calendar", "export", "--to", str(named), "--until", last,
        "--include-client-names", "--passphrase-file", pw,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "with client names" in result.stdout
    assert "a disclosure for each client named (1)" in result.stderr
    assert summaries(named) == ["Session \N{EN DASH} Jordan Avery"] * 3
    assert calendar_actions(cli, monkeypatch)[1:] == [
        ("calendar.exported", ""),
        ("calendar.names_disclosed", jordan),
    ]


def test_calendar_export_refusals_write_nothing(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    pw = cli.secret("p", PASS)
    out = tmp_path / "x.ics"
    for args, message in (
        (["--to", str(tmp_path / "x.txt")], "ending in .ics"),
        (["--to", str(out), "--until", "2026-13-01"], "is not a date"),
        (["--to", str(out), "--until", "2999-01-01"], "known up to"),
        (["--to", str(out), "--from", "2026-03-01", "--until", "2026-02-01"], "before the first"),
        (["--to", str(tmp_path / "missing" / "x.ics")], "does not exist"),
    ):
        result = cli.run("calendar", "export", *args, "--passphrase-file", pw)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert not out.exists()
    assert cli.run("calendar").returncode == 2
