"""The figures of the annual ITA report, exactly as reference/report-metrics.md defines them.

One function computes every figure from the records as they stand; every format of the report (JSON,
page, PDF, DOCX, XLSX, CSV) shows what it returns. Dates are Asia/Bangkok calendar days: a timestamp is
compared with the UTC instants of Bangkok midnights, or turned into its Bangkok day by the database, so
that the database counts the rows and only the counts come back (a year of 100,000 loans is a few tenths
of a second). tests/integration/test_report_figures_crosscheck.py holds the same figures counted row by
row in Python, and checks the two agree on random loans around every edge;
tests/integration/test_report_figures_spec.py holds a reference written from report-metrics.md alone.

A demand counts only for the items it names (Demand.item_ids: a ledger row's demand its own item, a letter
or mail the items overdue when it was made), never for the other items of its loan. Every rate and median
is an exact Fraction until it is rounded, once, half away from zero (core/numbers.py). For a year still
running, the figures "at the end of the year" are counted as at today (`period.as_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Date, DateTime, Integer, and_, case, cast, func, or_, select, text
from sqlalchemy.sql import operators
from sqlalchemy.sql.expression import UnaryExpression

from audit.models import AuditEntry, AuditHead
from core.dates import bangkok_date, bangkok_midnight_utc, fiscal_year_bounds
from core.db import Session, utcnow
from core.numbers import percent, round_half_away
from evidence.items.models import PUBLIC, EvidenceIndicator, EvidenceItem
from evidence.measures.queries import code_order, in_catalogue_order
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    REJECTED,
    REQUESTED,
    RETURNED,
    Demand,
    Loan,
    LoanItem,
)
from lending.register.models import Asset

APPROVED_LIKE = (APPROVED, CHECKED_OUT, RETURNED)

# Figure keys a measure may show in its row, with their labels (msgids) for the documents.
FIGURE_KEYS = (
    "lending.requests",
    "lending.approved",
    "lending.rejected",
    "lending.cancelled",
    "lending.pending",
    "lending.median_days_to_decision",
    "lending.loans_checked_out",
    "lending.items_checked_out",
    "lending.items_returned",
    "lending.items_returned_on_time",
    "lending.items_returned_late",
    "lending.on_time_return_rate",
    "lending.items_damaged",
    "lending.items_lost",
    "lending.items_out_at_year_end",
    "lending.items_overdue_at_year_end",
    "lending.overdue_items",
    "lending.overdue_items_demanded_within_7_days",
    "lending.overdue_items_demanded_late",
    "lending.overdue_items_not_demanded",
    "assets.total",
    "assets.lendable",
    "assets.checked_in_stocktake",
    "assets.not_found_in_stocktake",
    "audit.entries_in_year",
    "audit.chain_intact",
    "audit.head_seq",
    "evidence.items",
    "evidence.public_items",
    "eservice.requests_staff",
    "eservice.requests_eservice",
    "eservice.requests_counter",
    "eservice.requests_agency",
    "eservice.outside_requests",
    "eservice.outside_approved",
    "eservice.outside_rejected",
    "eservice.outside_median_days_to_decision",
    "eservice.loans_by_count",
    "eservice.items_lent_by_count",
    "eservice.outside_items_returned",
    "eservice.outside_items_returned_on_time",
    "eservice.outside_on_time_return_rate",
    "eservice.survey_answers",
    "eservice.survey_average",
)


# --- Bangkok calendar days in SQL ------------------------------------------------------------------
# Timestamps are stored as UTC instants: on SQLite as SQLAlchemy's naive text 'YYYY-MM-DD HH:MM:SS.ffffff'
# (which sorts as it reads), on PostgreSQL as timestamptz. Bangkok is UTC+7 all year (no daylight saving
# since 1920), so the Bangkok day D runs from 17:00 UTC on D − 1 to 17:00 UTC on D. The database turns
# instants into Bangkok days itself, so the figures are counted where the rows are.

BANGKOK_TZ = "Asia/Bangkok"


def _on_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _seconds(at: Any) -> Any:
    """SQLite: the stored text cut to whole seconds. SQLite's date functions keep milliseconds and round
    to them, so 16:59:59.9995 UTC would already be the next Bangkok day; a day starts on a whole second,
    so cutting the fraction never changes the day."""
    return func.substr(at, 1, 19)


def sql_bangkok_day(session: Session, at: Any) -> Any:
    """SQL: the Bangkok calendar date of a stored UTC instant."""
    if _on_postgres(session):
        return cast(func.timezone(BANGKOK_TZ, at), Date)
    return func.date(_seconds(at), "+7 hours")


def sql_bangkok_month(session: Session, at: Any) -> Any:
    """SQL: 'YYYY-MM' of the Bangkok calendar date of a stored UTC instant."""
    if _on_postgres(session):
        return func.to_char(func.timezone(BANGKOK_TZ, at), "YYYY-MM")
    return func.strftime("%Y-%m", _seconds(at), "+7 hours")


def sql_days_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL: whole days from the date `earlier` to the date `later` (NULL when either is NULL)."""
    if _on_postgres(session):
        return later - earlier
    return cast(func.julianday(later) - func.julianday(earlier), Integer)


