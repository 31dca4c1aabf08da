"""Thai by default; English on request, remembered for the person."""

from tests.conftest import PASSWORD, login


def test_pages_are_thai_by_default_and_english_after_switching(client, make_user):
    user = make_user(roles=["staff"])
    assert "เข้าสู่ระบบ" in client.get("/login").get_data(as_text=True)
    login(client, user.username, PASSWORD)
    assert "ทะเบียนครุภัณฑ์" in client.get("/assets").get_data(as_text=True)
    resp = client.post("/lang/en", data={"next": "/assets"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/assets")
    html = client.get("/assets").get_data(as_text=True)
    assert "Asset register" in html and 'lang="en"' in html


def test_the_chosen_language_follows_the_person_to_a_new_session(app, make_user):
    user = make_user(roles=["staff"])
    first = app.test_client()
    login(first, user.username, PASSWORD)
    first.post("/lang/en", data={"next": "/assets"})
    second = app.test_client()
    login(second, user.username, PASSWORD)
    assert 'lang="en"' in second.get("/assets").get_data(as_text=True)
