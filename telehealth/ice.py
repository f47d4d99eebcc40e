"""ICE configuration for the relay: STUN servers and short-lived TURN credentials.

The configuration file is JSON::

    {"stun": ["stun:stun.example.org:3478"],
     "turn": {"urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
              "secret": "<the static-auth-secret shared with coturn>",
              "ttl": 3600},
     "relay_only": false}

All keys are optional. ``relay_only: true`` (which needs ``turn``) tells both peers to use only
relayed candidates (``iceTransportPolicy: "relay"``): neither learns the other's IP address, at
the cost of every call's media passing through the TURN server.

TURN credentials follow coturn's REST API scheme (``use-auth-secret``):
``username = "<expiry unix time>:<random id>"`` and
``credential = base64(HMAC-SHA1(secret, username))``, so coturn can check them without talking to
the relay, and they stop working ``ttl`` seconds after they were handed out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from telehealth.errors import IceConfigError

MIN_TTL: Final = 60
MAX_TTL: Final = 86_400
DEFAULT_TTL: Final = 3600
MAX_URLS: Final = 16
MAX_URL_CHARS: Final = 512
MAX_FILE_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class TurnConfig:
    urls: tuple[str, ...]
    secret: str = field(repr=False)
    ttl: int = DEFAULT_TTL


@dataclass(frozen=True)
class IceConfig:
    stun: tuple[str, ...] = ()
    turn: TurnConfig | None = None
    relay_only: bool = False


def _urls(value: object, schemes: tuple[str, ...], what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_URLS:
        raise IceConfigError(f"{what} must be a list of at most {MAX_URLS} URLs")
    for url in value:
        if (
            not isinstance(url, str)
            or not 0 < len(url) <= MAX_URL_CHARS
            or not url.startswith(schemes)
            or any(ch.isspace() for ch in url)
        ):
            allowed = " or ".join(schemes)
            raise IceConfigError(f"{what} entries must be URLs starting with {allowed}")
    return tuple(value)


def parse_ice_config(obj: Any) -> IceConfig:
    """Validate an already-decoded JSON value as an ICE configuration."""
    if not isinstance(obj, dict) or not set(obj) <= {"stun", "turn", "relay_only"}:
        raise IceConfigError(
            "the ICE configuration must be an object with 'stun', 'turn' and/or 'relay_only'"
        )
    stun = _urls(obj.get("stun", []), ("stun:", "stuns:"), "stun")
    turn: TurnConfig | None = None
    if "turn" in obj:
        raw = obj["turn"]
        if not isinstance(raw, dict) or not {"urls", "secret"} <= set(raw) <= {
            "urls",
            "secret",
            "ttl",
        }:
            raise IceConfigError("'turn' must be an object with 'urls', 'secret' and maybe 'ttl'")
        urls = _urls(raw["urls"], ("turn:", "turns:"), "turn.urls")
        if not urls:
            raise IceConfigError("turn.urls must not be empty")
        secret = raw["secret"]
        if not isinstance(secret, str) or len(secret) < 16:
            raise IceConfigError("turn.secret must be a string of at least 16 characters")
        ttl = raw.get("ttl", DEFAULT_TTL)
        if type(ttl) is not int or not MIN_TTL <= ttl <= MAX_TTL:
            raise IceConfigError(f"turn.ttl must be an integer {MIN_TTL}..{MAX_TTL} (seconds)")
        turn = TurnConfig(urls=urls, secret=secret, ttl=ttl)
    relay_only = obj.get("relay_only", False)
    if type(relay_only) is not bool:
        raise IceConfigError("relay_only must be true or false")
    if relay_only and turn is None:
        raise IceConfigError("relay_only needs a 'turn' server to relay through")
    return IceConfig(stun=stun, turn=turn, relay_only=relay_only)


def load_ice_config(path: Path | str) -> IceConfig:
    """Read and validate the ICE configuration file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IceConfigError("cannot read the ICE configuration file") from exc
    if len(data) > MAX_FILE_BYTES:
        raise IceConfigError("the ICE configuration file is too large")
    try:
        obj = json.loads(data)
    except ValueError:
        raise IceConfigError("the ICE configuration file is not valid JSON") from None
    return parse_ice_config(obj)


def turn_credentials(
    secret: str,
    ttl: int,
    *,
    now: float,
    random_id: str,
) -> tuple[str, str]:
    """coturn REST-API credentials: ``(username, credential)`` valid until ``now + ttl``."""
    username = f"{int(now) + ttl}:{random_id}"
    mac = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode("ascii")


def ice_transport_policy(config: IceConfig | None) -> str:
    """``"relay"`` when the configuration allows relayed candidates only, else ``"all"``."""
    return "relay" if config is not None and config.relay_only else "all"


def ice_servers(
    config: IceConfig | None,
    *,
    clock: Callable[[], float] = time.time,
    random_id: Callable[[], str] = lambda: secrets.token_hex(8),
) -> list[dict[str, Any]]:
    """The ``iceServers`` list of an ``RTCConfiguration``, with fresh TURN credentials."""
    if config is None:
        return []
    servers: list[dict[str, Any]] = []
    if config.stun:
        servers.append({"urls": list(config.stun)})
    if config.turn is not None:
        username, credential = turn_credentials(
            config.turn.secret, config.turn.ttl, now=clock(), random_id=random_id()
        )
        servers.append(
            {"urls": list(config.turn.urls), "username": username, "credential": credential}
        )
    return servers
