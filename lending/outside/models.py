"""Outside borrowers (a person, a community group, an agency) and their satisfaction survey answers.

Personal details live only in this table. The audit log names a party by `ref` (random, meaningless) and
never holds its name, phone, address or ID number, so anonymising a party later rewrites this row and
leaves every audit entry — and the chain's hashes — as they were.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.dates import to_arabic_digits
from core.db import N_, Audited, DomainError, Model, utcnow

PERSON, GROUP, AGENCY = "person", "group", "agency"
KINDS = (PERSON, GROUP, AGENCY)
KIND_NAMES = {PERSON: N_("Person"), GROUP: N_("Community group"), AGENCY: N_("Other agency")}

# How a request reached the office. `staff`: a user of the app for official use; `eservice`: the public
# e-service form; `counter`: an outsider at the office's counter, entered by an officer; `agency`: another
# agency's letter, entered by an officer.
STAFF, ESERVICE, COUNTER, AGENCY_LETTER = "staff", "eservice", "counter", "agency"
CHANNELS = (STAFF, ESERVICE, COUNTER, AGENCY_LETTER)
OUTSIDE_CHANNELS = (ESERVICE, COUNTER, AGENCY_LETTER)
CHANNEL_NAMES = {
    STAFF: N_("Staff"),
    ESERVICE: N_("Public e-service"),
    COUNTER: N_("At the counter"),
    AGENCY_LETTER: N_("Other agency"),
}

ANONYMISED = "—"  # what replaces a personal detail after the retention period
REF_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

_SPACES = re.compile(r"\s+")
LIMITS = {
    "name": 200,
    "contact_person": 200,
    "phone": 40,
    "email": 254,
    "address": 500,
    "village_no": 10,
    "village": 200,
    "subdistrict": 100,
    "district": 100,
    "province": 100,
    "letter_no": 100,
}


def new_ref(prefix: str, length: int = 8) -> str:
    """A random reference such as `P-7Q4M9XRT`: nothing to count or guess from it."""
    return prefix + "-" + "".join(secrets.choice(REF_ALPHABET) for _ in range(length))


def phone_key(raw: str) -> str:
    """The digits of a phone number, with +66 read as 0: `081-234 5678`, `+66812345678` are one key."""
    digits = re.sub(r"\D", "", to_arabic_digits(str(raw or "")))
    if digits.startswith("66") and len(digits) in (11, 10):
        digits = "0" + digits[2:]
    return digits


def check_phone(raw: str) -> str:
    key = phone_key(raw)
    if not (9 <= len(key) <= 10) or not key.startswith("0"):
        raise DomainError(N_("Give a Thai phone number of 9 or 10 digits, such as 081-234-5678."))
    return key


def national_id_valid(digits: str) -> bool:
    """The 13-digit Thai ID number with its check digit (mod 11)."""
    if not re.fullmatch(r"[0-9]{13}", digits):
        return False
    total = sum(int(d) * (13 - i) for i, d in enumerate(digits[:12]))
    return (11 - total % 11) % 10 == int(digits[12])


def mask_national_id(raw: str) -> str:
    """Only the last four digits kept: `x-xxxx-xxxx0-12-3`. The full number is never stored."""
    digits = re.sub(r"\D", "", to_arabic_digits(str(raw or "")))
    if not digits:
        return ""
    if not national_id_valid(digits):
        raise DomainError(N_("The ID card number is not a valid 13-digit number."))
    return f"x-xxxx-xxxx{digits[9]}-{digits[10:12]}-{digits[12]}"


def clean_text(value: Any, limit: int) -> str:
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", str(value if value is not None else ""))).strip()
    text = "".join(c for c in text if c.isprintable())
    if len(text) > limit:
        raise DomainError(N_("A field is too long (at most %(n)d characters)."), n=limit)
    return text


class OutsideParty(Audited, Model):
    """A borrower outside the office. `name` is the person's, the group's or the agency's name."""

    __tablename__ = "outside_parties"
    audit_type = "outside_party"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    name: Mapped[str] = mapped_column(String(200))
    contact_person: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_key: Mapped[str] = mapped_column(String(20), default="", index=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    village_no: Mapped[str] = mapped_column(String(10), default="")  # หมู่ที่
    village: Mapped[str] = mapped_column(String(200), default="")  # หมู่บ้าน
    subdistrict: Mapped[str] = mapped_column(String(100), default="")
    district: Mapped[str] = mapped_column(String(100), default="")
    province: Mapped[str] = mapped_column(String(100), default="")
    letter_no: Mapped[str] = mapped_column(String(100), default="")  # an agency's letter number
    national_id_masked: Mapped[str] = mapped_column(String(20), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_anonymised(self) -> bool:
        return self.anonymised_at is not None

    @property
    def display_name(self) -> str:
        if self.kind != PERSON and self.contact_person and self.contact_person != ANONYMISED:
            return f"{self.name} ({self.contact_person})"
        return self.name

    def postal_lines(self) -> list[str]:
        """The address as it goes on a letter."""
        place = []
        if self.village_no:
            place.append(f"หมู่ที่ {self.village_no}")
        if self.village:
            place.append(f"บ้าน{self.village}" if not self.village.startswith("บ้าน") else self.village)
        if self.subdistrict:
            place.append(f"ตำบล{self.subdistrict}")
        if self.district:
            place.append(f"อำเภอ{self.district}")
        if self.province:
            place.append(f"จังหวัด{self.province}")
        return [x for x in (self.address, " ".join(place)) if x]

    def audit_ref(self) -> dict[str, str]:
        """What an audit entry says about the party: its reference and kind, nothing personal."""
        return {"party": self.ref, "kind": self.kind}

    def anonymise(self, at: datetime) -> None:
        """Replace the contact details; a group's or an agency's own name is not personal and stays."""
        if self.anonymised_at is not None:
            raise DomainError(N_("These details were already anonymised."))
        if self.kind == PERSON:
            self.name = ANONYMISED
        for field in ("contact_person", "phone", "email", "address", "village", "national_id_masked"):
            setattr(self, field, ANONYMISED if getattr(self, field) else "")
        self.phone_key = ""
        self.anonymised_at = at


class LoanSurvey(Audited, Model):
    """The two-question satisfaction survey after a return: a score of 1–5 and a comment."""

    __tablename__ = "loan_surveys"
    audit_type = "loan_survey"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoanDeposit(Audited, Model):
    """The deposit (เงินประกัน) taken at the hand-over when the rules of the borrower's kind ask for one,
    and how it ended after the return: handed back, or in part kept toward the compensation of a damage or
    loss case of the same loan. `returned_amount + kept_amount == amount` once settled."""

    __tablename__ = "loan_deposits"
    audit_type = "loan_deposit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    receipt_no: Mapped[str] = mapped_column(String(60))
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    returned_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    kept_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), nullable=True)
    settle_note: Mapped[str] = mapped_column(Text, default="")
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    settled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_settled(self) -> bool:
        return self.settled_at is not None

    def state(self) -> dict[str, Any]:
        return {
            "amount": self.amount,
            "receipt_no": self.receipt_no,
            "returned_amount": self.returned_amount,
            "kept_amount": self.kept_amount,
            "incident": self.incident_id,
            "settle_note": self.settle_note,
        }

    def settle(self, by_id: int, at: datetime, returned: Decimal, kept: Decimal, incident_id: int | None, note: str):
        if self.is_settled:
            raise DomainError(N_("The deposit was settled already."))
        if returned < 0 or kept < 0:
            raise DomainError(N_("An amount cannot be negative."))
        if returned + kept != self.amount:
            raise DomainError(
                N_("What is handed back and what is kept must add up to the deposit, %(amount)s baht."),
                amount=f"{self.amount:,.2f}",
            )
        if kept > 0 and incident_id is None:
            raise DomainError(N_("Choose the damage or loss case the kept part goes toward."))
        self.returned_amount, self.kept_amount = returned, kept
        self.incident_id = incident_id if kept > 0 else None
        self.settle_note, self.settled_at, self.settled_by_id = note, at, by_id
