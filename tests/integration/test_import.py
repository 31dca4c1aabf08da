"""Importing the office's asset list: CSV or XLSX, English or Thai headers, all or nothing.

Service level (plan_import / apply_import), the command line (`flask assets import FILE [--dry-run]`) and the
web upload → preview → apply flow. The database is shared by the whole session, so every test numbers its
assets with its own prefix and counts relative to its own data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.dates import to_thai_digits
from lending.register import importing
from lending.register.models import Asset
from tests.conftest import english, login, unique
from tests.jobs import follow_job

ENGLISH = [
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
    "lendable",
]
THAI = [
    "หมายเลขครุภัณฑ์",
    "ชื่อครุภัณฑ์",
    "ประเภท",
    "ยี่ห้อ",
    "รุ่น",
    "หมายเลขเครื่อง",
    "วันที่ได้มา",
    "ราคา",
    "สถานที่ตั้ง",
    "หน่วยงาน",
    "ให้ยืมได้",
]


# --- helpers ---------------------------------------------------------------------------------------


def prefix() -> str:
    """A per-test asset-number prefix (asset numbers are upper case)."""
    return unique("IM").upper()


def csv_bytes(header: list[str], rows: list[list[object]], *, bom: bool = False) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def two_rows(p: str) -> list[list[object]]:
    return [
        [
            f"{p}-001",
            "เต็นท์ผ้าใบ ขนาด 4x8 เมตร",
            "เต็นท์",
            "ตราช้าง",
            "T-48",
            "SN-A1",
            "2023-01-15",
            "12,500.00",
            "โรงเก็บพัสดุ",
            "สำนักปลัด",
            "yes",
        ],
        [
            f"{p}-002",
            "เครื่องฉายภาพ",
            "เครื่องฉายภาพ",
            "Epson",
            "EB-X51",
            "SN-B2",
            "01/10/2565",
            "15900",
            "ห้องประชุม",
            "กองคลัง",
            "no",
        ],
    ]


def assets_of(session, p: str) -> list[Asset]:
    """The assets whose number starts with this test's prefix, as the database has them now."""
    session.rollback()  # a fresh snapshot: the CLI and the web run in their own transactions
    return list(
        session.scalars(select(Asset).where(Asset.asset_number.startswith(p + "-")).order_by(Asset.asset_number))
    )


def audit_count(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEntry))


def total_assets(session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Asset))


def entries(session, action: str, *, subject_id: str | None = None) -> list[AuditEntry]:
    session.rollback()
    stmt = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
    if subject_id is not None:
        stmt = stmt.where(AuditEntry.subject_type == "asset", AuditEntry.subject_id == subject_id)
    return list(session.scalars(stmt))


