"""The services of outside lending: a request from an outsider (e-service, counter, another agency's
letter), its tracking by reference and phone, the borrower's own cancellation, the survey, the rules in the
settings, and the anonymisation of contact details after the retention period.

Audit entries name the party by its random reference only (OutsideParty.audit_ref); its name, phone,
address and ID number stay in outside_parties, outside the hashed data, so anonymising rewrites that row
and `audit verify` still passes.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, not_, select

from audit import record
from core.dates import bangkok_date, fiscal_year_of
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, known, utcnow, write
from core.models import User
from core.people.services import get_settings, update_settings
from lending.groups import queries as group_queries
from lending.groups.models import LendingGroup, LoanLine
from lending.loans.models import APPROVED, CANCELLED, REJECTED, REQUESTED, RETURNED, Incident, Loan, LoanItem
from lending.outside import events, permissions
from lending.outside.models import (
    ESERVICE,
    KINDS,
    LIMITS,
    OUTSIDE_CHANNELS,
    PERSON,
    LoanSurvey,
    OutsideParty,
    check_phone,
    clean_text,
    mask_national_id,
    new_ref,
    phone_key,
)
from lending.outside.rules import DEFAULT_RULES, MAX_RULE_DAYS, all_rules, retention_years, rules_for

MAX_LINES = 20
MAX_PURPOSE = 2000
MAX_PLACE = 300
MAX_COMMENT = 2000
MAX_DAYS_AHEAD = 365  # a request for a day more than a year away is refused


@dataclass(frozen=True)
class PartyDetails:
    """Who borrows, as typed in a form. `national_id` is the full number as typed: it is checked and only
    its masked form is kept (never stored, logged or shown in full)."""

    kind: str  # person | group | agency
    name: str
    phone: str
    contact_person: str = ""
    email: str = ""
    address: str = ""
    village_no: str = ""
    village: str = ""
    subdistrict: str = ""
    district: str = ""
    province: str = ""
    letter_no: str = ""
    national_id: str = ""


def _deny() -> None:
    raise Forbidden(N_("You may not do this."))


def _clean_party(details: PartyDetails) -> dict[str, Any]:
    if details.kind not in KINDS:
        raise DomainError(N_("Choose who borrows: a person, a community group or an agency."))
    values = {name: clean_text(getattr(details, name), limit) for name, limit in LIMITS.items()}
    if not values["name"]:
        raise DomainError(N_("Give the borrower's name."))
    if details.kind != PERSON and not values["contact_person"]:
        raise DomainError(N_("Give the name of the contact person."))
    values["phone_key"] = check_phone(values["phone"])
    if values["email"] and ("@" not in values["email"] or " " in values["email"]):
        raise DomainError(N_("The e-mail address is not valid."))
    if not values["address"] and not values["village_no"] and not values["village"]:
        raise DomainError(N_("Give an address (house number, หมู่ที่ or village) for letters."))
    values["national_id_masked"] = mask_national_id(details.national_id) if details.kind == PERSON else ""
    values["kind"] = details.kind
    return values


def _clean_lines(lines: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: dict[int, int] = {}
    for group_id, count in lines:
        try:
            gid, n = int(group_id), int(count)
        except (TypeError, ValueError):
            raise DomainError(N_("Ask for at least one item of each kind.")) from None
        if n == 0:
            continue
        merged[gid] = merged.get(gid, 0) + LoanLine.check_count(n)
    if not merged:
        raise DomainError(N_("Choose at least one item."))
    if len(merged) > MAX_LINES:
        raise DomainError(N_("At most %(n)d kinds of items in one request."), n=MAX_LINES)
    for n in merged.values():
        LoanLine.check_count(n)
    return sorted(merged.items())


def request_outside(
    session: Session,
    actor: User | None,
    party: PartyDetails,
    lines: list[tuple[int, int]],
    *,
    start_on: date,
    due_on: date,
    purpose: str,
    place: str,
    channel: str = ESERVICE,
    now: datetime | None = None,
) -> Loan:
    """A request by an outsider for counts from lending groups offered to the public.

    `actor` is None for the public e-service (channel `eservice`); an officer enters `counter` and `agency`
    requests. The rules of the borrower's kind apply (categories, longest loan, the head's approval). A
    request for more than is free on any of its days is refused now; the approval checks again under lock.
    Returns the loan (status requested) with `public_ref` for tracking.
    """
    now = now or utcnow()
    today = bangkok_date(now)
    if channel not in OUTSIDE_CHANNELS:
        raise DomainError(N_("Unknown channel."))
    if (actor is None) != (channel == ESERVICE):
        _deny()
    if actor is not None and not permissions.can_enter_outside_request(actor):
        _deny()
    values = _clean_party(party)
    wanted = _clean_lines(lines)
    purpose, place = clean_text(purpose, MAX_PURPOSE), clean_text(place, MAX_PLACE)
    if not purpose:
        raise DomainError(N_("State the purpose of the loan."))
    if not place:
        raise DomainError(N_("State where the items will be used."))
    if start_on < today:
        raise DomainError(N_("The loan cannot start in the past."))
    if (start_on - today).days > MAX_DAYS_AHEAD:
        raise DomainError(N_("Requests are taken at most a year ahead."))
    if due_on < start_on:
        raise DomainError(N_("The return date is before the start date."))
    settings = get_settings(session)
    rule = rules_for(settings, values["kind"])
    if (due_on - start_on).days + 1 > rule.max_days:
        raise DomainError(N_("A loan to this kind of borrower lasts at most %(days)d days."), days=rule.max_days)
    with write(session):
        found = {
            g.id: g
            for g in session.execute(select(LendingGroup).where(LendingGroup.id.in_([g for g, _ in wanted]))).scalars()
        }
        for group_id, _n in wanted:
            group = found.get(group_id)
            if group is None or not group.active or not group.public:
                raise NotFound(N_("One of the chosen items is not offered."))
            if not rule.allows_category(group.category):
                raise DomainError(N_("%(group)s is not lent to this kind of borrower."), group=group.name)
        free = group_queries.availability(session, [g for g, _ in wanted], start_on, due_on, today)
        for group_id, n in wanted:
            least = min(free[group_id].values())
            if least < n:
                raise Conflict(
                    N_("Only %(free)d of %(group)s are free on those days; ask for fewer or other days."),
                    free=least,
                    group=found[group_id].name,
                )
        row = OutsideParty(ref=new_ref("P"), created_at=now, **values)
        session.add(row)
        session.flush()
        record(session, actor, "outside_party.created", row, row.audit_ref())
        loan = Loan(
            ref=f"pending-{uuid.uuid4().hex}",
            borrower_id=None,
            party_id=row.id,
            channel=channel,
            public_ref=new_ref("K"),
            purpose=purpose,
            place=place,
            off_premises=True,
            start_on=start_on,
            due_on=due_on,
            status=REQUESTED,
            requested_at=now,
            needs_head=rule.head_approval,
        )
        loan.party = row
        loan.lines = [LoanLine(group_id=g, count=n) for g, n in wanted]
        session.add(loan)
        session.flush()
        loan.ref = f"{fiscal_year_of(today)}/{loan.id:05d}"
        record(session, actor, "loan.requested", loan, {"after": loan.state()})
        from lending.loans.services import _notify, _users_with_role

        _notify(session, {u.id for u in _users_with_role(session, "supply_officer")}, "request_waiting", loan.id, today)
        session.commit()
    return loan


# --- tracking by reference and phone ------------------------------------------------------------------


def find_request(session: Session, public_ref: str, phone: str) -> Loan | None:
    """The outside request with this reference whose borrower's phone matches; None otherwise — the same
    None whether the reference does not exist or the phone is wrong, so neither can be probed."""
    ref = (public_ref or "").strip().upper()
    key = phone_key(phone)
    if not ref or len(ref) > 20 or not key:
        return None
    loan = session.execute(select(Loan).where(Loan.public_ref == ref)).scalars().first()
    stored = loan.party.phone_key if loan is not None and loan.party is not None else "0000000000"
    if not hmac.compare_digest(stored.encode(), key.encode()) or loan is None:
        return None
    return loan


@dataclass(frozen=True)
class LineStatus:
    group_id: int
    group_name: str
    count: int
    handed: int | None  # None until the hand-over
    returned_good: int
    damaged: int
    lost: int


@dataclass(frozen=True)
class RequestStatus:
    """What the tracking page may show the borrower: their own request, nothing about anyone else's."""

    public_ref: str
    ref: str
    status: str  # requested | approved | checked_out | returned | rejected | cancelled
    waiting_for_head: bool
    overdue: bool
    channel: str
    party_kind: str
    party_name: str
    start_on: date
    due_on: date
    purpose: str
    place: str
    requested_at: datetime
    decided_at: datetime | None
    decision_note: str  # the reason of a rejection or a cancellation
    checked_out_at: datetime | None
    returned_at: datetime | None
    lines: list[LineStatus] = field(default_factory=list)
    cancelled_by_office: bool = False
    can_cancel: bool = False
    can_answer_survey: bool = False
    survey_score: int | None = None
    deposit_amount: Decimal | None = None  # the deposit left at the hand-over, its receipt, and how it ended
    deposit_receipt: str = ""
    deposit_returned: Decimal | None = None
    deposit_kept: Decimal | None = None


