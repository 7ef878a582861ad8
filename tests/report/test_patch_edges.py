"""Workbooks shaped unlike the usual writers' output: the patcher copes or hands over to
openpyxl, and the report comes out right either way."""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import (
    BLUE,
    BLUE_STRONG,
    DATA,
    GREY_STRONG,
    HEADERS,
    IDS,
    INVALID,
    assert_sound_package,
    fill_of,
    loaded_sheet,
    parts,
    report_rows,
)

from sync.model import ReportRow
from sync.report import write_report

SHEET = "xl/worksheets/sheet1.xml"


def rewrite(source: Path, target: Path, changes: dict[str, Callable[[str], str]],
            extra: dict[str, str] | None = None) -> Path:
    """A copy of a workbook with some parts' XML edited (and some parts added)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename in changes:
                data = changes[item.filename](data.decode()).encode()
            new.writestr(item, data)
        for name, text in (extra or {}).items():
            new.writestr(name, text)
    return target


def _add_to_row(xml: str, row: int, cell: str) -> str:
    """The sheet XML with a cell appended to one row (after its last cell)."""
    found = re.search(rf'<row r="{row}"[^>]*>.*?(</row>)', xml, re.S)
    assert found is not None
    return xml[:found.start(1)] + cell + xml[found.start(1):]


def test_cells_in_unusual_shapes_take_the_general_path(planner_xlsx: Path) -> None:
    """Style after type, and cells without a reference: still one style per cell."""
    def reshape(xml: str) -> str:
        xml = re.sub(r'<c r="([A-Z]+)(6)" s="(\d+)" t="(\w+)"', r'<c r="\1\2" t="\4" s="\3"', xml)
        return xml.replace('<c r="A9" ', "<c ").replace('<c r="B9" ', "<c ")

    odd = rewrite(planner_xlsx, planner_xlsx.with_name("odd.xlsx"), {SHEET: reshape})
    assert '<c t="' in parts(odd)[SHEET].decode()  # the rewrite did happen
    out = write_report(loaded_sheet(odd), report_rows(), [], {}, odd.with_name("out.xlsx"),
                       engine="patch")
    assert_sound_package(out)                       # a duplicated attribute would not parse
    ws = load_workbook(out)["Routing"]
    assert (ws["A9"].value, ws["B9"].value) == (IDS[3], DATA[3][1])
    assert (fill_of(ws["B6"]), fill_of(ws["J6"]), ws["J6"].value) == (BLUE, BLUE_STRONG,
                                                                     "updated")


def test_a_column_beyond_the_loaded_ones_is_never_overwritten(planner_xlsx: Path) -> None:
    """A column the loader did not hand over (no header) still holds values: the report
    columns go after it."""
    def add_column(xml: str) -> str:
        xml = _add_to_row(xml, 6, '<c r="K6" t="inlineStr"><is><t>stray</t></is></c>')
        return xml.replace('ref="A1:I10"', 'ref="A1:K10"')

    stray = rewrite(planner_xlsx, planner_xlsx.with_name("stray.xlsx"), {SHEET: add_column})
    with zipfile.ZipFile(stray) as package:
        assert b"stray" in package.read(SHEET)
    out = write_report(loaded_sheet(stray), report_rows(), [], {}, stray.with_name("out.xlsx"),
                       engine="patch")
    ws = load_workbook(out)["Routing"]
    assert ws["K6"].value == "stray"
    assert [c.value for c in ws[4]][11:15] == ["sync_status", "sync_id", "sync_changes",
                                               "sync_message"]
    assert ws["L5"].value == "unchanged" and ws.auto_filter.ref == "A4:O10"


def test_a_row_the_file_lacks_is_added(planner_xlsx: Path) -> None:
    sheet = loaded_sheet(planner_xlsx, data=[*DATA, ["x"] * 9],
                         row_numbers=[5, 6, 7, 9, 10, 12])
    rows = report_rows() | {5: ReportRow("invalid", None, "", "nothing here")}
    out = write_report(sheet, rows, [], {}, planner_xlsx.with_name("out.xlsx"), engine="patch")
    ws = load_workbook(out)["Routing"]
    assert (ws["J12"].value, ws["M12"].value) == ("invalid", "nothing here")
    assert ws.auto_filter.ref == "A4:M12"
    assert_sound_package(out)


def test_formulas_replaced_in_old_report_columns_drop_the_calc_chain(planner_xlsx: Path) -> None:
    def formula_column(xml: str) -> str:
        return _add_to_row(_add_to_row(xml, 4, '<c r="J4" t="inlineStr"><is><t>sync_status'
                                               "</t></is></c>"),
                           5, '<c r="J5"><f>1+1</f><v>2</v></c>')

    def register(text: str, what: str) -> str:
        return text.replace("</Relationships>", what + "</Relationships>") \
            if "Relationships" in text else text.replace("</Types>", what + "</Types>")

    calc = rewrite(planner_xlsx, planner_xlsx.with_name("calc.xlsx"), {
        SHEET: formula_column,
        "xl/_rels/workbook.xml.rels": lambda t: register(
            t, '<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/'
               '2006/relationships/calcChain" Target="calcChain.xml"/>'),
        "[Content_Types].xml": lambda t: register(
            t, '<Override PartName="/xl/calcChain.xml" ContentType="application/vnd.openxml'
               'formats-officedocument.spreadsheetml.calcChain+xml"/>'),
    }, extra={"xl/calcChain.xml": '<calcChain xmlns="http://schemas.openxmlformats.org/'
                                  'spreadsheetml/2006/main"><c r="J5" i="1"/></calcChain>'})
    headers = [*HEADERS, "sync_status"]
    data = [[*row, None] for row in DATA]
    sheet = loaded_sheet(calc, headers=headers, data=data)
    out = write_report(sheet, report_rows(), [], {}, calc.with_name("out.xlsx"), engine="patch")
    package = parts(out)
    assert "xl/calcChain.xml" not in package and b"calcChain" not in package[
        "xl/_rels/workbook.xml.rels"] and b"calcChain" not in package["[Content_Types].xml"]
    ws = load_workbook(out)["Routing"]
    assert ws["J5"].value == "unchanged" and ws["J5"].data_type == "s"
    assert [c.value for c in ws[4]][9:13] == ["sync_status", "sync_id", "sync_changes",
                                              "sync_message"]
    assert_sound_package(out)


def test_frozen_columns_stay_frozen(planner_xlsx: Path) -> None:
    frozen = rewrite(planner_xlsx, planner_xlsx.with_name("frozen.xlsx"), {SHEET: lambda x: re.sub(
        r"<pane [^>]*/>", '<pane xSplit="2" ySplit="1" topLeftCell="C2" activePane='
                          '"bottomRight" state="frozen"/>', x)})
    out = write_report(loaded_sheet(frozen), report_rows(), [], {}, frozen.with_name("o.xlsx"),
                       engine="patch")
    assert load_workbook(out)["Routing"].freeze_panes == "C5"


def test_a_bare_worksheet_gets_views_widths_and_filter(planner_xlsx: Path) -> None:
    def strip(xml: str) -> str:
        for name in ("sheetViews", "cols", "dataValidations"):
            xml = re.sub(rf"<{name}\b.*?</{name}>", "", xml, flags=re.S)
        return re.sub(r"<dimension [^>]*/>", "", xml)

    bare = rewrite(planner_xlsx, planner_xlsx.with_name("bare.xlsx"), {SHEET: strip})
    out = write_report(loaded_sheet(bare), report_rows(), [], {}, bare.with_name("o.xlsx"),
                       engine="patch")
    assert_sound_package(out)
    ws = load_workbook(out)["Routing"]
    assert ws.freeze_panes == "A5" and ws.auto_filter.ref == "A4:M10"
    assert ws.column_dimensions["K"].width >= len(IDS[0])
    assert (fill_of(ws["J5"]), ws["J5"].value) == (GREY_STRONG, "unchanged")


def test_form_controls_hand_over_to_openpyxl(planner_xlsx: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    vml = next(n for n in parts(planner_xlsx) if n.endswith(".vml"))
    boxes = rewrite(planner_xlsx, planner_xlsx.with_name("boxes.xlsx"),
                    {vml: lambda x: x.replace('ObjectType="Note"', 'ObjectType="Checkbox"')})
    with caplog.at_level(logging.INFO, logger="sync.report"):
        out = write_report(loaded_sheet(boxes), report_rows(), [], {},
                           boxes.with_name("o.xlsx"))
    assert "form controls" in caplog.text
    ws = load_workbook(out)["Routing"]
    assert ws["J7"].value == "invalid" and fill_of(ws["D7"]) == INVALID
    assert ws["D7"].comment is not None


def test_a_shared_formula_in_a_report_column_hands_over(planner_xlsx: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    def shared(xml: str) -> str:
        xml = _add_to_row(xml, 4, '<c r="J4" t="inlineStr"><is><t>sync_status</t></is></c>')
        return _add_to_row(xml, 5, '<c r="J5"><f t="shared" ref="J5:J6" si="0">1+1</f>'
                                   "<v>2</v></c>")

    odd = rewrite(planner_xlsx, planner_xlsx.with_name("shared.xlsx"), {SHEET: shared})
    sheet = loaded_sheet(odd, headers=[*HEADERS, "sync_status"],
                         data=[[*row, None] for row in DATA])
    with caplog.at_level(logging.INFO, logger="sync.report"):
        out = write_report(sheet, report_rows(), [], {}, odd.with_name("o.xlsx"))
    assert "shared formula" in caplog.text
    ws = load_workbook(out)["Routing"]
    assert ws["J5"].value == "unchanged" and ws["J5"].data_type == "s"
