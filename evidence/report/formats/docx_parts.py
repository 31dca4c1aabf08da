"""Pieces of the report's Word document that python-docx has no call for: a hyperlink, the page number in
the footer (a PAGE field, so Word and LibreOffice count the pages themselves), the signature block kept
with the lines above it, and Sarabun embedded in the file.

`fonts(rPr, size, bold)` is the report's own run formatting (evidence.report.formats.docx): every run made
here goes through it, so Thai keeps its complex-script font and size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evidence.bundle.submission import Signer

Fonts = Callable[[Any, float, bool], None]


def hyperlink(paragraph: Any, url: str, text: str, fonts: Fonts, size: float) -> None:
    """A clickable external link at the end of the paragraph, blue and underlined."""
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rid = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rid)
    link.set(qn("w:history"), "1")
    run = OxmlElement("w:r")
    rpr = OxmlElement("w:rPr")
    run.append(rpr)
    fonts(rpr, size, False)
    color = OxmlElement("w:color")
    color.set(qn("w:val"), "0563C1")
    underline = OxmlElement("w:u")
    underline.set(qn("w:val"), "single")
    # w:color before w:sz, w:u after w:szCs: the schema's order (rFonts … color … sz szCs … u … lang)
    size_el, size_cs_el = rpr.find(qn("w:sz")), rpr.find(qn("w:szCs"))
    if size_el is None or size_cs_el is None:  # fonts() writes both; .addprevious of None would raise this
        raise AttributeError("'NoneType' object has no attribute 'addprevious'")
    size_el.addprevious(color)
    size_cs_el.addnext(underline)
    t = OxmlElement("w:t")
    t.text = text
    t.set(qn("xml:space"), "preserve")
    run.append(t)
    link.append(run)
    paragraph._p.append(link)


def _field(paragraph: Any, instruction: str, shown: str, fonts: Fonts, size: float) -> None:
    """A field (PAGE, NUMPAGES) as Word writes it: begin, instruction, separate, the last value, end."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def run_with(child: Any) -> None:
        run = paragraph.add_run()
        fonts(run._element.get_or_add_rPr(), size, False)
        run._element.append(child)

    for kind, text in (("begin", None), (None, instruction), ("separate", None), (None, shown), ("end", None)):
        if kind:
            el = OxmlElement("w:fldChar")
            el.set(qn("w:fldCharType"), kind)
        elif text == instruction:
            el = OxmlElement("w:instrText")
            el.set(qn("xml:space"), "preserve")
            el.text = f" {instruction} "
        else:
            el = OxmlElement("w:t")
            el.text = text
        run_with(el)


def page_footer(section: Any, text: str, page_word: str, fonts: Fonts, width_mm: float, size: float = 11) -> None:
    """The footer: the report's line on the left, "หน้า 2/5" on the right, on every page."""
    from docx.enum.text import WD_TAB_ALIGNMENT
    from docx.shared import Mm

    p = section.footer.paragraphs[0]
    p.paragraph_format.tab_stops.add_tab_stop(Mm(width_mm), WD_TAB_ALIGNMENT.RIGHT)
    fonts(p.add_run(text)._element.get_or_add_rPr(), size, False)
    fonts(p.add_run(f"\t{page_word} ")._element.get_or_add_rPr(), size, False)
    _field(p, "PAGE", "1", fonts, size)
    fonts(p.add_run("/")._element.get_or_add_rPr(), size, False)
    _field(p, "NUMPAGES", "1", fonts, size)


def keep_with_next(paragraphs: Sequence[Any]) -> None:
    """Each paragraph stays on the page of the one after it (the closing block moves as one)."""
    for p in paragraphs:
        p.paragraph_format.keep_with_next = True
        p.paragraph_format.keep_together = True


SIGN_WORDS = {
    "th": ("ลงชื่อ", "ตำแหน่ง", "วันที่ ........./........../.........."),
    "en": ("Signed", "Position", "Date ........./........../.........."),
}


def signature_table(
    document: Any, signers: Sequence[Signer], lang: str, fonts: Fonts, width_mm: float, size: float = 14
) -> Any:
    """ผู้รายงาน and ผู้รับรอง side by side in a table without borders: "ลงชื่อ ....... role", "(name)",
    "ตำแหน่ง position", "วันที่ ..../..../....", centred; blank names and positions are dotted lines. The row
    does not split across pages."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    sign, position_word, date_line = SIGN_WORDS["en" if lang == "en" else "th"]
    table = document.add_table(rows=1, cols=max(1, len(signers)))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    tr_pr.append(OxmlElement("w:cantSplit"))
    width = width_mm / max(1, len(signers))
    for col in table._tbl.tblGrid.findall(qn("w:gridCol")):
        col.set(qn("w:w"), str(int(width / 25.4 * 1440)))
    for cell, signer in zip(table.rows[0].cells, signers, strict=True):
        cell.width = Mm(width)
        lines = [
            f"{sign} {'.' * 36} {signer.role}",
            f"({signer.name})" if signer.name else "(" + "." * 40 + ")",
            f"{position_word} {signer.position or '.' * 36}",
            date_line,
        ]
        first = True
        for line in lines:
            p = cell.paragraphs[0] if first else cell.add_paragraph()
            first = False
            p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            p.paragraph_format.space_after = Pt(2)
            p.paragraph_format.keep_with_next = True
            fonts(p.add_run(line)._element.get_or_add_rPr(), size, False)
    return table


def embed_sarabun(data: bytes) -> bytes:
    """The document with Sarabun (regular and bold) embedded, so it is drawn in Sarabun, Thai shaped, where
    the font is not installed (LibreOffice and Word both read embedded fonts)."""
    from core.documents.docx_fonts import embed_fonts
    from core.documents.thai import FONT_BOLD, FONT_REGULAR

    return embed_fonts(data, {"Sarabun": {"Regular": FONT_REGULAR, "Bold": FONT_BOLD}})
