"""`flask backup --out DIR` while the app is in use, and `flask restore DIR` into an empty instance.

A backup of PostgreSQL is a dump of one schema, restored into a schema of the same name; so on PostgreSQL
the "fresh instance" is the live schema emptied after the live chain was read, and on SQLite a new file.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flask import Flask

from audit.integrity import backup as backups
from audit.integrity import runner as queries
from audit.integrity.checkpoints import read
from core.db import db
from core.files import FileStore
from tests.integration.audit_instances import (
    admin_with_settings,
    create_schema,
    make_app,
    on_postgres,
    separate_instance,
    writers,
)

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit-log.md"


def head(app: Flask) -> tuple[int, str]:
    with app.app_context():
        value = queries.head_of(db.session)
        db.session.remove()
    return value


def hashes(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        value = queries.chain_hashes(db.session)
        db.session.remove()
    return value


def restore_target(live: Flask, directory: Path, **overrides) -> Flask:
    """An empty instance to restore into (see the module's note)."""
    if on_postgres():
        schema = live.config["KP_TEST_SCHEMA"]
        with live.app_context():
            db.session.remove()
            db.engine.dispose()
        create_schema(schema)  # dropped and made again, empty
        return make_app(live.config["SQLALCHEMY_DATABASE_URI"], directory, **overrides)
    return make_app(f"sqlite:///{directory / 'restored.sqlite3'}", directory, **overrides)


def cli(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def output(result) -> str:
    """What the command printed, standard output and error together."""
    return result.output


def store_two_files(app: Flask) -> list[str]:
    store = FileStore(app.config["EVIDENCE_DIR"])
    return [store.write(f"ใบยืมพัสดุ หมายเลข {n}\n".encode() * 50) for n in (1, 2)]


def test_a_backup_taken_while_eight_writers_work_restores_to_a_verified_prefix_of_the_live_chain(tmp_path):
    with separate_instance("live", tmp_path / "live") as live:
        admin_id = admin_with_settings(live, "bk")
        files = store_two_files(live)
        start = head(live)[0]
        errors: list = []
        changes = itertools.count(1)
        hundred = threading.Event()

        def done() -> None:
            if next(changes) >= 100:
                hundred.set()

        threads = writers(live, admin_id, 60, errors, done=done)
        for t in threads:
            t.start()
        assert hundred.wait(timeout=300) or errors, "the writers made fewer than 100 changes"
        out = tmp_path / "backup"
        taken = cli(live, "backup", "--out", str(out))
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert taken.exit_code == 0, output(taken)
        manifest = backups.read_manifest(out)
        snapshot_head = manifest["audit_head"]["seq"]
        live_chain = hashes(live)
        assert start + 100 <= snapshot_head < live_chain[-1][0]  # taken while the writers were working
        assert {f["path"].rsplit("/", 1)[-1] for f in manifest["files"]} == set(files)
        if on_postgres():  # the search index's extension lives outside the dumped schema: restore makes it
            assert [ext["name"] for ext in manifest["db"]["extensions"]] == ["pg_trgm"]

        target_dir = tmp_path / "restored"
        target = restore_target(live, target_dir)
        restored = cli(target, "restore", str(out))
        assert restored.exit_code == 0, output(restored)
        assert "OK:" in output(restored)
        with target.app_context():
            result = queries.verify_engine(db.engine, log=None)
            db.session.remove()
        assert result.ok and result.head_seq == snapshot_head
        assert hashes(target) == live_chain[:snapshot_head]  # a prefix of the live chain
        for digest in files:
            data = FileStore(target.config["EVIDENCE_DIR"]).read(digest)
            assert hashlib.sha256(data).hexdigest() == digest
        with target.app_context():
            db.engine.dispose()


@pytest.mark.skipif(on_postgres(), reason="the auditor's script reads a SQLite copy")
def test_the_auditor_s_own_verifier_in_the_docs_accepts_a_backup_and_names_a_change(tmp_path):
    script = re.search(
        r"<!-- verifier:begin -->\n```python\n(.*?)```\n<!-- verifier:end -->", DOCS.read_text(encoding="utf-8"), re.S
    ).group(1)
    (tmp_path / "verify_chain.py").write_text(script, encoding="utf-8")
    with separate_instance("docs", tmp_path / "live") as live:
        admin_with_settings(live, "dv")
        assert cli(live, "audit", "checkpoint").exit_code == 0
        assert cli(live, "backup", "--out", str(tmp_path / "b")).exit_code == 0
        with live.app_context():
            db.engine.dispose()
    run = [
        sys.executable,
        str(tmp_path / "verify_chain.py"),
        str(tmp_path / "b" / "db.sqlite3"),
        str(tmp_path / "b" / "audit-checkpoints.jsonl"),
    ]
    ok = subprocess.run(run, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.startswith("OK: "), ok.stdout + ok.stderr
    import sqlite3

    conn = sqlite3.connect(tmp_path / "b" / "db.sqlite3")
    conn.execute("DROP TRIGGER audit_entries_no_update")
    conn.execute("UPDATE audit_entries SET actor = 'x' WHERE seq = 2")
    conn.commit()
    conn.close()
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode == 1 and "entry 2: content changed" in bad.stderr


def test_restore_refuses_an_instance_that_is_not_empty(app, session):
    before = queries.head_of(session)
    result = cli(app, "restore", str(Path(__file__).parent))  # not even a backup: refused first for that
    assert result.exit_code != 0 and "manifest.json" in output(result)
    assert queries.head_of(session) == before


def test_restore_refuses_a_non_empty_instance_and_a_damaged_backup_and_changes_nothing(tmp_path):
    with separate_instance("src", tmp_path / "src") as live:
        admin_with_settings(live, "dm")
        store_two_files(live)
        out = tmp_path / "backup"
        assert cli(live, "backup", "--out", str(out)).exit_code == 0
        again = cli(live, "restore", str(out))
        assert again.exit_code != 0 and "empty instance" in output(again)
        assert cli(live, "backup", "--out", str(out)).exit_code != 0  # never over another backup

        damaged = backups.read_manifest(out)["files"][0]["path"]
        path = out / "files" / damaged
        path.write_bytes(path.read_bytes()[:-1] + b"!")
        target = restore_target(live, tmp_path / "target")
        result = cli(target, "restore", str(out))
        assert result.exit_code != 0 and "damaged" in output(result) and damaged in output(result)
        assert backups.instance_contents(_engine(target), target.config["EVIDENCE_DIR"]) == {
            "entries": 0,
            "users": 0,
            "files": 0,
        }
        with target.app_context():
            db.engine.dispose()


def _engine(app: Flask):
    with app.app_context():
        return db.engine


def test_an_old_backup_restored_over_newer_history_is_reported_as_a_rollback(tmp_path):
    shared_log = tmp_path / "shared-audit-checkpoints.jsonl"
    with separate_instance("old", tmp_path / "old", AUDIT_CHECKPOINT_LOG=str(shared_log)) as live:
        admin_id = admin_with_settings(live, "rb")
        out = tmp_path / "backup"
        assert cli(live, "backup", "--out", str(out)).exit_code == 0
        old_head = backups.read_manifest(out)["audit_head"]["seq"]
        errors: list = []
        for t in writers(live, admin_id, 3, errors, threads=2):
            t.start()
            t.join()
        assert not errors
        assert cli(live, "audit", "checkpoint").exit_code == 0
        newer = read(shared_log)[-1].seq
        assert newer > old_head

        target = restore_target(live, tmp_path / "target", AUDIT_CHECKPOINT_LOG=str(shared_log))
        result = cli(target, "restore", str(out))
        assert result.exit_code == 1, output(result)
        assert f"FAILED at entry {old_head + 1} (shorter)" in output(result)
        assert f"checkpoint at {newer}" in output(result)
        with target.app_context():
            db.engine.dispose()