def sql_bangkok_days_between(session: Session, later: Any, earlier: Any) -> Any:
    """SQL: whole days from the Bangkok date of the instant `earlier` to that of the instant `later`."""
    if _on_postgres(session):
        return sql_bangkok_day(session, later) - sql_bangkok_day(session, earlier)
    return cast(
        func.julianday(_seconds(later), "+7 hours", "start of day")
        - func.julianday(_seconds(earlier), "+7 hours", "start of day"),
        Integer,
    )


def sql_scan(session: Session, column: Any) -> Any:
    """SQL: the column, kept off its index on SQLite (the unary `+`). A fiscal year's range can cover most
    of a table — all of it in the benchmark — and SQLite, which keeps no histogram, would rather walk the
    index with a lookup per row, several times slower than reading the table through."""
    if _on_postgres(session):
        return column
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def sql_after_day(session: Session, at: Any, day: Any) -> Any:
    """SQL: the instant `at` falls after the Bangkok day `day` (a date column): at or after the Bangkok
    midnight that ends it, which is 17:00 UTC on that date."""
    if _on_postgres(session):
        return at >= func.timezone(BANGKOK_TZ, cast(day + 1, DateTime))
    return at >= day.op("||")(" 17:00:00")


def median_of_counts(counts: dict[int, int]) -> Fraction | None:
    """The median of values given as {value: how many}; with an even count the mean of the two middle
    values, exactly (a Fraction)."""
    n = sum(counts.values())
    if not n:
        return None
    low = high = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if low is None and seen > (n - 1) // 2:
            low = value
        if seen > n // 2:
            high = value
            break
    if low is None or high is None:  # not reached for n > 0; the sum would raise this
        raise TypeError("unsupported operand type(s) for +: 'NoneType'")
    return Fraction(low + high, 2)


def sql_covers(session: Session) -> Any:
    """SQL: the demand (`demands`) names the item (`loan_items`) among those it covers (Demand.item_ids, a
    JSON array of loan item ids): a ledger row's demand covers that row's item, a letter or mail the items
    of its loan that were overdue when it was made."""
    if _on_postgres(session):
        return text("CAST(demands.item_ids AS jsonb) @> to_jsonb(loan_items.id)")
    return text("EXISTS (SELECT 1 FROM json_each(demands.item_ids) AS covered WHERE covered.value = loan_items.id)")


def still_out() -> Any:
    """SQL: the item has neither come back nor been recorded lost. An item with a condition but no date
    (a paper ledger that did not record the day) is not out; whether it was back by a given day is not
    known, so the figures that ask leave it out."""
    return and_(LoanItem.returned_at.is_(None), LoanItem.condition.is_(None))


def as_of_day(end: date, today: date | None = None) -> date:
    """The day the figures "at the end of the year" are counted at: the year's last day, or today while
    the year is still running (they are then labelled "to date")."""
    today = today or bangkok_date(utcnow())
    return min(end, today)


