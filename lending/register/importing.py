"""Importing the office's asset list (CSV or XLSX, English or Thai headers), all or nothing.

read_table → plan_import (validate every row, compare with the register) → apply_import (one transaction).
A file with any bad row changes nothing; every bad row is reported with its row number, column and reason.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from audit import record
from audit.services import record_many
from core.db import N_, DomainError, Forbidden, Session, known, refresh_statistics, write
from core.documents.archives import ArchiveRefused, Limits, read_first_sheet
from core.files import XLSX, FileStore, store_generated
from lending.groups.models import LendingGroup
from lending.groups.reservations import lock_groups
from lending.register import permissions, queries
from lending.register.models import FIELDS, Asset, clean_asset_fields, compute_search_text, new_tag

log = logging.getLogger(__name__)

REQUIRED = ("asset_number", "name", "category")
GROUP_NAME_LIMIT = 200  # LendingGroup.name
_SPACES = re.compile(r"\s+")

HEADERS: dict[str, tuple[str, ...]] = {
    "asset_number": ("asset_number", "หมายเลขครุภัณฑ์", "เลขครุภัณฑ์", "รหัสครุภัณฑ์", "เลขทะเบียนครุภัณฑ์"),
    "name": ("name", "ชื่อครุภัณฑ์", "ชื่อ", "รายการ", "ชื่อรายการ"),
    "category": ("category", "ประเภท", "หมวดหมู่", "ประเภทครุภัณฑ์"),
    "brand": ("brand", "ยี่ห้อ"),
    "model": ("model", "รุ่น"),
    "serial_number": ("serial_number", "หมายเลขเครื่อง", "เลขประจำเครื่อง", "serial"),
    "acquired_on": ("acquired_on", "วันที่ได้มา", "วันที่ซื้อ", "วันที่รับ"),
    "price": ("price", "ราคา", "ราคาต่อหน่วย", "มูลค่า", "ราคา (บาท)"),
    "location": ("location", "สถานที่ตั้ง", "ที่ตั้ง", "สถานที่เก็บ"),
    "department": ("department", "หน่วยงาน", "กอง/ส่วน", "ส่วนราชการ"),
    "lendable": ("lendable", "ให้ยืมได้", "ยืมได้"),
    # the lending group that lends the asset by count (lending/groups): joined by name, set up if new
    "lending_group": ("lending_group", "กลุ่มพัสดุให้ยืม", "กลุ่มให้ยืม", "กลุ่มพัสดุ", "lending group"),
}
GROUP = "lending_group"
_LOOKUP = {
    unicodedata.normalize("NFC", alias).strip().lower(): key for key, aliases in HEADERS.items() for alias in aliases
}


class ImportFileError(DomainError):
    """The file as a whole cannot be read (type, encoding, headers)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str  # msgid, with %(name)s placeholders filled from params
    value: str = ""
    params: tuple[tuple[str, Any], ...] = ()
    header: str = ""  # the column as the file named it (a Thai header), for people; `column` is the key

    @property
    def column_name(self) -> str:
        return self.header or self.column

    @property
    def column_label(self) -> str:
        """The file's header with the key beside it when they differ: "ราคา (price)", for the command line."""
        return self.column if self.column_name == self.column else f"{self.column_name} ({self.column})"

    def message(self, translate: Callable[[str], str] = lambda s: s) -> str:
        return translate(self.reason) % dict(self.params) if self.params else translate(self.reason)


