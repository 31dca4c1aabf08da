"""Files made for people and read from them: the Thai text engine (thai), the PDF document builder (pdf, with
the layout of its building blocks in pdf_blocks), fonts embedded in DOCX (docx_fonts), CSV and XLSX
exports (exports), and bounded reading of ZIP-based office files (archives).

May import core's top modules (config, db, dates) only; never core.web, core.people, audit, lending or
evidence.
"""
