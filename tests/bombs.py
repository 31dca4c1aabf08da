"""Hostile ZIP-based files, built in memory in a fraction of a second: what core/documents/archives.py must refuse.

Used by tests/integration/test_bounded_parsing.py and by bench/parsing.py (which measures the CPU it
takes to refuse each one, and what openpyxl would have spent).
"""

from __future__ import annotations

import io
import zipfile

MB = 1024 * 1024
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
WORKBOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
WS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"


def _workbook(sheets: int, shared_strings: bytes | None, sheet_xml: bytes) -> bytes:
    """A minimal valid XLSX (openpyxl opens it) with `sheets` sheets, each its own part."""
    overrides = [f'<Override PartName="/xl/workbook.xml" ContentType="{WORKBOOK_TYPE}"/>']
    overrides += [
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{SHEET_TYPE}"/>' for i in range(1, sheets + 1)
    ]
    if shared_strings is not None:
        overrides.append(f'<Override PartName="/xl/sharedStrings.xml" ContentType="{STRINGS_TYPE}"/>')
    types = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' + "".join(overrides) + "</Types>"
    )
    root_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_RELS}"><Relationship Id="rId1" '
        f'Type="{DOC_REL}" Target="xl/workbook.xml"/></Relationships>'
    )
    book = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
        + "".join(f'<sheet name="S{i}" sheetId="{i}" r:id="rId{i}"/>' for i in range(1, sheets + 1))
        + "</sheets></workbook>"
    )
    rels = [
        f'<Relationship Id="rId{i}" Type="{WS_REL}" Target="worksheets/sheet{i}.xml"/>' for i in range(1, sheets + 1)
    ]
    if shared_strings is not None:
        rels.append(f'<Relationship Id="rId{sheets + 1}" Type="{SST_REL}" Target="sharedStrings.xml"/>')
    book_rels = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_RELS}">' + "".join(rels) + "</Relationships>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", root_rels)
        archive.writestr("xl/workbook.xml", book)
        archive.writestr("xl/_rels/workbook.xml.rels", book_rels)
        for i in range(1, sheets + 1):
            archive.writestr(f"xl/worksheets/sheet{i}.xml", sheet_xml)
        if shared_strings is not None:
            archive.writestr("xl/sharedStrings.xml", shared_strings)
    return buf.getvalue()


def _sheet(rows: list[list[str]], shared: bool) -> bytes:
    """A worksheet whose cells are shared-string indexes (`shared`) or inline strings."""
    out = [f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData>']
    index = 0
    for r, row in enumerate(rows, start=1):
        out.append(f'<row r="{r}">')
        for c, value in enumerate(row):
            ref = f"{chr(65 + c)}{r}"
            if shared:
                out.append(f'<c r="{ref}" t="s"><v>{index}</v></c>')
                index += 1
            else:
                out.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
        out.append("</row>")
    out.append("</sheetData></worksheet>")
    return "".join(out).encode()


def shared_strings_bomb(strings: int = 3_000_000) -> bytes:
    """A valid workbook of ~125 KiB whose sharedStrings.xml holds `strings` tiny strings (~45 MB of XML):
    openpyxl reads the whole table before the first row (about 80 CPU-seconds and 320 MB for 3 million)."""
    header = [["asset_number", "name", "category"]]
    pieces = [f"<si><t>{i % 10}</t></si>".encode() for i in range(10)]
    body = b"".join(pieces) * (strings // 10) + b"".join(pieces[: strings % 10])
    table = (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{strings}" uniqueCount="{strings}">'
        ).encode()
        + body
        + b"</sst>"
    )
    return _workbook(1, table, _sheet(header, shared=True))


def distinct_shared_strings(strings: int = 1_200_000) -> bytes:
    """A workbook whose shared strings are all different numbers: it compresses only a few times, so the
    ratio check lets it through and only the count of strings refuses it (a few MB for 1.2 million)."""
    header = [["asset_number", "name", "category"]]
    body = b"".join(b"<si><t>%d</t></si>" % i for i in range(strings))
    table = f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}">'.encode() + body + b"</sst>"
    return _workbook(1, table, _sheet(header, shared=True))


def many_sheets_workbook(sheets: int = 10_000) -> bytes:
    """A valid workbook of `sheets` tiny sheets (a few MB): openpyxl makes an object and opens a part for
    each before the first row is read."""
    return _workbook(sheets, None, _sheet([["asset_number", "name", "category"]], shared=False))


def normal_workbook(rows: list[list[str]]) -> bytes:
    """A plain valid workbook of these rows (inline strings), as a small control case."""
    return _workbook(1, None, _sheet(rows, shared=False))


DOCX_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.'
    'openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)


def many_big_entries_zip(entries: int = 20, size: int = int(9.9 * MB)) -> bytes:
    """A DOCX-shaped zip of `entries` members of `size` zero bytes each (20 × 9.9 MB = 198 MB from
    ~200 KB): under a per-entry limit of 10 MB each, so only the total and the ratio catch it."""
    block = b"\0" * size
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", DOCX_TYPES)
        archive.writestr("word/document.xml", b"<w:document/>")
        for i in range(entries):
            archive.writestr(f"word/media/image{i + 1}.bin", block)
    return buf.getvalue()


def docx_document_bomb(paragraphs: int = 4_000_000) -> bytes:
    """A DOCX whose word/document.xml is millions of empty paragraphs (~28 MB of XML in ~100 KB)."""
    body = b"<w:p/>" * paragraphs
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        b'wordprocessingml/2006/main"><w:body>' + body + b"</w:body></w:document>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", DOCX_TYPES)
        archive.writestr("word/document.xml", xml)
    return buf.getvalue()
