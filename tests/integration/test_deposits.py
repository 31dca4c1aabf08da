"""The deposit of an outside borrower: asked by the lending rules of the borrower's kind, recorded at the
hand-over (which cannot go ahead without it), settled after the return — handed back, or in part kept
toward a damage case — and shown on the receipt, the loan page and the tracking page."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.dates import bangkok_today, to_thai_digits
from core.db import Conflict, DomainError, NotFound, db
from core.models import User
from core.people.services import get_settings
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.documents import receipt as documents
from lending.loans.models import APPROVED, CHECKED_OUT, RETURNED, Incident, Loan
from lending.outside import deposits
from lending.outside import services as outside
from lending.outside.models import LoanDeposit
from tests.conftest import sign_in
from tests.groups import make_group

NOW = datetime(2032, 5, 3, 3, 0, tzinfo=UTC)
SAT = date(2032, 5, 8)
HANDED_AT = datetime(2032, 5, 7, 2, 0, tzinfo=UTC)
BACK_AT = datetime(2032, 5, 9, 5, 0, tzinfo=UTC)
PHONE = "042-111-222"


def agency(**fields) -> outside.PartyDetails:
    values = {
        "kind": "agency",
        "name": "โรงเรียนบ้านหนองบัว",
        "contact_person": "นายครู ใจดี",
        "phone": PHONE,
        "letter_no": "ศธ 04001/123",
        "address": "หมู่ 2",
        **fields,
    }
    return outside.PartyDetails(**values)


@pytest.fixture
def head(make_user):
    return make_user(roles=["head"])


def _agency_rule(app, admin, asked: bool):
    """The agencies' rule asks a deposit (or not) for the test; the rules are put back after (the database
    is shared by the whole run)."""
    with app.app_context():
        before = outside.current_rules(db.session)
        rules = {k: dict(r.__dict__) for k, r in before["rules"].items()}
        rules["agency"].update(deposit=asked, deposit_note="500 บาท ต่อเต็นท์" if asked else "")
        outside.save_rules(db.session, db.session.get(User, admin.id), rules, before["retention_setting"])
        db.session.remove()
    yield
    with app.app_context():
        outside.save_rules(
            db.session,
            db.session.get(User, admin.id),
            {k: dict(r.__dict__) for k, r in before["rules"].items()},
            before["retention_setting"],
        )
        db.session.remove()


@pytest.fixture
def deposit_rule(app, admin):
    yield from _agency_rule(app, admin, True)


@pytest.fixture
def no_deposit_rule(app, admin):
    yield from _agency_rule(app, admin, False)


def approved_loan(session, officer, head, group_id: int, count: int, start: date = SAT, now=NOW) -> Loan:
    loan = outside.request_outside(
        session,
        None,
        agency(),
        [(group_id, count)],
        start_on=start,
        due_on=start + timedelta(days=1),
        purpose="กีฬาสี",
        place="สนามโรงเรียน",
        now=now,
    )
    workflow.approve_loan(session, officer, loan.id, now=now)
    workflow.approve_loan(session, head, loan.id, now=now)
    return session.get(Loan, loan.id)


def picks_of(loan: Loan, asset_ids: list[int]) -> dict[int, list[int]]:
    line = loan.lines[0]
    return {line.id: asset_ids[: line.count]}


def entries_since(session, seq: int) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))


def last_seq(session) -> int:
    return session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))


def test_the_rule_asks_a_deposit_and_the_hand_over_cannot_go_ahead_without_it(
    app, session, officer, head, deposit_rule
):
    group_id, asset_ids = make_group(app, 4, category="เต็นท์")
    loan = approved_loan(session, officer, head, group_id, 2)
    assert deposits.asks_deposit(get_settings(session), loan)
    assert deposits.deposit_note(get_settings(session), loan) == "500 บาท ต่อเต็นท์"
    since = last_seq(session)

    with pytest.raises(DomainError, match="ask for a deposit"):
        groups.hand_over_lines(session, officer, loan.id, picks_of(loan, asset_ids), now=HANDED_AT)
    session.rollback()
    assert session.get(Loan, loan.id).status == APPROVED
    assert session.scalar(select(LoanDeposit).where(LoanDeposit.loan_id == loan.id)) is None
    assert entries_since(session, since) == []

    handed = groups.hand_over_lines(
        session,
        officer,
        loan.id,
        picks_of(loan, asset_ids),
        deposit=deposits.DepositIn(Decimal("1000.00"), "บร 12/2575"),
        now=HANDED_AT,
    )
    assert handed.status == CHECKED_OUT
    dep = handed.deposit
    assert (dep.amount, dep.receipt_no, dep.taken_by_id, dep.is_settled) == (
        Decimal("1000.00"),
        "บร 12/2575",
        officer.id,
        False,
    )
    actions = [(e.action, e.subject_type, e.subject_id) for e in entries_since(session, since)]
    assert actions == [("loan.checked_out", "loan", str(loan.id)), ("loan.deposit_taken", "loan", str(loan.id))]
    taken = json.loads(entries_since(session, since)[-1].data)
    assert taken["amount"] == "1000.00" and taken["receipt_no"] == "บร 12/2575"


def test_the_deposit_is_settled_after_the_return_with_the_kept_part_toward_the_damage_case(
    app, session, officer, head, deposit_rule
):
    group_id, asset_ids = make_group(app, 3, category="เต็นท์", price=Decimal("800.00"))
    loan = approved_loan(session, officer, head, group_id, 2)
    groups.hand_over_lines(
        session,
        officer,
        loan.id,
        picks_of(loan, asset_ids),
        deposit=deposits.DepositIn(Decimal("1000.00"), "R-77"),
        now=HANDED_AT,
    )
    loan = session.get(Loan, loan.id)
    with pytest.raises(Conflict, match="once every item is back"):
        deposits.settle_deposit(session, officer, loan.id, returned=Decimal("1000"), kept=Decimal("0"))
    damaged = loan.items[0]
    groups.receive_by_count(
        session, officer, loan.id, loan.lines[0].id, 1, [groups.Exception_(damaged.id, "damaged", "ผ้าขาด")], now=BACK_AT
    )
    assert session.get(Loan, loan.id).status == RETURNED
    case = session.scalars(select(Incident).where(Incident.loan_item_id == damaged.id)).one()

    with pytest.raises(DomainError, match="add up to the deposit"):
        deposits.settle_deposit(
            session, officer, loan.id, returned=Decimal("600"), kept=Decimal("300"), incident_id=case.id
        )
    with pytest.raises(DomainError, match="Choose the damage or loss case"):
        deposits.settle_deposit(session, officer, loan.id, returned=Decimal("700"), kept=Decimal("300"))
    with pytest.raises(DomainError, match="At most the case's value, 800.00 baht"):
        deposits.settle_deposit(
            session, officer, loan.id, returned=Decimal("100"), kept=Decimal("900"), incident_id=case.id
        )
    with pytest.raises(NotFound):
        deposits.settle_deposit(
            session, officer, loan.id, returned=Decimal("700"), kept=Decimal("300"), incident_id=10**8
        )
    since = last_seq(session)

    dep = deposits.settle_deposit(
        session,
        officer,
        loan.id,
        returned=Decimal("700.00"),
        kept=Decimal("300.00"),
        incident_id=case.id,
        note="หักค่าซ่อมผ้าเต็นท์",
        now=BACK_AT,
    )
    assert (dep.returned_amount, dep.kept_amount, dep.incident_id, dep.is_settled) == (
        Decimal("700.00"),
        Decimal("300.00"),
        case.id,
        True,
    )
    [entry] = entries_since(session, since)
    assert (entry.action, entry.subject_id) == ("loan.deposit_settled", str(loan.id))
    data = json.loads(entry.data)
    assert data["after"]["kept_amount"] == "300.00" and data["after"]["incident"] == case.id
    with pytest.raises(DomainError, match="settled already"):
        deposits.settle_deposit(session, officer, loan.id, returned=Decimal("1000"), kept=Decimal("0"))

    # the receipt the borrower signs shows the deposit and how it ended
    text = pdf_text(documents.receipt_pdf(session.get(Loan, loan.id), get_settings(session), "en"))
    assert "Depositof1,000.00bahtreceived,receiptNo.R-77" in text
    assert "700.00bahtofthedeposithandedback" in text
    assert f"300.00bahtofthedepositkepttowardthecompensationofcaseNo.{case.id}" in text
    thai = pdf_text(documents.receipt_pdf(session.get(Loan, loan.id), get_settings(session), "th"))
    amount = to_thai_digits("1,000.00") if get_settings(session).get("thai_digits_in_documents") else "1,000.00"
    assert f"รับเงินประกัน{amount}บาทใบเสร็จรับเงินเลขที่R-77" in thai  # typed text stays as typed

    # the borrower's tracking page shows it too
    status = outside.request_status(session, session.get(Loan, loan.id), SAT)
    assert (status.deposit_amount, status.deposit_receipt, status.deposit_returned, status.deposit_kept) == (
        Decimal("1000.00"),
        "R-77",
        Decimal("700.00"),
        Decimal("300.00"),
    )


def test_no_deposit_is_asked_when_the_rule_does_not_say_so(app, session, officer, head, no_deposit_rule):
    group_id, asset_ids = make_group(app, 2, category="เต็นท์")
    loan = approved_loan(session, officer, head, group_id, 1)
    assert not deposits.asks_deposit(get_settings(session), loan)
    handed = groups.hand_over_lines(session, officer, loan.id, picks_of(loan, asset_ids), now=HANDED_AT)
    assert handed.status == CHECKED_OUT and handed.deposit is None


def test_the_deposit_fields_are_checked_with_clear_messages():
    assert deposits.parse_deposit("", "") is None
    assert deposits.parse_deposit("1,500", " R-1 ") == deposits.DepositIn(Decimal("1500.00"), "R-1")
    assert deposits.parse_deposit("๕๐๐", "R-2").amount == Decimal("500.00")
    with pytest.raises(DomainError, match="number of the receipt"):
        deposits.parse_deposit("500", "")
    with pytest.raises(DomainError, match="amount of the deposit"):
        deposits.parse_deposit("", "R-3")
    for bad in ("abc", "-5", "0", "12.345"):
        with pytest.raises(DomainError, match="Type the amount in baht"):
            deposits.parse_deposit(bad, "R-4")
    with pytest.raises(DomainError, match="implausibly large"):
        deposits.parse_deposit("5000000", "R-5")


def test_the_officer_records_the_deposit_on_the_pick_page_and_settles_it_on_the_loan_page(
    app, client, officer, head, deposit_rule
):
    # no `session` fixture here: its application context would be shared by the client's requests (and
    # with it the page language chosen by the first one)
    group_id, asset_ids = make_group(app, 3, category="เต็นท์")
    with app.app_context():
        users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([officer.id, head.id])))}
        loan = approved_loan(
            db.session, users[officer.id], users[head.id], group_id, 2, start=bangkok_today(), now=datetime.now(UTC)
        )
        loan_id, line_id, version = loan.id, loan.lines[0].id, loan.version
        db.session.remove()
    sign_in(client, officer)
    page = client.get(f"/loans/{loan_id}/pick").get_data(as_text=True)
    assert 'name="deposit_amount"' in page and 'name="deposit_receipt"' in page and "500 บาท ต่อเต็นท์" in page
    assert "ask for a deposit: it is recorded at the hand-over" in client.get(f"/loans/{loan_id}").get_data(
        as_text=True
    )

    picked = {f"pick-{line_id}": [str(i) for i in asset_ids[:2]], "action": "hand_over", "version": str(version)}
    refused = client.post(f"/loans/{loan_id}/pick", data=picked)
    assert refused.status_code == 200
    body = refused.get_data(as_text=True)
    assert "ask for a deposit: record its amount and receipt number" in body, body[
        body.find("alert") : body.find("alert") + 400
    ]
    half = client.post(f"/loans/{loan_id}/pick", data={**picked, "deposit_amount": "1000"})
    assert "Type the number of the receipt given for the deposit." in half.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Loan, loan_id).status == APPROVED
        db.session.remove()

    done = client.post(f"/loans/{loan_id}/pick", data={**picked, "deposit_amount": "1,000", "deposit_receipt": "R-88"})
    assert done.status_code == 302
    page = client.get(f"/loans/{loan_id}").get_data(as_text=True)
    assert "R-88" in page and "1,000.00" in page and "Settle the deposit once every item is back." in page

    with app.app_context():
        loan = db.session.get(Loan, loan_id)
        item_ids = [i.id for i in loan.items]
        version = loan.version
        db.session.remove()
    back = client.post(
        f"/loans/{loan_id}/return-count",
        data={"version": str(version), "line": str(line_id), "counted": "2"},
    )
    assert back.status_code == 302 and back.headers["Location"].endswith("#kp-deposit-h")
    page = client.get(f"/loans/{loan_id}").get_data(as_text=True)
    assert "now record what happens to the deposit" in page and f'action="/loans/{loan_id}/deposit"' in page
    assert item_ids

    with app.app_context():
        dep_version = db.session.scalar(select(LoanDeposit.version).where(LoanDeposit.loan_id == loan_id))
        db.session.remove()
    wrong = client.post(f"/loans/{loan_id}/deposit", data={"returned": "900", "kept": "0", "version": str(dep_version)})
    assert wrong.status_code == 302
    assert "must add up to the deposit, 1,000.00 baht" in client.get(f"/loans/{loan_id}").get_data(as_text=True)
    ok = client.post(f"/loans/{loan_id}/deposit", data={"returned": "1000", "kept": "", "version": str(dep_version)})
    assert ok.status_code == 302
    page = client.get(f"/loans/{loan_id}").get_data(as_text=True)
    assert "The deposit was settled." in page and "Settle the deposit" not in page
    # the same form sent again (a double click, or a second officer's page): refused, the first answer kept
    again = client.post(f"/loans/{loan_id}/deposit", data={"returned": "0", "kept": "", "version": str(dep_version)})
    assert again.status_code == 302
    assert "Someone else changed this deposit" in client.get(f"/loans/{loan_id}").get_data(as_text=True)
    with app.app_context():
        settled = db.session.scalar(select(LoanDeposit).where(LoanDeposit.loan_id == loan_id))
        assert (settled.returned_amount, settled.kept_amount) == (Decimal("1000.00"), Decimal("0.00"))
        db.session.remove()


def test_the_case_page_shows_the_deposit_kept_toward_it(app, client, officer, head, deposit_rule):
    group_id, asset_ids = make_group(app, 2, category="เต็นท์", price=Decimal("800.00"))
    with app.app_context():
        s = db.session
        users = {u.id: u for u in s.scalars(select(User).where(User.id.in_([officer.id, head.id])))}
        loan = approved_loan(s, users[officer.id], users[head.id], group_id, 1)
        groups.hand_over_lines(
            s,
            users[officer.id],
            loan.id,
            picks_of(loan, asset_ids),
            deposit=deposits.DepositIn(Decimal("500"), "R-9"),
            now=HANDED_AT,
        )
        loan = s.get(Loan, loan.id)
        item = loan.items[0]
        groups.receive_by_count(
            s, users[officer.id], loan.id, loan.lines[0].id, 0, [groups.Exception_(item.id, "lost", "หาย")], now=BACK_AT
        )
        case_id = s.scalars(select(Incident.id).where(Incident.loan_item_id == item.id)).one()
        deposits.settle_deposit(
            s, users[officer.id], loan.id, returned=Decimal("0"), kept=Decimal("500"), incident_id=case_id
        )
        db.session.remove()
    sign_in(client, officer)
    page = client.get(f"/incidents/{case_id}").get_data(as_text=True)
    assert "Deposit kept toward it" in page and "500.00 baht" in page and "receipt No. R-9" in page


def pdf_text(data: bytes) -> str:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "".join("".join(page.get_textpage().get_text_range().split()) for page in pdf)
    finally:
        pdf.close()
