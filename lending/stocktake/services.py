"""The stock-take's services: prepare, appoint and open a round (its snapshot), record what was found, close it
(every entry's result, incidents for what was not found or damaged, the report filed as evidence)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    and_,
    func,
    insert,
    literal,
    or_,
    select,
)

from audit import record
from audit.services import record_many
from core.dates import bangkok_today, fiscal_year_bounds, fiscal_year_of
from core.db import (
    N_,
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    Session,
    utcnow,
    write,
)
from core.files import PHOTO_TYPES, FileStore, store_generated, store_upload
from core.models import User
from lending.loans.documents import filing
from lending.loans.models import CHECKED_OUT, Incident, Loan, LoanItem
from lending.register.models import DISPOSED, Asset
from lending.stocktake.models import (
    CLOSED,
    DAMAGED,
    DRAFT,
    ELSEWHERE,
    FOUND,
    NOT_FOUND,
    ON_LOAN,
    OPEN,
    SUPPLY_OFFICER,
    UNEXPECTED,
    StocktakeEntry,
    StocktakeMember,
    StocktakeRound,
    on_register_by,
)
from lending.stocktake.permissions import can_manage_rounds, can_prepare_rounds

# progress, reconcile and stocktake_figures are not used here: tests/integration/test_stocktake.py reaches them
# as `st.*` on this module and may change only its import lines (issue 15); drop them once it imports queries.
from lending.stocktake.queries import entry_of, load_round, progress, reconcile, stocktake_figures  # noqa: F401
from lending.stocktake.report import report_filename, round_pdf


def default_fiscal_year(today: date | None = None) -> int:
    """The inspection after 30 September: from October the year just ended, before it the current one."""
    today = today or bangkok_today()
    year = fiscal_year_of(today)
    return year - 1 if today.month >= 10 else year


def _scope_clause(department: str, location: str, count_on: date):
    clauses = [
        Asset.status != DISPOSED,
        or_(Asset.disposed_on.is_(None), Asset.disposed_on > count_on),
        on_register_by(count_on),
    ]
    if department:
        clauses.append(Asset.department == department)
    if location:
        clauses.append(Asset.location == location)
    return and_(*clauses)


def _check_committee(session: Session, committee: list[int], required: bool = True) -> list[int]:
    """The committee's ids, each an active user who is not a supply officer; at least one when `required`."""
    ids = sorted({int(i) for i in committee})
    if not ids:
        if required:
            raise DomainError(N_("Name at least one committee member."))
        return ids
    users = list(session.execute(select(User).where(User.id.in_(ids))).scalars())
    if len(users) != len(ids):
        raise DomainError(N_("A committee member does not exist."))
    for user in users:
        if not user.active:
            raise DomainError(N_("%(name)s is not an active user."), name=user.name)
        if user.has_role(SUPPLY_OFFICER):
            raise DomainError(
                N_("%(name)s is a supply officer; the inspection committee may not include supply officers."),
                name=user.name,
            )
    return ids


def _check_year(fiscal_year: int) -> int:
    fiscal_year = int(fiscal_year)
    if not 2500 <= fiscal_year <= 2700:
        raise DomainError(N_("The fiscal year is a Buddhist Era year, e.g. 2569."))
    return fiscal_year


def _new_round(
    actor: User, status: str, fiscal_year: int, ids: list[int], title: str, department: str, location: str, at: datetime
) -> StocktakeRound:
    rnd = StocktakeRound(
        fiscal_year=fiscal_year,
        count_on=fiscal_year_bounds(fiscal_year)[1],
        scope_department=(department or "").strip()[:200],
        scope_location=(location or "").strip()[:200],
        status=status,
        opened_at=at,
        opened_by_id=actor.id,
        title=(title or "").strip()[:300] or f"ตรวจสอบพัสดุประจำปีงบประมาณ {fiscal_year}",
    )
    rnd.members = [StocktakeMember(user_id=i) for i in ids]
    return rnd


def _take_snapshot(session: Session, rnd: StocktakeRound) -> None:
    """One entry per asset in the round's scope, as the register stands when the round opens."""
    session.execute(
        insert(StocktakeEntry).from_select(
            ["round_id", "asset_id", "in_scope", "expected_location", "found_location", "note"],
            select(literal(rnd.id), Asset.id, literal(True), Asset.location, literal(""), literal("")).where(
                _scope_clause(rnd.scope_department, rnd.scope_location, rnd.count_on)
            ),
        )
    )
    rnd.total = session.execute(
        select(func.count()).select_from(StocktakeEntry).where(StocktakeEntry.round_id == rnd.id)
    ).scalar_one()
    session.flush()


