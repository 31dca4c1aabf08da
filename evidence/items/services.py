"""The verbs of the evidence items, each audited, each one unit of work (core.db.write): upload, file a
generated document (by role), edit, publish or withdraw, record a download, publish the year's report; and
re-attaching the items that waited for a role's code once the catalogue gives it one.

May import core, audit, evidence.items and the catalogue's reading side (evidence.measures: models,
queries, permissions); the catalogue's and measures' verbs are evidence.measures.services.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select

from audit import record
from audit.services import diff
from core.db import N_, DomainError, Forbidden, NotFound, Session, known, utcnow, write
from core.files import DOCX, PDF, PHOTO_TYPES, XLSX, FileStore, safe_name, store_generated, store_upload
from core.models import User
from evidence.items.models import INTERNAL, PUBLIC, EvidenceIndicator, EvidenceItem
from evidence.items.permissions import can_manage_evidence, can_publish_evidence, can_upload_evidence
from evidence.measures import catalogue
from evidence.measures.queries import active_indicators, role_targets

EVIDENCE_TYPES = PHOTO_TYPES | {PDF, DOCX, XLSX}


def require(allowed: bool) -> None:
    """Refuse (Forbidden) unless a predicate allowed the action."""
    if not allowed:
        raise Forbidden(N_("You may not do this."))


def checked_year(fiscal_year: int) -> int:
    """A fiscal year as the catalogue and the evidence know it (B.E.), or a clear refusal."""
    if not 2500 <= int(fiscal_year) <= 2700:
        raise DomainError(N_("The fiscal year is a Buddhist Era year, e.g. 2569."))
    return int(fiscal_year)


def attach_waiting(session: Session, actor: User | None, fiscal_year: int) -> int:
    """Give the documents filed without an indicator (their role had no code) the code the catalogue now
    gives their role; moved to the assessment year whose item it is. Inside the caller's transaction."""
    session.flush()
    items = list(
        session.execute(
            select(EvidenceItem).where(
                EvidenceItem.fiscal_year.in_((fiscal_year - 1, fiscal_year)),
                EvidenceItem.role != "",
                ~select(EvidenceIndicator.id).where(EvidenceIndicator.evidence_id == EvidenceItem.id).exists(),
            )
        ).scalars()
    )
    attached = 0
    for item in items:
        targets = role_targets(session, item.role, item.fiscal_year)
        if not targets:
            continue
        year = targets[0][0]
        before = item.state()
        item.fiscal_year = year
        item.codes = [EvidenceIndicator(code=c) for y, c in targets if y == year]
        record(session, actor, "evidence.attached", item, {**diff(before, item.state()), "role": item.role})
        attached += 1
    return attached


def valid_codes(session: Session, fiscal_year: int, codes: list[str], keep: list[str] | tuple = ()) -> list[str]:
    """The codes, checked against the year's catalogue: retired items only where already named (`keep`)."""
    wanted = catalogue.natural(catalogue.normal_code(c) for c in codes if (c or "").strip())
    known = {i.code for i in active_indicators(session, fiscal_year)} | set(keep or ())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise DomainError(
            N_("Not an indicator of fiscal year %(year)d: %(codes)s"), year=fiscal_year, codes=", ".join(unknown)
        )
    return wanted


