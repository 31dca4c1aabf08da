"""Backups that lose nothing: a consistent database snapshot, every stored file, and a manifest of hashes.

`take_backup` works while the app is in use. The database is copied first, as one snapshot — SQLite with
`VACUUM INTO` (a read transaction: writers go on in the WAL), PostgreSQL with `pg_dump --format=custom`
under an exported snapshot in which the chain's head is read too — and the files after it: the file store
writes a file before the row that points at it, so every file the snapshot refers to already exists when
the copy of the store begins. The manifest (`manifest.json`, written last: a directory without one is an
unfinished backup) lists every file with its SHA-256 and size and the chain's head in the snapshot.

`restore_backup` brings a backup into an empty instance only, after checking every hash, and merges the
backup's checkpoint file into the instance's (never replacing it: checkpoints taken after the backup are
what shows a restored older history as a rollback). The caller then verifies the chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.exc import DBAPIError

from audit.integrity import checkpoints as checkpoint_file
from audit.models import AuditEntry, AuditHead
from core.db import N_, DomainError, grant_app_role
from core.models import User

FORMAT = "khruphan-backup/1"
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(DomainError):
    """A backup cannot be taken or restored; the message says why and nothing was changed."""


def app_version() -> str:
    try:
        return metadata.version("khruphan")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
        except (OSError, KeyError, ValueError):
            return "unknown"


def sha256_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy(src: Path, dst: Path) -> tuple[str, int]:
    """Copy a file (to a temporary name, then renamed) and return the SHA-256 and size of what was read."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".incoming-")
    try:
        with src.open("rb") as fin, os.fdopen(fd, "wb") as fout:
            while chunk := fin.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return digest.hexdigest(), size


