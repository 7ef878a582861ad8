"""The building blocks: cell text, column letters, styles, XML editing, status colours."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from sync.report import cells, palette, xmlscan
from sync.report.content import report_columns, server_only_columns
from sync.report.parts import sheet_name_from
from sync.report.styles import StyleBook

PLAIN = cells.RowStyles(plain=0, quoted=7, date=8, datetime=9, time=10)


@pytest.mark.parametrize(("index", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (52, "AZ"),
                                                (703, "AAA"), (16_384, "XFD")])
def test_column_letters_both_ways(index: int, letters: str) -> None:
    assert cells.column_letter(index) == letters
    assert cells.column_index(letters) == index


def test_escape_text() -> None:
    assert cells.escape_text("a & b < c > d") == "a &amp; b &lt; c &gt; d"
    assert cells.escape_text("line\r\nnext") == "line&#13;\nnext"
    assert cells.escape_text("nul\x00bell\x07") == "nul_x0000_bell_x0007_"
    assert cells.escape_text("looks like _x0041_") == "looks like _x005F_x0041_"
    long = cells.escape_text("x" * 40_000)
    assert len(long) == cells.MAX_CELL_TEXT and long.endswith("[truncated]")


def test_text_cells_are_inline_strings_never_formulas() -> None:
    assert cells.value_cell("A1", "=1+2", PLAIN) == (
        '<c r="A1" s="7" t="inlineStr"><is><t>=1+2</t></is></c>')
    assert cells.value_cell("A1", " padded", PLAIN) == (
        '<c r="A1" t="inlineStr"><is><t xml:space="preserve"> padded</t></is></c>')
    assert cells.value_cell("A1", "", PLAIN) == "" and cells.value_cell("A1", None, PLAIN) == ""


@pytest.mark.parametrize(("value", "xml"), [
    (5, '<c r="A1"><v>5</v></c>'),
    (2.5, '<c r="A1"><v>2.5</v></c>'),
    (Decimal("2.50"), '<c r="A1"><v>2.5</v></c>'),
    (True, '<c r="A1" t="b"><v>1</v></c>'),
    (10**16, '<c r="A1" t="inlineStr"><is><t>10000000000000000</t></is></c>'),
    (float("inf"), '<c r="A1" t="inlineStr"><is><t>inf</t></is></c>'),
    (float("nan"), ""),
    (dt.date(2024, 3, 1), '<c r="A1" s="8"><v>45352.0</v></c>'),
    (dt.datetime(2024, 3, 1, 12), '<c r="A1" s="9"><v>45352.5</v></c>'),
    (dt.time(6), '<c r="A1" s="10"><v>0.25</v></c>'),
    (dt.date(1899, 1, 1), '<c r="A1" t="inlineStr"><is><t>1899-01-01</t></is></c>'),
])
def test_values_keep_their_kind(value, xml: str) -> None:
    assert cells.value_cell("A1", value, PLAIN) == xml


def test_status_shades() -> None:
    assert palette.shade_of("would create") is palette.GREEN
    assert palette.shade_of("Created") is palette.GREEN
    assert palette.shade_of("would  update") is palette.BLUE
    assert palette.shade_of("deleted") is palette.ORANGE
    assert palette.shade_of("conflict") is palette.shade_of("failed") is palette.RED
    assert palette.shade_of("left alone") is palette.shade_of("skipped") is palette.YELLOW
    assert palette.shade_of("") is None and palette.shade_of("mystery") is None


def test_report_columns_are_appended_or_reused() -> None:
    assert report_columns({1: "id", 2: "Notes"}, 2) == {
        "sync_status": 3, "sync_id": 4, "sync_changes": 5, "sync_message": 6}
    # Already there (any spelling the loader accepts), wherever they are.
    assert report_columns({1: "Sync Status", 2: "id", 5: "sync-id"}, 7) == {
        "sync_status": 1, "sync_id": 5, "sync_changes": 8, "sync_message": 9}


def test_server_only_columns_follow_the_schema() -> None:
    from sync.model import ServerOnlyRow

    records = [ServerOnlyRow({"line_number": 1, "zzz": 1, "id": "x"}, "deleted"),
               ServerOnlyRow({"product_id": "p", "description": None}, "left alone")]
    assert server_only_columns(records) == ["id", "product_id", "line_number", "sync_status",
                                            "sync_message"]


def test_sheet_names_are_valid_and_unique() -> None:
    assert sheet_name_from("routing [v2]: plan?") == "routing v2 plan"
    assert sheet_name_from("a" * 40) == "a" * 31
    assert sheet_name_from("Summary", ["summary"]) == "Summary (2)"
    assert sheet_name_from("Summary", ["Summary", "Summary (2)"]) == "Summary (3)"
    assert sheet_name_from("''") == "Data"


STYLES = (
    '<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac" '
    'mc:Ignorable="x14ac" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/'
    '2006"><fonts count="1" x14ac:knownFonts="1"><font><sz val="11"/><name val="Aptos"/>'
    '</font></fonts><fills count="3"><fill><patternFill patternType="none"/></fill><fill>'
    '<patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid">'
    '<fgColor rgb="FFFFFF00"/></patternFill></fill></fills><borders count="1"><border/>'
    '</borders><cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '<xf numFmtId="2" fontId="0" fillId="2" borderId="0" applyFill="1"><alignment '
    'wrapText="1"/></xf></cellXfs></styleSheet>')


def test_a_planners_stylesheet_only_grows() -> None:
    book = StyleBook(STYLES)
    assert book.planner_filled(1) and not book.planner_filled(0)
    shaded = book.derive(0, fill="EBF7E3")
    assert book.derive(0, fill="EBF7E3") == shaded == 2          # made once, reused
    bold = book.bold_font()
    quoted = book.derive(1, fill=None, quote=True)
    date = book.num_fmt("yyyy-mm-dd")
    xml = book.xml()
    assert xml.startswith(STYLES[: STYLES.index("<fonts")])       # namespaces kept as written
    assert '<fonts x14ac:knownFonts="1" count="2">' in xml
    assert '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>' in xml
    assert xml.index("<numFmts") < xml.index("<fonts")
    assert '<cellXfs count="4">' in xml and '<fills count="4">' in xml
    assert (bold, quoted, date) == (1, 3, 164)
    # The derived style keeps the planner's number format and alignment.
    assert ('<xf numFmtId="2" fontId="0" borderId="0" fillId="0" quotePrefix="1">'
            '<alignment wrapText="1"/></xf>') in xml
    assert book.fill_colour(shaded) == "EBF7E3" and not book.planner_filled(shaded)


def test_xml_children_and_ordered_insertion() -> None:
    tail = ('<mergeCells count="1"><mergeCell ref="A1:B1"/></mergeCells>'
            '<conditionalFormatting sqref="A1"><cfRule type="expression"><formula>A1&gt;5'
            '</formula><extLst><ext/></extLst></cfRule></conditionalFormatting>'
            '<pageMargins left="0.7"/><tableParts count="1"><tablePart r:id="rId1"/>'
            '</tableParts>')
    assert [c.name for c in xmlscan.children(tail)] == [
        "mergeCells", "conditionalFormatting", "pageMargins", "tableParts"]
    with_filter = xmlscan.insert_in_order(tail, '<autoFilter ref="A1:B2"/>', "autoFilter",
                                          xmlscan.WORKSHEET_ORDER)
    assert with_filter.startswith('<autoFilter ref="A1:B2"/><mergeCells')
    with_drawing = xmlscan.insert_in_order(tail, "<legacyDrawing/>", "legacyDrawing",
                                           xmlscan.WORKSHEET_ORDER)
    # Not inside conditionalFormatting (whose extLst comes later in the schema order).
    assert with_drawing.index("<legacyDrawing/>") == with_drawing.index("<tableParts")\
        - len("<legacyDrawing/>")
    assert xmlscan.remove_children(tail, {"pageMargins", "mergeCells"}).startswith(
        "<conditionalFormatting")
    assert xmlscan.attrs('<pane xSplit="2" state=\'frozen\' topLeftCell="C2"/>') == {
        "xSplit": "2", "state": "frozen", "topLeftCell": "C2"}
