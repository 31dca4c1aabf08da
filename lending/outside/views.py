"""The office's pages for outside borrowers: a request entered at the counter or from an agency's letter,
and the lending rules per kind of borrower (with the retention of their contact details)."""

from __future__ import annotations

from datetime import timedelta

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.dates import bangkok_date
from core.db import DomainError, db, utcnow
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, SETTINGS_MANAGE
from core.web.edge import as_id
from core.web.routes import actor, require, submit_once
from lending import bp
from lending.groups.forms import counts_from
from lending.loans.views import any_of
from lending.outside import deposits, queries, services
from lending.outside.forms import DepositSettleForm, OfficeCancelForm, OutsideRequestForm, RulesForm
from lending.outside.models import KIND_NAMES, KINDS


@bp.route("/loans/outside/new", methods=["GET", "POST"])
@require(LOANS_MANAGE)
def outside_new():
    """The officer types in an outsider's request (the counter, or another agency's letter)."""
    session = db.session
    today = bangkok_date(utcnow())
    form = OutsideRequestForm()
    if request.method == "GET":
        form.start_on.data = today + timedelta(days=1)
        form.due_on.data = today + timedelta(days=2)
    wanted: list[tuple[int, int]] = []
    if request.method == "POST":
        try:
            wanted = counts_from(request.form)
        except ValueError:
            flash(_("Type each count as a whole number."), "danger")
    if request.method == "POST" and form.validate_on_submit() and wanted and request.form.get("action") == "send":
        party = services.PartyDetails(
            **{
                f: (getattr(form, f).data or "")
                for f in (
                    "kind",
                    "name",
                    "phone",
                    "contact_person",
                    "email",
                    "address",
                    "village_no",
                    "village",
                    "subdistrict",
                    "district",
                    "province",
                    "letter_no",
                    "national_id",
                )
            }
        )
        try:
            outcome = submit_once(
                "loan.requested",
                lambda: services.request_outside(
                    session,
                    actor(),
                    party,
                    wanted,
                    start_on=form.start_on.data,
                    due_on=form.due_on.data,
                    purpose=form.purpose.data,
                    place=form.place.data,
                    channel=form.channel.data,
                ),
            )
        except DomainError as err:
            if err.status == 403:
                raise
            flash(_(err.message, **err.params), "danger")
        else:
            if outcome.replayed:
                return redirect(url_for("lending.loan", loan_id=int(outcome.record_id)))
            loan = outcome.created
            flash(
                _(
                    "Request %(ref)s was recorded; its tracking reference is %(public)s.",
                    ref=loan.ref,
                    public=loan.public_ref,
                ),
                "success",
            )
            return redirect(url_for("lending.loan", loan_id=loan.id))
    start, due = form.start_on.data, form.due_on.data
    if not start or not due or due < start or (due - start).days > 60:
        start, due = today, today
    rows = queries.public_groups(session, start, due, today)
    return render_template("lending/outside/new.html", form=form, rows=rows, chosen=dict(wanted))


@bp.route("/admin/outside-rules", methods=["GET", "POST"])
@require(SETTINGS_MANAGE)
def outside_rules():
    """Lending rules per kind of outside borrower, and how long their contact details are kept."""
    session = db.session
    current = services.current_rules(session)
    form = RulesForm()
    if request.method == "GET":
        form.retention.data = current["retention_setting"]
    if form.validate_on_submit():
        rules = {}
        for kind in KINDS:
            raw_days = (request.form.get(f"{kind}-max_days") or "").strip()
            rules[kind] = {
                "max_days": raw_days if raw_days.isdigit() else "x",
                "head_approval": bool(request.form.get(f"{kind}-head_approval")),
                "deposit": bool(request.form.get(f"{kind}-deposit")),
                "deposit_note": (request.form.get(f"{kind}-deposit_note") or "")[:300],
                "categories": [
                    c for c in (request.form.get(f"{kind}-categories") or "")[:1000].split(",") if c.strip()
                ],
            }
        try:
            services.save_rules(session, actor(), rules, int(form.retention.data))
        except DomainError as err:
            if err.status == 403:
                raise
            flash(_(err.message, **err.params), "danger")
        else:
            flash(_("Settings saved."), "success")
            return redirect(url_for("lending.outside_rules"))
    return render_template(
        "lending/outside/rules.html",
        form=form,
        rules=current["rules"],
        kinds=KINDS,
        kind_names=KIND_NAMES,
        retention_years=current["retention_years"],
    )


@bp.route("/loans/<int:loan_id>/deposit", methods=["POST"])
@require(LOANS_MANAGE)
def loan_deposit_settle(loan_id: int):
    """Settle an outside borrower's deposit after the return: handed back, or in part kept toward a case."""
    form = DepositSettleForm()
    back = redirect(url_for("lending.loan", loan_id=loan_id) + "#kp-deposit-h")
    if not form.validate_on_submit():
        flash(_("Type what was handed back (0 when all is kept)."), "danger")
        return back
    try:
        deposits.settle_deposit(
            db.session,
            actor(),
            loan_id,
            returned=deposits.money(form.returned.data, allow_zero=True),
            kept=deposits.money(form.kept.data or "0", allow_zero=True),
            incident_id=as_id(form.incident.data) if form.incident.data else None,
            note=form.note.data or "",
            version=int(form.version.data),
        )
    except DomainError as err:
        if err.status == 403:
            raise
        flash(_(err.message, **err.params), "danger")
    else:
        flash(_("The deposit was settled."), "success")
    return back


@bp.route("/loans/<int:loan_id>/cancel-outside", methods=["POST"])
@require()
@any_of(LOANS_MANAGE, LOANS_HEAD)
def outside_cancel(loan_id: int):
    """The officer or the head cancels an outside request before the hand-over, with a reason."""
    form = OfficeCancelForm()
    back = redirect(url_for("lending.loan", loan_id=loan_id))
    if not form.validate_on_submit():
        flash(_("Give the reason for cancelling the request; the borrower reads it."), "danger")
        return back
    try:
        loan = services.cancel_by_office(db.session, actor(), loan_id, form.reason.data, version=int(form.version.data))
    except DomainError as err:
        if err.status == 403:
            raise
        flash(_(err.message, **err.params), "danger")
        return back
    flash(_("Request %(ref)s was cancelled; the borrower sees the reason.", ref=loan.ref), "success")
    return back
