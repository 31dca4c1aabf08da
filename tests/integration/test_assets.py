"""Asset register services: create, edit, status, photo; and the label sheet from the command line.

Every test makes its own assets (unique numbers) and asserts the database and the audit log it left.
"""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import pypdfium2
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import to_thai_digits
from core.db import Conflict, DomainError, Forbidden, NotFound
from core.files import FileStore, UploadRefused
from core.models import StoredFile
from lending.register import services
from lending.register.models import Asset
from tests.conftest import unique


def form(**overrides) -> dict:
    """The fields as an officer types them: Thai digits, a B.E. date, a price with a comma."""
    return {
        "asset_number": unique("701-67-").upper(),
        "name": "เครื่องขยายเสียง",
        "category": "เครื่องเสียง",
        "brand": "TOA",
        "model": "ZS-1000",
        "serial_number": "SN-778",
        "acquired_on": "๐๑/๑๐/๒๕๖๖",
        "price": "๑๒,๙๐๐.๐๐",
        "location": "ห้องประชุมสภา",
        "department": "สำนักปลัด",
        "lendable": True,
        **overrides,
    }


def fresh(session, asset_id: int) -> Asset:
    session.rollback()
    return session.get(Asset, asset_id)


def entries_for(session, asset_id: int, action: str | None = None) -> list[AuditEntry]:
    session.rollback()
    stmt = select(AuditEntry).where(AuditEntry.subject_type == "asset", AuditEntry.subject_id == str(asset_id))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return list(session.scalars(stmt.order_by(AuditEntry.seq)))


def audit_count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEntry))


# --- create and edit -------------------------------------------------------------------------------


def test_an_officer_puts_a_new_asset_on_the_register_with_a_tag_and_an_audit_entry(session, officer):
    raw = form()

    asset = services.create_asset(session, officer, raw)

    stored = fresh(session, asset.id)
    assert stored.asset_number == raw["asset_number"]
    assert stored.acquired_on == date(2023, 10, 1)
    assert stored.price == Decimal("12900.00")
    assert stored.status == "available" and stored.lendable is True and len(stored.tag) == 8
    (created,) = entries_for(session, asset.id, "asset.created")
    assert created.actor == officer.username
    assert json.loads(created.data)["after"]["name"] == "เครื่องขยายเสียง"


def test_staff_may_not_put_an_asset_on_the_register(session, make_user):
    staff = make_user(roles=["staff"])
    raw = form()

    with pytest.raises(Forbidden):
        services.create_asset(session, staff, raw)

    session.rollback()
    assert session.scalar(select(Asset).where(Asset.asset_number == raw["asset_number"])) is None


def test_a_number_already_on_the_register_typed_in_thai_digits_is_refused_with_a_field_error(
    session, officer, make_asset
):
    existing = make_asset()
    other = make_asset()

    with pytest.raises(services.InvalidFields) as on_create:
        services.create_asset(session, officer, form(asset_number=to_thai_digits(existing.asset_number)))
    assert on_create.value.errors == {"asset_number": "this asset number is already on the register"}

    with pytest.raises(services.InvalidFields) as on_edit:
        services.update_asset(
            session, officer, other.id, other.version, form(asset_number=to_thai_digits(existing.asset_number))
        )
    assert on_edit.value.errors == {"asset_number": "this asset number is already on the register"}
    assert fresh(session, other.id).asset_number == other.asset_number


def test_an_edit_records_only_the_changed_fields_before_and_after(session, officer, make_asset):
    asset = make_asset(location="ห้องเก็บของ")
    raw = {
        **{
            f: getattr(asset, f)
            for f in (
                "asset_number",
                "name",
                "category",
                "brand",
                "model",
                "serial_number",
                "acquired_on",
                "price",
                "department",
                "lendable",
            )
        },
        "location": "ห้องประชุม",
    }

    services.update_asset(session, officer, asset.id, asset.version, raw)

    stored = fresh(session, asset.id)
    assert stored.location == "ห้องประชุม" and stored.version == asset.version + 1
    (updated,) = entries_for(session, asset.id, "asset.updated")
    assert json.loads(updated.data) == {"before": {"location": "ห้องเก็บของ"}, "after": {"location": "ห้องประชุม"}}


def test_an_edit_from_a_form_opened_before_someone_elses_save_is_refused_and_theirs_is_kept(
    session, officer, make_user, make_asset
):
    asset = make_asset(name="โต๊ะพับ")
    colleague = make_user(roles=["supply_officer"])
    services.update_asset(
        session,
        colleague,
        asset.id,
        asset.version,
        form(asset_number=asset.asset_number, name="โต๊ะพับ (ซ่อมแล้ว)", category=asset.category),
    )

    with pytest.raises(Conflict) as caught:
        services.update_asset(
            session,
            officer,
            asset.id,
            asset.version,
            form(asset_number=asset.asset_number, name="โต๊ะพับ สีขาว", category=asset.category),
        )

    assert "Someone else changed this asset" in str(caught.value)
    assert fresh(session, asset.id).name == "โต๊ะพับ (ซ่อมแล้ว)"
    assert [e.actor for e in entries_for(session, asset.id, "asset.updated")] == [colleague.username]


