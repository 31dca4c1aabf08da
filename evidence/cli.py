"""`flask --app wsgi evidence check` (and, from the report's module, `evidence bundle`); `ita catalogue import`.

The file store names every file by its SHA-256, so checking it is re-hashing: a file whose bytes no longer
hash to its name was altered; a row in `stored_files` without its file is missing; a file on disk that no
row names is an orphan (the crash window of an upload: the bytes are written before the row is committed,
so an interrupted upload leaves exactly this and nothing worse; an upload that commits while the check
runs can show here once, and not on the next run); a `.incoming-*` file older than an hour is a write that
never finished. Only missing and altered files fail the check (exit 1): orphans and unfinished writes take
disk space but lose nothing.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from core.db import Session, db
from core.files import FileStore
from core.models import StoredFile

evidence = AppGroup("evidence", help="Evidence files: check the store (and build the year's bundle).")

INCOMING = ".incoming-"
STALE_INCOMING_SECONDS = 3600
_HEX = set("0123456789abcdef")


@dataclass
class StoreCheck:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[tuple[str, str]] = field(default_factory=list)  # (expected, actual)
    orphaned: list[Path] = field(default_factory=list)
    incomplete: list[Path] = field(default_factory=list)
    in_progress: int = 0

    @property
    def ok(self) -> bool:
        """Nothing referenced is missing or altered (orphans and stale temp files are reported only)."""
        return not self.missing and not self.altered


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_digest(name: str) -> bool:
    return len(name) == 64 and set(name) <= _HEX


def check_store(session: Session, root: str | Path, now: float | None = None, progress=None) -> StoreCheck:
    """Re-hash every stored file the database names and look for files no row names."""
    store, root = FileStore(root), Path(root)
    now = time.time() if now is None else now
    result = StoreCheck()
    referenced: set[str] = set()
    for digest in session.execute(
        select(StoredFile.sha256).order_by(StoredFile.sha256).execution_options(yield_per=1000)
    ).scalars():
        referenced.add(digest)
        result.checked += 1
        try:
            path = store.path_of(digest)
        except ValueError:
            result.missing.append(digest)
            continue
        if not path.is_file():
            result.missing.append(digest)
        else:
            actual = _sha256_of(path)
            if actual != digest:
                result.altered.append((digest, actual))
        if progress:
            progress(1)
    session.rollback()  # end the read transaction before the directory walk
    if root.exists():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            name = path.name
            if name.startswith(INCOMING):
                try:
                    age = now - path.stat().st_mtime
                except FileNotFoundError:
                    continue  # renamed into place while we looked
                if age > STALE_INCOMING_SECONDS:
                    result.incomplete.append(path)
                else:
                    result.in_progress += 1
                continue
            if _is_digest(name) and name in referenced and path == store.path_of(name):
                continue
            result.orphaned.append(path)
    return result


@evidence.command("check")
def check_command():
    """Re-hash every stored file; report missing, altered, orphaned ones; exit 1 if any is missing/altered."""
    root = Path(current_app.config["EVIDENCE_DIR"])
    result = check_store(db.session, root)
    for digest in result.missing:
        click.echo(f"MISSING  {digest}  (named in stored_files, not on disk)", err=True)
    for expected, actual in result.altered:
        click.echo(f"ALTERED  {expected}  (the file now hashes to {actual})", err=True)
    for path in result.orphaned:
        click.echo(f"ORPHAN   {path.relative_to(root)}  (on disk, named by no stored_files row)")
    for path in result.incomplete:
        click.echo(f"INCOMPLETE  {path.relative_to(root)}  (a write that never finished; safe to delete)")
    summary = (
        f"{result.checked} files checked: {len(result.missing)} missing, "
        f"{len(result.altered)} altered, {len(result.orphaned)} orphaned, "
        f"{len(result.incomplete)} incomplete writes"
    )
    if result.in_progress:
        summary += f", {result.in_progress} uploads in progress"
    click.echo(("OK: " if result.ok else "FAILED: ") + summary)
    sys.exit(0 if result.ok else 1)


# --- the ITA catalogue of a year -------------------------------------------------------------------

ita = AppGroup("ita", help="The ITA catalogues of the assessment years.")
catalogue_group = AppGroup("catalogue", help="A year's catalogue: import it from a CSV or XLSX file.")
ita.add_command(catalogue_group)


@catalogue_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--year", "year", required=True, type=int, help="The B.E. assessment year, e.g. 2571.")
@click.option("--dry-run", is_flag=True, help="Check the file and show what would change; change nothing.")
def catalogue_import_command(file: Path, year: int, dry_run: bool):
    """Import a year's catalogue (columns as in evidence/catalogues/README.md), all or nothing."""
    from core.db import DomainError
    from core.web import context
    from evidence.services import import_catalogue

    context.set_origin("cli", "flask ita catalogue import")
    try:
        result = import_catalogue(db.session, None, year, file.read_bytes(), file.name, dry_run=dry_run)
    except DomainError as err:
        raise click.ClickException(str(err)) from None
    if not result.ok:
        for problem in result.problems[:500]:
            click.echo(str(problem), err=True)
        bad_rows = len({p.row for p in result.problems})
        raise click.ClickException(f"{bad_rows} bad rows; nothing was imported")
    would = "would " if dry_run else ""
    for label, codes in (("add", result.created), ("change", result.updated), ("retire", result.retired)):
        if codes:
            click.echo(f"{would}{label}: {' '.join(codes)}")
    click.echo(
        f"fiscal year {year}: {would}add {len(result.created)}, {would}change {len(result.updated)}, "
        f"{would}retire {len(result.retired)}, unchanged {result.unchanged}"
    )
