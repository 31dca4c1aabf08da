"""The lending workflow's pages: request, approval queue, the loan page and its actions, lists, overdue
(the cases, the PDFs and the notifications: lending.loans.case_views).

Each action route validates its form, calls one service of lending.loans.services or .cases with the version the page
showed, then flashes and redirects. Domain errors are turned into messages once, by the app's error
handlers (a refused POST flashes the reason and goes back to the page it came from). Who may press which
button is asked of the `can_*` predicates, in templates as in services.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from core.dates import bangkok_date
from core.db import DomainError, db, utcnow
from core.i18n import message as domain_message
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, LOANS_REQUEST, LOANS_VIEW_ALL
from core.people.services import get_settings
from core.web.edge import ids_of, page_arg
from core.web.routes import actor, file_store, record_denial, require, safe_next, send_stored, submit_once
from lending import bp
from lending.loans import cases, permissions, records
from lending.loans import queries as lq
from lending.loans import services as workflow
from lending.loans.bookings.availability import clashes, lendable
from lending.loans.forms import (
    CONDITION_LABELS,
    DEMAND_CHANNEL_LABELS,
    INCIDENT_KIND_LABELS,
    INCIDENT_STATUS_LABELS,
    LOAN_STATUS_LABELS,
    RESOLUTION_LABELS,
    ApproveForm,
    CancelForm,
    ConfirmReceiptForm,
    DemandForm,
    HandOverForm,
    LoanRequestForm,
    ReceiveForm,
    RejectForm,
)
from lending.loans.models import Loan, LoanPhoto, without_borrower_roles


def any_of(*permissions: str) -> Callable:
    """Under `require()`: let in whoever holds at least one of `permissions` (a denial is recorded)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            user = actor()
            if user is None or not any(user.can(p) for p in permissions):
                record_denial(list(permissions))
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def waited(delta: timedelta) -> str:
    """A waiting time in one unit a person reads at a glance: minutes, hours, or days."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", minutes)
    hours = minutes // 60
    if hours < 48:
        return ngettext("%(num)d hour", "%(num)d hours", hours)
    return ngettext("%(num)d day", "%(num)d days", hours // 24)


@bp.app_context_processor
def _loan_helpers():
    def unread_notifications() -> int:
        user = actor()
        if user is None:
            return 0
        if "kp_unread" not in g:
            g.kp_unread = lq.unread_count(db.session, user.id)
        return g.kp_unread

    return {
        "unread_notifications": unread_notifications,
        "LOAN_STATUS_LABELS": LOAN_STATUS_LABELS,
        "CONDITION_LABELS": CONDITION_LABELS,
        "RESOLUTION_LABELS": RESOLUTION_LABELS,
        "INCIDENT_KIND_LABELS": INCIDENT_KIND_LABELS,
        "INCIDENT_STATUS_LABELS": INCIDENT_STATUS_LABELS,
        "DEMAND_CHANNEL_LABELS": DEMAND_CHANNEL_LABELS,
        "can_request": permissions.can_request,
        "can_decide": permissions.can_decide,
        "can_hand_over": permissions.can_hand_over,
        "can_receive": permissions.can_receive,
        "can_cancel": permissions.can_cancel,
        "can_confirm_receipt": permissions.can_confirm_receipt,
        "can_demand": permissions.can_demand,
        "can_settle": permissions.can_settle,
        "can_view_loan": permissions.can_view_loan,
        "can_manage_incidents": permissions.can_manage_incidents,
        "can_see_queue": permissions.can_see_queue,
    }


@bp.app_template_filter("waited")
def _waited_filter(delta: timedelta) -> str:
    return waited(delta)


def _today():
    return bangkok_date(utcnow())


def _loan_or_404(loan_id: int) -> Loan:
    """The loan if the signed-in person may see it; otherwise 404, so that its existence is not revealed."""
    loan = db.session.get(Loan, loan_id, options=[without_borrower_roles()])
    if loan is None or not permissions.can_view_loan(actor(), loan):
        abort(404)
    return loan


def _to_loan(loan_id: int, anchor: str | None = None):
    return redirect(url_for("lending.loan", loan_id=loan_id, _anchor=anchor))


def _back(default: str):
    return redirect(safe_next(request.form.get("next")) or default)


def _incomplete(loan_id: int):
    flash(_("The form was incomplete or expired; nothing was changed. Reload the page and try again."), "danger")
    return _to_loan(loan_id)


def _csrf_failed(form) -> bool:
    field = form._fields.get("csrf_token")
    return bool(field is not None and field.errors)


def _max_bytes() -> int:
    return current_app.config["MAX_CONTENT_LENGTH"]


# --- request -------------------------------------------------------------------------------------


@bp.route("/loans/new", methods=["GET", "POST"])
@require(LOANS_REQUEST)
def loan_new():
    """The written request: pick lendable items, state the official purpose, place and dates; check first."""
    session = db.session
    settings = get_settings(session)
    form = LoanRequestForm()
    today = _today()
    action = request.form.get("action", "search") if request.method == "POST" else "show"
    if request.method == "GET":
        form.start_on.data = today
        form.due_on.data = today + timedelta(days=int(settings.get("default_loan_days") or 7))
        form.assets.data = ids_of(request.args.getlist("asset"))
        form.q.data = (request.args.get("q") or "")[:100]
    ok = form.validate_for(action) if request.method == "POST" else True
    chosen = lq.assets_by_ids(session, form.chosen_ids())
    needs_head = bool(chosen) and workflow.needs_head_approval(settings, chosen, bool(form.off_premises.data))
    availability = None
    if request.method == "POST" and not ok and _csrf_failed(form):
        flash(_("The form expired. Check what you entered and press the button again."), "danger")
    elif action == "send" and ok:
        try:
            outcome = submit_once(
                "loan.requested",
                lambda: workflow.request_loan(
                    session,
                    actor(),
                    form.chosen_ids(),
                    purpose=form.purpose.data,
                    place=form.place.data,
                    off_premises=bool(form.off_premises.data),
                    start_on=form.start_on.data,
                    due_on=form.due_on.data,
                ),
            )
        except DomainError as err:
            if err.status == 403:
                raise
            flash(domain_message(err.message, err.params), "danger")
        else:
            if outcome.replayed:
                flash(_("This form was already sent; here is what it made."), "info")
                return _to_loan(int(outcome.record_id))
            loan = outcome.created
            flash(_("Your request %(ref)s was sent for approval.", ref=loan.ref), "success")
            return _to_loan(loan.id)
    if (
        chosen
        and form.start_on.data
        and form.due_on.data
        and not form.start_on.errors
        and not form.due_on.errors
        and action in ("check", "send")
    ):
        if form.due_on.data < form.start_on.data:
            form.due_on.errors = [_("The return date is before the start date.")]
        else:
            availability = {
                a.asset.id: a for a in lq.availability(session, chosen, form.start_on.data, form.due_on.data)
            }
    # With items already chosen (e.g. from a scanned label) the catalogue shows only what is searched for.
    show_catalogue = bool((form.q.data or "").strip()) or not chosen
    # The picker's available-by-date filter: the request's own dates, when they make a range.
    free = (
        (form.start_on.data, form.due_on.data)
        if form.free_only.data and form.start_on.data and form.due_on.data and form.start_on.data <= form.due_on.data
        else (None, None)
    )
    catalogue, matches = (
        lq.lendable_catalogue(
            session, form.q.data or "", [a.id for a in chosen], free_from=free[0], free_to=free[1], today=today
        )
        if show_catalogue
        else ([], 0)
    )
    return render_template(
        "lending/loans/new.html",
        form=form,
        chosen=chosen,
        catalogue=catalogue,
        matches=matches,
        show_catalogue=show_catalogue,
        availability=availability,
        free_dates=free if free[0] else None,
        needs_head=needs_head,
        blocked={a.id for a in chosen if not lendable(a)},
        settings=settings,
    )


# --- queue and lists -----------------------------------------------------------------------------


@bp.route("/loans/queue")
@require(LOANS_VIEW_ALL)
def loan_queue():
    """Requests waiting for a decision, oldest first, with how long each has waited."""
    queue, counts = lq.approval_queue_and_counts(db.session, utcnow())
    user = actor()
    # A head who is not also a supply officer sees first what waits for them.
    head_first = user.can(LOANS_HEAD) and not user.can(LOANS_MANAGE)
    order = ["head", "officer"] if head_first else ["officer", "head"]
    return render_template(
        "lending/loans/queue.html",
        queue=queue,
        counts=counts,
        order=order,
        approve_form=ApproveForm(),
        reject_form=RejectForm(),
    )


@bp.route("/loans/mine")
@require(LOANS_REQUEST)
def loans_mine():
    """The signed-in person's current loans and a page of past ones."""
    page_no = page_arg()
    current, past = lq.my_loans(db.session, actor().id, _today(), page_no, current_app.config["PAGE_SIZE"])
    return render_template("lending/loans/mine.html", current=current, past=past)


