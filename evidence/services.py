"""Evidence register actions: upload, edit, publish, the indicator catalogue, measures. Each is audited."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from audit import record
from audit.services import diff
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, begin_write, utcnow
from core.files import DOCX, PDF, XLSX, FileStore, safe_name, store_upload
from core.models import User
from core.permissions import EVIDENCE_MANAGE, EVIDENCE_PUBLISH, EVIDENCE_UPLOAD, SETTINGS_MANAGE
from evidence.models import INSTRUMENTS, INTERNAL, PUBLIC, EvidenceIndicator, EvidenceItem, Indicator, Measure

EVIDENCE_TYPES = {"image/jpeg", "image/png", "image/webp", PDF, DOCX, XLSX}
CODE = re.compile(r"^[ieo][0-9]{1,3}$")

# What reference/regulation-notes.md lists; the admin edits the catalogue of each year from here.
SEED: list[tuple[str, str, int, str, str]] = [
    ("i19", "IIT", 4, "บุคลากรในหน่วยงานของท่าน มีการนำทรัพย์สินของราชการไปเป็นประโยชน์ส่วนตัว กลุ่ม หรือพวกพ้อง มากน้อยเพียงใด",
     "Is government property taken for private use? (reverse-scored)"),
    ("i20", "IIT", 4, "หน่วยงานของท่าน มีการขออนุญาตเพื่อยืมทรัพย์สินของราชการไปใช้ปฏิบัติงาน มีความสะดวกมากน้อยเพียงใด",
     "Is asking permission to borrow government property convenient?"),
    ("i21", "IIT", 4, "บุคลากรในหน่วยงานของท่าน มีการขออนุญาตอย่างถูกต้อง เมื่อต้องการยืมทรัพย์สินของราชการไปใช้ปฏิบัติงาน มากน้อยเพียงใด",
     "Do staff ask permission correctly when they borrow government property?"),
    ("i22", "IIT", 4, "บุคคลภายนอกหรือภาคเอกชน มีการนำทรัพย์สินของราชการไปใช้โดยไม่ได้รับอนุญาต มากน้อยเพียงใด",
     "Do outsiders use government property without permission? (reverse-scored)"),
    ("i23", "IIT", 4, "ท่านรู้แนวปฏิบัติของหน่วยงานเกี่ยวกับการใช้ทรัพย์สินของราชการที่ถูกต้อง มากน้อยเพียงใด",
     "Do you know the agency's guideline on the proper use of government property?"),
    ("i24", "IIT", 4, "หน่วยงานของท่าน มีการกำกับดูแลและตรวจสอบการใช้ทรัพย์สินของราชการ เพื่อป้องกันไม่ให้มีการนำไปใช้ประโยชน์ส่วนตัว มากน้อยเพียงใด",  # noqa: E501
     "Does the agency oversee and inspect the use of government property regularly?"),
    ("o19", "OIT", 9, "แผนการจัดซื้อจัดจ้างหรือแผนการจัดหาพัสดุ", "Procurement plan"),
    ("o20", "OIT", 9, "ประกาศต่าง ๆ เกี่ยวกับการจัดซื้อจัดจ้างหรือการจัดหาพัสดุ", "Procurement announcements"),
    ("o21", "OIT", 9, "สรุปผลการจัดซื้อจัดจ้างหรือการจัดหาพัสดุรายเดือน", "Monthly procurement summary"),
    ("o22", "OIT", 9, "รายงานผลการจัดซื้อจัดจ้างหรือการจัดหาพัสดุประจำปี", "Annual procurement report"),
    ("o36", "OIT", 10, "แผนปฏิบัติการป้องกันการทุจริต", "Anti-corruption action plan"),
    ("o37", "OIT", 10, "รายงานการกำกับติดตามการดำเนินการป้องกันการทุจริตประจำปี รอบ 6 เดือน",
     "Six-month report on the anti-corruption plan"),
    ("o38", "OIT", 10, "รายงานผลการดำเนินการป้องกันการทุจริตประจำปี", "Annual report on the anti-corruption plan"),
    ("o42", "OIT", 10, "มาตรการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน",
     "Measures to promote integrity and transparency within the agency"),
    ("o43", "OIT", 10, "การดำเนินการตามมาตรการส่งเสริมคุณธรรมและความโปร่งใสภายในหน่วยงาน",
     "Implementation of the integrity and transparency measures"),
]


def _require(actor: User | None, permission: str) -> None:
    if actor is None or not actor.can(permission):
        raise Forbidden(N_("You may not do this."))


def _year(fiscal_year: int) -> int:
    if not 2500 <= int(fiscal_year) <= 2700:
        raise DomainError(N_("The fiscal year is a Buddhist Era year, e.g. 2569."))
    return int(fiscal_year)


# --- indicators ----------------------------------------------------------------------------------

def indicators_of(session: Session, fiscal_year: int) -> list[Indicator]:
    return list(session.execute(select(Indicator).where(Indicator.fiscal_year == fiscal_year)
                                .order_by(Indicator.instrument, Indicator.code)).scalars())


def ensure_indicators(session: Session, actor: User | None, fiscal_year: int) -> int:
    """Give a year its catalogue: a copy of the latest earlier year's, or the seed. Returns rows added."""
    fiscal_year = _year(fiscal_year)
    if session.execute(select(func.count()).select_from(Indicator)
                       .where(Indicator.fiscal_year == fiscal_year)).scalar_one():
        return 0
    begin_write(session)
    if session.execute(select(func.count()).select_from(Indicator)
                       .where(Indicator.fiscal_year == fiscal_year)).scalar_one():
        session.rollback()
        return 0
    source = session.execute(select(func.max(Indicator.fiscal_year)).where(Indicator.fiscal_year < fiscal_year)
                             ).scalar_one()
    if source is not None:
        rows = [(i.code, i.instrument, i.group, i.text_th, i.text_en) for i in indicators_of(session, source)]
    else:
        rows = SEED
    for code, instrument, group, text_th, text_en in rows:
        session.add(Indicator(fiscal_year=fiscal_year, code=code, instrument=instrument, group=group,
                              text_th=text_th, text_en=text_en))
    record(session, actor, "indicators.seeded", ("indicators", fiscal_year),
           {"fiscal_year": fiscal_year, "from": source or "seed", "codes": [r[0] for r in rows]})
    session.commit()
    return len(rows)


