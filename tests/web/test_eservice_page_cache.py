"""The public catalogue's rendered-page cache (lending/eservice/page_cache.py) never shows a stale count or
another visitor's token: a request, an approval, a return and a settings change show on the next page; each
visitor's page carries its own CSRF token (valid for that visitor only) and cookie; Thai and English are
different pages; a visitor with a message waiting, or signed in, gets a page of their own. And the page
costs a fixed number of statements (a count, not a time)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from core.dates import bangkok_today
from core.db import db
from core.people import services as core_services
from lending.eservice import page_cache
from lending.loans import services as workflow
from lending.loans.models import Loan
from tests.conftest import login, unique
from tests.groups import make_group
from tests.web.test_eservice import form_for, fresh_client, ref_of, send

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def article(html: str, group_id: int) -> str:
    match = re.search(rf'<article[^>]*id="group-{group_id}".*?</article>', html, re.S)
    assert match, html[:2000]
    return match.group(0)


@pytest.fixture
def chairs(app):
    page_cache.clear()
    return make_group(app, 30, name=unique("เก้าอี้พลาสติก "))


def test_a_request_an_approval_and_a_settings_change_show_on_the_next_page(app, chairs, officer, make_user, admin):
    group_id, _ = chairs
    head = make_user(roles=["head"])
    start = bangkok_today() + timedelta(days=12)
    url = f"/e-service?start={start.isoformat()}&end={start.isoformat()}"
    visitor = fresh_client(app)
    assert "30 free" in article(visitor.get(url).get_data(as_text=True), group_id)
    assert "30 free" in article(visitor.get(url).get_data(as_text=True), group_id)  # from the cache

    ref = ref_of(send(fresh_client(app), form_for(group_id, 7, start=start, end=start)))
    assert "30 free" in article(visitor.get(url).get_data(as_text=True), group_id)  # asked, not reserved
    with app.app_context():
        loan_id = db.session.execute(select(Loan.id).where(Loan.public_ref == ref)).scalar_one()
        workflow.approve_loan(db.session, officer, loan_id)  # the officer's approval reserves already
        db.session.remove()
    assert "23 free" in article(visitor.get(url).get_data(as_text=True), group_id)
    with app.app_context():
        workflow.approve_loan(db.session, head, loan_id)
        db.session.remove()
    assert "23 free" in article(visitor.get(url).get_data(as_text=True), group_id)
    with app.app_context():
        assert db.session.get(Loan, loan_id).status == "approved"
        db.session.remove()

    name = unique("องค์การบริหารส่วนตำบลทดสอบ ")
    with app.app_context():
        before = core_services.get_settings(db.session)["agency_name"]
        core_services.update_settings(db.session, admin, {"agency_name": name})
        db.session.remove()
    try:
        assert name in visitor.get(url).get_data(as_text=True)
        assert name in visitor.get("/e-service").get_data(as_text=True)
    finally:
        with app.app_context():
            core_services.update_settings(db.session, admin, {"agency_name": before})
            db.session.remove()
    assert name not in visitor.get("/e-service").get_data(as_text=True)


def test_each_visitor_gets_a_token_and_cookie_of_their_own(app, chairs, csrf_on):
    first, second = fresh_client(app), fresh_client(app)
    one = first.get("/e-service")
    two = second.get("/e-service")
    assert one.status_code == two.status_code == 200
    token_one = set(TOKEN.findall(one.get_data(as_text=True)))
    token_two = set(TOKEN.findall(two.get_data(as_text=True)))
    assert len(token_one) == len(token_two) == 1 and token_one != token_two
    assert page_cache.CSRF_PLACEHOLDER not in one.get_data(as_text=True) + two.get_data(as_text=True)
    cookie_one, cookie_two = one.headers.get("Set-Cookie", ""), two.headers.get("Set-Cookie", "")
    assert cookie_one and cookie_two and cookie_one != cookie_two
    # each token is good for its own visitor only
    [t1], [t2] = token_one, token_two
    assert second.post("/lang/th", data={"csrf_token": t1, "next": "/e-service"}).status_code == 400
    assert first.post("/lang/th", data={"csrf_token": t1, "next": "/e-service"}).status_code == 302
    assert second.post("/lang/th", data={"csrf_token": t2, "next": "/e-service"}).status_code == 302


def test_thai_and_english_are_different_pages(app, chairs):
    thai = fresh_client(app, "th").get("/e-service").get_data(as_text=True)
    english = fresh_client(app, "en").get("/e-service").get_data(as_text=True)
    assert 'lang="th"' in thai and "What we lend" not in thai
    assert 'lang="en"' in english and "What we lend" in english
    assert 'lang="th"' in fresh_client(app, "th").get("/e-service").get_data(as_text=True)


def test_a_message_or_a_sign_in_gets_a_page_of_its_own(app, chairs, make_user):
    fresh_client(app).get("/e-service")  # the shared page, cached
    assert len(page_cache._pages) == 1
    told = fresh_client(app)
    with told.session_transaction() as cookie:
        cookie["_flashes"] = [("info", "ข้อความเฉพาะผู้นี้ 4711")]
    assert "ข้อความเฉพาะผู้นี้ 4711" in told.get("/e-service").get_data(as_text=True)
    assert "ข้อความเฉพาะผู้นี้ 4711" not in fresh_client(app).get("/e-service").get_data(as_text=True)
    staff = make_user()
    signed_in = fresh_client(app)
    assert login(signed_in, staff.username).status_code == 302
    page_cache.clear()
    assert signed_in.get("/e-service").status_code == 200
    assert told.get("/e-service").status_code == 200  # the message was shown once; now the shared page
    assert len(page_cache._pages) == 1  # only the anonymous visitor's page was kept


def _statements(app, client, url: str) -> list[str]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # BEGIN / SAVEPOINT / RELEASE are the driver's transaction noise, not the page's work
    return [s for s in seen if not re.match(r"\s*(BEGIN|SAVEPOINT|RELEASE|ROLLBACK|COMMIT)\b", s, re.I)]


def test_the_public_pages_cost_a_fixed_number_of_statements(app, chairs):
    client = fresh_client(app)
    client.get("/e-service")
    assert len(_statements(app, client, "/e-service")) == 2  # the groups with their counts, the settings
    day = (bangkok_today() + timedelta(days=5)).isoformat()
    url = f"/e-service?start={day}&end={day}"
    client.get(url)
    assert len(_statements(app, client, url)) == 3  # and what holds each group on those days
    # a page rendered afresh (nothing cached) reads the settings once more for the agency's name
    page_cache.clear()
    assert len(_statements(app, fresh_client(app), "/e-service")) == 3
    # a group's month: the group, its usable count (twice: the page's and the month's), what holds it on the
    # month's days, the settings
    group_id, _ = chairs
    client.get(f"/e-service/calendar/{group_id}")
    assert len(_statements(app, client, f"/e-service/calendar/{group_id}")) == 5


def test_a_group_s_photo_is_linked_by_its_hash_kept_for_good_and_revalidated_by_etag(app, chairs):
    from audit import record
    from core.db import begin_write
    from core.files import FileStore
    from core.models import StoredFile
    from lending.groups.models import LendingGroup

    group_id, _ = chairs
    data = b"\x89PNG\r\n\x1a\n" + unique("photo").encode()  # the bytes are served as stored
    with app.app_context():
        sha = FileStore(app.config["EVIDENCE_DIR"]).write(data)
        begin_write(db.session)
        if db.session.get(StoredFile, sha) is None:
            db.session.add(StoredFile(sha256=sha, size=len(data), mime="image/png", original_name="chairs.png"))
        group = db.session.get(LendingGroup, group_id)
        before = group.state()
        group.photo_sha256 = sha
        record(db.session, None, "lending_group.updated", group, {"before": before, "after": group.state()})
        db.session.commit()
    visitor = fresh_client(app)
    html = article(visitor.get("/e-service").get_data(as_text=True), group_id)
    src = re.search(r'<img[^>]+src="([^"]+)"', html).group(1)
    assert src == f"/e-service/photo/{group_id}?v={sha[:16]}"
    photo = visitor.get(src)
    assert photo.status_code == 200 and photo.data == data
    assert photo.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert photo.headers["ETag"] == f'"{sha}"'
    again = visitor.get(src, headers={"If-None-Match": f'"{sha}"'})
    assert again.status_code == 304 and not again.data
    # an old or made-up version is not kept for good
    stale = visitor.get(f"/e-service/photo/{group_id}?v=0000")
    assert stale.status_code == 200 and "immutable" not in stale.headers["Cache-Control"]


def test_the_calendar_shows_an_approval_at_once(app, chairs, officer):
    group_id, _ = chairs
    start = bangkok_today() + timedelta(days=3)
    url = f"/e-service/calendar/{group_id}?month={start.strftime('%Y-%m')}"
    visitor = fresh_client(app)

    def free_on(day) -> str:
        html = visitor.get(url).get_data(as_text=True)
        cell = re.search(rf'data-day="{day.isoformat()}">.*?<span class="es-c"[^>]*>([0-9]+)<', html, re.S)
        assert cell, html[:1500]
        return cell.group(1)

    assert free_on(start) == "30" and free_on(start) == "30"
    ref = ref_of(send(fresh_client(app), form_for(group_id, 9, start=start, end=start)))
    with app.app_context():
        loan_id = db.session.execute(select(Loan.id).where(Loan.public_ref == ref)).scalar_one()
        workflow.approve_loan(db.session, officer, loan_id)
        db.session.remove()
    assert free_on(start) == "21"


def test_a_page_that_takes_the_visitor_s_real_token_is_never_kept(app):
    """A template part that calls csrf_token() outside the page's context (a macro imported without it)
    would put the visitor's own token in the page: such a page is served to that visitor and not kept."""
    from flask import render_template_string
    from flask_wtf.csrf import generate_csrf

    page_cache.clear()
    with app.test_request_context("/e-service"):
        html = page_cache.page(("test",), lambda csrf_token: render_template_string("{{ t() }}", t=generate_csrf))
        assert html == generate_csrf()
    assert ("test",) not in page_cache._pages
    with app.test_request_context("/e-service"):
        html = page_cache.page(("test",), lambda csrf_token: render_template_string("{{ t() }}", t=csrf_token))
        assert html == generate_csrf()
    assert ("test",) in page_cache._pages
