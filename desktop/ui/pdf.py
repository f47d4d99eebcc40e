"""Rendering a disclosure ``Document`` (built and audited by the domain) on paper or into a PDF,
with Qt's own writer: a ``QTextDocument`` laid out in pages, painted page by page onto a
``QPdfWriter`` (or a ``QPrinter``) between a running header and a "Confidential" footer.

Paper is A4, or US Letter where the locale measures in US units. Nothing here touches a widget,
so rendering may run off the UI thread (Qt supports painting text onto a PDF writer or printer
in a worker thread). A PDF is written atomically: to a temporary file next to the target, which
then replaces it, so a failure never leaves half a record behind."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from desktop.core.disclosure import Document
from desktop.ui import formats
from desktop.ui.files import replacing
from desktop.ui.qt import (
    QColor,
    QFont,
    QImage,
    QLocale,
    QMarginsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPrinter,
    QRectF,
    QSizeF,
    Qt,
    QTextDocument,
    QUrl,
)

PDF_TITLE = "Quietroom disclosure"  # PDF metadata: viewers show it in their title bar
BODY_POINTS = 10.5
BAND_POINTS = 8.5
MARGINS_MM = QMarginsF(18, 14, 18, 14)
DPI = 300


@dataclass(frozen=True)
class Letterhead:
    """What heads every page: who discloses, to whom, why and when."""

    practice: str  # the therapist's name and credentials
    recipient: str
    purpose: str
    day: date  # the disclosure's local date


def page_size_for(locale: QLocale | None = None) -> QPageSize.PageSizeId:
    """A4, or US Letter where the locale measures in US units."""
    system = (locale or QLocale()).measurementSystem()
    if system == QLocale.MeasurementSystem.ImperialUSSystem:
        return QPageSize.PageSizeId.Letter
    return QPageSize.PageSizeId.A4


FIGURE = "quietroom:figure"  # the resource name of a document's figure (a measure's chart)


def document_html(
    document: Document, letterhead: Letterhead, *, figure: tuple[int, int] | None = None
) -> str:
    """The body as HTML; every text from the record is escaped (nothing in a note is markup).
    ``figure``: the width and height, in the page's pixels, of a picture (added to the text
    document as ``FIGURE``) that goes under the header."""
    rows = "".join(
        f"<tr><td style='color:#555555; padding-right:12px'>{label}</td>"
        f"<td>{html.escape(value)}</td></tr>"
        for label, value in (
            ("Prepared by", letterhead.practice),
            ("Recipient", letterhead.recipient),
            ("Purpose", letterhead.purpose),
            ("Date", formats.date_text(letterhead.day)),
        )
    )
    parts = [
        f"<h1 style='font-size:17pt; font-weight:600'>{html.escape(document.title)}</h1>",
        f"<table cellspacing='0' cellpadding='1' style='margin-top:6px'>{rows}</table>",
        "<hr/>",
    ]
    if figure is not None:
        width, height = figure
        parts.append(f"<p><img src='{FIGURE}' width='{width}' height='{height}'/></p>")
    for section in document.sections:
        parts.append(
            f"<h3 style='font-size:12pt; font-weight:600; margin-top:14px'>"
            f"{html.escape(section.heading)}</h3>"
        )
        text = section.text.strip()
        if text:
            paragraphs = text.split("\n")
            parts.append(
                "".join(
                    f"<p style='margin-top:0; margin-bottom:4px'>{_line(p)}</p>" for p in paragraphs
                )
            )
        else:
            parts.append("<p style='color:#777777'>(empty)</p>")
    parts.append(f"<hr/><p style='color:#555555'><i>{html.escape(document.footer)}</i></p>")
    return "".join(parts)


def _line(text: str) -> str:
    return html.escape(text) if text.strip() else "&nbsp;"


def _paint(
    device: QPdfWriter | QPrinter,
    document: Document,
    letterhead: Letterhead,
    figure: QImage | None = None,
) -> int:
    """Lay the document out for ``device``'s pages and paint every page; returns the count."""
    layout = device.pageLayout()
    paint = layout.paintRectPixels(device.resolution())
    width, height = float(paint.width()), float(paint.height())
    points = device.resolution() / 72.0
    band = BAND_POINTS * points * 2.4  # header and footer bands: one small line and some air
    body = QRectF(0.0, band, width, height - 2 * band)

    text = QTextDocument()
    text.documentLayout().setPaintDevice(device)
    font = QFont()
    font.setPointSizeF(BODY_POINTS)
    text.setDefaultFont(font)
    text.setDocumentMargin(0)
    text.setPageSize(QSizeF(body.width(), body.height()))
    size = None
    if figure is not None and not figure.isNull():
        text.addResource(QTextDocument.ResourceType.ImageResource, QUrl(FIGURE), figure)
        # HTML sizes are in 96-dpi pixels, scaled up to the device's resolution when painted.
        wide = int(body.width() * 96 / device.logicalDpiX())
        size = (wide, int(wide * figure.height() / max(1, figure.width())))
    text.setHtml(document_html(document, letterhead, figure=size))
    pages = max(1, text.pageCount())

    band_font = QFont()
    band_font.setPointSizeF(BAND_POINTS)
    painter = QPainter()
    if not painter.begin(device):
        raise OSError("could not write the PDF file (is the folder writable?)")
    try:
        for page in range(pages):
            if page:
                device.newPage()
            painter.save()
            painter.translate(body.left(), body.top() - page * body.height())
            text.drawContents(painter, QRectF(0, page * body.height(), width, body.height()))
            painter.restore()
            _bands(painter, band_font, width, height, band, letterhead, page, pages)
    finally:
        painter.end()
    return pages