def save_indicator(session: Session, actor: User, fiscal_year: int, code: str, instrument: str, group: int,
                   text_th: str, text_en: str = "") -> Indicator:
    """Add or change one indicator of a year (the numbering changes most years)."""
    _require(actor, SETTINGS_MANAGE)
    fiscal_year, code = _year(fiscal_year), (code or "").strip().lower()
    if not CODE.match(code):
        raise DomainError(N_("An indicator code is a letter i, e or o and a number, e.g. i20 or o43."))
    if instrument not in INSTRUMENTS:
        raise DomainError(N_("Choose the instrument: IIT, EIT or OIT."))
    if not 1 <= int(group) <= 10:
        raise DomainError(N_("The indicator group is a number from 1 to 10."))
    if not (text_th or "").strip():
        raise DomainError(N_("The Thai text of the indicator is required."))
    begin_write(session)
    row = session.execute(select(Indicator).where(Indicator.fiscal_year == fiscal_year, Indicator.code == code)
                          ).scalar_one_or_none()
    after = {"instrument": instrument, "group": int(group), "text_th": text_th.strip()[:2000],
             "text_en": (text_en or "").strip()[:2000]}
    if row is None:
        row = Indicator(fiscal_year=fiscal_year, code=code, **after)
        session.add(row)
        session.flush()
        record(session, actor, "indicator.created", row, {"after": {"code": code, "fiscal_year": fiscal_year, **after}})
    else:
        before = {"instrument": row.instrument, "group": row.group, "text_th": row.text_th, "text_en": row.text_en}
        if before == after:
            session.rollback()
            return row
        for key, value in after.items():
            setattr(row, key, value)
        record(session, actor, "indicator.updated", row, diff(before, after))
    session.commit()
    return row


def _valid_codes(session: Session, fiscal_year: int, codes: list[str]) -> list[str]:
    wanted = sorted({(c or "").strip().lower() for c in codes if (c or "").strip()})
    known = {i.code for i in indicators_of(session, fiscal_year)}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise DomainError(N_("Not an indicator of fiscal year %(year)d: %(codes)s"), year=fiscal_year,
                          codes=", ".join(unknown))
    return wanted


# --- evidence ------------------------------------------------------------------------------------

