"""Bounded reading of ZIP-based files (XLSX, DOCX): every limit is checked before anything parses them.

A 125 KiB workbook can hold three million shared strings (80 CPU-seconds and 320 MB in openpyxl), a
186 KB zip can unpack to 198 MB: so what a file *claims* is checked first, from the ZIP's directory and
with cheap byte counts, and only then is it parsed — in openpyxl's read-only (streaming) mode, with caps on
rows and cells. The numbers are settings (core/config.py) with safe defaults; each refusal says which
limit, in the reader's language.

Python's zipfile never hands out more bytes than an entry's declared size (it stops there, and a CRC
mismatch is an error), so checking the declared sizes bounds what any reader of the archive can see.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.config import PARSING_LIMITS as DEFAULTS
from core.db import N_, DomainError

MB = 1024 * 1024
# Below this an entry's compression ratio says nothing (a page of spaces compresses 200 times).
RATIO_FLOOR = 1 * MB
# Excel itself stops at 64,000 cell formats; a file with more was not made by an office program.
MAX_CELL_FORMATS = 65_000


# openpyxl's workbook content types (reader/excel.py) and the shared-strings and styles parts.
_WORKBOOK_TYPES = (
    "spreadsheetml.sheet.main+xml",
    "spreadsheetml.template.main+xml",
    "ms-excel.sheet.macroEnabled.main+xml",
    "ms-excel.template.macroEnabled.main+xml",
)
_STRINGS_TYPE = "spreadsheetml.sharedStrings+xml"
_STYLES_TYPE = "spreadsheetml.styles+xml"
_OVERRIDE = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Override\b[^>]*>")
_PART_NAME = re.compile(rb"""\bPartName\s*=\s*["']([^"']*)["']""")
_CONTENT_TYPE = re.compile(rb"""\bContentType\s*=\s*["']([^"']*)["']""")


class ArchiveRefused(DomainError):
    """A ZIP-based file over one of the limits, or damaged; nothing of it was parsed."""

    status = 400


@dataclass(frozen=True)
class Limits:
    entries: int
    entry_bytes: int
    total_bytes: int
    ratio: float
    sheets: int
    rows: int
    cells: int
    shared_strings: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> Limits:
        """The limits of `config` (an app's config), else of the current app, else the defaults."""
        if config is None:
            from flask import current_app, has_app_context

            config = current_app.config if has_app_context() else {}

        def get(key: str) -> float:
            value = config.get(key)
            return float(value) if value not in (None, "") else float(DEFAULTS[key])

        return cls(
            entries=int(get("MAX_ARCHIVE_ENTRIES")),
            entry_bytes=int(get("MAX_ENTRY_MB") * MB),
            total_bytes=int(get("MAX_TOTAL_UNCOMPRESSED_MB") * MB),
            ratio=get("MAX_COMPRESSION_RATIO"),
            sheets=int(get("MAX_SHEETS")),
            rows=int(get("MAX_IMPORT_ROWS")),
            cells=int(get("MAX_IMPORT_CELLS")),
            shared_strings=int(get("MAX_SHARED_STRINGS")),
        )


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _mb(size: float) -> str:
    return f"{size / MB:,.1f}".removesuffix(".0")


def _damaged() -> ArchiveRefused:
    return ArchiveRefused(N_("The document is damaged and cannot be read."))


def open_zip(data: bytes, limits: Limits | None = None) -> zipfile.ZipFile:
    """Check a ZIP's entry count, each entry's and the total unpacked size and the compression ratios
    from its directory (nothing is inflated), then return it opened; ArchiveRefused otherwise."""
    limits = limits or Limits.from_config()
    # Every central-directory record starts with this signature and zipfile checks it on each one, so
    # its count bounds what zipfile will parse, whatever the end record claims (a C-speed scan).
    count = data.count(b"PK\x01\x02")
    if count > limits.entries:
        raise ArchiveRefused(
            N_("The file holds %(count)s archive entries; at most %(limit)s are accepted (MAX_ARCHIVE_ENTRIES)."),
            count=_n(count),
            limit=_n(limits.entries),
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, KeyError):
        raise _damaged() from None
    total = packed = 0
    for info in archive.infolist():
        if info.file_size > limits.entry_bytes:
            raise ArchiveRefused(
                N_(
                    "A part of the file (%(name)s) unpacks to %(mb)s MB; at most %(limit)s MB "
                    "are accepted (MAX_ENTRY_MB)."
                ),
                name=info.filename[:80],
                mb=_mb(info.file_size),
                limit=_mb(limits.entry_bytes),
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > limits.ratio:
            raise _too_compressed(info.filename, ratio, limits)
        total += info.file_size
        packed += info.compress_size
        if total > limits.total_bytes:
            raise ArchiveRefused(
                N_("The file unpacks to more than %(limit)s MB (MAX_TOTAL_UNCOMPRESSED_MB)."),
                limit=_mb(limits.total_bytes),
            )
    if total > RATIO_FLOOR and total / max(packed, 1) > limits.ratio:
        raise _too_compressed("*", total / max(packed, 1), limits)
    return archive


def _too_compressed(name: str, ratio: float, limits: Limits) -> ArchiveRefused:
    return ArchiveRefused(
        N_(
            "A part of the file (%(name)s) unpacks to %(ratio)s times its stored size; at most "
            "%(limit)s times is accepted, as archive bombs are made that way "
            "(MAX_COMPRESSION_RATIO)."
        ),
        name=name[:80],
        ratio=_n(ratio),
        limit=_n(limits.ratio),
    )


def _chunks(archive: zipfile.ZipFile, name: str, size: int = MB) -> Iterator[bytes]:
    with archive.open(name) as member:
        while chunk := member.read(size):
            yield chunk


def count_tags(archive: zipfile.ZipFile, name: str, tag: str, stop_after: int) -> int:
    """How many `<tag` elements (with or without a namespace prefix) the entry holds, streamed in 1 MiB
    pieces, stopping once past `stop_after`: bytes are counted, no XML is parsed."""
    pattern = re.compile(rb"<(?:[A-Za-z_][\w.\-]{0,30}:)?" + re.escape(tag.encode()) + rb"[\s/>]")
    keep = 64  # longer than any match
    plain = [b"<" + tag.encode() + end for end in (b">", b" ", b"/", b"\t", b"\n", b"\r")]
    prefixed = b":" + tag.encode()

    def found(window: bytes, end: int) -> int:
        if window.find(prefixed, 0, end) < 0:  # no namespace prefix: counting bytes is ten times faster
            return sum(window.count(p, 0, end) for p in plain)
        return len(pattern.findall(window, 0, end))

    count = 0
    tail = b""
    try:
        for chunk in _chunks(archive, name):
            window = tail + chunk
            # A match has one "<", its first byte: one that runs past this window starts at the last "<"
            # of its final bytes, and every match before that "<" ends before it. Count up to there.
            cut = window.rfind(b"<", max(len(window) - keep, 0))
            cut = len(window) if cut < 0 else cut
            count += found(window, cut)
            tail = window[cut:]
            if count > stop_after:
                return count
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        raise _damaged() from None
    return count + found(tail, len(tail))


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError):
        raise _damaged() from None


def _parts_by_type(archive: zipfile.ZipFile, limits: Limits) -> dict[str, str]:
    """Part name → content type from [Content_Types].xml's overrides, read with patterns, not parsed."""
    if "[Content_Types].xml" not in set(archive.namelist()):
        return {}
    xml = _read_small(archive, "[Content_Types].xml")
    overrides = list(_OVERRIDE.finditer(xml))
    if len(overrides) > limits.entries:  # openpyxl would build an object for each
        raise ArchiveRefused(
            N_("The file holds %(count)s archive entries; at most %(limit)s are accepted (MAX_ARCHIVE_ENTRIES)."),
            count=_n(len(overrides)),
            limit=_n(limits.entries),
        )
    parts: dict[str, str] = {}
    for match in overrides:
        element = match.group(0)
        part, kind = _PART_NAME.search(element), _CONTENT_TYPE.search(element)
        if part and kind:
            parts[part.group(1).decode("utf-8", "replace").lstrip("/")] = kind.group(1).decode("utf-8", "replace")
    return parts


def check_workbook(data: bytes, limits: Limits | None = None) -> zipfile.ZipFile:
    """The ZIP checks, then what openpyxl would read whole before streaming a sheet: the number of
    sheets, shared strings and cell formats. Returns the opened archive."""
    limits = limits or Limits.from_config()
    archive = open_zip(data, limits)
    names = set(archive.namelist())
    overrides = {name: kind for name, kind in _parts_by_type(archive, limits).items() if name in names}
    workbooks = [n for n, k in overrides.items() if k.endswith(_WORKBOOK_TYPES)] or [
        n for n in ("xl/workbook.xml",) if n in names
    ]
    for name in workbooks:
        sheets = count_tags(archive, name, "sheet", limits.sheets)
        if sheets > limits.sheets:
            raise ArchiveRefused(
                N_(
                    "The workbook has more than %(limit)s sheets (MAX_SHEETS); keep the list on "
                    "the first sheet and save it as a new file."
                ),
                limit=_n(limits.sheets),
            )
    for name in [n for n, k in overrides.items() if k.endswith(_STRINGS_TYPE)]:
        if count_tags(archive, name, "si", limits.shared_strings) > limits.shared_strings:
            raise ArchiveRefused(
                N_("The workbook holds more than %(limit)s different texts (MAX_SHARED_STRINGS); split it."),
                limit=_n(limits.shared_strings),
            )
    for name in [n for n, k in overrides.items() if k.endswith(_STYLES_TYPE)]:
        if count_tags(archive, name, "xf", MAX_CELL_FORMATS) > MAX_CELL_FORMATS:
            raise ArchiveRefused(
                N_(
                    "The workbook holds more than %(limit)s cell formats, more than Excel "
                    "allows; save it again as a new file."
                ),
                limit=_n(MAX_CELL_FORMATS),
            )
    return archive


def read_first_sheet(data: bytes, limits: Limits | None = None) -> Iterator[tuple[Any, ...]]:
    """The first sheet's rows (values, not formulas), after `check_workbook`, streamed by openpyxl in
    read-only mode; stops with ArchiveRefused past the row or cell cap. Empty rows count as rows."""
    limits = limits or Limits.from_config()
    check_workbook(data, limits).close()
    from openpyxl import load_workbook  # imported when used: a tenth of every start-up otherwise

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception:  # openpyxl raises many kinds for a damaged file
        raise ArchiveRefused(N_("The spreadsheet cannot be read; save it again as XLSX or CSV.")) from None
    return _rows(book, limits)


def _rows(book: Any, limits: Limits) -> Iterator[tuple[Any, ...]]:
    rows = cells = 0
    try:
        if not book.worksheets:
            raise ArchiveRefused(N_("The file is empty."))
        sheet = book.worksheets[0]
        # The <dimension> a file declares may claim A1:XFD1048576: forget it, so rows are as wide as
        # their cells and none are made up at the end.
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            rows += 1
            cells += len(row)
            if rows > limits.rows + 1:  # the header is not counted
                raise ArchiveRefused(N_("The file has more than %(n)d rows; split it."), n=limits.rows)
            if cells > limits.cells:
                raise ArchiveRefused(
                    N_("The file has more than %(limit)s cells (MAX_IMPORT_CELLS); split it."), limit=_n(limits.cells)
                )
            yield row
    except ArchiveRefused:
        raise
    except Exception:  # a damaged sheet (bad XML, a bad CRC) or a chart where the first sheet should be
        raise ArchiveRefused(N_("The spreadsheet cannot be read; save it again as XLSX or CSV.")) from None
    finally:
        book.close()
