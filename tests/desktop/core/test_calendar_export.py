"""The calendar exported for the therapist's own calendar app (.ics, read back with ``icalendar``):
no client name by default in any form, names and a per-client disclosure when asked, a weekly
series with an exception moved and one cancelled written exactly, UIDs that stay the same across
exports, a private file written whole, and a clear refusal for bad ranges and paths."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from desktop.core import calendar_export
from desktop.core.audit_story import sentence
from desktop.core.audit_view import AuditFilter
from desktop.core.calendar import HORIZON, Repeat
from desktop.core.calendar_export import (
    CalendarExportError,
    ExportDays,
    default_range,
    latest_last_day,
)
from desktop.core.clients import ClientDetails
from desktop.core.errors import InvalidFieldError
from desktop.core.practice import Practice
from desktop.core.sessions import Modality

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the vault's clock in these tests (a Monday)
FIRST, LAST = date(2026, 1, 5), date(2026, 2, 28)
NAMES = ("Zoë Quenneville-Ångström", "Marcus Oyelaran")


@pytest.fixture
def clients(practice: Practice) -> tuple[str, str]:
    zoe = practice.create_client(ClientDetails(name=NAMES[0], preferred_name="Zozo")).id
    marcus = practice.create_client(ClientDetails(name=NAMES[1])).id
    return zoe, marcus


def events(path: Path) -> list[dict[str, object]]:
    """The file parsed back (RFC 5545, by icalendar): each VEVENT's properties."""
    cal = Calendar.from_ical(path.read_bytes())
    found = []
    for event in cal.walk("VEVENT"):
        found.append(
            {
                "uid": str(event["UID"]),
                "start": event.decoded("DTSTART"),
                "end": event.decoded("DTEND"),
                "summary": str(event["SUMMARY"]),
                "keys": sorted(event.keys()),
            }
        )
    return found


def forms_of(text: str) -> list[bytes]:
    """A name as it could appear in a file: UTF-8, UTF-16, Latin-1, iCalendar-escaped, base64,
    and each word of it alone."""
    words = [w for w in text.replace("-", " ").split() if len(w) >= 3] + [text]
    found: list[bytes] = []
    for word in words:
        for variant in (word, word.lower(), word.upper(), word.replace(",", "\\,")):
            found.append(variant.encode("utf-8"))
            found.append(variant.encode("utf-16-le"))
            found.append(variant.encode("utf-16-be"))
            found.append(variant.encode("latin-1", "replace"))
            found.append(base64.b64encode(variant.encode("utf-8")).rstrip(b"="))
    return found


def unfolded(path: Path) -> bytes:
    """The file with RFC 5545 line folding undone (a name may be split across a fold)."""
    return path.read_bytes().replace(b"\r\n ", b"").replace(b"\r\n\t", b"")


