"""undo: a mixed run (creates, updates, a line-number swap, deletes) reverted from its journal,
lines changed since the run left alone as conflicts, and the command's safety rails."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from sheetkit import server_rows, state, token_connection, write_sheet

from sync import api, schema
from sync.cli import main
from sync.client import FlowtracClient
from sync.diff import Mode
from sync.emulator import DEMO_TOKEN, Store, running_emulator
from sync.errors import UsageError
from sync.journal import read_journal
from sync.undoing import execute_undo, plan_undo, read_runs, undo_async


def _sheet(store) -> list[dict[str, Any]]:
    rows = [{k: r.get(k) for k in ("id", *(f.name for f in schema.WRITABLE))}
            for r in server_rows(store)]
    return sorted(rows, key=lambda r: (r["product_id"], r["line_number"]))


def mixed_edits(rows: list[dict[str, Any]], processes: list[str]) -> list[dict[str, Any]]:
    """Updates of every kind, a swap of two line numbers, two deletes and two new lines."""
    rows = [dict(r) for r in rows]
    first, second, third = rows[0], rows[1], rows[2]            # one product, lines 1..3
    first["product_minutes"] = Decimal("99.5")
    first["description"] = None
    second["line_number"], third["line_number"] = third["line_number"], second["line_number"]
    rows[3]["active"] = "InActive"
    rows[4]["process_id"] = processes[-1]
    rows[4]["product_dwell_minutes"] = None
    deleted = [rows.pop(8), rows.pop(5)]
    rows.append({"product_id": deleted[1]["product_id"], "process_id": processes[0],
                 "line_number": 12, "description": "a new line"})
    rows.append({"product_id": first["product_id"], "process_id": processes[1],
                 "line_number": 8, "product_minutes": Decimal(4)})
    return rows


async def _mixed_run(emu, tmp_path: Path, seed_dataset) -> tuple[Path, Any]:
    processes = [p["process_id"] for p in seed_dataset.processes]
    sheet = write_sheet(tmp_path / "routing.csv", mixed_edits(_sheet(emu.store), processes))
    journal = tmp_path / "routing.journal.jsonl"
    result = await api.apply_async(sheet, token_connection(emu.base_url),
                                   api.SyncOptions(mode=Mode.MIRROR), journal=journal)
    assert result.exit_code == 0
    assert result.counts() == {"updated": 5, "created": 2, "deleted": 2, "unchanged": 5}
    return journal, result


async def test_undo_after_a_mixed_run_restores_the_server_exactly(emulator, seed_dataset,
                                                                  tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    before = state(server_rows(emu.store))
    before_ids = {r["id"] for r in emu.store.lines()}
    journal, _ = await _mixed_run(emu, tmp_path, seed_dataset)
    assert state(server_rows(emu.store)) != before

    planned = await plan_undo(journal, conn)
    assert planned.counts() == {"would delete": 2, "would restore": 5, "would re-create": 2}
    assert planned.changes == {"delete": 2, "update": 5, "create": 2}
    assert planned.exit_code == 0 and planned.warnings == []
    swap = [s for s in planned.steps if "line_number" in (s.item.changes if s.item else {})]
    assert len(swap) == 2                         # the swap is undone by a swap

    undo_journal = tmp_path / "undo.jsonl"
    result = await execute_undo(planned, conn, journal=undo_journal)
    assert result.exit_code == 0
    assert result.counts() == {"deleted": 2, "restored": 5, "re-created": 2}
    assert state(server_rows(emu.store)) == before          # every writable field, every line
    recreated = [s for s in result.steps if s.status == "re-created"]
    assert all(s.new_id and s.new_id != s.record_id and s.new_id not in before_ids
               for s in recreated)
    assert {s.new_id for s in recreated} <= {r["id"] for r in emu.store.lines()}

    # The report says what happened to every line.
    report = result.write_report(tmp_path / "undo.xlsx")
    book = openpyxl.load_workbook(report)
    assert book.sheetnames == ["Undo", "Summary"]
    rows = list(book["Undo"].iter_rows(values_only=True))
    assert rows[0][:4] == ("status", "the run had", "line id", "new id")
    assert Counter(r[0] for r in rows[1:]) == {"deleted": 2, "restored": 5, "re-created": 2}
    assert {r[3] for r in rows[1:] if r[0] == "re-created"} == {s.new_id for s in recreated}

    # Undoing again finds nothing to do; undoing the undo redoes the run.
    again = await plan_undo(journal, conn)
    assert set(again.counts()) == {"already undone"} and not again.writes
    redo = await undo_async(undo_journal, conn, yes=True)
    assert redo.exit_code == 0
    assert redo.counts() == {"deleted": 2, "restored": 5, "re-created": 2}
    assert state(server_rows(emu.store)) == state(_after_run(tmp_path, seed_dataset))


def _after_run(tmp_path: Path, seed_dataset) -> list[dict[str, Any]]:
    """The lines as the mixed run left them (the sheet it applied in mirror mode)."""
    from sync.load import load_sheet
    from sync.validate import validate

    validated = validate(load_sheet(tmp_path / "routing.csv"))
    return [r.values for r in validated.rows]


@pytest.fixture
async def ticking_emulator(seed_dataset):
    """An emulator whose clock moves a second per stamp, so every write has its own
    ``edited`` (the emulator stamps to the second)."""
    seconds = itertools.count()

    def clock() -> dt.datetime:
        return dt.datetime(2030, 1, 1) + dt.timedelta(seconds=next(seconds))

    async with running_emulator(dataset=seed_dataset, store=Store(clock=clock)) as emu:
        yield emu


async def test_lines_changed_since_the_run_are_conflicts_and_left_alone(
        ticking_emulator, seed_dataset, tmp_path):
    emu = ticking_emulator
    conn = token_connection(emu.base_url)
    journal, applied = await _mixed_run(emu, tmp_path, seed_dataset)
    outcome = {i.record_id or applied.execution.outcomes[i].record_id: i
               for i in applied.plan.writes}
    updated = [k for k, i in outcome.items() if i.action.value == "update"]
    created = [k for k, i in outcome.items() if i.action.value == "create"]
    deleted = [i.record for i in applied.plan.writes if i.action.value == "delete"]
    minutes_line = next(k for k in updated if "product_minutes" in outcome[k].changes)
    active_line = next(k for k in updated if "active" in outcome[k].changes)
    async with FlowtracClient(conn) as client:
        # A field the run set, a field it did not touch, and a line it created.
        await client.update_line(minutes_line, {"product_minutes": Decimal(7)})
        await client.update_line(active_line, {"description": "changed by a colleague"})
        await client.update_line(created[0], {"product_minutes": Decimal(11)})
        # A new line on the line a deleted one had: re-creating it there would clash.
        taken = await client.create_line({**{k: deleted[0][k] for k in (
            "product_id", "process_id", "line_number")}, "description": "new since"})
    changed = {minutes_line, active_line, created[0]}
    kept = {k: emu.store.line(k) for k in (*changed, taken["id"])}

    result = await undo_async(journal, conn, yes=True)
    statuses = {s.record_id: s for s in result.steps}
    conflicts = {k for k, s in statuses.items() if s.status == "conflict"}
    assert conflicts == {*changed, deleted[0]["id"]}
    assert "product_minutes is 7, the run left 99.5" in statuses[minutes_line].message
    assert "changed on the server at 2030-01-01" in statuses[active_line].message
    assert {k: emu.store.line(k) for k in kept} == kept          # not overwritten
    clash = statuses[deleted[0]["id"]]
    assert clash.status == "conflict" and f"is taken by {taken['id']}" in clash.message
    assert result.counts() == {"conflict": 4, "restored": 3, "deleted": 1, "re-created": 1}
    assert result.exit_code == 1
    assert any("conflict" in line for line in result.plan.problems())


async def test_a_journal_with_several_runs(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    rows = _sheet(emu.store)
    journal = tmp_path / "j.jsonl"
    start = state(server_rows(emu.store))
    for minutes in (Decimal(1), Decimal(2)):
        rows[0]["product_minutes"] = minutes
        sheet = write_sheet(tmp_path / f"s{minutes}.csv", rows)
        await api.apply_async(sheet, conn, journal=journal)
    first, second = read_runs(journal)
    middle = state(server_rows(emu.store))

    only_last = await plan_undo(journal, conn)
    assert [r.run_id for r in only_last.runs] == [second.run_id]
    assert "holds 2 runs; undoing only the last" in only_last.warnings[0]
    step = only_last.steps[0]
    assert step.item.changes == {"product_minutes": (Decimal(2), Decimal(1))}

    both = await undo_async(journal, conn, runs=[first.run_id, second.run_id], yes=True)
    assert both.counts() == {"restored": 1}
    assert state(server_rows(emu.store)) == start != middle
    named = await plan_undo(journal, conn, runs=["all"])
    assert [r.run_id for r in named.runs] == [first.run_id, second.run_id]
    assert set(named.counts()) == {"already undone"}
    with pytest.raises(UsageError, match="holds no run nope"):
        await plan_undo(journal, conn, runs=["nope"])


def test_undo_command(emulator_thread, seed_dataset, tmp_path):
    emu = emulator_thread(dataset=seed_dataset)
    env = {"FLOWTRAC_BASE_URL": emu.base_url, "FLOWTRAC_TOKEN": DEMO_TOKEN,
           "FLOWTRAC_CONFIG": None, "FLOWTRAC_COMPANY": None}
    conn = token_connection(emu.base_url)
    before = state(server_rows(emu.store))
    rows = _sheet(emu.store)
    rows[0]["active"] = "InActive"
    rows.append({**rows[1], "id": None, "line_number": 30})
    journal = tmp_path / "routing.journal.jsonl"
    api.apply(write_sheet(tmp_path / "routing.csv", rows), conn, journal=journal)
    after = state(server_rows(emu.store))
    runner = CliRunner()

    # No terminal to ask on: --yes is needed, and nothing is sent without it.
    result = runner.invoke(main, ["undo", str(journal)], env=env)
    assert result.exit_code == 2 and "--yes" in result.stderr
    # --dry-run shows the plan and writes a plan report.
    result = runner.invoke(main, ["undo", str(journal), "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "would restore" in result.stdout and "would delete" in result.stdout
    assert state(server_rows(emu.store)) == after
    report = tmp_path / "routing.undo.xlsx"
    assert _statuses(report) == ["would restore", "would delete"]
    # Against another server: refused before anything is read or sent.
    other = {**env, "FLOWTRAC_BASE_URL": "http://127.0.0.1:9/api"}
    result = runner.invoke(main, ["undo", str(journal), "--yes"], env=other)
    assert result.exit_code == 2 and "was written against" in result.stderr

    result = runner.invoke(main, ["undo", str(journal), "--yes", "--report",
                                  str(tmp_path / "u.xlsx")], env=env)
    assert result.exit_code == 0, result.output
    assert state(server_rows(emu.store)) == before
    assert _statuses(tmp_path / "u.xlsx") == ["restored", "deleted"]
    undo_journal = tmp_path / "routing.undo.journal.jsonl"
    events = [(e["event"], e.get("action")) for e in read_journal(undo_journal)]
    assert events[0] == ("run", None) and events[-1] == ("end", None)
    assert sorted(a for e, a in events if e == "result") == ["delete", "update"]
    assert DEMO_TOKEN not in undo_journal.read_text() + result.output

    result = runner.invoke(main, ["undo", str(journal), "--yes", "--json"], env=env)
    assert result.exit_code == 0 and '"already undone": 2' in result.stdout
    result = runner.invoke(main, ["undo", str(tmp_path / "nothing.jsonl"), "--yes"], env=env)
    assert result.exit_code == 2 and "does not exist" in result.stderr


def _statuses(report: Path) -> list[str]:
    sheet = openpyxl.load_workbook(report)["Undo"]
    return [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
