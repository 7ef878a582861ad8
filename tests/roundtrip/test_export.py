"""export -> edit -> plan -> apply, over loopback against the emulator."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from roundtrip_kit import EDITED_LO, EXPORT_LO, libreoffice_copy
from sheetkit import server_rows, token_connection

from sync import api, schema
from sync.cli import main
from sync.emulator import DEMO_TOKEN
from sync.errors import UsageError
from sync.exporting import export, export_lines, parse_filter
from sync.templating import export_columns, write_table_workbook

FORMULA_LIKE = ("=1+2", "+49 30 1234", "@risk -check", "=Danger Bracket")


def _rows(path: Path) -> list[dict]:
    sheet = openpyxl.load_workbook(path)["Lines"]
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, row, strict=True))
            for row in sheet.iter_rows(min_row=2, values_only=True)]


@pytest.mark.parametrize("name", ["lines.xlsx", "lines.csv"])
async def test_an_unedited_export_plans_to_nothing(emulator, seed_dataset, tmp_path, name):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    path = await export_lines(conn, tmp_path / name, fmt=None)

    planned = await api.plan_async(path, conn)
    assert planned.counts() == {"unchanged": 12}
    assert planned.changes == {"create": 0, "update": 0, "delete": 0}
    assert planned.exit_code == 0


async def test_export_layout_is_what_the_loader_reads(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    path = await export_lines(token_connection(emu.base_url), tmp_path / "lines.xlsx")
    book = openpyxl.load_workbook(path)
    # _base: the three-way merge's base, hidden (tests/roundtrip/test_three_way.py).
    assert book.sheetnames == ["Lines", "Instructions", "Lists", "_base"]
    assert [s.sheet_state for s in book.worksheets] == ["visible"] * 3 + ["veryHidden"]
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    # Names first: each name column stands before its id.
    names = ["id", "product", "product_id", "process", "process_id", "line_number", "active",
             "description", "product_minutes", "product_dwell_minutes", "edited"]
    assert header[:len(names)] == names
    context = header[len(names):]
    assert context == ["edited_by (read-only)"]
    # The loader takes every field column back, and none of the context columns.
    assert [schema.field_for_header(h).name for h in header[:len(names)]] == names
    assert all(schema.field_for_header(h) is None for h in context)

    # Sorted by product name, then line number; the names come from /api/products.
    rows = _rows(path)
    names_by_id = {p["product_id"]: p["product"] for p in seed_dataset.products}
    order = [(r["product"].casefold(), r["line_number"]) for r in rows]
    assert order == sorted(order)
    assert all(r["product"] == names_by_id[r["product_id"]] for r in rows)

    # Frozen header, autofilter over the table, greyed read-only columns with notes.
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:L{len(rows) + 1}"
    assert sheet.cell(2, len(names)).fill.fgColor.rgb.endswith("EDEDED")   # edited
    for col in range(len(names), len(header) + 1):
        assert sheet.cell(2, col).fill.fgColor.rgb.endswith("EDEDED")
    assert sheet.cell(2, 2).fill.fill_type is None
    assert "read-only" in sheet.cell(1, len(header)).comment.text.lower()
    assert sheet.cell(1, 1).comment.text == schema.ID.help
    validations = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    active = validations["G2:G1048576"]
    assert (active.type, active.formula1) == ("list", '"Active,InActive"')


async def test_formula_like_text_stays_text(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    xlsx = await export_lines(conn, tmp_path / "lines.xlsx")
    sheet = openpyxl.load_workbook(xlsx)["Lines"]
    seen = {}
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.value in FORMULA_LIKE:
                seen[cell.value] = cell
    assert set(seen) == set(FORMULA_LIKE)
    for cell in seen.values():
        assert cell.data_type == "s"           # a string, never a formula
        assert cell.quotePrefix                 # and stays text when edited in Excel
    raw = _zip_text(xlsx, "xl/worksheets/sheet1.xml")
    assert "<f>" not in raw and 't="inlineStr"><is><t>=1+2</t>' in raw

    text = (await export_lines(conn, tmp_path / "lines.csv", fmt="csv")).read_text("utf-8-sig")
    cells = [c for row in csv.reader(text.splitlines()) for c in row]
    for value in FORMULA_LIKE:
        assert "'" + value in cells and value not in cells
    # ... and both read back as the server's text: nothing to change.
    for path in (xlsx, tmp_path / "lines.csv"):
        assert (await api.plan_async(path, conn)).counts() == {"unchanged": 12}


def _zip_text(path: Path, member: str) -> str:
    import zipfile

    with zipfile.ZipFile(path) as package:
        return package.read(member).decode()


async def test_edit_with_openpyxl_then_apply(emulator, seed_dataset, tmp_path, planner_edits):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    path = await export_lines(conn, tmp_path / "lines.xlsx")
    edits = planner_edits(path)

    planned = await api.plan_async(path, conn)
    assert planned.changes == {"create": 1, "update": 2, "delete": 0}
    applied = await api.execute_async(planned, conn, journal=tmp_path / "j.jsonl")
    assert applied.exit_code == 0
    assert applied.counts() == {"updated": 2, "created": 1, "unchanged": 10}
    _assert_server_has(emu.store, edits)

    # The next round starts from a new export, which again plans to nothing.
    again = await export_lines(conn, tmp_path / "again.xlsx")
    assert (await api.plan_async(again, conn)).counts() == {"unchanged": 13}


def _assert_server_has(store, edits) -> None:
    lines = {r["id"]: r for r in server_rows(store)}
    assert lines[edits.minutes_id]["product_minutes"] == edits.minutes
    assert lines[edits.inactive_id]["active"] == "InActive"
    new = [r for r in lines.values() if r["product_id"] == edits.new_line["product_id"]
           and r["line_number"] == edits.new_line["line_number"]]
    assert len(new) == 1
    assert {k: new[0][k] for k in edits.new_line} == edits.new_line
    assert len(lines) == 13


async def test_libreoffice_saved_copies_plan_correctly(emulator, seed_dataset, tmp_path):
    """The committed copies, saved by LibreOffice: unedited -> nothing; edited -> 3 writes."""
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    assert (await api.plan_async(EXPORT_LO, conn)).counts() == {"unchanged": 12}

    planned = await api.plan_async(EDITED_LO, conn)
    changes = sorted((i.action.value, tuple(i.changes)) for i in planned.plan.writes)
    assert changes == [("create", ()), ("update", ("active",)),
                       ("update", ("product_minutes",))]
    applied = await api.execute_async(planned, conn)
    assert applied.exit_code == 0
    minutes = [i for i in planned.plan.writes if "product_minutes" in i.changes][0]
    assert emu.store.line(minutes.record_id)["product_minutes"] == "45.5"
    assert len(emu.store.lines()) == 13


async def test_libreoffice_conversion_of_a_fresh_export(emulator, seed_dataset, tmp_path,
                                                        planner_edits):
    """Export, edit, let LibreOffice save it (where installed; otherwise the committed copy
    made the same way stands in), then apply."""
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    exported = await export_lines(conn, tmp_path / "edited_lo.xlsx")
    edits = planner_edits(exported)
    converted = libreoffice_copy(exported, tmp_path / "lo") or EDITED_LO
    assert converted.exists()

    applied = await api.apply_async(converted, conn)
    assert applied.counts() == {"updated": 2, "created": 1, "unchanged": 10}
    _assert_server_has(emu.store, edits)


async def test_filters_and_product_names(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    product = seed_dataset.products[1]
    other = seed_dataset.products[2]

    by_name = await export(conn, tmp_path / "a.xlsx", products=[product["product"],
                                                                other["barcode"]])
    rows = _rows(by_name.path)
    assert by_name.lines == 6
    assert {r["product_id"] for r in rows} == {product["product_id"], other["product_id"]}

    both = await export(conn, tmp_path / "b.csv", products=[product["product"]],
                        filters=["line_number-gt=1", "product_dwell_minutes-isnotnull"])
    expected = [r for r in seed_dataset.lines if r["product_id"] == product["product_id"]
                and int(r["line_number"]) > 1 and r["product_dwell_mintues"] is not None]
    assert both.lines == len(expected) and both.fmt == "csv"

    process = seed_dataset.lines[0]["process"]
    by_process = await export(conn, tmp_path / "c.xlsx", filters=[f"process={process}"])
    assert {r["process"] for r in _rows(by_process.path)} == {process}

    with pytest.raises(UsageError, match="no product is named.*'Nope'"):
        await export(conn, tmp_path / "d.xlsx", products=["Nope"])
    assert not (tmp_path / "d.xlsx").exists()


def test_filter_syntax():
    assert parse_filter("line_number=2") == ("line_number", "2")
    assert parse_filter("Product Dwell Minutes-gt=5") == ("product_dwell_mintues-gt", "5")
    assert parse_filter("product_id-in=a,b") == ("product_id-in", "a,b")
    assert parse_filter("description-isnull") == ("description-isnull", "")
    assert parse_filter("process=Cutting") == ("process", "Cutting")
    for bad, words in (("colour=red", "not a filterable column"),
                       ("line_number-between=1", "unknown operator"),
                       ("line_number", "needs a value")):
        with pytest.raises(UsageError, match=words):
            parse_filter(bad)


def test_export_command(emulator_thread, seed_dataset, tmp_path):
    emu = emulator_thread(dataset=seed_dataset)
    env = {"FLOWTRAC_BASE_URL": emu.base_url, "FLOWTRAC_TOKEN": DEMO_TOKEN,
           "FLOWTRAC_CONFIG": None, "FLOWTRAC_COMPANY": None}
    runner = CliRunner()
    out = tmp_path / "lines.csv"
    product = seed_dataset.products[3]["product"]
    result = runner.invoke(main, ["export", str(out), "--product", product, "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"command": "export", "file": str(out),
                                         "format": "csv", "lines": 3, "warnings": []}
    assert out.read_bytes().startswith(b"\xef\xbb\xbfid,product,product_id,process,")

    result = runner.invoke(main, ["export", str(tmp_path / "x.xlsx"), "--product", "Nope"],
                           env=env)
    assert result.exit_code == 2
    assert "no product is named" in result.stderr and "Traceback" not in result.output
    result = runner.invoke(main, ["export", str(tmp_path / "x.xlsx"), "--filter", "colour=red"],
                           env=env)
    assert result.exit_code == 2 and "not a filterable column" in result.stderr
    assert not (tmp_path / "x.xlsx").exists()
    assert DEMO_TOKEN not in result.output


def test_table_workbook_writes_text_safely(tmp_path):
    path = write_table_workbook(tmp_path / "t.xlsx", [
        ("Data", ["a", "b"], [["=cmd|' /C calc'!A0", Decimal("1.5")], ["-2+3", None]])])
    sheet = openpyxl.load_workbook(path)["Data"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [
        ["a", "b"], ["=cmd|' /C calc'!A0", 1.5], ["-2+3", None]]
    assert sheet["A2"].data_type == "s" and sheet["A3"].data_type == "s"
    assert export_columns()[0].header == schema.ID.name


def test_a_whole_number_excel_cannot_hold_is_exported_as_its_digits():
    """Excel keeps 15 significant digits: a longer whole number goes out as text, digit for
    digit, like every other cell the export writes (a shorter one stays a number)."""
    from sync.templating import _data_sheet_xml

    columns = export_columns()
    position = [c.header for c in columns].index("line_number")
    rows = [[None] * len(columns), [None] * len(columns)]
    rows[0][position], rows[1][position] = 12_345_678_901_234_567, 7
    xml = "".join(_data_sheet_xml(columns, iter(rows), "Z3", {}))
    letter = chr(ord("A") + position)
    assert f'<c r="{letter}2" t="inlineStr"><is><t>12345678901234567</t></is></c>' in xml
    assert f'<c r="{letter}3"><v>7</v></c>' in xml
