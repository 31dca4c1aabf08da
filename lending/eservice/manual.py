"""The manual for outsiders (คู่มือการให้บริการยืมครุภัณฑ์แก่บุคคลภายนอก), written from the live settings.

Like the borrowing manual (lending.manual.services), `manual_content` builds the text once from the settings — the
rules per kind of borrower (which categories, the longest loan, the head's approval, a deposit), how long
personal data is kept, the office's contacts — and from what the e-service offers now, and the page and
the PDF both show it, so changing a setting changes the manual. Publishing keeps a numbered version (its
PDF and the settings it was written from) and files it as evidence of the catalogue's outsiders_manual item
(lending.loans.documents.filing names the role; each year's catalogue says which code plays it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from audit import record
from core.dates import bangkok_date, bangkok_today, fiscal_year_of, format_date
from core.db import N_, Forbidden, Session, utcnow, write
from core.documents.pdf import ThaiDocument
from core.files import FileStore, store_generated
from core.models import User
from core.people.services import get_settings
from lending.eservice.models import OutsidersManualVersion
from lending.groups.queries import groups as group_rows
from lending.manual.permissions import can_publish
from lending.manual.services import _flow_pdf
from lending.outside.models import AGENCY, GROUP, PERSON
from lending.outside.rules import all_rules, retention_years

TITLE = "คู่มือการให้บริการยืมครุภัณฑ์แก่บุคคลภายนอก"
KIND_TH = {PERSON: "ประชาชนทั่วไป", GROUP: "กลุ่มองค์กรชุมชน วัด โรงเรียน", AGENCY: "หน่วยงานของรัฐอื่น"}
SETTING_KEYS = (
    "agency_name",
    "supply_unit",
    "phone",
    "address",
    "district",
    "province",
    "outside_lending_rules",
    "outside_data_retention_years",
    "thai_digits_in_documents",
)
FLOW = (
    "ยื่นคำขอ\n(e-service หรือ\nที่สำนักงาน)",
    "เจ้าหน้าที่พัสดุ\nตรวจสอบจำนวน",
    "หัวหน้าหน่วยงาน\nพิจารณาอนุมัติ",
    "รับพัสดุ\n(ลงชื่อรับ)",
    "ส่งคืนพัสดุ\n(ตรวจสภาพ)",
)
FLOW_BRANCH = "ชำรุด/สูญหาย:\nซ่อม ชดใช้ของ หรือชดใช้เงิน"


@dataclass
class Section:
    heading: str
    paragraphs: list[str]
    steps: list[str] | None = None


def offered(session: Session) -> list[tuple[str, str, int]]:
    """(name, category, usable count) of every group offered on the e-service."""
    return [(g.name, g.category, g.total) for g in group_rows(session, public_only=True)]


def manual_content(
    session: Session,
    settings: dict[str, Any] | None = None,
    *,
    eservice_url: str = "",
    items: list[tuple[str, str, int]] | None = None,
) -> list[Section]:
    """The manual's sections, from the given (or live) settings and what the e-service offers."""
    s = settings if settings is not None else get_settings(session)
    items = items if items is not None else offered(session)
    agency = str(s.get("agency_name") or "หน่วยงาน")
    unit = str(s.get("supply_unit") or "งานพัสดุ")
    phone = str(s.get("phone") or "")
    rules = all_rules(s)
    years = retention_years(s)
    contact = f"{unit} {agency}" + (f" โทรศัพท์ {phone}" if phone else "")

    who = [
        f"{agency} ให้ยืมพัสดุประเภทใช้คงรูปแก่ประชาชน กลุ่มองค์กรชุมชน วัด โรงเรียน และหน่วยงานของรัฐอื่น "
        "เพื่อใช้ในงานสาธารณประโยชน์ งานประเพณี งานบุญ งานศพ และกิจกรรมของชุมชน ไม่ให้ยืมเพื่อหาประโยชน์ทางการค้า",
        "การให้ยืมเป็นไปตามระเบียบกระทรวงการคลังว่าด้วยการจัดซื้อจัดจ้างและการบริหารพัสดุภาครัฐ พ.ศ. 2560 "
        "หมวด 9 ส่วนที่ 2 การยืม และหลักเกณฑ์ที่หน่วยงานประกาศ",
    ]
    if items:
        what = ["พัสดุที่ให้บริการยืมในขณะนี้ (จำนวนที่มีในทะเบียน จำนวนว่างในแต่ละวันดูได้จากระบบ e-service):"]
        what += [f"- {name} ({category}) {count:,} รายการ" for name, category, count in items]
    else:
        what = ["ขณะนี้ยังไม่มีพัสดุที่เปิดให้บุคคลภายนอกยืมผ่านระบบ โปรดสอบถามที่สำนักงาน"]
    rule_lines = []
    for kind in (PERSON, GROUP, AGENCY):
        r = rules[kind]
        text = f"{KIND_TH[kind]}: ยืมได้ครั้งละไม่เกิน {r.max_days} วัน"
        text += " ประเภทพัสดุที่ยืมได้: " + (", ".join(r.categories) if r.categories else "ทุกประเภทที่เปิดให้ยืม")
        text += " ต้องได้รับอนุมัติจากหัวหน้าหน่วยงาน" if r.head_approval else " เจ้าหน้าที่พัสดุเป็นผู้อนุมัติ (ไม่ต้องเสนอหัวหน้าหน่วยงาน)"
        text += (" มีเงินประกัน" + (f" ({r.deposit_note})" if r.deposit_note else "")) if r.deposit else " ไม่เรียกเงินประกัน"
        rule_lines.append(text)
    channels = [
        (
            "ยื่นคำขอผ่านระบบบริการออนไลน์ (e-service)"
            + (f" ที่ {eservice_url}" if eservice_url else "")
            + " ได้ตลอด 24 ชั่วโมง ไม่ต้องลงทะเบียน ระบบให้เลขที่คำขอทันที"
        ),
        f"ยื่นแบบคำขอยืมพัสดุด้วยตนเองที่{unit} ในวันและเวลาราชการ (พิมพ์แบบคำขอได้จากระบบ)",
        "หน่วยงานของรัฐอื่นทำหนังสือขอยืมถึงหัวหน้าหน่วยงาน ระบุเลขที่หนังสือ รายการ จำนวน วันที่ยืมและวันคืน",
    ]
    return [
        Section("1. วัตถุประสงค์และผู้มีสิทธิ์ยืม", who),
        Section("2. พัสดุที่ให้ยืม", what),
        Section("3. ช่องทางการขอยืม", channels),
        Section(
            "4. ขั้นตอนการให้บริการ",
            ["ขั้นตอนและผู้รับผิดชอบ:"],
            steps=[
                "ผู้ขอยืมเลือกพัสดุ จำนวน วันที่ใช้และวันคืน ระบุงานที่จะนำไปใช้ สถานที่ใช้ และช่องทางติดต่อ",
                "ระบบตรวจจำนวนที่ว่างในวันที่ขอทันที และให้เลขที่คำขอสำหรับติดตาม",
                "เจ้าหน้าที่พัสดุตรวจสอบคำขอและจำนวนพัสดุ แล้วเสนอหัวหน้าหน่วยงาน (ตามหลักเกณฑ์ข้อ 5)",
                "หัวหน้าหน่วยงานพิจารณาอนุมัติหรือไม่อนุมัติ ผลการพิจารณาแจ้งทางหน้าติดตามคำขอ และทางอีเมลถ้าให้ไว้",
                "ผู้ยืมมารับพัสดุตามวันที่นัด ตรวจนับ และลงชื่อในใบรับพัสดุ",
                "ผู้ยืมส่งคืนภายในกำหนด เจ้าหน้าที่พัสดุตรวจนับและตรวจสภาพต่อหน้าผู้ยืม",
                "ผู้ยืมตอบแบบประเมินความพึงพอใจจากหน้าติดตามคำขอ",
            ],
        ),
        Section("5. หลักเกณฑ์การยืมตามประเภทผู้ยืม", rule_lines),
        Section(
            "6. การรับและการส่งคืน",
            [
                "ผู้ยืมเป็นผู้ขนย้ายพัสดุไปและกลับเอง เว้นแต่หน่วยงานจะแจ้งเป็นอย่างอื่น",
                "ส่งคืนพัสดุในสภาพเรียบร้อยและครบจำนวนภายในวันที่กำหนด หากเกินกำหนด เจ้าหน้าที่พัสดุจะทวงคืนเป็นหนังสือ"
                "ภายใน 7 วัน นับแต่วันครบกำหนด",
            ],
        ),
        Section(
            "7. เมื่อพัสดุชำรุดหรือสูญหาย",
            [
                "ผู้ยืมต้องรับผิดชอบโดยซ่อมแซมให้คงสภาพเดิมด้วยค่าใช้จ่ายของตนเอง หรือชดใช้เป็นพัสดุประเภท ชนิด ขนาด "
                "ลักษณะและคุณภาพอย่างเดียวกัน หรือชดใช้เป็นเงินตามราคาที่เป็นอยู่ในขณะยืม",
            ],
        ),
        Section(
            "8. การติดตามคำขอ",
            [
                "เปิดหน้าติดตามคำขอด้วยเลขที่คำขอและหมายเลขโทรศัพท์ที่ให้ไว้ ดูสถานะ พิมพ์แบบคำขอ ยกเลิกคำขอก่อนรับพัสดุ "
                "และตอบแบบประเมินความพึงพอใจหลังส่งคืน ระบบไม่แสดงข้อมูลของคำขออื่นใด",
            ],
        ),
        Section(
            "9. การคุ้มครองข้อมูลส่วนบุคคล",
            [
                "หน่วยงานเก็บชื่อ หมายเลขโทรศัพท์ ที่อยู่ และอีเมล (ถ้าให้ไว้) ของผู้ยืม และสำหรับกลุ่มหรือหน่วยงาน "
                "ชื่อผู้ประสานงานและเลขที่หนังสือ เพื่อพิจารณาคำขอ ติดต่อผู้ยืม ส่งมอบและรับคืนพัสดุ "
                "และติดตามกรณีชำรุดหรือสูญหายตามระเบียบ",
                "ข้อมูลนี้เห็นได้เฉพาะเจ้าหน้าที่ที่เกี่ยวข้อง ไม่เปิดเผยในหน้าสาธารณะ และไม่ส่งต่อผู้อื่นเว้นแต่กฎหมายกำหนด",
                f"หน่วยงานเก็บข้อมูลติดต่อไว้ {years} ปี นับแต่การยืมครั้งสุดท้ายสิ้นสุด แล้วลบข้อมูลติดต่อให้ไม่อาจระบุตัวบุคคลได้ คงไว้แต่บันทึกการยืม",
            ],
        ),
        Section("10. ติดต่อสอบถามและร้องเรียน", [contact]),
    ]


