"""The public e-service's pages, at /e-service (no login): what the office lends and when it is free, the
request form, tracking by reference and phone, the printable form, the survey, the manual for outsiders.

Nothing here names an internal asset or another person's request: the catalogue shows groups and counts,
and a request opens only for its reference together with its borrower's phone (kept for this browser's
session only, so the following pages do not ask again; "forget" ends it).
"""

from __future__ import annotations

import re
from datetime import date

from flask import Response, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from core.dates import BE_OFFSET, THAI_MONTHS, bangkok_today
from core.db import DomainError, db
from core.documents.exports import content_disposition
from core.i18n import lang
from core.models import StoredFile
from core.people.permissions import ASSETS_VIEW, MANUAL_PUBLISH
from core.people.services import get_settings
from core.web.edge import arg_date
from core.web.routes import actor, external_url, file_store, public, require, submit_once
from lending.eservice import bp, documents, mails, manual, page_cache, pdpa, queries, services
from lending.eservice.forms import (
    HONEYPOT,
    KIND_CHOICES,
    MAX_COUNT,
    QTY_FIELD,
    SCORE_LABELS,
    STATUS_LABELS,
    CancelForm,
    EmptyForm,
    RequestForm,
    SurveyForm,
    TrackForm,
    area_name,
    form_dates,
    party_of,
    requested_counts,
)
from lending.eservice.limits import RateLimited
from lending.groups import queries as group_queries
from lending.loans.models import Loan
from lending.manual.permissions import can_publish
from lending.outside import services as outside
from lending.register.labels import tags as labels

GRANTS = "eservice_open"  # session: {reference: phone} of the requests this browser has opened
MAX_GRANTS = 5
PHOTO_VERSION_CHARS = 16  # of the photo's SHA-256 in its URL (templates/lending/eservice/_macros.html)


_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = {
    "th": ("อา.", "จ.", "อ.", "พ.", "พฤ.", "ศ.", "ส."),
    "en": ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"),
}


@bp.context_processor
def _calendar_words():
    def month_name(day: date) -> str:
        if lang() == "en":
            return f"{_EN_MONTHS[day.month - 1]} {day.year + BE_OFFSET} BE"
        return f"{THAI_MONTHS[day.month - 1]} {day.year + BE_OFFSET}"

    return {"month_name": month_name, "weekdays": lambda: _WEEKDAYS["en" if lang() == "en" else "th"]}


def _today() -> date:
    return bangkok_today()


def _address() -> str:
    return request.remote_addr or ""


def _track_url(ref: str = "") -> str:
    return external_url(url_for("eservice.track", ref=ref) if ref else url_for("eservice.track"))


def _grant(ref: str, phone: str) -> None:
    opened = dict(session.get(GRANTS) or {})
    opened.pop(ref, None)
    opened[ref] = phone
    session[GRANTS] = dict(list(opened.items())[-MAX_GRANTS:])


def _granted(ref: str) -> Loan | None:
    """The request this browser opened with its reference and phone, else None."""
    phone = (session.get(GRANTS) or {}).get(ref)
    if not phone:
        return None
    loan = outside.find_request(db.session, ref, phone)
    if loan is None:
        opened = dict(session.get(GRANTS) or {})
        opened.pop(ref, None)
        session[GRANTS] = opened
    return loan


def _dates_from_query() -> tuple[date | None, date | None, str]:
    """?start=&end= as dates (ISO or Thai B.E.); a message instead of a 500 for anything else."""
    try:
        start, end = arg_date(request.args.get("start")), arg_date(request.args.get("end"))
    except ValueError:
        return None, None, _("Dates are written as DD/MM/YYYY (B.E.) or picked from the calendar.")
    if start and not end:
        end = start
    if end and not start:
        start = end
    return start, end, ""


def _catalogue(start: date | None, end: date | None) -> tuple[list, str]:
    try:
        return queries.catalogue(db.session, start, end, _today()), ""
    except DomainError as err:
        return queries.catalogue(db.session, None, None, _today()), _(err.message, **err.params)


