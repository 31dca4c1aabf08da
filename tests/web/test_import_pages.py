"""The import page: templates with Thai headers to download, and errors that name the file's own columns."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from lending.loans.ledger import plan as ledger
from lending.register import import_templates, importing
from tests.conftest import unique


@pytest.fixture
def as_officer(client, officer, login_as):
    return login_as(officer)


def test_the_import_page_offers_the_four_templates(as_officer):
    html = as_officer.get("/assets/import").get_data(as_text=True)
    for name in import_templates.TEMPLATES:
        assert f'href="/assets/import/templates/{name}"' in html
    assert "flask --app wsgi loans import FILE" in html


@pytest.mark.parametrize("kind", ["assets", "ledger"])
def test_the_templates_have_the_thai_headers_the_import_reads(as_officer, kind):
    expected = import_templates.headers(kind)
    reader = importing.map_headers if kind == "assets" else ledger.map_columns
    resp = as_officer.get(f"/assets/import/templates/{kind}.csv")
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())
    assert next(csv.reader(io.StringIO(body.decode("utf-8-sig")))) == expected
    assert all(any("\u0e00" <= c <= "\u0e7f" for c in h) for h in expected)
    book = load_workbook(io.BytesIO(as_officer.get(f"/assets/import/templates/{kind}.xlsx").get_data()))
    first, sample = book.worksheets
    assert [c.value for c in first[1]] == expected and first.max_row == 1  # nothing to import by mistake
    assert sample.max_row >= 3
    assert sorted(reader(expected).values()) == sorted(importing.HEADERS if kind == "assets" else ledger.COLUMNS)


def test_an_unknown_template_is_not_found(as_officer):
    assert as_officer.get("/assets/import/templates/secrets.csv").status_code == 404


def test_the_filled_in_workbook_template_imports(app, as_officer):
    book = load_workbook(io.BytesIO(as_officer.get("/assets/import/templates/assets.xlsx").get_data()))
    number = unique("416-69-")
    book.worksheets[0].append(
        [number, "เต็นท์ผ้าใบ", "เต็นท์", "", "", "", "15/06/2559", "12,500.00", "ห้องเก็บของ", "สำนักปลัด", "ได้"]
    )
    out = io.BytesIO()
    book.save(out)
    resp = as_officer.post(
        "/assets/import", data={"file": (io.BytesIO(out.getvalue()), "list.xlsx")}, content_type="multipart/form-data"
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and number in html and "kp-errors" not in html


def test_an_error_names_the_column_by_the_files_thai_header(as_officer):
    header = import_templates.headers("assets")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerow([unique("416-69-"), "เก้าอี้", "เก้าอี้", "", "", "", "31/02/2566", "350", "", "", "ได้"])
    resp = as_officer.post(
        "/assets/import",
        data={"file": (io.BytesIO(text.getvalue().encode()), "list.csv")},
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    row = html[html.index("kp-errors") :]
    assert '<td class="kp-column text-nowrap">วันที่ได้มา</td>' in row and "acquired_on" not in row


def test_a_missing_required_column_is_named_in_thai_when_the_file_speaks_thai():
    with pytest.raises(importing.ImportFileError) as caught:
        importing.map_headers(["หมายเลขครุภัณฑ์", "ชื่อครุภัณฑ์"])
    assert caught.value.params == {"columns": "ประเภท"}
    with pytest.raises(importing.ImportFileError) as english:
        importing.map_headers(["asset_number", "name"])
    assert english.value.params == {"columns": "category"}


def test_a_ledger_with_thai_headers_is_read_and_its_errors_name_them(session):
    header = import_templates.headers("ledger")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerow(
        [
            "66/900",
            "no-such-asset-" + unique(""),
            "nobody-" + unique(""),
            "ประชุม",
            "32/01/2566",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    plan = ledger.plan_ledger(session, text.getvalue().encode("utf-8-sig"), "ledger.csv")
    session.rollback()
    names = {e.column: e.column_name for e in plan.errors}
    assert names["requested_on"] == "วันที่ยืม" and names["asset_number"] == "หมายเลขครุภัณฑ์"


def test_the_workbook_template_is_small():
    data, mime, filename = import_templates.template("ledger.xlsx")
    assert len(data) < 20_000 and mime.endswith("spreadsheetml.sheet") and filename.endswith(".xlsx")
