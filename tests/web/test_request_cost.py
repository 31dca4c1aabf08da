"""The fixed cost of a request (issue 16): how many statements each busy page sends to the database, and
that what makes them few — the user, roles and settings version in one statement, settings cached per
process, permission unions cached per set of roles — never shows one person another's data or a stale
permission or setting.

How statements are counted: every statement the engine sends to the driver during one GET, after one
warm-up GET of the same page by the same person (a running server has its settings cached; the first
request of a process reads them once more). Transaction control is not counted — BEGIN (SQLite's explicit
one; PostgreSQL's is implicit in the driver and never seen), SAVEPOINT, RELEASE, ROLLBACK, COMMIT — nor
PRAGMA (SQLite's tuning of a new connection): they depend on the pool and the backend, not on the page.

A page that gains a statement fails its test; a page that loses one fails too, so that its budget is
lowered in the same change and cannot creep back up.
"""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from core.db import begin_write, db
from core.models import User
from core.people import services as core_services
from tests.conftest import login, unique
from tests.web.test_loan_pages import new_loan, signed_in

NOISE = re.compile(r"^\s*(BEGIN|SAVEPOINT|RELEASE|ROLLBACK|COMMIT|PRAGMA)\b", re.I)

# statements per page, steady state (see the module's docstring for what is counted)
BUDGETS = {
    "register": 5,  # user+roles+settings version, the assets' version (the page's total and ids kept per
    # process under it), the page's rows, reservations, unread
    "asset": 10,  # user…, asset, history (with its total), reservations, bookings (+ their lines and items),
    # unread, stock-take rounds, evidence attached
    "loan": 11,  # user…, loan (+ lines, items), demands, incidents, photos, clashes, drops, unread, evidence
    "queue": 5,  # user…, both stages and their counts, their lines and items, unread
}


@contextmanager
def statements(app):
    """The statements (SQL text) sent to the database inside the block, transaction control left out."""
    seen: list[str] = []

    def before(_conn, _cursor, statement, _params, _context, _executemany):
        if not NOISE.match(statement):
            seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def count_statements(app, client, url: str) -> tuple[int, list[str]]:
    """Statements of one GET of `url` after a warm-up GET of it; the page must answer 200."""
    assert client.get(url).status_code == 200, url
    with statements(app) as seen:
        resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return len(seen), seen


@pytest.fixture
def scene(app, make_user, make_asset):
    """An officer, a borrower, two assets and a request for both waiting for approval."""
    officer = make_user(roles=["supply_officer"])
    staff = make_user(roles=["staff"])
    first, second = make_asset(), make_asset()
    loan_id = new_loan(app, staff, [first, second])
    return {"officer": officer, "staff": staff, "asset": first, "loan": loan_id}


@pytest.mark.parametrize(
    "page, url",
    [
        ("register", lambda s: "/assets"),
        ("asset", lambda s: f"/assets/{s['asset'].id}"),
        ("loan", lambda s: f"/loans/{s['loan']}"),
        ("queue", lambda s: "/loans/queue"),
    ],
)
def test_a_busy_page_sends_no_more_statements_than_its_budget(app, scene, page, url):
    client = signed_in(app, scene["officer"])
    n, seen = count_statements(app, client, url(scene))
    listing = "\n".join(f"  {i + 1}. {s[:200]}" for i, s in enumerate(seen))
    assert n == BUDGETS[page], f"{page}: {n} statements, budget {BUDGETS[page]}:\n{listing}"


def test_the_settings_are_read_once_per_process_not_once_per_page(app, scene):
    client = signed_in(app, scene["officer"])
    with statements(app) as seen:
        for _ in range(3):
            assert client.get("/assets").status_code == 200
    assert not [s for s in seen if "FROM settings " in s + " "], "the settings were read again"


# --- nothing cached shows one person another's data -------------------------------------------------


def test_two_people_alternating_each_see_their_own_name_and_menu(app, make_user):
    officer = make_user(roles=["supply_officer"], name=unique("เจ้าหน้าที่ "))
    staff = make_user(roles=["staff"], name=unique("ผู้ยืม "))
    a, b = signed_in(app, officer), signed_in(app, staff)
    for _ in range(2):
        mine, theirs = a.get("/assets").get_data(as_text=True), b.get("/assets").get_data(as_text=True)
        assert officer.name in mine and staff.name not in mine
        assert staff.name in theirs and officer.name not in theirs
        assert 'href="/loans/queue"' in mine and 'href="/loans/queue"' not in theirs
        assert b.get("/loans/queue").status_code == 403
        assert a.get("/loans/queue").status_code == 200


def _set_roles(app, user: User, roles: set[str]) -> None:
    with app.app_context():
        admin = core_services.create_user(db.session, None, unique("adm"), "ผู้ดูแล", {"admin"}, "pw-12345678")
        fresh = db.session.get(User, user.id)
        core_services.update_user(db.session, admin, user.id, version=fresh.version, name=fresh.name, roles=roles)
        db.session.remove()


def test_a_role_removed_or_added_counts_on_the_next_request(app, make_user):
    person = make_user(roles=["supply_officer"])
    client = signed_in(app, person)
    assert client.get("/loans/queue").status_code == 200
    _set_roles(app, person, {"staff"})
    assert client.get("/loans/queue").status_code == 403
    assert 'href="/loans/queue"' not in client.get("/assets").get_data(as_text=True)
    _set_roles(app, person, {"staff", "head"})
    assert client.get("/loans/queue").status_code == 200


def _footer(client) -> str:
    return client.get("/assets").get_data(as_text=True).split("<footer", 1)[1]


