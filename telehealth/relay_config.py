"""The relay's settings: one table of every setting, read from a TOML file, environment variables
and the command line (in rising order of precedence), and documented from the same table.

A setting ``name`` is ``name = value`` in the TOML file (top level, or in a ``[relay]`` table),
``QUIETROOM_RELAY_NAME`` in the environment, and ``--name`` on the command line. Bad values are
refused with a :class:`~telehealth.errors.RelayConfigError` that names the setting and where it
came from, before anything listens.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from telehealth.errors import RelayConfigError

ENV_PREFIX: Final = "QUIETROOM_RELAY_"
MAX_CONFIG_BYTES: Final = 64 * 1024

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RelayLimits:
    """Every limit the relay enforces. Defaults suit a small hosted relay; tests shrink them."""

    max_message_bytes: int = 128 * 1024  # one sealed envelope; the largest valid is ~90 KiB
    messages_per_second: float = 20.0  # sustained rate per socket
    message_burst: int = 60  # ICE candidates arrive in a burst at call start
    room_lifetime: float = 4 * 3600.0  # seconds a room may exist, however busy
    max_sockets_per_address: int = 8  # open sockets per (real) client address
    max_rooms: int = 1000
    sweep_interval: float = 5.0  # how often expired rooms are closed
    heartbeat: float = 20.0  # WebSocket ping interval; dead peers are dropped
    close_timeout: float = 5.0  # how long to wait for a closing peer
    header_timeout: float = 10.0  # a connection must finish its request headers within this
    client_wait: float = 30.0  # a client socket waits this long for the therapist, then closes
    max_waiting: int = 2000  # client sockets waiting for a therapist, in all
    rooms_per_credential: int = 20  # rooms one therapist's credential may hold at once
    max_connections: int = 0  # open TCP connections; 0 = the file limit less fd_reserve
    fd_reserve: int = 64  # file descriptors kept free for /healthz, logs and Redis

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "max_connections":
                if value < 0:
                    raise RelayConfigError("max_connections must be 0 (automatic) or positive")
            elif value <= 0:
                raise RelayConfigError(f"the relay limit {item.name} must be positive")


@dataclass(frozen=True)
class RelayConfig:
    """Everything ``quietroom relay`` needs to run."""

    host: str = "127.0.0.1"
    port: int = 8443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    ice_config: Path | None = None
    credentials_file: Path | None = None
    open_admission: bool = False
    trusted_proxies: tuple[IPNetwork, ...] = ()
    redis_url: str | None = None
    mailbox_dir: Path | None = None  # the sealed mailbox on disk (without Redis); else memory
    metrics_from: tuple[IPNetwork, ...] = field(
        default_factory=lambda: (
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        )
    )
    log_format: str = "text"
    limits: RelayLimits = field(default_factory=RelayLimits)


# -- the table -------------------------------------------------------------------------------


def _path(text: str) -> Path:
    return Path(text)


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise ValueError("a port is a number from 1 to 65535")
    return port


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("use true or false")


def _networks(text: str) -> tuple[IPNetwork, ...]:
    items = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _log_format(text: str) -> str:
    if text not in {"text", "json"}:
        raise ValueError("use text or json")
    return text


def _optional_text(text: str) -> str | None:
    return text or None


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    help: str
    limit: bool = False  # a RelayLimits field rather than a RelayConfig one

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("host", str, "address to listen on (0.0.0.0 for every interface)"),
    Setting("port", _port, "TCP port to listen on"),
    Setting(
        "tls_cert", _path, "TLS certificate chain (PEM); omit behind a TLS proxy such as Caddy"
    ),
    Setting("tls_key", _path, "its private key (PEM)"),
    Setting("ice_config", _path, "ICE configuration (STUN, coturn TURN secret), JSON"),
    Setting(
        "credentials_file",
        _path,
        "therapists' relay credentials (hashes only); made by 'credentials issue'",
    ),
    Setting(
        "open_admission",
        _bool,
        "let anyone open rooms without a credential (only for trying the relay out)",
    ),
    Setting(
        "trusted_proxies",
        _networks,
        "addresses of reverse proxies whose X-Forwarded-For is believed (comma separated)",
    ),
    Setting("redis_url", _optional_text, "redis://host:port/db to share rooms between instances"),
    Setting(
        "mailbox_dir",
        _path,
        "folder for the sealed forms mailbox when redis_url is not set (else kept in memory)",
    ),
    Setting("metrics_from", _networks, "client addresses allowed to read /metrics"),
    Setting("log_format", _log_format, "text, or json (one object a line)"),
    Setting("max_message_bytes", int, "largest signalling frame", limit=True),
    Setting("messages_per_second", float, "sustained frames per second per socket", limit=True),
    Setting("message_burst", int, "frames a socket may send at once", limit=True),
    Setting("room_lifetime", float, "seconds a room may exist", limit=True),
    Setting("max_sockets_per_address", int, "open sockets per client address", limit=True),
    Setting("max_rooms", int, "rooms this instance holds at most", limit=True),
    Setting("sweep_interval", float, "seconds between checks for expired rooms", limit=True),
    Setting("heartbeat", float, "seconds between WebSocket pings", limit=True),
    Setting("close_timeout", float, "seconds to wait for a closing socket", limit=True),
    Setting("header_timeout", float, "seconds a connection has to send its request", limit=True),
    Setting(
        "client_wait", float, "seconds a client waits for the therapist per socket", limit=True
    ),
    Setting("max_waiting", int, "client sockets waiting for a therapist, in all", limit=True),
    Setting("rooms_per_credential", int, "rooms one credential may hold at once", limit=True),
    Setting("max_connections", int, "open connections (0: file limit less fd_reserve)", limit=True),
    Setting("fd_reserve", int, "file descriptors kept free for /healthz and logs", limit=True),
)
_BY_NAME: Final = {setting.name: setting for setting in SETTINGS}


def _default(setting: Setting) -> object:
    owner: object = RelayLimits() if setting.limit else RelayConfig()
    return getattr(owner, setting.name)


def settings_help() -> str:
    """The settings table for ``--help``: name, environment variable and default."""
    lines = [
        "Settings (command line > environment > config file > default). In the TOML file write",
        "name = value; in the environment QUIETROOM_RELAY_<NAME>; lists are comma separated.",
        "",
    ]
    for setting in SETTINGS:
        default = _default(setting)
        if isinstance(default, tuple):
            shown = ",".join(str(item) for item in default) or "none"
        elif default is None:
            shown = "none"
        else:
            shown = str(default).lower() if isinstance(default, bool) else str(default)
        lines.append(f"  {setting.name:<24} {setting.env}")
        lines.append(f"  {'':<24} {setting.help} (default: {shown})")
    return "\n".join(lines)


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


def read_config_file(path: Path) -> dict[str, str]:
    """The settings in a TOML file, as text to be parsed like environment values."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RelayConfigError(f"cannot read the relay configuration file {path}") from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise RelayConfigError(f"the relay configuration file {path} is too large")
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RelayConfigError(f"{path} is not valid TOML: {exc}") from None
    table = doc.pop("relay", {})
    if not isinstance(table, dict):
        raise RelayConfigError(f"{path}: [relay] must be a table")
    merged = {**doc, **table}
    out: dict[str, str] = {}
    for key, value in merged.items():
        if key not in _BY_NAME:
            raise RelayConfigError(f"{path}: unknown setting {key!r}")
        if isinstance(value, dict):
            raise RelayConfigError(f"{path}: {key} must be a value, not a table")
        out[key] = _as_text(value)
    return out


