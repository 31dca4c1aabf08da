"""The ceiling beside every figure (issue 16): a bare Flask + SQLAlchemy app over the same database.

    gunicorn -w 2 "bench.bare:create_app()"      (DATABASE_URL as for the real app)

Two pages and nothing else: the register's first page (50 rows in asset-number order, with the total
count a pager needs) and one asset's details, each rendered by a plain Jinja template. No login, no
session, no CSRF, no translations, no permissions, no audit: what any Flask page over these rows costs on
this machine. bench/register.py serves it under the same gunicorn and wrk command in the same run as the
real app, so each of Khruphan's figures is printed with the ratio to this one and stays comparable on a
noisy machine. Same SQLite tuning as the app (WAL, a busy timeout, foreign keys, synchronous=NORMAL).
"""

from __future__ import annotations

import os

from flask import Flask, abort, render_template, request
from jinja2 import DictLoader
from sqlalchemy import create_engine, event, text

PAGE_SIZE = 50

REGISTER = """<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>ทะเบียนครุภัณฑ์</title></head>
<body><h1>ทะเบียนครุภัณฑ์</h1>
<p>{{ "{:,}".format(total) }} รายการ · หน้า {{ page }} จาก {{ pages }}</p>
<table><thead><tr><th>หมายเลขครุภัณฑ์</th><th>ชื่อ</th><th>ประเภท</th><th>สถานที่</th><th>สถานะ</th><th>ราคา</th></tr></thead>
<tbody>{% for a in rows %}
<tr><td><a href="/assets/{{ a.id }}">{{ a.asset_number }}</a></td><td>{{ a.name }}</td><td>{{ a.category }}</td>
<td>{{ a.location }}</td><td>{{ a.status }}</td><td>{{ "{:,.2f}".format(a.price) }}</td></tr>{% endfor %}
</tbody></table></body></html>"""

DETAIL = """<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>{{ a.asset_number }}</title></head>
<body><h1>{{ a.name }}</h1><dl>
<dt>หมายเลขครุภัณฑ์</dt><dd>{{ a.asset_number }}</dd><dt>ประเภท</dt><dd>{{ a.category }}</dd>
<dt>ยี่ห้อ / รุ่น</dt><dd>{{ a.brand }} {{ a.model }}</dd><dt>หมายเลขเครื่อง</dt><dd>{{ a.serial_number }}</dd>
<dt>วันที่ได้มา</dt><dd>{{ a.acquired_on or "" }}</dd><dt>ราคา</dt><dd>{{ "{:,.2f}".format(a.price) }}</dd>
<dt>สถานที่</dt><dd>{{ a.location }}</dd><dt>หน่วยงาน</dt><dd>{{ a.department }}</dd>
<dt>สถานะ</dt><dd>{{ a.status }}</dd><dt>ป้าย</dt><dd>{{ a.tag }}</dd></dl></body></html>"""


def create_app() -> Flask:
    """The bare app over DATABASE_URL (the real app's default SQLite file when unset)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{os.path.join(root, 'instance', 'khruphan.sqlite3')}"
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _tune(dbapi_connection, _record):
            cur = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000", "synchronous=NORMAL"):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

    app = Flask(__name__)
    # templates compiled once and cached, as the real app's are (never a compile per request)
    app.jinja_loader = DictLoader({"register.html": REGISTER, "detail.html": DETAIL})
    list_sql = text(
        "SELECT id, asset_number, name, category, location, status, price FROM assets "
        "ORDER BY asset_number LIMIT :limit OFFSET :offset"
    )
    detail_sql = text(
        "SELECT id, asset_number, tag, name, category, brand, model, serial_number, acquired_on, price, "
        "location, department, status FROM assets WHERE id = :id"
    )

    @app.route("/assets")
    def register():
        page = max(1, request.args.get("page", 1, type=int))
        with engine.connect() as conn:
            total = conn.execute(text("SELECT count(*) FROM assets")).scalar_one()
            rows = conn.execute(list_sql, {"limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE}).all()
        pages = max(1, -(-total // PAGE_SIZE))
        return render_template("register.html", rows=rows, total=total, page=page, pages=pages)

    @app.route("/assets/<int:asset_id>")
    def detail(asset_id: int):
        with engine.connect() as conn:
            row = conn.execute(detail_sql, {"id": asset_id}).one_or_none()
        if row is None:
            abort(404)
        return render_template("detail.html", a=row)

    return app
