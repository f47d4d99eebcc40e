"""A widget that paints video frames, scaled to fit, with a calm placeholder when there are none.

A frame's RGB bytes are wrapped in a ``QImage`` without copying (the widget keeps the frame, and so
its buffer, alive until the next one replaces it), and scaled while painting. So a decoded frame is
copied once on its way to the screen: by the engine, out of the decoder. ``update()`` coalesces
repaints, and :class:`desktop.ui.call_bridge.CallBridge` keeps only the newest frame, so a busy UI
thread paints fewer frames, never a growing backlog of stale ones.
"""

from __future__ import annotations

from desktop.ui.qt import (
    QColor,
    QImage,
    QPainter,
    QPaintEvent,
    QRect,
    QSize,
    QSizePolicy,
    Qt,
    QWidget,
)
from telehealth.engine import RgbFrame


def wrap_frame(frame: RgbFrame) -> QImage:
    """A QImage over the frame's own buffer (no copy); keep ``frame`` alive while it is used."""
    return QImage(frame.data, frame.width, frame.height, frame.stride, QImage.Format.Format_RGB888)


def fit(source: QSize, bounds: QRect) -> QRect:
    """The largest rectangle of ``source``'s aspect ratio centred in ``bounds``."""
    scaled = source.scaled(bounds.size(), Qt.AspectRatioMode.KeepAspectRatio)
    x = bounds.x() + (bounds.width() - scaled.width()) // 2
    y = bounds.y() + (bounds.height() - scaled.height()) // 2
    return QRect(x, y, scaled.width(), scaled.height())


class VideoView(QWidget):
    """Remote video (large) or the self view (small, mirrored like a mirror)."""

    BACKGROUND = QColor("#1f2a2e")
    TEXT = QColor("#d9e2e4")
    FRAME = QColor(255, 255, 255, 110)

    def __init__(
        self,
        placeholder: str,
        *,
        mirrored: bool = False,
        framed: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._placeholder = placeholder
        self._mirrored = mirrored
        self._framed = framed  # a thin outline, so the self view stands out on the stage
        self._frame: RgbFrame | None = None  # owns the buffer the image points into
        self._image: QImage | None = None
        self.frames_received = 0
        self.frames_painted = 0
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName(placeholder)

    def show_frame(self, frame: RgbFrame) -> None:
        self._frame = frame
        self._image = wrap_frame(frame)
        self.frames_received += 1
        self.update()

    def clear(self, placeholder: str | None = None) -> None:
        """Forget the picture (nothing of the call lingers) and show ``placeholder``."""
        self._frame = None
        self._image = None
        if placeholder is not None:
            self._placeholder = placeholder
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        if self._image is None:
            self.update()

    @property
    def placeholder(self) -> str:
        return self._placeholder

    def image(self) -> QImage | None:
        """The frame being shown (a view on its buffer)."""
        return self._image

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.BACKGROUND)
        image = self._image
        if image is None:
            painter.setPen(self.TEXT)
            painter.drawText(
                self.rect().adjusted(8, 8, -8, -8),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
        else:
            target = fit(image.size(), self.rect())
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            if self._mirrored:
                painter.translate(target.x() * 2 + target.width(), 0)
                painter.scale(-1, 1)
            painter.drawImage(target, image)
            painter.resetTransform()
            self.frames_painted += 1
        if self._framed:
            painter.setPen(self.FRAME)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()
