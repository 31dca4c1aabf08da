"""Bookings: the calendar by role (who sees which loan, and whose names), "reserved from … to …" on the
register and the asset page, the available-by-date filters, the search's synonyms (built in and the
officer's own, audited) and the search-as-you-type endpoint behind a form that works without it.

The database is shared by the session: every test makes its own people and assets (names made unique)
and asserts on those only. Pages are in English so that assertions quote the msgids; dates are B.E.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from audit.models import AuditEntry
from core.dates import bangkok_date, format_date, format_numeric
from core.db import db, utcnow
from lending.loans.bookings import queries as bookings
from lending.register import synonyms
from tests.conftest import PASSWORD, unique
from tests.web.test_loan_pages import new_loan, run, signed_in


@pytest.fixture(scope="module")
def cast(app):
    """Two borrowers with names found nowhere else, an officer, a head, an auditor and an admin (made once
    for the module: each test makes its own assets and loans)."""
    from core.models import User
    from core.people import services as core_services

    roles = {
        "alice": "staff",
        "bob": "staff",
        "officer": "supply_officer",
        "head": "head",
        "auditor": "auditor",
        "admin": "admin",
    }
    out = {}
    with app.app_context():
        for key, role in roles.items():
            name = f"ทดสอบ {key} {unique('n')}" if key in ("alice", "bob") else "ทดสอบ ผู้ใช้"
            user_id = core_services.create_user(db.session, None, unique("b"), name, {role}, PASSWORD).id
            db.session.remove()
            out[key] = db.session.get(User, user_id)
            db.session.expunge(out[key])
        db.session.remove()
    return out


def _today():
    return bangkok_date(utcnow())


def _ref(app, loan_id: int) -> str:
    from lending.loans.models import Loan

    with app.app_context():
        ref = db.session.get(Loan, loan_id).ref
        db.session.remove()
    return ref


def _awaiting_head(app, borrower, assets, officer, start_in=3, days=1):
    """A request the officer approved that waits for the head (off the premises needs the head)."""
    from lending.loans import services as workflow

    loan_id = new_loan(app, borrower, assets, start_in=start_in, days=days, off_premises=True)
    run(app, workflow.approve_loan, officer, loan_id)
    return loan_id


# --- the calendar, by role -------------------------------------------------------------------------


def test_the_calendar_shows_each_role_what_it_may_see_and_no_other_borrowers_names(app, cast, make_asset):
    tent, chairs, mic = make_asset(name="เต็นท์ทดสอบปฏิทิน"), make_asset(), make_asset(name="ไมค์ทดสอบปฏิทิน")
    approved = new_loan(app, cast["alice"], [tent], state="approved", officer=cast["officer"], start_in=2)
    requested = new_loan(app, cast["bob"], [chairs], start_in=2)
    held = _awaiting_head(app, cast["bob"], [mic], cast["officer"], start_in=2)
    refs = {n: _ref(app, i) for n, i in (("approved", approved), ("requested", requested), ("held", held))}
    week = f"/calendar?view=week&day={(_today() + timedelta(days=2)).isoformat()}"
    alice_name, bob_name = cast["alice"].name, cast["bob"].name

    for role in ("officer", "head", "auditor"):  # those who see every loan: all three, linked, named
        page = signed_in(app, cast[role]).get(week).get_data(as_text=True)
        for loan_id, ref in ((approved, refs["approved"]), (requested, refs["requested"]), (held, refs["held"])):
            assert f'href="/loans/{loan_id}"' in page and ref in page, role
        assert alice_name in page and bob_name in page
        assert "Waiting for the head of agency" in page and "Waiting for approval" in page

    # Alice: her own loan in full; Bob's held items as "Booked" without ref, name or link; his plain
    # request not at all.
    page = signed_in(app, cast["alice"]).get(week).get_data(as_text=True)
    assert f'href="/loans/{approved}"' in page and refs["approved"] in page and alice_name in page
    assert refs["held"] not in page and f"/loans/{held}" not in page and bob_name not in page
    assert "Booked" in page and "ไมค์ทดสอบปฏิทิน" in page
    assert refs["requested"] not in page and f"/loans/{requested}" not in page

    # The admin (no loans of their own, may not see loans): days and items only.
    page = signed_in(app, cast["admin"]).get(week).get_data(as_text=True)
    assert not any(ref in page for ref in refs.values())
    assert alice_name not in page and bob_name not in page and "เต็นท์ทดสอบปฏิทิน" in page

    # The month view lists the same loans, under the month's B.E. name.
    day = _today() + timedelta(days=2)
    month = signed_in(app, cast["officer"]).get(f"/calendar?day={day.isoformat()}").get_data(as_text=True)
    assert refs["approved"] in month and f"{day.year + 543} BE" in month
    thai = signed_in(app, cast["officer"])
    with thai.session_transaction() as cookie:
        cookie["lang"] = "th"
    page = thai.get(f"/calendar?day={day.isoformat()}").get_data(as_text=True)
    from core.dates import THAI_MONTHS

    assert f"{THAI_MONTHS[day.month - 1]} {day.year + 543}" in page


def test_an_assets_calendar_shows_only_its_loans_and_bad_input_is_a_message(app, cast, make_asset):
    mine, other = make_asset(), make_asset()
    own = new_loan(app, cast["alice"], [mine], state="approved", officer=cast["officer"], start_in=1)
    elsewhere = new_loan(app, cast["alice"], [other], state="approved", officer=cast["officer"], start_in=1)
    client = signed_in(app, cast["officer"])
    page = client.get(f"/assets/{mine.id}/calendar?view=week&day={(_today() + timedelta(days=1)).isoformat()}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and f"/loans/{own}" in body and f"/loans/{elsewhere}" not in body
    for bad in ("not-a-date", "31/02/2569", "9999-99-99", "x" * 300):
        resp = client.get(f"/calendar?day={bad}&view=nonsense")
        assert resp.status_code == 200
    assert client.get("/assets/99999999/calendar").status_code == 404


def test_an_item_out_past_its_due_date_stays_on_the_calendar_until_today(app, cast, make_asset):
    from tests.web.test_loan_pages import overdue_loan

    asset = make_asset()
    loan_id = overdue_loan(app, cast["alice"], [asset], cast["officer"], days_overdue=5)
    page = signed_in(app, cast["officer"]).get(f"/calendar?view=week&day={_today().isoformat()}")
    assert f"/loans/{loan_id}" in page.get_data(as_text=True) and "Overdue" in page.get_data(as_text=True)


# --- reserved from … to … ----------------------------------------------------------------------------


def _row(page: str, number: str) -> str:
    match = re.search(rf"<tr>(?:(?!</tr>).)*{re.escape(number)}(?:(?!</tr>).)*</tr>", page, re.S)
    assert match, f"no register row for {number}"
    return match.group(0)


def test_the_register_and_the_asset_page_say_reserved_from_to_for_held_assets(app, cast, make_asset):
    dept = unique("กองจอง")
    approved, held, asked, free = (make_asset(department=dept) for _ in range(4))
    new_loan(app, cast["alice"], [approved], state="approved", officer=cast["officer"], start_in=1, days=2)
    _awaiting_head(app, cast["bob"], [held], cast["officer"], start_in=4, days=1)
    new_loan(app, cast["bob"], [asked], start_in=1)  # a plain request holds nothing
    start, due = _today() + timedelta(days=1), _today() + timedelta(days=3)
    expected = f"Reserved from {format_date(start, 'en')} to {format_date(due, 'en')}"
    for who in ("alice", "bob", "officer"):  # dates only: the same for everyone
        client = signed_in(app, cast[who])
        page = client.get(f"/assets?department={dept}").get_data(as_text=True)
        row = _row(page, approved.asset_number)
        assert "kp-status-reserved" in row and expected in row
        assert "waiting for the head of agency" in _row(page, held.asset_number)
        assert "Reserved" not in _row(page, asked.asset_number) and "Available" in _row(page, asked.asset_number)
        assert "Reserved" not in _row(page, free.asset_number)
        asset_page = client.get(f"/assets/{approved.id}").get_data(as_text=True)
        assert expected in asset_page and "Upcoming bookings" in asset_page


def test_the_asset_page_lists_upcoming_bookings_as_each_person_may_see_them(app, cast, make_asset):
    asset = make_asset()
    first = new_loan(app, cast["alice"], [asset], state="approved", officer=cast["officer"], start_in=1)
    second = new_loan(app, cast["bob"], [asset], state="approved", officer=cast["officer"], start_in=6)
    ask = new_loan(app, cast["bob"], [asset], start_in=10)
    officer = signed_in(app, cast["officer"]).get(f"/assets/{asset.id}").get_data(as_text=True)
    upcoming = officer[officer.index('id="upcoming"') : officer.index('id="loan-history"')]
    for loan_id in (first, second, ask):
        assert f"/loans/{loan_id}" in upcoming
    assert cast["alice"].name in upcoming and cast["bob"].name in upcoming
    alice = signed_in(app, cast["alice"]).get(f"/assets/{asset.id}").get_data(as_text=True)
    upcoming = alice[alice.index('id="upcoming"') : alice.index('id="loan-history"')]
    assert f"/loans/{first}" in upcoming and f"/loans/{second}" not in upcoming and "Booked" in upcoming
    assert f"/loans/{ask}" not in upcoming and cast["bob"].name not in alice
    assert format_date(_today() + timedelta(days=6), "en") in upcoming


def test_reservations_count_approved_awaiting_head_and_not_out_or_plain_requests(app, cast, make_asset):
    from core.models import User

    a, b, c = make_asset(), make_asset(), make_asset()
    new_loan(app, cast["alice"], [a], state="approved", officer=cast["officer"], start_in=0)
    _awaiting_head(app, cast["alice"], [b], cast["officer"], start_in=2)
    new_loan(app, cast["alice"], [c], state="checked_out", officer=cast["officer"], start_in=0)
    with app.app_context():
        found = bookings.next_reservations(db.session, [a.id, b.id, c.id], _today())
        assert set(found) == {a.id, b.id} and found[b.id].awaiting_head and not found[a.id].awaiting_head
        viewer = db.session.get(User, cast["admin"].id)
        shown = bookings.bookings_between(db.session, viewer, _today(), _today() + timedelta(days=5), _today(), c.id)
        assert [x.stage for x in shown] == ["out"] and not shown[0].shown and shown[0].ref == ""
        db.session.remove()


# --- available-by-date filters -----------------------------------------------------------------------


def test_the_register_filters_assets_free_on_every_day_of_a_range(app, cast, make_asset):
    token = "โต๊ะกรองวัน" + unique("")
    busy, held, free = (make_asset(name=f"{token} {n}") for n in ("ก", "ข", "ค"))
    broken = make_asset(name=f"{token} ง", status="in_repair")
    new_loan(app, cast["alice"], [busy], state="approved", officer=cast["officer"], start_in=3, days=2)
    _awaiting_head(app, cast["bob"], [held], cast["officer"], start_in=5, days=0)
    client = signed_in(app, cast["alice"])

    def found(start, end=None):
        args = f"q={token}&free_from={format_numeric(_today() + timedelta(days=start))}"
        if end is not None:
            args += f"&free_to={(_today() + timedelta(days=end)).isoformat()}"
        page = client.get(f"/assets?{args}").get_data(as_text=True)
        return {a.asset_number for a in (busy, held, free, broken) if a.asset_number in page}

    assert found(0, 2) == {busy.asset_number, held.asset_number, free.asset_number}
    assert found(4, 4) == {held.asset_number, free.asset_number}
    assert found(5) == {free.asset_number}  # one date alone: that day
    assert found(6, 30) == {busy.asset_number, held.asset_number, free.asset_number}
    for bad, message in (
        ("free_from=xx", "Not a date"),
        ("free_from=01/01/2500", "These days are past"),
        (
            f"free_from={format_numeric(_today() + timedelta(days=3))}"
            f"&free_to={format_numeric(_today() + timedelta(days=1))}",
            "The end date is before",
        ),
    ):
        resp = client.get(f"/assets?q={token}&{bad}")
        assert resp.status_code == 200 and message in resp.get_data(as_text=True)


def test_the_loan_pickers_filter_leaves_out_items_booked_on_the_requests_dates(app, cast, make_asset):
    token = "จอทดสอบวัน" + unique("")
    busy, free = make_asset(name=f"{token} หนึ่ง"), make_asset(name=f"{token} สอง")
    new_loan(app, cast["bob"], [busy], state="approved", officer=cast["officer"], start_in=2, days=1)
    client = signed_in(app, cast["alice"])
    dates = {
        "start_on": format_numeric(_today() + timedelta(days=3)),
        "due_on": format_numeric(_today() + timedelta(days=4)),
    }
    page = client.post("/loans/new", data={"action": "search", "q": token, **dates}).get_data(as_text=True)
    assert f'value="{busy.id}"' in page and f'value="{free.id}"' in page
    page = client.post("/loans/new", data={"action": "search", "q": token, "free_only": "y", **dates}).get_data(
        as_text=True
    )
    assert f'value="{busy.id}"' not in page and f'value="{free.id}"' in page
    later = {
        "start_on": format_numeric(_today() + timedelta(days=9)),
        "due_on": format_numeric(_today() + timedelta(days=9)),
    }
    page = client.post("/loans/new", data={"action": "search", "q": token, "free_only": "y", **later}).get_data(
        as_text=True
    )
    assert f'value="{busy.id}"' in page


# --- synonyms ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed, name",
    [
        ("โปรเจ็คเตอร์", "เครื่องฉายภาพ (โปรเจคเตอร์) {t}"),
        ("projector", "เครื่องฉายภาพ (โปรเจคเตอร์) {t}"),
        ("Projector", "เครื่องฉายภาพ {t}"),
        ("ไมค์", "ไมโครโฟนไร้สาย {t}"),
        ("microphone", "ไมค์ลอย {t}"),
        ("tent", "เต็นท์ผ้าใบ {t}"),
        ("เต้นท์", "เต็นท์ผ้าใบ {t}"),
        ("notebook", "เครื่องคอมพิวเตอร์โน้ตบุ๊ก {t}"),
    ],
)
def test_a_thai_variant_or_an_english_name_finds_the_asset(app, cast, make_asset, typed, name):
    dept = unique("กองคำพ้อง")
    asset = make_asset(name=name.format(t=unique("")), department=dept)
    other = make_asset(name=f"กระดาษ {unique('')}", department=dept)
    # The department narrows the list to this test's assets (the session's database is shared).
    page = signed_in(app, cast["alice"]).get(f"/assets?q={typed}&department={dept}").get_data(as_text=True)
    assert asset.asset_number in page and other.asset_number not in page


def test_the_officer_adds_a_synonym_that_works_at_once_and_is_audited(app, cast, make_asset):
    word = "เครื่องเป่าใบไม้" + unique("")
    english = "leafblower" + unique("")
    asset = make_asset(name=f"{word} รุ่นสะพายหลัง")
    officer = signed_in(app, cast["officer"])
    assert asset.asset_number not in officer.get(f"/assets?q={english}").get_data(as_text=True)
    resp = officer.post("/assets/synonyms", data={"terms": f"{word},\n {english.upper()} , {word}"})
    assert resp.status_code == 302
    assert asset.asset_number in officer.get(f"/assets?q={english}").get_data(as_text=True)
    # the loan picker and the suggestions use the same list
    picker = signed_in(app, cast["alice"]).post("/loans/new", data={"action": "search", "q": english})
    assert f'value="{asset.id}"' in picker.get_data(as_text=True)
    with app.app_context():
        group = (
            db.session.execute(select(synonyms.SearchSynonym).order_by(synonyms.SearchSynonym.id.desc()))
            .scalars()
            .first()
        )
        assert group.terms == [word, english]
        entry = db.session.execute(
            select(AuditEntry).where(
                AuditEntry.action == "search_synonym.added", AuditEntry.subject_id == str(group.id)
            )
        ).scalar_one()
        assert entry.actor_id == cast["officer"].id
        group_id = group.id
        db.session.remove()
    page = officer.get("/assets/synonyms").get_data(as_text=True)
    assert english in page and "โปรเจ็คเตอร์" in page  # the office's group and the built-in list
    # the same group again, or a group of one, is refused with a message
    for terms in (f"{english}, {word}", "ลำพัง"):
        resp = officer.post("/assets/synonyms", data={"terms": terms})
        assert resp.status_code == 200 and "is-invalid" in resp.get_data(as_text=True)
    # staff may neither add nor remove
    staff = signed_in(app, cast["alice"])
    assert staff.post("/assets/synonyms", data={"terms": "ก้อน, หิน"}).status_code == 403
    assert staff.post(f"/assets/synonyms/{group_id}/delete").status_code == 403
    assert officer.post(f"/assets/synonyms/{group_id}/delete").status_code == 302
    assert asset.asset_number not in officer.get(f"/assets?q={english}").get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(
            select(AuditEntry.seq).where(
                AuditEntry.action == "search_synonym.removed", AuditEntry.subject_id == str(group_id)
            )
        ).first()
        db.session.remove()
    assert officer.post(f"/assets/synonyms/{group_id}/delete").status_code == 404


# --- search as you type ------------------------------------------------------------------------------


def test_the_suggestions_endpoint_uses_the_forms_search_and_the_form_works_without_it(app, cast, make_asset):
    token = "ลำโพงพิมพ์ค้น" + unique("")
    asset = make_asset(name=f"{token} ตัวที่หนึ่ง")
    hidden = make_asset(name=f"{token} ห้ามยืม", lendable=False)
    client = signed_in(app, cast["alice"])
    frag = client.get(f"/assets/suggest?q={token}").get_data(as_text=True)
    assert f'href="/assets/{asset.id}"' in frag and f'href="/assets/{hidden.id}"' in frag and "2 matches" in frag
    assert "<html" not in frag
    loan = client.get(f"/assets/suggest?q={token}&for=loan").get_data(as_text=True)
    assert f'data-add-asset="{asset.id}"' in loan and f'data-add-asset="{hidden.id}"' not in loan
    excluded = client.get(f"/assets/suggest?q={token}&for=loan&exclude={asset.id}").get_data(as_text=True)
    assert f'data-add-asset="{asset.id}"' not in excluded
    assert client.get("/assets/suggest?q=").get_data(as_text=True).strip() == ""
    assert client.get("/assets/suggest?q=x&for=loan&free_from=xx").status_code == 200
    # without the script: the register's own form finds the same asset, and names the script's endpoint
    page = client.get(f"/assets?q={token}").get_data(as_text=True)
    assert asset.asset_number in page and 'data-suggest="/assets/suggest"' in page
    assert 'src="/static/js/search.js"' in page


# --- pure rules --------------------------------------------------------------------------------------


def test_expansion_replaces_a_term_by_its_groups_other_terms():
    groups = synonyms.folded_built_in()
    assert "โปรเจคเตอร์" in synonyms.expand("โปรเจ็คเตอร์", groups)
    assert "ไมโครโฟนลอย" in synonyms.expand("ไมค์ลอย", groups)
    assert synonyms.expand("projector", groups)[0] == "projector"
    assert "เต็นท์" in synonyms.expand("ten", groups)  # a word still being typed
    assert synonyms.expand("416-59-0001", groups) == ("416-59-0001",)
    assert len(synonyms.expand("projector microphone tent notebook", groups)) <= synonyms.MAX_KEYS
    assert synonyms.expand("", groups) == ()


def test_a_word_being_typed_finds_its_group_only_when_no_whole_term_is_in_it():
    groups = synonyms.folded_built_in()
    assert "projector screen" not in synonyms.expand("projector", groups)
    assert "ไมโครโฟน" in synonyms.expand("microp", groups)