def request_status(session: Session, loan: Loan, today: date) -> RequestStatus:
    """The borrower's view of one outside request (after find_request has matched reference and phone)."""
    counts: dict[int, dict[str, int]] = {ln.id: {"good": 0, "damaged": 0, "lost": 0} for ln in loan.lines}
    for item in loan.items:
        if item.line_id in counts and item.condition:
            counts[item.line_id][item.condition] += 1
    survey = session.execute(select(LoanSurvey.score).where(LoanSurvey.loan_id == loan.id)).scalar()
    return RequestStatus(
        public_ref=loan.public_ref or "",
        ref=loan.ref,
        status=loan.status,
        waiting_for_head=loan.waiting_for_head,
        overdue=loan.is_overdue(today),
        channel=loan.channel,
        party_kind=loan.party.kind if loan.party else "",
        party_name=loan.party.name if loan.party else "",
        start_on=loan.start_on,
        due_on=loan.due_on,
        purpose=loan.purpose,
        place=loan.place,
        requested_at=loan.requested_at,
        decided_at=loan.decided_at,
        decision_note=loan.decision_note if loan.status in (REJECTED, CANCELLED) else "",
        cancelled_by_office=loan.status == CANCELLED and loan.cancelled_by_id is not None,
        checked_out_at=loan.checked_out_at,
        returned_at=loan.returned_at,
        lines=[
            LineStatus(
                group_id=ln.group_id,
                group_name=ln.group.name,
                count=ln.count,
                handed=ln.handed_count,
                returned_good=counts[ln.id]["good"],
                damaged=counts[ln.id]["damaged"],
                lost=counts[ln.id]["lost"],
            )
            for ln in loan.lines
        ],
        can_cancel=loan.status in (REQUESTED, APPROVED),
        can_answer_survey=loan.status == RETURNED and survey is None,
        survey_score=survey,
        deposit_amount=loan.deposit.amount if loan.deposit else None,
        deposit_receipt=loan.deposit.receipt_no if loan.deposit else "",
        deposit_returned=loan.deposit.returned_amount if loan.deposit else None,
        deposit_kept=loan.deposit.kept_amount if loan.deposit else None,
    )