def import_entry_for(session, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    found = [
        json.loads(e.data) for e in entries(session, "assets.imported") if json.loads(e.data).get("sha256") == digest
    ]
    assert len(found) == 1, f"expected one assets.imported entry for the file, found {len(found)}"
    return found[0]


def run_cli(app, tmp_path, data: bytes, *args: str, name: str = "assets.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return app.test_cli_runner().invoke(args=["assets", "import", str(path), *args])


@pytest.fixture
def officer_client(client, officer):
    """The test client signed in as a supply officer, pages in English."""
    assert login(client, officer.username).status_code == 302
    english(client)
    return client


# --- reading the file ------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [False, True], ids=["no-bom", "bom"])
@pytest.mark.parametrize("header", [ENGLISH, THAI], ids=["english", "thai"])
def test_a_csv_with_english_or_thai_headers_with_or_without_a_bom_adds_every_row(session, officer, header, bom):
    p = prefix()
    data = csv_bytes(header, two_rows(p), bom=bom)

    plan = importing.apply_import(session, officer, data, "list.csv")

    assert plan.ok and plan.rows == 2 and len(plan.creates) == 2
    tent, projector = assets_of(session, p)
    assert (tent.asset_number, tent.name, tent.category) == (f"{p}-001", "เต็นท์ผ้าใบ ขนาด 4x8 เมตร", "เต็นท์")
    assert (tent.brand, tent.model, tent.serial_number) == ("ตราช้าง", "T-48", "SN-A1")
    assert tent.acquired_on == date(2023, 1, 15)
    assert tent.price == Decimal("12500.00")
    assert (tent.location, tent.department, tent.lendable) == ("โรงเก็บพัสดุ", "สำนักปลัด", True)
    assert tent.status == "available" and len(tent.tag) == 8
    assert projector.acquired_on == date(2022, 10, 1)  # 01/10/2565 B.E.
    assert projector.price == Decimal("15900.00")
    assert projector.lendable is False
    for asset in (tent, projector):
        created = entries(session, "asset.created", subject_id=str(asset.id))
        assert len(created) == 1 and created[0].actor == officer.username
    assert import_entry_for(session, data)["rows"] == 2


def test_thai_digits_in_numbers_and_buddhist_era_dates_are_read(session, officer):
    p = prefix()
    thai_number = to_thai_digits(f"{p}-001")  # letters stay, digits become Thai
    data = csv_bytes(
        THAI, [[thai_number, "กล้องถ่ายภาพ", "กล้อง", "", "", "", "๑๕/๐๖/๒๕๕๙", "๑๒,๕๐๐.๕๐", "ห้อง ๒", "กองช่าง", "ได้"]]
    )

    importing.apply_import(session, officer, data, "thai.csv")

    (camera,) = assets_of(session, p)
    assert camera.asset_number == f"{p}-001"
    assert camera.acquired_on == date(2016, 6, 15)
    assert camera.price == Decimal("12500.50")
    assert camera.lendable is True


def test_an_xlsx_with_a_real_date_cell_and_a_numeric_price_is_imported(session, officer):
    p = prefix()
    book = Workbook()
    sheet = book.active
    sheet.append(THAI)
    sheet.append(
        [
            f"{p}-001",
            "โน้ตบุ๊ก",
            "คอมพิวเตอร์",
            "Lenovo",
            "E14",
            "PF-1",
            date(2021, 3, 9),
            23500.75,
            "กองคลัง",
            "กองคลัง",
            "ได้",
        ]
    )
    sheet.append(
        [f"{p}-002", "โต๊ะพับ", "โต๊ะ", None, None, None, datetime(2019, 12, 1), 1200, "ห้องเก็บของ", "สำนักปลัด", "ไม่ได้"]
    )
    assert isinstance(sheet["G2"].value, date) and sheet["G2"].is_date
    assert isinstance(sheet["H2"].value, float)
    buf = io.BytesIO()
    book.save(buf)
    data = buf.getvalue()

    plan = importing.apply_import(session, officer, data, "list.xlsx")

    assert plan.ok and len(plan.creates) == 2
    notebook, table = assets_of(session, p)
    assert notebook.acquired_on == date(2021, 3, 9) and notebook.price == Decimal("23500.75")
    assert (notebook.brand, notebook.model, notebook.serial_number) == ("Lenovo", "E14", "PF-1")
    assert table.acquired_on == date(2019, 12, 1) and table.price == Decimal("1200.00")
    assert table.brand == "" and table.lendable is False


# --- all or nothing --------------------------------------------------------------------------------


def mixed_rows(p: str) -> list[list[object]]:
    """Three good rows and two bad ones (rows 3 and 5 counting the header as row 1)."""
    return [
        [f"{p}-001", "เก้าอี้พลาสติก", "เก้าอี้", "", "", "", "", "350", "ห้องเก็บของ", "", "ได้"],
        [f"{p}-002", "เก้าอี้เหล็ก", "เก้าอี้", "", "", "", "", "แพง", "ห้องเก็บของ", "", "ได้"],
        [f"{p}-003", "โต๊ะพับ", "โต๊ะ", "", "", "", "", "1200", "ห้องเก็บของ", "", "ได้"],
        [f"{p}-004", "", "โต๊ะ", "", "", "", "", "900", "ห้องเก็บของ", "", "ได้"],
        [f"{p}-005", "เต็นท์", "เต็นท์", "", "", "", "", "5000", "ห้องเก็บของ", "", "ได้"],
    ]


def test_a_file_with_two_bad_rows_imports_nothing_and_names_row_column_and_reason(session, officer):
    p = prefix()
    data = csv_bytes(THAI, mixed_rows(p))
    before = audit_count(session)

    plan = importing.apply_import(session, officer, data, "mixed.csv")

    assert not plan.ok
    assert [(e.row, e.column, e.message()) for e in plan.errors] == [
        (3, "price", "not a number"),
        (5, "name", "required"),
    ]
    assert plan.errors[0].value == "แพง"
    assert assets_of(session, p) == []
    assert audit_count(session) == before


def test_the_command_line_lists_each_bad_row_and_imports_nothing(app, session, tmp_path):
    p = prefix()
    rows = mixed_rows(p)
    rows[1][6] = "31/02/2566"  # row 3 now has two problems: still two bad rows
    data = csv_bytes(THAI, rows)
    before = audit_count(session)

    result = run_cli(app, tmp_path, data)

    assert result.exit_code == 1
    # the file's own (Thai) header names the column, with the key beside it
    assert "row 3, column ราคา (price): not a number ('แพง')" in result.output
    assert (
        "row 3, column วันที่ได้มา (acquired_on): not a valid date (use YYYY-MM-DD or DD/MM/YYYY in B.E.)" in result.output
    )
    assert "row 5, column ชื่อครุภัณฑ์ (name): required" in result.output
    assert "2 bad rows; nothing was imported" in result.output
    assert assets_of(session, p) == []
    assert audit_count(session) == before


def test_a_number_written_twice_in_thai_and_arabic_digits_is_an_error_naming_the_first_row(session, officer):
    p = prefix()
    rows = [
        [to_thai_digits(f"{p}-001"), "เก้าอี้", "เก้าอี้"],
        [f"{p}-002", "โต๊ะ", "โต๊ะ"],
        [f"{p}-001", "เก้าอี้ตัวที่สอง", "เก้าอี้"],
    ]
    data = csv_bytes(["asset_number", "name", "category"], rows)

    plan = importing.apply_import(session, officer, data, "dup.csv")

    assert [(e.row, e.column, e.message()) for e in plan.errors] == [
        (4, "asset_number", "the same asset number is on row 2")
    ]
    assert assets_of(session, p) == []


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 128, 0)).save(buf, "PNG")
    return buf.getvalue()


