"""A small builder for Thai official documents on fpdf2: A4, Sarabun, shaped Thai, Thai line breaks.

Thai official style (งานสารบรรณ): the Sarabun family at 16 pt for the body, 3 cm left and 2 cm right
margins, a first-line indent of 2.5 cm for paragraphs of a letter. Text is shaped with HarfBuzz
(``set_text_shaping(True)``), so vowels and tone marks sit where they belong (``เก้าอี้``, ``ที่นี่``).

Thai is written without spaces between words, so a line may break inside a run of Thai letters. Break
opportunities come from libthai's dictionary word breaker (``th_brk_wc_find_breaks``, through ctypes; the
library ships with Debian's pango stack), and where it is missing from a cautious heuristic (spaces,
before a leading vowel, after ะ ำ ์ ๆ ฯ). A word that is wider than its line is cut between grapheme
clusters, never between a letter and its marks.

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

import ctypes
import ctypes.util
import functools
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import fontpkg_sarabun

from core.dates import to_thai_digits

# fpdf's font subsetting (fontTools) reports every table it prunes at INFO: noise in the commands' output.
logging.getLogger("fontTools").setLevel(logging.WARNING)

__all__ = [
    "NBSP",
    "WJ",
    "Cell",
    "Column",
    "Signature",
    "ThaiDocument",
    "break_opportunities",
    "clean_text",
    "keep_together",
    "wrap",
]

FONT_DIR = fontpkg_sarabun.ROOT / "files"
FONT_REGULAR = FONT_DIR / "Sarabun-Regular.ttf"
FONT_BOLD = FONT_DIR / "Sarabun-Bold.ttf"
FAMILY = "Sarabun"
PT = 25.4 / 72  # mm per point
LINE_SPACING = 1.4  # line height / font size; room for Thai marks above and below
NBSP = "\u00a0"  # a space where no line may break: "๒ มีนาคม ๒๕๖๙" stays on one line
WJ = "\u2060"  # word joiner: no line break here (see keep_together); never drawn


# --------------------------------------------------------------------------- text


@functools.lru_cache(maxsize=1)
def _font_chars() -> frozenset[int]:
    from fontTools.ttLib import TTFont

    chars = set(TTFont(str(FONT_REGULAR)).getBestCmap())
    return frozenset(chars & set(TTFont(str(FONT_BOLD)).getBestCmap()))


_MAX_MARKS = 3


def clean_text(text: object) -> str:
    """NFC; tabs and control characters become spaces (line breaks stay); characters the font lacks
    become "?"; zero-width characters go; a doubled combining mark (a typing slip) is kept once, and at
    most three marks stay on one letter, so stacked marks cannot climb into the line above."""
    text = unicodedata.normalize("NFC", "" if text is None else str(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    have = _font_chars()
    out: list[str] = []
    marks = 0
    for ch in text:
        if ch == "\n":
            out.append(ch)
            marks = 0
            continue
        cat = unicodedata.category(ch)
        if cat == "Cf" and ch != WJ:  # zero-width space, joiners, direction marks: not drawable here
            continue
        if cat.startswith("M"):
            if marks >= _MAX_MARKS or (out and out[-1] == ch) or not out or out[-1] in " \n":
                continue
            marks += 1
        else:
            marks = 0
            if cat in ("Cc", "Zl", "Zp") or (cat == "Zs" and ch != NBSP):
                ch = "\n" if cat in ("Zl", "Zp") else " "
            elif ord(ch) not in have and ch != WJ:
                ch = "?"
        if cat.startswith("M") and ord(ch) not in have:
            continue
        out.append(ch)
    return "".join(out)


class _LibThai:
    """libthai's dictionary-based Thai word breaker, if the system has it (else ``None`` breaks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._brk = None
        self._lib = None
        name = ctypes.util.find_library("thai") or "libthai.so.0"
        try:
            lib = ctypes.CDLL(name)
            lib.th_brk_new.restype = ctypes.c_void_p
            lib.th_brk_new.argtypes = [ctypes.c_char_p]
            lib.th_brk_wc_find_breaks.restype = ctypes.c_int
            lib.th_brk_wc_find_breaks.argtypes = [
                ctypes.c_void_p,
                ctypes.c_wchar_p,
                ctypes.POINTER(ctypes.c_int),
                ctypes.c_size_t,
            ]
            brk = lib.th_brk_new(None)
        except (OSError, AttributeError):
            return
        if brk:
            self._lib, self._brk = lib, brk

    @property
    def available(self) -> bool:
        return self._brk is not None

    def breaks(self, text: str) -> list[int] | None:
        if self._lib is None or self._brk is None or not text:  # the two are set together
            return None
        if ctypes.sizeof(ctypes.c_wchar) != 4:  # thwchar_t is UCS-4
            return None
        n = len(text) + 1
        pos = (ctypes.c_int * n)()
        with self._lock:
            count = self._lib.th_brk_wc_find_breaks(self._brk, text, pos, n)
        return [p for p in pos[: max(count, 0)] if 0 < p < len(text)]


