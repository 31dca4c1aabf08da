"""Damage and loss cases and demands: settling a case, its documents, the demand letter, and the daily
overdue run (demands by mail, notifications, the digests). Each service loads, checks who may act
(lending.loans.permissions), records its audit entry and commits in one unit of work (core.db.write)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text

from audit import record
from core.dates import bangkok_date, format_date
from core.db import N_, Conflict, NotFound, Session, known, utcnow, write
from core.files import PHOTO_TYPES, FileStore, store_upload
from core.models import User
from core.people.services import get_settings
from lending.loans.models import CHECKED_OUT, Demand, Incident, IncidentDocument, Loan
from lending.loans.permissions import can_demand, can_manage_incidents, can_settle, can_write_off
from lending.loans.services import _deny, _load_loan, _notify, _refuse_stale, _users_with_role
from lending.register.models import AVAILABLE, IN_REPAIR

DOCUMENT_TYPES = PHOTO_TYPES | {"application/pdf"}  # what a case's document may be: a photo or a PDF


@_refuse_stale
def settle_incident(
    session: Session,
    actor: User,
    incident_id: int,
    resolution: str,
    *,
    amount: Decimal | None = None,
    note: str = "",
    version: int | None = None,
    now: datetime | None = None,
) -> Incident:
    """End a damage or loss case: repaired at the borrower's cost, replaced in kind, paid, or written off."""
    now = now or utcnow()
    with write(session):
        incident = session.get(Incident, incident_id, with_for_update={"of": Incident}, populate_existing=True)
        if incident is None:
            raise NotFound(N_("No such case."))
        if version is not None and incident.version != version:
            raise Conflict(N_("Someone else changed this case after you opened the page. Reload it and try again."))
        if not can_settle(actor, incident):
            if incident.status != "open":
                raise Conflict(N_("This case is already settled."))
            _deny()
        incident.settle(actor, now, resolution, amount, (note or "")[:2000], is_head=can_write_off(actor))
        if resolution == "repaired" and incident.asset.status == IN_REPAIR:
            incident.asset.status = AVAILABLE
        record(
            session,
            actor,
            "incident.settled",
            incident,
            {"resolution": resolution, "amount": amount, "note": incident.resolution_note},
        )
        session.commit()
    return incident


@_refuse_stale
def attach_incident_document(
    session: Session,
    actor: User,
    incident_id: int,
    data: bytes,
    filename: str,
    title: str,
    store: FileStore,
    max_bytes: int,
) -> IncidentDocument:
    """Attach a document (receipt of repair, payment slip, committee report) to a case.

    The same file attached to the same case again (a double submit, two officers at once) is the document
    already there: no second copy, no second entry. The case's row is locked while it is decided."""
    if not can_manage_incidents(actor):
        _deny()
    with write(session):
        session.execute(select(Incident.id).where(Incident.id == incident_id).with_for_update())  # see above
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(N_("No such case."))
        stored = store_upload(
            session, store, data, filename, allowed=DOCUMENT_TYPES, max_bytes=max_bytes, uploaded_by_id=actor.id
        )
        existing = (
            session.execute(
                select(IncidentDocument).where(
                    IncidentDocument.incident_id == incident.id, IncidentDocument.sha256 == stored.sha256
                )
            )
            .scalars()
            .first()
        )
        if existing is not None:
            return existing  # nothing new: the file and its row are already there (rolled back on the way out)
        doc = IncidentDocument(
            incident_id=incident.id,
            sha256=stored.sha256,
            title=(title or stored.original_name)[:255],
            added_by_id=actor.id,
        )
        session.add(doc)
        session.flush()
        record(
            session,
            actor,
            "incident.document_added",
            incident,
            {"sha256": stored.sha256, "title": doc.title, "name": stored.original_name},
        )
        session.commit()
    return doc


