"""The evidence pages: the register, uploads, one item and its file, publication, the indicator catalogue
and the measures of a year; and the public page per fiscal year with its stable file links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from core.db import DomainError, db
from core.documents.exports import content_disposition, content_type
from core.files import PDF, safe_name
from core.i18n import lang
from core.i18n import message as domain_message
from core.people.permissions import EVIDENCE_MANAGE, EVIDENCE_PUBLISH, EVIDENCE_UPLOAD, EVIDENCE_VIEW, SETTINGS_MANAGE
from core.people.services import get_settings
from core.web.edge import as_id, page_arg
from core.web.routes import actor, external_url, file_store, public, require, submit_once
from evidence import bp, queries, services
from evidence.forms import (
    GROUP_LABELS,
    INSTRUMENT_LABELS,
    PERIOD_LABELS,
    ROLE_LABELS,
    VISIBILITY_LABELS,
    CopyMeasuresForm,
    EditEvidenceForm,
    IndicatorActionForm,
    IndicatorForm,
    MeasureForm,
    StartCatalogueForm,
    UploadForm,
    VisibilityForm,
    figure_label,
    figures_by_section,
)
from evidence.models import INSTRUMENTS, PUBLIC, EvidenceItem, Measure

LINK_ENDPOINTS = {
    "asset": ("lending.asset", "asset_id"),
    "loan": ("lending.loan", "loan_id"),
    "incident": ("lending.incident", "incident_id"),
}


def _can(permission: str):
    def check(user) -> bool:
        return user is not None and getattr(user, "is_authenticated", False) and user.can(permission)

    return check


@bp.app_context_processor
def _helpers():
    def evidence_attached(kind: str, record_id: int):
        """For a loan, asset or incident page: its evidence (empty for those who may not see evidence)."""
        user = actor()
        if user is None or not user.can(EVIDENCE_VIEW):
            return []
        return queries.attached_to(db.session, kind, record_id)

    def by_instrument(rows):
        """A catalogue's items grouped by instrument, IIT, EIT, OIT, each group in catalogue order."""
        return [(name, group) for name in INSTRUMENTS if (group := [i for i in rows if i.instrument == name])]

    return {
        "by_instrument": by_instrument,
        "can_view_evidence": _can(EVIDENCE_VIEW),
        "can_upload_evidence": _can(EVIDENCE_UPLOAD),
        "can_manage_evidence": _can(EVIDENCE_MANAGE),
        "can_publish_evidence": _can(EVIDENCE_PUBLISH),
        "can_edit_catalogue": _can(SETTINGS_MANAGE),
        "evidence_attached": evidence_attached,
        "current_fiscal_year": queries.current_fiscal_year,
    }


def _year_arg(name: str = "year") -> int:
    """A B.E. fiscal year from the query or form, or this year's."""
    value = request.values.get(name, type=int)
    return value if value and 2500 <= value <= 2700 else queries.current_fiscal_year()


def _visible_or_404(evidence_id: int) -> EvidenceItem:
    """The item, if the signed-in person may see it; otherwise 404 (no hint that it exists)."""
    item = db.session.get(EvidenceItem, evidence_id)
    if item is None or not queries.can_see_evidence(actor(), item):
        abort(404)
    return item


def _path_or_404(item: EvidenceItem) -> Path:
    try:
        path = file_store().path_of(item.sha256)
    except ValueError:
        abort(404)
    if not path.is_file():
        current_app.logger.error("evidence %s: stored file %s is missing", item.id, item.sha256)
        abort(404)
    return path


def _serve(item: EvidenceItem, path: Path, *, private: bool):
    """Stream a stored file from disk with headers that keep a browser from running it."""
    resp = send_file(path, mimetype=item.mime, conditional=True, etag=item.sha256, max_age=0)
    resp.headers["Content-Type"] = content_type(item.mime)  # one charset, not send_file's second
    disposition = content_disposition(item.original_name or "file")
    if item.mime.startswith("image/") or item.mime == PDF:
        disposition = "inline" + disposition[len("attachment") :]
    resp.headers["Content-Disposition"] = disposition
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store" if private else "no-cache"
    return resp


