"""Forms of the indicator catalogue and the measures, and the labels they show (the ITA groups, instruments,
roles and periods; the names of the figures a measure's row may show)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from core.web.forms import BaseForm, version_field
from evidence.measures import catalogue
from evidence.measures.models import INSTRUMENTS
from evidence.report.figures import FIGURE_KEYS

# The ten ITA indicators an item belongs to (regulation-notes.md): 1–5 IIT, 6–8 EIT, 9–10 OIT.
GROUP_LABELS = {
    1: _l("Performance of duty"),
    2: _l("Use of budget"),
    3: _l("Use of power"),
    4: _l("Use of government property"),
    5: _l("Solving corruption problems"),
    6: _l("Quality of operation"),
    7: _l("Communication"),
    8: _l("Improving the work system"),
    9: _l("Disclosure"),
    10: _l("Prevention of corruption"),
}

INSTRUMENT_LABELS = {
    "IIT": _l("IIT (internal staff survey)"),
    "EIT": _l("EIT (external survey of service users)"),
    "OIT": _l("OIT (open data on the website)"),
}

# What the app files by itself into a catalogue item (evidence.measures.catalogue.ROLES).
ROLE_LABELS = {
    catalogue.BORROWING_MANUAL: _l("The borrowing manual"),
    catalogue.OUTSIDERS_MANUAL: _l("The manual for borrowers outside the office"),
    catalogue.STOCKTAKE_RESULT: _l("The stock-take result"),
    catalogue.MEASURES_REPORT: _l("The measures report"),
    catalogue.MEASURES: _l("The integrity measures"),
    catalogue.ANTI_CORRUPTION_PLAN: _l("The anti-corruption plan"),
    catalogue.ANTI_CORRUPTION_REPORT_6M: _l("The anti-corruption six-month report"),
    catalogue.ANTI_CORRUPTION_REPORT: _l("The anti-corruption annual report"),
}

# Which fiscal year an OIT item's evidence covers, seen from the assessment year.
PERIOD_LABELS = {
    catalogue.CURRENT: _l("The assessment year"),
    catalogue.PREVIOUS: _l("The previous fiscal year"),
    catalogue.FIRST_HALF: _l("The first half of the year"),
}

# Readable names of the figures a measure's row may show (the keys of reference/report-metrics.md).
FIGURE_LABELS = {
    "lending.requests": _l("Borrowing requests"),
    "lending.approved": _l("Requests approved"),
    "lending.rejected": _l("Requests rejected"),
    "lending.cancelled": _l("Requests cancelled"),
    "lending.pending": _l("Requests still waiting for a decision"),
    "lending.median_days_to_decision": _l("Median days from request to decision"),
    "lending.loans_checked_out": _l("Loans handed over"),
    "lending.items_checked_out": _l("Items handed over"),
    "lending.items_returned": _l("Items returned"),
    "lending.items_returned_on_time": _l("Items returned on time"),
    "lending.items_returned_late": _l("Items returned late"),
    "lending.on_time_return_rate": _l("On-time return rate (%)"),
    "lending.items_damaged": _l("Items returned damaged"),
    "lending.items_lost": _l("Items lost"),
    "lending.items_out_at_year_end": _l("Items still out at the end of the year"),
    "lending.items_overdue_at_year_end": _l("Items overdue at the end of the year"),
    "lending.overdue_items": _l("Items not back by their due date"),
    "lending.overdue_items_demanded_within_7_days": _l("Overdue items demanded within 7 days"),
    "lending.overdue_items_demanded_late": _l("Overdue items demanded after 7 days"),
    "lending.overdue_items_not_demanded": _l("Overdue items never demanded"),
    "assets.total": _l("Assets on the register"),
    "assets.lendable": _l("Lendable assets"),
    "assets.checked_in_stocktake": _l("Assets checked in the stock-take"),
    "assets.not_found_in_stocktake": _l("Assets not found in the stock-take"),
    "audit.entries_in_year": _l("Audit log entries in the year"),
    "audit.chain_intact": _l("Audit log verified intact"),
    "audit.head_seq": _l("Last audit entry number"),
    "evidence.items": _l("Evidence items"),
    "evidence.public_items": _l("Published evidence items"),
    "eservice.requests_staff": _l("Requests by staff"),
    "eservice.requests_eservice": _l("Requests on the public e-service"),
    "eservice.requests_counter": _l("Requests of outsiders at the counter"),
    "eservice.requests_agency": _l("Requests of other agencies"),
    "eservice.outside_requests": _l("Requests of outside borrowers"),
    "eservice.outside_approved": _l("Outside requests approved"),
    "eservice.outside_rejected": _l("Outside requests rejected"),
    "eservice.outside_median_days_to_decision": _l("Median days to decide an outside request"),
    "eservice.loans_by_count": _l("Loans by count handed over"),
    "eservice.items_lent_by_count": _l("Items lent by count"),
    "eservice.outside_items_returned": _l("Items returned by outside borrowers"),
    "eservice.outside_items_returned_on_time": _l("Items outside borrowers returned on time"),
    "eservice.outside_on_time_return_rate": _l("Outside borrowers' on-time return rate (%)"),
    "eservice.survey_answers": _l("Satisfaction survey answers"),
    "eservice.survey_average": _l("Average satisfaction (out of 5)"),
}

FIGURE_SECTIONS = {
    "lending": _l("Borrowing and returns"),
    "assets": _l("Assets"),
    "audit": _l("Audit log"),
    "evidence": _l("Evidence"),
    "eservice": _l("Lending to outsiders and the e-service"),
}


def figure_label(key: str) -> str:
    return str(FIGURE_LABELS.get(key, key))


def figures_by_section() -> list[tuple[str, list[tuple[str, str]]]]:
    """The figure checkboxes grouped under their section, in the order of FIGURE_KEYS."""
    out: dict[str, list[tuple[str, str]]] = {}
    for key in FIGURE_KEYS:
        out.setdefault(key.partition(".")[0], []).append((key, figure_label(key)))
    return [(str(FIGURE_SECTIONS.get(s, s)), rows) for s, rows in out.items()]


class CodeCheckboxes(SelectMultipleField):
    """Checkboxes whose choices are set per request (the year's catalogue); the template lays them out."""

    def pre_validate(self, form) -> None:
        # Unknown values are refused by the service with a message that names them.
        pass


class IndicatorForm(BaseForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=10)],
        description=_l("A letter i, e or o and a number, e.g. i20 or o43."),
    )
    instrument = SelectField(_l("Instrument"), choices=[])
    group = SelectField(_l("Indicator group"), choices=[], coerce=int)
    text_th = TextAreaField(_l("Text (Thai)"), validators=[DataRequired(), Length(max=2000)])
    text_en = TextAreaField(_l("Text (English)"), validators=[Optional(), Length(max=2000)])
    period = SelectField(_l("Evidence covers (OIT)"), choices=[], validators=[Optional()])
    roles = CodeCheckboxes(_l("Filed here by the app"), choices=[])
    to_confirm = BooleanField(_l("To be confirmed against the NACC's list"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.instrument.choices = [(i, INSTRUMENT_LABELS[i]) for i in INSTRUMENTS]
        self.group.choices = [(n, f"{n} · {label}") for n, label in GROUP_LABELS.items()]
        self.period.choices = list(PERIOD_LABELS.items())
        self.roles.choices = list(ROLE_LABELS.items())


class IndicatorActionForm(BaseForm):
    """Retire, restore or move one item of the catalogue (CSRF and the code)."""

    code = HiddenField(validators=[DataRequired(), Length(max=10)])
    step = HiddenField(validators=[Optional(), Regexp(r"^-?1$")])


class StartCatalogueForm(BaseForm):
    """Start a year that has no catalogue yet (CSRF only)."""


class MeasureForm(BaseForm):
    title = TextAreaField(_l("Measure"), validators=[DataRequired(), Length(max=2000)])
    indicators = CodeCheckboxes(_l("Indicators"), choices=[])
    activities = TextAreaField(_l("What was done"), validators=[Optional(), Length(max=10000)])
    responsible = StringField(_l("Responsible unit"), validators=[Optional(), Length(max=2000)])
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=10000)])
    figures = CodeCheckboxes(_l("Figures in this row"), choices=[])
    version = version_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.figures.choices = [(k, figure_label(k)) for k in FIGURE_KEYS]


class CopyMeasuresForm(BaseForm):
    from_year = HiddenField(validators=[DataRequired(), Regexp(r"^\d{4}$")])
    to_year = HiddenField(validators=[DataRequired(), Regexp(r"^\d{4}$")])
