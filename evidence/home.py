"""The year's figures at a glance on the home page of those who oversee it (head, auditor, admin): a few of
the dashboard's cards, counted as the annual report counts them. Registered with core.home by wsgi.py."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import current_app

from core.dates import fiscal_year_bounds, fiscal_year_of
from core.db import Session
from core.i18n import lang
from core.people.permissions import AUDIT_VIEW, EVIDENCE_VIEW, LOANS_HEAD, SETTINGS_MANAGE
from evidence import report as reports
from evidence.report_views import _tiles

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


def oversees(user: Any) -> bool:
    """Those who oversee the year's figures: the head, the internal auditor, the admin (not the supply
    officer, whose home page is their day's work)."""
    return (
        user is not None
        and user.can(EVIDENCE_VIEW)
        and (user.can(LOANS_HEAD) or user.can(AUDIT_VIEW) or user.can(SETTINGS_MANAGE))
    )


def figures(session: Session, user: Any, today: date) -> dict[str, Any] | None:
    """The home page's figures panel, or None for those who do not oversee the year."""
    if not oversees(user):
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
    return {"year": year, "period": fiscal_year_bounds(year), "groups": _tiles(built, GLANCE)}