def upload_evidence(
    session: Session,
    actor: User,
    store: FileStore,
    data: bytes,
    filename: str,
    *,
    fiscal_year: int,
    title: str,
    indicators: list[str],
    description: str = "",
    max_bytes: int,
    strip_gps: bool = True,
    loan_id: int | None = None,
    asset_id: int | None = None,
    incident_id: int | None = None,
    measure_id: int | None = None,
    source: str = "upload",
) -> EvidenceItem:
    """File a document or photo as evidence of a year for one or more indicators (internal until published)."""
    require(can_upload_evidence(actor))
    fiscal_year = checked_year(fiscal_year)
    title = (title or "").strip() or (safe_name(filename) if (filename or "").strip() else "")
    if not title:
        raise DomainError(N_("Give the evidence a title."))
    with write(session):
        codes = valid_codes(session, fiscal_year, indicators)
        if not codes:
            raise DomainError(N_("Choose at least one indicator."))
        stored = store_upload(
            session,
            store,
            data,
            filename,
            allowed=EVIDENCE_TYPES,
            max_bytes=max_bytes,
            uploaded_by_id=actor.id,
            strip_gps=strip_gps,
        )
        item = EvidenceItem(
            fiscal_year=fiscal_year,
            title=title[:300],
            description=(description or "")[:5000],
            sha256=stored.sha256,
            original_name=safe_name(filename),
            mime=stored.mime,
            size=stored.size,
            visibility=INTERNAL,
            uploaded_by_id=actor.id,
            uploaded_at=utcnow(),
            loan_id=loan_id,
            asset_id=asset_id,
            incident_id=incident_id,
            measure_id=measure_id,
            source=source,
        )
        item.codes = [EvidenceIndicator(code=c) for c in codes]
        session.add(item)
        session.flush()
        record(
            session,
            actor,
            "evidence.uploaded",
            item,
            {
                "after": item.state(),
                "file": {"sha256": stored.sha256, "name": item.original_name, "size": stored.size, "mime": stored.mime},
            },
        )
        session.commit()
        return item


def file_generated(
    session: Session,
    actor: User | None,
    store: FileStore,
    data: bytes,
    filename: str,
    *,
    fiscal_year: int,
    title: str,
    mime: str,
    source: str,
    role: str | None = None,
    indicators: list[str] | None = None,
) -> EvidenceItem:
    """File a document the system made itself as evidence (see `file_for_role`); the first item filed."""
    return file_for_role(
        session,
        actor,
        store,
        data,
        filename,
        fiscal_year=fiscal_year,
        title=title,
        mime=mime,
        source=source,
        role=role,
        indicators=indicators,
    )[0]


def file_for_role(
    session: Session,
    actor: User | None,
    store: FileStore,
    data: bytes,
    filename: str,
    *,
    fiscal_year: int,
    title: str,
    mime: str,
    source: str,
    role: str | None = None,
    indicators: list[str] | None = None,
) -> list[EvidenceItem]:
    """File a document the system made itself (a stock-take report, a manual version) as evidence.

    `role` names what the document is ("borrowing_manual"); the catalogues say which code plays it for
    evidence covering `fiscal_year` (an item of the next year whose period is `previous` too). When no
    catalogue has such an item, the document is filed without an indicator and waits, marked with its role,
    until the admin gives the role a code (the report page says so). The caller's transaction records it.
    One item per assessment year whose catalogue asks for it.
    """
    digest = store_generated(session, store, data, filename, mime, made_by_id=getattr(actor, "id", None)).sha256
    if role:
        targets = role_targets(session, role, fiscal_year)
        by_year: dict[int, list[str]] = {}
        for year, code in targets:
            by_year.setdefault(year, []).append(code)
        plan = list(by_year.items()) or [(fiscal_year, [])]
    else:
        plan = [(fiscal_year, list(indicators or []))]
    items = []
    for year, codes in plan:
        item = EvidenceItem(
            fiscal_year=year,
            title=title[:300],
            sha256=digest,
            original_name=filename[:255],
            mime=mime,
            size=len(data),
            visibility=INTERNAL,
            uploaded_by_id=getattr(actor, "id", None),
            uploaded_at=utcnow(),
            source=source,
            role=role or "",
        )
        item.codes = [EvidenceIndicator(code=c) for c in catalogue.natural(codes)]
        session.add(item)
        session.flush()
        data_: dict[str, Any] = {"after": item.state(), "source": source}
        if role:
            data_.update(role=role, covers=fiscal_year, waiting=not codes)
        record(session, actor, "evidence.filed", item, data_)
        items.append(item)
    return items


