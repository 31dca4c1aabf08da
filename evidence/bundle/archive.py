"""The year's evidence bundle: one ZIP with the report, every evidence file, manifests and an audit
checkpoint.

    report/ita-report-2566.pdf | .docx | .xlsx | .json
    evidence/i20/17-ใบยืมพัสดุ.pdf          one folder per indicator; an item naming two indicators is in both
    manifest.csv, manifest.json           path, indicator, title, sha256, size, uploaded by and at
    checkpoint.json                       the audit chain's head, checkpointed (signed when a key is set)

The ZIP is written as a stream: `prepare()` does everything that needs the database (the audit entry, the
report, the checkpoint, the list of files) and `iter_bundle()` then yields the archive chunk by chunk,
reading each evidence file from the store in 1 MB pieces and hashing it on the way (the manifests, written
last, carry the hash of the bytes actually in the archive). zipfile writes to an unseekable sink, so every
member carries a data descriptor and nothing is ever held whole in memory; members over 2 GB use ZIP64.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from audit import record
from audit.integrity.chain import format_at
from audit.integrity.checkpoints import fingerprint, load_signing_key, log_path, public_pem, statement
from audit.integrity.runner import head_of
from audit.services import create_checkpoint
from core.dates import BANGKOK
from core.db import DomainError, Session, utcnow, write
from core.documents.exports import safe_cell
from core.files import FileStore
from core.models import User
from evidence import report as reports
from evidence.items.models import EvidenceIndicator, EvidenceItem
from evidence.measures.catalogue import code_key
from evidence.measures.queries import code_order, in_catalogue_order

CHUNK = 1024 * 1024
REPORT_FORMATS = ("pdf", "docx", "xlsx", "json")
MANIFEST_COLUMNS = (
    "path",
    "indicator",
    "title",
    "sha256",
    "size",
    "uploaded_by",
    "uploaded_at",
    "evidence_id",
    "note",
)
_FORBIDDEN = set('/\\:*?"<>|')


def safe_member_name(name: str, limit: int = 120) -> str:
    """A file name for inside the archive: NFC, no path, no control or reserved characters, the extension
    kept when the name is cut to `limit` characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").split("/")[-1]
    name = "".join("_" if (c in _FORBIDDEN or not c.isprintable()) else c for c in name).strip(" .")
    if not name:
        name = "file"
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: limit - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:limit]
    return name


def _local_iso(at: datetime | None) -> str:
    if at is None:
        return ""
    if at.tzinfo is None:
        from datetime import UTC

        at = at.replace(tzinfo=UTC)
    return at.astimezone(BANGKOK).isoformat(timespec="seconds")


def _zip_time(at: datetime | None) -> tuple[int, int, int, int, int, int]:
    local = at or utcnow()
    if local.tzinfo is None:
        from datetime import UTC

        local = local.replace(tzinfo=UTC)
    local = local.astimezone(BANGKOK)
    if local.year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    return (local.year, local.month, local.day, local.hour, local.minute, local.second)


@dataclass
class EvidenceFile:
    evidence_id: int
    title: str
    sha256: str
    size: int
    original_name: str
    uploaded_by: str
    uploaded_at: datetime | None
    indicators: list[str]


@dataclass
class Bundle:
    fiscal_year: int
    made_at: datetime
    documents: dict[str, bytes]  # member path → bytes (the report in four formats)
    files: list[EvidenceFile]
    checkpoint: dict[str, Any]
    store: FileStore
    head: tuple[int, str]
    problems: list[str] = field(default_factory=list)
    folder_order: list[str] = field(default_factory=list)  # the year's codes in catalogue order

    @property
    def filename(self) -> str:
        return f"ita-evidence-{self.fiscal_year}.zip"


