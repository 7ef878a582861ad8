"""What the command line tells a planner: reports never replaced, reasons for every exit
code (``-q`` too), truthful "nothing to do" lines, settings precedence, drift checks."""

from __future__ import annotations

import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from sheetkit import server_rows, write_sheet

from sync import schema
from sync.cli import main
from sync.emulator import DEMO_TOKEN, generate_dataset


def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def connection(emu) -> list[str]:
    return ["--base-url", emu.base_url, "--token", DEMO_TOKEN]


def sheet_of(store, *, minutes: Decimal | None = None) -> list[dict]:
    """The server's lines as a planner's sheet, with every line's minutes set to ``minutes``."""
    rows = []
    for record in server_rows(store):
        row = {k: record.get(k) for k in ("id", "product_id", *(f.name for f in schema.WRITABLE))}
        if minutes is not None:
            row["product_minutes"] = minutes
        rows.append(row)
    return rows


def summary_of(report: Path) -> dict[str, object]:
    ws = openpyxl.load_workbook(report)["Summary"]
    return {row[0]: row[1] for row in ws.iter_rows(values_only=True) if row and row[0]}


def test_a_second_apply_with_changes_keeps_the_first_report(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store, minutes=Decimal(7)))
    first = run("apply", str(path), "--yes", *connection(emu))
    assert first.exit_code == 0, first.stderr
    report = tmp_path / "routing.report.xlsx"
    assert f"report: {report}" in first.output
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store, minutes=Decimal(8)))
    second = run("apply", str(path), "--yes", *connection(emu))
    assert second.exit_code == 0, second.stderr
    assert f"report: {tmp_path / 'routing.report-2.xlsx'}" in second.output
    for name, minutes in (("routing.report.xlsx", 7), ("routing.report-2.xlsx", 8)):
        ws = openpyxl.load_workbook(tmp_path / name).worksheets[0]
        header = [c.value for c in ws[1]]
        status = [r[header.index("sync_status")] for r in ws.iter_rows(2, values_only=True)]
        assert set(status) == {"updated"}, name
        assert summary_of(tmp_path / name)["Command"] == "apply"
        assert {r[header.index("product_minutes")] for r in ws.iter_rows(2, values_only=True)
                } == {str(minutes)}
    # One journal for the input holds both runs.
    assert not list(tmp_path.glob("routing.report*.journal.jsonl"))
    assert (tmp_path / "routing.journal.jsonl").read_text().count('"event": "run"') == 2


def test_plan_and_validate_reports_have_their_own_names(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store, minutes=Decimal(9)))
    assert run("validate", str(path)).exit_code == 0
    assert run("plan", str(path), *connection(emu)).exit_code == 0
    assert summary_of(tmp_path / "routing.validation.xlsx")["Command"] == "validate"
    assert summary_of(tmp_path / "routing.plan.xlsx")["Command"] == "plan"
    assert not (tmp_path / "routing.report.xlsx").exists()


def test_quiet_still_says_why_it_exits_3(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 5))
    rows = [r for r in sheet_of(emu.store) if r["line_number"] == 1]
    path = write_sheet(tmp_path / "routing.xlsx", rows)
    result = run("apply", str(path), "--yes", "-q", "--mode", "mirror", "--max-delete", "2",
                 *connection(emu))
    assert result.exit_code == 3
    assert "error: 16 deletes planned, more than the limit of 2" in result.stderr
    assert emu.store.write_count == 0


