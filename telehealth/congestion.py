"""How fast, how large and how often the therapist sends video: a congestion controller.

Pure logic with an injected clock, no aiortc: :mod:`telehealth.sender_control` feeds it what the
browser reports about our stream and applies what it decides. The browser tells us three things:

* **RTCP receiver reports** (about once a second): the fraction of our packets lost since the last
  report, and the fields from which the round-trip time is computed (RFC 3550 §6.4.1);
* **REMB** (``goog-remb``, which aiortc negotiates): the browser's own estimate of what the path
  carries, from the spacing of our packets' ``abs-send-time`` stamps (a delay-based estimate: it
  drops when a queue builds before any packet is lost, but also on mere jitter);
* **keyframe requests and NACKs**, answered by aiortc itself (see sender_control).

The estimate follows libwebrtc's loss-based controller (``SendSideBandwidthEstimation``): more
than 10 % lost cuts the rate by half the loss fraction, less than 2 % lets it grow 8 % a second
(2 % a second just below the rate where loss struck last, for half a minute), in between it
holds. Like libwebrtc, the loss is counted over at least 20 packets (:class:`LossCounter`, from
the report blocks' cumulative counters), not taken from each report's own ``fraction lost``:
Chromium sends a receiver report with every NACK, that is right after each loss, over the few
packets since the previous one, so those fractions read 25-50 % on a path that loses 5 %.

Two guards come on top. A round trip that keeps growing (the slope of the last few reports, like
GCC's trendline, so that a route that is simply longer is not mistaken for a queue) means a
queue is filling somewhere on the path: the rate is cut by 15 % a second until it stops growing,
and does not grow again while the round trip stays well above its recent minimum without
draining. This is what keeps the round trip short on a slow link with a deep buffer, where
nothing is lost for seconds. And when the browser's REMB drops while our round trip or losses
agree that the path is loaded, the rate follows it down, a step a second.

:class:`IncomingRate` does the same for what the browser sends us: the REMB we send back (the
browser's ceiling for its own rate) follows what actually arrives and the same round-trip trend,
instead of aiortc's receive-side estimator, which collapses on jitter alone.

:class:`VideoLadder` turns a bitrate into a picture size and a frame rate: fewer pixels and frames
when the bitrate is low, so that each frame still looks like something and each keyframe stays
small; it steps down at once and back up only after the rate has stayed high for a while, because
every change of size costs a keyframe.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

START_BPS: Final = 600_000
FLOOR_BPS: Final = 80_000
CEILING_BPS: Final = 1_500_000
AUDIO_BPS: Final = 48_000  # what REMB covers besides our video: Opus plus headers
HIGH_LOSS: Final = 0.10
LOW_LOSS: Final = 0.02
GROWTH_PER_SECOND: Final = 0.08
QUEUE_SLOPE: Final = 0.015  # round trip growing this many seconds per second: a queue fills
QUEUE_MIN_EXCESS: Final = 0.05  # ... and it is this much above the recent minimum
NEAR_LAST_LOSS: Final = 0.85  # within this share of where loss struck last, grow additively
NEAR_LOSS_GROWTH: Final = 0.02  # ... by 2 % a second, up to that rate (then fast again)
LAST_LOSS_MEMORY: Final = 30.0  # seconds that point is remembered
STANDING_QUEUE: Final = 0.10  # above the minimum by this much and not draining: do not grow
QUEUE_CUT: Final = 0.85
TREND_SAMPLES: Final = 5  # reports (about one a second) over which the trend is fitted
BASE_RTT_WINDOW: Final = 30.0  # seconds over which the lowest round trip is remembered
RECENT_RTT_WINDOW: Final = 10.0
REMB_DROP: Final = 0.95  # a REMB below 95 % of the previous one is an overuse signal
FEEDBACK_MAX_AGE: Final = 4.0  # no report for this long: stop growing (the path may be gone)


LOSS_MIN_PACKETS: Final = 20  # libwebrtc's kLimitNumPackets: a loss figure needs this many


@dataclass(frozen=True)
class ReceiverReport:
    """What one RTCP receiver report block says about our video stream."""

    # 0..1 over the packets since the previous figure, or None when too few packets have been
    # sent since it for a new one (the controller keeps the previous figure).
    fraction_lost: float | None
    rtt: float | None  # seconds, or None when the report does not allow computing it


class LossCounter:
    """The share of our packets lost, from the report blocks' cumulative counters (RFC 3550
    §6.4.1: cumulative number of packets lost, extended highest sequence number received), over
    at least :data:`LOSS_MIN_PACKETS` packets, as libwebrtc's sender does."""

    def __init__(self, min_packets: int = LOSS_MIN_PACKETS) -> None:
        self._min = min_packets
        self._last: tuple[int, int] | None = None
        self._lost = 0
        self._expected = 0

    def update(self, cumulative_lost: int, highest_sequence: int) -> float | None:
        """The loss over the packets since the last figure, or None while they are too few (and
        for the first report, and for a report older than the previous one)."""
        last = self._last
        if last is not None:
            expected = (highest_sequence - last[1]) & 0xFFFFFFFF
            if expected == 0 or expected > 0x7FFFFFFF:  # nothing new, or reordered: ignore
                return None
        self._last = (cumulative_lost, highest_sequence)
        if last is None:
            return None
        self._lost += cumulative_lost - last[0]  # may be negative: duplicates (RFC 3550 A.3)
        self._expected += expected
        if self._expected < self._min:
            return None
        fraction = min(1.0, max(0.0, self._lost / self._expected))
        self._lost = self._expected = 0
        return fraction


