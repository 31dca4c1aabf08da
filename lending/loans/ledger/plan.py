"""The paper ledger (ทะเบียนคุมการยืม) of earlier months: `flask --app wsgi loans import FILE`, all or nothing.

read_table (shared with the asset import: CSV with or without a BOM, or XLSX; the columns: ledger.columns)
→ plan_ledger (here: check every row, group rows into loans, check the people, the assets, the order of the
dates, and that no asset is lent twice at once — in the file or against the database: ledger.check) →
apply_ledger (here: bulk inserts in one write transaction, with the audit entries: ledger.write). A file
with any bad row changes nothing; every bad row is reported with its row
number (the header is row 1), column and reason.

Decisions, documented in the README ("Importing the paper ledger"):

- A ledger ref is stored as ``L-<ref>`` (Thai digits read as Arabic, spaces collapsed), so it can never
  collide with the app's own refs (``2570/00001``). A ref already in the database is skipped: importing the
  same file twice changes nothing, and the first import of a loan stands (later edits of its rows are not
  applied).
- A date D becomes the timestamp of noon in Bangkok on D, so every report that takes the Bangkok date of a
  timestamp gets D back.
- A blank date means "not recorded" and stays blank: nothing is invented. A decision needs no date (a
  request cancelled on paper often has none); an approved or rejected loan without ``decided_on`` is left
  out of the one figure that needs it, the median time to a decision, and the plan lists each such row
  (``LedgerPlan.missing``) for the command to print.
- A demand (``demanded_on``) covers its own row's item only: rows of one loan with the same date make one
  demand naming those items (``Demand.item_ids``), and the figures count it for them alone.
- An asset is held by an approved loan not yet handed over from ``requested_on`` to ``due_on`` (both
  days included), and by a handed-over item from ``checked_out_on`` until ``returned_on`` (an item that came
  back on day D may go out again on D), or for good while it is out.
- An asset's status follows the ledger (on loan, lost, in repair) only when no loan already in the
  database handed it over or received it back on or after the ledger's last date for it, and the register
  has it ``available`` or as the latest of those loans left it (in repair after a damaged return); a
  status set by hand since (in repair, lost, disposed) is newer than a paper record and stands.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.dates import bangkok_date
from core.db import N_, Conflict, Forbidden, Session, is_sqlite, starts_with, utcnow, write
from core.models import User
from core.people.permissions import LOANS_MANAGE
from lending.loans.ledger.check import _check_overlaps, _Checker, _database_holds, _Hold, _holds_of
from lending.loans.ledger.columns import (
    COLUMNS,
    HOLD_COLUMNS,
    IN_CHUNK,
    LOAN_COLUMNS,
    NEEDS_DECIDED_ON,
    NEEDS_RETURNED_ON,
    REF_PREFIX,
    LedgerLoan,
    LedgerPlan,
    MissingDate,
    _Row,
    map_columns,
)
from lending.loans.ledger.write import _write
from lending.loans.models import (
    APPROVED,
    REJECTED,
    Loan,
)
from lending.register.importing import file_headers, name_columns, read_table
from lending.register.models import Asset

# --- planning --------------------------------------------------------------------------------------


def plan_ledger(
    session: Session,
    data: bytes,
    filename: str = "",
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> LedgerPlan:
    """Check every row of the ledger and group them into loans; changes nothing."""
    today = today or bangkok_date(utcnow())
    header, table = read_table(data, filename)
    mapping = map_columns(header)
    plan = LedgerPlan(sha256=hashlib.sha256(data).hexdigest())
    users = {name: uid for uid, name in session.execute(select(User.id, User.username))}
    assets = {
        number: (aid, price, status)
        for aid, number, price, status in session.execute(
            select(Asset.id, Asset.asset_number, Asset.price, Asset.status)
        )
    }
    existing = set(session.scalars(select(Loan.ref).where(starts_with(Loan.ref, REF_PREFIX))))
    checker = _Checker(users, assets, today, plan.errors)

    groups: dict[str, list[_Row]] = {}
    for offset, values in enumerate(table):
        if not any(str(v).strip() for v in values if v is not None):
            continue
        plan.rows += 1
        raw = {column: (values[i] if i < len(values) else "") for i, column in mapping.items()}
        row = checker.parse(offset + 2, raw)  # the header is row 1, as in Excel
        if row.ref:
            groups.setdefault(row.ref, []).append(row)
        if progress and plan.rows % 1000 == 0:
            progress(1000)
    if progress:
        progress(plan.rows % 1000)

    for ref, rows in groups.items():
        first = rows[0]
        seen: dict[int, int] = {}
        for row in rows[1:]:
            for column in LOAN_COLUMNS:
                if column in row.bad or column in first.bad:
                    continue
                if getattr(row, column) != getattr(first, column):
                    checker.error(
                        row,
                        column,
                        N_("differs from row %(row)d of the same loan (ref %(ref)s)"),
                        getattr(row, column) or "",
                        row=first.row,
                        ref=ref,
                    )
        for row in rows:
            if row.asset_id is None:
                continue
            if row.asset_id in seen:
                checker.error(
                    row,
                    "asset_number",
                    N_("the same asset is on row %(row)d of this loan"),
                    row.asset_number,
                    row=seen[row.asset_id],
                )
            else:
                seen[row.asset_id] = row.row
        stored = REF_PREFIX + ref
        if stored in existing:
            plan.skipped_refs += 1
            plan.skipped_rows += len(rows)
        else:
            plan.loans.append(LedgerLoan(stored, rows))

    # A loan whose dates and assets could be read is checked for clashes even when another of its
    # columns is wrong, so that one run reports every bad row.
    file_holds: dict[int, list[_Hold]] = defaultdict(list)
    for loan in plan.loans:
        if any(r.bad & HOLD_COLUMNS for r in loan.rows):
            continue
        for asset_id, hold in _holds_of(loan):
            file_holds[asset_id].append(hold)
    if file_holds:
        asset_ids = sorted(file_holds)
        if not is_sqlite(session):  # the in-app approval locks these rows too; wait for it, then check
            for start in range(0, len(asset_ids), IN_CHUNK):
                session.execute(
                    select(Asset.id).where(Asset.id.in_(asset_ids[start : start + IN_CHUNK])).with_for_update()
                )
        numbers = {aid: number for number, (aid, _price, _status) in assets.items() if aid in file_holds}
        _check_overlaps(checker, file_holds, _database_holds(session, asset_ids, plan.db_events), numbers)
    if plan.errors:
        plan.errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else 99))
        plan.loans = [loan for loan in plan.loans if not any(r.bad for r in loan.rows)]
        plan.errors[:] = name_columns(plan.errors, file_headers(header, mapping))
    plan.missing = missing_dates(plan.loans)
    return plan


def missing_dates(loans: list[LedgerLoan]) -> list[MissingDate]:
    """The rows of these loans that lack a date a figure uses, with the figure that leaves them out.

    A blank date means "not recorded": it is never filled in. A cancelled request needs no date at all (no
    figure counts the day of a cancellation); an approved or rejected one without `decided_on` is counted
    as approved or rejected but left out of the median time to a decision. An item with a condition but
    no `returned_on` came back (or was lost) on a day not recorded: it is no longer out, but the figures
    that ask whether it was back by a day (returned in the year, on time, out or overdue at the year's end,
    overdue by its due date) leave it out."""
    out = []
    for loan in loans:
        ref = loan.ref[len(REF_PREFIX) :]
        for r in loan.rows:
            if r.decision in (APPROVED, REJECTED) and r.decided_on is None:
                out.append(MissingDate(r.row, ref, "decided_on", NEEDS_DECIDED_ON))
            if r.condition and r.returned_on is None:
                out.append(MissingDate(r.row, ref, "returned_on", NEEDS_RETURNED_ON[r.condition]))
    return sorted(out, key=lambda m: (m.row, COLUMNS.index(m.column)))


# --- applying --------------------------------------------------------------------------------------


def apply_ledger(
    session: Session,
    actor: User | None,
    data: bytes,
    filename: str = "",
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> LedgerPlan:
    """Check the whole ledger and, when every row is good, import its new loans in one write transaction.

    Returns the plan: with errors (and nothing changed), or with what was created.
    """
    if actor is not None and not actor.can(LOANS_MANAGE):
        raise Forbidden(N_("You may not do this."))
    now = now or utcnow()
    with write(session):
        plan = plan_ledger(session, data, filename, progress, today=bangkok_date(now))
        if not plan.ok or not plan.loans:
            return plan  # nothing to write: rolled back on the way out
        try:
            _write(session, actor, plan, filename, progress, now)
        except IntegrityError:  # PostgreSQL: another import of the same refs committed while this one ran
            raise Conflict(
                N_(
                    "Another import wrote some of these loans while this one ran; nothing was "
                    "imported. Run the import again."
                )
            ) from None
        session.commit()
    return plan
