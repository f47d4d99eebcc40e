"""The therapist's video sender on a real network: rate, size, frame rate, pacing, keyframes.

One :class:`SenderControl` per peer connection, for its video sender. It

* reads the RTCP feedback the browser sends about our video (receiver reports, REMB) and feeds
  :class:`telehealth.congestion.RateController`; aiortc's own REMB handling, which would set the
  encoder's bitrate behind our back, is kept out;
* sets the encoder's bitrate, and through :class:`AdaptiveVideoTrack` the picture size and frame
  rate (:class:`telehealth.congestion.VideoLadder`), a few times a second, changing them rarely
  because each change costs a keyframe;
* **paces** the video packets at 1.5 times the target rate instead of sending each frame as one
  burst: a keyframe sent at once overflows a short router queue, is lost, is asked for again, and
  the call never recovers (what happened on a 1 Mbit/s link with a 150 ms queue). Audio and RTCP
  are never held back;
* lets aiortc answer keyframe requests (PLI, FIR) with the next frame, at most one keyframe per
  :data:`KEYFRAME_INTERVAL` (a burst of requests after a loss burst would otherwise send a burst
  of keyframes into the same congested queue), and retransmission requests (NACK, answered on
  the RTX stream when the browser negotiated it), at most once per packet per round trip and
  within :data:`RTX_SHARE` of the rate, from a task of their own so that the receiving side is
  never held up.

Everything private to aiortc goes through :mod:`telehealth.aiortc_internals`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

import av
from aiortc import MediaStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from telehealth import aiortc_internals as internals
from telehealth.congestion import (
    START_BPS,
    IncomingRate,
    LossCounter,
    RateController,
    ReceiverReport,
    VideoFormat,
    VideoLadder,
    rtt_from_report,
)

log = logging.getLogger("telehealth.sender_control")

TICK: Final = 0.25  # seconds between control steps
PACING_FACTOR: Final = 1.5  # a keyframe spreads over a few frame intervals instead of a burst
PACING_FLOOR_BPS: Final = 200_000
KEYFRAME_INTERVAL: Final = 0.3  # seconds: at most one keyframe per this, however many are asked
# for (libwebrtc's minimum keyframe interval); each one is many packets on a congested link
MAX_PACER_DELAY: Final = 0.5  # seconds; beyond this the pacer sends anyway (a stale frame is
# worse than a short burst) and the encoder is slowed by the awaiting sender
DECREASE_STEP: Final = 0.9  # apply a lower bitrate when below 90 % of the applied one
INCREASE_STEP: Final = 1.25  # and a higher one only past 125 %, at most every few seconds
INCREASE_EVERY: Final = 3.0
USAGE_EVERY: Final = 2.0  # seconds between checks of the encoder's CPU use
RTX_SHARE: Final = 0.3  # of the target rate, at most, for retransmissions
RTX_PACKET_BYTES: Final = 1200


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def ntp_now() -> int:
    """Current NTP time (64-bit fixed point), as RTCP uses it."""
    now = time.time() + 2_208_988_800
    return int(now * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


async def _quietly(work: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):  # the connection closing under a retransmission
        await work


class AdaptiveVideoTrack(MediaStreamTrack):
    """A view of the local video source that drops frames down to the chosen frame rate and
    scales them down to the chosen size. Like the engine's borrowed views, it never stops the
    source (a reconnect gives the new peer connection a new view)."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack, fmt: Callable[[int, int], VideoFormat]) -> None:
        super().__init__()
        self._source = source
        self._format = fmt
        self._credit = 1.0
        self._last: float | None = None
        self.sent = 0
        self.dropped = 0
        self.size = (0, 0)

    async def recv(self) -> Any:
        while True:
            frame = await self._source.recv()
            if not isinstance(frame, av.VideoFrame):
                return frame
            target = self._format(frame.width, frame.height)
            now = time.monotonic()
            if self._last is not None:
                self._credit = min(1.5, self._credit + (now - self._last) * target.fps)
            self._last = now
            if self._credit < 0.95:
                self.dropped += 1
                continue
            self._credit -= 1.0
            self.sent += 1
            if (target.width, target.height) != (frame.width, frame.height):
                scaled = frame.reformat(width=target.width, height=target.height, format="yuv420p")
                scaled.pts, scaled.time_base = frame.pts, frame.time_base
                frame = scaled
            self.size = (frame.width, frame.height)
            return frame


