"""The paper ledger's writing: bulk inserts of a checked plan's loans, items, demands and cases with their
audit entries, and the assets' statuses, inside the caller's write transaction (lending.loans.ledger.plan)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, text, update

from audit import record
from audit.services import record_many
from core.db import Session, known
from core.models import User
from lending.loans.ledger.check import _TARGET
from lending.loans.ledger.columns import CHUNK, IN_CHUNK, OPEN, LedgerLoan, LedgerPlan, noon
from lending.loans.models import (
    APPROVED,
    CANCELLED,
    DAMAGED,
    LOST,
    REJECTED,
    RETURNED,
    Demand,
    Incident,
    Loan,
    LoanItem,
)
from lending.register.models import AVAILABLE, ON_LOAN, Asset


def _write(
    session: Session,
    actor: User | None,
    plan: LedgerPlan,
    filename: str,
    progress: Callable[[int], None] | None,
    now: datetime,
) -> None:
    """The loans of a good plan, their items, demands, cases, asset statuses and audit entries."""
    noons: dict[date, datetime] = {}

    def at(day: date | None) -> datetime | None:
        if day is None:
            return None
        stamp = noons.get(day)
        if stamp is None:
            stamp = noons[day] = noon(day)
        return stamp

    # Ids are reserved first, so that the rows go in as plain executemany inserts (RETURNING with its
    # order kept costs SQLite three times as much) and items, demands and cases can point at them.
    loan_ids = _reserve_ids(session, Loan, len(plan.loans))
    _insert(
        session, Loan, [_loan_values(loan, loan_id, at) for loan, loan_id in zip(plan.loans, loan_ids, strict=True)]
    )
    plan.items = sum(len(loan.rows) for loan in plan.loans)
    item_ids = iter(_reserve_ids(session, LoanItem, plan.items))
    items, demands, incidents, audit_items = [], [], [], []
    for loan, loan_id in zip(plan.loans, loan_ids, strict=True):
        by_day: dict[date, list[int]] = defaultdict(list)
        for r in loan.rows:
            item_id = next(item_ids)
            items.append(
                {
                    "id": item_id,
                    "loan_id": loan_id,
                    "asset_id": r.asset_id,
                    "value": r.value,
                    "condition": r.condition or None,
                    "returned_at": at(r.returned_on),
                    "received_by_id": None,
                    "return_note": "",
                    "version": 1,
                }
            )
            if r.demanded_on:
                by_day[r.demanded_on].append(item_id)
            if r.condition in (DAMAGED, LOST):
                incidents.append(
                    {
                        "loan_item_id": item_id,
                        "asset_id": r.asset_id,
                        "kind": r.condition,
                        "value": r.value,
                        "description": "",
                        # the case opens on the day of the return or loss; when the ledger does not
                        # give it, on the day of the import (when the case was in fact opened)
                        "opened_at": at(r.returned_on) or now,
                        "opened_by_id": None,
                        "status": "open",
                        "resolution": None,
                        "amount": None,
                        "resolution_note": "",
                        "settled_at": None,
                        "settled_by_id": None,
                        "version": 1,
                    }
                )
        for day in sorted(by_day):
            demands.append(
                {
                    "loan_id": loan_id,
                    "demanded_on": day,
                    "demanded_at": at(day),
                    "channel": "ledger",
                    "issued_by_id": None,
                    "item_ids": by_day[day],
                }
            )
        first = loan.first
        audit_items.append(
            (
                ("loan", loan_id),
                {
                    "ref": loan.ref,
                    "row": first.row,
                    "status": loan.status,
                    "borrower": first.borrower,
                    "decided_by": first.decided_by or None,
                    "assets": [r.asset_number for r in loan.rows],
                    "import": plan.sha256,
                },
            )
        )
    _insert(session, LoanItem, items, progress)
    _insert(session, Demand, demands)
    _insert(session, Incident, incidents)
    plan.demands, plan.incidents = len(demands), len(incidents)

    status_entries = _update_asset_statuses(session, plan, now)
    record_many(session, actor, "loan.imported", audit_items)
    record_many(session, actor, "asset.status_changed", status_entries)
    counts: dict[str, int] = defaultdict(int)
    for loan in plan.loans:
        counts[loan.status] += 1
    record(
        session,
        actor,
        "loans.imported",
        ("import", plan.sha256[:16]),
        {
            "sha256": plan.sha256,
            "filename": filename[:255],
            "rows": plan.rows,
            "loans": len(plan.loans),
            "items": plan.items,
            "statuses": dict(counts),
            "demands": plan.demands,
            "incidents": plan.incidents,
            "dates_not_recorded": len(plan.missing),
            "skipped_refs": plan.skipped_refs,
            "assets_changed": plan.assets_changed,
            "assets_kept": plan.assets_kept,
        },
    )


def _reserve_ids(session: Session, model: type[Any], n: int) -> list[int]:
    """`n` new primary keys for `model`'s table, taken before its rows are inserted."""
    if n == 0:
        return []
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
                {"t": table.name, "n": n},
            )
        )
    # SQLite: the write transaction (BEGIN IMMEDIATE) holds the database's one write lock, so nobody else
    # can take these ids before the rows are in; an id is the largest one plus one, as SQLite does itself.
    top = session.scalar(select(func.max(table.c.id))) or 0
    return list(range(top + 1, top + n + 1))


