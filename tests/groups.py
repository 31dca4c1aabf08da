"""Helpers for tests of lending by count: a lending group of N numbered assets, written in one go."""

from __future__ import annotations

from decimal import Decimal

from audit import record
from audit.services import record_many
from core.db import begin_write, db
from lending.groups.models import LendingGroup
from lending.register.models import Asset, compute_search_text
from lending.register.services import unique_tag
from tests.conftest import unique


def make_group(
    app,
    n: int,
    *,
    name: str | None = None,
    category: str = "เก้าอี้",
    public: bool = True,
    price: Decimal = Decimal("350.00"),
) -> tuple[int, list[int]]:
    """A group of `n` lendable numbered assets: (group id, asset ids in number order)."""
    with app.app_context():
        begin_write(db.session)
        group = LendingGroup(
            name=name or unique("เก้าอี้พลาสติก "), category=category, model="", description="", public=public, active=True
        )
        db.session.add(group)
        db.session.flush()
        record(db.session, None, "lending_group.created", group, {"after": group.state()})
        prefix = unique("901-")
        taken: set[str] = set()
        assets = []
        for i in range(n):
            tag = unique_tag(db.session, taken)
            taken.add(tag)
            asset = Asset(tag=tag, status="available", status_note="", lending_group_id=group.id)
            asset.apply(
                {
                    "asset_number": f"{prefix}-{i + 1:04d}",
                    "name": group.name,
                    "category": category,
                    "brand": "",
                    "model": "",
                    "serial_number": "",
                    "acquired_on": None,
                    "price": price,
                    "location": "โรงเก็บ",
                    "department": "สำนักปลัด",
                    "lendable": True,
                }
            )
            asset.search_text = compute_search_text(asset.state())
            assets.append(asset)
        db.session.add_all(assets)
        db.session.flush()
        record_many(db.session, None, "asset.created", [(a, {"after": a.state()}) for a in assets])
        db.session.commit()
        return group.id, [a.id for a in assets]
