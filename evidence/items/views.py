"""The evidence pages: the register, uploads, one item and its file, publication; the public page per
fiscal year with its stable file links; and the helpers every page's template may call (the `can_*`
predicates, a record's attached evidence)."""

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
from core.people.permissions import EVIDENCE_MANAGE, EVIDENCE_PUBLISH, EVIDENCE_UPLOAD, EVIDENCE_VIEW
from core.people.services import get_settings
from core.web.edge import as_id, page_arg
from core.web.routes import actor, external_url, file_store, public, require, submit_once
from evidence import bp
from evidence.items import queries, services
from evidence.items.forms import VISIBILITY_LABELS, EditEvidenceForm, UploadForm, VisibilityForm
from evidence.items.models import PUBLIC, EvidenceItem
from evidence.items.permissions import (
    can_manage_evidence,
    can_publish_evidence,
    can_see_evidence,
    can_upload_evidence,
    can_view_evidence,
)
from evidence.measures import queries as catalogue_queries
from evidence.measures import queries as measure_queries
from evidence.measures.forms import GROUP_LABELS
from evidence.measures.models import INSTRUMENTS
from evidence.measures.permissions import can_edit_catalogue

LINK_ENDPOINTS = {
    "asset": ("lending.asset", "asset_id"),
    "loan": ("lending.loan", "loan_id"),
    "incident": ("lending.incident", "incident_id"),
}


@bp.app_context_processor
def _helpers():
    def evidence_attached(kind: str, record_id: int):
        """For a loan, asset or incident page: its evidence (empty for those who may not see evidence)."""
        user = actor()
        if not can_view_evidence(user):
            return []
        return queries.attached_to(db.session, kind, record_id)

    def by_instrument(rows):
        """A catalogue's items grouped by instrument, IIT, EIT, OIT, each group in catalogue order."""
        return [(name, group) for name in INSTRUMENTS if (group := [i for i in rows if i.instrument == name])]

    return {
        "by_instrument": by_instrument,
        "can_view_evidence": can_view_evidence,
        "can_upload_evidence": can_upload_evidence,
        "can_manage_evidence": can_manage_evidence,
        "can_publish_evidence": can_publish_evidence,
        "can_edit_catalogue": can_edit_catalogue,
        "evidence_attached": evidence_attached,
        "current_fiscal_year": queries.current_fiscal_year,
    }


def _visible_or_404(evidence_id: int) -> EvidenceItem:
    """The item, if the signed-in person may see it; otherwise 404 (no hint that it exists)."""
    item = db.session.get(EvidenceItem, evidence_id)
    if item is None or not can_see_evidence(actor(), item):
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
        "evidence/items/register.html",
        page=page,
        flt=flt,
        codes=queries.codes_of(db.session, [r.id for r in page.rows]),
        years=queries.evidence_years(db.session),
        indicator_options=catalogue_queries.indicator_options(db.session, flt.year),
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
    catalogue = measure_queries.active_indicators(db.session, year)
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
        "evidence/items/upload.html",
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
        except DomainError as err:  # the service rolled its transaction back
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
    catalogue = catalogue_queries.indicators_by_code(db.session, item.fiscal_year)
    edit_form = EditEvidenceForm(
        data={"title": item.title, "description": item.description, "indicators": item.indicator_codes}
    )
    edit_form.indicators.choices = [(c, c) for c, i in catalogue.items() if not i.retired or c in item.indicator_codes]
    links = [(link, _link_url(link)) for link in queries.links_of(db.session, item)]
    return render_template(
        "evidence/items/item.html",
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
        "evidence/items/public.html",
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