@dataclass
class Plan:
    sha256: str
    rows: int
    creates: list[dict[str, Any]] = field(default_factory=list)
    updates: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # key -> the file's own header of that column
    # lending groups the file names that do not exist yet: name -> (category, model) of the first row naming it
    new_groups: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changes(self) -> int:
        return len(self.creates) + len(self.updates)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def read_table(data: bytes, filename: str = "") -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of a CSV (UTF-8, BOM or not) or XLSX file, decided by content, not name.

    An XLSX is checked by core.documents.archives before openpyxl reads it (entries, sizes, compression, sheets,
    shared strings) and streamed with the row and cell caps of the settings; a CSV has the same caps."""
    limits = Limits.from_config()
    if data.startswith(b"PK\x03\x04"):
        try:
            rows_iter = read_first_sheet(data, limits)
            header = next(rows_iter, None)
            if header is None:
                raise ImportFileError(N_("The file is empty."))
            rows = [[_cell(v) for v in row] for row in rows_iter]
        except ArchiveRefused as err:
            raise ImportFileError(err.message, **err.params) from None
        return [str(h or "") for h in header], rows
    if b"\x00" in data[:4096]:
        raise ImportFileError(N_("This is not a CSV or XLSX file."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError(N_("The CSV is not UTF-8. In Excel choose “CSV UTF-8” when saving.")) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = next(reader, None)
        if not names:
            raise ImportFileError(N_("The file is empty."))
        rows = []
        cells = len(names)
        for row in reader:
            if len(rows) >= limits.rows:  # this row would be one too many
                raise ImportFileError(N_("The file has more than %(n)d rows; split it."), n=limits.rows)
            cells += len(row)
            if cells > limits.cells:
                raise ImportFileError(
                    N_("The file has more than %(limit)s cells (MAX_IMPORT_CELLS); split it."),
                    limit=f"{limits.cells:,}",
                )
            rows.append(row)
    except csv.Error:  # a field over the csv module's 128 KiB, a NUL in the text
        raise ImportFileError(N_("The CSV cannot be read; save it again as “CSV UTF-8”.")) from None
    return names, rows


def uses_thai_headers(header: list[str]) -> bool:
    """True when the file names its columns in Thai: its errors then name missing columns in Thai too."""
    return any(any("\u0e00" <= ch <= "\u0e7f" for ch in str(name or "")) for name in header)


def file_headers(header: list[str], mapping: dict[int, str]) -> dict[str, str]:
    """Each mapped key → the header text the file itself used for it."""
    return {key: str(header[index]).strip() for index, key in mapping.items()}


def name_columns(errors: list[RowError], headers: dict[str, str]) -> list[RowError]:
    """The errors, each naming its column as the file did."""
    return [replace(e, header=headers.get(e.column, e.column)) for e in errors]


def map_headers(header: list[str]) -> dict[int, str]:
    """Column index → field, from English or Thai header names; unknown and missing columns raise."""
    mapping: dict[int, str] = {}
    unknown = []
    for index, name in enumerate(header):
        key = unicodedata.normalize("NFC", str(name)).strip().lower()
        if not key:
            continue
        fieldname = _LOOKUP.get(key)
        if fieldname is None:
            unknown.append(str(name))
        elif fieldname in mapping.values():
            raise ImportFileError(N_("The column %(column)s appears twice."), column=str(name).strip())
        else:
            mapping[index] = fieldname
    missing = [f for f in REQUIRED if f not in mapping.values()]
    if missing:
        thai = uses_thai_headers(header)
        raise ImportFileError(
            N_("Required columns are missing: %(columns)s"),
            columns=", ".join(HEADERS[f][1] if thai else f for f in missing),
        )
    if unknown:
        raise ImportFileError(N_("Unknown columns: %(columns)s"), columns=", ".join(unknown))
    return mapping


def plan_import(
    session: Session, data: bytes, filename: str = "", progress: Callable[[int], None] | None = None
) -> Plan:
    """Validate every row and compare it with the register; changes nothing."""
    header, rows = read_table(data, filename)
    mapping = map_headers(header)
    plan = Plan(
        sha256=hashlib.sha256(data).hexdigest(),
        rows=0,
        columns=list(mapping.values()),
        headers=file_headers(header, mapping),
    )
    existing = {
        row.asset_number: row
        for row in session.execute(select(Asset.id, Asset.lending_group_id, *[getattr(Asset, f) for f in FIELDS])).all()
    }
    groups = _GroupBook(session) if GROUP in plan.columns else None
    seen: dict[str, int] = {}
    for offset, row in enumerate(rows):
        rownum = offset + 2  # the header is row 1, as in Excel
        if not any(str(v).strip() for v in row if v is not None):
            continue
        plan.rows += 1
        raw = {fieldname: (row[i] if i < len(row) else "") for i, fieldname in mapping.items()}
        clean, errors = clean_asset_fields(raw, partial=True)
        for column, reason in errors.items():
            plan.errors.append(RowError(rownum, column, reason, str(raw.get(column, ""))[:100]))
        if errors:
            continue
        number = clean["asset_number"]
        if groups is not None:
            group_error = groups.take(rownum, raw.get(GROUP), clean, existing.get(number))
            if group_error is not None:
                plan.errors.append(group_error)
                continue
        if number in seen:
            plan.errors.append(
                RowError(
                    rownum,
                    "asset_number",
                    N_("the same asset number is on row %(row)d"),
                    number,
                    (("row", seen[number]),),
                )
            )
            continue
        seen[number] = rownum
        current = existing.get(number)
        if current is None:
            plan.creates.append({"lendable": True, **{f: _default(f) for f in FIELDS}, **clean})
        else:
            changes = {
                f: v
                for f, v in clean.items()
                if f != GROUP
                and getattr(current, f) != v
                and not (getattr(current, f) in (None, "") and v in (None, ""))
            }
            before = {f: getattr(current, f) for f in changes}
            if clean.get(GROUP) and current.lending_group_id is None:
                changes[GROUP] = clean[GROUP]  # joins a group; one already in a group was refused above
                before[GROUP] = None
            if changes:
                plan.updates.append((current.id, number, before, changes))
            else:
                plan.unchanged += 1
        if progress and plan.rows % 1000 == 0:
            progress(1000)
    if progress:
        progress(plan.rows % 1000)
    if groups is not None:
        plan.new_groups = groups.new
    plan.errors = name_columns(plan.errors, plan.headers)
    return plan


class _GroupBook:
    """The lending groups an import names, row by row: an existing group is joined by its name, a new one
    is set up with the category and model of the first row that names it. A group holds one category
    (lending by count promises identical items), and an asset already in a group is not moved by a list."""

    def __init__(self, session: Session):
        rows = session.execute(select(LendingGroup.id, LendingGroup.name, LendingGroup.category)).all()
        self.by_name = {r.name: (r.id, r.category) for r in rows}
        self.names = {r.id: r.name for r in rows}
        self.new: dict[str, tuple[str, str]] = {}
        self.first_row: dict[str, int] = {}

    def take(self, rownum: int, value: Any, clean: dict[str, Any], current: Any) -> RowError | None:
        """Check the row's group and put its name into `clean` (blank: the asset's group is left as it is)."""
        raw = str(value if value is not None else "")
        name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw)).strip()
        name = "".join(c for c in name if c.isprintable())
        if not name:
            return None
        if len(name) > GROUP_NAME_LIMIT:
            return RowError(rownum, GROUP, N_("too long"), raw[:100])
        held = current.lending_group_id if current is not None else None
        category = clean.get("category") or (current.category if current is not None else "")
        if name in self.by_name:
            group_id, group_category = self.by_name[name]
            if held == group_id:
                return None  # already a member: nothing to change
        else:
            group_id = None
            if name not in self.new:
                self.new[name] = (category, clean.get("model") or "")
                self.first_row[name] = rownum
            group_category = self.new[name][0]
        if held is not None:
            return RowError(
                rownum,
                GROUP,
                N_("the asset is in the group %(group)s already; take it out on the group's page first"),
                name,
                (("group", self.names.get(held, "")),),
            )
        if category != group_category:
            where = (("row", self.first_row[name]),) if group_id is None else ()
            reason = (
                N_("the group %(group)s is for the category %(category)s (set up by row %(row)d)")
                if group_id is None
                else N_("the group %(group)s is for the category %(category)s")
            )
            return RowError(rownum, GROUP, reason, name, (("group", name), ("category", group_category), *where))
        clean[GROUP] = name
        return None


def _default(fieldname: str) -> Any:
    return None if fieldname in ("acquired_on", "price") else ("" if fieldname != "lendable" else True)


def apply_import(
    session: Session,
    actor,
    data: bytes,
    filename: str = "",
    progress: Callable[[int], None] | None = None,
    before_commit: Callable[[Session, Plan], None] | None = None,
    check_progress: Callable[[int], None] | None = None,
) -> Plan:
    """Plan and apply in one write transaction; any bad row and nothing changes (the plan is returned).

    `check_progress(n)` is told of every n rows checked, `progress(n)` of every n rows written;
    `before_commit(session, plan)` runs inside the transaction (an import job marks itself done
    there, so the job is done exactly when the import is committed)."""
    if actor is not None and not permissions.can_import_assets(actor):
        raise Forbidden(N_("You may not do this."))
    with write(session):
        plan = plan_import(session, data, filename, progress=check_progress)
        if not plan.ok or not plan.changes:
            return plan
        group_ids = _set_up_groups(session, actor, plan)
        joined: dict[int, list[tuple[int, str]]] = {}  # group id -> the (asset id, number) that join it
        taken = set(session.execute(select(Asset.tag)).scalars())
        entries: list[tuple[Any, dict[str, Any]]] = []
        if plan.creates:
            values = []
            for planned in plan.creates:
                fields = {k: v for k, v in planned.items() if k != GROUP}
                if planned.get(GROUP):
                    fields["lending_group_id"] = group_ids[planned[GROUP]]
                tag = new_tag()
                while tag in taken:
                    tag = new_tag()
                taken.add(tag)
                values.append(
                    {
                        **fields,
                        "tag": tag,
                        "status": "available",
                        "status_note": "",
                        "search_text": compute_search_text({**fields, "tag": tag}),
                        "version": 1,
                    }
                )
            for start in range(0, len(values), 2000):
                chunk = values[start : start + 2000]
                ids = session.scalars(insert(Asset).returning(Asset.id, sort_by_parameter_order=True), chunk).all()
                entries.extend((("asset", i), {"after": v}) for i, v in zip(ids, chunk, strict=True))
                for i, v in zip(ids, chunk, strict=True):
                    if v.get("lending_group_id"):
                        joined.setdefault(v["lending_group_id"], []).append((i, v["asset_number"]))
                if progress:
                    progress(len(chunk))
        for asset_id, number, before, after in plan.updates:
            asset = known(session.get(Asset, asset_id), "asset")  # planned from the rows read in this transaction
            asset.apply({k: v for k, v in after.items() if k != GROUP})
            if after.get(GROUP):
                asset.lending_group_id = group_ids[after[GROUP]]
                joined.setdefault(asset.lending_group_id, []).append((asset.id, number))
            entries.append((asset, {"before": before, "after": after}))
        if plan.updates:
            session.flush()
            if progress:
                progress(len(plan.updates))
        created = [e for e in entries if e[1] and "before" not in e[1]]
        updated = [e for e in entries if e[1] and "before" in e[1]]
        record_many(session, actor, "asset.created", [(s, {**d, "import": plan.sha256}) for s, d in created])
        record_many(session, actor, "asset.updated", [(s, {**d, "import": plan.sha256}) for s, d in updated])
        for group in lock_groups(session, list(joined)):
            members = joined[group.id]
            record(
                session,
                actor,
                "lending_group.members_added",
                group,
                {"assets": [i for i, _n in members], "asset_numbers": [n for _i, n in members], "import": plan.sha256},
            )
        record(
            session,
            actor,
            "assets.imported",
            ("import", plan.sha256[:16]),
            {
                "sha256": plan.sha256,
                "filename": filename[:255],
                "rows": plan.rows,
                "created": len(plan.creates),
                "updated": len(plan.updates),
                "unchanged": plan.unchanged,
            },
        )
        if before_commit is not None:
            before_commit(session, plan)
        session.commit()
    if len(plan.creates) >= 1000:
        refresh_statistics(session)
        _merge_pending_search_entries(session)
    return plan


def _set_up_groups(session: Session, actor, plan: Plan) -> dict[str, int]:
    """Set up the groups the file names that do not exist yet (not offered to the public until the officer
    says so on the group's page); returns every named group's id by name."""
    names = {c[GROUP] for c in plan.creates if c.get(GROUP)} | {
        a[GROUP] for _i, _n, _b, a in plan.updates if a.get(GROUP)
    }
    if not names:
        return {}
    ids = dict(session.execute(select(LendingGroup.name, LendingGroup.id).where(LendingGroup.name.in_(names))).all())
    for name, (category, model) in plan.new_groups.items():
        if name in ids or name not in names:
            continue
        group = LendingGroup(name=name, category=category, model=model, description="", public=False, active=True)
        session.add(group)
        session.flush()
        record(session, actor, "lending_group.created", group, {"after": group.state(), "import": plan.sha256})
        ids[name] = group.id
    return ids


def _merge_pending_search_entries(session: Session) -> None:
    """PostgreSQL puts a GIN index's new entries on a pending list that every search reads in full until
    (auto)vacuum merges it: after 50,000 new assets a search took twice as long. Merge it now."""
    dialect, indexed = queries.search_support(session)
    if dialect != "postgresql" or not indexed:
        return
    try:
        session.execute(
            text(
                "SELECT gin_clean_pending_list(c.oid) FROM pg_class c WHERE c.relname = :name "
                "AND c.relnamespace = current_schema()::regnamespace"
            ),
            {"name": queries.PG_TRGM_INDEX},
        )
        session.commit()
    except DBAPIError as exc:  # the role does not own the index: autovacuum will do it
        session.rollback()
        log.warning("search index entries left for autovacuum to merge: %s", exc.orig)


def keep_import_file(session: Session, store: FileStore, data: bytes, filename: str, *, made_by_id: int) -> str:
    """Keep an uploaded list in the file store (named by its hash): applied later, and kept as the record."""
    mime = XLSX if data.startswith(b"PK") else "text/csv"
    with write(session) as s:
        digest = store_generated(s, store, data, filename, mime, made_by_id=made_by_id).sha256
        s.commit()
    return digest
