"""Charts as inline SVG, built from numbers: no raster images, no plotting library.

Every coordinate and size is computed from a number and written with a fixed format;
every text is XML-escaped; colours come from the report config (validated ``#rrggbb``)
and the font family is explicit so that Chinese labels render with a CJK font. The
functions return :class:`markupsafe.Markup`, ready for a template.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from markupsafe import Markup

_NEUTRAL = "#9aa5b1"


def _n(value: float) -> str:
    """A coordinate: finite, two decimals at most."""
    number = float(value)
    if not math.isfinite(number):
        number = 0.0
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _t(text: Any) -> str:
    return escape(str(text), quote=True)


def _text_width(text: str, size: float) -> float:
    """Rough advance width: CJK characters are one em, others a little over half."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.58 for ch in text)


# Axis text (tick labels, axis titles) of the charts of every report. An SVG unit
# is a CSS px (0.75 pt) and the charts are printed at their size: 9.5 units is 7.1 pt.
# The palette's muted grey (#8a94a6) at 6.5 units (4.9 pt) was too small and too light
# to read on paper.
AXIS_SIZE = 9.5
AXIS_FILL = "#4a5363"


class Chart:
    """An SVG canvas that writes escaped elements."""

    def __init__(self, width: float, height: float, font_family: str, *, label: str = "") -> None:
        self.width = width
        self.height = height
        self.font = font_family
        self.parts: list[str] = []
        self.label = label

    def rect(self, x: float, y: float, w: float, h: float, fill: str, *, rx: float = 0) -> None:
        self.parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0))}" height="{_n(max(h, 0))}"'
            f' rx="{_n(rx)}" fill="{_t(fill)}"/>'
        )

    def line(
        self, x1: float, y1: float, x2: float, y2: float, stroke: str, width: float = 1
    ) -> None:
        self.parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}"'
            f' stroke="{_t(stroke)}" stroke-width="{_n(width)}"/>'
        )

    def circle(self, x: float, y: float, r: float, fill: str, stroke: str = "none") -> None:
        self.parts.append(
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{_t(fill)}"'
            f' stroke="{_t(stroke)}" stroke-width="1.5"/>'
        )

    def path(self, d: str, stroke: str, width: float, fill: str = "none") -> None:
        # ``d`` is built only from _n() numbers by the callers.
        self.parts.append(
            f'<path d="{d}" fill="{_t(fill)}" stroke="{_t(stroke)}" stroke-width="{_n(width)}"/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: Any,
        *,
        size: float = 8,
        fill: str = "#333333",
        anchor: str = "start",
        weight: str = "normal",
        vertical: bool = False,
    ) -> None:
        """``vertical``: read bottom to top (a y-axis title), turned about (x, y)."""
        anchor = anchor if anchor in ("start", "middle", "end") else "start"
        weight = "bold" if weight == "bold" else "normal"
        turn = f' transform="rotate(-90 {_n(x)} {_n(y)})"' if vertical else ""
        self.parts.append(
            f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" fill="{_t(fill)}"'
            f' text-anchor="{anchor}" font-weight="{weight}"{turn}>{_t(text)}</text>'
        )

    def markup(self) -> Markup:
        label = f' aria-label="{_t(self.label)}"' if self.label else ""
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(self.width)}"'
            f' height="{_n(self.height)}" viewBox="0 0 {_n(self.width)} {_n(self.height)}"'
            f' font-family="{_t(self.font)}"{label}>'
        )
        return Markup(head + "".join(self.parts) + "</svg>")  # noqa: S704 - built escaped


def _arc(cx: float, cy: float, r: float, start: float, end: float) -> str:
    """SVG path of a circular arc from angle ``start`` to ``end`` (radians, clockwise)."""
    x1, y1 = cx + r * math.cos(start), cy + r * math.sin(start)
    x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
    large = 1 if abs(end - start) > math.pi else 0
    return f"M {_n(x1)} {_n(y1)} A {_n(r)} {_n(r)} 0 {large} 1 {_n(x2)} {_n(y2)}"


def _ring(cx: float, cy: float, r: float, start: float) -> str:
    """SVG path of a whole circle from angle ``start``: two half arcs (an arc cannot end
    where it starts)."""
    x1, y1 = _n(cx + r * math.cos(start)), _n(cy + r * math.sin(start))
    x2, y2 = _n(cx - r * math.cos(start)), _n(cy - r * math.sin(start))
    return f"M {x1} {y1} A {_n(r)} {_n(r)} 0 0 1 {x2} {y2} A {_n(r)} {_n(r)} 0 0 1 {x1} {y1} Z"


