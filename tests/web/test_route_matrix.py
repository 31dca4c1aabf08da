"""Who may open what: every route of the app against every role, as one table.

A new route fails `test_every_route_has_a_row_in_the_matrix` until it gets a row here, so nobody adds a
page without deciding who may see it. Expected values: a status code, or a path for a 302 (the path the
redirect goes to; `{asset_id}` and `{user_id}` are filled in).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import url_for
from PIL import Image
from sqlalchemy import event, func, select, text

from audit.models import AuditEntry
from core.db import db
from core.people import services as core_services
from lending.register import services as lending_services
from lending.register.models import Asset
from tests.conftest import PASSWORD, login, unique
from tests.groups import make_group

ROLES = ("anonymous", "staff", "supply_officer", "head", "auditor", "admin")
SKIPPED = {"static", "bootstrap.static"}
LOGIN = "/login"


def everyone(expected) -> dict:
    """Anonymous visitors are sent to the login page; every signed-in role gets `expected`."""
    return {"anonymous": LOGIN, **{role: expected for role in ROLES[1:]}}


def only(roles: tuple[str, ...], expected) -> dict:
    """Only `roles` get `expected`; other signed-in roles get 403; anonymous visitors go to the login."""
    return {"anonymous": LOGIN, **{role: expected if role in roles else 403 for role in ROLES[1:]}}


def public(expected) -> dict:
    return {role: expected for role in ROLES}


ADMIN = ("admin",)
OFFICER = ("supply_officer",)
BORROWERS = ("staff", "supply_officer", "head")
VIEW_ALL = ("supply_officer", "head", "auditor")
DECIDERS = ("supply_officer", "head")
OVERSEE_LOAN = {"anonymous": LOGIN, "staff": 200, "supply_officer": 200, "head": 200, "auditor": 200, "admin": 404}
AUDITOR = ("auditor",)
EVIDENCE_READERS = ("supply_officer", "head", "auditor", "admin")
EVIDENCE_UPLOADERS = ("supply_officer", "admin")
STOCKTAKE_READERS = ("supply_officer", "head", "auditor", "admin")

EXPECTED: dict[str, dict[str, int | str]] = {
    # core: sign in and out, own account, language, fonts
    # the start page: each person's tasks (and, for those who oversee the year, its figures)
    "core.home": everyone(200),
    "core.login": public(200),
    "core.logout": everyone(LOGIN),
    "core.change_password": everyone(200),
    "core.set_lang": public("/"),
    "core.font": public(200),
    # core: the admin's people and settings
    "core.users": only(ADMIN, 200),
    "core.user_new": only(ADMIN, 200),
    "core.user_edit": only(ADMIN, 200),
    "core.user_active": only(ADMIN, "/admin/users/{user_id}"),
    "core.user_password": only(ADMIN, "/admin/users/{user_id}"),
    "core.settings": only(ADMIN, 200),
    # core: a job's page, status and result, for the one who started it; nobody else learns it exists
    "core.job": everyone(404),
    "core.job_status": everyone(404),
    "core.job_download": everyone(404),
    # lending: the register, read by everyone signed in
    "lending.assets": everyone(200),
    "lending.asset": everyone(200),
    "lending.tag": everyone("/assets/{asset_id}"),
    "lending.asset_photo": everyone(200),
    "lending.asset_qr": everyone(200),
    "lending.asset_export": everyone(200),
    # lending: bookings calendar (each sees the loans they may: see lending.loans.bookings) and search as you type
    "lending.calendar": everyone(200),
    "lending.asset_calendar": everyone(200),
    "lending.asset_suggest": everyone(200),
    # lending: the search's synonym list, kept by the supply officer (no such group here: 404)
    "lending.synonyms_page": only(OFFICER, 200),
    "lending.synonym_delete": only(OFFICER, 404),
    # lending: kept by the supply officer
    "lending.asset_new": only(OFFICER, 200),
    "lending.asset_edit": only(OFFICER, 200),
    "lending.asset_status": only(OFFICER, "/assets/{asset_id}"),
    "lending.asset_photo_upload": only(OFFICER, "/assets/{asset_id}"),
    "lending.asset_labels": only(OFFICER, 200),
    "lending.asset_import": only(OFFICER, 200),
    "lending.asset_import_apply": only(OFFICER, "/assets/import"),
    "lending.asset_import_preview": {**only(OFFICER, 404)},  # ?job= names no check job of theirs
    "lending.import_template": only(OFFICER, 200),
    # audit: the internal auditor reads the log; nobody else does
    "audit.log": only(AUDITOR, 200),
    "audit.record_history": only(AUDITOR, 200),
    "audit.entry": only(AUDITOR, 200),
    "audit.verify": only(AUDITOR, 200),
    "audit.export_csv": only(AUDITOR, 200),
    "audit.export_xlsx": only(AUDITOR, 200),
    # evidence: the register for those who keep or read it; staff reach only what they filed themselves
    "evidence.register": only(EVIDENCE_READERS, 200),
    "evidence.upload": only(EVIDENCE_UPLOADERS, 200),
    "evidence.item": {**only(EVIDENCE_READERS, 200), "staff": 404},
    "evidence.file": {**only(EVIDENCE_READERS, 200), "staff": 404},
    "evidence.edit": only(ADMIN, "/evidence/{evidence_id}"),
    "evidence.visibility": only(ADMIN, "/evidence/{evidence_id}"),
    "evidence.indicators": only(ADMIN, 200),
    "evidence.indicators_start": only(ADMIN, "/evidence/indicators"),
    "evidence.indicator_retire": only(ADMIN, "/evidence/indicators"),
    "evidence.indicator_restore": only(ADMIN, "/evidence/indicators"),
    "evidence.indicator_move": only(ADMIN, "/evidence/indicators"),
    "evidence.measures": only(EVIDENCE_READERS, 200),
    "evidence.measure_new": only(ADMIN, 200),
    "evidence.measure_edit": only(ADMIN, 200),
    "evidence.measures_copy": only(ADMIN, "/evidence/measures"),
    # evidence: the published items, for everyone without login
    "evidence.public_year": public(200),
    "evidence.public_file": public(200),
    # evidence: the year's ITA report, its downloads, the evidence bundle and the dashboard
    "evidence.report": only(EVIDENCE_READERS, 200),
    "evidence.report_download": only(EVIDENCE_READERS, 200),
    "evidence.report_bundle": only(EVIDENCE_READERS, 200),
    "evidence.report_publish": only(ADMIN, "/report"),
    "evidence.report_links": only(EVIDENCE_READERS, 200),
    "evidence.dashboard": only(EVIDENCE_READERS, 200),
    # lending workflow: borrowing (staff, officers and heads may borrow)
    "lending.loan_new": only(BORROWERS, 200),
    "lending.loans_mine": only(BORROWERS, 200),
    "lending.loan_cancel": only(BORROWERS, "/loans/{loan_id}"),
    "lending.loan_confirm": only(BORROWERS, "/loans/{loan_id}"),
    # lending workflow: one loan, seen by its borrower (the world's staff member) and overseers, else 404
    "lending.loan": OVERSEE_LOAN,
    "lending.loan_photo": OVERSEE_LOAN,
    "lending.loan_receipt": OVERSEE_LOAN,
    "lending.demand_letter": OVERSEE_LOAN,
    "lending.incident": OVERSEE_LOAN,
    "lending.incident_document": OVERSEE_LOAN,
    # lending workflow: lists for those who see every loan
    "lending.loan_queue": only(VIEW_ALL, 200),
    "lending.loans": only(VIEW_ALL, 200),
    "lending.loans_overdue": only(VIEW_ALL, 200),
    "lending.incidents": only(VIEW_ALL, 200),
    # lending workflow: decisions (officer or head), the officer's handling; an empty form changes nothing
    "lending.loan_approve": only(DECIDERS, "/loans/{loan_id}"),
    "lending.loan_reject": only(DECIDERS, "/loans/{loan_id}"),
    "lending.loan_hand_over": only(OFFICER, "/loans/{loan_id}"),
    "lending.loan_receive": only(OFFICER, "/loans/{loan_id}"),
    "lending.loan_demand": only(OFFICER, "/loans/{loan_id}"),
    "lending.incident_settle": only(DECIDERS, "/incidents/{incident_id}"),
    "lending.incident_document_add": only(DECIDERS, "/incidents/{incident_id}"),
    # notifications: everyone's own
    "lending.notifications": everyone(200),
    "lending.notifications_read": everyone("/notifications"),
    "lending.notification_open": {**everyone("/notifications"), "staff": "/loans/{loan_id}"},
    # stock-take: rounds for those who oversee property (and each round's committee, none here); the
    # admin opens and closes them; recording is for committee members only (the matrix's users are not)
    "lending.stocktake_rounds": everyone(200),
    # the supply officer prepares a round, the head appoints its committee, opens and closes it (ข้อ 213)
    "lending.stocktake_new": only(DECIDERS, 200),
    "lending.stocktake_appoint": only(("head",), "/stocktake/{round_id}"),
    "lending.stocktake_round": only(STOCKTAKE_READERS, 200),
    "lending.stocktake_progress": only(STOCKTAKE_READERS, 200),
    "lending.stocktake_items": only(STOCKTAKE_READERS, 200),
    "lending.stocktake_report": only(STOCKTAKE_READERS, 200),
    "lending.stocktake_found": only((), 403),
    "lending.stocktake_close": only(("head",), "/stocktake/{round_id}"),
    # the borrowing manual: read by everyone signed in, published by the admin
    "lending.manual_page": everyone(200),
    "lending.manual_pdf": everyone(200),
    "lending.manual_versions": everyone(200),
    "lending.manual_version_pdf": everyone(200),
    "lending.manual_publish": only(ADMIN, "/manual/versions"),
    # the public e-service: everything open without login; a request's own pages need its reference and
    # phone first (the matrix's clients opened none, so each is sent to the look-up form, told nothing)
    "eservice.home": public(200),
    "eservice.calendar": public(200),
    "eservice.photo": public(200),
    "eservice.qr": public(200),
    "eservice.request_form": public(200),
    "eservice.blank_form": public(200),
    "eservice.track": public(200),
    "eservice.status": public("/e-service/track"),
    "eservice.request_pdf": public("/e-service/track"),
    "eservice.cancel": public("/e-service/track"),
    "eservice.survey": public("/e-service/track"),
    "eservice.forget": public("/e-service/track"),
    "eservice.privacy": public(200),
    "eservice.manual_page": public(200),
    "eservice.manual_pdf": public(200),
    # the manual for outsiders: its versions for everyone signed in, published by the admin
    "eservice.manual_publish": only(ADMIN, "/e-service/manual/versions"),
    "eservice.manual_versions": everyone(200),
    "eservice.manual_version_pdf": everyone(200),
    # lending by count and to outsiders (lending/groups, lending/outside): the officer's pages; a loan that is
    # not an approved (or handed-over) request by count sends the picking and return pages back to the loan
    "lending.groups": only(OFFICER, 200),
    "lending.group_new": only(OFFICER, 200),
    "lending.group": only(OFFICER, 200),
    "lending.group_members": only(OFFICER, "/lending-groups/{group_id}"),
    # the group's photo: the officer's copy, put up (an empty form is sent back) and taken down (a form
    # without the version it was opened at is sent back, so the matrix never takes the public photo down)
    "lending.group_photo": only(OFFICER, 200),
    "lending.group_photo_upload": only(OFFICER, "/lending-groups/{group_id}"),
    "lending.group_photo_remove": only(OFFICER, "/lending-groups/{group_id}"),
    "lending.loan_new_by_count": only(BORROWERS, 200),
    "lending.loan_pick": only(OFFICER, "/loans/{loan_id}"),
    "lending.loan_return_count": only(OFFICER, "/loans/{loan_id}"),
    # settling an outside borrower's deposit: an empty form is sent back to the loan page
    "lending.loan_deposit_settle": only(OFFICER, "/loans/{loan_id}"),
    # the office cancels an outside request (officer or head): an empty form is sent back to the loan page
    "lending.outside_cancel": only(DECIDERS, "/loans/{loan_id}"),
    "lending.outside_new": only(OFFICER, 200),
    "lending.outside_rules": only(ADMIN, 200),
    # operations
    "healthz": public(200),
}

# Routes whose request ends the client's session: they get a client of their own.
SESSION_ENDING = {"core.logout"}


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (20, 120, 60)).save(buf, format="PNG")
    return buf.getvalue()


def _evidence_world(app, admin_username: str) -> dict:
    """A published evidence item filed by the admin (so staff are not its uploader) and a measure."""
    from core.files import FileStore
    from core.models import User
    from evidence.items import services as evidence_services
    from evidence.measures import services as measure_services

    year = 2569
    with app.app_context():
        session = db.session
        admin = session.execute(select(User).where(User.username == admin_username)).scalar_one()
        measure_services.ensure_indicators(session, admin, year)
        files = FileStore(app.config["EVIDENCE_DIR"])
        item = evidence_services.upload_evidence(
            session,
            admin,
            files,
            _png(),
            "matrix.png",
            fiscal_year=year,
            title="ภาพหลักฐาน",
            indicators=["i20"],
            max_bytes=10 * 1024 * 1024,
        )
        item = evidence_services.set_visibility(session, admin, item.id, True)
        measure = measure_services.save_measure(
            session, admin, year, {"title": "มาตรการทดสอบสิทธิ์", "indicators": ["i20"]}
        )
        out = {"evidence_id": item.id, "token": item.public_token, "year": year, "measure_id": measure.id}
        session.remove()
    return out


@pytest.fixture(scope="module")
def world(app):
    """One user per role, each signed in once for the module; an asset with a photo; a user to act on."""
    with app.app_context():
        names = {
            role: core_services.create_user(db.session, None, unique(role[:5]), "ทดสอบ สิทธิ์", {role}, PASSWORD).username
            for role in ROLES[1:]
        }
        target = core_services.create_user(db.session, None, unique("target"), "เป้าหมาย ทดสอบ", {"staff"}, PASSWORD).id
        db.session.remove()
    clients = {"anonymous": app.test_client()}
    for role, username in names.items():
        clients[role] = app.test_client()
        assert login(clients[role], username).status_code == 302

    officer = clients["supply_officer"]
    number = unique("416-68-")
    resp = officer.post(
        "/assets/new", data={"asset_number": number, "name": "กล้องถ่ายภาพ", "category": "กล้อง", "lendable": "y"}
    )
    assert resp.status_code == 302
    with app.app_context():
        asset_id, tag = db.session.execute(select(Asset.id, Asset.tag).where(Asset.asset_number == number)).one()
        db.session.remove()
    resp = officer.post(
        f"/assets/{asset_id}/photo",
        data={"photo": (io.BytesIO(_png()), "photo.png")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Asset, asset_id).photo_sha256, "the photo was not stored"
        db.session.remove()
    with app.app_context():
        seq = db.session.execute(select(func.max(AuditEntry.seq))).scalar_one()
        db.session.remove()
    args = {
        "asset_id": asset_id,
        "tag": tag,
        "user_id": target,
        "fmt": "png",
        "code": "th",
        "name": "Sarabun-Regular.ttf",
        "seq": seq,
        "job_id": "no-such-job",
        "subject_type": "asset",
        "subject_id": asset_id,
        "group_id": 999999999,
        "template": "assets.xlsx",
        **_evidence_world(app, names["admin"]),
    }
    args.update(_loan_world(app, names))
    args.update(_stocktake_world(app, names))
    args.update(_eservice_world(app, names))  # group_id too: a public group, used by the officer's pages as well
    return {"clients": clients, "names": names, "args": args}


def test_every_route_has_a_row_in_the_matrix(app):
    routed = {rule.endpoint for rule in app.url_map.iter_rules()} - SKIPPED
    missing = sorted(routed - set(EXPECTED))
    assert not missing, f"add these endpoints to EXPECTED in {__name__}: {missing}"
    stale = sorted(set(EXPECTED) - routed)
    assert not stale, f"these rows name no route any more: {stale}"


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_every_row_decides_for_every_role(endpoint):
    assert set(EXPECTED[endpoint]) == set(ROLES)


def _request(app, client, endpoint: str, args: dict):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    assert rules, f"no route for {endpoint}"
    rule = rules[0]
    with app.test_request_context():
        url = url_for(endpoint, **{name: args[name] for name in rule.arguments})
    if "GET" in rule.methods:
        return client.get(url)
    return client.post(url, data={})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_the_route_answers_each_role_as_the_matrix_says(app, world, endpoint, role):
    expected = EXPECTED[endpoint][role]
    client = world["clients"][role]
    if endpoint in SESSION_ENDING and role != "anonymous":
        client = app.test_client()
        assert login(client, world["names"][role]).status_code == 302
    with _request(app, client, endpoint, world["args"]) as resp:
        status, location = resp.status_code, resp.headers.get("Location", "")
        body = resp.get_data(as_text=True)[:300] if resp.mimetype.startswith("text/") else resp.mimetype
    if isinstance(expected, int):
        assert status == expected, body
    else:
        assert status == 302, body
        assert urlsplit(location).path == expected.format(**world["args"])


def _loan_world(app, names: dict[str, str]) -> dict[str, int]:
    """A loan of the staff member: handed over with a photo, demanded, returned damaged; a case, a file."""
    from datetime import timedelta
    from decimal import Decimal

    from audit import record
    from core.dates import bangkok_date
    from core.db import begin_write, utcnow
    from core.files import FileStore
    from core.models import User
    from lending.loans import cases
    from lending.loans import services as workflow
    from lending.loans.models import Incident, Loan, LoanPhoto, Notification

    past = utcnow() - timedelta(days=10)
    with app.app_context():
        s = db.session
        staff = s.execute(select(User).where(User.username == names["staff"])).scalar_one()
        officer = s.execute(select(User).where(User.username == names["supply_officer"])).scalar_one()
        begin_write(s)
        asset = Asset(tag=lending_services.unique_tag(s), status="available", status_note="")
        asset.apply(
            {
                "asset_number": unique("999-69-"),
                "name": "ลำโพง",
                "category": "เครื่องเสียง",
                "price": Decimal("4500.00"),
                "lendable": True,
            }
        )
        s.add(asset)
        s.flush()
        record(s, None, "asset.created", asset, {})
        s.commit()
        store = FileStore(app.config["EVIDENCE_DIR"])
        start = bangkok_date(past)
        loan_id = workflow.request_loan(
            s,
            staff,
            [asset.id],
            purpose="ประชุม",
            place="ศาลา",
            off_premises=False,
            start_on=start,
            due_on=start + timedelta(days=2),
            now=past,
        ).id
        workflow.approve_loan(s, officer, loan_id, now=past)
        workflow.hand_over(s, officer, loan_id, photos=[(_png(), "p.png")], store=store, now=past)
        demand_id = cases.issue_demand_letter(s, officer, loan_id).id
        item_id = s.get(Loan, loan_id).items[0].id
        workflow.receive_items(s, officer, loan_id, [workflow.ItemReturn(item_id, "damaged", "แตก")])
        incident_id = s.execute(select(Incident.id).where(Incident.loan_item_id == item_id)).scalar_one()
        document_id = cases.attach_incident_document(
            s, officer, incident_id, b"%PDF-1.4 x", "a.pdf", "slip", store, 1024 * 1024
        ).id
        photo_id = s.execute(select(LoanPhoto.id).where(LoanPhoto.loan_id == loan_id)).scalar_one()
        notification_id = (
            s.execute(select(Notification.id).where(Notification.user_id == staff.id, Notification.loan_id == loan_id))
            .scalars()
            .first()
        )
        db.session.remove()
    return {
        "loan_id": loan_id,
        "photo_id": photo_id,
        "demand_id": demand_id,
        "incident_id": incident_id,
        "document_id": document_id,
        "notification_id": notification_id,
    }


def _stocktake_world(app, names: dict[str, str]) -> dict:
    """An open stock-take round whose committee is none of the matrix's users; a published manual."""
    from core.files import FileStore
    from core.models import User
    from lending.manual import services as manual
    from lending.stocktake import services as stocktake

    with app.app_context():
        s = db.session
        member = core_services.create_user(s, None, unique("member"), "กรรมการ ทดสอบ", {"staff"}, PASSWORD).id
        head = s.execute(select(User).where(User.username == names["head"])).scalar_one()
        round_id = stocktake.open_round(s, head, fiscal_year=2569, committee=[member], department=unique("none")).id
        admin = s.execute(select(User).where(User.username == names["admin"])).scalar_one()
        number = manual.publish_manual(s, admin, FileStore(app.config["EVIDENCE_DIR"])).number
        db.session.remove()
    return {"round_id": round_id, "kind": "pdf", "number": number}


