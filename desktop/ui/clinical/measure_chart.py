"""A client's scores on one measure over time (Qt Charts): the severity bands behind, the line
of scores, the cutoff dashed, and markers where the change from the first result is reliable
(improvement or deterioration) or clinically significant, and where an answer was flagged.

The same chart is drawn on screen (``MeasureChart``) and into a printed disclosure
(``chart_image``), so what is printed is what the therapist saw."""

from __future__ import annotations

from datetime import datetime, timedelta

from desktop.core.clinical.change import Direction
from desktop.core.clinical.measures import MeasureHistory
from desktop.ui import formats
from desktop.ui.qt import (
    QAreaSeries,
    QBrush,
    QChart,
    QChartView,
    QColor,
    QDateTimeAxis,
    QImage,
    QLineSeries,
    QPainter,
    QPen,
    QScatterSeries,
    QSize,
    Qt,
    QValueAxis,
)

# Band tints from the calmest to the most severe (light enough to read a line over them).
BAND_TINTS = ("#cfe8d4", "#e4efc4", "#f6ecbd", "#f7d9b5", "#f2c0b8", "#eaaaa8", "#e29996")
IMPROVED = QColor("#1b7f3b")
DETERIORATED = QColor("#b3261e")
SIGNIFICANT = QColor("#0b5cad")
FLAGGED = QColor("#7b1fa2")
PAD = timedelta(days=3)


def _ms(moment: datetime) -> float:
    return float(formats.qdatetime(moment).toMSecsSinceEpoch())


def _tint(index: int, count: int, higher_is_worse: bool) -> QColor:
    """Spread the bands over the tints: the first band calmest (for higher-is-worse)."""
    position = 0 if count <= 1 else round(index * (len(BAND_TINTS) - 1) / (count - 1))
    colour = QColor(BAND_TINTS[position if higher_is_worse else len(BAND_TINTS) - 1 - position])
    colour.setAlpha(170)
    return colour