@bp.route("")
@public
def home():
    """What the office lends to the public, with what is free on the chosen dates."""
    start, end, problem = _dates_from_query()
    if start and end and start < _today():
        problem, start, end = _("Choose dates from today on."), None, None
    rows, refused = _catalogue(start, end) if not problem else _catalogue(None, None)
    settings = get_settings(db.session)
    today = _today()

    def render(csrf_token=None) -> str:
        extra = {"csrf_token": csrf_token} if csrf_token else {}
        return render_template(
            "lending/eservice/home.html",
            rows=rows,
            start=start,
            end=end,
            problem=problem or refused,
            today=today,
            eservice_url=external_url(url_for("eservice.home")),
            notice=pdpa.notice(settings),
            **extra,
        )

    if not page_cache.cacheable():
        return render()
    key = (
        "home",
        page_cache.app_key(),
        lang(),
        page_cache.settings_key(settings),
        page_cache.rows_key(rows),
        start,
        end,
        problem or refused,
        today,
        request.script_root,
        request.full_path,
    )
    return page_cache.page(key, render)


@bp.route("/calendar/<int:group_id>")
@public
def calendar(group_id: int):
    """A month of one group: how many are free on each day."""
    group = queries.public_group(db.session, group_id)
    if group is None:
        abort(404)
    today = _today()
    first, last = queries.month_bounds(today)
    raw = (request.args.get("month") or "").strip()
    match = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", raw)
    year, month = first
    if match:
        y, m = int(match.group(1)), int(match.group(2))
        y = y - 543 if y > 2400 else y  # a B.E. year
        if 1 <= m <= 12 and first <= (y, m) <= last:
            year, month = y, m
    total = group_queries.capacity(db.session, [group_id])[group_id]  # usable now, as the catalogue says
    weeks = queries.month_grid(db.session, group, total, year, month, today)
    prev_m = queries.shift_month(year, month, -1)
    next_m = queries.shift_month(year, month, 1)

    def render(csrf_token=None) -> str:
        extra = {"csrf_token": csrf_token} if csrf_token else {}
        return render_template(
            "lending/eservice/calendar.html",
            group=group,
            total=total,
            weeks=weeks,
            year=year,
            month=month,
            first_day=date(year, month, 1),
            prev_month=prev_m if prev_m >= first else None,
            next_month=next_m if next_m <= last else None,
            today=today,
            **extra,
        )

    if not page_cache.cacheable():
        return render()
    key = (
        "calendar",
        page_cache.app_key(),
        lang(),
        page_cache.settings_key(get_settings(db.session)),
        group.id,
        group.name,
        total,
        tuple((d.day, d.free, d.state) for week in weeks for d in week if d is not None),
        year,
        month,
        today,
        request.script_root,
        request.full_path,
    )
    return page_cache.page(key, render)


@bp.route("/photo/<int:group_id>")
@public
def photo(group_id: int):
    """The photo of a group offered to the public (nothing else of the file store is reachable here)."""
    group = queries.public_group(db.session, group_id)
    if group is None or not group.photo_sha256:
        abort(404)
    stored = db.session.get(StoredFile, group.photo_sha256)
    try:
        data = file_store().read(group.photo_sha256)
    except (FileNotFoundError, ValueError):
        abort(404)
    resp = Response(data, mimetype=stored.mime if stored else "image/jpeg")
    # The page links the photo as ?v=<its hash>: that URL names these bytes forever, so a browser keeps it
    # without asking again; a new photo is a new URL. Any other URL is revalidated by its ETag (the hash).
    versioned = request.args.get("v") == group.photo_sha256[:PHOTO_VERSION_CHARS]
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.set_etag(group.photo_sha256)
    return resp.make_conditional(request)


@bp.route("/qr.svg")
@public
def qr():
    """The QR code of the e-service's address (for the public evidence page, posters and the manual)."""
    resp = Response(labels.qr_svg(external_url(url_for("eservice.home"))), mimetype="image/svg+xml")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


# --- the request ---------------------------------------------------------------------------------


