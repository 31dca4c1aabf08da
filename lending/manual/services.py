"""The borrowing manual (คู่มือการยืม-คืนพัสดุ), written from the live settings and the register.

`manual_content` builds the text once — who may borrow what, how to ask, who approves when, due dates,
the 7-day demand, damage and loss, contacts — and both the page and the PDF show it, so changing a
setting changes the manual. Publishing keeps a numbered version (its PDF in the file store, the settings it
was written from) and files it as evidence of the borrowing manual (the year's catalogue says under which
codes) through lending.loans.documents.filing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from audit import record
from core.dates import bangkok_date, bangkok_today, fiscal_year_of, format_date
from core.db import N_, Forbidden, Session, utcnow, write
from core.documents.pdf import ThaiDocument
from core.files import FileStore, store_generated
from core.models import User
from core.people.services import get_settings
from lending.loans.documents import filing
from lending.manual.models import ManualVersion
from lending.manual.permissions import can_publish
from lending.register.models import AVAILABLE, DISPOSED, Asset

TITLE = "คู่มือการยืม-คืนพัสดุ"
SETTING_KEYS = (
    "agency_name",
    "supply_unit",
    "phone",
    "head_approval_threshold",
    "head_approval_off_premises",
    "default_loan_days",
    "thai_digits_in_documents",
)
# The flow of a loan, drawn as boxes and arrows on the page (SVG) and in the PDF.
FLOW = (
    "ยื่นคำขอยืม\n(ระบุเหตุผลและวันคืน)",
    "เจ้าหน้าที่พัสดุ\nตรวจและอนุมัติ",
    "หัวหน้าหน่วยงาน\nอนุมัติ (ถ้าต้อง)",
    "รับพัสดุ\n(ส่งมอบ)",
    "คืนพัสดุ\n(ตรวจสภาพ)",
)
FLOW_BRANCH = "ชำรุด/สูญหาย:\nซ่อม ชดใช้ หรือจำหน่าย"


@dataclass
class Section:
    heading: str
    paragraphs: list[str]
    steps: list[str] | None = None


def _baht(value: Any) -> str:
    amount = Decimal(str(value or "0"))
    return f"{amount:,.2f}"


def lendable_categories(session: Session) -> list[str]:
    return list(
        session.execute(
            select(Asset.category)
            .where(Asset.lendable.is_(True), Asset.status != DISPOSED)
            .distinct()
            .order_by(Asset.category)
        ).scalars()
    )


def manual_content(
    session: Session, settings: dict[str, Any] | None = None, categories: list[str] | None = None
) -> list[Section]:
    """The manual's sections, from the given (or live) settings and the register's lendable categories."""
    s = settings if settings is not None else get_settings(session)
    cats = categories if categories is not None else lendable_categories(session)
    threshold = Decimal(str(s.get("head_approval_threshold") or "0"))
    days = int(s.get("default_loan_days") or 7)
    unit = s.get("supply_unit") or "งานพัสดุ"
    available = (
        session.execute(
            select(func.count()).select_from(Asset).where(Asset.lendable.is_(True), Asset.status == AVAILABLE)
        ).scalar_one()
        if settings is None
        else None
    )
    who = [f"บุคลากรของ{s.get('agency_name') or 'หน่วยงาน'}ยืมพัสดุได้เพื่อใช้ในราชการเท่านั้น ห้ามยืมไปใช้ประโยชน์ส่วนตัว"]
    who.append("ประเภทพัสดุที่ให้ยืมได้: " + (", ".join(cats) if cats else "ยังไม่มีพัสดุที่กำหนดให้ยืมได้"))
    if available is not None:
        who.append(f"ขณะนี้มีพัสดุพร้อมให้ยืม {available:,} รายการ (ดูได้จากทะเบียนพัสดุในระบบ)")
    approve = [f"เจ้าหน้าที่พัสดุ ({unit}) เป็นผู้ตรวจและอนุมัติคำขอยืมทุกรายการ ผู้อนุมัติต้องไม่ใช่ผู้ยืมเอง"]
    if threshold > 0:
        approve.append(f"พัสดุที่มีราคาตั้งแต่ {_baht(threshold)} บาทขึ้นไป ต้องได้รับอนุมัติจากหัวหน้าหน่วยงานอีกชั้นหนึ่ง")
    else:
        approve.append("ไม่มีเกณฑ์ราคาที่ต้องเสนอหัวหน้าหน่วยงานอนุมัติเพิ่ม")
    if s.get("head_approval_off_premises", True):
        approve.append("การนำพัสดุไปใช้นอกสถานที่ราชการ ต้องได้รับอนุมัติจากหัวหน้าหน่วยงานทุกครั้ง")
    else:
        approve.append("การนำพัสดุไปใช้นอกสถานที่ไม่ต้องเสนอหัวหน้าหน่วยงานเพิ่ม เว้นแต่ราคาถึงเกณฑ์ข้างต้น")
    contact = [f"ติดต่อ {unit}" + (f" โทร {s.get('phone')}" if s.get("phone") else "")]
    return [
        Section("1. ใครยืมอะไรได้บ้าง", who),
        Section(
            "2. ขั้นตอนการขอยืม",
            ["ยื่นคำขอยืมผ่านระบบ (หรือสแกน QR บนพัสดุ) ซึ่งถือเป็นหลักฐานการยืมเป็นหนังสือ"],
            steps=[
                "เลือกพัสดุที่ต้องการ กำหนดวันเริ่มใช้และวันคืน",
                "ระบุเหตุผลหรืองานที่จะนำไปใช้ และสถานที่ใช้ (ในหรือนอกสถานที่ราชการ)",
                "รอการอนุมัติ ระบบแจ้งผลให้ทราบ",
                "รับพัสดุจากเจ้าหน้าที่พัสดุ ตรวจสภาพและยืนยันการรับ",
                "ส่งคืนภายในกำหนด เจ้าหน้าที่พัสดุตรวจสภาพและบันทึกการรับคืน",
            ],
        ),
        Section("3. ผู้อนุมัติ", approve),
        Section(
            "4. กำหนดส่งคืน",
            [
                f"ยืมได้ตามระยะเวลาที่จำเป็น โดยปกติไม่เกิน {days} วัน นับจากวันเริ่มใช้",
                "เมื่อครบกำหนดแล้วยังไม่ส่งคืน เจ้าหน้าที่พัสดุจะติดตามทวงคืนเป็นหนังสือภายใน 7 วัน นับแต่วันครบกำหนด",
            ],
        ),
        Section(
            "5. เมื่อพัสดุชำรุดหรือสูญหาย",
            [
                "ผู้ยืมต้องรับผิดชอบโดยซ่อมแซมให้คงสภาพเดิมด้วยค่าใช้จ่ายของตนเอง "
                "หรือชดใช้เป็นพัสดุประเภท ชนิด ขนาด ลักษณะและคุณภาพอย่างเดียวกัน "
                "หรือชดใช้เป็นเงินตามราคาที่เป็นอยู่ในขณะยืม",
                "กรณีเสื่อมสภาพจากการใช้งานตามปกติ หัวหน้าหน่วยงานอาจอนุมัติให้จำหน่ายเป็นสูญได้",
            ],
        ),
        Section("6. ติดต่อสอบถาม", contact),
    ]


def settings_snapshot(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings.get(k) for k in SETTING_KEYS}


def _flow_pdf(doc: ThaiDocument, flow: tuple[str, ...] = FLOW, flow_branch: str = FLOW_BRANCH) -> None:
    """The loan flow as boxes and arrows drawn with fpdf2 primitives; boxes as tall as their text."""
    pdf = doc.pdf
    n = len(flow)
    gap = 7.0
    bw = (doc.width - gap * (n - 1)) / n
    size = 11.0
    lh = doc.line_height(size)

    def lines_of(text: str, width: float) -> list[str]:
        return [ln for part in text.split("\n") for ln in doc.wrap(part, width - 2, size)]

    laid = [lines_of(t, bw) for t in flow]
    bw2 = bw * 1.8
    branch = lines_of(flow_branch, bw2)
    bh = max(len(x) for x in laid + [branch]) * lh + 3
    doc.ensure_space(2 * bh + 14)
    y = doc.y + 2

    def box(x: float, top: float, w: float, lines: list[str], fill: tuple[int, int, int]) -> None:
        pdf.set_fill_color(*fill)
        pdf.rect(x, top, w, bh, style="DF")
        ty = top + (bh - lh * len(lines)) / 2
        for ln in lines:
            doc._text(x + 1, ty, w - 2, ln, size, False, "C")
            ty += lh

    pdf.set_line_width(0.35)
    for i, lines in enumerate(laid):
        x = doc.x0 + i * (bw + gap)
        box(x, y, bw, lines, (232, 244, 236))
        if i < n - 1:  # an arrow to the next box
            ax, ay = x + bw + 0.6, y + bh / 2
            pdf.line(ax, ay, ax + gap - 2.2, ay)
            pdf.polygon([(ax + gap - 1.2, ay), (ax + gap - 3.4, ay - 1.3), (ax + gap - 3.4, ay + 1.3)], style="DF")
    # from the return down to damage or loss
    cx = doc.x0 + (n - 1) * (bw + gap) + bw / 2
    by = y + bh + 8
    pdf.line(cx, y + bh + 0.6, cx, by - 2)
    pdf.polygon([(cx, by - 0.6), (cx - 1.3, by - 2.8), (cx + 1.3, by - 2.8)], style="DF")
    box(doc.x0 + doc.width - bw2, by, bw2, branch, (253, 236, 234))
    pdf.set_line_width(0.2)
    doc.y = by + bh + 4


def manual_pdf(
    session: Session,
    settings: dict[str, Any] | None = None,
    *,
    version: int | None = None,
    on: date | None = None,
) -> bytes:
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
    _flow_pdf(doc)
    for sec in manual_content(session, s):
        doc.ensure_space(doc.line_height() * 3)
        doc.paragraph(d(sec.heading), bold=True, space_after=0.5)
        for p in sec.paragraphs:
            doc.paragraph(d(p), first_line_indent=10, space_after=0.5)
        for i, step in enumerate(sec.steps or [], 1):
            doc.paragraph(d(f"{i}) {step}"), indent=10, space_after=0.3)
        doc.spacer(1)
    doc.paragraph(
        d("อ้างอิง: ระเบียบกระทรวงการคลังว่าด้วยการจัดซื้อจัดจ้างและการบริหารพัสดุภาครัฐ พ.ศ. 2560 หมวด 9 ส่วนที่ 2 การยืม"),
        size=13,
    )
    return doc.output()


def publish_manual(session: Session, actor: User, store: FileStore, now: datetime | None = None) -> ManualVersion:
    """Keep a numbered version of the manual as it reads now and file it as evidence (the borrowing manual)."""

    if not can_publish(actor):
        raise Forbidden(N_("You may not do this."))
    at = now or utcnow()
    with write(session):
        settings = get_settings(session)
        number = (session.execute(select(func.max(ManualVersion.number))).scalar_one() or 0) + 1
        data = manual_pdf(session, settings, version=number, on=bangkok_date(at))
        filename = f"manual-v{number}.pdf"
        digest = store_generated(session, store, data, filename, "application/pdf", made_by_id=actor.id).sha256
        snapshot = settings_snapshot(settings)
        snapshot["categories"] = lendable_categories(session)
        version = ManualVersion(
            number=number,
            fiscal_year=fiscal_year_of(bangkok_date(at)),
            published_at=at,
            published_by_id=actor.id,
            sha256=digest,
            settings=snapshot,
        )
        session.add(version)
        session.flush()
        record(session, actor, "manual.published", version, {"after": version.state()})
        filing.file_document(
            session,
            actor,
            store,
            data,
            filename,
            fiscal_year=version.fiscal_year,
            title=f"{TITLE} ฉบับที่ {number}",
            role=filing.BORROWING_MANUAL,
            mime="application/pdf",
            source=f"manual:{number}",
        )
        session.commit()
    return version
