"""The asset register's pages: list, detail, edit, status, photo, QR, tag links, labels, import, export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from types import SimpleNamespace

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import jobs
from core.dates import bangkok_today
from core.db import DomainError, db
from core.documents.archives import ArchiveRefused, check_workbook
from core.documents.exports import content_disposition, content_type, csv_response, safe_cell
from core.files import safe_name
from core.i18n import lang, money
from core.i18n import message as domain_message
from core.people.permissions import ASSETS_IMPORT, ASSETS_MANAGE, ASSETS_VIEW, LABELS_PRINT
from core.web.edge import ids_of, page_arg
from core.web.routes import actor, external_url, file_store, require, send_stored, submit_once
from lending import bp
from lending import jobs as lending_jobs
from lending.jobs import MAX_LABELS
from lending.loans import queries as loan_queries
from lending.loans.bookings import queries as bookings
from lending.loans.bookings.availability import lendable
from lending.loans.ledger import columns as ledger
from lending.register import import_templates, importing, queries, services, synonyms
from lending.register.forms import (
    STATUS_LABELS,
    ApplyImportForm,
    AssetForm,
    DeleteForm,
    ImportForm,
    LabelsForm,
    PhotoForm,
    StatusForm,
    SynonymForm,
)
from lending.register.labels import tags as labels
from lending.register.models import FIELDS, Asset
from lending.register.permissions import can_import_assets, can_manage_assets, can_print_labels

CHECK_IN_REQUEST_BYTES = 512 * 1024  # about 5,000 rows, checked in well under a second; longer lists by a job


@bp.app_context_processor
def _helpers():
    return {
        "STATUS_LABELS": STATUS_LABELS,
        "can_manage_assets": can_manage_assets,
        "can_import_assets": can_import_assets,
        "can_print_labels": can_print_labels,
    }


def tag_url(tag: str) -> str:
    return external_url(url_for("lending.tag", tag=tag))


@bp.route("/assets")
@require(ASSETS_VIEW)
def assets():
    """The register: search, filters and pages of 50."""
    flt = queries.AssetFilter.from_args(request.args)
    page_no = page_arg()
    page = queries.list_assets(db.session, flt, page_no, current_app.config["PAGE_SIZE"])
    status_names = {k: str(v) for k, v in STATUS_LABELS.items()}
    reserved = bookings.next_reservations(db.session, [r.id for r in page.rows], bangkok_today())
    return render_template(
        "lending/register/assets.html",
        page=page,
        rows=register_rows(page.rows, status_names, reserved),
        flt=flt,
        options=queries.filter_options(db.session),
        status_names=status_names,
    )


def register_rows(assets: Iterable[Asset], status_names: dict[str, str], reserved: dict) -> list[tuple]:
    """The register's rows as the template shows them, in plain values: id, number, name, lendable,
    category, location, status, its name, the price as shown, the next reservation (or None). A row read
    through the ORM instances' attributes, a look-up and a filter per cell cost more than the cell."""
    return [
        (
            a.id,
            a.asset_number,
            a.name,
            a.lendable,
            a.category,
            a.location,
            a.status,
            status_names[a.status],
            money(a.price),
            reserved.get(a.id),
        )
        for a in assets
    ]


@bp.route("/assets/<int:asset_id>")
@require(ASSETS_VIEW)
def asset(asset_id: int):
    """One asset: details, photo, QR tag and status."""
    item = db.get_or_404(Asset, asset_id)
    today = bangkok_today()
    user = actor()
    manages = can_manage_assets(user)  # the forms are shown to those who manage assets only
    return render_template(
        "lending/register/asset.html",
        asset=item,
        tag_link=tag_url(item.tag),
        status_form=StatusForm(version=item.version) if manages else None,
        photo_form=PhotoForm() if manages else None,
        history=loan_queries.asset_loan_history(db.session, item.id, user),
        borrowable=lendable(item),
        reserved=bookings.next_reservations(db.session, [item.id], today).get(item.id),
        upcoming=bookings.upcoming_for_asset(db.session, user, item.id, today),
    )


@bp.route("/t/<tag>")
@require(ASSETS_VIEW)
def tag(tag: str):
    """Where a scanned QR label lands: the asset's page (after login if needed)."""
    item = queries.asset_by_tag(db.session, tag[:32])
    if item is None:
        return render_template("lending/register/unknown_tag.html", tag=tag[:32]), 404
    return redirect(url_for("lending.asset", asset_id=item.id))


def _form_values(form: AssetForm) -> dict:
    return {f: getattr(form, f).data for f in FIELDS}


