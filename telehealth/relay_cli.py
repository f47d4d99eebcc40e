"""The ``quietroom relay`` command: run the signalling relay and serve the client page.

``desktop.cli`` registers it with :func:`add_relay_parser`; :func:`run_relay_command` runs it.
It can also run on its own: ``python -m telehealth.relay_cli --host 0.0.0.0 --port 8443 ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from telehealth.errors import TelehealthError
from telehealth.relay import DEFAULT_STATIC_DIR, run_relay

DESCRIPTION = """\
Run the Quietroom signalling relay. It serves the client's session page at /j/
and pairs the two WebSockets of each session room, forwarding only sealed
(end-to-end encrypted) messages: it never sees names, SDP or keys.

Behind a TLS reverse proxy, run it on 127.0.0.1 without --tls-cert. Facing the
internet directly, give --tls-cert and --tls-key: browsers allow the camera
only on https pages (or on localhost)."""

EPILOG = """\
ICE configuration file (JSON; both keys optional):
  {"stun": ["stun:stun.example.org:3478"],
   "turn": {"urls": ["turn:turn.example.org:3478?transport=udp"],
            "secret": "<coturn static-auth-secret>", "ttl": 3600}}
Without one, clients get no STUN or TURN server (direct connections only).
Stop the relay with Ctrl+C or SIGTERM."""


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


def configure_relay_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; use 0.0.0.0 to accept other machines)",
    )
    parser.add_argument(
        "--port", type=_port, default=8443, help="TCP port to listen on (default: 8443)"
    )
    parser.add_argument(
        "--tls-cert", type=Path, metavar="FILE", help="TLS certificate chain (PEM) for https"
    )
    parser.add_argument("--tls-key", type=Path, metavar="FILE", help="its private key (PEM)")
    parser.add_argument(
        "--ice-config",
        type=Path,
        metavar="FILE",
        help="ICE configuration (STUN servers, coturn TURN with a shared secret); see below",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the port is a number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("the port is a number from 1 to 65535")
    return port


def run_relay_command(args: argparse.Namespace) -> int:
    """Run the relay until interrupted. Exit status 0, or 2 for unusable settings."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    scheme = "https" if args.tls_cert else "http"
    if DEFAULT_STATIC_DIR is None:
        print("warning: the client page is not installed; /j/ shows a placeholder", file=sys.stderr)
    print(
        f"Quietroom relay on {scheme}://{args.host}:{args.port} (client page at /j/). "
        "Press Ctrl+C to stop.",
        file=sys.stderr,
    )
    try:
        run_relay(args.host, args.port, args.tls_cert, args.tls_key, args.ice_config)
    except TelehealthError as exc:
        print(f"quietroom relay: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"quietroom relay: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="quietroom relay",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    configure_relay_parser(parser)
    return run_relay_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
