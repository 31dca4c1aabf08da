"""The pages of lending's cases and papers: the receipt and demand letter PDFs, the damage and loss cases
(list, page, settling, documents) and a person's notifications. Helpers shared with the loan pages come from
lending.loans.views."""

from __future__ import annotations

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core.db import db
from core.models import StoredFile
from core.people.permissions import LOANS_HEAD, LOANS_MANAGE, LOANS_VIEW_ALL
from core.people.services import get_settings
from core.web.edge import page_arg
from core.web.routes import actor, file_store, require, send_stored
from lending import bp
from lending.loans import cases, permissions, records
from lending.loans import queries as lq
from lending.loans import services as workflow
from lending.loans.forms import (
    RESOLUTION_LABELS,
    DocumentForm,
    PlainForm,
    SettleForm,
)
from lending.loans.models import Demand, Incident, IncidentDocument
from lending.loans.views import _loan_or_404, _max_bytes, _to_loan, any_of

# --- documents (PDF) -----------------------------------------------------------------------------


def _pdf(data: bytes, filename: str):
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.route("/loans/<int:loan_id>/receipt.pdf")
@require()
def loan_receipt(loan_id: int):
    """The written request and receipt (ใบยืมพัสดุ) as a PDF with signature lines."""
    from core.i18n import lang
    from lending.loans.documents import receipt as documents  # imported here so the pages work without it

    item = _loan_or_404(loan_id)
    pdf = documents.receipt_pdf(item, get_settings(db.session), lang())
    return _pdf(pdf, f"receipt-{item.ref.replace('/', '-')}.pdf")


@bp.route("/demands/<int:demand_id>/letter.pdf")
@require()
def demand_letter(demand_id: int):
    """A demand letter as a PDF, for the officers and the borrower it is addressed to."""
    from core.i18n import lang
    from lending.loans.documents import demand as documents

    demand = db.session.get(Demand, demand_id)
    if demand is None or not permissions.can_view_loan(actor(), demand.loan):
        abort(404)
    pdf = documents.demand_letter_pdf(demand, get_settings(db.session), lang())
    return _pdf(pdf, f"demand-{demand.loan.ref.replace('/', '-')}-{demand.id}.pdf")


# --- incidents -----------------------------------------------------------------------------------


def _incident_or_404(incident_id: int) -> Incident:
    case = db.session.get(Incident, incident_id)
    if case is None:
        abort(404)
    user = actor()
    loan = case.loan_item.loan if case.loan_item else None
    if not (user.can(LOANS_VIEW_ALL) or (loan is not None and permissions.can_view_loan(user, loan))):
        abort(404)
    return case


@bp.route("/incidents")
@require(LOANS_VIEW_ALL)
def incidents():
    """Damage and loss cases, open ones first."""
    status = request.args.get("status", "open")
    status = status if status in ("open", "settled", "all") else "open"
    page_no = page_arg()
    page = records.incidents(db.session, "" if status == "all" else status, page_no, current_app.config["PAGE_SIZE"])
    return render_template("lending/loans/incidents.html", page=page, status=status)


@bp.route("/incidents/<int:incident_id>")
@require()
def incident(incident_id: int):
    """One case: the item, its value at the time of borrowing, documents, and how it ends."""
    case = _incident_or_404(incident_id)
    form = SettleForm(data={"version": str(case.version)})
    form.resolution.choices = permissions.settle_choices(actor(), form.resolution.choices)
    return render_template(
        "lending/loans/incident.html",
        case=case,
        loan=case.loan_item.loan if case.loan_item else None,
        documents=records.incident_documents(db.session, case.id),
        settle_form=form,
        document_form=DocumentForm(),
    )


@bp.route("/incidents/<int:incident_id>/settle", methods=["POST"])
@require()
@any_of(LOANS_MANAGE, LOANS_HEAD)
def incident_settle(incident_id: int):
    """End a case: repaired, replaced, paid (with the amount), or written off by the head."""
    form = SettleForm()
    back = url_for("lending.incident", incident_id=incident_id)
    if not form.validate_on_submit():
        flash(_("The form was incomplete or expired; nothing was changed. Reload the page and try again."), "danger")
        return redirect(back)
    try:
        amount = form.amount_value()
    except ValueError:
        flash(_("Enter the amount as a number, e.g. 1,500.00."), "danger")
        return redirect(back)
    case = cases.settle_incident(
        db.session,
        actor(),
        incident_id,
        form.resolution.data,
        amount=amount,
        note=form.note.data or "",
        version=form.version_value,
    )
    flash(_("The case is settled: %(how)s.", how=RESOLUTION_LABELS[case.resolution]), "success")
    return redirect(back)


@bp.route("/incidents/<int:incident_id>/documents", methods=["POST"])
@require()
@any_of(LOANS_MANAGE, LOANS_HEAD)
def incident_document_add(incident_id: int):
    """Attach a document to a case: a repair receipt, a payment slip, a committee report."""
    form = DocumentForm()
    back = url_for("lending.incident", incident_id=incident_id)
    if not form.validate_on_submit():
        flash(_("Choose a file to attach."), "danger")
        return redirect(back)
    upload = form.file.data
    cases.attach_incident_document(
        db.session,
        actor(),
        incident_id,
        upload.read(),
        upload.filename or "",
        form.title.data or "",
        file_store(),
        _max_bytes(),
    )
    flash(_("The document was attached."), "success")
    return redirect(back)


@bp.route("/incidents/<int:incident_id>/documents/<int:document_id>")
@require()
def incident_document(incident_id: int, document_id: int):
    """A document of a case, to whoever may see the case."""
    _incident_or_404(incident_id)
    doc = db.session.get(IncidentDocument, document_id)
    if doc is None or doc.incident_id != incident_id:
        abort(404)
    stored = db.session.get(StoredFile, doc.sha256)
    inline = stored is not None and (stored.mime.startswith("image/") or stored.mime == "application/pdf")
    return send_stored(doc.sha256, inline=inline)


# --- notifications -------------------------------------------------------------------------------

NOTIFICATION_KINDS = ("request_waiting", "approved", "items_dropped", "rejected", "due_tomorrow", "overdue")


@bp.route("/notifications")
@require()
def notifications():
    """The signed-in person's notifications, newest first."""
    rows = lq.notifications(db.session, actor().id)
    drops = lq.drops_by_loan(db.session, {r.loan_id for r in rows if r.kind in ("approved", "items_dropped")})
    return render_template("lending/loans/notifications.html", rows=rows, drops=drops, form=PlainForm())


@bp.route("/notifications/read", methods=["POST"])
@require()
def notifications_read():
    """Mark every notification read."""
    if PlainForm().validate_on_submit():
        workflow.mark_notifications_read(db.session, actor())
    return redirect(url_for("lending.notifications"))


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
@require()
def notification_open(notification_id: int):
    """Open a notification: it is marked read and its loan is shown."""
    if not PlainForm().validate_on_submit():
        return redirect(url_for("lending.notifications"))
    workflow.mark_notifications_read(db.session, actor(), [notification_id])
    from lending.loans.models import Notification

    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != actor().id or note.loan_id is None:
        return redirect(url_for("lending.notifications"))
    return _to_loan(note.loan_id)
