"""Playback of the client's voice through a speaker (QtMultimedia's ``QAudioSink``, push mode).

Decoded audio arrives as s16 :class:`PcmChunk`s (48 kHz stereo from aiortc's Opus decoder). The
sink buffers about 200 ms; when it is full (the UI thread fell behind, or the device is slower
than the network) the oldest pending sound is dropped rather than letting the delay grow. Nothing
is recorded. With no output device the chunks are counted and dropped, and the window says so.
"""

from __future__ import annotations

from typing import Final

from desktop.ui.qt import (
    QIODevice,
    QObject,
    Signal,
)
from desktop.ui.qt_media import (
    QAudioDevice,
    QAudioFormat,
    QAudioSink,
    QMediaDevices,
)
from telehealth.engine import PcmChunk

BUFFER_SECONDS: Final = 0.2


class AudioPlayer(QObject):
    """Plays PCM chunks on the chosen speaker (the system default unless told otherwise)."""

    status = Signal(str)  # "" when all is well, else a short sentence for the window
    devices_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.chunks_received = 0
        self.chunks_played = 0
        self.chunks_dropped = 0
        self.peak = 0  # loudest sample heard, for tests and a future level meter
        self._device_id: bytes | None = None
        self._sink: QAudioSink | None = None
        self._io: QIODevice | None = None
        self._shape: tuple[int, int] | None = None
        self._devices = QMediaDevices(self)
        self._devices.audioOutputsChanged.connect(self._outputs_changed)
        default = QMediaDevices.defaultAudioOutput()
        self._device_id = None if default.isNull() else bytes(default.id().data())

    @staticmethod
    def speakers() -> list[tuple[bytes, str]]:
        return [(bytes(d.id().data()), d.description()) for d in QMediaDevices.audioOutputs()]

    @property
    def speaker_id(self) -> bytes | None:
        return self._device_id

    @property
    def available(self) -> bool:
        return self._device() is not None

    def select_speaker(self, device_id: bytes | None) -> None:
        self._device_id = device_id
        self._close()

    def _device(self) -> QAudioDevice | None:
        for device in QMediaDevices.audioOutputs():
            if bytes(device.id().data()) == self._device_id:
                return device
        return None

    def _outputs_changed(self) -> None:
        if self._device() is None:
            outputs = self.speakers()
            self.select_speaker(outputs[0][0] if outputs else None)
        self.devices_changed.emit()

    def play(self, chunk: PcmChunk) -> None:
        self.chunks_received += 1
        if chunk.data:
            self.peak = max(self.peak, _peak(chunk.data))
        shape = (chunk.sample_rate, chunk.channels)
        if self._io is None or self._shape != shape:
            self._open(shape)
        sink, io = self._sink, self._io
        if sink is None or io is None:
            self.chunks_dropped += 1
            return
        if sink.bytesFree() < len(chunk.data):
            self.chunks_dropped += 1  # the speaker is behind: drop rather than add delay
            return
        io.write(chunk.data)
        self.chunks_played += 1

    def _open(self, shape: tuple[int, int]) -> None:
        self._close()
        self._shape = shape
        device = self._device()
        if device is None:
            self.status.emit("No speaker found: you will not hear your client.")
            return
        fmt = QAudioFormat()
        fmt.setSampleRate(shape[0])
        fmt.setChannelCount(shape[1])
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        if not device.isFormatSupported(fmt):
            self.status.emit("This speaker cannot play the call's sound. Try another one.")
            return
        sink = QAudioSink(device, fmt, self)
        sink.setBufferSize(fmt.bytesForDuration(int(BUFFER_SECONDS * 1_000_000)))
        io = sink.start()
        if io is None:
            self.status.emit("The speaker could not be opened.")
            sink.deleteLater()
            return
        self._sink, self._io = sink, io
        self.status.emit("")

    def _close(self) -> None:
        sink, self._sink, self._io, self._shape = self._sink, None, None, None
        if sink is not None:
            sink.stop()
            sink.deleteLater()

    def stop(self) -> None:
        self._close()


def _peak(data: bytes) -> int:
    view = memoryview(data)[: len(data) - len(data) % 2].cast("h")
    return max(abs(max(view, default=0)), abs(min(view, default=0)))