@bp.route("/loans")
@require(LOANS_VIEW_ALL)
def loans():
    """Every loan, filtered by status, borrower, overdue and dates."""
    flt = lq.LoanFilter.from_args(request.args)
    page_no = page_arg()
    page = lq.all_loans(db.session, flt, _today(), page_no, current_app.config["PAGE_SIZE"])
    return render_template("lending/loans/list.html", page=page, flt=flt)


@bp.route("/loans/overdue")
@require(LOANS_VIEW_ALL)
def loans_overdue():
    """Items past their due date, most days overdue first; flags demands not made within 7 days."""
    today = _today()
    rows = records.overdue_items(db.session, today)
    return render_template("lending/loans/overdue.html", rows=rows, today=today, demand_form=DemandForm())


# --- one loan ------------------------------------------------------------------------------------


@bp.route("/loans/<int:loan_id>")
@require()
def loan(loan_id: int):
    """A loan: items, dates, purpose, its timeline, and the actions the signed-in person may take now."""
    return _loan_page(_loan_or_404(loan_id))


def _loan_page(item: Loan, **extra: Any):
    """The loan's page; `extra` carries what a refused form sent back (the return's choices and errors)."""
    session = db.session
    demands = records.loan_demands(session, item.id)
    cases = records.loan_incidents(session, item.id)
    photos = records.loan_photos(session, item.id)
    timeline = records.loan_timeline(session, item, demands, cases, photos)
    v = {"version": str(item.version)}
    # Whoever decides sees first which items another request holds on these days, and may leave them out.
    held = (
        clashes(session, [i.asset_id for i in item.items], item.start_on, item.due_on, item.id, _today())
        if permissions.can_decide(actor(), item)
        else []
    )
    return render_template(
        "lending/loans/loan.html",
        loan=item,
        timeline=timeline,
        demands=demands,
        cases=cases,
        held=held,
        held_assets={c.asset_id for c in held},
        drops=lq.loan_drops(session, item.id),
        today=_today(),
        approve_form=ApproveForm(data=v),
        reject_form=RejectForm(data=v),
        cancel_form=CancelForm(data=v),
        handover_form=HandOverForm(data=v),
        confirm_form=ConfirmReceiptForm(data=v),
        receive_form=ReceiveForm(data=v),
        demand_form=DemandForm(data=v),
        total_value=lq.money_total([i.value for i in item.items]),
        receive_values=extra.get("receive_values", {}),
        receive_errors=extra.get("receive_errors", {}),
        photos_again=extra.get("photos_again", False),
    )


