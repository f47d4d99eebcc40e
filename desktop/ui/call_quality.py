"""The connection-quality indicator: round-trip time and packet loss from the engine's stats, and
the frame rate of the client's video as it reaches the window. Pure; no Qt.

The engine reports, every couple of seconds, sums keyed ``"<stats type>.<kind>.<name>"`` (for
example ``remote-inbound-rtp.video.roundTripTime``). Loss is measured over the last interval, not
since the start of the call, so the indicator recovers when the network does. The level uses the
same limits as the client's page (good / fair / poor at 150 / 400 ms and 2 / 8 %). The frame rate
is shown but does not lower the level: a client who turned the camera off sends almost no frames
over a perfectly good connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

Level = Literal["good", "fair", "poor", "unknown"]
KINDS = ("audio", "video")


@dataclass(frozen=True)
class Quality:
    level: Level
    rtt_ms: float | None = None
    loss_percent: float | None = None
    fps: float | None = None

    def text(self) -> str:
        words = {
            "good": "Good connection",
            "fair": "Fair connection",
            "poor": "Poor connection",
            "unknown": "Measuring connection",
        }
        parts = [words[self.level]]
        if self.rtt_ms is not None:
            parts.append(f"{self.rtt_ms:.0f} ms")
        if self.loss_percent is not None:
            parts.append(f"{self.loss_percent:.1f}% loss")
        if self.fps is not None:
            parts.append(f"{self.fps:.0f} fps")
        return " · ".join(parts)


def level_for(rtt_ms: float | None, loss_percent: float | None) -> Level:
    if rtt_ms is None and loss_percent is None:
        return "unknown"
    rtt = rtt_ms or 0.0
    loss = loss_percent or 0.0
    if rtt >= 400 or loss >= 8:
        return "poor"
    if rtt >= 150 or loss >= 2:
        return "fair"
    return "good"


class QualityMeter:
    """Turns successive stats reports and received frames into a :class:`Quality`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._frames = 0
        self._since = clock()
        self._previous: Mapping[str, float] = {}

    def frame_received(self) -> None:
        self._frames += 1

    def update(self, stats: Mapping[str, float]) -> Quality:
        now = self._clock()
        elapsed = now - self._since
        fps = self._frames / elapsed if elapsed > 0 else None
        self._frames, self._since = 0, now

        rtts = [
            stats[key]
            for kind in KINDS
            if (key := f"remote-inbound-rtp.{kind}.roundTripTime") in stats
        ]
        rtt_ms = 1000 * sum(rtts) / len(rtts) if rtts else None

        received = lost = 0.0
        for kind in KINDS:
            r_key, l_key = f"inbound-rtp.{kind}.packetsReceived", f"inbound-rtp.{kind}.packetsLost"
            received += max(0.0, stats.get(r_key, 0.0) - self._previous.get(r_key, 0.0))
            lost += max(0.0, stats.get(l_key, 0.0) - self._previous.get(l_key, 0.0))
        loss = 100 * lost / (received + lost) if received + lost > 0 else None
        self._previous = dict(stats)
        return Quality(level_for(rtt_ms, loss), rtt_ms, loss, fps)


Advice = Literal["audio_only", "video"]
MIN_VIDEO_BPS = 150_000  # below this the sender's estimate cannot carry a usable picture


class VideoAdvisor:
    """When to suggest sound only, and when to offer video again. Pure: fed each stats report.

    Video cannot be sustained when the connection is poor (round trip 400 ms or more, or 8 %
    loss) or the sender's bandwidth estimate (``sender.video.estimate``, from the engine's
    congestion control, when it reports one) is under :data:`MIN_VIDEO_BPS`, for
    ``weak_reports`` reports in a row (about 6 s); it can be again after ``good_reports`` good
    reports in a row (about 10 s) while the call is sound only. Each suggestion is made once until
    the connection changes its mind, so nobody is nagged.
    """

    def __init__(self, weak_reports: int = 3, good_reports: int = 5) -> None:
        self.weak_reports = weak_reports
        self.good_reports = good_reports
        self._weak = 0
        self._good = 0
        self._suggested: Advice | None = None

    def update(
        self, quality: Quality, stats: Mapping[str, float], *, audio_only: bool
    ) -> Advice | None:
        estimate = stats.get("sender.video.estimate")
        weak = quality.level == "poor" or (estimate is not None and estimate < MIN_VIDEO_BPS)
        good = quality.level == "good"
        self._weak = self._weak + 1 if weak else 0
        self._good = self._good + 1 if good else 0
        if not audio_only and self._weak >= self.weak_reports:
            return self._suggest("audio_only")
        if audio_only and self._good >= self.good_reports:
            return self._suggest("video")
        if not weak and not audio_only:
            self._suggested = None  # recovered: a later drop may be suggested again
        return None

    def _suggest(self, advice: Advice) -> Advice | None:
        if self._suggested == advice:
            return None
        self._suggested = advice
        return advice
