"""The report's two charts as one list of drawing primitives (`Chart`), drawn as inline SVG in HTML, as vector
graphics in the PDF and as a PNG (Pillow with Raqm, so Thai is shaped) in the DOCX."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evidence.report.compute import Report
from evidence.report.formatting import Formatter

# --- charts ----------------------------------------------------------------------------------------

PT = 25.4 / 72  # mm per point: chart units are millimetres
COLORS = {
    "requests": (31, 111, 139),
    "returns": (224, 142, 11),
    "overdue": (192, 57, 43),
    "axis": (90, 90, 90),
    "grid": (215, 215, 215),
    "text": (40, 40, 40),
}


@dataclass
class Chart:
    """Drawing primitives in millimetres, y downwards; text y is the baseline, sizes are points."""

    width: float
    height: float
    items: list[tuple] = field(default_factory=list)
    label: str = ""  # a text alternative (aria-label)

    def rect(self, x, y, w, h, color):
        self.items.append(("rect", x, y, w, h, color))

    def line(self, x1, y1, x2, y2, color, width=0.2):
        self.items.append(("line", x1, y1, x2, y2, color, width))

    def polyline(self, points, color, width=0.6):
        self.items.append(("polyline", list(points), color, width))

    def circle(self, cx, cy, r, color):
        self.items.append(("circle", cx, cy, r, color))

    def text(self, x, y, text, size, anchor="start", color=COLORS["text"]):
        self.items.append(("text", x, y, text, size, anchor, color))


def _nice_top(value: int) -> tuple[int, int]:
    """An axis top and step: at most five gridlines at round numbers."""
    if value <= 0:
        return 4, 1
    raw = value / 4
    power = 10 ** int(math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(s * power for s in (1, 2, 5, 10) if s * power >= raw)
    step = max(1, int(step))
    return int(math.ceil(value / step) * step), step


def _frame(
    f: Formatter, series: Sequence[tuple[str, str, Sequence[int | None]]], width: float, height: float, label: str
) -> tuple[Chart, Callable[[int], float], list[float], float, float]:
    chart = Chart(width, height, label=label)
    left, right, top, bottom = 14.0, 3.0, 10.0, 9.0
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax, step = _nice_top(max((v for _, _, vals in series for v in vals if v is not None), default=0))

    def y_of(v: int) -> float:
        return top + plot_h - plot_h * v / ymax

    for tick in range(0, ymax + 1, step):
        y = y_of(tick)
        chart.line(left, y, left + plot_w, y, COLORS["grid"] if tick else COLORS["axis"], 0.15 if tick else 0.3)
        chart.text(left - 1.5, y + 1.1, f.number(tick), 8, "end")
    chart.line(left, top, left, top + plot_h, COLORS["axis"], 0.3)
    slot = plot_w / 12
    xs = [left + slot * (i + 0.5) for i in range(12)]
    for i, m in enumerate(f.report.months):
        chart.text(xs[i], top + plot_h + 4.6, f.month(m.first), 8, "middle")
    # the legend, top left
    x = left
    for key, name, _vals in series:
        chart.rect(x, 2.2, 3.2, 3.2, COLORS[key])
        chart.text(x + 4.4, 5.2, name, 9)
        x += 4.4 + len(name) * (1.45 if f.lang == "th" else 1.6) + 6
    return chart, y_of, xs, slot, top + plot_h


def activity_chart(report: Report, f: Formatter | None = None, width: float = 160.0, height: float = 62.0) -> Chart:
    """Requests and returns per month, as grouped bars with their numbers on top."""
    f = f or Formatter(report)
    w = f.words
    series = [
        ("requests", w["requests"], [m.requests for m in report.months]),
        ("returns", w["returns"], [m.returns for m in report.months]),
    ]
    label = "; ".join(
        f"{f.month(m.first)}: {w['requests']} {m.requests}, {w['returns']} {m.returns}"
        for m in report.months
        if not m.to_come
    )
    chart, y_of, xs, slot, base = _frame(f, series, width, height, label)
    bar = slot * 0.34
    for i in range(12):
        for k, (key, _name, vals) in enumerate(series):
            v = vals[i]
            x = xs[i] - bar + k * bar
            if v:
                chart.rect(x + 0.15, y_of(v), bar - 0.3, base - y_of(v), COLORS[key])
                chart.text(x + bar / 2, y_of(v) - 0.8, f.number(v), 6.5, "middle")
    return chart


def overdue_chart(report: Report, f: Formatter | None = None, width: float = 160.0, height: float = 62.0) -> Chart:
    """Items out past their due date at each month's end, as a line with its points."""
    f = f or Formatter(report)
    w = f.words
    # the line stops at the current month (a month to come has no values)
    vals = [m.overdue for m in report.months if not m.to_come and m.overdue is not None]
    label = "; ".join(f"{f.month(m.first)}: {m.overdue}" for m in report.months if not m.to_come)
    chart, y_of, xs, _slot, _base = _frame(f, [("overdue", w["overdue"], vals)], width, height, label)
    points = [(xs[i], y_of(v)) for i, v in enumerate(vals)]
    if len(points) > 1:
        chart.polyline(points, COLORS["overdue"], 0.6)
    for (x, y), v in zip(points, vals, strict=True):
        chart.circle(x, y, 0.9, COLORS["overdue"])
        chart.text(x, y - 1.8, f.number(v), 6.5, "middle")
    return chart


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def chart_markup(chart: Chart) -> Any:
    """The SVG for a template: every text in it went through markupsafe.escape in chart_svg."""
    from markupsafe import Markup

    return Markup(chart_svg(chart))  # noqa: S704


