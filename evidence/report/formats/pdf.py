"""The report as a PDF: A4 portrait in Sarabun, Thai shaped (core.documents.pdf)."""

from __future__ import annotations

from typing import Any

from evidence.report.charts import chart_pdf
from evidence.report.compute import Report
from evidence.report.document import document_model

MIME = "application/pdf"


def render(report: Report) -> bytes:
    """A4 portrait in Sarabun, Thai shaped; the table across the text width, its header on every page."""
    import logging

    from core.documents.pdf import ThaiDocument
    from core.documents.pdf_blocks import Cell, Column, Signature
    from core.documents.thai import keep_together

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # fpdf2's font subsetting chatters at INFO
    model = document_model(report, glue=keep_together)
    doc = ThaiDocument(
        lang=model.lang,
        thai_digits=model.thai_digits,
        title=" ".join(model.title[:2]),
        author=report.settings.get("agency_name") or "",
        subject="ITA",
        body_size=15,
        margins=(25.0, 18.0, 18.0, 18.0),
        footer_text=model.footer,
    )
    for i, line in enumerate(model.title):
        doc.paragraph(line, size=18 if i == 0 else 16, bold=True, align="C", space_after=0.5)
    doc.spacer(3)
    doc.paragraph(model.intro, first_line_indent=20, space_after=3)
    doc.paragraph(model.measures_heading, bold=True, size=16, space_after=1.5)
    columns = [
        Column(model.headers[0], 3.3),
        Column(model.headers[1], 3.4),
        Column(model.headers[2], 2.0),
        Column(model.headers[3], 3.3),
    ]
    rows: list[list[str | Cell]] = [["\n".join(cell) for cell in row] for row in model.rows]
    if not rows:
        rows = [[Cell(model.empty_note, align="C", colspan=4)]]
    doc.table(columns, rows, size=13, pad=1.5, space_after=4)
    for n, (title, chart) in enumerate(model.charts):
        # a heading never ends a page: it goes with the chart under it
        doc.ensure_space((doc.line_height(16) + 1.5 if n == 0 else 0) + doc.line_height(14) + chart.height + 3)
        if n == 0:
            doc.paragraph(model.charts_heading, bold=True, size=16, space_after=1.5)
        doc.paragraph(title, size=14, bold=True, align="C", space_after=0.5)
        chart_pdf(doc, chart)
        doc.spacer(3)
    doc.ensure_space(doc.line_height(16) + 4 * doc.line_height(13) + 10)
    doc.paragraph(model.appendix_heading, bold=True, size=16, space_after=1.5)
    app_rows: list[list[str | Cell]] = []
    for section in model.appendix:
        app_rows.append([Cell(section.title, bold=True, colspan=2)])
        for key, label, value in section.rows:
            if key == "audit.head_hash":
                value = value[:32] + "\n" + value[32:]
            app_rows.append([label, value])
    doc.table(
        [Column(model.appendix_columns[0], 1), Column(model.appendix_columns[1], 1, "R", fit=True)],
        app_rows,
        size=13,
        pad=1.5,
        space_after=4,
    )
    chain_text = model.chain_text.replace(model.head_hash, model.head_hash[:32] + " " + model.head_hash[32:])
    # The chain's paragraph, the date line and the signatures end the report as one block where it fits on a
    # page: no last page holds only the date line or the signatures.
    signatures = [Signature(s.role, s.name, s.position or "." * 30, "") for s in model.signers]
    sign_args: dict[str, Any] = {"per_row": 2, "gap_before": 6.0}
    lh = doc.line_height()
    closing = lh + 1 + doc.signatures_height(signatures, **sign_args)
    chain = doc.line_height(16) + 1.5 + len(doc.wrap(chain_text, doc.width, first_width=doc.width - 20)) * lh + 3
    if chain + closing <= doc.limit - doc.top:
        doc.ensure_space(chain + closing)
    else:
        doc.ensure_space(doc.line_height(16) + 3 * lh)
    doc.paragraph(model.chain_heading, bold=True, size=16, space_after=1.5)
    doc.paragraph(chain_text, first_line_indent=20, space_after=3)
    doc.ensure_space(closing)
    doc.paragraph(model.made, align="R")
    doc.signatures(signatures, **sign_args)
    return doc.output()
