"""The printed documents: the Thai document builder (core/documents/pdf.py), the borrowing form and the demand letter.

No database: the loans are transient ORM objects. Text is read back with pypdfium2; positions come from
its text objects, in PDF points (1 mm = 72 / 25.4 pt).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from decimal import Decimal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

from core.dates import THAI_DIGITS
from core.documents import thai as thai_pdf
from core.documents.pdf import ThaiDocument
from core.documents.pdf_blocks import Cell, Column, Signature
from core.documents.thai import break_opportunities, clean_text, keep_together, wrap
from core.models import User
from core.people.services import DEFAULT_SETTINGS
from lending.loans.documents.demand import demand_letter_pdf, demand_reference
from lending.loans.documents.receipt import receipt_pdf
from lending.loans.models import Demand, Loan, LoanItem
from lending.register.models import Asset

MM = 72 / 25.4
LONG_NAME = (
    "เต็นท์ผ้าใบขนาดใหญ่พิเศษพร้อมโครงเหล็กชุบกัลวาไนซ์และผ้าใบคลุมด้านข้างกันฝนสำหรับงานกิจกรรมกลางแจ้งของหมู่บ้านและงานประเพณีประจำปีของตำบล"
)
SETTINGS = {
    **DEFAULT_SETTINGS,
    "agency_name": "องค์การบริหารส่วนตำบลหนองบัว",
    "address": "เลขที่ 99 หมู่ 5",
    "district": "เมืองขอนแก่น",
    "province": "ขอนแก่น",
    "phone": "043-123456",
    "thai_digits_in_documents": True,
}
ARABIC = {**SETTINGS, "thai_digits_in_documents": False}


# --------------------------------------------------------------------------- helpers


def texts(pdf: bytes) -> list[str]:
    """Each page's text, non-breaking spaces as spaces."""
    doc = pdfium.PdfDocument(pdf)
    try:
        return [page.get_textpage().get_text_bounded().replace("\xa0", " ") for page in doc]
    finally:
        doc.close()


def flat(pdf: bytes) -> str:
    """All the text, lines joined by spaces."""
    return " ".join(" ".join(t.split()) for t in texts(pdf))


def squash(text: str) -> str:
    """Without any white space: a phrase may wrap onto the next line."""
    return "".join(text.split())


def assert_phrases(text: str, phrases) -> None:
    flat_text = squash(text)
    for phrase in phrases:
        assert squash(phrase) in flat_text, phrase


def page_count(pdf: bytes) -> int:
    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def text_boxes(pdf: bytes) -> list[tuple[int, tuple[float, float, float, float], float, float, str]]:
    """(page, (left, bottom, right, top), page width, page height, footer-band text) per text object."""
    doc = pdfium.PdfDocument(pdf)
    out = []
    try:
        for n, page in enumerate(doc):
            w, h = page.get_size()
            band = page.get_textpage().get_text_bounded(0, 0, w, 20 * MM).replace("\xa0", " ")
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_TEXT]):
                out.append((n, obj.get_bounds(), w, h, band))
    finally:
        doc.close()
    return out


def assert_inside_margins(
    pdf: bytes, left_mm: float = 30, right_mm: float = 20, top_mm: float = 20, bottom_mm: float = 20
) -> None:
    """Every line of text lies between the margins; below the bottom margin only the footer line."""
    boxes = text_boxes(pdf)
    assert boxes
    limit = bottom_mm * MM
    for page, (x0, y0, x1, y1), w, h, band in boxes:
        where = (page, (x0, y0, x1, y1))
        assert x0 >= left_mm * MM - 1.5, where  # a leading vowel (ใ ไ) overhangs its origin by about 1 pt
        assert x1 <= w - right_mm * MM + 1.0, where
        assert y1 <= h - top_mm * MM + 2.0, where  # a tone mark stacked on a vowel may rise 0.1 em over
        assert y0 >= 5 * MM, where
        assert y1 <= limit or y0 >= limit - 0.5, where  # nothing straddles the bottom margin
        lines = [line for line in band.splitlines() if line.strip()]
        assert len(lines) == 1 and re.search(r"(หน้า|Page) \S+/\S+$", lines[0]), (page, band)


def person(uid: int, name: str, position: str = "", department: str = "") -> User:
    return User(id=uid, username=f"u{uid}", name=name, position=position, department=department, email="")


