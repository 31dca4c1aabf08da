"""The report's pages: the year's ITA report (and its downloads), the evidence bundle, and the dashboard.

All of them are for those who may view the evidence register (EVIDENCE_VIEW: admins, supply officers,
heads and auditors). The figures come from evidence.report.figures.compute through evidence.report.build; the
page and the documents show the same numbers.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import jobs
from core.dates import bangkok_date, fiscal_year_bounds, fiscal_year_of
from core.db import db, known, utcnow
from core.i18n import lang
from core.people.permissions import EVIDENCE_PUBLISH, EVIDENCE_VIEW
from core.web.forms import EmptyForm
from core.web.routes import actor, external_url, file_store, require
from evidence import bp
from evidence import report as reports
from evidence.bundle.jobs import BUNDLE
from evidence.items.forms import PublishReportForm
from evidence.items.services import publish_report
from evidence.measures.forms import ROLE_LABELS
from evidence.measures.queries import indicators_of
from evidence.measures.services import role_gaps
from evidence.report import jobs as evidence_jobs
from evidence.report.dashboard import tiles


def _this_year() -> int:
    return fiscal_year_of(bangkok_date(utcnow()))


def year_asked() -> int:
    """The B.E. fiscal year asked for (?year=2566), or this year's; anything else is a 404."""
    raw = request.args.get("year", "").strip()
    if not raw:
        return _this_year()
    if not (raw.isascii() and raw.isdigit()) or not 2500 <= int(raw) <= 2700:
        abort(404)
    return int(raw)


def _years(year: int) -> list[int]:
    this = _this_year()
    return sorted({*range(this - 5, this + 2), year}, reverse=True)


def _lang() -> str:
    wanted = request.args.get("lang")
    return wanted if wanted in ("th", "en") else lang()


FORMAT_LABELS = (
    ("pdf", "PDF"),
    ("docx", "Word (DOCX)"),
    ("xlsx", "Excel (XLSX)"),
    ("csv", "CSV"),
    ("json", "JSON"),
    ("html", "HTML"),
)


@bp.route("/report")
@require(EVIDENCE_VIEW)
def report():
    """The year's ITA report as a page, with its downloads and the evidence bundle."""
    year = year_asked()
    built = reports.build(
        db.session, year, engine=db.engine, config=current_app.config, lang=_lang(), thai_digits=False
    )
    doc = reports.document_model(built)
    charts = [(title, reports.chart_markup(chart)) for title, chart in doc.charts]
    return render_template(
        "evidence/report/report.html",
        year=year,
        years=_years(year),
        formats=FORMAT_LABELS,
        doc=doc,
        charts=charts,
        publish_form=PublishReportForm(),
        **_catalogue_notes(year),
    )


@bp.route("/report/publish", methods=["POST"])
@require(EVIDENCE_PUBLISH)
def report_publish():
    """Publish the year's report (PDF, Thai): filed as evidence of the measures-report item and made public."""
    year = year_asked()
    if not PublishReportForm().validate_on_submit():
        flash(_("The form was incomplete; nothing was changed."), "danger")
        return redirect(url_for("evidence.report", year=year))
    built = reports.build(db.session, year, engine=db.engine, config=current_app.config, lang="th")
    data, _mime, name = reports.render(built, "pdf")
    items = publish_report(db.session, actor(), file_store(), year, data, name)
    for item in items:
        link = external_url(url_for("evidence.public_file", token=item.public_token))
        if item.indicator_codes:
            flash(
                _(
                    "The report is published as evidence of %(codes)s, fiscal year %(year)d: %(url)s",
                    codes=", ".join(item.indicator_codes),
                    year=item.fiscal_year,
                    url=link,
                ),
                "success",
            )
        else:
            flash(
                _(
                    "The report is published at %(url)s, without an indicator: no catalogue item takes the "
                    "measures report of fiscal year %(year)d.",
                    url=link,
                    year=year,
                ),
                "warning",
            )
    return redirect(url_for("evidence.report", year=year))


def _catalogue_notes(year: int) -> dict:
    """What the page tells about the year's catalogue: roles with no item, items still to be confirmed."""
    items = indicators_of(db.session, year)
    gaps = [(str(ROLE_LABELS.get(g.role, g.role)), g.waiting) for g in role_gaps(db.session, year)]
    db.session.rollback()
    return {
        "role_gaps": gaps,
        "catalogue_size": len(items),
        "catalogue_to_confirm": sum(1 for i in items if i.to_confirm and not i.retired),
    }


def _start(kind: str, params: dict, title: str, lines: list[str], button: str):
    """GET: what will be made, with the button (a GET changes nothing); POST: the job, then its page."""
    if request.method == "GET":
        return render_template(
            "core/job_start.html",
            title=title,
            lines=lines,
            button=button,
            action=url_for(known(request.endpoint, "endpoint"), **dict[str, Any](request.args.to_dict())),
        )
    if not EmptyForm().validate_on_submit():
        abort(400)
    job = jobs.start(db.session, kind, actor(), params, lang=lang())
    return redirect(url_for("core.job", job_id=job.id))


@bp.route("/report/download", methods=["GET", "POST"])
@require(EVIDENCE_VIEW)
def report_download():
    """The report as a file (?year=2566&format=pdf|docx|xlsx|csv|json|html), made by a job."""
    year = year_asked()
    fmt = request.args.get("format", "pdf")
    if fmt not in reports.FORMATS:
        abort(404)
    label = dict(FORMAT_LABELS).get(fmt, fmt)
    return _start(
        evidence_jobs.REPORT,
        {"year": year, "format": fmt, "lang": _lang()},
        _("The ITA report"),
        [_("The report of fiscal year %(year)s as %(format)s.", year=year, format=label)],
        _("Make the file"),
    )


@bp.route("/report/bundle", methods=["GET", "POST"])
@require(EVIDENCE_VIEW)
def report_bundle():
    """The year's evidence bundle (ZIP), made by a job; recorded in the audit log as evidence.bundle_downloaded."""
    year = year_asked()
    return _start(
        BUNDLE,
        {"year": year, "lang": _lang()},
        _("The evidence bundle"),
        [
            _(
                "The evidence bundle of fiscal year %(year)s: the report, every evidence file and a "
                "checkpoint of the audit log. Making it is recorded in the audit log.",
                year=year,
            )
        ],
        _("Make the bundle"),
    )


@bp.route("/dashboard")
@require(EVIDENCE_VIEW)
def dashboard():
    """The year's figures as cards and the two charts (the chain is verified on the report, not here)."""
    year = year_asked()
    built = reports.build(
        db.session,
        year,
        engine=db.engine,
        config=current_app.config,
        lang=lang(),
        thai_digits=False,
        chain_intact=lambda: False,
    )
    f = reports.Formatter(built, thai_digits=False)
    w = f.words
    charts = [
        (w["chart_activity"].format(year=year), reports.chart_markup(reports.activity_chart(built, f))),
        (w["chart_overdue"].format(year=year), reports.chart_markup(reports.overdue_chart(built, f))),
    ]
    return render_template(
        "evidence/report/dashboard.html",
        year=year,
        years=_years(year),
        groups=tiles(built),
        charts=charts,
        period=fiscal_year_bounds(year),
        head_seq=f.number(built.figures["audit"]["head_seq"]),
    )
