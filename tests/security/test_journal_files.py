"""The journal is appended to only as a regular file of its own: a symbolic link planted
where it goes (``x.journal.jsonl -> victim``), a FIFO or a device is refused with one
sentence and exit 2 before anything is sent, in ``apply`` and in ``undo``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sync import api
from sync.cli import main
from sync.connection import Connection
from sync.demo import ROUTING_CSV, SAMPLE_DIR, demo_dataset
from sync.emulator import DEMO_TOKEN

VICTIM_TEXT = "precious lines\n"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def connection(emu) -> list[str]:
    return ["--base-url", emu.base_url, "--token", DEMO_TOKEN]


def plant_link(where: Path, tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    where.symlink_to(victim)
    return victim


def test_apply_refuses_a_journal_that_is_a_symlink(emulator_thread, tmp_path: Path) -> None:
    emu = emulator_thread(dataset=demo_dataset())
    sheet = Path(shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path))
    # The default journal beside the report: routing.journal.jsonl.
    victim = plant_link(tmp_path / "routing.journal.jsonl", tmp_path)
    result = run("apply", str(sheet), "--yes", *connection(emu))
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.stderr and "nothing sent" in result.stderr
    assert "Traceback" not in result.output
    assert victim.read_text() == VICTIM_TEXT
    assert emu.store.write_count == 0


def test_apply_refuses_a_fifo_or_a_device_as_journal(emulator_thread, tmp_path: Path) -> None:
    emu = emulator_thread(dataset=demo_dataset())
    sheet = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    for journal in (fifo, Path(os.devnull)):
        # A child process with a timeout: opening a FIFO without a reader used to hang.
        done = subprocess.run(
            [sys.executable, "-m", "sync.cli", "apply", str(sheet), "--yes", "--journal",
             str(journal), *connection(emu)],
            capture_output=True, text=True, timeout=20, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert "is not a regular file" in done.stderr and "Traceback" not in done.stderr
    assert emu.store.write_count == 0


def test_undo_refuses_a_symlink_as_its_own_journal(emulator_thread, tmp_path: Path) -> None:
    emu = emulator_thread(dataset=demo_dataset())
    sheet = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    journal = tmp_path / "routing.journal.jsonl"
    conn = Connection.from_options(base_url=emu.base_url, token=DEMO_TOKEN)
    api.apply(sheet, conn, journal=journal)
    writes = emu.store.write_count
    victim = plant_link(tmp_path / "routing.undo.journal.jsonl", tmp_path)
    result = run("undo", str(journal), "--yes", *connection(emu))
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.stderr and "nothing sent" in result.stderr
    assert victim.read_text() == VICTIM_TEXT
    assert emu.store.write_count == writes


def test_undo_refuses_a_fifo_to_read(emulator_thread, tmp_path: Path) -> None:
    emu = emulator_thread(dataset=demo_dataset())
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "sync.cli", "undo", str(fifo), "--yes",
                           *connection(emu)], capture_output=True, text=True, timeout=20)
    assert done.returncode == 2, done.stderr
    assert "is not a regular file" in done.stderr


def test_a_journal_cut_mid_line_is_still_appended_to(tmp_path: Path) -> None:
    """The last-byte check now reads through the open descriptor: a run killed mid-line
    still gets its line ended before the next run's lines."""
    from sync.journal import Journal, read_journal

    path = tmp_path / "j.jsonl"
    path.write_text('{"time": "t", "run": "a", "event": "run"}\n{"time": "t", "ru')
    with Journal(path, run_id="b", base_url="http://x/api") as log:
        log.write(event="end", writes=0, interrupted=False)
    assert [(e["run"], e["event"]) for e in read_journal(path)] == [
        ("a", "run"), ("b", "run"), ("b", "end")]
