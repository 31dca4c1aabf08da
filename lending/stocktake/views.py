"""Stock-take pages: rounds, one round with its live progress, its list, recording found, closing, reports.

Routes are gated by login and a permission; a round's own rule (committee member, or a role that reads
rounds) is checked per request with the `can_*` predicates of lending.stocktake.permissions, and by the services.
"""

from __future__ import annotations

from flask import Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import HiddenField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from core.db import N_, DomainError, Forbidden, db
from core.documents.exports import content_disposition
from core.i18n import lang, message_params
from core.people.permissions import ASSETS_VIEW, STOCKTAKE_MANAGE, STOCKTAKE_PREPARE
from core.web.edge import page_arg, to_id
from core.web.forms import BaseForm, MultiCheckboxField
from core.web.routes import actor, file_store, record_denial, require, submit_once
from lending import bp
from lending.register.models import Asset
from lending.stocktake import models, permissions, queries, services
from lending.stocktake.report import report_filename, round_pdf, round_xlsx

RESULT_LABELS = {
    models.FOUND: _l("Found"),
    models.ELSEWHERE: _l("Found elsewhere"),
    models.ON_LOAN: _l("On loan"),
    models.NOT_FOUND: _l("Not found"),
    models.UNEXPECTED: _l("Unexpected"),
}


class RoundForm(BaseForm):
    fiscal_year = IntegerField(_l("Fiscal year (B.E.)"), validators=[DataRequired(), NumberRange(2500, 2700)])
    title = StringField(_l("Title"), validators=[Optional(), Length(max=300)])
    department = SelectField(_l("Department"), choices=[], validate_choice=False)
    location = SelectField(_l("Location"), choices=[], validate_choice=False)
    # required to open a round (the head), optional when the supply officer prepares one: the service checks;
    # checkboxes, not a <select multiple> (ctrl-click is no way to choose on a phone)
    committee = MultiCheckboxField(_l("Committee"), coerce=to_id, choices=[], validate_choice=False)


class FoundForm(BaseForm):
    # good | damaged: rendered as two radio buttons by the template; the service checks the value
    condition = StringField(_l("Condition"), default="good", validators=[DataRequired(), Length(max=10)])
    location = StringField(_l("Where found"), validators=[Optional(), Length(max=200)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
    photo = FileField(_l("Photo (optional)"))


class CloseForm(BaseForm):
    pass


class AppointForm(BaseForm):
    """The head appoints the committee of a prepared round (ticked names) and opens it."""

    committee = SelectMultipleField(_l("Committee"), coerce=to_id, choices=[], validate_choice=False)
    version = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])


@bp.app_context_processor
def _stocktake_helpers():
    def stocktake_scan(asset: Asset) -> list[dict]:
        """The open rounds the signed-in user records for, with this asset's entry in each."""
        user = actor()
        out = []
        for rnd in queries.open_rounds_for(db.session, user):
            entry = queries.entry_of(db.session, rnd.id, asset.id)
            out.append(
                {
                    "round": rnd,
                    "entry": entry,
                    "in_scope": entry is not None and entry.in_scope,
                    "form": FoundForm(location=asset.location),
                }
            )
        return out

    return {
        "stocktake_scan": stocktake_scan,
        "STOCKTAKE_RESULTS": RESULT_LABELS,
        "can_manage_rounds": permissions.can_manage_rounds,
        "can_prepare_rounds": permissions.can_prepare_rounds,
    }


DENIED = N_("Only the round's committee and those who oversee property may open this round.")


def _round_for_viewer(round_id: int) -> models.StocktakeRound:
    rnd = db.get_or_404(models.StocktakeRound, round_id)
    if not permissions.can_view_round(actor(), rnd):
        record_denial(["stocktake.member"])
        raise Forbidden(DENIED)
    return rnd


@bp.route("/stocktake")
@require(ASSETS_VIEW)
def stocktake_rounds():
    """The stock-take rounds the user may see (all of them for overseers, their own for members)."""
    return render_template("lending/stocktake/rounds.html", rounds=queries.list_rounds(db.session, actor()))


@bp.route("/stocktake/new", methods=["GET", "POST"])
@require()
def stocktake_new():
    """A new round: the head appoints the committee and opens it; the supply officer prepares it for the head
    (year, scope, a proposed committee), as ข้อ 213 divides the work."""
    user = actor()
    if not permissions.can_prepare_rounds(user):
        record_denial([STOCKTAKE_PREPARE, STOCKTAKE_MANAGE])
        abort(403)
    appoints = permissions.can_manage_rounds(user)
    form = RoundForm()
    deps, locs = queries.scope_options(db.session)
    form.department.choices = [("", _("All departments"))] + [(d, d) for d in deps]
    form.location.choices = [("", _("All locations"))] + [(x, x) for x in locs]
    form.committee.choices = _committee_choices()
    if request.method == "GET":
        form.fiscal_year.data = services.default_fiscal_year()
    if form.validate_on_submit():
        service = services.open_round if appoints else services.prepare_round
        try:
            outcome = submit_once(
                "stocktake.opened" if appoints else "stocktake.prepared",
                lambda: service(
                    db.session,
                    user,
                    fiscal_year=form.fiscal_year.data,
                    committee=form.committee.data or [],
                    title=form.title.data or "",
                    department=form.department.data or "",
                    location=form.location.data or "",
                ),
            )
        except DomainError as err:
            if err.status == 403:
                raise
            flash(_(err.message, **message_params(err.params)), "danger")
        else:
            if outcome.replayed:
                flash(_("This form was already sent; here is what it made."), "info")
                return redirect(url_for("lending.stocktake_round", round_id=int(outcome.record_id)))
            rnd = outcome.created
            if appoints:
                flash(_("The round was opened with %(n)d assets to check.", n=rnd.total), "success")
            else:
                flash(_("The round is prepared; the head of agency appoints the committee and opens it."), "success")
            return redirect(url_for("lending.stocktake_round", round_id=rnd.id))
    return render_template("lending/stocktake/new.html", form=form, appoints=appoints)