def _link_url(link: queries.Link) -> str:
    """The page of the record an item is attached to."""
    if link.kind == "measure":
        return url_for("evidence.measures", year=link.fiscal_year, _anchor=f"measure-{link.id}")
    endpoint, arg = LINK_ENDPOINTS[link.kind]
    values: dict[str, Any] = {arg: link.id}
    return url_for(endpoint, **values)


def _public_url(item) -> str:
    return external_url(url_for("evidence.public_file", token=item.public_token))


# --- the register --------------------------------------------------------------------------------


@bp.route("/evidence")
@require(EVIDENCE_VIEW)
def register():
    """The evidence register: search, filter by year, indicator and visibility; pages of 50."""
    flt = queries.EvidenceFilter.from_args(request.args, queries.current_fiscal_year())
    page_no = page_arg()
    page = queries.list_evidence(db.session, flt, page_no, current_app.config["PAGE_SIZE"])
    return render_template(
        "evidence/register.html",
        page=page,
        flt=flt,
        codes=queries.codes_of(db.session, [r.id for r in page.rows]),
        years=queries.evidence_years(db.session),
        indicator_options=queries.indicator_options(db.session, flt.year),
        visibility_labels=VISIBILITY_LABELS,
    )


# --- uploads -------------------------------------------------------------------------------------


def _links_from(values) -> dict[str, queries.Link]:
    """The records named by ?asset=5 (from their pages) or the form's hidden fields; unknown ids are 404."""
    links = {}
    for kind in queries.LINK_KINDS:
        raw = (values.get(f"{kind}_id") or values.get(kind) or "").strip()
        if not raw:
            continue
        record_id = as_id(raw)
        if record_id is None:
            abort(404)
        link = queries.link_target(db.session, kind, record_id)
        if link is None:
            abort(404)
        links[kind] = link
    return links


def _titles_for(files: list, shared_title: str, per_file: list[str]) -> list[str]:
    """Each file's title: its own (typed on the page), the shared one, or its file name."""
    titles = []
    for n, upload in enumerate(files):
        name = safe_name(upload.filename or "")
        own = per_file[n].strip() if n < len(per_file) else ""
        if own:
            titles.append(own)
        elif shared_title and len(files) == 1:
            titles.append(shared_title)
        elif shared_title:
            titles.append(f"{shared_title} – {name}")
        else:
            titles.append(name)
    return titles


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


@bp.route("/evidence/new", methods=["GET", "POST"])
@require(EVIDENCE_UPLOAD)
def upload():
    """Upload one or several files as evidence of a year, for one or more indicators; each file is
    checked and stored on its own, so one refused file does not stop or lose the others."""
    links = _links_from(request.values)
    default_year = links["measure"].fiscal_year if "measure" in links else queries.current_fiscal_year()
    year = request.values.get("fiscal_year", type=int) or request.values.get("year", type=int) or default_year
    if not 2500 <= year <= 2700:
        year = default_year
    catalogue = services.active_indicators(db.session, year)
    form = UploadForm()
    form.indicators.choices = [(i.code, i.code) for i in catalogue]
    if request.method == "GET":
        form.fiscal_year.data = str(year)
        for kind, link in links.items():
            getattr(form, f"{kind}_id").data = str(link.id)
    max_bytes = current_app.config["MAX_CONTENT_LENGTH"]
    if request.method == "POST":
        files = [f for f in request.files.getlist("files") if f and f.filename]
        per_file = request.form.getlist("titles")
        problem = None
        if not form.validate_on_submit():
            problem = _("The form was incomplete; nothing was uploaded.")
        elif not files:
            problem = _("Choose at least one file.")
        elif not form.indicators.data:
            problem = _("Choose at least one indicator.")
        if problem:
            if _wants_json():
                return jsonify(ok=False, message=problem), 400
            flash(problem, "danger")
        else:
            outcome = submit_once(
                "evidence.uploaded",
                lambda: _store_uploads(
                    files, _titles_for(files, (form.title.data or "").strip(), per_file), year, form, links, max_bytes
                ),
            )
            if outcome.replayed:
                message = _("This form was already sent; here is what it made.")
                target = url_for("evidence.item", evidence_id=int(outcome.record_id))
                if _wants_json():
                    return jsonify(ok=True, results=[], redirect=target, message=message)
                flash(message, "info")
                return redirect(target)
            results = outcome.created
            stored = [r for r in results if r["id"]]
            target = (
                url_for("evidence.item", evidence_id=stored[0]["id"])
                if len(stored) == 1 and len(results) == 1
                else url_for("evidence.register", year=year)
            )
            if _wants_json():
                return jsonify(ok=bool(stored), results=results, redirect=target)
            return redirect(target)
    return render_template(
        "evidence/upload.html",
        form=form,
        year=year,
        catalogue=catalogue,
        links=links,
        years=queries.evidence_years(db.session),
        max_bytes=max_bytes,
        group_labels=GROUP_LABELS,
    )


