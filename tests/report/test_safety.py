"""Hostile text never becomes a formula; the report appears whole or not at all; the input
is never touched."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import (
    DATA,
    HEADERS,
    HOSTILE,
    IDS,
    all_cells,
    loaded_sheet,
    parts,
    report_rows,
)

from sync.errors import SyncError, UsageError
from sync.model import ReportRow, ServerOnlyRow
from sync.report import cells, write_report


@pytest.mark.parametrize("text", HOSTILE + ["-", "=", "@", " \t\r\n=x"])
def test_formula_like_text_is_recognised(text: str) -> None:
    assert cells.is_formula_like(text)


@pytest.mark.parametrize("text", ["", "plain", "1-2", "a=b", "e-mail@x", "   ", "\u00a0x"])
def test_ordinary_text_is_not_formula_like(text: str) -> None:
    assert not cells.is_formula_like(text)


def _hostile_inputs(tmp_path: Path, engine: str):
    """A sheet, rows, server-only records and a summary carrying hostile text everywhere."""
    data = [list(row) for row in DATA]
    for i, text in enumerate(HOSTILE[:5]):
        data[i][5] = text                      # description
        data[i][8] = HOSTILE[-1 - i]           # Notes
    headers = HEADERS[:8] + ["=Notes()"]
    if engine in ("patch", "openpyxl"):
        from report.kit import build_planner_workbook

        path = build_planner_workbook(tmp_path / "hostile.xlsx")
        sheet = loaded_sheet(path, data=data)
        book = load_workbook(path)                # make the workbook hold the same text
        ws = book["Routing"]
        for values, number in zip(data, [5, 6, 7, 9, 10], strict=True):
            for col in (6, 9):
                cell = ws.cell(number, col, values[col - 1])
                cell.data_type = "s"
        book.save(path)
    else:
        path = tmp_path / "hostile.csv"
        path.write_text("x")
        sheet = loaded_sheet(path, headers=headers, data=data, header_row=1,
                             row_numbers=[2, 3, 4, 5, 6], file_format="csv", sheet_name=None)
    rows = {i: ReportRow("updated", IDS[0], f"description: a -> {text}", text)
            for i, text in enumerate(HOSTILE[:5])}
    server = [ServerOnlyRow({"id": IDS[2], "description": text, "process": text}, "deleted",
                            text) for text in HOSTILE]
    summary = {"File": HOSTILE[0], HOSTILE[3]: HOSTILE[1]}
    return sheet, rows, server, summary


@pytest.mark.parametrize("engine", ["new", "patch", "openpyxl"])
def test_hostile_text_is_written_as_text_everywhere(tmp_path: Path, engine: str) -> None:
    sheet, rows, server, summary = _hostile_inputs(tmp_path, engine)
    out = write_report(sheet, rows, server, summary, tmp_path / "out.xlsx", engine=engine)
    seen = set()
    for title, cell in all_cells(out):
        assert cell.data_type != "f", f"{title}!{cell.coordinate} is a formula: {cell.value!r}"
        if isinstance(cell.value, str) and cells.is_formula_like(cell.value):
            seen.add(cell.value)
            if engine == "new" or title != "Routing" or cell.column > 9:
                # Written by the report (not a kept cell of the planner's workbook): the
                # quote prefix keeps it text even when the planner edits the cell.
                assert cell.quotePrefix, f"{title}!{cell.coordinate}"
    expected = set(HOSTILE)
    if engine == "openpyxl":        # openpyxl writes CR raw, which XML reads back as LF
        expected = {t.replace("\r", "\n") for t in expected}
    assert expected <= seen         # every hostile text arrived, exactly as it was
    # And in the file itself: no formula element in any sheet, hostile text only as strings.
    for name, data in parts(out).items():
        if name.startswith("xl/worksheets/sheet"):
            assert b"<f>" not in data and b"<f " not in data, name


@pytest.mark.parametrize("engine", ["new", "patch"])
def test_carriage_return_and_tab_survive_the_xml(tmp_path: Path, engine: str) -> None:
    sheet, rows, server, summary = _hostile_inputs(tmp_path, engine)
    out = write_report(sheet, rows, server, summary, tmp_path / "out.xlsx", engine=engine)
    values = {cell.value for _, cell in all_cells(out)}
    assert "\t=1" in values and "\r=1" in values


def test_the_input_file_is_never_modified(tmp_path: Path) -> None:
    source = tmp_path / "routing.csv"
    source.write_text("id,product_id\n=1,2\n", encoding="utf-8")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    sheet = loaded_sheet(source, file_format="csv", sheet_name=None, header_row=1,
                         row_numbers=[2, 3, 4, 6, 7])
    write_report(sheet, report_rows(), [], {}, tmp_path / "routing.report.xlsx")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


def test_refuses_to_write_over_the_input(tmp_path: Path) -> None:
    source = tmp_path / "routing.xlsx"
    source.write_bytes(b"planner's data")
    sheet = loaded_sheet(source)
    with pytest.raises(UsageError, match="overwrite the input"):
        write_report(sheet, {}, [], {}, source)
    link = tmp_path / "link.xlsx"
    link.symlink_to(source)
    with pytest.raises(UsageError, match="overwrite the input"):
        write_report(sheet, {}, [], {}, link)
    assert source.read_bytes() == b"planner's data"


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    sheet = loaded_sheet(tmp_path / "x.csv", file_format="csv", sheet_name=None)
    with pytest.raises(UsageError, match="folder .* does not exist"):
        write_report(sheet, {}, [], {}, tmp_path / "nowhere" / "r.xlsx")


def test_success_leaves_no_temporary_file(tmp_path: Path, planner_xlsx: Path) -> None:
    for engine in ("new", "patch", "openpyxl"):
        write_report(loaded_sheet(planner_xlsx), report_rows(), [], {},
                     tmp_path / "report.xlsx", engine=engine)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx", "routing.xlsx"]


def test_a_crash_mid_write_keeps_the_previous_report(tmp_path: Path, planner_xlsx: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.xlsx"
    write_report(loaded_sheet(planner_xlsx), report_rows(), [], {}, target)
    previous = target.read_bytes()

    import sync.report as report

    def crash(sheet, rows, server_only, summary, handle):
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt          # the user pressed Ctrl-C while the report was written

    monkeypatch.setitem(report._ENGINES, "patch", crash)
    with pytest.raises(KeyboardInterrupt):
        write_report(loaded_sheet(planner_xlsx), report_rows(), [], {}, target)
    assert target.read_bytes() == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx", "routing.xlsx"]
    assert load_workbook(target)["Routing"]["J5"].value == "unchanged"


def test_stale_temporary_files_of_a_killed_run_are_removed(tmp_path: Path,
                                                          planner_xlsx: Path) -> None:
    """A run killed mid-write (SIGKILL: no clean-up) leaves its hidden temporary file; the next
    write of the same report removes it once it is over a minute old, and leaves younger ones
    (a write that may still be running) and other files alone."""
    import os
    import time

    target = tmp_path / "report.xlsx"
    stale = tmp_path / ".report.xlsx.0badf00d.tmp"
    young = tmp_path / ".report.xlsx.12345678.tmp"
    other = tmp_path / ".other.xlsx.0badf00d.tmp"
    for leftover in (stale, young, other):
        leftover.write_bytes(b"PK\x03\x04 half a zip")
    an_hour_ago = time.time() - 3600
    for old in (stale, other):
        os.utime(old, (an_hour_ago, an_hour_ago))
    write_report(loaded_sheet(planner_xlsx), report_rows(), [], {}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        other.name, young.name, "report.xlsx", "routing.xlsx"]


def test_an_unwritable_folder_is_a_sync_error(tmp_path: Path, planner_xlsx: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(SyncError, match="Permission denied"):
        write_report(loaded_sheet(planner_xlsx), {}, [], {}, tmp_path / "r.xlsx")


def test_the_report_gets_ordinary_file_permissions(tmp_path: Path) -> None:
    import os

    sheet = loaded_sheet(tmp_path / "x.csv", file_format="csv", sheet_name=None)
    old = os.umask(0o022)
    try:
        out = write_report(sheet, {}, [], {}, tmp_path / "r.xlsx")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_secrets_do_not_appear_unless_given(tmp_path: Path) -> None:
    """The writer renders what it is given and adds nothing: no environment, no token."""
    sheet = loaded_sheet(tmp_path / "x.csv", file_format="csv", sheet_name=None)
    out = write_report(sheet, report_rows(), [], {"Base URL": "https://acme.flowtrac.com/api"},
                       tmp_path / "r.xlsx")
    text = b"".join(parts(out).values())
    assert re.search(rb"token|cookie|pin", text, re.I) is None