_libthai = _LibThai()

_LEADING = frozenset("เแโใไ")
_AFTER = frozenset("ะำ์ๆฯ")
_NO_LINE_START = frozenset("ะาำๅฯๆ,.;:!?)]}%\u201d\u2019")
_NO_LINE_END = frozenset("([{\u201c\u2018")


# libthai's dictionary cuts text into its smallest words, so lexicalised compounds come apart at a line
# end ("หน่วย|งาน", "วัน|ที่", "ผู้|รับผิดชอบ") — most visibly in a narrow table header or a flowchart box.
# These compounds stay whole, and no line ends on a prefix that makes a noun of what follows.
_COMPOUNDS = (
    "หน่วยงาน",
    "วันที่",
    "เจ้าหน้าที่",
    "ส่วนราชการ",
    "สถานที่",
    "ใช้งาน",
    "ผู้ยืม",
    "ผู้บริหาร",
    "ส่งคืน",
    "ส่งมอบ",
    "รับคืน",
    "ตรวจรับ",
    "ตรวจสอบ",
    "หัวหน้า",
    "ลำดับที่",
    "เลขที่",
    "ที่ตั้ง",
    "งบประมาณ",
    "ปีงบประมาณ",
    "ครุภัณฑ์",
    "หมายเลข",
    "ทะเบียน",
    "ชดใช้",
    "จำหน่าย",
    "ค่าใช้จ่าย",
)
_COMPOUND_RE = re.compile("|".join(sorted(map(re.escape, _COMPOUNDS), key=len, reverse=True)))
_BOUND_PREFIXES = frozenset({"ผู้", "การ", "ความ"})


def _inside_compounds(text: str) -> set[int]:
    """Positions strictly inside a compound of _COMPOUNDS, where no line may break."""
    return {i for m in _COMPOUND_RE.finditer(text) for i in range(m.start() + 1, m.end())}


def _after_prefix(text: str, breaks: list[int]) -> set[int]:
    """Dictionary breaks right after a bound prefix (ผู้, การ, ความ) that is followed by a Thai letter."""
    out, start = set(), 0
    for i in breaks:
        if text[start:i] in _BOUND_PREFIXES and i < len(text) and _is_thai(text[i]):
            out.add(i)
        start = i
    return out


def _is_thai(ch: str) -> bool:
    return "\u0e00" <= ch <= "\u0e7f"


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


@functools.lru_cache(maxsize=8192)
def break_opportunities(text: str) -> tuple[int, ...]:
    """Indexes i (0 < i < len) where a line may break before ``text[i]``, in order."""
    found: set[int] = set()
    for i in range(1, len(text)):
        if text[i - 1] == " " and text[i] != " ":
            found.add(i)
    dictionary = _libthai.breaks(text)
    if dictionary is not None:
        segments = sorted(set(dictionary) | {i for i in found})
        found.update(set(dictionary) - _inside_compounds(text) - _after_prefix(text, segments))
    else:  # the heuristic: only where a Thai syllable very probably starts or ends
        for i in range(1, len(text)):
            a, b = text[i - 1], text[i]
            if _is_thai(b) and b in _LEADING and not _is_mark(a) and a not in _LEADING:
                found.add(i)
            elif _is_thai(a) and a in _AFTER and not _is_mark(b):
                found.add(i)
    good = []
    for i in sorted(found):
        a, b = text[i - 1], text[i]
        if _is_mark(b) or a in _LEADING or b in _NO_LINE_START or a in _NO_LINE_END or NBSP in (a, b) or WJ in (a, b):
            continue
        good.append(i)
    return tuple(good)


def keep_together(text: str) -> str:
    """``text`` with line breaks allowed only at its spaces: for names ("นางสาวสมศรี รักษ์พัสดุ") and codes,
    which a dictionary would cut in the middle of a surname or after a hyphen."""
    text = clean_text(text)
    out, last = [], 0
    for i in break_opportunities(text):
        if text[i - 1] != " ":
            out += [text[last:i], WJ]
            last = i
    out.append(text[last:])
    return "".join(out)


def _graphemes(text: str) -> list[str]:
    """Letters with their marks; a leading vowel sticks to the letter after it."""
    out: list[str] = []
    glue = False
    for ch in text:
        if out and (glue or _is_mark(ch) or ch in _NO_LINE_START):
            out[-1] += ch
        else:
            out.append(ch)
        glue = ch in _LEADING
    return out