def test_an_unknown_asset_is_not_found(session, officer):
    with pytest.raises(NotFound):
        services.update_asset(session, officer, 987_654_321, 1, form())
    with pytest.raises(NotFound):
        services.change_status(session, officer, 987_654_321, 1, "in_repair", "จอแตก")


# --- status ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["in_repair", "lost", "disposed"])
def test_a_status_change_needs_a_reason(session, officer, make_asset, status):
    asset = make_asset()

    with pytest.raises(services.InvalidFields) as caught:
        services.change_status(session, officer, asset.id, asset.version, status, "   ")
    assert caught.value.errors == {"note": "required"}
    assert fresh(session, asset.id).status == "available"

    services.change_status(session, officer, asset.id, asset.version, status, "ตรวจพบเมื่อ ๒ ม.ค.")

    stored = fresh(session, asset.id)
    assert (stored.status, stored.status_note) == (status, "ตรวจพบเมื่อ ๒ ม.ค.")
    (changed,) = entries_for(session, asset.id, "asset.status_changed")
    assert json.loads(changed.data)["after"]["status"] == status


def test_an_asset_comes_back_from_repair_without_a_reason(session, officer, make_asset):
    asset = make_asset(status="in_repair")

    services.change_status(session, officer, asset.id, asset.version, "available", "")

    assert fresh(session, asset.id).status == "available"
    assert len(entries_for(session, asset.id, "asset.status_changed")) == 1


@pytest.mark.parametrize(
    "start, target", [("available", "on_loan"), ("on_loan", "in_repair"), ("disposed", "available"), ("lost", "lost")]
)
def test_status_changes_the_rules_forbid_are_refused(session, officer, make_asset, start, target):
    asset = make_asset(status=start)

    with pytest.raises(DomainError):
        services.change_status(session, officer, asset.id, asset.version, target, "เหตุผล")

    assert fresh(session, asset.id).status == start
    assert entries_for(session, asset.id, "asset.status_changed") == []


# --- photo -----------------------------------------------------------------------------------------


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (13.0, 45.0, 0.0), 3: "E", 4: (100.0, 30.0, 0.0)}
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (180, 40, 40)).save(buf, "JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the test photo really has a position
    return data


def test_a_photo_is_stored_without_its_gps_position(app, session, officer, make_asset):
    asset = make_asset()
    store = FileStore(app.config["EVIDENCE_DIR"])

    services.set_photo(session, officer, asset.id, jpeg_with_gps(), "IMG_0001.jpg", store, 5 * 1024 * 1024)

    stored = fresh(session, asset.id)
    assert stored.photo_sha256
    with Image.open(io.BytesIO(store.read(stored.photo_sha256))) as photo:
        assert photo.format == "JPEG"
        exif = photo.getexif()
        assert exif.get_ifd(0x8825) == {}
        assert exif.get(0x010F) == "PhoneMaker"  # the rest of the EXIF stays
    row = session.get(StoredFile, stored.photo_sha256)
    assert (row.mime, row.original_name) == ("image/jpeg", "IMG_0001.jpg")
    (entry,) = entries_for(session, asset.id, "asset.photo_set")
    assert json.loads(entry.data)["file"]["sha256"] == stored.photo_sha256


def test_a_web_page_renamed_to_jpg_is_refused_and_nothing_is_stored(app, session, officer, make_asset):
    asset = make_asset()
    store = FileStore(app.config["EVIDENCE_DIR"])
    files_before = session.scalar(select(func.count()).select_from(StoredFile))
    before = audit_count(session)

    with pytest.raises(UploadRefused) as caught:
        services.set_photo(
            session, officer, asset.id, b"<!doctype html><script>alert(1)</script>", "photo.jpg", store, 5 * 1024 * 1024
        )

    assert "its content was checked, not its name" in str(caught.value)
    assert fresh(session, asset.id).photo_sha256 is None
    assert session.scalar(select(func.count()).select_from(StoredFile)) == files_before
    assert audit_count(session) == before


# --- labels from the command line ------------------------------------------------------------------


def decode_first_page(path) -> set[str]:
    pdf = pypdfium2.PdfDocument(str(path))
    try:
        page = pdf[0]
        try:
            image = page.render(scale=300 / 72).to_pil()
        finally:
            page.close()
    finally:
        pdf.close()
    return {barcode.text for barcode in zxingcpp.read_barcodes(image)}


def test_the_labels_command_writes_a_pdf_whose_qr_codes_open_each_assets_page(app, make_asset, tmp_path):
    token = unique("lbl")
    assets = [make_asset(name=f"เก้าอี้ประชุม {token} ตัวที่ {i}") for i in range(3)]
    out = tmp_path / "labels.pdf"

    result = app.test_cli_runner().invoke(args=["assets", "labels", "--out", str(out), "--q", token])

    assert result.exit_code == 0, result.output
    assert "3 labels" in result.output
    assert out.read_bytes().startswith(b"%PDF-")
    assert decode_first_page(out) == {f"http://kp.test/t/{a.tag}" for a in assets}


def test_the_labels_command_says_so_when_nothing_matches(app, tmp_path):
    out = tmp_path / "none.pdf"

    args = ["assets", "labels", "--out", str(out), "--q", unique("nothing")]

    result = app.test_cli_runner().invoke(args=args)

    assert result.exit_code == 1
    assert "no assets match" in result.output
    assert not out.exists()
