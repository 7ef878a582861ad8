"""Where things sit: title blocks, blank rows, extra columns, sheet choice, row numbers."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import openpyxl
import pytest

from sync.errors import InputError
from sync.load import HEADER_SEARCH_ROWS, column_letter, load_sheet, missing_required
from sync.validate import validate


def _csv(tmp_path: Path, text: str, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]


def test_missing_required_is_the_one_rule() -> None:
    assert missing_required({"product_id": 0, "line_number": 2}) == ["process_id"]
    assert missing_required(["product_id", "process_id", "line_number"]) == []


def test_planner_workbook_with_title_block(data_dir: Path, fx: ModuleType) -> None:
    sheet = load_sheet(data_dir / "routing_title_block.xlsx")
    assert sheet.sheet_name == "Routing"
    assert sheet.header_row == 4
    assert sheet.row_numbers == [5, 6, 7, 9, 10]   # row 8 is blank and skipped
    assert sheet.headers == [*fx.HEADERS, "Notes"]
    assert sheet.letters == list("ABCDEFGHI")
    assert sheet.unknown_columns == ["Notes"]
    assert sheet.frame["Notes"].tolist()[1] == "check tooling"
    checked = validate(sheet)
    assert checked.errors == []
    assert [r.values["line_number"] for r in checked.rows] == [1, 2, 3, 1, 2]
    assert "Notes" not in checked.rows[1].values


def test_planner_workbook_fixture_is_a_real_planners_file(data_dir: Path) -> None:
    """The report writer reuses this file to check the workbook is kept: make sure it has
    what a planner's file has."""
    book = openpyxl.load_workbook(data_dir / "routing_title_block.xlsx")
    assert book.sheetnames == ["Routing", "Instructions"]
    sheet = book["Routing"]
    assert "A1:I1" in {str(r) for r in sheet.merged_cells.ranges}
    assert sheet.freeze_panes == "A5"
    assert sheet["A4"].font.bold and sheet["A4"].fill.fgColor.rgb.endswith("DDEBF7")
    assert sheet["I4"].value == "Notes"
    assert sheet.data_validations.dataValidation


