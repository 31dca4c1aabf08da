"""The evidence pages through the test client: the register, uploads from other records' pages, an item,
publication and the public page, the indicator catalogue and the measures of a year.

The database is shared by the session: each test uses its own titles and, where a year's contents matter,
its own fiscal year (26xx). Pages are switched to English so assertions quote the msgids.
"""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import url_for
from sqlalchemy import func, select

from audit.models import AuditEntry
from core.db import db
from core.files import FileStore
from core.models import User
from core.web import context
from evidence.items import services
from evidence.measures import queries as measure_queries
from evidence.measures import services as measure_services
from evidence.measures.forms import FIGURE_LABELS
from evidence.measures.models import Indicator, Measure
from evidence.report.figures import FIGURE_KEYS
from tests.conftest import sign_in, unique

YEAR = 2600
MB = 1024 * 1024
# The years these tests use name FY2566's codes (i20 … o43): each starts from the FY2566 catalogue, as an
# admin would start it on the indicators page (a page that only reads never starts a year).
FY2566_YEARS = range(2600, 2611)


@pytest.fixture(scope="module", autouse=True)
def _years_from_fy2566(app):
    with app.app_context():
        for year in FY2566_YEARS:
            measure_services.ensure_indicators(db.session, None, year, from_year=2566)
        db.session.remove()


def pdf() -> bytes:
    return b"%PDF-1.4\n% " + unique("page").encode() + b"\n%%EOF\n"


def file_of(client, url: str):
    with client.get(url) as resp:
        resp.get_data()
        return resp


def upload(app, user, title: str, *, year: int = YEAR, indicators=("i20",), description: str = "", **links) -> int:
    """File an item through the service; returns its id."""
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        actor = db.session.get(User, user.id)
        item = services.upload_evidence(
            db.session,
            actor,
            FileStore(app.config["EVIDENCE_DIR"]),
            pdf(),
            f"{title}.pdf",
            fiscal_year=year,
            title=title,
            indicators=list(indicators),
            description=description,
            max_bytes=25 * MB,
            **links,
        )
        item_id = item.id
        db.session.remove()
        return item_id


def publish(app, user, evidence_id: int, public: bool = True) -> str | None:
    with app.app_context():
        context.set_origin("127.0.0.1", "pytest")
        item = services.set_visibility(db.session, db.session.get(User, user.id), evidence_id, public)
        token = item.public_token
        db.session.remove()
        return token


def titles_listed(html: str) -> list[str]:
    return re.findall(r'<a href="/evidence/\d+">([^<]+)</a>', html)


# --- nothing internal without login ----------------------------------------------------------------


def test_every_internal_evidence_route_sends_an_anonymous_visitor_to_the_login(app, client, admin):
    evidence_id = upload(app, admin, unique("anon "))
    with app.app_context():
        measure_id = db.session.execute(select(Measure.id)).scalars().first() or 1
        db.session.remove()
    values = {"evidence_id": evidence_id, "measure_id": measure_id}
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/evidence")]
    assert len(rules) >= 11

    for rule in rules:
        with app.test_request_context():
            url = url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            resp = client.open(url, method=method, data={})
            assert resp.status_code == 302, (method, url, resp.status_code)
            assert resp.headers["Location"].startswith("/login"), (method, url)


def test_the_public_pages_show_only_published_items_and_withdrawn_links_stop_working(app, client, admin):
    year = 2601
    shown, hidden, withdrawn = unique("shown "), unique("hidden "), unique("withdrawn ")
    shown_id = upload(app, admin, shown, year=year, indicators=["i20", "o43"], description="คำอธิบาย")
    upload(app, admin, hidden, year=year)
    withdrawn_id = upload(app, admin, withdrawn, year=year)
    token = publish(app, admin, shown_id)
    old_token = publish(app, admin, withdrawn_id)
    publish(app, admin, withdrawn_id, public=False)

    page = client.get(f"/public/evidence/{year}").get_data(as_text=True)

    assert shown in page and hidden not in page and withdrawn not in page
    assert page.count(f"http://kp.test/public/e/{token}") == 4, "listed (link and text) under i20 and o43"
    assert page.index('id="indicator-i20"') < page.index('id="indicator-o43"')
    served = file_of(client, f"/public/e/{token}")
    assert served.status_code == 200 and served.mimetype == "application/pdf"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline; filename=")
    assert file_of(client, f"/public/e/{old_token}").status_code == 404
    assert file_of(client, "/public/e/not-a-token").status_code == 404
    assert client.get(f"/evidence/{shown_id}").status_code == 302, "the internal page still needs a login"


