"""Signing in and out: the throttle, server-side session end, cookies, CSRF, POST-only changes,
safe redirects after login, and absolute links built from BASE_URL."""

from __future__ import annotations

import io
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.db import db, utcnow
from core.models import THROTTLE_USER_ADDRESS, LoginSession, LoginThrottle, User
from core.people import signin as services
from lending.register.models import Asset
from tests.conftest import PASSWORD, csrf_token_from, login, unique

NEW_PASSWORD = "a brand new secret 77"
TEST_CLIENT_IP = "127.0.0.1"  # the address Flask's test client sends from
THAI = re.compile(r"[\u0E00-\u0E7F]")


# --- helpers -------------------------------------------------------------------------------------


def alerts(html: str) -> str:
    """The text of the flashed messages on a page (not the rest of the page, which holds Thai anyway)."""
    found = re.findall(r'<div class="alert [^"]*"[^>]*>(.*?)<button', html, flags=re.S)
    return " ".join(" ".join(m.split()) for m in found)


def use_english(client) -> None:
    """Switch the pages to English, as the language buttons do, so messages can be compared as text."""
    resp = client.post("/lang/en", data={"next": "/login"})
    assert resp.status_code == 302


def goes_to_login(resp) -> bool:
    return resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"


def clone_session(app, client):
    """A second browser holding a copy of `client`'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None, "the first client has no session cookie"
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def attempt(session, app, username: str, password: str, now, ip: str = "") -> tuple:
    """One login through the service at a given instant: ("ok",) or (msgid, params) of the refusal."""
    try:
        services.login(session, username, password, now=now, config=app.config, ip=ip)
    except services.LoginRefused as e:
        return e.message, e.params
    return ("ok",)


def pair_throttle(session, username: str, address: str = ""):
    """The count of failures for one username from one address (none: the service called directly)."""
    return session.get(LoginThrottle, LoginThrottle.key_of(THROTTLE_USER_ADDRESS, username, address))


def fail_times(session, app, username: str, count: int, last_at, ip: str = "") -> None:
    """`count` wrong-password failures, spaced so that none is slowed down, the last one at `last_at`."""
    for i in range(count):
        at = last_at - timedelta(minutes=5 * (count - 1 - i))
        assert attempt(session, app, username, "wrong password", at, ip)[0] == WRONG


def failed_login_entries(session, username: str) -> list[AuditEntry]:
    rows = (
        session.execute(select(AuditEntry).where(AuditEntry.action == "auth.login_failed").order_by(AuditEntry.seq))
        .scalars()
        .all()
    )
    return [r for r in rows if json.loads(r.data).get("username") == username]


def live_sessions(session, user_id: int) -> int:
    return session.execute(
        select(func.count())
        .select_from(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
    ).scalar_one()


WRONG = "Wrong username or password."
WAIT = "Too many failed logins: wait %(seconds)d seconds and try again."
LOCKED = "Too many failed logins: this account is locked for %(minutes)d more minutes."


# --- login ---------------------------------------------------------------------------------------


def test_the_right_password_signs_in_and_opens_a_server_side_session(app, client, make_user):
    user = make_user(roles=["staff"])
    resp = login(client, user.username)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
    assert client.get("/assets").status_code == 200
    with app.app_context():
        assert live_sessions(db.session, user.id) == 1
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "auth.login", AuditEntry.subject_id == str(user.id))
        ).scalar_one()
        assert entry.actor_id == user.id


def test_a_username_is_not_case_sensitive_at_login(client, make_user):
    user = make_user(roles=["staff"])
    assert login(client, f"  {user.username.upper()} ").status_code == 302
    assert client.get("/assets").status_code == 200


def test_a_wrong_password_shows_a_clear_message_with_status_200(app, client, make_user):
    user = make_user(roles=["staff"])
    use_english(client)
    resp = login(client, user.username, "not my password")
    assert resp.status_code == 200
    assert alerts(resp.get_data(as_text=True)) == WRONG
    assert goes_to_login(client.get("/assets"))
    with app.app_context():
        assert live_sessions(db.session, user.id) == 0


def test_the_wrong_password_message_is_in_thai_by_default(client, make_user):
    user = make_user(roles=["staff"])
    resp = login(client, user.username, "not my password")
    message = alerts(resp.get_data(as_text=True))
    assert resp.status_code == 200
    assert message and THAI.search(message), message
    assert WRONG not in message


def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password(client, make_user):
    user = make_user(roles=["staff"])
    use_english(client)
    known = login(client, user.username, "not my password")
    unknown = login(client, unique("nobody"), "not my password")
    assert (
        (unknown.status_code, alerts(unknown.get_data(as_text=True)))
        == (known.status_code, alerts(known.get_data(as_text=True)))
        == (200, WRONG)
    )


def test_each_failed_login_records_an_audit_entry(app, session, make_user):
    user = make_user(roles=["staff"])
    stranger = unique("nobody")
    now = utcnow()
    attempt(session, app, user.username, "wrong", now)
    attempt(session, app, user.username, "also wrong", now + timedelta(minutes=1))
    attempt(session, app, stranger, "wrong", now)

    mine = failed_login_entries(session, user.username)
    assert len(mine) == 2
    assert {(e.subject_type, e.subject_id) for e in mine} == {("users", str(user.id))}
    # Nobody was signed in: the entry must not name the account holder as the one who acted.
    assert {e.actor_id for e in mine} == {None}
    assert [json.loads(e.data)["reason"] for e in mine] == ["bad_credentials"] * 2

    theirs = failed_login_entries(session, stranger)
    assert len(theirs) == 1
    assert (theirs[0].actor_id, theirs[0].subject_type) == (None, "")


def test_after_three_failures_even_the_right_password_waits_for_the_delay(app, session, make_user):
    user = make_user(roles=["staff"])
    assert app.config["LOGIN_SLOWDOWN_AFTER"] == 3
    t = utcnow()
    for i in range(3):
        assert attempt(session, app, user.username, "wrong", t + timedelta(seconds=i)) == (WRONG, {})
    last = t + timedelta(seconds=2)

    assert attempt(session, app, user.username, PASSWORD, last) == (WAIT, {"seconds": 1})
    assert attempt(session, app, user.username, PASSWORD, last + timedelta(milliseconds=900)) == (WAIT, {"seconds": 1})
    # A refused attempt is not a failure: it neither lengthens the delay nor is counted.
    assert pair_throttle(session, user.username).failures == 3
    assert len(failed_login_entries(session, user.username)) == 3

    assert attempt(session, app, user.username, PASSWORD, last + timedelta(seconds=1)) == ("ok",)
    assert live_sessions(session, user.id) == 1


def test_the_delay_doubles_with_each_further_failure(app, session, make_user):
    user = make_user(roles=["staff"])
    t = utcnow()
    for _ in range(3):
        t += timedelta(minutes=1)
        attempt(session, app, user.username, "wrong", t)
    delays = []
    for _ in range(4):
        refusal = attempt(session, app, user.username, "wrong", t)
        assert refusal[0] == WAIT
        delays.append(refusal[1]["seconds"])
        t += timedelta(seconds=refusal[1]["seconds"])
        assert attempt(session, app, user.username, "wrong", t) == (WRONG, {})
    assert delays == [1, 2, 4, 8]


def test_after_ten_failures_the_account_is_locked_for_the_configured_minutes(app, session, make_user):
    user = make_user(roles=["staff"])
    assert (app.config["LOGIN_LOCK_AFTER"], app.config["LOGIN_LOCK_MINUTES"]) == (10, 15)
    last = utcnow()
    fail_times(session, app, user.username, 10, last)

    assert attempt(session, app, user.username, PASSWORD, last) == (LOCKED, {"minutes": 15})
    assert attempt(session, app, user.username, PASSWORD, last + timedelta(minutes=10)) == (LOCKED, {"minutes": 5})
    assert attempt(session, app, user.username, PASSWORD, last + timedelta(minutes=15, seconds=-1)) == (
        LOCKED,
        {"minutes": 1},
    )
    assert live_sessions(session, user.id) == 0
    assert len(failed_login_entries(session, user.username)) == 10

    assert attempt(session, app, user.username, PASSWORD, last + timedelta(minutes=15)) == ("ok",)


def test_when_the_lock_ends_the_count_starts_again(app, session, make_user):
    user = make_user(roles=["staff"])
    last = utcnow()
    fail_times(session, app, user.username, 10, last)
    after = last + timedelta(minutes=15)
    for i in range(3):
        assert attempt(session, app, user.username, "wrong", after + timedelta(seconds=i)) == (WRONG, {})
    assert attempt(session, app, user.username, "wrong", after + timedelta(seconds=2))[0] == WAIT


def test_unknown_usernames_are_throttled_exactly_like_real_ones(app, session, make_user):
    user = make_user(roles=["staff"])
    stranger = unique("nobody")
    t0 = utcnow()
    # Failures spaced past each delay, a too-early try, then tries inside and after the lock.
    schedule = [t0 + timedelta(minutes=5 * i) for i in range(3)]
    schedule += [schedule[-1] + timedelta(milliseconds=500)]
    schedule += [t0 + timedelta(minutes=5 * i) for i in range(3, 10)]
    schedule += [schedule[-1] + timedelta(minutes=3), schedule[-1] + timedelta(minutes=14, seconds=30)]

    def run(username):
        return [attempt(session, app, username, "wrong password", at) for at in schedule]

    real, fake = run(user.username), run(stranger)
    assert real == fake
    assert [r[0] for r in real].count(WRONG) == 10
    assert real[3] == (WAIT, {"seconds": 1})
    assert real[-2:] == [(LOCKED, {"minutes": 12}), (LOCKED, {"minutes": 1})]
    assert len(failed_login_entries(session, stranger)) == 10


def test_a_successful_login_clears_the_failure_count(app, session, make_user):
    user = make_user(roles=["staff"])
    t = utcnow()
    for i in range(2):
        attempt(session, app, user.username, "wrong", t + timedelta(seconds=i))
    assert attempt(session, app, user.username, PASSWORD, t + timedelta(seconds=2)) == ("ok",)
    assert pair_throttle(session, user.username) is None
    for i in range(3):
        assert attempt(session, app, user.username, "wrong", t + timedelta(seconds=3 + i)) == (WRONG, {})


def _guess_in_parallel(app, username: str, now, count: int = 8) -> list[str]:
    """`count` wrong passwords for one username sent at the same instant, each from its own connection."""
    barrier = threading.Barrier(count)

    def guess(i):
        with app.app_context():
            barrier.wait()
            try:
                return attempt(db.session, app, username, f"guess {i}", now)[0]
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(guess, range(count)))


def test_parallel_guesses_cannot_slip_past_the_throttle(app, make_user):
    user = make_user(roles=["staff"])
    now = utcnow()
    with app.app_context():
        attempt(db.session, app, user.username, "wrong", now - timedelta(minutes=10))
        db.session.remove()
    results = _guess_in_parallel(app, user.username, now)
    # One failure already counted: two more passwords are checked, the other six must wait.
    assert sorted(results) == sorted([WRONG] * 2 + [WAIT] * 6)
    with app.app_context():
        assert pair_throttle(db.session, user.username).failures == 3
        assert len(failed_login_entries(db.session, user.username)) == 3


def test_parallel_first_guesses_at_a_fresh_username_are_throttled_too(app):
    stranger = unique("nobody")
    results = _guess_in_parallel(app, stranger, utcnow())
    assert sorted(results) == sorted([WRONG] * 3 + [WAIT] * 5)
    with app.app_context():
        assert pair_throttle(db.session, stranger).failures == 3


def test_a_throttled_login_on_the_form_asks_to_wait_even_with_the_right_password(app, client, make_user):
    user = make_user(roles=["staff"])
    with app.app_context():
        # Eight failures, the last a second ago: the next try must wait about half a minute.
        fail_times(db.session, app, user.username, 8, utcnow() - timedelta(seconds=1), TEST_CLIENT_IP)
    use_english(client)
    resp = login(client, user.username, PASSWORD)
    message = alerts(resp.get_data(as_text=True))
    assert resp.status_code == 200
    assert re.fullmatch(r"Too many failed logins: wait \d+ seconds and try again\.", message), message
    assert goes_to_login(client.get("/assets"))
    with app.app_context():
        assert live_sessions(db.session, user.id) == 0


def test_a_locked_account_on_the_form_says_so_even_with_the_right_password(app, client, make_user):
    user = make_user(roles=["staff"])
    with app.app_context():
        fail_times(db.session, app, user.username, 10, utcnow(), TEST_CLIENT_IP)
    use_english(client)
    resp = login(client, user.username, PASSWORD)
    assert resp.status_code == 200
    assert alerts(resp.get_data(as_text=True)) == "Too many failed logins: this account is locked for 15 more minutes."
    assert goes_to_login(client.get("/assets"))


# --- the session ends on the server --------------------------------------------------------------


def test_an_old_session_cookie_is_refused_after_logout(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    login_as(user)
    copy = clone_session(app, client)
    assert copy.get("/assets").status_code == 200

    assert goes_to_login(client.post("/logout"))
    assert goes_to_login(client.get("/assets"))
    assert goes_to_login(copy.get("/assets"))
    with app.app_context():
        assert live_sessions(db.session, user.id) == 0


def test_an_old_session_cookie_is_refused_after_a_password_change(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    login_as(user)
    copy = clone_session(app, client)
    assert copy.get("/assets").status_code == 200

    resp = client.post("/account/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 302
    assert goes_to_login(copy.get("/assets"))
    # The browser that made the change stays signed in, on a fresh session.
    assert client.get("/assets").status_code == 200
    with app.app_context():
        assert live_sessions(db.session, user.id) == 1
    fresh = app.test_client()
    assert login(fresh, user.username, PASSWORD).status_code == 200
    assert login(fresh, user.username, NEW_PASSWORD).status_code == 302


def test_a_password_change_with_the_wrong_current_password_changes_nothing(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    login_as(user)
    copy = clone_session(app, client)
    resp = client.post(
        "/account/password", data={"current": "not it at all", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert resp.status_code == 400
    assert copy.get("/assets").status_code == 200
    assert login(app.test_client(), user.username, PASSWORD).status_code == 302


def test_an_old_session_cookie_is_refused_after_the_admin_deactivates_the_user(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    admin = make_user(roles=["admin"])
    login_as(user)
    copy = clone_session(app, client)
    admin_client = app.test_client()
    assert login(admin_client, admin.username).status_code == 302

    resp = admin_client.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert resp.status_code == 302
    assert goes_to_login(copy.get("/assets"))
    assert goes_to_login(client.get("/assets"))
    with app.app_context():
        assert db.session.get(User, user.id).active is False
        assert live_sessions(db.session, user.id) == 0


def test_a_signed_in_person_switches_the_language_and_it_is_remembered_at_the_next_login(
    app, client, make_user, login_as
):
    user = make_user(roles=["staff"])
    login_as(user)
    resp = client.post("/lang/en", data={"next": "/assets"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/assets"
    assert 'lang="en"' in client.get("/assets").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user.id).language == "en"
        entry = db.session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "user.language_changed", AuditEntry.subject_id == str(user.id)
            )
        ).scalar_one()
        assert json.loads(entry.data) == {"before": {"language": "th"}, "after": {"language": "en"}}
    client.post("/logout")
    other = app.test_client()
    login(other, user.username)
    assert 'lang="en"' in other.get("/assets").get_data(as_text=True)


# --- cookies -------------------------------------------------------------------------------------


def _session_set_cookie(resp) -> str:
    headers = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(headers) == 1, resp.headers.getlist("Set-Cookie")
    return headers[0]


def test_the_session_cookie_is_httponly_and_samesite_lax(client, make_user):
    user = make_user(roles=["staff"])
    resp = login(client, user.username)
    header = _session_set_cookie(resp)
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_the_session_cookie_is_secure_when_base_url_is_https(app, make_user):
    from wsgi import create_app

    user = make_user(roles=["staff"])
    https_app = create_app(
        {
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "SECRET_KEY": "test-secret",
            "BASE_URL": "https://kp.example",
            "EVIDENCE_DIR": app.config["EVIDENCE_DIR"],
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
        }
    )
    try:
        resp = login(https_app.test_client(), user.username)
        assert resp.status_code == 302
        header = _session_set_cookie(resp)
        assert "Secure" in header
        assert "HttpOnly" in header and "SameSite=Lax" in header
    finally:
        with https_app.app_context():
            db.session.remove()
            db.engine.dispose()


# --- CSRF ----------------------------------------------------------------------------------------


def login_with_token(client, username: str, password: str = PASSWORD):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def test_a_login_without_a_csrf_token_is_refused_and_signs_nobody_in(app, client, make_user, csrf_on):
    user = make_user(roles=["staff"])
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 400
    assert goes_to_login(client.get("/assets"))
    with app.app_context():
        assert live_sessions(db.session, user.id) == 0
        assert (
            db.session.execute(
                select(AuditEntry).where(AuditEntry.action == "auth.login", AuditEntry.subject_id == str(user.id))
            ).first()
            is None
        )

    assert login_with_token(client, user.username).status_code == 302
    assert client.get("/assets").status_code == 200


def test_a_logout_without_a_csrf_token_is_refused_and_the_session_lives_on(app, client, make_user, csrf_on):
    user = make_user(roles=["staff"])
    assert login_with_token(client, user.username).status_code == 302
    assert client.post("/logout").status_code == 400
    page = client.get("/assets")
    assert page.status_code == 200
    with app.app_context():
        assert live_sessions(db.session, user.id) == 1

    token = csrf_token_from(page.get_data(as_text=True))
    assert goes_to_login(client.post("/logout", data={"csrf_token": token}))
    assert goes_to_login(client.get("/assets"))
    with app.app_context():
        assert live_sessions(db.session, user.id) == 0


def test_creating_a_user_without_a_csrf_token_is_refused_and_creates_nobody(app, client, make_user, csrf_on):
    admin = make_user(roles=["admin"])
    assert login_with_token(client, admin.username).status_code == 302
    username = unique("new")
    data = {"username": username, "name": "นายใหม่ ทดลอง", "roles": ["staff"], "password": NEW_PASSWORD}

    assert client.post("/admin/users/new", data=data).status_code == 400
    with app.app_context():
        assert db.session.execute(select(User).where(User.username == username)).first() is None

    token = csrf_token_from(client.get("/admin/users/new").get_data(as_text=True))
    assert client.post("/admin/users/new", data={**data, "csrf_token": token}).status_code == 302
    with app.app_context():
        created = db.session.execute(select(User).where(User.username == username)).scalar_one()
        assert created.roles == {"staff"}


def test_adding_an_asset_without_a_csrf_token_is_refused_and_adds_nothing(app, client, make_user, csrf_on):
    officer = make_user(roles=["supply_officer"])
    assert login_with_token(client, officer.username).status_code == 302
    number = unique("416-67-")
    data = {"asset_number": number, "name": "โต๊ะพับ", "category": "โต๊ะ", "price": "1,200.00", "lendable": "y"}

    assert client.post("/assets/new", data=data).status_code == 400
    with app.app_context():
        assert db.session.execute(select(Asset).where(Asset.asset_number == number)).first() is None

    token = csrf_token_from(client.get("/assets/new").get_data(as_text=True))
    assert client.post("/assets/new", data={**data, "csrf_token": token}).status_code == 302
    with app.app_context():
        name = db.session.execute(select(Asset.name).where(Asset.asset_number == number)).scalar_one()
        assert name == "โต๊ะพับ"


# --- every change is a POST ----------------------------------------------------------------------


def test_get_on_logout_is_405_and_signs_nobody_out(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    login_as(user)
    assert client.get("/logout").status_code == 405
    assert client.get("/assets").status_code == 200
    with app.app_context():
        assert live_sessions(db.session, user.id) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/logout",
        "/lang/en",
        "/admin/users/{user}/active",
        "/admin/users/{user}/password",
        "/assets/{asset}/status",
        "/assets/import/apply",
    ],
)
def test_routes_that_change_state_refuse_get(client, make_user, make_asset, login_as, path):
    admin = make_user(roles=["admin", "supply_officer"])
    asset = make_asset()
    login_as(admin)
    assert client.get(path.format(user=admin.id, asset=asset.id)).status_code == 405


# --- no open redirect after login ----------------------------------------------------------------


def _hidden_next(html: str) -> str:
    match = (
        re.search(r'name="next" type="hidden" value="([^"]*)"', html)
        or re.search(r'type="hidden" name="next" value="([^"]*)"', html)
        or re.search(r'id="next" name="next" type="hidden" value="([^"]*)"', html)
    )
    assert match, "no next field on the login page"
    return match.group(1)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "http:evil.example",
        "/\t/evil.example",
        "evil.example",
    ],
)
def test_a_next_pointing_off_site_lands_on_the_start_page(client, make_user, target):
    user = make_user(roles=["staff"])
    page = client.get("/login", query_string={"next": target})
    carried = _hidden_next(page.get_data(as_text=True))
    assert "evil" not in carried
    assert login(client, user.username).headers["Location"] == "/"
    # Even a hand-made form carrying the target is not followed off the site.
    client.post("/logout")
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD, "next": target})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_a_local_next_is_honoured(client, make_user, make_asset):
    user = make_user(roles=["staff"])
    asset = make_asset()
    page = client.get("/login", query_string={"next": f"/assets/{asset.id}"})
    carried = _hidden_next(page.get_data(as_text=True))
    assert carried == f"/assets/{asset.id}"
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD, "next": carried})
    assert resp.headers["Location"] == f"/assets/{asset.id}"
    assert client.get(resp.headers["Location"]).status_code == 200


def test_the_login_page_remembers_where_an_anonymous_visitor_was_going(client, make_user, make_asset):
    user = make_user(roles=["staff"])
    asset = make_asset()
    first = client.get(f"/t/{asset.tag}")
    assert goes_to_login(first)
    page = client.get(first.headers["Location"])
    resp = client.post(
        "/login",
        data={"username": user.username, "password": PASSWORD, "next": _hidden_next(page.get_data(as_text=True))},
    )
    assert resp.headers["Location"] == f"/t/{asset.tag}"


# --- absolute links come from BASE_URL -----------------------------------------------------------


def _as_evil_host(client):
    """The signed-in client's cookie, offered to a request whose Host header is someone else's."""
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value, domain="evil.example")
    return {"Host": "evil.example"}


def test_the_tag_link_on_the_asset_page_comes_from_base_url_not_the_host_header(
    app, client, make_user, make_asset, login_as
):
    asset = make_asset()
    login_as(make_user(roles=["staff"]))
    headers = _as_evil_host(client)
    resp = client.get(f"/assets/{asset.id}", headers=headers)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert f"http://kp.test/t/{asset.tag}" in html
    assert "evil.example" not in html


@pytest.mark.parametrize("host", ["evil.example", None])
def test_the_qr_code_holds_the_base_url_link_whatever_the_host_header(
    app, client, make_user, make_asset, login_as, host
):
    asset = make_asset()
    login_as(make_user(roles=["staff"]))
    headers = _as_evil_host(client) if host else {}
    resp = client.get(f"/assets/{asset.id}/qr.png", headers=headers)
    assert resp.status_code == 200
    assert resp.mimetype == "image/png"
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(resp.data)))
    assert [c.text for c in codes] == [f"http://kp.test/t/{asset.tag}"]


@pytest.mark.parametrize("script_root", ["", "/khruphan"])
def test_a_link_is_base_url_plus_the_page_once_under_a_path_prefix(app, script_root):
    """Behind a proxy that mounts the app under /khruphan, BASE_URL ends in it and url_for includes it
    too (SCRIPT_NAME): the prefix appears once. The CLI builds links the same way (labels, mails)."""
    from flask import url_for

    from core.web.routes import external_url

    saved = app.config["BASE_URL"]
    app.config["BASE_URL"] = "https://office.example/khruphan"
    try:
        with app.test_request_context("/", base_url=f"https://office.example{script_root}"):
            link = external_url(url_for("lending.tag", tag="AB12"))
    finally:
        app.config["BASE_URL"] = saved
    assert link == "https://office.example/khruphan/t/AB12"


# --- the throttle cannot be used against the account's owner ---------------------------------------

ATTACKER, OWNER = "203.0.113.66", "198.51.100.7"
ADDRESS_LOCKED = "Too many failed logins from this address: try again in %(minutes)d minutes."


def test_guessing_from_one_address_locks_that_address_and_not_the_owner_elsewhere(app, session, make_user):
    user = make_user(roles=["staff"])
    last = utcnow()
    fail_times(session, app, user.username, 10, last, ATTACKER)

    assert attempt(session, app, user.username, PASSWORD, last, ATTACKER) == (LOCKED, {"minutes": 15})
    assert attempt(session, app, user.username, PASSWORD, last + timedelta(seconds=1), OWNER) == ("ok",)
    assert live_sessions(session, user.id) == 1
    # The owner's success does not lift the attacker's lock.
    assert attempt(session, app, user.username, PASSWORD, last + timedelta(minutes=1), ATTACKER)[0] == LOCKED
    assert len(failed_login_entries(session, user.username)) == 10


def test_many_usernames_from_one_address_lock_the_address_within_the_window(app, session, make_user):
    user = make_user(roles=["staff"])
    address = f"192.0.2.{len(unique('a')) % 250 + 1}"
    assert (app.config["LOGIN_ADDRESS_LOCK_AFTER"], app.config["LOGIN_WINDOW_MINUTES"]) == (30, 15)
    t = utcnow() + timedelta(days=1)  # an instant of its own, clear of other tests' counts
    for i in range(30):
        assert attempt(session, app, unique("guess"), "wrong", t + timedelta(seconds=i), address)[0] == WRONG
    later = t + timedelta(seconds=40)
    assert attempt(session, app, user.username, PASSWORD, later, address) == (ADDRESS_LOCKED, {"minutes": 15})
    assert attempt(session, app, user.username, PASSWORD, later, OWNER) == ("ok",)


def test_failures_spread_over_time_do_not_lock_an_address(app, session, make_user):
    """An office behind one address: 29 typos in each quarter-hour never add up to a lock."""
    user = make_user(roles=["staff"])
    address = "192.0.2.250"
    t = utcnow() + timedelta(days=2)
    for quarter in range(2):
        start = t + timedelta(minutes=16 * quarter)
        for i in range(29):
            assert attempt(session, app, unique("typo"), "wrong", start + timedelta(seconds=i), address)[0] == WRONG
    assert attempt(session, app, user.username, PASSWORD, t + timedelta(minutes=40), address) == ("ok",)


def test_guessing_one_username_from_many_addresses_meets_the_slower_global_limit(app, session, make_user):
    user = make_user(roles=["staff"])
    config = {**app.config, "LOGIN_USER_LOCK_AFTER": 12}
    t = utcnow()

    def try_from(i: int, password: str, at) -> tuple:
        try:
            services.login(session, user.username, password, now=at, config=config, ip=f"198.18.0.{i}")
        except services.LoginRefused as e:
            return e.message, e.params
        return ("ok",)

    for i in range(12):
        assert try_from(i, "wrong", t + timedelta(seconds=i))[0] == WRONG
    assert try_from(200, PASSWORD, t + timedelta(seconds=20)) == (LOCKED, {"minutes": 15})
    assert try_from(200, PASSWORD, t + timedelta(minutes=15, seconds=12)) == ("ok",)


def test_the_admin_sees_the_locks_in_force(app, client, make_user, login_as):
    user = make_user(roles=["staff"])
    with app.app_context():
        fail_times(db.session, app, user.username, 10, utcnow(), ATTACKER)
        db.session.remove()
    admin = login_as(make_user(roles=["admin"]))
    page = admin.get("/admin/users").get_data(as_text=True)
    locks = page[page.index('id="kp-locks"') :]
    row = re.search(
        r'<tr class="kp-lock-user_address">\s*<td>'
        + re.escape(user.username)
        + r"</td>\s*<td>"
        + re.escape(ATTACKER)
        + "</td>",
        locks,
    )
    assert row, locks[:2000]