def build_config(
    *,
    file_values: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, str] | None = None,
    base: RelayConfig | None = None,
) -> RelayConfig:
    """Combine the sources (``overrides`` win, then ``environ``, then ``file_values``)."""
    env = os.environ if environ is None else environ
    raw: dict[str, tuple[str, str]] = {}
    for key, text in (file_values or {}).items():
        raw[key] = (text, "the configuration file")
    for setting in SETTINGS:
        if setting.env in env:
            raw[setting.name] = (env[setting.env], setting.env)
    for key, text in (overrides or {}).items():
        raw[key] = (text, _BY_NAME[key].flag if key in _BY_NAME else key)
    config_values: dict[str, Any] = {}
    limit_values: dict[str, Any] = {}
    for key, (text, source) in raw.items():
        known = _BY_NAME.get(key)
        if known is None:
            raise RelayConfigError(f"unknown relay setting {key!r} (from {source})")
        try:
            value = known.parse(text)
        except ValueError as exc:
            raise RelayConfigError(f"{known.name} = {text!r} (from {source}): {exc}") from None
        (limit_values if known.limit else config_values)[key] = value
    start = base or RelayConfig()
    limits = replace(start.limits, **limit_values) if limit_values else start.limits
    config = replace(start, limits=limits, **config_values)
    check_config(config)
    return config


def check_config(config: RelayConfig) -> None:
    """Refuse combinations that cannot work, in words an operator understands."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise RelayConfigError("give both a TLS certificate and its key, or neither")
    if config.credentials_file is None and not config.open_admission:
        raise RelayConfigError(
            "no credentials_file: only therapists holding a credential may open rooms. Issue "
            "one with 'quietroom-relay credentials issue', or set open_admission = true to try "
            "the relay out"
        )
    if config.redis_url is not None and not config.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise RelayConfigError("redis_url must start with redis://, rediss:// or unix://")