def _store_files(root: Path) -> list[Path]:
    """Every file under the store, by relative path (never the half-written `.incoming-*` ones)."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".incoming-"))


# --- PostgreSQL through its own tools ------------------------------------------------------------


def _pg_env_args(engine: Engine) -> tuple[dict[str, str], list[str]]:
    """libpq connection settings for pg_dump/pg_restore: the password and options travel in the
    environment, not on the command line (where `ps` shows them)."""
    url = engine.url
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    options = url.query.get("options")
    if options:
        env["PGOPTIONS"] = options if isinstance(options, str) else " ".join(options)
    args = []
    if url.host:
        args += ["--host", url.host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    args += ["--dbname", url.database or ""]
    return env, args


def _run(cmd: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)  # noqa: S603 (fixed tool, list argv)
    if proc.returncode != 0:
        raise BackupError(N_("%(tool)s failed: %(detail)s"), tool=cmd[0], detail=proc.stderr.strip()[-2000:])


# Extensions the app's schema uses from outside it (the asset search index's operator class, migration
# 0005): a dump of the app's schema does not carry them, so the manifest names them and restore creates
# them first.
EXTENSIONS = ("pg_trgm",)


def _snapshot_postgres(engine: Engine, dest: Path) -> tuple[tuple[int, str], str, list[dict[str, str]]]:
    conn = engine.connect().execution_options(isolation_level="REPEATABLE READ")
    try:
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            head = _head(conn)
            extensions = [
                {"name": name, "schema": where}
                for name, where in conn.execute(
                    text(
                        "SELECT e.extname, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                        "WHERE e.extname = ANY(:names) ORDER BY e.extname"
                    ),
                    {"names": list(EXTENSIONS)},
                )
                if where != schema
            ]
            env, args = _pg_env_args(engine)
            _run(
                [
                    shutil.which("pg_dump") or "pg_dump",
                    "--format=custom",
                    f"--snapshot={snapshot}",
                    f"--schema={schema}",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={dest}",
                    *args,
                ],
                env,
            )
    finally:
        conn.close()
    return head, schema, extensions


def _create_extensions(engine: Engine, extensions: list[dict[str, str]]) -> None:
    """The extensions a PostgreSQL backup needs, each in the schema it had (if not there already)."""
    quote = engine.dialect.identifier_preparer.quote_identifier
    for ext in extensions:
        if ext.get("name") not in EXTENSIONS:
            continue  # only what this app installs; never a name read from a file into SQL otherwise
        try:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quote(ext['schema'])}"))
                conn.execute(
                    text(f"CREATE EXTENSION IF NOT EXISTS {quote(ext['name'])} WITH SCHEMA {quote(ext['schema'])}")
                )
        except DBAPIError as err:
            raise BackupError(
                N_(
                    "This backup needs the PostgreSQL extension %(name)s in schema %(schema)s, "
                    "which this database role may not create (%(reason)s). Ask the database "
                    "administrator to create it, then restore again."
                ),
                name=ext["name"],
                schema=ext["schema"],
                reason=str(err.orig).strip().splitlines()[0],
            ) from None


def _snapshot_sqlite(engine: Engine, dest: Path) -> tuple[int, str]:
    source = engine.url.database
    if not source or source == ":memory:":
        raise BackupError(N_("An in-memory database cannot be backed up."))
    src = sqlite3.connect(source, timeout=60)
    try:
        src.execute("PRAGMA busy_timeout=60000")
        src.execute("VACUUM INTO ?", (str(dest),))
    finally:
        src.close()
    copy = sqlite3.connect(dest)
    try:
        row = copy.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    finally:
        copy.close()
    return (int(row[0]), row[1]) if row else (0, "0" * 64)


def _head(conn: Any) -> tuple[int, str]:
    row = conn.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row[0]), row[1]) if row else (0, "0" * 64)


# --- backup --------------------------------------------------------------------------------------


def take_backup(
    engine: Engine, evidence_dir: str | os.PathLike, out: str | os.PathLike, checkpoint_log: Path | None = None
) -> dict[str, Any]:
    """Write a consistent backup into `out` (new or empty) and return its manifest."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupError(N_("%(path)s is not empty; choose a new directory for the backup."), path=str(out))
    out.mkdir(parents=True, exist_ok=True)
    kind = engine.dialect.name
    schema: str | None = None
    extensions: list[dict[str, str]] = []
    if kind == "sqlite":
        db_name = "db.sqlite3"
        head = _snapshot_sqlite(engine, out / db_name)
    elif kind == "postgresql":
        db_name = "db.dump"
        head, schema, extensions = _snapshot_postgres(engine, out / db_name)
    else:
        raise BackupError(N_("Backups of %(kind)s databases are not supported."), kind=kind)
    db_sha, db_size = sha256_file(out / db_name)

    store = Path(evidence_dir)
    files = []
    for rel in _store_files(store):
        try:
            digest, size = _copy(store / rel, out / "files" / rel)
        except FileNotFoundError:
            continue  # removed while copying: not referenced by the snapshot, which names what it holds
        files.append({"path": rel.as_posix(), "sha256": digest, "size": size})

    log_entry = None
    if checkpoint_log is not None and Path(checkpoint_log).exists():
        digest, size = _copy(Path(checkpoint_log), out / checkpoint_file.LOG_NAME)
        log_entry = {"path": checkpoint_file.LOG_NAME, "sha256": digest, "size": size}

    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "app_version": app_version(),
        "db": {
            "kind": kind,
            "path": db_name,
            "sha256": db_sha,
            "size": db_size,
            "schema": schema,
            "extensions": extensions,
        },
        "audit_head": {"seq": head[0], "hash": head[1]},
        "files": files,
        "checkpoint_log": log_entry,
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out / MANIFEST)
    return manifest


def manifest_sha256(directory: str | os.PathLike) -> str:
    return sha256_file(Path(directory) / MANIFEST)[0]


# --- restore -------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.exists():
        raise BackupError(
            N_("%(path)s has no manifest.json: it is not a backup, or an unfinished one."), path=str(directory)
        )
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(N_("Unknown backup format: %(format)s"), format=str(manifest.get("format")))
    return manifest