@bp.route("/request", methods=["GET", "POST"])
@public
def request_form():
    """The request form; a request sent becomes a reference number and its tracking page."""
    form = RequestForm()
    settings = get_settings(db.session)
    problem, status = "", 200
    if request.method == "GET":
        start, end, _problem = _dates_from_query()
        if start and start < _today():
            start = end = None
        if start:
            form.start_on.data, form.end_on.data = start.isoformat(), end.isoformat()
        # the office's own district and province, as the form's likely answer (without their prefixes:
        # the address is printed as "อำเภอ…", "จังหวัด…")
        for field, key in ((form.district, "district"), (form.province, "province")):
            field.data = field.data or area_name(str(settings.get(key) or ""), key)
    else:
        start, end, problem = form_dates(form)
    rows, refused = _catalogue(start, end) if start and end and not problem else _catalogue(None, None)
    if request.method == "POST" and form.validate_on_submit() and not problem:
        lines, problem = requested_counts(request.form.items(), rows)
        if not problem:
            try:
                outcome = submit_once(
                    "loan.requested",
                    lambda: services.submit_request(
                        db.session,
                        party_of(form),
                        lines,
                        start_on=start,
                        due_on=end,
                        purpose=form.purpose.data or "",
                        place=form.place.data or "",
                        address=_address(),
                        honeypot=request.form.get(HONEYPOT, ""),
                        config=current_app.config,
                    ),
                )
            except services.HoneypotFilled as err:
                return render_template("core/error.html", code=400, message=_(err.message)), 400
            except RateLimited as err:
                problem, status = _(err.message, **err.params), 429
            except DomainError as err:
                problem, status = _(err.message, **err.params), 200
            else:
                loan = outcome.created if not outcome.replayed else db.session.get(Loan, int(outcome.record_id))
                if loan is None or loan.public_ref is None:
                    abort(404)
                _grant(loan.public_ref, form.phone.data or "")
                if not outcome.replayed:
                    mails.send(
                        current_app.config,
                        [mails.status_mail(loan, mails.REQUESTED, settings, _track_url(loan.public_ref))],
                    )
                    flash(
                        _(
                            "Your request was sent. Its reference is %(ref)s: keep it with your phone number to "
                            "follow the request.",
                            ref=loan.public_ref,
                        ),
                        "success",
                    )
                return redirect(url_for("eservice.status", ref=loan.public_ref))
    elif request.method == "POST" and not problem:
        problem = _("Check the fields marked below.")
    asked = {k: v for k, v in request.form.items() if QTY_FIELD.match(k)} if request.method == "POST" else {}
    if request.method == "GET":
        for key in request.args:
            if QTY_FIELD.match(key):
                asked[key] = request.args.get(key, "")[:5]
    return render_template(
        "lending/eservice/request.html",
        form=form,
        rows=rows,
        asked=asked,
        start=start,
        end=end,
        problem=problem or refused,
        today=_today(),
        kinds=KIND_CHOICES,
        honeypot=HONEYPOT,
        notice=pdpa.notice(settings),
        max_count=MAX_COUNT,
    ), status


