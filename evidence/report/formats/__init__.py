"""The report's output formats, one module each, and the registry that chooses among them.

Each format module has `MIME` and `render(report) -> bytes` (evidence.report.compute.Report in, the file's
bytes out); it lays out what the computation made and computes nothing itself. A new format is a module here
and its line in `RENDERERS`.
"""

from __future__ import annotations

from typing import Protocol

from evidence.report.compute import Report
from evidence.report.formats import csv, docx, html, json, pdf, xlsx


class Renderer(Protocol):
    """A format module."""

    MIME: str

    def render(self, report: Report) -> bytes: ...


# In the order the CLI offers them (`report ita --format`).
RENDERERS: dict[str, Renderer] = {"json": json, "html": html, "pdf": pdf, "docx": docx, "xlsx": xlsx, "csv": csv}
FORMATS = tuple(RENDERERS)
MIME = {fmt: renderer.MIME for fmt, renderer in RENDERERS.items()}


def filename(report: Report, fmt: str) -> str:
    return f"ita-report-{report.fiscal_year}.{fmt}"


def render(report: Report, fmt: str) -> tuple[bytes, str, str]:
    """(bytes, MIME type, file name) of the report in one format."""
    if fmt not in RENDERERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return RENDERERS[fmt].render(report), MIME[fmt], filename(report, fmt)
