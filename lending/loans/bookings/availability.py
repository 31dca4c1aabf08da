"""What can be lent, and when: the lendability rule (one set of statuses, as a predicate for a loaded asset
and as a SQL condition), the loans that hold assets on given days, and the asset locks taken before a check.

Used by the services (which refuse), the request form's catalogue and the calendar (which leave out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import ColumnElement, and_, or_, select

from core.dates import bangkok_date
from core.db import N_, Conflict, DomainError, Session, utcnow
from lending.loans.models import CHECKED_OUT, REQUESTED, Loan, LoanItem, holds_assets
from lending.register.models import DISPOSED, IN_REPAIR, LOST, Asset

# Assets in these statuses (or not marked lendable) cannot be asked for: the request refuses them, the
# catalogue and the calendar's "free" leave them out.
UNLENDABLE_STATUSES = (DISPOSED, LOST, IN_REPAIR)


def lendable(asset: Asset) -> bool:
    """Whether the asset may be asked for at all (request_loan refuses the others)."""
    return asset.lendable and asset.status not in UNLENDABLE_STATUSES


def lendable_condition() -> ColumnElement[bool]:
    """For a statement over assets: the same rule as `lendable`, in SQL."""
    return and_(Asset.lendable.is_(True), Asset.status.not_in(UNLENDABLE_STATUSES))


@dataclass(frozen=True)
class Clash:
    asset_id: int
    asset_number: str
    loan_ref: str
    start_on: date
    due_on: date
    reserved: bool = False  # held by a request the supply officer approved, waiting for the head
    loan_id: int | None = field(default=None, compare=False)  # the holding loan (its ref names it), for a link


def clashes(
    session: Session,
    asset_ids: list[int],
    start_on: date,
    due_on: date,
    exclude_loan_id: int | None = None,
    today: date | None = None,
) -> list[Clash]:
    """Loans that hold any of these assets on days that overlap [start_on, due_on].

    An approved or handed-over loan holds its assets from its start to its due date, and so does a request
    the supply officer approved while it waits for the head (lending.loans.models.holds_assets); an item
    that is out past its due date holds its asset until it comes back, since nobody knows when that will be.
    """
    if not asset_ids:
        return []
    today = today or bangkok_date(utcnow())
    stmt = (
        select(LoanItem.asset_id, Asset.asset_number, Loan.ref, Loan.start_on, Loan.due_on, Loan.status, Loan.id)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .join(Asset, Asset.id == LoanItem.asset_id)
        .where(
            LoanItem.asset_id.in_(asset_ids),
            holds_assets(),
            LoanItem.condition.is_(None),
            Loan.start_on <= due_on,
            or_(Loan.due_on >= start_on, and_(Loan.status == CHECKED_OUT, Loan.due_on < today)),
        )
    )
    if exclude_loan_id is not None:
        stmt = stmt.where(Loan.id != exclude_loan_id)
    return [
        Clash(asset_id, number, ref, start, due, reserved=status == REQUESTED, loan_id=holder)
        for asset_id, number, ref, start, due, status, holder in session.execute(stmt.order_by(Asset.asset_number))
    ]


def lock_assets(session: Session, asset_ids: list[int]) -> list[Asset]:
    stmt = select(Asset).where(Asset.id.in_(sorted(asset_ids))).order_by(Asset.id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    return list(session.execute(stmt.execution_options(populate_existing=True)).scalars())


def clash_error(found: list[Clash]) -> DomainError:
    """The refusal names the asset and the request that holds it, with its days (dates: B.E. where shown)."""
    c = found[0]
    if c.reserved:
        return Conflict(
            N_(
                "%(number)s is reserved for those days by request %(ref)s (%(start)s – %(due)s), "
                "approved by the supply officer and waiting for the head of agency."
            ),
            number=c.asset_number,
            ref=c.loan_ref,
            start=c.start_on,
            due=c.due_on,
        )
    return Conflict(
        N_("%(number)s is already lent for those days (loan %(ref)s, %(start)s – %(due)s)."),
        number=c.asset_number,
        ref=c.loan_ref,
        start=c.start_on,
        due=c.due_on,
    )
