"""The pages of the ITA catalogue of a year (add, change, retire, restore, reorder its items; start a year)
and of the year's integrity measures (the rows of the report: add, edit, copy from an earlier year)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import DomainError, db
from core.i18n import message as domain_message
from core.people.permissions import EVIDENCE_VIEW, SETTINGS_MANAGE
from core.web.edge import as_id
from core.web.routes import actor, require, submit_once
from evidence import bp
from evidence.items import queries as item_queries
from evidence.items.forms import VISIBILITY_LABELS
from evidence.measures import queries, services
from evidence.measures import queries as measure_queries
from evidence.measures.forms import (
    GROUP_LABELS,
    INSTRUMENT_LABELS,
    PERIOD_LABELS,
    ROLE_LABELS,
    CopyMeasuresForm,
    IndicatorActionForm,
    IndicatorForm,
    MeasureForm,
    StartCatalogueForm,
    figure_label,
    figures_by_section,
)
from evidence.measures.models import Measure


def _year_arg(name: str = "year") -> int:
    """A B.E. fiscal year from the query or form, or this year's."""
    value = request.values.get(name, type=int)
    return value if value and 2500 <= value <= 2700 else item_queries.current_fiscal_year()


# --- the indicator catalogue ---------------------------------------------------------------------


def _indicator_form(year: int):
    """The add/change form: empty, or filled from the item named by ?edit= (a GET reads, never writes)."""
    editing = None
    if request.method == "GET" and request.args.get("edit"):
        editing = queries.indicators_by_code(db.session, year).get(request.args["edit"].strip().lower()[:10])
    if editing is not None:
        return IndicatorForm(
            data={
                "code": editing.code,
                "instrument": editing.instrument,
                "group": editing.group,
                "text_th": editing.text_th,
                "text_en": editing.text_en,
                "period": editing.period or "current",
                "roles": editing.roles,
                "to_confirm": editing.to_confirm,
            }
        ), editing
    return IndicatorForm(), None


@bp.route("/evidence/indicators", methods=["GET", "POST"])
@require(SETTINGS_MANAGE)
def indicators():
    """A year's ITA catalogue (loaded by the migrations or `ita catalogue import`); add or change an item."""
    year = _year_arg()
    form, editing = _indicator_form(year)
    if form.validate_on_submit():
        try:
            saved = services.save_indicator(
                db.session,
                actor(),
                year,
                form.code.data,
                form.instrument.data,
                form.group.data,
                form.text_th.data,
                form.text_en.data or "",
                period=form.period.data or "",
                roles=form.roles.data or [],
                to_confirm=bool(form.to_confirm.data),
            )
        except DomainError as err:  # shown with the form as typed, not lost in a redirect
            flash(domain_message(err.message, err.params), "danger")
        else:
            flash(_("Indicator %(code)s of fiscal year %(year)d was saved.", code=saved.code, year=year), "success")
            return redirect(url_for("evidence.indicators", year=year))
    elif request.method == "POST":
        flash(_("The form was incomplete; nothing was changed."), "danger")
    catalogue = measure_queries.indicators_of(db.session, year)
    return render_template(
        "evidence/measures/indicators.html",
        year=year,
        form=form,
        editing=editing,
        catalogue=catalogue,
        action_form=IndicatorActionForm(),
        start_form=StartCatalogueForm(),
        start_from=queries.catalogue_source(db.session, year),
        years=item_queries.evidence_years(db.session),
        group_labels=GROUP_LABELS,
        instrument_labels=INSTRUMENT_LABELS,
        role_labels=ROLE_LABELS,
        period_labels=PERIOD_LABELS,
        to_confirm=sum(1 for i in catalogue if i.to_confirm),
    )


@bp.route("/evidence/indicators/start", methods=["POST"])
@require(SETTINGS_MANAGE)
def indicators_start():
    """Start a year with no catalogue from the latest earlier year's (every item to be confirmed)."""
    year = _year_arg()
    if StartCatalogueForm().validate_on_submit():
        count = services.ensure_indicators(db.session, actor(), year)
        flash(_("Fiscal year %(year)d starts with %(count)d items to confirm.", year=year, count=count), "success")
    else:
        flash(_("The form was incomplete; nothing was changed."), "danger")
    return redirect(url_for("evidence.indicators", year=year))


def _indicator_action(action: str):
    year = _year_arg()
    form = IndicatorActionForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("evidence.indicators", year=year))
    code = form.code.data
    if action == "move":
        services.move_indicator(db.session, actor(), year, code, int(form.step.data or 1))
    else:
        row = services.retire_indicator(db.session, actor(), year, code, retired=action == "retire")
        flash(
            _(
                "Indicator %(code)s is retired: hidden for new evidence, kept on the evidence that names it.",
                code=row.code,
            )
            if row.retired
            else _("Indicator %(code)s is in use again.", code=row.code),
            "success",
        )
    return redirect(url_for("evidence.indicators", year=year, _anchor=f"code-{code}"))


@bp.route("/evidence/indicators/retire", methods=["POST"])
@require(SETTINGS_MANAGE)
def indicator_retire():
    """Retire an item: hidden for new evidence, kept (and shown) on the evidence that names it."""
    return _indicator_action("retire")


