"""PDF documents of the records package (the record set, the superbill), written with ReportLab
so that the app and the command line produce the same file without Qt.

Text is set in DejaVu Sans when it is installed (Debian's fonts-dejavu-core, which Quietroom's
system packages include), which covers Latin, Greek and Cyrillic names; otherwise in Bitstream
Vera, which ReportLab ships (Western European characters only). Dates and amounts are formatted
by a ``Formats`` the caller passes: the app gives its locale's formats (QLocale), the command
line a neutral default."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from desktop.core.records.formats import Formats

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
    Path("/Library/Fonts"),
)
_BUNDLED = Path(reportlab.__file__).parent / "fonts"


def _register_fonts() -> tuple[str, str]:
    if "QR-Regular" in pdfmetrics.getRegisteredFontNames():
        return "QR-Regular", "QR-Bold"
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            break
    else:
        regular, bold = _BUNDLED / "Vera.ttf", _BUNDLED / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont("QR-Regular", str(regular)))
    pdfmetrics.registerFont(TTFont("QR-Bold", str(bold)))
    return "QR-Regular", "QR-Bold"


# A headed section: its heading, and label/value pairs or a sentence.
Section = tuple[str, Sequence[tuple[str, str]] | str]


@dataclass
class Page:
    """A document under construction: a title, a running footer and its flowables."""

    title: str
    footer: str
    formats: Formats = field(default_factory=Formats)
    story: list[Flowable] = field(default_factory=list)

    def __post_init__(self) -> None:
        regular, bold = _register_fonts()
        self.font, self.bold = regular, bold
        self.body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13.5)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8.5, leading=11)
        self.h1 = ParagraphStyle("h1", fontName=bold, fontSize=16, leading=20, spaceAfter=6)
        self.h2 = ParagraphStyle(
            "h2", fontName=bold, fontSize=12, leading=15, spaceBefore=10, spaceAfter=4
        )
        self.h3 = ParagraphStyle(
            "h3", fontName=bold, fontSize=10, leading=13, spaceBefore=6, spaceAfter=2
        )

    def heading(self, text: str, level: int = 2) -> None:
        style = {1: self.h1, 2: self.h2}.get(level, self.h3)
        self.story.append(Paragraph(escape(text), style))

    def text(self, text: str, *, small: bool = False) -> None:
        """Plain text; line breaks are kept."""
        html = "<br/>".join(escape(line) for line in text.splitlines()) or "&nbsp;"
        self.story.append(Paragraph(html, self.small if small else self.body))

    def keep_together(self, start: int) -> None:
        """Keep what was added since ``len(story) == start`` on one page (e.g. the totals and
        the signature line: never a signature alone on a page)."""
        self.story[start:] = [KeepTogether(self.story[start:])]

    def space(self, height_mm: float = 3) -> None:
        self.story.append(Spacer(1, height_mm * mm))

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float] | None = None,
        *,
        right_align: Sequence[int] = (),
        bold_last_row: bool = False,
    ) -> None:
        """A table with a repeated header row; ``widths`` in millimetres."""
        cell = ParagraphStyle("cell", parent=self.body, fontSize=9, leading=11.5)
        head = ParagraphStyle("head", parent=cell, fontName=self.bold)
        data = [[Paragraph(escape(h), head) for h in header]]
        data += [[Paragraph(escape(str(c)), cell) for c in row] for row in rows]
        table = Table(
            data,
            colWidths=None if widths is None else [w * mm for w in widths],
            repeatRows=1,
            hAlign="LEFT",
        )
        style = [
            ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
            ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ]
        for column in right_align:
            for r, row in enumerate(data):
                row[column].style = ParagraphStyle(f"r{r}", parent=row[column].style, alignment=2)
        if bold_last_row and rows:
            style.append(("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black))
            for c in data[-1]:
                c.style = ParagraphStyle("total", parent=c.style, fontName=self.bold)
        table.setStyle(TableStyle(style))
        self.story.append(table)

    def key_values(self, pairs: Sequence[tuple[str, str]], label_mm: float = 42) -> None:
        table = self._key_value_table(pairs, label_mm)
        if table is not None:
            self.story.append(table)

    def _key_value_table(
        self, pairs: Sequence[tuple[str, str]], label_mm: float, width_mm: float | None = None
    ) -> Table | None:
        rows = [(k, v) for k, v in pairs if v]
        if not rows:
            return None
        label = ParagraphStyle("label", parent=self.body, fontName=self.bold, fontSize=9.5)
        value = ParagraphStyle("value", parent=self.body, fontSize=9.5)
        data = [
            [Paragraph(escape(k), label), Paragraph(escape(v).replace("\n", "<br/>"), value)]
            for k, v in rows
        ]
        widths = [label_mm * mm, None if width_mm is None else (width_mm - label_mm) * mm]
        table = Table(data, colWidths=widths, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                    ("LEFTPADDING", (0, 0), (0, -1), 0),
                ]
            )
        )
        return table

    def two_columns(self, left: Section, right: Section, label_mm: float = 30) -> None:
        """Two headed sections side by side (e.g. the client and their insurance); each is a
        heading and either label/value pairs or a sentence."""
        column_mm = (self.width_mm - 6) / 2
        cells: list[list[Flowable]] = []
        for title, body in (left, right):
            content: list[Flowable] = [Paragraph(escape(title), self.h2)]
            if isinstance(body, str):
                content.append(Paragraph(escape(body), self.body))
            elif (table := self._key_value_table(body, label_mm, column_mm)) is not None:
                content.append(table)
            cells.append(content)
        table = Table([cells], colWidths=[(column_mm + 6) * mm, column_mm * mm], hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 0),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                ]
            )
        )
        self.story += [Spacer(1, 3 * mm), table]

    @property
    def width_mm(self) -> float:
        """The text width: the paper's less the margins (18 mm each side)."""
        return float((LETTER if self.formats.letter_paper else A4)[0] / mm - 36)

    def render(self) -> bytes:
        out = io.BytesIO()
        size = LETTER if self.formats.letter_paper else A4
        doc = SimpleDocTemplate(
            out,
            pagesize=size,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=16 * mm,
            bottomMargin=18 * mm,
            title=self.title,
            author="Quietroom",
            creator="Quietroom",
        )

        def footer(canvas: Canvas, _doc: object) -> None:
            canvas.saveState()
            canvas.setFont(self.font, 7.5)
            canvas.setFillColor(colors.dimgrey)
            canvas.drawString(18 * mm, 10 * mm, self.footer)
            canvas.drawRightString(size[0] - 18 * mm, 10 * mm, f"{canvas.getPageNumber()}")
            canvas.restoreState()

        doc.build(self.story, onFirstPage=footer, onLaterPages=footer)
        return out.getvalue()
