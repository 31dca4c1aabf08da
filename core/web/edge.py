"""What a request may carry, checked at the edge, before any view or the database sees it.

- ids in paths: the `int` converter matches 1 … 2^63-1 only (PostgreSQL's bigint), so
  /loans/99999999999999999999 is a 404 instead of an overflow deep in a query;
- NUL and the other C0 control characters (and DEL) are refused with a 400 in the path, query arguments
  and form values (tab, CR and LF are allowed in values: text areas have lines, and a pasted search may
  carry a tab); PostgreSQL refuses NUL in text with an error, and nothing legitimate sends them;
- a form value or query argument longer than MAX_FIELD_CHARS (the longest form field takes 10,000) is a
  400, so a 100 KB string never reaches a column; a list of ids (digits and commas only, as the label
  sheet's selection of up to 5,000 assets sends) may be up to MAX_ID_LIST_CHARS;
- query arguments that are numbers or dates are read through `arg_int` and `arg_date`, with bounds.

The refusals are pages in the reader's language; nothing is recorded and nothing changes.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Flask, render_template, request
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from core.dates import parse_date

MAX_ID = 2**63 - 1  # PostgreSQL bigint; SQLite's integer has the same range
MAX_FIELD_CHARS = 20_000
MAX_ID_LIST_CHARS = 5000 * 20  # 5,000 ids of up to 19 digits and their commas
_ID_LIST = re.compile(r"[0-9,]*")
MAX_PAGE = 1_000_000
# C0 controls and DEL; in form values tab, CR and LF are text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class IdConverter(IntegerConverter):
    """`<int:...>` that matches 1 … 2^63-1 only: anything else in the path is no page (404)."""

    def __init__(
        self, map: Any, fixed_digits: int = 0, min: int | None = 1, max: int | None = MAX_ID, signed: bool = False
    ) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def _refusal(message: str):
    return render_template("core/error.html", code=400, message=message), 400


def _bad(text: str, pattern: re.Pattern) -> bool:
    return bool(pattern.search(text))


def _too_long(key: str, value: str) -> bool:
    if len(key) > MAX_FIELD_CHARS:
        return True
    if len(value) <= MAX_FIELD_CHARS:
        return False
    return len(value) > MAX_ID_LIST_CHARS or not _ID_LIST.fullmatch(value)


def check_request():
    """before_request: refuse control characters and oversized values in the path, query and form."""
    if _bad(request.path, _CONTROL):
        return _refusal(_("The address contains control characters; nothing was done."))
    for key, value in request.args.items(multi=True):
        if _bad(key, _CONTROL) or _bad(value, _CONTROL_IN_TEXT):
            return _refusal(_("The address contains control characters; nothing was done."))
        if _too_long(key, value):
            return _refusal(
                _("A value sent is longer than %(n)s characters; nothing was done.", n=f"{MAX_FIELD_CHARS:,}")
            )
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        for key, value in request.form.items(multi=True):
            if _bad(key, _CONTROL) or _bad(value, _CONTROL_IN_TEXT):
                return _refusal(
                    _(
                        "The form contains control characters that cannot be stored; nothing was "
                        "saved. Type the text again or paste it without them."
                    )
                )
            if _too_long(key, value):
                return _refusal(
                    _("A value sent is longer than %(n)s characters; nothing was done.", n=f"{MAX_FIELD_CHARS:,}")
                )
    return None


def arg_int(
    name: str, default: int | None = None, *, low: int = 1, high: int = MAX_ID, source: Any = None
) -> int | None:
    """A whole number from the query (or `source`) within low … high; `default` for anything else."""
    raw = (source if source is not None else request.args).get(name)
    if raw is None:
        return default
    raw = str(raw).strip()
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 20:
        return default
    value = int(raw)
    return value if low <= value <= high else default


def as_id(raw: Any) -> int | None:
    """An id as a database holds one (ASCII digits, 1 … 2^63-1), or None."""
    raw = str(raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def ids_of(values: Any) -> list[int]:
    """The valid ids of a list of strings; anything else is left out."""
    return [i for i in (as_id(v) for v in values) if i is not None]


def to_id(raw: Any) -> int:
    """A WTForms `coerce`: the id, or ValueError (the field is then invalid, not a server error)."""
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else as_id(raw)
    if value is None or not 1 <= value <= MAX_ID:
        raise ValueError("not an id")
    return value


def page_arg(name: str = "page") -> int:
    """A page number from the query: 1 … MAX_PAGE, else 1."""
    return arg_int(name, 1, high=MAX_PAGE) or 1


def arg_date(raw: Any) -> date | None:
    """A date from the query (ISO or Thai DD/MM/YYYY in B.E., within the years parse_date allows);
    ValueError for anything else."""
    return parse_date(str(raw)[:20] if raw is not None else None)


def init_app(app: Flask) -> None:
    """Register the id converter (before any route is added) and the request check."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(check_request)
