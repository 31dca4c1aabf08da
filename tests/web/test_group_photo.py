"""A lending group's photo: put up, replaced and taken down by the supply officer from the group's page,
checked by content through the one file store, audited, and shown on the public e-service."""

from __future__ import annotations

import io
import json

from PIL import Image
from sqlalchemy import select

from audit.models import AuditEntry
from core.db import db
from lending.groups.models import LendingGroup
from tests.conftest import sign_in
from tests.groups import make_group


def _image(colour=(30, 120, 200), fmt="JPEG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buf, fmt)
    return buf.getvalue()


def _post(client, group_id: int, data: bytes, name: str = "chairs.jpg"):
    return client.post(
        f"/lending-groups/{group_id}/photo",
        data={"photo": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _photo_of(app, group_id: int) -> str | None:
    with app.app_context():
        value = db.session.get(LendingGroup, group_id).photo_sha256
        db.session.remove()
        return value


def _version_of(app, group_id: int) -> str:
    with app.app_context():
        value = db.session.get(LendingGroup, group_id).version
        db.session.remove()
        return str(value)


def _entries(app, group_id: int) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == "lending_group", AuditEntry.subject_id == str(group_id))
            .order_by(AuditEntry.seq)
        ).all()
        out = [(r.action, json.loads(r.data)) for r in rows]
        db.session.remove()
        return out


def test_the_officer_puts_up_replaces_and_takes_down_a_groups_photo_and_the_public_sees_it(app, client, officer):
    group_id, _ = make_group(app, 3)
    sign_in(client, officer)
    page = client.get(f"/lending-groups/{group_id}").get_data(as_text=True)
    assert "No photo yet." in page and f'action="/lending-groups/{group_id}/photo"' in page
    assert "Take the photo down" not in page

    resp = _post(client, group_id, _image())
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/lending-groups/{group_id}")
    first = _photo_of(app, group_id)
    assert first
    page = client.get(f"/lending-groups/{group_id}").get_data(as_text=True)
    assert "The photo was saved." in page
    assert f'src="/lending-groups/{group_id}/photo"' in page and "Take the photo down" in page
    office = client.get(f"/lending-groups/{group_id}/photo")
    assert office.status_code == 200 and office.mimetype == "image/jpeg"

    # the public page shows it to a visitor with no account
    visitor = app.test_client()
    assert f'src="/e-service/photo/{group_id}?v={first[:16]}"' in visitor.get("/e-service").get_data(as_text=True)
    served = visitor.get(f"/e-service/photo/{group_id}")
    assert served.status_code == 200 and served.data == office.data
    assert visitor.get(f"/lending-groups/{group_id}/photo").status_code == 302  # the office's copy needs a login

    # replaced by another picture
    assert _post(client, group_id, _image((200, 40, 40), "PNG"), "new.png").status_code == 302
    second = _photo_of(app, group_id)
    assert second and second != first
    assert visitor.get(f"/e-service/photo/{group_id}").mimetype == "image/png"
    assert f'src="/e-service/photo/{group_id}?v={second[:16]}"' in visitor.get("/e-service").get_data(as_text=True)

    # taken down: the public page falls back to its placeholder
    resp = client.post(f"/lending-groups/{group_id}/photo/remove", data={"version": _version_of(app, group_id)})
    assert resp.status_code == 302
    assert _photo_of(app, group_id) is None
    assert "The photo was taken down." in client.get(f"/lending-groups/{group_id}").get_data(as_text=True)
    assert visitor.get(f"/e-service/photo/{group_id}").status_code == 404
    assert f'src="/e-service/photo/{group_id}?' not in visitor.get("/e-service").get_data(as_text=True)

    actions = [(a, d) for a, d in _entries(app, group_id) if a.startswith("lending_group.photo")]
    assert [a for a, _d in actions] == [
        "lending_group.photo_set",
        "lending_group.photo_set",
        "lending_group.photo_removed",
    ]
    assert actions[0][1]["after"]["photo_sha256"] == first and actions[0][1]["file"]["name"] == "chairs.jpg"
    assert actions[1][1]["before"]["photo_sha256"] == first and actions[1][1]["after"]["photo_sha256"] == second
    assert actions[2][1]["before"]["photo_sha256"] == second and actions[2][1]["after"]["photo_sha256"] is None


def test_a_file_that_lies_about_its_type_is_refused_with_a_clear_message_and_changes_nothing(app, client, officer):
    group_id, _ = make_group(app, 2)
    sign_in(client, officer)
    before = _entries(app, group_id)
    resp = _post(client, group_id, b"%PDF-1.4 not a picture at all", "chairs.jpg")
    assert resp.status_code == 302
    page = client.get(f"/lending-groups/{group_id}").get_data(as_text=True)
    assert "The photo was not saved: This type of file is not accepted (its content was checked, not its name)." in page
    assert _photo_of(app, group_id) is None
    assert _entries(app, group_id) == before


def test_a_photo_over_the_size_limit_is_refused_and_nothing_is_stored(app, client, officer):
    group_id, _ = make_group(app, 2)
    sign_in(client, officer)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        resp = _post(client, group_id, _image() + b"\0" * 20_000)
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert resp.status_code == 413
    assert "nothing was stored" in resp.get_data(as_text=True)
    assert _photo_of(app, group_id) is None


def test_the_service_refuses_a_photo_larger_than_its_limit_with_the_limit_named(app, officer):
    from core.db import DomainError
    from core.files import FileStore
    from lending.groups import services

    group_id, _ = make_group(app, 1)
    with app.app_context():
        from core.models import User

        user = db.session.get(User, officer.id)
        try:
            services.set_group_photo(
                db.session,
                user,
                group_id,
                _image() + b"\0" * 70_000,
                "big.jpg",
                FileStore(app.config["EVIDENCE_DIR"]),
                65_536,
            )
        except DomainError as err:
            assert err.message == "The file is larger than %(mb)s MB." and err.params == {"mb": "0.1"}
        else:
            raise AssertionError("a photo over the limit was accepted")
        assert db.session.get(LendingGroup, group_id).photo_sha256 is None
        db.session.remove()


def test_only_the_supply_officer_changes_a_groups_photo(app, client, make_user):
    group_id, _ = make_group(app, 1)
    sign_in(client, make_user(roles=["staff"]))
    assert _post(client, group_id, _image()).status_code == 403
    assert client.post(f"/lending-groups/{group_id}/photo/remove", data={"version": "1"}).status_code == 403
    assert _photo_of(app, group_id) is None


def test_taking_down_a_photo_that_is_not_there_says_so(app, client, officer):
    group_id, _ = make_group(app, 1)
    sign_in(client, officer)
    resp = client.post(
        f"/lending-groups/{group_id}/photo/remove",
        data={"version": _version_of(app, group_id)},
        headers={"Referer": f"/lending-groups/{group_id}"},
    )
    assert resp.status_code == 302
    assert "The group has no photo." in client.get(f"/lending-groups/{group_id}").get_data(as_text=True)


def test_a_photo_put_up_after_the_page_was_opened_is_not_taken_down_by_it(app, client, officer):
    group_id, _ = make_group(app, 1)
    sign_in(client, officer)
    _post(client, group_id, _image())
    opened_at = _version_of(app, group_id)
    _post(client, group_id, _image((10, 200, 10)))  # another officer replaced it meanwhile
    replaced = _photo_of(app, group_id)
    resp = client.post(
        f"/lending-groups/{group_id}/photo/remove",
        data={"version": opened_at},
        headers={"Referer": f"/lending-groups/{group_id}"},
    )
    assert resp.status_code == 302
    assert "Someone else changed this group" in client.get(f"/lending-groups/{group_id}").get_data(as_text=True)
    assert _photo_of(app, group_id) == replaced