def open_round(
    session: Session,
    actor: User,
    *,
    fiscal_year: int,
    committee: list[int],
    title: str = "",
    department: str = "",
    location: str = "",
    now: datetime | None = None,
) -> StocktakeRound:
    """The head appoints the committee (who are not supply officers) and opens a round: the snapshot of the
    assets in scope is taken now."""
    if not can_manage_rounds(actor):
        raise Forbidden(N_("Only the head of agency appoints the inspection committee and opens a round."))
    fiscal_year = _check_year(fiscal_year)
    with write(session):
        ids = _check_committee(session, committee)
        rnd = _new_round(actor, OPEN, fiscal_year, ids, title, department, location, now or utcnow())
        session.add(rnd)
        session.flush()
        _take_snapshot(session, rnd)
        record(session, actor, "stocktake.opened", rnd, {"after": rnd.state()})
        session.commit()
    return rnd


def prepare_round(
    session: Session,
    actor: User,
    *,
    fiscal_year: int,
    committee: list[int] | None = None,
    title: str = "",
    department: str = "",
    location: str = "",
    now: datetime | None = None,
) -> StocktakeRound:
    """The supply officer prepares a round for the head: year, scope and a proposed committee. Nothing is
    counted until the head appoints the committee and opens it (`appoint_round`)."""
    if not can_prepare_rounds(actor):
        raise Forbidden(N_("You may not do this."))
    fiscal_year = _check_year(fiscal_year)
    with write(session):
        ids = _check_committee(session, committee or [], required=False)
        rnd = _new_round(actor, DRAFT, fiscal_year, ids, title, department, location, now or utcnow())
        session.add(rnd)
        session.flush()
        record(session, actor, "stocktake.prepared", rnd, {"after": rnd.state()})
        session.commit()
    return rnd


def appoint_round(
    session: Session,
    actor: User,
    round_id: int,
    committee: list[int],
    *,
    version: int | None = None,
    now: datetime | None = None,
) -> StocktakeRound:
    """The head appoints the committee of a prepared round and opens it (the snapshot is taken now)."""
    if not can_manage_rounds(actor):
        raise Forbidden(N_("Only the head of agency appoints the inspection committee and opens a round."))
    with write(session):
        rnd = load_round(session, round_id, lock=True)
        if version is not None and rnd.version != version:
            raise Conflict(N_("Someone else changed this round after you opened the page. Reload it and try again."))
        if not rnd.is_draft:
            raise Conflict(N_("This round is already open or closed."))
        ids = _check_committee(session, committee)
        before = rnd.state()
        for member in list(rnd.members):  # the head's choice replaces the proposal
            if member.user_id not in ids:
                session.delete(member)
        have = rnd.member_ids()
        session.add_all([StocktakeMember(round_id=rnd.id, user_id=i) for i in ids if i not in have])
        session.flush()
        session.expire(rnd, ["members"])
        rnd.status, rnd.opened_at, rnd.opened_by_id = OPEN, now or utcnow(), actor.id
        session.flush()
        _take_snapshot(session, rnd)
        record(session, actor, "stocktake.opened", rnd, {"before": before, "after": rnd.state()})
        session.commit()
    return rnd


@dataclass
class Recorded:
    entry: StocktakeEntry
    unexpected: bool
    moved: bool


def record_found(
    session: Session,
    actor: User,
    round_id: int,
    asset_id: int,
    *,
    condition: str,
    location: str = "",
    note: str = "",
    photo: tuple[bytes, str] | None = None,
    store: FileStore | None = None,
    max_bytes: int = 10 * 1024 * 1024,
    now: datetime | None = None,
) -> Recorded:
    """A committee member records an asset as found; an asset outside the snapshot is kept as unexpected."""
    with write(session):
        rnd = load_round(session, round_id, lock=True)
        if actor is None or actor.id not in rnd.member_ids():
            raise Forbidden(N_("Only members of this round's committee record what they find."))
        if not rnd.is_open:
            raise Conflict(N_("This round is closed; nothing more can be recorded."))
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise NotFound(N_("No such asset."))
        entry = entry_of(session, rnd.id, asset.id)
        if entry is None:  # not in the snapshot: disposed, another department or location, or added later
            entry = StocktakeEntry(
                round_id=rnd.id,
                asset_id=asset.id,
                in_scope=False,
                expected_location=asset.location or "",
                found_location="",
                note="",
            )
            session.add(entry)
        entry.record_found(actor, now or utcnow(), condition, location, note)
        if photo and photo[0]:
            if store is None:
                raise DomainError(N_("Photos cannot be stored here."))
            stored = store_upload(
                session,
                store,
                photo[0],
                photo[1],
                allowed=PHOTO_TYPES,
                max_bytes=max_bytes,
                uploaded_by_id=actor.id,
            )
            entry.photo_sha256 = stored.sha256
        session.flush()
        record(
            session,
            actor,
            "stocktake.recorded",
            entry,
            {"round_id": rnd.id, "after": entry.state(), "unexpected": not entry.in_scope, "moved": entry.moved},
        )
        session.commit()
    return Recorded(entry, not entry.in_scope, entry.moved)


