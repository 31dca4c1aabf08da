"""The asset register: assets, their normalised numbers and QR tags; field rules shared by forms and imports."""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.dates import bangkok_today, parse_date, to_arabic_digits
from core.db import N_, Audited, DomainError, Model, utcnow

AVAILABLE, ON_LOAN, IN_REPAIR, LOST, DISPOSED = "available", "on_loan", "in_repair", "lost", "disposed"
STATUSES = (AVAILABLE, ON_LOAN, IN_REPAIR, LOST, DISPOSED)
# Statuses an officer sets by hand; on_loan comes only from the lending workflow.
MANUAL_STATUSES = (AVAILABLE, IN_REPAIR, LOST, DISPOSED)

CATEGORIES = (
    "เต็นท์",
    "เก้าอี้",
    "โต๊ะ",
    "เครื่องฉายภาพ",
    "คอมพิวเตอร์",
    "กล้อง",
    "เครื่องเสียง",
    "ยานพาหนะ",
    "เครื่องใช้สำนักงาน",
    "อื่น ๆ",
)

TAG_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud and typed without doubt
TAG_LENGTH = 8

FIELDS = (
    "asset_number",
    "name",
    "category",
    "brand",
    "model",
    "serial_number",
    "acquired_on",
    "price",
    "location",
    "department",
    "lendable",
)
TEXT_LIMITS = {
    "asset_number": 40,
    "name": 200,
    "category": 100,
    "brand": 100,
    "model": 100,
    "serial_number": 100,
    "location": 200,
    "department": 200,
}
MAX_PRICE = Decimal("9999999999.99")

_DASHES = re.compile(r"[\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]")
_SPACES = re.compile(r"\s+")

_TRUE = {"1", "true", "yes", "y", "ได้", "ใช่", "ให้ยืมได้", "✓"}
_FALSE = {"0", "false", "no", "n", "ไม่ได้", "ไม่ใช่", "ไม่", "ห้ามยืม", "ไม่ให้ยืม"}


def normalise_asset_number(raw: str) -> str:
    """One spelling per number: Thai digits to Arabic, dashes unified, spaces dropped, letters upper."""
    text = unicodedata.normalize("NFKC", to_arabic_digits(str(raw or "")))
    text = _DASHES.sub("-", text)
    return _SPACES.sub("", text).upper()


def new_tag() -> str:
    return "".join(secrets.choice(TAG_ALPHABET) for _ in range(TAG_LENGTH))


def normalise_tag(raw: str) -> str:
    return (raw or "").strip().upper()


def search_key(text: str) -> str:
    """The form in which text is searched: NFC, lower case, Arabic digits, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", to_arabic_digits(text or ""))).strip().lower()


def parse_price(raw: Any) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, float):
        # A spreadsheet formula's 1070.0000000000002 is 1,070.00 on screen: take what Excel shows.
        raw = repr(round(raw, 2)) if abs(raw - round(raw, 2)) < 1e-6 else repr(raw)
    text = to_arabic_digits(str(raw)).strip().replace(",", "").replace("฿", "").replace("บาท", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(N_("not a number")) from None
    if not value.is_finite():
        raise ValueError(N_("not a number"))
    if value < 0:
        raise ValueError(N_("a price cannot be negative"))
    if value > MAX_PRICE:
        raise ValueError(N_("the price is implausibly large"))
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(N_("at most two decimals (satang)"))
    return value.quantize(Decimal("0.01"))


def parse_bool(raw: Any, default: bool = True) -> bool:
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(N_("use yes/no (ได้/ไม่ได้)"))


def clean_asset_fields(raw: dict[str, Any], *, partial: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate asset fields from a form or an import row: (clean values, {field: reason msgid}).

    With `partial`, only the fields present in `raw` are checked and returned (an import whose file lacks
    an optional column leaves that field alone).
    """
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in FIELDS:
        if partial and field not in raw:
            continue
        value = raw.get(field)
        try:
            if field == "asset_number":
                number = normalise_asset_number(value or "")
                if not number:
                    raise ValueError(N_("required"))
                if len(number) > TEXT_LIMITS[field]:
                    raise ValueError(N_("too long"))
                if not re.fullmatch(r"[0-9A-Z][0-9A-Z./_()-]*", number):
                    raise ValueError(N_("use digits, letters, dash, dot or slash"))
                clean[field] = number
            elif field == "acquired_on":
                day = parse_date(value)
                if day is not None and not (date(1950, 1, 1) <= day <= date(2200, 1, 1)):
                    raise ValueError(N_("the date is out of range"))
                clean[field] = day
            elif field == "price":
                clean[field] = parse_price(value)
            elif field == "lendable":
                clean[field] = parse_bool(value)
            else:
                text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(value if value is not None else ""))).strip()
                text = "".join(c for c in text if c.isprintable())
                if field in ("name", "category") and not text:
                    raise ValueError(N_("required"))
                if len(text) > TEXT_LIMITS[field]:
                    raise ValueError(N_("too long"))
                clean[field] = text
        except ValueError as e:
            message = str(e)
            if message not in _KNOWN_REASONS:  # parse_date's own wording names the raw value
                message = N_("not a valid date (use YYYY-MM-DD or DD/MM/YYYY in B.E.)")
            errors[field] = message
    return clean, errors