def _store_uploads(
    files: list, titles: list[str], year: int, form: UploadForm, links: dict[str, queries.Link], max_bytes: int
) -> list[dict]:
    """Hand each file to the service; flash one line per file, stored or refused with its reason."""
    strip_gps = bool(get_settings(db.session).get("strip_gps_from_photos", True))
    results: list[dict[str, Any]] = []
    for upload, title in zip(files, titles, strict=True):
        name = safe_name(upload.filename or "")
        attached: dict[str, Any] = {f"{kind}_id": link.id for kind, link in links.items()}
        try:
            item = services.upload_evidence(
                db.session,
                actor(),
                file_store(),
                upload.read(),
                upload.filename or "",
                fiscal_year=year,
                title=title,
                indicators=form.indicators.data,
                description=form.description.data or "",
                max_bytes=max_bytes,
                strip_gps=strip_gps,
                **attached,
            )
        except DomainError as err:
            db.session.rollback()
            reason = domain_message(err.message, err.params)
            flash(_("%(name)s was not stored: %(reason)s", name=name, reason=reason), "danger")
            results.append({"name": name, "id": None, "error": reason})
        else:
            flash(_("%(name)s was stored as evidence.", name=name), "success")
            results.append({"name": name, "id": item.id, "error": None})
        finally:
            upload.close()
    return results


# --- one item ------------------------------------------------------------------------------------


@bp.route("/evidence/<int:evidence_id>")
@require()
def item(evidence_id: int):
    """One item: details, indicators, what it is attached to, its file; edit and publish for the admin."""
    item = _visible_or_404(evidence_id)
    catalogue = queries.indicators_by_code(db.session, item.fiscal_year)
    edit_form = EditEvidenceForm(
        data={"title": item.title, "description": item.description, "indicators": item.indicator_codes}
    )
    edit_form.indicators.choices = [(c, c) for c, i in catalogue.items() if not i.retired or c in item.indicator_codes]
    links = [(link, _link_url(link)) for link in queries.links_of(db.session, item)]
    return render_template(
        "evidence/item.html",
        item=item,
        catalogue=catalogue,
        links=links,
        edit_form=edit_form,
        visibility_form=VisibilityForm(),
        uploader=queries.user_name(db.session, item.uploaded_by_id),
        publisher=queries.user_name(db.session, item.published_by_id),
        public_url=_public_url(item) if item.public_token else None,
        visibility_labels=VISIBILITY_LABELS,
    )


@bp.route("/evidence/<int:evidence_id>/edit", methods=["POST"])
@require(EVIDENCE_MANAGE)
def edit(evidence_id: int):
    """Change an item's title, description and indicators."""
    form = EditEvidenceForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("evidence.item", evidence_id=evidence_id))
    services.update_evidence(
        db.session,
        actor(),
        evidence_id,
        title=form.title.data,
        description=form.description.data or "",
        indicators=form.indicators.data or [],
    )
    flash(_("Saved."), "success")
    return redirect(url_for("evidence.item", evidence_id=evidence_id))