def _bands(
    painter: QPainter,
    font: QFont,
    width: float,
    height: float,
    band: float,
    letterhead: Letterhead,
    page: int,
    pages: int,
) -> None:
    painter.save()
    painter.setFont(font)
    painter.setPen(QColor("#555555"))
    metrics = painter.fontMetrics()
    gap = metrics.horizontalAdvance("    ")
    top = QRectF(0, 0, width, band * 0.6)
    right = f"Confidential · {formats.date_text(letterhead.day)}"
    right_width = metrics.horizontalAdvance(right)
    left = metrics.elidedText(
        letterhead.practice, Qt.TextElideMode.ElideRight, int(width - right_width - gap)
    )
    align_top = Qt.AlignmentFlag.AlignTop
    painter.drawText(top, int(Qt.AlignmentFlag.AlignLeft | align_top), left)
    painter.drawText(top, int(Qt.AlignmentFlag.AlignRight | align_top), right)
    painter.drawLine(0, int(band * 0.6), int(width), int(band * 0.6))

    bottom = QRectF(0, height - band * 0.6, width, band * 0.6)
    number = f"Page {page + 1} of {pages}"
    number_width = metrics.horizontalAdvance(number)
    footer = metrics.elidedText(
        f"Confidential — disclosed to {letterhead.recipient} for {letterhead.purpose}",
        Qt.TextElideMode.ElideRight,
        int(width - number_width - gap),
    )
    align_bottom = Qt.AlignmentFlag.AlignBottom
    painter.drawLine(0, int(height - band * 0.6), int(width), int(height - band * 0.6))
    painter.drawText(bottom, int(Qt.AlignmentFlag.AlignLeft | align_bottom), footer)
    painter.drawText(bottom, int(Qt.AlignmentFlag.AlignRight | align_bottom), number)
    painter.restore()


def write_pdf(
    document: Document,
    letterhead: Letterhead,
    path: Path,
    *,
    page_size: QPageSize.PageSizeId | None = None,
    figure: QImage | None = None,
) -> int:
    """Write ``document`` (and ``figure``, a chart, under its header) to ``path`` as a PDF,
    atomically; returns the number of pages."""
    path = Path(path)
    with replacing(path) as temporary:
        writer = QPdfWriter(str(temporary))
        writer.setResolution(DPI)
        writer.setTitle(PDF_TITLE)
        writer.setCreator("Quietroom")
        writer.setPageSize(QPageSize(page_size or page_size_for()))
        writer.setPageMargins(MARGINS_MM, QPageLayout.Unit.Millimeter)
        pages = _paint(writer, document, letterhead, figure)
        del writer  # finishes the file
    return pages


def print_document(
    document: Document, letterhead: Letterhead, printer: QPrinter, *, figure: QImage | None = None
) -> int:
    """Print ``document`` on a printer the user chose (in a print dialog); returns pages."""
    printer.setDocName(PDF_TITLE)
    return _paint(printer, document, letterhead, figure)