def _on_loan_asset_ids(session: Session) -> set[int]:
    """Assets out on a handed-over loan right now (the item not yet back): accounted for by the loan."""
    stmt = (
        select(LoanItem.asset_id)
        .join(Loan, Loan.id == LoanItem.loan_id)
        .where(Loan.status == CHECKED_OUT, LoanItem.condition.is_(None))
    )
    return set(session.execute(stmt).scalars())


def close_round(
    session: Session,
    actor: User,
    round_id: int,
    *,
    store: FileStore | None = None,
    lang: str = "th",
    now: datetime | None = None,
) -> StocktakeRound:
    """Close a round: every entry's result, incidents for not found and damaged, the report filed as evidence."""
    if not can_manage_rounds(actor):
        raise Forbidden(N_("You may not do this."))

    at = now or utcnow()
    with write(session):
        rnd = load_round(session, round_id, lock=True)
        rnd.close(actor, at)
        on_loan = _on_loan_asset_ids(session)
        entries = list(
            session.execute(
                select(StocktakeEntry)
                .where(StocktakeEntry.round_id == rnd.id)
                .execution_options(populate_existing=True)
            ).scalars()
        )
        incidents: list[Incident] = []
        for e in entries:
            if not e.in_scope:
                e.result = UNEXPECTED
            elif e.found_at is not None:
                e.result = ELSEWHERE if e.moved else FOUND
            elif e.asset_id in on_loan:
                e.result = ON_LOAN
            else:
                e.result = NOT_FOUND
            if e.in_scope and (e.result == NOT_FOUND or e.condition == DAMAGED):
                kind = "lost" if e.result == NOT_FOUND else "damaged"
                text = (
                    f"ตรวจสอบพัสดุประจำปี รอบที่ {rnd.id}: ไม่พบ"
                    if kind == "lost"
                    else f"ตรวจสอบพัสดุประจำปี รอบที่ {rnd.id}: ชำรุด {e.note}".strip()
                )
                incidents.append(
                    Incident(
                        loan_item_id=None,
                        asset_id=e.asset_id,
                        kind=kind,
                        value=e.asset.price,
                        description=text,
                        opened_at=at,
                        opened_by_id=actor.id,
                        status="open",
                    )
                )
        session.add_all(incidents)
        session.flush()
        counts = Counter(e.result for e in entries)
        record(
            session,
            actor,
            "stocktake.closed",
            rnd,
            {
                "before": {"status": OPEN},
                "after": {"status": CLOSED},
                "results": dict(counts),
                "incidents": len(incidents),
            },
        )
        record_many(
            session,
            actor,
            "incident.opened",
            [
                (
                    i,
                    {
                        "after": {
                            "asset_id": i.asset_id,
                            "kind": i.kind,
                            "source": "stocktake",
                            "round_id": rnd.id,
                        }
                    },
                )
                for i in incidents
            ],
        )
        if store is not None:
            data = round_pdf(session, rnd, lang=lang)
            digest = store_generated(
                session, store, data, report_filename(rnd, "pdf"), "application/pdf", made_by_id=actor.id
            ).sha256
            rnd.report_sha256 = digest
            filing.file_document(
                session,
                actor,
                store,
                data,
                report_filename(rnd, "pdf"),
                fiscal_year=rnd.fiscal_year,
                title=f"รายงานผลการตรวจสอบพัสดุประจำปี {rnd.fiscal_year} (รอบที่ {rnd.id})",
                role=filing.STOCKTAKE_RESULT,
                mime="application/pdf",
                source=f"stocktake:{rnd.id}",
            )
        session.commit()
    return rnd
