"""Who may open what: every route of the app against every role, as one table.

A new route fails `test_every_route_has_a_row_in_the_matrix` until it gets a row here, so nobody adds a
page without deciding who may see it. Expected values: a status code, or a path for a 302 (the path the
redirect goes to; `{asset_id}` and `{user_id}` are filled in).
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
from flask import url_for
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core import services as core_services
from core.db import db
from lending.models import Asset
from tests.conftest import PASSWORD, login, unique

ROLES = ("anonymous", "staff", "supply_officer", "head", "auditor", "admin")
SKIPPED = {"static", "bootstrap.static"}
LOGIN = "/login"


def everyone(expected) -> dict:
    """Anonymous visitors are sent to the login page; every signed-in role gets `expected`."""
    return {"anonymous": LOGIN, **{role: expected for role in ROLES[1:]}}


def only(roles: tuple[str, ...], expected) -> dict:
    """Only `roles` get `expected`; other signed-in roles get 403; anonymous visitors go to the login."""
    return {"anonymous": LOGIN, **{role: expected if role in roles else 403 for role in ROLES[1:]}}


def public(expected) -> dict:
    return {role: expected for role in ROLES}


ADMIN = ("admin",)
OFFICER = ("supply_officer",)
AUDITOR = ("auditor",)

EXPECTED: dict[str, dict[str, int | str]] = {
    # core: sign in and out, own account, language, fonts
    "core.home": everyone("/assets"),
    "core.login": public(200),
    "core.logout": everyone(LOGIN),
    "core.change_password": everyone(200),
    "core.set_lang": public("/"),
    "core.font": public(200),
    # core: the admin's people and settings
    "core.users": only(ADMIN, 200),
    "core.user_new": only(ADMIN, 200),
    "core.user_edit": only(ADMIN, 200),
    "core.user_active": only(ADMIN, "/admin/users/{user_id}"),
    "core.user_password": only(ADMIN, "/admin/users/{user_id}"),
    "core.settings": only(ADMIN, 200),
    # lending: the register, read by everyone signed in
    "lending.assets": everyone(200),
    "lending.asset": everyone(200),
    "lending.tag": everyone("/assets/{asset_id}"),
    "lending.asset_photo": everyone(200),
    "lending.asset_qr": everyone(200),
    "lending.asset_export": everyone(200),
    # lending: kept by the supply officer
    "lending.asset_new": only(OFFICER, 200),
    "lending.asset_edit": only(OFFICER, 200),
    "lending.asset_status": only(OFFICER, "/assets/{asset_id}"),
    "lending.asset_photo_upload": only(OFFICER, "/assets/{asset_id}"),
    "lending.asset_labels": only(OFFICER, 200),
    "lending.asset_import": only(OFFICER, 200),
    "lending.asset_import_apply": only(OFFICER, "/assets/import"),
    # audit: the internal auditor reads the log; nobody else does
    "audit.log": only(AUDITOR, 200),
    "audit.record_history": only(AUDITOR, 200),
    "audit.entry": only(AUDITOR, 200),
    "audit.verify": only(AUDITOR, 200),
    "audit.export_csv": only(AUDITOR, 200),
    "audit.export_xlsx": only(AUDITOR, 200),
    # operations
    "healthz": public(200),
}

# Routes whose request ends the client's session: they get a client of their own.
SESSION_ENDING = {"core.logout"}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (20, 120, 60)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def world(app):
    """One user per role, each signed in once for the module; an asset with a photo; a user to act on."""
    with app.app_context():
        names = {role: core_services.create_user(db.session, None, unique(role[:5]), "ทดสอบ สิทธิ์", {role},
                                                 PASSWORD).username for role in ROLES[1:]}
        target = core_services.create_user(db.session, None, unique("target"), "เป้าหมาย ทดสอบ", {"staff"},
                                           PASSWORD).id
        db.session.remove()
    clients = {"anonymous": app.test_client()}
    for role, username in names.items():
        clients[role] = app.test_client()
        assert login(clients[role], username).status_code == 302

    officer = clients["supply_officer"]
    number = unique("416-68-")
    resp = officer.post("/assets/new", data={"asset_number": number, "name": "กล้องถ่ายภาพ", "category": "กล้อง",
                                             "lendable": "y"})
    assert resp.status_code == 302
    with app.app_context():
        asset_id, tag = db.session.execute(
            select(Asset.id, Asset.tag).where(Asset.asset_number == number)).one()
        db.session.remove()
    resp = officer.post(f"/assets/{asset_id}/photo", data={"photo": (io.BytesIO(_png()), "photo.png")},
                        content_type="multipart/form-data")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Asset, asset_id).photo_sha256, "the photo was not stored"
        db.session.remove()
    with app.app_context():
        seq = db.session.execute(select(func.max(AuditEntry.seq))).scalar_one()
        db.session.remove()
    args = {"asset_id": asset_id, "tag": tag, "user_id": target, "fmt": "png", "code": "th",
            "name": "Sarabun-Regular.ttf", "seq": seq, "subject_type": "asset", "subject_id": asset_id}
    return {"clients": clients, "names": names, "args": args}


def test_every_route_has_a_row_in_the_matrix(app):
    routed = {rule.endpoint for rule in app.url_map.iter_rules()} - SKIPPED
    missing = sorted(routed - set(EXPECTED))
    assert not missing, f"add these endpoints to EXPECTED in {__name__}: {missing}"
    stale = sorted(set(EXPECTED) - routed)
    assert not stale, f"these rows name no route any more: {stale}"


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_every_row_decides_for_every_role(endpoint):
    assert set(EXPECTED[endpoint]) == set(ROLES)


def _request(app, client, endpoint: str, args: dict):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    assert rules, f"no route for {endpoint}"
    rule = rules[0]
    with app.test_request_context():
        url = url_for(endpoint, **{name: args[name] for name in rule.arguments})
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url, data={})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_the_route_answers_each_role_as_the_matrix_says(app, world, endpoint, role):
    expected = EXPECTED[endpoint][role]
    client = world["clients"][role]
    if endpoint in SESSION_ENDING and role != "anonymous":
        client = app.test_client()
        assert login(client, world["names"][role]).status_code == 302
    with _request(app, client, endpoint, world["args"]) as resp:
        status, location = resp.status_code, resp.headers.get("Location", "")
        body = resp.get_data(as_text=True)[:300] if resp.mimetype.startswith("text/") else resp.mimetype
    if isinstance(expected, int):
        assert status == expected, body
    else:
        assert status == 302, body
        assert urlsplit(location).path == expected.format(**world["args"])
