"""The therapist's outgoing media as aiortc tracks, fed from capture on another thread.

Capture (Qt's camera and microphone, or a synthetic source) runs on the UI side and *pushes* into
a :class:`FrameSlot` or :class:`PcmBuffer`; the call engine *pulls* from the tracks on its own
thread at its own pace (30 frames and 50 audio packets a second). Neither side ever waits for the
other: the engine takes the newest frame (older ones are simply replaced) and pads audio with
silence when capture is late, so a busy UI thread can make the picture stutter but never delays
RTP or ICE timers.

Mute and camera off work like a browser's disabled track: the track keeps running and sends
silence or black, so nothing is renegotiated. No Qt here: the desktop call window feeds it.
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from typing import Final, Literal

import av
from aiortc import MediaStreamTrack, VideoStreamTrack

from telehealth.engine import RgbFrame

AUDIO_PTIME: Final = 0.020  # seconds of audio per packet, as aiortc sends them
MAX_AUDIO_BACKLOG: Final = 0.2  # seconds; more than this is dropped to keep the delay low
BLACK_SIZE: Final = (320, 240)
SampleFormat = Literal["s16", "flt"]


class MediaSwitch:
    """An on/off flag shared by the UI thread (writer) and the engine thread (reader)."""

    def __init__(self, on: bool = True) -> None:
        self._on = on  # a bool assignment is atomic; no lock needed

    @property
    def on(self) -> bool:
        return self._on

    def set(self, on: bool) -> None:
        self._on = on


class FrameSlot:
    """The newest captured video frame; writing replaces whatever was not sent yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: RgbFrame | None = None

    def put(self, frame: RgbFrame | None) -> None:
        with self._lock:
            self._frame = frame

    def latest(self) -> RgbFrame | None:
        with self._lock:
            return self._frame


class PcmBuffer:
    """Captured microphone samples waiting to be sent, at most :data:`MAX_AUDIO_BACKLOG` long."""

    def __init__(
        self, sample_rate: int = 48000, channels: int = 1, sample_format: SampleFormat = "s16"
    ) -> None:
        self._lock = threading.Lock()
        self._data = bytearray()
        self.configure(sample_rate, channels, sample_format)

    def configure(self, sample_rate: int, channels: int, sample_format: SampleFormat) -> None:
        """Set the shape of the samples that follow (a new microphone); drops what is buffered."""
        if sample_rate <= 0 or channels not in (1, 2) or sample_format not in ("s16", "flt"):
            raise ValueError("unsupported audio format")
        with self._lock:
            self.sample_rate = sample_rate
            self.channels = channels
            self.sample_format: SampleFormat = sample_format
            self.frame_bytes = channels * (2 if sample_format == "s16" else 4)
            self._data.clear()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._data += data
            limit = int(self.sample_rate * MAX_AUDIO_BACKLOG) * self.frame_bytes
            if len(self._data) > limit:
                del self._data[: len(self._data) - limit]

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def read(self, samples: int) -> tuple[bytes, int, int, SampleFormat]:
        """Up to ``samples`` samples (whole frames), with the rate, channels and format."""
        with self._lock:
            size = min(len(self._data), samples * self.frame_bytes)
            size -= size % self.frame_bytes
            data = bytes(self._data[:size])
            del self._data[:size]
            return data, self.sample_rate, self.channels, self.sample_format


def rgb_to_video_frame(frame: RgbFrame) -> av.VideoFrame:
    """Copy a packed RGB24 frame into a PyAV frame (row by row when the strides differ)."""
    out = av.VideoFrame(frame.width, frame.height, "rgb24")
    plane = out.planes[0]
    row = frame.width * 3
    if frame.stride == plane.line_size and len(frame.data) >= plane.buffer_size:
        plane.update(frame.data[: plane.buffer_size])
    else:
        padding = bytes(plane.line_size - row)
        plane.update(
            b"".join(
                frame.data[y * frame.stride : y * frame.stride + row] + padding
                for y in range(frame.height)
            )
        )
    return out


def black_frame(width: int, height: int) -> RgbFrame:
    return RgbFrame(width, height, width * 3, bytes(width * height * 3))


class CapturedVideoTrack(VideoStreamTrack):
    """Sends the newest frame of a :class:`FrameSlot` 30 times a second; black when off or when
    there is no camera."""

    def __init__(self, slot: FrameSlot, switch: MediaSwitch) -> None:
        super().__init__()
        self._slot = slot
        self._switch = switch
        self._black = black_frame(*BLACK_SIZE)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self._slot.latest() if self._switch.on else None
        out = rgb_to_video_frame(self._black if frame is None else frame)
        out.pts = pts
        out.time_base = time_base
        return out


class CapturedAudioTrack(MediaStreamTrack):
    """Sends 20 ms packets from a :class:`PcmBuffer` in real time; silence when muted or short."""

    kind = "audio"

    def __init__(self, buffer: PcmBuffer, switch: MediaSwitch) -> None:
        super().__init__()
        self._buffer = buffer
        self._switch = switch
        self._start: float | None = None
        self._sent = 0.0  # seconds of audio sent so far
        self._pts = 0
        self._resampler: av.AudioResampler | None = None
        self._resampler_key: tuple[int, int, str] | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._sent - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._sent += AUDIO_PTIME
        rate = self._buffer.sample_rate
        samples = int(rate * AUDIO_PTIME)
        data, rate, channels, fmt = self._buffer.read(samples)
        if not self._switch.on:
            data = b""
        frame = self._frame(data, samples, rate, channels, fmt)
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, rate)
        self._pts += samples
        return frame

    def _frame(
        self, data: bytes, samples: int, rate: int, channels: int, fmt: SampleFormat
    ) -> av.AudioFrame:
        layout = "mono" if channels == 1 else "stereo"
        if not data:  # silence, directly in the encoder's format
            fmt = "s16"
        frame = av.AudioFrame(format=fmt, layout=layout, samples=samples)
        plane = frame.planes[0]
        plane.update(data[: plane.buffer_size].ljust(plane.buffer_size, b"\0"))
        frame.sample_rate = rate
        if fmt == "s16":
            return frame
        # aiortc's Opus encoder takes s16 only; some microphones deliver float samples.
        key = (rate, channels, fmt)
        if self._resampler is None or self._resampler_key != key:
            self._resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
            self._resampler_key = key
        frame.pts = None
        converted = self._resampler.resample(frame)
        if not converted:
            return self._frame(b"", samples, rate, channels, "s16")
        result: av.AudioFrame = converted[0]
        return result