@bp.route("/evidence/<int:evidence_id>/visibility", methods=["POST"])
@require(EVIDENCE_PUBLISH)
def visibility(evidence_id: int):
    """Publish an item (its public link stays the same however often it is withdrawn) or withdraw it."""
    form = VisibilityForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("evidence.item", evidence_id=evidence_id))
    item = services.set_visibility(db.session, actor(), evidence_id, form.public.data == "1")
    if item.visibility == PUBLIC:
        flash(_("Published. Its public link: %(url)s", url=_public_url(item)), "success")
    else:
        flash(_("Withdrawn: the public link no longer opens it."), "success")
    return redirect(url_for("evidence.item", evidence_id=evidence_id))


@bp.route("/evidence/<int:evidence_id>/file")
@require()
def file(evidence_id: int):
    """The item's file, after the permission check; every download is recorded in the audit log."""
    item = _visible_or_404(evidence_id)
    path = _path_or_404(item)
    rng = request.headers.get("Range", "")
    if request.method == "GET" and (not rng or rng.replace(" ", "").startswith("bytes=0-")):
        # A PDF viewer fetches one file in many ranges: the first is the download that is recorded.
        item = services.record_download(db.session, actor(), evidence_id)
    return _serve(item, path, private=True)


# --- publication ---------------------------------------------------------------------------------


@bp.route("/public/evidence/<int:year>")
@public
def public_year(year: int):
    """The year's published evidence by indicator, with the stable links the office gives the ITA system."""
    if not 2500 <= year <= 2700:
        abort(404)
    groups = queries.published_by_indicator(db.session, year, lang())
    return render_template(
        "evidence/public.html",
        year=year,
        groups=groups,
        years=queries.published_years(db.session),
        eservice_url=external_url(url_for("eservice.home")),
        link=lambda token: external_url(url_for("evidence.public_file", token=token)),
    )


@bp.route("/public/e/<token>")
@public
def public_file(token: str):
    """A published item's file at its stable link; unknown and withdrawn items are 404."""
    item = queries.published_item(db.session, token)
    if item is None:
        abort(404)
    return _serve(item, _path_or_404(item), private=False)


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
            db.session.rollback()
            flash(domain_message(err.message, err.params), "danger")
        else:
            flash(_("Indicator %(code)s of fiscal year %(year)d was saved.", code=saved.code, year=year), "success")
            return redirect(url_for("evidence.indicators", year=year))
    elif request.method == "POST":
        flash(_("The form was incomplete; nothing was changed."), "danger")
    catalogue = services.indicators_of(db.session, year)
    return render_template(
        "evidence/indicators.html",
        year=year,
        form=form,
        editing=editing,
        catalogue=catalogue,
        action_form=IndicatorActionForm(),
        start_form=StartCatalogueForm(),
        start_from=queries.catalogue_source(db.session, year),
        years=queries.evidence_years(db.session),
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
        "evidence/measures.html",
        year=year,
        measures=rows,
        copy_from=copy_from,
        copy_form=copy_form,
        years=queries.evidence_years(db.session),
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
        (i.code, i.code) for i in services.indicators_of(db.session, year) if not i.retired or i.code in kept
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
    except DomainError as err:
        db.session.rollback()
        flash(domain_message(err.message, err.params), "danger")
        return False
    if outcome.replayed:
        flash(_("This form was already sent; here is what it made."), "info")
    return True


def _render_measure_form(form: MeasureForm, year: int, measure: Measure | None):
    kept = set(measure.indicators or []) if measure is not None else set()
    return render_template(
        "evidence/measure_form.html",
        form=form,
        year=year,
        measure=measure,
        catalogue=[i for i in services.indicators_of(db.session, year) if not i.retired or i.code in kept],
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
