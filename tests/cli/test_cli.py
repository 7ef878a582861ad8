"""The command line over loopback: exit codes, prompts, reports, secrets, interruption."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from sheetkit import write_sheet

from sync import schema
from sync.cli import main
from sync.demo import MESSY_XLSX, ROUTING_CSV, ROUTING_XLSX, SAMPLE_DIR, demo_dataset
from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN, EmulatorConfig, generate_dataset

SECRET_TOKEN = "s3cret-token-value"
SECRET_PIN = "pin-cli-98765x"  # distinctive: digits alone could occur in a uuid


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def connection(emu) -> list[str]:
    return ["--base-url", emu.base_url, "--token", DEMO_TOKEN]


def statuses(report: Path) -> list[str]:
    ws = openpyxl.load_workbook(report).worksheets[0]
    header_row = next(r for r in ws.iter_rows() if any(c.value == "sync_status" for c in r))
    col = next(c.column for c in header_row if c.value == "sync_status")
    return [ws.cell(r, col).value for r in range(header_row[0].row + 1, ws.max_row + 1)
            if ws.cell(r, col).value]


def summary_of(report: Path) -> dict[str, object]:
    """The report's Summary sheet: label -> value."""
    ws = openpyxl.load_workbook(report)["Summary"]
    return {row[0]: row[1] for row in ws.iter_rows(values_only=True) if row and row[0]}


def test_validate_messy_workbook_lists_cell_errors_and_exits_1(tmp_path):
    path = shutil.copy(SAMPLE_DIR / MESSY_XLSX, tmp_path)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert 'C14: line_number must be a positive whole number, got "1.5"' in result.output
    report = Path(path).with_suffix("").with_suffix(".validation.xlsx")
    assert report.exists()
    assert Counter(statuses(report))["invalid"] == 10