def lending_figures(session: Session, start: date, end: date, as_of: date | None = None) -> dict[str, Any]:
    """The lending figures, each counted by the database in a few grouped passes.

    Every date rule of report-metrics.md becomes a comparison of stored UTC instants: "the Bangkok date of
    t is in the year" is lo <= t < hi (the Bangkok midnights that start the year and end it); "back by
    day D" is before the Bangkok midnight that ends D (sql_after_day is its negation). The figures "at the
    end of the year" are counted at the end of `as_of` (default: the year's last day); for a year still
    running the caller passes today, since the year's end has not happened yet.
    """
    as_of = end if as_of is None else min(as_of, end)
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))
    hi_as_of = bangkok_midnight_utc(as_of + timedelta(days=1))

    in_year = and_(Loan.requested_at >= lo, Loan.requested_at < hi)
    counts = dict(session.execute(select(Loan.status, func.count()).where(in_year).group_by(Loan.status)).all())
    # Days from request to decision, counted per number of days (the status test inside the CASE, so that
    # SQLite reads the table through instead of walking the status index).
    decided = and_(Loan.status.in_((*APPROVED_LIKE, REJECTED)), Loan.decided_at.is_not(None))
    waited = (
        select(case((decided, sql_bangkok_days_between(session, Loan.decided_at, Loan.requested_at))).label("days"))
        .where(in_year)
        .subquery()
    )
    decisions = {
        int(days): n
        for days, n in session.execute(select(waited.c.days, func.count()).group_by(waited.c.days))
        if days is not None
    }
    median_days = median_of_counts(decisions)

    loans_checked_out, items_checked_out = session.execute(
        select(func.count(func.distinct(Loan.id)), func.count(LoanItem.id))
        .select_from(Loan)
        .join(LoanItem, LoanItem.loan_id == Loan.id)
        .where(Loan.checked_out_at >= lo, Loan.checked_out_at < hi)
    ).one()

    def items(*columns: Any) -> Any:
        """Items of loans handed over before the year ended (every item figure is about those)."""
        return (
            select(*columns)
            .select_from(LoanItem)
            .join(Loan, Loan.id == LoanItem.loan_id)
            .where(Loan.checked_out_at.is_not(None), Loan.checked_out_at < hi)
        )

    def counted(condition: Any) -> Any:
        return func.count(case((condition, 1)))

    # Back or lost in the year: returned_at is the day it came back or the day the loss was recorded.
    came_back = LoanItem.condition.in_((GOOD, DAMAGED))
    returned, returned_late, damaged, lost = session.execute(
        items(
            counted(came_back),
            counted(and_(came_back, sql_after_day(session, LoanItem.returned_at, Loan.due_on))),
            counted(LoanItem.condition == DAMAGED),
            counted(LoanItem.condition == LOST),
        ).where(LoanItem.returned_at >= lo, LoanItem.returned_at < hi)
    ).one()

    # Handed over by the end of the last day (or of today, while the year runs) and neither back nor lost by
    # then.
    out_at_end, overdue_at_end = session.execute(
        items(func.count(), counted(Loan.due_on < as_of)).where(
            Loan.checked_out_at < hi_as_of, or_(still_out(), LoanItem.returned_at >= hi_as_of)
        )
    ).one()

    # Due in the year and neither back nor lost by the end of the due day; per item, the days from the due
    # date to the first demand that covers it: one that names the item (not merely one of its loan), dated
    # after the due date, while the item was still out.
    first_demand = (
        select(func.min(Demand.demanded_on))
        .where(
            Demand.loan_id == Loan.id,
            Demand.demanded_on > Loan.due_on,
            sql_covers(session),
            or_(LoanItem.returned_at.is_(None), Demand.demanded_on <= sql_bangkok_day(session, LoanItem.returned_at)),
        )
        .correlate(Loan, LoanItem)
        .scalar_subquery()
    )
    overdue = (
        items(sql_days_between(session, first_demand, Loan.due_on).label("days"))
        .where(
            sql_scan(session, Loan.due_on) >= start,
            sql_scan(session, Loan.due_on) <= end,
            or_(still_out(), sql_after_day(session, LoanItem.returned_at, Loan.due_on)),
        )
        .subquery()
    )
    demanded = {
        None if days is None else int(days): n
        for days, n in session.execute(select(overdue.c.days, func.count()).group_by(overdue.c.days))
    }

    return {
        "requests": sum(counts.values()),
        "approved": sum(counts.get(s, 0) for s in APPROVED_LIKE),
        "rejected": counts.get(REJECTED, 0),
        "cancelled": counts.get(CANCELLED, 0),
        "pending": counts.get(REQUESTED, 0),
        "median_days_to_decision": round_half_away(median_days, 2) if median_days is not None else None,
        "loans_checked_out": loans_checked_out,
        "items_checked_out": items_checked_out,
        "items_returned": returned,
        "items_returned_on_time": returned - returned_late,
        "items_returned_late": returned_late,
        "on_time_return_rate": round_half_away(percent(returned - returned_late, returned), 1) if returned else None,
        "items_damaged": damaged,
        "items_lost": lost,
        "items_out_at_year_end": out_at_end,
        "items_overdue_at_year_end": overdue_at_end,
        "overdue_items": sum(demanded.values()),
        "overdue_items_demanded_within_7_days": sum(n for d, n in demanded.items() if d is not None and d <= 7),
        "overdue_items_demanded_late": sum(n for d, n in demanded.items() if d is not None and d > 7),
        "overdue_items_not_demanded": demanded.get(None, 0),
    }


