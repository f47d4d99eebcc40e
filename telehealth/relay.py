"""The signalling relay: an aiohttp app that pairs two WebSockets per room and forwards frames.

The relay is deliberately ignorant. It learns a room id (a one-way function of the invitation
secret) and forwards opaque text frames, sealed end to end, between the two sockets of that room.
It never sees names, SDP, ICE candidates or keys, and it logs none of them: room ids appear in the
log only as a short hash, and client addresses not at all.

Admission: a room is opened by the therapist's app, which presents an operator-issued credential
(``Authorization: Bearer qrc_...``, see :mod:`telehealth.relay_credentials`); a socket without
one is a client, and takes the room's second seat only while the therapist is there. A client
who comes first waits (``client_wait`` seconds at most, then the socket is closed with
``THERAPIST_ABSENT`` and the page quietly joins again). With open admission (tests, the in-app
relay of older setups) whoever comes first opens the room.

Routes:

* ``GET /j/`` and ``/j/<asset>``: the client page (``resources/web/`` or the directory given);
* ``GET /ws/<room id>``: the room's WebSocket;
* ``GET /ice/<room id>``: ``{"iceServers": [...]}`` with fresh TURN credentials, served only while
  the room's therapist is there (so the relay does not hand TURN access to the whole internet);
* ``GET /healthz``: ``{"status": "ok", "version": ...}``;
* ``GET /metrics``: Prometheus counters (``metrics_from`` addresses only);
* ``GET /v1/check``: for the therapist's "Test connection": is the credential accepted.

Limits (see :class:`RelayLimits`) close only the offending socket, with a code from
:class:`telehealth.relay_wire.CloseCode`; the other participant gets a presence notice and every
other room carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.resources
import itertools
import logging
import secrets
import signal
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from aiohttp import WSMsgType, web

from telehealth.errors import RelayConfigError, RoomsUnavailableError
from telehealth.ice import IceConfig, ice_servers, ice_transport_policy, load_ice_config
from telehealth.invite import ROOM_ID_PATTERN
from telehealth.mailbox import Mailbox, MailboxStore, MemoryMailbox, add_mailbox_routes
from telehealth.ratelimit import TokenBucket
from telehealth.relay_config import IPNetwork, RelayLimits
from telehealth.relay_credentials import Credential, bearer_token
from telehealth.relay_metrics import RelayMetrics
from telehealth.relay_net import ConnectionGuard, GuardedSite, client_address, file_limit
from telehealth.relay_rooms import Claim, Claimed, LocalRooms, Rooms, Seat
from telehealth.relay_wire import ENVELOPE_PREFIX, CloseCode, presence_notice

__all__ = ["RelayLimits", "RelayServer", "create_relay_app", "room_tag", "start_relay"]

log = logging.getLogger("telehealth.relay")

RELAY_VERSION: Final = "1"  # the relay protocol this server speaks (for "Test connection")


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


class CredentialCheck(Protocol):
    def verify(self, token: str | None) -> Credential | None: ...


def room_tag(room_id: str) -> str:
    """What the log may say about a room: 8 hex characters of its SHA-256."""
    return hashlib.sha256(room_id.encode("ascii", "replace")).hexdigest()[:8]


@dataclass(eq=False)
class _Member:
    id: str
    ws: web.WebSocketResponse
    room_id: str
    seat: Seat
    address: str
    seated: bool = False
    claiming: bool = False  # a seat claim is under way: presence notices are for us already
    wait_timer: asyncio.TimerHandle | None = None
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class Relay:
    """The sockets this process holds, and the request handlers of the relay app."""

    def __init__(
        self,
        *,
        limits: RelayLimits,
        ice_config: IceConfig | None,
        static_dir: Path | None,
        credentials: CredentialCheck | None = None,
        rooms: Rooms | None = None,
        trusted_proxies: Sequence[IPNetwork] = (),
        metrics_from: Sequence[IPNetwork] = (),
        instance: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        random_id: Callable[[], str] = lambda: secrets.token_hex(8),
    ) -> None:
        self.limits = limits
        self.ice_config = ice_config
        self.static_dir = static_dir
        self.credentials = credentials
        self.rooms: Rooms = rooms or LocalRooms(clock=clock)
        self.trusted_proxies = tuple(trusted_proxies)
        self.metrics_from = tuple(metrics_from)
        # Member names carry the instance: with Redis, the one the room directory announces.
        self.instance = instance or getattr(self.rooms, "instance", None) or secrets.token_hex(4)
        self.metrics = RelayMetrics()
        self.guard: ConnectionGuard | None = None
        self._clock = clock
        self._wall_clock = wall_clock
        self._random_id = random_id
        self._serial = itertools.count(1)
        self._members: dict[str, _Member] = {}
        self._by_room: dict[str, set[str]] = {}
        self._waiting: dict[str, _Member] = {}
        self._per_address: Counter[str] = Counter()
        self._tasks: set[asyncio.Future[None]] = set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, holding a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what tests and metrics look at ---------------------------------------------------

    @property
    def room_count(self) -> int:
        """Rooms with a seated socket on this instance."""
        return sum(1 for ids in self._by_room.values() if any(self._members[i].seated for i in ids))

    def participants(self, room_id: str) -> int:
        return sum(1 for i in self._by_room.get(room_id, ()) if self._members[i].seated)

    @property
    def waiting_count(self) -> int:
        return len(self._waiting)

    def _update_gauges(self) -> None:
        self.metrics.rooms.set(self.room_count)
        seated = sum(1 for m in self._members.values() if m.seated)
        self.metrics.sockets.labels(state="seated").set(seated)
        self.metrics.sockets.labels(state="waiting").set(len(self._waiting))
        if self.guard is not None:
            self.metrics.connections.set(self.guard.open_connections)

    # -- RoomEvents: what the room directory tells us -----------------------------------------

    async def deliver(self, room_id: str, sender: str, text: str) -> None:
        for member_id in list(self._by_room.get(room_id, ())):
            member = self._members.get(member_id)
            if member is not None and member.seated and member_id != sender:
                member.outbox.put_nowait(text)

    async def presence(self, room_id: str, count: int) -> None:
        notice = presence_notice(count)
        for member_id in list(self._by_room.get(room_id, ())):
            member = self._members.get(member_id)
            if member is None:
                continue
            if member.seated or member.claiming:
                member.outbox.put_nowait(notice)
            elif count >= 1:
                # A therapist arrived (or the room changed): a waiting client tries its seat.
                self._spawn(self._try_seat(member))

    async def kick(self, member_id: str) -> None:
        member = self._members.get(member_id)
        if member is not None:
            log.info(
                "room %s: a reconnected therapist replaced a stale socket", room_tag(member.room_id)
            )
            self._spawn(self._close(member.ws, CloseCode.ROOM_FULL))

    # -- sockets ------------------------------------------------------------------------------

    async def _close(self, ws: web.WebSocketResponse, code: CloseCode) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(code=int(code)), self.limits.close_timeout)

    async def _refuse(self, ws: web.WebSocketResponse, code: CloseCode, reason: str) -> None:
        self.metrics.refuse(reason)
        await self._close(ws, code)

    def address_of(self, request: web.Request) -> str:
        return client_address(
            request.remote, request.headers.getall("X-Forwarded-For", []), self.trusted_proxies
        )

    def _credential(self, request: web.Request) -> tuple[bool, Credential | None]:
        """(whether the request claims to be the therapist, the credential if it is valid)."""
        header = request.headers.get("Authorization")
        if header is None or self.credentials is None:
            return False, None
        return True, self.credentials.verify(bearer_token(header))

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
            await self._refuse(ws, CloseCode.BAD_ROOM_ID, "bad_room_id")
            return ws
        claims_therapist, credential = self._credential(request)
        if claims_therapist and credential is None:
            log.info("refused a socket: unknown or revoked credential")
            await self._refuse(ws, CloseCode.CREDENTIAL_REFUSED, "credential")
            return ws
        address = self.address_of(request)
        if self._per_address[address] >= self.limits.max_sockets_per_address:
            log.info("refused a socket: too many from one address")
            await self._refuse(ws, CloseCode.TOO_MANY_ROOMS, "per_address")
            return ws
        seat = Seat.THERAPIST if credential is not None else Seat.CLIENT
        member = _Member(f"{self.instance}:{next(self._serial)}", ws, room_id, seat, address)
        self._members[member.id] = member
        self._by_room.setdefault(room_id, set()).add(member.id)
        self._per_address[address] += 1
        sender = asyncio.ensure_future(self._send_loop(member))
        try:
            if await self._admit(member, credential):
                await self._pump(member)
        except RoomsUnavailableError as exc:
            log.warning("closing a socket: the shared room store is unavailable (%s)", exc)
            await self._refuse(ws, CloseCode.GOING_AWAY, "rooms_unavailable")
        finally:
            await self._leave(member)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    async def _admit(self, member: _Member, credential: Credential | None) -> bool:
        """Seat ``member``, or let a client wait for the therapist. False: the socket is closed."""
        tag = room_tag(member.room_id)
        if member.seat is Seat.CLIENT:
            claimed = await self._claim(member, None, 0)
            if claimed.outcome is Claim.OK:
                member.seated = True
                log.info("room %s: client joined", tag)
                return True
            if claimed.outcome is Claim.FULL:
                log.info("room %s: refused a third participant", tag)
                await self._refuse(member.ws, CloseCode.ROOM_FULL, "room_full")
                return False
            if self.credentials is not None:
                return await self._wait_for_therapist(member)
            member.seat = Seat.THERAPIST  # open admission: whoever comes first opens the room
        if member.room_id not in self._local_rooms() and self.room_count >= self.limits.max_rooms:
            log.warning("refused a socket: relay holds its maximum number of rooms")
            await self._refuse(member.ws, CloseCode.RELAY_BUSY, "relay_busy")
            return False
        quota = credential.max_rooms if credential else 0
        cred_id = credential.id if credential else None
        claimed = await self._claim(member, cred_id, quota)
        if claimed.outcome is Claim.QUOTA:
            log.info("refused a room: its credential holds its maximum number of rooms")
            await self._refuse(member.ws, CloseCode.ROOM_QUOTA, "quota")
            return False
        if claimed.outcome is not Claim.OK:
            log.info("room %s: refused a third participant", tag)
            await self._refuse(member.ws, CloseCode.ROOM_FULL, "room_full")
            return False
        member.seated = True
        log.info("room %s: therapist joined", tag)
        return True

    async def _claim(self, member: _Member, credential: str | None, quota: int) -> Claimed:
        member.claiming = True
        try:
            return await self.rooms.claim(member.room_id, member.seat, member.id, credential, quota)
        finally:
            member.claiming = False

    def _local_peer(self, member: _Member) -> _Member | None:
        for other_id in self._by_room.get(member.room_id, ()):
            other = self._members.get(other_id)
            if other is not None and other is not member and other.seated:
                return other
        return None

    def _local_rooms(self) -> set[str]:
        return {
            room_id
            for room_id, ids in self._by_room.items()
            if any(self._members[i].seated for i in ids)
        }

    async def _wait_for_therapist(self, member: _Member) -> bool:
        if len(self._waiting) >= self.limits.max_waiting:
            log.warning("refused a client socket: too many clients waiting")
            await self._refuse(member.ws, CloseCode.RELAY_BUSY, "waiting_full")
            return False
        self._waiting[member.id] = member
        member.wait_timer = asyncio.get_running_loop().call_later(
            self.limits.client_wait, self._wait_expired, member
        )
        await self.rooms.watch(member.room_id)
        member.outbox.put_nowait(presence_notice(1))  # "your therapist is not here yet"
        # The therapist may have arrived while we subscribed.
        if await self.rooms.therapist_present(member.room_id):
            await self._try_seat(member)
        return True  # the pump reads (and drops) frames until the seat is taken or time is up

    def _wait_expired(self, member: _Member) -> None:
        if not member.seated and member.id in self._waiting:
            self._waiting.pop(member.id, None)
            self.metrics.refuse("therapist_absent")
            self._spawn(self._close(member.ws, CloseCode.THERAPIST_ABSENT))

    def evict_waiting(self) -> bool:
        """Close the oldest waiting client socket (file descriptors are short)."""
        for member in self._waiting.values():
            self._waiting.pop(member.id, None)
            if member.wait_timer is not None:
                member.wait_timer.cancel()
            self._spawn(self._close(member.ws, CloseCode.RELAY_BUSY))
            return True
        return False

    async def _try_seat(self, member: _Member) -> None:
        # One attempt at a time: a presence notice and the start-up check may both trigger one.
        if member.seated or member.claiming or member.id not in self._waiting or member.ws.closed:
            return
        try:
            claimed = await self._claim(member, None, 0)
        except RoomsUnavailableError as exc:
            log.warning("a waiting client could not take its seat yet (%s)", exc)
            return  # it keeps waiting; the next presence notice or its deadline decides
        if claimed.outcome is Claim.OK and member.id in self._waiting:
            self._waiting.pop(member.id, None)
            if member.wait_timer is not None:
                member.wait_timer.cancel()
            member.seated = True
            await self.rooms.unwatch(member.room_id)
            log.info("room %s: waiting client joined", room_tag(member.room_id))
        elif claimed.outcome is Claim.OK:  # gave up meanwhile
            await self.rooms.leave(member.room_id, member.id)
        elif claimed.outcome is Claim.FULL:
            self._waiting.pop(member.id, None)
            if member.wait_timer is not None:
                member.wait_timer.cancel()
            await self._refuse(member.ws, CloseCode.ROOM_FULL, "room_full")

    async def _send_loop(self, member: _Member) -> None:
        """Frames to one socket, in order, one at a time."""
        while True:
            text = await member.outbox.get()
            if member.ws.closed:
                continue
            with contextlib.suppress(Exception):
                await member.ws.send_str(text)
                self.metrics.bytes.labels(direction="out").inc(len(text))

    async def _pump(self, member: _Member) -> None:
        ws, tag = member.ws, room_tag(member.room_id)
        bucket = TokenBucket(
            self.limits.messages_per_second, self.limits.message_burst, self._clock
        )
        while not ws.closed:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return
            if msg.type == WSMsgType.ERROR:
                # aiohttp already closed the socket (1009 for an oversized frame).
                log.info("room %s: socket closed on a protocol error (code %s)", tag, ws.close_code)
                self.metrics.refuse("too_big" if ws.close_code == 1009 else "malformed")
                return
            if msg.type != WSMsgType.TEXT:
                log.info("room %s: closing a socket that sent a non-text frame", tag)
                await self._refuse(ws, CloseCode.MALFORMED, "malformed")
                return
            text: str = msg.data
            if not (text.isascii() and text.isprintable() and text.startswith(ENVELOPE_PREFIX)):
                # Sealed envelopes are compact ASCII JSON starting {"v":; anything else is not
                # ours, and a participant must not be able to pass off the relay's own presence
                # notices ({"relay":...}) to the other one.
                log.info("room %s: closing a socket that sent a malformed frame", tag)
                await self._refuse(ws, CloseCode.MALFORMED, "malformed")
                return
            if not bucket.take():
                log.info("room %s: closing a socket over its message rate", tag)
                await self._refuse(ws, CloseCode.RATE_LIMITED, "rate_limited")
                return
            self.metrics.bytes.labels(direction="in").inc(len(text))
            if member.seated:  # a waiting client has nobody to talk to: dropped, as before
                self.metrics.frames.inc()
                peer = self._local_peer(member)
                if peer is not None:  # both seats on this instance: no round trip via Redis
                    peer.outbox.put_nowait(text)
                else:
                    await self.rooms.forward(member.room_id, member.id, text)

    async def _leave(self, member: _Member) -> None:
        if member.wait_timer is not None:
            member.wait_timer.cancel()
        was_waiting = self._waiting.pop(member.id, None) is not None
        self._members.pop(member.id, None)
        ids = self._by_room.get(member.room_id)
        if ids is not None:
            ids.discard(member.id)
            if not ids:
                del self._by_room[member.room_id]
        self._per_address[member.address] -= 1
        if self._per_address[member.address] <= 0:
            del self._per_address[member.address]
        if member.seated:
            log.info("room %s: participant left", room_tag(member.room_id))
            with contextlib.suppress(Exception):
                await self.rooms.leave(member.room_id, member.id)
        elif was_waiting:
            with contextlib.suppress(Exception):
                await self.rooms.unwatch(member.room_id)

    async def sweep(self) -> None:
        """Close every local socket of a room older than ``room_lifetime``."""
        for room_id in list(self._local_rooms()):
            age = await self.rooms.age(room_id)
            if age is not None and age >= self.limits.room_lifetime:
                log.info("room %s expired", room_tag(room_id))
                members = [self._members[i] for i in self._by_room.get(room_id, ())]
                await asyncio.gather(*(self._close(m.ws, CloseCode.ROOM_EXPIRED) for m in members))

    async def close_all(self) -> None:
        """Free every seat first (another instance can take the room over at once), then close."""
        members = list(self._members.values())
        for member in members:
            if member.seated:
                member.seated = False
                with contextlib.suppress(Exception):
                    await self.rooms.leave(member.room_id, member.id)
        await asyncio.gather(*(self._close(m.ws, CloseCode.GOING_AWAY) for m in members))

    # -- plain HTTP -----------------------------------------------------------------------

    async def handle_ice(self, request: web.Request) -> web.Response:
        room_id = request.match_info["room_id"]
        try:
            present = ROOM_ID_PATTERN.fullmatch(room_id) and await self.rooms.therapist_present(
                room_id
            )
        except RoomsUnavailableError:
            raise web.HTTPServiceUnavailable(text="try again in a moment") from None
        if not present:
            raise web.HTTPNotFound(text="no such room")
        servers = ice_servers(self.ice_config, clock=self._wall_clock, random_id=self._random_id)
        body: dict[str, object] = {"iceServers": servers}
        if ice_transport_policy(self.ice_config) == "relay":
            body["iceTransportPolicy"] = "relay"
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def handle_health(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "version": RELAY_VERSION}, headers={"Cache-Control": "no-store"}
        )

    async def handle_check(self, request: web.Request) -> web.Response:
        """For the app's "Test connection": is this credential accepted, and is TURN offered."""
        claims, credential = self._credential(request)
        open_admission = self.credentials is None
        accepted = open_admission or credential is not None
        body: dict[str, object] = {
            "version": RELAY_VERSION,
            "credential": "accepted" if accepted else ("refused" if claims else "missing"),
            "turn": self.ice_config is not None and self.ice_config.turn is not None,
        }
        if accepted and self.ice_config is not None and self.ice_config.turn is not None:
            body["iceServers"] = ice_servers(
                self.ice_config, clock=self._wall_clock, random_id=self._random_id
            )
        status = 200 if accepted else 401
        return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})

    async def handle_metrics(self, request: web.Request) -> web.Response:
        address = self.address_of(request)
        if not any(_in(address, net) for net in self.metrics_from):
            raise web.HTTPForbidden(text="metrics are not served to this address")
        self._update_gauges()
        return web.Response(
            body=self.metrics.render(),
            headers={"Content-Type": self.metrics.content_type, "Cache-Control": "no-store"},
        )

    async def handle_page(self, _request: web.Request) -> web.StreamResponse:
        if self.static_dir is not None:
            index = self.static_dir / "index.html"
            if index.is_file():
                return web.FileResponse(index, headers={"Cache-Control": "no-cache"})
        return web.Response(text=PLACEHOLDER_PAGE, content_type="text/html")