def _show_field_errors(form: AssetForm, err: services.InvalidFields) -> None:
    for fieldname, reason in err.errors.items():
        getattr(form, fieldname).errors.append(_(reason))
    flash(_(err.message), "danger")


@bp.route("/assets/new", methods=["GET", "POST"])
@require(ASSETS_MANAGE)
def asset_new():
    """Put a new asset on the register."""
    form = AssetForm()
    if form.validate_on_submit():
        try:
            outcome = submit_once(
                "asset.created", lambda: services.create_asset(db.session, actor(), _form_values(form))
            )
        except services.InvalidFields as err:
            _show_field_errors(form, err)
        else:
            if outcome.replayed:
                flash(_("This form was already sent; here is what it made."), "info")
                return redirect(url_for("lending.asset", asset_id=int(outcome.record_id)))
            item = outcome.created
            flash(_("Asset %(number)s was added.", number=item.asset_number), "success")
            return redirect(url_for("lending.asset", asset_id=item.id))
    return render_template("lending/register/asset_form.html", form=form, asset=None)


@bp.route("/assets/<int:asset_id>/edit", methods=["GET", "POST"])
@require(ASSETS_MANAGE)
def asset_edit(asset_id: int):
    """Edit an asset's details (a stale form is refused, not silently saved over)."""
    item = db.get_or_404(Asset, asset_id)
    form = AssetForm()
    if request.method == "GET":
        for f in FIELDS:
            value = getattr(item, f)
            getattr(form, f).data = value if f == "lendable" else ("" if value is None else str(value))
        form.version.data = str(item.version)
    if form.validate_on_submit():
        try:
            item = services.update_asset(db.session, actor(), asset_id, int(form.version.data or 0), _form_values(form))
        except services.InvalidFields as err:
            _show_field_errors(form, err)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("lending.asset", asset_id=item.id))
    return render_template("lending/register/asset_form.html", form=form, asset=item)


@bp.route("/assets/<int:asset_id>/status", methods=["POST"])
@require(ASSETS_MANAGE)
def asset_status(asset_id: int):
    """Change an asset's status with a reason."""
    form = StatusForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("lending.asset", asset_id=asset_id))
    try:
        services.change_status(
            db.session, actor(), asset_id, int(form.version.data or 0), form.status.data, form.note.data or ""
        )
    except services.InvalidFields:
        flash(_("Give a reason for the new status."), "danger")
    else:
        flash(_("The status was changed."), "success")
    return redirect(url_for("lending.asset", asset_id=asset_id))


@bp.route("/assets/<int:asset_id>/photo", methods=["POST"])
@require(ASSETS_MANAGE)
def asset_photo_upload(asset_id: int):
    """Attach a photo to an asset."""
    form = PhotoForm()
    if not form.validate_on_submit():
        flash(_("Choose a photo to upload."), "danger")
        return redirect(url_for("lending.asset", asset_id=asset_id))
    upload = form.photo.data
    services.set_photo(
        db.session,
        actor(),
        asset_id,
        upload.read(),
        upload.filename or "",
        file_store(),
        current_app.config["MAX_CONTENT_LENGTH"],
    )
    flash(_("The photo was saved."), "success")
    return redirect(url_for("lending.asset", asset_id=asset_id))


@bp.route("/assets/<int:asset_id>/photo")
@require(ASSETS_VIEW)
def asset_photo(asset_id: int):
    """The asset's photo, from the file store."""
    item = db.get_or_404(Asset, asset_id)
    if not item.photo_sha256:
        abort(404)
    return send_stored(item.photo_sha256, inline=True)


@bp.route("/assets/<int:asset_id>/qr.<fmt>")
@require(ASSETS_VIEW)
def asset_qr(asset_id: int, fmt: str):
    """The tag's QR code as PNG or SVG; it holds BASE_URL + the tag's path."""
    item = db.get_or_404(Asset, asset_id)
    url = tag_url(item.tag)
    if fmt == "png":
        resp = Response(labels.qr_png(url), mimetype="image/png")
    elif fmt == "svg":
        resp = Response(labels.qr_svg(url), mimetype="image/svg+xml")
    else:
        abort(404)
    if request.args.get("download"):
        resp.headers["Content-Disposition"] = f'attachment; filename="qr-{item.tag}.{fmt}"'
    return resp


# --- labels --------------------------------------------------------------------------------------


