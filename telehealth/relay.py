"""The signalling relay: an aiohttp app that pairs two WebSockets per room and forwards frames.

The relay is deliberately ignorant. It learns a room id (a one-way function of the invitation
secret) and forwards opaque text frames, sealed end to end, between the two sockets of that room.
It never sees names, SDP, ICE candidates or keys, and it logs none of them: room ids appear in the
log only as a short hash, and client addresses not at all.

Routes:

* ``GET /j/`` and ``/j/<asset>``: the client page (``resources/web/`` or the directory given);
* ``GET /ws/<room id>``: the room's WebSocket;
* ``GET /ice/<room id>``: ``{"iceServers": [...]}`` with fresh TURN credentials, served only while
  the room has someone in it (so the relay does not hand TURN access to the whole internet);
* ``GET /healthz``: ``{"status": "ok"}``.

Limits (see :class:`RelayLimits`) close only the offending socket, with a code from
:class:`telehealth.relay_wire.CloseCode`; the other participant gets a presence notice and every
other room carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.resources
import logging
import secrets
import signal
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import WSMsgType, web

from telehealth.errors import RelayConfigError
from telehealth.ice import IceConfig, ice_servers, ice_transport_policy, load_ice_config
from telehealth.invite import ROOM_ID_PATTERN
from telehealth.ratelimit import TokenBucket
from telehealth.relay_wire import CloseCode, presence_notice

log = logging.getLogger("telehealth.relay")


def installed_web_dir() -> Path | None:
    """The client page shipped inside the installed ``resources`` package (``resources/web``),
    or ``None`` when it is missing or not a plain directory (e.g. a zipped install)."""
    try:
        web_dir = importlib.resources.files("resources") / "web"
    except ModuleNotFoundError:
        return None
    return web_dir if isinstance(web_dir, Path) and web_dir.is_dir() else None


DEFAULT_STATIC_DIR: Final = installed_web_dir()
MAX_PARTICIPANTS: Final = 2

PLACEHOLDER_PAGE: Final = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Quietroom</title>"
    "<p>The Quietroom session page is not installed on this relay.</p></html>"
)

SECURITY_HEADERS: Final = {
    # The invitation secret lives in the URL fragment; never leak the page URL anywhere.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    # Only the page's own files; WebSocket and /ice/ on the same origin ('self' covers ws/wss);
    # no inline script or style, no eval, no forms posting anywhere, no framing; Trusted Types
    # forbid every HTML-string sink (the page builds its DOM with textContent only).
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; media-src 'self' blob:; manifest-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    ),
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=()",
}


@dataclass(frozen=True)
class RelayLimits:
    """Every limit the relay enforces. Defaults suit a small practice; tests shrink them."""

    max_message_bytes: int = 128 * 1024  # one sealed envelope; the largest valid is ~90 KiB
    messages_per_second: float = 20.0  # sustained rate per socket
    message_burst: int = 60  # ICE candidates arrive in a burst at call start
    room_lifetime: float = 4 * 3600.0  # seconds a room may exist, however busy
    max_sockets_per_address: int = 8  # open sockets (so rooms) per client address
    max_rooms: int = 1000
    sweep_interval: float = 5.0  # how often expired rooms are closed
    heartbeat: float = 20.0  # WebSocket ping interval; dead peers are dropped
    close_timeout: float = 5.0  # how long to wait for a closing peer

    def __post_init__(self) -> None:
        numbers = (
            self.max_message_bytes,
            self.messages_per_second,
            self.message_burst,
            self.room_lifetime,
            self.max_sockets_per_address,
            self.max_rooms,
            self.sweep_interval,
            self.heartbeat,
            self.close_timeout,
        )
        if any(value <= 0 for value in numbers):
            raise RelayConfigError("every relay limit must be positive")


def room_tag(room_id: str) -> str:
    """What the log may say about a room: 8 hex characters of its SHA-256."""
    return hashlib.sha256(room_id.encode("ascii", "replace")).hexdigest()[:8]


@dataclass
class _Room:
    tag: str
    created_at: float
    sockets: list[web.WebSocketResponse] = field(default_factory=list)


class Relay:
    """Rooms and their sockets; the request handlers of the relay app."""

    def __init__(
        self,
        *,
        limits: RelayLimits,
        ice_config: IceConfig | None,
        static_dir: Path | None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        random_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.limits = limits
        self.ice_config = ice_config
        self.static_dir = static_dir
        self._clock = clock
        self._wall_clock = wall_clock
        self._random_id = random_id
        self._rooms: dict[str, _Room] = {}
        self._per_address: Counter[str] = Counter()

    @property
    def room_count(self) -> int:
        return len(self._rooms)

    def participants(self, room_id: str) -> int:
        room = self._rooms.get(room_id)
        return 0 if room is None else len(room.sockets)

    async def _close(self, ws: web.WebSocketResponse, code: CloseCode) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=int(code)), self.limits.close_timeout)

    async def _announce(self, room: _Room) -> None:
        notice = presence_notice(len(room.sockets))
        for ws in list(room.sockets):
            with contextlib.suppress(Exception):
                await ws.send_str(notice)

    async def handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=self.limits.max_message_bytes,
            heartbeat=self.limits.heartbeat,
            compress=False,
        )
        await ws.prepare(request)
        room_id = request.match_info["room_id"]
        # Refusals are close codes rather than HTTP errors: a browser cannot see the status of
        # a failed WebSocket upgrade, but it does see the close code.
        if not ROOM_ID_PATTERN.fullmatch(room_id):
            await self._close(ws, CloseCode.BAD_ROOM_ID)
            return ws
        address = request.remote or "unknown"
        if self._per_address[address] >= self.limits.max_sockets_per_address:
            log.info("refused a socket: too many from one address")
            await self._close(ws, CloseCode.TOO_MANY_ROOMS)
            return ws
        room = self._rooms.get(room_id)
        if room is None:
            if len(self._rooms) >= self.limits.max_rooms:
                log.warning("refused a socket: relay holds its maximum number of rooms")
                await self._close(ws, CloseCode.RELAY_BUSY)
                return ws
            room = _Room(tag=room_tag(room_id), created_at=self._clock())
            self._rooms[room_id] = room
            log.info("room %s opened", room.tag)
        if len(room.sockets) >= MAX_PARTICIPANTS:
            log.info("room %s: refused a third participant", room.tag)
            await self._close(ws, CloseCode.ROOM_FULL)
            return ws
        room.sockets.append(ws)
        self._per_address[address] += 1
        log.info("room %s: participant joined (%d present)", room.tag, len(room.sockets))
        try:
            await self._announce(room)
            await self._pump(ws, room)
        finally:
            await self._leave(room_id, room, ws, address)
        return ws

    async def _pump(self, ws: web.WebSocketResponse, room: _Room) -> None:
        bucket = TokenBucket(
            self.limits.messages_per_second, self.limits.message_burst, self._clock
        )
        while not ws.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                # aiohttp already closed the socket (1009 for an oversized frame).
                log.info(
                    "room %s: socket closed on a protocol error (code %s)", room.tag, ws.close_code
                )
                return
            if msg.type != WSMsgType.TEXT:
                log.info("room %s: closing a socket that sent a non-text frame", room.tag)
                await self._close(ws, CloseCode.MALFORMED)
                return
            text: str = msg.data
            if not (text.isascii() and text.isprintable()):
                # Sealed envelopes are compact ASCII JSON; anything else is not ours.
                log.info("room %s: closing a socket that sent a malformed frame", room.tag)
                await self._close(ws, CloseCode.MALFORMED)
                return
            if not bucket.take():
                log.info("room %s: closing a socket over its message rate", room.tag)
                await self._close(ws, CloseCode.RATE_LIMITED)
                return
            for other in list(room.sockets):
                if other is not ws and not other.closed:
                    with contextlib.suppress(Exception):
                        await other.send_str(text)

    async def _leave(
        self, room_id: str, room: _Room, ws: web.WebSocketResponse, address: str
    ) -> None:
        if ws in room.sockets:
            room.sockets.remove(ws)
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]
        log.info("room %s: participant left (%d present)", room.tag, len(room.sockets))
        if not room.sockets:
            if self._rooms.get(room_id) is room:
                del self._rooms[room_id]
                log.info("room %s closed", room.tag)
        else:
            await self._announce(room)

    async def sweep(self) -> None:
        """Close every room older than ``room_lifetime``."""
        now = self._clock()
        for room_id, room in list(self._rooms.items()):
            if now - room.created_at >= self.limits.room_lifetime:
                log.info("room %s expired", room.tag)
                if self._rooms.get(room_id) is room:
                    del self._rooms[room_id]
                await asyncio.gather(
                    *(self._close(ws, CloseCode.ROOM_EXPIRED) for ws in list(room.sockets))
                )

    async def close_all(self) -> None:
        sockets = [ws for room in self._rooms.values() for ws in room.sockets]
        await asyncio.gather(*(self._close(ws, CloseCode.GOING_AWAY) for ws in sockets))

    async def handle_ice(self, request: web.Request) -> web.Response:
        room_id = request.match_info["room_id"]
        if not ROOM_ID_PATTERN.fullmatch(room_id) or not self.participants(room_id):
            raise web.HTTPNotFound(text="no such room")
        servers = ice_servers(self.ice_config, clock=self._wall_clock, random_id=self._random_id)
        body: dict[str, object] = {"iceServers": servers}
        if ice_transport_policy(self.ice_config) == "relay":
            body["iceTransportPolicy"] = "relay"
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})

    async def handle_page(self, _request: web.Request) -> web.StreamResponse:
        if self.static_dir is not None:
            index = self.static_dir / "index.html"
            if index.is_file():
                return web.FileResponse(index, headers={"Cache-Control": "no-cache"})
        return web.Response(text=PLACEHOLDER_PAGE, content_type="text/html")


RELAY_KEY: Final = web.AppKey("relay", Relay)


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


def create_relay_app(
    *,
    limits: RelayLimits | None = None,
    ice_config: IceConfig | None = None,
    static_dir: Path | None = DEFAULT_STATIC_DIR,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    random_id: Callable[[], str] = lambda: secrets.token_hex(8),
) -> web.Application:
    """Build the relay application. ``static_dir`` is served at ``/j/`` if it exists."""
    relay = Relay(
        limits=limits or RelayLimits(),
        ice_config=ice_config,
        static_dir=static_dir if static_dir is not None and static_dir.is_dir() else None,
        clock=clock,
        wall_clock=wall_clock,
        random_id=random_id,
    )
    app = web.Application(middlewares=[_security_headers], client_max_size=64 * 1024)
    app[RELAY_KEY] = relay
    app.router.add_get("/healthz", relay.handle_health)
    app.router.add_get("/ws/{room_id}", relay.handle_ws)
    app.router.add_get("/ice/{room_id}", relay.handle_ice)
    app.router.add_get("/j/", relay.handle_page)
    if relay.static_dir is not None:
        app.router.add_static("/j/", relay.static_dir, follow_symlinks=False)

    async def sweeper(_app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(relay.limits.sweep_interval)
                await relay.sweep()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def on_shutdown(_app: web.Application) -> None:
        await relay.close_all()

    app.cleanup_ctx.append(sweeper)
    app.on_shutdown.append(on_shutdown)
    return app


def tls_context(tls_cert: Path | str | None, tls_key: Path | str | None) -> ssl.SSLContext | None:
    """A server TLS context (TLS 1.2+), or ``None`` when neither file is given."""
    if tls_cert is None and tls_key is None:
        return None
    if tls_cert is None or tls_key is None:
        raise RelayConfigError("give both a TLS certificate and its key, or neither")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(tls_cert), str(tls_key))
    except (OSError, ssl.SSLError) as exc:
        raise RelayConfigError("cannot load the TLS certificate or key") from exc
    return context


@dataclass
class RelayServer:
    """A running relay (from :func:`start_relay`); ``port`` is the bound port."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def relay(self) -> Relay:
        return self.runner.app[RELAY_KEY]

    async def stop(self) -> None:
        await self.runner.cleanup()


