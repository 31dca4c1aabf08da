"""The asset register's pages: forms, status, photos, escaping, export, search and filters, tags and labels.

The database is shared by the session, so each test finds its own assets by a unique number, name or token
and asserts on those only. Pages are switched to English so the assertions quote the msgids.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import to_thai_digits
from core.db import db
from core.files import FileStore
from core.models import StoredFile
from lending.register import importing, services
from lending.register.models import Asset
from tests.conftest import PASSWORD, sign_in, unique
from tests.jobs import follow_job

# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def as_officer(client, officer):
    return sign_in(client, officer)


@pytest.fixture
def as_staff(client, make_user):
    return sign_in(client, make_user(roles=["staff"]))


def get_asset(app, asset_id: int) -> Asset | None:
    with app.app_context():
        asset = db.session.get(Asset, asset_id)
        if asset is not None:
            db.session.expunge(asset)
        return asset


def audit_rows(app, action: str, asset_id: int | None = None) -> list[AuditEntry]:
    with app.app_context():
        stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        if asset_id is not None:
            stmt = stmt.where(AuditEntry.subject_type == "asset", AuditEntry.subject_id == str(asset_id))
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def listed_ids(html: str) -> set[int]:
    """The assets a register page links to."""
    return {int(i) for i in re.findall(r'href="/assets/(\d+)"', html)}


def thai_token() -> str:
    """A unique run of Thai letters, for names searched by a part of them."""
    digits = unique("")
    return "".join("กขคงจฉชซฌญ"[int(d)] for d in digits)


def asset_form(**overrides) -> dict:
    return {
        "asset_number": unique("702-67-").upper(),
        "name": "ลำโพงเคลื่อนที่",
        "category": "เครื่องเสียง",
        "brand": "",
        "model": "",
        "serial_number": "",
        "acquired_on": "๑๕/๐๖/๒๕๕๙",
        "price": "4,500",
        "location": "ห้องเก็บของ",
        "department": "สำนักปลัด",
        "lendable": "y",
        **overrides,
    }


def edit_form_of(client, asset_id: int) -> dict:
    """The edit form's fields as the page filled them (the version included)."""
    html = client.get(f"/assets/{asset_id}/edit").get_data(as_text=True)
    values = dict(re.findall(r'<input[^>]*?id="(\w+)"[^>]*?value="([^"]*)"', html))
    version = re.search(r'name="version" type="hidden" value="(\d+)"', html) or re.search(
        r'id="version" name="version" type="hidden" value="(\d+)"', html
    )
    assert version, "no version in the edit form"
    names = (
        "asset_number",
        "name",
        "category",
        "brand",
        "model",
        "serial_number",
        "acquired_on",
        "price",
        "location",
        "department",
    )
    fields = {k: values.get(k, "") for k in names}
    return {**fields, "lendable": "y", "version": version.group(1)}


# --- create and edit through the forms -------------------------------------------------------------


def test_an_officer_adds_an_asset_through_the_form(app, as_officer, officer):
    data = asset_form()

    resp = as_officer.post("/assets/new", data=data)

    assert resp.status_code == 302
    asset_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    asset = get_asset(app, asset_id)
    assert asset.asset_number == data["asset_number"] and asset.price == Decimal("4500.00")
    page = as_officer.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"Asset {data['asset_number']} was added." in page
    assert [e.actor for e in audit_rows(app, "asset.created", asset_id)] == [officer.username]


def test_a_number_already_on_the_register_in_thai_digits_gets_a_field_error(app, as_officer, make_asset):
    existing = make_asset()
    before = count(app, Asset)

    resp = as_officer.post("/assets/new", data=asset_form(asset_number=to_thai_digits(existing.asset_number)))

    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "this asset number is already on the register" in html
    assert re.search(r'<input[^>]*class="[^"]*is-invalid[^"]*"[^>]*id="asset_number"', html) or re.search(
        r'id="asset_number"[^>]*class="[^"]*is-invalid', html
    )
    assert count(app, Asset) == before


def test_an_officer_edits_an_asset_through_the_form(app, as_officer, make_asset):
    asset = make_asset(location="ห้องเก็บของ")
    data = {**edit_form_of(as_officer, asset.id), "location": "ห้องประชุมสภา"}

    resp = as_officer.post(f"/assets/{asset.id}/edit", data=data)

    assert resp.status_code == 302
    assert get_asset(app, asset.id).location == "ห้องประชุมสภา"
    (entry,) = audit_rows(app, "asset.updated", asset.id)
    assert json.loads(entry.data)["after"] == {"location": "ห้องประชุมสภา"}


