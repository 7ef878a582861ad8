"""An .xlsb sheet's cell span is checked before calamine reads it, as an .xlsx sheet's is:
calamine allocates rows x columns up to the last cell at once, so one stray cell far out
would abort the process.  The check walks the binary records; these files are made with
the fixtures' own .xlsb writer, and one that would abort a reader without the check is
validated in a child process (``validate_driver.py``), so that it could not take pytest down."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from hostile.validate_driver import validate_in_child

from sync import sheetsize
from sync.errors import InputError
from sync.load import guards, load_sheet
from sync.load.guards import MAX_SHEET_CELLS, SPARSE_FROM


def _sheet(fx: ModuleType, extra: dict[tuple[int, int], object]) -> dict[tuple[int, int], object]:
    cells = fx.xlsb_cells([["product_id", "process_id", "line_number"],
                           [fx.PRODUCTS[0], fx.PROCESSES[0], 1]])
    cells.update(extra)
    return cells


def test_a_far_cell_behind_a_record_longer_than_the_read_buffer_is_found(
        tmp_path: Path, fx: ModuleType) -> None:
    """A 1.2 MB text record (its size a multi-byte varint, longer than one read) is skipped
    over, and the stray cell after it still counts."""
    path = tmp_path / "long_then_far.xlsb"
    fx._raw_xlsb(path, _sheet(fx, {(2, 0): "x" * 600_000, (1_048_575, 16_383): "stray"}))
    result = validate_in_child(path)
    assert result["exit_code"] == 2
    assert "spans 1,048,576 rows by 16,384 columns" in result["stderr"]


def test_a_sparse_span_is_refused_and_a_dense_one_of_the_same_height_is_read(
        tmp_path: Path, fx: ModuleType) -> None:
    """As for an .xlsx: past SPARSE_FROM cells a sheet must be filled, under MAX_SHEET_CELLS."""
    rows = SPARSE_FROM // 30 + 1
    assert rows * 31 > SPARSE_FROM and rows * 31 < MAX_SHEET_CELLS
    sparse = tmp_path / "sparse.xlsb"
    fx._raw_xlsb(sparse, _sheet(fx, {(rows - 1, 30): "stray"}))
    with pytest.raises(InputError, match=f"spans {rows:,} rows by 31 columns"):
        load_sheet(sparse)

    dense = tmp_path / "dense.xlsb"
    fx._raw_xlsb(dense, _sheet(fx, {(2, 30): "note"}))
    sheet = load_sheet(dense)
    assert sheet.file_format == "xlsb" and sheet.row_numbers == [2, 3]


def test_binary_parts_that_hold_no_records_are_not_read_as_sheets(
        tmp_path: Path, fx: ModuleType) -> None:
    """Printer settings and a macro project are binary blobs, not records: bytes in them that
    would read as a row header and a cell far out do not make the workbook refused."""
    far = b"\x00\x04\xff\xff\x0f\x00" + b"\x01\x08\xff\x3f\x00\x00\x00\x00\x00\x00"
    path = tmp_path / "with_blobs.xlsb"
    fx._raw_xlsb(path, _sheet(fx, {}), blobs={
        "xl/printerSettings/printerSettings1.bin": (None, far * 4),
        "xl/vbaProject.bin": ("http://schemas.microsoft.com/office/2006/relationships/vbaProject",
                              b"\xd0\xcf\x11\xe0" + far * 4)})
    sheet = load_sheet(path)
    assert sheet.file_format == "xlsb" and sheet.row_numbers == [2]


def test_a_sheet_whose_relationship_says_macro_project_is_still_checked(
        tmp_path: Path, fx: ModuleType) -> None:
    """calamine reads the part a sheet entry of the workbook names, whatever type its
    relationship gives: a far cell in a sheet whose relationship calls it the macro project
    (with printer settings beside it, so that other binary parts are linked) is refused, not
    left to abort the reader."""
    path = tmp_path / "sheet_typed_as_macros.xlsb"
    fx._raw_xlsb(path, _sheet(fx, {(1_048_575, 16_383): "stray"}),
                 sheet_type="http://schemas.microsoft.com/office/2006/relationships/vbaProject",
                 blobs={"xl/printerSettings/printerSettings1.bin": (
                     f"{fx._REL_NS}/printerSettings", b"\x00" * 64)})
    result = validate_in_child(path)
    assert result["exit_code"] == 2
    assert "spans 1,048,576 rows by 16,384 columns" in result["stderr"]


def test_a_shared_string_shown_by_many_cells_counts_once_per_cell(
        tmp_path: Path, fx: ModuleType) -> None:
    """The reader makes a copy of a shared string for each cell showing it: one 1 MB string
    shown by 1,100 cells (a 10 KB file) is more than a gigabyte of text, refused before it is
    read, as the same .xlsx is."""
    header = {(0, 3): "description"}
    bomb = tmp_path / "one_string_many_cells.xlsb"
    fx._raw_xlsb(bomb, _sheet(fx, {**header, **{(row, 3): fx.XlsbShared(0)
                                               for row in range(1, 1_101)}}),
                 shared_strings=["y" * 2**20])
    assert bomb.stat().st_size < 100_000
    with pytest.raises(InputError, match="cells hold more than 64 MB of text"):
        load_sheet(bomb)

    few = tmp_path / "one_string_few_cells.xlsb"
    fx._raw_xlsb(few, _sheet(fx, {**header, (1, 3): fx.XlsbShared(1)}),
                 shared_strings=["y" * 2**20, "Deburr before painting"])
    sheet = load_sheet(few)
    assert sheet.cells(sheet.fields["description"]) == ["Deburr before painting"]


def test_more_shared_strings_than_the_limit_are_refused(
        tmp_path: Path, fx: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guards, "MAX_SHARED_STRINGS", 2)
    monkeypatch.setattr(sheetsize, "MAX_SHARED_STRINGS", 2)   # the sentence's figure
    path = tmp_path / "many_strings.xlsb"
    fx._raw_xlsb(path, _sheet(fx, {}), shared_strings=["a", "b", "c"])
    with pytest.raises(InputError, match="holds more than 2 shared strings"):
        load_sheet(path)