def upload_evidence(session: Session, actor: User, store: FileStore, data: bytes, filename: str, *,
                    fiscal_year: int, title: str, indicators: list[str], description: str = "",
                    max_bytes: int, strip_gps: bool = True, loan_id: int | None = None,
                    asset_id: int | None = None, incident_id: int | None = None,
                    measure_id: int | None = None, source: str = "upload") -> EvidenceItem:
    """File a document or photo as evidence of a year for one or more indicators (internal until published)."""
    _require(actor, EVIDENCE_UPLOAD)
    fiscal_year = _year(fiscal_year)
    title = (title or "").strip() or (safe_name(filename) if (filename or "").strip() else "")
    if not title:
        raise DomainError(N_("Give the evidence a title."))
    begin_write(session)
    try:
        codes = _valid_codes(session, fiscal_year, indicators)
        if not codes:
            raise DomainError(N_("Choose at least one indicator."))
        stored = store_upload(session, store, data, filename, allowed=EVIDENCE_TYPES, max_bytes=max_bytes,
                              uploaded_by_id=actor.id, strip_gps=strip_gps)
    except DomainError:
        session.rollback()
        raise
    item = EvidenceItem(fiscal_year=fiscal_year, title=title[:300], description=(description or "")[:5000],
                        sha256=stored.sha256, original_name=safe_name(filename), mime=stored.mime,
                        size=stored.size, visibility=INTERNAL, uploaded_by_id=actor.id, uploaded_at=utcnow(),
                        loan_id=loan_id, asset_id=asset_id, incident_id=incident_id, measure_id=measure_id,
                        source=source)
    item.codes = [EvidenceIndicator(code=c) for c in codes]
    session.add(item)
    session.flush()
    record(session, actor, "evidence.uploaded", item,
           {"after": item.state(), "file": {"sha256": stored.sha256, "name": item.original_name,
                                            "size": stored.size, "mime": stored.mime}})
    session.commit()
    return item


def file_generated(session: Session, actor: User | None, store: FileStore, data: bytes, filename: str, *,
                   fiscal_year: int, title: str, indicators: list[str], mime: str, source: str) -> EvidenceItem:
    """File a document the system made itself (a stock-take report, a manual version) as evidence.

    The caller's transaction records it; the indicators of the year are created from the seed if missing.
    """
    digest = store.write(data)
    from core.models import StoredFile

    if session.get(StoredFile, digest) is None:
        session.add(StoredFile(sha256=digest, size=len(data), mime=mime, original_name=filename[:255],
                               uploaded_by_id=getattr(actor, "id", None)))
        session.flush()
    item = EvidenceItem(fiscal_year=fiscal_year, title=title[:300], sha256=digest, original_name=filename[:255],
                        mime=mime, size=len(data), visibility=INTERNAL, uploaded_by_id=getattr(actor, "id", None),
                        uploaded_at=utcnow(), source=source)
    item.codes = [EvidenceIndicator(code=c) for c in sorted(set(indicators))]
    session.add(item)
    session.flush()
    record(session, actor, "evidence.filed", item, {"after": item.state(), "source": source})
    return item


def update_evidence(session: Session, actor: User, evidence_id: int, *, title: str, description: str,
                    indicators: list[str]) -> EvidenceItem:
    _require(actor, EVIDENCE_MANAGE)
    begin_write(session)
    item = session.get(EvidenceItem, evidence_id)
    if item is None:
        session.rollback()
        raise NotFound(N_("No such evidence item."))
    before = item.state()
    try:
        codes = _valid_codes(session, item.fiscal_year, indicators)
        if not codes:
            raise DomainError(N_("Choose at least one indicator."))
    except DomainError:
        session.rollback()
        raise
    item.title = (title or "").strip()[:300] or item.title
    item.description = (description or "")[:5000]
    if codes != item.indicator_codes:
        item.codes = [EvidenceIndicator(code=c) for c in codes]
    change = diff(before, item.state())
    if not change["after"]:
        session.rollback()
        return item
    record(session, actor, "evidence.updated", item, change)
    session.commit()
    return item


def set_visibility(session: Session, actor: User, evidence_id: int, public: bool,
                   now: datetime | None = None) -> EvidenceItem:
    """Publish (a stable public URL, kept if it is withdrawn and published again) or withdraw an item."""
    _require(actor, EVIDENCE_PUBLISH)
    begin_write(session)
    item = session.get(EvidenceItem, evidence_id)
    if item is None:
        session.rollback()
        raise NotFound(N_("No such evidence item."))
    wanted = PUBLIC if public else INTERNAL
    if item.visibility == wanted:
        session.rollback()
        return item
    before = item.state()
    item.visibility = wanted
    if public:
        item.public_token = item.public_token or secrets.token_urlsafe(12)
        item.published_at, item.published_by_id = now or utcnow(), actor.id
    record(session, actor, "evidence.published" if public else "evidence.withdrawn", item,
           {**diff(before, item.state()), "token": item.public_token})
    session.commit()
    return item


