"""The report's per-row shortcut (one format template for the four report cells of every
row alike) writes exactly what the general path writes, byte for byte."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from report.kit import (
    DATA,
    IDS,
    SERVER_ONLY,
    SUMMARY,
    build_planner_workbook,
    loaded_sheet,
    report_rows,
)

from sync.model import ReportRow
from sync.report import write_report
from sync.report.datasheet import DataSheet


def _data_sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read("xl/worksheets/sheet1.xml")


@pytest.mark.parametrize("rows", [
    report_rows(),
    {i: ReportRow("unchanged", IDS[i] if i != 2 else None) for i in range(len(DATA))},
    {i: ReportRow("would create", None) for i in range(len(DATA))},
    {0: ReportRow("created", "id {with} braces & <markup>"), 1: ReportRow("deleted", IDS[1]),
     3: ReportRow("would update", IDS[3], "active: Active -> InActive")},
])
def test_templated_rows_match_the_general_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               rows: dict[int, ReportRow]) -> None:
    workbook = build_planner_workbook(tmp_path / "routing.xlsx")
    sheet = loaded_sheet(workbook)
    fast = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "fast.xlsx",
                        engine="patch")
    monkeypatch.setattr(DataSheet, "_report_template", lambda self, mark: None)
    general = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "general.xlsx",
                           engine="patch")
    assert _data_sheet_xml(fast) == _data_sheet_xml(general)
