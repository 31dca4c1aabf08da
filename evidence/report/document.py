"""The document model every document (HTML, PDF, DOCX) is made from: the title, the four-column table of the
sample report (measure with its indicators / what was done / responsible / outcome, the measure's chosen
figures and its evidence in the outcome cell), the two charts, the figures appendix, the audit chain's head
and the signature block."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.dates import (
    fiscal_year_bounds,
)
from evidence.bundle import submission
from evidence.bundle.submission import Signer
from evidence.report.charts import Chart, activity_chart, overdue_chart
from evidence.report.compute import MeasureRow, Report
from evidence.report.formatting import Formatter, agency_line
from evidence.report.words import FIGURE_LABELS, SECTION_KEYS, SECTIONS

# --- the document model ----------------------------------------------------------------------------


@dataclass
class AppendixSection:
    title: str
    rows: list[tuple[str, str, str]]  # (key, label, value)


@dataclass
class DocumentModel:
    lang: str
    thai_digits: bool
    title: list[str]
    intro: str
    measures_heading: str
    headers: list[str]
    rows: list[list[list[str]]]  # row → four cells → paragraphs
    empty_note: str
    charts_heading: str
    charts: list[tuple[str, Chart]]
    appendix_heading: str
    appendix_columns: tuple[str, str]
    appendix: list[AppendixSection]
    chain_heading: str
    chain_text: str
    chain_ok: bool
    head_seq: str
    head_hash: str
    made: str
    footer: str
    agency: str
    signers: list[Signer] = field(default_factory=list)  # ผู้รายงาน / ผู้รับรอง, from the settings
    page_word: str = ""
    sign_words: tuple[str, str] = ("", "")  # "ลงชื่อ", "ตำแหน่ง"


class LinkLine(str):
    """A paragraph of a measure's row that is an evidence item's public URL: printed as text, made a link
    on the page and in the DOCX."""

    url: str

    def __new__(cls, url: str) -> LinkLine:
        line = super().__new__(cls, url)
        line.url = url
        return line


def evidence_lines(m: MeasureRow, words: dict[str, str]) -> list[str]:
    """The evidence paragraphs of a measure's outcome cell: "- title" and its URL on a line of its own (a
    link is pasted whole), or "- title (internal, not published)"."""
    if not m.evidence:
        return []
    out = [words["evidence_in_row"]]
    for e in m.evidence:
        if e.url:
            out += [f"- {e.title}", LinkLine(e.url)]
        else:
            out.append(f"- {e.title} ({words['internal']})")
    return out


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in (text or "").replace("\r\n", "\n").split("\n") if p.strip()]


def document_model(
    report: Report, thai_digits: bool | None = None, glue: Callable[[str], str] | None = None
) -> DocumentModel:
    f = Formatter(report, thai_digits, glue)
    w, lang, year = f.words, f.lang, report.fiscal_year
    start, end = fiscal_year_bounds(year)
    agency = agency_line(report.settings, lang)
    year_text = f.digits(year)
    rows: list[list[list[str]]] = []
    for m in report.measures:
        first = [f"{f.digits(m.number)}. {m.title}"]
        first += [f"{f.digits(code)} {text}".strip() for code, text in m.indicators]
        outcome = _paragraphs(m.outcome)
        if m.figures:
            outcome += [w["figures_in_row"]] + [f"- {f.line(k)}" for k in m.figures]
        outcome += evidence_lines(m, w)
        rows.append([first, _paragraphs(m.activities), _paragraphs(m.responsible), outcome])
    appendix = [
        AppendixSection(
            w["sec_period"],
            [
                ("fiscal_year", w["fiscal_year"], f.digits(year)),
                ("period.start", w["period_start"], f.date(start)),
                ("period.end", w["period_end"], f.date(end)),
            ],
        )
    ]
    for section in SECTIONS:
        keys = [f"{section}.{name}" for name in SECTION_KEYS[section]]
        sec_rows = [(k, f.label(k), f.value(k)) for k in keys]
        if section == "evidence":
            unit = FIGURE_LABELS[lang]["evidence.items"][1]
            for code, count in (report.figures["evidence"].get("by_indicator") or {}).items():
                key = f"evidence.by_indicator.{code}"
                sec_rows.append((key, f.label(key), f.with_unit(f.number(count), unit)))
        appendix.append(AppendixSection(w[f"sec_{section}"], sec_rows))
    audit = report.figures["audit"]
    ok = bool(audit["chain_intact"])
    charts = [
        (w["chart_activity"].format(year=year_text), activity_chart(report, f)),
        (w["chart_overdue"].format(year=year_text), overdue_chart(report, f)),
    ]
    return DocumentModel(
        lang=lang,
        thai_digits=f.thai,
        title=[w["title"], w["year_line"].format(year=year_text), agency],
        intro=w["intro"].format(
            agency=report.settings.get("agency_name") or "",
            year=year_text,
            start=f.date(start),
            end=f.date(end),
        ),
        measures_heading=w["measures"],
        headers=[w["col_measure"], w["col_done"], w["col_responsible"], w["col_outcome"]],
        rows=rows,
        empty_note=w["no_measures"],
        charts_heading=w["charts"],
        charts=charts,
        appendix_heading=w["appendix"],
        appendix_columns=(w["item"], w["value"]),
        appendix=appendix,
        chain_heading=w["chain"],
        chain_text=w["chain_text"].format(
            seq=f.number(audit["head_seq"]),
            hash=audit["head_hash"],
            verdict=w["intact"] if ok else w["broken"],
        )
        + (" " + w["fingerprint"].format(fp=report.key_fingerprint) if report.key_fingerprint else ""),
        chain_ok=ok,
        head_seq=f.number(audit["head_seq"]),
        head_hash=audit["head_hash"],
        made=w["made"].format(date=f.date(report.made_at)),
        footer=w["footer"].format(
            agency=report.settings.get("agency_short") or report.settings.get("agency_name") or "",
            year=year_text,
        ),
        agency=agency,
        signers=submission.signers(report.settings, lang),
        page_word=w["page"],
        sign_words=(w["sign"], w["position"]),
    )
