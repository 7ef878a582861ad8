"""Offline: name columns in the schema, the loader and validation (no server involved)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync import api, schema
from sync.errors import InputError
from sync.load import load_sheet, missing_required
from sync.validate import validate

ID = "c0000001-0000-4000-8000-000000000001"
PRODUCT_ID = "a0000001-0000-4000-8000-000000000001"


def csv_file(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def errors(path: Path, **options) -> list[str]:
    return [str(e) for e in validate(load_sheet(path), **options).errors]


def test_reference_columns_live_in_the_sheet_namespace_only() -> None:
    product, process = (schema.REFERENCE_BY_NAME[n] for n in ("product", "process"))
    assert (product.target, process.target) == (schema.PRODUCT_ID, schema.PROCESS_ID)
    assert schema.SHEET_BY_NAME["process"] is process.field
    assert schema.BY_NAME["process"].read_only           # the server's process name
    assert all(r.field not in schema.FIELDS for r in schema.REFERENCES)
    assert "product" not in schema.BY_NAME
    # A server record keeps its read-only process name and gains nothing.
    record = schema.record_from_wire({"id": ID.upper(), "process": "Welding", "product": "x"})
    assert record == {"id": ID, "process": "Welding", "product": "x"}
    assert schema.wire_body({"line_number": 1}) == {"line_number": "1"}


@pytest.mark.parametrize("header, name", [
    ("Product", "product"), ("Product name", "product"), ("PRODUCT_NAME", "product"),
    ("Process", "process"), ("process name", "process"), ("Process-Name", "process"),
    ("product (read-only)", None), ("Process id", "process_id"),
])
def test_header_spellings(header: str, name: str | None) -> None:
    found = schema.field_for_header(header)
    assert (found.name if found else None) == name


def test_a_key_given_by_name_means_the_id() -> None:
    assert schema.key_fields(["Product", "line number"]) == (schema.PRODUCT_ID,
                                                             schema.LINE_NUMBER)


def test_names_only_sheet_loads_and_validates_offline(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "names.csv",
                    "Product name,Process,Line number,Product minutes,Notes",
                    "  Steel Bracket SB-1 ,Welding,1,5,first",
                    "4000000000011,PRC-0002,2,7,",
                    "Bolt M6,  ,3,,no process")
    sheet = load_sheet(path)
    assert set(sheet.fields) == {"product", "process", "line_number", "product_minutes"}
    assert sheet.unknown_columns == ["Notes"]
    checked = validate(sheet)
    assert checked.key == ("product_id", "line_number")
    assert [r.values.get("product") for r in checked.rows] == [
        "Steel Bracket SB-1", "4000000000011", "Bolt M6"]
    assert [str(e) for e in checked.errors] == ["B4: process is required for a new line"]
    result = api.validate_file(path)
    assert result.counts() == {"rows": 3, "valid": 2, "invalid": 1}


def test_missing_required_accepts_a_name_for_an_id() -> None:
    assert missing_required({"product": 0, "process": 1, "line_number": 2}) == []
    assert missing_required({"product_id": 0, "process": 1, "line_number": 2}) == []
    assert missing_required({"process": 1, "line_number": 2}) == ["product_id"]


def test_a_sheet_without_product_id_or_product_is_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "noproduct.csv", "Process,Line number,Minutes", "Welding,1,5")
    with pytest.raises(InputError) as caught:
        load_sheet(path)
    assert caught.value.exit_code == 2
    assert str(caught.value) == (
        "noproduct.csv has no header line with the required columns product_id (or product), "
        "process_id (or process) and line_number in its first 50 lines (closest: line 1, "
        "which lacks product_id (or product)).")


def test_two_columns_naming_the_product_are_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "two.csv", "Product,Product name,Process,Line number",
                    "a,b,c,1")
    with pytest.raises(InputError, match=r"both mean product; keep only one"):
        load_sheet(path)


def test_either_the_id_or_the_name_will_do(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "both.csv",
                    "product_id,product,process_id,process,line_number,id",
                    f"{PRODUCT_ID},,,Welding,1,",
                    ",Bolt M6,,,2,",
                    f",,,,3,{ID}")                        # an update needs neither
    assert errors(path) == [
        "C3: process_id or process is required for a new line",
    ]
    assert len(validate(load_sheet(path)).rows) == 3


def test_a_name_cell_showing_a_formula_error_is_a_row_error(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "err.csv", "product,process,line_number",
                    "#N/A,Welding,1")
    assert errors(path) == ["A2: product shows the error #N/A (a formula that failed): fix "
                            "the formula or type the value"]


def test_the_same_name_twice_on_one_line_is_a_duplicate_offline(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "dup.csv", "product,process,line_number",
                    "Bolt M6,Welding,1", "Bolt M6,Cutting,1", "bolt m6,Cutting,2",
                    f"{PRODUCT_ID},Cutting,1")
    assert errors(path) == ["row 2: the same product + line_number is also on row 3",
                            "row 3: the same product + line_number is also on row 2"]


def test_a_name_and_an_id_are_not_taken_for_the_same_product_offline(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "mixed.csv", "product_id,product,process,line_number",
                    f"{PRODUCT_ID},,Welding,1", f",{PRODUCT_ID},Welding,1")
    assert errors(path) == []   # resolution decides (a name may look like anything)


def test_key_option_by_name(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "k.csv", "product,process,line_number",
                    "Bolt M6,Welding,1", "Bolt M6,Welding,2")
    checked = validate(load_sheet(path), key=["product", "process"])
    assert checked.key == ("product_id", "process_id")
    assert [str(e) for e in checked.errors] == [
        "row 2: the same product + process is also on row 3",
        "row 3: the same product + process is also on row 2"]