def test_no_client_name_by_default(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, marcus = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1), modality=Modality.VIDEO)
    practice.create_appointment(marcus, NOW + timedelta(days=1), repeat=Repeat.WEEKLY)
    to = tmp_path / "sessions.ics"
    result = practice.export_calendar(to, FIRST, LAST, zone=UTC)

    assert result.events == 1 + 8 and result.clients == 2 and not result.names_included
    raw = unfolded(to)
    for name in (*NAMES, "Zozo"):
        for form in forms_of(name):
            assert form not in raw, (name, form)
    for client_id in clients:  # nor anything that leads back to the client
        assert client_id.encode() not in raw
    parsed = events(to)
    assert {e["summary"] for e in parsed} == {"Session"}  # not even "Video session"
    # times and "Session" only: no description, place, attendee, categories or notes
    assert all(
        e["keys"] == ["CLASS", "DTEND", "DTSTAMP", "DTSTART", "SUMMARY", "UID"] for e in parsed
    )
    assert b"VIDEO" not in raw.upper().replace(b"X-WR", b"")
    # written whole and private
    assert stat.S_IMODE(os.stat(to).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    entries = [e for e in practice.audit_entries() if e.action.startswith("calendar.")]
    assert [(e.action, e.details_dict()) for e in entries] == [
        (
            "calendar.exported",
            {"events": 9, "clients": 2, "first_day": "2026-01-05", "last_day": "2026-02-28",
             "names_included": False},
        )
    ]  # fmt: skip
    (record,) = [r for r in practice.view_audit(AuditFilter()) if r.action == "calendar.exported"]
    text = sentence(record, {}, lambda d: f"{d:%d %b}")
    assert text == (
        "You exported 9 appointments (05 Jan to 28 Feb) for your own calendar app, without "
        "client names"
    )


def test_names_when_asked_and_a_disclosure_per_client(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, marcus = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1))
    practice.create_appointment(zoe, NOW + timedelta(days=2))
    practice.create_appointment(marcus, NOW + timedelta(days=3))
    to = tmp_path / "named.ics"
    result = practice.export_calendar(to, FIRST, LAST, include_names=True, zone=UTC)

    assert (result.events, result.clients, result.names_included) == (3, 2, True)
    summaries = [e["summary"] for e in events(to)]
    dash = "Session \N{EN DASH} "
    assert summaries == [f"{dash}{NAMES[0]}", f"{dash}{NAMES[0]}", f"{dash}{NAMES[1]}"]
    assert NAMES[0].encode("utf-8") in unfolded(to)

    log = [e for e in practice.audit_entries() if e.action.startswith("calendar.")]
    assert [e.action for e in log] == [
        "calendar.exported", "calendar.names_disclosed", "calendar.names_disclosed",
    ]  # fmt: skip
    assert log[0].details_dict()["names_included"] is True
    disclosed = {e.object_id: e.details_dict() for e in log[1:]}
    assert disclosed == {
        zoe: {"client_id": zoe, "events": 2, "recipient": "your own calendar app",
              "purpose": "your own schedule"},
        marcus: {"client_id": marcus, "events": 1, "recipient": "your own calendar app",
                 "purpose": "your own schedule"},
    }  # fmt: skip
    # the disclosure shows in the client's own audit trail, as a sentence
    (mine,) = [
        r
        for r in practice.view_audit(AuditFilter(client_id=zoe))
        if r.action == "calendar.names_disclosed"
    ]
    names = {zoe: NAMES[0], marcus: NAMES[1]}
    assert sentence(mine, names, str) == (
        "You disclosed Zoë Q.'s name and 2 appointments to your own calendar app"
    )
    (summary,) = [r for r in practice.view_audit(AuditFilter()) if r.action == "calendar.exported"]
    assert sentence(summary, names, lambda d: f"{d:%d %b}").endswith(
        "for your own calendar app, with the names of 2 clients"
    )


def test_a_series_with_a_moved_and_a_cancelled_occurrence_exactly(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, marcus = clients
    first = NOW + timedelta(hours=1)
    practice.create_appointment(zoe, first, repeat=Repeat.WEEKLY, duration_minutes=50)
    week = {a.session.starts_at: a.session for a in practice.appointments(NOW, NOW + HORIZON)}
    third, fourth = week[first + timedelta(weeks=2)], week[first + timedelta(weeks=3)]
    practice.move_appointment(third.id, first + timedelta(weeks=2, days=1, hours=3))
    practice.cancel_appointment(fourth.id)
    single = practice.create_appointment(marcus, first + timedelta(days=4), duration_minutes=90)
    gone = practice.create_appointment(marcus, first + timedelta(days=5))
    practice.cancel_appointment(gone.id, late=True)

    to = tmp_path / "series.ics"
    practice.export_calendar(to, FIRST, date(2026, 2, 8), zone=UTC)
    expected = sorted(
        [first + timedelta(weeks=w) for w in (0, 1, 4)]
        + [first + timedelta(weeks=2, days=1, hours=3), first + timedelta(days=4)]
    )
    parsed = events(to)
    assert [e["start"] for e in parsed] == expected
    lengths = [e["end"] - e["start"] for e in parsed]  # type: ignore[operator]
    assert lengths == [timedelta(minutes=m) for m in (50, 90, 50, 50, 50)]
    assert all(e["start"].tzinfo is not None for e in parsed)  # type: ignore[attr-defined]
    assert f"DTSTART:{first:%Y%m%dT%H%M%S}Z".encode() in to.read_bytes()  # UTC, no TZID needed
    uids = [e["uid"] for e in parsed]
    assert f"{third.id}@quietroom.invalid" in uids  # the moved one keeps its appointment's UID
    assert f"{fourth.id}@quietroom.invalid" not in uids  # cancelled: left out
    assert f"{gone.id}@quietroom.invalid" not in uids  # a late cancellation too
    assert f"{single.id}@quietroom.invalid" in uids
    assert b"RRULE" not in to.read_bytes() and b"EXDATE" not in to.read_bytes()


def test_uids_stable_across_exports_so_a_reimport_updates(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, _ = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1), repeat=Repeat.FORTNIGHTLY)
    once, twice = tmp_path / "a.ics", tmp_path / "b.ics"
    practice.export_calendar(once, FIRST, LAST, zone=UTC)
    practice.export_calendar(twice, FIRST, LAST, zone=UTC)
    first_uids = [e["uid"] for e in events(once)]
    assert len(first_uids) == 4 and len(set(first_uids)) == 4
    assert first_uids == [e["uid"] for e in events(twice)]
    assert once.read_bytes() == twice.read_bytes()  # nothing changed: the same file

    # move one: the next export has the same UIDs, one with its new time
    moved = practice.appointments(NOW, NOW + timedelta(days=1))[0].session
    practice.move_appointment(moved.id, moved.starts_at + timedelta(hours=2))
    again = tmp_path / "c.ics"
    practice.export_calendar(again, FIRST, LAST, zone=UTC)
    after = {e["uid"]: e["start"] for e in events(again)}
    assert list(after) == first_uids
    assert after[f"{moved.id}@quietroom.invalid"] == moved.starts_at + timedelta(hours=2)