_KNOWN_REASONS = {
    "required",
    "too long",
    "use digits, letters, dash, dot or slash",
    "the date is out of range",
    "not a number",
    "a price cannot be negative",
    "the price is implausibly large",
    "at most two decimals (satang)",
    "use yes/no (ได้/ไม่ได้)",
}


class Asset(Audited, Model):
    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_category_number", "category", "asset_number"),
        Index("ix_assets_status_number", "status", "asset_number"),
        Index("ix_assets_department_number", "department", "asset_number"),
        # a lending group's usable and member counts, read from the index alone
        Index("ix_assets_group_status", "lending_group_id", "status", "lendable"),
    )
    audit_type = "asset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_number: Mapped[str] = mapped_column(String(40), unique=True)
    tag: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    brand: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(100), default="")
    serial_number: Mapped[str] = mapped_column(String(100), default="")
    acquired_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    lendable: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(20), default=AVAILABLE)
    status_note: Mapped[str] = mapped_column(Text, default="")
    photo_sha256: Mapped[str | None] = mapped_column(ForeignKey("stored_files.sha256"), nullable=True)
    lending_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("lending_groups.id"), nullable=True, index=True
    )  # lent by count with its like
    disposed_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # left the register on this day
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    def state(self) -> dict[str, Any]:
        """The audited fields, as plain values."""
        return {f: getattr(self, f) for f in (*FIELDS, "status", "status_note", "photo_sha256", "tag")}

    def apply(self, fields: dict[str, Any]) -> None:
        for key, value in fields.items():
            setattr(self, key, value)
        self.search_text = compute_search_text(self.state())

    def change_status(self, status: str, note: str, on: date | None = None) -> None:
        """A manual status change by an officer; on_loan is the lending workflow's alone."""
        if status not in MANUAL_STATUSES:
            raise DomainError(N_("This status cannot be set by hand."))
        if self.status == ON_LOAN:
            raise DomainError(N_("The asset is on loan; record its return first."))
        if self.status == DISPOSED and status != DISPOSED:
            raise DomainError(N_("A disposed asset has left the register and cannot come back."))
        if status == self.status:
            raise DomainError(N_("The asset already has this status."))
        self.status, self.status_note = status, note.strip()
        if status == DISPOSED:
            self.disposed_on = on or bangkok_today()


class AssetsVersion(Model):
    """One row: a token that the database's triggers change with every change to `assets` (migration 0018),
    so a process knows its cached register pages are current by reading one value."""

    __tablename__ = "assets_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(32))


def compute_search_text(values: dict[str, Any]) -> str:
    parts = [
        values.get("asset_number") or "",
        values.get("name") or "",
        values.get("serial_number") or "",
        values.get("location") or "",
        values.get("brand") or "",
        values.get("model") or "",
        values.get("tag") or "",
    ]
    return search_key(" | ".join(parts))
