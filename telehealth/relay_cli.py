"""The relay's command line: ``quietroom relay`` (inside the app) and ``quietroom-relay`` (the
server-only install) run the signalling relay; ``... credentials issue|list|revoke`` manage the
therapists' credentials.

``desktop.cli`` registers it with :func:`add_relay_parser`; :func:`run_relay_command` runs it.
It imports nothing of the desktop app (no Qt, no aiortc, no SQLCipher), so it runs from the
``quietroom-relay`` distribution too: ``python -m telehealth.relay_cli``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telehealth.errors import TelehealthError
from telehealth.relay_config import (
    SETTINGS,
    RelayConfig,
    build_config,
    read_config_file,
    settings_help,
)
from telehealth.relay_credentials import CredentialStore

DEFAULT_CONFIG = Path("/etc/quietroom-relay/relay.toml")

DESCRIPTION = """\
Run the Quietroom signalling relay. It serves the client's session page at /j/
and pairs the two WebSockets of each session room, forwarding only sealed
(end-to-end encrypted) messages: it never sees names, SDP or keys.

Only a therapist's app holding a credential issued by the relay's operator
can open a room ('credentials issue'); a client's page can join only a room
whose therapist is there.

Behind a TLS reverse proxy (Caddy), run it on 127.0.0.1 without --tls-cert and
list the proxy in trusted_proxies. Facing the internet directly, give
--tls-cert and --tls-key: browsers allow the camera only on https pages."""

EPILOG = (
    settings_help()
    + """

ICE configuration file (JSON; both keys optional):
  {"stun": ["stun:turn.example.org:3478"],
   "turn": {"urls": ["turns:turn.example.org:443?transport=tcp"],
            "secret": "<coturn static-auth-secret>", "ttl": 3600},
   "relay_only": false}
Without one, clients get no STUN or TURN server (direct connections only).

Credentials:
  credentials issue --label "Dr Rivera's practice" [--max-rooms 20]
  credentials list
  credentials revoke <id>

Endpoints: /j/ page, /ws/<room>, /ice/<room>, /healthz, /metrics (Prometheus,
metrics_from addresses only), /v1/check (the app's "Test connection").
Stop the relay with Ctrl+C or SIGTERM."""
)


def add_relay_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``relay`` on an ``argparse`` subparsers object; sets ``func=run_relay_command``."""
    parser = subparsers.add_parser(
        "relay",
        help="run the signalling relay that serves the client's session page",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_relay_parser(parser)
    parser.set_defaults(func=run_relay_command)
    return parser


def _port(text: str) -> str:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the port is a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("the port is a number from 1 to 65535")
    return text


def configure_relay_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"TOML settings file (default: {DEFAULT_CONFIG} if it exists; "
        "or QUIETROOM_RELAY_CONFIG)",
    )
    for setting in SETTINGS:
        if setting.name == "open_admission":
            parser.add_argument(
                setting.flag, action="store_const", const="true", default=None, help=setting.help
            )
            continue
        parser.add_argument(
            setting.flag,
            metavar=setting.name.upper() if setting.name != "port" else "PORT",
            type=_port if setting.name == "port" else str,
            default=None,
            help=setting.help,
        )
    actions = parser.add_subparsers(dest="relay_action", metavar="[credentials ...]")
    creds = actions.add_parser(
        "credentials",
        help="issue, list or revoke therapists' relay credentials",
        description="Manage the credentials that let a therapist's app open rooms on this relay. "
        "The file keeps only their SHA-256; a credential is shown once, when it is issued.",
    )
    what = creds.add_subparsers(dest="credentials_action", required=True)
    issue = what.add_parser("issue", help="issue a new credential and print it once")
    issue.add_argument("--label", required=True, help="who it is for (shown in 'list')")
    issue.add_argument(
        "--max-rooms",
        type=int,
        default=None,
        help="rooms it may hold at once (default: rooms_per_credential)",
    )
    issue.add_argument("--json", action="store_true", help="print the result as JSON")
    listing = what.add_parser("list", help="list credentials (never the credentials themselves)")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    revoke = what.add_parser("revoke", help="revoke a credential: it opens no new room")
    revoke.add_argument("id", help="the credential's id (see 'list')")


def load_config(args: argparse.Namespace, environ: dict[str, str] | None = None) -> RelayConfig:
    env = dict(os.environ if environ is None else environ)
    path: Path | None = args.config
    if path is None and env.get("QUIETROOM_RELAY_CONFIG"):
        path = Path(env["QUIETROOM_RELAY_CONFIG"])
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    file_values = read_config_file(path) if path is not None else {}
    overrides = {
        s.name: getattr(args, s.name) for s in SETTINGS if getattr(args, s.name, None) is not None
    }
    if getattr(args, "relay_action", None) == "credentials":
        # Managing credentials needs only the file; the serving checks do not apply.
        overrides.setdefault("open_admission", "true")
    return build_config(file_values=file_values, environ=env, overrides=overrides)


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message (room ids already hashed)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, separators=(",", ":"))


