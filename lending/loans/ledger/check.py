"""The paper ledger's checks: each row's values (people, assets, dates in order, decisions, conditions), and
that no asset is held twice at once, in the file or against the loans already in the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from core.dates import bangkok_date, parse_date
from core.db import N_, Session, known
from lending.loans.ledger.columns import (
    CONDITION_WORDS,
    DATE_COLUMNS,
    DECISIONS,
    EARLIEST,
    IN_CHUNK,
    LATEST,
    MAX_PURPOSE,
    MAX_REF,
    OPEN,
    REF_PREFIX,
    REQUIRED,
    LedgerLoan,
    _Row,
    _text,
    _word,
    normalise_ref,
)
from lending.loans.models import (
    APPROVED,
    CHECKED_OUT,
    DAMAGED,
    GOOD,
    LOST,
    REJECTED,
    RETURNED,
    Loan,
    LoanItem,
)
from lending.register.importing import RowError
from lending.register.models import AVAILABLE, IN_REPAIR, ON_LOAN, normalise_asset_number


class _Checker:
    """Parses and checks single rows, with the people and assets looked up once for the whole file."""

    def __init__(
        self,
        users: dict[str, int],
        assets: dict[str, tuple[int, Decimal | None, str]],
        today: date,
        errors: list[RowError],
    ):
        self.users, self.assets, self.today, self.errors = users, assets, today, errors
        # The same people, assets, purposes and dates recur on many rows: each raw value is read once.
        self._dates: dict[Any, date | str | None] = {}
        self._cache: dict[Callable[[Any], str], dict[Any, str]] = defaultdict(dict)

    def clean(self, how: Callable[[Any], str], raw: Any) -> str:
        cache = self._cache[how]
        value = cache.get(raw)
        if value is None:
            value = cache[raw] = how(raw)
        return value

    def error(self, row: _Row, column: str, reason: str, value: Any = "", /, **params: Any) -> None:
        row.bad.add(column)
        self.errors.append(
            RowError(row.row, column, reason, str(value if value is not None else "")[:100], tuple(params.items()))
        )

    @staticmethod
    def _read_date(raw: Any) -> date | str | None:
        """The date, None when blank, or the reason (a msgid) it cannot be used."""
        try:
            day = parse_date(raw if isinstance(raw, date) else str(raw if raw is not None else ""))
        except ValueError:
            return N_("not a date (use YYYY-MM-DD, or DD/MM/YYYY with a B.E. year)")
        if day is not None and not (EARLIEST <= day <= LATEST):
            return N_("the date is out of range")
        return day

    def date(self, row: _Row, column: str, raw: Any) -> date | None:
        try:
            day = self._dates[raw]
        except KeyError:
            day = self._dates[raw] = self._read_date(raw)
        if day is None:
            return None
        if isinstance(day, str):
            self.error(row, column, day, raw)
            return None
        if column != "due_on" and day > self.today:
            self.error(row, column, N_("the date is in the future"), raw)
            return None
        return day

    def parse(self, rownum: int, raw: dict[str, Any]) -> _Row:
        row = _Row(rownum)
        for column in REQUIRED:
            value = raw.get(column)
            if value is None or (isinstance(value, str) and not value.strip()):
                self.error(row, column, N_("required"))
        if "ref" not in row.bad:
            row.ref = self.clean(normalise_ref, raw["ref"])
            if len(row.ref) > MAX_REF:
                self.error(row, "ref", N_("too long (at most %(n)d characters)"), raw["ref"], n=MAX_REF)
        if "asset_number" not in row.bad:
            row.asset_number = self.clean(normalise_asset_number, raw["asset_number"])
            found = self.assets.get(row.asset_number)
            if found is None:
                self.error(row, "asset_number", N_("no asset with this number in the register"), raw["asset_number"])
            else:
                row.asset_id, row.value = found[0], found[1]
        if "borrower" not in row.bad:
            row.borrower = self.clean(_word, raw["borrower"])
            row.borrower_id = self.users.get(row.borrower)
            if row.borrower_id is None:
                self.error(row, "borrower", N_("no user with this username"), raw["borrower"])
        if "purpose" not in row.bad:
            row.purpose = self.clean(_text, raw["purpose"])
            if len(row.purpose) > MAX_PURPOSE:
                self.error(row, "purpose", N_("too long (at most %(n)d characters)"), n=MAX_PURPOSE)
        decision = self.clean(_word, raw.get("decision"))
        if decision:
            row.decision = DECISIONS.get(decision, "")
            if not row.decision:
                self.error(
                    row,
                    "decision",
                    N_("use approved, rejected or cancelled, or leave it blank while the request waits"),
                    raw.get("decision"),
                )
        decided_by = self.clean(_word, raw.get("decided_by"))
        if decided_by:
            row.decided_by = decided_by
            row.decided_by_id = self.users.get(decided_by)
            if row.decided_by_id is None:
                self.error(row, "decided_by", N_("no user with this username"), raw.get("decided_by"))
        condition = self.clean(_word, raw.get("condition"))
        if condition:
            row.condition = CONDITION_WORDS.get(condition, "")
            if not row.condition:
                self.error(row, "condition", N_("use good, damaged or lost"), raw.get("condition"))
        for column in DATE_COLUMNS:
            if column not in row.bad:
                setattr(row, column, self.date(row, column, raw.get(column)))
        self._check_order(row, raw)
        return row

    @staticmethod
    def _in_order(row: _Row) -> bool:
        """The rules of _check_order for a row with no error yet, in short: True when it keeps them all.

        Most rows do; this spares them the bookkeeping that names the column and the reason. The error
        tests (tests/integration/test_ledger_import.py) hold both versions to the same rules.
        """
        decision, requested, decided, out = row.decision, row.requested_on, row.decided_on, row.checked_out_on
        due, back, condition, demanded = row.due_on, row.returned_on, row.condition, row.demanded_on
        if requested is None:  # not for a row without errors (it is required): the full check answers
            return False
        if not decision:
            if row.decided_by or decided or out:
                return False
        else:
            if (decision != APPROVED and out) or (decision == APPROVED and not due):
                return False
            if decision in (APPROVED, REJECTED) and (not row.decided_by or row.decided_by_id == row.borrower_id):
                return False
        if (decided and decided < requested) or (out and decided and out < decided):
            return False
        if due and due < (out or requested):
            return False
        if back:
            if not out or back < out or not condition:
                return False
        elif condition and not out:  # back or lost on a day not recorded: it was handed over, though
            return False
        return not demanded or bool(out and demanded >= out and (not back or demanded <= back))

    def _check_order(self, row: _Row, raw: dict[str, Any]) -> None:
        """The rules between the columns of one row; each is checked only when its values could be read."""
        bad = row.bad
        if not bad and self._in_order(row):
            return

        def given(column: str) -> bool:
            return column not in bad and bool(getattr(row, column))

        def show(column: str) -> Any:
            return raw.get(column)

        # given(column) implies its value is set; the values beside it below are for the type checker
        requested, decided, out = row.requested_on, row.decided_on, row.checked_out_on
        due, back, demanded = row.due_on, row.returned_on, row.demanded_on

        if "decision" not in bad:
            if not row.decision:
                for column in ("decided_by", "decided_on", "checked_out_on"):
                    if given(column):
                        reason = N_("given, but the decision is blank (the request still waits)")
                        self.error(row, column, reason, show(column))
            else:
                if row.decision in (APPROVED, REJECTED) and not row.decided_by and "decided_by" not in bad:
                    self.error(row, "decided_by", N_("required when the request was approved or rejected"))
                if (
                    row.decision in (APPROVED, REJECTED)
                    and row.decided_by_id is not None
                    and row.decided_by_id == row.borrower_id
                ):
                    self.error(row, "decided_by", N_("nobody decides their own request"), show("decided_by"))
                if row.decision != APPROVED and given("checked_out_on"):
                    self.error(
                        row, "checked_out_on", N_("only an approved request is handed over"), show("checked_out_on")
                    )
                if row.decision == APPROVED and not row.due_on and "due_on" not in bad:
                    self.error(row, "due_on", N_("required for an approved loan"))
        if given("decided_on") and given("requested_on") and decided and requested and decided < requested:
            self.error(
                row,
                "decided_on",
                N_("before the request date (%(date)s)"),
                show("decided_on"),
                date=requested.isoformat(),
            )
        if given("checked_out_on") and given("decided_on") and out and decided and out < decided:
            self.error(
                row,
                "checked_out_on",
                N_("before the decision date (%(date)s)"),
                show("checked_out_on"),
                date=decided.isoformat(),
            )
        if given("due_on") and due:
            if given("checked_out_on") and out:
                if due < out:
                    self.error(
                        row,
                        "due_on",
                        N_("before the hand-over date (%(date)s)"),
                        show("due_on"),
                        date=out.isoformat(),
                    )
            elif given("requested_on") and requested and due < requested:
                self.error(
                    row,
                    "due_on",
                    N_("before the request date (%(date)s)"),
                    show("due_on"),
                    date=requested.isoformat(),
                )
        handed_over = given("checked_out_on")
        if given("returned_on") and back:
            if not handed_over or not out:
                if "checked_out_on" not in bad:
                    self.error(
                        row, "returned_on", N_("a return needs a hand-over date (checked_out_on)"), show("returned_on")
                    )
            elif back < out:
                self.error(
                    row,
                    "returned_on",
                    N_("before the hand-over date (%(date)s)"),
                    show("returned_on"),
                    date=out.isoformat(),
                )
            if not row.condition and "condition" not in bad:
                self.error(row, "condition", N_("required when the item came back or was lost: good, damaged or lost"))
        elif row.condition and "returned_on" not in bad and not handed_over and "checked_out_on" not in bad:
            # back or lost on a day the ledger does not give is accepted (below), but only after a hand-over
            self.error(row, "condition", N_("a return needs a hand-over date (checked_out_on)"), show("condition"))
        if given("demanded_on") and demanded:
            if not handed_over or not out:
                if "checked_out_on" not in bad:
                    self.error(
                        row, "demanded_on", N_("a demand needs a hand-over date (checked_out_on)"), show("demanded_on")
                    )
            elif demanded < out:
                self.error(
                    row,
                    "demanded_on",
                    N_("before the hand-over date (%(date)s)"),
                    show("demanded_on"),
                    date=out.isoformat(),
                )
            elif given("returned_on") and back and demanded > back:
                self.error(
                    row,
                    "demanded_on",
                    N_("after the item came back (%(date)s)"),
                    show("demanded_on"),
                    date=back.isoformat(),
                )


# The status an item leaves its asset in: still out, or back in this condition.
_TARGET = {None: ON_LOAN, GOOD: AVAILABLE, DAMAGED: IN_REPAIR, LOST: "lost"}


# --- holding periods -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Hold:
    start: int  # date ordinal, included
    end: int  # date ordinal, excluded; OPEN while the item is out
    last: date | None  # the day it ends, as the person knows it: returned_on or due_on
    ref: str
    row: _Row | None  # None: a loan already in the database


def _holds_of(loan: LedgerLoan) -> list[tuple[int, _Hold]]:
    """(asset id, holding) of each item of a file loan that holds its asset."""
    status = loan.first.status
    out = []
    for r in loan.rows:  # checked rows: what their loan's status needs is there
        if status == APPROVED:
            due = known(r.due_on, "due date")
            hold = _Hold(known(r.requested_on, "request date").toordinal(), due.toordinal() + 1, due, loan.ref, r)
        elif status == CHECKED_OUT:
            start = known(r.checked_out_on, "hand-over date").toordinal()
            if r.returned_on:
                hold = _Hold(start, r.returned_on.toordinal(), r.returned_on, loan.ref, r)
            elif r.condition:  # back on a day not recorded: held on the day of the hand-over, at least
                hold = _Hold(start, start + 1, r.checked_out_on, loan.ref, r)
            else:
                hold = _Hold(start, OPEN, None, loan.ref, r)
        else:
            continue
        out.append((known(r.asset_id, "asset"), hold))
    return out


def _database_holds(
    session: Session, asset_ids: list[int], events: dict[int, tuple[int, str]]
) -> dict[int, list[_Hold]]:
    """The holdings of loans already in the database (approved, handed over, returned) of these assets.

    Fills `events`: per asset, the day of the latest hand-over or return in the database and the status
    it left (for the rule on asset statuses, _update_asset_statuses).
    """
    holds: dict[int, list[_Hold]] = defaultdict(list)
    for start in range(0, len(asset_ids), IN_CHUNK):
        chunk = asset_ids[start : start + IN_CHUNK]
        rows = session.execute(
            select(
                LoanItem.asset_id,
                Loan.ref,
                Loan.status,
                Loan.start_on,
                Loan.due_on,
                Loan.checked_out_at,
                LoanItem.condition,
                LoanItem.returned_at,
            )
            .join(Loan, Loan.id == LoanItem.loan_id)
            .where(LoanItem.asset_id.in_(chunk))
        )
        # The status is filtered here, not in SQL: given `status IN (...)`, SQLite walks every returned
        # loan through the status index and probes each asset, which takes minutes with 100,000 loans.
        for asset_id, ref, status, start_on, due_on, checked_out_at, condition, returned_at in rows:
            if status not in (APPROVED, CHECKED_OUT, RETURNED):
                continue
            if status == APPROVED:
                hold = _Hold(start_on.toordinal(), due_on.toordinal() + 1, due_on, ref, None)
            else:
                begin = bangkok_date(checked_out_at) if checked_out_at else start_on
                back = bangkok_date(returned_at) if condition and returned_at else None
                if condition and back is None:  # back on a day not recorded (an import): see _holds_of
                    hold = _Hold(begin.toordinal(), begin.toordinal() + 1, begin, ref, None)
                    event = (hold.start, _TARGET[condition])
                else:
                    hold = _Hold(begin.toordinal(), back.toordinal() if back else OPEN, back, ref, None)
                    event = (max(hold.start, hold.end), _TARGET[condition] if back else ON_LOAN)
                if asset_id not in events or event[0] > events[asset_id][0]:
                    events[asset_id] = event
            holds[asset_id].append(hold)
    return holds


def _check_overlaps(
    checker: _Checker, file_holds: dict[int, list[_Hold]], db_holds: dict[int, list[_Hold]], numbers: dict[int, str]
) -> None:
    """Per asset, sweep its holdings in order of start: each one that starts before the furthest-reaching
    earlier one ends overlaps it. A clash between two database loans is not this file's to report."""
    for asset_id, mine in file_holds.items():
        holds = sorted(
            (h for h in (*mine, *db_holds.get(asset_id, ())) if h.end > h.start), key=lambda h: (h.start, h.end)
        )
        reach: _Hold | None = None
        for hold in holds:
            if reach is not None and hold.start < reach.end:
                if hold.row is not None:
                    _clash(checker, hold, reach, numbers[asset_id])
                elif reach.row is not None:
                    _clash(checker, reach, hold, numbers[asset_id])
            if reach is None or hold.end > reach.end:
                reach = hold


