"""The borrowing manual's pages: read it (anyone signed in), its PDF, publish a version, the versions."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from core.db import db
from core.documents.exports import content_disposition
from core.people.permissions import ASSETS_VIEW, MANUAL_PUBLISH
from core.people.services import get_settings
from core.web.forms import BaseForm
from core.web.routes import actor, file_store, require, submit_once
from lending import bp
from lending.manual import queries, services
from lending.manual.permissions import can_publish


class PublishForm(BaseForm):
    pass


@bp.route("/manual")
@require(ASSETS_VIEW)
def manual_page():
    """The manual as it reads now, from the live settings, with its flow diagram."""
    settings = get_settings(db.session)
    return render_template(
        "lending/manual/page.html",
        sections=services.manual_content(db.session, settings),
        flow=services.FLOW,
        branch=services.FLOW_BRANCH,
        form=PublishForm(),
        can_publish=can_publish(actor()),
        latest=next(iter(queries.versions(db.session)), None),
    )


@bp.route("/manual.pdf")
@require(ASSETS_VIEW)
def manual_pdf():
    """The manual as it reads now, as a PDF."""
    resp = Response(services.manual_pdf(db.session), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition("manual.pdf")
    return resp


@bp.route("/manual/publish", methods=["POST"])
@require(MANUAL_PUBLISH)
def manual_publish():
    """Keep a numbered version of the manual and file it as evidence (the borrowing manual)."""
    if not PublishForm().validate_on_submit():
        flash(_("The form expired; nothing was published."), "danger")
        return redirect(url_for("lending.manual_page"))
    outcome = submit_once("manual.published", lambda: services.publish_manual(db.session, actor(), file_store()))
    if outcome.replayed:
        flash(_("This form was already sent; here is what it made."), "info")
        return redirect(url_for("lending.manual_versions"))
    version = outcome.created
    flash(_("Version %(n)d of the manual was published and filed as evidence.", n=version.number), "success")
    return redirect(url_for("lending.manual_versions"))


@bp.route("/manual/versions")
@require(ASSETS_VIEW)
def manual_versions():
    """Every published version of the manual."""
    return render_template("lending/manual/versions.html", versions=queries.versions(db.session))


@bp.route("/manual/versions/<int:number>.pdf")
@require(ASSETS_VIEW)
def manual_version_pdf(number: int):
    """A published version's PDF, exactly as it was published."""
    version = queries.version_by_number(db.session, number)
    if version is None:
        abort(404)
    try:
        data = file_store().read(version.sha256)
    except FileNotFoundError:
        abort(404)
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(f"manual-v{number}.pdf")
    return resp
