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
