"""Row validation: every rule with its exact message, duplicates, keys, speed, and fuzzing."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import schema
from sync.errors import UsageError
from sync.load import column_letter, load_sheet
from sync.model import CellError, LoadedSheet
from sync.validate import is_bad, parse_cell, parse_column, validate

P1 = "a0000001-0000-4000-8000-000000000001"
Q1 = "b0000001-0000-4000-8000-000000000001"


def make_sheet(headers: list[str], rows: list[list[Any]], *, decimal_comma: bool = False,
               first_row: int = 2) -> LoadedSheet:
    """A LoadedSheet as the loader would build it, without a file."""
    fields = {}
    for i, header in enumerate(headers):
        known = schema.field_for_header(header)
        if known is not None:
            fields[known.name] = i
    return LoadedSheet(
        path=Path("test.xlsx"), file_format="xlsx", sheet_name="Sheet1",
        header_row=first_row - 1,
        frame=pd.DataFrame(rows, columns=headers, dtype=object) if rows else
        pd.DataFrame(columns=headers, dtype=object),
        row_numbers=list(range(first_row, first_row + len(rows))), headers=headers,
        letters=[column_letter(i) for i in range(len(headers))], fields=fields,
        decimal_comma=decimal_comma)


BASIC = ["product_id", "process_id", "line_number"]


def test_every_rule_of_the_messy_sheet(data_dir: Path, fx: ModuleType) -> None:
    checked = validate(load_sheet(data_dir / "routing_messy.csv"))
    by_number = {row.row_number: [str(e) for e in row.errors] for row in checked.rows}
    expected = {i + 2: errors for i, (_, errors) in enumerate(fx.MESSY)}
    assert by_number == expected


def test_cell_error_carries_row_header_and_letter(data_dir: Path) -> None:
    checked = validate(load_sheet(data_dir / "routing_messy.csv"))
    error = checked.rows[1].errors[0]
    assert error == CellError(3, "line_number", "D",
                              'line_number must be a positive whole number, got "1.5"')
    assert str(error) == 'D3: line_number must be a positive whole number, got "1.5"'
    assert not checked.rows[1].valid and checked.rows[0].valid


def test_bad_cells_are_left_out_of_the_values(data_dir: Path) -> None:
    row = validate(load_sheet(data_dir / "routing_messy.csv")).rows[1]
    assert "line_number" not in row.values
    assert row.values["process_id"] == "b0000002-0000-4000-8000-000000000002"


@pytest.mark.parametrize("cell,expected", [
    (1, 1), ("1", 1), (1.0, 1), (" 2 ", 2), ("3.0", 3), (Decimal("4"), 4),
])
def test_line_number_accepts(cell: Any, expected: int) -> None:
    row = validate(make_sheet(BASIC, [[P1, Q1, cell]])).rows[0]
    assert row.errors == [] and row.values["line_number"] == expected


@pytest.mark.parametrize("cell,shown", [
    (1.5, "1.5"), ("1.5", "1.5"), (0, "0"), ("-3", "-3"), ("two", "two"), (True, "True"),
    (dt.datetime(2024, 1, 1), "2024-01-01 00:00:00"),
])
def test_line_number_refuses(cell: Any, shown: str) -> None:
    errors = validate(make_sheet(BASIC, [[P1, Q1, cell]])).errors
    assert [str(e) for e in errors] == [
        f'C2: line_number must be a positive whole number, got "{shown}"']


def test_line_number_too_large() -> None:
    errors = validate(make_sheet(BASIC, [[P1, Q1, "99999999999"]])).errors
    assert [str(e) for e in errors] == ['C2: line_number is too large, got "99999999999"']


@pytest.mark.parametrize("cell", ["{A0000001-0000-4000-8000-000000000001}",
                                  "A0000001000040008000000000000001", f"  {P1}  "])
def test_uuids_in_any_case_and_with_braces(cell: str) -> None:
    row = validate(make_sheet(BASIC, [[cell, Q1, 1]])).rows[0]
    assert row.values["product_id"] == P1


@pytest.mark.parametrize("cell,expected", [
    ("active", "Active"), ("ACTIVE", "Active"), ("InActive", "InActive"),
    (" inactive ", "InActive"), ("", None),
])
def test_active_spellings(cell: str, expected: str | None) -> None:
    row = validate(make_sheet([*BASIC, "active"], [[P1, Q1, 1, cell]])).rows[0]
    assert row.errors == [] and row.values["active"] == expected


def test_active_refuses_other_words() -> None:
    errors = validate(make_sheet([*BASIC, "active"], [[P1, Q1, 1, "yes"]])).errors
    assert [str(e) for e in errors] == ['D2: active must be Active or InActive, got "yes"']


@pytest.mark.parametrize("cell,decimal_comma,expected", [
    (5, False, Decimal(5)), (5.0, False, Decimal(5)), ("5", False, Decimal(5)),
    ("5.00", False, Decimal(5)), (7.5, False, Decimal("7.5")), ("0", False, Decimal(0)),
    ("7,5", True, Decimal("7.5")), ("1.234,5", True, Decimal("1234.5")),
    ("7.5", True, Decimal("7.5")),
])
def test_minutes_accept(cell: Any, decimal_comma: bool, expected: Decimal) -> None:
    sheet = make_sheet([*BASIC, "product_minutes"], [[P1, Q1, 1, cell]],
                       decimal_comma=decimal_comma)
    row = validate(sheet).rows[0]
    assert row.errors == [] and row.values["product_minutes"] == expected


@pytest.mark.parametrize("cell,shown", [("-1", "-1"), ("7,5", "7,5"), ("abc", "abc"),
                                        (float("inf"), "inf")])
def test_minutes_refuse(cell: Any, shown: str) -> None:
    errors = validate(make_sheet([*BASIC, "Product-Dwell-Minutes"], [[P1, Q1, 1, cell]])).errors
    assert [str(e) for e in errors] == [
        f'D2: product_dwell_minutes must be a number of minutes >= 0, got "{shown}"']


def test_values_are_trimmed_and_apostrophes_kept() -> None:
    row = validate(make_sheet([*BASIC, "description"], [[P1, Q1, 1, "  '0042  "]])).rows[0]
    assert row.values["description"] == "'0042"


def test_a_blank_nullable_cell_is_none() -> None:
    row = validate(make_sheet([*BASIC, "description", "product_minutes"],
                              [[P1, Q1, 1, "", None]])).rows[0]
    assert row.values["description"] is None and row.values["product_minutes"] is None
    assert set(row.values) == {"product_id", "process_id", "line_number", "description",
                               "product_minutes"}


def test_required_only_for_new_lines() -> None:
    sheet = make_sheet(["id", *BASIC, "active"], [
        [None, "", Q1, None, "Active"],
        ["c0000001-0000-4000-8000-000000000001", "", "", "", "InActive"],
    ])
    checked = validate(sheet)
    assert [str(e) for e in checked.rows[0].errors] == [
        "B2: product_id is required for a new line", "D2: line_number is required for a new line"]
    assert checked.rows[1].errors == []
    assert checked.rows[1].values["active"] == "InActive"


def test_several_errors_in_one_row_read_left_to_right() -> None:
    sheet = make_sheet([*BASIC, "active", "product_minutes"], [["x", "", "0", "no", "-2"]])
    assert [e.letter for e in validate(sheet).errors] == ["A", "B", "C", "D", "E"]


def test_spreadsheet_error_texts_are_row_errors() -> None:
    sheet = make_sheet([*BASIC, "description"], [[P1, Q1, 1, "#DIV/0!"], [P1, "Err:502", 2, ""]])
    assert [str(e) for e in validate(sheet).errors] == [
        "D2: description shows the error #DIV/0! (a formula that failed): fix the formula or "
        "type the value",
        "B3: process_id shows the error Err:502 (a formula that failed): fix the formula or "
        "type the value",
    ]


def test_duplicate_ids_name_the_other_rows() -> None:
    line = "c0000001-0000-4000-8000-000000000001"
    sheet = make_sheet(["id", *BASIC], [
        [line, P1, Q1, 1], [line.upper(), P1, Q1, 2], ["{" + line + "}", P1, Q1, 3],
        ["c0000002-0000-4000-8000-000000000002", P1, Q1, 4],
    ])
    checked = validate(sheet)
    assert [[str(e) for e in r.errors] for r in checked.rows] == [
        ["A2: the same id is also on rows 3 and 4"],
        ["A3: the same id is also on rows 2 and 4"],
        ["A4: the same id is also on rows 2 and 3"],
        [],
    ]


def test_duplicate_keys_without_id() -> None:
    sheet = make_sheet(["id", *BASIC], [
        [None, P1, Q1, 1], [None, P1.upper(), Q1, "1.0"],
        ["c0000001-0000-4000-8000-000000000001", P1, Q1, 1],  # matched by id, not by key
        [None, P1, Q1, 2],
    ])
    checked = validate(sheet)
    assert [[str(e) for e in r.errors] for r in checked.rows] == [
        ["row 2: the same product_id + line_number is also on row 3"],
        ["row 3: the same product_id + line_number is also on row 2"],
        [], [],
    ]


def test_many_duplicates_are_summarised() -> None:
    sheet = make_sheet(BASIC, [[P1, Q1, 1]] * 8)
    assert str(validate(sheet).rows[0].errors[0]) == (
        "row 2: the same product_id + line_number is also on rows 3, 4, 5, 6, 7 and 2 more")


def test_rows_with_bad_key_cells_are_not_called_duplicates() -> None:
    sheet = make_sheet(BASIC, [[P1, Q1, "1.5"], [P1, Q1, "1.5"], ["", Q1, 1], ["", Q1, 1]])
    messages = [str(e) for e in validate(sheet).errors]
    assert not any("the same" in m for m in messages)


def test_key_option_changes_the_duplicate_rule() -> None:
    sheet = make_sheet(BASIC, [[P1, Q1, 1], [P1, Q1, 2]])
    assert validate(sheet).errors == []
    checked = validate(sheet, key=["Product ID", "process_id"])
    assert checked.key == ("product_id", "process_id")
    assert [str(e) for e in checked.errors] == [
        "row 2: the same product_id + process_id is also on row 3",
        "row 3: the same product_id + process_id is also on row 2"]


def test_key_with_a_nullable_column_counts_blanks_as_values() -> None:
    sheet = make_sheet([*BASIC, "description"], [[P1, Q1, 1, ""], [P1, Q1, 2, None]])
    assert len(validate(sheet, key=["product_id", "description"]).errors) == 2


def test_bad_key_options_are_usage_errors() -> None:
    sheet = make_sheet(BASIC, [[P1, Q1, 1]])
    with pytest.raises(UsageError, match="not a field that can identify a line"):
        validate(sheet, key=["colour"])
    with pytest.raises(UsageError, match="the sheet has no description column"):
        validate(sheet, key=["product_id", "description"])


def test_result_describes_the_sheet() -> None:
    sheet = make_sheet([*BASIC, "Notes"], [[P1, Q1, 1, "x"]])
    checked = validate(sheet)
    assert checked.present == frozenset(BASIC)
    assert checked.key == schema.DEFAULT_KEY
    assert checked.sheet is sheet
    assert (checked.rows[0].index, checked.rows[0].row_number) == (0, 2)


def test_numeric_types_are_not_confused_by_the_shared_parse_table() -> None:
    values, bad = parse_column(schema.LINE_NUMBER, [1, True, 1.0, "1"])
    assert bad
    assert [v for v in values if not is_bad(v)] == [1, 1, 1]
    assert is_bad(values[1])


def test_validating_100000_rows_is_fast() -> None:
    products = [str(uuid.UUID(int=i)) for i in range(20_000)]
    rows = [[str(uuid.UUID(int=10**9 + i)), products[i // 5], Q1, float(i % 5 + 1), "Active",
             f"step {i % 5}", 7.5, 0.0] for i in range(100_000)]
    headers = ["id", *BASIC, "active", "description", "product_minutes", "product_dwell_minutes"]
    sheet = make_sheet(headers, rows)
    started = time.perf_counter()
    checked = validate(sheet)
    elapsed = time.perf_counter() - started
    assert len(checked.rows) == 100_000 and checked.errors == []
    assert elapsed < 3.0, f"validate took {elapsed:.2f} s"  # about 0.5 s on 2 cores


# --------------------------------------------------------------------------- properties

CELLS = st.one_of(
    st.none(), st.text(max_size=40), st.integers(), st.floats(), st.booleans(),
    st.decimals(), st.datetimes(), st.dates(), st.times(), st.timedeltas(),
    st.from_regex(r"\s*[-+]?[0-9]{0,12}([.,][0-9]{0,6})?([eE][-+]?[0-9]{1,12})?\s*",
                  fullmatch=True),
    st.uuids().map(str), st.uuids().map(lambda u: "{" + str(u).upper() + "}"),
    st.sampled_from(["#REF!", "#N/A", "Err:502", "active", "InActive", "\x00", " "]),
)
FIELDS = [f for f in schema.SHEET_FIELDS]


@settings(max_examples=400, deadline=None)
@given(field=st.sampled_from(FIELDS), cell=CELLS, decimal_comma=st.booleans())
def test_any_cell_gives_a_value_or_an_error(field: schema.Field, cell: Any,
                                            decimal_comma: bool) -> None:
    result = parse_cell(field, cell, decimal_comma)
    if is_bad(result):
        assert result.message.startswith(field.name) and "\n" not in result.message
    else:
        assert result is None or isinstance(result, str | int | Decimal)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(CELLS, min_size=8, max_size=8), min_size=1, max_size=12),
       decimal_comma=st.booleans())
def test_any_sheet_validates_without_exceptions(rows: list[list[Any]],
                                                decimal_comma: bool) -> None:
    headers = ["id", *BASIC, "active", "description", "product_minutes", "edited"]
    sheet = make_sheet(headers, rows, decimal_comma=decimal_comma)
    checked = validate(sheet)
    for row in checked.rows:
        assert set(row.values) <= set(sheet.fields)
        for error in row.errors:
            assert error.row_number == row.row_number
            assert error.letter is None or error.letter in sheet.letters
        if row.valid:
            assert set(row.values) == set(sheet.fields)


@settings(max_examples=300, deadline=None)
@given(value=st.uuids(), braces=st.booleans(), upper=st.booleans(), dashes=st.booleans())
def test_canonical_uuid_shortcut_matches_the_schema(value: uuid.UUID, braces: bool,
                                                    upper: bool, dashes: bool) -> None:
    text = str(value) if dashes else value.hex
    text = text.upper() if upper else text
    text = "{" + text + "}" if braces else text
    values, bad = parse_column(schema.PRODUCT_ID, [text, text])
    assert not bad
    assert values == [schema.PRODUCT_ID.parse(text)] * 2 == [str(value)] * 2
