"""The borrowing manual: written from the live settings, published as numbered versions filed as evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.files import FileStore
from core.models import User
from core.people import services as core_services
from evidence.items.models import EvidenceItem
from lending.manual import services as manual


def _text(data: bytes) -> str:
    """The PDF's text without white space (Thai lines wrap anywhere)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    try:
        return "".join("".join(page.get_textpage().get_text_range().split()) for page in pdf)
    finally:
        pdf.close()


@pytest.fixture(autouse=True)
def _restore_settings(app):
    """The database is shared by the whole run: put back the settings these tests change."""
    from core.db import db

    with app.app_context():
        before = core_services.get_settings(db.session)
        db.session.remove()
    yield
    with app.app_context():
        keys = (
            "head_approval_threshold",
            "thai_digits_in_documents",
            "default_loan_days",
            "head_approval_off_premises",
        )
        core_services.update_settings(db.session, None, {k: before[k] for k in keys})
        db.session.remove()


def test_the_manual_follows_the_head_approval_threshold(app, session, make_user, client, login_as):
    admin = make_user(["admin"])
    actor = session.get(User, admin.id)
    core_services.update_settings(
        session, actor, {"head_approval_threshold": "12345.00", "thai_digits_in_documents": False}
    )
    text = " ".join(p for s in manual.manual_content(session) for p in s.paragraphs)
    assert "12,345.00 บาท" in text
    assert "12,345.00" in _text(manual.manual_pdf(session))
    core_services.update_settings(session, session.get(User, admin.id), {"head_approval_threshold": "25000.00"})
    text = " ".join(p for s in manual.manual_content(session) for p in s.paragraphs)
    assert "25,000.00 บาท" in text and "12,345.00" not in text
    session.remove()
    login_as(make_user(["staff"]))
    page = client.get("/manual").get_data(as_text=True)
    assert "25,000.00" in page
    assert "<svg" in page
    assert client.get("/manual.pdf").data.startswith(b"%PDF")


def test_the_manual_states_the_loan_days_and_off_premises_rule(session, make_user):
    admin = session.get(User, make_user(["admin"]).id)
    core_services.update_settings(session, admin, {"default_loan_days": 9, "head_approval_off_premises": False})
    text = " ".join(p for s in manual.manual_content(session) for p in s.paragraphs)
    assert "ไม่เกิน 9 วัน" in text
    assert "ภายใน 7 วัน" in text
    assert "นอกสถานที่ไม่ต้องเสนอ" in text


def test_publishing_keeps_a_version_and_files_it_for_i20_and_i23(app, session, make_user, client, login_as):
    admin = make_user(["admin"])
    core_services.update_settings(session, session.get(User, admin.id), {"head_approval_threshold": "15000.00"})
    session.remove()
    login_as(admin)
    resp = client.post("/manual/publish")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/manual/versions")
    version = (
        session.execute(select(manual.ManualVersion).order_by(manual.ManualVersion.number.desc())).scalars().first()
    )
    assert version.settings["head_approval_threshold"] == "15000.00"
    assert version.published_by_id == admin.id
    item = session.execute(select(EvidenceItem).where(EvidenceItem.source == f"manual:{version.number}")).scalar_one()
    assert sorted(c.code for c in item.codes) == ["i20", "i23"]
    assert item.sha256 == version.sha256
    data = FileStore(app.config["EVIDENCE_DIR"]).read(version.sha256)
    assert "15,000.00" in _text(data).replace("๑๕,๐๐๐.๐๐", "15,000.00")
    entry = session.execute(
        select(AuditEntry).where(AuditEntry.action == "manual.published", AuditEntry.subject_id == str(version.id))
    ).scalar_one()
    assert entry.actor == admin.username
    listing = client.get("/manual/versions").get_data(as_text=True)
    assert f"/manual/versions/{version.number}.pdf" in listing
    assert client.get(f"/manual/versions/{version.number}.pdf").data == data


def test_only_an_admin_publishes(session, make_user, client, login_as):
    login_as(make_user(["supply_officer"]))
    assert client.post("/manual/publish").status_code == 403