def make_loan(
    names: list[str],
    *,
    borrower_name: str = "นายสมชาย ใจดี",
    purpose: str = "ประชุมประชาคม ที่นี่",
    status: str = "checked_out",
    needs_head: bool = False,
    off_premises: bool = False,
) -> Loan:
    borrower = person(1, borrower_name, "นักวิชาการคอมพิวเตอร์ปฏิบัติการ", "สำนักปลัด")
    officer = person(2, "นางสาวสมศรี รักษ์พัสดุ", "เจ้าพนักงานพัสดุชำนาญงาน")
    head = person(3, "นายวิชัย ผู้บริหาร", "ปลัดองค์การบริหารส่วนตำบล")
    items = []
    for i, name in enumerate(names, 1):
        asset = Asset(id=i, asset_number=f"416-59-{i:04d}", name=name, price=Decimal("1250.50") * i)
        items.append(LoanItem(id=100 + i, asset=asset, value=asset.price))
    handed = status in ("checked_out", "returned")
    return Loan(
        id=12,
        ref="2569/00012",
        borrower=borrower,
        purpose=purpose,
        place="ศาลาประชาคมหมู่ที่ 5",
        off_premises=off_premises,
        start_on=date(2026, 3, 2),
        due_on=date(2026, 3, 5),
        status=status,
        requested_at=datetime(2026, 2, 27, 3, 15, tzinfo=UTC),
        needs_head=needs_head,
        officer=officer if status != "requested" else None,
        officer_at=datetime(2026, 2, 27, 6, 0, tzinfo=UTC) if status != "requested" else None,
        head=head if needs_head else None,
        head_at=datetime(2026, 2, 28, 2, 0, tzinfo=UTC) if needs_head else None,
        checked_out_by=officer if handed else None,
        checked_out_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC) if handed else None,
        handover_note="สภาพดี ครบถ้วน" if handed else "",
        items=items,
    )


THREE = ["เก้าอี้พลาสติก สีน้ำเงิน", LONG_NAME, "เครื่องฉายภาพ (โปรเจคเตอร์) Epson EB-X51"]


def no_thai_digits(text: str) -> bool:
    return not any(d in text for d in THAI_DIGITS)


# --------------------------------------------------------------------------- line breaking


def char_measure(s: str) -> float:
    """One unit per spacing character; combining marks take no room."""
    return float(sum(0 if unicodedata.category(c).startswith("M") else 1 for c in s))


def test_thai_breaks_between_words_not_inside_them():
    text = "ขอให้ส่งคืนพัสดุที่ยืมภายในเจ็ดวัน"
    lines = wrap(text, 8, char_measure)
    assert "".join(lines) == text
    words = {"ขอ", "ให้", "ส่ง", "คืน", "พัสดุ", "ที่", "ยืม", "ภายใน", "เจ็ด", "วัน"}
    if thai_pdf._libthai.available:  # the dictionary: every line is whole words
        for line in lines:
            rest = line
            while rest:
                word = next((w for w in sorted(words, key=len, reverse=True) if rest.startswith(w)), None)
                assert word, (line, lines)
                rest = rest[len(word) :]
    assert all(char_measure(line) <= 8 for line in lines)


@pytest.mark.parametrize("text", THREE + ["ก้่ข้่ค้่" * 10, "เก้าอี้" * 9, "น้ำ" * 12, "a b c d e f g"])
@pytest.mark.parametrize("width", [2, 3, 5, 8, 13])
def test_wrap_never_separates_a_mark_or_a_leading_vowel(text, width):
    lines = wrap(text, width, char_measure)
    assert "".join(lines).replace(" ", "") == clean_text(text).replace(" ", "")
    for line in lines:
        assert line and not unicodedata.category(line[0]).startswith("M"), lines
        assert line[-1] not in "เแโใไ", lines


def test_heuristic_breaks_when_libthai_is_missing(monkeypatch):
    monkeypatch.setattr(thai_pdf._libthai, "breaks", lambda text: None)
    thai_pdf.break_opportunities.cache_clear()
    try:
        text = "ขอให้ส่งคืนพัสดุที่ยืมเพื่อใช้ในราชการ"
        cuts = break_opportunities(text)
        assert cuts and all(0 < i < len(text) for i in cuts)
        assert text.index("เพื่อ") in cuts  # before a leading vowel
        lines = wrap(text, 10, char_measure)
        assert "".join(lines) == text and all(char_measure(line) <= 10 for line in lines)
    finally:
        thai_pdf.break_opportunities.cache_clear()