def test_a_public_link_stays_the_same_when_an_item_is_withdrawn_and_published_again(app, client, admin):
    evidence_id = upload(app, admin, unique("stable "))

    first = publish(app, admin, evidence_id)
    publish(app, admin, evidence_id, public=False)
    assert file_of(client, f"/public/e/{first}").status_code == 404
    second = publish(app, admin, evidence_id)

    assert second == first
    assert file_of(client, f"/public/e/{first}").status_code == 200


def test_an_empty_year_says_nothing_is_published(client):
    page = client.get("/public/evidence/2699")
    assert page.status_code == 200
    assert client.get("/public/evidence/1999").status_code == 404


# --- the register ------------------------------------------------------------------------------------


def test_the_register_searches_title_description_and_file_name_and_filters_by_year_indicator_visibility(
    app, client, admin
):
    year = 2602
    tag = unique("reg")
    upload(app, admin, f"{tag} คู่มือการยืม", year=year, indicators=["i20"])
    b = upload(app, admin, f"{tag} ภาพตรวจนับ", year=year, indicators=["i24"], description="ตรวจนับประจำปี")
    upload(app, admin, f"{tag} ปีก่อน", year=year - 1, indicators=["i20"])
    publish(app, admin, b)
    sign_in(client, admin)

    def listed(**args) -> set[str]:
        html = client.get("/evidence", query_string={"q": tag, **args}).get_data(as_text=True)
        return {t.removeprefix(f"{tag} ") for t in titles_listed(html)}

    assert listed(year=year) == {"คู่มือการยืม", "ภาพตรวจนับ"}
    assert listed(year="all") == {"คู่มือการยืม", "ภาพตรวจนับ", "ปีก่อน"}
    assert listed(year=year, indicator="i24") == {"ภาพตรวจนับ"}
    assert listed(year=year, visibility="public") == {"ภาพตรวจนับ"}
    assert listed(year=year, visibility="internal") == {"คู่มือการยืม"}
    html = client.get("/evidence", query_string={"q": "ตรวจนับประจำ", "year": year}).get_data(as_text=True)
    assert f"{tag} ภาพตรวจนับ" in titles_listed(html), "the description is searched"
    html = client.get("/evidence", query_string={"q": f"{tag} ปีก่อน.pdf", "year": "all"}).get_data(as_text=True)
    assert titles_listed(html) == [f"{tag} ปีก่อน"], "the file name is searched"
    html = client.get("/evidence", query_string={"q": f"{tag}_คู่มือ", "year": "all"}).get_data(as_text=True)
    assert "No evidence matches." in html, "_ is searched as a character, not a wildcard"


def test_the_register_opens_on_the_current_fiscal_year_and_pages_by_50(app, client, admin):
    from evidence.items.queries import current_fiscal_year

    tag = unique("page")
    for n in range(52):
        upload(app, admin, f"{tag} {n:02d}", year=2603)
    sign_in(client, admin)

    default = client.get("/evidence").get_data(as_text=True)
    assert f'<option value="{current_fiscal_year()}" selected>' in default

    first = titles_listed(client.get("/evidence", query_string={"q": tag, "year": 2603}).get_data(as_text=True))
    second = client.get("/evidence", query_string={"q": tag, "year": 2603, "page": 2}).get_data(as_text=True)
    assert len(first) == 50 and first[0] == f"{tag} 51", "newest first"
    assert titles_listed(second) == [f"{tag} 01", f"{tag} 00"]
    assert "52 items · page 2 of 2" in second


# --- uploading from another record's page ----------------------------------------------------------


def test_an_upload_from_an_assets_page_is_attached_to_the_asset(app, client, officer, make_asset):
    asset = make_asset(name="โปรเจคเตอร์ ห้องประชุม")
    sign_in(client, officer)

    form = client.get(f"/evidence/new?asset={asset.id}").get_data(as_text=True)
    assert "The files will be attached to" in form and "โปรเจคเตอร์ ห้องประชุม" in form
    assert f'name="asset_id" type="hidden" value="{asset.id}"' in form

    title = unique("attached ")
    resp = client.post(
        "/evidence/new",
        data={
            "fiscal_year": str(YEAR),
            "indicators": ["i24"],
            "asset_id": str(asset.id),
            "title": title,
            "files": [(io.BytesIO(pdf()), "handover.pdf")],
        },
        content_type="multipart/form-data",
    )

    assert resp.status_code == 302
    item_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert title in item_page
    assert f'href="/assets/{asset.id}"' in item_page and "โปรเจคเตอร์ ห้องประชุม" in item_page


