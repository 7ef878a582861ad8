"""Two writers at once: one apply per Flowtrac on a machine (the write lock), and a read-back
after the writes that catches the writers no local lock keeps out."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sheetkit import server_rows, token_connection, write_sheet

from sync import api
from sync.emulator import DEMO_TOKEN, EmulatorConfig, EmulatorThread, generate_dataset
from sync.errors import WriterBusyError
from sync.executor import Progress
from sync.writelock import WriteLock

NEW_LINE = 50


def _new_lines(store, description: str) -> list[dict]:
    """One new line (line 50) on every product of the store."""
    process = store.processes()[0]["process_id"]
    products = sorted({r["product_id"] for r in server_rows(store)})
    return [{"product_id": p, "line_number": NEW_LINE, "process_id": process,
             "description": description} for p in products]


def _cli(sheet: Path, base_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sync.cli", "apply", str(sheet), "--yes", "--json",
            "--base-url", base_url, "--token", DEMO_TOKEN, *extra]


def _wait_for_holder(folder: Path, pid: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for path in folder.glob("*.lock"):
            if f'"pid": {pid}' in path.read_text(encoding="utf-8"):
                return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never took the write lock")


# --------------------------------------------------------------------------- the write lock

def test_second_apply_stops_naming_the_first_and_a_waiting_one_sends_no_duplicate(tmp_path):
    """Two applies of one sheet at once, against a server that would take two lines on one
    product + line number: the second stops (exit 3, nothing sent, the first named); a
    third that waits plans after the first has written, so it finds nothing to do."""
    locks = tmp_path / "locks"
    env = {**os.environ, "FLOWTRAC_SYNC_LOCK_DIR": str(locks)}
    config = EmulatorConfig(latency_ms=200, allow_duplicate_lines=True)
    with EmulatorThread(config, generate_dataset(30, 2)) as emu:
        before = len(emu.store.lines())
        first_sheet = write_sheet(tmp_path / "first.xlsx", _new_lines(emu.store, "first"))
        second_sheet = write_sheet(tmp_path / "second.xlsx", _new_lines(emu.store, "second"))
        first = subprocess.Popen(_cli(first_sheet, emu.base_url, "--concurrency", "1"),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            _wait_for_holder(locks, first.pid)
            # Both start while the first holds the lock (its 30 writes one at a time take
            # 30 x the latency): one waits for it, the other stops.
            waiting = subprocess.Popen(_cli(first_sheet, emu.base_url, "--wait", "120"),
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True)
            busy = subprocess.run(_cli(second_sheet, emu.base_url), env=env,
                                  capture_output=True, text=True, timeout=120)
            out, err = first.communicate(timeout=120)
            waited_out, waited_err = waiting.communicate(timeout=120)
        finally:
            for proc in (first,):
                if proc.poll() is None:
                    proc.kill()
        assert first.returncode == 0, err
        assert json.loads(out)["counts"]["created"] == 30

        assert busy.returncode == 3, busy.stderr
        message = busy.stderr.strip()
        assert message.count("\n") == 0 and "Traceback" not in message
        assert f"pid {first.pid}" in message and "apply first.xlsx" in message
        assert "started 20" in message and "nothing was sent" in message
        assert DEMO_TOKEN not in message

        assert waiting.returncode == 0, waited_err
        assert "waiting up to 120 s" in waited_err and "apply first.xlsx" in waited_err
        assert json.loads(waited_out)["counts"] == {"unchanged": 30, "left alone": 60}
        lines = server_rows(emu.store)
        assert len(lines) == before + 30
        assert not [r for r in lines if r.get("description") == "second"]  # nothing sent
        keys = Counter((r["product_id"], r["line_number"]) for r in lines)
        assert max(keys.values()) == 1                                     # no duplicate


_HOLD = """
import sys, time
from sync.writelock import WriteLock
lock = WriteLock(sys.argv[1], "apply held.xlsx")
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(base_url: str, env: dict[str, str], seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, base_url, str(seconds)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_lock_of_a_killed_run_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTRAC_SYNC_LOCK_DIR", str(tmp_path))
    url = "http://127.0.0.1:9/api"
    proc = _holder(url, dict(os.environ), 600)
    try:
        with pytest.raises(WriterBusyError) as busy:
            WriteLock(url, "apply mine.xlsx").acquire()
        assert f"pid {proc.pid}" in str(busy.value) and "apply held.xlsx" in str(busy.value)
        # The same server written another way shares the lock.
        with pytest.raises(WriterBusyError):
            WriteLock("HTTP://127.0.0.1:9/API/", "apply mine.xlsx").acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # The killed run's details are still in the file, but its lock went with it.
    (lock_file,) = tmp_path.glob("*.lock")
    assert f'"pid": {proc.pid}' in lock_file.read_text()
    lock = WriteLock(url, "apply mine.xlsx")
    lock.acquire()
    try:
        assert f'"pid": {os.getpid()}' in lock_file.read_text()
        assert "apply mine.xlsx" in lock_file.read_text()
    finally:
        lock.release()
    assert lock_file.read_text() == ""          # a released lock names nobody


def test_wait_takes_the_lock_once_the_other_run_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTRAC_SYNC_LOCK_DIR", str(tmp_path))
    url = "http://127.0.0.1:9/api"
    proc = _holder(url, dict(os.environ), 1.0)
    try:
        started = time.monotonic()
        with pytest.raises(WriterBusyError) as busy:
            WriteLock(url, "apply mine.xlsx").acquire(0.3)
        assert "after waiting 0.3 s" in str(busy.value)
        assert time.monotonic() - started >= 0.3
        lock = WriteLock(url, "apply mine.xlsx")
        lock.acquire(60)                             # the holder ends after about a second
        assert proc.wait(timeout=10) == 0
        lock.release()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_another_flowtrac_has_its_own_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWTRAC_SYNC_LOCK_DIR", str(tmp_path))
    with WriteLock("http://127.0.0.1:9/api", "apply a.xlsx"):
        with WriteLock("http://127.0.0.1:10/api", "apply b.xlsx"):
            assert len(list(tmp_path.glob("*.lock"))) == 2


# --------------------------------------------------------------------------- read-back

def _updates(store, minutes: int) -> list[dict]:
    return [{**r, "product_minutes": minutes} for r in server_rows(store)]


async def test_read_back_checks_every_line_written(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(4, 3))
    rows = _updates(emu.store, 7) + _new_lines(emu.store, "new")
    sheet = write_sheet(tmp_path / "sheet.xlsx", rows)
    result = await api.apply_async(sheet, token_connection(emu.base_url))
    assert result.counts() == {"updated": 12, "created": 4}
    assert result.read_back is not None
    assert result.read_back.checked == 16 and not result.read_back.overwritten
    assert result.exit_code == 0
    assert result.summary()["Read back"] == "16 lines, 0 changed again by another writer"
    assert result.to_json()["read_back"]["checked"] == 16


async def test_line_changed_again_after_the_write_is_overwritten(emulator, tmp_path):
    """Another writer (a person in Flowtrac, another machine) changes a line this run has
    just written: the row says so, with when and by whom, and the run ends with exit 1."""
    emu = await emulator(dataset=generate_dataset(3, 2))
    sheet = write_sheet(tmp_path / "sheet.xlsx", _updates(emu.store, 7))
    planned = await api.plan_async(sheet, token_connection(emu.base_url))
    target = planned.plan.writes[0]

    def other_writer(progress: Progress) -> None:
        if progress.done == progress.total:   # after this run's last write, before read-back
            emu.store.update_line({"id": target.record_id, "product_minutes": "9"},
                                  user="planner-on-laptop")

    result = await api.execute_async(planned, token_connection(emu.base_url),
                                     on_progress=other_writer)
    assert result.counts() == {"updated": 5, "overwritten": 1}
    assert result.exit_code == 1
    status = dict(result.row_status())[target.row.index]
    assert status.status == "overwritten" and status.sync_id == target.record_id
    assert "changed again on the server at 20" in status.message
    assert "by planner-on-laptop after this run wrote it" in status.message
    assert "Product minutes is 9 (this run wrote 7)" in status.message
    assert api.exit_reason(result) == ("1 row is overwritten on the server after this run "
                                      "wrote them: the report says by whom and when")
    assert result.to_json()["counts"]["overwritten"] == 1
    assert result.to_json()["read_back"]["overwritten"] == 1
    report = result.write_report(tmp_path / "out.report.xlsx")
    from openpyxl import load_workbook

    ws = load_workbook(report).worksheets[0]
    header = [c.value for c in ws[1]]
    column = header.index("sync_status")
    assert Counter(r[column] for r in ws.iter_rows(min_row=2, values_only=True)) == {
        "updated": 5, "overwritten": 1}


async def test_duplicate_from_a_concurrent_writer_is_flagged(emulator, tmp_path):
    """Two runs of one sheet at once, through the library (no lock: as from two machines),
    against a server that takes two lines on one key: every duplicate is caught by the run
    that reads back last, whatever the interleaving."""
    emu = await emulator(config=EmulatorConfig(latency_ms=20, allow_duplicate_lines=True),
                         dataset=generate_dataset(20, 2))
    sheet = write_sheet(tmp_path / "sheet.xlsx", _new_lines(emu.store, "new"))
    options = api.SyncOptions(concurrency=4)
    first, second = await asyncio.gather(
        *(api.apply_async(sheet, token_connection(emu.base_url), options) for _ in range(2)))
    keys = Counter((r["product_id"], r["line_number"]) for r in server_rows(emu.store))
    doubled = {k for k, n in keys.items() if n == 2}
    assert len(doubled) == 20                     # the server really took every line twice
    flagged = [{(i.product_id, NEW_LINE) for i in run.read_back.overwritten}
               for run in (first, second)]
    assert doubled in flagged
    last = (first, second)[flagged.index(doubled)]
    assert last.exit_code == 1 and last.counts()["overwritten"] == 20
    message = next(iter(last.read_back.overwritten.values()))
    assert message.startswith(f"line {NEW_LINE} of this product now has two lines")


async def test_read_back_that_fails_is_a_warning(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(2, 2))
    sheet = write_sheet(tmp_path / "sheet.xlsx", _updates(emu.store, 7))
    planned = await api.plan_async(sheet, token_connection(emu.base_url),
                                   api.SyncOptions(retries=0))

    def server_goes_bad(progress: Progress) -> None:
        if progress.done == progress.total:
            emu.config.error_rate = 1.0

    result = await api.execute_async(planned, token_connection(emu.base_url),
                                     on_progress=server_goes_bad)
    assert result.counts() == {"updated": 4}
    assert result.exit_code == 0
    assert result.read_back is not None and result.read_back.error
    assert result.read_back.error.startswith("the lines written could not be read back")
    assert result.read_back.error in result.warnings
    assert result.summary()["Read back"].startswith("not done: ")


def test_undo_and_a_config_wait_take_the_same_lock(emulator_thread, tmp_path, monkeypatch):
    """``undo`` stops like ``apply`` while another run writes; ``wait`` in a config file is
    the ``--wait`` of a nightly job."""
    from click.testing import CliRunner

    from sync.cli import main

    monkeypatch.setenv("FLOWTRAC_SYNC_LOCK_DIR", str(tmp_path / "locks"))
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    sheet = write_sheet(tmp_path / "sheet.xlsx", _updates(emu.store, 7))
    connect = ["--base-url", emu.base_url, "--token", DEMO_TOKEN]
    done = CliRunner().invoke(main, ["apply", str(sheet), "--yes", *connect])
    assert done.exit_code == 0, done.output
    config = tmp_path / "nightly.toml"
    config.write_text("wait = 0.4\n")
    writes = emu.store.write_count
    with WriteLock(emu.base_url, "web user badge 4711"):
        undo = CliRunner().invoke(main, ["undo", str(tmp_path / "sheet.journal.jsonl"),
                                         "--yes", *connect])
        nightly = CliRunner().invoke(main, ["apply", str(sheet), "--yes", "--config",
                                            str(config), *connect])
    assert undo.exit_code == 3
    assert "web user badge 4711 (pid" in undo.output and "nothing was sent" in undo.output
    assert nightly.exit_code == 3
    assert "waiting up to 0.4 s" in nightly.output and "after waiting 0.4 s" in nightly.output
    assert emu.store.write_count == writes