def _clash(checker: _Checker, hold: _Hold, other: _Hold, number: str) -> None:
    row = known(hold.row, "row")  # the caller passes a file row's holding first
    if "asset_number" in row.bad:
        return
    start = date.fromordinal(other.start).isoformat()
    if other.end == OPEN:
        end_params: dict[str, Any] = {}
        if other.row is not None:
            reason = N_(
                "%(number)s is lent twice at once: row %(row)d (ref %(ref)s) has it from %(start)s "
                "and it has not come back"
            )
        else:
            reason = N_("%(number)s is lent twice at once: loan %(ref)s has it from %(start)s and it has not come back")
    else:
        end_params = {"end": known(other.last, "last day").isoformat()}  # a closed holding has one
        if other.row is not None:
            reason = N_("%(number)s is lent twice at once: row %(row)d (ref %(ref)s) has it from %(start)s to %(end)s")
        else:
            reason = N_("%(number)s is lent twice at once: loan %(ref)s has it from %(start)s to %(end)s")
    params: dict[str, Any] = {"number": number, "ref": other.ref, "start": start, **end_params}
    if other.row is not None:
        params["row"] = other.row.row
        params["ref"] = other.ref[len(REF_PREFIX) :]
    checker.error(row, "asset_number", reason, row.asset_number, **params)