@_refuse_stale
def issue_demand_letter(
    session: Session, actor: User, loan_id: int, now: datetime | None = None, version: int | None = None
) -> Demand:
    """A printable written demand for the loan's overdue items, recorded as a demand."""
    now = now or utcnow()
    today = bangkok_date(now)
    with write(session):
        loan = _load_loan(session, loan_id, version)
        if not can_demand(actor, loan, today):
            if not loan.is_overdue(today):
                raise Conflict(N_("Nothing of this loan is overdue."))
            _deny()
        # Issuing adds a demand but does not change the loan, so its version cannot catch a second click.
        if session.execute(
            select(Demand.id).where(Demand.loan_id == loan.id, Demand.channel == "letter", Demand.demanded_on == today)
        ).first():
            raise Conflict(N_("A demand letter for this loan was already issued today; print that one."))
        demand = Demand(
            loan_id=loan.id,
            demanded_on=today,
            demanded_at=now,
            channel="letter",
            issued_by_id=actor.id,
            item_ids=[i.id for i in loan.open_items],
        )
        session.add(demand)
        session.flush()
        record(
            session, actor, "demand.issued", demand, {"loan": loan.id, "channel": "letter", "items": demand.item_ids}
        )
        session.commit()
    return demand


# --- the daily run ---------------------------------------------------------------------------------


@dataclass
class RemindResult:
    demands: int = 0
    borrower_mails: int = 0
    officer_mails: int = 0
    due_tomorrow: int = 0
    overdue_loans: int = 0
    mails: list = None  # type: ignore[assignment]


DEMAND_INTERVAL_DAYS = 7
REMIND_LOCK_KEY = 0x6B70_0001  # the PostgreSQL advisory lock that keeps daily runs one at a time