def test_a_stale_edit_form_gets_409_and_the_other_edit_is_kept(app, as_officer, make_user, make_asset):
    asset = make_asset(name="โต๊ะพับ")
    stale = {**edit_form_of(as_officer, asset.id), "name": "โต๊ะพับ สีขาว"}
    colleague = make_user(roles=["supply_officer"])
    with app.app_context():
        services.update_asset(db.session, colleague, asset.id, asset.version, {**stale, "name": "โต๊ะพับ (ซ่อมแล้ว)"})

    resp = as_officer.post(f"/assets/{asset.id}/edit", data=stale)

    assert resp.status_code == 409
    assert "Someone else changed this asset after you opened the form" in resp.get_data(as_text=True)
    assert get_asset(app, asset.id).name == "โต๊ะพับ (ซ่อมแล้ว)"


def test_a_status_change_without_a_reason_is_refused_and_with_one_is_made(app, as_officer, make_asset):
    asset = make_asset()

    refused = as_officer.post(
        f"/assets/{asset.id}/status",
        data={"status": "in_repair", "note": "", "version": asset.version},
        follow_redirects=True,
    )
    assert "Give a reason for the new status." in refused.get_data(as_text=True)
    assert get_asset(app, asset.id).status == "available"

    done = as_officer.post(
        f"/assets/{asset.id}/status",
        data={"status": "in_repair", "note": "หลอดภาพเสีย", "version": asset.version},
        follow_redirects=True,
    )
    assert "The status was changed." in done.get_data(as_text=True)
    stored = get_asset(app, asset.id)
    assert (stored.status, stored.status_note) == ("in_repair", "หลอดภาพเสีย")

    back = as_officer.post(
        f"/assets/{asset.id}/status", data={"status": "available", "note": "", "version": stored.version}
    )
    assert back.status_code == 302
    assert get_asset(app, asset.id).status == "available"


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/assets/987654321"),
        ("get", "/assets/987654321/edit"),
        ("get", "/assets/987654321/qr.png"),
        ("post", "/assets/987654321/status"),
    ],
)
def test_an_unknown_asset_is_404(as_officer, method, path):
    resp = getattr(as_officer, method)(path, data={"status": "lost", "note": "หาย", "version": "1"})
    assert resp.status_code == 404


def test_staff_may_not_open_the_new_asset_form_nor_post_an_edit(app, as_staff, make_asset):
    asset = make_asset(name="เก้าอี้")

    assert as_staff.get("/assets/new").status_code == 403
    resp = as_staff.post(
        f"/assets/{asset.id}/edit",
        data={**asset_form(asset_number=asset.asset_number, name="ของฉัน"), "version": asset.version},
    )

    assert resp.status_code == 403
    assert get_asset(app, asset.id).name == "เก้าอี้"
    assert any(json.loads(e.data)["path"] == f"/assets/{asset.id}/edit" for e in audit_rows(app, "permission.denied"))


# --- photos ----------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (13.0, 45.0, 0.0), 3: "E", 4: (100.0, 30.0, 0.0)}
    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (30, 120, 200)).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def files_on_disk(app) -> int:
    return sum(len(names) for _root, _dirs, names in os.walk(app.config["EVIDENCE_DIR"]))


