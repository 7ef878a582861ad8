"""Reports read back by the loader, and a report uploaded again getting a fresh report."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import (
    BLUE_STRONG,
    GREY_STRONG,
    HEADERS,
    HOSTILE,
    IDS,
    INVALID,
    PLANNER_FILL,
    SERVER_ONLY,
    SUMMARY,
    assert_sound_package,
    fill_of,
    report_rows,
)

from sync.load import load_sheet
from sync.model import CellError, ReportRow
from sync.report import default_report_path, write_report

REPORT_HEADERS = ["sync_status", "sync_id", "sync_changes", "sync_message"]
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("engine", ["patch", "openpyxl"])
def test_a_report_uploaded_again_gets_its_columns_overwritten(planner_xlsx: Path,
                                                             engine: str) -> None:
    first = write_report(load_sheet(planner_xlsx), report_rows(), SERVER_ONLY, SUMMARY,
                         default_report_path(planner_xlsx), engine=engine)
    again = load_sheet(first)
    assert again.headers == HEADERS + REPORT_HEADERS and again.row_numbers == [5, 6, 7, 9, 10]

    rows = {0: ReportRow("unchanged"),                # no id given: the one in the sheet stays
            1: ReportRow("unchanged", IDS[1]),
            2: ReportRow("created", "e0000009-0000-4000-8000-000000000009"),
            3: ReportRow("updated", IDS[3], "active: Active -> InActive"),
            4: ReportRow("unchanged", IDS[4])}
    second = write_report(again, rows, [], {"Mode": "upsert"}, first.with_name("second.xlsx"),
                          engine=engine)
    wb = load_workbook(second)
    assert wb.sheetnames == ["Routing", "Instructions", "Summary", "Server only"]
    ws = wb["Routing"]
    assert [c.value for c in ws[4]] == HEADERS + REPORT_HEADERS        # nothing appended
    assert [ws[f"J{n}"].value for n in (5, 6, 7, 9, 10)] == [
        "unchanged", "unchanged", "created", "updated", "unchanged"]
    assert [ws[f"K{n}"].value for n in (5, 7)] == [IDS[0], "e0000009-0000-4000-8000-000000000009"]
    assert ws["L9"].value == "active: Active -> InActive"
    assert ws["M7"].value is None and ws["M9"].value is None        # old messages cleared
    # The previous run's marks are gone: no red invalid cell, no comment of ours.
    assert fill_of(ws["D7"]) != INVALID and ws["D7"].comment is None
    assert (fill_of(ws["J5"]), fill_of(ws["A5"]), fill_of(ws["J9"])) == (
        GREY_STRONG, None, BLUE_STRONG)
    # Row 6 was updated last time (blue) and is unchanged now: the old colour is cleared,
    # the planner's own yellow on F6 stays.
    assert (fill_of(ws["B6"]), fill_of(ws["F6"])) == (None, PLANNER_FILL)
    assert ws["I5"].comment.author == "Planner"                     # the planner's stays
    summary = [tuple(v for v in row if v is not None) for row in wb["Summary"].values]
    assert ("Mode", "upsert") in summary and ("Mode", "mirror") not in summary
    assert list(wb["Server only"].values) == [("sync_status", "sync_message")]
    assert_sound_package(second)


@pytest.mark.parametrize("name", ["routing_title_block.xlsx", "routing_lo.xlsx",
                                  "routing_xlsxwriter.xlsx", "routing_lo.xlsm",
                                  "routing_two_sheets.xlsx"])
def test_patch_and_openpyxl_agree_on_real_workbooks(tmp_path: Path, name: str) -> None:
    """Workbooks saved by Excel-like writers (openpyxl, XlsxWriter, LibreOffice): the fast
    patch gives the same cells, colours, comments and sheets as the openpyxl fallback."""
    source = DATA_DIR / name
    if not source.exists():
        pytest.fail(f"fixture {source} is missing")
    sheet = load_sheet(source)
    statuses = ["unchanged", "would update", "would create", "invalid", "would delete"]
    rows = {i: ReportRow(statuses[i % 5], f"id-{i}", "x: 1 -> 2", HOSTILE[i % len(HOSTILE)])
            for i in range(len(sheet.row_numbers))}
    rows[0].errors = [CellError(sheet.row_numbers[0], "active", sheet.letter_of("active"),
                                "active must be Active or InActive")]
    seen = []
    for engine in ("patch", "openpyxl"):
        out = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / f"{engine}.xlsx",
                           engine=engine)
        assert_sound_package(out)
        wb = load_workbook(out)
        ws = wb[sheet.sheet_name]
        seen.append((wb.sheetnames, ws.freeze_panes, ws.auto_filter.ref,
                     [[c.value for c in row] for row in ws.iter_rows()],
                     [[fill_of(c) for c in row] for row in ws.iter_rows()],
                     [(c.coordinate, c.comment.text) for row in ws.iter_rows() for c in row
                      if c.comment]))
        assert load_sheet(out).row_numbers == sheet.row_numbers    # the loader reads it back
    assert seen[0] == seen[1]
    assert len(seen[0][-1]) == 1              # the invalid cell's comment, in both


def test_a_csv_report_reads_back_with_the_same_rows(tmp_path: Path) -> None:
    source = tmp_path / "routing.csv"
    source.write_text(
        "id,product_id,process_id,line_number,active,description\n"
        f"{IDS[0]},{IDS[1]},{IDS[2]},1,Active,=HYPERLINK(\"x\")\n"
        "\n"
        f",{IDS[1]},{IDS[3]},2,Active,@SUM(A1)\n", encoding="utf-8")
    sheet = load_sheet(source)
    out = write_report(sheet, {0: ReportRow("unchanged", IDS[0]), 1: ReportRow("would create")},
                       [], {}, default_report_path(source))
    back = load_sheet(out)
    assert back.row_numbers == sheet.row_numbers == [2, 4]
    assert back.frame.iloc[0, 5] == '=HYPERLINK("x")' and back.frame.iloc[1, 5] == "@SUM(A1)"
    assert list(back.frame.iloc[:, 6]) == ["unchanged", "would create"]
