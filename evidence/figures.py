"""The figures of the annual ITA report, exactly as reference/report-metrics.md defines them.

One function computes every figure from the records as they stand; every format of the report (JSON,
page, PDF, DOCX, XLSX, CSV) shows what it returns. Dates are Asia/Bangkok calendar days: a timestamp is
compared through the UTC instants of Bangkok midnights, which keeps the queries on their indexes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from statistics import median
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from audit.models import AuditEntry, AuditHead
from core.dates import bangkok_date, bangkok_midnight_utc, fiscal_year_bounds
from evidence.models import PUBLIC, EvidenceIndicator, EvidenceItem
from lending.loans import (
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
from lending.models import Asset

APPROVED_LIKE = (APPROVED, CHECKED_OUT, RETURNED)

# Figure keys a measure may show in its row, with their labels (msgids) for the documents.
FIGURE_KEYS = (
    "lending.requests", "lending.approved", "lending.rejected", "lending.cancelled", "lending.pending",
    "lending.median_days_to_decision", "lending.loans_checked_out", "lending.items_checked_out",
    "lending.items_returned", "lending.items_returned_on_time", "lending.items_returned_late",
    "lending.on_time_return_rate", "lending.items_damaged", "lending.items_lost",
    "lending.items_out_at_year_end", "lending.items_overdue_at_year_end", "lending.overdue_items",
    "lending.overdue_items_demanded_within_7_days", "lending.overdue_items_demanded_late",
    "lending.overdue_items_not_demanded", "assets.total", "assets.lendable", "assets.checked_in_stocktake",
    "assets.not_found_in_stocktake", "audit.entries_in_year", "audit.chain_intact", "audit.head_seq",
    "evidence.items", "evidence.public_items",
)


def round_half_away(value: float | Decimal, places: int) -> float:
    """Round half away from zero (not Python's banker's rounding)."""
    q = Decimal(1).scaleb(-places)
    d = Decimal(str(value))
    rounded = d.copy_abs().quantize(q, rounding=ROUND_HALF_UP)
    return float(rounded if d >= 0 else -rounded)


def _day(ts: datetime | None) -> date | None:
    return bangkok_date(ts) if ts is not None else None


def lending_figures(session: Session, start: date, end: date) -> dict[str, Any]:
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))
    in_year = and_(Loan.requested_at >= lo, Loan.requested_at < hi)
    counts = dict(session.execute(select(Loan.status, func.count()).where(in_year).group_by(Loan.status)).all())
    requests = sum(counts.values())
    decisions = [bangkok_date(d) - bangkok_date(r) for r, d in session.execute(
        select(Loan.requested_at, Loan.decided_at).where(
            in_year, Loan.status.in_((*APPROVED_LIKE, REJECTED)), Loan.decided_at.is_not(None)))]
    median_days = round_half_away(median(d.days for d in decisions), 2) if decisions else None

    handed = and_(Loan.checked_out_at >= lo, Loan.checked_out_at < hi)
    loans_checked_out, items_checked_out = session.execute(
        select(func.count(func.distinct(Loan.id)), func.count(LoanItem.id))
        .select_from(Loan).join(LoanItem, LoanItem.loan_id == Loan.id).where(handed)).one()

    # Every item that can matter to this year: handed over before the year ended and either still out,
    # back or lost in or after the year, or due in the year.
    rows = session.execute(
        select(LoanItem.id, LoanItem.loan_id, LoanItem.condition, LoanItem.returned_at, Loan.due_on,
               Loan.checked_out_at)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(Loan.checked_out_at.is_not(None), Loan.checked_out_at < hi,
               or_(LoanItem.returned_at.is_(None), LoanItem.returned_at >= lo, Loan.due_on >= start))).all()
    loan_ids = {r.loan_id for r in rows}
    demands: dict[int, list[date]] = defaultdict(list)
    if loan_ids:
        ids = sorted(loan_ids)
        for chunk in range(0, len(ids), 5000):
            for loan_id, day in session.execute(select(Demand.loan_id, Demand.demanded_on).where(
                    Demand.loan_id.in_(ids[chunk:chunk + 5000]))):
                demands[loan_id].append(day)

    f = defaultdict(int)
    for r in rows:
        back_or_lost = _day(r.returned_at)  # the day it came back, or the day the loss was recorded
        if back_or_lost is not None and start <= back_or_lost <= end:
            if r.condition in (GOOD, DAMAGED):
                f["items_returned"] += 1
                f["items_returned_on_time" if back_or_lost <= r.due_on else "items_returned_late"] += 1
                if r.condition == DAMAGED:
                    f["items_damaged"] += 1
            elif r.condition == LOST:
                f["items_lost"] += 1
        if _day(r.checked_out_at) <= end and (back_or_lost is None or back_or_lost > end):
            f["items_out_at_year_end"] += 1
            if r.due_on < end:
                f["items_overdue_at_year_end"] += 1
        if start <= r.due_on <= end and (back_or_lost is None or back_or_lost > r.due_on):
            f["overdue_items"] += 1
            # A demand covers the item while it is out: the earliest dated after the due date.
            covering = [d for d in demands.get(r.loan_id, ()) if d > r.due_on
                        and (back_or_lost is None or d <= back_or_lost)]
            if not covering:
                f["overdue_items_not_demanded"] += 1
            elif (min(covering) - r.due_on).days <= 7:
                f["overdue_items_demanded_within_7_days"] += 1
            else:
                f["overdue_items_demanded_late"] += 1
    returned = f["items_returned"]
    return {
        "requests": requests,
        "approved": sum(counts.get(s, 0) for s in APPROVED_LIKE),
        "rejected": counts.get(REJECTED, 0),
        "cancelled": counts.get(CANCELLED, 0),
        "pending": counts.get(REQUESTED, 0),
        "median_days_to_decision": median_days,
        "loans_checked_out": loans_checked_out,
        "items_checked_out": items_checked_out,
        "items_returned": returned,
        "items_returned_on_time": f["items_returned_on_time"],
        "items_returned_late": f["items_returned_late"],
        "on_time_return_rate": round_half_away(f["items_returned_on_time"] / returned * 100, 1) if returned else None,
        "items_damaged": f["items_damaged"],
        "items_lost": f["items_lost"],
        "items_out_at_year_end": f["items_out_at_year_end"],
        "items_overdue_at_year_end": f["items_overdue_at_year_end"],
        "overdue_items": f["overdue_items"],
        "overdue_items_demanded_within_7_days": f["overdue_items_demanded_within_7_days"],
        "overdue_items_demanded_late": f["overdue_items_demanded_late"],
        "overdue_items_not_demanded": f["overdue_items_not_demanded"],
    }


def asset_figures(session: Session, start: date, end: date,
                  stocktake: Callable[[Session, date, date], tuple[int, int]] | None = None) -> dict[str, Any]:
    """Assets on the register on the last day of the year (acquired by then, not disposed before it)."""
    end_utc = bangkok_midnight_utc(end + timedelta(days=1))
    on_register = and_(
        or_(Asset.acquired_on <= end, and_(Asset.acquired_on.is_(None), Asset.created_at < end_utc)),
        or_(Asset.disposed_on.is_(None), Asset.disposed_on >= end))
    total, lendable = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Asset.lendable.is_(True), 1), else_=0)), 0))
        .where(on_register)).one()
    checked, not_found = stocktake(session, start, end) if stocktake else (0, 0)
    return {"total": total, "lendable": int(lendable), "checked_in_stocktake": checked,
            "not_found_in_stocktake": not_found}


def audit_figures(session: Session, start: date, end: date, chain_intact: Callable[[], bool]) -> dict[str, Any]:
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))
    entries = session.execute(select(func.count()).select_from(AuditEntry)
                              .where(AuditEntry.at >= lo, AuditEntry.at < hi)).scalar_one()
    head = session.get(AuditHead, 1)
    return {"entries_in_year": entries, "chain_intact": bool(chain_intact()),
            "head_seq": head.seq if head else 0, "head_hash": head.hash if head else "0" * 64}


def evidence_figures(session: Session, fiscal_year: int) -> dict[str, Any]:
    items, public = session.execute(
        select(func.count(), func.coalesce(func.sum(case((EvidenceItem.visibility == PUBLIC, 1), else_=0)), 0))
        .where(EvidenceItem.fiscal_year == fiscal_year)).one()
    by_indicator = dict(session.execute(
        select(EvidenceIndicator.code, func.count(func.distinct(EvidenceIndicator.evidence_id)))
        .join(EvidenceItem, EvidenceItem.id == EvidenceIndicator.evidence_id)
        .where(EvidenceItem.fiscal_year == fiscal_year).group_by(EvidenceIndicator.code)
        .order_by(EvidenceIndicator.code)).all())
    return {"items": items, "public_items": int(public), "by_indicator": by_indicator}


def compute(session: Session, fiscal_year: int, chain_intact: Callable[[], bool],
            stocktake: Callable[[Session, date, date], tuple[int, int]] | None = None) -> dict[str, Any]:
    """The whole report object for a B.E. fiscal year."""
    start, end = fiscal_year_bounds(fiscal_year)
    return {
        "fiscal_year": fiscal_year,
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "lending": lending_figures(session, start, end),
        "assets": asset_figures(session, start, end, stocktake),
        "audit": audit_figures(session, start, end, chain_intact),
        "evidence": evidence_figures(session, fiscal_year),
    }


def figure_value(report: dict[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    return report.get(section, {}).get(name)