def cancel_outside_request(
    session: Session, public_ref: str, phone: str, reason: str = "", now: datetime | None = None
) -> Loan:
    """The outside borrower withdraws their request (until hand-over), proving it with reference + phone."""
    now = now or utcnow()
    with write(session):
        loan = find_request(session, public_ref, phone)
        if loan is None:
            raise NotFound(N_("No request matches this reference and phone number."))
        loan = known(session.get(Loan, loan.id, with_for_update={"of": Loan}, populate_existing=True), "loan")
        before = loan.state()
        loan.cancel(now, clean_text(reason, MAX_COMMENT))
        from audit.services import diff
        from lending.loans.services import _clear_waiting

        record(session, None, "loan.cancelled", loan, {**diff(before, loan.state()), "by": "outside_borrower"})
        _clear_waiting(session, loan.id, now)  # the officers' "waiting for you" asks nothing of them any more
        session.commit()
    events.emit(session, loan, "cancelled")
    return loan


def cancel_by_office(
    session: Session, actor: User, loan_id: int, reason: str, *, version: int | None = None, now: datetime | None = None
) -> Loan:
    """The officer or the head cancels an outside request before the hand-over, with the reason the borrower
    reads on the tracking page and in the status mail; the count it reserved is free again."""
    now = now or utcnow()
    reason = clean_text(reason, MAX_COMMENT)
    with write(session):
        loan = session.get(Loan, loan_id, with_for_update={"of": Loan}, populate_existing=True)
        if loan is None:
            raise NotFound(N_("No such loan."))
        if version is not None and loan.version != version:
            raise Conflict(N_("Someone else changed this loan after you opened it. Reload and try again."))
        if not permissions.can_cancel_outside(actor, loan):
            if actor is not None and loan.party_id is not None and loan.status not in (REQUESTED, APPROVED):
                raise Conflict(N_("Only a request not yet handed over can be cancelled."))
            _deny()
        before = loan.state()
        loan.cancel_by_office(actor, now, reason)
        from audit.services import diff
        from lending.loans.services import _clear_waiting

        record(session, actor, "loan.cancelled", loan, {**diff(before, loan.state()), "by": "office"})
        _clear_waiting(session, loan.id, now)
        session.commit()
    events.emit(session, loan, "cancelled")
    return loan