def _committee_choices() -> list[tuple[int, str]]:
    return [(u.id, f"{u.name} ({u.username})") for u in queries.committee_candidates(db.session)]


@bp.route("/stocktake/<int:round_id>/appoint", methods=["POST"])
@require(STOCKTAKE_MANAGE)
def stocktake_appoint(round_id: int):
    """The head appoints the committee of a prepared round and opens it."""
    form = AppointForm()
    back = url_for("lending.stocktake_round", round_id=round_id)
    if not form.validate_on_submit():
        flash(_("The form expired; nothing was changed."), "danger")
        return redirect(back)
    rnd = services.appoint_round(
        db.session, actor(), round_id, form.committee.data or [], version=int(form.version.data)
    )
    flash(_("The committee is appointed and the round is open with %(n)d assets to check.", n=rnd.total), "success")
    return redirect(back)


@bp.route("/stocktake/<int:round_id>")
@require(ASSETS_VIEW)
def stocktake_round(round_id: int):
    """One round: live progress by location, the counts, the committee, reports and closing."""
    rnd = _round_for_viewer(round_id)
    recon = queries.reconcile(db.session, rnd)
    appoint_form = None
    if rnd.is_draft and permissions.can_manage_rounds(actor()):
        appoint_form = AppointForm(data={"version": str(rnd.version), "committee": sorted(rnd.member_ids())})
        appoint_form.committee.choices = _committee_choices()
    return render_template(
        "lending/stocktake/round.html",
        rnd=rnd,
        recon=recon,
        close_form=CloseForm(),
        appoint_form=appoint_form,
        can_record=permissions.can_record(actor(), rnd),
    )


@bp.route("/stocktake/<int:round_id>/progress.json")
@require(ASSETS_VIEW)
def stocktake_progress(round_id: int):
    """Scanned / total and by location, polled by the round page."""
    rnd = _round_for_viewer(round_id)
    resp = jsonify(queries.progress(db.session, rnd))
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/stocktake/<int:round_id>/items")
@require(ASSETS_VIEW)
def stocktake_items(round_id: int):
    """The round's assets as a list, to check off without scanning."""
    rnd = _round_for_viewer(round_id)
    show = request.args.get("show", "todo")
    if show not in ("all", "todo", "found", "unexpected", "problems"):
        show = "todo"
    q = (request.args.get("q") or "").strip()[:100]
    page = page_arg()
    rows, total = queries.entry_rows(db.session, rnd.id, show=show, q=q, page=page, size=50)
    return render_template(
        "lending/stocktake/items.html",
        rnd=rnd,
        rows=rows,
        total=total,
        page=page,
        show=show,
        q=q,
        pages=max(1, (total + 49) // 50),
        can_record=permissions.can_record(actor(), rnd),
        form=FoundForm(),
    )


@bp.route("/stocktake/<int:round_id>/assets/<int:asset_id>/found", methods=["POST"])
@require(ASSETS_VIEW)
def stocktake_found(round_id: int, asset_id: int):
    """A committee member records an asset as found (condition, where, note, photo) in one tap."""
    form = FoundForm()
    back = request.form.get("back") or ""
    target = (
        url_for("lending.stocktake_items", round_id=round_id)
        if back == "list"
        else url_for("lending.asset", asset_id=asset_id)
    )
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was recorded."), "danger")
        return redirect(target)
    upload = form.photo.data
    photo = (upload.read(), upload.filename or "photo") if upload and getattr(upload, "filename", "") else None
    done = services.record_found(
        db.session,
        actor(),
        round_id,
        asset_id,
        condition=form.condition.data,
        location=form.location.data or "",
        note=form.note.data or "",
        photo=photo,
        store=file_store(),
        max_bytes=current_app.config["MAX_CONTENT_LENGTH"],
    )
    asset = done.entry.asset
    if done.unexpected:
        flash(
            _(
                "%(number)s is not in this round's scope (disposed, or another department or location); it "
                "was recorded as unexpected.",
                number=asset.asset_number,
            ),
            "warning",
        )
    elif done.moved:
        flash(
            _(
                "%(number)s was recorded as found elsewhere (%(where)s).",
                number=asset.asset_number,
                where=done.entry.found_location,
            ),
            "success",
        )
    else:
        flash(_("%(number)s was recorded as found.", number=asset.asset_number), "success")
    return redirect(target)


@bp.route("/stocktake/<int:round_id>/close", methods=["POST"])
@require(STOCKTAKE_MANAGE)
def stocktake_close(round_id: int):
    """Close the round: results, incidents for not found and damaged, the report filed as evidence."""
    if not CloseForm().validate_on_submit():
        flash(_("The form expired; nothing was changed."), "danger")
        return redirect(url_for("lending.stocktake_round", round_id=round_id))
    services.close_round(db.session, actor(), round_id, store=file_store(), lang=lang())
    flash(_("The round was closed; its report was filed as evidence."), "success")
    return redirect(url_for("lending.stocktake_round", round_id=round_id))


@bp.route("/stocktake/<int:round_id>/report.<kind>")
@require(ASSETS_VIEW)
def stocktake_report(round_id: int, kind: str):
    """The round's report as PDF or XLSX."""
    rnd = _round_for_viewer(round_id)
    if kind == "pdf":
        data, mime = round_pdf(db.session, rnd, lang()), "application/pdf"
    elif kind == "xlsx":
        data = round_xlsx(db.session, rnd)
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Disposition"] = content_disposition(report_filename(rnd, kind))
    return resp