def _setup_logging(log_format: str) -> None:
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # paths carry room ids


def _credentials_command(args: argparse.Namespace, config: RelayConfig) -> int:
    if config.credentials_file is None:
        print(
            "quietroom relay: set credentials_file (in the config file, "
            "QUIETROOM_RELAY_CREDENTIALS_FILE or --credentials-file)",
            file=sys.stderr,
        )
        return 2
    store = CredentialStore(config.credentials_file)
    action = args.credentials_action
    if action == "issue":
        max_rooms = args.max_rooms or config.limits.rooms_per_credential
        cred, token = store.issue(args.label, max_rooms)
        if args.json:
            print(json.dumps({"id": cred.id, "label": cred.label, "credential": token}))
        else:
            print(f"Issued credential {cred.id} for {cred.label!r} ({cred.max_rooms} rooms).")
            print("Give this to the practice; it is not stored and cannot be shown again:")
            print(token)
        return 0
    if action == "list":
        creds = store.all()
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": c.id,
                            "label": c.label,
                            "max_rooms": c.max_rooms,
                            "issued_at": c.issued_at,
                            "revoked_at": c.revoked_at,
                        }
                        for c in creds
                    ]
                )
            )
            return 0
        if not creds:
            print("No credentials issued yet.")
        for c in creds:
            issued = dt.datetime.fromtimestamp(c.issued_at, dt.UTC).strftime("%Y-%m-%d")
            state = "active" if c.active else "revoked"
            print(f"{c.id}  {state:<7}  {c.max_rooms:>4} rooms  issued {issued}  {c.label}")
        return 0
    cred = store.revoke(args.id)
    print(f"Credential {cred.id} ({cred.label!r}) is revoked; it opens no new room.")
    return 0


def _rooms_factory(config: RelayConfig) -> Callable[[], Any] | None:
    if config.redis_url is None:
        return None
    from telehealth.relay_redis import RedisRooms

    url = config.redis_url
    return lambda: RedisRooms(url)


def _mailbox_factory(config: RelayConfig) -> Callable[[], Any] | None:
    """The sealed mailbox's store: in Redis beside the rooms (every instance sees every box),
    else in ``mailbox_dir`` (kept across restarts), else in memory."""
    if config.redis_url is not None:
        from telehealth.mailbox_redis import RedisMailbox

        url = config.redis_url
        return lambda: RedisMailbox(url)
    if config.mailbox_dir is not None:
        from telehealth.mailbox import DirectoryMailbox

        folder = config.mailbox_dir
        return lambda: DirectoryMailbox(folder)
    return None


def run_relay_command(args: argparse.Namespace) -> int:
    """Run the relay until interrupted (or a credentials action). Exit status 0, or 2 for
    unusable settings."""
    from telehealth.relay import DEFAULT_STATIC_DIR, run_relay

    try:
        config = load_config(args)
    except TelehealthError as exc:
        print(f"quietroom relay: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "relay_action", None) == "credentials":
        try:
            return _credentials_command(args, config)
        except TelehealthError as exc:
            print(f"quietroom relay: {exc}", file=sys.stderr)
            return 2
    _setup_logging(config.log_format)
    scheme = "https" if config.tls_cert else "http"
    if DEFAULT_STATIC_DIR is None:
        print("warning: the client page is not installed; /j/ shows a placeholder", file=sys.stderr)
    credentials = None
    if config.credentials_file is not None:
        credentials = CredentialStore(config.credentials_file)
    elif config.open_admission:
        print(
            "warning: open admission: anyone can open rooms on this relay (for trying it out)",
            file=sys.stderr,
        )
    print(
        f"Quietroom relay on {scheme}://{config.host}:{config.port} (client page at /j/). "
        "Press Ctrl+C to stop.",
        file=sys.stderr,
    )
    try:
        if credentials is not None:
            credentials.check()
        run_relay(
            config.host,
            config.port,
            config.tls_cert,
            config.tls_key,
            config.ice_config,
            limits=config.limits,
            credentials=credentials,
            rooms_factory=_rooms_factory(config),
            mailbox_factory=_mailbox_factory(config),
            trusted_proxies=config.trusted_proxies,
            metrics_from=config.metrics_from,
        )
    except TelehealthError as exc:
        print(f"quietroom relay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"quietroom relay: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """``quietroom-relay``: the relay on its own."""
    parser = argparse.ArgumentParser(
        prog="quietroom-relay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_relay_parser(parser)
    return run_relay_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
