"""The annual stock-take: committee rules, recording, reconciliation over thousands of assets, closing,
incidents, the report and its filing as evidence, the figures, the CLI."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from audit.models import AuditEntry
from audit.services import record_many
from core.dates import bangkok_today, fiscal_year_bounds
from core.db import DomainError, Forbidden, begin_write, db, utcnow
from core.files import FileStore
from core.models import User
from evidence.items.models import EvidenceIndicator, EvidenceItem
from lending.loans.models import Incident
from lending.register.models import Asset, compute_search_text
from lending.stocktake import services as st
from lending.stocktake.report import round_pdf, round_xlsx
from tests.conftest import unique


def _user(session, user):
    return session.get(User, user.id)


def _store(app):
    return FileStore(app.config["EVIDENCE_DIR"])


@pytest.fixture
def people(make_user):
    return {
        "admin": make_user(["admin"]),
        "chief": make_user(["head"]),  # the head who appoints, opens and closes rounds (ข้อ 213)
        "member": make_user(["staff"]),
        "other": make_user(["staff"]),
        "officer": make_user(["supply_officer"]),
    }


def _open(session, people, dept, **kw):
    return st.open_round(
        session,
        _user(session, people["chief"]),
        fiscal_year=kw.pop("fiscal_year", 2569),
        committee=[people["member"].id],
        department=dept,
        **kw,
    )


def test_a_supply_officer_cannot_sit_on_the_committee(session, people, make_asset):
    dept = unique("dept")
    make_asset(department=dept)
    with pytest.raises(DomainError) as err:
        st.open_round(
            session,
            _user(session, people["chief"]),
            fiscal_year=2569,
            committee=[people["member"].id, people["officer"].id],
            department=dept,
        )
    assert "supply officer" in err.value.message
    assert (
        session.execute(
            select(func.count()).select_from(st.StocktakeRound).where(st.StocktakeRound.scope_department == dept)
        ).scalar_one()
        == 0
    )


@pytest.mark.parametrize("who", ["admin", "officer", "member"])
def test_only_the_head_opens_a_round(session, people, who):
    with pytest.raises(Forbidden):
        st.open_round(session, _user(session, people[who]), fiscal_year=2569, committee=[people["member"].id])


def test_only_committee_members_record_and_only_once(app, session, people, make_asset):
    dept = unique("dept")
    asset = make_asset(department=dept, location="ห้อง 1")
    rnd = _open(session, people, dept)
    assert rnd.total == 1
    with pytest.raises(Forbidden):
        st.record_found(session, _user(session, people["other"]), rnd.id, asset.id, condition="good")
    with pytest.raises(Forbidden):  # overseeing is not being on the committee
        st.record_found(session, _user(session, people["chief"]), rnd.id, asset.id, condition="good")
    done = st.record_found(session, _user(session, people["member"]), rnd.id, asset.id, condition="good")
    assert not done.unexpected and not done.moved
    with pytest.raises(DomainError) as err:
        st.record_found(session, _user(session, people["member"]), rnd.id, asset.id, condition="good")
    assert "already recorded" in err.value.message
    entry = st.entry_of(session, rnd.id, asset.id)
    last = (
        session.execute(
            select(AuditEntry).where(
                AuditEntry.subject_type == "stocktake_entry", AuditEntry.subject_id == str(entry.id)
            )
        )
        .scalars()
        .all()
    )
    assert [e.action for e in last] == ["stocktake.recorded"]
    st.close_round(session, _user(session, people["chief"]), rnd.id, store=_store(app))
    with pytest.raises(DomainError) as err:
        st.record_found(
            session,
            _user(session, people["member"]),
            rnd.id,
            make_asset(department=dept).id,
            condition="good",
        )
    assert "closed" in err.value.message


def _bulk_assets(session, dept: str, n: int, location: str) -> list[int]:
    """n assets in one transaction: one insert and one audit entry each (record_many)."""
    begin_write(session)
    prefix = unique("BK")
    rows = []
    for i in range(n):
        values = {
            "asset_number": f"{prefix}-{i:05d}",
            "name": "เก้าอี้",
            "category": "เก้าอี้",
            "brand": "",
            "model": "",
            "serial_number": "",
            "location": location,
            "department": dept,
            "tag": "",
        }
        rows.append(
            {
                **values,
                "tag": f"{prefix}{i:05d}"[-16:],
                "lendable": True,
                "status": "available",
                "status_note": "",
                "price": Decimal("500.00"),
                "search_text": compute_search_text(values),
            }
        )
    session.execute(insert(Asset), rows)
    ids = list(session.execute(select(Asset.id).where(Asset.department == dept).order_by(Asset.id)).scalars())
    record_many(session, None, "asset.created", [(("asset", i), {}) for i in ids])
    session.commit()
    return ids


def test_a_round_of_over_5000_assets_reconciles(app, session, people, make_asset, make_user):
    from lending.loans import services as workflow
    from lending.loans.models import Loan

    dept = unique("big")
    borrower_id = make_user(["staff"]).id
    ids = _bulk_assets(session, dept, 5004, "อาคาร 1")
    # one asset out on a loan (handed over), one disposed before the round
    officer = _user(session, people["officer"])
    borrower = session.get(User, borrower_id)
    loan = workflow.request_loan(
        session,
        borrower,
        [ids[-1]],
        purpose="ประชุม",
        place="ศาลา",
        off_premises=False,
        start_on=bangkok_today(),
        due_on=bangkok_today() + timedelta(days=2),
    )
    workflow.approve_loan(session, officer, loan.id)
    workflow.hand_over(session, officer, loan.id)
    assert session.get(Loan, loan.id).status == "checked_out"
    disposed = make_asset(department=dept, location="อาคาร 1", status="disposed")
    other_dept = make_asset(department=unique("elsewhere"))

    rnd = _open(session, people, dept)
    assert rnd.total == 5004  # the disposed asset is not on the register
    member = _user(session, people["member"])
    for i in ids[:4990]:
        session.expire_all()
        member = _user(session, people["member"])
        if i == ids[0]:
            st.record_found(session, member, rnd.id, i, condition="damaged", note="ขาหัก")
        elif i in (ids[1], ids[2]):
            st.record_found(session, member, rnd.id, i, condition="good", location="อาคาร 2")
        else:
            st.record_found(session, member, rnd.id, i, condition="good")
        if i == ids[100]:
            break
    # the rest found quickly through the same rule, in bulk (the per-tap path is covered above)
    rest = ids[101:4990]
    begin_write(session)
    session.execute(
        st.StocktakeEntry.__table__.update()
        .where(st.StocktakeEntry.round_id == rnd.id, st.StocktakeEntry.asset_id.in_(rest))
        .values(found_at=utcnow(), found_by_id=member.id, condition="good", found_location="อาคาร 1")
    )
    from audit import record

    record(session, member, "stocktake.recorded_bulk_for_test", rnd, {"n": len(rest)})
    session.commit()
    member = _user(session, people["member"])
    assert st.record_found(session, member, rnd.id, disposed.id, condition="good").unexpected
    member = _user(session, people["member"])
    assert st.record_found(session, member, rnd.id, other_dept.id, condition="good").unexpected

    rnd = session.get(st.StocktakeRound, rnd.id)
    live = st.reconcile(session, rnd)
    # 4990 found (2 elsewhere), 1 on loan, 13 not found, 2 unexpected
    assert (live.found, live.elsewhere, live.on_loan, live.not_found, live.unexpected) == (4988, 2, 1, 13, 2)
    assert (live.good, live.damaged) == (4989, 1)
    p = st.progress(session, rnd)
    assert (p["scanned"], p["total"]) == (4990, 5004)
    assert p["by_location"] == [{"location": "อาคาร 1", "total": 5004, "scanned": 4990}]

    before = session.execute(select(func.count()).select_from(Incident)).scalar_one()
    st.close_round(session, _user(session, people["chief"]), rnd.id, store=_store(app))
    rnd = session.get(st.StocktakeRound, rnd.id)
    final = st.reconcile(session, rnd)
    assert (final.found, final.elsewhere, final.on_loan, final.not_found, final.unexpected) == (
        4988,
        2,
        1,
        13,
        2,
    )
    opened = session.execute(
        select(Incident.kind, func.count()).where(Incident.opened_at == rnd.closed_at).group_by(Incident.kind)
    ).all()
    assert dict(opened) == {"lost": 13, "damaged": 1}
    assert session.execute(select(func.count()).select_from(Incident)).scalar_one() == before + 14
    assert session.execute(
        select(func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "incident.opened", AuditEntry.data.contains(f'"round_id":{rnd.id}'))
    ).scalar_one() in (14, 0)  # the data is JSON text; its spacing is the writer's
    # the report, filed as evidence for i24
    item = session.execute(select(EvidenceItem).where(EvidenceItem.source == f"stocktake:{rnd.id}")).scalar_one()
    assert item.fiscal_year == 2569
    assert {c.code for c in item.codes} == {"i24"}
    assert _store(app).read(item.sha256).startswith(b"%PDF")
    assert rnd.report_sha256 == item.sha256
    # XLSX: a summary and every asset with its result
    wb = load_workbook(io.BytesIO(round_xlsx(session, rnd)))
    assert wb.sheetnames == ["สรุป", "รายการ"]
    assert wb["รายการ"].max_row == 1 + 5004 + 2
    summary = {r[0]: r[1] for r in wb["สรุป"].iter_rows(values_only=True) if r and r[0]}
    assert summary["ไม่พบ"] == 13 and summary["พบต่างสถานที่"] == 2
    # the year's figures: every in-scope asset of the closed round checked; not found 13
    checked, not_found = st.stocktake_figures(session, *fiscal_year_bounds(2569))
    assert checked >= 5004 and not_found >= 13


def test_closing_a_round_files_the_report_and_feeds_the_figures(app, session, people, make_asset):
    from evidence.report import figures

    dept = unique("fig")
    a, b, c = (make_asset(department=dept, location="ห้อง 2") for _ in range(3))
    rnd = _open(session, people, dept, fiscal_year=2568)
    st.record_found(session, _user(session, people["member"]), rnd.id, a.id, condition="good")
    before = figures.asset_figures(session, *fiscal_year_bounds(2568), stocktake=st.stocktake_figures)
    st.close_round(session, _user(session, people["chief"]), rnd.id, store=_store(app))
    after = figures.asset_figures(session, *fiscal_year_bounds(2568), stocktake=st.stocktake_figures)
    assert after["checked_in_stocktake"] - before["checked_in_stocktake"] == 2  # b, c now have a result
    assert after["not_found_in_stocktake"] - before["not_found_in_stocktake"] == 2
    codes = (
        session.execute(
            select(EvidenceIndicator.code).join(EvidenceItem).where(EvidenceItem.source == f"stocktake:{rnd.id}")
        )
        .scalars()
        .all()
    )
    assert codes == ["i24"]
    pdf = round_pdf(session, session.get(st.StocktakeRound, rnd.id))
    assert pdf.startswith(b"%PDF")
    closed = session.execute(
        select(AuditEntry).where(AuditEntry.action == "stocktake.closed", AuditEntry.subject_id == str(rnd.id))
    ).scalar_one()
    assert closed.actor == people["chief"].username


def test_the_report_figures_include_the_stock_take(app, session, people, make_asset):
    from evidence.report import build

    dept = unique("rep")
    make_asset(department=dept)
    rnd = _open(session, people, dept, fiscal_year=2567)
    st.close_round(session, _user(session, people["chief"]), rnd.id, store=_store(app))
    report = build(session, 2567, engine=db.engine, config=app.config, chain_intact=lambda: True)
    assert report.figures["assets"]["not_found_in_stocktake"] >= 1


def test_the_progress_command_prints_scanned_over_total(app, session, people, make_asset):
    dept = unique("cli")
    a = make_asset(department=dept, location="คลัง")
    make_asset(department=dept, location="คลัง")
    rnd = _open(session, people, dept)
    st.record_found(session, _user(session, people["member"]), rnd.id, a.id, condition="good")
    result = app.test_cli_runner().invoke(args=["stocktake", "progress", str(rnd.id)])
    assert result.exit_code == 0, result.output
    assert "1/2 scanned" in result.output
    assert "คลัง: 1/2" in result.output
    assert app.test_cli_runner().invoke(args=["stocktake", "progress", "999999"]).exit_code != 0


def test_scanning_pages_answer_members_and_refuse_others(app, client, session, people, make_asset, login_as):
    dept = unique("web")
    asset = make_asset(department=dept, location="ห้อง 3")
    outside = make_asset(department=unique("x"))
    rnd = _open(session, people, dept)
    rid = rnd.id
    session.remove()
    login_as(people["other"])
    assert client.get(f"/stocktake/{rid}").status_code == 403
    resp = client.post(f"/stocktake/{rid}/assets/{asset.id}/found", data={"condition": "good"})
    assert resp.status_code == 403
    refused = resp.get_data(as_text=True)
    assert "committee" in refused or "คณะกรรมการ" in refused  # English or its Thai translation
    assert "Found here" not in client.get(f"/assets/{asset.id}").get_data(as_text=True)
    client.post("/logout")
    login_as(people["member"])
    page = client.get(f"/t/{asset.tag}", follow_redirects=True).get_data(as_text=True)
    assert f"/stocktake/{rid}/assets/{asset.id}/found" in page
    resp = client.post(f"/stocktake/{rid}/assets/{asset.id}/found", data={"condition": "good", "location": "ห้อง 3"})
    assert resp.status_code == 302
    again = client.post(
        f"/stocktake/{rid}/assets/{asset.id}/found",
        data={"condition": "good"},
        headers={"Referer": f"/assets/{asset.id}"},
        follow_redirects=True,
    )
    told = again.get_data(as_text=True)
    assert "already recorded" in told or "ในรอบนี้แล้ว" in told
    page = client.get(f"/assets/{outside.id}").get_data(as_text=True)
    assert "not in this round" in page or "ขอบเขต" in page
    progress = client.get(f"/stocktake/{rid}/progress.json").get_json()
    assert (progress["scanned"], progress["total"]) == (1, 1)
    assert client.get(f"/stocktake/{rid}/items?show=all").status_code == 200
    assert client.get(f"/stocktake/{rid}/report.pdf").data.startswith(b"%PDF")
    assert client.get(f"/stocktake/{rid}/report.xlsx").data.startswith(b"PK")


def test_the_head_opens_a_round_through_the_form_and_a_supply_officer_on_its_committee_is_refused(
    session, client, people, make_asset, login_as
):
    dept = unique("form")
    make_asset(department=dept, location="ห้อง 9")
    login_as(people["chief"])
    assert client.get("/stocktake/new").status_code == 200
    refused = client.post(
        "/stocktake/new",
        data={"fiscal_year": 2569, "department": dept, "location": "", "committee": [people["officer"].id]},
        headers={"Referer": "/stocktake/new"},
        follow_redirects=True,
    )
    text = refused.get_data(as_text=True)
    assert "supply officer" in text or "เจ้าหน้าที่พัสดุ" in text
    resp = client.post(
        "/stocktake/new",
        data={"fiscal_year": 2569, "department": dept, "location": "", "committee": [people["member"].id]},
    )
    assert resp.status_code == 302
    rnd = session.execute(select(st.StocktakeRound).where(st.StocktakeRound.scope_department == dept)).scalar_one()
    assert rnd.total == 1 and rnd.member_ids() == {people["member"].id}
    assert client.post(f"/stocktake/{rnd.id}/close").status_code == 302
    assert session.get(st.StocktakeRound, rnd.id, populate_existing=True).status == st.CLOSED


def test_an_asset_acquired_after_the_cut_off_day_is_neither_expected_nor_not_found(app, session, people, make_asset):
    """A round "as at 30 September 2568" counts what was on the register that day."""
    dept = unique("dept")
    cut_off = fiscal_year_bounds(2568)[1]
    before = make_asset(department=dept, acquired_on=cut_off)
    after = make_asset(department=dept, acquired_on=cut_off + timedelta(days=1))
    undated = make_asset(department=dept)  # no acquisition date: taken to have been on the register
    rnd = _open(session, people, dept, fiscal_year=2568)
    assert rnd.count_on == cut_off and rnd.total == 2
    assert st.entry_of(session, rnd.id, after.id) is None
    assert {st.entry_of(session, rnd.id, a.id) is not None for a in (before, undated)} == {True}
    st.close_round(session, _user(session, people["chief"]), rnd.id, store=_store(app))
    rnd = st.load_round(session, rnd.id)
    recon = st.reconcile(session, rnd)
    assert (recon.total, recon.not_found) == (2, 2)
    assert st.entry_of(session, rnd.id, after.id) is None  # not reported not found
    not_found = session.execute(
        select(func.count()).select_from(Incident).where(Incident.asset_id == after.id)
    ).scalar_one()
    assert not_found == 0