def _insert(
    session: Session, model: type[Any], rows: list[dict[str, Any]], progress: Callable[[int], None] | None = None
) -> None:
    # Core inserts of the table: the ORM's bulk insert splits a batch wherever the pattern of blank values
    # changes, which here is almost every row.
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        session.execute(model.__table__.insert(), chunk)
        if progress:
            progress(len(chunk))


def _loan_values(loan: LedgerLoan, loan_id: int, at: Callable[[date | None], datetime | None]) -> dict[str, Any]:
    r = loan.first
    status = loan.status
    decided = r.decision in (APPROVED, REJECTED)
    start_on = r.checked_out_on or r.requested_on
    backs = [x.returned_on for x in loan.rows]
    # the day the last item came back; not recorded when any item's day is not
    returned_at = max(b for b in backs if b is not None) if status == RETURNED and all(backs) else None
    return {
        "id": loan_id,
        "ref": loan.ref,
        "borrower_id": r.borrower_id,
        "purpose": r.purpose,
        "place": "",
        "off_premises": False,
        "start_on": start_on,
        "due_on": r.due_on or start_on,
        "status": status,
        "requested_at": at(r.requested_on),
        "needs_head": False,
        "officer_id": r.decided_by_id if r.decision == APPROVED else None,
        "officer_at": at(r.decided_on) if r.decision == APPROVED else None,
        "head_id": None,
        "head_at": None,
        "decided_at": at(r.decided_on) if decided else None,
        "decided_by_id": r.decided_by_id if decided else None,
        "decision_note": "",
        "cancelled_at": at(r.decided_on) if r.decision == CANCELLED else None,
        "checked_out_at": at(r.checked_out_on),
        "checked_out_by_id": None,
        "handover_note": "",
        "receipt_confirmed_at": None,
        "returned_at": at(returned_at),
        "imported": True,
        "version": 1,
    }


def _update_asset_statuses(session: Session, plan: LedgerPlan, now: datetime) -> list[tuple[Any, dict[str, Any]]]:
    """Set the status of each asset whose latest event in the ledger is newer than anything the app knows.

    The ledger's last word on an asset is its item handed over most recently (still out → on loan; back →
    available, in repair or lost). It is applied only when no other loan in the database handed the asset
    over or received it back on or after that day, and the register's status is `available` or the one
    the latest of those loans left (in repair after a damaged return, say): a status set by hand since
    (in repair, lost, disposed) is newer information than a paper record and stands.
    """
    latest: dict[int, tuple[int, int, str | None, str]] = {}  # asset → (end, start, condition, ref)
    for loan in plan.loans:
        if loan.first.checked_out_on is None:
            continue
        for r in loan.rows:
            out_on, asset_id = known(r.checked_out_on, "hand-over date"), known(r.asset_id, "asset")  # (as the first)
            if r.returned_on:
                end = r.returned_on.toordinal()
            elif r.condition:  # back or lost on a day not recorded: on the day of the hand-over at the earliest
                end = out_on.toordinal()
            else:
                end = OPEN
            key = (end, out_on.toordinal(), r.condition or None, loan.ref)
            if asset_id not in latest or key[:2] > latest[asset_id][:2]:
                latest[asset_id] = key
    if not latest:
        return []
    asset_ids = sorted(latest)
    current: dict[int, str] = {}  # read again: the assets are locked now (PostgreSQL) or always were (SQLite)
    for start in range(0, len(asset_ids), IN_CHUNK):
        current.update(
            (i, st)
            for i, st in session.execute(
                select(Asset.id, Asset.status).where(Asset.id.in_(asset_ids[start : start + IN_CHUNK]))
            )
        )
    changes, entries = [], []
    for asset_id, (end, start_day, condition, ref) in latest.items():
        target = _TARGET[condition] if end != OPEN else ON_LOAN
        status = current.get(asset_id)
        if status == target:
            continue
        ledger_day = start_day if end == OPEN else end
        last_day, left = plan.db_events.get(asset_id, (0, AVAILABLE))
        if last_day >= ledger_day or status not in (AVAILABLE, left):
            plan.assets_kept += 1
            continue
        changes.append({"b_id": asset_id, "b_status": target})
        entries.append(
            (
                ("asset", asset_id),
                {"before": {"status": status}, "after": {"status": target}, "loan": ref, "import": plan.sha256},
            )
        )
    table = cast(Table, Asset.__table__)  # a model's table is a Table
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(status=bindparam("b_status"), version=table.c.version + 1, updated_at=now)
    )
    for start in range(0, len(changes), CHUNK):
        session.execute(stmt, changes[start : start + CHUNK])
    plan.assets_changed = len(changes)
    return entries
