"""Every new workbook (a report of a CSV, the template, an export, the undo report) comes out
of one writer: the same fixed entry times, a well-formed stylesheet holding every style its
cells name, and files Excel's readers open."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
import python_calamine
from report.kit import SERVER_ONLY, SUMMARY, loaded_sheet, report_rows

from sync import mergebase
from sync.model import CellError, ReportRow
from sync.report import write_report
from sync.report.newbook import ZIP_TIME
from sync.templating import (
    NameLists,
    export_columns,
    write_data_workbook,
    write_table_workbook,
    write_template,
)

_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _report(tmp_path: Path) -> Path:
    source = tmp_path / "routing.csv"
    source.write_text("not read by the report writer\n")
    sheet = loaded_sheet(source, header_row=1, row_numbers=[2, 3, 4, 6, 7], file_format="csv",
                         sheet_name=None)
    rows = report_rows()
    rows[2] = ReportRow("invalid", None, "", "bad", [
        CellError(4, "line_number", "D", "line_number must be a positive whole number")])
    return write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "routing.report.xlsx")


def _template(tmp_path: Path) -> Path:
    return write_template(tmp_path / "template.xlsx")


def _export(tmp_path: Path) -> Path:
    columns = export_columns()
    line = {c.key: None for c in columns} | {
        "id": "0b1c2d3e-0000-4000-8000-000000000001", "description": "=1+1",
        "line_number": 3, "edited_by": "planner"}
    target = tmp_path / "export.xlsx"
    write_data_workbook(target, columns, iter([[line[c.key] for c in columns]]), 1, "export",
                        NameLists(["Widget"], ["Cut"]),
                        mergebase.base_rows("http://flowtrac.test", [line]))
    return target


def _undo(tmp_path: Path) -> Path:
    return write_table_workbook(tmp_path / "undo.xlsx",
                                [("Undo", ["status", "message"], [["deleted", "=cmd()"]]),
                                 ("Summary", ["", ""], [["Lines deleted", 1]])],
                                "undo report")


WORKBOOKS = {"report": _report, "template": _template, "export": _export, "undo": _undo}


@pytest.mark.parametrize("kind", list(WORKBOOKS))
def test_every_entry_has_the_fixed_time_and_is_deflated(tmp_path: Path, kind: str) -> None:
    with zipfile.ZipFile(WORKBOOKS[kind](tmp_path)) as package:
        entries = package.infolist()
    assert {e.date_time for e in entries} == {ZIP_TIME}
    assert {e.compress_type for e in entries} == {zipfile.ZIP_DEFLATED}


@pytest.mark.parametrize("kind", list(WORKBOOKS))
def test_the_stylesheet_holds_every_style_the_cells_name(tmp_path: Path, kind: str) -> None:
    with zipfile.ZipFile(WORKBOOKS[kind](tmp_path)) as package:
        styles = ElementTree.fromstring(package.read("xl/styles.xml"))
        sheets = [package.read(n).decode() for n in package.namelist()
                  if n.startswith("xl/worksheets/sheet")]
    sections = {name: styles.find(_NS + name) for name in ("fonts", "fills", "cellXfs")}
    for name, section in sections.items():
        assert section is not None, name
        assert int(section.get("count", "-1")) == len(section), name
    for xf in sections["cellXfs"]:
        assert int(xf.get("fontId", "0")) < len(sections["fonts"])
        assert int(xf.get("fillId", "0")) < len(sections["fills"])
    used = {int(s) for xml in sheets for s in re.findall(r'<c r="[A-Z]+\d+" s="(\d+)"', xml)}
    assert used and max(used) < len(sections["cellXfs"])


@pytest.mark.parametrize("kind", list(WORKBOOKS))
def test_excel_readers_open_every_sheet(tmp_path: Path, kind: str) -> None:
    path = WORKBOOKS[kind](tmp_path)
    book = openpyxl.load_workbook(path)
    calamine = python_calamine.CalamineWorkbook.from_path(str(path))
    assert calamine.sheet_names == book.sheetnames
    for name in book.sheetnames:
        values = calamine.get_sheet_by_name(name).to_python()
        assert values or book[name].max_row == 1


def test_the_same_template_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_template(tmp_path / "a.xlsx").read_bytes()
    assert write_template(tmp_path / "b.xlsx").read_bytes() == first


def test_the_template_keeps_its_look(tmp_path: Path) -> None:
    """Header fills, bold headers, greyed read-only cells, quoted formula-like text and the
    wrapped instructions: what the stylesheet of these workbooks gives."""
    book = openpyxl.load_workbook(_export(tmp_path))
    lines, guide = book["Lines"], book["Instructions"]
    headers = {c.value: c for c in lines[1]}
    assert headers["id"].font.b and headers["id"].fill.fgColor.rgb == "FFDDEBF7"
    assert headers["product"].fill.fgColor.rgb == "FFFFE699"
    read_only = headers["edited_by (read-only)"]
    assert read_only.fill.fgColor.rgb == "FFBFBFBF"
    cell = lines.cell(2, read_only.column)
    assert cell.fill.fgColor.rgb == "FFEDEDED" and cell.font.color.rgb == "FF595959"
    description = lines.cell(2, headers["description"].column)
    assert description.value == "=1+1" and description.quotePrefix
    assert guide["A1"].font.b and guide["A1"].font.sz == 14
    assert guide["A3"].alignment.wrap_text and guide["A3"].alignment.vertical == "top"
