"""Validation and the diff work on whole columns: a row gets a ``SheetRow`` and a
``PlanItem`` only when it writes, conflicts, is invalid or is asked for (issue 14)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sheetkit import write_sheet

import sync.diff
import sync.model
import sync.validate
from sync import mergebase, schema
from sync.diff import Mode, PlanOptions, diff
from sync.load import load_sheet
from sync.model import Action
from sync.validate import validate

ROWS = 3_000
PROCESS = str(uuid.UUID(int=7, version=4))


def line(n: int) -> dict[str, Any]:
    return {"id": str(uuid.UUID(int=10_000 + n, version=4)),
            "product_id": str(uuid.UUID(int=1 + n // 5, version=4)),
            "process_id": PROCESS, "line_number": n % 5 + 1, "active": "Active",
            "description": f"step {n}", "product_minutes": Decimal("2.5"),
            "product_dwell_minutes": None}


class Made:
    """Counts the objects of one class (or the calls of one function) while a test runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        self.count = 0
        made = getattr(module, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return made(*args, **kwargs)

        # Every module that names the class makes it through the counting stand-in.
        for holder in {module, sync.model, sync.validate, sync.diff}:
            if hasattr(holder, name):
                monkeypatch.setattr(holder, name, counting)


@pytest.fixture
def records() -> list[dict[str, Any]]:
    return [line(n) for n in range(ROWS)]


def test_a_sheet_the_server_matches_makes_no_row_or_item_per_line(
        tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    sheet = load_sheet(write_sheet(tmp_path / "lines.csv", records))
    rows = Made(monkeypatch, sync.model, "SheetRow")
    items = Made(monkeypatch, sync.model, "RowItem")

    validated = validate(sheet)
    plan = diff(validated, records, PlanOptions(mode=Mode.MIRROR))

    assert plan.counts() == {Action.UNCHANGED: ROWS}
    assert plan.server_only == [] and plan.writes == [] and plan.shown == []
    assert (rows.count, items.count) == (0, 0)


def test_only_the_rows_that_write_or_fail_get_an_item(
        tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    edited = [dict(r) for r in records]
    edited[10]["description"] = "deburr"                 # an update
    edited[20]["line_number"] = "1.5"                    # a cell that does not parse
    edited.append({**line(ROWS), "id": None})            # a new line
    sheet = load_sheet(write_sheet(tmp_path / "lines.csv", edited))
    rows = Made(monkeypatch, sync.model, "SheetRow")
    items = Made(monkeypatch, sync.model, "RowItem")

    validated = validate(sheet)
    assert [e.row_number for e in validated.errors] == [22]
    plan = diff(validated, records)

    assert plan.counts() == {Action.UNCHANGED: ROWS - 2, Action.UPDATE: 1,
                             Action.INVALID: 1, Action.CREATE: 1}
    assert (rows.count, items.count) == (3, 3)
    assert [(i.action, i.row.row_number) for i in plan.writes] == [
        (Action.UPDATE, 12), (Action.CREATE, ROWS + 2)]
    assert plan.items[10].changes == {"description": ("step 10", "deburr")}


def test_an_unchanged_row_is_an_item_when_asked_for_and_the_same_one_after(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    plan = diff(validate(load_sheet(write_sheet(tmp_path / "lines.csv", records))), records)

    item = plan.items[7]
    assert (item.action, item.record, item.row.row_number) == (Action.UNCHANGED, records[7], 9)
    assert item.product_id == records[7]["product_id"]
    assert plan.items[7] is item and plan.items[-1].record == records[-1]
    assert [i.action for i in plan.items[:3]] == [Action.UNCHANGED] * 3
    assert len(plan.items) == ROWS


def test_a_row_matching_a_line_another_row_matches_by_key_makes_both_conflicts(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    # Row 2 names line 0 by id (unchanged); the last row names the same line by its key.
    copy = {**records[0], "id": None}
    validated = validate(load_sheet(write_sheet(tmp_path / "lines.csv", [*records, copy])))
    plan = diff(validated, records)

    assert plan.items[0].action is Action.CONFLICT
    assert plan.items[ROWS].action is Action.CONFLICT
    assert f"rows 2, {ROWS + 2} all match line {records[0]['id']}" in plan.items[0].message
    assert plan.counts()[Action.CONFLICT] == 2


def test_a_record_lacking_a_managed_field_is_compared_cell_by_cell(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    validated = validate(load_sheet(write_sheet(tmp_path / "lines.csv", records)))
    lacking = [dict(r) for r in records]
    del lacking[3][schema.PRODUCT_DWELL_MINUTES.name]     # an odd server answer
    lacking[4][schema.PRODUCT_DWELL_MINUTES.name] = Decimal(3)

    plan = diff(validated, lacking)

    assert plan.items[3].action is Action.UNCHANGED       # blank in the sheet, none there
    assert plan.items[4].changes == {"product_dwell_minutes": (Decimal(3), None)}


def test_a_base_makes_a_record_only_for_the_lines_looked_up(
        tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """An export's base of every line is read as columns: the diff asks it for the few lines
    it decides cell by cell, and only those become records."""
    book = Workbook()
    book.active.title = "Lines"
    base = book.create_sheet(mergebase.BASE_SHEET)
    for cells in mergebase.base_rows("http://flowtrac.test/api",
                                     [{**r, "edited": "2026-01-01 00:00:00"} for r in records]):
        base.append(cells)
    book.save(tmp_path / "export.xlsx")
    converted = Made(monkeypatch, schema, "record_from_wire")
    monkeypatch.setattr(schema, "column_from_wire", lambda *_: pytest.fail("all converted"))

    read = mergebase.read_base(tmp_path / "export.xlsx", "xlsx", [])

    assert read is not None and read.base_url == "http://flowtrac.test/api"
    assert len(read.lines) == ROWS and records[5]["id"] in read.lines
    assert converted.count == 0
    line = read.lines[records[5]["id"]]
    assert line == {**records[5], "edited": "2026-01-01 00:00:00", "edited_by": None}
    assert read.lines[records[5]["id"]] is line and converted.count == 1
    assert "not-an-id" not in read.lines


def test_an_apply_gets_the_items_of_the_products_it_writes_only(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    edited = [dict(r) for r in records]
    edited[12]["description"] = "deburr"                  # product 3's lines: rows 10 - 14
    plan = diff(validate(load_sheet(write_sheet(tmp_path / "lines.csv", edited))), records)

    items = plan.execution_items()

    assert [i.row.row_number for i in items] == [12, 13, 14, 15, 16]
    assert [i.action for i in items] == [Action.UNCHANGED] * 2 + [Action.UPDATE] + [
        Action.UNCHANGED] * 2
    assert {i.product_id for i in items} == {records[12]["product_id"]}
    assert items[2] is plan.items[12]
