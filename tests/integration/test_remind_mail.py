"""The daily overdue run, `flask --app wsgi loans remind`, against a real SMTP server (aiosmtpd).

One digest per borrower listing all their overdue items, one per supply officer, one demand per loan with
its audit entry; a second run the same day records and sends nothing. Without SMTP_HOST the mail goes to
the log and the demands are still recorded. The database is shared by the whole session and other tests
leave overdue loans too, so the assertions are about this test's borrowers and loans, and the officers'
digests are counted against the officers the database has.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from audit.models import AuditEntry
from core.dates import bangkok_date, format_date
from core.db import utcnow
from core.models import User, UserRole
from core.people.services import get_settings
from lending.loans import cases
from lending.loans import services as workflow
from lending.loans.documents.demand import demand_letter_pdf
from lending.loans.documents.receipt import receipt_pdf
from lending.loans.models import CHECKED_OUT, Demand, Loan
from tests.conftest import unique
from tests.unit.test_documents import flat, squash

BORROWER_SUBJECT = "แจ้งทวงถามการคืนพัสดุที่เกินกำหนด"
OFFICER_SUBJECT = "สรุปพัสดุค้างคืน"


class Collector:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str, subject_part: str) -> list[email.message.EmailMessage]:
        return [m for rcpt, m in self.messages if address in rcpt and subject_part in str(m["Subject"])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    """A local SMTP server, and the app's mail settings pointing at it for the test."""
    handler = Collector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    keys = ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_STARTTLS", "SMTP_FROM")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(
        SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_USER="", SMTP_STARTTLS=False, SMTP_FROM="khruphan@kp.test"
    )
    try:
        yield handler
    finally:
        app.config.update(saved)
        controller.stop()


@pytest.fixture
def no_smtp(app):
    saved = app.config.get("SMTP_HOST")
    app.config["SMTP_HOST"] = ""
    try:
        yield
    finally:
        app.config["SMTP_HOST"] = saved


def overdue_loan(
    session, borrower_id: int, officer_id: int, head_id: int, asset_ids: list[int], *, days_ago: int, length: int
) -> Loan:
    """A loan requested, approved and handed over `days_ago` days back, due `length` days after its start."""
    borrower, officer, head = (session.get(User, i) for i in (borrower_id, officer_id, head_id))
    when = utcnow() - timedelta(days=days_ago)
    start = bangkok_date(when)
    loan = workflow.request_loan(
        session,
        borrower,
        asset_ids,
        purpose="ประชุมประชาคม ที่นี่",
        place="ศาลาประชาคม",
        off_premises=False,
        start_on=start,
        due_on=start + timedelta(days=length),
        now=when,
    )
    loan = workflow.approve_loan(session, officer, loan.id, now=when + timedelta(hours=1))
    if loan.status == "requested":  # the threshold in the shared settings asks for the head too
        loan = workflow.approve_loan(session, head, loan.id, now=when + timedelta(hours=2))
    loan = workflow.hand_over(session, officer, loan.id, note="สภาพดี", now=when + timedelta(hours=3))
    assert loan.status == CHECKED_OUT and loan.due_on < bangkok_date(utcnow())
    return loan


@pytest.fixture
def office(session, make_user, make_asset):
    """Two borrowers with overdue loans: A has two loans (three items), B one loan (one item)."""
    tag = unique("rm")
    officer = make_user(
        ["supply_officer"], name="นางสาวสมศรี รักษ์พัสดุ", position="เจ้าพนักงานพัสดุ", email=f"{tag}-officer@kp.test"
    )
    head = make_user(["head"], name="นายวิชัย ผู้บริหาร", email="")
    a = make_user(["staff"], name="นายสมชาย ใจดี", email=f"{tag}-a@kp.test", position="นักวิชาการ")
    b = make_user(["staff"], name="นางสาวมาลี <b>ดีใจ</b>", email=f"{tag}-b@kp.test")
    assets = [make_asset(name=n) for n in ("เก้าอี้พลาสติก", "โต๊ะพับ", "เต็นท์ผ้าใบ", "เครื่องฉายภาพ")]
    loans = {
        "a1": overdue_loan(session, a.id, officer.id, head.id, [assets[0].id, assets[1].id], days_ago=20, length=5),
        "a2": overdue_loan(session, a.id, officer.id, head.id, [assets[2].id], days_ago=9, length=3),
        "b1": overdue_loan(session, b.id, officer.id, head.id, [assets[3].id], days_ago=6, length=1),
    }
    session.rollback()  # end this session's transaction: the command runs in its own
    return {"officer": officer, "a": a, "b": b, "assets": assets, "loans": {k: v.id for k, v in loans.items()}}


def run_remind(app):
    result = app.test_cli_runner().invoke(args=["loans", "remind"])
    assert result.exit_code == 0, result.output[-2000:]
    return result.output