def test_an_upload_for_an_unknown_record_is_404(client, officer):
    sign_in(client, officer)
    assert client.get("/evidence/new?asset=99999999").status_code == 404
    assert client.get("/evidence/new?loan=abc").status_code == 404


def test_the_upload_page_offers_the_years_indicators_as_checkboxes(app, client, officer):
    year = 2604
    sign_in(client, officer)

    page = client.get(f"/evidence/new?year={year}").get_data(as_text=True)

    assert f"Indicators of fiscal year {year}" in page
    for code in ("i20", "i21", "i24", "o42", "o43"):
        assert f'name="indicators" value="{code}"' in page
    assert 'src="/static/js/upload.js"' in page and 'id="kp-upload-progress"' in page
    assert "<script>" not in page, "no inline script (CSP script-src 'self')"


def test_an_upload_without_an_indicator_is_refused_with_a_message(app, client, officer):
    sign_in(client, officer)
    title = unique("no-indicator ")

    resp = client.post(
        "/evidence/new",
        data={"fiscal_year": str(YEAR), "title": title, "files": [(io.BytesIO(pdf()), "x.pdf")]},
        content_type="multipart/form-data",
        follow_redirects=True,
    )

    assert "Choose at least one indicator." in resp.get_data(as_text=True)
    with app.app_context():
        from evidence.items.models import EvidenceItem

        assert db.session.execute(select(EvidenceItem).where(EvidenceItem.title == title)).first() is None
        db.session.remove()


# --- one item ----------------------------------------------------------------------------------------


def test_an_admin_edits_an_items_title_and_indicators_and_the_change_is_audited(app, client, admin, officer):
    evidence_id = upload(app, officer, unique("before "))
    sign_in(client, admin)
    page = client.get(f"/evidence/{evidence_id}").get_data(as_text=True)
    assert f'action="/evidence/{evidence_id}/edit"' in page and 'id="kp-publish"' in page

    new_title = unique("after ")
    resp = client.post(
        f"/evidence/{evidence_id}/edit", data={"title": new_title, "description": "ใหม่", "indicators": ["i21", "o43"]}
    )

    assert resp.status_code == 302
    page = client.get(f"/evidence/{evidence_id}").get_data(as_text=True)
    assert new_title in page and ">i21<" in page and ">o43<" in page
    with app.app_context():
        data = db.session.execute(
            select(AuditEntry.data).where(
                AuditEntry.action == "evidence.updated", AuditEntry.subject_id == str(evidence_id)
            )
        ).scalar_one()
        data = json.loads(data) if isinstance(data, str) else data
        assert data["after"]["indicators"] == ["i21", "o43"]
        db.session.remove()


def test_an_officer_sees_an_item_without_the_edit_and_publish_forms(app, client, officer):
    evidence_id = upload(app, officer, unique("officer-view "))
    sign_in(client, officer)

    page = client.get(f"/evidence/{evidence_id}").get_data(as_text=True)

    assert f"/evidence/{evidence_id}/file" in page
    assert f'action="/evidence/{evidence_id}/edit"' not in page and 'id="kp-publish"' not in page
    assert client.post(f"/evidence/{evidence_id}/visibility", data={"public": "1"}).status_code == 403


def test_publishing_through_the_page_shows_the_public_link(app, client, admin):
    evidence_id = upload(app, admin, unique("publish-page "))
    sign_in(client, admin)

    resp = client.post(f"/evidence/{evidence_id}/visibility", data={"public": "1"}, follow_redirects=True)

    page = resp.get_data(as_text=True)
    token = re.search(r"http://kp\.test/public/e/([A-Za-z0-9_-]+)", page).group(1)
    assert "Published. Its public link:" in page and 'id="kp-withdraw"' in page
    assert file_of(client, f"/public/e/{token}").status_code == 200


# --- indicators ----------------------------------------------------------------------------------------


