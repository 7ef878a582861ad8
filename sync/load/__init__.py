"""Read a planner's sheet (.xlsx/.xlsm/.xlsb, .xls, .ods, .csv/.tsv/.txt) into a LoadedSheet.

The loader finds the sheet and its header row, keeps every non-empty row below the header
with the sheet's own row number and every column (known or not) with its letter, and refuses
a file it cannot use with one sentence (``InputError``, exit code 2).  It does not judge cell
values: that is ``validate.py``'s job.

One module per step: ``detect`` (the file type, by content), ``guards`` (limits checked before
a reader sees the file), ``header`` (the header row), ``text`` (CSV/TSV/TXT), ``workbook``
(xlsx/xls/ods through python-calamine), ``formulaerrors`` (error cells put back) and
``frame`` (the LoadedSheet).
"""

from __future__ import annotations

from pathlib import Path

from sync.load.detect import TEXT_EXTENSIONS, WORKBOOK_EXTENSIONS, check_file, detect_format
from sync.load.header import (
    HEADER_SEARCH_ROWS,
    column_letter,
    describe_required,
    missing_required,
    required_columns,
)
from sync.load.text import load_text
from sync.load.workbook import load_workbook
from sync.model import LoadedSheet

__all__ = ["HEADER_SEARCH_ROWS", "TEXT_EXTENSIONS", "WORKBOOK_EXTENSIONS", "column_letter",
           "describe_required", "load_sheet", "missing_required", "required_columns"]


def load_sheet(path: str | Path, *, sheet: str | None = None) -> LoadedSheet:
    """Read the sheet holding the product-process lines; raises InputError if unusable.

    ``sheet`` names the sheet to read; by default the first sheet whose first
    ``HEADER_SEARCH_ROWS`` rows contain a row with the required columns is used.  What the
    report needs from the workbook beyond the cells (its sheet XML) the report reads itself.
    """
    file = Path(path)
    head = check_file(file)
    file_format = detect_format(file, head)
    if file_format == "csv":
        return load_text(file, sheet)
    return load_workbook(file, file_format, sheet)