def expected_officer_mails(session) -> Counter:
    """Every active supply officer with an email gets one digest (the database is shared)."""
    session.rollback()
    rows = session.execute(
        select(User.email)
        .join(UserRole)
        .where(UserRole.role == "supply_officer", User.active.is_(True), User.email != "")
    ).scalars()
    return Counter(rows)


def demands_of(session, loan_ids) -> list[Demand]:
    session.rollback()
    stmt = select(Demand).where(Demand.loan_id.in_(loan_ids)).order_by(Demand.id)
    return list(session.execute(stmt).scalars())


def test_remind_sends_one_digest_per_person_and_records_one_demand_per_loan(app, session, smtp, office):
    loans = office["loans"]
    output = run_remind(app)
    assert "new demands:" in output

    # one digest per borrower, listing all their overdue items (and nobody else's)
    today = bangkok_date(utcnow())
    numbers = [asset.asset_number for asset in office["assets"]]
    (mail_a,) = smtp.to(office["a"].email, BORROWER_SUBJECT)
    (mail_b,) = smtp.to(office["b"].email, BORROWER_SUBJECT)
    body_a, body_b = mail_a.get_content(), mail_b.get_content()
    assert all(n in body_a for n in numbers[:3]) and numbers[3] not in body_a
    assert numbers[3] in body_b and not any(n in body_b for n in numbers[:3])
    refs = {k: session.get(Loan, i).ref for k, i in loans.items()}
    assert refs["a1"] in body_a and refs["a2"] in body_a and refs["b1"] in body_b
    assert "เรียน นายสมชาย ใจดี" in body_a and "เรียน นางสาวมาลี <b>ดีใจ</b>" in body_b
    # each loan with its page, linked from BASE_URL, and its due date in B.E.
    base = app.config["BASE_URL"]
    assert f"{base}/loans/{loans['a1']}" in body_a and f"{base}/loans/{loans['b1']}" in body_b
    due = session.get(Loan, loans["a1"]).due_on
    assert f"กำหนดคืน {format_date(due, 'th')}" in body_a and str(due.year + 543) in body_a
    assert "นายสมชาย ใจดี" in str(mail_a["To"]) and office["a"].email in str(mail_a["To"])
    assert str(mail_a["Subject"]).startswith("[") and BORROWER_SUBJECT in str(mail_a["Subject"])
    assert len([m for rcpt, m in smtp.messages if office["a"].email in rcpt]) == 1

    # one digest per supply officer, whoever they are in the shared database
    got = Counter(rcpt[0] for rcpt, m in smtp.messages if OFFICER_SUBJECT in str(m["Subject"]))
    assert got == expected_officer_mails(session)
    (officer_mail,) = smtp.to(office["officer"].email, OFFICER_SUBJECT)
    body = officer_mail.get_content()
    assert all(ref in body for ref in refs.values()) and all(n in body for n in numbers)

    # one demand per loan, each with its audit entry
    demands = demands_of(session, loans.values())
    assert sorted(d.loan_id for d in demands) == sorted(loans.values())
    for d in demands:
        loan = session.get(Loan, d.loan_id)
        assert d.channel == "mail" and d.demanded_on == today and d.issued_by_id is None
        assert sorted(d.item_ids) == sorted(i.id for i in loan.items)
        (entry,) = session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "demand.issued",
                AuditEntry.subject_type == "demand",
                AuditEntry.subject_id == str(d.id),
            )
        ).scalars()
        assert json.loads(entry.data)["loan"] == loan.id and json.loads(entry.data)["channel"] == "mail"

    # the same day again: no new demand, no mail at all
    sent = len(smtp.messages)
    output = run_remind(app)
    assert "new demands: 0" in output
    assert len(smtp.messages) == sent
    assert [d.id for d in demands_of(session, loans.values())] == [d.id for d in demands]

    # the documents of these real loans render, the letter signed by the officer who handed over
    settings = get_settings(session)
    demand = next(d for d in demands if d.loan_id == loans["a1"])
    letter = demand_letter_pdf(demand, settings)
    receipt = receipt_pdf(session.get(Loan, loans["a1"]), settings)
    assert letter.startswith(b"%PDF") and receipt.startswith(b"%PDF")
    text = squash(flat(letter))
    assert squash("(นางสาวสมศรี รักษ์พัสดุ)") in text and "เก้าอี้พลาสติก" in text and "โต๊ะพับ" in text
    assert "เต็นท์ผ้าใบ" not in text  # another loan's item