def test_keep_together_and_no_break_space():
    name = keep_together("นางสาวสมศรี รักษ์พัสดุ")
    lines = wrap(name, 10, char_measure)
    assert [line.replace(thai_pdf.WJ, "") for line in lines] == ["นางสาวสมศรี", "รักษ์พัสดุ"]
    dated = "กำหนดส่งคืนภายในวันที่ ๕\u00a0มีนาคม\u00a0๒๕๖๙"
    assert any("๕\u00a0มีนาคม\u00a0๒๕๖๙" in line for line in wrap(dated, 16, char_measure))
    # a name longer than the line still breaks, at its own word boundaries if it has any
    long = keep_together("เจ้าพนักงานพัสดุชำนาญงานพิเศษ")
    assert all(char_measure(line) <= 12 for line in wrap(long, 12, char_measure))


def test_clean_text_drops_what_the_font_cannot_draw():
    assert clean_text("a\tb\x00c") == "a b c"
    assert clean_text("ก้้") == "ก้"  # a doubled tone mark is a typing slip
    assert clean_text("x\u200by") == "xy"
    assert clean_text("ok 😀 漢") == "ok ? ?"


# --------------------------------------------------------------------------- the builder


def test_table_repeats_its_header_and_numbers_the_pages():
    doc = ThaiDocument(thai_digits=True, footer_text="ทดสอบตาราง")
    doc.heading("ตารางยาว")
    rows = [
        [str(i), keep_together(f"416-59-{i:04d}"), "เก้าอี้พลาสติก " + LONG_NAME[: 10 + i % 60], "1"] for i in range(1, 61)
    ]
    rows.append([Cell("รวม", bold=True, align="R", colspan=3), Cell("60", bold=True)])
    doc.table(
        [
            Column("ลำดับ", align="C", fit=True),
            Column("หมายเลขครุภัณฑ์", fit=True),
            Column("รายการที่ยืม", 1.0),
            Column("จำนวน", align="C", fit=True),
        ],
        rows,
        size=14,
    )
    doc.signatures([Signature("ผู้ยืม", "นายสมชาย ใจดี", "นักวิชาการ", "๑ มี.ค. ๒๕๖๙"), Signature("ผู้อนุมัติ")])
    data = doc.output()
    pages = texts(data)
    assert 3 <= len(pages) <= 8
    for n, page in enumerate(pages, 1):
        assert page.count("รายการที่ยืม") == 1, n  # the header row, once on every page
        assert f"หน้า {n}/{len(pages)}".translate(str.maketrans("0123456789", THAI_DIGITS)) in page
    everything = " ".join(pages)
    for i in (1, 30, 60):
        assert f"416-59-{i:04d}" in everything
    assert "ลงชื่อ" in pages[-1] and "(นายสมชาย ใจดี)" in pages[-1]
    assert_inside_margins(data)


def test_a_cell_taller_than_a_page_continues_on_the_next():
    doc = ThaiDocument()
    doc.table([Column("ก", 1), Column("ข", 3)], [["1", "ข้อความยาวมาก " * 400]], size=14)
    data = doc.output()
    assert 2 <= page_count(data) <= 6
    assert_inside_margins(data)


# --------------------------------------------------------------------------- the borrowing form