def publish_report(
    session: Session,
    actor: User,
    store: FileStore,
    fiscal_year: int,
    data: bytes,
    filename: str,
    now: datetime | None = None,
) -> list[EvidenceItem]:
    """Publish the year's report (its PDF): filed as evidence of the measures-report item of the catalogue
    that asks for the year (FY2566's o43; FY2569's report under FY2570's item of the previous year) and
    published at a stable public link. Filed without an indicator, and said so, where no item asks."""
    require(can_publish_evidence(actor))
    fiscal_year = checked_year(fiscal_year)
    with write(session):
        items = file_for_role(
            session,
            actor,
            store,
            data,
            filename,
            fiscal_year=fiscal_year,
            title=f"รายงานผลการดำเนินการตามมาตรการส่งเสริมคุณธรรมและความโปร่งใส ปีงบประมาณ {fiscal_year}",
            mime=PDF,
            source=f"report:{fiscal_year}",
            role=catalogue.MEASURES_REPORT,
        )
        at = now or utcnow()
        for item in items:
            before = item.state()
            item.visibility, item.public_token = PUBLIC, secrets.token_urlsafe(12)
            item.published_at, item.published_by_id = at, actor.id
            record(
                session, actor, "evidence.published", item, {**diff(before, item.state()), "token": item.public_token}
            )
        record(
            session,
            actor,
            "report.published",
            ("report", fiscal_year),
            {
                "fiscal_year": fiscal_year,
                "sha256": items[0].sha256,
                "evidence": [i.id for i in items],
                "filed_under": {str(i.fiscal_year): i.indicator_codes for i in items},
            },
        )
        session.commit()
        return items


def update_evidence(
    session: Session, actor: User, evidence_id: int, *, title: str, description: str, indicators: list[str]
) -> EvidenceItem:
    require(can_manage_evidence(actor))
    with write(session):
        item = session.get(EvidenceItem, evidence_id)
        if item is None:
            raise NotFound(N_("No such evidence item."))
        before = item.state()
        codes = valid_codes(session, item.fiscal_year, indicators, keep=item.indicator_codes)
        if not codes:
            raise DomainError(N_("Choose at least one indicator."))
        item.title = (title or "").strip()[:300] or item.title
        item.description = (description or "")[:5000]
        if codes != item.indicator_codes:
            # rows of the codes that stay are kept: a new row beside the old one would break (evidence_id, code)
            rows = {c.code: c for c in item.codes}
            item.codes = [rows.get(c) or EvidenceIndicator(code=c) for c in codes]
        change = diff(before, item.state())
        if not change["after"]:
            return item
        record(session, actor, "evidence.updated", item, change)
        session.commit()
        return item


def set_visibility(
    session: Session, actor: User, evidence_id: int, public: bool, now: datetime | None = None
) -> EvidenceItem:
    """Publish (a stable public URL, kept if it is withdrawn and published again) or withdraw an item."""
    require(can_publish_evidence(actor))
    with write(session):
        item = session.get(EvidenceItem, evidence_id)
        if item is None:
            raise NotFound(N_("No such evidence item."))
        wanted = PUBLIC if public else INTERNAL
        if item.visibility == wanted:
            return item
        before = item.state()
        item.visibility = wanted
        if public:
            item.public_token = item.public_token or secrets.token_urlsafe(12)
            item.published_at, item.published_by_id = now or utcnow(), actor.id
        record(
            session,
            actor,
            "evidence.published" if public else "evidence.withdrawn",
            item,
            {**diff(before, item.state()), "token": item.public_token},
        )
        session.commit()
        return item


def record_download(session: Session, actor: User, evidence_id: int) -> EvidenceItem:
    """Record that `actor` downloaded an item's file (every download is in the log), and return the item.
    Whether they may see it is the caller's check (evidence.items.permissions.can_see_evidence), made before
    the file is found; this records it in its own transaction."""
    with write(session):
        item = session.get(EvidenceItem, evidence_id)
        if item is None:
            raise NotFound(N_("No such evidence item."))
        record(
            session,
            actor,
            "evidence.downloaded",
            ("evidence", evidence_id),
            {"sha256": item.sha256, "name": item.original_name},
        )
        session.commit()
        return known(session.get(EvidenceItem, evidence_id), "evidence item")  # read above, in this transaction