def asset_figures(
    session: Session,
    start: date,
    end: date,
    stocktake: Callable[[Session, date, date], tuple[int, int]] | None = None,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Assets on the register on the last day of the year (acquired by then, not disposed before it) — or,
    while the year runs, on `as_of` (today)."""
    day = end if as_of is None else min(as_of, end)
    end_utc = bangkok_midnight_utc(day + timedelta(days=1))
    on_register = and_(
        or_(Asset.acquired_on <= day, and_(Asset.acquired_on.is_(None), Asset.created_at < end_utc)),
        or_(Asset.disposed_on.is_(None), Asset.disposed_on >= day),
    )
    total, lendable = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Asset.lendable.is_(True), 1), else_=0)), 0)).where(
            on_register
        )
    ).one()
    checked, not_found = stocktake(session, start, end) if stocktake else (0, 0)
    return {
        "total": total,
        "lendable": int(lendable),
        "checked_in_stocktake": checked,
        "not_found_in_stocktake": not_found,
    }


def audit_figures(session: Session, start: date, end: date, chain_intact: Callable[[], bool]) -> dict[str, Any]:
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))
    entries = session.execute(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.at >= lo, AuditEntry.at < hi)
    ).scalar_one()
    head = session.get(AuditHead, 1)
    return {
        "entries_in_year": entries,
        "chain_intact": bool(chain_intact()),
        "head_seq": head.seq if head else 0,
        "head_hash": head.hash if head else "0" * 64,
    }


def evidence_figures(session: Session, fiscal_year: int) -> dict[str, Any]:
    items, public = session.execute(
        select(func.count(), func.coalesce(func.sum(case((EvidenceItem.visibility == PUBLIC, 1), else_=0)), 0)).where(
            EvidenceItem.fiscal_year == fiscal_year
        )
    ).one()
    counts = dict(
        session.execute(
            select(EvidenceIndicator.code, func.count(func.distinct(EvidenceIndicator.evidence_id)))
            .join(EvidenceItem, EvidenceItem.id == EvidenceIndicator.evidence_id)
            .where(EvidenceItem.fiscal_year == fiscal_year)
            .group_by(EvidenceIndicator.code)
        ).all()
    )
    # in the order of the year's catalogue (e2 before e12), as every list of codes
    by_indicator = {c: counts[c] for c in in_catalogue_order(counts, code_order(session, fiscal_year))}
    return {"items": items, "public_items": int(public), "by_indicator": by_indicator}


def eservice_figures(session: Session, start: date, end: date) -> dict[str, Any]:
    """Lending to outsiders and by count (reference/report-metrics.md, "eservice"): requests by channel, the
    outside requests' decisions, what was lent by count, the outside items' returns, the survey."""
    from lending.outside.models import LoanSurvey

    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))
    in_year = and_(Loan.requested_at >= lo, Loan.requested_at < hi)
    by_channel = dict(session.execute(select(Loan.channel, func.count()).where(in_year).group_by(Loan.channel)).all())
    outside = and_(in_year, Loan.party_id.is_not(None))
    counts = dict(session.execute(select(Loan.status, func.count()).where(outside).group_by(Loan.status)).all())
    decided = and_(Loan.status.in_((*APPROVED_LIKE, REJECTED)), Loan.decided_at.is_not(None))
    days = sql_bangkok_days_between(session, Loan.decided_at, Loan.requested_at)
    decisions = {
        int(d): n
        for d, n in session.execute(select(days, func.count()).where(outside, decided).group_by(days))
        if d is not None
    }
    median_days = median_of_counts(decisions)
    handed = and_(Loan.checked_out_at >= lo, Loan.checked_out_at < hi)
    loans_by_count, items_by_count = session.execute(
        select(func.count(func.distinct(Loan.id)), func.count(LoanItem.id))
        .select_from(Loan)
        .join(LoanItem, LoanItem.loan_id == Loan.id)
        .where(handed, LoanItem.line_id.is_not(None))
    ).one()
    came_back = LoanItem.condition.in_((GOOD, DAMAGED))
    returned, late = session.execute(
        select(func.count(), func.count(case((sql_after_day(session, LoanItem.returned_at, Loan.due_on), 1))))
        .select_from(LoanItem)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(Loan.party_id.is_not(None), came_back, LoanItem.returned_at >= lo, LoanItem.returned_at < hi)
    ).one()
    answers, total = session.execute(
        select(func.count(), func.coalesce(func.sum(LoanSurvey.score), 0)).where(
            LoanSurvey.answered_at >= lo, LoanSurvey.answered_at < hi
        )
    ).one()
    return {
        "requests_staff": by_channel.get("staff", 0),
        "requests_eservice": by_channel.get("eservice", 0),
        "requests_counter": by_channel.get("counter", 0),
        "requests_agency": by_channel.get("agency", 0),
        "outside_requests": sum(counts.values()),
        "outside_approved": sum(counts.get(x, 0) for x in APPROVED_LIKE),
        "outside_rejected": counts.get(REJECTED, 0),
        "outside_median_days_to_decision": round_half_away(median_days, 2) if median_days is not None else None,
        "loans_by_count": loans_by_count,
        "items_lent_by_count": items_by_count,
        "outside_items_returned": returned,
        "outside_items_returned_on_time": returned - late,
        "outside_on_time_return_rate": round_half_away(percent(returned - late, returned), 1) if returned else None,
        "survey_answers": answers,
        "survey_average": round_half_away(Fraction(int(total), answers), 2) if answers else None,
    }


def compute(
    session: Session,
    fiscal_year: int,
    chain_intact: Callable[[], bool],
    stocktake: Callable[[Session, date, date], tuple[int, int]] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The whole report object for a B.E. fiscal year. `chain_intact` is asked last: a verification
    started before this call (see evidence.report.chain_check) runs while the other figures are counted.

    For a year still running (its last day after `today`, the Bangkok date now by default), the figures
    "at the end of the year" are counted as at today and `period.as_of` names that day; the documents
    then label them "to date"."""
    start, end = fiscal_year_bounds(fiscal_year)
    as_of = as_of_day(end, today)
    lending = lending_figures(session, start, end, as_of)
    assets = asset_figures(session, start, end, stocktake, as_of)
    evidence = evidence_figures(session, fiscal_year)
    eservice = eservice_figures(session, start, end)
    period = {"start": start.isoformat(), "end": end.isoformat()}
    if as_of < end:
        period["as_of"] = as_of.isoformat()
    return {
        "fiscal_year": fiscal_year,
        "period": period,
        "lending": lending,
        "assets": assets,
        "audit": audit_figures(session, start, end, chain_intact),
        "evidence": evidence,
        "eservice": eservice,
    }


def figure_value(report: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    return report.get(section, {}).get(name)
