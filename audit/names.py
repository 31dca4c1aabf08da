"""What the log's codes mean to a person: one table of names for every action and every kind of record.

The codes themselves (``loan.approved``, ``loan 6``) stay in the log, the exports and the hashes; pages
show these names beside them. `tests/unit/test_audit_names.py` finds every action the code records and
fails when one has no name here.

Audit knows records only by type and id, so the link to a record's own page is registered from above
(wsgi.create_app, the one place that knows every package's routes): `register_link(type, build)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import lazy_gettext as _l

ACTIONS: dict[str, Any] = {
    # people and signing in
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.logout": _l("Signed out"),
    "permission.denied": _l("Access refused"),
    "user.created": _l("User account created"),
    "user.updated": _l("User details changed"),
    "user.roles_changed": _l("User roles changed"),
    "user.activated": _l("User account activated"),
    "user.deactivated": _l("User account deactivated"),
    "user.password_changed": _l("Password changed"),
    "user.password_reset": _l("Password reset by the administrator"),
    "user.language_changed": _l("Language changed"),
    "settings.changed": _l("Agency settings changed"),
    # the asset register
    "asset.created": _l("Asset added"),
    "asset.updated": _l("Asset details changed"),
    "asset.status_changed": _l("Asset status changed"),
    "asset.photo_set": _l("Asset photo set"),
    "assets.imported": _l("Asset list imported"),
    "assets.exported": _l("Asset register exported"),
    "assets.labels_printed": _l("Labels printed"),
    # lending
    "loan.requested": _l("Loan requested"),
    "loan.officer_approved": _l("Loan approved by the supply officer"),
    "loan.approved": _l("Loan approved"),
    "loan.rejected": _l("Loan rejected"),
    "loan.cancelled": _l("Loan cancelled"),
    "loan.checked_out": _l("Items handed over"),
    "loan.receipt_confirmed": _l("Receipt confirmed by the borrower"),
    "loan.item_returned": _l("Item received back"),
    "loan.returned": _l("Loan closed (all items back)"),
    "loan.imported": _l("Loan imported from the paper ledger"),
    "loans.imported": _l("Paper ledger imported"),
    "demand.issued": _l("Demand for return issued"),
    "incident.opened": _l("Damage or loss case opened"),
    "incident.settled": _l("Damage or loss case settled"),
    "incident.document_added": _l("Document added to a case"),
    # stock-take and the manual
    "stocktake.opened": _l("Stock-take round opened"),
    "stocktake.recorded": _l("Stock-take finding recorded"),
    "stocktake.closed": _l("Stock-take round closed"),
    "manual.published": _l("Borrowing manual published"),
    # evidence and the ITA report
    "evidence.uploaded": _l("Evidence uploaded"),
    "evidence.filed": _l("Document filed as evidence"),
    "evidence.attached": _l("Evidence attached to a record"),
    "evidence.updated": _l("Evidence details changed"),
    "evidence.published": _l("Evidence published"),
    "evidence.withdrawn": _l("Evidence withdrawn from the public"),
    "evidence.downloaded": _l("Evidence downloaded"),
    "evidence.bundle_created": _l("Evidence bundle made"),
    "evidence.bundle_downloaded": _l("Evidence bundle downloaded"),
    "indicator.created": _l("ITA indicator added"),
    "indicator.updated": _l("ITA indicator changed"),
    "indicator.retired": _l("ITA indicator retired"),
    "indicator.restored": _l("ITA indicator restored"),
    "indicator.moved": _l("ITA indicator moved"),
    "catalogue.loaded": _l("ITA catalogue loaded"),
    "catalogue.started": _l("ITA catalogue started"),
    "catalogue.imported": _l("ITA catalogue imported"),
    "measure.created": _l("Integrity measure added"),
    "measure.updated": _l("Integrity measure changed"),
    "measures.copied": _l("Integrity measures copied from an earlier year"),
    "report.published": _l("ITA report published"),
    # lending by count, to outsiders, and the search
    "search_synonym.added": _l("Search synonyms added"),
    "search_synonym.removed": _l("Search synonyms removed"),
    "stocktake.prepared": _l("Stock-take round prepared for the head"),
    "outsiders_manual.published": _l("Manual for outside borrowers published"),
    "outside_party.created": _l("Outside borrower recorded"),
    "outside_party.anonymised": _l("Outside borrower's contact details anonymised"),
    "loan.survey_answered": _l("Satisfaction survey answered"),
    "lending_group.created": _l("Lending group created"),
    "lending_group.changed": _l("Lending group changed"),
    "lending_group.members_added": _l("Assets added to a lending group"),
    "lending_group.members_removed": _l("Assets removed from a lending group"),
    "lending_group.photo_set": _l("Lending group's photo put up"),
    "lending_group.photo_removed": _l("Lending group's photo taken down"),
    "loan.deposit_taken": _l("Deposit taken at the hand-over"),
    "loan.deposit_settled": _l("Deposit handed back or kept"),
    # the log itself
    "audit.checkpoint": _l("Audit checkpoint signed"),
    "audit.verified": _l("Audit chain verified"),
    "audit.exported": _l("Audit log exported"),
    "backup.created": _l("Backup made"),
}

SUBJECTS: dict[str, Any] = {
    "users": _l("User"),
    "settings": _l("Settings"),
    "asset": _l("Asset"),
    "import": _l("Import"),
    "loan": _l("Loan"),
    "loan_item": _l("Loan item"),
    "demand": _l("Demand"),
    "incident": _l("Damage or loss case"),
    "stocktake_round": _l("Stock-take round"),
    "stocktake_entry": _l("Stock-take finding"),
    "manual_version": _l("Manual version"),
    "evidence": _l("Evidence"),
    "indicator": _l("ITA indicator"),
    "catalogue": _l("ITA catalogue"),
    "measure": _l("Integrity measure"),
    "measures": _l("Integrity measures"),
    "report": _l("ITA report"),
    "bundle": _l("Evidence bundle"),
    "audit_checkpoint": _l("Audit checkpoint"),
    "audit_checkpoints": _l("Audit checkpoint"),
    "lending_group": _l("Lending group"),
    "loan_line": _l("Loan line (by count)"),
    "loan_survey": _l("Satisfaction survey"),
    "loan_deposit": _l("Deposit"),
    "outside_party": _l("Outside borrower"),
    "outsiders_manual_version": _l("Version of the manual for outside borrowers"),
    "search_synonym": _l("Search synonyms"),
}

# type -> build(subject_id, data) -> URL or None (None: no page, or not one the viewer may open)
_LINKS: dict[str, Callable[[str, dict[str, Any]], str | None]] = {}


def action_name(code: str) -> str:
    """The action's name in the page's language; an unknown (older) code is shown as it is."""
    name = ACTIONS.get(code)
    return str(name) if name is not None else code


def subject_name(subject_type: str) -> str:
    name = SUBJECTS.get(subject_type)
    return str(name) if name is not None else subject_type


def register_link(subject_type: str, build: Callable[[str, dict[str, Any]], str | None]) -> None:
    _LINKS[subject_type] = build


def link(subject_type: str, subject_id: str, data: dict[str, Any] | None = None) -> str | None:
    """The URL of the record's own page, when there is one; never raises (a bad id is no link)."""
    build = _LINKS.get(subject_type or "")
    if build is None or not subject_id:
        return None
    try:
        return build(subject_id, data or {})
    except (ValueError, TypeError, LookupError):
        return None
