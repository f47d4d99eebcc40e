"""The relay's connections: the real client address behind trusted proxies, and a guard that keeps
file descriptors for ``/healthz`` and admitted rooms when strangers open too many connections.

Header and idle timeouts come from aiohttp itself: its keep-alive timer also runs from the moment a
connection is accepted until a whole request has arrived, so setting it to the header timeout
closes a connection that sends its headers one byte at a time (slowloris) or nothing at all.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from collections.abc import Callable, Sequence
from typing import Final

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_FORWARDED_HOPS: Final = 16


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    ip = _parse_ip(address)
    return ip is not None and any(ip in net for net in trusted)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str:
    """The address limits apply to. ``X-Forwarded-For`` is believed only when the connection
    comes from a trusted proxy, and then read from the right: the first address that is not a
    trusted proxy is the client (a client cannot spoof the entries its proxies append)."""
    address = peer or "unknown"
    if not trusted or not _trusted(address, trusted):
        return address
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
        ip = _parse_ip(hop)
        if ip is None:
            return address  # garbage from a client: count it against the proxy, not a stranger
        if not any(ip in net for net in trusted):
            return str(ip)
        address = str(ip)
    return address


def file_limit() -> int:
    """This process's open-file limit (soft), or a large number when it is unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else int(soft)


class _Refuse(asyncio.Protocol):
    """Accept-and-close, for a connection over the hard limit (its descriptor is freed at once)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class ConnectionGuard:
    """The relay's protocol factory (wraps aiohttp's). Past ``max_connections - reserve`` open
    connections, a new one evicts the oldest connection that is not in the middle of a request
    (idle keep-alive, or still sending headers), else a waiting client socket (``evict_waiting``);
    past ``max_connections`` it is closed at once. Established rooms are never evicted, and
    there is always a descriptor for ``/healthz``."""

    def __init__(
        self,
        server: web.Server,
        *,
        max_connections: int,
        reserve: int,
        evict_waiting: Callable[[], bool] = lambda: False,
        on_refuse: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        self._server = server
        self.max_connections = max_connections
        self.soft_limit = max(1, max_connections - reserve)
        self._evict_waiting = evict_waiting
        self._on_refuse = on_refuse
        self._open: dict[RequestHandler, None] = {}  # insertion order: oldest first
        self.busy: set[RequestHandler] = set()

    @property
    def open_connections(self) -> int:
        self._prune()
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        # Counted here, not from aiohttp's list: asyncio accepts a whole backlog, calling this
        # factory for each, before any connection_made runs.
        count = self.open_connections
        full = count >= self.max_connections
        if count >= self.soft_limit and not self._evict_one() and full:
            self._on_refuse("connections")
            return _Refuse()
        handler = self._server()
        self._open[handler] = None
        return handler

    def _prune(self) -> None:
        # A handler's manager is cleared by connection_lost (and set before connection_made).
        for handler in [h for h in self._open if getattr(h, "_manager", None) is None]:
            del self._open[handler]
            self.busy.discard(handler)

    def _evict_one(self) -> bool:
        for handler in self._open:
            if handler not in self.busy and handler.transport is not None:
                del self._open[handler]
                self._on_refuse("evicted")
                transport = handler.transport
                handler.force_close()
                if transport is not None:
                    transport.close()
                return True
        return self._evict_waiting()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a :class:`ConnectionGuard`."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: object | None = None,
        backlog: int = 512,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)  # type: ignore[arg-type]
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
        )