def rtt_from_report(lsr: int, dlsr: int, ntp_now: int) -> float | None:
    """Round-trip time from a report block (RFC 3550 §6.4.1): arrival time minus the sender
    report's time (``lsr``) minus the receiver's delay since it (``dlsr``), all in the middle 32
    bits of NTP time (1/65536 s). ``None`` when the report carries no sender report yet."""
    if lsr == 0:
        return None
    now = (ntp_now >> 16) & 0xFFFFFFFF
    units = (now - lsr - dlsr) & 0xFFFFFFFF
    if units > 0x7FFFFFFF:  # negative: clocks or a stale report
        return None
    return units / 65536.0


class RateController:
    """The video bitrate estimate. Feed it reports; read :attr:`bitrate`."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        start: int = START_BPS,
        floor: int = FLOOR_BPS,
        ceiling: int = CEILING_BPS,
    ) -> None:
        if not 0 < floor <= start <= ceiling:
            raise ValueError("need 0 < floor <= start <= ceiling")
        self._clock = clock
        self._floor = floor
        self._ceiling = ceiling
        self._estimate = float(start)
        self._last_update = clock()
        self._last_decrease = -math.inf
        self._last_feedback: float | None = None  # nothing heard yet: nothing to miss
        self._rtts: deque[tuple[float, float]] = deque()
        self._rtt: float | None = None
        self._remb: tuple[float, int] | None = None
        self.reason = "start"  # why the last change happened (diagnostics, the benchmark)
        self.path = "clear"  # what the round trip says: "queue" filling, "standing", "clear"
        self._loss_point: tuple[float, float] | None = None  # (when, estimate) of the last loss
        self.loss = 0.0

    @property
    def bitrate(self) -> int:
        """The bitrate for the video encoder, in bits per second."""
        return int(max(self._floor, min(self._ceiling, self._estimate)))

    @property
    def rtt(self) -> float | None:
        """The latest round trip (seconds), smoothed."""
        return self._rtt

    @property
    def base_rtt(self) -> float | None:
        return min((r for _, r in self._rtts), default=None)

    def rtt_slope(self) -> float:
        """Least-squares slope of the last few round trips, in seconds per second."""
        points = list(self._rtts)[-TREND_SAMPLES:]
        if len(points) < 3:
            return 0.0
        mean_t = sum(t for t, _ in points) / len(points)
        mean_r = sum(r for _, r in points) / len(points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        if var <= 0:
            return 0.0
        return sum((t - mean_t) * (r - mean_r) for t, r in points) / var

    def on_remb(self, bitrate: int) -> None:
        """The browser's own estimate of the path, for everything we send. A REMB that drops is
        the browser's delay-based detector seeing a queue build: cut to it at once. Its level
        alone is not a limit: Chromium starts it from the first packets it measures (about
        50 kbit/s, audio only) and raises it by 8 % a second, which would hold the picture at
        the bottom for half a minute after every start."""
        now = self._clock()
        previous = None if self._remb is None else self._remb[1]
        self._remb = (now, max(0, int(bitrate)))
        self._last_feedback = now
        if previous is None or bitrate >= previous * REMB_DROP:
            return
        # Chromium's receive-side detector also fires on plain jitter (it fell from 1.6 Mbit/s
        # to 75 kbit/s in a minute on a 100 +- 20 ms path with nothing queued): follow a drop
        # only when our own round trip or losses agree, and by at most one step a second.
        if self.path == "clear" and self.loss < LOW_LOSS:
            return
        allowed = max(float(self._floor), bitrate - AUDIO_BPS, QUEUE_CUT * self._estimate)
        if allowed < self._estimate and now - self._last_decrease >= 1.0:
            self._estimate = allowed
            self._last_decrease = now
            self.reason = "REMB dropped"

    def on_report(self, report: ReceiverReport) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last_update)
        self._last_update = now
        self._last_feedback = now
        fresh = report.fraction_lost is not None
        loss = self.loss if report.fraction_lost is None else min(1, max(0, report.fraction_lost))
        queued = standing = False
        if report.rtt is not None and report.rtt >= 0:
            self._rtt = report.rtt if self._rtt is None else 0.7 * self._rtt + 0.3 * report.rtt
            self._rtts.append((now, report.rtt))
            while self._rtts and now - self._rtts[0][0] > BASE_RTT_WINDOW:
                self._rtts.popleft()
            recent = min(r for t, r in self._rtts if now - t <= RECENT_RTT_WINDOW)
            slope = self.rtt_slope()
            queued = slope > QUEUE_SLOPE and report.rtt > recent + QUEUE_MIN_EXCESS
            standing = report.rtt > recent + STANDING_QUEUE and slope > -0.01
        self.path = "queue" if queued else ("standing" if standing else "clear")
        self.loss = loss
        hold_off = 0.3 + (self._rtt or 0.1)
        if loss > HIGH_LOSS:
            if fresh and now - self._last_decrease >= hold_off:  # once per new loss figure
                last = self._loss_point
                highest = last[1] if last and now - last[0] < 5.0 else 0.0
                self._loss_point = (now, max(highest, self._estimate))
                self._estimate *= 1 - 0.5 * loss
                self._last_decrease = now
                self.reason = f"loss {loss:.0%}"
        elif queued:
            if now - self._last_decrease >= max(hold_off, 1.0):
                self._estimate *= QUEUE_CUT
                self._last_decrease = now
                self.reason = "queue"
        elif standing:
            self.reason = "queue standing"
        elif loss < LOW_LOSS:
            step = min(elapsed, 2.0)
            point = self._loss_point
            if point is not None and now - point[0] > LAST_LOSS_MEMORY:
                point = self._loss_point = None
            if point is not None and NEAR_LAST_LOSS * point[1] <= self._estimate <= point[1]:
                # Close to where packets were lost last time: approach it slowly (libwebrtc's
                # additive increase near the maximum) instead of overshooting into loss again.
                self._estimate *= (1 + NEAR_LOSS_GROWTH) ** step
                self.reason = "growing slowly"
            else:
                self._estimate *= (1 + GROWTH_PER_SECOND) ** step
                self.reason = "growing"
            self._estimate += 1000 * step
        else:
            self.reason = f"holding at {loss:.0%} loss"
        self._estimate = max(float(self._floor), min(float(self._ceiling), self._estimate))

    def on_silence(self) -> None:
        """Called periodically; with no feedback for a while, fall back towards a safe rate so
        that a path that comes back is not flooded."""
        now = self._clock()
        if self._last_feedback is not None and now - self._last_feedback > FEEDBACK_MAX_AGE:
            self._estimate = max(float(self._floor), min(self._estimate, START_BPS / 2))
            self.reason = "no feedback"


@dataclass(frozen=True)
class VideoFormat:
    """What the encoder is given: a picture size (even numbers) and a frame rate."""

    width: int
    height: int
    fps: int


# (minimum video bitrate, frames per second, largest picture in pixels) from the top down.
# About 0.07-0.1 bits per pixel per frame: VP8 at that rate still shows a face clearly.
RUNGS: Final = (
    (900_000, 30, 1280 * 720),
    (500_000, 30, 640 * 480),
    (300_000, 24, 480 * 360),
    (180_000, 20, 320 * 240),
    (100_000, 15, 320 * 240),
    (0, 15, 240 * 180),
)
UPGRADE_MARGIN: Final = 1.15
UPGRADE_AFTER: Final = 4.0  # seconds above the next rung before stepping up
CPU_HIGH: Final = 0.85
CPU_LOW: Final = 0.40
CPU_RELAX_AFTER: Final = 15.0


def _fit(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    if width * height <= max_pixels:
        return width - width % 2, height - height % 2
    scale = math.sqrt(max_pixels / (width * height))
    return max(2, int(width * scale) & ~1), max(2, int(height * scale) & ~1)


class VideoLadder:
    """Picks a rung for the current bitrate: down at once, up after :data:`UPGRADE_AFTER`
    seconds of enough bitrate (with a margin), so that sizes do not flap."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._rung = 1  # 640x480 at 30 fps until the rate says otherwise
        self._above_since: float | None = None
        self._cpu_floor = 0  # the best rung this computer can encode in time
        self._cpu_since = clock()

    @property
    def rung(self) -> int:
        return max(self._rung, self._cpu_floor)

    def on_encode_usage(self, usage: float) -> None:
        """Share of the frame interval the encoder needs (1.0: it barely keeps up). Above
        :data:`CPU_HIGH` the picture gets smaller at once (libwebrtc's CPU adaptation: on a busy
        computer a smaller picture at a steady rate beats a large one that stutters); below
        :data:`CPU_LOW` for :data:`CPU_RELAX_AFTER` seconds it may grow back one step."""
        now = self._clock()
        if usage > CPU_HIGH and self.rung < len(RUNGS) - 1:
            self._cpu_floor = self.rung + 1
            self._cpu_since = now
        elif usage < CPU_LOW and self._cpu_floor and now - self._cpu_since >= CPU_RELAX_AFTER:
            self._cpu_floor -= 1
            self._cpu_since = now

    def update(self, bitrate: int) -> None:
        wanted = next(i for i, (low, _, _) in enumerate(RUNGS) if bitrate >= low)
        if wanted > self._rung:  # lower quality: at once
            self._rung = wanted
            self._above_since = None
            return
        if wanted == self._rung:
            self._above_since = None
            return
        upper = RUNGS[self._rung - 1][0] * UPGRADE_MARGIN
        now = self._clock()
        if bitrate < upper:
            self._above_since = None
        elif self._above_since is None:
            self._above_since = now
        elif now - self._above_since >= UPGRADE_AFTER:
            self._rung -= 1
            self._above_since = now  # the next rung up after as long again

    def format_for(self, width: int, height: int, source_fps: float = 30.0) -> VideoFormat:
        _, fps, pixels = RUNGS[self.rung]
        w, h = _fit(width, height, pixels)
        return VideoFormat(w, h, int(min(fps, max(1.0, source_fps))))