def check_backup(directory: Path, manifest: dict[str, Any]) -> None:
    """Every file of the backup is there with the hash and size the manifest gives."""
    items = [(directory / manifest["db"]["path"], manifest["db"])]
    items += [(directory / "files" / item["path"], item) for item in manifest["files"]]
    if manifest.get("checkpoint_log"):
        items.append((directory / manifest["checkpoint_log"]["path"], manifest["checkpoint_log"]))
    for path, item in items:
        if ".." in Path(item["path"]).parts or Path(item["path"]).is_absolute():
            raise BackupError(N_("The backup names a file outside itself: %(path)s"), path=item["path"])
        if not path.exists():
            raise BackupError(N_("The backup is incomplete: %(path)s is missing."), path=str(path))
        digest, size = sha256_file(path)
        if digest != item["sha256"] or size != item["size"]:
            raise BackupError(
                N_("The backup is damaged: %(path)s does not match its SHA-256 in the manifest."), path=str(path)
            )


def instance_contents(engine: Engine, evidence_dir: str | os.PathLike) -> dict[str, int]:
    """What the target instance holds already: audit entries, users, stored files."""
    found = {"entries": 0, "users": 0, "files": len(_store_files(Path(evidence_dir)))}
    if engine.dialect.name == "sqlite" and engine.url.database and not Path(engine.url.database).exists():
        return found
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        if "audit_entries" in names:
            found["entries"] = conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        if "users" in names:
            found["users"] = conn.execute(select(func.count()).select_from(User)).scalar_one()
    return found


def restore_backup(
    engine: Engine,
    evidence_dir: str | os.PathLike,
    source: str | os.PathLike,
    checkpoint_log: Path | None = None,
    *,
    app_role: str | None = None,
) -> dict[str, Any]:
    """Restore a checked backup into an empty instance; return its manifest. Verification is the caller's.

    On PostgreSQL `engine` is the owner's (MIGRATE_DATABASE_URL when set): the dump is restored without
    its owners and privileges, so `app_role`, the app's own role when it is another, is granted its
    privileges again afterwards (core.db.grant_app_role).
    """
    source = Path(source)
    manifest = read_manifest(source)
    kind = engine.dialect.name
    if manifest["db"]["kind"] != kind:
        raise BackupError(
            N_("This backup is of a %(backup)s database; this instance uses %(target)s."),
            backup=manifest["db"]["kind"],
            target=kind,
        )
    check_backup(source, manifest)
    held = instance_contents(engine, evidence_dir)
    if any(held.values()):
        raise BackupError(
            N_(
                "Restore only into an empty instance: this one holds %(entries)d audit "
                "entries, %(users)d users and %(files)d stored files. Point DATABASE_URL and "
                "EVIDENCE_DIR at an empty database and directory."
            ),
            **held,
        )

    dump = source / manifest["db"]["path"]
    if kind == "sqlite":
        if engine.url.database is None:  # a SQLite URL names its file; Path(None) would raise this
            raise TypeError("the SQLite URL names no file")
        target = Path(engine.url.database)
        engine.dispose()
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        _copy(dump, target)
    else:
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        if manifest["db"].get("schema") and manifest["db"]["schema"] != schema:
            raise BackupError(
                N_("This backup holds schema %(backup)s; this database's schema is %(target)s."),
                backup=manifest["db"]["schema"],
                target=schema,
            )
        _create_extensions(engine, manifest["db"].get("extensions") or [])
        engine.dispose()
        env, args = _pg_env_args(engine)
        _run(
            [
                shutil.which("pg_restore") or "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                *args,
                str(dump),
            ],
            env,
        )
        if app_role:
            with engine.begin() as conn:
                grant_app_role(conn, app_role)
            engine.dispose()

    store = Path(evidence_dir)
    for item in manifest["files"]:
        _copy(source / "files" / item["path"], store / item["path"])

    if checkpoint_log is not None and manifest.get("checkpoint_log"):
        have = {checkpoint_file.line_of(cp) for cp in checkpoint_file.read(checkpoint_log)}
        for cp in checkpoint_file.read(source / manifest["checkpoint_log"]["path"]):
            if checkpoint_file.line_of(cp) not in have:
                checkpoint_file.append(checkpoint_log, cp)
    return manifest