def evidence_files(session: Session, fiscal_year: int) -> list[EvidenceFile]:
    """The year's evidence items with their indicators and who uploaded them, in id order."""
    rows = session.execute(
        select(
            EvidenceItem.id,
            EvidenceItem.title,
            EvidenceItem.sha256,
            EvidenceItem.size,
            EvidenceItem.original_name,
            EvidenceItem.uploaded_at,
            User.username,
        )
        .outerjoin(User, User.id == EvidenceItem.uploaded_by_id)
        .where(EvidenceItem.fiscal_year == fiscal_year)
        .order_by(EvidenceItem.id)
    ).all()
    codes: dict[int, list[str]] = {}
    for evidence_id, code in session.execute(
        select(EvidenceIndicator.evidence_id, EvidenceIndicator.code)
        .join(EvidenceItem, EvidenceItem.id == EvidenceIndicator.evidence_id)
        .where(EvidenceItem.fiscal_year == fiscal_year)
        .order_by(EvidenceIndicator.evidence_id, EvidenceIndicator.code)
    ):
        codes.setdefault(evidence_id, []).append(code)
    order = code_order(session, fiscal_year)
    return [
        EvidenceFile(
            evidence_id=r.id,
            title=r.title,
            sha256=r.sha256,
            size=int(r.size or 0),
            original_name=r.original_name or "",
            uploaded_by=r.username or "",
            uploaded_at=r.uploaded_at,
            indicators=in_catalogue_order(codes.get(r.id, []), order),
        )
        for r in rows
    ]


def _checkpoint(session: Session, actor: Any, config: Any) -> dict[str, Any]:
    """Take an audit checkpoint (signed when AUDIT_SIGNING_KEY is set); if none can be taken, the head."""
    key = load_signing_key(config.get("AUDIT_SIGNING_KEY")) if config.get("AUDIT_SIGNING_KEY") else None
    try:
        cp = create_checkpoint(session, actor, log=log_path(config), key=key)
    except DomainError:  # the audit log is empty (create_checkpoint rolled its transaction back)
        seq, hash_ = head_of(session)
        session.rollback()  # end the read
        return {
            "seq": seq,
            "hash": hash_,
            "at": format_at(utcnow()),
            "signature": "",
            "key_id": "",
            "recorded": False,
            "note": "the audit log is empty; no checkpoint was recorded",
        }
    at = format_at(cp.at)
    out = {
        "seq": cp.seq,
        "hash": cp.hash,
        "at": at,
        "signature": cp.signature or "",
        "key_id": cp.key_id or "",
        "recorded": True,
        "statement": statement(cp.seq, cp.hash, at).decode("utf-8"),
    }
    if key is not None and cp.signature:
        out["public_key"] = public_pem(key)
        out["public_key_fingerprint"] = fingerprint(key)  # compare with the copy received on paper
    return out


def prepare(
    session: Session,
    fiscal_year: int,
    *,
    engine: Any,
    config: Any,
    actor: Any = None,
    action: str = "evidence.bundle_downloaded",
    lang: str = "th",
    thai_digits: bool | None = None,
    audit_data: dict[str, Any] | None = None,
) -> Bundle:
    """Everything the bundle needs from the database, before the first byte is streamed.

    In order: the audit entry for this bundle (so the head printed in the report covers it), the report,
    the checkpoint (at the report's head, unless someone wrote in between), the list of evidence files.
    """
    files = evidence_files(session, fiscal_year)
    folder_order = list(code_order(session, fiscal_year))
    with write(session):  # ends the read above, then writes the bundle's audit entry
        record(
            session,
            actor,
            action,
            ("bundle", fiscal_year),
            {
                "fiscal_year": int(fiscal_year),
                "files": len(files),
                "bytes": sum(f.size * max(1, len(f.indicators)) for f in files),
                **(audit_data or {}),
            },
        )
        session.commit()
    report = reports.build(session, fiscal_year, engine=engine, config=config, lang=lang, thai_digits=thai_digits)
    documents = {}
    for fmt in REPORT_FORMATS:
        data, _mime, name = reports.render(report, fmt)
        documents[f"report/{name}"] = data
    checkpoint = _checkpoint(session, actor, config)
    checkpoint["report_head"] = {
        "seq": report.figures["audit"]["head_seq"],
        "hash": report.figures["audit"]["head_hash"],
        "chain_intact": report.figures["audit"]["chain_intact"],
    }
    return Bundle(
        fiscal_year=int(fiscal_year),
        made_at=report.made_at,
        documents=documents,
        files=files,
        checkpoint=checkpoint,
        store=FileStore(config["EVIDENCE_DIR"]),
        head=(report.figures["audit"]["head_seq"], report.figures["audit"]["head_hash"]),
        folder_order=folder_order,
    )