FILE_PROBLEMS = {
    "missing-required-column": (
        lambda p: csv_bytes(["asset_number", "name", "price"], [[f"{p}-001", "เก้าอี้", "350"]]),
        "Required columns are missing: category",
    ),
    "unknown-column": (
        lambda p: csv_bytes(["asset_number", "name", "category", "colour"], [[f"{p}-001", "เก้าอี้", "เก้าอี้", "แดง"]]),
        "Unknown columns: colour",
    ),
    "cp874-csv": (
        lambda p: f"asset_number,name,category\r\n{p}-001,เก้าอี้พลาสติก,เก้าอี้\r\n".encode("cp874"),
        "The CSV is not UTF-8",
    ),
    "empty-file": (lambda p: b"", "The file is empty."),
    "binary-renamed-csv": (lambda p: _png_bytes(), "This is not a CSV or XLSX file."),
}


@pytest.mark.parametrize("problem", list(FILE_PROBLEMS))
def test_a_file_that_cannot_be_read_is_refused_with_a_clear_message(app, session, tmp_path, officer, problem):
    make, message = FILE_PROBLEMS[problem]
    p = prefix()
    data = make(p)
    before = audit_count(session)

    with pytest.raises(importing.ImportFileError) as caught:
        importing.plan_import(session, data, "list.csv")
    assert message in str(caught.value)
    with pytest.raises(importing.ImportFileError):
        importing.apply_import(session, officer, data, "list.csv")

    result = run_cli(app, tmp_path, data)
    assert result.exit_code == 1
    assert message in result.output

    assert assets_of(session, p) == []
    assert audit_count(session) == before


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_a_file_with_more_rows_than_the_limit_is_refused(app, session, monkeypatch, kind):
    monkeypatch.setitem(app.config, "MAX_IMPORT_ROWS", 3)
    p = prefix()
    rows = [[f"{p}-{i:03d}", "เก้าอี้", "เก้าอี้"] for i in range(1, 5)]

    def encode(rows):
        if kind == "csv":
            return csv_bytes(["asset_number", "name", "category"], rows)
        book = Workbook()
        for row in [["asset_number", "name", "category"], *rows]:
            book.active.append(row)
        buf = io.BytesIO()
        book.save(buf)
        return buf.getvalue()

    assert importing.plan_import(session, encode(rows[:3])).rows == 3
    with pytest.raises(importing.ImportFileError) as caught:
        importing.plan_import(session, encode(rows))
    assert "The file has more than 3 rows; split it." in str(caught.value)


# --- changes to the register -----------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing_the_second_time(app, session, tmp_path):
    p = prefix()
    data = csv_bytes(ENGLISH, two_rows(p))
    first = run_cli(app, tmp_path, data)
    assert first.exit_code == 0, first.output
    versions = [(a.id, a.version, a.updated_at) for a in assets_of(session, p)]
    before = audit_count(session)

    again = run_cli(app, tmp_path, data)

    assert again.exit_code == 0, again.output
    assert "added 0, changed 0, unchanged 2" in again.output
    assert audit_count(session) == before
    assert [(a.id, a.version, a.updated_at) for a in assets_of(session, p)] == versions


