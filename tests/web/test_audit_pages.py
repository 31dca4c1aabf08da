"""The auditor's pages: who may open them, the filters, keyset pages, an entry's diff, verify now, exports.

The session's database is shared and never emptied, so each test records its own entries on a subject of
its own (`record(..., ("pagetest", unique id), ...)`) and looks only at those.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from audit import record
from audit.models import AuditEntry
from core.dates import BANGKOK, BE_OFFSET
from core.db import begin_write, db
from core.models import User
from core.web import context
from tests.conftest import owner_connection, unique
from tests.jobs import follow_job


def write(app, actor_id: int | None, action: str, subject: tuple[str, str], data: dict, n: int = 1) -> list[int]:
    """Record `n` entries as the given user (or the system); return their sequence numbers."""
    with app.app_context():
        context.set_origin("198.51.100.7", "pytest pages")
        actor = db.session.get(User, actor_id) if actor_id else None
        begin_write(db.session)
        seqs = [record(db.session, actor, action, subject, {**data, "n": i}).seq for i in range(n)]
        db.session.commit()
        db.session.remove()
    return seqs


def seqs_on(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'href="/audit/entry/(\d+)"', html)]


def last_entry(app, action: str) -> AuditEntry:
    with app.app_context():
        row = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
        db.session.expunge(row)
        db.session.remove()
    return row


@pytest.fixture
def auditor(make_user, login_as):
    user = make_user(roles=["auditor"], name="นางสาวตรวจ สอบดี")
    login_as(user)
    return user


# --- who may open them ---------------------------------------------------------------------------

PAGES = [
    "/audit/",
    "/audit/verify",
    "/audit/entry/1",
    "/audit/record/user/1",
    "/audit/export.csv",
    "/audit/export.xlsx",
]


@pytest.mark.parametrize("role", ["staff", "supply_officer", "head", "admin"])
def test_only_the_auditor_opens_the_audit_pages(app, client, make_user, login_as, role):
    user = make_user(roles=[role])
    login_as(user)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert client.post("/audit/verify").status_code == 403
    denied = last_entry(app, "permission.denied")
    assert denied.actor == user.username


def test_the_auditor_opens_every_audit_page(client, auditor):
    for path in PAGES:
        with client.get(path) as resp:
            assert resp.status_code == 200, path


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_login(client):
    resp = client.get("/audit/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


# --- the log and its filters ---------------------------------------------------------------------


def test_the_log_filters_by_record_and_links_each_entry(app, client, auditor):
    subject = ("pagetest", unique("r"))
    mine = write(app, None, "pagetest.touched", subject, {"after": {"name": "เต็นท์"}}, n=3)
    write(app, None, "pagetest.touched", ("pagetest", unique("other")), {}, n=2)
    html = client.get(f"/audit/?type={subject[0]}&id={subject[1]}").get_data(as_text=True)
    assert seqs_on(html) == sorted(mine, reverse=True)
    assert f"/audit/record/pagetest/{subject[1]}" in html


def test_the_log_filters_by_user_and_action(app, client, auditor, make_user):
    someone = make_user(roles=["staff"])
    mine = write(app, someone.id, "pagetest.by_user", ("pagetest", unique("u")), {}, n=2)
    write(app, None, "pagetest.by_user", ("pagetest", unique("u")), {})
    html = client.get(f"/audit/?actor={someone.username}&action=pagetest.by_user").get_data(as_text=True)
    assert seqs_on(html) == sorted(mine, reverse=True)
    assert "ไม่พบรายการบันทึกที่ตรงกับเงื่อนไข" in client.get("/audit/?actor=nobody-at-all-here").get_data(as_text=True)


def test_the_log_filters_by_a_buddhist_era_date_range_and_reports_a_bad_date(app, client, auditor):
    subject = ("pagetest", unique("d"))
    mine = write(app, None, "pagetest.dated", subject, {})
    today = datetime.now(BANGKOK).date()
    be_today = f"{today.day:02d}/{today.month:02d}/{today.year + BE_OFFSET}"
    args = f"type={subject[0]}&id={subject[1]}"
    assert seqs_on(client.get(f"/audit/?{args}&from={be_today}&to={be_today}").get_data(as_text=True)) == mine
    assert seqs_on(client.get(f"/audit/?{args}&from=01/01/2560&to=31/12/2560").get_data(as_text=True)) == []
    iso = today.isoformat()
    assert seqs_on(client.get(f"/audit/?{args}&from={iso}").get_data(as_text=True)) == mine
    html = client.get(f"/audit/?{args}&from=31/02/2566").get_data(as_text=True)
    assert "is-invalid" in html and seqs_on(html) == mine  # the bad date is shown and left out


def test_the_free_text_finds_thai_inside_the_details_within_its_window(app, client, auditor):
    token = unique("ร่มสนาม")
    mine = write(app, None, "pagetest.text", ("pagetest", unique("t")), {"note": f"ยืม {token} ไปงานวัด"})
    html = client.get(f"/audit/?q={token}").get_data(as_text=True)
    assert seqs_on(html) == mine
    assert 'id="kp-window"' in html


def test_keyset_pages_walk_a_record_s_history_without_gaps_or_repeats(app, client, auditor):
    subject = ("pagetest", unique("p"))
    mine = write(app, None, "pagetest.paged", subject, {}, n=60)
    first = client.get(f"/audit/record/{subject[0]}/{subject[1]}").get_data(as_text=True)
    page1 = seqs_on(first)
    assert page1 == sorted(mine, reverse=True)[:50]
    older = re.search(r'id="kp-older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    page2 = seqs_on(second)
    assert page1 + page2 == sorted(mine, reverse=True)
    assert 'id="kp-older"' not in second
    newer = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert seqs_on(client.get(newer).get_data(as_text=True)) == page1


# --- one entry -----------------------------------------------------------------------------------


def test_an_entry_shows_its_changes_as_a_before_and_after_table(app, client, auditor):
    seq = write(
        app,
        auditor.id,
        "asset.updated",
        ("asset", unique("e")),
        {
            "before": {"location": "ห้องเก็บของ", "price": "350.00"},
            "after": {"location": "ห้องประชุมสภา", "price": "400.00"},
            "reason": "ย้ายไปใช้งาน",
        },
    )[0]
    html = client.get(f"/audit/entry/{seq}").get_data(as_text=True)
    table = html[html.index("kp-diff") :]
    table = table[: table.index("</table>")]
    assert re.search(
        r"location</th><td class=\"kp-before\">ห้องเก็บของ</td>"
        r"<td class=\"kp-after\">ห้องประชุมสภา",
        table,
    )
    assert "350.00" in table and "400.00" in table
    assert "ย้ายไปใช้งาน" in html  # the other details
    assert auditor.username in html and "198.51.100.7" in html


def test_an_entry_that_does_not_exist_is_a_404(client, auditor):
    assert client.get("/audit/entry/999999999").status_code == 404


# --- verify now ----------------------------------------------------------------------------------


def test_verify_now_shows_an_intact_chain_and_is_recorded(app, client, auditor):
    resp = follow_job(app, client, client.post("/audit/verify"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'class="alert alert-success"[^>]*id="kp-verify-result"', html)
    entry = last_entry(app, "audit.verified")
    assert entry.actor == auditor.username and '"ok":true' in entry.data


def test_verify_now_needs_the_form_s_csrf_token(client, auditor, csrf_on):
    assert client.post("/audit/verify").status_code == 400


# --- exports -------------------------------------------------------------------------------------


def test_the_csv_export_is_excel_ready_neutralises_formulas_and_is_recorded(app, client, auditor):
    subject = ("pagetest", '=HYPERLINK("http://evil")' + unique("x"))
    mine = write(app, None, "pagetest.exported", subject, {"note": "สวัสดี"}, n=3)
    started = client.post("/audit/export.csv", query_string={"type": subject[0], "id": subject[1]})
    resp = follow_job(app, client, started)
    body = resp.get_data()
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset, not two
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert [int(r[0]) for r in rows[1:]] == mine
    assert all(r[7].startswith("'=HYPERLINK") for r in rows[1:])  # the record id column
    assert "สวัสดี" in rows[1][8]
    entry = last_entry(app, "audit.exported")
    assert entry.actor == auditor.username
    data = json.loads(entry.data)
    assert (data["format"], data["count"]) == ("csv", 3)
    assert data["filter"] == {"type": subject[0], "id": subject[1]}


def test_the_xlsx_export_opens_in_a_spreadsheet_and_is_recorded(app, client, auditor):
    subject = ("pagetest", "=1+1" + unique("xl"))
    mine = write(app, None, "pagetest.exported", subject, {"note": "=1+1"}, n=2)
    started = client.post("/audit/export.xlsx", query_string={"type": subject[0], "id": subject[1]})
    with follow_job(app, client, started) as resp:
        assert resp.status_code == 200
        content = resp.get_data()
    book = load_workbook(io.BytesIO(content), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == mine
    assert not any(c.startswith("=") for r in rows[1:] for c in r if isinstance(c, str))
    assert all(r[7] == "'" + subject[1] for r in rows[1:])  # the record id, neutralised
    book.close()
    data = json.loads(last_entry(app, "audit.exported").data)
    assert (data["format"], data["count"]) == ("xlsx", 2)


def test_verify_now_names_the_changed_entry_of_a_tampered_chain(tmp_path):
    """In an instance of its own: someone drops the trigger and edits entry 2; the page names it."""
    from sqlalchemy import text

    from core.people import services as core_services
    from tests.conftest import PASSWORD, login
    from tests.integration.audit_instances import separate_instance

    with separate_instance("pages", tmp_path) as other:
        with other.app_context():
            context.set_origin("127.0.0.1", "pytest")
            core_services.create_user(db.session, None, "auditor1", "ผู้ตรวจ สอบ", {"auditor"}, PASSWORD)
            core_services.update_settings(db.session, None, {"phone": "044-000000"})
            with owner_connection(other) as conn, conn.begin():
                if conn.dialect.name == "sqlite":
                    conn.execute(text("DROP TRIGGER audit_entries_no_update"))
                else:
                    conn.execute(text("DROP TRIGGER audit_entries_append_only ON audit_entries"))
                conn.execute(text("UPDATE audit_entries SET data = replace(data, '044', '045') WHERE seq = 2"))
            db.session.remove()
        client = other.test_client()
        assert login(client, "auditor1").status_code == 302
        html = follow_job(other, client, client.post("/audit/verify")).get_data(as_text=True)
        assert re.search(r'class="alert alert-danger"[^>]*id="kp-verify-result"', html)
        assert 'href="/audit/entry/2"' in html
        problem = json.loads(last_entry(other, "audit.verified").data)["problem"]
        assert (problem["seq"], problem["kind"]) == (2, "content_changed")
        with other.app_context():
            db.engine.dispose()


# --- names for people ----------------------------------------------------------------------------


def test_the_log_names_actions_and_records_in_thai_and_links_the_record(app, client, auditor, make_asset):
    asset = make_asset()
    seq = write(app, None, "asset.status_changed", ("asset", str(asset.id)), {"after": {"status": "in_repair"}})[0]
    html = client.get(f"/audit/?type=asset&id={asset.id}").get_data(as_text=True)
    assert "เปลี่ยนสถานะครุภัณฑ์" in html and "asset.<wbr>status_changed" in html  # the name, the code beside
    assert f'<a class="kp-record" href="/assets/{asset.id}">ครุภัณฑ์ {asset.id}</a>' in html
    assert f'href="/audit/record/asset/{asset.id}"' in html  # the record's history stays one click away
    entry = client.get(f"/audit/entry/{seq}").get_data(as_text=True)
    assert "เปลี่ยนสถานะครุภัณฑ์" in entry and f'href="/assets/{asset.id}"' in entry
    history = client.get(f"/audit/record/asset/{asset.id}").get_data(as_text=True)
    assert "ประวัติของ ครุภัณฑ์" in history or f"ครุภัณฑ์ {asset.id}" in history
    assert f'id="kp-open-record" href="/assets/{asset.id}"' in history
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    english = client.get(f"/audit/?type=asset&id={asset.id}").get_data(as_text=True)
    assert "Asset status changed" in english and f">Asset {asset.id}</a>" in english


def test_a_record_without_a_page_links_its_history_and_an_unknown_code_shows_as_it_is(app, client, auditor):
    subject = ("pagetest", unique("n"))
    write(app, None, "pagetest.unnamed", subject, {})
    html = client.get(f"/audit/?type={subject[0]}&id={subject[1]}").get_data(as_text=True)
    assert f'<a class="kp-record" href="/audit/record/pagetest/{subject[1]}">pagetest {subject[1]}</a>' in html
    assert 'class="kp-action-name">pagetest.unnamed<' in html


def test_an_item_returned_links_to_its_loan(app, client, auditor):
    write(app, None, "loan.item_returned", ("loan_item", "987654"), {"loan": 4321, "condition": "good"})
    html = client.get("/audit/?type=loan_item&id=987654").get_data(as_text=True)
    assert "รับคืนพัสดุ" in html and 'href="/loans/4321">รายการพัสดุที่ยืม 987654</a>' in html


def test_dates_in_an_entrys_details_read_in_the_buddhist_era(app, client, auditor):
    subject = ("pagetest", unique("be"))
    seq = write(
        app, None, "pagetest.dated", subject, {"before": {"due_on": "2027-01-15"}, "after": {"due_on": "2027-01-17"}}
    )[0]
    html = client.get(f"/audit/entry/{seq}").get_data(as_text=True)
    assert "15 ม.ค. 2570" in html and "17 ม.ค. 2570" in html and "2027-01-17" not in html
    listed = client.get(f"/audit/?type={subject[0]}&id={subject[1]}").get_data(as_text=True)
    assert "due_on: 17 ม.ค. 2570" in listed