def test_receipt_of_a_three_item_loan_in_thai_digits():
    loan = make_loan(THREE, purpose="ใช้ในการประชุมประชาคมหมู่บ้าน ที่นี่ ณ ศาลาประชาคม")
    data = receipt_pdf(loan, SETTINGS)
    assert data.startswith(b"%PDF")
    assert 1 <= page_count(data) <= 3
    text = flat(data)
    assert_phrases(
        text,
        (
            "ใบยืมพัสดุ",
            "องค์การบริหารส่วนตำบลหนองบัว",
            "อำเภอเมืองขอนแก่น จังหวัดขอนแก่น",
            "เลขที่ ๒๕๖๙/๐๐๐๑๒",
            "วันที่ ๒๗ กุมภาพันธ์ ๒๕๖๙",
            "เก้าอี้พลาสติก",
            "ที่นี่",
            "นายสมชาย ใจดี",
            "นักวิชาการคอมพิวเตอร์ปฏิบัติการ",
            "สำนักปลัด",
            "ศาลาประชาคมหมู่ที่ 5",
            "ใช้ภายในสถานที่ของหน่วยงาน",
            "ตั้งแต่วันที่ ๒ มีนาคม ๒๕๖๙ ถึงวันที่ ๕ มีนาคม ๒๕๖๙ รวม ๔ วัน",
            "416-59-0001",
            "416-59-0003",
            "Epson EB-X51",
            "1,250.50",
            "3,751.50",
            "7,503.00",
            "รวม 3 รายการ",
            "ใช้ในราชการ",
            "พ.ศ. ๒๕๖๐",
            "นางสาวสมศรี รักษ์พัสดุ",
            "ส่งมอบพัสดุ",
            "สภาพดี ครบถ้วน",
            "ผู้ยืม",
            "เจ้าหน้าที่พัสดุ",
            "ผู้อนุมัติ",
            "หน้า ๑/",
        ),
    )
    # the long asset name wrapped inside its cell: every word of it is there, in order
    assert "".join(text.split()).count("".join(LONG_NAME.split())) == 1
    assert "2569" not in text.replace("2569 ", "").split("วันและเวลา")[0]  # Thai digits up to the tables
    assert_inside_margins(data)


def test_receipt_with_arabic_digits_has_no_thai_digit():
    data = receipt_pdf(make_loan(THREE), ARABIC)
    text = flat(data)
    assert no_thai_digits(text)
    assert "เลขที่ 2569/00012" in text and "วันที่ 27 กุมภาพันธ์ 2569" in text and "หน้า 1/" in text


def test_receipt_shows_the_head_the_returns_and_a_pending_request():
    loan = make_loan(THREE, needs_head=True, off_premises=True)
    loan.items[0].condition, loan.items[0].returned_at = "damaged", datetime(2026, 3, 6, 2, 0, tzinfo=UTC)
    loan.items[0].received_by, loan.items[0].return_note = loan.officer, "ขาหัก"
    text = flat(receipt_pdf(loan, SETTINGS))
    assert_phrases(
        text,
        (
            "หัวหน้าหน่วยงานอนุมัติ",
            "นายวิชัย ผู้บริหาร",
            "นำออกไปใช้นอกสถานที่ของหน่วยงาน",
            "การส่งคืน",
            "ชำรุด",
            "ขาหัก",
            "ยังไม่ส่งคืน",
            "ผู้ตรวจรับคืน",
            "6 มี.ค. 2569",
        ),
    )

    pending = make_loan(THREE[:1], status="requested")
    text = flat(receipt_pdf(pending, SETTINGS))
    assert "รอดำเนินการ" in text and "ส่งมอบพัสดุ" not in text
    assert "วันที่ ........./........../.........." in text  # nobody has signed for the officer yet


def test_receipt_in_english():
    data = receipt_pdf(make_loan(THREE), SETTINGS, "en")
    text = flat(data)
    assert_phrases(
        text,
        (
            "Borrowing Form",
            "No. 2569/00012",
            "27 February 2569 BE",
            "Purpose / work",
            "from 2 March 2569 BE to 5 March 2569 BE, 4 days",
            "official use only",
            "B.E. 2560",
            "Borrower",
            "Supply officer",
            "Approver",
            "Page 1/",
            "เก้าอี้พลาสติก",
        ),
    )
    assert no_thai_digits(text)
    assert_inside_margins(data)


def test_markup_in_a_name_is_printed_as_typed():
    loan = make_loan(THREE[:1], borrower_name="<script>alert('x')</script> & <b>สมชาย</b>")
    for data in (receipt_pdf(loan, SETTINGS), receipt_pdf(loan, SETTINGS, "en")):
        assert "<script>alert('x')</script> & <b>สมชาย</b>" in flat(data)


def test_many_items_with_long_names_stay_inside_the_page():
    names = [f"{LONG_NAME} รายการที่ {i}" for i in range(1, 31)]
    loan = make_loan(names, borrower_name="นางสาวกาญจนาภรณ์ ศรีสุวรรณวงศ์ไพบูลย์" * 2)
    data = receipt_pdf(loan, SETTINGS)
    pages = texts(data)
    assert 4 <= len(pages) <= 15
    assert sum(p.count("หมายเลข") for p in pages) >= len(pages) - 1  # header repeated on continued pages
    assert "รายการที่ 30" in flat(data)
    assert_inside_margins(data)


# --------------------------------------------------------------------------- the demand letter


