"""The call engine: one aiortc peer connection on its own thread with its own asyncio loop.

The user interface never touches aiortc. It calls the thread-safe methods of :class:`CallEngine`
(each returns a ``concurrent.futures.Future``) and receives frames, audio, chat, state changes,
statistics and errors through :class:`EngineCallbacks`. Callbacks run **on the engine thread**:
the UI must hand them over to its own thread (Qt: queued signals) and return quickly, because
painting must never delay RTP and ICE timers.

Nothing here writes media or chat anywhere; frames and messages exist only in memory on their way
to the callbacks. ICE servers are always explicit: aiortc falls back to a public Google STUN server
when given none, and a therapist's call must not contact third parties by surprise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from telehealth.errors import CallConnectionError, MessageFormatError, TelehealthError
from telehealth.protocol import Ice

log = logging.getLogger("telehealth.engine")

T = TypeVar("T")
Side = Literal["offerer", "answerer"]
CHAT_LABEL: Final = "chat"
MAX_CHAT_CHARS: Final = 4000


@dataclass(frozen=True)
class IceServer:
    """One entry of ``iceServers`` (as served by the relay's ``/ice/<room>``)."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = field(default=None, repr=False)


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
    """Decoded audio: signed 16-bit interleaved samples."""

    sample_rate: int
    channels: int
    data: bytes = field(repr=False)


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


MediaFactory = Callable[[], Sequence[MediaStreamTrack]]


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
    ) -> None:
        if side not in ("offerer", "answerer"):
            raise ValueError("side must be 'offerer' or 'answerer'")
        self._side: Side = side
        self._ice_servers = list(ice_servers)  # explicit, possibly empty: never aiortc's default
        self._callbacks = callbacks
        self._media = media
        self._connect_timeout = connect_timeout
        self._stats_interval = stats_interval
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="quietroom-call", daemon=True)
        self._pc: RTCPeerConnection | None = None
        self._chat: RTCDataChannel | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed = False
        self._started = False

    # -- thread plumbing -----------------------------------------------------------------------

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if not self._started:
            coro.close()
            raise RuntimeError("start() the engine first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def wrapped() -> None:
            await coro

        task = self._loop.create_task(wrapped())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Start the engine thread and create the peer connection and local media."""
        if self._started:
            raise RuntimeError("already started")
        self._started = True
        self._thread.start()
        self._submit(self._setup()).result(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the peer connection and stop the thread. Safe to call more than once."""
        if not self._started or not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._submit(self._close()).result(timeout=timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    # -- public, thread-safe API ---------------------------------------------------------------

    def create_offer(self) -> concurrent.futures.Future[str]:
        """Offerer: the SDP offer (with all ICE candidates gathered) to seal and send."""
        return self._submit(self._create_offer())

    def accept_offer(self, sdp: str) -> concurrent.futures.Future[str]:
        """Answerer: apply the remote offer; returns the SDP answer to send."""
        return self._submit(self._accept_offer(sdp))

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
        servers = [
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in self._ice_servers
        ]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=servers))
        self._pc = pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            self._callbacks.on_state(state)
            if state == "failed":
                self._fail("the media connection failed")

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(track))

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if channel.label == CHAT_LABEL and self._chat is None:
                self._attach_chat(channel)

        for track in self._media():
            pc.addTrack(track)
        if self._side == "offerer":
            self._attach_chat(pc.createDataChannel(CHAT_LABEL, ordered=True))
        if self._stats_interval is not None:
            self._spawn(self._stats_loop(self._stats_interval))

    def _attach_chat(self, channel: RTCDataChannel) -> None:
        self._chat = channel

        @channel.on("open")
        def on_open() -> None:
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
        self._spawn(self._watch_connect())
        return str(pc.localDescription.sdp)

    async def _accept_offer(self, sdp: str) -> str:
        pc = self._require_pc()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._watch_connect())
        return str(pc.localDescription.sdp)

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
        if self._chat is None or self._chat.readyState != "open":
            raise CallConnectionError("the chat channel is not open yet")
        self._chat.send(text)

    async def _description(self, *, local: bool) -> str | None:
        pc = self._require_pc()
        description = pc.localDescription if local else pc.remoteDescription
        return None if description is None else str(description.sdp)

    async def _watch_connect(self) -> None:
        await asyncio.sleep(self._connect_timeout)
        if self._pc is not None and self._pc.connectionState != "connected":
            self._fail("the media connection did not come up in time")

    def _fail(self, reason: str) -> None:
        if self._failed:
            return
        self._failed = True
        log.info("call failed: %s", reason)
        self._callbacks.on_error(CallConnectionError(reason))

    async def _consume(self, track: MediaStreamTrack) -> None:
        kind = track.kind
        resampler: av.AudioResampler | None = None
        while True:
            try:
                frame = await track.recv()
            except Exception:  # MediaStreamError when the track ends; nothing else to do
                return
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
        self._callbacks.on_audio(PcmChunk(int(frame.sample_rate), channels, data))

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
            self._callbacks.on_stats(summary)

    async def _close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._pc is not None:
            await self._pc.close()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
