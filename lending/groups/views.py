"""The office's pages of lending by count: groups and their members, a staff request by count, the
hand-over that picks the numbered assets, and the return by count with named exceptions."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from core.dates import bangkok_date
from core.db import DomainError, db, known, utcnow
from core.files import megabytes
from core.people.permissions import ASSETS_MANAGE, LOANS_MANAGE, LOANS_REQUEST
from core.people.services import get_settings
from core.web.edge import as_id
from core.web.routes import actor, file_store, require, send_stored, submit_once
from lending import bp
from lending.groups import queries, services
from lending.groups.forms import (
    CountRequestForm,
    GroupForm,
    GroupPhotoForm,
    GroupPhotoRemoveForm,
    MembersForm,
    PickForm,
    ReturnCountForm,
    counts_from,
    split_codes,
)
from lending.groups.models import LendingGroup
from lending.loans.models import APPROVED, CHECKED_OUT, Loan
from lending.loans.permissions import can_hand_over, can_receive
from lending.outside import deposits
from lending.outside.forms import DepositSettleForm, OfficeCancelForm
from lending.outside.permissions import (
    can_cancel_outside,
    can_enter_outside_request,
    can_manage_groups,
    can_view_party,
)


@bp.app_context_processor
def _helpers() -> dict:
    return {
        "can_manage_groups": can_manage_groups,
        "can_enter_outside_request": can_enter_outside_request,
        "can_view_party": can_view_party,
        "deposit_cases": _deposit_cases,
        "asks_deposit": lambda loan: deposits.asks_deposit(get_settings(db.session), loan),
        "DepositSettleForm": DepositSettleForm,
        "OfficeCancelForm": OfficeCancelForm,
        "can_cancel_outside": can_cancel_outside,
    }


def _deposit_cases(loan: Loan) -> list:
    """The damage and loss cases of a loan, which a kept deposit can go toward."""
    from lending.loans.models import Incident, LoanItem

    return list(
        db.session.execute(
            select(Incident).join(LoanItem, Incident.loan_item_id == LoanItem.id).where(LoanItem.loan_id == loan.id)
        ).scalars()
    )


def _today():
    return bangkok_date(utcnow())


def _group_or_404(group_id: int) -> LendingGroup:
    group = db.session.get(LendingGroup, group_id)
    if group is None:
        abort(404)
    return group


# --- groups --------------------------------------------------------------------------------------


@bp.route("/lending-groups")
@require(ASSETS_MANAGE)
def groups():
    """The lending groups, with how many are free on each of the next 14 days."""
    today = _today()
    rows = queries.groups(db.session, active_only=False, start_on=today, end_on=today + timedelta(days=13), today=today)
    return render_template("lending/groups/list.html", rows=rows, days=[today + timedelta(days=i) for i in range(14)])


@bp.route("/lending-groups/new", methods=["GET", "POST"])
@require(ASSETS_MANAGE)
def group_new():
    """Set up a lending group (its members are added on its page)."""
    form = GroupForm()
    if form.validate_on_submit():
        group = services.save_group(
            db.session,
            actor(),
            name=form.name.data,
            category=form.category.data,
            model=form.model.data or "",
            description=form.description.data or "",
            public=form.public.data,
            active=form.active.data,
        )
        flash(_("The group %(name)s was set up; now add its assets.", name=group.name), "success")
        return redirect(url_for("lending.group", group_id=group.id))
    return render_template("lending/groups/form.html", form=form, group=None)


@bp.route("/lending-groups/<int:group_id>", methods=["GET", "POST"])
@require(ASSETS_MANAGE)
def group(group_id: int):
    """One group: its details, its numbered assets, and a form to add or take out members."""
    group = _group_or_404(group_id)
    form = GroupForm(obj=group if request.method == "GET" else None)
    if request.method == "GET":
        form.version.data = str(group.version)
    if form.validate_on_submit():
        services.save_group(
            db.session,
            actor(),
            name=form.name.data,
            category=form.category.data,
            model=form.model.data or "",
            description=form.description.data or "",
            public=form.public.data,
            active=form.active.data,
            group_id=group_id,
            version=int(form.version.data) if form.version.data else None,
        )
        flash(_("Saved."), "success")
        return redirect(url_for("lending.group", group_id=group_id))
    members = queries.group_assets(db.session, group_id)
    return render_template(
        "lending/groups/form.html",
        form=form,
        group=group,
        members=members,
        members_form=MembersForm(formdata=None),
        photo_form=GroupPhotoForm(formdata=None),
        remove_photo_form=GroupPhotoRemoveForm(formdata=None),
        max_upload_mb=megabytes(current_app.config["MAX_CONTENT_LENGTH"]),
    )


@bp.route("/lending-groups/<int:group_id>/photo")
@require(ASSETS_MANAGE)
def group_photo(group_id: int):
    """The group's photo as the office sees it (the e-service serves it only for a public group)."""
    group = _group_or_404(group_id)
    if not group.photo_sha256:
        abort(404)
    return send_stored(group.photo_sha256, inline=True)


