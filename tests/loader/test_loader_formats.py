"""Every format and encoding the loader reads, checked cell by cell against the fixture data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from sync import schema
from sync.load import load_sheet
from sync.validate import validate

# file name -> (file_format, sheet_name, decimal_comma)
SAME_ROWS = {
    "routing_utf8.csv": ("csv", None, False),
    "routing_utf8_bom.csv": ("csv", None, False),
    "routing_cp1252.csv": ("csv", None, False),
    "routing_semicolon.csv": ("csv", None, True),
    "routing.tsv": ("csv", None, False),
    "routing_unicode.txt": ("csv", None, False),
    "routing_aliases.csv": ("csv", None, False),
    "routing_openpyxl.xlsx": ("xlsx", "Routing", False),
    "routing_lo.xlsx": ("xlsx", "Routing", False),
    "routing_lo.xlsm": ("xlsx", "Routing", False),
    "routing_lo.xls": ("xls", "Routing", False),
    "routing_lo.ods": ("ods", "Routing", False),
    "routing_raw.xlsb": ("xlsb", "Routing", False),
    "routing_xlsxwriter.xlsx": ("xlsx", "Lines", False),
}


@pytest.mark.parametrize("name", sorted(SAME_ROWS))
def test_each_format_reads_the_same_lines(name: str, data_dir: Path, fx: ModuleType) -> None:
    file_format, sheet_name, decimal_comma = SAME_ROWS[name]
    sheet = load_sheet(data_dir / name)
    assert (sheet.file_format, sheet.sheet_name, sheet.decimal_comma) == (
        file_format, sheet_name, decimal_comma)
    assert sheet.header_row == 1
    assert sheet.row_numbers == [2, 3, 4, 5, 6]
    assert sheet.letters[:8] == list("ABCDEFGH")
    assert [sheet.fields[h] for h in fx.HEADERS] == list(range(8))

    checked = validate(sheet)
    assert checked.errors == []
    for row, source in zip(checked.rows, fx.ROWS, strict=True):
        expected = fx.expected_values(source)
        if name == "routing_xlsxwriter.xlsx" and row.row_number == 5:
            expected["description"] = "2024-02-29"  # a date typed into the text column
        got = {k: v for k, v in row.values.items() if k in expected}
        assert got == expected, f"row {row.row_number}"


def test_text_cells_arrive_exactly_as_written(tmp_path: Path, data_dir: Path,
                                              fx: ModuleType) -> None:
    """CSV cells are kept as strings: no 1 -> 1.0, no lost leading zero, no NaN."""
    sheet = load_sheet(data_dir / "routing_aliases.csv")
    first = sheet.frame.iloc[0].tolist()
    assert first[:4] == ["{" + fx.LINE_IDS[0].upper() + "}", f"  {fx.PRODUCTS[0].upper()}  ",
                         fx.PROCESSES[0].replace("-", ""), "1.0"]
    assert first[6] == "5.00"
    assert all(isinstance(v, str) for v in sheet.frame.to_numpy().ravel())

    path = tmp_path / "zeros.csv"
    path.write_text("product_id,process_id,line_number,description,Notes\n"
                    "a,b,1,0042,NA\n"
                    'a,b,2,"two\nlines",null\n')
    sheet = load_sheet(path)
    assert sheet.frame["description"].tolist() == ["0042", "two\nlines"]
    assert sheet.frame["Notes"].tolist() == ["NA", "null"]


def test_header_aliases_map_to_fields(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_aliases.csv")
    assert sheet.headers == ["ID", "Product ID", "Process-Id", "line number", "Active",
                             "DESCRIPTION", "Product.Minutes", "product_dwell_mintues"]
    assert sheet.header_of("product_dwell_minutes") == "product_dwell_mintues"
    assert sheet.unknown_columns == []


@pytest.mark.parametrize("header,field", [
    ("Product ID", "product_id"), ("PRODUCT_ID", "product_id"), ("line number", "line_number"),
    ("Line-Number", "line_number"), ("Product-Dwell-Minutes", "product_dwell_minutes"),
    ("product_dwell_mintues", "product_dwell_minutes"), ("Product.Minutes", "product_minutes"),
    (" process id ", "process_id"),
])
def test_header_spellings(tmp_path: Path, header: str, field: str) -> None:
    others = [h for h in ("product_id", "process_id", "line_number") if h != field]
    path = tmp_path / "aliases.csv"
    path.write_text(",".join([header, *others]) + "\n" + ",".join(["1"] * 3) + "\n")
    sheet = load_sheet(path)
    assert sheet.fields[field] == 0
    assert sheet.headers[0] == header.strip()


def test_semicolon_csv_reads_decimal_commas(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_semicolon.csv")
    assert sheet.frame.iloc[1, 6] == "7,5"
    row = validate(sheet).rows[2]
    assert row.values["product_minutes"] == Decimal("12.25")


def test_cp1252_text_is_decoded(data_dir: Path) -> None:
    raw = (data_dir / "routing_cp1252.csv").read_bytes()
    assert "ü".encode("cp1252") in raw and "ü".encode() not in raw
    sheet = load_sheet(data_dir / "routing_cp1252.csv")
    assert sheet.frame.iloc[1, 5] == "Bend über Kante"
    assert sheet.frame.iloc[2, 5] == "Schweißen – qualité"
    assert sheet.warnings == []


def test_mixed_encodings_are_decoded_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"product_id,process_id,line_number,description\n"
                     + "a,b,1,Prüfung\n".encode() + "a,b,2,Qualité\n".encode("cp1252"))
    sheet = load_sheet(path)
    assert sheet.frame["description"].tolist() == ["Prüfung", "Qualité"]
    assert "mixes UTF-8 and Windows-1252" in sheet.warnings[0]


def test_excel_numbers_arrive_as_floats_and_validate_as_integers(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_lo.xlsx")
    assert sheet.frame.iloc[0, 3] == 1.0 and isinstance(sheet.frame.iloc[0, 3], float)
    assert validate(sheet).rows[0].values["line_number"] == 1


def test_numbers_stored_as_text(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_xlsxwriter.xlsx")
    assert sheet.frame.iloc[1, 3] == "2" and sheet.frame.iloc[1, 6] == "7.5"
    values = validate(sheet).rows[1].values
    assert values["line_number"] == 2 and values["product_minutes"] == Decimal("7.5")


def test_dates_arrive_as_datetimes(data_dir: Path) -> None:
    sheet = load_sheet(data_dir / "routing_xlsxwriter.xlsx")
    assert sheet.headers[8] == "edited"
    assert sheet.frame.iloc[0, 8] == dt.datetime(2024, 3, 1, 8, 30, 1)
    assert validate(sheet).rows[0].values["edited"] == "2024-03-01 08:30:01"


@pytest.mark.parametrize("name", ["routing_formulas_lo.xlsx", "routing_formulas_lo.xls",
                                  "routing_formulas_lo.ods"])
def test_formulas_give_their_cached_values_and_errors(name: str, data_dir: Path,
                                                      fx: ModuleType) -> None:
    checked = validate(load_sheet(data_dir / name))
    assert [r.row_number for r in checked.rows] == [2, 3, 4]
    for row, expected in zip(checked.rows, fx.FORMULA_EXPECTED, strict=False):
        assert row.errors == []
        assert {k: row.values[k] for k in expected} == expected
    errors = [str(e) for e in checked.rows[2].errors]
    expected_errors = list(fx.FORMULA_ERRORS)
    if name.endswith(".ods"):  # LibreOffice keeps its own error code in its own format
        expected_errors[2] = expected_errors[2].replace("#VALUE!", "Err:502")
    assert errors == expected_errors
    assert schema.LINE_NUMBER.name not in checked.rows[2].values


def test_error_cells_found_at_their_true_position(tmp_path: Path) -> None:
    """openpyxl writes '#N/A' as an error cell; calamine reads it blank; validation sees it."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet["B1"] = "Routing"
    sheet.append([])
    sheet.append([None, "product_id", "process_id", "line_number", "description"])
    sheet.append([None, "a0000001-0000-4000-8000-000000000001",
                  "b0000001-0000-4000-8000-000000000001", 1, "#N/A"])
    sheet.append([None, "a0000001-0000-4000-8000-000000000001", "#REF!", 2, "ok"])
    path = tmp_path / "errors.xlsx"
    book.save(path)
    loaded = load_sheet(path)
    assert loaded.letters == ["B", "C", "D", "E"]
    assert loaded.frame.iloc[0, 3] == "#N/A"
    errors = [str(e) for e in validate(loaded).errors]
    assert errors == [
        "E4: description shows the error #N/A (a formula that failed): fix the formula or "
        "type the value",
        "C5: process_id shows the error #REF! (a formula that failed): fix the formula or "
        "type the value",
    ]