@bp.route("/assets/labels", methods=["GET", "POST"])
@require(LABELS_PRINT)
def asset_labels():
    """Print label sheets (PDF) for the filtered register or a selection: drawn by a job, offered on its page."""
    flt = queries.AssetFilter.from_args(request.values)
    form = LabelsForm()
    ids = ids_of(request.values.getlist("id"))[:5000]
    sheet = flt.for_labels()  # a chosen selection is printed as chosen; a filter leaves disposed assets out
    if request.method == "GET":
        form.ids.data = ",".join(str(i) for i in ids)
        count = queries.list_assets(db.session, sheet, 1, 1).total if not ids else len(ids)
        return render_template("lending/register/labels.html", form=form, flt=flt, count=count, ids=ids)
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was printed."), "danger")
        return redirect(url_for("lending.asset_labels", **flt.as_args()))
    ids = ids_of((form.ids.data or "").split(","))[: MAX_LABELS + 1]
    count = len(ids) if ids else queries.list_assets(db.session, sheet, 1, 1).total
    if not count:
        flash(_("No assets match; nothing to print."), "warning")
        return redirect(url_for("lending.asset_labels", **flt.as_args()))
    if count > MAX_LABELS:
        flash(_("At most 5,000 labels at once; narrow the filter."), "warning")
        return redirect(url_for("lending.asset_labels", **flt.as_args()))
    job = jobs.start(
        db.session,
        lending_jobs.LABELS,
        actor(),
        {"filter": flt.as_args(), "ids": ids, "layout": form.layout.data, "start_at": form.start_at.data or 0},
        lang=lang(),
    )
    return redirect(url_for("core.job", job_id=job.id))


# --- import --------------------------------------------------------------------------------------


@bp.route("/assets/import", methods=["GET", "POST"])
@require(ASSETS_IMPORT)
def asset_import():
    """Upload the office's list; see every error or a preview of the changes before anything happens."""
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        if data.startswith(b"PK\x03\x04"):  # the archive checks cost milliseconds: refuse a bomb here, not in a job
            try:
                check_workbook(data).close()
            except ArchiveRefused as err:
                flash(domain_message(err.message, err.params), "danger")
                return _import_page(form)
        if len(data) > CHECK_IN_REQUEST_BYTES:  # a long list is checked by a job; its page is the preview
            digest = _keep_import_file(data, upload.filename or "")
            job = jobs.start(
                db.session,
                lending_jobs.CHECK,
                actor(),
                {"sha256": digest, "filename": safe_name(upload.filename or "")},
                lang=lang(),
            )
            return redirect(url_for("core.job", job_id=job.id))
        try:
            plan = importing.plan_import(db.session, data, upload.filename or "")
        except importing.ImportFileError as err:
            flash(domain_message(err.message, err.params), "danger")
            return _import_page(form)
        if plan.ok:
            _keep_import_file(data, upload.filename or "")
        return render_template(
            "lending/register/import_preview.html",
            plan=plan,
            form=form,
            apply_form=ApplyImportForm(sha256=plan.sha256),
            filename=upload.filename or "",
        )
    return _import_page(form)


def _import_page(form: ImportForm):
    """The upload form, the columns it takes and the templates to download."""
    return render_template(
        "lending/register/import.html", form=form, headers=importing.HEADERS, ledger_headers=ledger.THAI_HEADERS
    )


@bp.route("/assets/import/templates/<template>")
@require(ASSETS_IMPORT)
def import_template(template: str):
    """An empty list with Thai headers to fill in: the asset list or the paper ledger, CSV or XLSX."""
    try:
        data, mime, filename = import_templates.template(template)
    except KeyError:
        abort(404)
    resp = Response(data, content_type=content_type(mime))
    resp.headers["Content-Disposition"] = content_disposition(filename)
    return resp


@bp.route("/assets/import/preview")
@require(ASSETS_IMPORT)
def asset_import_preview():
    """The preview of a list that a job checked (?job=<id>): every error, or the changes to apply."""
    job = jobs.job_for(db.session, request.args.get("job", ""), actor())
    if job is None or job.kind != lending_jobs.CHECK or job.status != jobs.DONE:
        abort(404)
    plan = _PlanView(job.outcome)
    return render_template(
        "lending/register/import_preview.html",
        plan=plan,
        form=ImportForm(),
        apply_form=ApplyImportForm(sha256=plan.sha256) if plan.ok else None,
        filename=job.outcome.get("filename", ""),
    )


class _Sample(list):
    """The first rows of a list, whose length is the whole list's (the preview counts all, shows some)."""

    def __init__(self, items: list, total: int):
        super().__init__(items)
        self.total = total

    def __len__(self) -> int:
        return self.total