@bp.route("/loans/<int:loan_id>/approve", methods=["POST"])
@require()
@any_of(LOANS_MANAGE, LOANS_HEAD)
def loan_approve(loan_id: int):
    """The supply officer's approval, or the head's second one."""
    form = ApproveForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    dropped = form.drop_ids()
    loan = workflow.approve_loan(
        db.session,
        actor(),
        loan_id,
        version=form.version_value,
        drop_item_ids=dropped,
        drop_reason=form.drop_reason.data or "",
    )
    if dropped:
        flash(
            ngettext(
                "Loan %(ref)s is approved without %(num)d item; the borrower is told why.",
                "Loan %(ref)s is approved without %(num)d items; the borrower is told why.",
                len(dropped),
                ref=loan.ref,
            ),
            "info",
        )
    if loan.status == "approved":
        flash(_("Loan %(ref)s is approved.", ref=loan.ref), "success")
    else:
        flash(
            _("Loan %(ref)s is approved by the supply officer and now waits for the head of agency.", ref=loan.ref),
            "success",
        )
    return _back(url_for("lending.loan", loan_id=loan_id))


@bp.route("/loans/<int:loan_id>/reject", methods=["POST"])
@require()
@any_of(LOANS_MANAGE, LOANS_HEAD)
def loan_reject(loan_id: int):
    """Refuse a request, with the reason the borrower will read."""
    form = RejectForm()
    if not form.validate_on_submit():
        if form.version.errors or _csrf_failed(form):
            return _incomplete(loan_id)
        flash(_("Give the reason for the rejection."), "danger")
        return _back(url_for("lending.loan", loan_id=loan_id))
    loan = workflow.reject_loan(db.session, actor(), loan_id, form.reason.data, version=form.version_value)
    flash(_("Loan %(ref)s was rejected.", ref=loan.ref), "success")
    return _back(url_for("lending.loan", loan_id=loan_id))


