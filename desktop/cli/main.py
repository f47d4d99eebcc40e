"""Argument parsing and dispatch for ``quietroom``."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, cast

from desktop.cli import backup_commands, calendar_commands, commands, records_commands
from desktop.cli.secrets_input import InputError
from desktop.core.errors import PracticeError
from desktop.core.practice import USAGE_ERRORS, CryptoError, default_vault_dir
from telehealth.relay_cli import add_relay_parser

EXIT_OK, EXIT_FAILED_CHECK, EXIT_USAGE = 0, 1, 2

# Errors that mean "you asked for something that cannot be done as asked" rather than "a check
# failed": they exit 2 like any other usage error.
_USAGE_ERRORS: tuple[type[Exception], ...] = (*USAGE_ERRORS, InputError, PracticeError)

_VAULT_HELP = "vault folder (default: $QUIETROOM_VAULT or the per-user data folder)"


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean ...?" for a mistyped command or option. Subparsers are made
    with the parent's class, so every level gets it."""

    def error(self, message: str) -> NoReturn:
        super().error(message + _suggestion(self, message))


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        typed, offered = choice.group(1), re.findall(r"'([^']*)'", choice.group(2))
        return _nearest(typed, offered)
    unknown = re.search(r"unrecognized arguments: (\S+)", message)
    if unknown and unknown.group(1).startswith("-"):
        return _nearest(unknown.group(1).split("=", 1)[0], sorted(_all_options(parser)))
    return ""


def _nearest(typed: str, offered: Sequence[str]) -> str:
    close = difflib.get_close_matches(typed, offered, n=1, cutoff=0.6)
    return f"\n(did you mean '{close[0]}'?)" if close else ""


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                found.extend(_subparsers(child))
    return found


def _all_options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        option
        for each in _subparsers(parser)
        for action in each._actions
        for option in action.option_strings
    }


def _vault_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--vault DIR`` works before the command (``quietroom --vault DIR init``) and after it
    (``quietroom init --vault DIR``). Below the top level the default is SUPPRESS, so a value
    given earlier is not overwritten by a subparser's default."""
    for each in _subparsers(parser)[1:]:
        if each.prog.split()[1:2] == ["relay"]:  # the relay serves calls; it has no vault
            continue
        if "--vault" not in each._option_string_actions:
            each.add_argument(
                "--vault", type=Path, default=argparse.SUPPRESS, metavar="DIR", help=_VAULT_HELP
            )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="quietroom",
        description="Quietroom: encrypted practice records for therapists. "
        "With no command, starts the desktop app.",
    )
    parser.add_argument("--vault", type=Path, default=None, metavar="DIR", help=_VAULT_HELP)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )

    def secret_opt(p: argparse.ArgumentParser, name: str, what: str) -> None:
        p.add_argument(
            f"--{name}-file", type=Path, metavar="PATH", help=f"read the {what} from PATH"
        )

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help_: str, **kw: object
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("init", commands.init, "create a new vault and print its recovery key once")
    p.add_argument(
        "--kdf-profile",
        default="calibrated",
        choices=["calibrated", "rfc9106", "owasp-min", "test"],
        help="key-derivation cost: calibrated to this machine (default) or a fixed profile; "
        "'test' is refused outside the test suite",
    )
    secret_opt(p, "passphrase", "new passphrase")

    p = add("status", commands.status, "show where the vault is and its key-derivation settings")

    pp = add("passphrase", _needs_sub, "passphrase operations")
    pp_sub = pp.add_subparsers(dest="passphrase_command", metavar="COMMAND")
    p = pp_sub.add_parser("change", help="change the passphrase (instant: re-wraps the key)")
    p.set_defaults(func=commands.passphrase_change)
    secret_opt(p, "passphrase", "current passphrase")
    secret_opt(p, "new-passphrase", "new passphrase")

    p = add("recover", commands.recover, "unlock with the recovery key and set a new passphrase")
    secret_opt(p, "recovery-key", "recovery key")
    secret_opt(p, "new-passphrase", "new passphrase")
    _damage_opt(p)

    p = add(
        "rekey",
        commands.rekey,
        "replace the master key and re-encrypt the database (after a suspected compromise); "
        "prints a NEW recovery key and switches only once you have typed it back (or it is saved "
        "with --recovery-key-out)",
    )
    secret_opt(p, "passphrase", "passphrase")
    p.add_argument(
        "--recovery-key-out",
        type=Path,
        metavar="PATH",
        help="for scripts: write the new recovery key to PATH (a new file, readable only by you) "
        "instead of asking you to type it back; print it and keep it away from this computer",
    )

    ap = add("audit", _needs_sub, "the tamper-evident audit log")
    a_sub = ap.add_subparsers(dest="audit_command", metavar="COMMAND")
    p = a_sub.add_parser("verify", help="walk the whole audit chain and its checkpoint")
    p.set_defaults(func=commands.audit_verify)
    secret_opt(p, "passphrase", "passphrase")
    p = a_sub.add_parser("export", help="export the audit log (audited)")
    p.set_defaults(func=commands.audit_export)
    p.add_argument("--format", required=True, choices=["csv", "jsonl"])
    p.add_argument("--output", type=Path, metavar="PATH", help="write here (default: stdout)")
    secret_opt(p, "passphrase", "passphrase")
    _damage_opt(p)

    p = add("demo", commands.demo, "fill the vault with realistic, obviously fake demo data")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--notes-per-client", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    secret_opt(p, "passphrase", "passphrase")

    backup_commands.register(sub)
    records_commands.register(sub)
    calendar_commands.register(sub)
    add_relay_parser(sub)
    _vault_everywhere(parser)
    _rollback_choice_everywhere(parser)
    return parser


def _rollback_choice_everywhere(parser: argparse.ArgumentParser) -> None:
    """Every command that opens the vault (it reads a passphrase or the recovery key) can accept
    a vault older than one Quietroom has seen, for a restore the person made by hand."""
    for each in _subparsers(parser)[1:]:
        opens = {"--passphrase-file", "--recovery-key-file"} & set(each._option_string_actions)
        if opens and "--accept-rollback" not in each._option_string_actions:
            each.add_argument(
                "--accept-rollback",
                action="store_true",
                help="open a vault that is older than one Quietroom has already seen, because "
                "you put an older copy back yourself (recorded in the log)",
            )


def _damage_opt(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--accept-audit-damage",
        action="store_true",
        help="open even though the audit log failed its check at unlock (recorded in the log)",
    )


def _needs_sub(args: argparse.Namespace) -> int:
    raise _UsageError(f"'{args.command}' needs a subcommand; see quietroom {args.command} --help")


class _UsageError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.vault is None:
        args.vault = default_vault_dir()
    if args.command is None:
        from desktop.ui.app import run  # Qt is imported only for the desktop app

        return run(args.vault)
    try:
        code: int = args.func(args)
        return code
    except _UsageError as exc:
        parser.error(str(exc))
    except _USAGE_ERRORS as exc:
        print(f"quietroom: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CryptoError as exc:
        print(f"quietroom: {exc}", file=sys.stderr)
        return EXIT_FAILED_CHECK
    except KeyboardInterrupt:
        print("quietroom: interrupted", file=sys.stderr)
        return EXIT_FAILED_CHECK
    return EXIT_USAGE  # pragma: no cover  (parser.error exits)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quietroom")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
