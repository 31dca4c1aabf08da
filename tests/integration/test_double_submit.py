"""The same create form sent twice — at the same instant (a double click, two tabs) or replayed later —
makes one record, and every submission is answered with that record. On SQLite and PostgreSQL.

Each form carries the one-time token the page gives it (`form_token`); the threads post the same form
from two browsers of the same person, released together by a barrier, as tests/integration/
test_lending_concurrency.py does for approvals.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.dates import bangkok_date, format_numeric
from core.db import db, utcnow
from core.models import FormToken, User
from evidence.items.models import EvidenceItem
from evidence.measures.models import Measure
from lending.loans.models import Loan
from lending.manual.models import ManualVersion
from lending.register.models import Asset
from lending.stocktake.models import StocktakeRound
from tests.conftest import PASSWORD, login, unique

TOKEN = re.compile(r'name="form_token" value="([A-Za-z0-9_-]+)"')
YEAR = 2569


def signed_in(app, user):
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    return client


def token_from(client, url: str) -> str:
    """The token of the form on the page, as a browser would send it back."""
    page = client.get(url).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, f"{url} has no form_token"
    return match.group(1)


def at_once(posts: list[Callable[[], object]]) -> list:
    """Run each post in its own thread, released together; the responses in order."""
    barrier = threading.Barrier(len(posts))
    out: list = [None] * len(posts)

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            out[i] = posts[i]()
        except BaseException as e:  # noqa: BLE001 — the test reports it
            out[i] = e

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(posts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return out


def count(app, model, *where) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
        db.session.remove()
    return n


def stored_token(app, token: str) -> FormToken | None:
    with app.app_context():
        row = db.session.get(FormToken, token)
        db.session.expunge_all()
        db.session.remove()
    return row


def png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


def _loan(app, make_user, make_asset, admin) -> dict:
    staff = make_user(roles=["staff"])
    asset = make_asset()
    start = bangkok_date(utcnow()) + timedelta(days=1)
    return {
        "user": staff,
        "page": "/loans/new",
        "url": "/loans/new",
        "data": lambda: {
            "action": "send",
            "assets": [str(asset.id)],
            "purpose": "ประชุมหมู่บ้าน",
            "place": "ศาลาประชาคม",
            "start_on": format_numeric(start),
            "due_on": format_numeric(start + timedelta(days=1)),
        },
        "model": Loan,
        "where": [Loan.borrower_id == staff.id],
        "location": r"/loans/(\d+)$",
    }


def _evidence(app, make_user, make_asset, admin) -> dict:
    officer = make_user(roles=["supply_officer"])
    title = unique("หลักฐาน ")
    return {
        "user": officer,
        "page": f"/evidence/new?year={YEAR}",
        "url": "/evidence/new",
        "data": lambda: {
            "fiscal_year": str(YEAR),
            "indicators": ["i20"],
            "title": title,
            "files": (io.BytesIO(png()), "photo.png"),
        },
        "model": EvidenceItem,
        "where": [EvidenceItem.title == title],
        "location": r"/evidence/(\d+)$",
    }


def _measure(app, make_user, make_asset, admin) -> dict:
    title = unique("มาตรการ ")
    return {
        "user": admin,
        "page": f"/evidence/measures/new?year={YEAR}",
        "url": f"/evidence/measures/new?year={YEAR}",
        "data": lambda: {"title": title, "indicators": ["i20"]},
        "model": Measure,
        "where": [Measure.title == title],
        "location": r"/evidence/measures",
    }


def _round(app, make_user, make_asset, admin) -> dict:
    member, head = make_user(roles=["staff"]), make_user(roles=["head"])  # the head opens rounds (ข้อ 213)
    dept = unique("กอง")
    make_asset(department=dept)
    return {
        "user": head,
        "page": "/stocktake/new",
        "url": "/stocktake/new",
        "data": lambda: {
            "fiscal_year": str(YEAR),
            "department": dept,
            "location": "",
            "committee": [str(member.id)],
            "title": "",
        },
        "model": StocktakeRound,
        "where": [StocktakeRound.scope_department == dept],
        "location": r"/stocktake/(\d+)$",
    }


def _manual(app, make_user, make_asset, admin) -> dict:
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(ManualVersion)).scalar_one()
        db.session.remove()
    return {
        "user": admin,
        "page": "/manual",
        "url": "/manual/publish",
        "data": lambda: {},
        "model": ManualVersion,
        "where": [],
        "before": before,
        "location": r"/manual/versions$",
    }


def _user(app, make_user, make_asset, admin) -> dict:
    username = unique("dup")
    return {
        "user": admin,
        "page": "/admin/users/new",
        "url": "/admin/users/new",
        "data": lambda: {"username": username, "name": "ทดสอบ ส่งซ้ำ", "roles": ["staff"], "password": PASSWORD},
        "model": User,
        "where": [User.username == username],
        "location": r"/admin/users(/\d+)?$",
    }


def _asset(app, make_user, make_asset, admin) -> dict:
    officer = make_user(roles=["supply_officer"])
    number = unique("416-70-")
    return {
        "user": officer,
        "page": "/assets/new",
        "url": "/assets/new",
        "data": lambda: {"asset_number": number, "name": "กล้อง", "category": "กล้อง", "lendable": "y"},
        "model": Asset,
        "where": [Asset.asset_number == number],
        "location": r"/assets/(\d+)$",
    }


FORMS = {
    "loan request": _loan,
    "evidence upload": _evidence,
    "measure": _measure,
    "stock-take round": _round,
    "manual version": _manual,
    "user": _user,
    "asset": _asset,
}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_a_form_sent_twice_at_the_same_instant_makes_one_record_and_a_replay_gets_it(
    app, make_user, make_asset, admin, kind
):
    case = FORMS[kind](app, make_user, make_asset, admin)
    first, second = signed_in(app, case["user"]), signed_in(app, case["user"])
    token = token_from(first, case["page"])
    before = case.get("before", count(app, case["model"], *case["where"]))

    def post(client):
        return lambda: client.post(
            case["url"], data={**case["data"](), "form_token": token}, content_type="multipart/form-data"
        )

    responses = at_once([post(first), post(second)])
    assert all(not isinstance(r, BaseException) for r in responses), responses
    assert [r.status_code for r in responses] == [302, 302], [r.get_data(as_text=True)[:300] for r in responses]
    assert count(app, case["model"], *case["where"]) == before + 1
    row = stored_token(app, token)
    assert row is not None and row.record_id, "the token is stored with the record it made"
    for r in responses:
        assert re.search(case["location"], r.headers["Location"]), r.headers["Location"]

    replay = first.post(case["url"], data={**case["data"](), "form_token": token}, content_type="multipart/form-data")
    assert replay.status_code == 302
    assert count(app, case["model"], *case["where"]) == before + 1
    if "(" in case["location"] and kind != "user":
        assert re.search(case["location"], replay.headers["Location"]).group(1) == row.record_id


def test_a_refused_submission_leaves_its_token_free_for_the_corrected_form(app, make_user):
    staff = make_user(roles=["staff"])
    client = signed_in(app, staff)
    token = token_from(client, "/loans/new")
    start = bangkok_date(utcnow()) - timedelta(days=3)  # a loan cannot start in the past: refused
    resp = client.post(
        "/loans/new",
        data={
            "action": "send",
            "assets": [],
            "purpose": "x",
            "place": "y",
            "start_on": format_numeric(start),
            "due_on": format_numeric(start),
            "form_token": token,
        },
    )
    assert resp.status_code == 200
    assert stored_token(app, token) is None
    assert count(app, Loan, Loan.borrower_id == staff.id) == 0


def test_two_forms_for_the_same_username_at_once_give_one_account_and_a_409_never_a_500(app, admin):
    """Different forms (different tokens), the same new username: the loser is told, on both databases."""
    username = unique("race")
    clients = [signed_in(app, admin), signed_in(app, admin)]
    tokens = [token_from(c, "/admin/users/new") for c in clients]
    data = {"username": username, "name": "ชิง ชื่อ", "roles": ["staff"], "password": PASSWORD}
    responses = at_once(
        [
            lambda c=c, t=t: c.post("/admin/users/new", data={**data, "form_token": t})
            for c, t in zip(clients, tokens, strict=True)
        ]
    )
    assert sorted(r.status_code for r in responses) == [302, 409], [r.status_code for r in responses]
    assert count(app, User, User.username == username) == 1