def test_a_changed_location_shows_in_the_dry_run_and_changes_nothing_until_applied(app, session, tmp_path, make_asset):
    asset = make_asset(asset_number=f"{prefix()}-001", location="ห้องเก็บของ")
    data = csv_bytes(
        ["asset_number", "name", "category", "location"],
        [[asset.asset_number, asset.name, asset.category, "ห้องประชุมสภา"]],
    )
    before = audit_count(session)

    dry = run_cli(app, tmp_path, data, "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert f"change {asset.asset_number}: location: 'ห้องเก็บของ' -> 'ห้องประชุมสภา'" in dry.output
    assert "would add 0, would change 1, unchanged 0" in dry.output
    session.rollback()
    assert session.get(Asset, asset.id).location == "ห้องเก็บของ"
    assert audit_count(session) == before

    applied = run_cli(app, tmp_path, data)

    assert applied.exit_code == 0, applied.output
    session.rollback()
    stored = session.get(Asset, asset.id)
    assert stored.location == "ห้องประชุมสภา" and stored.name == asset.name
    (updated,) = entries(session, "asset.updated", subject_id=str(asset.id))
    change = json.loads(updated.data)
    assert change["before"] == {"location": "ห้องเก็บของ"}
    assert change["after"] == {"location": "ห้องประชุมสภา"}
    summary = import_entry_for(session, data)
    assert summary["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["rows"] == 1 and summary["updated"] == 1 and summary["created"] == 0
    assert audit_count(session) == before + 2


def test_a_dry_run_of_new_assets_adds_nothing(app, session, tmp_path):
    p = prefix()
    before = audit_count(session)

    result = run_cli(app, tmp_path, csv_bytes(THAI, two_rows(p), bom=True), "--dry-run")

    assert result.exit_code == 0, result.output
    assert "2 rows: would add 2, would change 0, unchanged 0" in result.output
    assert assets_of(session, p) == []
    assert audit_count(session) == before


# --- the web flow ----------------------------------------------------------------------------------


def upload(client, data: bytes, name: str):
    return client.post("/assets/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_an_officer_uploads_previews_and_applies_a_change(app, officer_client, session, officer, make_asset):
    client = officer_client
    p = prefix()
    asset = make_asset(asset_number=f"{p}-001", location="ห้องเก็บของ")
    data = csv_bytes(
        THAI,
        [
            [asset.asset_number, asset.name, asset.category, "", "", "", "", "350", "ห้องประชุมสภา", "สำนักปลัด", "ได้"],
            [f"{p}-002", "ลำโพงเคลื่อนที่", "เครื่องเสียง", "", "", "", "", "4500", "ห้องเก็บของ", "สำนักปลัด", "ได้"],
        ],
        bom=True,
    )
    before = audit_count(session)

    preview = upload(client, data, "รายการครุภัณฑ์.csv")

    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "Assets that will change: 1" in html and "New assets: 1" in html
    row = html[html.index("Changes to existing assets") :]
    assert asset.asset_number in row and "ห้องเก็บของ" in row and "ห้องประชุมสภา" in row
    assert row.index("ห้องเก็บของ") < row.index("ห้องประชุมสภา")  # now → after the import
    assert f"{p}-002" in html and "ลำโพงเคลื่อนที่" in html
    assert [a.asset_number for a in assets_of(session, p)] == [asset.asset_number]
    assert session.get(Asset, asset.id).location == "ห้องเก็บของ"
    assert audit_count(session) == before

    started = client.post(
        "/assets/import/apply", data={"sha256": hashlib.sha256(data).hexdigest(), "filename": "รายการครุภัณฑ์.csv"}
    )
    assert [a.asset_number for a in assets_of(session, p)] == [asset.asset_number]  # queued: nothing yet
    applied = follow_job(app, client, started)

    assert applied.status_code == 200
    assert "Imported: 1 added, 1 changed, 0 unchanged." in applied.get_data(as_text=True)
    session.rollback()
    existing, speaker = assets_of(session, p)
    assert existing.location == "ห้องประชุมสภา"
    assert speaker.name == "ลำโพงเคลื่อนที่"
    (updated,) = entries(session, "asset.updated", subject_id=str(asset.id))
    assert updated.actor == officer.username
    summary = import_entry_for(session, data)
    assert summary["rows"] == 2 and summary["filename"] == "รายการครุภัณฑ์.csv"

    again = upload(client, data, "รายการครุภัณฑ์.csv")
    assert "there is nothing to import" in again.get_data(as_text=True)
    repeat = client.post("/assets/import/apply", data={"sha256": hashlib.sha256(data).hexdigest()})
    assert "there is nothing to import" in follow_job(app, client, repeat).get_data(as_text=True)
    session.rollback()
    assert audit_count(session) == before + 3  # asset.created, asset.updated, assets.imported — once


def test_the_web_preview_lists_every_bad_row_and_offers_no_apply(officer_client, session):
    p = prefix()
    data = csv_bytes(THAI, mixed_rows(p))

    resp = upload(officer_client, data, "mixed.csv")

    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "2 problems were found. Nothing was imported" in html
    # the column as the file named it (its Thai header), not the internal key
    assert (
        '<td class="kp-number">3</td><td class="kp-column text-nowrap">ราคา</td>'
        '<td class="text-break">แพง</td><td>not a number</td>' in html
    )
    assert '<td class="kp-number">5</td><td class="kp-column text-nowrap">ชื่อครุภัณฑ์</td>' in html
    assert "/assets/import/apply" not in html
    assert assets_of(session, p) == []


def test_the_web_preview_names_the_first_row_of_a_repeated_number(officer_client, session):
    p = prefix()
    data = csv_bytes(
        ["asset_number", "name", "category"],
        [[to_thai_digits(f"{p}-001"), "เก้าอี้", "เก้าอี้"], [f"{p}-001", "เก้าอี้", "เก้าอี้"]],
    )

    html = upload(officer_client, data, "dup.csv").get_data(as_text=True)

    assert '<td class="kp-number">3</td><td class="kp-column text-nowrap">asset_number</td>' in html
    assert "the same asset number is on row 2" in html
    assert assets_of(session, p) == []


def test_the_web_upload_names_a_file_level_problem(officer_client, session):
    resp = upload(officer_client, "ชื่อ,ประเภท\r\nเก้าอี้,เก้าอี้\r\n".encode("cp874"), "old-excel.csv")

    assert resp.status_code == 200
    assert "The CSV is not UTF-8" in resp.get_data(as_text=True)

    odd_file = csv_bytes(["asset_number", "name", "category", "<b>สี</b>"], [["1", "ก", "ข", "แดง"]])
    odd = upload(officer_client, odd_file, "odd.csv").get_data(as_text=True)
    assert "Unknown columns: &lt;b&gt;สี&lt;/b&gt;" in odd


def test_staff_cannot_open_the_import(client, make_user, login_as):
    login_as(make_user(roles=["staff"]))

    assert client.get("/assets/import").status_code == 403
    assert upload(client, csv_bytes(ENGLISH, two_rows(prefix())), "x.csv").status_code == 403


# --- a large file ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_fifty_thousand_row_file_imports_completely_through_the_command_line(tmp_path):
    """On a database of its own: 50,000 assets and their entries left in the session's database would
    slow every later test that lists the register or walks the chain."""
    from core.db import db
    from tests.integration.audit_instances import separate_instance

    p = prefix()
    n = 50_000
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(THAI)
        for i in range(1, n + 1):
            writer.writerow(
                [
                    f"{p}-{i:05d}",
                    f"เก้าอี้พลาสติก ตัวที่ {i}",
                    "เก้าอี้",
                    "",
                    "",
                    "",
                    "01/10/2565",
                    f"{350 + i % 100}.00",
                    f"อาคาร {i % 7}",
                    "สำนักปลัด",
                    "ได้",
                ]
            )
    with separate_instance("import50k", tmp_path / "instance") as big, big.app_context():
        session = db.session
        before = total_assets(session)

        result = big.test_cli_runner().invoke(args=["assets", "import", str(path)])

        assert result.exit_code == 0, result.output[-2000:]
        assert f"{n} rows: added {n}, changed 0, unchanged 0" in result.output
        assert total_assets(session) == before + n
        assert (
            session.scalar(select(func.count()).select_from(Asset).where(Asset.asset_number.startswith(p + "-"))) == n
        )
        last = session.scalar(select(Asset).where(Asset.asset_number == f"{p}-{n:05d}"))
        assert last.name == f"เก้าอี้พลาสติก ตัวที่ {n}" and last.acquired_on == date(2022, 10, 1)
        summary = import_entry_for(session, path.read_bytes())
        assert summary["rows"] == n and summary["created"] == n
