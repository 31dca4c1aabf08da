"""Forms of outside lending on the office's side: a request entered at the counter or from an agency's
letter, and the rules per kind of borrower."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from core.web.forms import BaseForm
from lending.loans.forms import DATE_HELP, BEDateField
from lending.outside.models import AGENCY_LETTER, COUNTER, KIND_NAMES, KINDS, LIMITS


class OutsideRequestForm(BaseForm):
    """The paper request (แบบคำขอยืม) of an outsider, typed in by the officer; counts come as count-<group id>."""

    channel = RadioField(
        _l("How the request came"),
        choices=[
            SelectChoice(COUNTER, _l("At the counter")),
            SelectChoice(AGENCY_LETTER, _l("Letter from another agency")),
        ],
        default=COUNTER,
    )
    kind = RadioField(_l("Borrower"), choices=[SelectChoice(k, _l(KIND_NAMES[k])) for k in KINDS], default="person")
    name = StringField(_l("Name (person, group or agency)"), validators=[DataRequired(), Length(max=LIMITS["name"])])
    contact_person = StringField(_l("Contact person"), validators=[Optional(), Length(max=LIMITS["contact_person"])])
    phone = StringField(_l("Phone"), validators=[DataRequired(), Length(max=LIMITS["phone"])])
    email = StringField(_l("E-mail (optional)"), validators=[Optional(), Length(max=LIMITS["email"])])
    address = StringField(_l("House number and road"), validators=[Optional(), Length(max=LIMITS["address"])])
    village_no = StringField(_l("Moo (village number)"), validators=[Optional(), Length(max=LIMITS["village_no"])])
    village = StringField(_l("Village"), validators=[Optional(), Length(max=LIMITS["village"])])
    subdistrict = StringField(_l("Subdistrict"), validators=[Optional(), Length(max=LIMITS["subdistrict"])])
    district = StringField(_l("District"), validators=[Optional(), Length(max=LIMITS["district"])])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=LIMITS["province"])])
    letter_no = StringField(_l("Letter number"), validators=[Optional(), Length(max=LIMITS["letter_no"])])
    national_id = StringField(
        _l("ID card number (optional)"),
        validators=[Optional(), Length(max=20)],
        description=_l("Checked, then only the last four digits are kept."),
    )
    purpose = TextAreaField(_l("Purpose"), validators=[DataRequired(), Length(max=2000)])
    place = StringField(_l("Place of use"), validators=[DataRequired(), Length(max=300)])
    start_on = BEDateField(_l("From"), validators=[InputRequired()], description=DATE_HELP)
    due_on = BEDateField(_l("Return by"), validators=[InputRequired()], description=DATE_HELP)


class RulesForm(BaseForm):
    """The rules per kind; each kind's fields are named <kind>-max_days, <kind>-head_approval ..."""

    retention = IntegerField(
        _l("Keep outside borrowers' contact details (years after their last loan)"),
        validators=[InputRequired(), NumberRange(min=0, max=50)],
        description=_l("0: the loan record's retention period."),
    )


def rule_fields() -> dict[str, dict[str, object]]:
    """The per-kind fields, for the template and the view."""
    return {
        kind: {
            "max_days": IntegerField,
            "head_approval": BooleanField,
            "deposit": BooleanField,
            "deposit_note": StringField,
            "categories": StringField,
        }
        for kind in KINDS
    }


class DepositSettleForm(BaseForm):
    """After the return: the deposit handed back and the part kept toward a damage or loss case."""

    returned = StringField(_l("Handed back (baht)"), validators=[InputRequired(), Length(max=20)])
    kept = StringField(_l("Kept toward a case (baht)"), validators=[Optional(), Length(max=20)])
    incident = HiddenField()  # a select in the template; the service checks it is one of the loan's cases
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])


class OfficeCancelForm(BaseForm):
    """The office cancels an outside request before the hand-over; the borrower reads the reason."""

    reason = TextAreaField(
        _l("Reason for cancelling (the borrower reads it)"), validators=[DataRequired(), Length(max=2000)]
    )
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])