def test_a_printed_demand_letter_is_signed_by_the_officer_who_issued_it(app, session, make_user, make_asset, no_smtp):
    tag = unique("dl")
    officer = make_user(
        ["supply_officer"], name="นายออกหนังสือ ทวงถาม", position="นักวิชาการพัสดุ", email=f"{tag}-officer@kp.test"
    )
    other = make_user(["supply_officer"], name="นางส่งมอบ ของ", email="")
    head = make_user(["head"], name="หัวหน้า", email="")
    borrower = make_user(["staff"], name="นายยืม ของ", email=f"{tag}@kp.test")
    asset = make_asset(name="เก้าอี้พลาสติก")
    loan = overdue_loan(session, borrower.id, other.id, head.id, [asset.id], days_ago=5, length=1)
    demand = cases.issue_demand_letter(session, session.get(User, officer.id), loan.id)
    assert demand.channel == "letter" and demand.issued_by_id == officer.id
    text = flat(demand_letter_pdf(demand, get_settings(session)))
    assert "(นายออกหนังสือ ทวงถาม)" in text and "(นางส่งมอบ ของ)" not in text


def test_without_smtp_the_mail_goes_to_the_log_and_demands_are_recorded(
    app, session, make_user, make_asset, no_smtp, caplog
):
    tag = unique("lg")
    officer = make_user(["supply_officer"], name="เจ้าหน้าที่ ล็อก", email=f"{tag}-officer@kp.test")
    head = make_user(["head"], name="หัวหน้า ล็อก", email="")
    borrower = make_user(["staff"], name="นายบันทึก ล็อก", email=f"{tag}@kp.test")
    asset = make_asset(name="โต๊ะพับ")
    loan = overdue_loan(session, borrower.id, officer.id, head.id, [asset.id], days_ago=4, length=1)
    session.rollback()
    caplog.set_level(logging.INFO, logger="khruphan.mail")

    output = run_remind(app)

    assert "new demands:" in output
    logged = [r.getMessage() for r in caplog.records if r.name == "khruphan.mail"]
    mine = [m for m in logged if f"to={borrower.email}" in m]
    assert len(mine) == 1 and BORROWER_SUBJECT in mine[0] and asset.asset_number in mine[0]
    assert len([m for m in logged if f"to={officer.email}" in m and OFFICER_SUBJECT in m]) == 1
    (demand,) = demands_of(session, [loan.id])
    assert demand.channel == "mail" and demand.item_ids == [loan.items[0].id]


def test_mail_that_fails_waits_in_the_outbox_and_goes_out_with_the_next_run(app, session, smtp, make_user, make_asset):
    tag = unique("ob")
    officer = make_user(["supply_officer"], name="เจ้าหน้าที่ กล่องขาออก", email=f"{tag}-officer@kp.test")
    head = make_user(["head"], name="หัวหน้า กล่องขาออก", email="")
    borrower = make_user(["staff"], name="นางสาวรอส่ง ไปรษณีย์", email=f"{tag}@kp.test")
    loan = overdue_loan(
        session, borrower.id, officer.id, head.id, [make_asset(name="เต็นท์ผ้าใบ").id], days_ago=5, length=1
    )
    session.rollback()
    port = app.config["SMTP_PORT"]
    app.config["SMTP_PORT"] = free_port()  # nobody listens there: the server is "down"
    try:
        failed = app.test_cli_runner().invoke(args=["loans", "remind"])
    finally:
        app.config["SMTP_PORT"] = port
    assert failed.exit_code == 1 and "demands recorded, but mail failed" in failed.output
    assert "wait in the outbox" in failed.output
    assert len(demands_of(session, [loan.id])) == 1
    assert not smtp.to(borrower.email, BORROWER_SUBJECT)

    output = run_remind(app)  # the server is back: the outbox goes out first, no demand is repeated

    (mail,) = smtp.to(borrower.email, BORROWER_SUBJECT)
    assert session.get(Loan, loan.id).ref in mail.get_content()
    assert len(demands_of(session, [loan.id])) == 1 and "new demands: 0" in output
    assert not list(Path(app.config["OUTBOX_DIR"]).glob("*.json"))
    run_remind(app)
    assert len(smtp.to(borrower.email, BORROWER_SUBJECT)) == 1, "sent once, not again"


def test_a_refused_address_is_set_aside_and_does_not_hold_up_the_others(tmp_path):
    from core.mail import Mail, deliver

    class Refusing(Collector):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
            if address.startswith("nobody@"):
                return "550 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    handler = Refusing()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_FROM": "khruphan@kp.test"}
        mails = [
            Mail(to="nobody@kp.test", subject="ทดสอบ", body="ก"),
            Mail(to="somchai@kp.test", subject="ทดสอบ", body="ข"),
        ]
        result = deliver(config, mails, tmp_path / "outbox")
    finally:
        controller.stop()
    assert (result.sent, result.waiting, result.error) == (1, 0, "")
    assert [rcpt for rcpt, _m in handler.messages] == [["somchai@kp.test"]]
    assert len(list((tmp_path / "outbox" / "refused").glob("*.json"))) == 1
    assert not list((tmp_path / "outbox").glob("*.json"))
