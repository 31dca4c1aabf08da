"""The report's computation, made once for every format: the year's figures (evidence.report.figures.compute,
reference/report-metrics.md), its monthly series, and its measure rows with their evidence.

    report = build(session, 2566, engine=db.engine, config=app.config)"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from audit.integrity.checkpoints import configured_fingerprint, log_path
from audit.integrity.runner import verify_in_background
from core.dates import (
    bangkok_date,
    bangkok_midnight_utc,
    fiscal_year_bounds,
)
from core.db import Session, utcnow
from core.people.services import get_settings
from evidence.bundle import submission
from evidence.bundle.submission import EvidenceLink
from evidence.measures.models import Indicator, Measure
from evidence.report import figures as fig
from evidence.report.words import lang_of
from lending.loans.models import DAMAGED, GOOD, Loan, LoanItem

# --- the report object -----------------------------------------------------------------------------


@dataclass
class Month:
    """One month of the series. A month still to come has no values (None); the current month's are to
    date, its overdue count as at the end of today."""

    first: date
    requests: int | None = 0
    returns: int | None = 0
    overdue: int | None = 0  # items out past their due date at the end of the month (or of today)

    @property
    def to_come(self) -> bool:
        return self.requests is None

    @property
    def last(self) -> date:
        return _next_month(self.first) - timedelta(days=1)


@dataclass
class MeasureRow:
    number: int
    title: str
    indicators: list[tuple[str, str]]  # (code, Thai or English text of the year's catalogue)
    activities: str
    responsible: str
    outcome: str
    figures: list[str]  # keys
    # the evidence attached to the measure: title, codes, public URL or "" (internal); evidence.bundle.submission
    evidence: list[EvidenceLink] = field(default_factory=list)


@dataclass
class Report:
    figures: dict[str, Any]
    months: list[Month]
    measures: list[MeasureRow]
    settings: dict[str, Any]
    made_at: datetime
    lang: str = "th"
    thai_digits: bool = False
    key_fingerprint: str = ""  # of the checkpoint signing key, printed beside the chain's head

    @property
    def fiscal_year(self) -> int:
        return int(self.figures["fiscal_year"])


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def chain_check(engine: Any, config: Any) -> Callable[[], bool]:
    """`chain_intact` for figures.compute: the whole chain verified now, against every checkpoint.

    The verification starts at once, in a process of its own on a long chain, and runs while the figures
    are computed; `chain_intact` waits for its answer."""
    result = verify_in_background(
        engine,
        log=log_path(config),
        key_path=config.get("AUDIT_SIGNING_KEY") or None,
        mac_path=config.get("AUDIT_MAC_KEY") or None,
    )
    return lambda: bool(result().ok)


def monthly_series(session: Session, fiscal_year: int, today: date | None = None) -> list[Month]:
    """Per month of the fiscal year (October first): loans requested, items that came back (inspected good
    or damaged) and items out past their due date at the month's end — with figures.py's date rules: a
    timestamp counts on its Bangkok date; "out at the end of day D" is handed over before the next Bangkok
    midnight and neither back nor lost by it; overdue is a due date earlier than D.

    The series stops at the current month (`today`, the Bangkok date now by default): a month still to come
    has no values, and the current month's overdue count is as at the end of today, since its own end has
    not happened yet.

    The database groups the rows by Bangkok month ('YYYY-MM'); only the groups come back."""
    start, end = fiscal_year_bounds(fiscal_year)
    today = today or bangkok_date(utcnow())
    months = [Month(start)]
    while len(months) < 12:
        months.append(Month(_next_month(months[-1].first)))
    keys = [f"{m.first:%Y-%m}" for m in months]
    lo, hi = bangkok_midnight_utc(start), bangkok_midnight_utc(end + timedelta(days=1))

    def index(key: str | None) -> int:
        """The month's place in the year: -1 before it, 12 after it (or never)."""
        if key is None or key > keys[-1]:
            return 12
        return -1 if key < keys[0] else keys.index(key)

    def grouped(query: Any) -> Sequence[Any]:
        """(each column of the query's rows, how many rows) — grouped on a subquery, so that PostgreSQL
        sees the same expression in SELECT and GROUP BY."""
        rows = query.subquery()
        return session.execute(select(*rows.c, func.count()).group_by(*rows.c)).all()

    def month(at: Any, name: str) -> Any:
        return fig.sql_bangkok_month(session, at).label(name)

    for key, n in grouped(
        select(month(Loan.requested_at, "requested")).where(Loan.requested_at >= lo, Loan.requested_at < hi)
    ):
        months[index(key)].requests = n
    for key, n in grouped(
        select(month(LoanItem.returned_at, "back")).where(
            LoanItem.returned_at >= lo, LoanItem.returned_at < hi, LoanItem.condition.in_((GOOD, DAMAGED))
        )
    ):
        months[index(key)].returns = n

    # Out past due at a month's end: only items not back by the end of their due day can be, so the query
    # takes those, grouped by due date, month handed over and month back; each group counts from the first
    # month-end after both its due date and its hand-over, up to the last month-end before it came back.
    ends = [min(m.last, today) for m in months]
    overdue = [0] * 13
    for due, handed, back, n in grouped(
        select(Loan.due_on.label("due"), month(Loan.checked_out_at, "handed"), month(LoanItem.returned_at, "back"))
        .select_from(LoanItem)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            Loan.checked_out_at.is_not(None),
            Loan.checked_out_at < hi,
            fig.sql_scan(session, Loan.due_on) < end,
            or_(
                fig.still_out(),
                and_(
                    LoanItem.returned_at >= bangkok_midnight_utc(months[1].first),
                    fig.sql_after_day(session, LoanItem.returned_at, Loan.due_on),
                ),
            ),
        )
    ):
        first = max(bisect_right(ends, due), index(handed))
        last = index(back) - 1  # 11 when still out or back after the year
        if first <= last:
            overdue[first] += n
            overdue[last + 1] -= n
    running = 0
    for i, m in enumerate(months):
        running += overdue[i]
        m.overdue = running
        if m.first > today:  # still to come: nothing has happened in it
            m.requests = m.returns = m.overdue = None
        elif m.first <= today < m.last:  # the current month: out past due at the end of today
            m.overdue = _overdue_at(session, today)
    return months


