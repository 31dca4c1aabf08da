"""The admin's people pages and `flask users create`: roles, stale forms, deactivation, password resets."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.db import db
from core.models import LoginSession, User
from tests.conftest import PASSWORD, login, unique

NEW_PASSWORD = "reset by the admin 31"


# --- helpers -------------------------------------------------------------------------------------


def entries(app, action: str, user_id: int) -> list[AuditEntry]:
    """Audit entries of one action about one user, oldest first."""
    with app.app_context():
        rows = (
            db.session.execute(
                select(AuditEntry)
                .where(
                    AuditEntry.action == action,
                    AuditEntry.subject_type == "users",
                    AuditEntry.subject_id == str(user_id),
                )
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
        db.session.expunge_all()
        return rows


def get_user(app, user_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        _ = user.roles
        db.session.expunge(user)
        return user


def user_by_name(app, username: str) -> User | None:
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is not None:
            _ = user.roles
            db.session.expunge(user)
        return user


def live_sessions(app, user_id: int) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count())
            .select_from(LoginSession)
            .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        ).scalar_one()


def signed_in(app, user):
    """A fresh browser signed in as `user`, pages in English so messages can be compared."""
    client = app.test_client()
    assert login(client, user.username).status_code == 302
    assert client.post("/lang/en", data={"next": "/"}).status_code == 302
    return client


def form_version(html: str) -> str:
    match = re.search(r'name="version" type="hidden" value="(\d+)"', html)
    assert match, "no version field on the form"
    return match.group(1)


def goes_to_login(resp) -> bool:
    return resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login"


def edit_data(user: User, version: str, roles: list[str], name: str | None = None) -> dict:
    return {
        "username": user.username,
        "name": name or user.name,
        "position": user.position,
        "department": user.department,
        "email": user.email,
        "roles": roles,
        "version": version,
    }


@pytest.fixture
def admin(make_user):
    return make_user(roles=["admin"], name="นายผู้ดูแล ระบบ")


@pytest.fixture
def admin_client(app, admin):
    return signed_in(app, admin)


# --- creating and editing ------------------------------------------------------------------------


def test_an_admin_creates_a_user_with_two_roles(app, admin, admin_client):
    username = unique("new")
    resp = admin_client.post(
        "/admin/users/new",
        data={
            "username": username,
            "name": "นางสาวสมหญิง ใจดี",
            "position": "นักวิชาการพัสดุ",
            "roles": ["staff", "head"],
            "password": NEW_PASSWORD,
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/users"

    user = user_by_name(app, username)
    assert user is not None and user.active
    assert user.roles == {"staff", "head"}
    assert user.name == "นางสาวสมหญิง ใจดี"
    [entry] = entries(app, "user.created", user.id)
    assert entry.actor_id == admin.id
    after = json.loads(entry.data)["after"]
    assert (after["username"], after["roles"], after["active"]) == (username, ["head", "staff"], True)
    assert username in admin_client.get("/admin/users").get_data(as_text=True)
    assert login(app.test_client(), username, NEW_PASSWORD).status_code == 302


def test_a_new_user_needs_an_initial_password(app, admin_client):
    username = unique("new")
    resp = admin_client.post(
        "/admin/users/new", data={"username": username, "name": "นายไม่มี รหัส", "roles": ["staff"], "password": ""}
    )
    assert resp.status_code == 200
    assert "An initial password is required." in resp.get_data(as_text=True)
    assert user_by_name(app, username) is None


def test_a_taken_username_is_refused_and_the_first_account_is_untouched(app, admin_client, make_user):
    existing = make_user(roles=["staff"], name="นายเดิม อยู่ก่อน")
    resp = admin_client.post(
        "/admin/users/new",
        data={"username": existing.username, "name": "นายใหม่ ซ้ำ", "roles": ["admin"], "password": NEW_PASSWORD},
    )
    assert resp.status_code == 409
    user = get_user(app, existing.id)
    assert (user.name, user.roles) == ("นายเดิม อยู่ก่อน", {"staff"})
    assert login(app.test_client(), existing.username, NEW_PASSWORD).status_code == 200


def test_an_admin_changes_roles_and_the_entry_holds_before_and_after(app, admin, admin_client, make_user):
    user = make_user(roles=["staff"])
    version = form_version(admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True))
    resp = admin_client.post(f"/admin/users/{user.id}", data=edit_data(user, version, ["staff", "supply_officer"]))
    assert resp.status_code == 302
    assert get_user(app, user.id).roles == {"staff", "supply_officer"}
    [entry] = entries(app, "user.roles_changed", user.id)
    assert entry.actor_id == admin.id
    assert json.loads(entry.data) == {"before": {"roles": ["staff"]}, "after": {"roles": ["staff", "supply_officer"]}}
    # The new role takes effect on the person's next request.
    officer = signed_in(app, user)
    assert officer.get("/assets/new").status_code == 200


def test_a_stale_edit_form_is_refused_with_409_and_changes_nothing(app, admin, admin_client, make_user):
    user = make_user(roles=["staff"])
    other_admin = signed_in(app, make_user(roles=["admin"]))
    stale = form_version(admin_client.get(f"/admin/users/{user.id}").get_data(as_text=True))

    # Someone else saves first ...
    fresh = form_version(other_admin.get(f"/admin/users/{user.id}").get_data(as_text=True))
    assert (
        other_admin.post(f"/admin/users/{user.id}", data=edit_data(user, fresh, ["staff", "head"])).status_code == 302
    )
    before = get_user(app, user.id)
    assert before.roles == {"staff", "head"}

    # ... then the form opened earlier is sent.
    resp = admin_client.post(f"/admin/users/{user.id}", data=edit_data(user, stale, ["auditor"], name="นายเขียน ทับ"))
    assert resp.status_code == 409
    after = get_user(app, user.id)
    assert (after.roles, after.name, after.version) == (before.roles, before.name, before.version)
    assert len(entries(app, "user.roles_changed", user.id)) == 1
    assert entries(app, "user.updated", user.id) == []


def test_an_admin_cannot_remove_their_own_admin_role(app, admin, admin_client):
    version = form_version(admin_client.get(f"/admin/users/{admin.id}").get_data(as_text=True))
    resp = admin_client.post(f"/admin/users/{admin.id}", data=edit_data(admin, version, ["staff"]))
    assert resp.status_code == 400
    assert "You cannot remove your own admin role." in resp.get_data(as_text=True)
    assert get_user(app, admin.id).roles == {"admin"}
    assert admin_client.get("/admin/users").status_code == 200


# --- access --------------------------------------------------------------------------------------


def test_an_admin_cannot_deactivate_themselves(app, admin, admin_client):
    resp = admin_client.post(f"/admin/users/{admin.id}/active", data={"active": "0"})
    assert resp.status_code == 400
    assert "You cannot deactivate yourself." in resp.get_data(as_text=True)
    assert get_user(app, admin.id).active is True
    assert entries(app, "user.deactivated", admin.id) == []
    assert admin_client.get("/admin/users").status_code == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/admin/users"),
        ("get", "/admin/users/new"),
        ("post", "/admin/users/new"),
        ("get", "/admin/users/{target}"),
        ("post", "/admin/users/{target}/active"),
        ("post", "/admin/users/{target}/password"),
    ],
)
def test_a_supply_officer_gets_403_on_the_people_pages(app, make_user, method, path):
    officer = make_user(roles=["supply_officer"])
    target = make_user(roles=["staff"])
    client = signed_in(app, officer)
    data = (
        {
            "active": "0",
            "reset-password": NEW_PASSWORD,
            "username": unique("x"),
            "name": "x",
            "roles": ["admin"],
            "password": NEW_PASSWORD,
        }
        if method == "post"
        else None
    )
    resp = getattr(client, method)(path.format(target=target.id), data=data)
    assert resp.status_code == 403
    after = get_user(app, target.id)
    assert after.active and after.version == target.version
    with app.app_context():
        denials = (
            db.session.execute(
                select(AuditEntry).where(AuditEntry.action == "permission.denied", AuditEntry.actor_id == officer.id)
            )
            .scalars()
            .all()
        )
        assert [json.loads(d.data)["missing"] for d in denials] == [["users.manage"]]


def test_a_deactivated_user_cannot_log_in_until_reactivated(app, admin, admin_client, make_user):
    user = make_user(roles=["staff"])
    resp = admin_client.post(f"/admin/users/{user.id}/active", data={"active": "0"})
    assert resp.status_code == 302
    [entry] = entries(app, "user.deactivated", user.id)
    assert entry.actor_id == admin.id
    assert json.loads(entry.data) == {"before": {"active": True}, "after": {"active": False}}

    browser = app.test_client()
    browser.post("/lang/en", data={"next": "/login"})
    refused = login(browser, user.username)
    assert refused.status_code == 200
    assert "Wrong username or password." in refused.get_data(as_text=True)
    assert goes_to_login(browser.get("/assets"))
    assert live_sessions(app, user.id) == 0
    with app.app_context():
        failures = (
            db.session.execute(
                select(AuditEntry).where(
                    AuditEntry.action == "auth.login_failed", AuditEntry.subject_id == str(user.id)
                )
            )
            .scalars()
            .all()
        )
        assert [json.loads(f.data)["reason"] for f in failures] == ["inactive"]

    assert admin_client.post(f"/admin/users/{user.id}/active", data={"active": "1"}).status_code == 302
    assert len(entries(app, "user.activated", user.id)) == 1
    assert login(browser, user.username).status_code == 302


def test_a_password_reset_ends_the_persons_sessions(app, admin, admin_client, make_user):
    user = make_user(roles=["staff"])
    theirs = signed_in(app, user)
    assert theirs.get("/assets").status_code == 200

    resp = admin_client.post(f"/admin/users/{user.id}/password", data={"reset-password": NEW_PASSWORD})
    assert resp.status_code == 302
    assert goes_to_login(theirs.get("/assets"))
    assert live_sessions(app, user.id) == 0
    [entry] = entries(app, "user.password_reset", user.id)
    assert entry.actor_id == admin.id
    assert NEW_PASSWORD not in entry.data
    assert login(app.test_client(), user.username, PASSWORD).status_code == 200
    assert login(app.test_client(), user.username, NEW_PASSWORD).status_code == 302


def test_a_too_short_reset_password_is_refused_and_changes_nothing(app, admin_client, make_user):
    user = make_user(roles=["staff"])
    theirs = signed_in(app, user)
    resp = admin_client.post(
        f"/admin/users/{user.id}/password", data={"reset-password": "short"}, follow_redirects=True
    )
    assert resp.status_code == 200
    assert "at least 8 characters" in resp.get_data(as_text=True)
    assert theirs.get("/assets").status_code == 200
    assert entries(app, "user.password_reset", user.id) == []
    assert login(app.test_client(), user.username, PASSWORD).status_code == 302


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line_creates_a_user_with_both_roles(app):
    username = unique("cli")
    result = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            username,
            "--name",
            "นางสาว ทดสอบ",
            "--role",
            "staff",
            "--role",
            "head",
            "--password-stdin",
        ],
        input=f"{NEW_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    user = user_by_name(app, username)
    assert user is not None
    assert (user.name, user.roles, user.active) == ("นางสาว ทดสอบ", {"staff", "head"}, True)
    [entry] = entries(app, "user.created", user.id)
    assert entry.actor_id is None  # an operator on the server, not a signed-in person
    assert login(app.test_client(), username, NEW_PASSWORD).status_code == 302


def test_the_command_line_refuses_a_too_short_password_with_a_clear_message(app):
    username = unique("cli")
    result = app.test_cli_runner().invoke(
        args=["users", "create", username, "--name", "นางสาว ทดสอบ", "--role", "staff", "--password-stdin"],
        input="short\n",
    )
    assert result.exit_code != 0
    assert "The password must be at least 8 characters." in result.output
    assert user_by_name(app, username) is None


def test_the_command_line_refuses_a_taken_username(app, make_user):
    existing = make_user(roles=["staff"])
    result = app.test_cli_runner().invoke(
        args=["users", "create", existing.username, "--name", "นาย ซ้ำ", "--role", "admin", "--password-stdin"],
        input=f"{NEW_PASSWORD}\n",
    )
    assert result.exit_code != 0
    assert f"The username {existing.username} is taken." in result.output
    assert get_user(app, existing.id).roles == {"staff"}