def chart_svg(chart: Chart) -> str:
    """The chart as an inline SVG element (no script, no external reference)."""
    from markupsafe import escape

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {chart.width:.1f} {chart.height:.1f}" '
        f'role="img" aria-label="{escape(chart.label)}" class="kp-chart" '
        f"font-family=\"Sarabun, 'TH Sarabun New', Tahoma, sans-serif\">"
    ]
    anchors = {"start": "start", "middle": "middle", "end": "end"}
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            out.append(f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" fill="{_hex(color)}"/>')
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            out.append(
                f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="{_hex(color)}" '
                f'stroke-width="{width:.2f}"/>'
            )
        elif kind == "polyline":
            _, points, color, width = item
            pts = " ".join(f"{x:.2f},{y:.2f}" for x, y in points)
            out.append(f'<polyline points="{pts}" fill="none" stroke="{_hex(color)}" stroke-width="{width:.2f}"/>')
        elif kind == "circle":
            _, cx, cy, r, color = item
            out.append(f'<circle cx="{cx:.2f}" cy="{cy:.2f}" r="{r:.2f}" fill="{_hex(color)}"/>')
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            out.append(
                f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size * PT:.2f}" text-anchor="{anchors[anchor]}" '
                f'fill="{_hex(color)}">{escape(text)}</text>'
            )
    out.append("</svg>")
    return "".join(out)


@functools.lru_cache(maxsize=16)
def _pil_font(px: int):
    from PIL import ImageFont

    from core.documents.thai import FONT_REGULAR

    layout = ImageFont.Layout.RAQM if _has_raqm() else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(FONT_REGULAR), px, layout_engine=layout)


@functools.lru_cache(maxsize=1)
def _has_raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


def chart_png(chart: Chart, scale: float = 10.0) -> bytes:
    """The chart as a PNG, `scale` pixels per millimetre (Thai shaped by Raqm when Pillow has it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (round(chart.width * scale), round(chart.height * scale)), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    anchors = {"start": "ls", "middle": "ms", "end": "rs"}
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            draw.rectangle([x * scale, y * scale, (x + w) * scale - 1, (y + h) * scale - 1], fill=color)
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            draw.line(
                [(x1 * scale, y1 * scale), (x2 * scale, y2 * scale)],
                fill=color,
                width=max(1, round(width * scale)),
            )
        elif kind == "polyline":
            _, points, color, width = item
            draw.line(
                [(x * scale, y * scale) for x, y in points],
                fill=color,
                width=max(1, round(width * scale)),
                joint="curve",
            )
        elif kind == "circle":
            _, cx, cy, r, color = item
            draw.ellipse([(cx - r) * scale, (cy - r) * scale, (cx + r) * scale, (cy + r) * scale], fill=color)
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            draw.text(
                (x * scale, y * scale),
                text,
                fill=color,
                font=_pil_font(round(size * PT * scale)),
                anchor=anchors[anchor],
            )
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def chart_pdf(doc: Any, chart: Chart) -> None:
    """Draw the chart as vectors at the current position of a core.documents.pdf.ThaiDocument."""
    pdf = doc.pdf
    x0 = doc.x0 + (doc.width - chart.width) / 2
    doc.ensure_space(chart.height)
    y0 = doc.y
    for item in chart.items:
        kind = item[0]
        if kind == "rect":
            _, x, y, w, h, color = item
            pdf.set_fill_color(*color)
            pdf.rect(x0 + x, y0 + y, w, h, style="F")
        elif kind == "line":
            _, x1, y1, x2, y2, color, width = item
            pdf.set_draw_color(*color)
            pdf.set_line_width(width)
            pdf.line(x0 + x1, y0 + y1, x0 + x2, y0 + y2)
        elif kind == "polyline":
            _, points, color, width = item
            pdf.set_draw_color(*color)
            pdf.set_line_width(width)
            pdf.polyline([(x0 + x, y0 + y) for x, y in points], style="D")
        elif kind == "circle":
            _, cx, cy, r, color = item
            pdf.set_fill_color(*color)
            pdf.circle(x0 + cx, y0 + cy, r, style="F")
        elif kind == "text":
            _, x, y, text, size, anchor, color = item
            s = size * PT
            top = y0 + y - 1.15 * s  # core.documents.pdf puts the baseline 1.15 em below the top of the line box
            box = 40.0
            left = {"start": x, "middle": x - box / 2, "end": x - box}[anchor]
            pdf.set_text_color(*color)
            doc._text(x0 + left, top, box, text, size, False, {"start": "L", "middle": "C", "end": "R"}[anchor])
    pdf.set_text_color(0, 0, 0)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_fill_color(255, 255, 255)
    pdf.set_line_width(0.2)
    doc.y = y0 + chart.height