def make_demand(loan: Loan, item_ids: list[int] | None = None) -> Demand:
    return Demand(
        id=5,
        loan=loan,
        demanded_on=date(2026, 3, 9),
        channel="letter",
        issued_by_id=None,
        item_ids=item_ids if item_ids is not None else [i.id for i in loan.items],
    )


def test_demand_letter_in_thai():
    loan = make_loan(THREE, purpose="ประชุมประชาคม ที่นี่")
    loan.items[1].condition = "good"  # came back before the demand: not listed
    demand = make_demand(loan, [101, 103])
    assert demand_reference(demand) == "2569/00012/ทวง5"
    data = demand_letter_pdf(demand, SETTINGS)
    assert 1 <= page_count(data) <= 3
    text = flat(data)
    assert_phrases(
        text,
        (
            "ที่ ๒๕๖๙/๐๐๐๑๒/ทวง๕",
            "องค์การบริหารส่วนตำบลหนองบัว",
            "๙ มีนาคม ๒๕๖๙",
            "เรื่อง ขอให้ส่งคืนพัสดุที่ยืม",
            "เรียน นายสมชาย ใจดี",
            "ใบยืมพัสดุ เลขที่ ๒๕๖๙/๐๐๐๑๒",
            "ลงวันที่ ๒๗ กุมภาพันธ์ ๒๕๖๙",
            "ประชุมประชาคม ที่นี่",
            "ภายในวันที่ ๕ มีนาคม ๒๕๖๙",
            "เก้าอี้พลาสติก",
            "416-59-0001",
            "416-59-0003",
            "ภายใน ๗ วัน",
            "ซ่อมแซม",
            "ราคาที่เป็นอยู่ในขณะยืม",
            "ข้อ ๒๑๑",
            "ขอแสดงความนับถือ",
            "(นางสาวสมศรี รักษ์พัสดุ)",
            "งานพัสดุ กองคลัง",
            "โทร. ๐๔๓-๑๒๓๔๕๖",
        ),
    )
    assert "416-59-0002" not in text
    # the days overdue as of the demand: 9 March - 5 March
    assert "1,250.50 4" in text and "3,751.50 4" in text
    assert_inside_margins(data)


def test_demand_letter_in_english_and_arabic_digits():
    loan = make_loan(THREE)
    text = flat(demand_letter_pdf(make_demand(loan), ARABIC, "en"))
    assert_phrases(
        text,
        (
            "Ref. 2569/00012/ทวง5",
            "9 March 2569 BE",
            "Subject: Return of borrowed property",
            "To: นายสมชาย ใจดี",
            "within 7 days",
            "clauses 209 and 211",
            "Yours sincerely,",
        ),
    )
    assert no_thai_digits(text)
    text = flat(demand_letter_pdf(make_demand(loan), ARABIC))
    assert "ที่ 2569/00012/ทวง5" in text and "ภายใน 7 วัน" in text and no_thai_digits(text)


def test_demand_letter_signer_falls_back_to_the_officer_who_handed_over():
    loan = make_loan(THREE[:1])
    text = flat(demand_letter_pdf(make_demand(loan), SETTINGS))
    assert "(นางสาวสมศรี รักษ์พัสดุ)" in text and "เจ้าพนักงานพัสดุชำนาญงาน" in text
    signer = person(9, "นายผู้ลงนาม แทนนายก", "")
    text = flat(demand_letter_pdf(make_demand(loan), SETTINGS, signer=signer))
    assert "(นายผู้ลงนาม แทนนายก)" in text and "เจ้าหน้าที่พัสดุ" in text


@pytest.mark.parametrize("lang", ["th", "en"])
def test_a_demand_for_a_few_items_is_one_page_with_its_signature(lang):
    for n in (1, 3):
        loan = make_loan(THREE[:1] * n)
        for k, item in enumerate(loan.items):
            item.id = 101 + k
        data = demand_letter_pdf(make_demand(loan), SETTINGS, lang)
        assert page_count(data) == 1, n
        assert "(นางสาวสมศรี รักษ์พัสดุ)" in flat(data)


def test_a_long_demand_carries_its_last_line_with_the_signature_to_the_next_page():
    loan = make_loan(THREE * 2)
    for k, item in enumerate(loan.items):
        item.id = 101 + k
    pages = [" ".join(t.split()) for t in texts(demand_letter_pdf(make_demand(loan), SETTINGS))]
    signed = [n for n, t in enumerate(pages) if "(นางสาวสมศรี รักษ์พัสดุ)" in t]
    assert signed == [len(pages) - 1]
    last = squash(pages[-1])
    for phrase in ("จึงเรียนมาเพื่อโปรดดำเนินการ", "ขอแสดงความนับถือ", "งานพัสดุกองคลัง"):
        assert phrase in last, phrase