def wrap(text: str, width: float, measure: Callable[[str], float], first_width: float | None = None) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (the first line ``first_width``).

    Breaks at spaces and Thai word boundaries, never at a no-break space or next to a word joiner (see
    :func:`keep_together`); a newline forces a break; a run too wide for a line is cut at its word
    boundaries, else between grapheme clusters. Lines carry no leading or trailing spaces.
    """
    raw_measure = measure

    def measure_without_joiners(s: str) -> float:
        return raw_measure(s.replace(WJ, ""))

    measure = measure_without_joiners

    lines: list[str] = []
    for para in clean_text(text).split("\n"):
        para = " ".join(w for w in para.split(" ") if w)  # not str.split(): that splits at NBSP too
        if not para:
            lines.append("")
            continue
        cuts = (0, *break_opportunities(para), len(para))
        pieces = [para[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
        line = ""
        for piece in pieces:
            limit = first_width if (first_width is not None and not lines) else width
            candidate = line + piece
            if not line or measure(candidate.rstrip()) <= limit:
                line = candidate
            else:
                lines.append(line.rstrip())
                line = piece.lstrip()
            # a piece longer than a whole line
            limit = first_width if (first_width is not None and not lines) else width
            while measure(line.rstrip()) > limit:
                # kept together but too long: break it where its words end, else between clusters
                line = line.replace(WJ, "")
                cuts = (0, *break_opportunities(line), len(line))
                clusters = [line[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
                if len(clusters) < 2 or measure(clusters[0].rstrip()) > limit:
                    clusters = _graphemes(line)
                head = ""
                for k, cl in enumerate(clusters):
                    if k and measure((head + cl).rstrip()) > limit:
                        break
                    head += cl
                rest = line[len(head) :]
                if not rest.strip():
                    break
                lines.append(head.rstrip())
                line = rest.lstrip()
                limit = width
        lines.append(line.rstrip())
    return lines


@functools.lru_cache(maxsize=2)
def _hb_font(bold: bool):
    import uharfbuzz as hb

    face = hb.Face(hb.Blob.from_file_path(str(FONT_BOLD if bold else FONT_REGULAR)))
    return hb.Font(face), face.upem


@functools.lru_cache(maxsize=65536)
def _shaped_em(text: str, bold: bool) -> float:
    """Advance width of ``text`` shaped with HarfBuzz, in em: what fpdf2 will lay out."""
    import uharfbuzz as hb

    if not text:
        return 0.0
    font, upem = _hb_font(bold)
    buf = hb.Buffer()
    buf.cluster_level = 1
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    return sum(round(1000 / upem * pos.x_advance + 0.001) for pos in buf.glyph_positions) / 1000


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Column:
    """A table column: its header, its share of the width (a weight), and its alignment."""

    title: str
    weight: float = 1.0
    align: str = "L"  # L, C or R
    header_align: str = "C"
    #: as wide as its widest cell (and the widest word of its header) instead of a share by weight
    fit: bool = False


@dataclass(frozen=True)
class Cell:
    """A table cell with its own style; plain strings are cells with the column's style."""

    text: str
    bold: bool = False
    align: str | None = None
    colspan: int = 1