@bp.route("/loans/<int:loan_id>/cancel", methods=["POST"])
@require(LOANS_REQUEST)
def loan_cancel(loan_id: int):
    """The borrower withdraws the request (until hand-over)."""
    form = CancelForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    loan = workflow.cancel_loan(db.session, actor(), loan_id, form.reason.data or "", version=form.version_value)
    flash(_("Loan %(ref)s was cancelled.", ref=loan.ref), "success")
    return _to_loan(loan_id)


@bp.route("/loans/<int:loan_id>/hand-over", methods=["POST"])
@require(LOANS_MANAGE)
def loan_hand_over(loan_id: int):
    """Give the items to the borrower now, with condition notes and optional photos."""
    form = HandOverForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    photos = [(f.read(), f.filename or "") for f in (form.photos.data or []) if f and f.filename]
    loan = workflow.hand_over(
        db.session,
        actor(),
        loan_id,
        note=form.note.data or "",
        version=form.version_value,
        photos=photos,
        store=file_store(),
        max_bytes=_max_bytes(),
    )
    flash(_("The items of loan %(ref)s were handed over.", ref=loan.ref), "success")
    return _to_loan(loan_id)


@bp.route("/loans/<int:loan_id>/confirm", methods=["POST"])
@require(LOANS_REQUEST)
def loan_confirm(loan_id: int):
    """The borrower confirms receiving the items."""
    form = ConfirmReceiptForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    workflow.confirm_receipt(db.session, actor(), loan_id, version=form.version_value)
    flash(_("Thank you: you confirmed receiving the items."), "success")
    return _to_loan(loan_id)


@bp.route("/loans/<int:loan_id>/receive", methods=["POST"])
@require(LOANS_MANAGE)
def loan_receive(loan_id: int):
    """Receive items back, each inspected as good, damaged or lost; the others stay out."""
    form = ReceiveForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    loan = db.session.get(Loan, loan_id)
    if loan is None:
        abort(404)
    # Every item, not only those still out: one received meanwhile by someone else gets a clear refusal.
    returns = form.returns(request.form, request.files, [i.id for i in loan.items])
    missing = form.missing_notes(returns, loan)
    if missing:  # the page again with every choice kept, and the items that need a note named
        for text in missing.values():
            flash(text, "danger")
        return _loan_page(
            _loan_or_404(loan_id),
            receive_values=form.sent_values(request.form, loan),
            receive_errors=missing,
            photos_again=any(r.photos for r in returns),
        )
    loan = workflow.receive_items(
        db.session, actor(), loan_id, returns, version=form.version_value, store=file_store(), max_bytes=_max_bytes()
    )
    if loan.status == "returned":
        flash(_("Every item of loan %(ref)s is back; the loan is closed.", ref=loan.ref), "success")
    else:
        flash(
            ngettext(
                "%(num)d item was received back; the others are still out.",
                "%(num)d items were received back; the others are still out.",
                len(returns),
            ),
            "success",
        )
    return _to_loan(loan_id)


@bp.route("/loans/<int:loan_id>/demand", methods=["POST"])
@require(LOANS_MANAGE)
def loan_demand(loan_id: int):
    """Issue a written demand letter for the loan's overdue items; the letter is then printed."""
    form = DemandForm()
    if not form.validate_on_submit():
        return _incomplete(loan_id)
    cases.issue_demand_letter(db.session, actor(), loan_id, version=form.version_value)
    flash(_("The demand letter was recorded. Print it and hand it to the borrower."), "success")
    return _to_loan(loan_id, "demands")


@bp.route("/loans/<int:loan_id>/photos/<int:photo_id>")
@require()
def loan_photo(loan_id: int, photo_id: int):
    """A hand-over or return photo, to whoever may see the loan."""
    _loan_or_404(loan_id)
    photo = db.session.get(LoanPhoto, photo_id)
    if photo is None or photo.loan_id != loan_id:
        abort(404)
    return send_stored(photo.sha256, inline=True)
