"""A block's cells built column by column: every kind of text gets the cell its rule gives."""

from __future__ import annotations

import pyarrow as pa

from sync.report.cells import RowStyles, value_cell
from sync.report.columncells import column_cells, rows_xml

STYLES = RowStyles(3, 4, 5, 6, 7)


def cells_of(values: list[str | None], *, attrs: str = ' s="3"', forced=()) -> list[str]:
    rows = pa.array([str(n) for n in range(2, 2 + len(values))])
    calls: list[int] = []

    def fallback(at: int, value: object, ref: str) -> str:
        calls.append(at)
        return value_cell(ref, value, STYLES)

    cells = column_cells("B", pa.array(values, pa.string()), rows,
                         pa.array([attrs] * len(values)), fallback, forced)
    cells_of.fallbacks = calls
    return cells.to_pylist()


def test_plain_text_and_blanks_are_joined_from_the_column():
    assert cells_of(["PRD-100", "", None, "a b"]) == [
        '<c r="B2" s="3" t="inlineStr"><is><t>PRD-100</t></is></c>',
        '<c r="B3" s="3"/>', '<c r="B4" s="3"/>',
        '<c r="B5" s="3" t="inlineStr"><is><t>a b</t></is></c>']
    assert cells_of.fallbacks == []
    assert cells_of(["", None], attrs="") == ["", ""]


def test_every_other_text_goes_through_the_cell_rules():
    tricky = ["=SUM(A1)", "-3", "@home", "a&b", "<b>", " lead", "trail ", "_x0041_", "Müller",
              "tab\there", "\u2212minus"]
    cells = cells_of(tricky)
    assert cells_of.fallbacks == list(range(len(tricky)))
    assert cells == [value_cell(f"B{n}", v, STYLES) for n, v in enumerate(tricky, 2)]
    assert cells[0] == '<c r="B2" s="4" t="inlineStr"><is><t>=SUM(A1)</t></is></c>'
    assert cells[3] == '<c r="B5" s="3" t="inlineStr"><is><t>a&amp;b</t></is></c>'


def test_forced_rows_take_the_fallback_even_when_plain():
    cells_of(["ok", "ok", "ok"], forced={1})
    assert cells_of.fallbacks == [1]


def test_values_that_are_not_text_are_written_one_by_one():
    rows = pa.array(["2", "3"])
    cells = column_cells("C", [1.5, None], rows, pa.array(["", ""]),
                         lambda at, v, ref: value_cell(ref, v, RowStyles(0, 0, 0, 0, 0)))
    assert cells.to_pylist() == ['<c r="C2"><v>1.5</v></c>', ""]
    assert rows_xml(rows, [cells]) == (b'<row r="2"><c r="C2"><v>1.5</v></c></row>'
                                       b'<row r="3"></row>')
