"""Three-way merge at the cell: an .xlsx export carries the base (the server's lines at export
time) in a hidden, protected sheet, and a plan decides each cell against it.  End to end over
loopback: export from the emulator, edit the sheet, change lines on the server through its
API (another user), plan and apply."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from roundtrip_kit import edit_line
from sheetkit import badge_connection, server_rows, token_connection

from sync import api, mergebase
from sync.cli import main
from sync.client import FlowtracClient
from sync.emulator import DEMO_TOKEN
from sync.exporting import export_lines
from sync.model import Action


async def _on_server(base_url: str, line_id: str, **changes: Any) -> None:
    """A supervisor's change through the API, as another user than the planner's token."""
    async with FlowtracClient(badge_connection(base_url)) as client:
        await client.login()
        await client.update_line(line_id, changes)


async def _delete_on_server(base_url: str, line_id: str) -> None:
    async with FlowtracClient(badge_connection(base_url)) as client:
        await client.login()
        await client.delete_line(line_id)


def _server(emu) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in server_rows(emu.store)}


async def _exported(emulator, dataset, tmp_path, name="lines.xlsx"):
    emu = await emulator(dataset=dataset)
    conn = token_connection(emu.base_url)
    return emu, conn, await export_lines(conn, tmp_path / name, fmt=None)


def _item(planned, line_id: str):
    return next(i for i in planned.plan.items if i.row.values.get("id") == line_id)


async def test_the_export_carries_a_hidden_protected_base(emulator, seed_dataset, tmp_path):
    emu, _conn, path = await _exported(emulator, seed_dataset, tmp_path)
    book = openpyxl.load_workbook(path)
    base = book[mergebase.BASE_SHEET]
    assert base.sheet_state == "veryHidden" and base.protection.sheet
    assert book.sheetnames[0] == "Lines"
    warnings: list[str] = []
    read = mergebase.read_base(path, "xlsx", warnings)
    assert warnings == [] and read is not None and read.base_url == emu.base_url
    server = _server(emu)
    assert read.lines.keys() == server.keys()
    for line_id, line in read.lines.items():
        assert line == {f.name: server[line_id].get(f.name) for f in mergebase.FIELDS}


async def test_planner_and_supervisor_change_different_cells_both_are_kept(
        emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    await _on_server(emu.base_url, line["id"], active="InActive")
    who = _server(emu)[line["id"]]["edited_by"]

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.UPDATE
    assert set(item.changes) == {"product_minutes"}
    assert item.kept == {"active": ("Active", "InActive")}
    assert "kept Flowtrac's value" in item.message and f"by {who}" in item.message
    assert planned.exit_code == 0

    applied = await api.execute_async(planned, conn)
    assert applied.exit_code == 0
    after = _server(emu)[line["id"]]
    assert after["product_minutes"] == Decimal("41.5") and after["active"] == "InActive"
    status = dict(applied.row_status())[item.row.index]
    assert status.status == "updated" and "active: InActive" in status.message


async def test_only_the_server_changed_a_cell_is_kept_not_a_conflict(
        emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[1]
    taken = {r["process_id"] for r in seed_dataset.lines if r["product_id"] == line["product_id"]}
    process = next(p for p in seed_dataset.processes if p["process_id"] not in taken)
    await _on_server(emu.base_url, line["id"], description="changed by the supervisor",
                     process_id=process["process_id"])

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.UNCHANGED and "kept Flowtrac's value" in item.message
    assert set(item.kept) == {"description", "process_id"}
    assert planned.plan.writes == [] and planned.exit_code == 0


async def test_without_a_base_the_same_edits_are_a_row_conflict(emulator, seed_dataset,
                                                                 tmp_path):
    # What the base changes: the same two edits, the base sheet removed, give today's rule.
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    book = openpyxl.load_workbook(path)
    del book[mergebase.BASE_SHEET]
    book.save(path)
    await _on_server(emu.base_url, line["id"], active="InActive")

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.CONFLICT and "after this sheet was made" in item.message


async def test_the_same_value_on_both_sides_is_unchanged(emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    await _on_server(emu.base_url, line["id"], product_minutes=Decimal("41.50"))

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.UNCHANGED and item.message == ""
    assert planned.counts() == {"unchanged": len(seed_dataset.lines)}


async def test_both_changed_one_cell_differently_is_a_conflict_on_that_cell(
        emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[0]
    row = edit_line(path, line["id"], product_minutes=41.5, description="planner's note")
    await _on_server(emu.base_url, line["id"], product_minutes="7", active="InActive")
    server = _server(emu)[line["id"]]

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.CONFLICT
    assert item.conflicts == {"product_minutes": (Decimal("41.5"), Decimal("7"))}
    assert item.kept == {"active": ("Active", "InActive")}
    assert ("product_minutes: the sheet has 41.5, Flowtrac has 7" in item.message
            and f"by {server['edited_by']} at {server['edited']}" in item.message)
    assert "description" not in item.message and "active" not in item.message
    assert planned.exit_code == 1
    # The report marks that cell only, both values in its comment.
    report = openpyxl.load_workbook(planned.write_report())["Lines"]
    column = {c.value: c.column for c in report[1]}
    minutes = report.cell(row, column["product_minutes"])
    assert minutes.comment is not None
    assert "the sheet has 41.5, Flowtrac has 7" in minutes.comment.text
    assert [c.column for c in report[row] if c.comment is not None] == [minutes.column]

    applied = await api.execute_async(planned, conn)
    assert applied.exit_code == 1
    assert _server(emu)[line["id"]] == server     # a conflicting row sends nothing
    problems = applied.problems()
    assert problems and problems[0].startswith(f"row {row} ")


async def test_a_line_deleted_on_the_server_is_gone_unless_edited(emulator, seed_dataset,
                                                                  tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    untouched, edited = seed_dataset.lines[0], seed_dataset.lines[1]
    edit_line(path, edited["id"], product_minutes=12)
    for line in (untouched, edited):
        await _delete_on_server(emu.base_url, line["id"])

    planned = await api.plan_async(path, conn)
    gone, conflict = _item(planned, untouched["id"]), _item(planned, edited["id"])
    assert gone.action is Action.GONE and "deleted on the server" in gone.message
    assert conflict.action is Action.CONFLICT and "product_minutes" in conflict.message
    applied = await api.execute_async(planned, conn)
    status = dict(applied.row_status())
    assert status[gone.row.index].status == "gone"
    assert status[conflict.row.index].status == "conflict"
    assert applied.counts()["gone"] == 1 and applied.exit_code == 1


async def test_a_csv_export_has_no_base_and_keeps_the_edited_rule(emulator, seed_dataset,
                                                                  tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path, "lines.csv")
    line = seed_dataset.lines[0]
    text = path.read_text(encoding="utf-8-sig")
    assert mergebase.BASE_SHEET not in text
    await _on_server(emu.base_url, line["id"], active="InActive")
    # The planner changes the minutes of the same line in the CSV.
    rows = text.splitlines()
    header = rows[0].split(",")
    at = next(i for i, r in enumerate(rows) if r.startswith(line["id"]))
    cells = rows[at].split(",")
    cells[header.index("product_minutes")] = "41.5"
    rows[at] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")

    planned = await api.plan_async(path, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.CONFLICT and "after this sheet was made" in item.message


async def test_a_base_of_another_server_is_ignored_with_a_warning(emulator, seed_dataset,
                                                                  tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    other = await emulator(dataset=seed_dataset)     # the same lines, another server
    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    await _on_server(other.base_url, line["id"], active="InActive")

    planned = await api.plan_async(path, token_connection(other.base_url))
    assert any(f"exported from {emu.base_url}" in w and "ignored" in w
               for w in planned.warnings)
    item = _item(planned, line["id"])
    assert item.action is Action.CONFLICT and "after this sheet was made" in item.message


async def test_a_base_whose_ids_are_not_in_the_sheet_is_ignored(emulator, seed_dataset,
                                                                tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    book = openpyxl.load_workbook(path)
    base = book[mergebase.BASE_SHEET]
    for row in base.iter_rows(min_row=5):
        row[0].value = "00000000-0000-4000-8000-" + f"{row[0].row:012d}"
    book.save(path)

    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    await _on_server(emu.base_url, line["id"], active="InActive")

    planned = await api.plan_async(path, conn)
    assert any("none of the sheet's line ids is in its base" in w for w in planned.warnings)
    item = _item(planned, line["id"])
    assert item.action is Action.CONFLICT and "after this sheet was made" in item.message


async def test_the_base_is_read_only_when_a_row_differs_from_its_line(emulator, seed_dataset,
                                                                      tmp_path):
    """An unchanged export's plan needs no base: one that is not a base says nothing then,
    and is found out once a row differs from its line and the base would decide it."""
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    book = openpyxl.load_workbook(path)
    book[mergebase.BASE_SHEET]["A1"] = "notes of my own"
    book.save(path)

    unchanged = await api.plan_async(path, conn)
    assert unchanged.counts() == {"unchanged": len(seed_dataset.lines)}
    assert unchanged.warnings == [] and unchanged.base is None

    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    edited = await api.plan_async(path, conn)
    assert [w for w in edited.warnings if mergebase.BASE_SHEET in w] == [
        f"the {mergebase.BASE_SHEET} sheet is not a base flowtrac-sync wrote: it is ignored"]
    assert _item(edited, line["id"]).action is Action.UPDATE


async def test_a_report_used_as_input_carries_the_base_forward(emulator, seed_dataset,
                                                               tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    first, second = seed_dataset.lines[0], seed_dataset.lines[1]
    edit_line(path, first["id"], product_minutes=41.5)
    applied = await api.execute_async(await api.plan_async(path, conn), conn)
    report = applied.write_report()
    assert openpyxl.load_workbook(report)[mergebase.BASE_SHEET].sheet_state == "veryHidden"

    # Edited again from the report, while a supervisor changes another cell of that line.
    again = tmp_path / "again.xlsx"
    shutil.copy(report, again)
    edit_line(again, second["id"], description="second pass")
    await _on_server(emu.base_url, first["id"], active="InActive")
    await _on_server(emu.base_url, second["id"], active="InActive")

    planned = await api.plan_async(again, conn)
    assert planned.warnings == []
    kept_first, merged_second = _item(planned, first["id"]), _item(planned, second["id"])
    assert kept_first.action is Action.UNCHANGED and "active" in kept_first.kept
    assert merged_second.action is Action.UPDATE and set(merged_second.changes) == {
        "description"} and "active" in merged_second.kept
    assert planned.exit_code == 0


def test_the_command_line_plans_with_the_base(emulator_thread, seed_dataset, tmp_path):
    emu = emulator_thread(dataset=seed_dataset)
    path = tmp_path / "lines.xlsx"
    env = {"FLOWTRAC_TOKEN": DEMO_TOKEN}
    runner = CliRunner()
    done = runner.invoke(main, ["export", str(path), "--base-url", emu.base_url], env=env)
    assert done.exit_code == 0, done.output
    line = seed_dataset.lines[0]
    edit_line(path, line["id"], product_minutes=41.5)
    asyncio.run(_on_server(emu.base_url, line["id"], product_minutes="7"))

    result = runner.invoke(main, ["plan", str(path), "--base-url", emu.base_url], env=env)
    assert result.exit_code == 1, result.output
    assert "product_minutes: the sheet has 41.5, Flowtrac has 7" in result.output
    assert "Traceback" not in result.output


async def test_a_report_carries_the_base_with_what_the_run_wrote(emulator, seed_dataset,
                                                                tmp_path):
    # The run sends the planner's minutes; a supervisor then sets them back.  The report,
    # planned again, must keep the supervisor's value, not send the planner's once more.
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = seed_dataset.lines[0]
    original = _server(emu)[line["id"]]["product_minutes"]
    edit_line(path, line["id"], product_minutes=41.5)
    applied = await api.execute_async(await api.plan_async(path, conn), conn)
    report = applied.write_report()
    assert _server(emu)[line["id"]]["product_minutes"] == Decimal("41.5")
    await _on_server(emu.base_url, line["id"], product_minutes=str(original))

    warnings: list[str] = []
    carried = mergebase.read_base(report, "xlsx", warnings)
    assert carried is not None and carried.lines[line["id"]]["product_minutes"] == Decimal(
        "41.5") and warnings == []
    again = tmp_path / "again.xlsx"
    shutil.copy(report, again)
    planned = await api.plan_async(again, conn)
    item = _item(planned, line["id"])
    assert item.action is Action.UNCHANGED
    assert item.kept == {"product_minutes": (Decimal("41.5"), original)}
    assert planned.plan.writes == []


def test_a_base_sheet_past_the_guards_is_refused_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``_base`` sheet goes through the loader's guards like the planner's sheet: one
    past the cell span stops the run with their sentence instead of reaching the reader (the
    limit is lowered here to keep the file small)."""
    from sync.errors import InputError
    from sync.load import guards

    path = tmp_path / "crafted.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Routing"
    book.active.append(["product_id", "process_id", "line_number"])
    base = book.create_sheet(mergebase.BASE_SHEET)
    base.append([mergebase.FORMAT])
    base["Z2000"] = "far"
    book.save(path)
    monkeypatch.setattr(guards, "MAX_SHEET_CELLS", 10_000)
    warnings: list[str] = []
    with pytest.raises(InputError, match=r'^crafted.xlsx, sheet "_base" spans 2,000 rows by '
                                         r"26 columns, far more than a routing sheet needs"):
        mergebase.read_base(path, "xlsx", warnings)
    assert warnings == []
    monkeypatch.setattr(guards, "MAX_SHEET_CELLS", 100_000)
    read = mergebase.read_base(path, "xlsx", warnings)  # within the limit: read as ever
    assert read is not None and read.lines == {} and warnings == []
