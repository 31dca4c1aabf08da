"""The asset import's lending-group column: each row joins a group by name or sets one up, checked like the
other columns (all or nothing, row and column named), shown in the preview, and in the import template."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from audit.models import AuditEntry
from lending.groups.models import LendingGroup
from lending.register import import_templates, importing
from lending.register.models import Asset
from tests.conftest import english, login, unique
from tests.groups import make_group
from tests.integration.test_import import (
    THAI,
    assets_of,
    audit_count,
    csv_bytes,
    prefix,
    run_cli,
)
from tests.jobs import follow_job

THAI_GROUP = [*THAI, "กลุ่มพัสดุให้ยืม"]
ENGLISH_HEAD = ["asset_number", "name", "category", "model", "lending_group"]


@pytest.fixture
def officer_client(client, officer):
    """The test client signed in as a supply officer, pages in English."""
    assert login(client, officer.username).status_code == 302
    english(client)
    return client


def _row(number: str, name: str, category: str, group: str, price: str = "350") -> list[str]:
    return [number, name, category, "", "CH-52", "", "", price, "โรงเก็บ", "สำนักปลัด", "ได้", group]


def _group_named(session, name: str) -> LendingGroup | None:
    session.rollback()
    return session.execute(select(LendingGroup).where(LendingGroup.name == name)).scalar_one_or_none()


def _group_entries(session, group_id: int) -> list[tuple[str, dict]]:
    session.rollback()
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.subject_type == "lending_group", AuditEntry.subject_id == str(group_id))
        .order_by(AuditEntry.seq)
    )
    return [(r.action, json.loads(r.data)) for r in rows]


def test_rows_set_up_a_new_group_and_join_an_existing_one_by_name(app, session, officer):
    p = prefix()
    chairs = unique("เก้าอี้พลาสติก ")
    existing_id, members = make_group(app, 2, category="เต็นท์")
    session.rollback()
    tents = session.get(LendingGroup, existing_id).name
    data = csv_bytes(
        THAI_GROUP,
        [
            _row(f"{p}-001", "เก้าอี้พลาสติก", "เก้าอี้", chairs),
            _row(f"{p}-002", "เก้าอี้พลาสติก", "เก้าอี้", chairs),
            _row(f"{p}-003", "เต็นท์", "เต็นท์", tents, "5000"),
            _row(f"{p}-004", "โต๊ะพับ", "โต๊ะ", ""),  # no group: stays out of every group
        ],
    )

    plan = importing.apply_import(session, officer, data, "groups.csv")

    assert plan.ok, plan.errors
    assert plan.new_groups == {chairs: ("เก้าอี้", "CH-52")}
    new = _group_named(session, chairs)
    assert new is not None and (new.category, new.model, new.public, new.active) == ("เก้าอี้", "CH-52", False, True)
    by_number = {a.asset_number: a for a in assets_of(session, p)}
    assert by_number[f"{p}-001"].lending_group_id == new.id and by_number[f"{p}-002"].lending_group_id == new.id
    assert by_number[f"{p}-003"].lending_group_id == existing_id
    assert by_number[f"{p}-004"].lending_group_id is None

    digest = hashlib.sha256(data).hexdigest()
    created, added = _group_entries(session, new.id)
    assert created[0] == "lending_group.created" and created[1]["import"] == digest
    assert added[0] == "lending_group.members_added"
    assert added[1]["asset_numbers"] == [f"{p}-001", f"{p}-002"] and added[1]["import"] == digest
    joined = _group_entries(session, existing_id)[-1]
    assert joined[0] == "lending_group.members_added" and joined[1]["asset_numbers"] == [f"{p}-003"]

    # the same file again changes nothing: the rows are members already
    before = audit_count(session)
    again = importing.apply_import(session, officer, data, "groups.csv")
    assert again.ok and not again.changes and again.unchanged == 4 and not again.new_groups
    assert audit_count(session) == before


def test_an_existing_asset_joins_a_group_through_a_list_and_the_plan_shows_it_as_a_change(session, officer):
    p = prefix()
    chairs = unique("เก้าอี้ ")
    first = csv_bytes(ENGLISH_HEAD, [[f"{p}-001", "เก้าอี้", "เก้าอี้", "", ""]])
    assert importing.apply_import(session, officer, first, "first.csv").ok
    (asset,) = assets_of(session, p)
    assert asset.lending_group_id is None

    second = csv_bytes(ENGLISH_HEAD, [[f"{p}-001", "เก้าอี้", "เก้าอี้", "", chairs]])
    plan = importing.plan_import(session, second, "second.csv")
    assert [(n, b, a) for _i, n, b, a in plan.updates] == [
        (f"{p}-001", {"lending_group": None}, {"lending_group": chairs})
    ]
    assert importing.apply_import(session, officer, second, "second.csv").ok
    (asset,) = assets_of(session, p)
    assert asset.lending_group_id == _group_named(session, chairs).id


def test_bad_group_cells_import_nothing_and_name_row_column_and_reason(app, session, officer):
    p = prefix()
    chairs = unique("เก้าอี้ ")
    tents_id, tent_ids = make_group(app, 1, category="เต็นท์")
    other_id, _ = make_group(app, 1, category="เต็นท์")
    session.rollback()
    tents = session.get(LendingGroup, tents_id).name
    in_a_group = session.get(Asset, tent_ids[0])
    other = session.get(LendingGroup, other_id).name
    before = audit_count(session)
    data = csv_bytes(
        THAI_GROUP,
        [
            _row(f"{p}-001", "เก้าอี้", "เก้าอี้", chairs),
            _row(f"{p}-002", "โต๊ะ", "โต๊ะ", chairs),  # another category than the row that set the group up
            _row(f"{p}-003", "เก้าอี้", "เก้าอี้", tents),  # the existing group holds tents
            _row(f"{p}-004", "เก้าอี้", "เก้าอี้", "ก" * 201),
            [
                in_a_group.asset_number,
                in_a_group.name,
                "เต็นท์",
                "",
                "",
                "",
                "",
                "350",
                "",
                "",
                "ได้",
                other,
            ],  # in a group already: not moved by a list
        ],
    )

    plan = importing.apply_import(session, officer, data, "bad.csv")

    assert not plan.ok
    assert [(e.row, e.column, e.column_name, e.message()) for e in plan.errors] == [
        (3, "lending_group", "กลุ่มพัสดุให้ยืม", f"the group {chairs} is for the category เก้าอี้ (set up by row 2)"),
        (4, "lending_group", "กลุ่มพัสดุให้ยืม", f"the group {tents} is for the category เต็นท์"),
        (5, "lending_group", "กลุ่มพัสดุให้ยืม", "too long"),
        (
            6,
            "lending_group",
            "กลุ่มพัสดุให้ยืม",
            f"the asset is in the group {tents} already; take it out on the group's page first",
        ),
    ]
    assert assets_of(session, p) == []
    assert _group_named(session, chairs) is None
    assert session.get(Asset, in_a_group.id).lending_group_id == tents_id
    assert audit_count(session) == before


def test_the_english_header_and_its_thai_aliases_are_accepted():
    for name in ("lending_group", "Lending group", "กลุ่มพัสดุให้ยืม", "กลุ่มให้ยืม", "กลุ่มพัสดุ"):
        mapping = importing.map_headers(["asset_number", "name", "category", name])
        assert mapping[3] == "lending_group"


def test_the_import_template_has_the_group_column_with_an_example_and_a_note():
    assert import_templates.headers("assets")[-1] == "กลุ่มพัสดุให้ยืม"
    data, _mime, _name = import_templates.template("assets.xlsx")
    book = load_workbook(io.BytesIO(data))
    sample = [[c.value for c in row] for row in book["ตัวอย่าง"].iter_rows()]
    assert sample[0][-1] == "กลุ่มพัสดุให้ยืม"
    assert "ประเภทเดียวกัน" in sample[1][-1]
    assert sample[2][-1] == "เต็นท์ขนาด 4x8 เมตร"
    csv_text, _mime, _name = import_templates.template("assets.csv")
    assert csv_text.decode("utf-8-sig").strip().endswith(",กลุ่มพัสดุให้ยืม")


def test_the_preview_shows_each_rows_group_and_the_groups_it_will_set_up(app, officer_client, session):
    p = prefix()
    chairs = unique("เก้าอี้พลาสติก ")
    data = csv_bytes(THAI_GROUP, [_row(f"{p}-001", "เก้าอี้", "เก้าอี้", chairs), _row(f"{p}-002", "โต๊ะ", "โต๊ะ", "")])

    resp = officer_client.post(
        "/assets/import", data={"file": (io.BytesIO(data), "list.csv")}, content_type="multipart/form-data"
    )

    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "kp-errors" not in html
    assert "1 new lending group will be set up" in html and f"<strong>{chairs}</strong>" in html
    assert "<th>Lending group</th>" in html and f'<td class="kp-group">{chairs}</td>' in html
    assert '<td class="kp-group">–</td>' in html
    assert _group_named(session, chairs) is None  # the preview changes nothing

    applied = follow_job(
        app,
        officer_client,
        officer_client.post("/assets/import/apply", data={"sha256": hashlib.sha256(data).hexdigest()}),
    )
    assert "Imported: 2 added" in applied.get_data(as_text=True)
    group = _group_named(session, chairs)
    assert [a.lending_group_id for a in assets_of(session, p)] == [group.id, None]


def test_a_bad_group_cell_is_listed_on_the_preview_under_the_files_header(officer_client, session):
    p = prefix()
    data = csv_bytes(THAI_GROUP, [_row(f"{p}-001", "เก้าอี้", "เก้าอี้", "ก" * 201)])
    html = officer_client.post(
        "/assets/import", data={"file": (io.BytesIO(data), "list.csv")}, content_type="multipart/form-data"
    ).get_data(as_text=True)
    assert '<td class="kp-number">2</td><td class="kp-column text-nowrap">กลุ่มพัสดุให้ยืม</td>' in html
    assert "/assets/import/apply" not in html


def test_the_command_line_names_a_bad_group_cell_and_a_dry_run_names_the_new_group(app, session, tmp_path):
    p = prefix()
    chairs = unique("เก้าอี้ ")
    bad = csv_bytes(THAI_GROUP, [_row(f"{p}-001", "เก้าอี้", "เก้าอี้", chairs), _row(f"{p}-002", "โต๊ะ", "โต๊ะ", chairs)])
    result = run_cli(app, tmp_path, bad)
    assert result.exit_code == 1
    assert (
        f"row 3, column กลุ่มพัสดุให้ยืม (lending_group): the group {chairs} is for the category เก้าอี้ (set up by row 2)"
        in result.output
    )
    good = csv_bytes(THAI_GROUP, [_row(f"{p}-001", "เก้าอี้", "เก้าอี้", chairs)])
    dry = run_cli(app, tmp_path, good, "--dry-run")
    assert dry.exit_code == 0 and f"would set up the lending group {chairs}" in dry.output
    assert _group_named(session, chairs) is None


def test_a_long_list_checked_by_a_job_shows_the_groups_on_its_preview(app, officer_client, session, monkeypatch):
    from lending.register import views
    from tests.jobs import job_id_of, run_job

    monkeypatch.setattr(views, "CHECK_IN_REQUEST_BYTES", 64 * 1024)  # the test client spools bigger bodies
    p = prefix()
    chairs = unique("เก้าอี้พลาสติกสีน้ำเงินสำหรับงานประชุมประจำเดือน ")
    rows = [_row(f"{p}-{i:04d}", "เก้าอี้พลาสติกสีน้ำเงินสำหรับงานประชุมประจำเดือนของหมู่บ้าน", "เก้าอี้", chairs) for i in range(300)]
    data = csv_bytes(THAI_GROUP, rows)
    assert len(data) > 64 * 1024
    started = officer_client.post(
        "/assets/import", data={"file": (io.BytesIO(data), "ยาว.csv")}, content_type="multipart/form-data"
    )
    job_id = job_id_of(started)
    run_job(app, job_id)
    html = officer_client.get(f"/jobs/{job_id}", follow_redirects=True).get_data(as_text=True)
    assert "New assets: 300" in html and "1 new lending group will be set up" in html
    assert f'<td class="kp-group">{chairs}</td>' in html