# --------------------------------------------------------------------------- the address, imported loans

FULL_ADDRESS = {
    **ARABIC,
    "agency_name": "องค์การบริหารส่วนตำบลหนองบัวทอง",
    "address": "หมู่ที่ 3 ตำบลหนองบัวทอง อำเภอโนนสูง จังหวัดนครราชสีมา 30160",
    "district": "อำเภอโนนสูง",
    "province": "จังหวัดนครราชสีมา",
}


@pytest.mark.parametrize(
    "district,province", [("อำเภอโนนสูง", "จังหวัดนครราชสีมา"), ("โนนสูง", "นครราชสีมา"), ("อ.โนนสูง", "จ.นครราชสีมา")]
)
def test_an_address_that_names_its_district_and_province_is_not_followed_by_them_again(district, province):
    from lending.loans.documents.common import _address_lines

    settings = {**FULL_ADDRESS, "district": district, "province": province}
    assert _address_lines(settings, "th") == [FULL_ADDRESS["address"]]
    assert _address_lines(settings, "en") == [FULL_ADDRESS["address"]]
    short = {**settings, "address": "เลขที่ 99 หมู่ 5"}
    street, area = _address_lines(short, "th")  # a street line alone still gets its district and province
    assert street == "เลขที่ 99 หมู่ 5" and "โนนสูง" in area and "นครราชสีมา" in area


@pytest.mark.parametrize("document", ["receipt", "demand"])
def test_the_receipt_and_the_letter_print_the_district_and_province_once(document):
    loan = make_loan(THREE[:1])
    data = (
        receipt_pdf(loan, FULL_ADDRESS) if document == "receipt" else demand_letter_pdf(make_demand(loan), FULL_ADDRESS)
    )
    text = squash(flat(data))
    assert text.count("โนนสูง") == 1 and text.count("นครราชสีมา") == 1


def test_a_loan_from_the_paper_ledger_says_who_handed_over_is_not_recorded():
    loan = make_loan(THREE[:1])
    loan.imported, loan.checked_out_by = True, None
    assert_phrases(flat(receipt_pdf(loan, SETTINGS)), ["ส่งมอบพัสดุ", "ไม่ได้บันทึกไว้ในทะเบียนคุม"])
    assert_phrases(flat(receipt_pdf(loan, SETTINGS, "en")), ["not recorded in the ledger"])


# --------------------------------------------------------------------------- compounds stay whole


@pytest.mark.skipif(not thai_pdf._libthai.available, reason="the dictionary breaker is not installed")
@pytest.mark.parametrize(
    "text,pieces",
    [
        ("หน่วยงาน", ["หน่วยงาน"]),
        ("หัวหน้าหน่วยงานอนุมัติ", ["หัวหน้า", "หน่วยงาน", "อนุมัติ"]),
        ("ผู้รับผิดชอบ", ["ผู้รับผิดชอบ"]),
        ("ผลการตรวจสอบ", ["ผล", "การตรวจสอบ"]),
        ("วันที่ส่งคืน", ["วันที่", "ส่งคืน"]),
    ],
)
def test_a_line_never_breaks_inside_a_compound_or_after_a_bound_prefix(text, pieces):
    cuts = (0, *break_opportunities(text), len(text))
    assert [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)] == pieces


def test_a_narrow_header_keeps_its_word_whole():
    doc = ThaiDocument(title="t")
    doc.table(
        [
            Column("ลำดับ", align="C", fit=True),
            Column("หน่วยงาน", fit=True),
            Column("ราคาต่อหน่วย (บาท)", fit=True),
            Column("รายการ", 1.0),
        ],
        [["1", "กอง", "1", "เต็นท์"]],
        size=14,
    )
    lines = [ln.strip() for ln in texts(doc.output())[0].splitlines() if ln.strip()]
    header = lines[0].split()  # the cells of a line, left to right
    assert "หน่วยงาน" in header and "หน่วย" not in header and "งาน" not in " ".join(lines[1:2])
    assert "ราคาต่อหน่วย" in header and lines[1] == "(บาท)"  # the header broke at its space
