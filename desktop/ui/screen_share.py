"""Sharing a screen or a window with the client (a worksheet, a chart), in place of the camera.

Three kinds of source, one way out: every captured picture is scaled to at most 1280x720 and
handed to :class:`desktop.ui.local_media.LocalMedia`, which sends it on the call's one video track
(the client sees the shared picture where the therapist's face was; the camera comes back when
sharing stops), so nothing is renegotiated.

* a whole screen: QtMultimedia's ``QScreenCapture`` (each ``QScreen`` of the desktop);
* another application's window: ``QWindowCapture`` (Qt 6.6+; the system's list of windows);
* one of Quietroom's own windows, or any widget: a grab of the widget 5 times a second
  (``QWidget.grab``), which works everywhere, also without a display server (the tests use it).

The picker names windows by their titles only; the call window itself is never offered (sharing
it would show the client their own picture in a loop).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from desktop.ui.qt import QGuiApplication, QImage, QObject, QScreen, Qt, QTimer, QWidget, Signal
from desktop.ui.qt_media import (
    QCapturableWindow,
    QMediaCaptureSession,
    QScreenCapture,
    QVideoFrame,
    QVideoSink,
    QWindowCapture,
)

MAX_SHARE_SIZE: Final = (1280, 720)
GRAB_FPS: Final = 5


@dataclass(frozen=True)
class ShareSource:
    """What the picker lists: a label for the therapist and how to start capturing it."""

    label: str
    kind: str  # "screen", "window" or "widget"
    screen: QScreen | None = None
    window: QCapturableWindow | None = None
    widget: QWidget | None = None


def available_sources(exclude: QWidget | None = None) -> list[ShareSource]:
    """The screens, then the other applications' windows the system lets us capture."""
    sources = [
        ShareSource(f"Whole screen: {screen.name() or 'screen'}", "screen", screen=screen)
        for screen in QGuiApplication.screens()
    ]
    excluded = exclude.windowTitle() if exclude is not None else None
    for window in QWindowCapture.capturableWindows():
        title = window.description()
        if title and title != excluded:
            sources.append(ShareSource(f"Window: {title}", "window", window=window))
    return sources


def fit(image: QImage) -> QImage:
    if image.width() > MAX_SHARE_SIZE[0] or image.height() > MAX_SHARE_SIZE[1]:
        image = image.scaled(
            *MAX_SHARE_SIZE,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    return image.convertToFormat(QImage.Format.Format_RGB888)


class ScreenShare(QObject):
    """One running share. ``picture`` carries each captured ``QImage`` (RGB888, scaled);
    ``stopped`` says why it ended when it ended on its own (a window closed, capture refused)."""

    picture = Signal(object)  # QImage
    stopped = Signal(str)

    def __init__(self, source: ShareSource, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self._session: QMediaCaptureSession | None = None
        self._capture: QScreenCapture | QWindowCapture | None = None
        self._sink: QVideoSink | None = None
        self._timer: QTimer | None = None
        self.pictures = 0

    def start(self) -> None:
        source = self.source
        if source.kind == "widget":
            widget = source.widget
            assert widget is not None
            self._timer = QTimer(self)
            self._timer.setInterval(1000 // GRAB_FPS)
            self._timer.timeout.connect(lambda: self._grab(widget))
            self._timer.start()
            self._grab(widget)
            return
        self._session = QMediaCaptureSession(self)
        self._sink = QVideoSink(self)
        self._sink.videoFrameChanged.connect(self._frame)
        if source.kind == "screen":
            capture: QScreenCapture | QWindowCapture = QScreenCapture(self)
            assert isinstance(capture, QScreenCapture)
            assert source.screen is not None
            capture.setScreen(source.screen)
            self._session.setScreenCapture(capture)
        else:
            capture = QWindowCapture(self)
            assert isinstance(capture, QWindowCapture)
            assert source.window is not None
            capture.setWindow(source.window)
            self._session.setWindowCapture(capture)
        capture.errorOccurred.connect(self._failed)
        self._capture = capture
        self._session.setVideoSink(self._sink)
        capture.start()

    def _grab(self, widget: QWidget) -> None:
        if not widget.isVisible():
            self.stop()
            self.stopped.emit("The shared window was closed.")
            return
        self._emit(widget.grab().toImage())

    def _frame(self, frame: QVideoFrame) -> None:
        image = frame.toImage()
        if not image.isNull():
            self._emit(image)

    def _emit(self, image: QImage) -> None:
        self.pictures += 1
        self.picture.emit(fit(image))

    def _failed(self, _error: object, text: str) -> None:
        self.stop()
        self.stopped.emit(f"Sharing stopped: {text or 'the system refused to capture it'}.")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.stop()
        for obj in (capture, self._sink, self._session):
            if obj is not None:
                obj.deleteLater()
        self._sink = self._session = None


ShareStarter = Callable[[ShareSource], None]
