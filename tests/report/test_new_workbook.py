"""CSV, .xls and .ods inputs: a new workbook holding the loaded cells plus the report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
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
    RED,
    SERVER_ONLY,
    SUMMARY,
    assert_sound_package,
    fill_of,
    loaded_sheet,
    report_rows,
)

from sync.model import CellError, ReportRow
from sync.report import default_report_path, write_report

REPORT_HEADERS = ["sync_status", "sync_id", "sync_changes", "sync_message"]


def csv_sheet(tmp_path: Path, **kwargs):
    path = tmp_path / "routing.csv"
    path.write_text("not read by the report writer\n")
    options = {"header_row": 1, "row_numbers": [2, 3, 4, 6, 7], "file_format": "csv",
               "sheet_name": None} | kwargs
    return loaded_sheet(path, **options)


def test_default_report_path_sits_beside_the_input() -> None:
    assert default_report_path(Path("/data/routing.csv")) == Path("/data/routing.report.xlsx")
    assert default_report_path(Path("plan.xlsm")) == Path("plan.report.xlsx")


def test_cells_keep_their_rows_and_columns(tmp_path: Path) -> None:
    sheet = csv_sheet(tmp_path)
    out = write_report(sheet, report_rows(), SERVER_ONLY, SUMMARY, tmp_path / "r.xlsx")
    wb = load_workbook(out)
    assert wb.sheetnames == ["routing", "Summary", "Server only"]
    ws = wb["routing"]
    assert [c.value for c in ws[1]] == HEADERS + REPORT_HEADERS
    assert ws["A2"].value == IDS[0] and ws["G3"].value == 7.5 and ws["I3"].value == "check tooling"
    assert [c.value for c in ws[5]] == [None] * 13          # the CSV's empty line stays empty
    assert (ws["J6"].value, ws["K6"].value) == ("failed", IDS[3])
    assert ws["D4"].value == 1.5                             # the invalid value as it was
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:M7"
    assert ws["A1"].font.b and ws["J1"].font.b
    assert_sound_package(out)


def test_rows_colours_and_invalid_cell_comments(tmp_path: Path) -> None:
    rows = report_rows()
    rows[2] = ReportRow("invalid", None, "", "two problems", [
        CellError(4, "line_number", "D", "line_number must be a positive whole number"),
        CellError(4, "active", "E", "active must be Active or InActive"),
        CellError(4, None, None, "duplicate key")])
    ws = load_workbook(write_report(csv_sheet(tmp_path), rows, [], {}, tmp_path / "r.xlsx"))[
        "routing"]
    assert (fill_of(ws["J2"]), fill_of(ws["A2"]), fill_of(ws["I2"])) == (GREY_STRONG, None, None)
    assert (fill_of(ws["J3"]), fill_of(ws["C3"])) == (BLUE_STRONG, BLUE)
    assert (fill_of(ws["D4"]), fill_of(ws["E4"]), fill_of(ws["F4"])) == (INVALID, INVALID, RED)
    assert ws["D4"].comment.text == "D4: line_number must be a positive whole number"
    assert ws["E4"].comment.text == "E4: active must be Active or InActive"
    assert ws["F4"].comment is None
    assert ws["D4"].comment.author == "flowtrac-sync"


def test_messages_point_at_the_cell_they_name(tmp_path: Path) -> None:
    """A CSV with a title line: the header is on line 3, so row numbers shift with it."""
    sheet = csv_sheet(tmp_path, header_row=3, row_numbers=[4, 5, 6, 8, 9])
    rows = {2: ReportRow("invalid", errors=[CellError(6, "line_number", "D", "bad")])}
    ws = load_workbook(write_report(sheet, rows, [], {}, tmp_path / "r.xlsx"))["routing"]
    assert ws["A3"].value == "id" and ws["D6"].value == 1.5
    assert ws["D6"].comment.text == "D6: bad" and fill_of(ws["D6"]) == INVALID
    assert ws.freeze_panes == "A4" and ws.auto_filter.ref == "A3:M9"


def test_xls_and_ods_inputs_keep_their_sheet_name(tmp_path: Path) -> None:
    path = tmp_path / "routing.ods"
    path.write_bytes(b"")
    sheet = loaded_sheet(path, file_format="ods", sheet_name="Lines")
    out = write_report(sheet, report_rows(), [], {}, default_report_path(path))
    assert out == tmp_path / "routing.report.xlsx"
    wb = load_workbook(out)
    assert wb.sheetnames == ["Lines", "Summary", "Server only"]
    assert wb["Lines"]["J5"].value == "unchanged"     # same rows as in the .ods


def test_values_of_every_kind_are_written_as_what_they_are(tmp_path: Path) -> None:
    when = dt.datetime(2024, 3, 1, 10, 30, 0)
    data = [[IDS[0], True, 12345678901234567890, Decimal("2.50"), when, dt.date(2024, 3, 1),
             float("nan"), np.int64(7), pd.NaT, "  padded  ", "a\nb", "x\x01y"]]
    headers = ["id", "flag", "barcode", "minutes", "edited", "day", "blank", "count", "nat",
               "padded", "lines", "control"]
    sheet = csv_sheet(tmp_path, headers=headers, data=data, row_numbers=[2])
    ws = load_workbook(write_report(sheet, {0: ReportRow("unchanged", IDS[0])}, [], {},
                                    tmp_path / "r.xlsx"))["routing"]
    row = {h: ws.cell(2, i + 1) for i, h in enumerate(headers)}
    assert row["flag"].value is True
    assert row["barcode"].value == "12345678901234567890"   # too long for Excel's numbers
    assert row["minutes"].value == 2.5
    assert row["edited"].value == when and row["edited"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert row["day"].value == dt.datetime(2024, 3, 1)
    assert row["day"].number_format == "yyyy-mm-dd"
    assert row["blank"].value is None and row["nat"].value is None
    assert row["count"].value == 7
    assert row["padded"].value == "  padded  " and row["lines"].value == "a\nb"
    assert row["control"].value == "x_x0001_y"             # Excel's escape for a control char


def test_existing_report_columns_are_reused_not_appended(tmp_path: Path) -> None:
    """A report saved as CSV and loaded again: its sync_* columns are overwritten, and an id
    the run does not report stays (the next upload matches by it)."""
    headers = HEADERS[:8] + ["sync_status", "sync_id", "sync_changes", "sync_message"]
    data = [row[:8] + ["stale", f"old-{i}", "old change", "old message"]
            for i, row in enumerate(DATA)]
    sheet = csv_sheet(tmp_path, headers=headers, data=data)
    rows = {0: ReportRow("unchanged", IDS[0]), 1: ReportRow("invalid", None, "", "bad")}
    ws = load_workbook(write_report(sheet, rows, [], {}, tmp_path / "r.xlsx"))["routing"]
    assert [c.value for c in ws[1]] == headers
    assert [ws[f"I{n}"].value for n in (2, 3, 4)] == ["unchanged", "invalid", None]
    assert [ws[f"J{n}"].value for n in (2, 3, 4)] == [IDS[0], "old-1", "old-2"]
    assert [ws[f"K{n}"].value for n in (2, 3, 4)] == [None, None, None]
    assert ws["L3"].value == "bad" and ws["L4"].value is None


def test_empty_server_only_and_given_counts(tmp_path: Path) -> None:
    summary = {"Mode": "upsert", "Started": dt.datetime(2024, 3, 1, 8, 0), "Duration (s)": 1.25,
               "Counts": {"created": 3, "failed": 1}, "Hosts": ["a", "b"]}
    wb = load_workbook(write_report(csv_sheet(tmp_path), report_rows(), [], summary,
                                    tmp_path / "r.xlsx"))
    values = [tuple(v for v in row if v is not None) for row in wb["Summary"].values]
    assert values[0] == ("flowtrac-sync reconciliation report",)
    assert ("Started", dt.datetime(2024, 3, 1, 8, 0)) in values
    assert ("Duration (s)", 1.25) in values and ("Hosts", "a, b") in values
    assert values[-3:] == [("Counts",), ("created", 3), ("failed", 1)]
    assert list(wb["Server only"].values) == [("sync_status", "sync_message")]


def test_rows_beyond_the_frame_are_ignored(tmp_path: Path) -> None:
    rows = report_rows() | {99: ReportRow("invalid", errors=[CellError(99, None, "A", "x")])}
    ws = load_workbook(write_report(csv_sheet(tmp_path), rows, [], {}, tmp_path / "r.xlsx"))[
        "routing"]
    assert ws.max_row == 7
    assert [c.coordinate for row in ws.iter_rows() for c in row if c.comment] == ["D4"]


@pytest.mark.parametrize("data", [DATA[:0], DATA[:1]])
def test_tiny_sheets(tmp_path: Path, data) -> None:
    numbers = [2][: len(data)]
    sheet = csv_sheet(tmp_path, data=data, row_numbers=numbers)
    out = write_report(sheet, {}, [], {}, tmp_path / "r.xlsx")
    ws = load_workbook(out)["routing"]
    assert [c.value for c in ws[1]][-4:] == REPORT_HEADERS
    assert ws.max_row == 1 + len(data)
    assert_sound_package(out)