def _ice_config(value: IceConfig | Path | str | None) -> IceConfig | None:
    if value is None or isinstance(value, IceConfig):
        return value
    return load_ice_config(value)


async def start_relay(
    host: str,
    port: int,
    *,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    ice_config: IceConfig | Path | str | None = None,
    static_dir: Path | None = DEFAULT_STATIC_DIR,
    limits: RelayLimits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RelayServer:
    """Start the relay on the running loop; ``port=0`` picks a free port."""
    context = tls_context(tls_cert, tls_key)
    app = create_relay_app(
        limits=limits, ice_config=_ice_config(ice_config), static_dir=static_dir, clock=clock
    )
    # No access log: request paths carry room ids.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context)
    await site.start()
    addresses = runner.addresses
    bound = addresses[0][1] if addresses else port
    log.info("relay listening on %s:%d (%s)", host, bound, "https" if context else "http")
    return RelayServer(runner=runner, host=host, port=int(bound))


def run_relay(
    host: str,
    port: int,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    ice_config: IceConfig | Path | str | None = None,
    *,
    static_dir: Path | None = DEFAULT_STATIC_DIR,
    limits: RelayLimits | None = None,
) -> None:
    """Run the relay until interrupted (for ``quietroom relay``). Config errors raise before the
    server starts: :class:`RelayConfigError` or :class:`telehealth.errors.IceConfigError`."""
    tls_context(tls_cert, tls_key)  # fail fast, before the loop starts
    resolved_ice = _ice_config(ice_config)

    async def main() -> None:
        server = await start_relay(
            host,
            port,
            tls_cert=tls_cert,
            tls_key=tls_key,
            ice_config=resolved_ice,
            static_dir=static_dir,
            limits=limits,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            # SIGTERM is how service managers stop us; not available on Windows loops.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            log.info("relay stopping")
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
