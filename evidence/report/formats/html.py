"""The report as HTML: the whole file, Sarabun embedded (`render`), or the document part for the report page."""

from __future__ import annotations

import base64
import functools

from evidence.report.charts import chart_markup
from evidence.report.compute import Report
from evidence.report.document import document_model

MIME = "text/html; charset=utf-8"


@functools.lru_cache(maxsize=1)
def _font_faces() -> str:
    """@font-face rules with Sarabun embedded, so the HTML file looks the same on any computer."""
    from core.documents.thai import FONT_BOLD, FONT_REGULAR

    rules = []
    for path, weight in ((FONT_REGULAR, 400), (FONT_BOLD, 700)):
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        rules.append(
            f"@font-face{{font-family:'Sarabun';font-weight:{weight};font-style:normal;"
            f"src:url(data:font/ttf;base64,{data}) format('truetype');}}"
        )
    return "\n".join(rules)


def render_html(report: Report, *, standalone: bool = True, thai_digits: bool | None = None) -> str:
    """The report as HTML: a whole file (fonts embedded) or, for the page, the document part only."""
    from flask import render_template
    from markupsafe import Markup

    model = document_model(report, thai_digits)
    charts = [(title, chart_markup(chart)) for title, chart in model.charts]
    template = "evidence/report/report_standalone.html" if standalone else "evidence/report/report_document.html"
    # the embedded fonts are our own files, base64-encoded: nothing from a user reaches them
    faces = Markup(_font_faces()) if standalone else ""  # noqa: S704
    return render_template(template, doc=model, charts=charts, font_faces=faces)


def render(report: Report) -> bytes:
    """The whole HTML file, fonts embedded."""
    return render_html(report, standalone=True).encode("utf-8")