@bp.route("/lending-groups/<int:group_id>/photo", methods=["POST"])
@require(ASSETS_MANAGE)
def group_photo_upload(group_id: int):
    """Put up or replace the group's photo (the one the public sees on the e-service)."""
    _group_or_404(group_id)
    form = GroupPhotoForm()
    if not form.validate_on_submit():
        flash(_("Choose a photo to upload."), "danger")
        return redirect(url_for("lending.group", group_id=group_id))
    upload = form.photo.data
    try:
        services.set_group_photo(
            db.session,
            actor(),
            group_id,
            upload.read(),
            upload.filename or "",
            file_store(),
            current_app.config["MAX_CONTENT_LENGTH"],
            version=int(form.version.data) if form.version.data else None,
        )
    except DomainError as err:
        if err.status == 403:
            raise
        flash(_("The photo was not saved: %(reason)s", reason=_(err.message, **err.params)), "danger")
    else:
        flash(_("The photo was saved."), "success")
    return redirect(url_for("lending.group", group_id=group_id))


@bp.route("/lending-groups/<int:group_id>/photo/remove", methods=["POST"])
@require(ASSETS_MANAGE)
def group_photo_remove(group_id: int):
    """Take the group's photo down."""
    _group_or_404(group_id)
    form = GroupPhotoRemoveForm()
    if not form.validate_on_submit():
        flash(_("Reload the page and try again."), "danger")
        return redirect(url_for("lending.group", group_id=group_id))
    services.remove_group_photo(db.session, actor(), group_id, version=int(form.version.data))
    flash(_("The photo was taken down."), "success")
    return redirect(url_for("lending.group", group_id=group_id))


@bp.route("/lending-groups/<int:group_id>/members", methods=["POST"])
@require(ASSETS_MANAGE)
def group_members(group_id: int):
    """Add assets to the group (or take them out) by their numbers or tags."""
    _group_or_404(group_id)
    form = MembersForm()
    if not form.validate_on_submit():
        flash(_("List the asset numbers or tags."), "danger")
        return redirect(url_for("lending.group", group_id=group_id))
    assets, unknown = queries.resolve_codes(db.session, split_codes(form.codes.data))
    if unknown:
        flash(_("Not on the register: %(codes)s. Nothing was changed.", codes=", ".join(unknown[:10])), "danger")
        return redirect(url_for("lending.group", group_id=group_id))
    n = services.set_members(db.session, actor(), group_id, [a.id for a in assets], add=not form.remove.data)
    flash(ngettext("%(num)d asset changed.", "%(num)d assets changed.", n), "success")
    return redirect(url_for("lending.group", group_id=group_id))


# --- a staff request by count ---------------------------------------------------------------------