def post_photo(client, asset_id: int, data: bytes, name: str):
    return client.post(
        f"/assets/{asset_id}/photo", data={"photo": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_an_uploaded_photo_is_stored_without_gps_and_served_only_to_signed_in_people(app, client, officer, make_asset):
    asset = make_asset()
    sign_in(client, officer)

    resp = post_photo(client, asset.id, jpeg_with_gps(), "IMG_0042.jpg")

    assert resp.status_code == 302
    sha = get_asset(app, asset.id).photo_sha256
    with Image.open(io.BytesIO(FileStore(app.config["EVIDENCE_DIR"]).read(sha))) as stored:
        assert stored.getexif().get_ifd(0x8825) == {}
    assert f'src="/assets/{asset.id}/photo"' in client.get(f"/assets/{asset.id}").get_data(as_text=True)

    served = client.get(f"/assets/{asset.id}/photo")
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    client.post("/logout")
    anonymous = client.get(f"/assets/{asset.id}/photo")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_an_html_file_named_photo_jpg_is_refused_and_nothing_is_stored(app, as_officer, make_asset):
    asset = make_asset()
    rows, files = count(app, StoredFile), files_on_disk(app)

    page = b"<!doctype html><html><script>alert(1)</script></html>"

    resp = post_photo(as_officer, asset.id, page, "photo.jpg")

    assert resp.status_code == 400
    assert "This type of file is not accepted (its content was checked, not its name)." in resp.get_data(as_text=True)
    assert get_asset(app, asset.id).photo_sha256 is None
    assert (count(app, StoredFile), files_on_disk(app)) == (rows, files)


def test_an_upload_over_the_size_limit_is_413_and_nothing_is_stored(app, as_officer, make_asset):
    asset = make_asset()
    rows, files = count(app, StoredFile), files_on_disk(app)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        resp = post_photo(as_officer, asset.id, jpeg_with_gps() + b"\0" * 20_000, "big.jpg")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit

    assert resp.status_code == 413
    assert "nothing was stored" in resp.get_data(as_text=True)
    assert get_asset(app, asset.id).photo_sha256 is None
    assert (count(app, StoredFile), files_on_disk(app)) == (rows, files)


def test_an_asset_without_a_photo_has_no_photo_to_serve(as_staff, make_asset):
    assert as_staff.get(f"/assets/{make_asset().id}/photo").status_code == 404


# --- escaping and export ---------------------------------------------------------------------------


def test_a_name_with_markup_is_shown_escaped_on_the_register_and_the_asset_page(as_staff, make_asset):
    asset = make_asset(name="<script>alert(1)</script>")

    for path in (f"/assets?q={asset.asset_number}", f"/assets/{asset.id}"):
        html = as_staff.get(path).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert "<script>alert(1)</script>" not in html, path


def test_the_csv_export_has_a_bom_neutralises_formulas_and_is_audited(app, client, make_user, make_asset):
    asset = make_asset(name='=HYPERLINK("http://x","y")', location="+cmd")
    viewer = make_user(roles=["auditor"])
    sign_in(client, viewer)
    exports_before = len(audit_rows(app, "assets.exported"))

    resp = client.get(f"/assets/export.csv?q={asset.asset_number}")

    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert header[:3] == ["asset_number", "name", "category"]
    (row,) = rows
    cell = dict(zip(header, row, strict=True))
    assert cell["asset_number"] == asset.asset_number
    assert cell["name"] == '\'=HYPERLINK("http://x","y")'
    assert cell["location"] == "'+cmd"
    assert cell["tag"] == asset.tag
    exports = audit_rows(app, "assets.exported")
    assert len(exports) == exports_before + 1
    assert exports[-1].actor == viewer.username
    assert json.loads(exports[-1].data) == {"count": 1, "filter": {"q": asset.asset_number}}


# --- searching, filtering, paging ------------------------------------------------------------------


def test_the_register_is_searched_by_part_of_a_thai_name(as_staff, make_asset):
    token = thai_token()
    mower = make_asset(name=f"เครื่องตัดหญ้าสะพายบ่า{token}รุ่นใหม่")
    other = make_asset(name="เก้าอี้")

    html = as_staff.get(f"/assets?q=ตัดหญ้าสะพายบ่า{token}").get_data(as_text=True)

    assert listed_ids(html) == {mower.id}
    assert other.id not in listed_ids(html)
    assert "1 assets" in html


def test_the_register_is_searched_by_a_number_typed_in_thai_digits(as_staff, make_asset):
    asset = make_asset()

    html = as_staff.get(f"/assets?q={to_thai_digits(asset.asset_number)}").get_data(as_text=True)

    assert listed_ids(html) == {asset.id}


def test_the_register_is_searched_by_serial_and_by_location(as_staff, make_asset):
    u = unique("")
    by_serial = make_asset(serial_number=f"PF3X{u}Z")
    by_place = make_asset(location=f"อาคารอเนกประสงค์ ห้อง {u}ก")

    assert listed_ids(as_staff.get(f"/assets?q=pf3x{u}").get_data(as_text=True)) == {by_serial.id}
    assert listed_ids(as_staff.get(f"/assets?q=ห้อง {u}ก").get_data(as_text=True)) == {by_place.id}


def test_the_register_filters_by_category_status_department_and_lending(as_staff, make_asset):
    token = thai_token()
    special = make_asset(
        name=f"ชุด{token}", category=f"หมวด{token}", department=f"กอง{token}", status="in_repair", lendable=False
    )
    plain = make_asset(name=f"ชุด{token}")

    def shown(query: str) -> set[int]:
        return listed_ids(as_staff.get(f"/assets?q=ชุด{token}&{query}").get_data(as_text=True))

    assert shown("") == {special.id, plain.id}
    assert shown(f"category=หมวด{token}") == {special.id}
    assert shown("status=in_repair") == {special.id}
    assert shown("status=available") == {plain.id}
    assert shown(f"department=กอง{token}") == {special.id}
    assert shown("lendable=no") == {special.id}
    assert shown("lendable=yes") == {plain.id}


def test_the_register_pages_by_fifty_and_clamps_a_page_past_the_end(app, as_staff, officer):
    p = unique("PG").upper()
    rows = "\r\n".join(f"{p}-{i:03d},ถังน้ำ,อื่น ๆ" for i in range(1, 61))
    with app.app_context():
        data = f"asset_number,name,category\r\n{rows}\r\n".encode()
        plan = importing.apply_import(db.session, officer, data, "pages.csv")
        assert plan.ok
        ids = dict(
            db.session.execute(select(Asset.asset_number, Asset.id).where(Asset.asset_number.startswith(p))).all()
        )
    in_order = [ids[f"{p}-{i:03d}"] for i in range(1, 61)]

    first = as_staff.get(f"/assets?q={p}").get_data(as_text=True)
    second = as_staff.get(f"/assets?q={p}&page=2").get_data(as_text=True)
    beyond = as_staff.get(f"/assets?q={p}&page=99999").get_data(as_text=True)
    garbage = as_staff.get(f"/assets?q={p}&page=abc")

    assert listed_ids(first) == set(in_order[:50])
    assert listed_ids(second) == set(in_order[50:])
    assert "page 2 of 2" in second
    assert listed_ids(beyond) == set(in_order[50:]) and "page 2 of 2" in beyond
    assert garbage.status_code == 200
    assert listed_ids(garbage.get_data(as_text=True)) == set(in_order[:50])


# --- tags ------------------------------------------------------------------------------------------


def test_an_unknown_tag_is_a_404_page_that_says_so(as_staff):
    resp = as_staff.get("/t/ZZZZZZZZ")

    assert resp.status_code == 404
    assert "No asset has the tag ZZZZZZZZ" in resp.get_data(as_text=True)


def test_a_scanned_tag_asks_a_signed_out_person_to_log_in_then_opens_the_asset(client, make_user, make_asset):
    asset = make_asset()
    user = make_user(roles=["staff"])

    resp = client.get(f"/t/{asset.tag.lower()}")

    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/login?next=%2Ft%2F{asset.tag.lower()}"
    login_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert f'value="/t/{asset.tag.lower()}"' in login_page
    signed_in = client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "next": f"/t/{asset.tag.lower()}"}
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"] == f"/t/{asset.tag.lower()}"
    landed = client.get(signed_in.headers["Location"], follow_redirects=True)
    assert landed.request.path == f"/assets/{asset.id}"
    assert asset.asset_number in landed.get_data(as_text=True)


# --- labels ----------------------------------------------------------------------------------------


def test_an_officer_prints_labels_as_a_pdf_and_it_is_audited(app, as_officer, officer, make_asset):
    assets = [make_asset(), make_asset()]
    before = len(audit_rows(app, "assets.labels_printed"))

    started = as_officer.post(
        "/assets/labels", data={"layout": "3x8", "start_at": "0", "ids": ",".join(str(a.id) for a in assets)}
    )
    assert len(audit_rows(app, "assets.labels_printed")) == before  # recorded when the PDF exists
    resp = follow_job(app, as_officer, started)

    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF-")
    printed = audit_rows(app, "assets.labels_printed")
    assert len(printed) == before + 1
    assert printed[-1].actor == officer.username
    assert json.loads(printed[-1].data)["count"] == 2


def test_staff_may_not_print_labels(as_staff, make_asset):
    resp = as_staff.post("/assets/labels", data={"layout": "3x8", "ids": str(make_asset().id)})

    assert resp.status_code == 403


def test_a_csv_download_names_its_charset_once(app, client, make_user, make_asset, login_as):
    """`text/csv; charset=utf-8`, not Flask's `; charset=utf-8` added a second time."""
    asset = make_asset()
    resp = login_as(make_user(roles=["staff"])).get(f"/assets/export.csv?q={asset.asset_number}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
