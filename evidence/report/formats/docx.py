"""The report as a Word document (python-docx), editable in Word and LibreOffice."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from evidence.report.charts import chart_png
from evidence.report.compute import Report
from evidence.report.document import LinkLine, document_model

MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def render(report: Report) -> bytes:
    """A Word document: Sarabun as the complex-script font of every run (w:cs, w:szCs, w:bCs), A4, a real
    table whose header row repeats, the charts as pictures. Editable in Word and LibreOffice."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    from evidence.report.formats import docx_parts

    model = document_model(report)
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin = Mm(25), Mm(18)
    section.top_margin, section.bottom_margin = Mm(18), Mm(18)
    text_width = 210 - 25 - 18

    def fonts(rpr: Any, size: float, bold: bool = False) -> None:
        """Sarabun for every script, the size for complex scripts too, Thai as the complex-script language;
        each element in the schema's order, so Word opens the file without "repairing" it."""

        def put(tag: str, **attrs: str) -> None:
            old = rpr.find(qn(tag))
            if old is not None:
                rpr.remove(old)
            el = OxmlElement(tag)
            for name, value in attrs.items():
                el.set(qn(f"w:{name}"), value)
            rpr.insert_element_before(el, *_RPR_ORDER[_RPR_ORDER.index(tag) + 1 :])

        put("w:rFonts", ascii="Sarabun", hAnsi="Sarabun", cs="Sarabun", eastAsia="Sarabun")
        for tag in ("w:b", "w:bCs"):
            if bold:
                put(tag)
            elif rpr.find(qn(tag)) is not None:
                rpr.remove(rpr.find(qn(tag)))
        half_points = str(int(round(size * 2)))
        put("w:sz", val=half_points)
        put("w:szCs", val=half_points)
        put("w:lang", val="th-TH" if model.lang == "th" else "en-US", bidi="th-TH")

    # the document's defaults name theme fonts, which Word prefers to a style's font: Sarabun there too
    defaults = document.styles.element.find(qn("w:docDefaults"))
    fonts(defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")), 14)
    normal = document.styles["Normal"]
    fonts(normal.element.get_or_add_rPr(), 14)
    normal.paragraph_format.space_after = Pt(2)

    def para(
        container: Any,
        text: str,
        *,
        size: float = 14,
        bold: bool = False,
        align: Any = None,
        indent: float | None = None,
        space_after: float = 2,
    ) -> Any:
        p = container.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Mm(indent)
        p.paragraph_format.space_after = Pt(space_after)
        run = p.add_run(text)
        fonts(run._element.get_or_add_rPr(), size, bold)
        return p

    for i, line in enumerate(model.title):
        para(
            document,
            line,
            size=18 if i == 0 else 16,
            bold=True,
            align=WD_ALIGN_PARAGRAPH.CENTER,
            space_after=0,
        )
    para(document, "", size=8)
    para(document, model.intro, indent=20, align=WD_ALIGN_PARAGRAPH.JUSTIFY, space_after=6)
    para(document, model.measures_heading, size=16, bold=True)

    def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float], size: float):
        t = document.add_table(rows=1, cols=len(headers))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        t.autofit = False
        tr_pr = t.rows[0]._tr.get_or_add_trPr()
        repeat = OxmlElement("w:tblHeader")
        repeat.set(qn("w:val"), "true")
        tr_pr.append(repeat)
        for cell, title, width in zip(t.rows[0].cells, headers, widths, strict=True):
            cell.width = Mm(width)
            shade = OxmlElement("w:shd")
            shade.set(qn("w:val"), "clear")
            shade.set(qn("w:color"), "auto")
            shade.set(qn("w:fill"), "EBEBEB")
            cell._tc.get_or_add_tcPr().append(shade)
            run = cell.paragraphs[0].add_run(title)
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
            fonts(run._element.get_or_add_rPr(), size, True)
        for row in rows:
            cells = t.add_row().cells
            for k, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                cell.width = Mm(width)
                value = row[k] if k < len(row) else []
                spec = value if isinstance(value, dict) else {"lines": value}
                lines = spec["lines"] if isinstance(spec["lines"], list) else [spec["lines"]]
                first = True
                for line in lines or [""]:
                    p = cell.paragraphs[0] if first else cell.add_paragraph()
                    first = False
                    p.paragraph_format.space_after = Pt(1)
                    if spec.get("align") is not None:
                        p.alignment = spec["align"]
                    if isinstance(line, LinkLine):
                        docx_parts.hyperlink(p, line.url, str(line), fonts, size)
                        continue
                    run = p.add_run(line)
                    fonts(run._element.get_or_add_rPr(), size, bool(spec.get("bold")))
            if row and isinstance(row[0], dict) and row[0].get("span"):
                merged = cells[0].merge(cells[-1])
                for extra in merged.paragraphs[1:]:
                    if not extra.text:
                        extra._element.getparent().remove(extra._element)
        # the column widths for LibreOffice too (it reads the grid, Word the cells)
        grid = t._tbl.tblGrid
        for col, width in zip(grid.findall(qn("w:gridCol")), widths, strict=True):
            col.set(qn("w:w"), str(int(width / 25.4 * 1440)))
        return t

    widths = [text_width * w / 12.0 for w in (3.3, 3.4, 2.0, 3.3)]
    rows: list[list[Any]] = [list(row) for row in model.rows]
    if not rows:
        rows = [[{"lines": [model.empty_note], "span": True, "align": WD_ALIGN_PARAGRAPH.CENTER}, [], [], []]]
    table(model.headers, rows, widths, 13)
    para(document, "", size=8)
    para(document, model.charts_heading, size=16, bold=True)
    for title, chart in model.charts:
        para(document, title, size=14, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER, space_after=0)
        p = document.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = p.add_run()
        fonts(run._element.get_or_add_rPr(), 14)
        run.add_picture(io.BytesIO(chart_png(chart)), width=Mm(chart.width))
    para(document, model.appendix_heading, size=16, bold=True)
    app_rows: list[list[Any]] = []
    for sec in model.appendix:
        app_rows.append(
            [
                {"lines": [sec.title], "bold": True, "span": True},
                [],
            ]
        )
        for _key, label, value in sec.rows:
            app_rows.append([[label], {"lines": [value], "align": WD_ALIGN_PARAGRAPH.RIGHT}])
    app_widths = [text_width * 0.66, text_width * 0.34]
    table(list(model.appendix_columns), app_rows, app_widths, 13)
    para(document, "", size=8)
    # the chain's paragraph, the date line and the signatures stay together on the last page
    closing = [
        para(document, model.chain_heading, size=16, bold=True),
        para(document, model.chain_text, indent=20),
        para(document, model.made, align=WD_ALIGN_PARAGRAPH.RIGHT, space_after=8),
    ]
    docx_parts.keep_with_next(closing)
    docx_parts.signature_table(document, model.signers, model.lang, fonts, text_width)
    docx_parts.page_footer(section, model.footer, model.page_word, fonts, text_width)
    props = document.core_properties
    props.title = " ".join(model.title[:2])
    props.author = report.settings.get("agency_name") or ""
    props.language = "th-TH" if model.lang == "th" else "en-US"
    buf = io.BytesIO()
    document.save(buf)
    return docx_parts.embed_sarabun(buf.getvalue())


_RPR_ORDER = (
    "w:rStyle",
    "w:rFonts",
    "w:b",
    "w:bCs",
    "w:i",
    "w:iCs",
    "w:caps",
    "w:smallCaps",
    "w:strike",
    "w:dstrike",
    "w:outline",
    "w:shadow",
    "w:emboss",
    "w:imprint",
    "w:noProof",
    "w:snapToGrid",
    "w:vanish",
    "w:webHidden",
    "w:color",
    "w:spacing",
    "w:w",
    "w:kern",
    "w:position",
    "w:sz",
    "w:szCs",
    "w:highlight",
    "w:u",
    "w:effect",
    "w:bdr",
    "w:shd",
    "w:fitText",
    "w:vertAlign",
    "w:rtl",
    "w:cs",
    "w:em",
    "w:lang",
    "w:eastAsianLayout",
    "w:specVanish",
    "w:oMath",
)
