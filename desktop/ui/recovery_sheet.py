"""The recovery key on paper: one A4/Letter page to print or save as PDF (Qt's own PDF writer),
with what the key is for and how to keep it."""

from __future__ import annotations

from pathlib import Path

from desktop.ui.files import replacing
from desktop.ui.qt import (
    QFont,
    QFontDatabase,
    QMarginsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QPrinter,
    QRectF,
    QSize,
    Qt,
)

INSTRUCTIONS = (
    "This key opens your Quietroom vault if you forget your passphrase, and it opens your "
    "encrypted backups on a new computer. Anyone who has it and a copy of your vault or a "
    "backup can read your clients' records.\n\n"
    "Keep this page somewhere safe and away from the computer: a locked drawer, a safe, or with "
    "your clinical will. Do not keep a photo or a copy of it on this computer or in e-mail. "
    "If you lose it and forget your passphrase, nobody can open the records."
)


def _page_layout() -> QPageLayout:
    return QPageLayout(
        QPageSize(QPageSize.PageSizeId.A4),
        QPageLayout.Orientation.Portrait,
        QMarginsF(20, 20, 20, 20),
        QPageLayout.Unit.Millimeter,
    )


def _printable(size: QSize) -> QRectF:
    """The painter's origin is already inside the margins."""
    return QRectF(0, 0, size.width(), size.height())


def paint_sheet(painter: QPainter, page: QRectF, key: str, therapist: str, created: str) -> None:
    """Draw the sheet into ``page`` (device pixels)."""
    unit = page.width() / 170.0  # one millimetre of the printable width
    y = page.top()

    def text(content: str, size: float, *, bold: bool = False, mono: bool = False,
             height_mm: float = 10.0, flags: int = 0) -> None:  # fmt: skip
        nonlocal y
        font = (QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont) if mono
                else QFont())  # fmt: skip
        font.setPixelSize(max(1, round(size * unit)))
        font.setBold(bold)
        painter.setFont(font)
        box = QRectF(page.left(), y, page.width(), height_mm * unit)
        painter.drawText(box, flags | int(Qt.TextFlag.TextWordWrap), content)
        y += height_mm * unit

    text("Quietroom recovery key", 7, bold=True, height_mm=14)
    text(f"For the vault of: {therapist or 'this practice'}", 4, height_mm=7)
    text(f"Created: {created}", 4, height_mm=14)
    painter.setPen(QPen(Qt.GlobalColor.black, 0.5 * unit, Qt.PenStyle.DashLine))
    frame = QRectF(page.left(), y, page.width(), 30 * unit)
    painter.drawRoundedRect(frame, 3 * unit, 3 * unit)
    y += 8 * unit
    text(key, 6.2, bold=True, mono=True, height_mm=22, flags=int(Qt.AlignmentFlag.AlignHCenter))
    y += 6 * unit
    text(INSTRUCTIONS, 4, height_mm=70)


def save_pdf(path: Path, key: str, therapist: str, created: str) -> None:
    """Write the sheet to ``path`` atomically (a temporary file beside it, then a rename), so a
    failed write leaves nothing half-written."""
    with replacing(Path(path)) as temporary:
        writer = QPdfWriter(str(temporary))
        writer.setTitle("Quietroom recovery key")
        writer.setCreator("Quietroom")
        writer.setPageLayout(_page_layout())
        writer.setResolution(300)
        painter = QPainter(writer)
        try:
            paint_sheet(painter, _printable(writer.pageLayout().paintRectPixels(300).size()),
                        key, therapist, created)  # fmt: skip
        finally:
            painter.end()


def print_sheet(printer: QPrinter, key: str, therapist: str, created: str) -> None:
    printer.setPageLayout(_page_layout())
    painter = QPainter(printer)
    try:
        size = printer.pageLayout().paintRectPixels(printer.resolution()).size()
        paint_sheet(painter, _printable(size), key, therapist, created)
    finally:
        painter.end()