REMB_EVERY: Final = 1.0  # seconds between the REMB reports we send
INCOMING_CEILING: Final = 2_500_000
INCOMING_WINDOW: Final = 1.0


class IncomingRate:
    """The ceiling we announce (REMB) for the browser's sending rate.

    It reads the path from our own sender's :class:`RateController` (the round trip covers both
    directions) and measures what arrives: a queue filling cuts the ceiling to 85 % of the
    arriving rate, a standing queue holds it at the arriving rate, a clear path lets it run 50 %
    above what arrives (the browser's own controller, which also sees our receiver reports' loss
    figures, climbs towards it).
    """

    def __init__(
        self, path: RateController, *, clock: Callable[[], float], start: int = 1_000_000
    ) -> None:
        self._path = path
        self._clock = clock
        self._estimate = float(start)
        self._arrivals: deque[tuple[float, int]] = deque()
        self._bytes = 0
        self._last_report = clock()

    @property
    def estimate(self) -> int:
        return int(self._estimate)

    @property
    def path_reading(self) -> str:
        """What the round trip said at the last REMB (diagnostics)."""
        return self._path.path

    def arriving_rate(self, now: float) -> float:
        while self._arrivals and now - self._arrivals[0][0] > INCOMING_WINDOW:
            self._bytes -= self._arrivals.popleft()[1]
        return self._bytes * 8 / INCOMING_WINDOW

    def on_packet(self, size: int) -> int | None:
        """Record ``size`` bytes arriving; returns the bitrate to announce when one is due."""
        now = self._clock()
        self._arrivals.append((now, size))
        self._bytes += size
        if now - self._last_report < REMB_EVERY:
            return None
        self._last_report = now
        arriving = self.arriving_rate(now)
        if self._path.path == "queue":
            self._estimate = min(self._estimate, QUEUE_CUT * arriving)
        elif self._path.path == "standing":
            self._estimate = min(self._estimate, max(arriving, FLOOR_BPS))
        else:
            self._estimate = max(self._estimate, 1.5 * arriving + 50_000)
        self._estimate = max(float(FLOOR_BPS), min(float(INCOMING_CEILING), self._estimate))
        return int(self._estimate)
