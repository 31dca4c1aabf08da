"""Statements built once with bound parameters (issue 16): each person still gets their own rows — the
signed-in user, the unread count, an asset's loan history and its reservations."""

from __future__ import annotations

from core.db import db
from lending.loans.models import Loan
from tests.web.test_loan_pages import new_loan, signed_in


def _ref(app, loan_id: int) -> str:
    with app.app_context():
        ref = db.session.get(Loan, loan_id).ref
        db.session.remove()
        return ref


def test_each_borrower_sees_only_their_own_loans_in_an_assets_history(app, make_user, make_asset):
    officer = make_user(roles=["supply_officer"])
    first, second = make_user(roles=["staff"]), make_user(roles=["staff"])
    asset = make_asset()
    mine = _ref(app, new_loan(app, first, [asset], start_in=1, days=1))
    theirs = _ref(app, new_loan(app, second, [asset], start_in=5, days=1))
    clients = {"officer": signed_in(app, officer), "first": signed_in(app, first), "second": signed_in(app, second)}
    for _ in range(2):  # alternating, so a statement kept from one person's page serves the next one's
        everyone = clients["officer"].get(f"/assets/{asset.id}").get_data(as_text=True)
        assert mine in everyone and theirs in everyone and "Loan history" in everyone
        one = clients["first"].get(f"/assets/{asset.id}").get_data(as_text=True)
        assert mine in one and theirs not in one and "Your loans of this item" in one
        other = clients["second"].get(f"/assets/{asset.id}").get_data(as_text=True)
        assert theirs in other and mine not in other


def test_the_register_marks_only_the_booked_asset_reserved(app, make_user, make_asset):
    officer, staff = make_user(roles=["supply_officer"]), make_user(roles=["staff"])
    booked, free = make_asset(), make_asset()
    loan_id = new_loan(app, staff, [booked], state="approved", officer=officer, start_in=2, days=1)
    client = signed_in(app, officer)
    for asset, reserved in ((booked, True), (free, False), (booked, True)):
        html = client.get(f"/assets?q={asset.asset_number}").get_data(as_text=True)
        assert asset.asset_number in html
        assert ("kp-status-reserved" in html) is reserved, (asset.asset_number, loan_id)
