"""What the therapist receives on a lossy network: a jitter buffer that never waits forever, and
retransmission requests that do not flood the sender.

aiortc's receive buffer hands frames to the decoder strictly in sequence, and a missing packet
blocks everything behind it until the buffer is full: 16 audio packets (a third of a second of
sound thrown away at once) or 512 video packets (seconds of frozen picture). aiortc asks for a
missing video packet once (NACK); when the retransmission is lost too, nothing else happens until
the buffer overflows. With 2-5 % loss that is what froze the client's picture at the therapist's
end and dropped a fifth of the client's voice.

:class:`LossTolerantJitterBuffer` waits for a hole only as long as a retransmission can take
(video) or not at all beyond the next packets (audio: the browser does not retransmit audio to
us), then steps over it; for video it also asks the browser for a keyframe (PLI), because the
frames after a lost one cannot be decoded cleanly. The engine puts one in each receiver through
:mod:`telehealth.aiortc_internals`.

aiortc's NACK generator, each time a packet goes missing, asks again for *every* packet still
missing (up to 128): on a congested link one loss becomes a hundred retransmissions, which
congest it more (measured: 10,000 packets asked for in 20 s on a 500 kbit/s link).
:class:`PoliteNackGenerator` asks for a missing packet when it goes missing, and again at most
:data:`NACK_RETRIES` times, :data:`NACK_INTERVAL` apart, like libwebrtc's NackRequester.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.utils import uint16_add, uint16_gt

AUDIO_WAIT: Final = 0.04  # seconds: two packets' worth, for a reordered packet
VIDEO_WAIT: Final = 0.5  # seconds: two NACKs and a retransmission on a 100 ms-each-way path
HOLE_SCAN_INTERVAL: Final = 0.01  # seconds between scans for a hole while none is known
PLAYOUT_MAX_DELAY: Final = 0.4  # seconds a frame may be held back at most
PLAYOUT_DECAY: Final = 0.02  # seconds of delay given back per second without late frames
NACK_INTERVAL: Final = 0.15  # seconds before asking again for a packet still missing
NACK_RETRIES: Final = 3
NACK_HORIZON: Final = 128  # packets; older holes are the jitter buffer's to skip


class LossTolerantJitterBuffer(JitterBuffer):
    """aiortc's buffer, plus a deadline for holes (see the module docstring)."""

    def __init__(
        self,
        capacity: int,
        prefetch: int = 0,
        is_video: bool = False,
        *,
        max_wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        default = VIDEO_WAIT if is_video else AUDIO_WAIT
        self._max_wait = default if max_wait is None else max_wait
        self._clock = clock
        self._hole_since: float | None = None
        self._last_scan = -1e9
        self.holes_skipped = 0

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        now = self._clock()
        if frame is not None:
            return pli, frame
        # Looking for a hole scans the buffer: a few times per frame interval is enough.
        if self._hole_since is None and now - self._last_scan < HOLE_SCAN_INTERVAL:
            return pli, None
        self._last_scan = now
        if not self._has_hole():
            self._hole_since = None
            return pli, None
        if self._hole_since is None:
            self._hole_since = now
        if now - self._hole_since < self._max_wait:
            return pli, None
        # The hole has outlived its wait: hand out what is before it, one frame per packet that
        # arrives (as aiortc does), and step over it when it reaches the front.
        frame, skipped = self._flush_one()
        return pli or (skipped and self._is_video), frame

    def _oldest(self) -> Any:
        assert self._origin is not None
        return self._packets[self._origin % self._capacity]

    def _has_hole(self) -> bool:
        """A missing packet with later packets waiting behind it."""
        if self._origin is None:
            return False
        waiting = [p for p in self._packets if p is not None]
        if not waiting:
            return False
        newest = max((p.sequence_number - self._origin) % 65536 for p in waiting)
        return len(waiting) < newest + 1

    def _complete_frame(self) -> JitterFrame | None:
        prefetch, self._prefetch = self._prefetch, 0
        try:
            return self._remove_frame(0)
        finally:
            self._prefetch = prefetch

    def _flush_one(self) -> tuple[JitterFrame | None, bool]:
        frame = self._complete_frame()
        if frame is not None:
            return frame, False
        oldest = self._oldest()
        if oldest is not None and not self._is_video:
            # Audio: every packet is a whole frame; the one just before the hole goes out as is.
            self.remove(1)
            return JitterFrame(data=oldest._data, timestamp=oldest.timestamp), False
        # At the hole. Audio: step over the missing packets. Video: also over the frame they
        # belonged to (its packets before and after the hole): it cannot be decoded cleanly.
        damaged = None if oldest is None else oldest.timestamp
        if self._is_video:
            self._remove_while(lambda p: p is not None and p.timestamp == damaged)
        self._remove_while(lambda p: p is None)
        if self._is_video and damaged is not None:
            self._remove_while(lambda p: p is not None and p.timestamp == damaged)
        self.holes_skipped += 1
        if not self._has_hole():
            self._hole_since = None
        return self._complete_frame(), True

    def _remove_while(self, condition: Callable[[Any], bool]) -> None:
        for _ in range(self._capacity):
            if not any(p is not None for p in self._packets) or not condition(self._oldest()):
                return
            self.remove(1)


class PoliteNackGenerator(NackGenerator):
    """aiortc's receiver calls ``add(packet)`` for every packet and, when it returns True, sends
    a NACK for ``missing``: here, only the packets due to be asked for now."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._asked: dict[int, tuple[float, int]] = {}  # seq -> (last asked, times asked)

    def add(self, packet: Any) -> bool:
        seq = packet.sequence_number
        now = self._clock()
        if self.max_seq is None:
            self.max_seq = seq
            return False
        if uint16_gt(seq, self.max_seq):
            gap = uint16_add(self.max_seq, 1)
            while uint16_gt(seq, gap):
                self._asked.setdefault(gap, (-1e9, 0))
                gap = uint16_add(gap, 1)
            self.max_seq = seq
        else:
            self._asked.pop(seq, None)  # a retransmission or a late packet arrived
        oldest = uint16_add(self.max_seq, -NACK_HORIZON)
        due = set()
        for missing, (asked_at, times) in list(self._asked.items()):
            if uint16_gt(oldest, missing) or times >= NACK_RETRIES + 1:
                del self._asked[missing]
            elif now - asked_at >= NACK_INTERVAL:
                due.add(missing)
                self._asked[missing] = (now, times + 1)
        self.missing = due
        return bool(due)


class PlayoutDelay:
    """When to show each decoded video frame, so that a retransmitted packet does not freeze the
    picture. aiortc hands frames over as soon as they are decoded: a frame held back by a lost
    packet arrives a round trip late, the ones behind it in a burst, and the picture stutters.
    Browsers keep a playout delay that grows to cover such waits; so does this: a frame is
    shown at its capture time (its RTP timestamp) plus the fastest transit seen recently plus
    ``delay``, which grows by however late a frame was and shrinks again slowly. On a clean
    link ``delay`` stays 0 and nothing is held back."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        max_delay: float = PLAYOUT_MAX_DELAY,
        window: float = 10.0,
    ) -> None:
        self._clock = clock
        self._max_delay = max_delay
        self._window = window
        self._transits: deque[tuple[float, float]] = deque()
        self._last: float | None = None
        self.delay = 0.0

    def due(self, media_time: float) -> float:
        """The clock time at which to show the frame captured at ``media_time`` (seconds)."""
        now = self._clock()
        if self._last is not None:
            self.delay = max(0.0, self.delay - PLAYOUT_DECAY * (now - self._last))
        self._last = now
        transit = now - media_time
        while self._transits and now - self._transits[0][0] > self._window:
            self._transits.popleft()
        self._transits.append((now, transit))
        base = min(t for _, t in self._transits)
        due = media_time + base + self.delay
        late = now - due
        if late > self._max_delay:  # a jump in the sender's clock, not a late frame: start over
            self._transits.clear()
            self._transits.append((now, transit))
            return now
        if late > 0.001:  # (not rounding)
            self.delay = min(self._max_delay, self.delay + late)
            return now
        return max(due, now)
