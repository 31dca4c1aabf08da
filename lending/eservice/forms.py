"""The public forms (CSRF through Flask-WTF): the request, the tracking look-up, the survey, and the labels
their pages show. Sizes are checked here first (and again by the services)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from core.dates import parse_date
from core.web.edge import as_id
from core.web.forms import BaseForm
from lending.outside.models import AGENCY, GROUP, LIMITS, PERSON
from lending.outside.services import PartyDetails

HONEYPOT = "website"  # a field people never see; a form that fills it in is a robot's
MAX_PURPOSE, MAX_PLACE, MAX_COMMENT = 500, 300, 1000
MAX_COUNT = 2000
REF_PATTERN = r"^\s*[A-Za-z]-?[A-Za-z0-9]{6,12}\s*$"

KIND_CHOICES = [
    SelectChoice(PERSON, _l("A person")),
    SelectChoice(GROUP, _l("A community group, temple or school")),
    SelectChoice(AGENCY, _l("Another government agency")),
]

STATUS_LABELS = {
    "requested": _l("Received, being considered"),
    "approved": _l("Approved: collect the items at the office"),
    "checked_out": _l("Handed over to you"),
    "returned": _l("Returned, thank you"),
    "rejected": _l("Not approved"),
    "cancelled": _l("Cancelled"),
}
SCORE_LABELS = {
    1: _l("Very dissatisfied"),
    2: _l("Dissatisfied"),
    3: _l("Neither"),
    4: _l("Satisfied"),
    5: _l("Very satisfied"),
}


def _text(label, limit: int, required: bool = False, **kw):
    checks = [DataRequired(message=_l("This field is required."))] if required else [Optional()]
    return StringField(label, validators=[*checks, Length(max=limit)], **kw)


class RequestForm(BaseForm):
    """The request: who borrows, when, for what and where; the counts come as `qty-<group id>` fields."""

    kind = RadioField(
        _l("Who borrows"),
        choices=KIND_CHOICES,
        default=PERSON,
        validators=[InputRequired(message=_l("Choose who borrows."))],
    )
    name = _text(_l("Name (a person's full name, or the group's or agency's name)"), LIMITS["name"], True)
    contact_person = _text(_l("Contact person (for a group or an agency)"), LIMITS["contact_person"])
    letter_no = _text(_l("Letter number (for an agency)"), LIMITS["letter_no"])
    phone = StringField(
        _l("Mobile phone"),
        validators=[
            DataRequired(message=_l("This field is required.")),
            Length(max=LIMITS["phone"]),
            Regexp(
                r"^[0-9๐-๙+\-\s().]{9,20}$",
                message=_l("Give a Thai phone number of 9 or 10 digits, such as 081-234-5678."),
            ),
        ],
    )
    email = StringField(
        _l("E-mail (optional: for news of the request)"),
        validators=[
            Optional(),
            Length(max=LIMITS["email"]),
            Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("The e-mail address is not valid.")),
        ],
    )
    address = _text(_l("House number and street"), LIMITS["address"])
    village_no = _text(_l("Village no. (หมู่ที่)"), LIMITS["village_no"])
    village = _text(_l("Village"), LIMITS["village"])
    subdistrict = _text(_l("Subdistrict"), LIMITS["subdistrict"])
    district = _text(_l("District"), LIMITS["district"])
    province = _text(_l("Province"), LIMITS["province"])
    start_on = StringField(
        _l("First day of use"), validators=[DataRequired(message=_l("Choose the dates.")), Length(max=20)]
    )
    end_on = StringField(
        _l("Day of return"), validators=[DataRequired(message=_l("Choose the dates.")), Length(max=20)]
    )
    purpose = TextAreaField(
        _l("What the items are for (the event)"),
        validators=[DataRequired(message=_l("This field is required.")), Length(max=MAX_PURPOSE)],
    )
    place = _text(_l("Where they will be used"), MAX_PLACE, True)
    consent = BooleanField(
        _l("I have read what is collected and why (above), and the conditions of the loan."),
        validators=[DataRequired(message=_l("Tick the box to send the request."))],
    )
    website = StringField(_l("Leave this field empty"), validators=[Optional(), Length(max=200)])


class TrackForm(BaseForm):
    ref = StringField(
        _l("Reference number"),
        validators=[
            DataRequired(message=_l("This field is required.")),
            Length(max=20),
            Regexp(REF_PATTERN, message=_l("A reference looks like K-7Q4M9XRT.")),
        ],
    )
    phone = StringField(
        _l("Mobile phone given in the request"),
        validators=[DataRequired(message=_l("This field is required.")), Length(max=LIMITS["phone"])],
    )


class SurveyForm(BaseForm):
    score = RadioField(
        _l("How satisfied are you with the service?"),
        choices=[SelectChoice(str(k), str(k)) for k in range(5, 0, -1)],
        validators=[InputRequired(message=_l("Choose a score from 1 to 5."))],
    )
    comment = TextAreaField(
        _l("What should we do better? (optional)"), validators=[Optional(), Length(max=MAX_COMMENT)]
    )


class CancelForm(BaseForm):
    reason = _text(_l("Reason (optional)"), 300)


class EmptyForm(BaseForm):
    """Only its CSRF token: buttons that POST."""


# --- what a sent request form says, as the services take it ----------------------------------------


QTY_FIELD = re.compile(r"^qty-([0-9]{1,12})$")


def requested_counts(fields: Iterable[tuple[str, str]], rows) -> tuple[list[tuple[int, int]], str]:
    """The counts asked for, from the form's `qty-<group id>` fields; a message for anything that is not a count."""
    offered = {r.id for r in rows}
    lines: list[tuple[int, int]] = []
    for key, value in fields:
        match = QTY_FIELD.match(key)
        if not match:
            continue
        group_id = as_id(match.group(1))
        text = (value or "").strip()
        if not text:
            continue
        if not text.isascii() or not text.isdigit() or len(text) > 5 or int(text) > MAX_COUNT:
            return [], _("Counts are whole numbers from 0 to %(n)d.", n=MAX_COUNT)
        if group_id is None or group_id not in offered:
            return [], _("One of the chosen items is not offered.")
        if int(text):
            lines.append((group_id, int(text)))
    if not lines:
        return [], _("Choose at least one item.")
    return lines, ""