@dataclass(frozen=True)
class Signature:
    """A signature block: "ลงชื่อ ......... role", "(name)", position, date.

    Blank ``name`` or ``date`` print as dotted lines to fill in by hand.
    """

    role: str = ""
    name: str = ""
    position: str = ""
    date: str = ""


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
        return _shaped_em(text.replace(WJ, ""), bold) * (size or self.body_size) * PT

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
        widths = self._column_widths(columns, rows, size, pad)
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

    def _column_widths(
        self, columns: Sequence[Column], rows: Sequence[Sequence[str | Cell]], size: float, pad: float
    ) -> list[float]:
        """Fitted columns take their natural width; the others share the rest by weight."""
        natural: dict[int, float] = {}
        for i, col in enumerate(columns):
            if not col.fit:
                continue
            title = " ".join(clean_text(col.title).split())
            spaces = tuple(i for i in range(1, len(title)) if title[i - 1] == " ")
            cuts = (0, *(spaces or break_opportunities(title)), len(title))
            pieces = [title[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
            # the header may take two lines: the narrowest width that needs no more
            widest = min(
                (
                    max(
                        self.measure("".join(pieces[:k]).strip(), size, True),
                        self.measure("".join(pieces[k:]).strip(), size, True),
                    )
                    for k in range(1, len(pieces) + 1)
                ),
                default=0.0,
            )
            for row in rows:
                k = 0
                for cell in row:
                    c = cell if isinstance(cell, Cell) else Cell(str(cell))
                    if k == i and c.colspan == 1:
                        for line in clean_text(c.text).split("\n"):
                            widest = max(widest, self.measure(" ".join(line.split()), size, c.bold))
                    k += max(1, c.colspan)
            natural[i] = widest + 2 * pad + 0.6
        fixed = sum(natural.values())
        if fixed > self.width * 0.75:  # too wide: the fitted columns shrink and wrap
            natural = {i: w * self.width * 0.75 / fixed for i, w in natural.items()}
            fixed = self.width * 0.75
        rest = [i for i in range(len(columns)) if i not in natural]
        total = sum(columns[i].weight for i in rest)
        if not rest:
            return [natural[i] * self.width / fixed for i in range(len(columns))]
        free = self.width - fixed
        return [natural[i] if i in natural else free * columns[i].weight / total for i in range(len(columns))]

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
        label, wl, d, rows = self._signature_rows(
            blocks, per_row, size, dotted, align, sign_label, show_date, position_label
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
        rows = self._signature_rows(blocks, per_row, size, dotted, align, sign_label, show_date, position_label)[3]
        return gap_before + sum((1 + len(laid[0][5])) * lh for laid in rows) + row_gap * max(0, len(rows) - 1)

    def _signature_rows(
        self,
        blocks: Sequence[Signature],
        per_row: int,
        size: float,
        dotted: float,
        align: str,
        sign_label: str | None,
        show_date: bool,
        position_label: bool,
    ):
        """The signature blocks laid out: (label, its width, the dotted line's length, rows), each row a list
        of (start x, role width, role, centre x, half width, lines under the dotted line), every block of a
        row with the same number of lines."""
        label = self.words["sign"] if sign_label is None else clean_text(sign_label).strip()
        col_w = self.width / per_row
        dot_w = self.measure(".", size)
        wl = self.measure(label + " ", size) if label else 0.0
        rows = [list(blocks[i : i + per_row]) for i in range(0, len(blocks), per_row)]
        all_roles = [" ".join(clean_text(b.role).split()) for b in blocks]
        d = min([dotted] + [col_w - wl - (self.measure(" " + rl, size) if rl else 0) - 5 for rl in all_roles])
        below = d < min(dotted, 35.0)  # no room for a role after the dots: roles go under the names
        if below:  # the dotted line centred in its column, "ลงชื่อ" hanging to its left
            d = min(dotted, col_w - 2 * wl - 2)
        d = max(15.0, d)
        out = []
        for row in rows:
            if align == "right" and len(row) < per_row:
                slots: list[float] = [float(k) for k in range(per_row - len(row), per_row)]
            elif len(row) < per_row:  # centre a short last row
                offset = (self.width - len(row) * col_w) / 2 / col_w
                slots = [offset + k for k in range(len(row))]
            else:
                slots = [float(k) for k in range(len(row))]
            roles = [" ".join(clean_text(b.role).split()) for b in row]
            laid = []
            for slot, block, role in zip(slots, row, roles, strict=True):
                bx = self.x0 + slot * col_w
                wr = self.measure(" " + role, size) if role and not below else 0.0
                if below:
                    cx = bx + col_w / 2
                    start = cx - d / 2 - wl
                else:
                    start = bx + max(0.0, (col_w - (wl + d + wr)) / 2)
                    cx = start + wl + d / 2
                half = min(col_w / 2, cx - bx, bx + col_w - cx) - 0.5
                texts = [
                    f"({' '.join(clean_text(block.name).split())})"
                    if block.name.strip()
                    else "(" + "." * int((d - 2 * self.measure("(", size)) / dot_w) + ")"
                ]
                if below and role:
                    texts.append(role)
                position = " ".join(clean_text(block.position).split())
                if position:
                    texts.append(f"{self.words['position']} {position}" if position_label else position)
                body = [ln for text in texts for ln in self.wrap(text, 2 * half, size)]
                dated = (
                    self.wrap(
                        f"{self.words['date']} {block.date}" if block.date.strip() else self.words["blank_date"],
                        2 * half,
                        size,
                    )
                    if show_date
                    else []
                )
                laid.append((start, wr, "" if below else role, cx, half, (body, dated)))
            # the date lines of a row on one level, whatever the names above them take
            n_body = max(len(x[5][0]) for x in laid)
            joined = [(*x[:5], x[5][0] + [""] * (n_body - len(x[5][0])) + x[5][1]) for x in laid]
            n = max(len(x[5]) for x in joined)
            out.append([(*x[:5], x[5] + [""] * (n - len(x[5]))) for x in joined])
        return label, wl, d, out

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
