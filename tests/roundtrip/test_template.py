"""The template workbook: generated from the schema, committed up to date, and usable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
from click.testing import CliRunner
from sheetkit import server_rows, token_connection

from sync import api, schema
from sync.cli import main
from sync.templating import TEMPLATE_PATH, sheet_columns, write_template

REGENERATE = f"flowtrac-sync template {TEMPLATE_PATH.relative_to(Path.cwd())}" \
    if TEMPLATE_PATH.is_relative_to(Path.cwd()) else f"flowtrac-sync template {TEMPLATE_PATH}"


def _content(path: Path) -> dict[str, Any]:
    """What a planner sees of a workbook: cells, notes, validations, frozen panes, filters."""
    book = openpyxl.load_workbook(path)
    out: dict[str, Any] = {"sheets": book.sheetnames}
    for sheet in book:
        out[sheet.title] = {
            "cells": [[c.value for c in row] for row in sheet.iter_rows()],
            "notes": {c.coordinate: c.comment.text for row in sheet.iter_rows()
                      for c in row if c.comment},
            "validations": sorted(
                (str(v.sqref), v.type, v.operator, v.formula1, v.prompt, v.error)
                for v in sheet.data_validations.dataValidation),
            "frozen": sheet.freeze_panes,
            "filter": sheet.auto_filter.ref,
            "fills": [c.fill.fgColor.rgb for c in sheet[1]],
        }
    return out


def test_the_committed_template_is_up_to_date(tmp_path):
    fresh = write_template(tmp_path / "template.xlsx")
    assert _content(TEMPLATE_PATH) == _content(fresh), (
        f"templates/ is out of date with the schema; regenerate it: {REGENERATE}")


def test_the_template_has_headers_dropdowns_and_instructions():
    book = openpyxl.load_workbook(TEMPLATE_PATH)
    assert book.sheetnames == ["Lines", "Instructions"]
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    columns = {c.header: c for c in sheet_columns()}
    # Names first: each name column stands before its id column.
    assert header == ["id", "product", "product_id", "process", "process_id", "line_number",
                      "active", "description", "product_minutes", "product_dwell_minutes"]
    assert list(columns) == header
    fields = [schema.field_for_header(h) for h in header]
    assert [f.name for f in fields] == header
    assert sheet.max_row == 1                     # no example row that could be uploaded
    assert sheet.freeze_panes == "A2"

    letter = {h: openpyxl.utils.get_column_letter(i) for i, h in enumerate(header, 1)}
    rules = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    for f in fields:
        rule = rules.get(f"{letter[f.name]}2:{letter[f.name]}1048576")
        if f.kind is schema.Kind.STATUS:
            assert (rule.type, rule.formula1) == ("list", '"Active,InActive"')
        elif f.kind is schema.Kind.LINE_NUMBER:
            assert (rule.type, rule.operator, rule.formula1) == (
                "whole", "greaterThanOrEqual", "1")
        elif f.kind is schema.Kind.MINUTES:
            assert (rule.type, rule.operator, rule.formula1) == (
                "decimal", "greaterThanOrEqual", "0")
        else:   # the name dropdowns need the tenant's names: template --names
            assert rule is None
        if rule is not None:
            assert rule.showErrorMessage and rule.allowBlank and rule.prompt == f.help
        assert sheet[f"{letter[f.name]}1"].comment.text == columns[f.name].help
    minutes = [f for f in fields if f.kind is schema.Kind.MINUTES]
    assert len(minutes) == 2

    # Required columns stand out (a name, or its id, is needed); the Instructions sheet
    # explains every column.
    required = {"product", "process", "line_number"}
    fills = {c.value: c.fill.fgColor.rgb for c in sheet[1]}
    assert len({fills[n] for n in required}) == 1
    assert {fills[n] for n in required}.isdisjoint({fills[f.name] for f in fields
                                                   if f.name not in required})
    guide = book["Instructions"]
    rows = [[c.value for c in row] for row in guide.iter_rows()]
    table = {row[0]: row[1:] for row in rows if row[0] in header}
    assert set(table) == set(header)
    for f in fields:
        needed, meaning, allowed = table[f.name]
        assert meaning == columns[f.name].help
        assert needed.startswith("yes") == (f.name in required)
    assert table["product"][0] == "yes, for a new line (or product_id)"
    assert table["process"][2] == "a process name (from the list) or barcode"
    assert table[schema.ACTIVE.name][2].startswith("Active or InActive")
    assert "whole number from 1" in table[schema.LINE_NUMBER.name][2]
    assert all(">= 0" in table[f.name][2] for f in minutes)


async def test_a_filled_in_template_creates_lines(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    path = write_template(tmp_path / "new.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    product = seed_dataset.products[0]["product_id"]
    processes = [p["process_id"] for p in seed_dataset.processes]
    wanted = [{"product_id": product, "process_id": processes[i], "line_number": 20 + i,
               "product_minutes": 2.5 * i, "active": "inactive" if i == 2 else None}
              for i in range(3)]
    for row in wanted:
        sheet.append([row.get(h) for h in header])
    book.save(path)

    result = await api.apply_async(path, token_connection(emu.base_url))
    assert result.counts() == {"created": 3, "left alone": 3}
    made = sorted((r["line_number"], r["active"], r["product_minutes"])
                  for r in server_rows(emu.store) if r["line_number"] >= 20)
    assert made == [(20, "Active", 0), (21, "Active", 2.5), (22, "InActive", 5)]


def test_template_command(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["template", str(tmp_path / "t.xlsx")])
    assert result.exit_code == 0 and (tmp_path / "t.xlsx").exists()
    assert _content(tmp_path / "t.xlsx") == _content(TEMPLATE_PATH)

    result = runner.invoke(main, ["template", str(tmp_path / "t.csv")])
    assert result.exit_code == 2 and "xlsx" in result.stderr
    result = runner.invoke(main, ["template", str(tmp_path / "missing" / "t.xlsx")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
