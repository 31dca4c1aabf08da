"""Evidence register actions: upload, edit, publish, the indicator catalogue, measures. Each is audited."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from audit import record
from audit.services import diff
from core.db import N_, Conflict, DomainError, Forbidden, NotFound, Session, begin_write, known, utcnow
from core.files import DOCX, PDF, XLSX, FileStore, safe_name, store_upload
from core.models import User
from core.people.permissions import EVIDENCE_MANAGE, EVIDENCE_PUBLISH, EVIDENCE_UPLOAD, SETTINGS_MANAGE
from evidence import catalogue
from evidence.catalogue import code_key
from evidence.models import INSTRUMENTS, INTERNAL, PUBLIC, EvidenceIndicator, EvidenceItem, Indicator, Measure

EVIDENCE_TYPES = {"image/jpeg", "image/png", "image/webp", PDF, DOCX, XLSX}


def _require(actor: User | None, permission: str) -> None:
    if actor is None or not actor.can(permission):
        raise Forbidden(N_("You may not do this."))


def _year(fiscal_year: int) -> int:
    if not 2500 <= int(fiscal_year) <= 2700:
        raise DomainError(N_("The fiscal year is a Buddhist Era year, e.g. 2569."))
    return int(fiscal_year)


# --- the indicator catalogue ---------------------------------------------------------------------


def _order(i: Indicator) -> tuple:
    """Catalogue order: IIT, EIT, OIT; within each, the admin's order, then natural order of the code."""
    return (INSTRUMENTS.index(i.instrument) if i.instrument in INSTRUMENTS else 3, i.position or 0, code_key(i.code))


def indicators_of(session: Session, fiscal_year: int, *, include_retired: bool = True) -> list[Indicator]:
    """A year's catalogue in its order; retired items (kept for the evidence that names them) optionally."""
    stmt = select(Indicator).where(Indicator.fiscal_year == fiscal_year)
    if not include_retired:
        stmt = stmt.where(Indicator.retired.is_(False))
    return sorted(session.execute(stmt).scalars(), key=_order)


def active_indicators(session: Session, fiscal_year: int) -> list[Indicator]:
    """The items new evidence and measures may name: the year's catalogue without its retired items."""
    return indicators_of(session, fiscal_year, include_retired=False)


def code_order(session: Session, fiscal_year: int) -> dict[str, int]:
    """Each code's place in the year's catalogue (codes not in it sort after, in natural order)."""
    return {i.code: n for n, i in enumerate(indicators_of(session, fiscal_year))}


def in_catalogue_order(codes, order: dict[str, int]) -> list[str]:
    return sorted(set(codes), key=lambda c: (order.get(c, len(order)), code_key(c)))


def _count(session: Session, fiscal_year: int) -> int:
    return session.execute(
        select(func.count()).select_from(Indicator).where(Indicator.fiscal_year == fiscal_year)
    ).scalar_one()


def _add_rows(session: Session, fiscal_year: int, rows: list[catalogue.Row]) -> None:
    for row in rows:
        session.add(Indicator(fiscal_year=fiscal_year, retired=False, **row.values()))
    session.flush()