def build_chart(history: MeasureHistory, title: str = "") -> QChart:
    instrument = history.instrument
    chart = QChart()
    chart.setTitle(title)
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignRight)
    points = history.points
    times = [p.result.administered_at for p in points]
    start = (min(times) if times else datetime.now().astimezone()) - PAD
    end = (max(times) if times else datetime.now().astimezone()) + PAD
    x_axis = QDateTimeAxis()
    x_axis.setFormat(formats.day_month_pattern().replace("MMMM", "MMM"))
    x_axis.setRange(formats.qdatetime(start), formats.qdatetime(end))
    x_axis.setTickCount(min(8, max(2, len(points) + 1)))
    x_axis.setTitleText("Date given")
    y_axis = QValueAxis()
    y_axis.setRange(instrument.min_score, instrument.max_score)
    y_axis.setLabelFormat("%d" if float(instrument.max_score).is_integer() else "%.1f")
    span = instrument.max_score - instrument.min_score
    step = next((s for s in (1, 2, 5, 10, 20, 50) if span / s <= 8), 100)
    y_axis.setTickType(QValueAxis.TickType.TicksDynamic)
    y_axis.setTickAnchor(instrument.min_score)
    y_axis.setTickInterval(step if span >= 4 else span / 4)
    y_axis.setTitleText(f"{instrument.name} score")
    chart.addAxis(x_axis, Qt.AlignmentFlag.AlignBottom)
    chart.addAxis(y_axis, Qt.AlignmentFlag.AlignLeft)

    def attach(series: QLineSeries | QAreaSeries | QScatterSeries) -> None:
        chart.addSeries(series)
        series.attachAxis(x_axis)
        series.attachAxis(y_axis)

    left, right = _ms(start), _ms(end)
    for index, band in enumerate(instrument.bands):
        low, high = QLineSeries(), QLineSeries()
        # Bands meet halfway between whole scores, so none leaves a gap.
        half = 0.5 if float(instrument.max_score).is_integer() else 0.005
        bottom = max(instrument.min_score, band.low - half)
        top = min(instrument.max_score, band.high + half)
        low.append(left, bottom)
        low.append(right, bottom)
        high.append(left, top)
        high.append(right, top)
        area = QAreaSeries(high, low)
        high.setParent(area)  # an area series does not own its edges; Python would free them
        low.setParent(area)
        area.setName(band.label)
        area.setColor(_tint(index, len(instrument.bands), instrument.higher_is_worse))
        area.setPen(QPen(Qt.PenStyle.NoPen))
        attach(area)

    criteria = instrument.change
    if criteria is not None and criteria.cutoff is not None:
        cutoff = QLineSeries()
        cutoff.setName(f"Cutoff ({criteria.cutoff:g})")
        cutoff.append(left, criteria.cutoff)
        cutoff.append(right, criteria.cutoff)
        pen = QPen(QColor("#555555"))
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setWidthF(1.5)
        cutoff.setPen(pen)
        attach(cutoff)

    line = QLineSeries()
    line.setName("Score")
    pen = QPen(QColor("#202020"))
    pen.setWidthF(2.5)
    line.setPen(pen)
    dots = QScatterSeries()
    dots.setMarkerSize(8)
    dots.setColor(QColor("#202020"))
    for point in points:
        line.append(_ms(point.result.administered_at), point.result.total)
        dots.append(_ms(point.result.administered_at), point.result.total)
    attach(line)
    attach(dots)
    chart.legend().markers(dots)[0].setVisible(False)

    def markers(name: str, colour: QColor, shape: QScatterSeries.MarkerShape, size: float,
                wanted: list[tuple[datetime, float]]) -> None:  # fmt: skip
        if not wanted:
            return
        series = QScatterSeries()
        series.setName(name)
        series.setMarkerShape(shape)
        series.setMarkerSize(size)
        series.setColor(colour)
        series.setBorderColor(QColor("#ffffff"))
        for moment, value in wanted:
            series.append(_ms(moment), value)
        attach(series)

    def where(test: object) -> list[tuple[datetime, float]]:
        return [(p.result.administered_at, p.result.total) for p in points if test(p)]  # type: ignore[operator]

    circle = QScatterSeries.MarkerShape.MarkerShapeCircle
    markers("Reliable improvement", IMPROVED, circle, 15,
            where(lambda p: p.change is not None and p.change.direction is Direction.IMPROVED
                  and not p.change.clinically_significant))  # fmt: skip
    markers("Clinically significant improvement", SIGNIFICANT,
            QScatterSeries.MarkerShape.MarkerShapeStar, 22,
            where(lambda p: p.change is not None and p.change.clinically_significant))  # fmt: skip
    markers("Reliable deterioration", DETERIORATED, QScatterSeries.MarkerShape.MarkerShapeTriangle,
            16, where(lambda p: p.change is not None
                      and p.change.direction is Direction.DETERIORATED))  # fmt: skip
    flagged = where(lambda p: p.result.flagged)
    if flagged:  # a ring around the point, whatever else marks it
        ring = QScatterSeries()
        ring.setName("Flagged answer")
        ring.setMarkerSize(28)
        ring.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        ring.setPen(QPen(FLAGGED, 3))
        for moment, value in flagged:
            ring.append(_ms(moment), value)
        attach(ring)
    return chart


class MeasureChart(QChartView):
    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Scores over time")
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(260)
        self.history: MeasureHistory | None = None
        self.clear()

    def show_history(self, history: MeasureHistory) -> None:
        self.history = history
        old = self.chart()
        self.setChart(build_chart(history))
        old.deleteLater()
        self.setAccessibleDescription(f"{history.instrument.name}: {len(history.points)} results")

    def clear(self) -> None:
        self.history = None
        old = self.chart()
        self.setChart(QChart())
        if old is not None:
            old.deleteLater()
        self.setAccessibleDescription("")


def chart_image(history: MeasureHistory, width: int = 1000, height: int = 500) -> QImage:
    """The chart drawn into an image (on the UI thread), for a printed page."""
    view = QChartView(build_chart(history))
    view.setRenderHint(QPainter.RenderHint.Antialiasing)
    view.resize(QSize(width, height))
    image = view.grab().toImage()
    view.deleteLater()
    return image
