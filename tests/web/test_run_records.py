"""A web apply's journal and report outlive its session: they are kept in the durable data
folder (``serve --data-dir``), per server and per user, and listed under "Earlier runs" for
the same user after signing in again (sign-out, expiry, a server restart); never for another
user.  Signing out during an apply asks first, then the run goes on to its end."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from sheetkit import report_statuses

from sync.cli import main
from sync.demo import demo_dataset
from sync.emulator import EmulatorConfig
from sync.web import WebSettings, command, make_app

from .conftest import BADGE, PIN, SAMPLE, TOKEN, WebPage

FINAL = {"created": 2, "updated": 4, "unchanged": 20}
_RUN_LINK = re.compile(r'href="/runs/([A-Za-z0-9_-]+)/report\.xlsx"')


def run_ids(text: str) -> list[str]:
    return _RUN_LINK.findall(text)


async def the_run_id(page: WebPage) -> str:
    """The id of the one earlier run the start page lists."""
    (run_id,) = run_ids(await (await page.get("/")).text())
    return run_id


async def home_once_ended(page: WebPage, timeout_s: float = 20) -> str:
    """The start page, once no earlier run on it is still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while "still running" in (home := await (await page.get("/")).text()):
        assert loop.time() < deadline, page.emulator.store.write_count
        await asyncio.sleep(0.05)
    return home


async def test_report_and_journal_outlive_sign_out_and_stay_downloadable(web, tmp_path):
    page = await web()
    await page.sign_in()
    plan = await page.apply_and_wait()
    await page.post("/signout", {})
    assert (await page.get(plan)).status == 404                 # the session is gone

    await page.sign_in()
    home = await (await page.get("/")).text()
    assert "Earlier runs" in home and "routing.xlsx" in home
    (run_id,) = run_ids(home)
    assert "created 2" in home and "updated 4" in home
    report = await page.get(f"/runs/{run_id}/report.xlsx")
    assert report.status == 200
    assert report.headers["Content-Disposition"] == 'attachment; filename="routing.report.xlsx"'
    assert report_statuses(await report.read()) == FINAL
    journal = await page.get(f"/runs/{run_id}/journal.jsonl")
    assert journal.status == 200
    entries = [json.loads(line) for line in (await journal.text()).splitlines()]
    done = [e for e in entries if e["event"] == "result" and e["status"] == 200]
    assert len(done) == page.emulator.store.write_count == 6
    # Kept per server and per user, in the data folder: not in the session's folder.
    (kept,) = (tmp_path / "data").glob(f"*/badge-{BADGE}/{run_id}/routing.journal.jsonl")
    assert kept.parent.parent.parent.name.startswith("127.0.0.1_")


async def test_they_outlive_an_expired_session_too(web):
    page = await web(session_idle_s=60)
    await page.sign_in()
    await page.apply_and_wait()
    assert page.state.sessions().sweep(time.monotonic() + 61) == 1
    await page.get("/")                                           # a new session
    await page.sign_in()
    run_id = await the_run_id(page)
    assert (await page.get(f"/runs/{run_id}/journal.jsonl")).status == 200


async def test_a_record_naming_files_outside_its_folder_is_ignored(web, tmp_path):
    page = await web()
    await page.sign_in()
    await page.apply_and_wait()
    run_id = await the_run_id(page)
    (record,) = (tmp_path / "data").glob(f"*/badge-{BADGE}/{run_id}/run.json")
    outside = tmp_path / "outside.report.xlsx"
    outside.write_bytes(b"not for download")
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "stem": "../../../../outside"}))
    home = await (await page.get("/")).text()
    assert run_id not in home
    assert (await page.get(f"/runs/{run_id}/report.xlsx")).status == 404


async def test_runs_are_listed_again_after_the_server_restarts(emulator, tmp_path):
    config = replace(EmulatorConfig(), users={BADGE: PIN}, tokens={TOKEN})
    emu = await emulator(config=config, dataset=demo_dataset())
    settings = WebSettings(base_url=emu.base_url, temp_parent=str(tmp_path),
                           data_dir=str(tmp_path / "data"))
    async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
        page = WebPage(client, emu)
        await page.sign_in()
        await page.apply_and_wait()
    # The server stopped: the session's temporary folder is gone, the run records are not.
    async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
        page = WebPage(client, emu)
        await page.sign_in()
        run_id = await the_run_id(page)
        report = await page.get(f"/runs/{run_id}/report.xlsx")
        assert report_statuses(await report.read()) == FINAL


async def test_another_user_neither_sees_nor_downloads_them(web, tmp_path):
    page = await web()
    await page.sign_in()
    await page.apply_and_wait()
    run_id = await the_run_id(page)
    await page.post("/signout", {})
    urls = [f"/runs/{run_id}/report.xlsx", f"/runs/{run_id}/journal.jsonl"]
    for url in urls:                                              # signed out
        assert (await page.get(url)).status == 404

    await page.sign_in("", "", token=TOKEN)                     # someone else
    home = await (await page.get("/")).text()
    assert "Earlier runs" not in home and not run_ids(home)
    for url in urls:
        response = await page.get(url)
        assert response.status == 404 and "not among your earlier runs" in await response.text()
    # Ids that try to leave the user's folder find nothing either.
    owner_folder = next((tmp_path / "data").glob(f"*/badge-{BADGE}"))
    for bad in ("..", "..%2F..%2Fbadge-" + BADGE + "%2F" + run_id, f"%2E%2E%2F{run_id}",
                owner_folder.name, run_id[:-1], run_id + "x"):
        assert (await page.get(f"/runs/{bad}/report.xlsx")).status == 404, bad