def gauge(
    gauge_data: Mapping[str, Any],
    *,
    colors: Mapping[str, str],
    style: Mapping[str, str],
    score_text: str,
    caption: str,
) -> Markup:
    """A half-circle score gauge: grade-coloured segments, a marker at the score."""
    width, height = 190.0, 112.0
    chart = Chart(width, height, style["font_family"], label=caption)
    cx, cy, r, thick = width / 2, 90.0, 72.0, 14.0
    low, high = float(gauge_data["min"]), float(gauge_data["max"])
    span = high - low

    def angle(value: float) -> float:
        share = min(max((value - low) / span, 0.0), 1.0)
        return math.pi + share * math.pi

    segments = gauge_data.get("segments") or []
    if not segments:
        segments = [{"grade": None, "from": low, "to": high}]
    chart.path(_arc(cx, cy, r, math.pi, 2 * math.pi), style["grid"], thick)
    for seg in segments:
        start, end = angle(seg["from"]), angle(seg["to"])
        gap = 0.01 if end - start > 0.05 else 0
        color = colors.get(seg["grade"] or "", style["accent"])
        chart.path(_arc(cx, cy, r, start + gap, end - gap), color, thick)
        if seg["grade"] and end - start > 0.2:
            mid = (start + end) / 2
            chart.text(
                cx + r * math.cos(mid),
                cy + r * math.sin(mid) + 2.8,
                seg["grade"],
                size=8.5,
                fill="#ffffff",
                anchor="middle",
                weight="bold",
            )
    value = gauge_data.get("value")
    if value is not None:
        a = angle(float(value))
        inner, outer = r - thick / 2 - 5, r + thick / 2 + 3
        chart.line(
            cx + inner * math.cos(a),
            cy + inner * math.sin(a),
            cx + outer * math.cos(a),
            cy + outer * math.sin(a),
            style["primary"],
            3,
        )
        chart.circle(cx + outer * math.cos(a), cy + outer * math.sin(a), 3, style["primary"])
    chart.text(cx - r, cy + 15, f"{low:.0f}", size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle")
    chart.text(cx + r, cy + 15, f"{high:.0f}", size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle")
    chart.text(
        cx, cy - 8, score_text, size=26, fill=style["primary"], anchor="middle", weight="bold"
    )
    chart.text(cx, cy + 10, caption, size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle")
    return chart.markup()


def hbar(share: float | None, *, color: str, style: Mapping[str, str], width: float = 90) -> Markup:
    """A thin horizontal bar filled to ``share`` (0-1) of its width."""
    chart = Chart(width, 9, style["font_family"])
    chart.rect(0, 1, width, 7, style["grid"], rx=2)
    if share is not None and math.isfinite(share):
        chart.rect(0, 1, width * min(max(share, 0.0), 1.0), 7, color, rx=2)
    return chart.markup()


def percentile_marker(
    percentile: int | None, *, style: Mapping[str, str], flag_color: str, flagged: bool
) -> Markup:
    """A 0-100 track with a dot at the customer's percentile."""
    width = 70.0
    chart = Chart(width, 10, style["font_family"])
    chart.rect(0, 4, width, 2, style["grid"], rx=1)
    for tick in (0.25, 0.5, 0.75):
        chart.line(width * tick, 2.5, width * tick, 7.5, style["grid"], 1)
    if percentile is not None:
        x = 4 + (width - 8) * min(max(percentile, 0), 100) / 100
        chart.circle(x, 5, 3.2, flag_color if flagged else style["accent"])
    return chart.markup()


def donut(
    rows: Sequence[Mapping[str, Any]],
    *,
    colors: Mapping[str, str],
    style: Mapping[str, str],
    center_text: str,
    center_caption: str,
) -> Markup:
    """Shares of the grades as a donut with the total in the middle."""
    size = 132.0
    chart = Chart(size, size, style["font_family"], label=center_caption)
    cx = cy = size / 2
    r = 50.0
    total = sum(float(row["count"]) for row in rows)
    start = -math.pi / 2
    if total <= 0:
        chart.path(_ring(cx, cy, r, start), style["grid"], 20)
    for row in rows:
        share = float(row["count"]) / total if total else 0.0
        if share <= 0:
            continue
        end = start + share * 2 * math.pi
        color = colors.get(row.get("code") or "", _NEUTRAL)
        # (one grade holding every customer: an arc from a point back to the same
        # point, as the coordinates are rounded, draws nothing)
        whole = share >= 0.9999
        chart.path(_ring(cx, cy, r, start) if whole else _arc(cx, cy, r, start, end), color, 20)
        if share >= 0.06:
            mid = (start + end) / 2
            chart.text(
                cx + r * math.cos(mid),
                cy + r * math.sin(mid) + 3,
                row.get("code", ""),
                size=8,
                fill="#ffffff",
                anchor="middle",
                weight="bold",
            )
        start = end
    chart.text(
        cx, cy + 2, center_text, size=15, fill=style["primary"], anchor="middle", weight="bold"
    )
    chart.text(cx, cy + 14, center_caption, size=7, fill=style["muted"], anchor="middle")
    return chart.markup()


def histogram(
    hist: Mapping[str, Any],
    *,
    colors: Mapping[str, str],
    style: Mapping[str, str],
    caption: str,
    y_title: str = "",
    width: float = 690,
    height: float = 150,
) -> Markup:
    """Vertical bars of the score histogram, coloured by the bin's most common grade;
    ``caption`` titles the x-axis (scores) and ``y_title`` the y-axis (customers)."""
    chart = Chart(width, height, style["font_family"], label=caption)
    bins = hist.get("bins") or []
    left, right, top, bottom = 46.0, 8.0, 8.0, 27.0
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b["count"] for b in bins), default=0)
    nice, ticks = count_axis(peak)
    for i in range(ticks + 1):
        value = nice * i / ticks
        y = top + plot_h - plot_h * i / ticks
        chart.line(left, y, width - right, y, style["grid"], 0.8)
        chart.text(left - 4, y + 3.3, f"{value:,.0f}", size=AXIS_SIZE, fill=AXIS_FILL, anchor="end")
    if y_title:
        chart.text(
            10,
            top + plot_h / 2,
            y_title,
            size=AXIS_SIZE,
            fill=AXIS_FILL,
            anchor="middle",
            vertical=True,
        )
    if bins:
        step = plot_w / len(bins)
        label_every = max(1, math.ceil(len(bins) / 9))
        for i, b in enumerate(bins):
            h = plot_h * b["count"] / nice if nice else 0
            x = left + i * step
            color = colors.get(b.get("grade") or "", style["accent"])
            chart.rect(x + step * 0.08, top + plot_h - h, step * 0.84, h, color, rx=1)
            if i % label_every == 0:
                chart.text(
                    x,
                    height - bottom + 12,
                    f"{b['from']:.0f}",
                    size=AXIS_SIZE,
                    fill=AXIS_FILL,
                    anchor="middle",
                )
        chart.text(
            left + plot_w,
            height - bottom + 12,
            f"{bins[-1]['to']:.0f}",
            size=AXIS_SIZE,
            fill=AXIS_FILL,
            anchor="middle",
        )
    chart.line(left, top + plot_h, width - right, top + plot_h, style["muted"], 0.8)
    chart.text(
        left + plot_w / 2, height - 3, caption, size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle"
    )
    return chart.markup()


def count_axis(peak: float) -> tuple[float, int]:
    """The top of an axis of counts (or whole percentages) and its number of intervals,
    each a whole 1, 2 or 5 x 10^k (a peak of 148 gives 0, 50, 100, 150, not 38 and 112;
    one of 14 % gives 0, 5, 10, 15 %, not 8 %), 2 to 6 intervals."""
    peak = max(peak, 1)
    raw = peak / 4
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1  # (so a step is >= 1)
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    ticks = max(2, math.ceil(peak / step))
    return float(step * ticks), ticks


def percent_grid(
    chart: Chart,
    peak: float,
    *,
    left: float,
    right: float,
    top: float,
    plot_h: float,
    style: Mapping[str, str],
) -> float:
    """The gridlines of an axis of shares from ``left`` to ``right``, at whole
    percentages up to ``peak`` or just above (0, 5, 10, 15 %: :func:`count_axis`),
    labelled left of the axis; the axis top as a share, to scale the bars by."""
    top_percent, ticks = count_axis(peak * 100)
    nice = top_percent / 100
    for i in range(ticks + 1):
        value = nice * i / ticks
        y = top + plot_h - plot_h * i / ticks
        chart.line(left, y, right, y, style["grid"], 0.8)
        chart.text(
            left - 3, y + 3.3, f"{value * 100:.0f}%", size=AXIS_SIZE, fill=AXIS_FILL, anchor="end"
        )
    return nice


def line(
    points: Sequence[Mapping[str, Any]],
    *,
    style: Mapping[str, str],
    colors: Mapping[str, str],
    caption: str,
    width: float = 500,
    height: float = 110,
) -> Markup:
    """Score over time: one point per run, labelled with the score and grade."""
    chart = Chart(width, height, style["font_family"], label=caption)
    values = [float(p["score"]) for p in points if p.get("score") is not None]
    left, right, top, bottom = 34.0, 20.0, 16.0, 20.0
    plot_w, plot_h = width - left - right, height - top - bottom
    if not values:
        return chart.markup()
    low = math.floor((min(values) - 10) / 10) * 10
    high = math.ceil((max(values) + 10) / 10) * 10
    for i in range(3):
        value = low + (high - low) * i / 2
        y = top + plot_h - plot_h * i / 2
        chart.line(left, y, width - right, y, style["grid"], 0.8)
        chart.text(left - 4, y + 3.3, f"{value:.0f}", size=AXIS_SIZE, fill=AXIS_FILL, anchor="end")
    n = len(points)
    # points are kept clear of the axis labels on the left: a label ("501 E") centred on
    # the first point sat on top of the middle tick ("505")
    inset = 22.0
    span = plot_w - 2 * inset
    coords = []
    for i, p in enumerate(points):
        if p.get("score") is None:
            continue
        x = left + inset + (span * i / (n - 1) if n > 1 else span / 2)
        y = top + plot_h - plot_h * (float(p["score"]) - low) / (high - low)
        coords.append((x, y, p))
    if len(coords) > 1:
        d = "M " + " L ".join(f"{_n(x)} {_n(y)}" for x, y, _ in coords)
        chart.path(d, style["accent"], 1.8)
    labels = [
        f"{float(p['score']):.0f}" + (f" {p['grade']}" if p.get("grade") else "")
        for _, _, p in coords
    ]
    # with many runs, every k-th point is labelled (the last always): labels at 7 pt
    # would run into each other
    widest = max(_text_width(str(p.get("as_of", "")), AXIS_SIZE) for _, _, p in coords)
    gap = span / (n - 1) if n > 1 else span
    step = max(1, math.ceil((widest + 6) / gap))
    last = len(coords) - 1
    for i, ((x, y, p), label) in enumerate(zip(coords, labels, strict=True)):
        chart.circle(x, y, 3.5, colors.get(p.get("grade") or "", style["accent"]), "#ffffff")
        if (i % step or last - i < step) and i != last:
            continue
        chart.text(
            x, y - 6, label, size=AXIS_SIZE, fill=style["primary"], anchor="middle", weight="bold"
        )
        chart.text(
            x, height - 4, p.get("as_of", ""), size=AXIS_SIZE, fill=AXIS_FILL, anchor="middle"
        )
    return chart.markup()


def calibration(
    bins: Sequence[Mapping[str, Any]],
    *,
    style: Mapping[str, str],
    predicted_label: str,
    observed_label: str,
    caption: str,
    width: float = 330,
    height: float = 135,
) -> Markup:
    """Predicted mean PD and observed bad rate per decile, as paired bars."""
    chart = Chart(width, height, style["font_family"], label=caption)
    left, right, top, bottom = 34.0, 4.0, 18.0, 16.0
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([b["mean_pd"] or 0 for b in bins] + [b["bad_rate"] or 0 for b in bins] + [0.01])
    nice = percent_grid(
        chart, peak, left=left, right=width - right, top=top, plot_h=plot_h, style=style
    )
    if bins:
        step = plot_w / len(bins)
        for i, b in enumerate(bins):
            x = left + i * step
            for j, (value, color) in enumerate(
                ((b["mean_pd"], style["accent"]), (b["bad_rate"], style["primary"]))
            ):
                h = plot_h * (value or 0) / nice
                chart.rect(x + step * (0.12 + 0.38 * j), top + plot_h - h, step * 0.36, h, color)
            chart.text(
                x + step / 2,
                height - 4,
                str(i + 1),
                size=AXIS_SIZE,
                fill=AXIS_FILL,
                anchor="middle",
            )
    paired_legend(chart, left, style, predicted_label, observed_label)
    return chart.markup()


def paired_legend(
    chart: Chart, left: float, style: Mapping[str, str], accent_label: str, primary_label: str
) -> None:
    """The legend above paired bars (the calibration, the back-test's grades): a swatch
    of the style's accent then one of its primary, each followed by its label."""
    chart.rect(left, 4, 8, 7, style["accent"])
    chart.text(left + 11, 11, accent_label, size=AXIS_SIZE, fill="#333333")
    offset = left + 24 + _text_width(accent_label, AXIS_SIZE)
    chart.rect(offset, 4, 8, 7, style["primary"])
    chart.text(offset + 11, 11, primary_label, size=AXIS_SIZE, fill="#333333")