def form_dates(form: RequestForm) -> tuple[date | None, date | None, str]:
    try:
        start, end = parse_date(form.start_on.data), parse_date(form.end_on.data)
    except ValueError:
        return None, None, _("Dates are written as DD/MM/YYYY (B.E.) or picked from the calendar.")
    if start is None or end is None:
        return None, None, _("Choose the dates.")
    return start, end, ""


_AREA_PREFIXES = {"subdistrict": ("ตำบล", "ต."), "district": ("อำเภอ", "อ."), "province": ("จังหวัด", "จ.")}


def area_name(value: str | None, kind: str) -> str:
    """A subdistrict, district or province as its name only: the address prints "ตำบล…", "อำเภอ…"."""
    text = (value or "").strip()
    for prefix in _AREA_PREFIXES[kind]:
        if text.startswith(prefix) and len(text) > len(prefix):
            return text[len(prefix) :].strip()
    return text


def party_of(form: RequestForm) -> PartyDetails:
    return PartyDetails(
        kind=form.kind.data,
        name=form.name.data or "",
        phone=form.phone.data or "",
        contact_person=form.contact_person.data or "",
        email=(form.email.data or "").strip(),
        address=form.address.data or "",
        village_no=form.village_no.data or "",
        village=form.village.data or "",
        subdistrict=area_name(form.subdistrict.data, "subdistrict"),
        district=area_name(form.district.data, "district"),
        province=area_name(form.province.data, "province"),
        letter_no=form.letter_no.data or "",
    )
