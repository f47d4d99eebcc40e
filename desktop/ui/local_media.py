"""The therapist's camera and microphone (QtMultimedia), or a synthetic test pattern and tone.

Capture pushes into a :class:`telehealth.capture_feed.CaptureFeed`, whose outgoing tracks the call
engine reads on its own thread (this module never touches aiortc), and hands each captured
frame to the self view. When there is no device, or it fails, the tracks send black and silence
and the window says so calmly; the call goes on with whatever is left (sound only, chat only).

Camera off and mute stop the device itself (the camera light goes out; nothing is captured), and
the tracks keep running with black and silence, as a browser does with a disabled track.
"""

from __future__ import annotations

import array
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from desktop.ui.qt import (
    QApplication,
    QColor,
    QFont,
    QImage,
    QIODevice,
    QLinearGradient,
    QObject,
    QPainter,
    QPointF,
    QRectF,
    Qt,
    QTimer,
    Signal,
)
from desktop.ui.qt_media import (
    QAudioDevice,
    QAudioFormat,
    QAudioSource,
    QCamera,
    QCameraDevice,
    QCameraFormat,
    QCameraPermission,
    QMediaCaptureSession,
    QMediaDevices,
    QMicrophonePermission,
    QVideoFrame,
    QVideoSink,
)
from telehealth.capture_feed import CaptureFeed
from telehealth.engine import RgbFrame
from telehealth.outgoing_tracks import SampleFormat

SYNTHETIC_ID: Final = b"quietroom-synthetic"
MAX_SEND_SIZE: Final = (640, 480)  # larger camera frames are scaled down before sending
CAMERA_FPS: Final = 30


@dataclass(frozen=True)
class Device:
    """A camera, microphone or speaker as the pickers show it."""

    id: bytes
    name: str


def qimage_to_rgb(image: QImage) -> RgbFrame:
    """Pack a QImage as an :class:`RgbFrame` (one copy out of Qt's buffer)."""
    if image.format() != QImage.Format.Format_RGB888:
        image = image.convertToFormat(QImage.Format.Format_RGB888)
    return RgbFrame(image.width(), image.height(), image.bytesPerLine(), bytes(image.constBits()))


def pick_camera_format(formats: Sequence[QCameraFormat]) -> QCameraFormat | None:
    """The format closest to 640x480 that can do at least 24 frames a second."""
    usable = [f for f in formats if f.maxFrameRate() >= 24 and not f.resolution().isEmpty()]
    if not usable:
        return None

    def distance(f: QCameraFormat) -> tuple[int, float]:
        size = f.resolution()
        return abs(size.width() * size.height() - 640 * 480), -f.maxFrameRate()

    return min(usable, key=distance)


