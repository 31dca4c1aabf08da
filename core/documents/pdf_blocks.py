"""The building blocks of a ThaiDocument (core/documents/pdf.py) and how they are laid out: table columns and cells,
signature blocks. Pure layout: widths and lines from the document's measure and wrap, nothing drawn here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.documents.thai import break_opportunities, clean_text


class Page(Protocol):
    """What the layout needs of a document: its text width, left edge, words, measure and wrap."""

    words: dict[str, str]

    @property
    def x0(self) -> float: ...

    @property
    def width(self) -> float: ...

    def measure(self, text: str, size: float | None = None, bold: bool = False) -> float: ...

    def wrap(
        self, text: str, width: float, size: float | None = None, bold: bool = False, first_width: float | None = None
    ) -> list[str]: ...


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


def column_widths(
    doc: Page, columns: Sequence[Column], rows: Sequence[Sequence[str | Cell]], size: float, pad: float
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
                    doc.measure("".join(pieces[:k]).strip(), size, True),
                    doc.measure("".join(pieces[k:]).strip(), size, True),
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
                        widest = max(widest, doc.measure(" ".join(line.split()), size, c.bold))
                k += max(1, c.colspan)
        natural[i] = widest + 2 * pad + 0.6
    fixed = sum(natural.values())
    if fixed > doc.width * 0.75:  # too wide: the fitted columns shrink and wrap
        natural = {i: w * doc.width * 0.75 / fixed for i, w in natural.items()}
        fixed = doc.width * 0.75
    rest = [i for i in range(len(columns)) if i not in natural]
    total = sum(columns[i].weight for i in rest)
    if not rest:
        return [natural[i] * doc.width / fixed for i in range(len(columns))]
    free = doc.width - fixed
    return [natural[i] if i in natural else free * columns[i].weight / total for i in range(len(columns))]


def signature_rows(
    doc: Page,
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
    label = doc.words["sign"] if sign_label is None else clean_text(sign_label).strip()
    col_w = doc.width / per_row
    dot_w = doc.measure(".", size)
    wl = doc.measure(label + " ", size) if label else 0.0
    rows = [list(blocks[i : i + per_row]) for i in range(0, len(blocks), per_row)]
    all_roles = [" ".join(clean_text(b.role).split()) for b in blocks]
    d = min([dotted] + [col_w - wl - (doc.measure(" " + rl, size) if rl else 0) - 5 for rl in all_roles])
    below = d < min(dotted, 35.0)  # no room for a role after the dots: roles go under the names
    if below:  # the dotted line centred in its column, "ลงชื่อ" hanging to its left
        d = min(dotted, col_w - 2 * wl - 2)
    d = max(15.0, d)
    out = []
    for row in rows:
        if align == "right" and len(row) < per_row:
            slots: list[float] = [float(k) for k in range(per_row - len(row), per_row)]
        elif len(row) < per_row:  # centre a short last row
            offset = (doc.width - len(row) * col_w) / 2 / col_w
            slots = [offset + k for k in range(len(row))]
        else:
            slots = [float(k) for k in range(len(row))]
        roles = [" ".join(clean_text(b.role).split()) for b in row]
        laid = []
        for slot, block, role in zip(slots, row, roles, strict=True):
            bx = doc.x0 + slot * col_w
            wr = doc.measure(" " + role, size) if role and not below else 0.0
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
                else "(" + "." * int((d - 2 * doc.measure("(", size)) / dot_w) + ")"
            ]
            if below and role:
                texts.append(role)
            position = " ".join(clean_text(block.position).split())
            if position:
                texts.append(f"{doc.words['position']} {position}" if position_label else position)
            body = [ln for text in texts for ln in doc.wrap(text, 2 * half, size)]
            dated = (
                doc.wrap(
                    f"{doc.words['date']} {block.date}" if block.date.strip() else doc.words["blank_date"],
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
