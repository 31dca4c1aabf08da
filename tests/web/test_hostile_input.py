"""No HTTP 500 from anything a user or a stranger can send: every route × method of the route table gets
hostile values — NUL and other control characters, 2^63 and 2^64, negative and non-numeric numbers, far
dates, long strings — in its path variables, its query and its form, as an anonymous visitor and signed in
as a supply officer and as an admin. Any 5xx fails, naming the requests.

The cases come from `app.url_map` and the form fields the code declares (every FlaskForm subclass, and the
query arguments the views and queries read), so a route or a field added later is swept too.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter, PathConverter

from core.db import db
from core.models import User
from core.people import services as core_services
from core.web import context
from lending.register.models import Asset
from tests.conftest import PASSWORD, login, unique

SKIP_ENDPOINTS = {"static", "bootstrap.static"}  # files from disk: only their paths are swept
LONG = "x" * (100 * 1024)  # 100 KB (ASCII: the test client percent-encodes Thai at a second per request)
VALUES = ["\x00", "a\x01b", str(2**64), "-1", "abc", "²", "0001-01-01", "9999-12-31", "ก" * 300, LONG]
PATH_INTS = [str(2**64), str(2**63), "0", "-1", "abc", "1%00"]
PATH_STRINGS = ["%00", "a%01b", str(2**64), "-1", "x" * 2000]


class Recording(ImmutableMultiDict):
    """Query and form storage that notes every name a view asks for (discovery pass)."""

    asked: set[str] = set()

    def get(self, key, default=None, type=None):
        Recording.asked.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        Recording.asked.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        Recording.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        Recording.asked.add(key)
        return super().__contains__(key)


@pytest.fixture(scope="module")
def world(app):
    """An officer and an admin to sign in as, a user and an asset for ids in paths."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        people = {}
        for role in ("supply_officer", "admin", "staff", "root"):
            roles = {"admin"} if role == "root" else {role}
            user = core_services.create_user(db.session, None, unique("hx"), "ผู้ทดสอบ ข้อมูลแปลก", roles, PASSWORD)
            people[role] = user.id, user.username
        asset_id = db.session.scalars(select(Asset.id).limit(1)).first()
        db.session.remove()
    # "root" is a second admin, never signed in here, who can put the swept admin's account right
    return {
        "people": people,
        "root": people["root"][0],
        "ids": {"user_id": people["staff"][0], "asset_id": asset_id or 1},
    }


def urls_for(rule, ids: dict[str, int]) -> list[str]:
    """The rule's path with valid-looking values, then with each path variable made hostile in turn."""

    def fill(overrides: dict[str, str]) -> str:
        def value(match: re.Match) -> str:
            name = match.group(2)
            if name in overrides:
                return overrides[name]
            converter = rule._converters[name]
            if isinstance(converter, IntegerConverter):
                return str(ids.get(name, 1))
            if isinstance(converter, PathConverter):
                return "x.css"
            return {"fmt": "png", "kind": "pdf", "code": "en", "subject_type": "asset"}.get(name, "1")

        return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", value, rule.rule)

    urls = [fill({})]
    for name, converter in rule._converters.items():
        for raw in PATH_INTS if isinstance(converter, IntegerConverter) else PATH_STRINGS:
            urls.append(fill({name: raw}))
    return urls


def _send(client, method: str, url: str, form: dict | None = None):
    """One request; the response is closed (a file sent from the store stays open until then)."""
    resp = client.open(url, method=method, data=form or None)
    resp.close()
    return resp


