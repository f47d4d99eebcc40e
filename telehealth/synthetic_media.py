"""A synthetic camera and microphone for aiortc: a flat shade that changes every frame, and a
sine tone, both paced in real time. Used by the tests and benchmarks that run a call without
devices (two Python peers, a Python peer against a real browser)."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time

import av
from aiortc import MediaStreamTrack

VIDEO_CLOCK = 90_000


class ShadeVideo(MediaStreamTrack):
    """``width`` x ``height`` frames at ``fps``; every plane one shade, 8 levels brighter each
    frame (so that each frame differs and a receiver can tell it is moving)."""

    kind = "video"

    def __init__(self, width: int = 160, height: int = 120, fps: int = 15) -> None:
        super().__init__()
        self._size = (width, height)
        self._fps = fps
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / self._fps)
        frame = av.VideoFrame(*self._size, "yuv420p")
        shade = bytes([(self._count * 8) % 256])
        for plane in frame.planes:
            plane.update(shade * plane.buffer_size)
        frame.pts = self._count * (VIDEO_CLOCK // self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class ToneAudio(MediaStreamTrack):
    """A sine tone (440 Hz by default) in 20 ms frames of 48 kHz mono s16, in real time."""

    kind = "audio"
    RATE = 48_000
    SAMPLES = 960  # 20 ms

    def __init__(self, frequency: float = 440.0, amplitude: int = 8000) -> None:
        super().__init__()
        self._frequency = frequency
        self._amplitude = amplitude
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._sent / self.RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        step = 2 * math.pi * self._frequency / self.RATE
        samples = array.array(
            "h",
            (int(self._amplitude * math.sin(step * (self._sent + i))) for i in range(self.SAMPLES)),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = self.RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.RATE)
        self._sent += self.SAMPLES
        return frame