def settings_snapshot(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings.get(k) for k in SETTING_KEYS}


def manual_pdf(
    session: Session,
    settings: dict[str, Any] | None = None,
    *,
    eservice_url: str = "",
    version: int | None = None,
    on: date | None = None,
) -> bytes:
    """The manual as a PDF (Sarabun, Thai digits when the settings ask for them)."""
    s = settings if settings is not None else get_settings(session)
    doc = ThaiDocument(
        lang="th",
        thai_digits=bool(s.get("thai_digits_in_documents")),
        title=TITLE,
        author=str(s.get("agency_name") or "Khruphan"),
    )
    d = doc.digits
    doc.heading(TITLE, space_after=0)
    doc.paragraph(str(s.get("agency_name") or ""), align="C", bold=True, space_after=0)
    sub = f"ฉบับวันที่ {format_date(on or bangkok_today(), 'th', long=True)}"
    if version:
        sub = f"ฉบับที่ {version} " + sub
    doc.paragraph(d(sub), align="C", space_after=3)
    doc.paragraph("ขั้นตอนโดยย่อ", bold=True, space_after=0)
    _flow_pdf(doc, FLOW, FLOW_BRANCH)
    for sec in manual_content(session, s, eservice_url=eservice_url):
        doc.ensure_space(doc.line_height() * 3)
        doc.paragraph(d(sec.heading), bold=True, space_after=0.5)
        for p in sec.paragraphs:
            # the address of the e-service is typed into browsers: its digits stay as they are
            # typed names (the items offered) and the address people type into a browser keep their digits
            typed = p.startswith("- ") or (eservice_url and eservice_url in p)
            doc.paragraph(p if typed else d(p), first_line_indent=10, space_after=0.5)
        for i, step in enumerate(sec.steps or [], 1):
            doc.paragraph(d(f"{i}) {step}"), indent=10, space_after=0.3)
        doc.spacer(1)
    return doc.output()


