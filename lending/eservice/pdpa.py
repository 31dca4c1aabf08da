"""The notice about personal data (PDPA) that the request form shows: what is collected, why, who sees it,
for how long, and the borrower's rights. English msgids, translated where shown; the retention comes from
the settings (lending.outside.rules.retention_years)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from core.db import N_
from lending.outside.rules import retention_years

SHORT = N_(
    "We collect your name, phone number, address and (if you give it) e-mail only to handle this "
    "request. Only the office's staff see them; they are kept %(years)d years after the loan ends and "
    "then anonymised."
)
SECTIONS = (
    (
        N_("What we collect"),
        N_(
            "Your name, mobile phone number and address (house number, village no., village, subdistrict), and "
            "an e-mail address if you give one; for a community group or an agency also the contact person and "
            "the letter number. This form does not ask for your ID card number."
        ),
    ),
    (
        N_("Why"),
        N_(
            "To consider your request, to contact you about it, to hand over and take back the items, and to "
            "follow up damage or loss as the procurement regulation requires: the office's legal duty and the loan "
            "you ask for."
        ),
    ),
    (
        N_("Who sees it"),
        N_(
            "Only the office's staff who handle, approve or audit loans. It is never shown on a public page and is "
            "not given to anyone else unless a law requires it. The office's audit log names your request by a "
            "reference, not by your name."
        ),
    ),
    (
        N_("How long"),
        N_(
            "%(years)d years after your last loan ends (the retention period of the office's loan records). Then "
            "your name and contact details are anonymised; only the record of the loan stays."
        ),
    ),
    (
        N_("Your rights"),
        N_(
            "You may ask to see or correct your data, and withdraw a request until the items are handed over (on "
            "the tracking page). Contact: %(contact)s."
        ),
    ),
)


def notice(settings: dict[str, Any]) -> dict[str, Any]:
    """The notice in the page's language, filled with the years kept and whom to contact."""
    unit = str(settings.get("supply_unit") or "")
    agency = str(settings.get("agency_name") or "")
    phone = str(settings.get("phone") or "")
    values = {"years": retention_years(settings), "contact": " ".join(x for x in (unit, agency, phone) if x)}
    return {
        "years": values["years"],
        "short": _(SHORT, years=values["years"]),
        "sections": [
            (_(title), _(text, **{k: v for k, v in values.items() if f"%({k})" in text})) for title, text in SECTIONS
        ],
    }