def test_whole_days_in_the_zone_asked(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, _ = clients
    # 23:30 UTC on 9 January is 10 January in Berlin
    late = datetime(2026, 1, 9, 23, 30, tzinfo=UTC)
    practice.create_appointment(zoe, late)
    to = tmp_path / "day.ics"
    berlin = ZoneInfo("Europe/Berlin")
    assert practice.export_calendar(to, date(2026, 1, 10), date(2026, 1, 10), zone=berlin).events
    assert practice.export_calendar(to, date(2026, 1, 9), date(2026, 1, 9), zone=berlin).events == 0
    assert practice.export_calendar(to, date(2026, 1, 9), date(2026, 1, 9), zone=UTC).events == 1


def test_recurring_series_reach_as_far_as_the_calendar_shows(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, _ = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1), repeat=Repeat.WEEKLY)
    last = latest_last_day(NOW, UTC)
    assert last == date(2026, 7, 5)  # 26 weeks on, less a day
    to = tmp_path / "all.ics"
    result = practice.export_calendar(to, FIRST, last, zone=UTC)
    assert result.events == 26
    shown = practice.appointments(NOW, datetime(2026, 7, 6, tzinfo=UTC))
    assert result.events == len(shown)
    assert default_range(NOW, UTC) == (date(2026, 1, 5), date(2026, 4, 5))
    assert practice.calendar_export_days(UTC) == ExportDays(
        date(2026, 1, 5), date(2026, 4, 5), date(2026, 7, 5)
    )
    month_end = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert default_range(month_end, UTC) == (date(2026, 1, 31), date(2026, 4, 30))


def test_bad_ranges_and_paths_are_refused_and_nothing_is_written(
    practice: Practice, clients: tuple[str, str], tmp_path: Path
) -> None:
    zoe, _ = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1))
    to = tmp_path / "x.ics"
    before = sum(1 for _ in practice.audit_entries())
    with pytest.raises(InvalidFieldError, match="before the first day"):
        practice.export_calendar(to, LAST, FIRST)
    with pytest.raises(InvalidFieldError, match="known up to"):
        practice.export_calendar(to, FIRST, date(2026, 12, 31), zone=UTC)
    with pytest.raises(CalendarExportError, match="does not exist"):
        practice.export_calendar(tmp_path / "nowhere" / "x.ics", FIRST, LAST)
    with pytest.raises(CalendarExportError, match="is a folder"):
        practice.export_calendar(tmp_path, FIRST, LAST)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # (root writes anywhere)
        with pytest.raises(CalendarExportError, match="could not write"):
            practice.export_calendar(locked / "x.ics", FIRST, LAST)
    assert not to.exists()
    assert sum(1 for _ in practice.audit_entries()) == before  # nothing exported, nothing logged


def test_no_file_left_when_the_audit_entry_cannot_be_written(
    practice: Practice, clients: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zoe, _ = clients
    practice.create_appointment(zoe, NOW + timedelta(hours=1))

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(calendar_export, "_audit", broken)
    to = tmp_path / "x.ics"
    with pytest.raises(OSError, match="disk full"):
        practice.export_calendar(to, FIRST, LAST, include_names=True)
    assert not to.exists()