def test_the_program_flushes_its_output_and_exits_with_the_command_code(tmp_path):
    """``flowtrac-sync`` in its own process: the exit code, the summary on a pipe and the
    report must all be there."""
    path = shutil.copy(SAMPLE_DIR / MESSY_XLSX, tmp_path)
    done = subprocess.run([sys.executable, "-m", "sync.cli", "validate", str(path), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["counts"]["invalid"] == 10 and Path(summary["report"]).exists()
    missing = subprocess.run([sys.executable, "-m", "sync.cli", "plan", str(tmp_path / "no.xlsx"),
                              "--base-url", "http://127.0.0.1:9/api"],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.startswith("error: ")


@pytest.mark.parametrize("name", ["missing.xlsx", "folder"])
def test_unusable_input_exits_2_with_one_line(tmp_path, name):
    (tmp_path / "folder").mkdir()
    result = run("validate", str(tmp_path / name))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output + result.stderr


def test_plan_messy_workbook_exits_1_and_writes_a_plan_report(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / MESSY_XLSX, tmp_path)
    result = run("plan", str(path), *connection(emu))
    assert result.exit_code == 1
    assert "no product with id 00000000-0000-4000-8000-00000000dead" in result.output
    got = Counter(statuses(Path(path).with_suffix("").with_suffix(".plan.xlsx")))
    assert got == Counter({"invalid": 11, "unchanged": 5, "would update": 3})
    assert emu.store.write_count == 0


def test_apply_without_terminal_needs_yes(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_XLSX, tmp_path)
    result = run("apply", str(path), *connection(emu))
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert emu.store.write_count == 0


def test_apply_json_summary_then_nothing_to_do(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    result = run("apply", str(path), "--yes", "--json", *connection(emu))
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["counts"] == {"unchanged": 20, "updated": 4, "created": 2}
    assert summary["exit_code"] == 0 and Path(summary["journal"]).exists()
    again = run("apply", str(path), "--yes", *connection(emu))
    assert again.exit_code == 0
    assert "nothing to do" in again.stderr


def test_mirror_over_the_delete_limit_exits_3_and_sends_nothing(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(2, 30))
    rows = [schema.record_from_wire(r) for r in emu.store.lines()][:1]
    path = write_sheet(tmp_path / "one.csv", rows)
    result = run("apply", str(path), "--yes", "--mode", "mirror", *connection(emu))
    assert result.exit_code == 3
    assert "--max-delete 29" in result.stderr
    assert emu.store.write_count == 0
    allowed = run("apply", str(path), "--yes", "--mode", "mirror", "--max-delete", "29",
                  *connection(emu))
    assert allowed.exit_code == 0
    assert len(emu.store.lines()) == 31


def test_bad_credentials_and_unreachable_server_exit_4(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    bad = run("plan", str(path), "--base-url", emu.base_url, "--badge", DEMO_BADGE,
              "--pin", "0000")
    assert bad.exit_code == 4 and bad.stderr.startswith("error: ")
    down = run("plan", str(path), "--base-url", "http://127.0.0.1:9/api", "--token", "x",
               "--retries", "1")
    assert down.exit_code == 4 and "127.0.0.1:9" in down.stderr
    assert "Traceback" not in bad.output + down.output


def test_environment_supplies_the_connection(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    env = {"FLOWTRAC_BASE_URL": emu.base_url, "FLOWTRAC_BADGE": DEMO_BADGE,
           "FLOWTRAC_PIN": DEMO_PIN}
    result = run("plan", str(path), "--json", env=env)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["changes"] == {"create": 2, "update": 4, "delete": 0}


def test_secrets_never_reach_output_report_or_journal(emulator_thread, tmp_path):
    config = EmulatorConfig(tokens={SECRET_TOKEN}, users={"555": SECRET_PIN},
                            session_requests=5)
    emu = emulator_thread(config=config, dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_XLSX, tmp_path)
    journal = tmp_path / "j.jsonl"
    result = run("apply", str(path), "--yes", "-vv", "--journal", str(journal),
                 "--base-url", emu.base_url, "--badge", "555", "--pin", SECRET_PIN)
    assert result.exit_code == 0, result.stderr
    token_run = run("plan", str(path), "-vv", "--base-url", emu.base_url,
                    "--token", SECRET_TOKEN)
    assert token_run.exit_code == 0
    texts = [result.output, result.stderr, token_run.output, token_run.stderr,
             journal.read_text()]
    for kind in ("report", "plan"):
        report = Path(path).with_suffix("").with_suffix(f".{kind}.xlsx")
        for ws in openpyxl.load_workbook(report).worksheets:
            texts += [str(c.value) for row in ws.iter_rows() for c in row
                      if c.value is not None]
    everything = "\n".join(texts)
    assert SECRET_PIN not in everything and SECRET_TOKEN not in everything


def _lines_of(base_url: str) -> list[dict]:
    import asyncio

    from sync.client import Connection, FlowtracClient

    async def fetch():
        async with FlowtracClient(Connection.from_options(base_url=base_url,
                                                          token=DEMO_TOKEN)) as client:
            return await client.list_lines()
    return asyncio.run(fetch())


def test_ctrl_c_stops_cleanly_and_a_rerun_converges(tmp_path):
    """SIGINT mid-run: in-flight requests finish, report and journal are written, the exit
    message says a rerun continues; the rerun completes with no duplicate."""
    port = _free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sync.emulator", "--port", str(port), "--products", "40",
         "--lines", "1", "--latency-ms", "40"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base_url = f"http://127.0.0.1:{port}/api"
        _wait_for(port)
        records = [schema.record_from_wire(r) for r in _lines_of(base_url)]
        wanted = [{**r, "id": None, "line_number": n} for r in records for n in range(2, 12)]
        path = write_sheet(tmp_path / "many.csv", wanted,
                           (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID))
        cmd = [sys.executable, "-m", "sync.cli", "apply", str(path), "--yes",
               "--concurrency", "4", "--base-url", base_url, "--token", DEMO_TOKEN]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        journal = tmp_path / "many.journal.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:  # wait for writes to flow
            if journal.exists() and journal.read_bytes().count(b"\n") >= 40:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 1, err
        assert "run the same command again to continue" in err
        report = tmp_path / "many.report.xlsx"
        done = Counter(statuses(report))
        assert 0 < done["created"] < len(wanted) and done["skipped"] > 0
        assert journal.exists()

        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        lines = [schema.record_from_wire(r) for r in _lines_of(base_url)]
        keys = Counter((r["product_id"], r["line_number"]) for r in lines)
        assert len(lines) == len(records) + len(wanted) and max(keys.values()) == 1
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.wait(timeout=10)


def test_demo_runs_the_whole_loop(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sync.cli", "demo", "--output",
                             str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    # The apply's report keeps what it did: the rerun that finds nothing to do leaves it be,
    # says where it is, and writes its own (a plan's, made by apply) beside it.
    assert "nothing to do" in result.stderr
    assert f"the report of the last apply is {out / 'routing.report.xlsx'}" in result.stderr
    applied = Counter(statuses(out / "routing.report.xlsx"))
    assert applied["updated"] + applied["created"] > 0 and "would update" not in applied
    assert summary_of(out / "routing.report.xlsx")["Command"] == "apply"
    rerun = openpyxl.load_workbook(out / "routing.plan.xlsx")
    assert rerun.sheetnames[:2] == ["Routing", "Notes"]
    assert Counter(statuses(out / "routing.plan.xlsx")) == Counter({"unchanged": 26})
    assert summary_of(out / "routing.plan.xlsx")["Command"] == "apply"
    assert not list(out.glob("routing.report-*.xlsx"))
    assert f"Open {out / 'routing.report.xlsx'}" in result.stdout


def test_sample_files_are_current(tmp_path):
    """The committed sample files are what sync.demo writes from the demo data set."""
    from sync.demo import write_sample_files

    for fresh in write_sample_files(tmp_path):
        committed = SAMPLE_DIR / fresh.name
        if fresh.suffix == ".csv":
            assert committed.read_text() == fresh.read_text()
            continue
        a, b = (openpyxl.load_workbook(p).worksheets[0] for p in (committed, fresh))
        assert [[c.value for c in r] for r in a.iter_rows()] == \
               [[c.value for c in r] for r in b.iter_rows()]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("emulator did not start")



def test_apply_asks_on_a_terminal_and_sends_nothing_when_told_no(emulator_thread, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr("sync.cli._stdin_is_terminal", lambda: True)
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_XLSX, tmp_path)
    host = emu.base_url.split("/")[2]
    no = CliRunner().invoke(main, ["apply", str(path), *connection(emu)], input="n\n")
    assert no.exit_code == 0
    assert f"Apply 6 changes to {host}? [y/N]" in no.stderr
    assert "nothing sent" in no.stderr and emu.store.write_count == 0
    yes = CliRunner().invoke(main, ["apply", str(path), *connection(emu)], input="y\n")
    assert yes.exit_code == 0
    assert emu.store.write_count == 6