def _eservice_world(app, names: dict[str, str]) -> dict:
    """A public lending group with a photo, an outside request made on the e-service, a published manual
    for outsiders."""
    from audit import record
    from core.dates import bangkok_today
    from core.db import begin_write
    from core.files import FileStore
    from core.models import StoredFile, User
    from lending.eservice import manual as outsiders_manual
    from lending.groups.models import LendingGroup
    from lending.outside import services as outside

    group_id, _ = make_group(app, 5, name=unique("เต็นท์ "), category="เต็นท์")
    with app.app_context():
        s = db.session
        store = FileStore(app.config["EVIDENCE_DIR"])
        data = _png()
        digest = store.write(data)
        begin_write(s)
        if s.get(StoredFile, digest) is None:
            s.add(StoredFile(sha256=digest, size=len(data), mime="image/png", original_name="tent.png"))
            s.flush()
        group = s.get(LendingGroup, group_id)
        group.photo_sha256 = digest
        record(s, None, "lending_group.changed", group, {"after": group.state()})
        s.commit()
        day = bangkok_today() + timedelta(days=30)
        party = outside.PartyDetails(kind="person", name="นายทดสอบ สิทธิ์", phone="0812345678", village_no="1")
        ref = outside.request_outside(
            s, None, party, [(group_id, 1)], start_on=day, due_on=day, purpose="งานบุญ", place="ศาลา"
        ).public_ref
        admin = s.execute(select(User).where(User.username == names["admin"])).scalar_one()
        version = outsiders_manual.publish_manual(s, admin, store).number
        db.session.remove()
    return {"group_id": group_id, "ref": ref, "version": version}


