"""What waits for a person on the home page: approvals, today's hand-overs and returns, the overdue, open
cases, their own loans, notifications and stock-take rounds. Registered with core.web.home by wsgi.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

from core.db import Session
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, LOANS_REQUEST, LOANS_VIEW_ALL
from lending.loans import queries as lq
from lending.stocktake import permissions as stocktake_permissions
from lending.stocktake import queries as stocktake_queries


@dataclass(frozen=True)
class Task:
    """One tile: how many things wait, what they are, where to do them; `rows` the first few, listed."""

    key: str
    label: Any
    count: int
    url: str
    warn: bool = False
    rows: tuple = ()


def tasks(session: Session, user: Any, today: date) -> dict[str, Any] | None:
    """The home page's task panel of this person (None for nobody signed in)."""
    if user is None:
        return None
    out: list[Task] = []
    if user.can(LOANS_MANAGE):
        waiting = lq.waiting_for_officer(session, user.id, today)
        out.append(
            Task(
                "approve",
                _l("Requests to approve"),
                waiting.count,
                url_for("lending.loan_queue"),
                rows=tuple(waiting.rows),
            )
        )
    if user.can(LOANS_HEAD):
        waiting = lq.waiting_for_head(session, user.id, today)
        out.append(
            Task(
                "approve_head",
                _l("Waiting for your approval as head"),
                waiting.count,
                url_for("lending.loan_queue"),
                rows=tuple(waiting.rows),
            )
        )
    if user.can(LOANS_MANAGE):
        handover = lq.to_hand_over(session, user.id, today)
        out.append(
            Task(
                "hand_over",
                _l("To hand over today"),
                handover.count,
                url_for("lending.loans", status="approved"),
                rows=tuple(handover.rows),
            )
        )
        due = lq.returns_due(session, today)
        out.append(
            Task(
                "returns_due",
                _l("Returns due today"),
                due.count,
                url_for("lending.loans", status="checked_out"),
                rows=tuple(due.rows),
            )
        )
    if user.can(LOANS_VIEW_ALL):
        overdue = lq.overdue_loans(session, today)
        out.append(
            Task(
                "overdue",
                _l("Overdue loans"),
                overdue.count,
                url_for("lending.loans_overdue"),
                warn=overdue.count > 0,
                rows=tuple(overdue.rows),
            )
        )
        cases = lq.open_incident_count(session)
        out.append(
            Task(
                "cases",
                _l("Open damage and loss cases"),
                cases,
                url_for("lending.incidents", status="open"),
                warn=cases > 0,
            )
        )
    mine: list[Task] = []
    if user.can(LOANS_REQUEST):
        own = lq.my_current_loans(session, user.id, today)
        for key, label, warn in (
            ("overdue", _l("Your items overdue: please return them"), True),
            ("to_collect", _l("Your approved loans to collect"), False),
            ("out", _l("Your items out"), False),
            ("waiting", _l("Your requests waiting for approval"), False),
        ):
            found = own[key]
            if found.count or key in ("waiting", "out"):
                mine.append(
                    Task(
                        f"mine_{key}",
                        label,
                        found.count,
                        url_for("lending.loans_mine"),
                        warn=warn and found.count > 0,
                        rows=tuple(found.rows),
                    )
                )
    if mine and (user.can(LOANS_MANAGE) or user.can(LOANS_HEAD)) and not any(t.count for t in mine):
        mine = []  # an officer's or a head's own loans are shown only when they have some
    if stocktake_permissions.can_manage_rounds(user):
        drafts = stocktake_queries.draft_rounds(session)
        if drafts:
            out.append(
                Task(
                    "stocktake_appoint",
                    _l("Stock-take rounds waiting for you to appoint the committee"),
                    len(drafts),
                    url_for("lending.stocktake_round", round_id=drafts[0].id),
                )
            )
    rounds = stocktake_queries.open_rounds_for(session, user)
    if rounds:
        out.append(
            Task("stocktake", _l("Stock-take rounds you check"), len(rounds), url_for("lending.stocktake_rounds"))
        )
    unread = lq.unread_count(session, user.id)
    out.append(Task("notifications", _l("Unread notifications"), unread, url_for("lending.notifications")))
    return {"tasks": out, "mine": mine, "can_borrow": user.can(LOANS_REQUEST)}
