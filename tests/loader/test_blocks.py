"""A workbook's rows are taken into columns a block at a time: what one block decides (a
column's type, which header-less columns stay, where a formula error goes) holds for the
whole sheet.  The blocks are made three rows long here, so that a small sheet spans several."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from sync import validate
from sync.load import load_sheet, workbook

PRODUCT = "a0000001-0000-4000-8000-00000000000{}"
PROCESS = "b0000001-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def three_row_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workbook, "BLOCK_ROWS", 3)


def _book(path: Path, rows: list[list[object]], *, at: str = "A1") -> Path:
    book = Workbook()
    sheet = book.active
    column = ord(at[0]) - ord("A")
    first = int(at[1:])
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.cell(first + r, column + c + 1, value)
    book.save(path)
    return path


HEADER = ["product_id", "process_id", "line_number", "description"]


def test_rows_keep_their_numbers_and_blank_rows_drop_across_blocks(tmp_path: Path) -> None:
    rows = [HEADER] + [[PRODUCT.format(n), PROCESS, n, f"line {n}"] for n in range(1, 4)]
    rows += [[None] * 4, [None] * 4]
    rows += [[PRODUCT.format(n), PROCESS, n, f"line {n}"] for n in range(4, 9)]
    sheet = load_sheet(_book(tmp_path / "blocks.xlsx", rows))
    assert sheet.row_numbers == [2, 3, 4, 7, 8, 9, 10, 11]
    assert sheet.frame["description"].tolist() == [f"line {n}" for n in range(1, 9)]
    assert sheet.frame["line_number"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_column_text_in_one_block_and_numbers_in_another_keeps_each_cells_type(
        tmp_path: Path) -> None:
    rows = [HEADER] + [[PRODUCT.format(n), PROCESS, str(n), "x"] for n in range(1, 4)]
    rows += [[PRODUCT.format(n), PROCESS, n + 0.5, "x"] for n in range(4, 6)]
    sheet = load_sheet(_book(tmp_path / "mixed.xlsx", rows))
    assert sheet.frame["line_number"].tolist() == ["1", "2", "3", 4.5, 5.5]
    assert str(sheet.frame["description"].dtype) == "string"  # all text: Arrow strings
    problems = validate.validate(sheet).problems
    assert [e.message for errors in problems.values() for e in errors] == [
        'line_number must be a positive whole number, got "4.5"',
        'line_number must be a positive whole number, got "5.5"']


def test_a_headerless_column_with_a_value_only_in_a_later_block_is_kept(
        tmp_path: Path) -> None:
    rows = [HEADER + [None]] + [[PRODUCT.format(n), PROCESS, n, "x", None] for n in range(1, 6)]
    rows[5][4] = "note"
    sheet = load_sheet(_book(tmp_path / "note.xlsx", rows))
    assert sheet.headers[-1] == ""
    assert sheet.frame.iloc[:, -1].tolist() == ["", "", "", "", "note"]


def test_a_table_not_starting_at_a1_reads_its_cells_in_their_columns(tmp_path: Path) -> None:
    rows = [HEADER] + [[PRODUCT.format(n), PROCESS, n, f"d{n}"] for n in range(1, 6)]
    sheet = load_sheet(_book(tmp_path / "offset.xlsx", rows, at="C4"))
    assert sheet.letters[sheet.fields["product_id"]] == "C"
    assert sheet.row_numbers == [5, 6, 7, 8, 9]
    assert sheet.frame["description"].tolist() == [f"d{n}" for n in range(1, 6)]


def test_a_formula_error_in_a_later_block_is_put_back_in_its_cell(tmp_path: Path) -> None:
    rows = [HEADER] + [[PRODUCT.format(n), PROCESS, n, "x"] for n in range(1, 7)]
    rows[5][2] = "#N/A"   # row 6: the second block
    sheet = load_sheet(_book(tmp_path / "error.xlsx", rows))
    assert sheet.frame["line_number"].tolist() == [1, 2, 3, 4, "#N/A", 6]
    problems = validate.validate(sheet).problems
    assert [str(e) for errors in problems.values() for e in errors] == [
        "C6: line_number shows the error #N/A (a formula that failed): fix the formula or "
        "type the value"]