# GET routes that record a read in the audit log on purpose (an export, a download of the log or of a
# report is itself evidence of who took what), and nothing else: they write only that one entry.
RECORDED_READS = {"audit.export_csv", "audit.export_xlsx", "evidence.file", "lending.asset_export"}


_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|MERGE|UPSERT|CREATE|DROP|ALTER|TRUNCATE)\b", re.I)
_WRITE_IN_WITH = re.compile(r"\b(INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\S+\s+SET)\b", re.I)
_TARGET = re.compile(r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+\"?(\w+)", re.I)


@contextmanager
def _writes(app) -> Iterator[list[str]]:
    """Every statement that can change data, sent on the app's engine while the block runs.

    The app writes only through its SQLAlchemy engine (its raw driver cursors read the audit log), so a
    GET that changes a row must send one of these: a stricter check than comparing the tables' contents,
    and it costs nothing per row (comparing every row of a suite-wide database was half the suite's time)."""
    seen: list[str] = []

    def watch(_conn, _cursor, statement, _params, _context, _many):
        if _WRITE.match(statement) or (statement.lstrip()[:4].upper() == "WITH" and _WRITE_IN_WITH.search(statement)):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", watch)


def _counts(app) -> dict[str, int]:
    """Each table's number of rows, in one statement (a change made outside the engine still shows as a
    row more or less)."""
    with app.app_context():
        tables = db.metadata.sorted_tables
        union = " UNION ALL ".join(f"SELECT '{t.name}', COUNT(*) FROM {t.name}" for t in tables)
        out = dict(db.session.execute(text(union)).all())
        db.session.remove()
    return out


def _targets(statements: list[str]) -> set[str]:
    return {m.group(1).lower() if (m := _TARGET.match(s)) else s.split(None, 1)[0].upper() for s in statements}


@pytest.mark.parametrize("endpoint", sorted(e for e in EXPECTED if e not in SESSION_ENDING))
def test_a_get_changes_nothing(app, world, endpoint):
    """Every GET of the route table, by a role that may use it, leaves every table's rows and the
    audit log's head alone (so no link, image or prefetch from another site can change state)."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    if "GET" not in rule.methods:
        pytest.skip("not a GET route")
    allowed = [role for role, answer in EXPECTED[endpoint].items() if answer not in (403, 404, LOGIN)]
    if not allowed:
        pytest.skip("nobody in the matrix may use it")
    client = world["clients"][allowed[-1]]
    before = _counts(app)
    with _writes(app) as writes, _request(app, client, endpoint, world["args"]) as resp:
        assert resp.status_code < 500
        resp.get_data()
    after = _counts(app)
    changed = {t for t in before if before[t] != after[t]} | _targets(writes)
    if endpoint in RECORDED_READS:
        assert changed <= {"audit_entries", "audit_head"}, (changed, writes[:5])
    else:
        assert not changed, (changed, writes[:5])
