"""Forms for login, passwords, people and settings (CSRF through Flask-WTF)."""

from __future__ import annotations

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, DateInput, ListWidget

from core.dates import format_date, parse_date
from core.people.permissions import ROLES

DATE_PICK_HELP = _l("Pick the day from the calendar; it is shown below in the Buddhist Era.")


class BEDateInput(DateInput):
    """The browser's own date picker, with the chosen day shown beside it as a B.E. date.

    The input's value is ISO (what a date input holds); whatever the field carries — a date, Thai
    "DD/MM/YYYY" in B.E., ISO — is shown as that day. static/js/be-date.js updates the B.E. line as the
    person picks; without script the line shows the day the page was given, and the server reads ISO or
    DD/MM/YYYY either way (a browser without a date picker shows a text box)."""

    input_type = "date"

    def __call__(self, field, **kwargs):
        raw = field._value()
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        field_id = kwargs.get("id", field.id)
        kwargs["value"] = day.isoformat() if day else raw
        kwargs.setdefault("data-kp-be-date", "")
        kwargs.pop("inputmode", None)
        kwargs.pop("placeholder", None)
        described = " ".join(x for x in (kwargs.get("aria-describedby", ""), f"{field_id}-be") if x)
        kwargs["aria-describedby"] = described
        from core.i18n import lang  # core.i18n reads the request's language

        shown = format_date(day, lang()) if day else ""
        line = Markup('<div class="form-text kp-be-date" id="{}-be" aria-live="polite">{}</div>').format(
            field_id, shown
        )  # format() escapes both
        return super().__call__(field, **kwargs) + line


class _CatalogueTranslations:
    """WTForms' own messages ("This field is required.") looked up in the app's catalogue, in the
    language of the page: WTForms ships no Thai, so Flask-WTF's i18n hook would leave them English.
    The messages are listed in core.form_messages."""

    def gettext(self, string: str) -> str:
        return get_translations().ugettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return get_translations().ungettext(singular, plural, n)


class BaseForm(FlaskForm):
    """Every form of the app: Flask-WTF's CSRF, and validation messages in the person's language."""

    class Meta:
        def get_translations(self, form):
            return _CatalogueTranslations()


def version_field() -> HiddenField:
    """The version of the record the page showed: digits only (ASCII), or the form is invalid."""
    return HiddenField(
        validators=[
            Optional(),
            Regexp(
                r"^[0-9]{1,9}$",
                message=_l("Someone else changed this record after you opened it. Reload and try again."),
            ),
        ]
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def role_choices():
    labels = {
        "staff": _l("Staff (borrower)"),
        "supply_officer": _l("Supply officer"),
        "head": _l("Head of agency / delegate"),
        "auditor": _l("Internal auditor"),
        "admin": _l("Administrator"),
    }
    return [(r, labels[r]) for r in ROLES]


class LoginForm(BaseForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    next = HiddenField()


class ChangePasswordForm(BaseForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=256)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=256)])
    confirm = PasswordField(
        _l("Repeat the new password"), validators=[DataRequired(), EqualTo("new", message=_l("The passwords differ."))]
    )


class UserForm(BaseForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(max=64),
            Regexp(r"^[A-Za-z0-9._-]+$", message=_l("Letters, digits, . _ - only.")),
        ],
    )
    name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=200)])
    position = StringField(_l("Position"), validators=[Optional(), Length(max=200)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=200)])
    email = StringField(_l("Email"), validators=[Optional(), Length(max=254)])
    roles = MultiCheckboxField(_l("Roles"), choices=[], validators=[DataRequired()])
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(min=8, max=256)])
    version = version_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.roles.choices = role_choices()


class ResetPasswordForm(BaseForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=256)])


class EmptyForm(BaseForm):
    """A form with only its CSRF token, for buttons that POST."""


class SettingsForm(BaseForm):
    agency_name = StringField(_l("Agency name"), validators=[DataRequired(), Length(max=200)])
    agency_short = StringField(_l("Short name"), validators=[Optional(), Length(max=100)])
    district = StringField(_l("District"), validators=[Optional(), Length(max=100)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=100)])
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)])
    supply_unit = StringField(_l("Supply unit"), validators=[Optional(), Length(max=200)])
    head_approval_threshold = DecimalField(
        _l("Head's approval from (THB)"), places=2, validators=[DataRequired(), NumberRange(min=0, max=100_000_000)]
    )
    head_approval_off_premises = BooleanField(_l("Use outside the office needs the head's approval"))
    default_loan_days = IntegerField(
        _l("Default loan length (days)"), validators=[DataRequired(), NumberRange(min=1, max=365)]
    )
    thai_digits_in_documents = BooleanField(_l("Thai digits in official documents"))
    strip_gps_from_photos = BooleanField(_l("Remove the GPS location from uploaded photos"))
    report_reporter_name = StringField(_l("Reported by: name"), validators=[Optional(), Length(max=200)])
    report_reporter_position = StringField(_l("Reported by: position"), validators=[Optional(), Length(max=200)])
    report_certifier_name = StringField(_l("Certified by: name"), validators=[Optional(), Length(max=200)])
    report_certifier_position = StringField(_l("Certified by: position"), validators=[Optional(), Length(max=200)])
