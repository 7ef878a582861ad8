"""An apply started on the page is recorded in the run history, as the page user, like one
from the command line (issue 16); ``runs`` lists it and ``undo --run ID`` can undo it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sync.cli import main
from sync.history import History, default_history_path

from .conftest import BADGE, PIN, SAMPLE, TOKEN


async def test_a_page_apply_is_in_the_run_history_as_the_page_user(web):
    page = await web()
    known = {r.run_id for r in History(default_history_path()).runs()}
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    progress = await page.wait_applied(plan)

    [record] = [r for r in History(default_history_path()).runs() if r.run_id not in known]
    assert record.command == "apply" and record.who == f"page badge-{BADGE}"
    assert record.counts == progress["counts"] == {"created": 2, "updated": 4, "unchanged": 20}
    assert record.server == page.emulator.base_url and record.exit_code == 0
    assert Path(record.journal).is_file() and Path(record.report).is_file()
    assert f'"run": "{record.run_id}"' in Path(record.journal).read_text()
    stored = default_history_path().read_bytes().decode("latin-1")
    assert PIN not in stored and TOKEN not in stored

    listed = CliRunner().invoke(main, ["runs", "--json", "--server",
                                       page.emulator.base_url])
    assert [r["run_id"] for r in json.loads(listed.stdout)["runs"]] == [record.run_id]


async def test_a_history_the_page_cannot_write_is_a_log_line_and_the_apply_goes_on(
        web, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    progress = await page.wait_applied(plan)
    assert progress["exit_code"] == 0 and page.emulator.store.write_count == 6
    [line] = [r.getMessage() for r in caplog.records if "run history" in r.getMessage()]
    assert line.startswith(f"the run history {blocker}/flowtrac-sync/history.sqlite3 could not")
    assert line.endswith("); the run itself is not affected")
