"""The keys outside the database: the signing key's public half and fingerprint (for the auditor's copy on
paper), published by `audit pubkey`, in the ITA report beside the chain's head and in the bundle manifest;
the MAC key made by `audit mackey`; and a forged append that the web page and the command both refuse."""

from __future__ import annotations

import hashlib
import json
import re

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from audit.integrity import mac as entry_mac
from audit.integrity.checkpoints import fingerprint, load_signing_key, write_new_key
from audit.models import AuditEntry
from core.db import db
from core.people import services as core_services
from core.web import context
from tests.conftest import PASSWORD, login
from tests.integration.audit_instances import separate_instance, tamper_connection
from tests.integration.test_audit_tamper import forge, insert
from tests.jobs import follow_job


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_fingerprint_is_the_sha256_of_the_raw_public_key_in_groups(tmp_path):
    key = write_new_key(tmp_path / "k.pem")
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(raw).hexdigest()
    assert fingerprint(key).replace(" ", "") == digest
    assert re.fullmatch(r"([0-9a-f]{4} ){15}[0-9a-f]{4}", fingerprint(key))


def test_pubkey_prints_the_public_pem_and_fingerprint_and_the_report_and_bundle_carry_it(tmp_path):
    key_path = tmp_path / "signing.pem"
    write_new_key(key_path)
    key = load_signing_key(key_path)
    with separate_instance("keys", tmp_path, AUDIT_SIGNING_KEY=str(key_path)) as app:
        out = cli(app, "audit", "pubkey")
        assert out.exit_code == 0, out.output
        assert "-----BEGIN PUBLIC KEY-----" in out.output and "PRIVATE" not in out.output
        assert fingerprint(key) in out.output
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest keys")
            core_services.update_settings(db.session, None, {"phone": "044-000001"})
            from evidence import report
            from evidence.bundle import archive as bundle

            made = report.build(
                db.session, 2566, engine=db.engine, config=app.config, lang="en", chain_intact=lambda: True
            )
            assert fingerprint(key) in report.document_model(made).chain_text
            thai = report.build(
                db.session, 2566, engine=db.engine, config=app.config, lang="th", chain_intact=lambda: True
            )
            assert fingerprint(key) in report.document_model(thai).chain_text
            checkpoint = bundle._checkpoint(db.session, None, app.config)
            assert checkpoint["public_key_fingerprint"] == fingerprint(key)
            db.session.remove()


def test_pubkey_without_a_key_says_so(tmp_path):
    with separate_instance("nokey", tmp_path) as app:
        out = cli(app, "audit", "pubkey")
    assert out.exit_code != 0 and "no AUDIT_SIGNING_KEY" in out.output


def test_mackey_writes_an_owner_only_key_and_refuses_to_overwrite(tmp_path):
    with separate_instance("mackey", tmp_path) as app:
        made = cli(app, "audit", "mackey", str(tmp_path / "mac.key"))
        again = cli(app, "audit", "mackey", str(tmp_path / "mac.key"))
    assert made.exit_code == 0, made.output
    assert (tmp_path / "mac.key").stat().st_mode & 0o777 == 0o600
    assert len(entry_mac.load_key(tmp_path / "mac.key")) == 32
    assert again.exit_code != 0 and "refusing to overwrite" in again.output


def test_a_forged_append_fails_on_the_page_and_the_command_even_after_a_checkpoint(tmp_path):
    mac_path = tmp_path / "mac.key"
    entry_mac.write_new_key(mac_path)
    with separate_instance("append", tmp_path, AUDIT_MAC_KEY=str(mac_path)) as app:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest append")
            core_services.create_user(db.session, None, "auditor1", "ผู้ตรวจ สอบ", {"auditor"}, PASSWORD)
            core_services.update_settings(db.session, None, {"phone": "044-000002"})
            db.session.remove()
        with tamper_connection(app, commit=True) as conn:  # no key: a correctly chained entry, head moved
            seq = conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar() + 1
            fake = forge(conn, seq)
            insert(conn, fake)
            conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h WHERE id = 1"), {"s": seq, "h": fake["hash"]})
        assert cli(app, "audit", "checkpoint").exit_code == 0  # the office's nightly checkpoint covers it
        verified = cli(app, "audit", "verify")
        assert verified.exit_code == 1
        assert f"FAILED at entry {seq} (bad_mac)" in verified.output
        client = app.test_client()
        assert login(client, "auditor1").status_code == 302
        html = follow_job(app, client, client.post("/audit/verify")).get_data(as_text=True)
        assert f'href="/audit/entry/{seq}"' in html
        with app.app_context():
            data = db.session.execute(
                select(AuditEntry.data)
                .where(AuditEntry.action == "audit.verified")
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            ).scalar_one()
            db.session.remove()
        assert (json.loads(data)["problem"]["seq"], json.loads(data)["problem"]["kind"]) == (seq, "bad_mac")


def test_a_row_outside_the_chain_is_not_shown_as_history_and_verify_names_it(tmp_path):
    with separate_instance("outside", tmp_path) as app:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest outside")
            core_services.create_user(db.session, None, "auditor1", "ผู้ตรวจ สอบ", {"auditor"}, PASSWORD)
            core_services.update_settings(db.session, None, {"phone": "044-000003"})
            db.session.remove()
        with tamper_connection(app, commit=True) as conn:
            for seq in (0, -3):
                row = forge(conn, 1)
                row.update(
                    seq=seq,
                    subject_type="assets",
                    subject_id="999",
                    prev_hash=hashlib.sha256(f"nowhere {seq}".encode()).hexdigest(),
                )
                from tests.integration.test_audit_tamper import hash_of

                row["hash"] = hash_of(row)
                insert(conn, row)
        client = app.test_client()
        assert login(client, "auditor1").status_code == 302
        for page in ("/audit/", "/audit/record/assets/999", "/audit/?type=assets&id=999"):
            html = client.get(page).get_data(as_text=True)
            assert 'href="/audit/entry/0"' not in html and "/audit/entry/-3" not in html, page
        assert client.get("/audit/entry/0").status_code == 404
        html = follow_job(app, client, client.post("/audit/verify")).get_data(as_text=True)
        assert 'id="kp-verify-result"' in html and "alert-danger" in html
        verified = cli(app, "audit", "verify")
        assert verified.exit_code == 1 and "FAILED at entry -3 (inserted)" in verified.output


def test_a_backup_holds_neither_key(tmp_path):
    key_path, mac_path = tmp_path / "signing.pem", tmp_path / "mac.key"
    write_new_key(key_path)
    entry_mac.write_new_key(mac_path)
    with separate_instance(
        "nokeys", tmp_path / "live", AUDIT_SIGNING_KEY=str(key_path), AUDIT_MAC_KEY=str(mac_path)
    ) as app:
        with app.app_context():
            context.set_origin("127.0.0.1", "pytest backup keys")
            core_services.update_settings(db.session, None, {"phone": "044-000004"})
            db.session.remove()
        assert cli(app, "audit", "checkpoint").exit_code == 0
        made = cli(app, "backup", "--out", str(tmp_path / "b"))
        assert made.exit_code == 0, made.output
        with app.app_context():
            db.engine.dispose()
    secrets_ = [mac_path.read_text().strip().encode(), key_path.read_bytes().split(b"\n")[1]]
    for path in (tmp_path / "b").rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(s in content for s in secrets_), path
