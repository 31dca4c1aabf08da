"""QR labels: matrices, PNG/SVG tags and the A4 sticker sheets (decoded back with zxing)."""

from __future__ import annotations

import io
import re
import unicodedata
import xml.etree.ElementTree as ET

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from lending.register.labels import tags as labels
from lending.register.labels.sheet import LAYOUTS, LabelItem, render_label_sheet
from lending.register.labels.tags import qr_matrix, qr_png, qr_svg, wrap_text

AGENCY = "องค์การบริหารส่วนตำบลหนองบัว"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NAMES = [
    "เต็นท์ผ้าใบ ขนาด 4x8 เมตร",
    "เก้าอี้พลาสติก สีน้ำเงิน",
    "เครื่องฉายภาพ (โปรเจคเตอร์) Epson EB-X51",
    "โน้ตบุ๊ก Lenovo ThinkPad",
    "กล้องถ่ายภาพดิจิทัล",
    "ที่นี่",
    "เครื่องปรับอากาศแบบแยกส่วนชนิดติดผนังขนาดสามหมื่นบีทียูพร้อมติดตั้งและรีโมทควบคุมสองชุด",
    "<script>alert(1)</script>",
]
SVG_NS = "{http://www.w3.org/2000/svg}"


def tag_code(i: int) -> str:
    return "".join(ALPHABET[(i * 7 + k * 13) % len(ALPHABET)] for k in range(4)) + f"{i:04d}"


def make_items(n: int, names: list[str] = NAMES) -> list[LabelItem]:
    return [
        LabelItem(
            url=f"http://127.0.0.1:5000/t/{tag_code(i)}",
            asset_number=f"416-{59 + i % 7}-{i + 1:04d}",
            name=names[i % len(names)],
            tag=tag_code(i),
        )
        for i in range(n)
    ]


def decode_pages(pdf: bytes, scale: float = 3) -> list[list[zxingcpp.Barcode]]:
    doc = pdfium.PdfDocument(pdf)
    try:
        pages = []
        for page in doc:
            image = page.render(scale=scale).to_pil()
            found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            pages.append(list(found))
        return pages
    finally:
        doc.close()


def page_texts(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_bounded() for page in doc]
    finally:
        doc.close()


# --------------------------------------------------------------------------- QR matrix, PNG, SVG


def test_qr_matrix_is_square_without_border_and_has_finder_patterns():
    m = qr_matrix("http://127.0.0.1:5000/t/ABCD2345")
    n = len(m)
    assert all(len(row) == n for row in m)
    assert (n - 17) % 4 == 0
    assert all(isinstance(v, bool) for row in m for v in row)
    # border 0: the 7x7 finder pattern starts at the very first module, top-left, top-right, bottom-left
    for r0, c0 in ((0, 0), (0, n - 7), (n - 7, 0)):
        ring = [(r, c) for r in range(7) for c in range(7) if r in (0, 6) or c in (0, 6)]
        assert all(m[r0 + r][c0 + c] for r, c in ring)
        assert not m[r0 + 1][c0 + 1] and m[r0 + 3][c0 + 3]
    m[0][0] = False  # callers get their own copy
    assert qr_matrix("http://127.0.0.1:5000/t/ABCD2345")[0][0] is True


@pytest.mark.parametrize(
    "url",
    [f"http://127.0.0.1:5000/t/{tag_code(i)}" for i in range(12)]
    + ["https://example.org/" + "ab/-9ก" * k for k in (1, 7, 20, 45, 90)],  # versions 2 to 20
)
def test_qr_matrix_is_what_qrcode_makes_with_error_correction_m(url):
    # qr_matrix picks the mask itself (faster); it must pick the one qrcode would.
    import qrcode

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(url)
    qr.make(fit=True)
    assert qr_matrix(url) == qr.get_matrix()