def publish_manual(
    session: Session, actor: User, store: FileStore, *, eservice_url: str = "", now: datetime | None = None
) -> OutsidersManualVersion:
    """Keep a numbered version of the manual for outsiders as it reads now and file it as evidence."""
    from lending.loans.documents import filing

    if not can_publish(actor):
        raise Forbidden(N_("You may not do this."))
    at = now or utcnow()
    with write(session):
        settings = get_settings(session)
        number = (session.execute(select(func.max(OutsidersManualVersion.number))).scalar_one() or 0) + 1
        data = manual_pdf(session, settings, eservice_url=eservice_url, version=number, on=bangkok_date(at))
        filename = f"outsiders-manual-v{number}.pdf"
        digest = store_generated(session, store, data, filename, "application/pdf", made_by_id=actor.id).sha256
        snapshot = settings_snapshot(settings)
        snapshot["offered"] = [list(x) for x in offered(session)]
        version = OutsidersManualVersion(
            number=number,
            fiscal_year=fiscal_year_of(bangkok_date(at)),
            published_at=at,
            published_by_id=actor.id,
            sha256=digest,
            settings=snapshot,
        )
        session.add(version)
        session.flush()
        record(session, actor, "outsiders_manual.published", version, {"after": version.state()})
        filing.file_document(
            session,
            actor,
            store,
            data,
            filename,
            fiscal_year=version.fiscal_year,
            title=f"{TITLE} ฉบับที่ {number}",
            role=filing.OUTSIDERS_MANUAL,
            mime="application/pdf",
            source=f"outsiders_manual:{number}",
        )
        session.commit()
    return version


def versions(session: Session) -> list[OutsidersManualVersion]:
    return list(
        session.execute(select(OutsidersManualVersion).order_by(OutsidersManualVersion.number.desc())).scalars()
    )