def _in(address: str, net: IPNetwork) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(address) in net
    except ValueError:
        return False


RELAY_KEY: Final = web.AppKey("relay", Relay)


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    relay = request.app[RELAY_KEY]
    guard = relay.guard
    protocol = request.protocol
    if guard is not None:
        guard.busy.add(protocol)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(SECURITY_HEADERS)
            raise
        if not response.prepared:
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response
    finally:
        if guard is not None:
            guard.busy.discard(protocol)


def create_relay_app(
    *,
    limits: RelayLimits | None = None,
    ice_config: IceConfig | None = None,
    static_dir: Path | None = DEFAULT_STATIC_DIR,
    credentials: CredentialCheck | None = None,
    rooms: Rooms | None = None,
    trusted_proxies: Sequence[IPNetwork] = (),
    metrics_from: Sequence[IPNetwork] = (),
    instance: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    random_id: Callable[[], str] = lambda: secrets.token_hex(8),
    mailbox: MailboxStore | None = None,
) -> web.Application:
    """Build the relay application. ``static_dir`` is served at ``/j/`` if it exists.
    ``credentials=None`` is open admission (whoever comes first opens a room). ``mailbox`` keeps
    the sealed forms of :mod:`telehealth.mailbox` (in memory unless given)."""
    relay = Relay(
        limits=limits or RelayLimits(),
        ice_config=ice_config,
        static_dir=static_dir if static_dir is not None and static_dir.is_dir() else None,
        credentials=credentials,
        rooms=rooms,
        trusted_proxies=trusted_proxies,
        metrics_from=metrics_from,
        instance=instance,
        clock=clock,
        wall_clock=wall_clock,
        random_id=random_id,
    )
    app = web.Application(middlewares=[_security_headers], client_max_size=64 * 1024)
    app[RELAY_KEY] = relay
    app.router.add_get("/healthz", relay.handle_health)
    app.router.add_get("/metrics", relay.handle_metrics)
    app.router.add_get("/v1/check", relay.handle_check)
    app.router.add_get("/ws/{room_id}", relay.handle_ws)
    app.router.add_get("/ice/{room_id}", relay.handle_ice)
    app.router.add_get("/j/", relay.handle_page)
    if relay.static_dir is not None:
        app.router.add_static("/j/", relay.static_dir, follow_symlinks=False)
    # Forms filled in between sessions (the sealed mailbox): its own routes, its own sweeper.
    add_mailbox_routes(app, Mailbox(mailbox or MemoryMailbox(), credentials=credentials,
                                    address_of=relay.address_of, wall_clock=wall_clock,
                                    clock=clock, static_dir=relay.static_dir))  # fmt: skip

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await relay.rooms.start(relay)

        async def loop() -> None:
            while True:
                await asyncio.sleep(relay.limits.sweep_interval)
                await relay.sweep()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await relay.rooms.stop()

    async def on_shutdown(_app: web.Application) -> None:
        await relay.close_all()

    app.cleanup_ctx.append(lifecycle)
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
    credentials: CredentialCheck | None = None,
    rooms: Rooms | None = None,
    trusted_proxies: Sequence[IPNetwork] = (),
    metrics_from: Sequence[IPNetwork] = (),
    instance: str | None = None,
    clock: Callable[[], float] = time.monotonic,
    mailbox: MailboxStore | None = None,
) -> RelayServer:
    """Start the relay on the running loop; ``port=0`` picks a free port."""
    context = tls_context(tls_cert, tls_key)
    limits = limits or RelayLimits()
    app = create_relay_app(
        limits=limits,
        ice_config=_ice_config(ice_config),
        static_dir=static_dir,
        credentials=credentials,
        rooms=rooms,
        trusted_proxies=trusted_proxies,
        metrics_from=metrics_from,
        instance=instance,
        clock=clock,
        mailbox=mailbox,
    )
    # No access log: request paths carry room ids. The keep-alive timer doubles as the header
    # timeout (it runs from accept until a whole request has arrived).
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=5.0, keepalive_timeout=limits.header_timeout
    )
    await runner.setup()
    relay = app[RELAY_KEY]
    max_connections = limits.max_connections or max(16, file_limit() - limits.fd_reserve)
    assert runner.server is not None
    relay.guard = ConnectionGuard(
        runner.server,
        max_connections=max_connections,
        reserve=min(limits.fd_reserve, max_connections // 4),
        evict_waiting=relay.evict_waiting,
        on_refuse=relay.metrics.refuse,
    )
    site = GuardedSite(runner, host, port, relay.guard, ssl_context=context)
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
    credentials: CredentialCheck | None = None,
    rooms_factory: Callable[[], Rooms] | None = None,
    trusted_proxies: Sequence[IPNetwork] = (),
    metrics_from: Sequence[IPNetwork] = (),
    mailbox_factory: Callable[[], MailboxStore] | None = None,
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
            credentials=credentials,
            rooms=rooms_factory() if rooms_factory is not None else None,
            trusted_proxies=trusted_proxies,
            metrics_from=metrics_from,
            mailbox=mailbox_factory() if mailbox_factory is not None else None,
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
