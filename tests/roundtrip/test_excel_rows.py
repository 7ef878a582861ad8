"""An xlsx export never writes a sheet Excel cuts short: more lines than an Excel sheet holds
below its header are exported as CSV beside the asked-for workbook, and that CSV plans to
nothing.  The limit is lowered through export's parameter so the data set stays small."""

from __future__ import annotations

import csv

import openpyxl
from sheetkit import token_connection

from sync import api
from sync.exporting import export
from sync.report import EXCEL_MAX_ROWS
from sync.templating import DATA_SHEET


async def test_more_lines_than_a_sheet_holds_are_exported_as_csv(emulator, seed_dataset,
                                                                 tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    asked = tmp_path / "lines.xlsx"
    exported = await export(conn, asked, excel_max_rows=12)     # 12 lines + the header
    assert exported.path == tmp_path / "lines.csv" and exported.fmt == "csv"
    assert exported.lines == 12 and not asked.exists()
    assert exported.warnings == [
        "12 lines do not fit an Excel sheet (12 rows with the header): exported as CSV to "
        "lines.csv instead of lines.xlsx; plan and apply read it as they read the workbook."
    ]
    with exported.path.open(encoding="utf-8-sig", newline="") as handle:
        assert len(list(csv.reader(handle))) == 13

    planned = await api.plan_async(exported.path, conn)
    assert planned.counts() == {"unchanged": 12}
    assert planned.changes == {"create": 0, "update": 0, "delete": 0}


async def test_lines_that_fill_the_sheet_to_its_last_row_stay_a_workbook(emulator,
                                                                         seed_dataset,
                                                                         tmp_path):
    emu = await emulator(dataset=seed_dataset)
    exported = await export(token_connection(emu.base_url), tmp_path / "lines.xlsx",
                            excel_max_rows=13)
    assert exported.fmt == "xlsx" and exported.warnings == []
    sheet = openpyxl.load_workbook(exported.path)[DATA_SHEET]
    assert sheet.max_row == 13 and not (tmp_path / "lines.csv").exists()


def test_the_default_limit_is_excels() -> None:
    assert export.__kwdefaults__["excel_max_rows"] == EXCEL_MAX_ROWS == 1_048_576


def test_a_table_workbook_longer_than_a_sheet_goes_on_over_more_sheets(tmp_path):
    """The undo and saved-plan reports are table workbooks: past Excel's row limit (lowered
    here) the rows go on over "Undo (2)", "Undo (3)"... each with its header, none lost."""
    import openpyxl

    from sync.templating import write_table_workbook

    rows = [[n, f"line {n}"] for n in range(1, 12)]
    path = write_table_workbook(tmp_path / "u.xlsx", [("Undo", ["n", "what"], rows),
                                                      ("Summary", ["k", "v"], [["a", 1]])],
                                excel_max_rows=5)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Undo", "Undo (2)", "Undo (3)", "Summary"]
    got = []
    for name in book.sheetnames[:3]:
        table = [list(r) for r in book[name].iter_rows(values_only=True)]
        assert table[0] == ["n", "what"] and len(table) <= 5
        got += table[1:]
    assert got == rows
