"""The therapist's side of one video session: relay socket, sealed signalling, lifecycle, engine.

A :class:`TherapistSession` owns one invitation. It connects to the relay as the therapist, tells
the user interface when the client is waiting (and under what name), admits or declines on
request, then drives a :class:`telehealth.engine.CallEngine` as the offerer with every signalling
message sealed, and runs the verification exchange (commit before reveal) to produce the code
both people read aloud. The lifecycle table in :mod:`telehealth.lifecycle` decides what happens;
this module only carries out its effects.

Threads: the session runs its own asyncio loop on its own thread (signalling), and the engine
runs aiortc on another (media). Public methods are thread-safe and return
``concurrent.futures.Future`` objects. :class:`SessionCallbacks` run on those background threads;
a UI must hand them over to its own thread (Qt: queued signals) and return quickly.

Nothing here writes anything to disk; the client's name and chat exist only in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import ssl
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp

from telehealth import forms, protocol
from telehealth.engine import (
    CallEngine,
    EngineCallbacks,
    IcePolicy,
    IceServer,
    LinkState,
    MediaFactory,
    MediaLink,
    PcmChunk,
    RgbFrame,
    ice_servers_from_json,
)
from telehealth.errors import (
    CallConnectionError,
    MessageFormatError,
    MessageRejectedError,
    RelayRefusedError,
    ReplayedMessageError,
    TelehealthError,
    VerificationError,
)
from telehealth.invite import Invite
from telehealth.lifecycle import TERMINAL_STATES, CallEvent, CallLifecycle, CallState, Effect
from telehealth.loop_thread import LoopThread
from telehealth.relay_wire import CloseCode, parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.verification import Verifier

log = logging.getLogger("telehealth.session")

T = TypeVar("T")
RELAY_RETRIES: Final = 5
_RELAY_REFUSALS: Final[dict[int, str]] = {
    CloseCode.CREDENTIAL_REFUSED: "the session service did not accept your practice's key "
    "(Settings > Video sessions > Test connection tells why)",
    CloseCode.ROOM_QUOTA: "your practice already has as many sessions open on the session "
    "service as its key allows; end another session first",
}  # reconnect attempts to the relay before the session fails
RESTART_ATTEMPT_SECONDS: Final = 6.0  # an answered new offer not connected by then is replaced
# A new offer still unanswered this long is sent again (it may be lost); sooner only when the
# page cannot have it any more (it said hello again, or our relay socket is a new one).
RESTART_UNANSWERED_SECONDS: Final = 15.0
RELAY_PROBE_INTERVAL: Final = 1.0  # seconds between pings while the relay socket is unproven
VERIFY_SECONDS: Final = 5.0  # connected this long without a code: tell the therapist
MAX_ICE_JSON_BYTES: Final = 16 * 1024


def _ignore(*_args: Any) -> None:
    return None


@dataclass(frozen=True)
class SessionCallbacks:
    """What the session reports. Every callback runs on a background thread.

    ``on_state`` receives the new state and the event that led to it (enough to audit: admitted,
    declined, hung up, the client left, failed). ``on_client_waiting`` receives the name the
    client typed (untrusted text: display it as plain text). ``on_verification_code`` gets the
    six digits once the exchange is complete. Video, audio, chat and stats come straight from the
    engine thread.
    """

    on_state: Callable[[CallState, CallEvent], None] = _ignore
    on_client_waiting: Callable[[str], None] = _ignore
    on_client_present: Callable[[bool], None] = _ignore  # relay hint: the client's page is open
    on_verification_code: Callable[[str], None] = _ignore
    on_video: Callable[[RgbFrame], None] = _ignore
    on_audio: Callable[[PcmChunk], None] = _ignore
    on_chat: Callable[[str], None] = _ignore
    on_chat_open: Callable[[], None] = _ignore
    on_stats: Callable[[dict[str, float]], None] = _ignore
    on_error: Callable[[TelehealthError], None] = _ignore
    # Connected for a while, and still no verification code (someone in between who holds the
    # link but cannot complete the exchange, or a page that failed at it): say so in words.
    on_unverified: Callable[[], None] = _ignore
    # The client's confirmed location and emergency number, from the waiting room (untrusted
    # text: display it as plain text).
    on_client_details: Callable[[str, str], None] = _ignore
    # The client switched the call to sound only (False) or back to video (True).
    on_peer_video: Callable[[bool], None] = _ignore
    # A form the client filled in from the waiting room (untrusted: check it against the form
    # sent, ``telehealth.forms.check_reply``, before keeping anything).
    on_form_reply: Callable[[forms.FormReply], None] = _ignore


@dataclass(frozen=True)
class OtherDevice:
    """Another client device of the same session, as this session's client is told of it: the
    name that person typed in their waiting room (empty until they knock) and whether they are
    ``expected``, ``here`` or ``away``."""

    name: str = ""
    state: str = "expected"


def media_sections(sdp: str) -> list[tuple[str, str]]:
    """``(kind, mid)`` of each media section of an SDP, in order."""
    sections: list[tuple[str, str]] = []
    kind: str | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            kind = line[2:].split(" ", 1)[0]
        elif line.startswith("a=mid:") and kind is not None:
            sections.append((kind, line.removeprefix("a=mid:").strip()))
            kind = None
    return sections


class TherapistSession:
    """One invitation's session on the therapist's side. Create, :meth:`start`, then react."""

    def __init__(
        self,
        invite: Invite,
        *,
        callbacks: SessionCallbacks,
        media: MediaFactory = lambda: (),
        ice_servers: Sequence[IceServer] | None = None,
        connect_timeout: float = 30.0,
        reconnect_timeout: float = 60.0,
        stats_interval: float | None = 2.0,
        ssl_context: ssl.SSLContext | None = None,
        random: Callable[[int], bytes] = os.urandom,
        media_timeout: float = 2.5,
        ice_transport_policy: IcePolicy | None = None,
        relay_credential: str | None = None,
        verify_timeout: float = VERIFY_SECONDS,
    ) -> None:
        """``ice_servers=None`` asks the relay for its ICE configuration (with fresh TURN
        credentials), the same one the client's page gets; a list (possibly empty) is used as
        given. ``ssl_context`` verifies an ``https`` relay (default: the system's CAs).

        ``ice_transport_policy`` ``"relay"`` uses TURN-relayed candidates only; ``None`` takes
        the relay's setting along with its ICE servers (``"all"`` when ``ice_servers`` is given).

        ``relay_credential`` is the practice's credential for a hosted relay (``qrc_...``), sent
        as ``Authorization: Bearer`` so that the relay lets this session open its room.

        A call whose network path drops (nothing received for ``media_timeout`` seconds) goes to
        ``reconnecting``: the session reconnects to the relay if needed and sends the client a
        new offer (a new peer connection with the same certificate, so the verification code
        stays valid), again every few seconds, until media flows (``connected``) or
        ``reconnect_timeout`` seconds have passed (``failed``, the client is told).

        A call connected for ``verify_timeout`` seconds without a verification code is reported
        through ``on_unverified`` (the code exchange did not complete: someone may be in between).

        The client's seat: a hello from the same page again (``Hello.device``) while the call is
        being set up re-sends what it may have missed (admit, commit, offer); a hello from another
        page or device is a new knock (``knock_again``: media closed, the therapist decides, and
        a new code is compared). A goodbye from the client (``peer_left``) leaves the session open
        on the relay, so that "Join again" works until the therapist ends the session."""
        self._invite = invite
        self._keys = invite.keys
        self._callbacks = callbacks
        self._media = media
        self._fixed_ice = None if ice_servers is None else list(ice_servers)
        self._policy: IcePolicy = ice_transport_policy or "all"
        self._policy_fixed = ice_transport_policy is not None
        self._connect_timeout = connect_timeout
        self._reconnect_timeout = reconnect_timeout
        self._stats_interval = stats_interval
        self._media_timeout = media_timeout
        self._verify_timeout = verify_timeout
        self._ssl = ssl_context
        self._relay_headers = (
            {"Authorization": f"Bearer {relay_credential}"} if relay_credential else {}
        )
        self._random = random
        self._lifecycle = CallLifecycle()
        self._sealer = Sealer("therapist", self._keys.signalling_key, random=random)
        self._opener = Opener("client", self._keys.signalling_key)
        self._runner = LoopThread("quietroom-session")
        self._loop = self._runner.loop
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._engine: CallEngine | None = None
        self._verifier: Verifier | None = None
        self._answer_applied = False
        self._peer_revealed = False
        self._queue: list[CallEvent] = []
        self._dispatching = False
        self._bye_reason = "hangup"
        self._peer_present = False
        # The client's relay socket has not dropped since the admitted page last said hello:
        # a new offer may go out. When it drops, whoever comes back must say hello first (the
        # same page: offers resume; another page or device: a new knock), so that no offer is
        # ever sent to a device the therapist has not seen.
        self._seat_confirmed = True
        self._restarts: asyncio.Task[None] | None = None
        self._restart_wakeup = asyncio.Event()
        self._relay_retry: asyncio.Task[None] | None = None
        self.restart_count = 0  # new offers sent to get a dropped call back (diagnostics)
        # Whether the relay socket works *now*: a new offer goes out only through a socket that
        # carried a ping and its pong since the media stalled and since the previous new offer
        # (see _restart_loop). Loop times; the probe's payload is a counter.
        self._stalled_at: float | None = None
        self._relay_opened_at = -1e9
        self._relay_proven_at = -1e9
        self._probe: tuple[bytes, float] | None = None
        self._probes = 0
        self._offered_at = -1e9  # when the last new offer went out
        self._unanswered = False  # ...and its answer has not come back
        self._verify_task: asyncio.Task[None] | None = None
        self._client_device: bytes | None = None
        self._commit: protocol.Commit | None = None
        self._offer: str | None = None
        self.client_name: str | None = None
        self.client_location: str | None = None
        self.client_emergency_phone: str | None = None
        self.verification_code: str | None = None
        # Other client devices of a couples session: their media (forwarded by the app, see
        # telehealth.forwarding) goes to this client on tracks of their own, after our own.
        self._forwarded: list[MediaFactory] = []
        self._engine_forwarded = 0  # how many of them the current connection carries
        self._others: tuple[OtherDevice, ...] = ()

    # -- public, thread-safe API ---------------------------------------------------------------

    @property
    def link(self) -> str:
        """The link to give the client."""
        return self._invite.link

    @property
    def state(self) -> CallState:
        return self._lifecycle.state

    def start(self) -> concurrent.futures.Future[None]:
        """Start the session thread and join the relay; the future resolves once connected (or
        raises :class:`CallConnectionError` when the relay cannot be reached)."""
        self._runner.start()
        return self._submit(self._start())

    def admit(self) -> concurrent.futures.Future[None]:
        """Let the waiting client in: media starts and the call connects."""
        return self._submit(self._event(CallEvent.ADMIT_GIVEN))

    def decline(self) -> concurrent.futures.Future[None]:
        """Do not let the waiting client in; the session ends."""
        return self._submit(self._event(CallEvent.DECLINE_GIVEN))

    def hang_up(self) -> concurrent.futures.Future[None]:
        """End the session (tells the client, closes media and the relay socket)."""
        return self._submit(self._event(CallEvent.HANG_UP))

    def set_video(self, on: bool) -> concurrent.futures.Future[None]:
        """Tell the client the call goes to sound only (``False``) or back to video (``True``);
        the caller stops or restarts its own camera (see the call window)."""
        return self._submit(self._send(protocol.MediaMode(video=on)))

    def add_forwarded(self, media: MediaFactory) -> concurrent.futures.Future[None]:
        """Send this client another client device's picture and voice from now on (a video and
        an audio track, after our own; a couples session). A connected call is renegotiated in
        place (nothing drops); a call being set up carries them once it connects; the next
        admission's connection carries them from the start."""
        return self._submit(self._add_forwarded(media))

    def set_others(self, people: Sequence[OtherDevice]) -> concurrent.futures.Future[None]:
        """Who the forwarded tracks carry, in the order they were added (their names and
        whether they are here): the client's page labels each picture with it. Told now, and
        again before every offer."""
        return self._submit(self._set_others(tuple(people)))

    def send_form(self, document: forms.FormDocument) -> concurrent.futures.Future[None]:
        """Send a form for the client to fill in (the waiting room shows it); the answers come
        back through ``on_form_reply``."""
        return self._submit(self._send(protocol.Form(document)))

    def send_chat(self, text: str) -> concurrent.futures.Future[None]:
        """Send a chat message over the call's data channel (never through the relay)."""
        engine = self._engine
        if engine is None:
            raise CallConnectionError("the call has not started yet")
        return engine.send_chat(text)

    def stop(self, timeout: float = 10.0) -> None:
        """Hang up if still in a session, then stop every thread. Safe to call more than once."""
        self._runner.stop(self._shutdown(), timeout)

    # -- thread plumbing -----------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self._runner.submit(coro)

    def _from_engine(self, handler: Callable[..., None], *args: Any) -> None:
        """Hop from the engine thread onto the session loop."""
        with contextlib.suppress(RuntimeError):  # loop already closed: the session is over
            self._loop.call_soon_threadsafe(handler, *args)

    # -- lifecycle -----------------------------------------------------------------------------

    async def _start(self) -> None:
        self._http = aiohttp.ClientSession()
        await self._event(CallEvent.INVITE_CREATED)
        if self._lifecycle.state is CallState.FAILED:
            raise CallConnectionError("the session relay cannot be reached")

    async def _event(self, event: CallEvent) -> None:
        """Apply ``event`` and carry out its effects; events raised meanwhile queue up."""
        self._queue.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._queue:
                current = self._queue.pop(0)
                if not self._lifecycle.can_handle(current):
                    log.debug("ignored %s in state %s", current.value, self.state.value)
                    continue
                effects = self._lifecycle.handle(current)
                self._callbacks.on_state(self._lifecycle.state, current)
                for effect in effects:
                    try:
                        await self._carry_out(effect)
                    except TelehealthError as exc:
                        self._report(exc)
                        self._queue.append(CallEvent.ERROR)
        finally:
            self._dispatching = False

    async def _carry_out(self, effect: Effect) -> None:
        match effect:
            case Effect.CONNECT_RELAY:
                await self._connect_relay()
            case Effect.NOTIFY_CLIENT_WAITING:
                if self.client_name is not None:
                    self._callbacks.on_client_waiting(self.client_name)
            case Effect.SEND_ADMIT:
                await self._send(protocol.Admit())
            case Effect.SEND_DECLINE:
                await self._send(protocol.Decline())
            case Effect.OPEN_MEDIA:
                await self._open_media()
            case Effect.SEND_BYE:
                await self._send(protocol.Bye(reason=self._bye_reason))
            case Effect.CLOSE_MEDIA:
                await self._close_media()
            case Effect.CLOSE_RELAY:
                await self._close_relay()
            case Effect.START_RECONNECT_TIMER:
                self._start_timer(self._reconnect_timeout)
            case Effect.STOP_RECONNECT_TIMER | Effect.STOP_CONNECT_TIMER:
                self._stop_timer()
            case Effect.RESTART_MEDIA:
                self._start_restarts()
            case Effect.START_VERIFY_TIMER:
                self._start_verify_timer()
            case _:
                # START_CONNECT_TIMER: the engine's own connect_timeout reports a failure.
                # SHOW_*: the user interface renders states from on_state.
                pass

    async def _settle(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until no event is being dispatched, so that a hang-up queued behind
        one is carried out (the client gets its goodbye) before the loop stops."""
        deadline = self._loop.time() + timeout
        while self._dispatching and self._loop.time() < deadline:
            await asyncio.sleep(0.01)

    def _report(self, error: TelehealthError) -> None:
        log.info("session error: %s", type(error).__name__)
        self._callbacks.on_error(error)

    def _start_timer(self, seconds: float) -> None:
        self._stop_timer()

        async def expire() -> None:
            await asyncio.sleep(seconds)
            self._bye_reason = "timeout"
            await self._event(CallEvent.TIMED_OUT)

        self._timer = self._loop.create_task(expire())

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer is not asyncio.current_task():
            self._timer.cancel()
        self._timer = None

    async def _shutdown(self) -> None:
        await self._settle()  # an event being carried out (its effects await) finishes first
        if self.state not in TERMINAL_STATES and self.state is not CallState.IDLE:
            await self._event(CallEvent.HANG_UP)
            await self._settle()
        self._stop_timer()
        await self._close_media()
        await self._close_relay()
        if self._http is not None:
            await self._http.close()

    # -- relay ---------------------------------------------------------------------------------

    async def _connect_relay(self) -> None:
        assert self._http is not None
        try:
            self._ws = await self._http.ws_connect(
                self._invite.websocket_url(),
                ssl=self._ssl if self._ssl is not None else True,
                headers=self._relay_headers,
                heartbeat=20.0,
                autoping=False,  # pongs prove the socket alive: _read_relay answers pings
                max_msg_size=128 * 1024,
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise CallConnectionError("the session relay cannot be reached") from exc
        self._relay_opened_at = self._loop.time()
        self._probe = None
        self._unanswered = False  # an offer still in the old socket will never arrive
        self._reader = self._loop.create_task(self._read_relay(self._ws))

    async def _read_relay(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.PING:
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await ws.pong(msg.data)
                continue
            if msg.type is aiohttp.WSMsgType.PONG:
                self._pong(ws, bytes(msg.data))
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            await self._receive(str(msg.data))
        if ws is self._ws:
            self._ws = None
            await self._relay_lost(ws.close_code)

    async def _relay_lost(self, code: int | None) -> None:
        if self.state in TERMINAL_STATES:
            return
        log.info("relay socket closed (code %s)", code)
        refusal = _RELAY_REFUSALS.get(code or 0)
        if refusal is not None:
            # Final: trying again with the same key gets the same answer.
            self._report(RelayRefusedError(refusal))
            await self._event(CallEvent.ERROR)
            return
        if self.state in (CallState.INVITED, CallState.WAITING):
            # Before the call, the relay is all we have: try to get back in.
            for attempt in range(RELAY_RETRIES):
                await asyncio.sleep(min(8.0, 0.5 * 2**attempt))
                with contextlib.suppress(CallConnectionError):
                    await self._connect_relay()
                    return
            self._report(CallConnectionError("lost the connection to the session relay"))
            await self._event(CallEvent.ERROR)
            return
        # During the call media flows directly, but a reconnect (and the goodbye) needs the
        # relay: get back in, quietly, for as long as the call lasts.
        if self._relay_retry is None or self._relay_retry.done():
            self._relay_retry = self._loop.create_task(self._rejoin_relay())

    async def _rejoin_relay(self) -> None:
        attempt = 0
        while self._ws is None and self.state not in TERMINAL_STATES:
            await asyncio.sleep(min(4.0, 0.25 * 2**attempt))
            attempt += 1
            if self.state in TERMINAL_STATES:
                return
            with contextlib.suppress(CallConnectionError):
                await self._connect_relay()
                self._restart_wakeup.set()

    def _pong(self, ws: aiohttp.ClientWebSocketResponse, data: bytes) -> None:
        probe = self._probe
        if ws is not self._ws or probe is None or data != probe[0]:
            return  # a late answer to an older ping, or another socket's
        self._probe = None
        self._relay_proven_at = probe[1]
        self._restart_wakeup.set()

    def _relay_proven_since(self, moment: float) -> bool:
        """The relay socket carried something both ways after ``moment``: opened, or a ping sent
        after it answered."""
        return max(self._relay_opened_at, self._relay_proven_at) >= moment

    async def _probe_relay(self) -> None:
        """Ping the relay (at most one ping a second); its pong wakes the restart loop up. A cut
        link stalls this socket too: TCP then holds what we send and delivers it seconds after
        the network returns, so nothing that matters (a new offer) may wait in it."""
        ws, now = self._ws, self._loop.time()
        if ws is None or ws.closed:
            return
        if self._probe is not None and now - self._probe[1] < RELAY_PROBE_INTERVAL:
            return
        self._probes += 1
        self._probe = (self._probes.to_bytes(8, "big"), now)
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await ws.ping(self._probe[0])

    async def _close_relay(self) -> None:
        retry, self._relay_retry = self._relay_retry, None
        if retry is not None and retry is not asyncio.current_task():
            retry.cancel()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5.0)
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def _send(self, message: protocol.Message) -> None:
        envelope = self._sealer.seal(message)
        ws = self._ws
        if ws is None or ws.closed:
            log.info("could not send %s: not connected to the relay", type(message).__name__)
            return
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await ws.send_str(envelope)

    async def _receive(self, text: str) -> None:
        peers = parse_presence_notice(text)
        if peers is not None:
            self._peer_present = peers >= 2
            if not self._peer_present:
                self._seat_confirmed = False
            if self._peer_present:
                self._restart_wakeup.set()  # a new offer now has someone to reach
            self._callbacks.on_client_present(peers >= 2)
            return
        message: protocol.Message
        try:
            message = self._opener.open(text)
        except ReplayedMessageError:
            knock = self._other_device_hello(text)
            if knock is None:
                log.info("ignored a replayed signalling message")
                return
            message = knock
        except (MessageRejectedError, MessageFormatError) as exc:
            # Forged, replayed or garbled: ignore it; the call carries on.
            log.info("ignored a signalling message: %s", type(exc).__name__)
            return
        try:
            await self._handle(message)
        except (VerificationError, MessageFormatError, CallConnectionError) as exc:
            # FingerprintError is a VerificationError's sibling; both mean an unverifiable call.
            self._report(exc)
            self._bye_reason = "error"
            await self._event(CallEvent.ERROR)
        except TelehealthError as exc:
            self._report(exc)
            await self._event(CallEvent.ERROR)
        except Exception:  # aiortc refusing an authentic but unusable SDP or candidate
            log.exception("could not use the client's connection details")
            self._report(MessageFormatError("the client's connection details cannot be used"))
            self._bye_reason = "error"
            await self._event(CallEvent.ERROR)

    async def _handle(self, message: protocol.Message) -> None:
        match message:
            case protocol.Hello(name=name, device=device):
                await self._hello(name, device)
            case protocol.MediaMode(video=video):
                if self.state in (CallState.CONNECTED, CallState.RECONNECTING):
                    self._callbacks.on_peer_video(video)
            case protocol.Details(location=location, emergency_phone=phone):
                self.client_location, self.client_emergency_phone = location, phone
                self._callbacks.on_client_details(location, phone)
            case protocol.Answer(sdp=sdp):
                await self._apply_answer(sdp)
            case protocol.Ice() as ice:
                if self._engine is not None and self._answer_applied:
                    await asyncio.wrap_future(self._engine.add_remote_candidate(ice))
            case protocol.Reveal() as reveal:
                if self._verifier is None:
                    raise VerificationError("reveal before the call started")
                self._verifier.receive_reveal(reveal)
                self._peer_revealed = True
                await self._maybe_reveal()
            case protocol.FormReply(reply=reply):
                self._callbacks.on_form_reply(reply)
            case protocol.Bye(reason=reason):
                # The client pressed Leave or closed the page: they may come back with the same
                # link. Any other goodbye (an error, a timeout on their side) ends the session.
                left = reason == "hangup"
                await self._event(CallEvent.PEER_LEFT if left else CallEvent.BYE_RECEIVED)
            case _:
                log.info("ignored a %s from the client", type(message).__name__)

    def _other_device_hello(self, text: str) -> protocol.Hello | None:
        """An authentic hello numbered below the floor, from a page or device other than the
        one in the seat: another device numbers from its own clock, which may be behind, and a
        closing page's goodbye was sealed 10^9 ahead (the page has no time to seal as it
        closes), above anything a new page of the same link sends ("Join again"). It is a new
        knock (the therapist decides), and its numbers are heard from now on. Anything else
        below the floor is a replay."""
        try:
            message, seq = self._opener.open_below_floor(text)
        except TelehealthError:
            return None
        if not isinstance(message, protocol.Hello) or message.device == self._client_device:
            return None
        self._opener.reset_floor(seq)
        return message

    async def _hello(self, name: str, device: bytes) -> None:
        state = self.state
        if state in (CallState.INVITED, CallState.WAITING):
            self.client_name, self._client_device = name, device
            self._seat_confirmed = True
            await self._event(CallEvent.HELLO_RECEIVED)
        elif state in (
            CallState.ADMITTED,
            CallState.CONNECTING,
            CallState.CONNECTED,
            CallState.RECONNECTING,
        ):
            if device == self._client_device:
                self._seat_confirmed = True
                await self._resync()
            else:
                log.info("another page or device knocked during the call")
                self.client_name, self._client_device = name, device
                self._seat_confirmed = True
                await self._event(CallEvent.KNOCK_AGAIN)
        else:
            log.info("ignored a hello in state %s", state.value)

    async def _resync(self) -> None:
        """The admitted page said hello again (its socket dropped while we admitted it, or
        before the offer reached it): send again whatever it may have missed."""
        if self.state in (CallState.ADMITTED, CallState.CONNECTING) and not self._answer_applied:
            log.info("the admitted page knocked again: re-sending the admission")
            await self._send(protocol.Admit())
            if self._commit is not None:
                await self._send(self._commit)
            if self._offer is not None:
                await self._send_others()
                await self._send(protocol.Offer(sdp=self._offer))
        else:
            self._unanswered = False  # a new socket: an offer sent to its old one is lost
            self._restart_wakeup.set()  # reconnecting: a new offer now reaches it

    def _start_verify_timer(self) -> None:
        engine = self._engine

        async def deadline() -> None:
            await asyncio.sleep(self._verify_timeout)
            if (
                engine is self._engine
                and self.verification_code is None
                and self.state in (CallState.CONNECTED, CallState.RECONNECTING)
            ):
                log.info("connected without a verification code")
                self._callbacks.on_unverified()

        if self._verify_task is not None:
            self._verify_task.cancel()
        self._verify_task = self._loop.create_task(deadline())

    # -- media and verification ----------------------------------------------------------------

    async def _ice_servers(self) -> list[IceServer]:
        if self._fixed_ice is not None:
            return self._fixed_ice
        assert self._http is not None
        try:
            async with self._http.get(
                self._invite.ice_url(),
                ssl=self._ssl if self._ssl is not None else True,
                headers=self._relay_headers,
            ) as response:
                response.raise_for_status()
                if (response.content_length or 0) > MAX_ICE_JSON_BYTES:
                    raise MessageFormatError("the relay's connection settings are too large")
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            raise CallConnectionError("could not get the connection settings") from exc
        if len(body) > MAX_ICE_JSON_BYTES:
            raise MessageFormatError("the relay's connection settings are too large")
        obj = protocol.parse_json_object(body.decode("utf-8", "replace"), max_chars=len(body))
        servers = obj.get("iceServers")
        if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
            raise MessageFormatError("the relay's connection settings are malformed")
        if not self._policy_fixed:
            self._policy = "relay" if obj.get("iceTransportPolicy") == "relay" else "all"
        return ice_servers_from_json(servers)

    async def _open_media(self) -> None:
        servers = await self._ice_servers()  # also takes the relay's transport policy
        forwarded = list(self._forwarded)
        self._engine_forwarded = len(forwarded)
        own = self._media

        def media() -> list[Any]:
            return [*own(), *(track for extra in forwarded for track in extra())]

        engine = CallEngine(
            "offerer",
            ice_servers=servers,
            callbacks=EngineCallbacks(
                on_state=lambda state: self._from_engine(self._media_state, state),
                on_video=self._callbacks.on_video,
                on_audio=self._callbacks.on_audio,
                on_chat=self._callbacks.on_chat,
                on_chat_open=self._callbacks.on_chat_open,
                on_stats=self._callbacks.on_stats,
                on_error=lambda error: self._from_engine(self._media_failed, error),
                on_link=lambda link: self._from_engine(self._media_link, link),
            ),
            media=media,
            connect_timeout=self._connect_timeout,
            stats_interval=self._stats_interval,
            media_timeout=self._media_timeout,
            ice_transport_policy=self._policy,
        )
        self._engine = engine
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, engine.start)
        self._verifier = Verifier("offerer", self._keys.verification_key, random=self._random)
        self._commit = self._verifier.commit()
        await self._send(self._commit)
        offer = await asyncio.wrap_future(engine.create_offer())
        self._verifier.set_local_sdp(offer)
        self._offer = offer
        await self._send_others()
        await self._send(protocol.Offer(sdp=offer))
        self._queue.append(CallEvent.NEGOTIATION_STARTED)

    async def _apply_answer(self, sdp: str) -> None:
        if self._engine is None or self._verifier is None or self._answer_applied:
            log.info("ignored an unexpected answer")
            return
        self._verifier.set_remote_sdp(sdp)
        await asyncio.wrap_future(self._engine.accept_answer(sdp))
        self._answer_applied = True
        self._unanswered = False
        await self._maybe_reveal()

    async def _maybe_reveal(self) -> None:
        verifier = self._verifier
        if verifier is None or not (self._answer_applied and self._peer_revealed):
            return
        if self.verification_code is None:
            await self._send(verifier.reveal())
            self.verification_code = verifier.code()
            self._callbacks.on_verification_code(self.verification_code)

    def _media_state(self, state: str) -> None:
        if state == "connected":
            self._loop.create_task(self._media_connected())
        elif state in ("disconnected", "failed", "closed"):
            # "closed": the peer connection went away under us (aiortc closes it when DTLS or
            # ICE end for good); without this the call would stay "connected" with no media.
            if self.state is CallState.RECONNECTING:
                self._restart_wakeup.set()  # this attempt is lost: try a new offer
            else:
                self._loop.create_task(self._event(CallEvent.MEDIA_INTERRUPTED))

    async def _media_connected(self) -> None:
        await self._event(CallEvent.MEDIA_CONNECTED)
        await self._sync_forwarded()  # a device added while this call was being set up

    # -- other client devices (a couples session) ----------------------------------------------

    async def _add_forwarded(self, media: MediaFactory) -> None:
        self._forwarded.append(media)
        await self._sync_forwarded()

    async def _set_others(self, people: tuple[OtherDevice, ...]) -> None:
        self._others = people
        if self.state not in TERMINAL_STATES:
            await self._send_others()  # (only once an offer carries them)

    def _others_message(self) -> protocol.Others | None:
        """Which of the current offer's media sections carry whom (the forwarded tracks come
        after our own, so they are the last video and audio sections)."""
        count, offer = self._engine_forwarded, self._offer
        if not count or offer is None:
            return None
        sections = media_sections(offer)
        videos = [mid for kind, mid in sections if kind == "video"][-count:]
        audios = [mid for kind, mid in sections if kind == "audio"][-count:]
        if len(videos) != count or len(audios) != count:
            return None
        people = list(self._others[:count])
        people += [OtherDevice()] * (count - len(people))
        return protocol.Others(
            tuple(
                protocol.OtherPerson(p.name, p.state, video, audio)
                for p, video, audio in zip(people, videos, audios, strict=True)
            )
        )

    async def _send_others(self) -> None:
        message = self._others_message()
        if message is not None:
            await self._send(message)

    async def _sync_forwarded(self) -> None:
        """Give the current connection the forwarded tracks it does not carry yet: a connected
        call gets a new offer of the same connection (the page answers it in place); a call
        that is reconnecting gets them in its next new connection's offer."""
        engine = self._engine
        if engine is None or self._engine_forwarded >= len(self._forwarded):
            return
        connected = self.state is CallState.CONNECTED and self._answer_applied
        if not (connected or self.state is CallState.RECONNECTING):
            return  # being set up: done once it connects
        pending = self._forwarded[self._engine_forwarded :]
        self._engine_forwarded = len(self._forwarded)
        offer = await asyncio.wrap_future(
            engine.extend_media(lambda: [track for media in pending for track in media()])
        )
        if offer is None or engine is not self._engine or self._verifier is None:
            return
        self._verifier.set_local_sdp(offer)  # the same certificate, or VerificationError
        self._answer_applied = False
        self._offer = offer
        await self._send_others()
        await self._send(protocol.Offer(sdp=offer))

    def _media_link(self, link: MediaLink) -> None:
        # A dead link (failed, or closed by the network) never comes back by itself: treat it as
        # a lost connection, which sends a new offer (or wakes the restart loop up).
        if link.state is LinkState.DEAD:
            self._media_state("failed")

    # -- reconnecting --------------------------------------------------------------------------

    def _start_restarts(self) -> None:
        self._stalled_at = self._loop.time()
        if self._restarts is None or self._restarts.done():
            self._restarts = self._loop.create_task(self._restart_loop())

    async def _restart_loop(self) -> None:
        """While ``reconnecting``: a new offer whenever the client can be reached, replaced by
        another when it was answered and has not connected within a few seconds or it failed;
        the reconnect timer (a lifecycle effect) ends the attempts.

        A new offer goes out only through a relay socket known to work now: one that answered a
        ping sent after the media stalled and after the previous new offer (or was opened since).
        A cut link stalls the relay socket as well as the media; offers sent into it used to pile
        up and reach the page seconds after the network returned, when the call had already
        resumed on its old path, and the page then left that path for each of them in turn.
        Now nothing is sent while the socket is stalled, and when the media comes back first
        (the old connection is kept, see :meth:`CallEngine.restart_offer`) nothing needs to be.
        One new offer at a time: while it is unanswered no other follows (the page answers the
        offers it gets in order, and an answer must meet the offer it was made for), unless the
        page cannot have it any more or :data:`RESTART_UNANSWERED_SECONDS` have passed."""
        while self.state is CallState.RECONNECTING:
            self._restart_wakeup.clear()
            wait = 1.0
            now = self._loop.time()
            stalled_at = self._stalled_at if self._stalled_at is not None else now
            if (
                self._ws is None
                or not self._peer_present
                or not self._seat_confirmed
                or self._engine is None
            ):
                pass  # wait for the relay, the page's presence or its hello
            elif self._unanswered and now - self._offered_at < RESTART_UNANSWERED_SECONDS:
                wait = RESTART_UNANSWERED_SECONDS - (now - self._offered_at)
            elif not self._relay_proven_since(max(stalled_at, self._offered_at)):
                await self._probe_relay()  # its pong wakes us up
                wait = RELAY_PROBE_INTERVAL
            else:
                try:
                    await self._renegotiate(self._engine)
                    wait = RESTART_ATTEMPT_SECONDS
                except TelehealthError as exc:
                    self._report(exc)
                    self._bye_reason = "error"
                    await self._event(CallEvent.ERROR)
                    return
                except Exception:  # aiortc could not build the new connection; try again
                    log.exception("could not restart the media connection")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._restart_wakeup.wait(), wait)

    async def _renegotiate(self, engine: CallEngine) -> None:
        verifier = self._verifier
        assert verifier is not None
        self._answer_applied = False
        offer = await asyncio.wrap_future(engine.restart_offer())
        if self.state is not CallState.RECONNECTING or engine is not self._engine:
            return
        verifier.set_local_sdp(offer)  # the same certificate, or VerificationError
        self.restart_count += 1
        log.info("sent a new offer to reconnect (attempt %d)", self.restart_count)
        self._offer = offer
        self._offered_at, self._unanswered = self._loop.time(), True
        await self._send_others()
        await self._send(protocol.Offer(sdp=offer))

    def _media_failed(self, error: TelehealthError) -> None:
        if self.state in TERMINAL_STATES:
            return
        self._report(error)
        self._loop.create_task(self._event(CallEvent.ERROR))

    async def _close_media(self) -> None:
        restarts, self._restarts = self._restarts, None
        if restarts is not None and restarts is not asyncio.current_task():
            restarts.cancel()
        verify, self._verify_task = self._verify_task, None
        if verify is not None and verify is not asyncio.current_task():
            verify.cancel()
        # A later admission (the client came back, or another device) starts a new exchange.
        self._verifier = None
        self._commit = self._offer = None
        self._engine_forwarded = 0
        self._answer_applied = self._peer_revealed = False
        self.verification_code = None
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.get_running_loop().run_in_executor(None, engine.stop)
