"""The navigation bar is rendered once per (permissions, language, endpoint, script root) and kept
(core.web.fragments): the same bar as rendered for the person themselves, never anyone else's name, badge,
links or a permission no longer held."""

from __future__ import annotations

import pytest
from flask import g, render_template
from flask_babel import force_locale

from core.db import db
from core.models import User
from core.people.permissions import ROLES
from core.web import fragments
from tests.conftest import login, unique
from tests.web.test_loan_pages import signed_in
from tests.web.test_request_cost import _set_roles


@pytest.mark.parametrize("roles", [{role} for role in ROLES] + [{"staff", "auditor"}, set(ROLES)])
@pytest.mark.parametrize("path", ["/", "/assets", "/loans/queue", "/notifications", "/audit/", "/admin/users"])
@pytest.mark.parametrize("language", ["th", "en"])
def test_the_kept_bar_is_the_bar_rendered_for_the_person_themselves(app, make_user, roles, path, language):
    """Equivalence with the uncached path: the template rendered with the real user and endpoint."""
    person = make_user(roles=sorted(roles))
    with app.test_request_context(path), force_locale(language):
        g._login_user = db.session.get(User, person.id)
        fragments.forget()
        kept = fragments.parts("core/_nav.html", g._login_user.held_permissions())
        again = fragments.parts("core/_nav.html", g._login_user.held_permissions())
        direct = render_template("core/_nav.html", ep=_endpoint(), hole=fragments.HOLE)
        assert again is kept
        assert fragments.HOLE.join(kept) == direct
        assert len(kept) == 5  # agency, badge, name, CSRF token: the holes base.html fills
        db.session.remove()


def _endpoint() -> str:
    from flask import request

    return request.endpoint or ""


def test_a_signed_out_page_keeps_a_bar_without_menus(app, client):
    html = client.get("/login").get_data(as_text=True)
    assert 'id="kp-nav-main"' not in html and 'href="/assets"' not in html
    with app.test_request_context("/login"):
        assert len(fragments.parts("core/_nav.html", None)) == 2  # only the agency's name


def test_two_people_with_other_roles_alternating_never_see_each_others_bar(app, make_user):
    admin = make_user(roles=["admin"], name=unique("Admin <b>&"))
    staff = make_user(roles=["staff"], name=unique("Staff "))
    a, b = signed_in(app, admin), signed_in(app, staff)
    for _ in range(3):
        for client, me, other, mine, not_mine in (
            (a, admin, staff, 'href="/admin/users"', 'href="/loans/new"'),
            (b, staff, admin, 'href="/loans/new"', 'href="/admin/users"'),
        ):
            html = client.get("/assets").get_data(as_text=True)
            assert str(escape(me.name)) in html and str(escape(other.name)) not in html
            assert mine in html and not_mine not in html


def escape(text: str):
    from markupsafe import escape as markup_escape

    return markup_escape(text)


def test_a_name_is_escaped_in_its_hole(app, make_user):
    person = make_user(roles=["staff"], name=unique("<script>x</script>"))
    html = signed_in(app, person).get("/").get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_a_role_taken_away_leaves_the_bar_at_once(app, make_user):
    person = make_user(roles=["admin"])
    client = signed_in(app, person)
    assert 'href="/admin/users"' in client.get("/assets").get_data(as_text=True)
    _set_roles(app, person, {"staff"})
    html = client.get("/assets").get_data(as_text=True)
    assert 'href="/admin/users"' not in html and 'id="kp-nav-admin"' not in html
    _set_roles(app, person, {"staff", "admin"})
    assert 'href="/admin/users"' in client.get("/assets").get_data(as_text=True)


def test_a_language_switch_changes_the_bar_at_once(app, make_user):
    person = make_user(roles=["staff"])
    client = app.test_client()
    assert login(client, person.username).status_code == 302
    assert client.post("/lang/en", data={"next": "/"}).status_code == 302
    assert ">Asset register</a>" in client.get("/assets").get_data(as_text=True)
    assert client.post("/lang/th", data={"next": "/"}).status_code == 302
    html = client.get("/assets").get_data(as_text=True)
    assert ">Asset register</a>" not in html and ">ทะเบียนครุภัณฑ์</a>" in html


def test_the_unread_badge_is_each_persons_own(app, make_user, monkeypatch):
    a, b = make_user(roles=["staff"]), make_user(roles=["staff"])
    from lending.loans import views as loan_views

    monkeypatch.setattr(loan_views.lq, "unread_count", lambda _s, user_id: {a.id: 3}.get(user_id, 0))
    ca, cb = signed_in(app, a), signed_in(app, b)
    for _ in range(2):
        assert '<span class="badge rounded-pill kp-badge" id="kp-unread">3</span>' in ca.get("/").get_data(as_text=True)
        html = cb.get("/").get_data(as_text=True)
        assert 'id="kp-unread"' not in html and '<span class="visually-hidden">Notifications</span>' in html


def test_the_pieces_kept_are_bounded(app, monkeypatch):
    monkeypatch.setattr(fragments, "LIMIT", 3)
    with app.test_request_context("/login"):
        fragments.forget()
        for n in range(10):
            fragments.parts("core/_nav.html", frozenset({f"p{n}"}))
            assert len(app.extensions["kp_fragments"]) <= 3
        fragments.forget()
