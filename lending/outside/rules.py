"""The lending rules per kind of outside borrower, kept in the agency settings (`outside_lending_rules`).

For each kind (person, community group, other agency): which categories may go out (none listed: every
category of the groups offered to the public), the longest loan in days, whether the head must approve
(by default always, since the items leave the office), and whether a deposit is asked (with its note).
Personal details of outside borrowers are kept `outside_data_retention_years` after their last loan ends;
0 means the loan record's own retention period, RECORD_RETENTION_YEARS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lending.outside.models import AGENCY, GROUP, KINDS, PERSON

# The loan record's retention period: the general period of the office's documents (งานสารบรรณ, at
# least 10 years) — to confirm against the agency's own schedule of documents.
RECORD_RETENTION_YEARS = 10
MAX_RULE_DAYS = 90

DEFAULT_RULES: dict[str, dict[str, Any]] = {
    PERSON: {"categories": [], "max_days": 7, "head_approval": True, "deposit": False, "deposit_note": ""},
    GROUP: {"categories": [], "max_days": 7, "head_approval": True, "deposit": False, "deposit_note": ""},
    AGENCY: {"categories": [], "max_days": 30, "head_approval": True, "deposit": False, "deposit_note": ""},
}


@dataclass(frozen=True)
class KindRule:
    kind: str
    categories: tuple[str, ...]  # empty: any category offered to the public
    max_days: int
    head_approval: bool
    deposit: bool
    deposit_note: str

    def allows_category(self, category: str) -> bool:
        return not self.categories or category in self.categories


def rules_for(settings: dict[str, Any], kind: str) -> KindRule:
    """The rule for one kind of borrower: the settings' values over the defaults."""
    stored = settings.get("outside_lending_rules") or {}
    raw = {**DEFAULT_RULES[kind], **(stored.get(kind) or {} if isinstance(stored, dict) else {})}
    try:
        max_days = max(1, min(int(raw.get("max_days") or 1), MAX_RULE_DAYS))
    except (TypeError, ValueError):
        max_days = DEFAULT_RULES[kind]["max_days"]
    return KindRule(
        kind=kind,
        categories=tuple(str(c) for c in raw.get("categories") or ()),
        max_days=max_days,
        head_approval=bool(raw.get("head_approval", True)),
        deposit=bool(raw.get("deposit")),
        deposit_note=str(raw.get("deposit_note") or ""),
    )


def all_rules(settings: dict[str, Any]) -> dict[str, KindRule]:
    return {kind: rules_for(settings, kind) for kind in KINDS}


def retention_years(settings: dict[str, Any]) -> int:
    """Years the contact details of an outside borrower are kept after their last loan ends."""
    try:
        years = int(settings.get("outside_data_retention_years") or 0)
    except (TypeError, ValueError):
        years = 0
    return years if years > 0 else RECORD_RETENTION_YEARS
