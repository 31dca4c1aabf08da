"""A small builder for Thai official documents on fpdf2: A4, Sarabun, shaped Thai, Thai line breaks.

Thai official style (งานสารบรรณ): the Sarabun family at 16 pt for the body, 3 cm left and 2 cm right
margins, a first-line indent of 2.5 cm for paragraphs of a letter. Text is shaped with HarfBuzz
(``set_text_shaping(True)``), so vowels and tone marks sit where they belong (``เก้าอี้``, ``ที่นี่``).

Cleaning, line breaking and measuring are thai.py's; the building blocks' layout is pdf_blocks.py's.

Usage::

    doc = ThaiDocument(title="ใบยืมพัสดุ", thai_digits=True)
    doc.heading("ใบยืมพัสดุ")
    doc.paragraph("ข้าพเจ้า ...", first_line_indent=25)
    doc.table([Column("ลำดับ", 1, "C"), Column("รายการ", 5)], [["1", "เก้าอี้พลาสติก"]])
    doc.signatures([Signature("ผู้ยืม", "นายสมชาย ใจดี", "นักวิชาการ", "26 พ.ย. 2569")])
    pdf_bytes = doc.output()

The builder never converts digits by itself: callers pass the text they want and use :meth:`digits` on
what they generate (dates, reference numbers, counts). Page numbers ("หน้า ๑/๒") follow ``thai_digits``.
Everything is drawn with explicit positions; fpdf2's automatic page break is off and the builder breaks
pages itself (repeating a table's header row on each new page). Coordinates are in millimetres. Each
line of text carries its own words as ActualText, so copying or extracting it gives the Thai as typed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.dates import to_thai_digits
from core.documents.pdf_blocks import Cell, Column, Signature, column_widths, signature_rows
from core.documents.thai import FAMILY, FONT_BOLD, FONT_REGULAR, WJ, clean_text, keep_together, shaped_em, wrap

# fpdf's font subsetting (fontTools) reports every table it prunes at INFO: noise in the commands' output.
logging.getLogger("fontTools").setLevel(logging.WARNING)

__all__ = ["ThaiDocument"]

PT = 25.4 / 72  # mm per point
LINE_SPACING = 1.4  # line height / font size; room for Thai marks above and below


# --------------------------------------------------------------------------- building blocks


@dataclass
class _Laid:
    x: float
    w: float
    lines: list[str]
    align: str
    bold: bool
    fill: bool = False


_WORDS = {
    "th": {
        "page": "หน้า",
        "sign": "ลงชื่อ",
        "position": "ตำแหน่ง",
        "date": "วันที่",
        "blank_date": "วันที่ ........./........../..........",
    },
    "en": {
        "page": "Page",
        "sign": "Signed",
        "position": "Position",
        "date": "Date",
        "blank_date": "Date ........./........../..........",
    },
}


class ThaiDocument:
    """An A4 document drawn top to bottom: headings, paragraphs, fields, tables, signature blocks."""

    def __init__(
        self,
        *,
        lang: str = "th",
        thai_digits: bool = False,
        title: str = "",
        author: str = "",
        subject: str = "",
        body_size: float = 16.0,
        margins: tuple[float, float, float, float] = (30.0, 20.0, 20.0, 20.0),
        footer_text: str = "",
        page_numbers: bool = True,
        landscape: bool = False,
    ):
        """``margins`` are left, top, right, bottom in mm; ``footer_text`` goes left of "หน้า x/y" on
        every page (it may be set later, until :meth:`output`)."""
        self.lang = "en" if lang == "en" else "th"
        self.words = _WORDS[self.lang]
        self.thai_digits = bool(thai_digits) and self.lang == "th"
        self.body_size = float(body_size)
        self.left, self.top, self.right, self.bottom = margins
        self.footer_text = footer_text
        self.page_numbers = page_numbers
        from fpdf import FPDF  # imported when a document is made: a fifth of every command's start-up

        pdf = FPDF(orientation="L" if landscape else "P", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(self.left, self.top, self.right)
        pdf.c_margin = 0
        pdf.add_font(FAMILY, "", str(FONT_REGULAR))
        pdf.add_font(FAMILY, "B", str(FONT_BOLD))
        pdf.set_text_shaping(True)
        pdf.set_lang(self.lang)
        pdf.set_creator("Khruphan")
        for value, setter in ((title, pdf.set_title), (author, pdf.set_author), (subject, pdf.set_subject)):
            if value:
                setter(clean_text(value).replace(WJ, "").replace("\n", " "))
        pdf.set_text_color(0, 0, 0)
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        self.pdf = pdf
        self.page_w, self.page_h = pdf.w, pdf.h
        self.y = self.top
        self._on_new_page: Callable[[], None] | None = None
        self._add_page()

    # -- geometry and measuring -----------------------------------------------------------------

    @property
    def x0(self) -> float:
        return self.left

    @property
    def width(self) -> float:
        """The width between the margins."""
        return self.page_w - self.left - self.right

    @property
    def limit(self) -> float:
        """The lowest y that content may reach on a page (the footer lives below it)."""
        return self.page_h - self.bottom

    @property
    def pages(self) -> int:
        return self.pdf.pages_count

    def digits(self, text: object) -> str:
        """``text`` with Thai digits when the document asks for them (a code such as i20 keeps its own)."""
        s = "" if text is None else str(text)
        return to_thai_digits(s) if self.thai_digits else s

    def line_height(self, size: float | None = None) -> float:
        return (size or self.body_size) * PT * LINE_SPACING

    def measure(self, text: str, size: float | None = None, bold: bool = False) -> float:
        """The shaped width of ``text`` in mm."""
        return shaped_em(text.replace(WJ, ""), bold) * (size or self.body_size) * PT

    def wrap(
        self, text: str, width: float, size: float | None = None, bold: bool = False, first_width: float | None = None
    ) -> list[str]:
        return wrap(text, width, lambda s: self.measure(s, size, bold), first_width)

    # -- pages ----------------------------------------------------------------------------------

    def _add_page(self) -> None:
        self.pdf.add_page()
        self.y = self.top

    def new_page(self) -> None:
        self._add_page()
        if self._on_new_page:
            self._on_new_page()

    def ensure_space(self, height: float) -> None:
        """Start a new page unless ``height`` mm still fit on this one."""
        if self.y + height > self.limit + 1e-6 and self.y > self.top + 1e-6:
            self.new_page()

    def spacer(self, height: float = 3.0) -> None:
        self.y += height

    # -- text -----------------------------------------------------------------------------------

    def _text(self, x: float, y: float, w: float, text: str, size: float, bold: bool, align: str = "L") -> None:
        """One line of text in the box (x, y, w, line height)."""
        text = text.replace(WJ, "")
        if not text:
            return
        self.pdf.set_font(FAMILY, "B" if bold else "", size)
        # fpdf2 puts the baseline at h/2 + 0.3 em below the top: 1.0 em here. Thai stacks a tone mark on
        # an upper vowel up to about 1.25 em, a below-vowel reaches 0.23 em down: with the baseline 0.15 em
        # lower, at 1.15 em, the marks below stay in the line box (1.4 em) and those above overhang it by
        # at most 0.1 em, into the white space of the line above.
        self.pdf.set_xy(x, y + 0.15 * size * PT)
        # Shaping turns ำ into two glyphs and may put a tone mark before its vowel, so the glyphs alone
        # extract as "ท่ี", "น้ำ\x11". An ActualText span gives copy, search and text extraction (pdfium,
        # poppler) the line exactly as written.
        self.pdf._out(f"/Span <</ActualText <FEFF{text.encode('utf-16-be').hex().upper()}>>> BDC")
        self.pdf.cell(w, self.line_height(size), text, align=align)
        self.pdf._out("EMC")

    def paragraph(
        self,
        text: str,
        *,
        size: float | None = None,
        bold: bool = False,
        align: str = "L",
        indent: float = 0.0,
        first_line_indent: float = 0.0,
        space_after: float = 1.0,
    ) -> None:
        """Wrapped text; ``indent`` shifts every line, ``first_line_indent`` the first one more."""
        size = size or self.body_size
        lh = self.line_height(size)
        w = self.width - indent
        lines = self.wrap(text, w, size, bold, first_width=w - first_line_indent)
        for i, line in enumerate(lines):
            self.ensure_space(lh)
            extra = first_line_indent if i == 0 else 0.0
            self._text(self.x0 + indent + extra, self.y, w - extra, line, size, bold, align)
            self.y += lh
        self.y += space_after

    def heading(self, text: str, *, size: float | None = None, align: str = "C", space_after: float = 1.5) -> None:
        size = size or self.body_size + 4
        self.ensure_space(self.line_height(size) * 2)
        self.paragraph(text, size=size, bold=True, align=align, space_after=space_after)

    def field(
        self,
        label: str,
        value: str,
        *,
        label_width: float | None = None,
        size: float | None = None,
        label_bold: bool = True,
        indent: float = 0.0,
        space_after: float = 0.5,
    ) -> None:
        """ "label  value": the value wraps with a hanging indent at ``label_width`` (or the label's width)."""
        size = size or self.body_size
        lh = self.line_height(size)
        label = clean_text(label).replace("\n", " ")
        gap = self.measure("  ", size)
        lw = label_width if label_width is not None else self.measure(label, size, label_bold) + gap
        lw = min(lw, self.width * 0.5)
        vw = self.width - indent - lw
        lines = self.wrap(value, vw, size) or [""]
        self.ensure_space(lh)
        self._text(self.x0 + indent, self.y, lw, label, size, label_bold)
        for i, line in enumerate(lines):
            if i:
                self.ensure_space(lh)
            self._text(self.x0 + indent + lw, self.y, vw, line, size, False)
            self.y += lh
        self.y += space_after

    def columns(
        self,
        left: Sequence[str],
        right: Sequence[str],
        *,
        split: float = 0.5,
        size: float | None = None,
        right_align: str = "L",
        space_after: float = 1.0,
    ) -> None:
        """Two blocks side by side from the same top: a letter's "ที่ ..." and the agency's address."""
        size = size or self.body_size
        lh = self.line_height(size)
        lw = self.width * split
        rw = self.width - lw
        left_lines = [ln for t in left for ln in self.wrap(t, lw - 2, size)]
        right_lines = [ln for t in right for ln in self.wrap(t, rw, size)]
        n = max(len(left_lines), len(right_lines))
        self.ensure_space(n * lh)
        for i in range(n):
            if i < len(left_lines):
                self._text(self.x0, self.y, lw - 2, left_lines[i], size, False)
            if i < len(right_lines):
                self._text(self.x0 + lw, self.y, rw, right_lines[i], size, False, right_align)
            self.y += lh
        self.y += space_after

    def rule(self, space: float = 2.0) -> None:
        self.y += space / 2
        self.pdf.line(self.x0, self.y, self.x0 + self.width, self.y)
        self.y += space / 2

    # -- tables ---------------------------------------------------------------------------------

    def table(
        self,
        columns: Sequence[Column],
        rows: Sequence[Sequence[str | Cell]],
        *,
        size: float | None = None,
        repeat_header: bool = True,
        pad: float = 1.6,
        space_after: float = 2.0,
    ) -> None:
        """A bordered table across the text width, cells wrapped, the header row repeated on every
        page the table continues on. A row taller than a page continues on the next one."""
        size = size or self.body_size
        lh = self.line_height(size)
        vpad = pad * 0.6
        widths = column_widths(self, columns, rows, size, pad)
        xs = [self.x0 + sum(widths[:i]) for i in range(len(widths))]

        def lay(cells: Sequence[str | Cell], header: bool) -> list[_Laid]:
            out: list[_Laid] = []
            i = 0
            for cell in cells:
                if i >= len(columns):
                    break
                c = cell if isinstance(cell, Cell) else Cell(str(cell))
                span = max(1, min(c.colspan, len(columns) - i))
                w = sum(widths[i : i + span])
                col = columns[i]
                align = c.align or (col.header_align if header else col.align)
                bold = c.bold or header
                # a header breaks at its spaces first ("ราคา (บาท)"); a word only when it cannot fit
                text = keep_together(c.text) if header and " " in c.text.strip() else c.text
                lines = self.wrap(text, w - 2 * pad, size, bold) or [""]
                out.append(_Laid(xs[i], w, lines, align, bold, fill=header))
                i += span
            while i < len(columns):  # a short row: empty cells to the end
                out.append(_Laid(xs[i], widths[i], [""], "L", False, fill=header))
                i += 1
            return out

        header = lay([c.title for c in columns], True)
        header_h = max(len(c.lines) for c in header) * lh + 2 * vpad

        def draw(cells: list[_Laid], first: int, count: int) -> None:
            h = count * lh + 2 * vpad
            for c in cells:
                if c.fill:
                    self.pdf.set_fill_color(235, 235, 235)
                    self.pdf.rect(c.x, self.y, c.w, h, style="DF")
                else:
                    self.pdf.rect(c.x, self.y, c.w, h)
                for k, line in enumerate(c.lines[first : first + count]):
                    self._text(c.x + pad, self.y + vpad + k * lh, c.w - 2 * pad, line, size, c.bold, c.align)
            self.y += h

        fresh = [self.y]  # the y just below the header on the page being filled

        def draw_header() -> None:
            draw(header, 0, max(len(c.lines) for c in header))
            fresh[0] = self.y

        laid_rows = [lay(r, False) for r in rows]
        first_h = (max(len(c.lines) for c in laid_rows[0]) * lh + 2 * vpad) if laid_rows else 0
        self.ensure_space(header_h + min(first_h, 3 * lh + 2 * vpad))
        draw_header()
        full_room = int((self.limit - self.top - header_h - 2 * vpad) / lh + 1e-6)
        previous = self._on_new_page
        self._on_new_page = draw_header if repeat_header else None
        try:
            for cells in laid_rows:
                n = max(len(c.lines) for c in cells)
                done = 0
                while done < n:
                    left = n - done
                    room = int((self.limit - self.y - 2 * vpad) / lh + 1e-6)
                    if room < left and self.y > fresh[0] + 1e-6 and (left <= full_room or room < 2):
                        self.new_page()  # the row moves whole to the next page if it fits there
                        if not repeat_header:
                            fresh[0] = self.y
                        continue
                    count = max(1, min(left, room))
                    draw(cells, done, count)
                    done += count
        finally:
            self._on_new_page = previous
        self.y += space_after

    # -- signatures -----------------------------------------------------------------------------

    def signatures(
        self,
        blocks: Sequence[Signature],
        *,
        per_row: int = 2,
        size: float | None = None,
        dotted: float = 45.0,
        gap_before: float = 10.0,
        row_gap: float = 8.0,
        align: str = "spread",
        sign_label: str | None = None,
        show_date: bool = True,
        position_label: bool = True,
    ) -> None:
        """Signature blocks in rows of ``per_row``; a row never splits across pages.

        Each block: "ลงชื่อ ......... role" with a dotted line of at most ``dotted`` mm (the same length
        in every block), then "(name)", "ตำแหน่ง position" and "วันที่ date" centred under the dotted line.
        Where a role is too long to leave a dotted line of 35 mm, every block prints its role on its own
        line under the name instead.
        ``align="right"`` puts a lone block in the right half (a letter's signature);
        ``sign_label=""`` leaves out "ลงชื่อ" (a letter), ``show_date=False`` the date line,
        ``position_label=False`` the word "ตำแหน่ง" before the position.
        """
        size = size or self.body_size
        lh = self.line_height(size)
        label, wl, d, rows = signature_rows(
            self, blocks, per_row, size, dotted, align, sign_label, show_date, position_label
        )
        self.y += gap_before
        for r, laid in enumerate(rows):
            height = (1 + len(laid[0][5])) * lh
            self.ensure_space(height)
            dot_w = self.measure(".", size)
            for start, wr, role, cx, half, lines in laid:
                y = self.y
                if label:
                    self._text(start, y, wl, label, size, False)
                self._text(start + wl, y, d, "." * int(d / dot_w), size, False)
                if role:
                    self._text(start + wl + d, y, wr, " " + role, size, False)
                for line in lines:
                    y += lh
                    self._text(cx - half, y, 2 * half, line, size, False, "C")
            self.y += height + (row_gap if r < len(rows) - 1 else 0)

    def signatures_height(
        self,
        blocks: Sequence[Signature],
        *,
        per_row: int = 2,
        size: float | None = None,
        dotted: float = 45.0,
        gap_before: float = 10.0,
        row_gap: float = 8.0,
        align: str = "spread",
        sign_label: str | None = None,
        show_date: bool = True,
        position_label: bool = True,
    ) -> float:
        """The height :meth:`signatures` takes with the same arguments (on one page), in mm: a closing block
        asks :meth:`ensure_space` for it and its lines above, so that they stay together."""
        size = size or self.body_size
        lh = self.line_height(size)
        rows = signature_rows(self, blocks, per_row, size, dotted, align, sign_label, show_date, position_label)[3]
        return gap_before + sum((1 + len(laid[0][5])) * lh for laid in rows) + row_gap * max(0, len(rows) - 1)

    # -- output ---------------------------------------------------------------------------------

    def _footers(self) -> None:
        pdf = self.pdf
        total = pdf.pages_count
        last = pdf.page
        size = max(10.0, self.body_size - 4)
        y = self.page_h - self.bottom + 6
        footer_lines = self.wrap(" ".join(clean_text(self.footer_text).split()), self.width * 0.68, size)
        footer = footer_lines[0] + ("\u2026" if len(footer_lines) > 1 else "")
        for p in range(1, total + 1):
            pdf.page = p
            # fpdf2 remembers the selected font document-wide; on a page visited again it must be
            # selected anew, or the text takes whatever size that page's content stream ended with.
            pdf.current_font_is_set_on_page = False
            if footer:
                self._text(self.x0, y, self.width * 0.7, footer, size, False)
            if self.page_numbers:
                label = self.digits(f"{self.words['page']} {p}/{total}")
                self._text(self.x0 + self.width * 0.7, y, self.width * 0.3, label, size, False, "R")
        pdf.page = last

    def output(self) -> bytes:
        """The finished PDF (draws the page footers first; call once)."""
        self._footers()
        return bytes(self.pdf.output())
