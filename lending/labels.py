"""QR asset labels: QR matrices, PNG/SVG tags and printable A4 sticker sheets.

Pure module: no Flask, no database. Callers pass plain :class:`LabelItem` values
and get bytes back (PNG, SVG or PDF).

The PDF sheets are drawn with fpdf2 and the Sarabun font, with HarfBuzz text
shaping switched on so Thai vowels and tone marks sit where they belong. The QR
code is drawn as vector rectangles (one per horizontal run of dark modules),
which keeps it sharp at any print resolution and fast to render.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import fontpkg_sarabun
import qrcode
import qrcode.constants
import qrcode.util
from PIL import Image

__all__ = [
    "LAYOUTS",
    "LabelItem",
    "Layout",
    "qr_matrix",
    "qr_png",
    "qr_svg",
    "render_label_sheet",
    "wrap_text",
]

FONT_DIR = fontpkg_sarabun.ROOT / "files"
FONT_REGULAR = FONT_DIR / "Sarabun-Regular.ttf"
FONT_BOLD = FONT_DIR / "Sarabun-Bold.ttf"
FONT_FAMILY = "Sarabun"

ELLIPSIS = "\u2026"
PT_TO_MM = 25.4 / 72

#: Quiet zone (in modules) around the QR in the PNG and SVG outputs (the QR spec value).
IMAGE_QUIET_ZONE = 4
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


# --------------------------------------------------------------------------- QR


@functools.lru_cache(maxsize=4096)
def _qr_rows(url: str) -> tuple[tuple[bool, ...], ...]:
    """The QR for ``url``, exactly as ``qrcode`` makes it (EC level M, best mask), but faster.

    ``qrcode`` picks the mask by building and scoring the whole symbol eight times in pure
    Python, about 3.5 ms per code. Here the symbol is built once; the other seven candidates
    are derived by XOR-ing the data area with the mask patterns and scored with string and
    integer operations; the same penalty rules give the same choice (see the unit tests).
    """
    if not url:
        raise ValueError("empty QR data")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(url)
    qr.best_fit()
    n = qr.version * 4 + 17
    qr.makeImpl(True, 0)  # the symbol as qrcode scores it: mask 0, format/version bits blank
    base = [_row_bits(row) for row in qr.modules]
    masks = _data_masks(qr.version)
    scores = [_penalty([b ^ m0 ^ mi for b, m0, mi in zip(base, masks[0], masks[i], strict=True)], n) for i in range(8)]
    qr.makeImpl(False, scores.index(min(scores)))
    return tuple(tuple(bool(v) for v in row) for row in qr.modules)


def _row_bits(row) -> int:
    """A row of modules as an int, the leftmost module in the highest bit."""
    bits = 0
    for v in row:
        bits = (bits << 1) | (1 if v else 0)
    return bits


_MASK_FUNCS = (
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i * j) % 3 + (i + j) % 2) % 2 == 0,
)


@functools.lru_cache(maxsize=40)
def _data_masks(version: int) -> tuple[tuple[int, ...], ...]:
    """Per mask pattern, the row bits of the data modules that the mask inverts (ISO 18004 7.8.2)."""
    n = version * 4 + 17
    fixed = [[False] * n for _ in range(n)]

    def mark(r0: int, r1: int, c0: int, c1: int) -> None:
        for r in range(r0, r1):
            for c in range(c0, c1):
                fixed[r][c] = True

    # Alignment patterns, except where they would overlap a finder pattern.
    finder = {(r, c) for r in range(8) for c in range(8)}
    finder |= {(r, n - 1 - c) for r, c in finder} | {(n - 1 - r, c) for r, c in finder}
    pos = qrcode.util.pattern_position(version)
    for r in pos:
        for c in pos:
            if (r, c) not in finder:
                mark(r - 2, r + 3, c - 2, c + 3)
    # Finder patterns with separators and format information, timing patterns, version information.
    mark(0, 9, 0, 9)
    mark(0, 9, n - 8, n)
    mark(n - 8, n, 0, 9)
    mark(6, 7, 0, n)
    mark(0, n, 6, 7)
    if version >= 7:
        mark(0, 6, n - 11, n - 8)
        mark(n - 11, n - 8, 0, 6)
    return tuple(tuple(_row_bits(not fixed[r][c] and f(r, c) for c in range(n)) for r in range(n)) for f in _MASK_FUNCS)


_RUN5 = re.compile(r"0{5,}|1{5,}")


def _penalty(rows: list[int], n: int) -> int:
    """The mask penalty score (ISO 18004 7.8.3) exactly as ``qrcode.util.lost_point`` computes it."""
    full = (1 << n) - 1
    row_strs = [format(bits, f"0{n}b") for bits in rows]
    # every row and column, separated by "|" so that no pattern spans two lines
    lines = "|".join(row_strs) + "|" + "|".join(map("".join, zip(*row_strs, strict=True)))
    # 1: runs of five or more same-coloured modules in a row or column
    runs = _RUN5.findall(lines)
    score = sum(map(len, runs)) - 2 * len(runs)
    # 2: 2x2 blocks of one colour
    for a, b in zip(rows, rows[1:], strict=False):
        same_v = ~(a ^ b) & full
        same_h = ~(a ^ (a >> 1)) & (full >> 1)
        score += 3 * (same_v & (same_v >> 1) & same_h).bit_count()
    # 3: 1:1:3:1:1 finder-like patterns with four light modules on one side
    # (neither pattern can overlap itself, so str.count finds every occurrence)
    score += 40 * (lines.count("10111010000") + lines.count("00001011101"))
    # 4: proportion of dark modules
    percent = float(sum(bits.bit_count() for bits in rows)) / (n**2)
    return score + int(abs(percent * 100 - 50) / 5) * 10


def qr_matrix(url: str) -> list[list[bool]]:
    """The QR modules for ``url`` (error correction M), ``True`` = dark, no quiet zone."""
    return [list(row) for row in _qr_rows(url)]


@functools.lru_cache(maxsize=4096)
def _qr_runs(url: str) -> tuple[tuple[int, int, int], ...]:
    """Horizontal runs of dark modules as ``(x, y, length)``, in module units."""
    runs: list[tuple[int, int, int]] = []
    for y, row in enumerate(_qr_rows(url)):
        x, n = 0, len(row)
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                runs.append((start, y, x - start))
            else:
                x += 1
    return tuple(runs)


def qr_png(url: str, scale: int = 8) -> bytes:
    """A black-on-white PNG of the QR with a 4-module quiet zone, ``scale`` pixels per module."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    rows = _qr_rows(url)
    size = len(rows) + 2 * IMAGE_QUIET_ZONE
    img = Image.new("1", (size, size), 1)
    pixels = img.load()
    if pixels is None:  # not for an image just made; indexing None would raise this
        raise TypeError("'NoneType' object does not support item assignment")
    for y, row in enumerate(rows):
        for x, dark in enumerate(row):
            if dark:
                pixels[x + IMAGE_QUIET_ZONE, y + IMAGE_QUIET_ZONE] = 0
    if scale != 1:
        img = img.resize((size * scale, size * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def qr_svg(url: str) -> bytes:
    """A standalone SVG of the QR (one path, module units) with a white 4-module quiet zone."""
    q = IMAGE_QUIET_ZONE
    size = len(_qr_rows(url)) + 2 * q
    d = "".join(f"M{x + q} {y + q}h{n}v1h-{n}z" for x, y, n in _qr_runs(url))
    svg = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="0 0 {size} {size}" '
        f'width="{size * 8}" height="{size * 8}" shape-rendering="crispEdges">'
        f"<title>{_xml_text(url)}</title>"
        f'<rect width="{size}" height="{size}" fill="#ffffff"/>'
        f'<path fill="#000000" d={quoteattr(d)}/>'
        "</svg>\n"
    )
    return svg.encode("utf-8")


def _xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- Thai-aware wrapping

# Thai leading vowels are written before the consonant they follow in speech: never end a line on one.
_LEADING = frozenset("\u0e40\u0e41\u0e42\u0e43\u0e44")
# Following vowels, paiyannoi, mai yamok and lakkhangyao: never start a line with one.
_TRAILING = frozenset("\u0e30\u0e32\u0e33\u0e45\u0e2f\u0e46")
# A syllable very likely ends after these (sara a, sara am, thanthakhat, mai yamok, paiyannoi).
_SYLLABLE_END = frozenset("\u0e30\u0e33\u0e4c\u0e46\u0e2f")
_CLOSING = frozenset(",.;:!?%)]}\u201d\u2019")
_OPENING = frozenset("([{\u201c\u2018")
# Inside a long space-free word, a break is acceptable after these and before the next set.
_BREAK_AFTER = frozenset("-/>)]}_,;|\\")
_BREAK_BEFORE = frozenset("<([{")
_ZWSP = "\u200b"
# Vowel signs above/below, following vowels, mai taikhu and tone marks.
_VOWEL_OR_TONE = frozenset(
    "\u0e30\u0e31\u0e32\u0e33\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e45\u0e47\u0e48\u0e49\u0e4a\u0e4b"
)
# Second consonants of initial clusters (กร, คล, ขว …) and consonants led by a silent ห/อ.
_CLUSTER_SECOND = frozenset("\u0e23\u0e25\u0e27")
_LED_BY_HO = frozenset("\u0e07\u0e0d\u0e19\u0e21\u0e22\u0e23\u0e25\u0e27")

# Break priorities: between words > a likely syllable or punctuation boundary > between any two clusters.
_P_WORD, _P_GOOD, _P_ANY = 3, 2, 1


def _is_thai(ch: str) -> bool:
    return "\u0e00" <= ch <= "\u0e7f"


def _clusters(word: str) -> list[str]:
    """Split a word into unbreakable pieces.

    A base character keeps its combining marks (category M: Thai vowels above/below, tone
    marks, thanthakhat); following vowels and closing punctuation stick to what precedes
    them; leading vowels and opening punctuation stick to what follows.
    """
    out: list[str] = []
    glue_next = False
    for ch in word:
        attach = bool(out) and (
            glue_next or unicodedata.category(ch).startswith("M") or ch in _TRAILING or ch in _CLOSING
        )
        if attach:
            out[-1] += ch
        else:
            out.append(ch)
        glue_next = ch in _LEADING or ch in _OPENING
    return out


def _is_bare_consonant(cl: str) -> bool:
    return len(cl) == 1 and "\u0e01" <= cl <= "\u0e2e"


def _bears_vowel(cl: str, leading: bool = False) -> bool:
    """Has the cluster a vowel sign or tone mark after its base (or, if asked, a leading vowel)?"""
    return (leading and cl[0] in _LEADING) or any(ch in _VOWEL_OR_TONE for ch in cl[1:])


def _syllable_onset(clusters: list[str], i: int) -> bool:
    """Heuristic: does Thai cluster ``i``, which carries a vowel or tone mark, start a syllable?

    Yes when the cluster before it has a vowel of its own (``อา|กาศ``) or is a bare final
    consonant of the syllable before (``ขนาด|สาม``, ``ติด|ตั้ง``, ``เลข|ที่``); no for initial
    consonant clusters, leading ห/อ and inherent vowels (``พ|ร้อม``, ``ห|มื่น``, ``ข|นาด``).
    """
    cl, prev = clusters[i], clusters[i - 1]
    if not (_is_thai(cl[0]) and _bears_vowel(cl)):
        return False
    if _bears_vowel(prev):
        return True
    if not _is_bare_consonant(prev):
        return False
    if cl[0] in _CLUSTER_SECOND or (prev in "\u0e2b\u0e2d" and cl[0] in _LED_BY_HO):
        return False
    return i >= 2 and _is_thai(clusters[i - 2][-1]) and _bears_vowel(clusters[i - 2], leading=True)


def _cluster_units(word: str, first_priority: int) -> list[tuple[str, int]]:
    """The clusters of ``word``, each with the priority of breaking the line before it."""
    clusters = _clusters(word)
    units: list[tuple[str, int]] = []
    for i, cl in enumerate(clusters):
        if i == 0:
            prio = first_priority
        else:
            prev = clusters[i - 1]
            good = (
                cl[0] in _LEADING
                or cl[0] in _BREAK_BEFORE
                or prev[-1] in _SYLLABLE_END
                or prev[-1] in _BREAK_AFTER
                or _is_thai(prev[-1]) != _is_thai(cl[0])
                or _syllable_onset(clusters, i)
            )
            prio = _P_GOOD if good else _P_ANY
        units.append((cl, prio))
    return units


_MAX_MARKS = 3


def _clean(text: str) -> str:
    """NFC; control characters and line breaks become spaces; runs of spaces collapse.

    A doubled combining mark (``ก้้``, a common typing slip) is kept once, and at most three
    marks stay on one base, so stacked marks cannot climb into the line above.
    """
    text = unicodedata.normalize("NFC", text or "")
    out: list[str] = []
    marks = 0
    for c in text:
        cat = unicodedata.category(c)
        if cat.startswith("M"):
            if marks >= _MAX_MARKS or (out and out[-1] == c):
                continue
            marks += 1
        else:
            marks = 0
            if cat in ("Cc", "Zl", "Zp"):
                c = " "
        out.append(c)
    return " ".join("".join(out).split())


def _words(text: str) -> list[tuple[str, str]]:
    """``(separator, word)`` pairs; the separator is " ", or "" after a zero-width space."""
    out: list[tuple[str, str]] = []
    for chunk in text.split():
        for i, word in enumerate(chunk.split(_ZWSP)):
            if word:
                out.append(("" if (i or not out) else " ", word))
    return out


def _fill(units: list[tuple[str, int]], width: float, measure, pack: bool) -> list[str]:
    """Greedy line filling over unbreakable ``(text, break_priority)`` units.

    On overflow the line breaks at the best earlier opportunity: with ``pack`` False, the
    last word boundary, else the last good in-word boundary, else just before the unit
    that overflowed; with ``pack`` True, the last word or good boundary if the line is
    already 60 % full there, else just before the unit that overflowed.
    """

    def text_of(us: list[tuple[str, int]]) -> str:
        return "".join(t for t, _ in us).strip()

    lines: list[str] = []
    cur: list[tuple[str, int]] = []
    for unit in units:
        cur.append(unit)
        while len(cur) > 1 and measure(text_of(cur)) > width:
            j = len(cur) - 1
            if pack:
                for k in range(len(cur) - 1, 0, -1):
                    if cur[k][1] >= _P_GOOD and measure(text_of(cur[:k])) >= 0.6 * width:
                        j = k
                        break
            else:
                for want in (_P_WORD, _P_GOOD):
                    ks = [k for k in range(1, len(cur)) if cur[k][1] == want]
                    if ks:
                        j = ks[-1]
                        break
            lines.append(text_of(cur[:j]))
            cur = cur[j:]
    if cur:
        lines.append(text_of(cur))
    return [line for line in lines if line]


def wrap_text(text: str, width: float, measure, max_lines: int) -> tuple[list[str], bool]:
    """Wrap ``text`` into at most ``max_lines`` lines no wider than ``width``.

    ``measure(s) -> float`` gives the rendered width of a string. Lines break between
    words (spaces or zero-width spaces) when that fits in ``max_lines``; otherwise they are
    packed cluster by cluster, as Thai writes words without spaces, preferring likely
    syllable boundaries (before a leading vowel, after a thanthakhat …). A character is never
    separated from its combining marks. Returns ``(lines, truncated)``; a truncated last
    line ends in "…".
    """
    text = _clean(text)
    if not text or max_lines < 1:
        return [], bool(text)
    if measure(text) <= width:
        return [text], False

    words = _words(text)
    units: list[tuple[str, int]] = []
    for sep, word in words:
        if measure(word) <= width:
            units.append((sep + word, _P_WORD))
        else:  # a word wider than the line must be broken inside
            cls = _cluster_units(word, _P_WORD)
            units.extend([(sep + cls[0][0], cls[0][1]), *cls[1:]])
    lines = _fill(units, width, measure, pack=False)
    if len(lines) <= max_lines:
        return lines, False

    units = []
    for sep, word in words:
        cls = _cluster_units(word, _P_WORD)
        units.extend([(sep + cls[0][0], cls[0][1]), *cls[1:]])
    lines = _fill(units, width, measure, pack=True)
    if len(lines) <= max_lines:
        return lines, False

    # Too long even when packed tight: keep max_lines lines and end with an ellipsis.
    kept = lines[:max_lines]
    last = _clusters(kept[-1])
    while last and measure("".join(last).rstrip() + ELLIPSIS) > width:
        last.pop()
    kept[-1] = "".join(last).rstrip() + ELLIPSIS
    return kept, True


# --------------------------------------------------------------------------- PDF


@functools.lru_cache(maxsize=2)
def _hb_font(style: str):
    import uharfbuzz as hb

    path = FONT_BOLD if style == "B" else FONT_REGULAR
    face = hb.Face(hb.Blob.from_file_path(str(path)))
    return hb.Font(face), face.upem


@functools.lru_cache(maxsize=65536)
def _shaped_em(text: str, style: str = "") -> float:
    """Advance width of ``text`` shaped with HarfBuzz, in em.

    The same computation fpdf2 does for shaped text, without its per-call bidi and
    fragment machinery, and cached independent of the font size.
    """
    import uharfbuzz as hb

    font, upem = _hb_font(style)
    buf = hb.Buffer()
    buf.cluster_level = 1
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    return sum(round(1000 / upem * pos.x_advance + 0.001) for pos in buf.glyph_positions) / 1000


class _Sheet:
    """Draws labels on an fpdf2 document; one instance per PDF."""

    def __init__(self, layout: Layout, agency_name: str):
        self.layout = layout
        self.agency = _clean(agency_name)
        from fpdf import FPDF  # imported when a sheet is made: keeps fpdf out of every worker's memory

        pdf = FPDF(orientation="P", unit="mm", format=(layout.page_width_mm, layout.page_height_mm))
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        pdf.c_margin = 0
        pdf.add_font(FONT_FAMILY, "", str(FONT_REGULAR))
        pdf.add_font(FONT_FAMILY, "B", str(FONT_BOLD))
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
        self.pdf.set_font(FONT_FAMILY, style, size_pt)

    def _measure(self, text: str, size_pt: float, style: str = "") -> float:
        """Shaped width of ``text`` in mm, as fpdf2 will lay it out."""
        return _shaped_em(text, style) * size_pt * PT_TO_MM

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
        n = len(_qr_rows(url))
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
            for rx, ry, rn in _qr_runs(url)
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
        num_size, num_text = self._fit_one_line(_clean(item.asset_number), tw, num_sizes, "B")
        nfs = num_size * PT_TO_MM
        y += 0.95 * nfs
        self._line(tx, y, tw, num_text, num_size, "B")
        y += 0.35 * nfs

        # Tag code: small, on the bottom line of the column.
        tag_size = 7 * s
        tag_fs = tag_size * PT_TO_MM
        tag_baseline = bottom - 0.05 * tag_fs
        _, tag_text = self._fit_one_line(_clean(item.tag), tw, [tag_size])
        self._line(tx, tag_baseline, tw, tag_text, tag_size)

        # Asset name: up to three lines between the number and the tag, shrinking before truncating.
        avail = (tag_baseline - 1.05 * tag_fs) - y
        name = _clean(item.name)
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
