"""The report as an Excel workbook: a sheet per section, the measures, the monthly series."""

from __future__ import annotations

import io
from typing import Any

from core.documents.exports import safe_cell, xlsx_fit_rows, xlsx_print_setup
from evidence.report.compute import Report
from evidence.report.document import evidence_lines
from evidence.report.formatting import Formatter, agency_line, plain
from evidence.report.words import SECTION_KEYS, SECTIONS, figure_label

MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render(report: Report) -> bytes:
    """One sheet per section (lending, assets, audit, evidence, measures, monthly), Thai headers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    f = Formatter(report, thai_digits=False)
    w = f.words
    wb = Workbook()
    wb.remove(wb.worksheets[0])  # the one sheet a new workbook starts with (its active one)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="E8EEF2")

    def sheet(name: str, headers: list[str], widths: list[int]):
        ws = wb.create_sheet(name)
        ws.append([f"{agency_line(report.settings, f.lang)} · {w['year_line'].format(year=report.fiscal_year)}"])
        ws["A1"].font = Font(bold=True, size=12)
        ws.append([])
        ws.append(headers)
        for cell in ws[3]:
            cell.font, cell.fill = bold, fill
        for i, width in enumerate(widths):
            ws.column_dimensions[chr(65 + i)].width = width
        ws.freeze_panes = "A4"
        return ws

    for section in SECTIONS:
        ws = sheet(w[f"sheet_{section}"], [w["item"], w["value"], w["key"]], [52, 20, 44])
        for name in SECTION_KEYS[section]:
            key = f"{section}.{name}"
            ws.append(
                [figure_label(key, f.lang, report.figures), _sheet_value(f, key, report.figures[section][name]), key]
            )
            if key == "audit.head_hash":  # the whole hash on the printed page: wrapped in its cell
                ws.cell(row=ws.max_row, column=2).alignment = Alignment(wrap_text=True, vertical="top")
        if section == "evidence":
            for code, count in (report.figures["evidence"].get("by_indicator") or {}).items():
                key = f"evidence.by_indicator.{code}"
                ws.append([figure_label(key, f.lang), count, key])
    ws = sheet(
        w["sheet_measures"],
        [
            w["measure_no"],
            w["measure_title"],
            w["indicators"],
            w["col_done"],
            w["col_responsible"],
            w["col_outcome"],
            w["figure_keys"],
            w["evidence_col"],
        ],
        [6, 28, 12, 34, 16, 34, 30, 40],
    )
    for m in report.measures:
        ws.append(
            [
                m.number,
                safe_cell(m.title),
                ", ".join(c for c, _t in m.indicators),
                safe_cell(m.activities),
                safe_cell(m.responsible),
                safe_cell(m.outcome),
                "\n".join(f.line(k) for k in m.figures),
                safe_cell("\n".join(str(line) for line in evidence_lines(m, w)[1:])),
            ]
        )
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws = sheet(w["sheet_monthly"], [w["month"], w["requests"], w["returns"], w["overdue"]], [18, 14, 18, 22])
    for month in report.months:
        if not month.to_come:  # the series stops at the current month
            ws.append([f.month_long(month.first), month.requests, month.returns, month.overdue])
    for ws in wb.worksheets:  # every sheet prints on the width of an A4, its header on every page
        xlsx_fit_rows(ws, first_row=3)
        xlsx_print_setup(ws, header_rows="1:3", landscape=ws.title == w["sheet_measures"])
    wb.properties.title = f"{w['title']} {w['year_line'].format(year=report.fiscal_year)}"
    wb.properties.creator = "Khruphan"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _sheet_value(f: Formatter, key: str, value: Any) -> Any:
    """A figure as a spreadsheet cell: numbers stay numbers; yes/no in words (never a literal "true"); the
    chain's verification as the documents word it."""
    if isinstance(value, bool):
        if key == "audit.chain_intact":
            return f.words["intact"] if value else f.words["broken"]
        return f.words["yes"] if value else f.words["no"]
    return safe_cell(plain(value))
