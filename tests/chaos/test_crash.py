"""Crash safety: ``apply`` killed with SIGKILL at random points, again and again, then run to
the end: the server ends exactly as the sheet says with no duplicate, and what a kill leaves
half-written (the journal's last line, a report) never breaks the next run."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sheetkit import state, write_sheet

from sync import schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN
from sync.journal import read_journal

PRODUCT, LINE = schema.PRODUCT_ID.name, schema.LINE_NUMBER.name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the emulator did not start")


def server_lines(base_url: str) -> list[dict[str, Any]]:
    async def fetch() -> list[dict[str, Any]]:
        connection = Connection.from_options(base_url=base_url, token=DEMO_TOKEN)
        async with FlowtracClient(connection) as client:
            return await client.list_lines()
    return asyncio.run(fetch())


def mirror_sheet(records: list[dict[str, Any]], processes: list[str]) -> list[dict[str, Any]]:
    """Per product: line 1 changed, line 2 dropped (every other product), four new lines."""
    rows = []
    for n, record in enumerate(sorted(records, key=lambda r: (r[PRODUCT], r[LINE]))):
        row = {f.name: record.get(f.name) for f in (schema.ID, schema.PRODUCT_ID,
                                                     *schema.WRITABLE)}
        if record[LINE] == 1:
            row["product_minutes"] = Decimal(n % 40 + 1)
            rows.append(row)
            rows += [{**row, "id": None, LINE: line, "process_id": processes[line],
                      "description": f"new {line}"} for line in range(4, 8)]
        elif record[LINE] != 2 or n % 4:
            rows.append(row)
    return rows


def report_statuses(path: Path) -> list[str]:
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    column = rows[0].index("sync_status")
    return [r[column] for r in rows[1:]]


def kill_when_journal_grows(cmd: list[str], journal: Path, lines: int,
                            deadline_s: float = 60) -> int | None:
    """Start ``apply`` and SIGKILL it once its journal has ``lines`` more lines (mid-run, at a
    point that differs each time); None if it finished first."""
    before = journal.read_bytes().count(b"\n") if journal.exists() else 0
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - started < deadline_s:
            grown = (journal.read_bytes().count(b"\n") if journal.exists() else 0) - before
            if grown >= lines:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                return grown
            time.sleep(0.005)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(150)
def test_sigkill_at_random_points_then_a_rerun_converges(tmp_path: Path) -> None:
    port = _free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sync.emulator", "--port", str(port), "--products", "60",
         "--lines", "3", "--latency-ms", "30", "--latency-jitter-ms", "20",
         "--allow-duplicate-lines", "--drop-rate", "0.03", "--error-rate", "0.03",
         "--fault-seed", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port)
        base_url = f"http://127.0.0.1:{port}/api"
        records = [schema.record_from_wire(r) for r in server_lines(base_url)]
        processes = sorted({r["process_id"] for r in records})
        wanted = mirror_sheet(records, processes)
        path = write_sheet(tmp_path / "routing.xlsx", wanted)
        report = tmp_path / "routing.report.xlsx"
        journal = tmp_path / "routing.journal.jsonl"
        cmd = [sys.executable, "-m", "sync.cli", "apply", str(path), "--yes", "--mode",
               "mirror", "--max-delete", "1000", "--concurrency", "4", "--retries", "8",
               "--base-url", base_url, "--token", DEMO_TOKEN, "--json"]

        rng = random.Random(20240301)
        kills = 0
        for _ in range(4):
            if kill_when_journal_grows(cmd, journal, rng.randint(3, 60)) is not None:
                kills += 1
            lines = server_lines(base_url)
            keys = Counter((r[PRODUCT], r[LINE]) for r in lines)
            assert max(keys.values()) == 1, "a killed run left a duplicate"
            list(read_journal(journal))  # a line cut by the kill is skipped, never an error
            if report.exists():  # written whole or not at all
                assert len(report_statuses(report)) == len(wanted)
        assert kills >= 3, "the kills should land while writes are going on"

        # The worst a kill can leave: a journal line cut in half, a half-written report.
        with journal.open("ab") as f:
            f.write(b'{"time": "2026-03-01T08:30:00+0000", "run": "cut', )
        report.write_bytes(path.read_bytes()[:1500])

        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert "Traceback" not in rerun.stderr
        summary = json.loads(rerun.stdout)
        assert not {"failed", "skipped", "invalid", "conflict"} & set(summary["counts"])
        lines = [schema.record_from_wire(r) for r in server_lines(base_url)]
        assert state(lines) == state(wanted)
        assert max(Counter((r[PRODUCT], r[LINE]) for r in lines).values()) == 1
        # The rerun's report is whole, beside the earlier one, which no run replaces; the
        # rerun's journal lines are all readable.
        rerun_report = Path(summary["report"])
        assert rerun_report != report and rerun_report.parent == report.parent
        assert set(report_statuses(rerun_report)) <= {"unchanged", "created", "updated"}
        runs = [e for e in read_journal(journal) if e.get("event") in ("run", "end")]
        assert [e["event"] for e in runs[-2:]] == ["run", "end"]
        assert runs[-1]["run"] == runs[-2]["run"] and runs[-1]["interrupted"] is False

        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "nothing to do" in again.stderr
        assert json.loads(again.stdout)["changes"] == {"create": 0, "update": 0, "delete": 0}
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.wait(timeout=10)


def test_a_journal_line_cut_by_a_kill_does_not_swallow_the_next_run(tmp_path: Path) -> None:
    from sync.journal import Journal

    path = tmp_path / "j.jsonl"
    with Journal(path, base_url="http://127.0.0.1:1/api") as first:
        first.write(event="attempt", action="create", key={}, id=None, body={}, before=None)
    with path.open("ab") as f:
        f.write(b'{"time": "2026-03-01T08:30:00+0000", "event": "res')  # killed here
    with Journal(path, base_url="http://127.0.0.1:1/api") as second:
        second.write(event="end", writes=0, interrupted=False)
    entries = list(read_journal(path))
    assert [e["event"] for e in entries] == ["run", "attempt", "run", "end"]
    assert entries[2]["run"] == entries[3]["run"] == second.run_id
