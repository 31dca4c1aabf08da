"""The register opens for a signed-in person and shows Thai by default."""


def test_the_register_lists_assets_in_thai(client, make_user, make_asset, login_as):
    asset = make_asset(name="เต็นท์ผ้าใบ ขนาด 4x8 เมตร", category="เต็นท์")
    login_as(make_user(roles=["staff"]))
    resp = client.get("/assets?q=เต็นท์ผ้าใบ")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert asset.asset_number in html
    assert 'lang="th"' in html
