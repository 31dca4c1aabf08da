"""`flask --app wsgi demo load`: a believable อบต. with people of every role, its equipment and its story
(demo.story: 18 months of loans, demands, cases, a stock-take, measures, evidence, the manual)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from audit import record
from core.dates import bangkok_today, fiscal_year_bounds, fiscal_year_of
from core.db import Session, db, write
from core.models import User
from core.people import services as core_services
from core.web import context
from demo import story as demo_story
from lending.register.models import Asset, compute_search_text, new_tag

demo = AppGroup("demo", help="Demonstration data.")

AGENCY = {
    "agency_name": "องค์การบริหารส่วนตำบลหนองบัวทอง",
    "agency_short": "อบต.หนองบัวทอง",
    "district": "อำเภอโนนสูง",
    "province": "จังหวัดนครราชสีมา",
    "address": "หมู่ที่ 3 ตำบลหนองบัวทอง อำเภอโนนสูง จังหวัดนครราชสีมา 30160",
    "phone": "044-000-123",
    "supply_unit": "งานพัสดุ กองคลัง",
    "report_reporter_name": "นายสมชาย ปลัดดี",
    "report_reporter_position": "ปลัดองค์การบริหารส่วนตำบลหนองบัวทอง",
    "report_certifier_name": "นายบุญมี ศรีหนองบัว",
    "report_certifier_position": "นายกองค์การบริหารส่วนตำบลหนองบัวทอง",
}

PEOPLE = [
    ("admin", "นายสมชาย ปลัดดี", "ปลัด อบต.", "สำนักปลัด", ["admin"]),
    ("somsri", "นางสมศรี รักพัสดุ", "เจ้าพนักงานพัสดุชำนาญงาน", "กองคลัง", ["supply_officer"]),
    ("wichai", "นายวิชัย ตรวจรับ", "เจ้าพนักงานพัสดุ", "กองคลัง", ["supply_officer", "staff"]),
    ("head", "นางประภา ผู้นำ", "ผู้อำนวยการกองคลัง", "กองคลัง", ["head"]),
    ("auditor", "นางสาวอรุณี ตรวจสอบ", "นักวิชาการตรวจสอบภายใน", "หน่วยตรวจสอบภายใน", ["auditor"]),
    ("malee", "นางสาวมาลี ใจดี", "นักวิชาการศึกษา", "กองการศึกษา", ["staff"]),
    ("somchai", "นายสมชัย ขยันงาน", "นายช่างโยธา", "กองช่าง", ["staff"]),
    ("napa", "นางสาวนภา สุขใจ", "นักพัฒนาชุมชน", "สำนักปลัด", ["staff"]),
]

# (type-year prefix, count, name, category, brand, model, price, location, department, lendable)
EQUIPMENT = [
    ("416-59", 8, "เต็นท์ผ้าใบ ขนาด 4x8 เมตร", "เต็นท์", "", "", "12500.00", "โรงเก็บพัสดุ", "สำนักปลัด", True),
    ("416-62", 20, "เก้าอี้พลาสติก สีน้ำเงิน", "เก้าอี้", "ศรีไทยซุปเปอร์แวร์", "CH-41", "350.00", "ห้องเก็บของ ชั้น 1", "สำนักปลัด", True),
    (
        "416-60",
        8,
        "โต๊ะพับอเนกประสงค์ หน้าขาว",
        "โต๊ะ",
        "โมเดิร์นฟอร์ม",
        "TF-180",
        "1850.00",
        "ห้องเก็บของ ชั้น 1",
        "สำนักปลัด",
        True,
    ),
    (
        "423-63",
        3,
        "เครื่องฉายภาพ (โปรเจคเตอร์)",
        "เครื่องฉายภาพ",
        "Epson",
        "EB-X51",
        "18900.00",
        "ห้องประชุมสภา",
        "สำนักปลัด",
        True,
    ),
    ("478-64", 6, "เครื่องคอมพิวเตอร์โน้ตบุ๊ก", "คอมพิวเตอร์", "Lenovo", "ThinkPad E14", "24000.00", "ห้องพัสดุ", "กองคลัง", True),
    ("423-61", 2, "กล้องถ่ายภาพดิจิทัล", "กล้อง", "Canon", "EOS M50", "27500.00", "ห้องประชาสัมพันธ์", "สำนักปลัด", True),
    (
        "420-60",
        3,
        "ชุดเครื่องเสียงพร้อมลำโพงเคลื่อนที่",
        "เครื่องเสียง",
        "Yamaha",
        "STAGEPAS 400BT",
        "32000.00",
        "ห้องประชุมสภา",
        "สำนักปลัด",
        True,
    ),
    ("420-62", 4, "ไมโครโฟนไร้สาย", "เครื่องเสียง", "Shure", "BLX24", "8900.00", "ห้องประชุมสภา", "สำนักปลัด", True),
    (
        "423-60",
        2,
        "จอรับภาพชนิดขาตั้ง ขนาด 100 นิ้ว",
        "เครื่องฉายภาพ",
        "Vertex",
        "T100",
        "3900.00",
        "ห้องประชุมสภา",
        "สำนักปลัด",
        True,
    ),
    (
        "416-61",
        4,
        "พัดลมอุตสาหกรรม ขนาด 24 นิ้ว",
        "เครื่องใช้สำนักงาน",
        "Hatari",
        "IQ24M1",
        "2490.00",
        "โรงเก็บพัสดุ",
        "กองช่าง",
        True,
    ),
    (
        "001-58",
        2,
        "รถยนต์ส่วนกลาง (รถบรรทุก ขนาด 1 ตัน)",
        "ยานพาหนะ",
        "Toyota",
        "Hilux Revo",
        "787000.00",
        "โรงจอดรถ",
        "สำนักปลัด",
        False,
    ),
]


def _password() -> str:
    alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


@demo.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) when there are already users.")
def load(if_empty: bool):
    """Create the demo agency, one account per role (passwords printed once), its equipment and its story."""
    context.set_origin("cli", "flask demo load")
    if db.session.execute(select(func.count()).select_from(User)).scalar_one():
        if if_empty:
            click.echo("the database already has users; the demo was not loaded")
            return
        raise click.ClickException("the database is not empty; the demo loads only into an empty one")
    load_demo(db.session, current_app.config, echo=click.echo)


def load_demo(
    session: Session,
    config: dict[str, Any],
    today: date | None = None,
    echo: Callable[[str], None] = lambda _line: None,
) -> dict[str, str]:
    """The demo in an empty database, as of `today` (default: today in Bangkok); returns the passwords."""
    today = today or bangkok_today()
    core_services.update_settings(session, None, AGENCY)
    echo("Demo accounts (the passwords are shown only now):")
    passwords = {}
    for username, name, position, department, roles in PEOPLE:
        password = passwords[username] = _password()
        core_services.create_user(
            session,
            None,
            username,
            name,
            set(roles),
            password,
            position=position,
            department=department,
            email=f"{username}@nongbuathong.go.th",
        )
        echo(f"  {username:10} {password:14} {', '.join(roles)}")
    with write(session):
        created = []
        year_days = {
            "58": date(2015, 3, 2),
            "59": date(2016, 6, 15),
            "60": date(2017, 1, 20),
            "61": date(2018, 8, 8),
            "62": date(2019, 11, 4),
            "63": date(2020, 12, 1),
            "64": date(2021, 5, 17),
        }
        tags: set[str] = set()
        for prefix, count, name, category, brand, model, price, location, department, lendable in EQUIPMENT:
            for n in range(1, count + 1):
                tag = new_tag()
                while tag in tags:
                    tag = new_tag()
                tags.add(tag)
                asset = Asset(tag=tag, status="available", status_note="")
                asset.apply(
                    {
                        "asset_number": f"{prefix}-{n:04d}",
                        "name": name,
                        "category": category,
                        "brand": brand,
                        "model": model,
                        "serial_number": f"{(brand or 'SN')[:3].upper()}{secrets.randbelow(10**7):07d}"
                        if brand
                        else "",
                        "acquired_on": year_days[prefix.split("-")[1]],
                        "price": Decimal(price),
                        "location": location,
                        "department": department,
                        "lendable": lendable,
                    }
                )
                session.add(asset)
                created.append(asset)
        created[9].status, created[9].status_note = "in_repair", "ผ้าใบฉีกขาดบริเวณมุม ส่งซ่อมร้านในอำเภอ"
        created[27].status, created[27].status_note = "disposed", "ชำรุดเสื่อมสภาพ จำหน่ายตามมติคณะกรรมการ"
        # Disposed early in the previous fiscal year, so neither year's register counts it.
        created[27].disposed_on = fiscal_year_bounds(fiscal_year_of(today) - 1)[0] + timedelta(days=10)
        for asset in created:
            asset.search_text = compute_search_text(asset.state())
        session.flush()
        for asset in created:
            record(session, None, "asset.created", asset, {"after": asset.state(), "demo": True})
        session.commit()
    echo(f"{len(created)} assets on the register of {AGENCY['agency_name']}")
    story = demo_story.build(session, config, today)
    echo(
        f"{story['ledger_loans']} past loans from the paper ledger, the loans of now, a stock-take, "
        "measures, evidence, the manual and an audit checkpoint"
    )
    from demo import outside as outside_demo

    outside_demo.build(session, demo_story._now_for(today), today)
    echo("180 plastic chairs and 10 tents lent by count; three requests of outside borrowers")
    return passwords