def ensure_indicators(session: Session, actor: User | None, fiscal_year: int, *, from_year: int | None = None) -> int:
    """Start a year that has no catalogue: its shipped file, else a copy of `from_year`'s or the latest
    earlier year's (or of the first shipped year), every copied item marked to be confirmed. Returns the
    items added."""
    fiscal_year = _year(fiscal_year)
    if _count(session, fiscal_year):
        return 0
    begin_write(session)
    if _count(session, fiscal_year):
        session.rollback()
        return 0
    if from_year is None and fiscal_year in catalogue.shipped_years():
        parsed = catalogue.shipped(fiscal_year)
        _add_rows(session, fiscal_year, parsed.rows)
        record(
            session,
            actor,
            "catalogue.loaded",
            ("catalogue", fiscal_year),
            {
                "fiscal_year": fiscal_year,
                "source": f"evidence/catalogues/{fiscal_year}.csv",
                "sha256": parsed.sha256,
                "items": len(parsed.rows),
            },
        )
        session.commit()
        return len(parsed.rows)
    source = (
        from_year
        if from_year is not None and _count(session, from_year)
        else session.execute(
            select(func.max(Indicator.fiscal_year)).where(Indicator.fiscal_year < fiscal_year)
        ).scalar_one()
    )
    if source is not None:
        rows = [
            catalogue.Row(
                code=i.code,
                instrument=i.instrument,
                group=i.group,
                title_th=i.text_th,
                title_en=i.text_en,
                period=i.period,
                roles=i.roles,
                to_confirm=True,
                position=n,
            )
            for n, i in enumerate(active_indicators(session, source), 1)
        ]
        origin: Any = source
    else:
        first = catalogue.shipped_years()[0]
        rows = [dataclasses.replace(r, to_confirm=True) for r in catalogue.shipped(first).rows]
        origin = f"evidence/catalogues/{first}.csv"
    _add_rows(session, fiscal_year, rows)
    record(
        session,
        actor,
        "catalogue.started",
        ("catalogue", fiscal_year),
        {"fiscal_year": fiscal_year, "from": origin, "codes": [r.code for r in rows]},
    )
    session.commit()
    return len(rows)


def _clean_code(code: str) -> str:
    code = catalogue.normal_code(code)
    if not catalogue.CODE.match(code):
        raise DomainError(N_("An indicator code is a letter i, e or o and a number, e.g. i20 or o43."))
    return code


def _row_of(session: Session, fiscal_year: int, code: str, *, lock: bool = False) -> Indicator | None:
    stmt = select(Indicator).where(Indicator.fiscal_year == fiscal_year, Indicator.code == code)
    return session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()


def save_indicator(
    session: Session,
    actor: User,
    fiscal_year: int,
    code: str,
    instrument: str,
    group: int,
    text_th: str,
    text_en: str = "",
    *,
    period: str | None = None,
    roles: list[str] | None = None,
    to_confirm: bool | None = None,
) -> Indicator:
    """Add an item to a year's catalogue or change one (rename, its period and roles, confirmed or not)."""
    _require(actor, SETTINGS_MANAGE)
    fiscal_year, code = _year(fiscal_year), _clean_code(code)
    if instrument not in INSTRUMENTS:
        raise DomainError(N_("Choose the instrument: IIT, EIT or OIT."))
    if catalogue.LETTER_OF[instrument] != code[0]:
        raise DomainError(
            N_("%(code)s is not an %(instrument)s code: IIT codes start with i, EIT with e, OIT with o."),
            code=code,
            instrument=instrument,
        )
    if not 1 <= int(group) <= 10:
        raise DomainError(N_("The indicator group is a number from 1 to 10."))
    if not (text_th or "").strip():
        raise DomainError(N_("The Thai text of the indicator is required."))
    if period is not None and period not in ("", *catalogue.PERIODS):
        raise DomainError(N_("The period is the current year, the previous year or the first half."))
    unknown = [r for r in roles or [] if r not in catalogue.ROLES]
    if unknown:
        raise DomainError(N_("Unknown roles: %(roles)s"), roles=", ".join(unknown))
    begin_write(session)
    row = _row_of(session, fiscal_year, code, lock=True)
    after: dict[str, Any] = {
        "instrument": instrument,
        "group": int(group),
        "text_th": text_th.strip()[:2000],
        "text_en": (text_en or "").strip()[:2000],
    }
    if period is not None:
        after["period"] = (period or catalogue.CURRENT) if instrument == "OIT" else ""
    if roles is not None:
        after["role"] = " ".join(catalogue.roles_of(" ".join(roles)))
    if to_confirm is not None:
        after["to_confirm"] = bool(to_confirm)
    if row is None:
        after.setdefault("period", catalogue.CURRENT if instrument == "OIT" else "")
        position = (
            session.execute(
                select(func.coalesce(func.max(Indicator.position), 0)).where(
                    Indicator.fiscal_year == fiscal_year, Indicator.instrument == instrument
                )
            ).scalar_one()
            + 1
        )
        row = Indicator(fiscal_year=fiscal_year, code=code, position=position, retired=False, **after)
        session.add(row)
        session.flush()
        record(session, actor, "indicator.created", row, {"after": row.state()})
    else:
        before = row.state()
        for key, value in after.items():
            setattr(row, key, value)
        change = diff(before, row.state())
        if not change["after"]:
            session.rollback()
            return row
        record(session, actor, "indicator.updated", row, change)
    _attach_waiting(session, actor, fiscal_year)
    session.commit()
    return row