def record_download(session: Session, actor: User, evidence_id: int) -> EvidenceItem:
    """Record that `actor` downloaded an item's file (every download is in the log), and return the item.
    Whether they may see it is the caller's check (`queries.can_see_evidence`), made before the file is
    found; this records it in its own transaction."""
    begin_write(session)
    item = session.get(EvidenceItem, evidence_id)
    if item is None:
        session.rollback()
        raise NotFound(N_("No such evidence item."))
    record(session, actor, "evidence.downloaded", ("evidence", evidence_id),
           {"sha256": item.sha256, "name": item.original_name})
    session.commit()
    return session.get(EvidenceItem, evidence_id)


# --- measures ------------------------------------------------------------------------------------

MEASURE_FIELDS = ("title", "indicators", "activities", "responsible", "outcome", "figures")


def save_measure(session: Session, actor: User, fiscal_year: int, values: dict[str, Any],
                 measure_id: int | None = None, version: int | None = None) -> Measure:
    """Create or edit a measure row of a year's report; a stale form is refused."""
    from evidence.figures import FIGURE_KEYS

    _require(actor, SETTINGS_MANAGE)
    fiscal_year = _year(fiscal_year)
    title = (values.get("title") or "").strip()
    if not title:
        raise DomainError(N_("A measure needs a title."))
    figures = [f for f in values.get("figures") or [] if f]
    unknown = [f for f in figures if f not in FIGURE_KEYS]
    if unknown:
        raise DomainError(N_("Unknown figures: %(keys)s"), keys=", ".join(unknown))
    begin_write(session)
    try:
        codes = _valid_codes(session, fiscal_year, values.get("indicators") or [])
    except DomainError:
        session.rollback()
        raise
    clean = {"title": title[:2000], "indicators": codes, "activities": (values.get("activities") or "").strip()[:10000],
             "responsible": (values.get("responsible") or "").strip()[:2000],
             "outcome": (values.get("outcome") or "").strip()[:10000], "figures": figures}
    if measure_id is None:
        position = session.execute(select(func.coalesce(func.max(Measure.position), 0))
                                   .where(Measure.fiscal_year == fiscal_year)).scalar_one() + 1
        measure = Measure(fiscal_year=fiscal_year, position=position, **clean)
        session.add(measure)
        session.flush()
        record(session, actor, "measure.created", measure, {"after": measure.state()})
    else:
        measure = session.get(Measure, measure_id)
        if measure is None or measure.fiscal_year != fiscal_year:
            session.rollback()
            raise NotFound(N_("No such measure."))
        if version is not None and measure.version != version:
            session.rollback()
            raise Conflict(N_("Someone else changed this measure after you opened it. Reload and try again."))
        before = measure.state()
        for key, value in clean.items():
            setattr(measure, key, value)
        change = diff(before, measure.state())
        if not change["after"]:
            session.rollback()
            return measure
        record(session, actor, "measure.updated", measure, change)
    session.commit()
    return measure


def copy_measures(session: Session, actor: User, from_year: int, to_year: int) -> int:
    """Start a year from last year's measures (titles, indicators, responsibility, figures; not the results)."""
    _require(actor, SETTINGS_MANAGE)
    from_year, to_year = _year(from_year), _year(to_year)
    ensure_indicators(session, actor, to_year)
    begin_write(session)
    if session.execute(select(func.count()).select_from(Measure).where(Measure.fiscal_year == to_year)).scalar_one():
        session.rollback()
        raise Conflict(N_("Fiscal year %(year)d already has measures."), year=to_year)
    known = {i.code for i in indicators_of(session, to_year)}
    source = list(session.execute(select(Measure).where(Measure.fiscal_year == from_year)
                                  .order_by(Measure.position)).scalars())
    if not source:
        session.rollback()
        raise DomainError(N_("Fiscal year %(year)d has no measures to copy."), year=from_year)
    for m in source:
        copy = Measure(fiscal_year=to_year, position=m.position, title=m.title,
                       indicators=[c for c in m.indicators or [] if c in known], activities="",
                       responsible=m.responsible, outcome="", figures=list(m.figures or []))
        session.add(copy)
    session.flush()
    record(session, actor, "measures.copied", ("measures", to_year),
           {"from": from_year, "to": to_year, "count": len(source)})
    session.commit()
    return len(source)
