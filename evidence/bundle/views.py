"""The export of the year's public evidence links by catalogue item (CSV or XLSX), for pasting into the ITA
system. A small read: made in the request, no job, nothing recorded (the links are public already)."""

from __future__ import annotations

from flask import Response, abort, request

from core.db import db
from core.documents.exports import content_disposition
from core.i18n import lang
from core.people.permissions import EVIDENCE_VIEW
from core.people.services import get_settings
from core.web.routes import require
from evidence import bp
from evidence.bundle import submission
from evidence.report.views import year_asked

LINK_FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@bp.route("/report/links")
@require(EVIDENCE_VIEW)
def report_links():
    """Every public link of the year (?year=2569&format=csv|xlsx) under its catalogue item, in the
    catalogue's order; items without a link have a line of their own."""
    year = year_asked()
    fmt = request.args.get("format", "csv")
    if fmt not in LINK_FORMATS:
        abort(404)
    wanted = request.args.get("lang")
    language = wanted if wanted in ("th", "en") else lang()
    rows = submission.public_links(db.session, year, submission.linker(), language)
    if fmt == "csv":
        data = submission.links_csv(rows, language)
    else:
        settings = get_settings(db.session)
        data = submission.links_xlsx(rows, year, str(settings.get("agency_name") or ""), language)
    db.session.rollback()  # end the read
    resp = Response(data, content_type=LINK_FORMATS[fmt])
    resp.headers["Content-Disposition"] = content_disposition(submission.links_filename(year, fmt))
    return resp