def retire_indicator(session: Session, actor: User, fiscal_year: int, code: str, retired: bool = True) -> Indicator:
    """Retire an item (hidden for new evidence; the evidence that names it keeps it) or bring it back."""
    _require(actor, SETTINGS_MANAGE)
    fiscal_year, code = _year(fiscal_year), _clean_code(code)
    begin_write(session)
    row = _row_of(session, fiscal_year, code, lock=True)
    if row is None:
        session.rollback()
        raise NotFound(N_("No such indicator."))
    if bool(row.retired) == bool(retired):
        session.rollback()
        return row
    row.retired = bool(retired)
    record(
        session,
        actor,
        "indicator.retired" if retired else "indicator.restored",
        row,
        {
            "before": {"retired": not retired},
            "after": {"retired": bool(retired)},
            "fiscal_year": fiscal_year,
            "code": code,
        },
    )
    if not retired:
        _attach_waiting(session, actor, fiscal_year)
    session.commit()
    return row


def move_indicator(session: Session, actor: User, fiscal_year: int, code: str, step: int) -> Indicator:
    """Move an item one place up (step -1) or down (+1) among the items of its instrument."""
    _require(actor, SETTINGS_MANAGE)
    fiscal_year, code = _year(fiscal_year), _clean_code(code)
    begin_write(session)
    row = _row_of(session, fiscal_year, code, lock=True)
    if row is None:
        session.rollback()
        raise NotFound(N_("No such indicator."))
    same = [i for i in indicators_of(session, fiscal_year) if i.instrument == row.instrument]
    at = same.index(row)
    to = at + (1 if step > 0 else -1)
    if not 0 <= to < len(same):
        session.rollback()
        return row
    same[at], same[to] = same[to], same[at]
    before = {i.code: i.position for i in same}
    for n, i in enumerate(same, 1):
        i.position = n
    record(
        session,
        actor,
        "indicator.moved",
        row,
        {
            "fiscal_year": fiscal_year,
            "code": code,
            "before": {"position": before[code]},
            "after": {"position": row.position},
            "order": [i.code for i in same],
        },
    )
    session.commit()
    return row


