"""The invitation link as a QR code, drawn with Qt from ``segno``'s module matrix (no file, no
network). Returns None when ``segno`` is not installed: the link and its Copy button remain."""

from __future__ import annotations

from desktop.ui.qt import QColor, QImage, QPainter, QPixmap, Qt

try:
    import segno

    HAVE_SEGNO = True
except ImportError:  # optional: the window works without the QR code
    HAVE_SEGNO = False


def qr_pixmap(text: str, size: int = 180) -> QPixmap | None:
    """A black-on-white QR code of ``text`` (error correction M), about ``size`` pixels wide."""
    if not HAVE_SEGNO:
        return None
    code = segno.make_qr(text, error="m", boost_error=False)
    matrix = code.matrix
    border = 4  # the quiet zone the standard asks for
    modules = len(matrix) + 2 * border
    scale = max(1, size // modules)
    image = QImage(modules * scale, modules * scale, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("black"))
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                painter.drawRect((x + border) * scale, (y + border) * scale, scale, scale)
    painter.end()
    return QPixmap.fromImage(image)
