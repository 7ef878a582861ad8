"""A report never writes a sheet Excel cuts short: a sheet whose rows pass the last row an
Excel sheet holds gets its rows as a CSV report beside the workbook.  The limit is lowered
through write_report's parameter so the sheets stay small."""

from __future__ import annotations

import csv
from pathlib import Path
from xml.etree import ElementTree

from click.testing import CliRunner
from openpyxl import load_workbook
from report.kit import (
    DATA,
    HEADERS,
    HOSTILE,
    IDS,
    P1,
    SERVER_ONLY,
    SUMMARY,
    assert_sound_package,
    loaded_sheet,
    report_rows,
)

from sync import report
from sync.cli import main
from sync.demo import ROUTING_CSV, SAMPLE_DIR
from sync.model import ServerOnlyRow
from sync.report import EXCEL_MAX_ROWS, write_report
from sync.report.extra_sheets import server_only_sheet
from sync.report.parts import MAIN_NS
from sync.report.styles import StyleBook

REPORT_HEADERS = ["sync_status", "sync_id", "sync_changes", "sync_message"]


def csv_sheet(tmp_path: Path, data=DATA):
    path = tmp_path / "routing.csv"
    path.write_text("not read by the report writer\n")
    return loaded_sheet(path, data=data, header_row=1, row_numbers=[2, 3, 4, 6, 7],
                        file_format="csv", sheet_name=None)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_the_limit_is_excels() -> None:
    assert EXCEL_MAX_ROWS == 1_048_576


def test_rows_past_the_limit_go_to_a_csv_report_and_the_workbook_says_so(tmp_path):
    notes: list[str] = []
    target = tmp_path / "routing.report.xlsx"
    out = write_report(csv_sheet(tmp_path), report_rows(), SERVER_ONLY, SUMMARY, target,
                       excel_max_rows=6, notes=notes)
    assert out == target
    rows_path = tmp_path / "routing.report.csv"
    lines = read_csv(rows_path)
    assert lines[0] == HEADERS + REPORT_HEADERS
    assert len(lines) == 6                      # the header and every loaded row, no gaps
    assert lines[1][0] == IDS[0] and lines[1][9:11] == ["unchanged", IDS[0]]
    assert lines[2][6] == "7.5" and lines[2][11] == "description: Bend -> Bend over edge"
    assert lines[3][9] == "invalid" and "D7: line_number" in lines[3][12]
    assert lines[4][9:11] == ["failed", IDS[3]]
    assert lines[5][10] == IDS[4]
    assert notes == [
        "The report's rows are in routing.report.csv: routing.csv has rows up to row 7, "
        "more than the 6 an Excel sheet holds; routing.report.xlsx holds the summary and "
        "the server-only lines."
    ]
    assert_sound_package(target)
    workbook = load_workbook(target)
    assert workbook.sheetnames == ["routing", "Summary", "Server only"]
    first = workbook["routing"]
    assert first["A1"].value == notes[0] and first.max_row == 1
    assert workbook["Server only"].max_row == len(SERVER_ONLY) + 1


def test_a_sheet_that_ends_on_the_last_row_stays_one_workbook(tmp_path):
    notes: list[str] = []
    out = write_report(csv_sheet(tmp_path), report_rows(), SERVER_ONLY, SUMMARY,
                       tmp_path / "r.xlsx", excel_max_rows=7, notes=notes)
    assert notes == [] and not (tmp_path / "r.csv").exists()
    sheet = load_workbook(out)["routing"]
    assert sheet["B7"].value is not None and sheet["J6"].value == "failed"


def test_formula_like_text_is_kept_text_in_the_csv_report(tmp_path):
    data = [list(row) for row in DATA]
    data[0][5] = HOSTILE[0]
    data[1][8] = HOSTILE[1]
    write_report(csv_sheet(tmp_path, data), report_rows(), SERVER_ONLY, SUMMARY,
                 tmp_path / "r.xlsx", excel_max_rows=2)
    lines = read_csv(tmp_path / "r.csv")
    assert lines[1][5] == "'" + HOSTILE[0] and lines[2][8] == "'" + HOSTILE[1]
    assert lines[3][7] == ""                    # a blank cell stays blank


def test_validate_says_where_the_rows_went(tmp_path, monkeypatch):
    # The whole path from the command: its report limit lowered to 3 rows, the routing CSV
    # (a header and more lines) gets its rows as a CSV report and says so.
    monkeypatch.setitem(report.write_report.__kwdefaults__, "excel_max_rows", 3)
    path = tmp_path / "routing.csv"
    path.write_bytes((SAMPLE_DIR / ROUTING_CSV).read_bytes())
    result = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    assert "warning: The report's rows are in routing.validation.csv: routing.csv has rows up " \
           "to row" in result.output
    assert f"report: {tmp_path / 'routing.validation.xlsx'}" in result.output
    source_lines = len(read_csv(path))
    assert len(read_csv(tmp_path / "routing.validation.csv")) == source_lines


def test_server_only_lines_past_the_limit_are_counted_in_the_sheets_last_row():
    records = [ServerOnlyRow({"id": f"d000000{n}-0000-4000-8000-000000000001",
                              "product_id": P1, "line_number": n}, "would delete")
               for n in range(1, 6)]
    ns = {"m": MAIN_NS}
    fits = ElementTree.fromstring(server_only_sheet(StyleBook(), records, max_rows=6).xml)
    assert len(fits.findall(".//m:row", ns)) == 6
    cut = server_only_sheet(StyleBook(), records, max_rows=4)
    rows = ElementTree.fromstring(cut.xml).findall(".//m:row", ns)
    assert len(rows) == 4 and cut.filter_ref is not None and cut.filter_ref.endswith("3")
    texts = ["".join(t.text or "" for t in row.iter(f"{{{MAIN_NS}}}t")) for row in rows]
    assert records[1].record["id"] in texts[2]
    assert texts[3] == ("... and 3 more server-only lines: more than the 4 rows an Excel "
                        "sheet holds (the Summary counts them all).")
