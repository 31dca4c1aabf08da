"""Eight writers at once through the real services: one gapless chain that verifies, on SQLite and PostgreSQL.

Each writer is a thread with its own app context and session, changing its own agency setting 500 times
through `core.people.services.update_settings` as an admin; they contend for the chain's head (a row lock on
PostgreSQL, BEGIN IMMEDIATE on SQLite, where a writer waits for the lock instead of failing with
"database is locked").
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from audit.integrity import runner as queries
from audit.models import AuditEntry
from core.db import db
from tests.integration.audit_instances import SETTING_KEYS, admin_with_settings, separate_instance, writers

pytestmark = pytest.mark.slow

THREADS, ACTIONS = 8, 500


def test_eight_writers_times_five_hundred_actions_make_one_gapless_chain_that_verifies(tmp_path):
    with separate_instance("concurrency", tmp_path) as app:
        admin_id = admin_with_settings(app, "cc")
        with app.app_context():
            start = queries.head_of(db.session)[0]
        errors: list = []
        threads = writers(app, admin_id, ACTIONS, errors, THREADS)
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        with app.app_context():
            result = queries.verify_engine(db.engine, log=None)
            seqs = db.session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
            changed = (
                db.session.execute(
                    select(AuditEntry.data).where(AuditEntry.action == "settings.changed", AuditEntry.seq > start)
                )
                .scalars()
                .all()
            )
            per_key = db.session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.seq > start, AuditEntry.actor_id == admin_id)
            ).scalar_one()
        assert result.ok, result.problem and result.problem.message
        assert result.count == start + THREADS * ACTIONS == result.head_seq
        assert seqs == list(range(1, result.head_seq + 1))  # gapless
        assert per_key == len(changed) == THREADS * ACTIONS  # every action has its one entry
        for key in SETTING_KEYS[:THREADS]:
            assert sum(f'"{key}":' in data for data in changed) == ACTIONS
