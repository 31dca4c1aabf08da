"""The verbs of the ITA catalogue and the year's measures, each audited, each one unit of work
(core.db.write): start a year (from the shipped catalogue or the year before), save, retire, move and
import indicators, the roles still without a code, save and copy measures.

May import core, audit, evidence.measures and evidence.items.services (a catalogue change re-attaches the
evidence waiting for a role's code); in save_measure, the report's figure keys.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import func, select

from audit import record
from audit.services import diff
from core.db import N_, Conflict, DomainError, NotFound, Session, write
from core.files import safe_name
from core.models import User
from evidence.items.models import EvidenceIndicator, EvidenceItem
from evidence.items.services import attach_waiting, checked_year, require, valid_codes
from evidence.measures import catalogue
from evidence.measures.models import INSTRUMENTS, Indicator, Measure
from evidence.measures.permissions import can_edit_catalogue, can_edit_measures
from evidence.measures.queries import active_indicators, indicators_of, role_targets


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
    fiscal_year = checked_year(fiscal_year)
    if _count(session, fiscal_year):
        return 0
    with write(session):
        if _count(session, fiscal_year):
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
    require(can_edit_catalogue(actor))
    fiscal_year, code = checked_year(fiscal_year), _clean_code(code)
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
    with write(session):
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
                return row
            record(session, actor, "indicator.updated", row, change)
        attach_waiting(session, actor, fiscal_year)
        session.commit()
        return row


def retire_indicator(session: Session, actor: User, fiscal_year: int, code: str, retired: bool = True) -> Indicator:
    """Retire an item (hidden for new evidence; the evidence that names it keeps it) or bring it back."""
    require(can_edit_catalogue(actor))
    fiscal_year, code = checked_year(fiscal_year), _clean_code(code)
    with write(session):
        row = _row_of(session, fiscal_year, code, lock=True)
        if row is None:
            raise NotFound(N_("No such indicator."))
        if bool(row.retired) == bool(retired):
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
            attach_waiting(session, actor, fiscal_year)
        session.commit()
        return row


def move_indicator(session: Session, actor: User, fiscal_year: int, code: str, step: int) -> Indicator:
    """Move an item one place up (step -1) or down (+1) among the items of its instrument."""
    require(can_edit_catalogue(actor))
    fiscal_year, code = checked_year(fiscal_year), _clean_code(code)
    with write(session):
        row = _row_of(session, fiscal_year, code, lock=True)
        if row is None:
            raise NotFound(N_("No such indicator."))
        same = [i for i in indicators_of(session, fiscal_year) if i.instrument == row.instrument]
        at = same.index(row)
        to = at + (1 if step > 0 else -1)
        if not 0 <= to < len(same):
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
        require(can_edit_catalogue(actor))
    fiscal_year = checked_year(fiscal_year)
    parsed = catalogue.parse(data, filename)
    result = CatalogueImport(fiscal_year, parsed.sha256, parsed.problems)
    if parsed.problems:
        return result
    with write(session):
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
        attach_waiting(session, actor, fiscal_year)
        session.commit()
        result.applied = True
        return result


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
    from evidence.report.figures import FIGURE_KEYS

    require(can_edit_measures(actor))
    fiscal_year = checked_year(fiscal_year)
    title = (values.get("title") or "").strip()
    if not title:
        raise DomainError(N_("A measure needs a title."))
    figures = [f for f in values.get("figures") or [] if f]
    unknown = [f for f in figures if f not in FIGURE_KEYS]
    if unknown:
        raise DomainError(N_("Unknown figures: %(keys)s"), keys=", ".join(unknown))
    with write(session):
        keep = []
        if measure_id is not None:
            keep = session.execute(select(Measure.indicators).where(Measure.id == measure_id)).scalar() or []
        codes = valid_codes(session, fiscal_year, values.get("indicators") or [], keep=keep)
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
                raise NotFound(N_("No such measure."))
            if version is not None and measure.version != version:
                raise Conflict(N_("Someone else changed this measure after you opened it. Reload and try again."))
            before = measure.state()
            for key, value in clean.items():
                setattr(measure, key, value)
            change = diff(before, measure.state())
            if not change["after"]:
                return measure
            record(session, actor, "measure.updated", measure, change)
        session.commit()
        return measure


def copy_measures(session: Session, actor: User, from_year: int, to_year: int) -> int:
    """Start a year from last year's measures (titles, indicators, responsibility, figures; not the results)."""
    require(can_edit_measures(actor))
    from_year, to_year = checked_year(from_year), checked_year(to_year)
    ensure_indicators(session, actor, to_year)
    with write(session):
        if session.execute(
            select(func.count()).select_from(Measure).where(Measure.fiscal_year == to_year)
        ).scalar_one():
            raise Conflict(N_("Fiscal year %(year)d already has measures."), year=to_year)
        known = {i.code for i in active_indicators(session, to_year)}
        source = list(
            session.execute(
                select(Measure).where(Measure.fiscal_year == from_year).order_by(Measure.position)
            ).scalars()
        )
        if not source:
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
