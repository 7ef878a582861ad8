"""The data sheet's XML, read ahead while calamine parses the workbook (sync.sheetxml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import sheetxml
from sync.load import load_sheet

DATA = Path(__file__).resolve().parent.parent / "data"


def test_the_loader_cuts_the_rows_it_read(tmp_path: Path) -> None:
    sheet = load_sheet(DATA / "routing_xlsxwriter.xlsx", keep_xml=True)
    assert sheet.xml is not None
    numbers = [int(n) for block in sheet.xml.blocks for n in block.numbers]
    assert set(sheet.row_numbers) <= set(numbers) and numbers == sorted(numbers)
    assert all(block.source is None for block in sheet.xml.blocks)    # the usual shape
    assert "spans=" not in "".join(block.text for block in sheet.xml.blocks)
    assert sheet.xml.head.startswith("<?xml") and sheet.xml.tail.endswith("</worksheet>")


def test_nothing_is_kept_unless_asked_or_beyond_the_limit(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    assert load_sheet(DATA / "routing_lo.xlsx").xml is None
    assert load_sheet(DATA / "routing.tsv", keep_xml=True).xml is None      # not a workbook
    monkeypatch.setattr(sheetxml, "READ_AHEAD_MAX_BYTES", 1000)
    assert load_sheet(DATA / "routing_lo.xlsx", keep_xml=True).xml is None
    with pytest.raises(ValueError, match="too large"):
        sheetxml.read_sheet_xml(DATA / "routing_lo.xlsx", "xl/worksheets/sheet1.xml")


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
