"""The .xls workbook stream as the guards read it (``sync.load.xls``): the shared-string
table, whose strings may run over several CONTINUE records, and the sheet list."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import python_calamine

from sync.errors import InputError
from sync.load import guards, load_sheet, xls

DATA = Path(__file__).resolve().parents[1] / "data"


def _texts_calamine_reads(path: Path) -> set[str]:
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {value for name in book.sheet_names
            for row in book.get_sheet_by_name(name).to_python()
            for value in row if isinstance(value, str) and value}


@pytest.mark.parametrize("name", ["routing_lo.xls", "bad/shared_text_bomb.xls"])
def test_the_shared_strings_are_the_texts_of_the_cells(name: str) -> None:
    """LibreOffice keeps each distinct text of a sheet without formulas once in the table: its
    lengths are those of the texts calamine reads.  The bomb's text of 32,767 characters
    runs over several CONTINUE records, and the strings after it are still found."""
    path = DATA / name
    workbook, biff8 = xls.workbook_stream(xls.Ole(path.read_bytes()))
    lengths = list(xls.shared_string_lengths(workbook))
    assert biff8
    assert sorted(lengths) == sorted(map(len, _texts_calamine_reads(path)))


def test_the_sheets_are_listed_with_their_substreams() -> None:
    path = DATA / "routing_lo.xls"
    workbook, biff8 = xls.workbook_stream(xls.Ole(path.read_bytes()))
    sheets = xls.sheet_offsets(workbook, biff8)
    names = python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names
    assert [name for name, _ in sheets] == names
    for _, offset in sheets:   # each offset is a BOF record
        assert workbook[offset:offset + 2] == b"\x09\x08"


def _record(kind: int, data: bytes) -> bytes:
    return struct.pack("<HH", kind, len(data)) + data


def test_blank_cells_do_not_stretch_a_sheet_but_values_do() -> None:
    """calamine holds a sheet from its first cell to its last, and leaves out cells without
    a value (a border or a colour: BLANK, MULBLANK), so they are no far cell; a number there
    is one, and each number of a MULRK is a cell."""
    cells = (_record(0x00FD, struct.pack("<HHHI", 1, 2, 0, 0))        # LABELSST at C2
             + _record(0x0201, struct.pack("<HHH", 65_535, 255, 15))   # BLANK at IV65536
             + _record(0x00BE, struct.pack("<HHHHH", 65_535, 250, 15, 15, 251)))  # MULBLANK
    sheet = _record(0x0809, bytes(16)) + cells + _record(0x000A, b"")
    span = guards._xls_span(sheet, 0, [7])
    assert (span.rows, span.columns, span.held, span.text) == (1, 1, 1, 7)

    numbers = _record(0x00BD, struct.pack("<HH", 9, 0) + bytes(6 * 4) + struct.pack("<H", 3))
    far = (_record(0x0809, bytes(16)) + cells + numbers
           + _record(0x0203, struct.pack("<HHHd", 65_535, 255, 15, 1.0)) + _record(0x000A, b""))
    span = guards._xls_span(far, 0, [7])
    assert (span.rows, span.columns, span.held) == (65_535, 256, 6)   # rows 2 to 65,536


def test_a_far_cell_alone_on_another_sheet_spans_nothing() -> None:
    """A notes sheet whose one value is at IV65536 is one cell for calamine (it holds a sheet
    from its first cell): the lines load, and the notes sheet reads as one without a header."""
    path = DATA / "routing_far_notes_lo.xls"
    sheet = load_sheet(path)
    assert sheet.sheet_name == "Routing" and sheet.row_numbers == [2]
    with pytest.raises(InputError, match='sheet "Notes" has no row with the required columns'):
        load_sheet(path, sheet="Notes")