async def test_a_token_sign_in_finds_its_runs_and_the_token_is_never_stored(web, tmp_path):
    page = await web()
    await page.sign_in("", "", token=TOKEN)
    await page.apply_and_wait()
    await page.post("/signout", {})
    await page.sign_in("", "", token=TOKEN)
    run_id = await the_run_id(page)
    assert (await page.get(f"/runs/{run_id}/journal.jsonl")).status == 200
    await page.post("/signout", {})
    await page.sign_in()                                          # the badge user: not theirs
    assert not run_ids(await (await page.get("/")).text())
    data = tmp_path / "data"
    for path in data.rglob("*"):
        assert TOKEN not in path.name and TOKEN[:8] not in path.name
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


async def test_signing_out_during_an_apply_asks_first_then_the_run_goes_on(web):
    page = await web(config=EmulatorConfig(latency_ms=400))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    asked = await page.post("/signout", {})
    text = await asked.text()
    assert asked.status == 200 and "the run goes on to its end" in text
    assert "Earlier runs" in text and "writes done" in text
    assert "Signed in: badge" in text                             # not signed out yet
    assert (await page.get(f"{plan}/progress")).status == 200    # still this session's

    await page.post("/signout", {"confirm": "1"})
    assert (await page.get(f"{plan}/progress")).status == 404    # signed out now

    await page.sign_in()
    home = await home_once_ended(page)
    assert page.emulator.store.write_count == 6                   # every write was sent
    (run_id,) = run_ids(home)
    assert "created 2" in home and "stopped" not in home
    report = await page.get(f"/runs/{run_id}/report.xlsx")
    assert report_statuses(await report.read()) == FINAL


async def test_a_run_still_going_is_listed_as_such(web):
    page = await web(config=EmulatorConfig(latency_ms=400))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    home = await (await page.get("/")).text()
    assert "still running" in home
    (run_id,) = re.findall(r'data-run="([A-Za-z0-9_-]+)"', home)
    assert (await page.get(f"/runs/{run_id}/journal.jsonl")).status == 404  # not yet
    await page.wait_applied(plan)
    assert (await page.get(f"/runs/{run_id}/journal.jsonl")).status == 200


async def test_an_unusable_data_folder_stops_the_apply_before_any_write(web, tmp_path):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    archive = page.state.runs()
    (archive.folder / f"badge-{BADGE}").write_text("in the way")  # a file, not a folder
    response = await page.apply(plan)
    text = html.unescape(await response.text())
    assert "Cannot keep the run's report and journal" in text
    assert "nothing was written to Flowtrac" in text
    await asyncio.sleep(0.2)
    assert page.emulator.store.write_count == 0
    assert 'name="confirm"' in text                               # can be tried again


def test_serve_takes_the_data_folder_from_the_option_or_the_config(monkeypatch, tmp_path):
    served: list[WebSettings] = []

    async def fake_serve(settings, host, port, *, access_log):
        served.append(settings)

    monkeypatch.setattr(command, "_serve", fake_serve)
    for name in ("FLOWTRAC_COMPANY", "FLOWTRAC_BASE_URL", "FLOWTRAC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    given = tmp_path / "records"
    result = runner.invoke(main, ["serve", "--demo", "--data-dir", str(given)])
    assert result.exit_code == 0, result.output
    assert served[-1].data_dir == str(given) and (given / "demo").is_dir()

    config = tmp_path / "serve.toml"
    config.write_text(f'base_url = "http://127.0.0.1:8765/api"\ndata_dir = "{tmp_path / "c"}"\n')
    result = runner.invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert served[-1].data_dir == str(tmp_path / "c")

    result = runner.invoke(main, ["serve", "--demo"])             # the user's data folder
    assert result.exit_code == 0 and served[-1].data_dir is None
    assert (Path(os.environ["XDG_DATA_HOME"]) / "flowtrac-sync" / "web" / "demo").is_dir()

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    result = runner.invoke(main, ["serve", "--demo", "--data-dir", str(blocked / "sub")])
    assert result.exit_code == 2
    assert "Cannot keep the page's run records" in result.output
    assert "Traceback" not in result.output and len(served) == 3


async def test_the_page_server_stopping_mid_run_leaves_a_record_that_says_so(emulator,
                                                                              tmp_path):
    config = replace(EmulatorConfig(latency_ms=200), users={BADGE: PIN}, tokens={TOKEN})
    emu = await emulator(config=config, dataset=demo_dataset())
    settings = WebSettings(base_url=emu.base_url, temp_parent=str(tmp_path),
                           data_dir=str(tmp_path / "data"))
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            TestClient(TestServer(make_app(settings), host="127.0.0.1")))
        page = WebPage(client, emu)
        await page.sign_in()
        plan = await page.upload(SAMPLE)
        await page.apply(plan)
        await page.post("/signout", {"confirm": "1"})
    # The server stopped during the run: requests in flight finished, the rest was not sent,
    # and the record says so; the report says which rows were done.
    async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
        page = WebPage(client, emu)
        await page.sign_in()
        home = await (await page.get("/")).text()
        (run_id,) = run_ids(home)
        assert "stopped: interrupted" in home
        report = await page.get(f"/runs/{run_id}/report.xlsx")
        statuses = report_statuses(await report.read())
        assert statuses.get("skipped", 0) > 0 and emu.store.write_count < 6
