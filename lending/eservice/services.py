"""The public e-service's actions: send a request, open one by reference and phone, and the plain values the
printable form is drawn from. Each guards itself with the rate limits (lending.eservice.limits) and then
calls the outside-lending services (lending.outside.services), which check the rules, record the audit
entries and commit; nothing here re-implements the model or availability."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from core.dates import bangkok_date
from core.db import N_, DomainError, NotFound, Session, known, utcnow
from lending.eservice import limits
from lending.eservice.documents import RequestSheet, SheetLine, unit_of
from lending.loans.models import Loan
from lending.outside import services as outside
from lending.outside.models import ESERVICE, phone_key
from lending.outside.services import PartyDetails


class HoneypotFilled(DomainError):
    """The hidden field was filled in: a robot. Told nothing more than that the form was not taken."""


def normal_ref(raw: str) -> str:
    """A reference as typed (`k7q4m9xrt`, ` K-7Q4M9XRT `) in the form the office gives it (`K-7Q4M9XRT`)."""
    text = "".join((raw or "").split()).upper()
    if len(text) > 2 and text[1] != "-":
        text = f"{text[0]}-{text[1:]}"
    return text[:20]


def _secret(config: dict[str, Any]) -> str:
    return str(config.get("SECRET_KEY") or "")


def submit_request(
    session: Session,
    party: PartyDetails,
    lines: list[tuple[int, int]],
    *,
    start_on: date,
    due_on: date,
    purpose: str,
    place: str,
    address: str,
    honeypot: str = "",
    config: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Loan:
    """A request from the public form, under the limits per address and per phone number.

    A filled honeypot counts against the address and is refused; otherwise the limits are checked first
    and counted once the request is stored (a request refused for its dates or counts is not counted)."""
    config = config or {}
    now = now or utcnow()
    secret = _secret(config)
    by_address = (limits.rule(limits.REQUEST_IP, config), address)
    if honeypot.strip():
        limits.count(session, [by_address], secret, now)
        raise HoneypotFilled(N_("The request could not be sent. Reload the page and try again, or call the office."))
    pairs = [by_address, (limits.rule(limits.REQUEST_PHONE, config), phone_key(party.phone))]
    limits.check(session, pairs, secret, now)
    loan = outside.request_outside(
        session,
        None,
        party,
        lines,
        start_on=start_on,
        due_on=due_on,
        purpose=purpose,
        place=place,
        channel=ESERVICE,
        now=now,
    )
    limits.count(session, pairs, secret, now)
    return loan


NO_MATCH = N_("No request matches this reference and phone number. Check both and try again.")


def open_request(
    session: Session,
    ref: str,
    phone: str,
    *,
    address: str,
    config: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Loan:
    """The request of this reference whose borrower gave this phone; NotFound with one message whether the
    reference exists or not. Failed look-ups count per address, per reference and per phone number."""
    config = config or {}
    now = now or utcnow()
    secret = _secret(config)
    ref = normal_ref(ref)
    pairs = [
        (limits.rule(limits.TRACK_IP, config), address),
        (limits.rule(limits.TRACK_REF, config), ref),
        (limits.rule(limits.TRACK_PHONE, config), phone_key(phone)),
    ]
    limits.check(session, pairs, secret, now)
    loan = outside.find_request(session, ref, phone)
    if loan is None:
        limits.count(session, pairs, secret, now)
        raise NotFound(NO_MATCH)
    return loan


def status_of(session: Session, loan: Loan, now: datetime | None = None) -> outside.RequestStatus:
    return outside.request_status(session, loan, bangkok_date(now or utcnow()))


def request_sheet(loan: Loan, track_url: str) -> RequestSheet:
    """What the printable form shows of one request (its borrower's own details only)."""
    party = known(loan.party, "party")
    return RequestSheet(
        ref=loan.public_ref or loan.ref,
        submitted_on=bangkok_date(loan.requested_at),
        kind=party.kind,
        name=party.name,
        contact_person=party.contact_person,
        letter_no=party.letter_no,
        phone=party.phone,
        email=party.email,
        address_lines=tuple(party.postal_lines()),
        purpose=loan.purpose,
        place=loan.place,
        start_on=loan.start_on,
        end_on=loan.due_on,
        lines=tuple(SheetLine(ln.group.name, ln.count, unit_of(ln.group.category)) for ln in loan.lines),
        track_url=track_url,
    )
