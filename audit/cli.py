"""`flask --app wsgi audit verify|checkpoint|keygen|pubkey|mackey`, and `backup --out DIR` / `restore DIR`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from audit import services
from audit.integrity import backup as backups
from audit.integrity import checkpoints as checkpoint_file
from audit.integrity import mac as entry_mac
from audit.integrity import runner
from audit.integrity.chain import at_text
from audit.integrity.verify import DATABASE_ERRORS, Result, database_unreadable
from core.db import DomainError, db, known, owner_engine
from core.web import context

audit = AppGroup("audit", help="The audit log: verify the chain, take checkpoints.")


def signing_key() -> checkpoint_file.SigningKey | None:
    """The configured Ed25519 key (AUDIT_SIGNING_KEY: a PEM file outside the database), or None."""
    try:
        return checkpoint_file.load_signing_key(current_app.config.get("AUDIT_SIGNING_KEY"))
    except (OSError, ValueError) as err:
        raise click.ClickException(f"AUDIT_SIGNING_KEY cannot be used: {err}") from None


def checkpoint_log() -> Path:
    return checkpoint_file.log_path(current_app.config)


def verify_now() -> Result:
    """Verify the app's database against the database's and the file's checkpoints, and the MACs."""
    try:
        return runner.verify_configured(db.engine, current_app.config)
    except DATABASE_ERRORS as err:  # a dropped or unreadable audit table is a finding, not a traceback
        return database_unreadable(err)


def report(result: Result) -> None:
    """Print a verification result: the count and head, or the first bad entry (to stderr)."""
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if result.ok:
        click.echo(
            f"OK: {result.count} entries, head {result.head_seq} {result.head_hash}; "
            f"checked against {result.checkpoints} checkpoint(s)"
        )
    else:
        problem = known(result.problem, "problem")  # a failed result has one
        click.echo(f"FAILED at entry {problem.seq} ({problem.kind}): {problem.message}", err=True)


@audit.command("verify")
def verify_command():
    """Walk the whole chain; exit 0 when intact, 1 naming the first bad entry."""
    result = verify_now()
    report(result)
    sys.exit(0 if result.ok else 1)


@audit.command("checkpoint")
def checkpoint_command():
    """Record the chain's head (signed if AUDIT_SIGNING_KEY is set) in the database and the file."""
    context.set_origin("cli", "flask audit checkpoint")
    key = signing_key()
    log = checkpoint_log()
    try:
        cp = services.create_checkpoint(db.session, None, log=log, key=key)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    signed = f"signed with key {cp.key_id}" if cp.signature else "unsigned"
    click.echo(f"checkpoint: seq {cp.seq} hash {cp.hash} at {at_text(cp.at)} ({signed}); appended to {log}")


@audit.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def keygen_command(path: Path):
    """Write a new Ed25519 signing key (PEM, owner-only) for AUDIT_SIGNING_KEY; keep it off the database."""
    try:
        key = checkpoint_file.write_new_key(path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from None
    click.echo(f"key id {key.key_id}; set AUDIT_SIGNING_KEY={path.resolve()}")
    click.echo(checkpoint_file.public_pem(key), nl=False)
    click.echo(f"fingerprint: {checkpoint_file.fingerprint(key)}")


@audit.command("pubkey")
def pubkey_command():
    """Print the signing key's public key (PEM) and its fingerprint, for the auditor's copy on paper."""
    key = signing_key()
    if key is None:
        raise click.ClickException("no AUDIT_SIGNING_KEY is configured")
    click.echo(checkpoint_file.public_pem(key), nl=False)
    click.echo(f"key id {key.key_id}")
    click.echo(f"fingerprint (SHA-256 of the raw 32-byte Ed25519 key): {checkpoint_file.fingerprint(key)}")


@audit.command("mackey")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def mackey_command(path: Path):
    """Write a new MAC key (32 random bytes as hex, owner-only) for AUDIT_MAC_KEY; keep it off the database
    and out of the backups."""
    try:
        entry_mac.write_new_key(path)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; refusing to overwrite a key") from None
    click.echo(f"MAC key written; set AUDIT_MAC_KEY={path.resolve()} (and keep it out of the backups)")


@click.command("backup")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) directory for the backup.",
)
@with_appcontext
def backup_command(out: Path):
    """A consistent snapshot of the database and every stored file, with a manifest of their hashes."""
    context.set_origin("cli", "flask backup")
    try:
        manifest = backups.take_backup(db.engine, current_app.config["EVIDENCE_DIR"], out, checkpoint_log())
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    head = (manifest["audit_head"]["seq"], manifest["audit_head"]["hash"])
    services.record_backup(
        db.session,
        directory=str(out.resolve()),
        head=head,
        manifest_sha256=backups.manifest_sha256(out),
        files=len(manifest["files"]),
    )
    click.echo(
        f"backup: {out} ({manifest['db']['kind']}, {len(manifest['files'])} files, audit head {head[0]} {head[1]})"
    )


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@with_appcontext
def restore_command(source: Path):
    """Restore a backup into an empty instance, check every hash, then verify the audit chain."""
    engine, app_role = owner_engine(current_app.config, db.engine)  # restoring is the owner's work
    try:
        manifest = backups.restore_backup(
            engine, current_app.config["EVIDENCE_DIR"], source, checkpoint_log(), app_role=app_role
        )
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    finally:
        if engine is not db.engine:
            engine.dispose()
    click.echo(
        f"restored {source}: {manifest['db']['kind']} database, {len(manifest['files'])} files, "
        f"taken {manifest['created_at']} at audit head {manifest['audit_head']['seq']}"
    )
    result = verify_now()
    report(result)
    sys.exit(0 if result.ok else 1)


def init_app(app: Flask) -> None:
    app.cli.add_command(audit)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
