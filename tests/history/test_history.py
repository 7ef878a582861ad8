"""The run history over loopback: every apply and undo recorded, ``runs``, ``runs show``,
``undo --run ID`` from the history, two writers at once, and a history that cannot be
written (a warning, the run unchanged)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path

from click.testing import CliRunner
from sheetkit import UNGUESSABLE_PIN, badge_connection, server_rows, state, token_connection

from sync import api
from sync import undoing as undo_lib
from sync.cli import main
from sync.demo import ROUTING_CSV, SAMPLE_DIR, demo_dataset
from sync.emulator import DEMO_BADGE, DEMO_TOKEN, EmulatorConfig
from sync.history import History, RunRecord, new_run_id


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def connection(emu) -> list[str]:
    return ["--base-url", emu.base_url, "--token", DEMO_TOKEN]


def runs_json(history: Path, *args: str) -> list[dict]:
    listed = run("runs", "--history", str(history), "--json", *args)
    assert listed.exit_code == 0, listed.stderr
    return json.loads(listed.stdout)["runs"]


def sheet_with_a_bad_row(tmp_path: Path) -> Path:
    """The sample routing sheet (4 updates, 2 creates) plus one row whose minutes are not a
    number: the apply sends the rest and ends with exit 1."""
    path = Path(shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path))
    first = path.read_text().splitlines()[1].split(",")
    first[2], first[6] = "9", "lots"
    path.write_text(path.read_text() + ",".join(first) + "\n")
    return path


def test_apply_is_recorded_and_runs_lists_and_shows_it(emulator_thread, tmp_path):
    emu = emulator_thread(EmulatorConfig(users={DEMO_BADGE: UNGUESSABLE_PIN}), demo_dataset())
    history = tmp_path / "h.sqlite3"
    path = sheet_with_a_bad_row(tmp_path)
    applied = run("apply", str(path), "--yes", "--history", str(history),
                  "--base-url", emu.base_url, "--badge", DEMO_BADGE, "--pin", UNGUESSABLE_PIN)
    assert applied.exit_code == 1, applied.stderr

    [record] = runs_json(history)
    assert record["command"] == "apply" and record["exit_code"] == 1
    assert record["counts"] == {"unchanged": 20, "updated": 4, "created": 2, "invalid": 1}
    assert record["server"] == emu.base_url and record["who"] == f"badge {DEMO_BADGE}"
    assert record["file"] == str(path) and record["mode"] == "upsert"
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert Path(record["report"]).is_file() and Path(record["journal"]).is_file()
    # The history's run id is the journal's: the journal's lines name it.
    assert f'"run": "{record["run_id"]}"' in Path(record["journal"]).read_text()
    assert record["started"] <= record["finished"] and record["duration_s"] > 0
    assert len(record["problems"]) == 1 and "lots" in record["problems"][0]
    assert UNGUESSABLE_PIN not in history.read_bytes().decode("latin-1")

    shown = run("runs", "show", record["run_id"][:6], "--history", str(history))
    assert shown.exit_code == 0, shown.stderr
    assert f"run:          {record['run_id']}" in shown.stdout
    assert "exit code:    1" in shown.stdout and "first problems:" in shown.stdout
    assert "lots" in shown.stdout and record["report"] in shown.stdout
    listed = run("runs", "--history", str(history))
    assert record["run_id"] in listed.stdout and "4 updated" in listed.stdout


def test_runs_that_send_nothing_and_runs_stopped_by_an_error_are_recorded(emulator_thread,
                                                                         tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    history = tmp_path / "h.sqlite3"
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    args = ["--yes", "--history", str(history)]
    assert run("apply", str(path), *args, *connection(emu)).exit_code == 0
    assert run("apply", str(path), *args, *connection(emu)).exit_code == 0   # nothing to do
    refused = run("apply", str(path), *args, "--base-url", emu.base_url, "--token", "wrong")
    assert refused.exit_code == 4

    first, nothing, failed = runs_json(history)
    assert first["counts"]["updated"] == 4 and first["journal"]
    assert nothing["exit_code"] == 0 and nothing["journal"] is None
    assert nothing["counts"] == {"unchanged": 26} and Path(nothing["report"]).is_file()
    assert failed["exit_code"] == 4 and failed["counts"] == {}
    assert failed["server"] == emu.base_url and "wrong" not in json.dumps(failed)
    assert len(failed["problems"]) == 1 and failed["problems"][0]
    assert len({first["run_id"], nothing["run_id"], failed["run_id"]}) == 3


def test_runs_filters_by_server_and_keeps_the_last_n(tmp_path):
    history = History(tmp_path / "h.sqlite3")
    for n, server in enumerate(["https://a.example/api", "https://b.example/api"] * 3):
        history.add(RunRecord(f"run{n}", "apply", None, None, None, server, "x.csv", None,
                              "upsert", {"updated": n}, 0))
    assert [r["run_id"] for r in runs_json(history.path, "--server", "b.example")] == [
        "run1", "run3", "run5"]
    assert [r["run_id"] for r in runs_json(history.path, "--server", "https://a.example/api",
                                           "--last", "2")] == ["run2", "run4"]
    assert [r["run_id"] for r in runs_json(history.path, "--last", "1")] == ["run5"]
    assert runs_json(tmp_path / "none.sqlite3") == []


def test_undo_run_id_undoes_that_run_from_its_journal_and_is_recorded(emulator_thread,
                                                                      tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    before = state(server_rows(emu.store))
    history = tmp_path / "h.sqlite3"
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    assert run("apply", str(path), "--yes", "--history", str(history),
               *connection(emu)).exit_code == 0
    assert state(server_rows(emu.store)) != before
    [applied] = runs_json(history)

    undone = run("undo", "--run", applied["run_id"], "--yes", "--history", str(history),
                 *connection(emu))
    assert undone.exit_code == 0, undone.stderr
    assert state(server_rows(emu.store)) == before
    _, recorded = runs_json(history)
    assert recorded["command"] == "undo" and recorded["file"] == applied["journal"]
    assert recorded["exit_code"] == 0 and Path(recorded["report"]).is_file()

    unknown = run("undo", "--run", "nosuchrun", "--yes", "--history", str(history),
                  *connection(emu))
    assert unknown.exit_code == 2 and "no run 'nosuchrun'" in unknown.stderr
    assert "Traceback" not in unknown.output


async def test_the_library_records_apply_and_undo_for_the_page(emulator, tmp_path):
    emu = await emulator(dataset=demo_dataset())
    history = tmp_path / "h.sqlite3"
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    conn = badge_connection(emu.base_url)
    planned = await api.plan_async(path, conn)
    result = await api.execute_async(planned, conn, journal=tmp_path / "j.jsonl",
                                     history=history, who="page user 7001")
    report = result.write_report(tmp_path / "r.xlsx")
    plan = await undo_lib.plan_undo(tmp_path / "j.jsonl", conn)
    undone = await undo_lib.execute_undo(plan, conn, journal=tmp_path / "u.jsonl",
                                         history=history, who="page user 7001")

    applied, reverted = History(history).runs()
    assert applied == result.run_record and applied.report == str(report)
    assert applied.who == reverted.who == "page user 7001"
    assert (reverted.command, reverted.counts) == ("undo", undone.counts())
    assert reverted.run_id == undone.run_record.run_id != applied.run_id


def test_two_writers_at_once_both_land(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path).add(RunRecord("first", "apply", None, None, None, "s", None, None, None, {},
                                0))
    # Another writer (the page) holds the database mid-transaction for a moment: a run's
    # record waits for it instead of failing.
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO runs (id, command, exit_code) VALUES ('held', 'undo', 0)")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()

    def write_many(prefix: str) -> None:
        for n in range(25):
            History(path).add(RunRecord(f"{prefix}{n}", "apply", None, None, None, "s", None,
                                        None, None, {"created": n}, 0))

    writers = [threading.Thread(target=write_many, args=(p,)) for p in ("cli-", "page-")]
    for w in writers:
        w.start()
    for w in writers:
        w.join(30)
    release.join()
    holder.close()
    ids = {r.run_id for r in History(path).runs()}
    assert ids == {"first", "held", *(f"{p}{n}" for p in ("cli-", "page-") for n in range(25))}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_history_that_cannot_be_written_is_one_warning_and_the_run_goes_on(
        emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the history's folder should be")
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    applied = run("apply", str(path), "--yes", "--history", str(blocker / "h.sqlite3"),
                  *connection(emu))
    assert applied.exit_code == 0, applied.stderr
    assert emu.store.write_count == 6
    warnings = [line for line in applied.stderr.splitlines() if "run history" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"warning: the run history {blocker / 'h.sqlite3'} could "
                                  f"not be written (")
    assert warnings[0].endswith("); the run itself is not affected")
    assert "Traceback" not in applied.output

    again = run("apply", str(path), "--yes", "--history", str(blocker / "h.sqlite3"),
                *connection(emu))                       # nothing to do: recorded by the CLI
    assert again.exit_code == 0
    assert sum("run history" in line for line in again.stderr.splitlines()) == 1


def test_a_history_that_cannot_be_read_is_one_sentence_exit_2(tmp_path):
    broken = tmp_path / "h.sqlite3"
    broken.write_text("not a database " * 100)
    listed = run("runs", "--history", str(broken))
    assert listed.exit_code == 2
    assert listed.stderr.startswith(f"error: cannot read the run history {broken}:")
    assert len(listed.stderr.splitlines()) == 1
    missing = run("runs", "show", new_run_id(), "--history", str(tmp_path / "none"))
    assert missing.exit_code == 2 and "no run" in missing.stderr


def test_the_config_file_names_the_history(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    history = tmp_path / "from-config.sqlite3"
    config = tmp_path / "flowtrac.toml"
    config.write_text(f'base_url = "{emu.base_url}"\nhistory = "{history}"\n')
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    applied = run("apply", str(path), "--yes", "--config", str(config), "--token", DEMO_TOKEN)
    assert applied.exit_code == 0, applied.stderr
    [record] = History(history).runs()
    assert record.counts["updated"] == 4
    listed = run("runs", "--config", str(config), "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [record.run_id]


def test_token_runs_name_the_system_user(emulator, tmp_path):
    record = RunRecord(new_run_id(), "apply", None, None, None, "s", None, None, None, {}, 0)
    History(tmp_path / "h").add(record)
    assert History(tmp_path / "h").get(record.run_id) == record
    conn = token_connection("http://127.0.0.1:1/api")
    from sync.history import who_for

    assert who_for(conn) and who_for(conn) != DEMO_TOKEN
    assert who_for(badge_connection("http://127.0.0.1:1/api")) == f"badge {DEMO_BADGE}"


def test_a_run_stopped_by_a_fifo_is_recorded_without_reading_it(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    history = tmp_path / "h.sqlite3"
    refused = run("undo", str(fifo), "--yes", "--history", str(history), *connection(emu))
    assert refused.exit_code == 2 and "not a regular file" in refused.stderr
    [record] = History(history).runs()
    assert (record.command, record.file, record.sha256) == ("undo", str(fifo), None)