class Pacer:
    """Spreads the video packets of one peer connection over time (a leaky bucket)."""

    def __init__(self, rate: Callable[[], float]) -> None:
        self._rate = rate
        self._next = 0.0
        self.video_ssrcs: set[int] = set()
        self.delayed = 0.0  # total seconds packets waited (statistics)

    def wrap(self, original: internals.RtpSend) -> internals.RtpSend:
        async def paced(data: bytes) -> None:
            if len(data) >= 12 and not 192 <= data[1] <= 223:  # RTP, not RTCP (RFC 5761)
                ssrc = int.from_bytes(data[8:12], "big")
                if ssrc in self.video_ssrcs:
                    now = asyncio.get_running_loop().time()
                    # Reserve this packet's slot before waiting for it.
                    # After a pause, up to 20 ms worth may go at once.
                    slot = min(max(self._next, now - 0.02), now + MAX_PACER_DELAY)
                    self._next = slot + len(data) * 8 / self._rate()
                    if slot > now:
                        self.delayed += slot - now
                        await asyncio.sleep(slot - now)
            await original(data)

        return paced


class SenderControl:
    """Congestion control for one peer connection's video sender."""

    def __init__(
        self,
        sender: Any,
        track: AdaptiveVideoTrack | None,
        *,
        start: int = START_BPS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sender = sender
        self._track = track
        self._clock = clock
        self.controller = RateController(clock=clock, start=start)
        self.ladder = VideoLadder(clock=clock)
        self._pacer = Pacer(lambda: max(PACING_FLOOR_BPS, PACING_FACTOR * self.target))
        self._wrapped_transport: Any = None
        self._applied: int | None = None
        self._applied_rung: int | None = None
        self._last_increase = -1e9
        self.target = self.controller.bitrate
        self.keyframe_requests = 0
        self.nacks = 0
        self.remb: int | None = None
        self.fraction_lost = 0.0  # the last loss figure (over at least 20 packets)
        self._loss = LossCounter()
        self.encoder_changes = 0
        self._encode_times: deque[tuple[float, float]] = deque(maxlen=120)
        self._encode_cpu: deque[float] = deque(maxlen=120)
        self._last_usage_check = clock()
        self.encode_usage = 0.0
        internals.wrap_rtcp_handler(sender, self._wrap_rtcp)
        self._pacer.video_ssrcs = set(internals.sender_ssrcs(sender))
        self.incoming = IncomingRate(self.controller, clock=clock)
        self._retransmitting: set[asyncio.Future[None]] = set()
        self._resent: dict[int, float] = {}
        self._rtx_tokens = 0.0
        self._rtx_refill = clock()
        self.retransmissions = 0
        self._last_keyframe = -1e9
        self.keyframes_sent = 0

    def video_format(self, width: int, height: int) -> VideoFormat:
        return self.ladder.format_for(width, height)

    # -- feedback ------------------------------------------------------------------------------

    def _wrap_rtcp(self, original: internals.RtcpHandler) -> internals.RtcpHandler:
        async def tap(packet: Any) -> None:
            try:
                if self._observe(packet):
                    return  # REMB: ours to act on, not aiortc's
                if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                    packet.lost = self._retransmissions_allowed(packet.lost)
                    if packet.lost:
                        # The DTLS transport awaits this handler before it reads the next
                        # packet: retransmissions (paced) must not hold up what we receive.
                        task = asyncio.ensure_future(_quietly(original(packet)))
                        self._retransmitting.add(task)
                        task.add_done_callback(self._retransmitting.discard)
                    return
            except Exception:  # feedback we cannot read must not stop the call
                log.exception("could not read an RTCP packet")
            await original(packet)

        return tap

    def _retransmissions_allowed(self, lost: list[int]) -> list[int]:
        """Each packet at most once per round trip, and retransmissions within a budget of
        :data:`RTX_SHARE` of the target rate (libwebrtc limits them likewise): on a congested
        link, resending everything asked for congests it further."""
        now = self._clock()
        rtt = self.controller.rtt or 0.1
        budget_per_second = RTX_SHARE * self.target / 8 / RTX_PACKET_BYTES
        self._rtx_tokens = min(
            budget_per_second, self._rtx_tokens + (now - self._rtx_refill) * budget_per_second
        )
        self._rtx_refill = now
        allowed = []
        for seq in lost:
            if now - self._resent.get(seq, -1e9) < rtt or self._rtx_tokens < 1:
                continue
            self._rtx_tokens -= 1
            self._resent[seq] = now
            allowed.append(seq)
        if len(self._resent) > 1024:
            for seq, at in list(self._resent.items()):
                if now - at > 2.0:
                    del self._resent[seq]
        self.retransmissions += len(allowed)
        return allowed

    def _observe(self, packet: Any) -> bool:
        ssrc, _ = internals.sender_ssrcs(self._sender)
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for block in packet.reports:
                if block.ssrc == ssrc:
                    fraction = self._loss.update(block.packets_lost, block.highest_sequence)
                    if fraction is not None:
                        self.fraction_lost = fraction
                    rtt = rtt_from_report(block.lsr, block.dlsr, ntp_now())
                    self.controller.on_report(ReceiverReport(fraction, rtt))
            return False
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt == RTCP_PSFB_APP:
                with contextlib.suppress(ValueError):
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                    if ssrc in ssrcs:
                        self.remb = bitrate
                        self.controller.on_remb(bitrate)
                return True
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.keyframe_requests += 1
                now = self._clock()
                if now - self._last_keyframe < KEYFRAME_INTERVAL:
                    return True  # one is on its way
                self._last_keyframe = now
                self.keyframes_sent += 1
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self.nacks += len(packet.lost)
        return False

    # -- control loop --------------------------------------------------------------------------

    async def run(self) -> None:
        """Control steps until cancelled (the engine cancels it with its peer connection)."""
        while True:
            self.step()
            await asyncio.sleep(TICK)

    def step(self) -> None:
        transport = getattr(self._sender, "transport", None)
        if transport is not None and transport is not self._wrapped_transport:
            internals.wrap_send_rtp(transport, self._pacer.wrap)  # bundle: set after the answer
            self._wrapped_transport = transport
        self.controller.on_silence()
        target = self.controller.bitrate
        self.ladder.update(target)
        now = self._clock()
        applied = self._applied
        rung_changed = self.ladder.rung != self._applied_rung
        if (
            applied is None
            or rung_changed
            or target < applied * DECREASE_STEP
            or (target > applied * INCREASE_STEP and now - self._last_increase >= INCREASE_EVERY)
        ):
            if applied is not None and target > applied:
                self._last_increase = now
            if target != self.target:
                log.debug(
                    "video target %d -> %d bit/s (%s, REMB %s, loss %.0f%%, rtt %s)",
                    self.target,
                    target,
                    self.controller.reason,
                    self.remb,
                    100 * self.fraction_lost,
                    self.controller.rtt,
                )
            self.target = target
        encoder = internals.sender_encoder(self._sender)
        if encoder is not None:
            internals.wrap_encode(encoder, self._time_encode)
        if now - self._last_usage_check >= USAGE_EVERY:
            self._check_encode_usage(now)
        if (
            encoder is not None
            and internals.encoder_bitrate(encoder) != self.target
            and internals.set_encoder_bitrate(encoder, self.target)
        ):
            self._applied = self.target
            self._applied_rung = self.ladder.rung
            self.encoder_changes += 1

    def _time_encode(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, cpu_start = time.monotonic(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                end = time.monotonic()
                self._encode_times.append((end, end - start))  # deque.append is atomic
                # The encoder's own processor time (aiortc encodes on a worker thread, and
                # libvpx/x264 run on it): beside the wall time, it tells a slow encoder from
                # a process that waits for the processor.
                self._encode_cpu.append(time.thread_time() - cpu_start)

        return timed

    def _check_encode_usage(self, now: float) -> None:
        """How much of each frame's time the encoder takes (wall clock: on a busy computer,
        waiting for the processor counts too), fed to the ladder's CPU adaptation."""
        self._last_usage_check = now
        wall = time.monotonic()
        recent = [took for at, took in list(self._encode_times) if wall - at <= USAGE_EVERY]
        if len(recent) < 5:
            return
        fps = self.ladder.format_for(640, 480).fps
        self.encode_usage = sum(recent) / len(recent) * fps
        self.ladder.on_encode_usage(self.encode_usage)

    def stats(self) -> dict[str, float]:
        """For the engine's statistics (``sender.video.*``)."""
        width, height = self._track.size if self._track is not None else (0, 0)
        values: dict[str, float] = {
            "targetBitrate": float(self.target),
            "estimate": float(self.controller.bitrate),
            "fractionLost": self.fraction_lost,
            "keyframeRequests": float(self.keyframe_requests),
            "nacks": float(self.nacks),
            "encoderChanges": float(self.encoder_changes),
            "frameWidth": float(width),
            "frameHeight": float(height),
            "framesDropped": float(self._track.dropped if self._track is not None else 0),
            "pacerDelay": self._pacer.delayed,
            "encodeUsage": self.encode_usage,
            "encodeMs": 1000 * _mean([took for _, took in list(self._encode_times)]),
            "encodeCpuMs": 1000 * _mean(list(self._encode_cpu)),
            "rembSent": float(self.incoming.estimate),
            "retransmissions": float(self.retransmissions),
            "keyframesForced": float(self.keyframes_sent),
        }
        if self.remb is not None:
            values["remb"] = float(self.remb)
        if self.controller.rtt is not None:
            values["roundTripTime"] = self.controller.rtt
        return values


class RembSource:
    """Stands in for aiortc's receive-side estimator in a video receiver: what it returns is sent
    to the browser as REMB (see :class:`telehealth.congestion.IncomingRate`)."""

    def __init__(self, incoming: IncomingRate) -> None:
        self.incoming = incoming

    def add(
        self, *, abs_send_time: int, arrival_time_ms: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        value = self.incoming.on_packet(payload_size)
        if value is None:
            return None
        log.debug("REMB sent %d bit/s (path %s)", value, self.incoming.path_reading)
        return (value, [ssrc])
