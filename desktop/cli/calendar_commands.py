"""``quietroom calendar export``: the appointments of a span of days as an iCalendar (.ics) file
for the therapist's own calendar app, through the ``Practice`` facade, which audits it. Times and
"Session" only, unless client names are asked for (then each named client is recorded as a
disclosure)."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

from desktop.cli.secrets_input import InputError
from desktop.cli.session import unlocked
from desktop.core.calendar_export import default_range


def register(sub: Any) -> None:
    cp = sub.add_parser(
        "calendar",
        help="the calendar: export it for your own calendar app",
        description="the calendar: export it for your own calendar app",
    )
    cp.set_defaults(func=_needs_sub)
    c_sub = cp.add_subparsers(dest="calendar_command", metavar="COMMAND")
    p = c_sub.add_parser(
        "export",
        help="write appointments to an .ics file for your own calendar app: times and "
        "'Session' only, no client names unless asked (audited)",
        description="Write the appointments of a span of days (default: today through the same "
        "day three months on) to an iCalendar (.ics) file that any calendar app imports. Each "
        "event holds its times and the word 'Session' only; cancelled appointments are left "
        "out; importing a later export again updates the events instead of adding copies.",
    )
    p.set_defaults(func=export)
    p.add_argument("--to", required=True, type=Path, metavar="PATH", help="the .ics file to write")
    p.add_argument(
        "--from", dest="first_day", type=_day, metavar="YYYY-MM-DD", help="first day (default: "
        "today)",
    )  # fmt: skip
    p.add_argument(
        "--until", dest="last_day", type=_day, metavar="YYYY-MM-DD",
        help="last day, included (default: three months on; at most 26 weeks from today)",
    )  # fmt: skip
    p.add_argument(
        "--include-client-names",
        action="store_true",
        help="put each client's name in their events ('Session \N{EN DASH} name'): the "
        "calendar app and whatever service it syncs with then hold who you see and when "
        "(recorded as a disclosure for each client named)",
    )
    p.add_argument(
        "--passphrase-file", type=Path, metavar="PATH", help="read the vault passphrase from PATH"
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _needs_sub(args: argparse.Namespace) -> int:
    print("quietroom calendar needs a subcommand; see quietroom calendar --help", file=sys.stderr)
    return 2


def export(args: argparse.Namespace) -> int:
    to: Path = args.to
    if to.suffix.lower() != ".ics":
        raise InputError(f"--to {to}: give a file name ending in .ics")
    with unlocked(args) as practice:
        first, last = default_range(datetime.now().astimezone(), first=args.first_day)
        result = practice.export_calendar(
            to, first, args.last_day or last, include_names=args.include_client_names
        )
    names = "with client names" if result.names_included else "without client names"
    print(
        f"Wrote {result.path}: {result.events} appointments from {result.first_day.isoformat()} "
        f"to {result.last_day.isoformat()}, {names}."
    )
    if result.names_included:
        print(
            "Client names included: recorded in the audit log as a disclosure for each client "
            f"named ({result.clients}).",
            file=sys.stderr,
        )
    return 0
