"""The report as JSON: the figures (reference/report-metrics.md), then the measures with their evidence."""

from __future__ import annotations

import json
from typing import Any

from evidence.report import figures as fig
from evidence.report.compute import Report

MIME = "application/json"


def measures_json(report: Report) -> list[dict[str, Any]]:
    """The measure rows as data: their codes with the catalogue's wording, texts, the figures chosen for the
    row (key and value) and the evidence (title, codes, public URL; null and "internal" when unpublished)."""
    return [
        {
            "number": m.number,
            "title": m.title,
            "indicators": [{"code": code, "title": text} for code, text in m.indicators],
            "activities": m.activities,
            "responsible": m.responsible,
            "outcome": m.outcome,
            "figures": [{"key": k, "value": fig.figure_value(report.figures, k)} for k in m.figures],
            "evidence": [
                {
                    "id": e.id,
                    "title": e.title,
                    "codes": list(e.codes),
                    "url": e.url or None,
                    "visibility": "public" if e.url else "internal",
                }
                for e in m.evidence
            ],
        }
        for m in report.measures
    ]


def render(report: Report) -> bytes:
    """The figures (reference/report-metrics.md), then the measures with their evidence."""
    data = {**report.figures, "measures": measures_json(report)}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