def test_title_block_and_blank_lines_in_csv(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_title_block.csv")
    assert sheet.header_row == 4
    assert sheet.row_numbers == [5, 6, 7, 10, 11]  # lines 8 and 9 are blank (one is ",,")
    assert sheet.unknown_columns == ["Notes"]


def test_table_may_start_away_from_a1(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws["C2"] = "Routing for line 3"
    for offset, value in enumerate(["product_id", "process_id", "line_number", "Comment"]):
        ws.cell(row=5, column=3 + offset, value=value)
    ws.cell(row=6, column=3, value="a0000001-0000-4000-8000-000000000001")
    ws.cell(row=6, column=4, value="b0000001-0000-4000-8000-000000000001")
    ws.cell(row=6, column=5, value=1.5)
    path = tmp_path / "offset.xlsx"
    book.save(path)
    sheet = load_sheet(path)
    assert sheet.header_row == 5 and sheet.row_numbers == [6]
    assert sheet.letters == ["C", "D", "E", "F"]
    assert [str(e) for e in validate(sheet).errors] == [
        'E6: line_number must be a positive whole number, got "1.5"']


def test_header_beyond_the_search_window_is_not_found(tmp_path: Path) -> None:
    lines = ["note"] * HEADER_SEARCH_ROWS + ["product_id,process_id,line_number", "a,b,1"]
    with pytest.raises(InputError, match="first 50 lines"):
        load_sheet(_csv(tmp_path, "\n".join(lines)))


def test_blank_and_whitespace_rows_are_skipped_but_zero_rows_kept(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["product_id", "process_id", "line_number", "product_minutes"])
    ws.append(["a", "b", 1, 5])
    ws.append([None, None, None, None])
    ws.append(["   ", None, "\t", None])
    ws.append([None, None, None, 0])            # a lone zero is a value
    ws.append(["a", "b", 2, 5])
    path = tmp_path / "blanks.xlsx"
    book.save(path)
    sheet = load_sheet(path)
    assert sheet.row_numbers == [2, 5, 6]


def test_columns_without_header_are_kept_only_with_data(tmp_path: Path) -> None:
    path = _csv(tmp_path, "product_id,,process_id,line_number,,\n"
                          "a,,b,1,,stray\n"
                          "a,,b,2,,\n")
    sheet = load_sheet(path)
    assert sheet.headers == ["product_id", "process_id", "line_number", ""]
    assert sheet.letters == ["A", "C", "D", "F"]
    assert sheet.frame.iloc[:, 3].tolist() == ["stray", ""]
    assert sheet.fields == {"product_id": 0, "process_id": 1, "line_number": 2}


def test_ragged_csv_rows_are_padded(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Routing\n\nproduct_id,process_id,line_number,description,Notes\n"
                          "a,b,1\n"
                          "a,b,2,two,n,extra\n")
    sheet = load_sheet(path)
    assert sheet.headers == ["product_id", "process_id", "line_number", "description", "Notes",
                             ""]
    assert sheet.frame.iloc[0].tolist() == ["a", "b", "1", "", "", ""]
    assert sheet.frame.iloc[1].tolist() == ["a", "b", "2", "two", "n", "extra"]


def test_unknown_columns_with_the_same_header_are_all_kept(tmp_path: Path) -> None:
    sheet = load_sheet(_csv(tmp_path, "Notes,product_id,process_id,line_number,Notes\n"
                                      "x,a,b,1,y\n"))
    assert sheet.unknown_columns == ["Notes", "Notes"]
    assert sheet.letters == list("ABCDE")


def test_two_columns_for_one_field_name_both(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Line Number,product_id,process_id,line_number\n1,a,b,1\n")
    with pytest.raises(InputError) as caught:
        load_sheet(path)
    assert str(caught.value) == ('sheet.csv, line 1: columns A ("Line Number") and D '
                                 '("line_number") both mean line_number; keep only one.')


def test_report_uploaded_again_keeps_its_id_column(tmp_path: Path) -> None:
    """A reconciliation report has id and sync_id: the id column wins, and sync_id fills the
    rows whose id is blank (lines the last run created), so they match by id next time."""
    made = "c0000001-0000-4000-8000-000000000002"
    path = _csv(tmp_path, "id,product_id,process_id,line_number,sync_status,sync_id\n"
                          "c0000001-0000-4000-8000-000000000001,,,1,updated,"
                          "c0000001-0000-4000-8000-000000000001\n"
                          f",,,2,created,{made.upper()}\n")
    sheet = load_sheet(path)
    assert sheet.fields["id"] == 0
    assert sheet.unknown_columns == ["sync_status", "sync_id"]
    assert sheet.fallbacks == {"id": 5} and sheet.warnings == []
    rows = validate(sheet).rows
    assert [r.values["id"] for r in rows] == ["c0000001-0000-4000-8000-000000000001", made]


def test_sync_id_alone_is_the_id(tmp_path: Path) -> None:
    sheet = load_sheet(_csv(tmp_path, "product_id,process_id,line_number,sync_id\na,b,1,x\n"))
    assert sheet.fields["id"] == 3


def test_default_sheet_is_the_first_with_the_columns(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_two_sheets.xlsx")
    assert sheet.sheet_name == "Routing" and sheet.row_numbers == [2, 3, 4]


@pytest.mark.parametrize("asked", ["Archive", "archive", " ARCHIVE "])
def test_sheet_chosen_by_name(asked: str, data_dir: Path, fx: ModuleType) -> None:
    sheet = load_sheet(data_dir / "routing_two_sheets.xlsx", sheet=asked)
    assert sheet.sheet_name == "Archive"
    assert validate(sheet).rows[0].values["id"] == fx.LINE_IDS[3]


def test_unknown_sheet_name_lists_the_sheets(data_dir: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_sheet(data_dir / "routing_two_sheets.xlsx", sheet="Routes")
    assert str(caught.value) == ('routing_two_sheets.xlsx has no sheet named "Routes"; its '
                                 'sheets are "Summary", "Routing", "Archive".')


def test_named_sheet_without_the_columns(data_dir: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_sheet(data_dir / "routing_two_sheets.xlsx", sheet="Summary")
    assert str(caught.value) == (
        'routing_two_sheets.xlsx: sheet "Summary" has no row with the required columns '
        "product_id (or product), process_id (or process) and line_number in its first 50 rows "
        '(closest: sheet "Summary" row 1, which lacks process_id (or process) and line_number).')


def test_sheet_option_is_ignored_for_csv_with_a_warning(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_utf8.csv", sheet="Routing")
    assert sheet.sheet_name is None
    assert sheet.warnings == ["--sheet Routing is ignored: routing_utf8.csv is a text file with "
                              "one table."]


def test_file_type_is_read_from_content_not_name(tmp_path: Path, data_dir: Path) -> None:
    renamed = tmp_path / "routing.xls"          # an .xlsx saved under an old name
    renamed.write_bytes((data_dir / "routing_openpyxl.xlsx").read_bytes())
    assert load_sheet(renamed).file_format == "xlsx"
    no_extension = tmp_path / "routing"
    no_extension.write_bytes((data_dir / "routing_utf8.csv").read_bytes())
    assert load_sheet(no_extension).file_format == "csv"


def test_header_cells_that_are_numbers_or_dates(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["product_id", "process_id", "line_number", 2024])
    ws.append(["a", "b", 1, 7])
    path = tmp_path / "years.xlsx"
    book.save(path)
    assert load_sheet(path).headers[3] == "2024"


def test_rows_with_only_unknown_columns_are_not_lines(tmp_path: Path) -> None:
    path = _csv(tmp_path, "product_id,process_id,line_number,Notes\n"
                          "a0000001-0000-4000-8000-000000000001,"
                          "b0000001-0000-4000-8000-000000000001,1,\n"
                          ",,,Total: 1 line\n")
    sheet = load_sheet(path)
    assert sheet.row_numbers == [2, 3]            # kept for the report
    checked = validate(sheet)
    assert [r.row_number for r in checked.rows] == [2]
    assert checked.errors == []
