"""The report as CSV: key,value for every figure."""

from __future__ import annotations

import csv
import io
from typing import Any

from core.documents.exports import safe_cell
from evidence.report.compute import Report
from evidence.report.formatting import plain

MIME = "text/csv; charset=utf-8"


def flat_figures(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every figure as (dotted key, value), in the order of the JSON object."""
    out: list[tuple[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out.append((prefix, value))

    walk("", figures)
    return out


def render(report: Report) -> bytes:
    """key,value for every figure; UTF-8 with a BOM, so Excel reads the Thai."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["key", "value"])
    for key, value in flat_figures(report.figures):
        writer.writerow([safe_cell(key), safe_cell(plain(value))])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
