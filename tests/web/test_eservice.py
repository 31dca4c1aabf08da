"""The public e-service (/e-service) through the test client: the catalogue, the request, tracking by
reference and phone (and its refusals), the limits and the honeypot, the printable form, the survey, the
status mails (a real local SMTP server), and the manual for outsiders filed as evidence."""

from __future__ import annotations

import itertools
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import bangkok_today
from core.db import db
from evidence.items.models import EvidenceItem
from lending.eservice.models import RateLimit
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.loans.models import Loan
from lending.outside.models import OutsideParty
from tests.conftest import english, login, unique
from tests.groups import make_group
from tests.integration.test_remind_mail import smtp  # noqa: F401  (the local SMTP server fixture)

_addresses = itertools.count(1)
PHONE = "081-234-5678"


def fresh_client(app, lang: str = "en"):
    """A visitor of their own address (the limits count per address) reading the pages in English."""
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.{n // 250 % 250}.{n % 250}.{(n * 7) % 250 + 1}"
    if lang == "en":
        english(client)
    return client


def form_for(group_id: int, count: int, start=None, end=None, **fields) -> dict:
    start = start or bangkok_today() + timedelta(days=10)
    end = end or start + timedelta(days=1)
    return {
        "kind": "person",
        "name": "นายสมชาย ใจดี",
        "phone": unique("08")[:10].ljust(10, "1"),
        "address": "12/3",
        "village_no": "4",
        "village": "โนนสูง",
        "start_on": start.isoformat(),
        "end_on": end.isoformat(),
        "purpose": "งานบุญกฐินประจำปี",
        "place": "ศาลาวัดโนนสูง หมู่ที่ 4",
        "consent": "y",
        f"qty-{group_id}": str(count),
        **fields,
    }


def send(client, data: dict):
    return client.post("/e-service/request", data=data)


def ref_of(resp) -> str:
    match = re.search(r"/e-service/track/([A-Z0-9-]+)$", resp.headers.get("Location", ""))
    assert match, (resp.status_code, resp.get_data(as_text=True)[:500])
    return match.group(1)


@pytest.fixture
def chairs(app):
    return make_group(app, 30, name=unique("เก้าอี้พลาสติก "))


def test_the_public_page_shows_only_public_groups_with_their_free_counts(app, chairs):
    group_id, _ = chairs
    hidden_id, _ = make_group(app, 3, name=unique("โปรเจกเตอร์ "), public=False)
    client = fresh_client(app, "th")
    day = (bangkok_today() + timedelta(days=20)).isoformat()
    page = client.get(f"/e-service?start={day}&end={day}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "บริการยืมพัสดุออนไลน์" in html
    assert f'id="group-{group_id}"' in html and f'id="group-{hidden_id}"' not in html
    assert "ว่าง 30" in html
    assert client.get(f"/e-service/calendar/{hidden_id}").status_code == 404
    assert client.get(f"/e-service/photo/{hidden_id}").status_code == 404
    cal = client.get(f"/e-service/calendar/{group_id}").get_data(as_text=True)
    assert '<table class="es-cal' in cal and 'class="es-c"' in cal
    # dates that are not dates, and a range too long, are a message, never a 500
    assert client.get("/e-service?start=31/02/2569&end=x").status_code == 200
    far = (bangkok_today() + timedelta(days=200)).isoformat()
    assert client.get(f"/e-service?start={day}&end={far}").status_code == 200
    assert client.get(f"/e-service/calendar/{group_id}?month=9999-99").status_code == 200


def test_a_request_gets_a_reference_and_opens_its_tracking_page_in_that_browser_only(app, chairs):
    group_id, _ = chairs
    client = fresh_client(app)
    data = form_for(group_id, 12)
    resp = send(client, data)
    ref = ref_of(resp)
    page = client.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert ref in page and "Received, being considered" in page and "12" in page
    with app.app_context():
        loan = db.session.execute(select(Loan).where(Loan.public_ref == ref)).scalar_one()
        assert loan.channel == "eservice" and loan.lines[0].count == 12 and loan.party.kind == "person"
    # another browser is sent to the look-up form, told nothing
    other = fresh_client(app)
    assert other.get(f"/e-service/track/{ref}").headers["Location"].endswith(f"/e-service/track?ref={ref}")
    assert other.get(f"/e-service/track/{ref}/form.pdf").status_code == 302
    # with the reference and the phone (written another way) it opens there too
    opened = other.post(
        "/e-service/track", data={"ref": ref.lower().replace("-", ""), "phone": "+66" + data["phone"][1:]}
    )
    assert opened.headers["Location"].endswith(f"/e-service/track/{ref}")
    pdf = other.get(f"/e-service/track/{ref}/form.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")


def test_a_wrong_phone_is_refused_exactly_like_an_unknown_reference(app, chairs):
    group_id, _ = chairs
    owner = fresh_client(app)
    ref = ref_of(send(owner, form_for(group_id, 2)))
    prober = fresh_client(app)

    def answer(r: str, phone: str):
        resp = prober.post("/e-service/track", data={"ref": r, "phone": phone})
        # CSRF tokens carry the second they were made: the one part of the page that may differ
        body = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1"', resp.get_data(as_text=True))
        return resp.status_code, body.replace(r, "REF")

    wrong_phone = answer(ref, "0899999999")
    unknown_ref = answer("K-" + "Z" * 8 if ref != "K-" + "Z" * 8 else "K-" + "Y" * 8, "0899999999")
    assert wrong_phone == unknown_ref
    assert wrong_phone[0] == 200 and "No request matches this reference and phone number" in wrong_phone[1]
    assert "Received, being considered" not in wrong_phone[1]


def test_failed_look_ups_are_limited_per_address_with_one_answer(app, chairs):
    app.config["ESERVICE_TRACK_FAILURES_PER_IP"] = 3
    try:
        prober = fresh_client(app)
        codes = [
            prober.post("/e-service/track", data={"ref": f"K-ABCDEF{i:02d}", "phone": f"08123456{i:02d}"}).status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        # the counters hold no address and no phone number
        with app.app_context():
            keys = db.session.execute(select(RateLimit.key)).scalars().all()
        assert keys and not any("0812345" in k or "10." in k for k in keys)
    finally:
        app.config.pop("ESERVICE_TRACK_FAILURES_PER_IP")


def test_requests_are_limited_per_address_and_per_phone(app, chairs):
    group_id, _ = chairs
    app.config.update(ESERVICE_REQUESTS_PER_IP=2, ESERVICE_REQUESTS_PER_PHONE=1)
    try:
        client = fresh_client(app)
        assert send(client, form_for(group_id, 1)).status_code == 302
        assert send(client, form_for(group_id, 1)).status_code == 302
        third = send(client, form_for(group_id, 1))
        assert third.status_code == 429 and "Too many attempts" in third.get_data(as_text=True)
        # one phone number from two addresses
        data = form_for(group_id, 1)
        assert send(fresh_client(app), data).status_code == 302
        assert send(fresh_client(app), data).status_code == 429
    finally:
        app.config.pop("ESERVICE_REQUESTS_PER_IP")
        app.config.pop("ESERVICE_REQUESTS_PER_PHONE")


def test_the_honeypot_refuses_a_robot_and_stores_nothing(app, chairs):
    group_id, _ = chairs
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(OutsideParty)).scalar_one()
    resp = send(fresh_client(app), form_for(group_id, 5, website="http://spam.example"))
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(OutsideParty)).scalar_one() == before


def test_the_form_checks_sizes_counts_and_dates_with_a_message(app, chairs):
    group_id, _ = chairs
    client = fresh_client(app)
    cases = [
        form_for(group_id, 31),  # more than the group holds
        form_for(group_id, 0),  # nothing asked
        {**form_for(group_id, 1), f"qty-{group_id}": "-4"},
        {**form_for(group_id, 1), f"qty-{group_id}": "๑๐๐๐๐๐"},
        {**form_for(group_id, 1), "qty-99999999": "3"},
        {**form_for(group_id, 1), "purpose": "ก" * 600},
        {**form_for(group_id, 1), "phone": "12"},
        {**form_for(group_id, 1), "start_on": "2020-01-01", "end_on": "2020-01-02"},
        {**form_for(group_id, 1), "start_on": "not a date"},
        {**form_for(group_id, 1), "consent": ""},
        {**form_for(group_id, 1), "kind": "robot"},
    ]
    for data in cases:
        resp = send(client, data)
        assert resp.status_code == 200, (data, resp.status_code)
        assert 'id="es-problem"' in resp.get_data(as_text=True), data


def test_the_public_forms_need_their_csrf_token(app, chairs, csrf_on):
    group_id, _ = chairs
    client = fresh_client(app)
    assert send(client, form_for(group_id, 1)).status_code == 400
    assert client.post("/e-service/track", data={"ref": "K-ABCDEFGH", "phone": PHONE}).status_code == 400


def test_a_double_submission_makes_one_request(app, chairs):
    group_id, _ = chairs
    client = fresh_client(app)
    data = {**form_for(group_id, 3), "form_token": "t" * 32 + unique("x")}
    first, second = send(client, data), send(client, data)
    assert ref_of(first) == ref_of(second)


def test_the_survey_opens_after_the_return_and_takes_one_answer(app, chairs, officer, make_user):
    group_id, _ = chairs
    head = make_user(roles=["head"])
    client = fresh_client(app)
    today = bangkok_today()
    ref = ref_of(send(client, form_for(group_id, 4, start=today, end=today + timedelta(days=1))))
    assert 'id="es-survey"' not in client.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert client.post(f"/e-service/track/{ref}/survey", data={"score": "5"}).status_code == 302
    with app.app_context():
        s = db.session
        loan = s.execute(select(Loan).where(Loan.public_ref == ref)).scalar_one()
        workflow.approve_loan(s, officer, loan.id)
        workflow.approve_loan(s, head, loan.id)
        loan = s.get(Loan, loan.id)
        [line] = loan.lines
        picks = group_queries.suggest_assets(s, group_id, 4, loan.start_on, loan.due_on, today, exclude_loan_id=loan.id)
        s.rollback()
        loan = groups.hand_over_lines(s, officer, loan.id, {line.id: [a.id for a in picks]})
        s.rollback()
        groups.receive_by_count(s, officer, loan.id, line.id, 4, [])
        db.session.remove()
    page = client.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert "Returned, thank you" in page and 'id="es-survey"' in page
    assert client.post(f"/e-service/track/{ref}/survey", data={"score": "4", "comment": "ดีมาก"}).status_code == 302
    assert client.post(f"/e-service/track/{ref}/survey", data={"score": "1"}).status_code == 302
    page = client.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert 'id="es-survey-done"' in page and "4 of 5" in page
    with app.app_context():
        entries = (
            db.session.execute(
                select(AuditEntry).where(AuditEntry.action == "loan.survey_answered").order_by(AuditEntry.seq.desc())
            )
            .scalars()
            .first()
        )
        assert json.loads(entries.data)["score"] == 4 and "ดีมาก" not in entries.data


def test_the_borrower_withdraws_a_request_and_gets_a_mail(app, chairs, smtp):  # noqa: F811
    group_id, _ = chairs
    client = fresh_client(app)
    address = f"{unique('citizen')}@example.org"
    ref = ref_of(send(client, form_for(group_id, 2, email=address)))
    [received] = smtp.to(address, ref)
    assert "ได้รับคำขอยืมพัสดุ" in str(received["Subject"]) and f"/e-service/track?ref={ref}" in received.get_content()
    assert client.post(f"/e-service/track/{ref}/cancel", data={"reason": "เลื่อนงาน"}).status_code == 302
    assert "Cancelled" in client.get(f"/e-service/track/{ref}").get_data(as_text=True)
    assert any("ถูกยกเลิก" in str(m["Subject"]) for m in smtp.to(address, ref))


def test_the_blank_form_and_the_manual_are_public_pdfs(app):
    client = fresh_client(app, "th")
    for path in ("/e-service/form.pdf", "/e-service/manual.pdf"):
        resp = client.get(path)
        assert resp.status_code == 200 and resp.data.startswith(b"%PDF"), path
    page = client.get("/e-service/manual").get_data(as_text=True)
    assert "คู่มือการให้บริการยืมครุภัณฑ์แก่บุคคลภายนอก" in page and "http://kp.test/e-service" in page
    privacy = client.get("/e-service/privacy").get_data(as_text=True)
    assert "ระยะเวลาการเก็บ" in privacy and "10 ปี" in privacy


def test_publishing_the_manual_for_outsiders_files_it_for_the_catalogues_item(app, admin):
    client = app.test_client()
    assert login(client, admin.username).status_code == 302
    english(client)
    resp = client.post("/e-service/manual/publish", data={})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/e-service/manual/versions")
    with app.app_context():
        item = (
            db.session.execute(
                select(EvidenceItem).where(EvidenceItem.role == "outsiders_manual").order_by(EvidenceItem.id.desc())
            )
            .scalars()
            .first()
        )
        assert item is not None and item.title.startswith("คู่มือการให้บริการยืมครุภัณฑ์แก่บุคคลภายนอก")
        assert item.source.startswith("outsiders_manual:")
    assert "PDF" in client.get("/e-service/manual/versions").get_data(as_text=True)


def test_the_public_evidence_page_links_the_e_service_with_its_qr(app):
    client = fresh_client(app, "th")
    html = client.get(f"/public/evidence/{2569}").get_data(as_text=True)
    assert 'href="http://kp.test/e-service"' in html and "/e-service/qr.svg" in html
    qr = client.get("/e-service/qr.svg")
    assert qr.status_code == 200 and b"http://kp.test/e-service" in qr.data


def test_the_public_calendar_starts_its_weeks_on_sunday_like_the_offices(app, chairs):
    """Thai wall calendars, and the office's own calendar, start the week on Sunday (อา.)."""
    from datetime import date

    group_id, _ = chairs
    today = bangkok_today()
    html = fresh_client(app, "th").get(f"/e-service/calendar/{group_id}?month={today:%Y-%m}").get_data(as_text=True)
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", html).group(1)
    assert re.findall(r'<th scope="col">([^<]+)</th>', head) == ["อา.", "จ.", "อ.", "พ.", "พฤ.", "ศ.", "ส."]
    for row in re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>", 1)[1], re.S):
        cells = re.findall(r'<td class="([^"]*)"(?: data-day="([0-9-]+)")?', row)
        for column, (_cls, day) in enumerate(cells):
            if day:
                assert (date.fromisoformat(day).isoweekday() % 7) == column, (day, column)
