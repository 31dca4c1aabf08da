"""The annual ITA report: its figures, computed once, and its formats — JSON, HTML (page and file), PDF, DOCX,
XLSX and CSV. What the rest of the app (the page, the jobs, the CLI, the bundle) calls:

    report = build(session, 2566, engine=db.engine, config=app.config)   # figures, months, measures
    data, mime, filename = render(report, "pdf")                          # one format

Inside: `figures` computes every figure (reference/report-metrics.md); `compute` builds the report object
(figures, monthly series, measure rows); `words` holds its text in Thai and English, `formatting` writes its
numbers and dates; `document` is the model the documents are made from and `charts` its two charts;
`formats/` has one module per format (`MIME` and `render(report) -> bytes` each), chosen by the registry
below (`RENDERERS`): a new format is a module there and its line here. The page, downloads and dashboard are `views`,
`dashboard` and `jobs`; `report ita` is `cli`.

The Thai document may use Thai digits (the agency's setting `thai_digits_in_documents`, or the caller's
choice) for the numbers it generates — never inside hashes, and never in the JSON, XLSX or CSV, which carry
plain numbers.

May import core, audit, lending (the loans it counts), evidence.items, evidence.measures and
evidence.bundle.submission (each measure's evidence, the signature block); the modules inside import one
another, never this interface.
"""

from __future__ import annotations

from typing import Protocol

from evidence.report.charts import activity_chart, chart_markup, overdue_chart
from evidence.report.compute import MeasureRow, Month, Report, build, measure_rows, monthly_series
from evidence.report.document import DocumentModel, LinkLine, document_model
from evidence.report.formats import csv, docx, html, json, pdf, xlsx
from evidence.report.formats.docx import render as render_docx
from evidence.report.formats.html import render_html
from evidence.report.formats.json import render as render_json
from evidence.report.formats.pdf import render as render_pdf
from evidence.report.formats.xlsx import render as render_xlsx
from evidence.report.formatting import Formatter
from evidence.report.words import FIGURE_LABELS, WORDS, figure_label


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


__all__ = [
    "FIGURE_LABELS",
    "FORMATS",
    "MIME",
    "WORDS",
    "DocumentModel",
    "Formatter",
    "LinkLine",
    "MeasureRow",
    "RENDERERS",
    "Renderer",
    "Month",
    "Report",
    "activity_chart",
    "build",
    "chart_markup",
    "document_model",
    "figure_label",
    "filename",
    "measure_rows",
    "monthly_series",
    "overdue_chart",
    "render",
    "render_docx",
    "render_html",
    "render_json",
    "render_pdf",
    "render_xlsx",
]