class _Sink(io.RawIOBase):
    """An unseekable file that keeps what is written until it is drained: zipfile writes here."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self._pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            chunks, self._chunks = self._chunks, []
            yield b"".join(chunks) if len(chunks) > 1 else chunks[0]


def _manifest_csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in rows:
        writer.writerow([safe_cell(row.get(c, "")) for c in MANIFEST_COLUMNS])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def iter_bundle(bundle: Bundle, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """The ZIP, chunk by chunk; touches only the file store (never the database)."""
    sink = _Sink()
    manifest: list[dict[str, Any]] = []
    made = _zip_time(bundle.made_at)
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for path, data in bundle.documents.items():
            info = zipfile.ZipInfo(path, made)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            manifest.append(
                {
                    "path": path,
                    "indicator": "",
                    "title": path.rsplit("/", 1)[-1],
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "uploaded_by": "",
                    "uploaded_at": _local_iso(bundle.made_at),
                    "evidence_id": "",
                    "note": "report",
                }
            )
            yield from sink.drain()
        # folder by folder, in the order of the year's catalogue (evidence_files sorts each item's codes)
        folders: dict[str, list[EvidenceFile]] = {}
        for item in bundle.files:
            for code in item.indicators or ["_no_indicator"]:
                folders.setdefault(code, []).append(item)
        rank = {code: n for n, code in enumerate(bundle.folder_order)}
        for code in sorted(folders, key=lambda c: (c == "_no_indicator", rank.get(c, len(rank)), code_key(c))):
            for item in folders[code]:
                name = f"{item.evidence_id}-{safe_member_name(item.original_name or item.title)}"
                path = f"evidence/{safe_member_name(code, 20)}/{name}"
                row = {
                    "path": path,
                    "indicator": code if item.indicators else "",
                    "title": item.title,
                    "sha256": "",
                    "size": 0,
                    "uploaded_by": item.uploaded_by,
                    "uploaded_at": _local_iso(item.uploaded_at),
                    "evidence_id": item.evidence_id,
                    "note": "",
                }
                try:
                    source = bundle.store.open(item.sha256)
                except (OSError, ValueError):
                    row.update(path="", sha256=item.sha256, size=item.size, note="missing from the file store")
                    bundle.problems.append(f"evidence {item.evidence_id}: file {item.sha256} is missing")
                    manifest.append(row)
                    continue
                digest, size = hashlib.sha256(), 0
                info = zipfile.ZipInfo(path, _zip_time(item.uploaded_at))
                info.compress_type = zipfile.ZIP_STORED  # photos, PDFs and Office files are compressed already
                info.external_attr = 0o644 << 16
                info.file_size = item.size  # lets zipfile choose ZIP64 up front for a large member
                with source, zf.open(info, "w", force_zip64=item.size > 2**31 - 2**26) as target:
                    while True:
                        chunk = source.read(chunk_size)
                        if not chunk:
                            break
                        digest.update(chunk)
                        size += len(chunk)
                        target.write(chunk)
                        yield from sink.drain()
                row.update(sha256=digest.hexdigest(), size=size)
                if row["sha256"] != item.sha256:
                    row["note"] = f"altered: recorded sha256 {item.sha256}"
                    bundle.problems.append(f"evidence {item.evidence_id}: file no longer matches its sha256")
                manifest.append(row)
                yield from sink.drain()
        meta = {
            "fiscal_year": bundle.fiscal_year,
            "made_at": _local_iso(bundle.made_at),
            "audit_head": {"seq": bundle.head[0], "hash": bundle.head[1]},
            "columns": list(MANIFEST_COLUMNS),
            "files": manifest,
        }
        for path, data in (
            ("manifest.csv", _manifest_csv(manifest)),
            ("manifest.json", json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8")),
            ("checkpoint.json", json.dumps(bundle.checkpoint, ensure_ascii=False, indent=2).encode("utf-8")),
        ):
            info = zipfile.ZipInfo(path, made)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
            yield from sink.drain()
    yield from sink.drain()


def write_bundle(bundle: Bundle, out: str | os.PathLike) -> int:
    """Write the ZIP to `out` (through a temporary name, renamed when complete); return its size."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    size = 0
    try:
        with tmp.open("wb") as fh:
            for chunk in iter_bundle(bundle):
                fh.write(chunk)
                size += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return size