def discover(app, client, sign_in=lambda: None) -> dict[tuple[str, str], set[str]]:
    """(method, url) → the query and form names its view reads, learnt by sending each route once with
    nothing and recording what it asks for (so the cases follow the code, not a list kept here)."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP_ENDPOINTS]
    found: dict[tuple[str, str], set[str]] = {}
    storage = app.request_class.parameter_storage_class
    app.request_class.parameter_storage_class = Recording
    try:
        for rule in rules:
            url = urls_for(rule, IDS)[0]
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                Recording.asked = set()
                resp = _send(client, method, url)
                found[(method, url)] = {n for n in Recording.asked if n != "csrf_token"}
                if resp.status_code == 302 and resp.headers["Location"].startswith("/login"):
                    sign_in()  # the request signed us out (logout): sign in again
    finally:
        app.request_class.parameter_storage_class = storage
    return found


def cases_of(app, asked: dict[tuple[str, str], set[str]]) -> list[tuple[str, str, dict]]:
    """(method, url, form): each route's path variables made hostile, then for each hostile value every
    name it reads set to that value (in the query for GET, in the form otherwise)."""
    cases: list[tuple[str, str, dict]] = []
    for rule in app.url_map.iter_rules():
        urls = urls_for(rule, IDS)
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        if rule.endpoint in SKIP_ENDPOINTS:
            cases += [("GET", url, {}) for url in urls[1:]]
            continue
        for method in methods:
            cases += [(method, url, {}) for url in urls[1:]]
            names = sorted(asked.get((method, urls[0]), set()) | {"q", "page"})
            for value in VALUES:
                if method == "GET":
                    cases.append((method, f"{urls[0]}?" + "&".join(f"{n}={quote(value)}" for n in names), {}))
                else:
                    cases.append((method, urls[0], {n: value for n in names}))
    return cases


IDS: dict[str, int] = {}


@pytest.mark.parametrize("role", ["anonymous", "supply_officer", "admin"])
def test_no_route_answers_a_hostile_value_with_a_server_error(app, world, role, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # a 500 is a response to count, not a raise
    IDS.update(world["ids"])
    client = app.test_client()
    username = None
    if role != "anonymous":
        user_id, username = world["people"][role]

    def sign_in() -> None:
        if username is None or login(client, username).status_code == 302:
            return
        with app.app_context():  # undo what a swept request did to the account (its password, active)
            context.set_origin("127.0.0.1", "pytest")
            admin = db.session.get(User, world["people"]["admin"][0] if role != "admin" else world["root"])
            core_services.reset_password(db.session, admin, user_id, PASSWORD)
            core_services.set_user_active(db.session, admin, user_id, True)
            db.session.remove()
        assert login(client, username).status_code == 302

    with app.app_context():  # the sweep may change the agency's settings: they are put back after it
        saved = dict(core_services.get_settings(db.session))
        db.session.remove()
    try:
        failures = sweep(app, client, sign_in, username)
    finally:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest")
            core_services.update_settings(db.session, None, saved)
            db.session.remove()
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:60])


def sweep(app, client, sign_in, username) -> list[str]:
    """Send every case; the 5xx answers, as lines."""
    sign_in()
    cases = cases_of(app, discover(app, client, sign_in))
    sign_in()
    failures = []
    for method, url, form in cases:
        resp = _send(client, method, url, form)
        if resp.status_code >= 500:
            failures.append(f"{resp.status_code} {method} {url[:120]} {sorted(form)[:3] if form else ''}")
        if username is not None and resp.status_code == 302 and resp.headers["Location"].startswith("/login"):
            sign_in()  # the request signed us out (logout, a password change): sign in again
    return failures


def test_the_converter_matches_only_ids_a_database_can_hold(app, client, world):
    assert login(client, world["people"]["supply_officer"][1]).status_code == 302
    assert client.get("/loans/99999999999999999999").status_code == 404
    assert client.get(f"/loans/{2**63}").status_code == 404
    assert client.get("/loans/0").status_code == 404
    assert client.get(f"/assets/{world['ids']['asset_id']}").status_code in (200, 404)


def test_a_nul_in_the_login_form_is_a_400_with_a_message_and_no_traceback(client):
    resp = client.post("/login", data={"username": "admin\x00", "password": "x"})
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "Traceback" not in page
    assert "control characters" in page or "อักขระควบคุม" in page


def test_a_nul_in_a_path_is_refused_before_the_database(client):
    resp = client.get("/t/ab%00cd")
    assert resp.status_code in (400, 404)


def test_a_far_date_in_the_audit_filter_is_a_message_not_an_error(app, client, make_user):
    auditor = make_user(roles=["auditor"])
    assert login(client, auditor.username).status_code == 302
    for day in ("0001-01-01", "9999-12-31", "31/12/9999"):
        resp = client.get(f"/audit/?from={day}&to={day}")
        assert resp.status_code == 200
        assert client.get(f"/audit/export.csv?from={day}").status_code < 500


def test_a_bad_csrf_token_is_a_400_with_the_form_expired_message(app, client, csrf_on, world):
    resp = client.post("/login", data={"username": "x", "password": "y", "csrf_token": "forged\x00"})
    assert resp.status_code == 400
    resp = client.post("/login", data={"username": "x", "password": "y", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert "Traceback" not in resp.get_data(as_text=True)


def test_a_value_the_database_refuses_is_a_400_not_a_500(app, client, monkeypatch):
    from sqlalchemy.exc import DataError

    from core.people import views as core_views

    def refuse(*args, **kwargs):
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying(64)"))

    monkeypatch.setattr(core_views, "render_template", refuse)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    resp = client.get("/login")
    assert resp.status_code == 400
    assert "too long or out of range" in resp.get_data(as_text=True) or "ยาวเกินไป" in resp.get_data(as_text=True)


def test_the_label_sheets_list_of_5000_ids_passes_the_edge_but_a_long_text_does_not(app, client, world):
    """The register's selection of up to 5,000 assets travels as one comma-separated value (34 KB for
    six-digit ids): the edge lets digits and commas through up to 100,000 characters, nothing else."""
    assert login(client, world["people"]["supply_officer"][1]).status_code == 302
    ids = ",".join(str(900_000 + i) for i in range(5000))  # none exists: the view answers, not the edge
    assert len(ids) > 20_000
    resp = client.post("/assets/labels", data={"layout": "3x8", "start_at": "0", "ids": ids})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    for value in ("x" * 30_000, "1," * 60_000, "1 2" * 10_000):
        resp = client.post("/assets/labels", data={"layout": "3x8", "start_at": "0", "ids": value})
        assert resp.status_code == 400, value[:10]