class _Pattern:
    """A moving test pattern (what a synthetic camera shows): a gradient, a circle, a clock."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        self.width, self.height = width, height
        self.count = 0

    def next_image(self) -> QImage:
        image = QImage(self.width, self.height, QImage.Format.Format_RGB888)
        painter = QPainter(image)
        gradient = QLinearGradient(0, 0, self.width, self.height)
        gradient.setColorAt(0, QColor("#35606b"))
        gradient.setColorAt(1, QColor("#c9a96e"))
        painter.fillRect(image.rect(), gradient)
        t = self.count / 15
        x = self.width / 2 + math.cos(t) * self.width / 4
        y = self.height / 2 + math.sin(t) * self.height / 4
        painter.setBrush(QColor("#f4efe6"))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawEllipse(QPointF(x, y), 22, 22)
        painter.setPen(QColor("#f4efe6"))
        font = QFont()
        font.setPixelSize(14)
        painter.setFont(font)
        painter.drawText(
            QRectF(0, self.height - 26, self.width, 20),
            Qt.AlignmentFlag.AlignCenter,
            f"Test pattern  {self.count}",
        )
        painter.end()
        self.count += 1
        return image


PLACEHOLDER_BACKGROUND: Final = "#2b3a40"


def placeholder_image(text: str, width: int = 320, height: int = 240) -> QImage:
    """What the other side sees while the camera is off: the words on a dark slate card."""
    image = QImage(width, height, QImage.Format.Format_RGB888)
    image.fill(QColor(PLACEHOLDER_BACKGROUND))
    painter = QPainter(image)
    painter.setPen(QColor("#f4efe6"))
    font = QFont()
    font.setPixelSize(24)
    painter.setFont(font)
    painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


class LocalMedia(QObject):
    """The therapist's camera and microphone for one call window.

    ``synthetic=True`` uses a moving pattern and a 440 Hz tone instead of devices (tests, demos,
    machines without a camera). ``feed.tracks`` is the session's media factory: it runs on the
    engine thread and only builds tracks over the shared slot and buffer.
    """

    self_view_frame = Signal(object)  # RgbFrame, on the UI thread
    camera_status = Signal(str)  # a short sentence for the window, "" when all is well
    microphone_status = Signal(str)
    devices_changed = Signal()

    def __init__(self, *, synthetic: bool = False, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.synthetic = synthetic
        self.feed = CaptureFeed()
        self.frames = self.feed.frames
        self.pcm = self.feed.pcm
        self.camera_switch = self.feed.camera  # stays on: "camera off" sends a placeholder
        self._camera_on = True
        self._placeholder_text = ""
        self._sharing = False  # a shared screen or window goes out instead of the camera
        self.microphone_switch = self.feed.microphone
        self.frames_captured = 0
        self._camera_id: bytes | None = None
        self._microphone_id: bytes | None = None
        self._camera: QCamera | None = None
        self._capture: QMediaCaptureSession | None = None
        self._sink: QVideoSink | None = None
        self._source: QAudioSource | None = None
        self._source_io: QIODevice | None = None
        self._last_frame_at = 0.0
        self._pattern = _Pattern()
        self._pattern_timer = QTimer(self)
        self._pattern_timer.setInterval(1000 // 15)
        self._pattern_timer.timeout.connect(self._pattern_frame)
        self._tone_timer = QTimer(self)
        self._tone_timer.setInterval(20)
        self._tone_timer.timeout.connect(self._tone_chunk)
        self._tone_sent = 0
        self._tone_started = 0.0
        self._running = False
        self._devices = QMediaDevices(self)
        self._devices.videoInputsChanged.connect(self._inputs_changed)
        self._devices.audioInputsChanged.connect(self._inputs_changed)

    # -- devices --------------------------------------------------------------------------------

    def cameras(self) -> list[Device]:
        if self.synthetic:
            return [Device(SYNTHETIC_ID, "Test pattern")]
        return [Device(bytes(d.id().data()), d.description()) for d in QMediaDevices.videoInputs()]

    def microphones(self) -> list[Device]:
        if self.synthetic:
            return [Device(SYNTHETIC_ID, "Test tone")]
        return [Device(bytes(d.id().data()), d.description()) for d in QMediaDevices.audioInputs()]

    @property
    def camera_id(self) -> bytes | None:
        return self._camera_id

    @property
    def microphone_id(self) -> bytes | None:
        return self._microphone_id

    def _default(self, devices: list[Device], default_id: bytes) -> bytes | None:
        ids = [d.id for d in devices]
        if default_id in ids:
            return default_id
        return ids[0] if ids else None

    def _inputs_changed(self) -> None:
        if self._camera_id not in [d.id for d in self.cameras()]:
            self.select_camera(self._default(self.cameras(), b""))
        if self._microphone_id not in [d.id for d in self.microphones()]:
            self.select_microphone(self._default(self.microphones(), b""))
        self.devices_changed.emit()

    # -- life -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the default camera and microphone (asking the system's permission if needed)."""
        self._running = True
        default_camera = bytes(QMediaDevices.defaultVideoInput().id().data())
        default_microphone = bytes(QMediaDevices.defaultAudioInput().id().data())
        self.select_camera(self._default(self.cameras(), default_camera))
        self.select_microphone(self._default(self.microphones(), default_microphone))

    def stop(self) -> None:
        """Release both devices (the camera light goes out)."""
        self._running = False
        self._close_camera()
        self._close_microphone()
        self.frames.put(None)
        self.pcm.clear()

    # -- camera ---------------------------------------------------------------------------------

    def select_camera(self, device_id: bytes | None) -> None:
        self._camera_id = device_id
        self._close_camera()
        if self._running and self._camera_on:
            self._open_camera()

    def set_camera_on(self, on: bool, *, placeholder: str = "Camera off") -> None:
        """Open or close the camera; while it is closed the client sees ``placeholder``."""
        self._camera_on = on
        if not on:
            self._placeholder_text = placeholder
            self._close_camera()
            self.show_placeholder(placeholder)
            self.camera_status.emit("")
        elif self._running:
            self._open_camera()

    def _open_camera(self) -> None:
        if self._camera_id is None:
            self.camera_status.emit("No camera found. Your client will see a dark picture.")
            return
        if self.synthetic:
            self._pattern_timer.start()
            self.camera_status.emit("")
            return
        self._with_permission(QCameraPermission(), self._start_camera, "camera")

    def _start_camera(self) -> None:
        device = next(
            (d for d in QMediaDevices.videoInputs() if bytes(d.id().data()) == self._camera_id),
            QCameraDevice(),
        )
        if device.isNull() or not self._camera_on or not self._running:
            return
        self._close_camera()
        camera = QCamera(device, self)
        fmt = pick_camera_format(device.videoFormats())
        if fmt is not None:
            camera.setCameraFormat(fmt)
        capture = QMediaCaptureSession(self)
        sink = QVideoSink(self)
        capture.setCamera(camera)
        capture.setVideoSink(sink)
        sink.videoFrameChanged.connect(self._camera_frame)
        camera.errorOccurred.connect(self._camera_error)
        self._camera, self._capture, self._sink = camera, capture, sink
        camera.start()
        self.camera_status.emit("")

    def _camera_error(self, _error: object, text: str) -> None:
        self._close_camera()
        self.camera_status.emit(f"The camera stopped working ({text}). Try another one.")

    def _camera_frame(self, frame: QVideoFrame) -> None:
        now = time.monotonic()
        if now - self._last_frame_at < 0.9 / CAMERA_FPS:  # cameras faster than we send
            return
        self._last_frame_at = now
        image = frame.toImage()
        if image.isNull():
            return
        if image.width() > MAX_SEND_SIZE[0] or image.height() > MAX_SEND_SIZE[1]:
            image = image.scaled(
                *MAX_SEND_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        self._captured(qimage_to_rgb(image))

    def _pattern_frame(self) -> None:
        self._captured(qimage_to_rgb(self._pattern.next_image()))

    @property
    def camera_on(self) -> bool:
        return self._camera_on

    def show_placeholder(self, text: str) -> None:
        """Send a calm card with ``text`` ("Camera off", "Audio only") instead of a black
        picture, so the client sees why there is no video. The track repeats the newest frame,
        so one is enough."""
        self._placeholder_text = text
        self.frames.put(qimage_to_rgb(placeholder_image(text)))

    @property
    def sharing(self) -> bool:
        return self._sharing

    def share_picture(self, image: QImage) -> None:
        """A picture of the shared screen or window (instead of the camera, while sharing)."""
        if not self._sharing:
            return
        frame = qimage_to_rgb(image)
        self.frames.put(frame)
        self.self_view_frame.emit(frame)

    def set_sharing(self, on: bool) -> None:
        """Start or stop sending shared pictures instead of the camera; the camera (or its
        placeholder) comes back when sharing stops."""
        self._sharing = on
        if not on:
            if self._camera_on:
                self.frames.put(None)  # until the camera's next frame
            else:
                self.show_placeholder(self._placeholder_text or "Camera off")

    def _captured(self, frame: RgbFrame) -> None:
        if not self._camera_on or self._sharing:
            return
        self.frames_captured += 1
        self.frames.put(frame)
        self.self_view_frame.emit(frame)

    def _close_camera(self) -> None:
        self._pattern_timer.stop()
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.stop()
            camera.deleteLater()
        for obj in (self._capture, self._sink):
            if obj is not None:
                obj.deleteLater()
        self._capture = self._sink = None
        if self._camera_on or not self._running:
            self.frames.put(None)
        else:  # camera off: keep showing the placeholder, not black
            self.show_placeholder(self._placeholder_text or "Camera off")

    # -- microphone -----------------------------------------------------------------------------

    def select_microphone(self, device_id: bytes | None) -> None:
        self._microphone_id = device_id
        self._close_microphone()
        if self._running and self.microphone_switch.on:
            self._open_microphone()

    def set_microphone_on(self, on: bool) -> None:
        self.microphone_switch.set(on)
        if not on:
            self._close_microphone()
            self.microphone_status.emit("")
        elif self._running:
            self._open_microphone()

    def _open_microphone(self) -> None:
        if self._microphone_id is None:
            self.microphone_status.emit("No microphone found. Your client will not hear you.")
            return
        if self.synthetic:
            self.pcm.configure(48000, 1, "s16")
            self._tone_started = time.monotonic()
            self._tone_sent = 0
            self._tone_timer.start()
            self.microphone_status.emit("")
            return
        self._with_permission(QMicrophonePermission(), self._start_microphone, "microphone")

    def _start_microphone(self) -> None:
        device = next(
            (d for d in QMediaDevices.audioInputs() if bytes(d.id().data()) == self._microphone_id),
            QAudioDevice(),
        )
        if device.isNull() or not self.microphone_switch.on or not self._running:
            return
        self._close_microphone()
        fmt = microphone_format(device)
        if fmt is None:
            self.microphone_status.emit("This microphone's sound format is not supported.")
            return
        sample: SampleFormat = (
            "s16" if fmt.sampleFormat() == QAudioFormat.SampleFormat.Int16 else "flt"
        )
        self.pcm.configure(fmt.sampleRate(), fmt.channelCount(), sample)
        source = QAudioSource(device, fmt, self)
        source.setBufferSize(fmt.bytesForDuration(100_000))
        io = source.start()
        if io is None:
            self.microphone_status.emit("The microphone could not be opened.")
            source.deleteLater()
            return
        io.readyRead.connect(self._microphone_data)
        self._source, self._source_io = source, io
        self.microphone_status.emit("")

    def _microphone_data(self) -> None:
        io = self._source_io
        if io is not None and self.microphone_switch.on:
            self.pcm.write(bytes(io.readAll().data()))

    def _tone_chunk(self) -> None:
        # Write exactly the samples that real time says are due, so the tone neither drifts
        # nor piles up when the timer fires late.
        due = int((time.monotonic() - self._tone_started) * 48000) - self._tone_sent
        if due <= 0 or not self.microphone_switch.on:
            return
        start = self._tone_sent
        samples = array.array(
            "h", (int(8000 * math.sin(2 * math.pi * 440 * (start + i) / 48000)) for i in range(due))
        )
        self._tone_sent += due
        self.pcm.write(samples.tobytes())

    def _close_microphone(self) -> None:
        self._tone_timer.stop()
        source, self._source, self._source_io = self._source, None, None
        if source is not None:
            source.stop()
            source.deleteLater()
        self.pcm.clear()

    # -- permission -----------------------------------------------------------------------------

    def _with_permission(
        self,
        permission: QCameraPermission | QMicrophonePermission,
        then: Callable[[], None],
        what: str,
    ) -> None:
        """Run ``then`` once the system allows the device (macOS asks the person once)."""
        app = QApplication.instance()
        status_signal = self.camera_status if what == "camera" else self.microphone_status
        if app is None:
            then()
            return
        status = app.checkPermission(permission)
        if status == Qt.PermissionStatus.Granted:
            then()
        elif status == Qt.PermissionStatus.Denied:
            status_signal.emit(
                f"Quietroom may not use the {what}. Allow it in your system's privacy settings."
            )
        else:

            def answered(result: object) -> None:
                if getattr(result, "status", lambda: None)() == Qt.PermissionStatus.Granted:
                    then()
                else:
                    status_signal.emit(f"Quietroom may not use the {what}.")

            app.requestPermission(permission, self, answered)


def microphone_format(device: QAudioDevice) -> QAudioFormat | None:
    """48 kHz mono 16-bit if the device takes it, else its own preferred format (mono or
    stereo, 16-bit or float), else None."""
    wanted = QAudioFormat()
    wanted.setSampleRate(48000)
    wanted.setChannelCount(1)
    wanted.setSampleFormat(QAudioFormat.SampleFormat.Int16)
    if device.isFormatSupported(wanted):
        return wanted
    fmt = device.preferredFormat()
    if fmt.channelCount() > 2:
        fmt.setChannelCount(2 if device.maximumChannelCount() >= 2 else 1)
    usable = (QAudioFormat.SampleFormat.Int16, QAudioFormat.SampleFormat.Float)
    if fmt.sampleFormat() not in usable:
        fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
    if fmt.channelCount() in (1, 2) and fmt.sampleRate() > 0 and device.isFormatSupported(fmt):
        return fmt
    return None
