"""Forms of lending by count: a group, its members, a staff request by count, picking, the return by count."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp

from core.web.edge import as_id
from core.web.forms import BaseForm
from lending.loans.forms import DATE_HELP, BEDateField

MAX_CODES = 2000


class GroupForm(BaseForm):
    name = StringField(
        _l("Name of the group"),
        validators=[DataRequired(), Length(max=200)],
        description=_l("As the public reads it, e.g. “Plastic chairs”."),
    )
    category = StringField(_l("Category"), validators=[DataRequired(), Length(max=100)])
    model = StringField(_l("Model"), validators=[Optional(), Length(max=100)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    public = BooleanField(_l("Lent to people and agencies outside the office (shown on the e-service)"))
    active = BooleanField(_l("In use"), default=True)
    version = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,9}$")])


class GroupPhotoForm(BaseForm):
    photo = FileField(_l("Photo"), validators=[FileRequired()])
    version = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,9}$")])


class GroupPhotoRemoveForm(BaseForm):
    """Taking the photo down names the version the page showed, so a photo put up meanwhile is not lost."""

    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])


class MembersForm(BaseForm):
    codes = TextAreaField(
        _l("Asset numbers or tags"),
        validators=[DataRequired(), Length(max=60000)],
        description=_l("One per line or separated by commas; a run as 416-59-0001..0150."),
    )
    remove = BooleanField(_l("Take these out of the group"))


class CountRequestForm(BaseForm):
    """A staff member's request for counts from groups (the counts come as count-<group id> fields)."""

    purpose = TextAreaField(_l("Official purpose"), validators=[DataRequired(), Length(max=2000)])
    place = StringField(_l("Place of use"), validators=[DataRequired(), Length(max=300)])
    off_premises = BooleanField(_l("Used outside the office premises"))
    start_on = BEDateField(_l("From"), validators=[InputRequired()], description=DATE_HELP)
    due_on = BEDateField(_l("Return by"), validators=[InputRequired()], description=DATE_HELP)


class PickForm(BaseForm):
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])
    note = TextAreaField(_l("Condition at hand-over"), validators=[Optional(), Length(max=2000)])


class ReturnCountForm(BaseForm):
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])
    line = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])
    counted = StringField(_l("Counted back in good condition"), validators=[DataRequired(), Regexp(r"^[0-9]{1,5}$")])


def split_codes(text: str) -> list[str]:
    """Asset numbers or tags from a pasted or scanned list; a run `416-59-0001..0150` (or ..416-59-0150) is
    spelled out, keeping the digits' width. At most MAX_CODES."""
    out: list[str] = []
    for raw in re.split(r"[\s,;]+", text or ""):
        token = raw.strip()
        if not token:
            continue
        if token.startswith("http") and "/t/" in token:  # a scanned QR label holds the tag's URL
            token = token.rsplit("/t/", 1)[1].strip("/")
        run = re.fullmatch(r"(.*?)(\d+)\.\.(?:\1)?(\d+)", token)
        if run:
            prefix, first, last = run.group(1), int(run.group(2)), int(run.group(3))
            width = len(run.group(2))
            if last < first or last - first >= MAX_CODES:
                out.append(token)  # not a run we spell out: it will be reported as unknown
                continue
            out.extend(f"{prefix}{n:0{width}d}" for n in range(first, last + 1))
        else:
            out.append(token)
        if len(out) > MAX_CODES:
            break
    return out[:MAX_CODES]


def counts_from(form: Any, prefix: str = "count-") -> list[tuple[int, int]]:
    """(group id, count) from fields named count-<group id>; blanks and bad numbers are left out."""
    out = []
    for key, value in form.items():
        if not key.startswith(prefix):
            continue
        group_id = as_id(key[len(prefix) :])
        text = str(value or "").strip()
        if group_id is None or not text:
            continue
        if not re.fullmatch(r"[0-9]{1,5}", text):
            raise ValueError(key)
        if int(text):
            out.append((group_id, int(text)))
    return out
