"""Where the therapist's capture (camera, microphone, or a synthetic source) hands its frames and
samples to the call, and the call's outgoing tracks over them.

The user interface owns the devices and *pushes* into a :class:`CaptureFeed`; the call engine
builds its aiortc tracks with :meth:`CaptureFeed.tracks` and *pulls* on its own thread (see
:mod:`telehealth.outgoing_tracks`). So no aiortc object ever lives in the user interface's code,
and the UI needs nothing from aiortc to take part in a call.

One feed may serve several peer connections at once (a couples session: the therapist's app has a
connection to each client device): every call of :meth:`CaptureFeed.tracks` makes tracks of its
own, the picture is shared (reading the newest frame takes nothing away) and each audio track
reads its own copy of the samples (:class:`PcmTee`). :mod:`telehealth.forwarding` uses the same
feed for what one client device sends, re-sent to the other.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

from aiortc import MediaStreamTrack

from telehealth.engine import RgbFrame
from telehealth.outgoing_tracks import (
    CapturedAudioTrack,
    CapturedVideoTrack,
    FrameSlot,
    MediaSwitch,
    PcmBuffer,
    SampleFormat,
)


class PcmTee:
    """Captured samples for every audio track that sends them: each track has a
    :class:`PcmBuffer` of its own (reading one takes the samples out of it), so two connections
    never split one microphone between them. A buffer is forgotten with its track."""

    def __init__(
        self, sample_rate: int = 48000, channels: int = 1, sample_format: SampleFormat = "s16"
    ) -> None:
        self._lock = threading.Lock()
        self._readers: weakref.WeakSet[PcmBuffer] = weakref.WeakSet()
        self._shape: tuple[int, int, SampleFormat] = (sample_rate, channels, sample_format)
        PcmBuffer(*self._shape)  # refuse an unsupported shape here, as a buffer would

    @property
    def shape(self) -> tuple[int, int, SampleFormat]:
        """The rate, channels and format of the samples written now."""
        return self._shape

    def reader(self) -> PcmBuffer:
        """A new buffer that receives everything written from now on."""
        with self._lock:
            buffer = PcmBuffer(*self._shape)
            self._readers.add(buffer)
            return buffer

    def _each(self) -> list[PcmBuffer]:
        with self._lock:
            return list(self._readers)

    def configure(self, sample_rate: int, channels: int, sample_format: SampleFormat) -> None:
        """The shape of the samples that follow (a new microphone); drops what is buffered."""
        PcmBuffer(sample_rate, channels, sample_format)  # refused before anything changes
        with self._lock:
            self._shape = (sample_rate, channels, sample_format)
        for buffer in self._each():
            buffer.configure(sample_rate, channels, sample_format)

    def write(self, data: bytes) -> None:
        for buffer in self._each():
            buffer.write(data)

    def clear(self) -> None:
        for buffer in self._each():
            buffer.clear()


class CaptureFeed:
    """The newest captured frame, the captured samples, and the camera and microphone switches
    (camera off and mute: the tracks keep running and send black or silence)."""

    def __init__(self) -> None:
        self.frames = FrameSlot()
        self.pcm = PcmTee()
        self.camera = MediaSwitch(True)
        self.microphone = MediaSwitch(True)

    def put_frame(self, frame: RgbFrame | None) -> None:
        self.frames.put(frame)

    def tracks(self) -> Sequence[MediaStreamTrack]:
        """A media factory (it runs on the engine thread): a video and an audio track over this
        feed, made anew for each connection."""
        return (
            CapturedVideoTrack(self.frames, self.camera),
            CapturedAudioTrack(self.pcm.reader(), self.microphone),
        )
