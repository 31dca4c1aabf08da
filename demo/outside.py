"""The demo's lending by count and to outsiders: 180 plastic chairs and 10 tents in lending groups, a
citizen's e-service request waiting, an agency's request at the head, and a community group's loan that
came back with two damaged chairs (an incident) and a survey answer. Built after the rest of the story, so
its assets do not shift the story's own."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from audit import record
from core.db import Session, known, write
from core.models import User
from lending.groups import queries as group_queries
from lending.groups import services as groups
from lending.loans import services as workflow
from lending.outside import services as outside
from lending.register.models import Asset, compute_search_text, new_tag

# (asset-number prefix, count, name, category, model, price, location)
GROUPS = [
    ("416-66", 180, "เก้าอี้พลาสติก สีแดง (ให้ยืม)", "เก้าอี้", "CH-52", "320.00", "โรงเก็บพัสดุ หลัง 2"),
    ("416-65", 10, "เต็นท์ทรงโค้ง ขนาด 4x8 เมตร (ให้ยืม)", "เต็นท์", "TM-48", "14500.00", "โรงเก็บพัสดุ หลัง 2"),
]
GROUP_NAMES = ("เก้าอี้พลาสติก", "เต็นท์ขนาด 4x8 เมตร")
DESCRIPTIONS = (
    "เก้าอี้พลาสติกสีแดงพร้อมพนักพิง ซ้อนเก็บได้ ให้ยืมสำหรับงานบุญ งานศพ งานประเพณีของหมู่บ้าน",
    "เต็นท์ผ้าใบทรงโค้งพร้อมโครงเหล็ก ผู้ยืมขนย้ายและติดตั้งเอง",
)


def _assets(session: Session, officer: User) -> list[int]:
    with write(session):
        taken = set(session.scalars(select(Asset.tag)))
        made: list[list[Asset]] = []
        for prefix, count, name, category, model, price, location in GROUPS:
            rows = []
            for n in range(1, count + 1):
                tag = new_tag()
                while tag in taken:
                    tag = new_tag()
                taken.add(tag)
                asset = Asset(tag=tag, status="available", status_note="")
                asset.apply(
                    {
                        "asset_number": f"{prefix}-{n:04d}",
                        "name": name,
                        "category": category,
                        "brand": "",
                        "model": model,
                        "serial_number": "",
                        "acquired_on": date(2022, 3, 15),
                        "price": Decimal(price),
                        "location": location,
                        "department": "สำนักปลัด",
                        "lendable": True,
                    }
                )
                asset.search_text = compute_search_text(asset.state())
                rows.append(asset)
            session.add_all(rows)
            made.append(rows)
        session.flush()
        for rows in made:
            for asset in rows:
                record(session, None, "asset.created", asset, {"after": asset.state(), "demo": True})
        session.commit()
    ids = []
    for (_p, _c, _n, category, model, _pr, _l), name, text, rows in zip(
        GROUPS, GROUP_NAMES, DESCRIPTIONS, made, strict=True
    ):
        group = groups.save_group(
            session, officer, name=name, category=category, model=model, description=text, public=True
        )
        groups.set_members(session, officer, group.id, [a.id for a in rows])
        ids.append(group.id)
    return ids


def build(session: Session, now: datetime, today: date) -> dict[str, int]:
    """The groups and the outside loans, as of `now` (Bangkok `today`)."""
    users = {u.username: u for u in session.scalars(select(User))}
    officer, head = users["somsri"], users["head"]
    chairs, tents = _assets(session, officer)

    # A community group's loan of last week: approved, picked, back with two chairs damaged; a survey.
    past = now - timedelta(days=10)
    start = today - timedelta(days=6)
    party = outside.PartyDetails(
        kind="group",
        name="กลุ่มแม่บ้านบ้านหนองบัว",
        contact_person="นางบัวผัน ศรีสุข",
        phone="089-555-0142",
        village_no="4",
        village="หนองบัว",
        subdistrict="หนองบัวทอง",
        district="เมืองขอนแก่น",
        province="ขอนแก่น",
        address="45",
    )
    loan = outside.request_outside(
        session,
        officer,
        party,
        [(chairs, 80), (tents, 2)],
        start_on=start,
        due_on=start + timedelta(days=1),
        purpose="งานทำบุญประจำปีของหมู่บ้าน",
        place="ศาลาประชาคม หมู่ 4",
        channel="counter",
        now=past,
    )
    workflow.approve_loan(session, officer, loan.id, now=past + timedelta(hours=2))
    workflow.approve_loan(session, head, loan.id, now=past + timedelta(hours=5))
    handed_at = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    picks = {}
    for line in known(session.get(workflow.Loan, loan.id), "loan").lines:
        suggested = group_queries.suggest_assets(
            session, line.group_id, line.count, start, start + timedelta(days=1), start, exclude_loan_id=loan.id
        )
        picks[line.id] = [a.id for a in suggested]
    session.rollback()
    handed = groups.hand_over_lines(session, officer, loan.id, picks, note="ส่งมอบครบตามจำนวน สภาพดี", now=handed_at)
    back_at = handed_at + timedelta(days=1, hours=2)  # on the due day
    for line in handed.lines:
        items = [i.id for i in handed.items if i.line_id == line.id]
        damaged = items[:2] if line.group_id == chairs else []
        session.rollback()
        groups.receive_by_count(
            session,
            officer,
            loan.id,
            line.id,
            len(items) - len(damaged),
            [groups.Exception_(i, "damaged", "ขาเก้าอี้หัก") for i in damaged],
            now=back_at,
        )
        handed = session.get(workflow.Loan, loan.id)
    outside.record_survey(
        session, handed.public_ref, "0895550142", 5, "เจ้าหน้าที่บริการดี ได้ของครบ", now=back_at + timedelta(hours=3)
    )

    # A school's letter for its sports day, approved by the officer and waiting for the head.
    school = outside.PartyDetails(
        kind="agency",
        name="โรงเรียนบ้านหนองบัว",
        contact_person="นายสมพงษ์ ใฝ่เรียน",
        phone="043-555-017",
        letter_no="ศธ 04002.123/045",
        village_no="4",
        village="หนองบัว",
        subdistrict="หนองบัวทอง",
        district="เมืองขอนแก่น",
        province="ขอนแก่น",
    )
    sports = outside.request_outside(
        session,
        officer,
        school,
        [(chairs, 100)],
        start_on=today + timedelta(days=12),
        due_on=today + timedelta(days=13),
        purpose="งานกีฬาสีประจำปีของโรงเรียน",
        place="สนามโรงเรียนบ้านหนองบัว",
        channel="agency",
        now=now,
    )
    workflow.approve_loan(session, officer, sports.id, now=now)

    # A citizen's request on the e-service for next Saturday, waiting for the supply officer.
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    citizen = outside.PartyDetails(
        kind="person",
        name="นายประยูร มั่นคง",
        phone="081-234-5678",
        village_no="7",
        village="โนนสวรรค์",
        subdistrict="หนองบัวทอง",
        district="เมืองขอนแก่น",
        province="ขอนแก่น",
        address="112",
        national_id=_demo_id(),
    )
    outside.request_outside(
        session,
        None,
        citizen,
        [(chairs, 60), (tents, 2)],
        start_on=saturday,
        due_on=saturday + timedelta(days=1),
        purpose="งานฌาปนกิจบิดา",
        place="บ้านเลขที่ 112 หมู่ 7",
        now=now,
    )
    return {"groups": 2, "outside_loans": 3}


def _demo_id() -> str:
    """A made-up 13-digit ID number with a valid check digit (only its last four digits are stored)."""
    digits = [1] + [secrets.randbelow(10) for _ in range(11)]
    total = sum(d * (13 - i) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((11 - total % 11) % 10)