@bp.route("/form.pdf")
@public
def blank_form():
    """The request form, blank, for writing by hand at the counter."""
    from flask_babel import get_locale

    lang = "en" if str(get_locale()) == "en" else "th"
    resp = Response(documents.request_form_pdf(None, get_settings(db.session), lang), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition("request-form.pdf")
    return resp


# --- tracking ------------------------------------------------------------------------------------


@bp.route("/track", methods=["GET", "POST"])
@public
def track():
    """Open a request with its reference and the phone number given in it."""
    form = TrackForm()
    if request.method == "GET" and request.args.get("ref"):
        form.ref.data = services.normal_ref(request.args.get("ref", ""))
    problem, status = "", 200
    if form.validate_on_submit():
        try:
            loan = services.open_request(
                db.session, form.ref.data, form.phone.data, address=_address(), config=current_app.config
            )
        except RateLimited as err:
            problem, status = _(err.message, **err.params), 429
        except DomainError as err:
            problem = _(err.message, **err.params)
        else:
            _grant(loan.public_ref, form.phone.data)
            return redirect(url_for("eservice.status", ref=loan.public_ref))
    return render_template(
        "lending/eservice/track.html", form=form, problem=problem, opened=list((session.get(GRANTS) or {}).keys())
    ), status


@bp.route("/track/<ref>")
@public
def status(ref: str):
    """One request, for the browser that opened it with its reference and phone."""
    loan = _granted(ref)
    if loan is None:
        return redirect(url_for("eservice.track", ref=ref[:20]))
    state = services.status_of(db.session, loan)
    return render_template(
        "lending/eservice/status.html",
        s=state,
        labels=STATUS_LABELS,
        survey=SurveyForm(),
        scores=SCORE_LABELS,
        cancel=CancelForm(),
        forget=EmptyForm(),
    )


@bp.route("/track/<ref>/form.pdf")
@public
def request_pdf(ref: str):
    """The request as the printable form (แบบคำขอยืมพัสดุ), for the browser that opened it."""
    from flask_babel import get_locale

    loan = _granted(ref)
    if loan is None:
        return redirect(url_for("eservice.track", ref=ref[:20]))
    lang = "en" if str(get_locale()) == "en" else "th"
    sheet = services.request_sheet(loan, _track_url(loan.public_ref or ""))
    resp = Response(documents.request_form_pdf(sheet, get_settings(db.session), lang), mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(f"request-{loan.public_ref}.pdf")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/track/<ref>/cancel", methods=["POST"])
@public
def cancel(ref: str):
    """The borrower withdraws their request (until the items are handed over)."""
    loan = _granted(ref)
    form = CancelForm()
    if loan is None:
        return redirect(url_for("eservice.track", ref=ref[:20]))
    if not form.validate_on_submit():
        flash(_("The form expired; nothing was changed."), "danger")
        return redirect(url_for("eservice.status", ref=ref))
    phone = session[GRANTS][ref]
    try:
        loan = outside.cancel_outside_request(db.session, ref, phone, form.reason.data or "")
    except DomainError as err:
        flash(_(err.message, **err.params), "danger")
        return redirect(url_for("eservice.status", ref=ref))
    flash(_("Your request was cancelled."), "success")
    return redirect(url_for("eservice.status", ref=ref))


@bp.route("/track/<ref>/survey", methods=["POST"])
@public
def survey(ref: str):
    """The satisfaction survey after the return: a score of 1 to 5 and a comment, once per request."""
    loan = _granted(ref)
    if loan is None:
        return redirect(url_for("eservice.track", ref=ref[:20]))
    form = SurveyForm()
    if not form.validate_on_submit():
        flash(_("Choose a score from 1 to 5."), "danger")
        return redirect(url_for("eservice.status", ref=ref))
    try:
        outside.record_survey(db.session, ref, session[GRANTS][ref], int(form.score.data), form.comment.data or "")
    except DomainError as err:
        flash(_(err.message, **err.params), "info")
        return redirect(url_for("eservice.status", ref=ref))
    flash(_("Thank you for your answer."), "success")
    return redirect(url_for("eservice.status", ref=ref))


@bp.route("/track/forget", methods=["POST"])
@public
def forget():
    """Close the requests opened in this browser (on a shared phone)."""
    if EmptyForm().validate_on_submit():
        session.pop(GRANTS, None)
        flash(_("This browser no longer shows your requests."), "success")
    return redirect(url_for("eservice.track"))


# --- the manual for outsiders and the notice about personal data ------------------------------------


@bp.route("/privacy")
@public
def privacy():
    """The whole notice about personal data."""
    return render_template("lending/eservice/privacy.html", notice=pdpa.notice(get_settings(db.session)))


@bp.route("/manual")
@public
def manual_page():
    """The manual for outsiders as it reads now, from the live settings."""
    url = external_url(url_for("eservice.home"))
    return render_template(
        "lending/eservice/manual.html",
        sections=manual.manual_content(db.session, get_settings(db.session), eservice_url=url),
        flow=manual.FLOW,
        branch=manual.FLOW_BRANCH,
        form=EmptyForm(),
        can_publish=can_publish(actor()),
        latest=next(iter(manual.versions(db.session)), None),
    )


@bp.route("/manual.pdf")
@public
def manual_pdf():
    """The manual for outsiders as it reads now, as a PDF."""
    data = manual.manual_pdf(db.session, eservice_url=external_url(url_for("eservice.home")))
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition("outsiders-manual.pdf")
    return resp


@bp.route("/manual/publish", methods=["POST"])
@require(MANUAL_PUBLISH)
def manual_publish():
    """Keep a numbered version of the manual for outsiders and file it as evidence."""
    if not EmptyForm().validate_on_submit():
        flash(_("The form expired; nothing was published."), "danger")
        return redirect(url_for("eservice.manual_page"))
    url = external_url(url_for("eservice.home"))
    outcome = submit_once(
        "outsiders_manual.published", lambda: manual.publish_manual(db.session, actor(), file_store(), eservice_url=url)
    )
    if outcome.replayed:
        flash(_("This form was already sent; here is what it made."), "info")
    else:
        flash(
            _(
                "Version %(n)d of the manual for outsiders was published and filed as evidence.",
                n=outcome.created.number,
            ),
            "success",
        )
    return redirect(url_for("eservice.manual_versions"))


@bp.route("/manual/versions")
@require(ASSETS_VIEW)
def manual_versions():
    """Every published version of the manual for outsiders."""
    return render_template("lending/eservice/manual_versions.html", versions=manual.versions(db.session))


@bp.route("/manual/versions/<int:version>.pdf")
@require(ASSETS_VIEW)
def manual_version_pdf(version: int):
    """A published version's PDF, exactly as it was published."""
    found = next((v for v in manual.versions(db.session) if v.number == version), None)
    if found is None:
        abort(404)
    try:
        data = file_store().read(found.sha256)
    except FileNotFoundError:
        abort(404)
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = content_disposition(f"outsiders-manual-v{version}.pdf")
    return resp
