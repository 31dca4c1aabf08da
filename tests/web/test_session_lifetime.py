"""A login lasts a working day at most; a new login in the same browser ends the previous one."""

from datetime import timedelta

from sqlalchemy import update

from core.db import db, utcnow
from core.models import LoginSession
from tests.conftest import PASSWORD, login


def test_a_login_older_than_twelve_hours_no_longer_works(app, client, make_user):
    user = make_user(roles=["staff"])
    login(client, user.username, PASSWORD)
    assert client.get("/assets").status_code == 200
    with app.app_context():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id)
            .values(created_at=utcnow() - timedelta(hours=13))
        )
        db.session.commit()
    resp = client.get("/assets")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_signing_in_again_ends_the_previous_login_of_that_browser(app, client, make_user):
    first, second = make_user(roles=["staff"]), make_user(roles=["staff"])
    login(client, first.username, PASSWORD)
    login(client, second.username, PASSWORD)
    with app.app_context():
        rows = db.session.execute(
            db.select(LoginSession.user_id, LoginSession.revoked_at).where(
                LoginSession.user_id.in_([first.id, second.id])
            )
        ).all()
    assert [r.revoked_at is not None for r in rows if r.user_id == first.id] == [True]
    assert [r.revoked_at is None for r in rows if r.user_id == second.id] == [True]
