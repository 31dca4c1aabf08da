"""The one file store: content-addressed under EVIDENCE_DIR, with one set of upload rules.

A file is named by its SHA-256 (ab/cd/abcdef…), written to a temporary name first and renamed into place,
so a crash leaves either nothing or a complete file; a file stored twice is stored once. The type is
decided by the content, never by the name; photos lose their GPS position; images of absurd size are
refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from core.db import N_, DomainError, Session, known, utcnow
from core.documents.archives import open_zip
from core.models import StoredFile

IMAGE_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"
PHOTO_TYPES = set(IMAGE_TYPES.values())  # what a photo upload may be: JPEG, PNG, WebP
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000


class UploadRefused(DomainError):
    status = 400


@dataclass(frozen=True)
class Checked:
    data: bytes
    mime: str
    width: int | None = None
    height: int | None = None


def sniff(data: bytes, archive: zipfile.ZipFile | None = None) -> str | None:
    """The type by content: an allowlisted MIME type, or None. A ZIP is told apart by its entries' names
    (from `archive` when the caller has opened it through core.documents.archives.open_zip)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = set((archive or zipfile.ZipFile(io.BytesIO(data))).namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names and any(n.startswith("word/") for n in names):
            return DOCX
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            return XLSX
    return None


def megabytes(size: int) -> str:
    """A size limit as people read it: "25", "0.5", "1.5" (MB of 1,048,576 bytes, at most one decimal)."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _declared_size(data: bytes) -> tuple[int, int]:
    """The width and height an image's header claims, read without Pillow's decompression-bomb check."""
    fmt = {v: k for k, v in IMAGE_TYPES.items()}.get(sniff(data) or "")
    if fmt is None:  # not an image kind Pillow opens here (OPEN[None] would raise KeyError: the same answer)
        return 0, 0
    try:
        with Image.OPEN[fmt][0](io.BytesIO(data), "") as header:  # (fp, filename) as Image.open passes them
            return header.size
    except (KeyError, OSError, SyntaxError, ValueError):
        return 0, 0


def _clean_image(data: bytes, strip_gps: bool) -> Checked:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            fmt = probe.format
    except Image.DecompressionBombError:
        # Pillow refuses to open a header that claims billions of pixels; say so, with the claimed size.
        width, height = _declared_size(data)
        raise UploadRefused(N_("The image is too large (%(w)d × %(h)d pixels)."), w=width, h=height) from None
    except (UnidentifiedImageError, OSError):
        raise UploadRefused(N_("The image cannot be read.")) from None
    if fmt not in IMAGE_TYPES:
        raise UploadRefused(N_("This kind of image is not accepted; use JPEG, PNG or WebP."))
    if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
        raise UploadRefused(N_("The image is too large (%(w)d × %(h)d pixels)."), w=width, h=height)
    if not strip_gps:
        return Checked(data, IMAGE_TYPES[fmt], width, height)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            img: Image.Image = opened  # a transposed copy may replace it below
            exif = img.getexif()
            if fmt == "JPEG" and 0x8825 not in exif and not img.info.get("xmp"):
                return Checked(data, IMAGE_TYPES[fmt], width, height)  # nothing to strip: keep bytes
            img.load()
            if 0x8825 in exif:
                del exif[0x8825]  # GPSInfo IFD
            out = io.BytesIO()
            params: dict[str, Any] = {"exif": exif.tobytes()} if exif else {}
            if fmt == "JPEG":
                params.update(quality=92, optimize=True)
                img = ImageOps.exif_transpose(img) if exif.get(0x0112, 1) != 1 else img
                if 0x0112 in exif:
                    exif[0x0112] = 1
                    params["exif"] = exif.tobytes()
            img.save(out, format=fmt, **params)
    except (OSError, ValueError):
        raise UploadRefused(N_("The image cannot be read.")) from None
    return Checked(out.getvalue(), IMAGE_TYPES[fmt], width, height)


def check_upload(data: bytes, *, allowed: set[str], max_bytes: int, strip_gps: bool = True) -> Checked:
    """Apply the upload rules; return what is to be stored (a photo may be rewritten without GPS)."""
    if not data:
        raise UploadRefused(N_("The file is empty."))
    if len(data) > max_bytes:
        raise UploadRefused(N_("The file is larger than %(mb)s MB."), mb=megabytes(max_bytes))
    # A ZIP (DOCX, XLSX) has its entry count, sizes and compression checked from its directory before
    # anything reads it further; over a limit it is refused with the limit's name (core/documents/archives.py).
    archive = open_zip(data) if data.startswith(b"PK\x03\x04") else None
    mime = sniff(data, archive)
    if mime is None or mime not in allowed:
        raise UploadRefused(N_("This type of file is not accepted (its content was checked, not its name)."))
    if mime.startswith("image/"):
        return _clean_image(data, strip_gps)
    return Checked(data, mime)


def safe_name(name: str) -> str:
    """The original name as data: no path, no control characters, at most 255 characters."""
    name = (name or "").replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable() and c not in "\r\n\t")
    return name.strip()[:255] or "file"


class FileStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def write(self, data: bytes) -> str:
        """Write bytes under their hash (once); return the hash."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return digest

    def open(self, sha256: str) -> BinaryIO:
        return self.path_of(sha256).open("rb")

    def read(self, sha256: str) -> bytes:
        return self.path_of(sha256).read_bytes()


def store_upload(
    session: Session,
    store: FileStore,
    data: bytes,
    original_name: str,
    *,
    allowed: set[str],
    max_bytes: int,
    uploaded_by_id: int | None,
    strip_gps: bool | None = None,
) -> StoredFile:
    """Check, write and register a file; the caller commits (with its audit entry) in its transaction.

    Photos lose their GPS location as the office's setting says (`strip_gps_from_photos`, on unless the
    admin turned it off), unless the caller decides (`strip_gps`).

    The bytes are on disk before the row exists, so a crash between the two leaves an orphan file that
    `evidence check` reports, never a row without its file.
    """
    if strip_gps is None:
        from core.people.services import get_settings

        strip_gps = bool(get_settings(session).get("strip_gps_from_photos", True))
    checked = check_upload(data, allowed=allowed, max_bytes=max_bytes, strip_gps=strip_gps)
    digest = store.write(checked.data)
    if session.get(StoredFile, digest) is None:
        # The same file uploaded twice at the same moment: both insert, one row stays, nobody fails.
        values = {
            "sha256": digest,
            "size": len(checked.data),
            "mime": checked.mime,
            "original_name": safe_name(original_name),
            "width": checked.width,
            "height": checked.height,
            "uploaded_by_id": uploaded_by_id,
            "uploaded_at": utcnow(),
        }
        _insert_once(session, values)
    return known(session.get(StoredFile, digest), "stored file")  # there now: inserted, or there already


def store_generated(
    session: Session, store: FileStore, data: bytes, filename: str, mime: str, *, made_by_id: int | None
) -> StoredFile:
    """Write and register a file the application made itself (a PDF, a kept import list); the caller commits.

    Its bytes are trusted (no upload check), so its type is the one given. The same bytes twice are one
    file and one row, as with uploads.
    """
    digest = store.write(data)
    if session.get(StoredFile, digest) is None:
        _insert_once(
            session,
            {
                "sha256": digest,
                "size": len(data),
                "mime": mime,
                "original_name": safe_name(filename),
                "uploaded_by_id": made_by_id,
                "uploaded_at": utcnow(),
            },
        )
    return known(session.get(StoredFile, digest), "stored file")


def _insert_once(session: Session, values: dict[str, Any]) -> None:
    """Insert a file's row unless it is there: two writers of the same file at once both succeed."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(dialect_insert(StoredFile).values(**values).on_conflict_do_nothing())