def test_a_setting_changed_through_the_app_shows_on_the_next_request(app, scene):
    client = signed_in(app, scene["officer"])
    with app.app_context():
        before = core_services.get_settings(db.session)["district"]
    district = unique("อำเภอ")
    assert district not in _footer(client)
    try:
        with app.app_context():
            core_services.update_settings(db.session, None, {"district": district})
            db.session.remove()
        assert district in _footer(client)
    finally:
        with app.app_context():
            core_services.update_settings(db.session, None, {"district": before})
            db.session.remove()
    assert district not in _footer(client)


def _in_another_process(url: str, sql: str, params: dict) -> None:
    """Run one statement from a separate Python process with its own connection (as a second server
    worker, the CLI or an operator's SQL would)."""
    code = (
        "import json, sys\n"
        "from sqlalchemy import create_engine, text\n"
        "url, sql, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])\n"
        "with create_engine(url).begin() as conn:\n"
        "    conn.execute(text(sql), params)\n"
    )
    import json

    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code, url, sql, json.dumps(params)], check=True, cwd=root)


def test_the_district_changed_by_another_process_is_on_the_next_page(app, scene):
    client = signed_in(app, scene["officer"])
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        had_row = db.session.execute(db.text("SELECT count(*) FROM settings WHERE key = 'district'")).scalar()
        old = core_services.get_settings(db.session)["district"]
        db.session.remove()
    district = unique("อำเภอ")
    assert district not in _footer(client)
    try:
        verb = "UPDATE settings SET value = :v WHERE key = 'district'"
        if not had_row:
            verb = "INSERT INTO settings (key, value) VALUES ('district', :v)"
        _in_another_process(url, verb, {"v": f'"{district}"'})
        assert district in _footer(client)
    finally:
        if had_row:
            _in_another_process(url, "UPDATE settings SET value = :v WHERE key = 'district'", {"v": f'"{old}"'})
        else:
            _in_another_process(url, "DELETE FROM settings WHERE key = 'district'", {})
    assert district not in _footer(client)


def test_settings_read_inside_a_change_that_rolled_back_are_never_served(app):
    with app.app_context():
        before = core_services.get_settings(db.session)["supply_unit"]
        begin_write(db.session)
        db.session.execute(db.text("DELETE FROM settings WHERE key = 'supply_unit'"))
        db.session.execute(
            db.text("INSERT INTO settings (key, value) VALUES ('supply_unit', :v)"), {"v": '"rolled back"'}
        )
        assert core_services.get_settings(db.session)["supply_unit"] == "rolled back"  # cached under its token
        db.session.rollback()
        assert core_services.get_settings(db.session)["supply_unit"] == before
        db.session.remove()


def test_the_settings_handed_out_cannot_change_the_cached_ones(app):
    with app.app_context():
        first = core_services.get_settings(db.session)
        first["agency_name"] = "changed by a caller"
        first["outside_lending_rules"]["x"] = 1
        again = core_services.get_settings(db.session)
        assert again["agency_name"] != "changed by a caller"
        assert "x" not in again["outside_lending_rules"]
        db.session.remove()


def test_after_signing_out_the_same_cookie_opens_nothing(app, make_user):
    person = make_user(roles=["supply_officer"])
    client = app.test_client()
    assert login(client, person.username).status_code == 302
    assert client.get("/assets").status_code == 200
    with client.session_transaction() as cookie:
        kept = dict(cookie)
    assert client.post("/logout").status_code == 302
    resp = client.get("/assets")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    replay = app.test_client()  # the cookie from before signing out, sent again
    with replay.session_transaction() as cookie:
        cookie.update(kept)
    resp = replay.get("/assets")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# --- translations bound once per page ---------------------------------------------------------------

PAGE_STRINGS = (
    '{{ _("Asset register") }}|{{ _("%(total)s assets", total="<b>1</b>") }}|'
    '{{ ngettext("%(num)d unread notification", "%(num)d unread notifications", 2) }}|'
    '{{ gettext("page %(page)d of %(pages)d", page=1, pages=3) }}|'
    '{{ ngettext("%(num)s item", "%(num)s items", 1234, num="<i>1,234</i>") }}'
)


@pytest.mark.parametrize("language", ["th", "en"])
def test_translations_bound_once_per_page_read_as_flask_babel_s_own(app, language):
    from flask import render_template_string, session

    with app.test_request_context("/"):
        session["lang"] = language
        bound = render_template_string(PAGE_STRINGS)  # through the context processor: bound once
        own = app.jinja_env.from_string(PAGE_STRINGS).render()  # Flask-Babel's callables, per string
    assert bound == own
    assert "&lt;b&gt;1&lt;/b&gt;" in bound and "<b>" not in bound
    assert "&lt;i&gt;1,234&lt;/i&gt;" in bound  # `num` given by name wins, as with Jinja's own ngettext
    if language == "th":
        assert "Asset register" not in bound


# --- the cost of an audit entry ----------------------------------------------------------------------


def test_an_audit_entry_costs_three_statements_and_names_an_expired_actor(app, make_user):
    from audit import record
    from audit.integrity.chain import entry_hash, fields_of
    from audit.models import AuditEntry
    from core.web import context

    person = make_user(roles=["supply_officer"])
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        actor = db.session.get(User, person.id)
        begin_write(db.session)  # its rollback expires the actor, as in every write service
        with statements(app) as seen:
            entry = record(db.session, actor, "asset.updated", ("asset", "0"), {"after": {"name": "โต๊ะ"}})
        db.session.commit()
        stored = db.session.get(AuditEntry, entry.seq)
        assert stored.actor == person.username and stored.actor_id == person.id
        # the hash assembled from the stored values is the canonical one
        assert stored.hash == entry_hash(fields_of(stored)) == entry.hash
        db.session.remove()
    assert len(seen) == 3, "\n".join(seen)  # the head (checked, with the username), the entry, the head moved