class _PlanView:
    """A plan as the preview template reads it, from a check job's outcome."""

    def __init__(self, outcome: dict):
        self.sha256 = outcome["sha256"]
        self.rows = outcome["rows"]
        self.unchanged = outcome["unchanged"]
        self.creates = _Sample(outcome["creates"], outcome["creates_count"])
        self.updates = _Sample([tuple(u) for u in outcome["updates"]], outcome["updates_count"])
        self.errors = _Sample([SimpleNamespace(**e) for e in outcome["errors"]], outcome["errors_count"])
        self.ok = not outcome["errors_count"]
        self.changes = outcome["creates_count"] + outcome["updates_count"]
        self.columns = outcome.get("columns", [])
        self.new_groups = outcome.get("new_groups", [])


def _keep_import_file(data: bytes, filename: str) -> str:
    """Keep the uploaded list in the file store (named by its hash): applied later, and kept as the record."""
    return importing.keep_import_file(db.session, file_store(), data, filename, made_by_id=actor().id)


@bp.route("/assets/import/apply", methods=["POST"])
@require(ASSETS_IMPORT)
def asset_import_apply():
    """Apply a previewed import as a job (its page shows the progress); the same file twice changes nothing."""
    form = ApplyImportForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete; nothing was imported."), "danger")
        return redirect(url_for("lending.asset_import"))
    try:
        if not file_store().path_of(form.sha256.data).exists():
            raise FileNotFoundError(form.sha256.data)
    except (FileNotFoundError, ValueError):
        flash(_("The uploaded file is no longer available; upload it again."), "danger")
        return redirect(url_for("lending.asset_import"))
    filename = request.form.get("filename", "")[:255]
    job = jobs.start(
        db.session, lending_jobs.IMPORT, actor(), {"sha256": form.sha256.data, "filename": filename}, lang=lang()
    )
    return redirect(url_for("core.job", job_id=job.id))


# --- export --------------------------------------------------------------------------------------


@bp.route("/assets/export.csv")
@require(ASSETS_VIEW)
def asset_export():
    """The filtered register as CSV for Excel (UTF-8 with BOM, formulas neutralised); the export is logged."""
    flt = queries.AssetFilter.from_args(request.args)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*FIELDS, "status", "tag"])
    count = 0
    for a in queries.iter_assets(db.session, flt):
        writer.writerow(
            [
                safe_cell(v)
                for v in (
                    a.asset_number,
                    a.name,
                    a.category,
                    a.brand,
                    a.model,
                    a.serial_number,
                    a.acquired_on.isoformat() if a.acquired_on else "",
                    a.price if a.price is not None else "",
                    a.location,
                    a.department,
                    "yes" if a.lendable else "no",
                    a.status,
                    a.tag,
                )
            ]
        )
        count += 1
    services.record_output(db.session, actor(), "assets.exported", {"count": count, "filter": flt.as_args()})
    return csv_response(buf.getvalue(), "assets.csv")


# --- the office's search synonyms ------------------------------------------------------------------


@bp.route("/assets/synonyms", methods=["GET", "POST"])
@require(ASSETS_MANAGE)
def synonyms_page():
    """The search's synonym list: the built-in groups, and the office's own, which the officer extends."""
    form = SynonymForm()
    if form.validate_on_submit():
        try:
            outcome = submit_once(
                "search_synonym.added", lambda: synonyms.add_group(db.session, actor(), form.terms.data or "")
            )
        except DomainError as err:
            if err.status == 403:
                raise
            form.terms.errors.append(_(err.message, **err.params))
        else:
            if not outcome.replayed:
                flash(_("The terms were added; a search for one now finds the others."), "success")
            return redirect(url_for("lending.synonyms_page"))
    return render_template(
        "lending/register/synonyms.html",
        form=form,
        built_in=synonyms.BUILT_IN,
        own=synonyms.office_groups(db.session),
        delete_form=DeleteForm(),
    )


@bp.route("/assets/synonyms/<int:group_id>/delete", methods=["POST"])
@require(ASSETS_MANAGE)
def synonym_delete(group_id: int):
    """Take one of the office's groups of terms off the list."""
    form = DeleteForm()
    if not form.validate_on_submit():
        flash(_("The form was incomplete or expired; nothing was changed. Reload the page and try again."), "danger")
        return redirect(url_for("lending.synonyms_page"))
    if db.session.get(synonyms.SearchSynonym, group_id) is None:
        abort(404)
    synonyms.remove_group(db.session, actor(), group_id)
    flash(_("The group of terms was removed."), "success")
    return redirect(url_for("lending.synonyms_page"))
