"""An .xlsx input: the planner's own workbook is kept and the report added to it.

Each behaviour is checked for both ways of keeping the workbook: editing its XML in place
(``patch``, the normal way) and loading/saving it with openpyxl (the fallback)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import (
    BLUE,
    BLUE_STRONG,
    GREEN_STRONG,
    GREY_STRONG,
    HEADER_FILL,
    HEADERS,
    IDS,
    INVALID,
    PLANNER_FILL,
    RED,
    RED_STRONG,
    SERVER_ONLY,
    SUMMARY,
    assert_sound_package,
    build_planner_workbook,
    fill_of,
    loaded_sheet,
    parts,
    report_rows,
)

from sync.model import CellError, ReportRow
from sync.report import write_report

ENGINES = ["patch", "openpyxl"]
REPORT_HEADERS = ["sync_status", "sync_id", "sync_changes", "sync_message"]


def _write(planner_xlsx: Path, engine: str, rows=None, name: str = "out.xlsx") -> Path:
    sheet = loaded_sheet(planner_xlsx)
    return write_report(sheet, report_rows() if rows is None else rows, SERVER_ONLY, SUMMARY,
                        planner_xlsx.with_name(name), engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_report_columns_follow_the_last_used_column(planner_xlsx: Path, engine: str) -> None:
    ws = load_workbook(_write(planner_xlsx, engine))["Routing"]
    assert [c.value for c in ws[4]] == HEADERS + REPORT_HEADERS
    statuses = {row: (ws[f"J{row}"].value, ws[f"K{row}"].value) for row in (5, 6, 7, 9, 10)}
    assert statuses == {5: ("unchanged", IDS[0]), 6: ("updated", IDS[1]), 7: ("invalid", None),
                        9: ("failed", IDS[3]), 10: ("created", IDS[4])}
    assert ws["L6"].value == "description: Bend -> Bend over edge"
    assert ws["M9"].value == "the server refused: duplicate line"
    assert [c.value for c in ws[8]][:13] == [None] * 13      # the blank row stays blank


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_are_coloured_by_status(planner_xlsx: Path, engine: str) -> None:
    ws = load_workbook(_write(planner_xlsx, engine))["Routing"]
    # An unchanged row keeps the planner's look: only its status cell is grey.
    assert (fill_of(ws["J5"]), fill_of(ws["A5"]), fill_of(ws["M5"])) == (GREY_STRONG, None, None)
    assert (fill_of(ws["J6"]), fill_of(ws["B6"]), fill_of(ws["L6"])) == (BLUE_STRONG, BLUE, BLUE)
    assert (fill_of(ws["J7"]), fill_of(ws["C7"])) == (RED_STRONG, RED)
    assert (fill_of(ws["J9"]), fill_of(ws["J10"])) == (RED_STRONG, GREEN_STRONG)
    # Empty cells inside a coloured row are coloured too, so the band runs across the row.
    assert ws["F9"].value is None and fill_of(ws["F9"]) == RED
    # The planner's own highlight survives; the header and title block are untouched.
    assert fill_of(ws["F6"]) == PLANNER_FILL
    assert fill_of(ws["A4"]) == HEADER_FILL
    assert fill_of(ws["A1"]) is None and fill_of(ws["A8"]) is None


@pytest.mark.parametrize("engine", ENGINES)
def test_invalid_cell_is_highlighted_with_a_comment(planner_xlsx: Path, engine: str) -> None:
    ws = load_workbook(_write(planner_xlsx, engine))["Routing"]
    assert fill_of(ws["D7"]) == INVALID
    assert ws["D7"].comment is not None
    assert ws["D7"].comment.text == 'D7: line_number must be a positive whole number, got "1.5"'
    assert ws["D7"].comment.author == "flowtrac-sync"
    # The planner's own comment is kept as it was.
    assert (ws["I5"].comment.text, ws["I5"].comment.author) == ("ask Sam about this line",
                                                                 "Planner")
    commented = sorted(c.coordinate for row in ws.iter_rows() for c in row if c.comment)
    assert commented == ["D7", "I5"]


@pytest.mark.parametrize("engine", ENGINES)
def test_workbook_layout_and_formatting_are_kept(planner_xlsx: Path, engine: str) -> None:
    out = _write(planner_xlsx, engine)
    wb = load_workbook(out)
    assert wb.sheetnames == ["Routing", "Instructions", "Summary", "Server only"]
    ws = wb["Routing"]
    assert [ws[f"A{n}"].value for n in (1, 2, 3)] == [
        "Routing — Line 3 assembly", "Owner: Planning team", "Keep the id column as it is"]
    assert ws["A1"].font.b and ws["A1"].font.sz == 16
    assert [str(r) for r in ws.merged_cells.ranges] == ["A1:I1"]
    assert ws["J4"].font.b and fill_of(ws["J4"]) == HEADER_FILL   # header style carried over
    assert ws.column_dimensions["A"].width == 38 and ws.column_dimensions["D"].width == 12
    assert ws["G6"].number_format == "0.00" and ws["G6"].value == 7.5
    assert [dv.formula1 for dv in ws.data_validations.dataValidation] == ['"Active,InActive"']
    assert wb["Instructions"]["A2"].value == "One row per product-process line."
    assert_sound_package(out)


@pytest.mark.parametrize("engine", ENGINES)
def test_frozen_header_autofilter_and_widths(planner_xlsx: Path, engine: str) -> None:
    ws = load_workbook(_write(planner_xlsx, engine))["Routing"]
    assert ws.freeze_panes == "A5"
    assert ws.auto_filter.ref == "A4:M10"
    widths = {letter: ws.column_dimensions[letter].width for letter in "JKLM"}
    assert 11 <= widths["J"] <= 18
    assert widths["K"] >= len(IDS[0])                   # an id is readable in full
    assert all(w <= 80 for w in widths.values())


@pytest.mark.parametrize("engine", ENGINES)
def test_summary_and_server_only_sheets(planner_xlsx: Path, engine: str) -> None:
    wb = load_workbook(_write(planner_xlsx, engine))
    summary = [tuple(v for v in row if v is not None) for row in wb["Summary"].values]
    assert ("Mode", "mirror") in summary and ("Requests", 12) in summary
    assert ("Base URL", "https://acme.flowtrac.com/api") in summary
    counts = summary[summary.index(("Status", "Sheet rows", "Server only")) + 1:]
    assert ("unchanged", 1, 0) in counts and ("invalid", 1, 0) in counts
    assert ("deleted", 0, 1) in counts and ("left alone", 0, 1) in counts
    assert counts[-1] == ("Total", 5, 2)
    server = wb["Server only"]
    rows = list(server.values)
    assert rows[0] == ("id", "product_id", "process_id", "line_number", "active", "edited",
                       "sync_status", "sync_message")
    assert rows[1][0] == "d0000001-0000-4000-8000-000000000001" and rows[1][-2:] == (
        "deleted", "not in the sheet")
    assert rows[2][3] == 7 and rows[2][-2] == "left alone"
    assert server.freeze_panes == "A2" and server.auto_filter.ref == "A1:H3"


def test_patch_copies_every_untouched_part_byte_for_byte(planner_xlsx: Path) -> None:
    before = parts(planner_xlsx)
    after = parts(_write(planner_xlsx, "patch"))
    changed = {name for name in before if before[name] != after.get(name)}
    # Only the data sheet, the workbook (new sheets), styles and package lists change.
    assert changed <= {"xl/worksheets/sheet1.xml", "xl/workbook.xml", "xl/styles.xml",
                       "[Content_Types].xml", "xl/_rels/workbook.xml.rels",
                       "xl/worksheets/_rels/sheet1.xml.rels", "xl/comments/comment1.xml",
                       "xl/drawings/commentsDrawing1.vml"}
    assert before["xl/worksheets/sheet2.xml"] == after["xl/worksheets/sheet2.xml"]


def test_auto_keeps_a_workbook_by_patching(planner_xlsx: Path) -> None:
    out = write_report(loaded_sheet(planner_xlsx), report_rows(), [], {}, planner_xlsx.with_name(
        "auto.xlsx"))
    # openpyxl would have rewritten the Instructions sheet; the patch copies it.
    assert parts(out)["xl/worksheets/sheet2.xml"] == parts(planner_xlsx)[
        "xl/worksheets/sheet2.xml"]


def test_input_workbook_is_never_modified(planner_xlsx: Path) -> None:
    digest = hashlib.sha256(planner_xlsx.read_bytes()).hexdigest()
    stat = planner_xlsx.stat()
    for engine in ("patch", "openpyxl", "new", "auto"):
        _write(planner_xlsx, engine, name=f"{engine}.xlsx")
    assert hashlib.sha256(planner_xlsx.read_bytes()).hexdigest() == digest
    assert planner_xlsx.stat().st_mtime_ns == stat.st_mtime_ns


@pytest.mark.parametrize("engine", ENGINES)
def test_rows_without_a_result_get_a_blank_status(planner_xlsx: Path, engine: str) -> None:
    """``validate`` marks only invalid rows; the others stay uncoloured."""
    rows = {2: report_rows()[2]}
    ws = load_workbook(_write(planner_xlsx, engine, rows=rows))["Routing"]
    assert [ws[f"J{n}"].value for n in (5, 6, 7, 9, 10)] == [None, None, "invalid", None, None]
    assert fill_of(ws["A5"]) is None and fill_of(ws["J5"]) is None
    assert fill_of(ws["J7"]) == RED_STRONG


@pytest.mark.parametrize("engine", ENGINES)
def test_an_excel_table_grows_over_the_report_columns(tmp_path: Path, engine: str) -> None:
    source = build_planner_workbook(tmp_path / "table.xlsx", table=True)
    sheet = loaded_sheet(source, row_numbers=[5, 6, 7, 9, 10])
    out = write_report(sheet, report_rows(), [], {}, tmp_path / "out.xlsx", engine=engine)
    ws = load_workbook(out)["Routing"]
    table = ws.tables["Lines"]
    assert table.ref == "A4:M10"
    assert [c.name for c in table.tableColumns][-4:] == REPORT_HEADERS
    assert ws.auto_filter.ref is None          # the table's own filter serves; no second one
    assert ws["J6"].value == "updated"
    assert_sound_package(out)


@pytest.mark.parametrize("engine", ENGINES)
def test_planners_own_summary_sheet_is_left_alone(tmp_path: Path, engine: str) -> None:
    source = build_planner_workbook(tmp_path / "mine.xlsx", own_summary_sheet=True)
    out = write_report(loaded_sheet(source), report_rows(), [], SUMMARY, tmp_path / "out.xlsx",
                       engine=engine)
    wb = load_workbook(out)
    assert wb.sheetnames == ["Routing", "Instructions", "Summary", "Summary (2)", "Server only"]
    assert wb["Summary"]["A1"].value == "The planner's own summary"
    assert wb["Summary (2)"]["A1"].value == "flowtrac-sync reconciliation report"


def test_comments_stop_at_the_cap_but_highlights_do_not(planner_xlsx: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.report.datasheet as datasheet

    monkeypatch.setattr(datasheet, "MAX_COMMENTS", 1)
    rows = report_rows()
    rows[1] = ReportRow("invalid", None, "", "", [CellError(6, "active", "E", "bad active")])
    ws = load_workbook(_write(planner_xlsx, "patch", rows=rows))["Routing"]
    assert ws["E6"].comment is not None and ws["D7"].comment is None
    assert fill_of(ws["E6"]) == INVALID and fill_of(ws["D7"]) == INVALID


def test_macro_workbook_falls_back_to_openpyxl_and_drops_the_macros(
        planner_xlsx: Path, caplog: pytest.LogCaptureFixture) -> None:
    import zipfile

    xlsm = planner_xlsx.with_name("macros.xlsm")
    with zipfile.ZipFile(planner_xlsx) as source, zipfile.ZipFile(xlsm, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"spreadsheetml.sheet.main+xml",
                                    b"ms-excel.sheet.macroEnabled.main+xml")
            target.writestr(item, data)
        target.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 not really a VBA project")
    sheet = loaded_sheet(xlsm)
    with caplog.at_level(logging.INFO, logger="sync.report"):
        out = write_report(sheet, report_rows(), [], {}, xlsm.with_name("macros.report.xlsx"))
    assert "macros" in caplog.text
    package = parts(out)
    assert "xl/vbaProject.bin" not in package
    assert b"macroEnabled" not in package["[Content_Types].xml"]
    assert load_workbook(out)["Routing"]["J6"].value == "updated"


def test_a_failing_patch_falls_back_with_a_warning(planner_xlsx: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    import sync.report as report

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setitem(report._ENGINES, "patch", broken)
    with caplog.at_level(logging.WARNING, logger="sync.report"):
        out = write_report(loaded_sheet(planner_xlsx), report_rows(), [], {},
                           planner_xlsx.with_name("fallback.xlsx"))
    assert "simulated bug" in caplog.text
    ws = load_workbook(out)["Routing"]
    assert ws["J5"].value == "unchanged" and ws["A1"].value == "Routing — Line 3 assembly"
