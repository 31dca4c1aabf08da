"""Printable A4 sticker sheets of QR asset labels (PDF), in the layouts the office's sticker paper has.

Pure module: no Flask, no database. Callers pass plain :class:`LabelItem` values and get PDF bytes back.
The sheets are drawn with fpdf2 and the Sarabun font, with HarfBuzz text shaping switched on so Thai
vowels and tone marks sit where they belong. The QR code is drawn as vector rectangles (one per horizontal
run of dark modules), which keeps it sharp at any print resolution and fast to render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.documents.thai import FAMILY, FONT_BOLD, FONT_REGULAR, shaped_em
from lending.register.labels.tags import clean_line, qr_rows, qr_runs, wrap_text

__all__ = ["LAYOUTS", "LabelItem", "Layout", "render_label_sheet"]

PT_TO_MM = 25.4 / 72
#: Quiet zone (in modules) drawn inside each sticker. The sticker padding adds to it.
LABEL_QUIET_ZONE = 2


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class LabelItem:
    """One sticker: the tag URL encoded in the QR and the text printed beside it."""

    url: str
    asset_number: str
    name: str
    tag: str


@dataclass(frozen=True)
class Layout:
    """A sheet of equally sized stickers, filled left to right, top to bottom."""

    cols: int
    rows: int
    width_mm: float
    height_mm: float
    margin_left_mm: float = 0.0
    margin_top_mm: float = 0.0
    name_th: str = ""
    name_en: str = ""
    gap_x_mm: float = 0.0
    gap_y_mm: float = 0.0
    page_width_mm: float = 210.0
    page_height_mm: float = 297.0
    #: white space kept between the label edge and the QR (and the text), mm
    padding_mm: float = 2.5
    #: multiplies every font size and gap; 1.0 suits a 70 x 37 mm sticker
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.cols < 1 or self.rows < 1 or self.width_mm <= 0 or self.height_mm <= 0:
            raise ValueError("layout needs at least one positive-sized label")
        right = self.margin_left_mm + self.cols * self.width_mm + (self.cols - 1) * self.gap_x_mm
        bottom = self.margin_top_mm + self.rows * self.height_mm + (self.rows - 1) * self.gap_y_mm
        if right > self.page_width_mm + 0.01 or bottom > self.page_height_mm + 0.01:
            raise ValueError("labels do not fit on the page")

    @property
    def per_page(self) -> int:
        return self.cols * self.rows

    @property
    def display_name(self) -> str:
        """Thai and English name for a select box, e.g. ``A4 24 ดวง … / A4 24 labels …``."""
        return f"{self.name_th} / {self.name_en}"

    def origin(self, position: int) -> tuple[float, float]:
        """Top-left corner (mm) of label ``position`` (0-based, row-major) on its page."""
        row, col = divmod(position % self.per_page, self.cols)
        return (
            self.margin_left_mm + col * (self.width_mm + self.gap_x_mm),
            self.margin_top_mm + row * (self.height_mm + self.gap_y_mm),
        )


LAYOUTS: dict[str, Layout] = {
    "3x8": Layout(
        cols=3,
        rows=8,
        width_mm=70.0,
        height_mm=37.125,
        name_th="A4 24 ดวง (3×8 ดวง, 70×37 มม.)",
        name_en="A4 24 labels (3×8, 70×37 mm)",
        padding_mm=2.5,
        scale=1.0,
    ),
    "2x5": Layout(
        cols=2,
        rows=5,
        width_mm=105.0,
        height_mm=59.4,
        name_th="A4 10 ดวง (2×5 ดวง, 105×59.4 มม.)",
        name_en="A4 10 labels (2×5, 105×59.4 mm)",
        padding_mm=3.5,
        scale=1.45,
    ),
}


# --------------------------------------------------------------------------- PDF


class _Sheet:
    """Draws labels on an fpdf2 document; one instance per PDF."""

    def __init__(self, layout: Layout, agency_name: str):
        self.layout = layout
        self.agency = clean_line(agency_name)
        from fpdf import FPDF  # imported when a sheet is made: keeps fpdf out of every worker's memory

        pdf = FPDF(orientation="P", unit="mm", format=(layout.page_width_mm, layout.page_height_mm))
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        pdf.c_margin = 0
        pdf.add_font(FAMILY, "", str(FONT_REGULAR))
        pdf.add_font(FAMILY, "B", str(FONT_BOLD))
        pdf.set_text_shaping(True)
        pdf.set_title("ป้ายครุภัณฑ์ (QR)" + (f" – {self.agency}" if self.agency else ""))
        pdf.set_subject(f"ป้าย QR ครุภัณฑ์ / Asset QR labels – {layout.display_name}")
        pdf.set_author(self.agency or "Khruphan")
        pdf.set_creator("Khruphan")
        pdf.set_keywords("ครุภัณฑ์, QR, asset labels")
        pdf.set_lang("th")
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(0, 0, 0)
        self.pdf = pdf
        self._agency_cache: tuple[float, list[str]] | None = None

    # -- measuring ---------------------------------------------------------

    def _font(self, size_pt: float, style: str = "") -> None:
        self.pdf.set_font(FAMILY, style, size_pt)

    def _measure(self, text: str, size_pt: float, style: str = "") -> float:
        """Shaped width of ``text`` in mm, as fpdf2 will lay it out."""
        return shaped_em(text, style == "B") * size_pt * PT_TO_MM

    def _fit_one_line(self, text: str, width: float, sizes: list[float], style: str = "") -> tuple[float, str]:
        """Largest size at which ``text`` fits on one line; truncated at the smallest size."""
        for size in sizes:
            if self._measure(text, size, style) <= width:
                return size, text
        size = sizes[-1]
        lines, _ = wrap_text(text, width, lambda s: self._measure(s, size, style), 1)
        return size, (lines[0] if lines else "")

    # -- drawing -------------------------------------------------------------

    def _line(self, x: float, baseline: float, width: float, text: str, size_pt: float, style: str = "") -> None:
        """One line of text whose baseline sits at ``baseline`` (mm)."""
        if not text:
            return
        self._font(size_pt, style)
        fs = size_pt * PT_TO_MM
        # fpdf2 puts the baseline of a cell at y + h/2 + 0.3 * font size.
        self.pdf.set_xy(x, baseline - 0.8 * fs)
        self.pdf.cell(width, fs, text, align="L")

    def _qr(self, url: str, x: float, y: float, side: float) -> float:
        """Draw the QR with its quiet zone in the ``side`` mm square at (x, y); return the module size."""
        pdf = self.pdf
        n = len(qr_rows(url))
        m = side / (n + 2 * LABEL_QUIET_ZONE)
        pdf.set_fill_color(255, 255, 255)
        pdf.rect(x, y, side, side, style="F")
        pdf.set_fill_color(0, 0, 0)
        ox = x + LABEL_QUIET_ZONE * m
        oy = y + LABEL_QUIET_ZONE * m
        k, page_h = pdf.k, pdf.h
        mk = m * k
        # All runs go into one path filled once: much faster than one pdf.rect() per run,
        # and no hairline seams between touching rectangles in anti-aliasing viewers.
        # fpdf2 has no public "many rectangles, one fill" call, hence _out().
        ops = " ".join(
            f"{(ox + rx * m) * k:.3f} {(page_h - oy - ry * m) * k:.3f} {rn * mk:.3f} {-mk:.3f} re"
            for rx, ry, rn in qr_runs(url)
        )
        pdf._out(ops + " f")  # noqa: SLF001
        return m

    def label(self, item: LabelItem, x0: float, y0: float) -> None:
        lay = self.layout
        s = lay.scale
        w, h = lay.width_mm, lay.height_mm
        pad = lay.padding_mm

        side = h - 2 * pad
        m = self._qr(item.url, x0 + pad, y0 + pad, side)
        qz = LABEL_QUIET_ZONE * m

        # Text column: right of the QR's quiet zone, top and bottom aligned with the QR's dark area.
        tx = x0 + pad + side + 0.6 * s
        tw = x0 + w - pad - 0.8 * s - tx
        top = y0 + pad + qz
        bottom = y0 + h - pad - qz

        y = top
        if self.agency:
            size, lines = self._agency_lines(tw)
            fs = size * PT_TO_MM
            for line in lines:
                y += 0.78 * fs
                self._line(tx, y, tw, line, size)
                y += 0.42 * fs
            y += 0.5 * s
            self.pdf.set_line_width(0.15 * s)
            self.pdf.line(tx, y, tx + tw, y)
            y += 0.6 * s

        # Asset number: bold and large, shrunk to fit the column if it is long.
        num_sizes = [v * s for v in (12, 11, 10, 9, 8, 7)]
        num_size, num_text = self._fit_one_line(clean_line(item.asset_number), tw, num_sizes, "B")
        nfs = num_size * PT_TO_MM
        y += 0.95 * nfs
        self._line(tx, y, tw, num_text, num_size, "B")
        y += 0.35 * nfs

        # Tag code: small, on the bottom line of the column.
        tag_size = 7 * s
        tag_fs = tag_size * PT_TO_MM
        tag_baseline = bottom - 0.05 * tag_fs
        _, tag_text = self._fit_one_line(clean_line(item.tag), tw, [tag_size])
        self._line(tx, tag_baseline, tw, tag_text, tag_size)

        # Asset name: up to three lines between the number and the tag, shrinking before truncating.
        avail = (tag_baseline - 1.05 * tag_fs) - y
        name = clean_line(item.name)
        if name:
            chosen: tuple[float, list[str]] | None = None
            for size in [v * s for v in (9, 8.5, 8, 7.5)]:
                fs = size * PT_TO_MM
                line_h = 1.4 * fs
                max_lines = min(3, int((avail - 0.3 * fs) / line_h + 1e-6))
                if max_lines < 1:
                    continue
                lines, truncated = wrap_text(name, tw, lambda t, sz=size: self._measure(t, sz), max_lines)
                chosen = (size, lines)
                if not truncated:
                    break
            if chosen:
                size, lines = chosen
                fs = size * PT_TO_MM
                line_h = 1.4 * fs
                y += 1.0 * fs
                for line in lines:
                    self._line(tx, y, tw, line, size)
                    y += line_h

    def _agency_lines(self, width: float) -> tuple[float, list[str]]:
        if self._agency_cache is None:
            s = self.layout.scale
            sizes = [v * s for v in (7, 6.5, 6, 5.5)]
            for size in sizes:
                if self._measure(self.agency, size) <= width:
                    self._agency_cache = (size, [self.agency])
                    break
            else:
                size = sizes[-1]
                lines, _ = wrap_text(self.agency, width, lambda t, sz=size: self._measure(t, sz), 2)
                self._agency_cache = (size, lines)
        return self._agency_cache

    def output(self) -> bytes:
        return bytes(self.pdf.output())


def render_label_sheet(
    items: list[LabelItem],
    layout: str = "3x8",
    agency_name: str = "",
    start_at: int = 0,
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Render ``items`` as A4 sticker sheets and return the PDF bytes.

    ``layout`` is a key of :data:`LAYOUTS`. ``start_at`` skips that many positions on the
    first sheet (for a partly used sheet), counted left to right, top to bottom.
    ``progress(1)`` is called after each label is drawn (a job shows it).
    """
    if not items:
        raise ValueError("no labels")
    try:
        lay = LAYOUTS[layout]
    except KeyError:
        raise ValueError(f"unknown label layout {layout!r}; choose one of {', '.join(LAYOUTS)}") from None
    if not 0 <= start_at < lay.per_page:
        raise ValueError(f"start_at must be between 0 and {lay.per_page - 1} for layout {layout}")

    sheet = _Sheet(lay, agency_name)
    for i, item in enumerate(items):
        pos = start_at + i
        if pos % lay.per_page == 0 or i == 0:
            sheet.pdf.add_page()
        x, y = lay.origin(pos)
        sheet.label(item, x, y)
        if progress is not None:
            progress(1)
    return sheet.output()
