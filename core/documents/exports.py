"""Files for people: CSV that Excel opens (UTF-8 with BOM) and cannot be tricked into running formulas."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response
from werkzeug.utils import get_content_type

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """Neutralise a cell that a spreadsheet would read as a formula (=HYPERLINK(...), +cmd, @SUM ...)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def content_disposition(filename: str) -> str:
    """An attachment header with an ASCII fallback and the real (Thai) name per RFC 6266 / 5987."""
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def content_type(mime: str) -> str:
    """The Content-Type header of a stored file's type: a charset added to text once, never twice.

    Stored types may already carry one ("text/csv; charset=utf-8"); Werkzeug's `mimetype=` would add a
    second. Pass the result as `content_type=`."""
    return mime if "charset=" in mime.lower() else get_content_type(mime, "utf-8")


def csv_response(text: str, filename: str) -> Response:
    resp = Response("\ufeff" + text, content_type="text/csv; charset=utf-8")
    resp.headers["Content-Disposition"] = content_disposition(filename)
    return resp


def xlsx_print_setup(ws: Any, *, header_rows: str | None = None, landscape: bool = False) -> None:
    """A worksheet that prints as people expect: A4, its used range as the print area, every column on the
    page's width (pages only grow downwards, so a label and its value never part), the header rows repeated
    on every page, and the sheet name with page numbers in the footer."""
    from openpyxl.utils import get_column_letter

    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as it takes
    ws.print_options.gridLines = True
    ws.page_margins.left = ws.page_margins.right = 0.5
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.print_area = f"A1:{get_column_letter(max(1, ws.max_column))}{max(1, ws.max_row)}"
    if header_rows:
        ws.print_title_rows = header_rows
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.right.text = "&P / &N"


def xlsx_fit_rows(ws: Any, first_row: int = 1, line_height: float = 15.0) -> None:
    """Row heights for wrapped cells, estimated from each cell's lines and its column's width (a
    spreadsheet does not measure them when it opens a file, so long text would overlap the row below). Thai
    marks above and below a letter take no width of their own."""
    import math
    import unicodedata

    from openpyxl.utils import get_column_letter

    widths = {c: (ws.column_dimensions[get_column_letter(c)].width or 8.43) for c in range(1, ws.max_column + 1)}
    for row in ws.iter_rows(min_row=first_row):
        lines = 1
        for cell in row:
            if not isinstance(cell.value, str) or not cell.value or not cell.alignment.wrap_text:
                continue
            room = max(1.0, widths.get(cell.column, 8.43) * 1.1 - 1)
            count = 0
            for part in cell.value.split("\n"):
                visible = sum(1 for ch in part if not unicodedata.combining(ch) and unicodedata.category(ch) != "Mn")
                count += max(1, math.ceil(visible / room))
            lines = max(lines, count)
        if lines > 1:
            ws.row_dimensions[row[0].row].height = lines * line_height