@dataclasses.dataclass
class CatalogueImport:
    fiscal_year: int
    sha256: str
    problems: list[catalogue.Problem]
    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    retired: list[str] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def import_catalogue(
    session: Session, actor: User | None, fiscal_year: int, data: bytes, filename: str, *, dry_run: bool = False
) -> CatalogueImport:
    """A year's catalogue from a CSV or XLSX file, all or nothing: items are added or changed as the file
    says, in its order; items of the year the file leaves out are retired (kept for their evidence)."""
    if actor is not None:
        _require(actor, SETTINGS_MANAGE)
    fiscal_year = _year(fiscal_year)
    parsed = catalogue.parse(data, filename)
    result = CatalogueImport(fiscal_year, parsed.sha256, parsed.problems)
    if parsed.problems:
        return result
    begin_write(session)
    existing = {i.code: i for i in indicators_of(session, fiscal_year)}
    changes = []
    for row in parsed.rows:
        values = {**row.values(), "retired": False}
        old = existing.get(row.code)
        if old is None:
            result.created.append(row.code)
            if not dry_run:
                session.add(Indicator(fiscal_year=fiscal_year, **values))
            continue
        before = {k: getattr(old, k) for k in values}
        if before == values:
            result.unchanged += 1
            continue
        result.updated.append(row.code)
        changes.append({"code": row.code, **diff(before, values)})
        if not dry_run:
            for key, value in values.items():
                setattr(old, key, value)
    listed = {r.code for r in parsed.rows}
    for code, old in existing.items():
        if code not in listed and not old.retired:
            result.retired.append(code)
            if not dry_run:
                old.retired = True
    if dry_run or not (result.created or result.updated or result.retired):
        session.rollback()
        return result
    session.flush()
    record(
        session,
        actor,
        "catalogue.imported",
        ("catalogue", fiscal_year),
        {
            "fiscal_year": fiscal_year,
            "file": safe_name(filename),
            "sha256": parsed.sha256,
            "items": len(parsed.rows),
            "created": result.created,
            "updated": changes,
            "retired": result.retired,
            "to_confirm": sum(r.to_confirm for r in parsed.rows),
        },
    )
    _attach_waiting(session, actor, fiscal_year)
    session.commit()
    result.applied = True
    return result


# --- roles: where the app's own filings go ---------------------------------------------------------


def role_targets(session: Session, role: str, covered_year: int) -> list[tuple[int, str]]:
    """(assessment year, code) of each item that plays `role` for evidence covering `covered_year`: an
    item of that year (period current or first half) or of the next year (period previous)."""
    rows = session.execute(
        select(Indicator.fiscal_year, Indicator.code, Indicator.role, Indicator.period).where(
            Indicator.fiscal_year.in_((covered_year, covered_year + 1)),
            Indicator.retired.is_(False),
            Indicator.role != "",
        )
    ).all()
    found = [
        (r.fiscal_year, r.code)
        for r in rows
        if role in r.role.split() and catalogue.covered_year(r.fiscal_year, r.period) == covered_year
    ]
    return sorted(found, key=lambda t: (t[0], code_key(t[1])))


@dataclasses.dataclass(frozen=True)
class RoleGap:
    role: str
    waiting: int  # documents filed for the role that wait for a code


def role_gaps(session: Session, fiscal_year: int) -> list[RoleGap]:
    """The roles the app files into that have no item for `fiscal_year`'s evidence, and the documents
    waiting without an indicator (for the report page: nothing goes missing silently)."""
    waiting = dict(
        session.execute(
            select(EvidenceItem.role, func.count())
            .where(
                EvidenceItem.fiscal_year == fiscal_year,
                EvidenceItem.role != "",
                ~select(EvidenceIndicator.id).where(EvidenceIndicator.evidence_id == EvidenceItem.id).exists(),
            )
            .group_by(EvidenceItem.role)
        ).all()
    )
    gaps = [
        RoleGap(role, int(waiting.pop(role, 0)))
        for role in catalogue.FILED_ROLES
        if not role_targets(session, role, fiscal_year)
    ]
    gaps += [RoleGap(role, int(n)) for role, n in waiting.items()]
    return gaps


def _attach_waiting(session: Session, actor: User | None, fiscal_year: int) -> int:
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


def _valid_codes(session: Session, fiscal_year: int, codes: list[str], keep: list[str] | tuple = ()) -> list[str]:
    """The codes, checked against the year's catalogue: retired items only where already named (`keep`)."""
    wanted = catalogue.natural(catalogue.normal_code(c) for c in codes if (c or "").strip())
    known = {i.code for i in active_indicators(session, fiscal_year)} | set(keep or ())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise DomainError(
            N_("Not an indicator of fiscal year %(year)d: %(codes)s"), year=fiscal_year, codes=", ".join(unknown)
        )
    return wanted