@bp.route("/loans/new-by-count", methods=["GET", "POST"])
@require(LOANS_REQUEST)
def loan_new_by_count():
    """Ask for a number of identical items (chairs, tents) for official use, with the days they are free."""
    session = db.session
    today = _today()
    form = CountRequestForm()
    if request.method == "GET":
        form.start_on.data = today
        form.due_on.data = today + timedelta(days=int(get_settings(session).get("default_loan_days") or 7))
    wanted: list[tuple[int, int]] = []
    if request.method == "POST":
        try:
            wanted = counts_from(request.form)
        except ValueError:
            flash(_("Type each count as a whole number."), "danger")
    if request.method == "POST" and form.validate_on_submit() and wanted and request.form.get("action") == "send":
        try:
            outcome = submit_once(
                "loan.requested",
                lambda: services.request_by_count(
                    session,
                    actor(),
                    wanted,
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
            flash(_(err.message, **err.params), "danger")
        else:
            if outcome.replayed:
                return redirect(url_for("lending.loan", loan_id=int(outcome.record_id)))
            flash(_("Your request %(ref)s was sent for approval.", ref=outcome.created.ref), "success")
            return redirect(url_for("lending.loan", loan_id=outcome.created.id))
    start, due = form.start_on.data, form.due_on.data
    if not start or not due or due < start or (due - start).days > 60:
        start, due = today, today
    rows = queries.groups(session, start_on=start, end_on=due, today=today)
    chosen = dict(wanted)
    return render_template("lending/groups/request.html", form=form, rows=rows, chosen=chosen)


# --- hand-over by picking -------------------------------------------------------------------------


def _loan_for_officer(loan_id: int) -> Loan:
    loan = db.session.get(Loan, loan_id)
    if loan is None:
        abort(404)
    return loan


@bp.route("/loans/<int:loan_id>/pick", methods=["GET", "POST"])
@require(LOANS_MANAGE)
def loan_pick(loan_id: int):
    """Hand over a request by count: scan or tick the numbered assets that leave, or take the suggestion."""
    session = db.session
    loan = _loan_for_officer(loan_id)
    if loan.status != APPROVED or not loan.lines or not can_hand_over(actor(), loan):
        if request.method == "POST":
            flash(_("Only an approved loan can be handed over."), "danger")
        return redirect(url_for("lending.loan", loan_id=loan_id))
    today = _today()
    form = PickForm()
    picks: dict[int, list[int]] = {}
    problems: list[str] = []
    if request.method == "POST":
        for line in loan.lines:
            ticked = [i for i in (as_id(v) for v in request.form.getlist(f"pick-{line.id}")) if i is not None]
            scanned, unknown = queries.resolve_codes(session, split_codes(request.form.get(f"scan-{line.id}", "")))
            problems += unknown
            # what was scanned replaces the ticked set: the officer scans every item as it is loaded
            picks[line.id] = [a.id for a in scanned] if scanned else list(dict.fromkeys(ticked))
        if problems:
            flash(_("Not on the register: %(codes)s.", codes=", ".join(problems[:10])), "danger")
        elif request.form.get("action") == "hand_over" and form.validate_on_submit():
            try:
                services.hand_over_lines(
                    session,
                    actor(),
                    loan_id,
                    picks,
                    note=form.note.data or "",
                    version=int(form.version.data),
                    store=file_store(),
                    deposit=deposits.parse_deposit(
                        request.form.get("deposit_amount"), request.form.get("deposit_receipt")
                    ),
                )
            except DomainError as err:
                if err.status == 403:
                    raise
                flash(_(err.message, **err.params), "danger")
            else:
                flash(_("The items of loan %(ref)s were handed over.", ref=loan.ref), "success")
                return redirect(url_for("lending.loan", loan_id=loan_id))
        loan = known(session.get(Loan, loan_id), "loan")  # read again after a refused POST
    options = {}
    for line in loan.lines:
        members = [a for a in queries.group_assets(session, line.group_id)]
        free = {
            a.id
            for a in queries.suggest_assets(
                session, line.group_id, len(members), loan.start_on, loan.due_on, today, exclude_loan_id=loan.id
            )
        }
        suggested = [a.id for a in members if a.id in free][: line.count]
        chosen = picks.get(line.id, suggested) if request.method == "POST" else suggested
        options[line.id] = {"members": members, "free": free, "chosen": set(chosen), "suggested": suggested}
    form.version.data = str(loan.version)
    settings = get_settings(session)
    deposit = {"asked": deposits.asks_deposit(settings, loan), "note": deposits.deposit_note(settings, loan)}
    return render_template("lending/groups/pick.html", loan=loan, options=options, form=form, deposit=deposit)


# --- return by count ------------------------------------------------------------------------------


@bp.route("/loans/<int:loan_id>/return-count", methods=["GET", "POST"])
@require(LOANS_MANAGE)
def loan_return_count(loan_id: int):
    """Receive a request by count back: count the good ones, name the damaged, lost or missing ones."""
    session = db.session
    loan = _loan_for_officer(loan_id)
    if loan.status != CHECKED_OUT or not loan.lines or not can_receive(actor(), loan):
        if request.method == "POST":
            flash(_("Only items that were handed over can be returned."), "danger")
        return redirect(url_for("lending.loan", loan_id=loan_id))
    form = ReturnCountForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("Type how many came back in good condition."), "danger")
        else:
            line_id = int(form.line.data)
            exceptions = []
            for item in loan.items:
                if item.line_id != line_id or item.condition is not None:
                    continue
                condition = request.form.get(f"cond-{item.id}", "")
                if condition in ("damaged", "lost", "out"):
                    exceptions.append(
                        services.Exception_(item.id, condition, (request.form.get(f"note-{item.id}") or "")[:2000])
                    )
            # exceptions may also be scanned: they are named as damaged with the note typed beside the scan
            scanned, unknown = queries.resolve_codes(session, split_codes(request.form.get("scan", "")))
            by_asset = {i.asset_id: i for i in loan.items if i.line_id == line_id and i.condition is None}
            named = {e.item_id for e in exceptions}
            scan_condition = request.form.get("scan_condition", "damaged")
            for asset in scanned:
                found = by_asset.get(asset.id)
                if found is not None and found.id not in named and scan_condition in ("damaged", "lost", "out"):
                    exceptions.append(
                        services.Exception_(found.id, scan_condition, (request.form.get("scan_note") or "")[:2000])
                    )
            if unknown:
                flash(_("Not on the register: %(codes)s.", codes=", ".join(unknown[:10])), "danger")
            else:
                try:
                    services.receive_by_count(
                        session,
                        actor(),
                        loan_id,
                        line_id,
                        int(form.counted.data),
                        exceptions,
                        version=int(form.version.data),
                        store=file_store(),
                    )
                except DomainError as err:
                    if err.status == 403:
                        raise
                    flash(_(err.message, **err.params), "danger")
                else:
                    flash(_("The return was recorded."), "success")
                    back = known(session.get(Loan, loan_id), "loan")  # the loan just returned
                    if back.deposit is not None and not back.deposit.is_settled and back.status == "returned":
                        flash(_("Every item is back: now record what happens to the deposit."), "info")
                        return redirect(url_for("lending.loan", loan_id=loan_id) + "#kp-deposit-h")
                    return redirect(url_for("lending.loan", loan_id=loan_id))
        loan = known(session.get(Loan, loan_id), "loan")  # read again after a refused POST
    lines = []
    for line in loan.lines:
        items = [i for i in loan.items if i.line_id == line.id]
        lines.append(
            {
                "line": line,
                "open": [i for i in items if i.condition is None],
                "back": [i for i in items if i.condition is not None],
            }
        )
    return render_template("lending/groups/return.html", loan=loan, lines=lines, form=form)
