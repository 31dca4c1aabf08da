"""The dashboard's cards (a figure of the year, its label and unit as the report words them, a warning when it
calls for one), and the year's figures at a glance on the home page of those who oversee it (head, auditor,
admin): a few of the cards, counted as the annual report counts them. Registered with core.web.home by wsgi.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app

from core.dates import fiscal_year_bounds, fiscal_year_of
from core.db import Session
from core.i18n import lang
from evidence import report as reports
from evidence.report.figures import figure_value
from evidence.report.permissions import can_oversee_year

# The dashboard's cards: (group, [(figure key, a figure shown under it, warn when above zero)]). Labels and
# units are the report's own (evidence.report.words.FIGURE_LABELS), so card and document say the same thing.
TILES = (
    (
        "sec_requests",
        (
            ("lending.requests", None, False),
            ("lending.approved", None, False),
            ("lending.rejected", None, False),
            ("lending.pending", None, True),
            ("lending.median_days_to_decision", None, False),
            ("lending.cancelled", None, False),
        ),
    ),
    (
        "sec_returns",
        (
            ("lending.items_checked_out", "lending.loans_checked_out", False),
            ("lending.items_returned", "lending.items_returned_late", False),
            ("lending.on_time_return_rate", None, False),
            ("lending.items_out_at_year_end", None, False),
            ("lending.items_damaged", None, True),
            ("lending.items_lost", None, True),
        ),
    ),
    (
        "sec_eservice",
        (
            ("eservice.requests_eservice", None, False),
            ("eservice.requests_agency", None, False),
            ("eservice.outside_approved", "eservice.outside_rejected", False),
            ("eservice.outside_median_days_to_decision", None, False),
            ("eservice.items_lent_by_count", "eservice.loans_by_count", False),
            ("eservice.outside_on_time_return_rate", None, False),
            ("eservice.survey_average", "eservice.survey_answers", False),
        ),
    ),
    (
        "sec_overdue",
        (
            ("lending.overdue_items", None, True),
            ("lending.overdue_items_demanded_within_7_days", None, False),
            ("lending.overdue_items_demanded_late", None, True),
            ("lending.overdue_items_not_demanded", None, True),
            ("lending.items_overdue_at_year_end", None, True),
        ),
    ),
    (
        "sec_other",
        (
            ("assets.total", "assets.lendable", False),
            ("evidence.items", "evidence.public_items", False),
            ("audit.entries_in_year", None, False),
        ),
    ),
)


def tiles(built: reports.Report, groups_of_tiles: tuple = TILES) -> list[tuple[str, list[dict]]]:
    f = reports.Formatter(built, thai_digits=False)
    groups = []
    for group, tiles in groups_of_tiles:
        cards = []
        for key, note, warn_if_any in tiles:
            value = figure_value(built.figures, key)
            warn = bool(warn_if_any and value)
            if key == "lending.on_time_return_rate":
                warn = value is not None and value < 80
            cards.append(
                {
                    "key": key,
                    "label": f.label(key),
                    "value": f.value(key),
                    "warn": warn,
                    "note": f.line(note) if note else "",
                }
            )
        groups.append((f.words[group], cards))
    return groups


# The dashboard's groups, cut to what a head, an auditor or an admin reads at a glance.
GLANCE = (
    (
        "sec_requests",
        (("lending.requests", None, False), ("lending.approved", None, False), ("lending.pending", None, True)),
    ),
    (
        "sec_returns",
        (
            ("lending.on_time_return_rate", None, False),
            ("lending.items_damaged", None, True),
            ("lending.items_lost", None, True),
        ),
    ),
    ("sec_overdue", (("lending.overdue_items", None, True), ("lending.overdue_items_not_demanded", None, True))),
)


def figures(session: Session, user: Any, today: date) -> dict[str, Any] | None:
    """The home page's figures panel, or None for those who do not oversee the year."""
    if not can_oversee_year(user):
        return None
    year = fiscal_year_of(today)
    built = reports.build(
        session,
        year,
        engine=session.get_bind(),
        config=current_app.config,
        lang=lang(),
        thai_digits=False,
        chain_intact=lambda: False,
    )
    return {"year": year, "period": fiscal_year_bounds(year), "groups": tiles(built, GLANCE)}
