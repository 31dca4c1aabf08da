"""Evidence uploads against the real database and file store: the upload rules of issue 5, the file's
download, and `flask --app wsgi evidence check`.

The database and the file store are shared by the session, so each test finds its own items by a unique
title or hash and counts only what it changed. Pages are switched to English so assertions quote msgids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.db import DomainError, db
from core.files import DOCX, PDF, XLSX, FileStore
from core.models import StoredFile, User
from core.web import context
from evidence.items import services
from evidence.items.models import EvidenceItem
from evidence.measures import services as measure_services
from tests.conftest import sign_in, unique

YEAR = 2569
MB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------------


def pdf(text: str = "") -> bytes:
    """A small PDF whose bytes differ per call (so each test stores its own file)."""
    body = text or unique("pdf")
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + body.encode() + b"\n%%EOF\n"


def png(size=(40, 30), color=None) -> bytes:
    buf = io.BytesIO()
    color = color or tuple(int(c) % 256 for c in hashlib.sha256(unique("c").encode()).digest()[:3])
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (13.0, 45.0, 0.0), 3: "E", 4: (100.0, 30.0, 0.0)}
    buf = io.BytesIO()
    color = tuple(hashlib.sha256(unique("g").encode()).digest()[:3])
    Image.new("RGB", (64, 48), color).save(buf, "JPEG", exif=exif.tobytes())
    data = buf.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the test photo really has a position"
    return data


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its few bytes of data could never fill."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"/>'
)


def real_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("รายงานผลการดำเนินการตามมาตรการ " + unique("d"))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def real_xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active["A1"] = "สรุปการยืมคืน " + unique("x")
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def docx_bomb() -> bytes:
    """A DOCX-shaped zip ([Content_Types].xml, word/document.xml) with a 300 MB member of zeros.

    Written in chunks, so the test itself never holds 300 MB; the archive is a few hundred kB.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("word/document.xml", b"<w:document/>")
        with archive.open("word/media/image1.bin", "w", force_zip64=True) as member:
            block = b"\0" * MB
            for _ in range(300):
                member.write(block)
    data = buf.getvalue()
    assert len(data) < 2 * MB
    return data


def store(app) -> FileStore:
    return FileStore(app.config["EVIDENCE_DIR"])


def files_on_disk(app) -> set[Path]:
    root = Path(app.config["EVIDENCE_DIR"])
    return {p for p in root.rglob("*") if p.is_file()}


def fetch(client, url: str):
    """GET a file and close the response (a streamed file stays open until then)."""
    with client.get(url) as resp:
        resp.get_data()
        return resp


def count(app, model) -> int:
    with app.app_context():
        n = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.remove()
        return n


