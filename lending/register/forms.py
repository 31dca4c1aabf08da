"""Forms of the asset register."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.web.forms import DATE_PICK_HELP, BaseForm, BEDateInput, version_field
from lending.register.labels.sheet import LAYOUTS
from lending.register.models import CATEGORIES, MANUAL_STATUSES


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


STATUS_LABELS = {
    "available": _l("Available"),
    "on_loan": _l("On loan"),
    "in_repair": _l("In repair"),
    "lost": _l("Lost"),
    "disposed": _l("Disposed"),
}


class AssetForm(BaseForm):
    # Strings, not typed fields: the shared rules in lending.register.models parse Thai digits, B.E. dates and
    # "1,500.00", and report errors in the same words as the import.
    asset_number = StringField(
        _l("Asset number"),
        validators=[DataRequired(), Length(max=60)],
        description=_l("e.g. 416-59-0001; Thai digits are accepted"),
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category = StringField(_l("Category"), validators=[DataRequired(), Length(max=100)])
    brand = StringField(_l("Brand"), validators=[Optional(), Length(max=100)])
    model = StringField(_l("Model"), validators=[Optional(), Length(max=100)])
    serial_number = StringField(_l("Serial number"), validators=[Optional(), Length(max=100)])
    acquired_on = StringField(
        _l("Acquired on"), validators=[Optional(), Length(max=20)], widget=BEDateInput(), description=DATE_PICK_HELP
    )
    price = StringField(_l("Price (THB)"), validators=[Optional(), Length(max=30)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=200)])
    lendable = BooleanField(_l("May be lent"), default=True)
    version = version_field()

    categories = CATEGORIES


class StatusForm(BaseForm):
    status = SelectField(_l("New status"), choices=[])
    note = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    version = version_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = [(s, STATUS_LABELS[s]) for s in MANUAL_STATUSES]


class PhotoForm(BaseForm):
    photo = FileField(_l("Photo"), validators=[FileRequired()])


class ImportForm(BaseForm):
    file = FileField(_l("CSV or XLSX file"), validators=[FileRequired()])


class ApplyImportForm(BaseForm):
    sha256 = HiddenField(validators=[DataRequired(), Length(min=64, max=64)])


class LabelsForm(BaseForm):
    layout = SelectField(_l("Sticker sheet"), choices=[])
    start_at = IntegerField(
        _l("Labels already used on the first sheet (skipped)"),
        default=0,
        validators=[Optional(), NumberRange(min=0, max=39)],
    )
    ids = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.layout.choices = [(k, v.display_name) for k, v in LAYOUTS.items()]


class SynonymForm(BaseForm):
    """A group of terms that mean the same equipment (the office's search synonyms)."""

    terms = TextAreaField(
        _l("Terms that mean the same thing"),
        validators=[DataRequired(), Length(max=2000)],
        description=_l("Separate them with commas or put one on each line, e.g. เครื่องตัดหญ้า, ตัดหญ้า, lawn mower"),
    )


class DeleteForm(BaseForm):
    """Only the CSRF token, for a button that removes something."""
