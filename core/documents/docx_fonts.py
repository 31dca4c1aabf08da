"""Fonts embedded in a Word document, so that Word and LibreOffice draw it in Sarabun on a computer that does
not have it (python-docx only names a font).

A DOCX carries an embedded font as an "obfuscated" file (ECMA-376 Part 1, 17.8.1): the font's first 32
bytes XOR-ed with a key made from a GUID, the GUID written beside it in the font table (`w:fontKey`), and
`w:embedTrueTypeFonts` in the settings. Sarabun is under the SIL Open Font License, which allows embedding.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Mapping
from pathlib import Path

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "http://schemas.openxmlformats.org/package/2006/content-types"
FONT_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/font"
OBFUSCATED = "application/vnd.openxmlformats-officedocument.obfuscatedFont"
STYLES = ("Regular", "Bold", "Italic", "BoldItalic")
# CT_Settings elements that come before w:embedTrueTypeFonts (the schema fixes the order)
_BEFORE_EMBED = (
    "writeProtection",
    "view",
    "zoom",
    "removePersonalInformation",
    "removeDateAndTime",
    "doNotDisplayPageBoundaries",
    "displayBackgroundShape",
    "printPostScriptOverText",
    "printFractionalCharacterWidth",
    "printFormsData",
)


def _w(tag: str) -> str:
    return f"{{{W}}}{tag}"


def obfuscate(data: bytes, font_key: str) -> bytes:
    """The font file as a DOCX stores it: its first 32 bytes XOR-ed with the key's 16 bytes, the key being the
    GUID's hex digits read as bytes from the last to the first. (The same operation undoes it.)"""
    key = bytes.fromhex(font_key.strip("{}").replace("-", ""))[::-1]
    head = bytes(b ^ key[i % 16] for i, b in enumerate(data[:32]))
    return head + data[32:]


def embed_fonts(docx: bytes, fonts: Mapping[str, Mapping[str, Path]], *, charset: str = "DE") -> bytes:
    """`docx` with each font embedded: {"Sarabun": {"Regular": path, "Bold": path}}. `charset` goes into the
    font table for Word's font matching (DE: Thai)."""
    src = zipfile.ZipFile(io.BytesIO(docx))
    parts = {name: src.read(name) for name in src.namelist()}
    table = etree.fromstring(parts["word/fontTable.xml"])
    rels_name = "word/_rels/fontTable.xml.rels"
    rels = (
        etree.fromstring(parts[rels_name])
        if rels_name in parts
        else etree.Element(f"{{{PKG_REL}}}Relationships", nsmap={None: PKG_REL})
    )
    taken = {r.get("Id") for r in rels}
    added: dict[str, bytes] = {}
    n = sum(1 for p in parts if p.startswith("word/fonts/"))
    for family, files in fonts.items():
        font = next((f for f in table.findall(_w("font")) if f.get(_w("name")) == family), None)
        if font is None:
            font = etree.SubElement(table, _w("font"))
            font.set(_w("name"), family)
            for tag, value in (("charset", charset), ("family", "auto"), ("pitch", "variable")):
                etree.SubElement(font, _w(tag)).set(_w("val"), value)
        for style in STYLES:
            path = files.get(style)
            if path is None:
                continue
            n += 1
            rid = f"rIdFont{n}"
            while rid in taken:
                n += 1
                rid = f"rIdFont{n}"
            taken.add(rid)
            key = "{" + str(uuid.uuid4()).upper() + "}"
            target = f"fonts/font{n}.odttf"
            added[f"word/{target}"] = obfuscate(Path(path).read_bytes(), key)
            rel = etree.SubElement(rels, f"{{{PKG_REL}}}Relationship")
            rel.set("Id", rid)
            rel.set("Type", FONT_REL)
            rel.set("Target", target)
            old = font.find(_w(f"embed{style}"))
            if old is not None:
                font.remove(old)
            embed = etree.SubElement(font, _w(f"embed{style}"))
            embed.set(f"{{{R}}}id", rid)
            embed.set(_w("fontKey"), key)
        # the embed elements close the font's description, in the schema's order
        for style in STYLES:
            el = font.find(_w(f"embed{style}"))
            if el is not None:
                font.remove(el)
                font.append(el)
    settings = etree.fromstring(parts["word/settings.xml"])
    if settings.find(_w("embedTrueTypeFonts")) is None:
        flag = etree.Element(_w("embedTrueTypeFonts"))
        after = [el for el in settings if etree.QName(el).localname in _BEFORE_EMBED]
        if after:
            after[-1].addnext(flag)
        else:
            settings.insert(0, flag)
    types = etree.fromstring(parts["[Content_Types].xml"])
    if not any(d.get("Extension") == "odttf" for d in types.findall(f"{{{CT}}}Default")):
        default = etree.Element(f"{{{CT}}}Default")
        default.set("Extension", "odttf")
        default.set("ContentType", OBFUSCATED)
        types.insert(0, default)
    parts["word/fontTable.xml"] = _xml(table)
    parts[rels_name] = _xml(rels)
    parts["word/settings.xml"] = _xml(settings)
    parts["[Content_Types].xml"] = _xml(types)
    parts.update(added)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        names = ["[Content_Types].xml"] + [p for p in parts if p != "[Content_Types].xml"]
        for name in names:
            dst.writestr(name, parts[name])
    return out.getvalue()


def _xml(el) -> bytes:
    return etree.tostring(el, xml_declaration=True, encoding="UTF-8", standalone=True)
