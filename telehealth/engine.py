"""The call engine: one aiortc peer connection on its own thread with its own asyncio loop.

The user interface never touches aiortc. It calls the thread-safe methods of :class:`CallEngine`
(each returns a ``concurrent.futures.Future``) and receives frames, audio, chat, state changes,
statistics and errors through :class:`EngineCallbacks`. Callbacks run **on the engine thread**:
the UI must hand them over to its own thread (Qt: queued signals) and return quickly, because
painting must never delay RTP and ICE timers.

Nothing here writes media or chat anywhere; frames and messages exist only in memory on their way
to the callbacks. ICE servers are always explicit: aiortc falls back to a public Google STUN server
when given none, and a therapist's call must not contact third parties by surprise.

Reconnection: aiortc cannot restart ICE on a live peer connection, so a call that lost its network
path is renegotiated with a **new** peer connection (a new offer) that reuses the same DTLS
certificate, so the verification code both people compared stays valid, and the same local tracks
(each peer connection gets a borrowed view of them, which it may stop without stopping the
camera). A watchdog reports ``"disconnected"`` when nothing arrives for ``media_timeout`` seconds
(aiortc itself only notices after about 30 s of failed consent checks), and ``"connected"`` again
when packets flow.

The media link's health is also reported as typed :class:`MediaLink` events (``on_link``), which is
what the session acts on: ``UP`` when media flows, ``STALLED`` when nothing has arrived for
``media_timeout`` seconds, and ``DEAD`` when the peer connection can no longer carry media: it
``failed``, or it ``closed`` without us closing it (aiortc closes a connection by itself when ICE
consent checks fail for about 30 s or the browser ends DTLS). A dead link never comes back by
itself: the session must renegotiate (a new offer) or end the call. Each event names the peer
connection generation it is about, so a late event of a replaced connection can be told apart.

The video sender adapts to the network (:mod:`telehealth.sender_control`): bitrate, picture size
and frame rate follow the browser's feedback, and packets are paced.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, TypeVar

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from telehealth import aiortc_internals as internals
from telehealth.concealment import (
    CONCEALED,
    AudioJitterBuffer,
    ConcealingDecoderQueue,
    ConcealingOpusDecoder,
    OpusUnavailableError,
    offer_inband_fec,
)
from telehealth.congestion import VideoFormat
from telehealth.errors import CallConnectionError, MessageFormatError, TelehealthError
from telehealth.jitter import LossTolerantJitterBuffer, PlayoutDelay, PoliteNackGenerator
from telehealth.loop_thread import LoopThread
from telehealth.protocol import Ice
from telehealth.sender_control import AdaptiveVideoTrack, RembSource, SenderControl

log = logging.getLogger("telehealth.engine")

T = TypeVar("T")
Side = Literal["offerer", "answerer"]
IcePolicy = Literal["all", "relay"]
CHAT_LABEL: Final = "chat"
MAX_CHAT_CHARS: Final = 4000
_AIORTC_CERTIFICATES: Final = "_RTCPeerConnection__certificates"  # see CallEngine._new_pc


@dataclass(frozen=True)
class IceServer:
    """One entry of ``iceServers`` (as served by the relay's ``/ice/<room>``)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)


def ice_ufrag(sdp: str) -> str | None:
    """The first ``a=ice-ufrag`` of an SDP: an offer with the same one as before renegotiates
    the live connection; a new one comes from a new connection (RFC 8839: a restart)."""
    for line in sdp.splitlines():
        if line.startswith("a=ice-ufrag:"):
            return line.removeprefix("a=ice-ufrag:").strip()
    return None


def ice_servers_from_json(servers: Sequence[dict[str, Any]]) -> list[IceServer]:
    """Convert the relay's ``iceServers`` JSON into :class:`IceServer` values."""
    result = []
    for entry in servers:
        urls = entry.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise MessageFormatError("iceServers entries need 'urls'")
        username, credential = entry.get("username"), entry.get("credential")
        if not (username is None or isinstance(username, str)) or not (
            credential is None or isinstance(credential, str)
        ):
            raise MessageFormatError("iceServers username and credential must be strings")
        result.append(IceServer(tuple(urls), username, credential))
    return result


@dataclass(frozen=True)
class RgbFrame:
    """One decoded video frame, packed RGB24 rows (``stride`` bytes per row)."""

    width: int
    height: int
    stride: int
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class PcmChunk:
    """Decoded audio: signed 16-bit interleaved samples. ``concealed``: how many of its samples
    (per channel) stand in for lost packets (libopus's concealment), not heard from the client."""

    sample_rate: int
    channels: int
    data: bytes = field(repr=False)
    concealed: int = 0


class LinkState(Enum):
    """The media link's health, as the session needs it."""

    UP = "up"  # media (or its RTCP feedback) arrives
    STALLED = "stalled"  # connected, but nothing arrived for media_timeout seconds
    DEAD = "dead"  # failed or closed: only a new connection (a new offer) brings media back


class LinkCause(Enum):
    FLOWING = "flowing"
    SILENT = "silent"  # nothing received
    FAILED = "failed"  # ICE or DTLS failed (RTCPeerConnection.connectionState "failed")
    CLOSED = "closed"  # closed without us closing it (consent expired, the browser ended DTLS)


@dataclass(frozen=True)
class MediaLink:
    """One change of the media link's health (``EngineCallbacks.on_link``)."""

    state: LinkState
    cause: LinkCause
    generation: int  # which peer connection (1 = the first; each reconnect adds one)


def _ignore(*_args: Any) -> None:
    return None


@dataclass(frozen=True)
class EngineCallbacks:
    """What the engine reports. Every callback runs on the engine thread."""

    on_state: Callable[[str], None] = _ignore  # RTCPeerConnection.connectionState values
    on_video: Callable[[RgbFrame], None] = _ignore
    on_audio: Callable[[PcmChunk], None] = _ignore
    on_chat: Callable[[str], None] = _ignore
    on_chat_open: Callable[[], None] = _ignore
    on_stats: Callable[[dict[str, float]], None] = _ignore
    on_error: Callable[[TelehealthError], None] = _ignore
    on_link: Callable[[MediaLink], None] = _ignore


MediaFactory = Callable[[], Sequence[MediaStreamTrack]]


class _BorrowedTrack(MediaStreamTrack):
    """A view of a local source track for one peer connection.

    aiortc stops a sender's track when its peer connection closes; a reconnect replaces the peer
    connection, and must not stop the camera with it. Only one peer connection is alive at a
    time, so the view simply forwards ``recv`` to the source.
    """

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source

    async def recv(self) -> Any:
        return await self._source.recv()


class CallEngine:
    """One call's peer connection, driven from any thread."""

    def __init__(
        self,
        side: Side,
        *,
        ice_servers: Sequence[IceServer],
        callbacks: EngineCallbacks,
        media: MediaFactory = lambda: (),
        connect_timeout: float = 30.0,
        stats_interval: float | None = None,
        media_timeout: float = 2.5,
        ice_transport_policy: IcePolicy = "all",
    ) -> None:
        """``ice_transport_policy="relay"`` gathers relayed (TURN) candidates only, like the
        browser's ``iceTransportPolicy: "relay"``: the peer never learns our addresses."""
        if side not in ("offerer", "answerer"):
            raise ValueError("side must be 'offerer' or 'answerer'")
        if ice_transport_policy not in ("all", "relay"):
            raise ValueError("ice_transport_policy must be 'all' or 'relay'")
        self._policy = (
            RTCIceTransportPolicy.RELAY
            if ice_transport_policy == "relay"
            else RTCIceTransportPolicy.ALL
        )
        self._side: Side = side
        self._ice_servers = list(ice_servers)  # explicit, possibly empty: never aiortc's default
        self._callbacks = callbacks
        self._media = media
        self._connect_timeout = connect_timeout
        self._stats_interval = stats_interval
        self._media_timeout = media_timeout
        self._runner = LoopThread("quietroom-call")
        self._loop = self._runner.loop
        self._pc: RTCPeerConnection | None = None
        self._chat: RTCDataChannel | None = None
        self._sources: list[MediaStreamTrack] = []
        self._certificates: list[Any] | None = None
        self._generation = 0
        self._ever_connected = False
        self._remote_tracks = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed = False
        self._control: SenderControl | None = None
        self._control_task: asyncio.Task[None] | None = None
        self._audio_decoders: list[ConcealingOpusDecoder] = []
        self._link: tuple[int, LinkState] | None = None
        self._closing = False
        self._carried_media: set[int] = set()
        # (connection, generation, its chat channel) kept while a restart negotiates
        self._fallback: tuple[RTCPeerConnection, int, RTCDataChannel | None] | None = None

    # -- thread plumbing -----------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self._runner.submit(coro)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        # The coroutine itself is the task: one cancelled before it starts is closed by asyncio
        # (a wrapper cancelled first left it never awaited, with a RuntimeWarning).
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Start the engine thread and create the peer connection and local media."""
        self._runner.start()
        self._submit(self._setup()).result(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the peer connection and stop the thread. Safe to call more than once."""
        self._runner.stop(self._close(), timeout)

    # -- public, thread-safe API ---------------------------------------------------------------

    def create_offer(self) -> concurrent.futures.Future[str]:
        """Offerer: the SDP offer (with all ICE candidates gathered) to seal and send."""
        return self._submit(self._create_offer())

    def restart_offer(self) -> concurrent.futures.Future[str]:
        """Offerer, after the network path was lost: replace the peer connection (same
        certificate, same local tracks) and return its new offer. The answer comes back through
        :meth:`accept_answer` as usual."""
        if self._side != "offerer":
            raise RuntimeError("only the offerer restarts the connection")
        return self._submit(self._restart_offer())

    def accept_offer(self, sdp: str) -> concurrent.futures.Future[str]:
        """Answerer: apply the remote offer; returns the SDP answer to send. A later offer with
        new ICE credentials (the offerer reconnecting on a new connection) replaces the peer
        connection, keeping certificate and tracks; one with the same credentials renegotiates
        the live connection in place (the offerer added tracks: see :meth:`extend_media`)."""
        return self._submit(self._accept_offer(sdp))

    def extend_media(self, media: MediaFactory) -> concurrent.futures.Future[str | None]:
        """Offerer: send more tracks from now on (another client device's picture and voice in
        a couples session). Returns a new offer of the live connection that carries them (an
        in-place renegotiation: same ICE and DTLS, nothing drops), or ``None`` when there is no
        connected, settled connection to renegotiate; the next offer (a reconnect) then carries
        them."""
        if self._side != "offerer":
            raise RuntimeError("only the offerer adds media")
        return self._submit(self._extend_media(media))

    def accept_answer(self, sdp: str) -> concurrent.futures.Future[None]:
        """Offerer: apply the remote answer."""
        return self._submit(self._accept_answer(sdp))

    def add_remote_candidate(self, ice: Ice) -> concurrent.futures.Future[None]:
        """A candidate the browser trickled; an empty candidate (end of candidates) is ignored."""
        return self._submit(self._add_candidate(ice))

    def send_chat(self, text: str) -> concurrent.futures.Future[None]:
        """Send one chat message over the data channel (end to end, never via the relay)."""
        if not isinstance(text, str) or not 0 < len(text) <= MAX_CHAT_CHARS:
            raise MessageFormatError(f"a chat message is 1..{MAX_CHAT_CHARS} characters")
        return self._submit(self._send_chat(text))

    def local_sdp(self) -> concurrent.futures.Future[str | None]:
        return self._submit(self._description(local=True))

    def remote_sdp(self) -> concurrent.futures.Future[str | None]:
        return self._submit(self._description(local=False))

    # -- engine thread -------------------------------------------------------------------------

    async def _setup(self) -> None:
        self._sources = list(self._media())
        self._new_pc()

    def _new_pc(self) -> RTCPeerConnection:
        """A fresh peer connection (generation ``n``); callbacks of older ones are ignored."""
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self._ice_servers
        ]
        # One transport for every media section from the start (max-bundle, as browsers do).
        # aiortc's default ("balanced") gives a second track of one kind, made before the first
        # negotiation, the first one's *own* transport, which the negotiated bundle then
        # replaces for the first track only: the second never sends or receives (a couples
        # session's second voice). One transport also gathers fewer candidates.
        pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=servers,
                iceTransportPolicy=self._policy,
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
        )
        self._generation += 1
        generation = self._generation
        # Keep one DTLS certificate for the whole call: the verification code covers it.
        # aiortc has no public option for this; its constructor stores the list here.
        if self._certificates is None:
            self._certificates = list(getattr(pc, _AIORTC_CERTIFICATES))
        else:
            setattr(pc, _AIORTC_CERTIFICATES, list(self._certificates))
        self._pc = pc
        self._chat = None

        def current() -> bool:
            return generation == self._generation and not self._failed

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if not current():
                return
            state = pc.connectionState
            if state == "connected":
                first = not self._ever_connected
                self._ever_connected = True
                self._carried_media.add(generation)
                if self._fallback is not None:
                    self._spawn(self._drop_fallback())
                self._spawn(self._watch_media(pc, generation))
                if not first:
                    log.info("media connection restored")
                self._report_link(generation, LinkState.UP, LinkCause.FLOWING)
            self._callbacks.on_state(state)
            if state == "failed" and not self._ever_connected:
                self._fail("the media connection failed")
            elif state in ("failed", "closed") and self._ever_connected:
                # Our own close() and replacements bump the generation first, so this is the
                # network's doing: the link is gone for good.
                cause = LinkCause.FAILED if state == "failed" else LinkCause.CLOSED
                log.info("media connection %s", state)
                self._report_link(generation, LinkState.DEAD, cause)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            for transceiver in pc.getTransceivers():
                if transceiver.receiver.track is track:
                    if track.kind != "audio" or not self._conceal_audio(transceiver.receiver):
                        internals.replace_jitter_buffer(
                            transceiver.receiver, LossTolerantJitterBuffer
                        )
                    internals.replace_nack_generator(transceiver.receiver, PoliteNackGenerator())
                    if self._control is not None and current():
                        internals.replace_remote_estimator(
                            transceiver.receiver, RembSource(self._control.incoming)
                        )
            self._remote_tracks += 1
            self._spawn(self._consume(track))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHAT_LABEL and self._chat is None and current():
                self._attach_chat(channel)

        self._stop_control()
        video: AdaptiveVideoTrack | None = None
        video_sender: Any = None
        for track in self._sources:
            if track.kind == "video" and video is None:
                video = AdaptiveVideoTrack(track, self._video_format)
                video_sender = pc.addTrack(video)
            else:
                pc.addTrack(_BorrowedTrack(track))
        if video_sender is not None:
            previous = self._control.target if self._control is not None else None
            control = SenderControl(video_sender, video)
            if previous is not None:  # a reconnect: start no higher than where we were
                control = SenderControl(video_sender, video, start=min(previous, control.target))
            self._control = control
            self._control_task = self._loop.create_task(control.run())
        if self._side == "offerer":
            self._attach_chat(pc.createDataChannel(CHAT_LABEL, ordered=True))
        if self._stats_interval is not None and generation == 1:
            self._spawn(self._stats_loop(self._stats_interval))
        return pc

    def _conceal_audio(self, receiver: Any) -> bool:
        """Decode this audio receiver's Opus with concealment and FEC (telehealth.concealment);
        False leaves aiortc's decoding (libopus missing, or aiortc changed)."""
        target = internals.receiver_track_queue(receiver)
        if target is None:
            return False
        try:
            decoder = ConcealingOpusDecoder()
        except OpusUnavailableError as exc:
            log.warning("lost audio packets will not be concealed: %s", exc)
            return False
        loop = self._loop

        def deliver(frame: av.AudioFrame) -> None:  # on aiortc's decoder thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the call is over
                loop.call_soon_threadsafe(target.put_nowait, frame)

        if not internals.replace_decoder_queue(receiver, ConcealingDecoderQueue(deliver, decoder)):
            return False
        internals.replace_jitter_buffer(receiver, AudioJitterBuffer)
        self._audio_decoders.append(decoder)
        return True

    def _video_format(self, width: int, height: int) -> VideoFormat:
        control = self._control
        if control is None:
            return VideoFormat(width, height, 30)
        return control.video_format(width, height)

    def _stop_control(self) -> None:
        task, self._control_task = self._control_task, None
        if task is not None:
            task.cancel()

    def _report_link(self, generation: int, state: LinkState, cause: LinkCause) -> None:
        """Report a change of the link's health once (not the same state twice in a row)."""
        if self._link == (generation, state) or self._failed or self._closing:
            return
        if (
            self._link is not None
            and self._link[0] == generation
            and (self._link[1] is LinkState.DEAD)
        ):
            return  # dead is final for a connection
        self._link = (generation, state)
        self._callbacks.on_link(MediaLink(state, cause, generation))

    async def _replace_pc(self, *, keep_old: bool = False) -> RTCPeerConnection:
        """A new peer connection in place of the current one. With ``keep_old`` (the offerer's
        restart), a current connection that carried media stays open as the *fallback* until the
        new one connects: when the network comes back before the new offer has reached the
        browser (a cut link delays the relay's socket too), media resumes on the old path at
        once instead of waiting for the renegotiation."""
        old = self._pc
        old_generation = self._generation
        self._generation += 1  # silence the old connection's callbacks at once
        if old is not None:
            alive = old.connectionState not in ("failed", "closed")
            if keep_old and alive and old_generation in self._carried_media:
                await self._drop_fallback()
                self._fallback = (old, old_generation, self._chat)
                self._spawn(self._watch_fallback(old, old_generation))
            else:
                await self._close_quietly(old)
        return self._new_pc()

    async def _close_quietly(self, pc: RTCPeerConnection) -> None:
        try:
            await asyncio.wait_for(pc.close(), 5.0)
        except Exception:  # a half-dead connection must not stop the reconnect
            log.info("closing an old peer connection did not finish cleanly")

    async def _drop_fallback(self) -> None:
        fallback, self._fallback = self._fallback, None
        if fallback is not None:
            await self._close_quietly(fallback[0])

    async def _watch_fallback(self, pc: RTCPeerConnection, generation: int) -> None:
        """Media arriving again on the kept connection: report the link up (the session returns
        to "connected"); silent again: report it stalled."""
        last = await self._packets_received(pc)
        flowing = False
        last_change = self._loop.time()
        while self._fallback is not None and self._fallback[0] is pc and not self._failed:
            await asyncio.sleep(0.1)
            if pc.connectionState in ("failed", "closed"):
                if self._fallback is not None and self._fallback[0] is pc:
                    self._fallback = None
                    if flowing and self._generation not in self._carried_media:
                        # It was carrying the call (the browser moved to a late offer, or the
                        # path died): whatever the session thought, the link is gone now.
                        self._callbacks.on_state("failed")
                        self._report_link(generation, LinkState.DEAD, LinkCause.CLOSED)
                return
            count = await self._packets_received(pc)
            now = self._loop.time()
            if count != last:
                last, last_change = count, now
                if not flowing:
                    flowing = True
                    log.info("media is back on the previous connection")
                    self._callbacks.on_state("connected")
                    self._report_link(generation, LinkState.UP, LinkCause.FLOWING)
            elif flowing and now - last_change >= self._media_timeout:
                flowing = False
                self._callbacks.on_state("disconnected")
                self._report_link(generation, LinkState.STALLED, LinkCause.SILENT)

    @staticmethod
    async def _packets_received(pc: RTCPeerConnection) -> int:
        count = 0
        for stats in (await pc.getStats()).values():
            if getattr(stats, "type", None) == "transport":
                count += int(getattr(stats, "packetsReceived", 0))
        return count

    def _attach_chat(self, channel: RTCDataChannel) -> None:
        self._chat = channel

        @channel.on("open")
        def on_open() -> None:
            if self._chat is channel:
                self._callbacks.on_chat_open()

        @channel.on("message")
        def on_message(message: object) -> None:
            if isinstance(message, str) and 0 < len(message) <= MAX_CHAT_CHARS:
                self._callbacks.on_chat(message)

        if channel.readyState == "open":
            self._callbacks.on_chat_open()

    def _require_pc(self) -> RTCPeerConnection:
        if self._pc is None:
            raise RuntimeError("engine not started")
        return self._pc

    async def _create_offer(self) -> str:
        pc = self._require_pc()
        await pc.setLocalDescription(await pc.createOffer())
        self._spawn(self._watch_connect(pc))
        return offer_inband_fec(str(pc.localDescription.sdp))

    async def _restart_offer(self) -> str:
        pc = await self._replace_pc(keep_old=True)
        await pc.setLocalDescription(await pc.createOffer())
        return offer_inband_fec(str(pc.localDescription.sdp))

    async def _extend_media(self, media: MediaFactory) -> str | None:
        tracks = list(media())
        self._sources.extend(tracks)
        pc = self._pc
        if (
            pc is None
            or self._fallback is not None
            or pc.remoteDescription is None
            or pc.signalingState != "stable"
            or pc.connectionState != "connected"
        ):
            return None
        for track in tracks:
            pc.addTrack(_BorrowedTrack(track))
        await pc.setLocalDescription(await pc.createOffer())
        return offer_inband_fec(str(pc.localDescription.sdp))

    async def _accept_offer(self, sdp: str) -> str:
        pc = self._require_pc()
        current = pc.remoteDescription
        if current is not None and (
            ice_ufrag(current.sdp) != ice_ufrag(sdp) or pc.connectionState in ("failed", "closed")
        ):  # the offerer reconnects with a new connection
            pc = await self._replace_pc()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._watch_connect(pc))
        return offer_inband_fec(str(pc.localDescription.sdp))

    async def _accept_answer(self, sdp: str) -> None:
        pc = self._require_pc()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _add_candidate(self, ice: Ice) -> None:
        if not ice.candidate:
            return
        text = ice.candidate.removeprefix("candidate:")
        try:
            candidate = candidate_from_sdp(text)
        except (ValueError, IndexError):
            raise MessageFormatError("the ICE candidate is malformed") from None
        candidate.sdpMid = ice.sdp_mid
        candidate.sdpMLineIndex = ice.sdp_mline_index
        await self._require_pc().addIceCandidate(candidate)

    async def _send_chat(self, text: str) -> None:
        channel = self._chat
        if (channel is None or channel.readyState != "open") and self._fallback is not None:
            channel = self._fallback[2]  # still on the previous connection
        if channel is None or channel.readyState != "open":
            raise CallConnectionError("the chat channel is not open yet")
        channel.send(text)

    async def _description(self, *, local: bool) -> str | None:
        pc = self._require_pc()
        description = pc.localDescription if local else pc.remoteDescription
        return None if description is None else str(description.sdp)

    async def _watch_connect(self, pc: RTCPeerConnection) -> None:
        # Only the first connection has a deadline here; while reconnecting, the session's
        # reconnect timer decides when to give up.
        await asyncio.sleep(self._connect_timeout)
        if pc is self._pc and not self._ever_connected and pc.connectionState != "connected":
            self._fail("the media connection did not come up in time")

    async def _watch_media(self, pc: RTCPeerConnection, generation: int) -> None:
        """Report ``disconnected`` when nothing arrives for ``media_timeout`` seconds, and
        ``connected`` when it flows again. Media (or its RTCP feedback) arrives several times a
        second in any call with a track; a call with no track at all is not watched."""
        if not self._sources and not self._remote_tracks:
            return
        last_count = -1
        last_change = self._loop.time()
        silent = False
        step = min(0.5, self._media_timeout / 4)
        while generation == self._generation and not self._failed:
            await asyncio.sleep(step)
            if generation != self._generation or pc.connectionState != "connected":
                return
            count = await self._packets_received(pc)
            now = self._loop.time()
            if count != last_count:
                last_count, last_change = count, now
                if silent:
                    silent = False
                    self._callbacks.on_state("connected")
                    self._report_link(generation, LinkState.UP, LinkCause.FLOWING)
            elif not silent and now - last_change >= self._media_timeout:
                silent = True
                log.info("no media for %.1f s", now - last_change)
                self._callbacks.on_state("disconnected")
                self._report_link(generation, LinkState.STALLED, LinkCause.SILENT)

    def _fail(self, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        log.info("call failed: %s", reason)
        self._callbacks.on_error(CallConnectionError(reason))

    async def _consume(self, track: MediaStreamTrack) -> None:
        kind = track.kind
        resampler: av.AudioResampler | None = None
        playout = PlayoutDelay(clock=self._loop.time) if kind == "video" else None
        while True:
            try:
                frame = await track.recv()
            except Exception:  # MediaStreamError when the track ends; nothing else to do
                return
            if (
                playout is not None
                and isinstance(frame, av.VideoFrame)
                and frame.pts is not None
                and frame.time_base is not None
            ):
                wait = playout.due(float(frame.pts * frame.time_base)) - self._loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            try:
                resampler = self._deliver(kind, frame, resampler)
            except Exception:  # a failing UI callback must not stop the media
                log.exception("a media callback failed")

    def _deliver(
        self, kind: str, frame: object, resampler: av.AudioResampler | None
    ) -> av.AudioResampler | None:
        if kind == "video" and isinstance(frame, av.VideoFrame):
            rgb = frame.reformat(format="rgb24")
            plane = rgb.planes[0]
            self._callbacks.on_video(
                RgbFrame(rgb.width, rgb.height, int(plane.line_size), bytes(plane))
            )
        elif kind == "audio" and isinstance(frame, av.AudioFrame):
            if frame.format.name == "s16":  # what aiortc's decoders produce today
                self._emit_audio(frame)
            else:
                if resampler is None:
                    resampler = av.AudioResampler(format="s16", layout=frame.layout.name)
                for converted in resampler.resample(frame):
                    self._emit_audio(converted)
        return resampler

    def _emit_audio(self, frame: av.AudioFrame) -> None:
        channels = len(frame.layout.channels)
        data = bytes(frame.planes[0])[: frame.samples * channels * 2]
        concealed = frame.samples if frame.opaque == CONCEALED else 0
        self._callbacks.on_audio(PcmChunk(int(frame.sample_rate), channels, data, concealed))

    async def _stats_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            pc = self._pc
            if pc is None:
                return
            summary: dict[str, float] = {}
            report = await pc.getStats()
            for stats in report.values():
                for name in (
                    "packetsReceived",
                    "packetsSent",
                    "bytesReceived",
                    "bytesSent",
                    "packetsLost",
                    "jitter",
                    "roundTripTime",
                ):
                    value = getattr(stats, name, None)
                    if isinstance(value, int | float):
                        key = f"{stats.type}.{getattr(stats, 'kind', '')}.{name}"
                        summary[key] = summary.get(key, 0.0) + float(value)
            for key, attribute in (
                ("inbound-rtp.audio.concealedSamples", "concealed_samples"),
                ("inbound-rtp.audio.fecSamples", "recovered_samples"),
            ):
                if self._audio_decoders:
                    summary[key] = float(sum(getattr(d, attribute) for d in self._audio_decoders))
            if self._control is not None:
                for name, value in self._control.stats().items():
                    summary[f"sender.video.{name}"] = value
            self._callbacks.on_stats(summary)

    async def _close(self) -> None:
        self._closing = True  # our own close is not the network's doing: no DEAD report
        self._stop_control()
        await self._drop_fallback()
        for task in list(self._tasks):
            task.cancel()
        if self._pc is not None:
            await self._pc.close()
        self._generation += 1
        for source in self._sources:
            source.stop()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
