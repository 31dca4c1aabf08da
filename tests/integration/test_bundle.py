"""The year's evidence bundle: the report, every file per indicator, manifests that match, a checkpoint;
streamed
with flat memory. Evidence of fiscal years 2556 and 2555, which no other test uses."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tracemalloc
import zipfile

import pytest
from sqlalchemy import select

from audit import record
from audit.models import AuditCheckpoint, AuditEntry
from core.db import begin_write, db, utcnow
from core.files import FileStore
from core.models import StoredFile
from core.people import services as core_services
from core.web import context
from evidence.bundle import archive as bundles
from evidence.items import services as evidence_services
from evidence.items.models import EvidenceIndicator, EvidenceItem
from evidence.measures import services as measure_services
from tests.conftest import PASSWORD, login, unique
from tests.jobs import follow_job

YEAR = 2556
BIG_YEAR = 2555


def _png(seed: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (60, 40), (seed % 255, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


def _pdf(text: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"% " + text.encode() + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


@pytest.fixture(scope="module")
def year_2556(app):
    """Three evidence items of 2556: one for two indicators, one with a Thai name, one with a path in its
    name."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest bundle")
        session = db.session
        admin = core_services.create_user(session, None, unique("a556"), "ผู้ดูแล หลักฐาน", {"admin"}, PASSWORD)
        auditor = core_services.create_user(session, None, unique("t556"), "ผู้ตรวจ หลักฐาน", {"auditor"}, PASSWORD)
        measure_services.ensure_indicators(session, admin, YEAR)
        store = FileStore(app.config["EVIDENCE_DIR"])
        common = dict(max_bytes=10 * 2**20, fiscal_year=YEAR)
        two = evidence_services.upload_evidence(
            session,
            admin,
            store,
            _png(1),
            "คู่มือการยืม.png",
            title="คู่มือการยืมพัสดุ",
            indicators=["i20", "i21"],
            **common,
        )
        thai = evidence_services.upload_evidence(
            session,
            admin,
            store,
            _pdf("plan 2556"),
            "แผนป้องกันการทุจริต ๒๕๕๖.pdf",
            title="แผนป้องกันการทุจริต",
            indicators=["o36"],
            **common,
        )
        path = evidence_services.upload_evidence(
            session,
            admin,
            store,
            _png(2),
            "../../etc/ภาพ:ตรวจ?.png",
            title="ภาพการตรวจสอบ",
            indicators=["i24"],
            **common,
        )
        ids = {"two": two.id, "thai": thai.id, "path": path.id}
        names = {"admin": admin.username, "auditor": auditor.username}
        db.session.remove()
    return {"ids": ids, **names}


def _open(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every member's CRC is right
    return archive


def _check_bundle(data: bytes, ids: dict[str, int], year: int = YEAR) -> dict:
    archive = _open(data)
    names = archive.namelist()
    for fmt in ("pdf", "docx", "xlsx", "json"):
        assert f"report/ita-report-{year}.{fmt}" in names
    assert archive.read(f"report/ita-report-{year}.pdf").startswith(b"%PDF-")
    report = json.loads(archive.read(f"report/ita-report-{year}.json"))
    assert report["fiscal_year"] == year and report["evidence"]["items"] == 3
    assert report["evidence"]["by_indicator"] == {"i20": 1, "i21": 1, "i24": 1, "o36": 1}
    two = [n for n in names if n.startswith("evidence/") and n.split("/")[2].startswith(f"{ids['two']}-")]
    assert sorted(two) == [
        f"evidence/i20/{ids['two']}-คู่มือการยืม.png",
        f"evidence/i21/{ids['two']}-คู่มือการยืม.png",
    ]
    assert f"evidence/o36/{ids['thai']}-แผนป้องกันการทุจริต ๒๕๕๖.pdf" in names
    assert f"evidence/i24/{ids['path']}-ภาพ_ตรวจ_.png" in names  # no path, no reserved characters
    assert all(".." not in n.split("/") and not n.startswith("/") for n in names)

    manifest = json.loads(archive.read("manifest.json"))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode("utf-8-sig"))))
    assert archive.read("manifest.csv").startswith(b"\xef\xbb\xbf")
    assert [r["path"] for r in rows] == [f["path"] for f in manifest["files"]]
    evidence_rows = [f for f in manifest["files"] if f["path"].startswith("evidence/")]
    assert len(evidence_rows) == 4  # the item with two indicators is listed in both folders
    for entry in manifest["files"]:
        body = archive.read(entry["path"])
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert len(body) == entry["size"]
    for entry in evidence_rows:
        assert entry["indicator"] == entry["path"].split("/")[1]
        assert entry["title"] and entry["uploaded_by"] and entry["uploaded_at"].endswith("+07:00")
        assert entry["note"] == ""
    for row in rows:
        assert row["sha256"] == next(f["sha256"] for f in manifest["files"] if f["path"] == row["path"])

    checkpoint = json.loads(archive.read("checkpoint.json"))
    assert checkpoint["recorded"] is True and len(checkpoint["hash"]) == 64
    assert checkpoint["seq"] == report["audit"]["head_seq"]  # the checkpoint names the report's head
    assert checkpoint["report_head"]["hash"] == report["audit"]["head_hash"]
    return checkpoint


