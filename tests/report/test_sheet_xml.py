"""The data sheet's XML cut into blocks of rows for the report (sync.report.sheetxml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.report import sheetxml

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.parametrize("text, cut", [
    ('<row r="2"><c r="A2"><v>1</v></c></row><row r="3"><c r="B3"><v>2</v></c></row>', True),
    ('<row r="2" spans="1:2"><c r="A2"><v>1</v></c></row>', True),
    ('<row r="2"><c><v>1</v></c></row>', False),                  # a cell without its r
    ('<row r="2"/><row r="3"><c r="A3"><v>1</v></c></row>', False),   # an empty row element
    ('<row spans="1:2" r="2"><c r="A2"><v>1</v></c></row>', False),   # r not first
    ('<row r="2"><c r="A2" t="inlineStr"><is><t><![CDATA[x]]></t></is></c></row>', False),
])
def test_only_blocks_of_the_usual_shape_are_cut(text: str, cut: bool) -> None:
    block = sheetxml.row_block(text)
    assert (block.source is None) is cut
    if cut:
        assert block.numbers[0] == "2" and "A" in block.letters
        assert block.text == text.replace(' spans="1:2"', "")
    else:
        assert block.text == text


def _rows(first: int, count: int, cells: str = "ABC") -> str:
    return "".join(f'<row r="{n}">' + "".join(f'<c r="{c}{n}"><v>{n}</v></c>' for c in cells)
                   + "</row>" for n in range(first, first + count))


@pytest.mark.parametrize("late_row, letters, cut", [
    ('<row r="900"><c r="AB900"><v>1</v></c></row>', {"A", "B", "C", "AB"}, True),
    ('<row r="900"><c r="D900"><v>1</v></c></row>', {"A", "B", "C", "D"}, True),
    ('<row r="900"><c r="A900"/><c s="1"/></row>', None, False),    # no reference, far down
    ('<row r="900"><c  r="A900"><v>1</v></c></row>', None, False),  # spelled unusually
    ('<row r="900"><c r="B900"><v>1</v></c></row>', {"A", "B", "C"}, True),
])
def test_the_columns_of_every_row_are_seen(late_row: str, letters: set[str] | None,
                                           cut: bool) -> None:
    """Letters are taken from the block's first rows, then one search looks for a cell
    outside them: a column, or a cell without a reference, met only far down still counts."""
    text = _rows(2, 400) + late_row + _rows(901, 400)
    assert len(_rows(2, 400)) > sheetxml._LETTERS_SAMPLE
    block = sheetxml.row_block(text)
    assert (block.source is None) is cut
    if cut:
        assert block.letters == letters
