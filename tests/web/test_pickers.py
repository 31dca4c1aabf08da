"""Dates picked in the browser's own date picker with the B.E. day beside them, the committee chosen with
checkboxes, and a label sheet without disposed assets."""

from __future__ import annotations

import re
from datetime import date

import pytest

from core.dates import format_date
from lending.register import queries
from tests.conftest import english, unique


@pytest.fixture
def as_officer(client, officer, login_as):
    return login_as(officer)


def test_the_loan_request_offers_date_pickers_with_the_day_in_the_buddhist_era(client, make_user, login_as):
    login_as(make_user(roles=["staff"]))
    html = client.get("/loans/new").get_data(as_text=True)
    start = re.search(r'<input[^>]*id="start_on"[^>]*>', html).group(0)
    assert 'type="date"' in start and "data-kp-be-date" in start
    value = re.search(r'value="(\d{4}-\d{2}-\d{2})"', start).group(1)
    assert re.search(rf'id="start_on-be"[^>]*>{format_date(date.fromisoformat(value), "th")}<', html)
    assert "be-date.js" in html


def test_a_typed_thai_date_still_reads_and_comes_back_in_the_picker(client, make_user, login_as, make_asset):
    login_as(make_user(roles=["staff"]))
    asset = make_asset()
    html = client.post(
        "/loans/new", data={"action": "check", "assets": [asset.id], "start_on": "15/01/2570", "due_on": "2027-01-17"}
    ).get_data(as_text=True)
    assert re.search(r'id="start_on"[^>]*value="2027-01-15"|value="2027-01-15"[^>]*id="start_on"', html)
    assert ">15 ม.ค. 2570<" in html and ">17 ม.ค. 2570<" in html


def test_the_asset_form_picks_its_acquisition_date(as_officer, make_asset):
    asset = make_asset(acquired_on=date(2016, 6, 15))
    english(as_officer)
    html = as_officer.get(f"/assets/{asset.id}/edit").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="acquired_on"[^>]*>', html).group(0)
    assert 'type="date"' in field and 'value="2016-06-15"' in field
    assert ">15 Jun 2559 BE<" in html


def test_the_filters_of_the_lists_pick_dates_too(app, client, make_user, login_as):
    login_as(make_user(roles=["auditor"]))
    for path in ("/audit/?from=01/12/2569", "/loans?from=01/12/2569"):
        html = client.get(path).get_data(as_text=True)
        assert re.search(r'type="date" id="from" name="from" value="2026-12-01"', html), path
        assert ">1 ธ.ค. 2569<" in html


def test_the_committee_is_chosen_with_checkboxes(client, login_as, make_user):
    member = make_user(roles=["staff"], name=unique("กรรมการ"))
    login_as(make_user(roles=["head"]))  # the head appoints the committee (clause 213)
    html = client.get("/stocktake/new").get_data(as_text=True)
    assert "<select multiple" not in html and 'name="committee"' in html
    box = re.search(rf'<input[^>]*value="{member.id}"[^>]*>', html)
    assert box and 'type="checkbox"' in box.group(0)


def test_the_label_sheet_leaves_disposed_assets_out_unless_asked(app, session, make_asset):
    category = unique("ป้าย")
    kept, gone = make_asset(category=category), make_asset(category=category, status="disposed")
    labels = queries.AssetFilter.from_args({"category": category}).for_labels()
    assert [a.id for a in queries.iter_assets(session, labels)] == [kept.id]
    disposed = queries.AssetFilter.from_args({"category": category, "status": "disposed"}).for_labels()
    assert [a.id for a in queries.iter_assets(session, disposed)] == [gone.id]
    assert "without_disposed" not in labels.as_args()


def test_the_labels_page_counts_without_disposed_assets(as_officer, make_asset):
    category = unique("ป้าย")
    make_asset(category=category)
    make_asset(category=category, status="disposed")
    html = as_officer.get(f"/assets/labels?category={category}").get_data(as_text=True)
    assert 'id="kp-no-disposed"' in html
    assert re.search(r"\b1\b", html[html.index("kp-card") : html.index('id="kp-no-disposed"')])


def test_the_english_manual_page_says_why_the_manual_stays_thai(client, make_user, login_as):
    login_as(make_user(roles=["staff"]))
    assert 'id="kp-manual-thai"' not in client.get("/manual").get_data(as_text=True)
    english(client)
    html = client.get("/manual").get_data(as_text=True)
    assert 'id="kp-manual-thai"' in html and "written in Thai" in html and "PDF (in Thai)" in html