def test_quiet_still_says_why_it_exits_1(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    rows = sheet_of(emu.store)
    rows[0]["line_number"] = "1.5"
    path = write_sheet(tmp_path / "routing.xlsx", rows)
    for command in (["validate"], ["plan", *connection(emu)]):
        result = run(command[0], str(path), "-q", *command[1:])
        assert result.exit_code == 1
        assert "error: some rows cannot be sent (1 invalid): the report says why" \
            in result.stderr


def test_nothing_to_send_says_what_is_true(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    rows = sheet_of(emu.store)
    for row in rows:
        row["line_number"] = "none"
    path = write_sheet(tmp_path / "all_bad.xlsx", rows)
    result = run("apply", str(path), "--yes", *connection(emu))
    assert result.exit_code == 1
    assert "already matches" not in result.stderr
    assert "nothing sent: no row of the sheet can be sent" in result.stderr

    rows = sheet_of(emu.store)
    rows[0]["active"] = "maybe"
    path = write_sheet(tmp_path / "one_bad.xlsx", rows)
    result = run("apply", str(path), "--yes", "--mode", "mirror", *connection(emu))
    assert result.exit_code == 1
    assert ("nothing sent: the other rows already match Flowtrac, but 1 row is invalid or in "
            "conflict") in result.stderr
    assert emu.store.write_count == 0


def test_detailed_exitcode_tells_drift_from_no_drift(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    same = write_sheet(tmp_path / "same.xlsx", sheet_of(emu.store))
    drift = write_sheet(tmp_path / "drift.xlsx", sheet_of(emu.store, minutes=Decimal(3)))
    assert run("plan", str(same), "--detailed-exitcode", *connection(emu)).exit_code == 0
    assert run("plan", str(drift), "--detailed-exitcode", *connection(emu)).exit_code == 5
    assert run("plan", str(drift), *connection(emu)).exit_code == 0
    rows = sheet_of(emu.store, minutes=Decimal(3))
    rows[0]["active"] = "maybe"
    bad = write_sheet(tmp_path / "bad.xlsx", rows)
    assert run("plan", str(bad), "--detailed-exitcode", *connection(emu)).exit_code == 1
    assert emu.store.write_count == 0


def test_mirror_plan_says_what_is_out_of_scope(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store)[:2])
    result = run("plan", str(path), "--mode", "mirror", *connection(emu))
    assert "the other products on the server are out of scope and left alone" in result.output
    assert "2 server lines in scope, 0 deletes planned" in result.output


def test_the_command_line_wins_over_the_environment_for_which_flowtrac(emulator_thread,
                                                                        tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store))
    env = {"FLOWTRAC_COMPANY": "acme"}
    result = run("plan", str(path), *connection(emu), env=env)
    assert result.exit_code == 0, result.stderr
    config = tmp_path / "nightly.toml"
    config.write_text('company = "acme"\n')
    config.chmod(0o600)
    result = run("plan", str(path), *connection(emu), "--config", str(config))
    assert result.exit_code == 0, result.stderr
    both = run("plan", str(path), *connection(emu), "--company", "acme")
    assert both.exit_code == 2
    assert "Give either --company or --base-url, not both." in both.stderr


def test_help_texts_are_right():
    plan_help = run("plan", "--help").output
    assert "25%" in plan_help and "25%%" not in plan_help
    assert "--detailed-exitcode" in plan_help and "\n    5 " in plan_help
    validate_help = run("validate", "--help").output
    assert "\n    2 " in validate_help and "\n    4 " not in validate_help
    assert "\n    130 " in run("apply", "--help").output


def test_apply_asks_about_one_change_in_the_singular(emulator_thread, tmp_path,
                                                    monkeypatch):
    emu = emulator_thread(dataset=generate_dataset(1, 1))
    path = write_sheet(tmp_path / "routing.xlsx", sheet_of(emu.store, minutes=Decimal(4)))
    monkeypatch.setattr("sync.cli._stdin_is_terminal", lambda: True)
    result = run("apply", str(path), *connection(emu), input="n\n")
    assert f"Apply 1 change to {emu.base_url.split('/')[2]}?" in result.stderr
    assert emu.store.write_count == 0


def test_serve_on_a_port_in_use_suggests_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "sync.cli", "serve", "--demo",
                                 "--port", str(port)], capture_output=True, text=True,
                                timeout=60)
    assert result.returncode != 0
    assert "pick another with --port" in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_lines_and_server_only_name_product_and_process(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    products = {p["product_id"]: p["product"] for p in emu.store.products()}
    processes = {p["process_id"]: p["process"] for p in emu.store.processes()}
    rows = sheet_of(emu.store)
    kept, dropped = rows[:1], rows[1]
    kept[0]["product_minutes"] = Decimal(11)
    path = write_sheet(tmp_path / "routing.xlsx", kept)      # ids only: no name columns
    result = run("plan", str(path), "--mode", "mirror", *connection(emu))
    assert result.exit_code == 0, result.stderr
    updated = kept[0]
    assert (f"row 2 ({products[updated['product_id']]} [{updated['product_id'][:8]}], line "
            f"{updated['line_number']}, {processes[updated['process_id']]}): would update: "
            "product_minutes") in result.output
    assert (f"server line ({products[dropped['product_id']]} [{dropped['product_id'][:8]}], "
            f"line {dropped['line_number']}, {processes[dropped['process_id']]}): would delete"
            ) in result.output
    ws = openpyxl.load_workbook(tmp_path / "routing.plan.xlsx")["Server only"]
    table = list(ws.iter_rows(values_only=True))
    header = list(table[0])
    assert header.index("product") == header.index("product_id") + 1
    assert header.index("process") == header.index("process_id") + 1
    assert "product_dwell_minutes" in header
    line = dict(zip(header, table[1], strict=True))
    assert line["product"] == products[dropped["product_id"]]
    assert line["process"] == processes[dropped["process_id"]]