def record_survey(
    session: Session, public_ref: str, phone: str, score: int, comment: str = "", now: datetime | None = None
) -> LoanSurvey:
    """The borrower's answer to the two questions after the return: a score of 1 to 5 and a comment.

    One answer per request. The audit entry holds the score, not the comment (free text may name people)."""
    now = now or utcnow()
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise DomainError(N_("Choose a score from 1 to 5."))
    comment = clean_text(comment, MAX_COMMENT)
    with write(session):
        loan = find_request(session, public_ref, phone)
        if loan is None:
            raise NotFound(N_("No request matches this reference and phone number."))
        if loan.status != RETURNED:
            raise Conflict(N_("The survey opens once everything has been returned."))
        if session.execute(select(LoanSurvey.id).where(LoanSurvey.loan_id == loan.id)).first():
            raise Conflict(N_("Thank you: this request's survey was already answered."))
        answer = LoanSurvey(loan_id=loan.id, score=score, comment=comment, answered_at=now)
        session.add(answer)
        session.flush()
        record(session, None, "loan.survey_answered", answer, {"loan": loan.id, "score": score})
        session.commit()
    return answer


# --- the rules in the settings -----------------------------------------------------------------------


def save_rules(session: Session, actor: User, rules: dict[str, dict[str, Any]], retention: int) -> dict[str, Any]:
    """Save the lending rules per kind of outside borrower and the retention of their contact details."""
    if not permissions.can_set_rules(actor):
        _deny()
    clean: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        raw = {**DEFAULT_RULES[kind], **(rules.get(kind) or {})}
        try:
            days = int(raw["max_days"])
        except (TypeError, ValueError):
            raise DomainError(N_("The longest loan is a number of days.")) from None
        if not 1 <= days <= MAX_RULE_DAYS:
            raise DomainError(N_("The longest loan is 1 to %(n)d days."), n=MAX_RULE_DAYS)
        categories = sorted({clean_text(c, 100) for c in raw.get("categories") or () if str(c).strip()})
        clean[kind] = {
            "categories": categories,
            "max_days": days,
            "head_approval": bool(raw["head_approval"]),
            "deposit": bool(raw["deposit"]),
            "deposit_note": clean_text(raw.get("deposit_note"), 300),
        }
    if not isinstance(retention, int) or not 0 <= retention <= 50:
        raise DomainError(N_("Keep the details 0 to 50 years (0: the record's retention period)."))
    return update_settings(session, actor, {"outside_lending_rules": clean, "outside_data_retention_years": retention})


def current_rules(session: Session) -> dict[str, Any]:
    settings = get_settings(session)
    return {
        "rules": all_rules(settings),
        "retention_years": retention_years(settings),
        "retention_setting": int(settings.get("outside_data_retention_years") or 0),
    }


# --- PDPA: anonymise after the retention period --------------------------------------------------------

_ENDED = (RETURNED, REJECTED, CANCELLED)


def _loan_ended_on():
    """The day a loan's record closes: returned, decided (rejected) or cancelled — whichever it has."""
    return func.coalesce(Loan.returned_at, Loan.cancelled_at, Loan.decided_at, Loan.requested_at)


def expired_parties(session: Session, now: datetime, years: int | None = None) -> list[OutsideParty]:
    """Parties whose every loan ended more than the retention period ago, with no open case against them.

    A party with a loan still open (requested, approved, out) or an incident not yet settled keeps its
    details: the office still needs to reach them."""
    if years is None:
        years = retention_years(get_settings(session))
    cutoff = now - timedelta(days=round(365.25 * years))
    open_loan = exists().where(Loan.party_id == OutsideParty.id, Loan.status.not_in(_ENDED))
    recent = exists().where(Loan.party_id == OutsideParty.id, _loan_ended_on() > cutoff)
    open_case = exists().where(
        Loan.party_id == OutsideParty.id,
        LoanItem.loan_id == Loan.id,
        Incident.loan_item_id == LoanItem.id,
        Incident.status == "open",
    )
    stmt = (
        select(OutsideParty)
        .where(
            OutsideParty.anonymised_at.is_(None),
            OutsideParty.created_at <= cutoff,
            not_(open_loan),
            not_(recent),
            not_(open_case),
        )
        .order_by(OutsideParty.id)
    )
    return list(session.execute(stmt).scalars())


def anonymise_expired(
    session: Session, actor: User | None, now: datetime | None = None, years: int | None = None, dry_run: bool = False
) -> list[str]:
    """Anonymise the contact details of every outside borrower past the retention period.

    Rewrites only outside_parties rows (the loans, their items and every audit entry stay as they were, so
    the chain still verifies); one entry `outside_party.anonymised` per party names its reference. `actor`
    None is the system (the CLI). Returns the references of the parties anonymised (or due, with dry_run).
    """
    if actor is not None and not permissions.can_anonymise(actor):
        _deny()
    now = now or utcnow()
    with write(session):
        due = expired_parties(session, now, years)
        if dry_run or not due:
            return [p.ref for p in due]
        kept = years if years is not None else retention_years(get_settings(session))
        for party in due:
            party.anonymise(now)
            record(session, actor, "outside_party.anonymised", party, {**party.audit_ref(), "retention_years": kept})
        session.commit()
    return [p.ref for p in due]
