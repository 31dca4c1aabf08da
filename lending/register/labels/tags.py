"""QR asset labels: the QR matrices, PNG/SVG tags, and fitting a label's text in a few lines.

Pure module: no Flask, no database; values in, bytes or lines out. The printable A4
sticker sheets that draw them are lending/register/labels/sheet.py; the Thai text engine
(cleaning, clusters, breaks, shaped widths) is core/documents/thai.py.
"""

from __future__ import annotations

import functools
import io
import re
from xml.sax.saxutils import quoteattr

import qrcode
import qrcode.constants
import qrcode.util
from PIL import Image

from core.documents.thai import (
    P_GOOD,
    P_WORD,
    clean_text,
    ranked_clusters,
)
from core.documents.thai import clusters as _clusters

__all__ = [
    "clean_line",
    "qr_matrix",
    "qr_png",
    "qr_rows",
    "qr_runs",
    "qr_svg",
    "wrap_text",
]


ELLIPSIS = "\u2026"

#: Quiet zone (in modules) around the QR in the PNG and SVG outputs (the QR spec value).
IMAGE_QUIET_ZONE = 4


# --------------------------------------------------------------------------- QR


@functools.lru_cache(maxsize=4096)
def qr_rows(url: str) -> tuple[tuple[bool, ...], ...]:
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
    return [list(row) for row in qr_rows(url)]


@functools.lru_cache(maxsize=4096)
def qr_runs(url: str) -> tuple[tuple[int, int, int], ...]:
    """Horizontal runs of dark modules as ``(x, y, length)``, in module units."""
    runs: list[tuple[int, int, int]] = []
    for y, row in enumerate(qr_rows(url)):
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
    rows = qr_rows(url)
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
    size = len(qr_rows(url)) + 2 * q
    d = "".join(f"M{x + q} {y + q}h{n}v1h-{n}z" for x, y, n in qr_runs(url))
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


# --------------------------------------------------------------------------- fitting text in a few lines
# The Thai text engine (cleaning, clusters, ranked breaks inside a word, shaped widths) is core's; what is
# the label's is fitting a name in at most a few lines, packing tighter and then ending in "…".

_ZWSP = "\u200b"


def clean_line(text: str) -> str:
    """One line: core's cleaning (NFC, controls, doubled and stacked marks, glyphs the font lacks), then
    runs of spaces and line breaks collapse to one space; a zero-width space stays, as a place to break."""
    cleaned = _ZWSP.join(clean_text(part) for part in (text or "").split(_ZWSP))
    return " ".join(cleaned.split())


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
                    if cur[k][1] >= P_GOOD and measure(text_of(cur[:k])) >= 0.6 * width:
                        j = k
                        break
            else:
                for want in (P_WORD, P_GOOD):
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
    text = clean_line(text)
    if not text or max_lines < 1:
        return [], bool(text)
    if measure(text) <= width:
        return [text], False

    words = _words(text)
    units: list[tuple[str, int]] = []
    for sep, word in words:
        if measure(word) <= width:
            units.append((sep + word, P_WORD))
        else:  # a word wider than the line must be broken inside
            cls = ranked_clusters(word, P_WORD)
            units.extend([(sep + cls[0][0], cls[0][1]), *cls[1:]])
    lines = _fill(units, width, measure, pack=False)
    if len(lines) <= max_lines:
        return lines, False

    units = []
    for sep, word in words:
        cls = ranked_clusters(word, P_WORD)
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