def test_mask_penalty_matches_qrcode_for_every_mask():
    import qrcode
    import qrcode.util

    for version in (1, 2, 6, 7, 14, 40):
        qr = qrcode.QRCode(version=version, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        qr.add_data("t/ABCD2345")
        qr.make(fit=False)
        qr.makeImpl(True, 0)
        base = [labels._row_bits(row) for row in qr.modules]
        masks = labels._data_masks(version)
        for mask in range(8):
            qr.makeImpl(True, mask)
            rows = [b ^ m0 ^ mi for b, m0, mi in zip(base, masks[0], masks[mask], strict=True)]
            assert rows == [labels._row_bits(row) for row in qr.modules], (version, mask)
            assert labels._penalty(rows, len(rows)) == qrcode.util.lost_point(qr.modules), (version, mask)


def test_qr_png_decodes_and_has_a_quiet_zone():
    url = "http://127.0.0.1:5000/t/WXYZ6789"
    png = qr_png(url, scale=6)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        n = len(qr_matrix(url))
        assert img.size == ((n + 8) * 6, (n + 8) * 6)
        gray = img.convert("L")
        assert {gray.getpixel((x, y)) for x in range(24) for y in range(24)} == {255}
        assert gray.getpixel((24, 24)) == 0  # first finder module
        result = zxingcpp.read_barcode(gray)
    assert result is not None and result.text == url


def test_qr_svg_is_valid_xml_and_draws_exactly_the_matrix():
    url = "http://127.0.0.1:5000/t/ABCD2345?x=1&y=<2>"
    root = ET.fromstring(qr_svg(url))  # noqa: S314 - our own output
    assert root.tag == f"{SVG_NS}svg"
    m = qr_matrix(url)
    n = len(m)
    assert root.get("viewBox") == f"0 0 {n + 8} {n + 8}"
    background = root.find(f"{SVG_NS}rect")
    assert background is not None and background.get("fill") == "#ffffff"
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    # Rebuild the module grid from the path's runs: "M{x} {y}h{len}v1h-{len}z".
    grid = [[False] * (n + 8) for _ in range(n + 8)]
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z", paths[0].get("d"))
    assert runs and "".join(f"M{x} {y}h{a}v1h-{b}z" for x, y, a, b in runs) == paths[0].get("d")
    for x, y, a, b in runs:
        assert a == b
        for k in range(int(a)):
            assert not grid[int(y)][int(x) + k]
            grid[int(y)][int(x) + k] = True
    assert [row[4 : n + 4] for row in grid[4 : n + 4]] == m
    quiet = [(x, y) for y in range(n + 8) for x in range(n + 8) if not (4 <= x < n + 4 and 4 <= y < n + 4)]
    assert not any(grid[y][x] for x, y in quiet)
    # horizontal runs are merged: no two runs touch on the same row
    ends = {(int(x) + int(a), int(y)) for x, y, a, _ in runs}
    assert not any((int(x), int(y)) in ends for x, y, _, _ in runs)


# --------------------------------------------------------------------------- sheets


def test_3x8_sheet_of_30_items_has_two_pages_and_every_qr_decodes():
    items = make_items(30)
    pdf = render_label_sheet(items, "3x8", AGENCY)
    assert pdf.startswith(b"%PDF-")
    pages = decode_pages(pdf)
    assert [len(p) for p in pages] == [24, 6]
    decoded = [b.text for p in pages for b in p]
    assert sorted(decoded) == sorted(i.url for i in items)


def test_2x5_sheet_decodes_every_qr():
    items = make_items(10)
    pages = decode_pages(render_label_sheet(items, "2x5", AGENCY), scale=2)
    assert [len(p) for p in pages] == [10]
    assert {b.text for b in pages[0]} == {i.url for i in items}


def test_labels_fill_rows_left_to_right_top_to_bottom():
    items = make_items(6)
    lay = LAYOUTS["3x8"]
    (page,) = decode_pages(render_label_sheet(items, "3x8"))
    px_per_mm = 3 * 72 / 25.4
    for b in page:
        cx = (b.position.top_left.x + b.position.bottom_right.x) / 2 / px_per_mm
        cy = (b.position.top_left.y + b.position.bottom_right.y) / 2 / px_per_mm
        index = [i.url for i in items].index(b.text)
        x0, y0 = lay.origin(index)
        # the QR sits in the left part of its own label
        assert x0 < cx < x0 + lay.height_mm and y0 < cy < y0 + lay.height_mm


def test_start_at_skips_used_positions_on_the_first_sheet():
    items = make_items(5)
    lay = LAYOUTS["3x8"]
    pdf = render_label_sheet(items, "3x8", AGENCY, start_at=22)
    pages = decode_pages(pdf)
    assert [len(p) for p in pages] == [2, 3]
    assert {b.text for b in pages[0]} == {items[0].url, items[1].url}
    px_per_mm = 3 * 72 / 25.4
    bottom_row_top = lay.origin(21)[1] * px_per_mm
    for b in pages[0]:
        assert b.position.top_left.y > bottom_row_top  # last row, positions 22 and 23
        assert b.position.top_left.x > lay.width_mm * px_per_mm  # not the first column
    # the second sheet starts again at the top-left corner
    assert min(b.position.top_left.y for b in pages[1]) < lay.height_mm * px_per_mm


def test_start_at_on_2x5_and_bounds():
    pages = decode_pages(render_label_sheet(make_items(1), "2x5", start_at=9), scale=1.5)
    assert len(pages) == 1 and len(pages[0]) == 1
    assert pages[0][0].position.top_left.x > 105 * 1.5 * 72 / 25.4
    with pytest.raises(ValueError):
        render_label_sheet(make_items(1), "2x5", start_at=10)
    with pytest.raises(ValueError):
        render_label_sheet(make_items(1), "3x8", start_at=-1)


def test_empty_list_and_unknown_layout_raise():
    with pytest.raises(ValueError, match="no labels"):
        render_label_sheet([])
    with pytest.raises(ValueError):
        render_label_sheet(make_items(1), "4x10")


def test_single_item_and_long_thai_name_render():
    doc = pdfium.PdfDocument(render_label_sheet(make_items(1)))
    assert len(doc) == 1
    doc.close()
    long_thai = ("ครุภัณฑ์คอมพิวเตอร์เครื่องคอมพิวเตอร์โน้ตบุ๊กสำหรับงานประมวลผลพร้อมโปรแกรมระบบปฏิบัติการที่มีลิขสิทธิ์ถูกต้องตามกฎหมาย") * 3
    item = LabelItem("http://127.0.0.1:5000/t/LONG2345", "416-66-0001", long_thai, "LONG2345")
    for layout in LAYOUTS:
        pdf = render_label_sheet([item], layout, AGENCY * 3)
        (page,) = decode_pages(pdf, scale=2)
        assert [b.text for b in page] == [item.url]


def test_markup_in_a_name_is_printed_literally():
    item = LabelItem("http://127.0.0.1:5000/t/XSSX2345", "416-66-0002", "<script>alert(1)</script>", "XSSX2345")
    pdf = render_label_sheet([item], "3x8", AGENCY)
    (text,) = page_texts(pdf)
    assert "<script>alert(1)</script>" in re.sub(r"\s+", "", text)
    assert "416-66-0002" in text and "XSSX2345" in text


def test_pdf_metadata_fonts_and_no_page_numbers():
    pdf = render_label_sheet(make_items(25), "3x8", AGENCY)
    doc = pdfium.PdfDocument(pdf)
    try:
        meta = doc.get_metadata_dict()
        assert "ป้าย" in meta["Title"] and AGENCY in meta["Title"]
        assert meta["Author"] == AGENCY
        assert len(doc) == 2
        w, h = doc[0].get_size()
        assert (round(w * 25.4 / 72), round(h * 25.4 / 72)) == (210, 297)
    finally:
        doc.close()
    assert re.search(rb"/BaseFont /[A-Z]{6}\+Sarabun\b", pdf)
    assert re.search(rb"/BaseFont /[A-Z]{6}\+SarabunBold", pdf)
    for text in page_texts(pdf):
        assert not re.search(r"(?i)page|หน้า\s*\d", text)


def test_text_stays_inside_its_label():
    long_names = [*NAMES, "ก" * 200, "W" * 80, "ที่นี่" * 40, "a " * 100, "ฟ้้้้้้ ปั๊ม ฝุ่น"]
    items = make_items(len(long_names), long_names)
    items[0] = LabelItem(items[0].url, "416-59-0001-ยาวมากเป็นพิเศษ-1234567890", items[0].name, "X" * 40)
    for layout_key, lay in LAYOUTS.items():
        checked = 0
        pdf = render_label_sheet(items, layout_key, AGENCY + " อำเภอเมือง จังหวัดขอนแก่น" * 2)
        doc = pdfium.PdfDocument(pdf)
        try:
            for page in doc:
                tp = page.get_textpage()
                page_h = page.get_height()
                for i in range(tp.count_chars()):
                    left, bottom, right, top = tp.get_charbox(i)
                    if right - left <= 0 and top - bottom <= 0:
                        continue  # generated spaces/line breaks
                    x0, x1 = left * 25.4 / 72, right * 25.4 / 72
                    y0, y1 = (page_h - top) * 25.4 / 72, (page_h - bottom) * 25.4 / 72
                    col = int((x0 + x1) / 2 // lay.width_mm)
                    row = int((y0 + y1) / 2 // lay.height_mm)
                    lx, ly = lay.origin(row * lay.cols + col)
                    # text sits right of the QR square and inside the label, with a small margin
                    where = (layout_key, i, tp.get_text_range(i, 1))
                    assert lx + lay.height_mm - lay.padding_mm <= x0, where
                    assert x1 <= lx + lay.width_mm - 1, where
                    assert ly + 1 <= y0 and y1 <= ly + lay.height_mm - 1, where
                    checked += 1
        finally:
            doc.close()
        assert checked > 1000


def test_thai_text_is_embedded_with_all_its_marks():
    # Shaping may emit a tone mark and an upper vowel in display order (ที่ comes back from
    # text extraction as ท่ี), so compare each word's characters as a multiset.
    words = ["ที่นี่", "เก้าอี้", "เครื่องฉายภาพ", "น้ำ"]
    item = LabelItem("http://127.0.0.1:5000/t/SHAP2345", "416-66-0003", " ".join(words), "SHAP2345")
    (text,) = page_texts(render_label_sheet([item]))
    extracted = [sorted(w) for w in text.split()]
    for word in words:
        assert sorted(word) in extracted


# --------------------------------------------------------------------------- wrapping


def char_measure(s: str) -> float:
    """Width 1 per spacing character; combining marks take no room (as in the font)."""
    return float(sum(0 if unicodedata.category(c).startswith("M") else 1 for c in s))


@pytest.mark.parametrize("text", NAMES + ["ก้่ข้่ค้่" * 10, "เก้าอี้" * 9, "a b c d e f g h i j"])
@pytest.mark.parametrize("width", [3, 5, 8, 13])
def test_wrap_never_splits_marks_from_their_base(text, width):
    lines, truncated = wrap_text(text, width, char_measure, max_lines=50)
    assert not truncated
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert char_measure(line) <= width or len(labels._clusters(line)) == 1
        assert not unicodedata.category(line[0]).startswith("M")
        assert line[0] not in "ะาำๅๆ"
        assert line[-1] not in "เแโใไ"


def test_wrap_prefers_spaces_then_truncates_with_ellipsis():
    assert wrap_text("เก้าอี้พลาสติก สีน้ำเงิน", 14, char_measure, 3) == (["เก้าอี้พลาสติก", "สีน้ำเงิน"], False)
    lines, truncated = wrap_text("ก" * 50, 10, char_measure, 3)
    assert truncated and len(lines) == 3 and lines[-1].endswith("…")
    assert all(char_measure(line) <= 10 for line in lines)
    assert wrap_text("", 10, char_measure, 3) == ([], False)
    assert wrap_text("  สั้น\n", 10, char_measure, 3) == (["สั้น"], False)


def test_wrap_breaks_thai_at_likely_syllable_boundaries():
    lines, _ = wrap_text("เครื่องปรับอากาศแบบแยกส่วน", 12, char_measure, 5)
    assert lines[0] in ("เครื่อง", "เครื่องปรับ", "เครื่องปรับอา")
    assert all(not line.startswith(("รั", "ร้", "ว", "น")) for line in lines)


def test_layouts():
    a = LAYOUTS["3x8"]
    assert (a.cols, a.rows, a.width_mm, a.height_mm) == (3, 8, 70, 37.125)
    assert (a.margin_left_mm, a.margin_top_mm) == (0, 0)
    b = LAYOUTS["2x5"]
    assert (b.cols, b.rows, b.width_mm, b.height_mm) == (2, 5, 105, 59.4)
    for lay in LAYOUTS.values():
        assert re.search(r"[\u0e00-\u0e7f]", lay.display_name) and "labels" in lay.display_name
        x, y = lay.origin(lay.per_page - 1)
        assert x + lay.width_mm <= 210.001 and y + lay.height_mm <= 297.001
