"""Bounded parsing: hostile XLSX/DOCX/ZIP files are refused, before anything parses them, with a message
naming the limit — through the asset import upload, the evidence upload and the command lines.

The files are built in memory (tests/bombs.py); the CPU each refusal costs is measured by bench/parsing.py,
not asserted here.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import stream_encode_multipart

from audit.models import AuditEntry
from core.db import db
from core.documents import archives
from core.models import StoredFile, User
from core.web import context
from evidence.items.models import EvidenceItem
from evidence.measures import services as measure_services
from lending.register import importing
from lending.register.models import Asset
from tests import bombs
from tests.conftest import sign_in, unique

YEAR = 2569

RATIO = "unpacks to %(ratio)s times its stored size"
SHEETS = "sheets (MAX_SHEETS)"


@pytest.fixture(scope="module")
def hostile() -> dict[str, tuple[bytes, str, str]]:
    """name → (file, the setting that must refuse it, the words naming what), built once for the module."""
    return {
        "shared-strings-bomb": (bombs.shared_strings_bomb(), "MAX_COMPRESSION_RATIO", "(xl/sharedStrings.xml)"),
        "many-9.9-MB-entries": (bombs.many_big_entries_zip(), "MAX_COMPRESSION_RATIO", "(word/media/image1.bin)"),
        "10000-sheets": (bombs.many_sheets_workbook(), "MAX_SHEETS", "more than 100 sheets"),
        "docx-bomb": (bombs.docx_document_bomb(), "MAX_COMPRESSION_RATIO", "(word/document.xml)"),
    }


def post_form(client, path: str, fields: dict, **kw):
    """A multipart POST encoded in memory: the test client spools bodies over 500 KB to a temporary file
    it never closes (a ResourceWarning, an error here)."""
    form = MultiDict(
        {
            k: FileStorage(*v, content_type="application/octet-stream") if isinstance(v, tuple) else v
            for k, v in fields.items()
        }
    )
    body, length, boundary = stream_encode_multipart(form, use_tempfile=False)
    return client.post(
        path, input_stream=body, content_length=length, content_type=f'multipart/form-data; boundary="{boundary}"', **kw
    )


def counts(app) -> tuple[int, int, int, int]:
    """Assets, audit entries, stored files and evidence items: none may change on a refusal."""
    with app.app_context():
        out = tuple(
            db.session.scalar(select(func.count()).select_from(m))
            for m in (Asset, AuditEntry, StoredFile, EvidenceItem)
        )
        db.session.remove()
    return out


# --- the checks themselves -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["shared-strings-bomb", "many-9.9-MB-entries", "10000-sheets", "docx-bomb"])
def test_each_hostile_file_is_refused_by_the_workbook_check_with_the_limit_named(hostile, name):
    data, setting, words = hostile[name]
    with pytest.raises(archives.ArchiveRefused) as caught:
        list(archives.read_first_sheet(data, archives.Limits.from_config({})))
    assert words in str(caught.value)
    assert str(caught.value).endswith(f"({setting}).") or f"({setting});" in str(caught.value)


def test_the_ratio_message_says_how_compressed_and_what_is_allowed(hostile):
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.open_zip(hostile["many-9.9-MB-entries"][0], archives.Limits.from_config({}))
    assert caught.value.message.endswith("(MAX_COMPRESSION_RATIO).")
    assert RATIO in caught.value.message
    assert caught.value.params["limit"] == "100"
    assert int(caught.value.params["ratio"].replace(",", "")) > 500


def test_twenty_entries_under_a_per_entry_limit_are_refused_by_the_total_when_the_ratio_allows_them():
    data = bombs.many_big_entries_zip()
    limits = archives.Limits.from_config(
        {"MAX_COMPRESSION_RATIO": 10_000, "MAX_ENTRY_MB": 10, "MAX_TOTAL_UNCOMPRESSED_MB": 150}
    )
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.open_zip(data, limits)
    assert str(caught.value) == "The file unpacks to more than 150 MB (MAX_TOTAL_UNCOMPRESSED_MB)."


def test_many_small_entries_are_refused_by_the_total_ratio_even_when_each_is_under_the_floor():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", bombs.DOCX_TYPES)
        for i in range(40):
            archive.writestr(f"word/media/{i}.bin", b"\0" * (archives.RATIO_FLOOR - 1))
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.open_zip(buf.getvalue(), archives.Limits.from_config({}))
    assert caught.value.params["name"] == "*"


def test_more_entries_than_the_limit_are_refused_before_the_directory_is_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for i in range(60):
            archive.writestr(f"{i}", b"")
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.open_zip(buf.getvalue(), archives.Limits.from_config({"MAX_ARCHIVE_ENTRIES": 50}))
    assert str(caught.value) == "The file holds 60 archive entries; at most 50 are accepted (MAX_ARCHIVE_ENTRIES)."


def test_shared_strings_that_compress_little_are_refused_by_their_count():
    rows = [["asset_number", "name", "category"]]
    table = (
        f'<sst xmlns="{bombs.MAIN}">' + "".join(f"<x:si><x:t>{i}</x:t></x:si>" for i in range(1001)) + "</sst>"
    ).encode()
    data = bombs._workbook(1, table, bombs._sheet(rows, shared=True))
    limits = archives.Limits.from_config({"MAX_SHARED_STRINGS": 1000})
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.check_workbook(data, limits)
    assert str(caught.value) == "The workbook holds more than 1,000 different texts (MAX_SHARED_STRINGS); split it."
    archives.check_workbook(data, archives.Limits.from_config({"MAX_SHARED_STRINGS": 1001}))


def test_a_styles_part_with_more_cell_formats_than_excel_allows_is_refused():
    buf = io.BytesIO()
    base = zipfile.ZipFile(io.BytesIO(bombs.normal_workbook([["a"]])))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in base.infolist():
            content = base.read(info.filename)
            if info.filename == "[Content_Types].xml":
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/styles.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>',
                )
            archive.writestr(info, content)
        archive.writestr("xl/styles.xml", b"<styleSheet><cellXfs>" + b"<xf/>" * 65_001 + b"</cellXfs></styleSheet>")
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.check_workbook(buf.getvalue(), archives.Limits.from_config({}))
    assert "more than 65,000 cell formats" in str(caught.value)


def test_a_tag_cut_between_two_pieces_of_the_stream_is_counted_once():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x.xml", (b" " * (archives.MB - 3)) + b"<si>a</si>" * 10 + b"<si/>")
    with zipfile.ZipFile(buf) as archive:
        assert archives.count_tags(archive, "x.xml", "si", 100) == 11


def test_a_sheet_that_claims_to_span_every_column_and_row_reads_as_its_real_cells():
    data = bombs.normal_workbook([["asset_number", "name", "category"], ["1", "a", "b"]])
    source = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>')
            archive.writestr(info, content)
    rows = list(archives.read_first_sheet(buf.getvalue(), archives.Limits.from_config({"MAX_IMPORT_CELLS": 10})))
    assert rows == [("asset_number", "name", "category"), ("1", "a", "b")]


def test_more_cells_than_the_limit_are_refused_while_reading():
    data = bombs.normal_workbook([["asset_number", "name", "category"]] + [["1", "a", "b"]] * 5)
    with pytest.raises(archives.ArchiveRefused) as caught:
        list(archives.read_first_sheet(data, archives.Limits.from_config({"MAX_IMPORT_CELLS": 12})))
    assert str(caught.value) == "The file has more than 12 cells (MAX_IMPORT_CELLS); split it."


def test_a_damaged_zip_is_refused_as_damaged():
    data = bombs.normal_workbook([["a"]])
    with pytest.raises(archives.ArchiveRefused) as caught:
        archives.open_zip(data[:-30], archives.Limits.from_config({}))
    assert str(caught.value) == "The document is damaged and cannot be read."


def test_the_limits_come_from_the_environment(monkeypatch, tmp_path):
    from core.config import load_config

    monkeypatch.setenv("MAX_SHEETS", "7")
    monkeypatch.setenv("MAX_COMPRESSION_RATIO", "50")
    config = load_config(str(tmp_path), {"SECRET_KEY": "x"})
    assert (config["MAX_SHEETS"], config["MAX_COMPRESSION_RATIO"], config["MAX_IMPORT_ROWS"]) == (7, 50, 200_000)
    assert archives.Limits.from_config(config).sheets == 7


# --- through the real paths ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["shared-strings-bomb", "many-9.9-MB-entries", "10000-sheets", "docx-bomb"])
def test_the_asset_import_upload_refuses_each_hostile_file_and_changes_nothing(app, client, officer, hostile, name):
    data, setting, words = hostile[name]
    sign_in(client, officer)
    before = counts(app)

    resp = post_form(client, "/assets/import", {"file": (io.BytesIO(data), "list.xlsx")})

    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert setting in page and words in page
    assert 'name="sha256"' not in page  # no preview, nothing to apply
    assert counts(app) == before


def test_the_asset_import_upload_says_the_limit_in_thai(app, client, officer, hostile):
    sign_in(client, officer)
    with client.session_transaction() as cookie:
        cookie["lang"] = "th"
    resp = post_form(client, "/assets/import", {"file": (io.BytesIO(hostile["10000-sheets"][0]), "list.xlsx")})
    assert "MAX_SHEETS" in resp.get_data(as_text=True)
    assert "แผ่นงาน" in resp.get_data(as_text=True)


@pytest.mark.parametrize("name", ["shared-strings-bomb", "many-9.9-MB-entries", "10000-sheets", "docx-bomb"])
@pytest.mark.parametrize("command", ["assets", "loans"])
def test_the_import_commands_refuse_each_hostile_file_and_change_nothing(app, tmp_path, hostile, name, command):
    data, setting, words = hostile[name]
    path = tmp_path / "list.xlsx"
    path.write_bytes(data)
    before = counts(app)

    result = app.test_cli_runner().invoke(args=[command, "import", str(path)])

    assert result.exit_code == 1
    assert setting in result.output and words in result.output
    assert counts(app) == before


@pytest.mark.parametrize("name", ["many-9.9-MB-entries", "docx-bomb", "shared-strings-bomb"])
def test_the_evidence_upload_refuses_each_hostile_document_and_stores_nothing(app, client, officer, hostile, name):
    data, setting, words = hostile[name]
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        measure_services.ensure_indicators(db.session, db.session.get(User, officer.id), YEAR)
        db.session.remove()
    sign_in(client, officer)
    before = counts(app)
    title = unique("bomb ")
    filename = "book.xlsx" if name == "shared-strings-bomb" else "document.docx"

    resp = post_form(
        client,
        "/evidence/new",
        {"fiscal_year": str(YEAR), "indicators": "i20", "titles": title, "files": (io.BytesIO(data), filename)},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )

    assert resp.status_code == 200
    [result] = resp.get_json()["results"]
    assert result["id"] is None
    assert setting in result["error"] and words in result["error"]
    assert counts(app) == before


def test_a_normal_workbook_still_imports_through_the_upload_and_the_command_line(app, client, officer, tmp_path):
    number = unique("BP").upper()
    rows = [["asset_number", "name", "category"], [f"{number}-1", "เก้าอี้", "เก้าอี้"]]
    data = bombs.normal_workbook(rows)
    sign_in(client, officer)

    preview = client.post(
        "/assets/import", data={"file": (io.BytesIO(data), "list.xlsx")}, content_type="multipart/form-data"
    )
    assert preview.status_code == 200
    assert f"{number}-1" in preview.get_data(as_text=True)

    path = tmp_path / "list.xlsx"
    path.write_bytes(data)
    result = app.test_cli_runner().invoke(args=["assets", "import", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(Asset).where(Asset.asset_number == f"{number}-1")) == 1
        )
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.action == "assets.imported",
                    AuditEntry.subject_id == importing.hashlib.sha256(data).hexdigest()[:16],
                )
            )
            == 1
        )
        db.session.remove()


@pytest.mark.parametrize("name", ["shared-strings-bomb", "10000-sheets"])
def test_the_catalogue_import_command_refuses_each_hostile_workbook(app, tmp_path, hostile, name):
    data, setting, words = hostile[name]
    path = tmp_path / "2628.xlsx"
    path.write_bytes(data)
    before = counts(app)

    result = app.test_cli_runner().invoke(args=["ita", "catalogue", "import", str(path), "--year", "2628"])

    assert result.exit_code != 0
    assert setting in result.output and words in result.output
    assert counts(app) == before