# --- evidence ------------------------------------------------------------------------------------


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
    except DomainError:
        session.rollback()
        raise
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
    digest = store.write(data)
    from core.models import StoredFile

    if session.get(StoredFile, digest) is None:
        session.add(
            StoredFile(
                sha256=digest,
                size=len(data),
                mime=mime,
                original_name=filename[:255],
                uploaded_by_id=getattr(actor, "id", None),
            )
        )
        session.flush()
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
    _require(actor, EVIDENCE_PUBLISH)
    fiscal_year = _year(fiscal_year)
    begin_write(session)
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
        record(session, actor, "evidence.published", item, {**diff(before, item.state()), "token": item.public_token})
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
    _require(actor, EVIDENCE_MANAGE)
    begin_write(session)
    item = session.get(EvidenceItem, evidence_id)
    if item is None:
        session.rollback()
        raise NotFound(N_("No such evidence item."))
    before = item.state()
    try:
        codes = _valid_codes(session, item.fiscal_year, indicators, keep=item.indicator_codes)
        if not codes:
            raise DomainError(N_("Choose at least one indicator."))
    except DomainError:
        session.rollback()
        raise
    item.title = (title or "").strip()[:300] or item.title
    item.description = (description or "")[:5000]
    if codes != item.indicator_codes:
        # rows of the codes that stay are kept: a new row beside the old one would break (evidence_id, code)
        rows = {c.code: c for c in item.codes}
        item.codes = [rows.get(c) or EvidenceIndicator(code=c) for c in codes]
    change = diff(before, item.state())
    if not change["after"]:
        session.rollback()
        return item
    record(session, actor, "evidence.updated", item, change)
    session.commit()
    return item


def set_visibility(
    session: Session, actor: User, evidence_id: int, public: bool, now: datetime | None = None
) -> EvidenceItem:
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
    Whether they may see it is the caller's check (`queries.can_see_evidence`), made before the file is
    found; this records it in its own transaction."""
    begin_write(session)
    item = session.get(EvidenceItem, evidence_id)
    if item is None:
        session.rollback()
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


# --- measures ------------------------------------------------------------------------------------

MEASURE_FIELDS = ("title", "indicators", "activities", "responsible", "outcome", "figures")


def save_measure(
    session: Session,
    actor: User,
    fiscal_year: int,
    values: dict[str, Any],
    measure_id: int | None = None,
    version: int | None = None,
) -> Measure:
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
        keep = []
        if measure_id is not None:
            keep = session.execute(select(Measure.indicators).where(Measure.id == measure_id)).scalar() or []
        codes = _valid_codes(session, fiscal_year, values.get("indicators") or [], keep=keep)
    except DomainError:
        session.rollback()
        raise
    clean = {
        "title": title[:2000],
        "indicators": codes,
        "activities": (values.get("activities") or "").strip()[:10000],
        "responsible": (values.get("responsible") or "").strip()[:2000],
        "outcome": (values.get("outcome") or "").strip()[:10000],
        "figures": figures,
    }
    measure: Measure | None  # found below, or None
    if measure_id is None:
        position = (
            session.execute(
                select(func.coalesce(func.max(Measure.position), 0)).where(Measure.fiscal_year == fiscal_year)
            ).scalar_one()
            + 1
        )
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
    known = {i.code for i in active_indicators(session, to_year)}
    source = list(
        session.execute(select(Measure).where(Measure.fiscal_year == from_year).order_by(Measure.position)).scalars()
    )
    if not source:
        session.rollback()
        raise DomainError(N_("Fiscal year %(year)d has no measures to copy."), year=from_year)
    for m in source:
        copy = Measure(
            fiscal_year=to_year,
            position=m.position,
            title=m.title,
            indicators=[c for c in m.indicators or [] if c in known],
            activities="",
            responsible=m.responsible,
            outcome="",
            figures=list(m.figures or []),
        )
        session.add(copy)
    session.flush()
    record(
        session,
        actor,
        "measures.copied",
        ("measures", to_year),
        {"from": from_year, "to": to_year, "count": len(source)},
    )
    session.commit()
    return len(source)