def _overdue_at(session: Session, day: date) -> int:
    """Items handed over by the end of `day`, neither back nor lost by then, and due before `day`."""
    cut = bangkok_midnight_utc(day + timedelta(days=1))
    return session.execute(
        select(func.count())
        .select_from(LoanItem)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(
            Loan.checked_out_at.is_not(None),
            Loan.checked_out_at < cut,
            Loan.due_on < day,
            or_(fig.still_out(), LoanItem.returned_at >= cut),
        )
    ).scalar_one()


def measure_rows(
    session: Session, fiscal_year: int, lang: str = "th", link: Callable[[str], str] | None = None
) -> list[MeasureRow]:
    """The year's measures in their order, with the catalogue's wording of their codes and their evidence
    (`link(token)` makes a published item's URL; BASE_URL's by default)."""
    texts = {
        i.code: (i.text_en or i.text_th) if lang == "en" else i.text_th
        for i in session.execute(select(Indicator).where(Indicator.fiscal_year == fiscal_year)).scalars()
    }
    rows = list(
        session.execute(
            select(Measure).where(Measure.fiscal_year == fiscal_year).order_by(Measure.position, Measure.id)
        ).scalars()
    )
    evidence = submission.measure_evidence(session, fiscal_year, link or submission.linker()) if rows else {}
    return [
        MeasureRow(
            number=n,
            title=m.title,
            indicators=[(c, texts.get(c, "")) for c in m.indicators or []],
            activities=m.activities or "",
            responsible=m.responsible or "",
            outcome=m.outcome or "",
            figures=[k for k in m.figures or [] if k in fig.FIGURE_KEYS],
            evidence=evidence.get(m.id, []),
        )
        for n, m in enumerate(rows, 1)
    ]


def build(
    session: Session,
    fiscal_year: int,
    *,
    engine: Any,
    config: Any,
    lang: str = "th",
    thai_digits: bool | None = None,
    now: datetime | None = None,
    chain_intact: Callable[[], bool] | None = None,
) -> Report:
    """Compute the year's figures (once), its monthly series and its measure rows."""
    settings = get_settings(session)
    lang = lang_of(lang)
    if thai_digits is None:
        thai_digits = bool(settings.get("thai_digits_in_documents"))
    from lending.stocktake.queries import stocktake_figures

    # The chain's verification starts first and runs beside everything else; its answer is asked for
    # last (figures.compute asks for it after every other figure).
    check = chain_intact or chain_check(engine, config)
    made_at = now or utcnow()
    today = bangkok_date(made_at)
    months = monthly_series(session, int(fiscal_year), today)
    measures = measure_rows(session, int(fiscal_year), lang)
    figures = fig.compute(session, int(fiscal_year), chain_intact=check, stocktake=stocktake_figures, today=today)
    session.rollback()  # end the read transaction
    return Report(
        figures=figures,
        months=months,
        measures=measures,
        settings=settings,
        made_at=made_at,
        lang=lang,
        thai_digits=bool(thai_digits) and lang == "th",
        key_fingerprint=configured_fingerprint(config),
    )
