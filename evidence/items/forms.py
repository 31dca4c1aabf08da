"""Forms of the evidence register: upload, edit an item, publish or withdraw it; publish the year's report."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import MultipleFileField
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from core.web.forms import BaseForm
from evidence.items.models import INTERNAL, PUBLIC
from evidence.measures.forms import CodeCheckboxes

VISIBILITY_LABELS = {INTERNAL: _l("Internal"), PUBLIC: _l("Published")}


class UploadForm(BaseForm):
    files = MultipleFileField(_l("Files"))
    fiscal_year = HiddenField(validators=[DataRequired(), Regexp(r"^\d{4}$")])
    indicators = CodeCheckboxes(_l("Indicators"), choices=[])
    title = StringField(
        _l("Title"), validators=[Optional(), Length(max=300)], description=_l("Leave blank to use each file's name.")
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    loan_id = HiddenField()
    asset_id = HiddenField()
    incident_id = HiddenField()
    measure_id = HiddenField()


class EditEvidenceForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=5000)])
    indicators = CodeCheckboxes(_l("Indicators"), choices=[])


class VisibilityForm(BaseForm):
    public = HiddenField(validators=[DataRequired(), Regexp(r"^[01]$")])


class PublishReportForm(BaseForm):
    """Publish the year's report as evidence of its measures-report item (CSRF only)."""