@bp.route("/evidence/indicators/restore", methods=["POST"])
@require(SETTINGS_MANAGE)
def indicator_restore():
    """Bring a retired item back into use."""
    return _indicator_action("restore")


@bp.route("/evidence/indicators/move", methods=["POST"])
@require(SETTINGS_MANAGE)
def indicator_move():
    """Move an item one place up or down among the items of its instrument."""
    return _indicator_action("move")


# --- measures ------------------------------------------------------------------------------------


@bp.route("/evidence/measures")
@require(EVIDENCE_VIEW)
def measures():
    """The year's integrity measures, as rows of the report; the admin adds, edits and copies them."""
    year = _year_arg()
    rows = queries.measures_of(db.session, year)
    copy_from = None if rows else queries.latest_year_with_measures(db.session, year)
    copy_form = CopyMeasuresForm(data={"from_year": copy_from, "to_year": year}) if copy_from else None
    return render_template(
        "evidence/measures/measures.html",
        year=year,
        measures=rows,
        copy_from=copy_from,
        copy_form=copy_form,
        years=item_queries.evidence_years(db.session),
        catalogue=queries.indicators_by_code(db.session, year),
        figure_label=figure_label,
        evidence=queries.evidence_by_measure(db.session, [m.id for m in rows]),
        visibility_labels=VISIBILITY_LABELS,
    )


def _measure_form(year: int, measure: Measure | None) -> MeasureForm:
    if request.method == "GET" and measure is not None:
        form = MeasureForm(
            data={
                "title": measure.title,
                "indicators": list(measure.indicators or []),
                "activities": measure.activities,
                "responsible": measure.responsible,
                "outcome": measure.outcome,
                "figures": list(measure.figures or []),
                "version": str(measure.version),
            }
        )
    else:
        form = MeasureForm()
    kept = set(measure.indicators or []) if measure is not None else set()
    form.indicators.choices = [
        (i.code, i.code) for i in measure_queries.indicators_of(db.session, year) if not i.retired or i.code in kept
    ]
    return form


def _measure_values(form: MeasureForm) -> dict:
    return {
        "title": form.title.data,
        "indicators": form.indicators.data or [],
        "activities": form.activities.data or "",
        "responsible": form.responsible.data or "",
        "outcome": form.outcome.data or "",
        "figures": form.figures.data or [],
    }


def _saved(year: int, form: MeasureForm, measure_id: int | None) -> bool:
    """Save through the service (a new measure once per form); a refusal is flashed and the form shown
    again as typed."""
    version = as_id(form.version.data)
    try:
        outcome = submit_once(
            "measure.created",
            lambda: services.save_measure(
                db.session,
                actor(),
                year,
                _measure_values(form),
                measure_id=measure_id,
                version=version if measure_id else None,
            ),
        )
    except DomainError as err:  # rolled back by the service
        flash(domain_message(err.message, err.params), "danger")
        return False
    if outcome.replayed:
        flash(_("This form was already sent; here is what it made."), "info")
    return True


def _render_measure_form(form: MeasureForm, year: int, measure: Measure | None):
    kept = set(measure.indicators or []) if measure is not None else set()
    return render_template(
        "evidence/measures/measure_form.html",
        form=form,
        year=year,
        measure=measure,
        catalogue=[i for i in measure_queries.indicators_of(db.session, year) if not i.retired or i.code in kept],
        figure_sections=figures_by_section(),
    )


@bp.route("/evidence/measures/new", methods=["GET", "POST"])
@require(SETTINGS_MANAGE)
def measure_new():
    """Add a measure to a year."""
    year = _year_arg()
    form = _measure_form(year, None)
    if form.validate_on_submit() and _saved(year, form, None):
        flash(_("The measure was added."), "success")
        return redirect(url_for("evidence.measures", year=year))
    return _render_measure_form(form, year, None)


@bp.route("/evidence/measures/<int:measure_id>/edit", methods=["GET", "POST"])
@require(SETTINGS_MANAGE)
def measure_edit(measure_id: int):
    """Edit a measure: what was done, who is responsible, the outcome, its indicators and figures."""
    measure = db.get_or_404(Measure, measure_id)
    year = measure.fiscal_year
    form = _measure_form(year, measure)
    if form.validate_on_submit() and _saved(year, form, measure_id):
        flash(_("Saved."), "success")
        return redirect(url_for("evidence.measures", year=year, _anchor=f"measure-{measure_id}"))
    return _render_measure_form(form, year, measure)


@bp.route("/evidence/measures/copy", methods=["POST"])
@require(SETTINGS_MANAGE)
def measures_copy():
    """Start a year from an earlier year's measures (titles, indicators, responsibility, figures)."""
    form = CopyMeasuresForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("evidence.measures", year=_year_arg("to_year")))
    to_year = int(form.to_year.data)
    count = services.copy_measures(db.session, actor(), int(form.from_year.data), to_year)
    flash(
        _("%(count)d measures were copied from fiscal year %(year)s.", count=count, year=form.from_year.data), "success"
    )
    return redirect(url_for("evidence.measures", year=to_year))
