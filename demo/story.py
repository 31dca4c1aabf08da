"""The demo's story: about 18 months of the office's life up to a given day, through the app's own services.

The history of the previous and the current fiscal year goes in through the paper-ledger import
(`lending.loans.ledger.write.apply_ledger`, the service behind `loans import`), the only path that accepts past dates;
what is happening now (a request waiting, one approved for next week, one out and due soon, a demand letter
for an overdue one) goes through the live workflow. A stock-take round of the previous year, the measures of
both years with their evidence, the borrowing manual and an audit checkpoint follow. Every date is relative
to `today`, so the story is never stale and has both years on any day of the year.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from audit import services as audit_services
from audit.integrity import checkpoints as checkpoint_file
from core.dates import BANGKOK, bangkok_today, fiscal_year_bounds, fiscal_year_of
from core.db import Session, known, utcnow
from core.files import FileStore
from core.models import User
from evidence.items import services as evidence_services
from evidence.measures import queries as measure_queries
from evidence.measures import services as measure_services
from evidence.measures.models import Measure
from lending.loans import cases
from lending.loans import services as workflow
from lending.loans.ledger import plan as ledger
from lending.loans.models import REQUESTED
from lending.manual import services as manual
from lending.register.models import Asset
from lending.stocktake import models as stocktake_models
from lending.stocktake import services as stocktake_services

STAFF = ("malee", "somchai", "napa")


def _now_for(today: date) -> datetime:
    """The instant the live part happens: now when `today` is today, else noon of `today` in Bangkok."""
    if today == bangkok_today():
        return utcnow()
    return datetime.combine(today, datetime.min.time().replace(hour=12), tzinfo=BANGKOK).astimezone(UTC)


def _row(
    ref: str,
    asset: Asset,
    borrower: str,
    purpose: str,
    requested: date,
    *,
    decision: str = "",
    decided: date | None = None,
    out: date | None = None,
    due: date | None = None,
    back: date | None = None,
    condition: str = "",
    demanded: date | None = None,
) -> list[str]:
    def iso(d: date | None) -> str:
        return d.isoformat() if d else ""

    return [
        ref,
        asset.asset_number,
        borrower,
        purpose,
        iso(requested),
        decision,
        "somsri" if decision else "",
        iso(decided),
        iso(out),
        iso(due),
        iso(back),
        condition,
        iso(demanded),
    ]


def _ledger_rows(today: date, pool: list[Asset]) -> list[list[str]]:
    """The paper ledger of the previous fiscal year and of the current one up to today."""
    prev_start, _prev_end = fiscal_year_bounds(fiscal_year_of(today) - 1)
    cur_start = fiscal_year_bounds(fiscal_year_of(today))[0]
    assets = iter(pool)
    rows: list[list[str]] = []

    def p(day: int) -> date:  # a day of the previous year
        return prev_start + timedelta(days=day)

    def c(back: int) -> date:  # `back` days before today, but never before the current year
        return max(cur_start, today - timedelta(days=back))

    def loan(ref: str, n: int, who: str, purpose: str, **kw: Any) -> None:
        for _ in range(n):
            rows.append(_row(ref, next(assets), who, purpose, **kw))

    # The previous fiscal year: every state.
    loan(
        "D-P01",
        5,
        "malee",
        "ประชุมผู้ปกครองศูนย์พัฒนาเด็กเล็ก",
        requested=p(20),
        decision="approved",
        decided=p(21),
        out=p(24),
        due=p(25),
        back=p(25),
        condition="good",
    )
    loan(
        "D-P02",
        1,
        "somchai",
        "สำรวจถนนในหมู่ที่ 5",
        requested=p(60),
        decision="approved",
        decided=p(60),
        out=p(62),
        due=p(66),
        back=p(75),
        condition="good",
        demanded=p(69),
    )
    loan(
        "D-P03",
        1,
        "napa",
        "เวทีประชาคมหมู่บ้าน",
        requested=p(110),
        decision="approved",
        decided=p(112),
        out=p(115),
        due=p(117),
        back=p(140),
        condition="good",
        demanded=p(130),
    )
    loan(
        "D-P04",
        1,
        "malee",
        "กิจกรรมวันเด็กแห่งชาติ",
        requested=p(100),
        decision="approved",
        decided=p(101),
        out=p(103),
        due=p(104),
        back=p(104),
        condition="damaged",
    )
    loan(
        "D-P05",
        1,
        "somchai",
        "งานประเพณีสงกรานต์ตำบล",
        requested=p(190),
        decision="approved",
        decided=p(191),
        out=p(193),
        due=p(196),
        back=p(200),
        condition="lost",
        demanded=p(198),
    )
    loan("D-P06", 1, "napa", "ใช้ส่วนตัวในงานบวช", requested=p(150), decision="rejected", decided=p(151))
    loan("D-P07", 1, "malee", "อบรมครูผู้ดูแลเด็ก (เลื่อนการจัด)", requested=p(170), decision="cancelled")
    loan(
        "D-P08",
        2,
        "somchai",
        "ประชุมคณะกรรมการชุมชน",
        requested=p(230),
        decision="approved",
        decided=p(231),
        out=p(233),
        due=p(235),
        back=p(235),
        condition="good",
    )
    loan(
        "D-P09",
        1,
        "napa",
        "ออกหน่วยบริการประชาชน",
        requested=p(300),
        decision="approved",
        decided=p(301),
        out=p(303),
        due=p(310),
        demanded=p(314),
    )  # never came back: still out and overdue
    loan(
        "D-P10",
        1,
        "malee",
        "ฝึกอบรมอาสาสมัครป้องกันภัย",
        requested=p(320),
        decision="approved",
        decided=p(321),
        out=p(323),
        due=p(326),
        back=p(326),
        condition="good",
    )
    loan(
        "D-P11",
        1,
        "somchai",
        "ประชุมกรรมการกองทุนหลักประกันสุขภาพ (ไม่มารับ)",
        requested=p(340),
        decision="approved",
        decided=p(341),
        due=p(343),
    )  # approved, never collected
    loan("D-P12", 1, "napa", "ขอยืมโดยไม่ระบุวันใช้ (ค้างพิจารณา)", requested=p(355))  # never decided
    # The current fiscal year up to today.
    loan(
        "D-C01",
        4,
        "napa",
        "ประชุมประจำเดือนผู้นำชุมชน",
        requested=c(60),
        decision="approved",
        decided=c(59),
        out=c(58),
        due=c(57),
        back=c(57),
        condition="good",
    )
    loan(
        "D-C02",
        1,
        "malee",
        "จัดนิทรรศการศูนย์พัฒนาเด็กเล็ก",
        requested=c(45),
        decision="approved",
        decided=c(45),
        out=c(44),
        due=c(40),
        back=c(30),
        condition="good",
        demanded=c(37),
    )
    loan("D-C03", 1, "somchai", "ประชุมชี้แจงโครงการก่อสร้าง", requested=c(50), decision="rejected", decided=c(49))
    loan("D-C04", 1, "napa", "ประชุมสภาองค์กรชุมชน (ยกเลิก)", requested=c(48), decision="cancelled")
    loan(
        "D-C05",
        1,
        "somchai",
        "ตรวจงานจ้างก่อสร้างรางระบายน้ำ",
        requested=c(35),
        decision="approved",
        decided=c(34),
        out=c(33),
        due=c(30),
        back=c(8),
        condition="good",
        demanded=c(15),
    )
    out_overdue = dict(requested=c(25), decision="approved", decided=c(24), out=c(22), due=c(12))
    if c(3) > c(12):
        out_overdue["demanded"] = c(3)
    loan("D-C06", 1, "malee", "สำรวจข้อมูลเด็กปฐมวัยรายครัวเรือน", **out_overdue)  # out and overdue now
    loan("D-C07", 1, "napa", "เตรียมงานวันผู้สูงอายุ", requested=c(2))  # on paper, not yet decided
    return rows


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ledger.COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 160)).save(out, format="PNG")
    return out.getvalue()


def _live(session: Session, users: dict[str, User], pool: list[Asset], now: datetime, today: date) -> None:
    """What is happening now, through the live workflow."""
    officer, head = users["somsri"], users["head"]

    def request(who: str, assets: list[Asset], purpose: str, start: date, due: date) -> int:
        loan = workflow.request_loan(
            session,
            users[who],
            [a.id for a in assets],
            purpose=purpose,
            place="ห้องประชุม อบต.",
            off_premises=False,
            start_on=start,
            due_on=due,
            now=now,
        )
        return loan.id

    def approve(loan_id: int) -> None:
        for actor in (officer, head):
            loan = workflow.approve_loan(session, actor, loan_id, now=now)
            if loan.status != REQUESTED:
                return

    request("malee", pool[0:2], "ประชุมคณะกรรมการศูนย์พัฒนาเด็กเล็ก", today + timedelta(days=7), today + timedelta(days=8))
    approve(
        request("somchai", pool[2:3], "ประชุมประชาคมแผนพัฒนาท้องถิ่น", today + timedelta(days=6), today + timedelta(days=9))
    )
    soon = request("napa", pool[3:5], "อบรมอาสาสมัครสาธารณสุข", today, today + timedelta(days=3))
    approve(soon)
    workflow.hand_over(session, officer, soon, note="ส่งมอบครบถ้วน สภาพดี", now=now)


def build(session: Session, config: dict[str, Any], today: date | None = None) -> dict[str, int]:
    """Build the story up to `today` (default: today in Bangkok); the people and assets must exist."""
    today = today or bangkok_today()
    now = _now_for(today)
    store = FileStore(config["EVIDENCE_DIR"])
    cur = fiscal_year_of(today)
    prev = cur - 1
    prev_start, prev_end = fiscal_year_bounds(prev)
    users = {u.username: u for u in session.scalars(select(User))}
    admin, officer = users["admin"], users["somsri"]
    assets = list(session.scalars(select(Asset).order_by(Asset.asset_number)))
    lendable = [a for a in assets if a.lendable and a.status == "available"]
    history, live, counted = lendable[:27], lendable[27:33], lendable[33:]

    # The stock-take of the previous year: everything found but one.
    noon_prev_end = datetime.combine(prev_end - timedelta(days=14), datetime.min.time().replace(hour=5), tzinfo=UTC)
    # the head appoints the committee and opens the round, and closes it on the committee's report (ข้อ 213)
    rnd = stocktake_services.open_round(
        session,
        users["head"],
        fiscal_year=prev,
        committee=[users["head"].id, users["auditor"].id],
        title=f"ตรวจสอบพัสดุประจำปี {prev}",
        now=noon_prev_end,
    )
    missing = counted[-1]
    in_round = session.scalars(
        select(stocktake_models.StocktakeEntry.asset_id).where(stocktake_models.StocktakeEntry.round_id == rnd.id)
    ).all()
    for asset_id in in_round:
        if asset_id != missing.id:
            stocktake_services.record_found(
                session, users["auditor"], rnd.id, asset_id, condition="good", now=noon_prev_end
            )
    stocktake_services.close_round(session, users["head"], rnd.id, store=store, now=noon_prev_end + timedelta(days=1))

    plan = ledger.apply_ledger(session, officer, _csv(_ledger_rows(today, history)), "demo-ledger.csv", now=now)
    if not plan.ok:
        raise RuntimeError(f"the demo ledger was refused: {[(e.row, e.column, e.reason) for e in plan.errors]}")
    _live(session, users, live, now, today)
    overdue = session.scalar(select(ledger.Loan.id).where(ledger.Loan.ref == "L-D-C06"))
    if overdue is not None and today > known(session.get(ledger.Loan, overdue), "loan").due_on:
        cases.issue_demand_letter(session, officer, overdue, now=now)

    # Measures of the previous year, copied forward; evidence of both years, one of each published.
    measure_services.ensure_indicators(session, admin, prev)
    measure_services.ensure_indicators(session, admin, cur)
    codes = {y: [i.code for i in measure_queries.active_indicators(session, y)] for y in (prev, cur)}
    for title, figures in (
        (
            "ยืม-คืนพัสดุด้วยระบบทะเบียนอิเล็กทรอนิกส์ โปร่งใส ตรวจสอบได้",
            ["lending.requests", "lending.items_returned_on_time", "lending.overdue_items_demanded_within_7_days"],
        ),
        ("ตรวจสอบพัสดุประจำปีและติดตามพัสดุชำรุด สูญหาย", ["lending.items_damaged", "lending.items_lost"]),
    ):
        measure_services.save_measure(
            session,
            admin,
            prev,
            {
                "title": title,
                "indicators": codes[prev][:2],
                "responsible": "งานพัสดุ กองคลัง",
                "activities": "ลงทะเบียนคำขอยืม อนุมัติ ส่งมอบ รับคืน และทวงถามเมื่อเกินกำหนด",
                "outcome": "ดำเนินการครบทุกขั้นตอนตามระเบียบ",
                "figures": figures,
            },
        )
    measure_services.copy_measures(session, admin, prev, cur)
    measures = {
        y: list(session.scalars(select(Measure).where(Measure.fiscal_year == y).order_by(Measure.position)))
        for y in (prev, cur)
    }
    for m in measures[cur]:  # this year's work so far, written into the copied rows
        measure_services.save_measure(
            session,
            admin,
            cur,
            {
                "title": m.title,
                "indicators": m.indicators,
                "responsible": m.responsible,
                "figures": m.figures,
                "activities": "ดำเนินการต่อเนื่องจากปีที่แล้ว ทบทวนคู่มือการยืมและเผยแพร่บนเว็บไซต์",
                "outcome": "อยู่ระหว่างดำเนินการ",
            },
            measure_id=m.id,
            version=m.version,
        )
    image = _png()
    for year in (prev, cur):
        for n, title in enumerate(("ภาพกิจกรรมส่งมอบพัสดุให้ผู้ยืม", "ทะเบียนคุมการยืมพัสดุ (สรุปรายเดือน)")):
            item = evidence_services.upload_evidence(
                session,
                officer,
                store,
                image,
                f"demo-{year}-{n}.png",
                fiscal_year=year,
                title=title,
                indicators=codes[year][n : n + 1],
                max_bytes=10 * 1024 * 1024,
                measure_id=measures[year][n].id,
            )
            if n == 0:
                evidence_services.set_visibility(session, admin, item.id, True)
    manual.publish_manual(session, admin, store, now=now)
    audit_services.create_checkpoint(session, None, log=checkpoint_file.log_path(config))
    return {"ledger_loans": len(plan.loans), "fiscal_years": 2}
