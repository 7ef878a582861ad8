"""100,000-row reports, new and kept, hold every row's cells, and memory does not grow with
the rows.  How fast they are written is measured by ``make bench`` (the report is part of
every no-op plan there), not here."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from sync.model import CellError, LoadedSheet, ReportRow
from sync.report import REPORT_COLUMNS, write_report

COLUMNS = [f"column_{i}" for i in range(12)]


def big_sheet(path: Path, rows: int, *, file_format: str = "csv",
              sheet_name: str | None = None) -> LoadedSheet:
    """12 columns of text; a report read back (xlsx) also has the four report columns."""
    headers = COLUMNS + (list(REPORT_COLUMNS) if file_format == "xlsx" else [])
    frame = pd.DataFrame({c: [f"{c[-2:]}-value-{r}" for r in range(rows)] for c in headers},
                         dtype=object)
    return LoadedSheet(path=path, file_format=file_format, sheet_name=sheet_name, header_row=1,
                       frame=frame, row_numbers=list(range(2, rows + 2)), headers=headers,
                       letters=[chr(65 + i) for i in range(len(headers))], fields={})


def results(rows: int) -> dict[int, ReportRow]:
    statuses = ["unchanged", "would update", "would create", "unchanged"]
    out = {i: ReportRow(statuses[i % 4], f"id-{i}", "x: 1 -> 2" if i % 4 == 1 else "")
           for i in range(rows)}
    for i in range(0, rows, 100):        # one invalid row in a hundred, with a comment
        out[i] = ReportRow("invalid", None, "", "bad",
                           [CellError(i + 2, COLUMNS[3], "D", "line_number must be ...")])
    return out


def test_100k_rows_new_and_kept_workbooks_hold_every_row(tmp_path: Path) -> None:
    rows = 100_000
    source = tmp_path / "big.csv"
    source.write_text("x")
    marks = results(rows)
    new = tmp_path / "big.report.xlsx"
    write_report(big_sheet(source, rows), marks, [], {}, new)
    with CalamineWorkbook.from_path(str(new)) as book:
        grid = book.get_sheet_by_index(0).to_python()
    assert len(grid) == rows + 1
    assert grid[0][12:16] == list(REPORT_COLUMNS)
    assert grid[101][12] == "invalid" and grid[102][12:14] == ["would update", "id-101"]
    assert grid[-1][:1] + grid[-1][12:14] == ["_0-value-99999", "unchanged", "id-99999"]

    # The report is itself a 100,000-row workbook: keep it and report on it again.
    kept = tmp_path / "again.xlsx"
    sheet = big_sheet(new, rows, file_format="xlsx", sheet_name="big")
    write_report(sheet, marks, [], {}, kept, engine="patch")

    with CalamineWorkbook.from_path(str(kept)) as book:
        grid = book.get_sheet_by_name("big").to_python()
    assert len(grid) == rows + 1
    assert grid[-1][0] == "_0-value-99999" and grid[-1][12:14] == ["unchanged", "id-99999"]


def _peak_while_writing(tmp_path: Path, rows: int, engine: str) -> int:
    source = tmp_path / f"{rows}.csv"
    source.write_text("x")
    marks = results(rows)
    sheet = big_sheet(source, rows)
    first = tmp_path / f"{rows}.xlsx"
    write_report(sheet, marks, [], {}, first)
    if engine == "patch":
        sheet = big_sheet(first, rows, file_format="xlsx", sheet_name=str(rows))
    tracemalloc.start()
    try:
        write_report(sheet, marks, [], {}, tmp_path / f"{rows}-{engine}.xlsx", engine=engine)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    """Four times the rows, about the same extra memory: rows are streamed, not held.  Both
    sheets are taller than the blocks each engine writes in (rows for a new workbook, a
    megabyte of the sheet's XML for a kept one)."""
    for engine, rows in (("new", 10_000), ("patch", 3_000)):
        small = _peak_while_writing(tmp_path, rows, engine)
        large = _peak_while_writing(tmp_path, 4 * rows, engine)
        assert large < 1.6 * small + (4 << 20), (engine, small, large)
        assert large < 40 << 20, (engine, large)