def upload(app, user, data: bytes, filename: str, **kw) -> EvidenceItem:
    """Through the service, in its own app context; returns a detached item."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        actor = db.session.get(User, user.id)
        measure_services.ensure_indicators(db.session, actor, kw.get("fiscal_year", YEAR))
        values = {"fiscal_year": YEAR, "title": "", "indicators": ["i20"], "max_bytes": 25 * MB, **kw}
        try:
            item = services.upload_evidence(db.session, actor, store(app), data, filename, **values)
            db.session.refresh(item)
            db.session.expunge(item)
            return item
        finally:
            db.session.rollback()
            db.session.remove()


def refused(app, user, data: bytes, filename: str, **kw) -> str:
    """Upload something that must be refused; return the message. Nothing may be stored."""
    before_rows, before_files = (count(app, EvidenceItem), count(app, StoredFile)), files_on_disk(app)
    with pytest.raises(DomainError) as err:
        upload(app, user, data, filename, **kw)
    assert (count(app, EvidenceItem), count(app, StoredFile)) == before_rows
    assert files_on_disk(app) == before_files
    return err.value.message


def post_files(client, files: list[tuple[bytes, str]], year: int = YEAR, indicators=("i20",), **fields):
    data = {
        "fiscal_year": str(year),
        "indicators": list(indicators),
        "files": [(io.BytesIO(content), name) for content, name in files],
        **fields,
    }
    return client.post("/evidence/new", data=data, content_type="multipart/form-data")


def item_by_title(app, title: str) -> EvidenceItem | None:
    with app.app_context():
        item = db.session.execute(select(EvidenceItem).where(EvidenceItem.title == title)).scalar_one_or_none()
        if item is not None:
            db.session.expunge(item)
        db.session.remove()
        return item


def items_of(app, sha256: str) -> list[EvidenceItem]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(EvidenceItem).where(EvidenceItem.sha256 == sha256).order_by(EvidenceItem.id)
            ).scalars()
        )
        for r in rows:
            db.session.expunge(r)
        db.session.remove()
        return rows


def entries(app, action: str, subject_id: int) -> list[dict]:
    with app.app_context():
        rows = (
            db.session.execute(
                select(AuditEntry.data).where(
                    AuditEntry.action == action,
                    AuditEntry.subject_type == "evidence",
                    AuditEntry.subject_id == str(subject_id),
                )
            )
            .scalars()
            .all()
        )
        db.session.remove()
        return [json.loads(r) if isinstance(r, str) else r for r in rows]


# --- what the content says, not the name -----------------------------------------------------------


def test_content_that_contradicts_the_name_is_stored_and_served_as_what_it_is(app, officer):
    image = upload(app, officer, png(), "scan-of-the-manual.pdf")
    document = upload(app, officer, pdf(), "photo.jpg")

    assert (image.mime, document.mime) == ("image/png", PDF)
    assert image.original_name == "scan-of-the-manual.pdf"


@pytest.mark.parametrize(
    "content, name",
    [
        (b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>", "report.pdf"),
        (b"<html><img src=x onerror=alert(1)></html>", "photo.png"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "photo.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "diagram.pdf"),
        (b"MZ\x90\x00\x03\x00\x00\x00 not a document", "minutes.pdf"),
    ],
    ids=["html-as-pdf", "html-as-png", "svg-as-png", "svg-as-pdf", "exe-as-pdf"],
)
def test_markup_or_programs_renamed_as_documents_are_refused_and_nothing_is_stored(app, officer, content, name):
    message = refused(app, officer, content, name)

    assert message == "This type of file is not accepted (its content was checked, not its name)."


def test_an_archive_that_is_not_a_word_or_excel_document_is_refused(app, officer):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("evidence/photo1.jpg", b"not really")
        archive.writestr("readme.txt", "hello")

    assert (
        refused(app, officer, buf.getvalue(), "evidence.docx")
        == "This type of file is not accepted (its content was checked, not its name)."
    )


def test_real_word_and_excel_documents_are_accepted(app, officer):
    word = upload(app, officer, real_docx(), "รายงาน 6 เดือน.docx")
    sheet = upload(app, officer, real_xlsx(), "สรุปการยืมคืน.xlsx")

    assert (word.mime, sheet.mime) == (DOCX, XLSX)


def test_a_docx_zip_bomb_is_refused_and_nothing_is_stored(app, officer, docx_bomb, monkeypatch):
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def watched_open(self, name, *args, **kwargs):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", watched_open)

    message = refused(app, officer, docx_bomb, "คู่มือ.docx")

    assert message == (
        "A part of the file (%(name)s) unpacks to %(mb)s MB; at most %(limit)s MB are accepted (MAX_ENTRY_MB)."
    )
    # the check reads the zip's directory: the 300 MB member is never inflated, however fast the machine
    assert "word/media/image1.bin" not in opened


# --- images ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("width, height", [(50_000, 50_000), (20_000, 100)])
def test_an_image_with_absurd_dimensions_is_refused(app, officer, width, height):
    message = refused(app, officer, png_claiming(width, height), "photo.png")

    assert message == "The image is too large (%(w)d × %(h)d pixels)."


def test_a_photos_gps_position_is_removed_by_default(app, officer):
    item = upload(app, officer, jpeg_with_gps(), "IMG_0042.jpg")

    with Image.open(io.BytesIO(store(app).read(item.sha256))) as stored:
        exif = stored.getexif()
        assert 0x8825 not in exif and exif.get_ifd(0x8825) == {}
        assert exif.get(0x010F) == "PhoneMaker", "the rest of the EXIF data is kept"


def test_a_photos_gps_position_is_kept_when_the_setting_is_off(app, officer, admin, client):
    from core.people import services as core_services

    with app.app_context():
        core_services.update_settings(db.session, db.session.get(User, admin.id), {"strip_gps_from_photos": False})
        db.session.remove()
    try:
        title = unique("gps-kept ")
        resp = post_files(sign_in(client, officer), [(jpeg_with_gps(), "IMG_0043.jpg")], title=title)
        assert resp.status_code == 302
    finally:
        with app.app_context():
            core_services.update_settings(db.session, db.session.get(User, admin.id), {"strip_gps_from_photos": True})
            db.session.remove()

    item = item_by_title(app, title)
    with Image.open(io.BytesIO(store(app).read(item.sha256))) as stored:
        assert stored.getexif().get_ifd(0x8825)


def test_a_jpeg_with_nothing_to_strip_is_kept_byte_for_byte(app, officer):
    buf = io.BytesIO()
    Image.new("RGB", (50, 40), tuple(hashlib.sha256(unique("j").encode()).digest()[:3])).save(buf, "JPEG")
    original = buf.getvalue()

    item = upload(app, officer, original, "scan.jpg")

    assert item.sha256 == hashlib.sha256(original).hexdigest()


# --- names are data --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kept",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("คู่มือการยืมพัสดุ ฉบับปรับปรุง ๒๕๖๙.pdf", "คู่มือการยืมพัสดุ ฉบับปรับปรุง ๒๕๖๙.pdf"),
        ("ก" * 296 + ".pdf", "ก" * 255),
        ("report\r\nSet-Cookie: session=stolen.pdf", "reportSet-Cookie: session=stolen.pdf"),
    ],
    ids=["dot-dot-slash", "backslashes", "thai", "300-characters", "crlf"],
)
def test_the_original_name_is_kept_as_data_and_the_file_is_stored_by_its_hash(app, officer, client, name, kept):
    data = pdf()
    digest = hashlib.sha256(data).hexdigest()
    root = Path(app.config["EVIDENCE_DIR"]).resolve()
    around = set(root.parent.iterdir())

    item = upload(app, officer, data, name)

    assert item.original_name == kept
    assert item.title == kept[:300]
    assert store(app).path_of(digest).read_bytes() == data
    assert store(app).path_of(digest).resolve().is_relative_to(root)
    assert set(root.parent.iterdir()) == around, "nothing was written beside the store"

    resp = fetch(sign_in(client, officer), f"/evidence/{item.id}/file")
    assert resp.status_code == 200
    disposition = resp.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition and "/" not in disposition.split(";")[1]
    assert "Set-Cookie" not in resp.headers


def test_a_thai_name_is_sent_with_an_ascii_fallback_and_the_real_name_per_rfc_6266(app, officer, client):
    item = upload(app, officer, real_docx(), "รายงาน ผลการดำเนินงาน.docx")

    resp = fetch(sign_in(client, officer), f"/evidence/{item.id}/file")

    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E0%B8%A3%E0%B8%B2%E0%B8%A2%E0%B8%87%E0%B8%B2%E0%B8%99%20" in disposition
    assert disposition.encode("latin-1")  # a header value a browser can read


# --- size ------------------------------------------------------------------------------------------


def test_a_file_over_the_limit_is_refused_by_the_service(app, officer):
    assert (
        refused(app, officer, pdf() + b"\0" * 3000, "big.pdf", max_bytes=2048) == "The file is larger than %(mb)s MB."
    )


def test_an_upload_over_the_size_limit_is_413_and_stores_nothing(app, officer, client):
    sign_in(client, officer)
    rows, files = (count(app, EvidenceItem), count(app, StoredFile)), files_on_disk(app)
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # 0.0625 MB: said as "0.1 MB", not "0 MB"
    try:
        resp = post_files(client, [(pdf(), "small.pdf"), (pdf() + b"\0" * 100_000, "big.pdf")])
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit

    assert resp.status_code == 413
    assert "nothing was stored" in resp.get_data(as_text=True) and "0.1 MB" in resp.get_data(as_text=True)
    assert (count(app, EvidenceItem), count(app, StoredFile)) == rows
    assert files_on_disk(app) == files


@pytest.mark.parametrize("size, said", [(25 * MB, "25"), (MB // 2, "0.5"), (3 * MB // 2, "1.5"), (MB // 10, "0.1")])
def test_a_limit_is_said_in_megabytes_as_people_read_them(size, said):
    from core.files import megabytes

    assert megabytes(size) == said


def test_the_limit_is_25_mb_unless_max_upload_mb_says_otherwise(tmp_path, monkeypatch):
    from core.config import load_config

    monkeypatch.delenv("MAX_UPLOAD_MB", raising=False)
    assert load_config(str(tmp_path), {"SECRET_KEY": "x"})["MAX_CONTENT_LENGTH"] == 25 * MB
    monkeypatch.setenv("MAX_UPLOAD_MB", "40")
    assert load_config(str(tmp_path), {"SECRET_KEY": "x"})["MAX_CONTENT_LENGTH"] == 40 * MB


# --- several files, one bad ------------------------------------------------------------------------


def test_one_refused_file_does_not_stop_or_lose_the_others(app, officer, client):
    sign_in(client, officer)
    tag = unique("batch ")
    first, second = pdf(), png()

    resp = post_files(
        client,
        [(first, "a.pdf"), (b"<html>phish</html>", "b.pdf"), (second, "c.png")],
        titles=[f"{tag} a", f"{tag} b", f"{tag} c"],
    )

    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "a.pdf was stored as evidence." in page
    assert "c.png was stored as evidence." in page
    assert "b.pdf was not stored: This type of file is not accepted" in page
    assert item_by_title(app, f"{tag} a").sha256 == hashlib.sha256(first).hexdigest()
    assert item_by_title(app, f"{tag} c") is not None
    assert item_by_title(app, f"{tag} b") is None


def test_the_progress_bar_request_gets_a_report_per_file(app, officer, client):
    sign_in(client, officer)
    tag = unique("xhr ")

    resp = client.post(
        "/evidence/new",
        data={
            "fiscal_year": str(YEAR),
            "indicators": ["i20", "i24"],
            "titles": [f"{tag} 1", f"{tag} 2"],
            "files": [(io.BytesIO(pdf()), "one.pdf"), (io.BytesIO(b"<svg/>"), "two.png")],
        },
        content_type="multipart/form-data",
        headers={"X-Requested-With": "XMLHttpRequest"},
    )

    assert resp.status_code == 200 and resp.is_json
    results = resp.get_json()["results"]
    assert [r["name"] for r in results] == ["one.pdf", "two.png"]
    assert results[0]["id"] == item_by_title(app, f"{tag} 1").id and results[0]["error"] is None
    assert results[1]["id"] is None and "not accepted" in results[1]["error"]
    assert resp.get_json()["redirect"] == f"/evidence?year={YEAR}"


# --- the same file twice at once -------------------------------------------------------------------


def test_the_same_file_uploaded_twice_at_once_gives_two_items_and_one_stored_file(app, officer):
    data = pdf()
    digest = hashlib.sha256(data).hexdigest()
    barrier = threading.Barrier(2)
    outcomes: list = [None, None]
    with app.app_context():
        measure_services.ensure_indicators(db.session, db.session.get(User, officer.id), YEAR)
        db.session.remove()

    def work(n: int) -> None:
        with app.app_context():
            context.set_origin("127.0.0.1", f"pytest-thread-{n}")
            try:
                actor = db.session.get(User, officer.id)
                db.session.rollback()
                barrier.wait(timeout=30)
                item = services.upload_evidence(
                    db.session,
                    actor,
                    store(app),
                    data,
                    f"copy-{n}.pdf",
                    fiscal_year=YEAR,
                    title=f"copy {n}",
                    indicators=["i20"],
                    max_bytes=25 * MB,
                )
                outcomes[n] = ("ok", item.id)
            except BaseException as e:  # noqa: BLE001 — the test reports every failure
                outcomes[n] = ("error", repr(e))
            finally:
                db.session.rollback()
                db.session.remove()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    items = items_of(app, digest)
    assert sorted(i.original_name for i in items) == ["copy-0.pdf", "copy-1.pdf"]
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(StoredFile).where(StoredFile.sha256 == digest)
            ).scalar_one()
            == 1
        )
        db.session.remove()
    same = [p for p in files_on_disk(app) if p.name == digest or p.name.startswith(".incoming-")]
    assert same == [store(app).path_of(digest)]


# --- who may fetch a file --------------------------------------------------------------------------


def test_a_staff_member_fetching_evidence_that_is_not_theirs_gets_404(app, officer, make_user, client):
    item = upload(app, officer, pdf(), "internal-memo.pdf")
    sign_in(client, make_user(roles=["staff"]))

    assert fetch(client, f"/evidence/{item.id}/file").status_code == 404
    assert client.get(f"/evidence/{item.id}").status_code == 404
    assert fetch(client, f"/evidence/{item.id + 100_000}/file").status_code == 404


def test_the_person_who_filed_an_item_may_fetch_it_without_the_register_permission(app, make_user, client):
    staff = make_user(roles=["staff"])
    data = pdf()
    with app.app_context():
        from core.db import begin_write

        context.set_origin("127.0.0.1", "pytest")
        begin_write(db.session)
        item = services.file_generated(
            db.session,
            db.session.get(User, staff.id),
            store(app),
            data,
            "stocktake-report.pdf",
            fiscal_year=YEAR,
            title=unique("stock-take "),
            indicators=["i24"],
            mime=PDF,
            source="stocktake",
        )
        db.session.commit()
        item_id = item.id
        db.session.remove()

    resp = fetch(sign_in(client, staff), f"/evidence/{item_id}/file")

    assert resp.status_code == 200 and resp.data == data
    assert client.get("/evidence").status_code == 403, "the register itself stays closed to staff"


def test_a_download_streams_the_stored_bytes_with_safe_headers_and_is_recorded(app, officer, client):
    data = pdf()
    item = upload(app, officer, data, "คู่มือการยืมพัสดุ.pdf")
    sign_in(client, officer)

    resp = fetch(client, f"/evidence/{item.id}/file")

    assert resp.status_code == 200
    assert resp.data == data
    assert resp.mimetype == PDF
    assert resp.headers["Content-Disposition"].startswith("inline; filename=")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "no-store" in resp.headers["Cache-Control"]
    recorded = entries(app, "evidence.downloaded", item.id)
    assert recorded == [{"sha256": item.sha256, "name": "คู่มือการยืมพัสดุ.pdf"}]


def test_office_documents_are_sent_as_attachments(app, officer, client):
    item = upload(app, officer, real_xlsx(), "สรุป.xlsx")

    resp = fetch(sign_in(client, officer), f"/evidence/{item.id}/file")

    assert resp.mimetype == XLSX
    assert resp.headers["Content-Disposition"].startswith("attachment; filename=")


# --- evidence check --------------------------------------------------------------------------------


def run_check(app):
    result = app.test_cli_runner().invoke(args=["evidence", "check"])
    return result.exit_code, result.output


def test_a_crash_between_writing_the_file_and_the_row_leaves_an_orphan_that_check_reports(app, officer, monkeypatch):
    data = pdf()
    digest = hashlib.sha256(data).hexdigest()

    upload(app, officer, pdf(), "seeds-the-year.pdf")  # the year's catalogue exists before the crash

    def crash(*_args, **_kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(services, "record", crash)
    with pytest.raises(RuntimeError):
        upload(app, officer, data, "lost.pdf")
    monkeypatch.undo()

    orphan = store(app).path_of(digest)
    try:
        assert orphan.is_file(), "the bytes are written before the row"
        assert items_of(app, digest) == []
        code, output = run_check(app)
        assert f"ORPHAN   {orphan.relative_to(app.config['EVIDENCE_DIR'])}" in output
        assert "MISSING" not in output and "ALTERED" not in output
        assert code == 0, "an orphan is reported, not a failure"
    finally:
        orphan.unlink(missing_ok=True)


def test_check_reports_missing_altered_orphaned_and_unfinished_files_and_exits_1(app, officer):
    gone, changed = upload(app, officer, pdf(), "gone.pdf"), upload(app, officer, pdf(), "changed.pdf")
    gone_path, changed_path = store(app).path_of(gone.sha256), store(app).path_of(changed.sha256)
    gone_bytes, changed_bytes = gone_path.read_bytes(), changed_path.read_bytes()
    root = Path(app.config["EVIDENCE_DIR"])
    stray = root / "ab" / "cd" / ("ab" + "cd" + "e" * 60)
    unfinished = root / "ab" / ".incoming-x1y2z3"
    fresh = root / "ab" / ".incoming-fresh"
    stray.parent.mkdir(parents=True, exist_ok=True)
    try:
        gone_path.unlink()
        changed_path.write_bytes(changed_bytes + b"% edited later\n")
        stray.write_bytes(b"nobody's file")
        unfinished.write_bytes(b"half a file")
        old = time.time() - 2 * 3600
        os.utime(unfinished, (old, old))
        fresh.write_bytes(b"being written")

        code, output = run_check(app)

        assert code == 1
        assert f"MISSING  {gone.sha256}" in output
        actual = hashlib.sha256(changed_bytes + b"% edited later\n").hexdigest()
        assert f"ALTERED  {changed.sha256}  (the file now hashes to {actual})" in output
        assert f"ORPHAN   {stray.relative_to(root)}" in output
        assert f"INCOMPLETE  {unfinished.relative_to(root)}" in output
        assert ".incoming-fresh" not in output and "1 uploads in progress" in output
        assert "FAILED:" in output
    finally:
        gone_path.write_bytes(gone_bytes)
        changed_path.write_bytes(changed_bytes)
        for path in (stray, unfinished, fresh):
            path.unlink(missing_ok=True)

    code, output = run_check(app)
    assert code == 0, output
    assert gone.sha256 not in output and changed.sha256 not in output and "OK:" in output


@pytest.mark.parametrize("setting", [True, False])
def test_other_uploads_follow_the_gps_setting_too(app, admin, setting):
    """Hand-over, return and stock-take photos go through `store_upload` without deciding themselves."""
    from core.files import store_upload
    from core.people import services as core_services

    with app.app_context():
        core_services.update_settings(db.session, db.session.get(User, admin.id), {"strip_gps_from_photos": setting})
        db.session.commit()
        try:
            stored = store_upload(
                db.session,
                store(app),
                jpeg_with_gps(),
                "handover.jpg",
                allowed={"image/jpeg"},
                max_bytes=10_000_000,
                uploaded_by_id=None,
            )
            db.session.commit()
            with Image.open(io.BytesIO(store(app).read(stored.sha256))) as image:
                assert bool(image.getexif().get_ifd(0x8825)) is (not setting)
        finally:
            core_services.update_settings(db.session, db.session.get(User, admin.id), {"strip_gps_from_photos": True})
            db.session.commit()
            db.session.remove()
