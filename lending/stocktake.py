"""The annual stock-take (การตรวจสอบพัสดุประจำปี, ข้อ 213/214): rounds, their committee, what was found.

An admin opens a round for a fiscal year and names its committee (never supply officers). Opening takes a
snapshot of the assets in scope — on the register (not disposed) and matching the round's department and
location filter — as one entry each. Committee members record assets as found (condition, where found,
note, photo); an asset outside the snapshot that is scanned is kept as *unexpected*. Closing the round gives
every entry its result, opens incidents for what was not found or found damaged, and files the report.

    result of an in-scope entry at close:  found | elsewhere (found, but not where the register says)
                                            | on_loan (not scanned, but out on a handed-over loan)
                                            | not_found
    an out-of-scope scan:                  unexpected (disposed, or outside the department/location filter)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from audit import record
from audit.services import record_many
from core.dates import bangkok_today, fiscal_year_bounds, fiscal_year_of
from core.db import (
    N_,
    Audited,
    Conflict,
    DomainError,
    Forbidden,
    Model,
    NotFound,
    Session,
    begin_write,
    contains,
    utcnow,
)
from core.files import FileStore, store_upload
from core.models import User
from core.numbers import percent, round_half_away
from core.people.permissions import STOCKTAKE_MANAGE, STOCKTAKE_PREPARE, STOCKTAKE_VIEW
from lending.loans import CHECKED_OUT, Incident, Loan, LoanItem
from lending.models import DISPOSED, Asset

DRAFT, OPEN, CLOSED = "draft", "open", "closed"
GOOD, DAMAGED = "good", "damaged"
FOUND, ELSEWHERE, ON_LOAN, NOT_FOUND, UNEXPECTED = "found", "elsewhere", "on_loan", "not_found", "unexpected"
RESULTS = (FOUND, ELSEWHERE, ON_LOAN, NOT_FOUND, UNEXPECTED)
PHOTO_TYPES = {"image/jpeg", "image/png", "image/webp"}
SUPPLY_OFFICER = "supply_officer"


class StocktakeRound(Audited, Model):
    __tablename__ = "stocktake_rounds"
    audit_type = "stocktake_round"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(300))
    count_on: Mapped[date] = mapped_column(Date)  # what remains on this day is counted (30 September)
    scope_department: Mapped[str] = mapped_column(String(200), default="")
    scope_location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default=OPEN)
    total: Mapped[int] = mapped_column(Integer, default=0)  # in-scope entries of the snapshot
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    report_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    members: Mapped[list[StocktakeMember]] = relationship(order_by="StocktakeMember.id", lazy="selectin", cascade="all")

    __mapper_args__ = {"version_id_col": version}

    def state(self) -> dict[str, Any]:
        return {
            "fiscal_year": self.fiscal_year,
            "title": self.title,
            "count_on": self.count_on,
            "scope_department": self.scope_department,
            "scope_location": self.scope_location,
            "status": self.status,
            "total": self.total,
            "committee": [m.user_id for m in self.members],
        }

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    @property
    def is_draft(self) -> bool:
        """Prepared by the supply officer, waiting for the head to appoint the committee and open it."""
        return self.status == DRAFT

    def member_ids(self) -> set[int]:
        return {m.user_id for m in self.members}

    def close(self, by: User, at: datetime) -> None:
        if self.status == DRAFT:
            raise Conflict(N_("This round is not open yet: the head appoints its committee first."))
        if self.status != OPEN:
            raise Conflict(N_("This round is already closed."))
        self.status, self.closed_at, self.closed_by_id = CLOSED, at, by.id


class StocktakeMember(Model):
    """A committee member of one round (membership is per round, not a role)."""

    __tablename__ = "stocktake_members"
    __table_args__ = (UniqueConstraint("round_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("stocktake_rounds.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    user: Mapped[User] = relationship(lazy="joined")


class StocktakeEntry(Audited, Model):
    """One asset in one round: in scope from the snapshot (found or not yet), or an unexpected scan."""

    __tablename__ = "stocktake_entries"
    __table_args__ = (
        UniqueConstraint("round_id", "asset_id"),
        Index("ix_stocktake_entries_round_location", "round_id", "expected_location"),
    )
    audit_type = "stocktake_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("stocktake_rounds.id"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    in_scope: Mapped[bool] = mapped_column(Boolean, default=True)
    expected_location: Mapped[str] = mapped_column(String(200), default="")
    found_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    found_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    found_location: Mapped[str] = mapped_column(String(200), default="")
    condition: Mapped[str | None] = mapped_column(String(10), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    result: Mapped[str | None] = mapped_column(String(12), nullable=True)  # set when the round closes

    asset: Mapped[Asset] = relationship(lazy="joined")
    found_by: Mapped[User | None] = relationship()

    def state(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "in_scope": self.in_scope,
            "found_location": self.found_location,
            "condition": self.condition,
            "note": self.note,
            "photo_sha256": self.photo_sha256,
            "result": self.result,
        }

    def record_found(self, by: User, at: datetime, condition: str, location: str, note: str) -> None:
        if self.found_at is not None:
            raise Conflict(
                N_("This asset was already recorded in this round (%(when)s)."),
                when=self.found_at.isoformat(timespec="minutes"),
            )
        if condition not in (GOOD, DAMAGED):
            raise DomainError(N_("Choose the condition: good or damaged."))
        if condition == DAMAGED and not note.strip():
            raise DomainError(N_("Describe the damage."))
        self.found_at, self.found_by_id, self.condition = at, by.id, condition
        self.found_location = (location or self.expected_location).strip()[:200]
        self.note = note.strip()

    @property
    def moved(self) -> bool:
        return (
            self.found_at is not None
            and self.in_scope
            and self.found_location.strip() != (self.expected_location or "").strip()
        )


# --- who may ---------------------------------------------------------------------------------------


def can_manage_rounds(user: User | None) -> bool:
    """Appoint the committee, open and close a round: the head of agency (ข้อ 213)."""
    return user is not None and user.can(STOCKTAKE_MANAGE)


def can_prepare_rounds(user: User | None) -> bool:
    """Prepare a round for the head (year, scope, a proposed committee): the supply officer, or the head."""
    return user is not None and (user.can(STOCKTAKE_PREPARE) or user.can(STOCKTAKE_MANAGE))


def can_view_round(user: User | None, rnd: StocktakeRound) -> bool:
    return user is not None and (user.can(STOCKTAKE_VIEW) or user.id in rnd.member_ids())


def can_record(user: User | None, rnd: StocktakeRound) -> bool:
    """Only a committee member of an open round records what was found."""
    return user is not None and rnd.is_open and user.id in rnd.member_ids()


# --- services --------------------------------------------------------------------------------------


def default_fiscal_year(today: date | None = None) -> int:
    """The inspection after 30 September: from October the year just ended, before it the current one."""
    today = today or bangkok_today()
    year = fiscal_year_of(today)
    return year - 1 if today.month >= 10 else year


def on_register_by(count_on: Any):
    """SQL: the asset was on the register on `count_on` (a date or a date column): acquired on or before it.
    An asset acquired after a round's cut-off day is neither expected by the round nor "not found" by it.
    One with no acquisition date is taken to have been there: a register typed in after the year ended
    (the office's first stock-take in the app) often lacks the dates, and its assets are what is counted."""
    return or_(Asset.acquired_on.is_(None), Asset.acquired_on <= count_on)


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
    begin_write(session)
    try:
        ids = _check_committee(session, committee)
    except DomainError:
        session.rollback()
        raise
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
    begin_write(session)
    try:
        ids = _check_committee(session, committee or [], required=False)
    except DomainError:
        session.rollback()
        raise
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
    begin_write(session)
    rnd = load_round(session, round_id, lock=True)
    if version is not None and rnd.version != version:
        session.rollback()
        raise Conflict(N_("Someone else changed this round after you opened the page. Reload it and try again."))
    if not rnd.is_draft:
        session.rollback()
        raise Conflict(N_("This round is already open or closed."))
    try:
        ids = _check_committee(session, committee)
    except DomainError:
        session.rollback()
        raise
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


def draft_rounds(session: Session) -> list[StocktakeRound]:
    """Rounds the supply officer prepared that wait for the head."""
    return list(
        session.execute(
            select(StocktakeRound).where(StocktakeRound.status == DRAFT).order_by(StocktakeRound.id)
        ).scalars()
    )


def load_round(session: Session, round_id: int, lock: bool = False) -> StocktakeRound:
    rnd = session.get(
        StocktakeRound,
        round_id,
        with_for_update={"of": StocktakeRound} if lock else None,
        populate_existing=lock,
    )
    if rnd is None:
        raise NotFound(N_("No such stock-take round."))
    return rnd


def open_rounds_for(session: Session, user: User | None) -> list[StocktakeRound]:
    """The open rounds this user sits on the committee of (for the scan card on an asset's page)."""
    if user is None:
        return []
    return list(
        session.execute(
            select(StocktakeRound)
            .join(StocktakeMember, StocktakeMember.round_id == StocktakeRound.id)
            .where(StocktakeRound.status == OPEN, StocktakeMember.user_id == user.id)
            .order_by(StocktakeRound.id.desc())
        ).scalars()
    )


def entry_of(session: Session, round_id: int, asset_id: int) -> StocktakeEntry | None:
    return session.execute(
        select(StocktakeEntry).where(StocktakeEntry.round_id == round_id, StocktakeEntry.asset_id == asset_id)
    ).scalar_one_or_none()


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
    begin_write(session)
    rnd = load_round(session, round_id, lock=True)
    if actor is None or actor.id not in rnd.member_ids():
        session.rollback()
        raise Forbidden(N_("Only members of this round's committee record what they find."))
    if not rnd.is_open:
        session.rollback()
        raise Conflict(N_("This round is closed; nothing more can be recorded."))
    asset = session.get(Asset, asset_id)
    if asset is None:
        session.rollback()
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
    try:
        entry.record_found(actor, now or utcnow(), condition, location, note)
    except DomainError:
        session.rollback()
        raise
    if photo and photo[0]:
        if store is None:
            session.rollback()
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
    from lending import filing
    from lending.stocktake_report import report_filename, round_pdf

    at = now or utcnow()
    begin_write(session)
    rnd = load_round(session, round_id, lock=True)
    try:
        rnd.close(actor, at)
    except DomainError:
        session.rollback()
        raise
    on_loan = _on_loan_asset_ids(session)
    entries = list(
        session.execute(
            select(StocktakeEntry).where(StocktakeEntry.round_id == rnd.id).execution_options(populate_existing=True)
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
        digest = store.write(data)
        from core.models import StoredFile

        if session.get(StoredFile, digest) is None:
            session.add(
                StoredFile(
                    sha256=digest,
                    size=len(data),
                    mime="application/pdf",
                    original_name=report_filename(rnd, "pdf"),
                    uploaded_by_id=actor.id,
                )
            )
            session.flush()
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


# --- queries ---------------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    """What a round found, live while open and final once closed."""

    total: int = 0  # in-scope entries (the snapshot)
    found: int = 0  # found where the register says
    elsewhere: int = 0  # found somewhere else
    on_loan: int = 0  # not scanned but out on a handed-over loan: accounted for
    not_found: int = 0  # neither found nor on loan (while open: not yet)
    unexpected: int = 0  # scanned but outside the snapshot (disposed, another department/location)
    good: int = 0
    damaged: int = 0
    by_location: list[dict[str, Any]] = field(default_factory=list)

    @property
    def scanned(self) -> int:
        return self.found + self.elsewhere

    @property
    def accounted(self) -> int:
        return self.found + self.elsewhere + self.on_loan

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "scanned": self.scanned,
            "found": self.found,
            "elsewhere": self.elsewhere,
            "on_loan": self.on_loan,
            "not_found": self.not_found,
            "unexpected": self.unexpected,
            "good": self.good,
            "damaged": self.damaged,
            "accounted": self.accounted,
            "by_location": self.by_location,
        }


def reconcile(session: Session, rnd: StocktakeRound) -> Reconciliation:
    """The counts of a round, in a few grouped queries (a round of many thousand assets stays quick)."""
    out = Reconciliation(total=rnd.total)
    E = StocktakeEntry
    if not rnd.is_open:
        for result, n in session.execute(select(E.result, func.count()).where(E.round_id == rnd.id).group_by(E.result)):
            setattr(out, result or NOT_FOUND, getattr(out, result or NOT_FOUND) + n)
    else:
        moved = and_(E.found_at.is_not(None), E.found_location != E.expected_location)
        row = session.execute(
            select(
                func.coalesce(
                    func.sum(case((and_(E.in_scope.is_(True), E.found_at.is_not(None), ~moved), 1), else_=0)),
                    0,
                ),
                func.coalesce(func.sum(case((and_(E.in_scope.is_(True), moved), 1), else_=0)), 0),
                func.coalesce(func.sum(case((E.in_scope.is_(False), 1), else_=0)), 0),
            ).where(E.round_id == rnd.id)
        ).one()
        out.found, out.elsewhere, out.unexpected = int(row[0]), int(row[1]), int(row[2])
        out.on_loan = session.execute(
            select(func.count(func.distinct(E.asset_id)))
            .select_from(E)
            .join(LoanItem, LoanItem.asset_id == E.asset_id)
            .join(Loan, Loan.id == LoanItem.loan_id)
            .where(
                E.round_id == rnd.id,
                E.in_scope.is_(True),
                E.found_at.is_(None),
                Loan.status == CHECKED_OUT,
                LoanItem.condition.is_(None),
            )
        ).scalar_one()
        out.not_found = out.total - out.found - out.elsewhere - out.on_loan
    for cond, n in session.execute(
        select(E.condition, func.count())
        .where(E.round_id == rnd.id, E.in_scope.is_(True), E.condition.is_not(None))
        .group_by(E.condition)
    ):
        if cond is not None:  # (always: the query leaves None out)
            setattr(out, cond, n)
    out.by_location = [
        {"location": loc or "", "total": int(total), "scanned": int(scanned or 0)}
        for loc, total, scanned in session.execute(
            select(E.expected_location, func.count(), func.sum(case((E.found_at.is_not(None), 1), else_=0)))
            .where(E.round_id == rnd.id, E.in_scope.is_(True))
            .group_by(E.expected_location)
            .order_by(E.expected_location)
        )
    ]
    return out


def progress(session: Session, rnd: StocktakeRound) -> dict[str, Any]:
    """Scanned / total and by location, for the round page's poll and the CLI."""
    r = reconcile(session, rnd)
    return {
        "round_id": rnd.id,
        "status": rnd.status,
        "total": r.total,
        "scanned": r.scanned,
        "unexpected": r.unexpected,
        "percent": round_half_away(percent(r.scanned, r.total), 1) if r.total else 0.0,
        "by_location": r.by_location,
    }


ENTRY_COLUMNS = (
    StocktakeEntry.id,
    StocktakeEntry.asset_id,
    StocktakeEntry.in_scope,
    StocktakeEntry.found_at,
    StocktakeEntry.found_location,
    StocktakeEntry.expected_location,
    StocktakeEntry.condition,
    StocktakeEntry.note,
    StocktakeEntry.result,
    Asset.asset_number,
    Asset.name,
    Asset.category,
    Asset.department,
    Asset.status,
    Asset.price,
    Asset.tag,
)


def entry_rows(
    session: Session, round_id: int, *, show: str = "all", q: str = "", page: int = 1, size: int = 50
) -> tuple[Sequence[Any], int]:
    """A page of a round's entries for its list: all, to do (not yet found), found, unexpected, problems."""
    E = StocktakeEntry
    stmt = select(*ENTRY_COLUMNS).join(Asset, Asset.id == E.asset_id).where(E.round_id == round_id)
    if show == "todo":
        stmt = stmt.where(E.in_scope.is_(True), E.found_at.is_(None))
    elif show == "found":
        stmt = stmt.where(E.found_at.is_not(None), E.in_scope.is_(True))
    elif show == "unexpected":
        stmt = stmt.where(E.in_scope.is_(False))
    elif show == "problems":
        stmt = stmt.where(or_(E.result.in_((NOT_FOUND, ELSEWHERE, UNEXPECTED)), E.condition == DAMAGED))
    if q:
        from lending.models import search_key

        stmt = stmt.where(contains(Asset.search_text, search_key(q)))
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(E.expected_location, Asset.asset_number).limit(size).offset((max(page, 1) - 1) * size)
    ).all()
    return rows, total


def all_entry_rows(session: Session, round_id: int) -> Sequence[Any]:
    E = StocktakeEntry
    return session.execute(
        select(*ENTRY_COLUMNS)
        .join(Asset, Asset.id == E.asset_id)
        .where(E.round_id == round_id)
        .order_by(E.in_scope.desc(), E.expected_location, Asset.asset_number)
    ).all()


def list_rounds(session: Session, user: User) -> list[StocktakeRound]:
    stmt = select(StocktakeRound).order_by(StocktakeRound.id.desc())
    if not user.can(STOCKTAKE_VIEW):
        stmt = stmt.join(StocktakeMember, StocktakeMember.round_id == StocktakeRound.id).where(
            StocktakeMember.user_id == user.id
        )
    return list(session.execute(stmt.limit(200)).scalars())


def committee_candidates(session: Session) -> list[User]:
    """Active users who may sit on an inspection committee: everyone but supply officers."""
    from core.models import UserRole

    officers = select(UserRole.user_id).where(UserRole.role == SUPPLY_OFFICER)
    return list(
        session.execute(
            select(User).where(User.active.is_(True), User.id.not_in(officers)).order_by(User.name)
        ).scalars()
    )


def scope_options(session: Session) -> tuple[list[str], list[str]]:
    deps = [d for d in session.execute(select(Asset.department).distinct().order_by(Asset.department)).scalars() if d]
    locs = [x for x in session.execute(select(Asset.location).distinct().order_by(Asset.location)).scalars() if x]
    return deps, locs


def stocktake_figures(session: Session, start: date, end: date) -> tuple[int, int]:
    """`stocktake` for evidence.figures: (assets checked in the year's stock-take, of those not found).

    The year's stock-take is every round whose fiscal year is the year that ends on `end`. An asset is
    *checked* when a round recorded a result for it within its scope: found (where expected or elsewhere)
    at any time, or — once the round is closed — on loan or not found. It is *not found* when a closed round
    of the year recorded it as not found and no round of the year found it. Unexpected scans (outside a
    round's scope) count in neither. Each asset counts once, however many rounds saw it.
    """
    year = fiscal_year_of(end)
    E, R = StocktakeEntry, StocktakeRound
    # Only assets acquired by the round's cut-off day (a round opened before that rule took its snapshot of
    # everything on the register the day it was opened).
    acquired = select(Asset.id).where(Asset.id == E.asset_id, on_register_by(R.count_on)).exists()
    in_year = and_(R.id == E.round_id, R.fiscal_year == year, E.in_scope.is_(True), acquired)
    checked = session.execute(
        select(func.count(func.distinct(E.asset_id)))
        .select_from(E)
        .join(R, in_year)
        .where(or_(E.found_at.is_not(None), E.result.is_not(None)))
    ).scalar_one()
    found_ids = select(E.asset_id).join(R, in_year).where(E.found_at.is_not(None))
    not_found = session.execute(
        select(func.count(func.distinct(E.asset_id)))
        .select_from(E)
        .join(R, in_year)
        .where(E.result == NOT_FOUND, E.asset_id.not_in(found_ids))
    ).scalar_one()
    return int(checked), int(not_found)