@_refuse_stale
def remind(session: Session, now: datetime | None = None, link: Callable[[int], str] | None = None) -> RemindResult:
    """Find items past due, record a demand per loan (at most one a week), notify, and prepare digests.

    Safe to run more than once a day: a loan demanded today (or within the week) gets no new demand, and
    mails are prepared only for new demands. Returns the mails for the caller to send after commit;
    `link(loan_id)` gives the loan's page (from BASE_URL) for each line of a digest.
    """
    from core.mail import Mail

    now = now or utcnow()
    today = bangkok_date(now)
    with write(session):
        if session.get_bind().dialect.name == "postgresql":
            # Two runs at once (cron overlapping a manual run) queue here; the second then sees the first's
            # demands and notifications instead of recording a second demand for the same loans.
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REMIND_LOCK_KEY})
        result = RemindResult(mails=[])
        overdue = list(
            session.execute(
                select(Loan).where(Loan.status == CHECKED_OUT, Loan.due_on < today).order_by(Loan.due_on, Loan.id)
            ).scalars()
        )
        overdue = [loan for loan in overdue if loan.open_items]
        result.overdue_loans = len(overdue)
        # An outside borrower has no account or mail box of the office: the officer sends a demand letter to
        # their address (issue_demand_letter); the officers' digest lists them.
        by_letter = [loan for loan in overdue if loan.borrower_id is None]
        overdue = [loan for loan in overdue if loan.borrower_id is not None]
        # A demand covers the items it names: a loan is demanded again unless every item still out was named by
        # a demand of the last week (after its due date) — so an item that a paper-ledger demand left out of
        # its loan's demand still gets its own.
        covered: dict[int, set[int]] = defaultdict(set)
        if overdue:
            due = {lo.id: lo.due_on for lo in overdue}
            for loan_id, on, item_ids in session.execute(
                select(Demand.loan_id, Demand.demanded_on, Demand.item_ids).where(
                    Demand.loan_id.in_(list(due)), Demand.demanded_on > today - timedelta(days=DEMAND_INTERVAL_DAYS)
                )
            ):
                if on > due[loan_id]:
                    covered[loan_id].update(item_ids or ())
        per_borrower: dict[int, list[Loan]] = defaultdict(list)
        for loan in overdue:
            if all(i.id in covered[loan.id] for i in loan.open_items):
                continue
            demand = Demand(
                loan_id=loan.id,
                demanded_on=today,
                demanded_at=now,
                channel="mail",
                item_ids=[i.id for i in loan.open_items],
            )
            session.add(demand)
            session.flush()
            record(
                session, None, "demand.issued", demand, {"loan": loan.id, "channel": "mail", "items": demand.item_ids}
            )
            _notify(session, {loan.borrower_id}, "overdue", loan.id, today)
            per_borrower[known(loan.borrower_id, "borrower")].append(loan)  # outside loans were left out above
            result.demands += 1
        tomorrow = today + timedelta(days=1)
        due_soon = session.execute(
            select(Loan.id, Loan.borrower_id).where(Loan.status == CHECKED_OUT, Loan.due_on == tomorrow)
        ).all()
        for loan_id, borrower_id in due_soon:
            _notify(session, {borrower_id}, "due_tomorrow", loan_id, today)
        result.due_tomorrow = len(due_soon)
        settings = get_settings(session)
        agency = settings.get("agency_name", "")
        for borrower_id, loans in per_borrower.items():
            borrower = known(session.get(User, borrower_id), "borrower")
            lines = [_digest_line(loan, today, link) for loan in loans]
            result.mails.append(
                Mail(
                    to=borrower.email,
                    to_name=borrower.name,
                    subject=f"[{agency}] แจ้งทวงถามการคืนพัสดุที่เกินกำหนด / Overdue items to return",
                    body=_borrower_body(borrower, lines, agency),
                )
            )
        if by_letter:  # listed until a letter of the last week covers them
            lettered = set(
                session.execute(
                    select(Demand.loan_id).where(
                        Demand.loan_id.in_([lo.id for lo in by_letter]),
                        Demand.channel == "letter",
                        Demand.demanded_on > today - timedelta(days=DEMAND_INTERVAL_DAYS),
                    )
                ).scalars()
            )
            by_letter = [lo for lo in by_letter if lo.id not in lettered]
        if per_borrower or by_letter:
            all_lines = [
                f"{loan.borrower_name}: " + _digest_line(loan, today, link)
                for loans in per_borrower.values()
                for loan in loans
            ]
            count = len(all_lines)
            if by_letter:
                count = len(all_lines) + len(by_letter)
                all_lines += [
                    "",
                    "ผู้ยืมภายนอก: ออกหนังสือทวงถามส่งไปยังที่อยู่ (Outside borrowers: issue a demand letter to their address):",
                    *[f"{loan.borrower_name}: " + _digest_line(loan, today, link) for loan in by_letter],
                ]
            for officer in _users_with_role(session, "supply_officer"):
                result.mails.append(
                    Mail(
                        to=officer.email,
                        to_name=officer.name,
                        subject=f"[{agency}] สรุปพัสดุค้างคืน {count} รายการยืม / Overdue summary",
                        body="\n".join(
                            ["รายการยืมที่เกินกำหนดคืนและได้ทวงถามวันนี้ (Overdue loans demanded today):", "", *all_lines]
                        ),
                    )
                )
        result.borrower_mails = len(per_borrower)
        result.officer_mails = len(result.mails) - result.borrower_mails
        session.commit()
    return result


def _digest_line(loan: Loan, today: date, link: Callable[[int], str] | None = None) -> str:
    """One loan in a digest: its items, the due date in B.E. (Thai, then English), the days overdue, and a
    link to the loan's page."""
    items = ", ".join(f"{i.asset.asset_number} {i.asset.name}" for i in loan.open_items)
    days = (today - loan.due_on).days
    line = (
        f"{loan.ref} — {items} — กำหนดคืน {format_date(loan.due_on, 'th')} / due "
        f"{format_date(loan.due_on, 'en')} (เกิน {days} วัน / {days} days overdue)"
    )
    return f"{line}\n    {link(loan.id)}" if link is not None else line


def _borrower_body(borrower: User, lines: list[str], agency: str) -> str:
    return "\n".join(
        [
            f"เรียน {borrower.name}",
            "",
            "พัสดุที่ท่านยืมต่อไปนี้เกินกำหนดส่งคืนแล้ว ขอให้นำส่งคืนเจ้าหน้าที่พัสดุโดยเร็ว "
            "ตามระเบียบกระทรวงการคลังว่าด้วยการจัดซื้อจัดจ้างและการบริหารพัสดุภาครัฐ พ.ศ. 2560",
            "",
            *lines,
            "",
            agency,
            "",
            "The items above are past their return date. Please return them to the supply officer.",
        ]
    )
