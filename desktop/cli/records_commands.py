"""``quietroom records ...``: a client's copy of their record, the whole practice in open formats,
importing from another practice suite, superbills. Everything goes through the ``Practice``
facade (``practice.records``), which audits it."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from desktop.cli.secrets_input import InputError, ask
from desktop.cli.session import unlocked
from desktop.core.errors import ClientNotFoundError
from desktop.core.practice import Practice, check_new_passphrase
from desktop.core.records.access_request import ExportFormat, ExportRequest
from desktop.core.records.import_layouts import LAYOUT_BY_KEY, LAYOUTS, ImportKind, fields_of
from desktop.core.records.importer import RowAction


def register(sub: Any) -> None:
    rp = sub.add_parser(
        "records",
        help="copies of a client's record, whole-practice export, import, superbills",
        description="copies of a client's record, whole-practice export, import, superbills",
    )
    rp.set_defaults(func=_needs_sub)
    r_sub = rp.add_subparsers(dest="records_command", metavar="COMMAND")

    p = r_sub.add_parser("clients", help="list clients with their ids (audited)")
    p.set_defaults(func=clients)
    p.add_argument("--include-archived", action="store_true")
    _passphrase(p)

    p = r_sub.add_parser(
        "export",
        help="a client's copy of their record as FHIR R4 JSON or PDF (audited as a disclosure)",
    )
    p.set_defaults(func=export)
    p.add_argument("--client", required=True, metavar="ID", help="client id (or its start)")
    p.add_argument("--format", required=True, choices=["fhir", "pdf", "both"])
    p.add_argument("--to", required=True, type=Path, metavar="PATH", help="file to write")
    p.add_argument("--recipient", default="The client", help="who receives it (audited)")
    p.add_argument("--purpose", default="Access request", help="why (audited)")
    p.add_argument(
        "--include-psychotherapy-notes",
        action="store_true",
        help="include psychotherapy notes (left out unless you choose this)",
    )
    p.add_argument(
        "--encrypt",
        action="store_true",
        help="write one PDF protected by a passphrase you choose (any PDF reader opens it; "
        "with FHIR, the Bundle is attached inside)",
    )
    p.add_argument(
        "--package-passphrase-file",
        type=Path,
        metavar="PATH",
        help="read the copy's passphrase from PATH (implies --encrypt)",
    )
    _passphrase(p)

    p = r_sub.add_parser(
        "export-practice",
        help="everything in open formats (CSV and a FHIR Bundle per client) into a new folder "
        "or a .zip (audited)",
    )
    p.set_defaults(func=export_practice)
    p.add_argument("--to", required=True, type=Path, metavar="PATH", help="new folder or .zip")
    p.add_argument("--leave-out-psychotherapy-notes", action="store_true")
    _passphrase(p)

    p = r_sub.add_parser(
        "import",
        help="import clients or appointments from another practice suite's CSV export "
        "(--dry-run first: it lists every row it would refuse and why)",
    )
    p.set_defaults(func=import_csv)
    p.add_argument("file", type=Path)
    p.add_argument("--kind", required=True, choices=[k.value for k in ImportKind])
    p.add_argument(
        "--layout",
        choices=[layout.key for layout in LAYOUTS],
        help="column layout (default: the one that fits the file's columns best)",
    )
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="FIELD=COLUMN[+COLUMN]",
        help="use these columns for a field (e.g. name='First Name+Last Name'); repeatable",
    )
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    _passphrase(p)

    p = r_sub.add_parser("superbill", help="a superbill PDF for a session or a period (audited)")
    p.set_defaults(func=superbill)
    p.add_argument("--client", required=True, metavar="ID")
    p.add_argument("--to", required=True, type=Path, metavar="PATH")
    p.add_argument("--session", metavar="ID", help="one session (its full id)")
    p.add_argument("--from", dest="first_day", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--until", dest="last_day", type=date.fromisoformat, metavar="YYYY-MM-DD")
    p.add_argument("--recipient", default="The client")
    p.add_argument("--purpose", default="Insurance claim")
    _passphrase(p)


def _passphrase(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file", type=Path, metavar="PATH", help="read the vault passphrase from PATH"
    )


def _needs_sub(args: argparse.Namespace) -> int:
    print("quietroom records needs a subcommand; see quietroom records --help", file=sys.stderr)
    return 2


def resolve_client(practice: Practice, text: str) -> str:
    """A full client id, or a unique start of one (as printed by ``records clients``)."""
    text = text.strip().lower()
    matches = [c.id for c in practice.list_clients(include_archived=True) if c.id.startswith(text)]
    if len(matches) != 1 or len(text) < 4:
        raise ClientNotFoundError(
            f"no single client with id {text!r}; see: quietroom records clients"
        )
    return matches[0]


def clients(args: argparse.Namespace) -> int:
    with unlocked(args) as practice:
        for c in practice.list_clients(include_archived=args.include_archived):
            archived = " (archived)" if c.archived else ""
            print(f"{c.id}  {c.name}{archived}")
    return 0


def export(args: argparse.Namespace) -> int:
    formats = (
        frozenset(ExportFormat) if args.format == "both" else frozenset({ExportFormat(args.format)})
    )
    package_passphrase = None
    with unlocked(args) as practice:
        client_id = resolve_client(practice, args.client)
        if args.encrypt or args.package_passphrase_file:
            package_passphrase = ask(
                "Passphrase for the copy: ", args.package_passphrase_file, confirm=True
            )
            check_new_passphrase(package_passphrase)  # the vault's rule: PDF's KDF is cheap
        result = practice.records.export_record(
            client_id,
            ExportRequest(
                formats,
                recipient=args.recipient,
                purpose=args.purpose,
                include_psychotherapy=args.include_psychotherapy_notes,
                package_passphrase=package_passphrase,
            ),
            args.to,
        )
    for path in result.paths:
        print(f"Wrote {path}")
    left_out = "" if args.include_psychotherapy_notes else ", psychotherapy notes left out"
    print(
        f"Included {result.included['sessions']} sessions, "
        f"{result.included['progress_notes']} notes{left_out}. Recorded as a disclosure.",
        file=sys.stderr,
    )
    return 0


def export_practice(args: argparse.Namespace) -> int:
    with unlocked(args) as practice:
        result = practice.records.export_practice(
            args.to, include_psychotherapy=not args.leave_out_psychotherapy_notes
        )
    print(
        f"Wrote {result.path}: {result.clients} clients, {result.sessions} sessions, "
        f"{result.notes} notes, {result.audit_entries} audit entries."
    )
    return 0


def _mapping(
    pairs: list[str], kind: ImportKind, base: dict[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    known = {name for name, _, _ in fields_of(kind)}
    mapping = dict(base)
    for pair in pairs:
        name, sep, columns = pair.partition("=")
        if not sep or name.strip() not in known:
            raise InputError(
                f"--map takes FIELD=COLUMN with FIELD one of: {', '.join(sorted(known))}"
            )
        mapping[name.strip()] = tuple(c.strip() for c in columns.split("+") if c.strip())
    return mapping


def import_csv(args: argparse.Namespace) -> int:
    kind = ImportKind(args.kind)
    with unlocked(args) as practice:
        records = practice.records
        table = records.read_import_file(args.file)
        layout = LAYOUT_BY_KEY[args.layout] if args.layout else table.guess_layout(kind)
        mapping = _mapping(args.map, kind, layout.mapping_for(kind, table.columns))
        if args.dry_run:
            plan = records.check_import(table, kind, layout.key, mapping)
        else:
            plan, report = records.run_import(table, kind, layout.key, mapping)
    print(f"Layout: {layout.name}")
    for outcome in plan.outcomes:
        if outcome.action is RowAction.REFUSE:
            print(f"line {outcome.line}: refused: {outcome.reason} ({outcome.summary})")
        elif outcome.action is RowAction.LINK:
            when = f" {outcome.when.astimezone():%Y-%m-%d %H:%M}" if outcome.when else ""
            print(f"line {outcome.line}: {outcome.reason}: {outcome.summary}{when}")
    counts = {a: plan.count(a) for a in RowAction}
    verb = "Would add" if args.dry_run else "Added"
    print(
        f"{verb} {counts[RowAction.ADD]}, linked {counts[RowAction.LINK]} to records already "
        f"in Quietroom, {counts[RowAction.ALREADY]} imported before, "
        f"{counts[RowAction.REFUSE]} refused."
    )
    if not args.dry_run:
        print(f"Import recorded in the audit log ({report.added} added).", file=sys.stderr)
    return 0


def superbill(args: argparse.Namespace) -> int:
    if (args.session is None) == (args.first_day is None or args.last_day is None):
        raise InputError("give either --session, or --from and --until")
    with unlocked(args) as practice:
        client_id = resolve_client(practice, args.client)
        path = practice.records.write_superbill(
            client_id,
            args.to,
            recipient=args.recipient,
            purpose=args.purpose,
            session_id=args.session,
            first_day=args.first_day,
            last_day=args.last_day,
        )
    print(f"Wrote {path}")
    return 0
