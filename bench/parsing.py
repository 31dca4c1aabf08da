"""Bounded parsing (issue 11): the CPU it takes to refuse each hostile file, and what openpyxl alone spends.

    .venv/bin/python bench/parsing.py [--skip-before]

Each figure is time.process_time() of this process (CPU, not wall clock) around one call: the asset
import's reader (lending.register.importing.read_table, what the upload page, the CLI and the import job call) and
the upload rules of the file store (core.files.check_upload, what evidence and incident uploads call).
"Before" is openpyxl's own load_workbook(read_only=True) on the same kind of file, without the checks,
at a tenth of the size for the shared strings (3 million take about 80 s; the cost is linear).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.db import DomainError  # noqa: E402
from core.documents.archives import Limits  # noqa: E402
from core.files import DOCX, XLSX, check_upload  # noqa: E402
from lending.register.importing import read_table  # noqa: E402
from tests import bombs  # noqa: E402


def cpu(call) -> tuple[float, str]:
    started = time.process_time()
    try:
        call()
        outcome = "accepted"
    except DomainError as err:
        outcome = str(err)
    return time.process_time() - started, outcome


def before(data: bytes) -> float:
    """openpyxl alone: load the workbook read-only and read the first sheet's first row."""
    from openpyxl import load_workbook

    started = time.process_time()
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    next(book.worksheets[0].iter_rows(values_only=True), None)
    book.close()
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-before", action="store_true", help="do not run openpyxl on the bombs")
    args = parser.parse_args()
    import openpyxl  # noqa: F401  (imported once before the timings, as the app has it after the first import)

    print(f"limits (defaults): {Limits.from_config({})}")
    files = {
        "shared strings bomb, 3,000,000 strings": bombs.shared_strings_bomb(),
        "1,200,000 distinct shared strings (compresses little)": bombs.distinct_shared_strings(),
        "zip of 20 entries of 9.9 MB (zeros)": bombs.many_big_entries_zip(),
        "workbook of 10,000 sheets": bombs.many_sheets_workbook(),
        "DOCX bomb (4,000,000 empty paragraphs)": bombs.docx_document_bomb(),
        "normal workbook, 2 rows": bombs.normal_workbook([["asset_number", "name", "category"], ["1", "a", "b"]]),
    }
    for name, data in files.items():
        expanded = sum(i.file_size for i in __import__("zipfile").ZipFile(io.BytesIO(data)).infolist())
        t_import, said = cpu(lambda data=data: read_table(data, "file.xlsx"))
        t_upload, said_upload = cpu(lambda data=data: check_upload(data, allowed={DOCX, XLSX}, max_bytes=25 << 20))
        print(
            f"- {name}: {len(data) / 1024:,.0f} KiB, {expanded / (1 << 20):,.1f} MB unpacked — import reader "
            f"{t_import * 1000:.1f} ms CPU, upload check {t_upload * 1000:.1f} ms CPU; said: {said}"
            + (f" / upload: {said_upload}" if said_upload != said else "")
        )
    if not args.skip_before:
        tenth = bombs.shared_strings_bomb(300_000)
        print(
            f"- before (openpyxl alone), shared strings bomb at 300,000 strings ({len(tenth) / 1024:,.0f} KiB): "
            f"{before(tenth):.2f} s CPU"
        )
        print(
            f"- before (openpyxl alone), workbook of 10,000 sheets: {before(files['workbook of 10,000 sheets']):.2f}"
            " s CPU"
        )


if __name__ == "__main__":
    main()
