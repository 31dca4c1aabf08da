"""Bookings pages: the calendar (the office's and one asset's, month and week), the search-as-you-type
suggestions of the register and of the loan request.

Every page is rendered by the server and works without JavaScript; static/js/search.js only fetches the
suggestions (an HTML fragment made by the same query as the form's search) while someone types.
"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass
from datetime import date, timedelta

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from core.dates import BE_OFFSET, THAI_MONTHS, bangkok_today, format_date, parse_date
from core.db import db
from core.i18n import lang
from core.people.permissions import ASSETS_VIEW
from core.web.edge import ids_of
from core.web.routes import actor, require
from lending import bp
from lending.loans import queries as lq
from lending.loans.bookings import queries as bookings
from lending.register import queries
from lending.register.models import Asset

EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = (_l("Sun"), _l("Mon"), _l("Tue"), _l("Wed"), _l("Thu"), _l("Fri"), _l("Sat"))  # Sunday first
STAGE_LABELS = {
    bookings.REQUESTED_STAGE: _l("Waiting for approval"),
    bookings.AWAITING_HEAD: _l("Waiting for the head of agency"),
    bookings.APPROVED_STAGE: _l("Approved"),
    bookings.OUT: _l("Handed over"),
    bookings.OVERDUE: _l("Overdue"),
}
DAY_LIMIT = 4  # bookings listed in one day of the month grid; the rest behind "more"
SUGGESTIONS = 8
_calendar = pycalendar.Calendar(firstweekday=6)  # weeks start on Sunday, as Thai wall calendars do


@bp.app_context_processor
def _booking_helpers():
    return {"STAGE_LABELS": STAGE_LABELS}


def month_title(day: date, language: str) -> str:
    """ "มีนาคม 2569" / "March 2569 BE"."""
    if language == "th":
        return f"{THAI_MONTHS[day.month - 1]} {day.year + BE_OFFSET}"
    return f"{EN_MONTHS[day.month - 1]} {day.year + BE_OFFSET} BE"


def week_start(day: date) -> date:
    return day - timedelta(days=(day.weekday() + 1) % 7)


@dataclass(frozen=True)
class Day:
    day: date
    in_range: bool
    bookings: tuple[bookings.Booking, ...]


def _days(first: date, last: date, found: list[bookings.Booking], in_month: int | None = None) -> list[Day]:
    out = []
    day = first
    while day <= last:
        out.append(Day(day, in_month is None or day.month == in_month, tuple(b for b in found if b.covers(day))))
        day += timedelta(days=1)
    return out


def _calendar_page(asset: Asset | None):
    """The month or the week around `?day=` (today by default), for the office or one asset."""
    today = bangkok_today()
    view = request.args.get("view") if request.args.get("view") in ("month", "week") else "month"
    try:
        anchor = parse_date((request.args.get("day") or "")[:20]) or today
    except ValueError:
        flash(_("Not a date: use DD/MM/YYYY (B.E.) or YYYY-MM-DD."), "warning")
        anchor = today
    if view == "month":
        first_of_month = anchor.replace(day=1)
        weeks = _calendar.monthdatescalendar(anchor.year, anchor.month)
        start, end = weeks[0][0], weeks[-1][-1]
        previous = (first_of_month - timedelta(days=1)).replace(day=1)
        following = (first_of_month + timedelta(days=32)).replace(day=1)
        title = month_title(anchor, lang())
    else:
        start = week_start(anchor)
        end = start + timedelta(days=6)
        previous, following = start - timedelta(days=7), start + timedelta(days=7)
        title = f"{format_date(start, lang())} – {format_date(end, lang())}"
    found = bookings.bookings_between(db.session, actor(), start, end, today, asset.id if asset is not None else None)
    days = _days(start, end, found, anchor.month if view == "month" else None)
    # The phone's agenda of a month: each booking that meets the month once (not the grid's spill-over).
    month_start = anchor.replace(day=1)
    month_end = (month_start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    agenda = [b for b in found if b.start_on <= month_end and b.due_on >= month_start]
    endpoint, args = ("lending.asset_calendar", {"asset_id": asset.id}) if asset else ("lending.calendar", {})
    return render_template(
        "lending/loans/calendar.html",
        asset=asset,
        view=view,
        anchor=anchor,
        today=today,
        title=title,
        days=days,
        weeks=[days[i : i + 7] for i in range(0, len(days), 7)],
        found=found,
        agenda=agenda,
        previous=previous,
        following=following,
        endpoint=endpoint,
        args=args,
        weekdays=WEEKDAYS,
        day_limit=DAY_LIMIT,
    )


@bp.route("/calendar")
@require(ASSETS_VIEW)
def calendar():
    """The office's bookings calendar: requested, approved and handed-over loans by day (month or week)."""
    return _calendar_page(None)


@bp.route("/assets/<int:asset_id>/calendar")
@require(ASSETS_VIEW)
def asset_calendar(asset_id: int):
    """One asset's bookings calendar."""
    return _calendar_page(db.get_or_404(Asset, asset_id))


# --- search as you type ------------------------------------------------------------------------------


@bp.route("/assets/suggest")
@require(ASSETS_VIEW)
def asset_suggest():
    """Suggestions while someone types (an HTML fragment): the register's matches (`?for=register`), or the
    lendable items of the loan request's picker (`?for=loan`, with its dates); the same queries as the
    forms' own search, so the list shows what pressing Search would."""
    today = bangkok_today()
    purpose = request.args.get("for", "register")
    if purpose == "loan":
        free_from, free_to, _error = queries.free_dates(
            (request.args.get("free_from") or "")[:20], (request.args.get("free_to") or "")[:20]
        )
        q = (request.args.get("q") or "").strip()[: queries.MAX_QUERY]
        rows, total = (
            lq.lendable_catalogue(
                db.session, q, ids_of(request.args.getlist("exclude")), SUGGESTIONS, free_from, free_to, today
            )
            if q
            else ([], 0)
        )
        return render_template(
            "lending/loans/_suggest.html",
            purpose=purpose,
            rows=rows,
            total=total,
            q=q,
            reserved=bookings.next_reservations(db.session, [r.id for r in rows], today),
            more_url=None,
        )
    flt = queries.AssetFilter.from_args(request.args)
    if not flt.q:
        return render_template(
            "lending/loans/_suggest.html", purpose=purpose, rows=[], total=0, q="", reserved={}, more_url=None
        )
    page = queries.list_assets(db.session, flt, 1, SUGGESTIONS)
    return render_template(
        "lending/loans/_suggest.html",
        purpose=purpose,
        rows=page.rows,
        total=page.total,
        q=flt.q,
        reserved=bookings.next_reservations(db.session, [r.id for r in page.rows], today),
        more_url=url_for("lending.assets", **flt.as_args()),
    )