def test_the_command_writes_the_bundle(app, year_2556, tmp_path):
    out = tmp_path / "bundle.zip"
    result = app.test_cli_runner().invoke(args=["evidence", "bundle", "--year", str(YEAR), "--out", str(out)])
    assert result.exit_code == 0, result.output
    checkpoint = _check_bundle(out.read_bytes(), year_2556["ids"])
    with app.app_context():
        stored = (
            db.session.execute(select(AuditCheckpoint).where(AuditCheckpoint.seq == checkpoint["seq"])).scalars().all()
        )
        assert stored and stored[-1].hash == checkpoint["hash"]
        actions = (
            db.session.execute(
                select(AuditEntry.action).where(AuditEntry.seq >= checkpoint["seq"]).order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
        db.session.remove()
    # the bundle's own entry comes before the report's head; the checkpoint's entry after it
    assert actions[:2] == ["evidence.bundle_created", "audit.checkpoint"]
    assert not list(tmp_path.glob(".*.partial"))


def test_the_bundle_button_makes_it_in_a_job_and_it_is_audited(app, year_2556):
    client = app.test_client()
    assert login(client, year_2556["auditor"]).status_code == 302
    assert client.get(f"/report/bundle?year={YEAR}").status_code == 200  # the button; a GET makes nothing
    resp = follow_job(app, client, client.post(f"/report/bundle?year={YEAR}"))
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert f"ita-evidence-{YEAR}.zip" in resp.headers["Content-Disposition"]
    checkpoint = _check_bundle(resp.get_data(), year_2556["ids"])
    with app.app_context():
        entry = db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "evidence.bundle_downloaded")
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).scalar_one()
        assert entry.actor == year_2556["auditor"] and entry.subject_id == str(YEAR)
        assert entry.seq == checkpoint["seq"]  # the report's head is the download's own entry
        db.session.remove()


def test_a_missing_file_is_named_in_the_manifest_not_fatal(tmp_path):
    """In an instance of its own: the shared database's file store must stay whole for `evidence check`."""
    from tests.integration.audit_instances import separate_instance

    with separate_instance("bundle_missing", tmp_path) as inst, inst.app_context():
        context.set_origin("127.0.0.1", "pytest bundle missing")
        session = db.session
        digest = hashlib.sha256(b"never written").hexdigest()
        begin_write(session)
        session.add(StoredFile(sha256=digest, size=13, mime="application/pdf", original_name="gone.pdf"))
        item = EvidenceItem(
            fiscal_year=2554,
            title="หายไป",
            sha256=digest,
            original_name="gone.pdf",
            mime="application/pdf",
            size=13,
            uploaded_at=utcnow(),
        )
        item.codes = [EvidenceIndicator(code="o36")]
        session.add(item)
        session.flush()
        item_id = item.id
        record(session, None, "test.evidence_missing", item, {})
        session.commit()
        bundle = bundles.prepare(session, 2554, engine=db.engine, config=inst.config, action="evidence.bundle_created")
        data = b"".join(bundles.iter_bundle(bundle))
        db.session.remove()
    archive = _open(data)
    manifest = json.loads(archive.read("manifest.json"))
    gone = [f for f in manifest["files"] if f["evidence_id"] == item_id]
    assert gone and gone[0]["note"] == "missing from the file store" and gone[0]["path"] == ""
    assert bundle.problems


def test_memory_stays_flat_for_200_mb_of_evidence(app, tmp_path):
    """20 files of 10 MB: the bundle's peak memory grows by far less than what it carries."""
    count, size = 20, 10 * 1024 * 1024
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest bundle memory")
        session = db.session
        store = FileStore(app.config["EVIDENCE_DIR"])
        digests = []
        for _ in range(count):
            data = os.urandom(size)
            digests.append(store.write(data))
            del data
        begin_write(session)
        for n, digest in enumerate(digests):
            session.add(StoredFile(sha256=digest, size=size, mime="application/pdf", original_name=f"big-{n}.pdf"))
            item = EvidenceItem(
                fiscal_year=BIG_YEAR,
                title=f"ไฟล์ใหญ่ {n}",
                sha256=digest,
                original_name=f"ใหญ่-{n}.pdf",
                mime="application/pdf",
                size=size,
                uploaded_at=utcnow(),
            )
            item.codes = [EvidenceIndicator(code="o43")]
            session.add(item)
        session.flush()
        record(session, None, "test.evidence_big", ("test", "big"), {"count": count})
        session.commit()

        def rss() -> int:
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS:"))

        out = tmp_path / "big.zip"
        before = rss()
        tracemalloc.start()
        try:
            bundle = bundles.prepare(
                session, BIG_YEAR, engine=db.engine, config=app.config, action="evidence.bundle_created"
            )
            db.session.remove()
            peak_rss, written = before, 0
            with out.open("wb") as fh:
                for chunk in bundles.iter_bundle(bundle):
                    fh.write(chunk)
                    written += len(chunk)
                    peak_rss = max(peak_rss, rss())
            _current, peak_traced = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert written >= count * size
    assert peak_traced < 100 * 1024 * 1024, f"traced peak {peak_traced / 2**20:.0f} MB"
    assert peak_rss - before < 100 * 1024 * 1024, f"RSS grew {(peak_rss - before) / 2**20:.0f} MB"
    with zipfile.ZipFile(out) as archive:
        members = [i for i in archive.infolist() if i.filename.startswith("evidence/o43/")]
        assert len(members) == count and all(i.file_size == size for i in members)
        first = members[0]
        with archive.open(first) as fh:
            digest = hashlib.sha256()
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        manifest = json.loads(archive.read("manifest.json"))
        assert digest.hexdigest() == next(f["sha256"] for f in manifest["files"] if f["path"] == first.filename)
