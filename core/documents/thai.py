"""Thai text for print: cleaning, line breaking and shaped widths, in the Sarabun font.

Thai is written without spaces between words, so a line may break inside a run of Thai letters. Break
opportunities come from libthai's dictionary word breaker (``th_brk_wc_find_breaks``, through ctypes; the
library ships with Debian's pango stack), and where it is missing from a cautious heuristic (spaces,
before a leading vowel, after ะ ำ ์ ๆ ฯ). A word that is wider than its line is cut between grapheme
clusters, never between a letter and its marks. Widths are measured as HarfBuzz shapes the text
(vowels and tone marks take no room of their own), which is what fpdf2 draws with ``set_text_shaping``.

Pure module: no Flask, no database, no PDF. The document builder (core/documents/pdf.py) and the QR label sheets
(lending/register/labels/) both draw with it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
import threading
import unicodedata
from collections.abc import Callable

import fontpkg_sarabun

__all__ = [
    "FAMILY",
    "FONT_BOLD",
    "FONT_REGULAR",
    "NBSP",
    "WJ",
    "P_ANY",
    "P_GOOD",
    "P_WORD",
    "break_opportunities",
    "clusters",
    "clean_text",
    "keep_together",
    "ranked_clusters",
    "shaped_em",
    "wrap",
]

FONT_DIR = fontpkg_sarabun.ROOT / "files"
FONT_REGULAR = FONT_DIR / "Sarabun-Regular.ttf"
FONT_BOLD = FONT_DIR / "Sarabun-Bold.ttf"
FAMILY = "Sarabun"
NBSP = "\u00a0"  # a space where no line may break: "๒ มีนาคม ๒๕๖๙" stays on one line
WJ = "\u2060"  # word joiner: no line break here (see keep_together); never drawn


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


def clusters(text: str) -> list[str]:
    """``text`` cut into the pieces a line may never split: a letter keeps its combining marks (Thai vowels
    above and below, tone marks, thanthakhat); following vowels and closing punctuation stick to what
    precedes them, a leading vowel and opening punctuation to what follows."""
    out: list[str] = []
    glue = False
    for ch in text:
        if out and (glue or _is_mark(ch) or ch in _NO_LINE_START):
            out[-1] += ch
        else:
            out.append(ch)
        glue = ch in _LEADING or ch in _NO_LINE_END
    return out


# --------------------------------------------------------------------------- breaks inside a word, by rank
# Where no dictionary is asked (a short label line that must fit in a few lines), the breaks inside a word
# are ranked: between words > a likely syllable or punctuation boundary > between any two clusters.

P_WORD, P_GOOD, P_ANY = 3, 2, 1
# Inside a long space-free word, a break is acceptable after these and before the next set.
_BREAK_AFTER = frozenset("-/>)]}_,;|\\")
_BREAK_BEFORE = frozenset("<([{")
# Vowel signs above/below, following vowels, mai taikhu and tone marks.
_VOWEL_OR_TONE = frozenset(
    "\u0e30\u0e31\u0e32\u0e33\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a\u0e45\u0e47\u0e48\u0e49\u0e4a\u0e4b"
)
# Second consonants of initial clusters (กร, คล, ขว …) and consonants led by a silent ห/อ.
_CLUSTER_SECOND = frozenset("\u0e23\u0e25\u0e27")
_LED_BY_HO = frozenset("\u0e07\u0e0d\u0e19\u0e21\u0e22\u0e23\u0e25\u0e27")


def _is_bare_consonant(cl: str) -> bool:
    return len(cl) == 1 and "\u0e01" <= cl <= "\u0e2e"


def _bears_vowel(cl: str, leading: bool = False) -> bool:
    """Has the cluster a vowel sign or tone mark after its base (or, if asked, a leading vowel)?"""
    return (leading and cl[0] in _LEADING) or any(ch in _VOWEL_OR_TONE for ch in cl[1:])


def _syllable_onset(pieces: list[str], i: int) -> bool:
    """Heuristic: does Thai cluster ``i``, which carries a vowel or tone mark, start a syllable?

    Yes when the cluster before it has a vowel of its own (``อา|กาศ``) or is a bare final
    consonant of the syllable before (``ขนาด|สาม``, ``ติด|ตั้ง``, ``เลข|ที่``); no for initial
    consonant clusters, leading ห/อ and inherent vowels (``พ|ร้อม``, ``ห|มื่น``, ``ข|นาด``).
    """
    cl, prev = pieces[i], pieces[i - 1]
    if not (_is_thai(cl[0]) and _bears_vowel(cl)):
        return False
    if _bears_vowel(prev):
        return True
    if not _is_bare_consonant(prev):
        return False
    if cl[0] in _CLUSTER_SECOND or (prev in "\u0e2b\u0e2d" and cl[0] in _LED_BY_HO):
        return False
    return i >= 2 and _is_thai(pieces[i - 2][-1]) and _bears_vowel(pieces[i - 2], leading=True)


def ranked_clusters(word: str, first_rank: int) -> list[tuple[str, int]]:
    """The clusters of ``word``, each with the rank of breaking the line before it (P_WORD, P_GOOD, P_ANY);
    the first cluster has ``first_rank``."""
    pieces = clusters(word)
    units: list[tuple[str, int]] = []
    for i, cl in enumerate(pieces):
        if i == 0:
            rank = first_rank
        else:
            prev = pieces[i - 1]
            good = (
                cl[0] in _LEADING
                or cl[0] in _BREAK_BEFORE
                or prev[-1] in _AFTER
                or prev[-1] in _BREAK_AFTER
                or _is_thai(prev[-1]) != _is_thai(cl[0])
                or _syllable_onset(pieces, i)
            )
            rank = P_GOOD if good else P_ANY
        units.append((cl, rank))
    return units


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
                parts = [line[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
                if len(parts) < 2 or measure(parts[0].rstrip()) > limit:
                    parts = clusters(line)
                head = ""
                for k, cl in enumerate(parts):
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
def shaped_em(text: str, bold: bool) -> float:
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