def test_opening_a_year_without_a_catalogue_writes_nothing_and_offers_to_start_it(app, client, admin):
    sign_in(client, admin)
    with app.app_context():
        entries = db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        db.session.remove()

    page = client.get("/evidence/indicators?year=2500").get_data(as_text=True)
    assert "ITA indicators, fiscal year 2500" in page and "Fiscal year 2500 has no catalogue yet." in page
    with app.app_context():
        assert measure_queries.indicators_of(db.session, 2500) == []
        assert db.session.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == entries
        db.session.remove()

    client.post("/evidence/indicators/start?year=2500")
    with app.app_context():
        started = {i.code: i.to_confirm for i in measure_queries.indicators_of(db.session, 2500)}
        db.session.remove()
    assert {"i20", "o43"} <= set(started) and all(started.values()), "a copy of FY2566's, every item to confirm"

    client.post(
        "/evidence/indicators?year=2500",
        data={"code": "e6", "instrument": "EIT", "group": "6", "text_th": "คุณภาพการดำเนินงาน", "text_en": ""},
    )
    client.post("/evidence/indicators/start?year=2501")
    with app.app_context():
        assert "e6" in {i.code for i in measure_queries.indicators_of(db.session, 2501)}
        db.session.remove()


def test_an_admin_adds_and_changes_an_indicator_of_a_year(app, client, admin):
    year = 2605
    sign_in(client, admin)

    added = client.post(
        f"/evidence/indicators?year={year}",
        data={
            "code": "O40",
            "instrument": "OIT",
            "group": "10",
            "text_th": "มาตรการป้องกันการทุจริตใหม่",
            "text_en": "A new measure",
        },
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Indicator o40 of fiscal year 2605 was saved." in added

    edit_form = client.get(f"/evidence/indicators?year={year}&edit=o40").get_data(as_text=True)
    assert "Change indicator o40" in edit_form and "มาตรการป้องกันการทุจริตใหม่" in edit_form
    client.post(
        f"/evidence/indicators?year={year}",
        data={"code": "o40", "instrument": "OIT", "group": "9", "text_th": "ข้อความแก้ไข", "text_en": ""},
    )

    with app.app_context():
        row = db.session.execute(
            select(Indicator).where(Indicator.fiscal_year == year, Indicator.code == "o40")
        ).scalar_one()
        assert (row.group, row.text_th) == (9, "ข้อความแก้ไข")
        db.session.remove()


def test_a_bad_indicator_code_is_refused_and_the_form_keeps_what_was_typed(app, client, admin):
    sign_in(client, admin)

    page = client.post(
        "/evidence/indicators?year=2606",
        data={"code": "x12", "instrument": "OIT", "group": "9", "text_th": "ข้อความที่พิมพ์ไว้"},
    ).get_data(as_text=True)

    assert "An indicator code is a letter i, e or o and a number, e.g. i20 or o43." in page
    assert "ข้อความที่พิมพ์ไว้" in page
    with app.app_context():
        assert "x12" not in {i.code for i in measure_queries.indicators_of(db.session, 2606)}
        db.session.remove()


# --- measures ------------------------------------------------------------------------------------------


def test_every_figure_has_a_readable_label():
    assert set(FIGURE_LABELS) == set(FIGURE_KEYS)


def test_an_admin_creates_and_edits_measures_and_everyone_with_the_register_reads_them(app, client, admin, make_user):
    year = 2607
    sign_in(client, admin)
    form = client.get(f"/evidence/measures/new?year={year}").get_data(as_text=True)
    assert 'name="figures" value="lending.on_time_return_rate"' in form
    assert "On-time return rate (%)" in form and 'name="indicators" value="i21"' in form

    client.post(
        f"/evidence/measures/new?year={year}",
        data={
            "title": "มาตรการยืมคืนพัสดุผ่านระบบ",
            "indicators": ["i20", "i21"],
            "activities": "จัดทำคู่มือ",
            "responsible": "งานพัสดุ กองคลัง",
            "outcome": "ยืมคืนครบ",
            "figures": ["lending.requests", "lending.on_time_return_rate"],
        },
    )
    client.post(f"/evidence/measures/new?year={year}", data={"title": "มาตรการเผยแพร่ข้อมูล", "indicators": ["o43"]})
    with app.app_context():
        first, second = (
            db.session.execute(select(Measure).where(Measure.fiscal_year == year).order_by(Measure.position))
            .scalars()
            .all()
        )
        first_id, version = first.id, first.version
        assert (first.indicators, first.figures) == (
            ["i20", "i21"],
            ["lending.requests", "lending.on_time_return_rate"],
        )
        assert second.position == first.position + 1
        db.session.remove()

    edit = client.get(f"/evidence/measures/{first_id}/edit").get_data(as_text=True)
    assert "จัดทำคู่มือ" in edit and f'name="version" type="hidden" value="{version}"' in edit
    client.post(
        f"/evidence/measures/{first_id}/edit",
        data={
            "title": "มาตรการยืมคืนพัสดุผ่านระบบ",
            "indicators": ["i20"],
            "activities": "จัดทำคู่มือ\nอบรม",
            "responsible": "งานพัสดุ",
            "outcome": "ยืมคืนครบ ตรวจสอบได้",
            "figures": ["lending.requests"],
            "version": str(version),
        },
    )
    stale = client.post(
        f"/evidence/measures/{first_id}/edit",
        data={"title": "ทับของคนอื่น", "indicators": ["i20"], "version": str(version)},
    ).get_data(as_text=True)
    assert "Someone else changed this measure after you opened it." in stale

    auditor = make_user(roles=["auditor"])
    client.post("/logout")
    page = sign_in(client, auditor).get(f"/evidence/measures?year={year}").get_data(as_text=True)
    assert page.index("มาตรการยืมคืนพัสดุผ่านระบบ") < page.index("มาตรการเผยแพร่ข้อมูล")
    assert "ยืมคืนครบ ตรวจสอบได้" in page and "Borrowing requests" in page and "ทับของคนอื่น" not in page
    assert "New measure" not in page and f"/evidence/measures/{first_id}/edit" not in page


def test_last_years_measures_are_copied_into_an_empty_year_without_their_results(app, client, admin):
    source, target = 2608, 2609
    sign_in(client, admin)
    client.post(
        f"/evidence/measures/new?year={source}",
        data={
            "title": "มาตรการตรวจสอบพัสดุประจำปี",
            "indicators": ["i24"],
            "activities": "ตรวจนับแล้ว",
            "responsible": "คณะกรรมการตรวจสอบพัสดุ",
            "outcome": "พบครบ",
            "figures": ["assets.total"],
        },
    )

    empty = client.get(f"/evidence/measures?year={target}").get_data(as_text=True)
    assert f"Copy the measures of fiscal year {source}" in empty
    resp = client.post(
        "/evidence/measures/copy", data={"from_year": str(source), "to_year": str(target)}, follow_redirects=True
    )

    assert "1 measures were copied from fiscal year 2608." in resp.get_data(as_text=True)
    with app.app_context():
        copy = db.session.execute(select(Measure).where(Measure.fiscal_year == target)).scalar_one()
        assert (copy.title, copy.indicators, copy.responsible, copy.figures) == (
            "มาตรการตรวจสอบพัสดุประจำปี",
            ["i24"],
            "คณะกรรมการตรวจสอบพัสดุ",
            ["assets.total"],
        )
        assert (copy.activities, copy.outcome) == ("", "")
        db.session.remove()
    again = client.post(
        "/evidence/measures/copy",
        data={"from_year": str(source), "to_year": str(target)},
        headers={"Referer": f"/evidence/measures?year={target}"},
        follow_redirects=True,
    )
    assert "Fiscal year 2609 already has measures." in again.get_data(as_text=True)


def test_evidence_uploaded_for_a_measure_is_listed_under_it(app, client, admin):
    year = 2610
    sign_in(client, admin)
    client.post(f"/evidence/measures/new?year={year}", data={"title": "มาตรการมีหลักฐาน", "indicators": ["o43"]})
    with app.app_context():
        measure_id = db.session.execute(select(Measure.id).where(Measure.fiscal_year == year)).scalar_one()
        db.session.remove()

    form = client.get(f"/evidence/new?measure={measure_id}").get_data(as_text=True)
    assert f"Indicators of fiscal year {year}" in form, "the measure's year is the default"
    title = unique("for-measure ")
    upload(app, admin, title, year=year, indicators=["o43"], measure_id=measure_id)

    page = client.get(f"/evidence/measures?year={year}").get_data(as_text=True)
    assert title in page and f"/evidence/new?measure={measure_id}" in page


# --- navigation ------------------------------------------------------------------------------------------


def test_the_menu_offers_evidence_to_those_who_may_see_it_and_the_footer_links_the_public_page(
    client, admin, make_user
):
    anonymous = client.get("/login").get_data(as_text=True)
    assert 'id="kp-public-evidence"' in anonymous and "/public/evidence/" in anonymous

    staff_page = sign_in(client, make_user(roles=["staff"])).get("/assets").get_data(as_text=True)
    assert 'id="kp-nav-evidence"' not in staff_page
    client.post("/logout")
    admin_page = sign_in(client, admin).get("/assets").get_data(as_text=True)
    assert 'id="kp-nav-evidence"' in admin_page and 'href="/evidence/indicators"' in admin_page
