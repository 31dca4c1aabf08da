"""Forms of the lending workflow (CSRF through Flask-WTF) and the labels its pages show.

Every form that changes a loan or a case carries the record's `version`, which the route passes to the
service, so a stale page or a second click is refused instead of acting twice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from core.dates import format_numeric, parse_date
from core.web.edge import to_id
from core.web.forms import DATE_PICK_HELP, BaseForm, BEDateInput
from lending.loans.models import CONDITIONS, MAX_ITEMS, Incident
from lending.loans.services import ItemReturn
from lending.register.models import parse_price

LOAN_STATUS_LABELS = {
    "requested": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "checked_out": _l("Handed over"),
    "returned": _l("Returned"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Cancelled"),
}

CONDITION_LABELS = {
    "good": _l("Good"),
    "damaged": _l("Damaged"),
    "lost": _l("Lost"),
}

RESOLUTION_LABELS = {
    "repaired": _l("Repaired at the borrower's cost"),
    "replaced": _l("Replaced in kind"),
    "paid": _l("Paid its value"),
    "written_off": _l("Written off (head of agency)"),
}

INCIDENT_KIND_LABELS = {"damaged": _l("Damaged"), "lost": _l("Lost")}
INCIDENT_STATUS_LABELS = {"open": _l("Open"), "settled": _l("Settled")}
DEMAND_CHANNEL_LABELS = {"mail": _l("E-mail (daily run)"), "letter": _l("Letter"), "ledger": _l("Paper ledger")}

DATE_HELP = _l("DD/MM/YYYY (B.E.) or YYYY-MM-DD")


class BEDateField(Field):
    """A date picked in the browser's date picker (ISO) or typed as DD/MM/YYYY with a B.E. year (Thai digits
    too); shown with its B.E. date beside it."""

    widget = BEDateInput()

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return format_numeric(self.data) if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        try:
            self.data = parse_date(valuelist[0])
        except ValueError:
            raise ValueError(_l("Not a date: use DD/MM/YYYY (B.E.) or YYYY-MM-DD.")) from None


class LoanRequestForm(BaseForm):
    """The written request (ใบยืมพัสดุ): items, official purpose, place, dates."""

    assets = SelectMultipleField(_l("Items"), coerce=to_id, validate_choice=False)
    q = StringField(_l("Find lendable items"), validators=[Optional(), Length(max=100)])
    free_only = BooleanField(_l("Only items free on the dates of this request"))
    purpose = TextAreaField(
        _l("Official purpose"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l(
            "Government property may be lent only for the agency's work "
            "(official use only, Ministry of Finance regulation on "
            "procurement and supplies B.E. 2560, clause 207). State the "
            "task or event the items are for."
        ),
    )
    place = StringField(_l("Place of use"), validators=[DataRequired(), Length(max=300)])
    off_premises = BooleanField(
        _l("Used outside the office premises"),
        description=_l("Taking property outside the premises needs the head of agency's approval."),
    )
    start_on = BEDateField(_l("From"), validators=[InputRequired()], description=DATE_PICK_HELP)
    due_on = BEDateField(_l("Return by"), validators=[InputRequired()], description=DATE_PICK_HELP)

    # Which fields each button needs: searching and checking must not complain about an empty purpose.
    NEEDS = {
        "search": {"csrf_token", "q", "free_only"},
        "check": {"csrf_token", "q", "free_only", "assets", "start_on", "due_on"},
        "send": None,
    }

    def chosen_ids(self) -> list[int]:
        return sorted({int(i) for i in (self.assets.data or []) if int(i) > 0})[:MAX_ITEMS]

    def validate_for(self, action: str) -> bool:
        """Validate only what `action` needs; errors of the other fields are dropped."""
        self.validate()
        needed = self.NEEDS.get(action, None)
        ok = True
        for name, fld in self._fields.items():
            if needed is not None and name not in needed:
                fld.errors = []
            elif fld.errors:
                ok = False
        return ok


class VersionForm(BaseForm):
    """A button that acts on a record at the version the page showed."""

    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])

    @property
    def version_value(self) -> int:
        return int(self.version.data)


class ApproveForm(VersionForm):
    """Approve the request; ticking items in `drop` approves the rest without them (a partial approval)."""

    drop = SelectMultipleField(_l("Leave out"), coerce=to_id, validate_choice=False)
    drop_reason = TextAreaField(
        _l("Why these items are left out"),
        validators=[Optional(), Length(max=2000)],
        description=_l("The borrower reads this on the loan page and in the notification."),
    )

    def drop_ids(self) -> list[int]:
        return sorted({int(i) for i in (self.drop.data or []) if int(i) > 0})


class RejectForm(VersionForm):
    reason = TextAreaField(_l("Reason for the rejection"), validators=[DataRequired(), Length(max=2000)])


class CancelForm(VersionForm):
    reason = TextAreaField(_l("Reason (optional)"), validators=[Optional(), Length(max=2000)])


class HandOverForm(VersionForm):
    note = TextAreaField(
        _l("Condition at hand-over"),
        validators=[Optional(), Length(max=2000)],
        description=_l("What the borrower receives and in what state: scratches, accessories, quantities."),
    )
    photos = MultipleFileField(_l("Photos (optional)"))


class ConfirmReceiptForm(VersionForm):
    pass


class DemandForm(VersionForm):
    pass


class ReceiveForm(VersionForm):
    """Items received back; each item's condition, note and photos are fields named by the item's id."""

    def returns(self, form_data: Any, files: Any, open_item_ids: list[int]) -> list[ItemReturn]:
        out = []
        for item_id in open_item_ids:
            condition = (form_data.get(f"condition-{item_id}") or "").strip()
            if condition not in CONDITIONS:
                continue  # still out
            note = (form_data.get(f"note-{item_id}") or "")[:2000]
            photos = tuple((f.read(), f.filename or "") for f in files.getlist(f"photo-{item_id}") if f and f.filename)
            out.append(ItemReturn(item_id=item_id, condition=condition, note=note, photos=photos))
        return out

    @staticmethod
    def missing_notes(returns: list[ItemReturn], loan: Any) -> dict[int, str]:
        """Item id → the message naming it, for each item marked damaged or lost without a note."""
        numbers = {i.id: i.asset.asset_number for i in loan.items}
        return {
            r.item_id: _(
                "%(number)s is marked damaged or lost: describe the damage or the loss.",
                number=numbers.get(r.item_id, r.item_id),
            )
            for r in returns
            if r.condition != "good" and not r.note.strip()
        }

    @staticmethod
    def sent_values(form_data: Any, loan: Any) -> dict[int, tuple[str, str]]:
        """Item id → (condition, note) as sent, so a refused form comes back as it was filled in."""
        return {
            i.id: ((form_data.get(f"condition-{i.id}") or "").strip(), (form_data.get(f"note-{i.id}") or "")[:2000])
            for i in loan.items
        }


class SettleForm(VersionForm):
    resolution = SelectField(_l("How the case ends"), choices=[])
    amount = StringField(_l("Amount paid (THB)"), validators=[Optional(), Length(max=30)])
    note = TextAreaField(
        _l("Note"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Receipt or slip number, the repair shop, or the reason for a write-off."),
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.resolution.choices = [(r, RESOLUTION_LABELS[r]) for r in Incident.RESOLUTIONS]

    def amount_value(self) -> Decimal | None:
        """The amount as Decimal (Thai digits and 1,500.00 accepted); ValueError when it is not a number."""
        return parse_price(self.amount.data)


class DocumentForm(BaseForm):
    file = FileField(_l("Document (PDF or image)"), validators=[FileRequired()])
    title = StringField(_l("Title"), validators=[Optional(), Length(max=255)])


class PlainForm(BaseForm):
    """Only the CSRF token, for buttons that POST."""
