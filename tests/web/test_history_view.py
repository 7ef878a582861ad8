"""The page's History view (issue 16): the signed-in person's runs on this Flowtrac, read
from the run history without changing it.  Their page applies link to the report and journal
kept in their own folder; their command-line runs (same badge) are listed with their paths as
text; another person's runs are not listed, and a history that cannot be read is a sentence.
"""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import sys
from contextlib import AsyncExitStack
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from sheetkit import report_statuses

from sync.cli import main
from sync.demo import ROUTING_CSV, SAMPLE_DIR, demo_dataset
from sync.emulator import EmulatorConfig
from sync.history import History
from sync.web import WebSettings, make_app

from .conftest import BADGE, PIN, SAMPLE, TOKEN, WebPage
from .test_run_records import FINAL

OTHER_BADGE, OTHER_PIN = "7002", "pin-Wd55-other"
_ROW = re.compile(r'<tr data-run="([0-9a-f]+)" data-who="([^"]*)">(.*?)</tr>', re.S)
_LINK = re.compile(r'href="(/runs/[A-Za-z0-9_-]+/(?:report\.xlsx|journal\.jsonl))"')


def rows(text: str) -> dict[str, tuple[str, str]]:
    """The History table's rows: run id -> (who, the row's HTML)."""
    return {run: (who, html) for run, who, html in _ROW.findall(text)}


async def two_badges(emulator, tmp_path: Path, stack: AsyncExitStack,
                     **settings: object) -> tuple[WebPage, WebPage]:
    """One page server on an emulator that knows two badges; a browser for each."""
    config = replace(EmulatorConfig(), users={BADGE: PIN, OTHER_BADGE: OTHER_PIN},
                     tokens={TOKEN})
    emu = await emulator(config=config, dataset=demo_dataset())
    app = make_app(WebSettings(base_url=emu.base_url, temp_parent=str(tmp_path),
                               data_dir=str(tmp_path / "data"),
                               history=str(tmp_path / "history.sqlite3"), **settings))
    server = await stack.enter_async_context(TestServer(app, host="127.0.0.1"))
    first = WebPage(await stack.enter_async_context(TestClient(server)), emu)
    second = WebPage(await stack.enter_async_context(TestClient(server)), emu)
    return first, second


def edited_sheet(tmp_path: Path, minutes: str) -> Path:
    """The sample routing sheet as CSV with its first line's minutes changed: one update
    once the sample itself was applied."""
    path = tmp_path / f"routing-{minutes}.csv"
    lines = (SAMPLE_DIR / ROUTING_CSV).read_text().splitlines()
    first = lines[1].split(",")
    first[6] = minutes
    path.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    return path


async def apply_on_page(page: WebPage, sheet: Path = SAMPLE) -> dict:
    plan = await page.upload(sheet)
    await page.apply(plan)
    return await page.wait_applied(plan)


async def cli_apply(emu, sheet: Path, history: Path, tmp_path: Path, badge: str,
                    pin: str) -> tuple[int, str]:
    """A real command-line apply with this badge, as a nightly job runs it: a process of its
    own (it runs its own event loop and signal handlers); its exit code and output."""
    (tmp_path / "cli").mkdir(exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sync.cli", "apply", str(sheet), "--yes", "--history",
        str(history), "--base-url", emu.base_url, "--badge", badge, "--pin", pin,
        "--report", str(tmp_path / "cli" / f"night-{badge}.report.xlsx"),
        "--journal", str(tmp_path / "cli" / f"night-{badge}.journal.jsonl"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, output.decode()


async def test_the_history_lists_a_page_apply_with_its_counts_and_its_files(
        emulator, tmp_path):
    async with AsyncExitStack() as stack:
        page, _ = await two_badges(emulator, tmp_path, stack)
        await page.sign_in()
        progress = await apply_on_page(page)
        assert progress["counts"] == FINAL

        home = await (await page.get("/")).text()
        assert 'href="/history"' in home                        # the header links to it
        response = await page.get("/history")
        text = await response.text()
        assert response.status == 200
        # Recorded in the --history file given to the page, and listed from it.
        [record] = History(tmp_path / "history.sqlite3").runs()
        assert record.who == f"page badge-{BADGE}"
        who, row = rows(text)[record.run_id]
        assert who == f"page badge-{BADGE}"
        for shown in ("created 2", "updated 4", "unchanged 20", "routing.xlsx", "upsert",
                      "apply", record.started[:19], record.finished[:19]):
            assert shown in row, shown
        assert 'data-exit="0"' in row
        report_url, journal_url = _LINK.findall(row)
        assert report_url.endswith("/report.xlsx") and journal_url.endswith("/journal.jsonl")
        report = await page.get(report_url)
        assert report.status == 200 and report_statuses(await report.read()) == FINAL
        journal = await page.get(journal_url)
        assert f'"run": "{record.run_id}"' in await journal.text()
        # No server path of the data folder is shown for the page's own runs.
        assert str(tmp_path) not in text


async def test_another_badge_sees_none_of_the_first_ones_runs(emulator, tmp_path):
    async with AsyncExitStack() as stack:
        first, second = await two_badges(emulator, tmp_path, stack)
        await first.sign_in()
        await apply_on_page(first)
        mine = rows(await (await first.get("/history")).text())
        [(run_id, (_who, row))] = mine.items()
        [report_url, journal_url] = _LINK.findall(row)

        await second.sign_in(OTHER_BADGE, OTHER_PIN)
        text = await (await second.get("/history")).text()
        assert rows(text) == {} and run_id not in text
        assert "No runs of yours are recorded for this Flowtrac yet." in text
        for url in (report_url, journal_url):                   # nor the files, by address
            assert (await second.get(url)).status == 404
        # Their own apply is theirs alone.
        await apply_on_page(second, edited_sheet(tmp_path, "41"))
        theirs = rows(await (await second.get("/history")).text())
        assert [who for who, _ in theirs.values()] == [f"page badge-{OTHER_BADGE}"]
        assert rows(await (await first.get("/history")).text()).keys() == mine.keys()


async def test_a_token_sign_in_sees_the_runs_of_its_own_folder_only(emulator, tmp_path):
    async with AsyncExitStack() as stack:
        badge, token = await two_badges(emulator, tmp_path, stack)
        await badge.sign_in()
        await apply_on_page(badge)
        await token.sign_in("", "", token=TOKEN)
        assert rows(await (await token.get("/history")).text()) == {}
        await apply_on_page(token, edited_sheet(tmp_path, "42"))
        [(who, row)] = rows(await (await token.get("/history")).text()).values()
        assert who.startswith("page token-") and TOKEN not in who
        assert len(_LINK.findall(row)) == 2
        assert len(rows(await (await badge.get("/history")).text())) == 1


async def test_a_command_line_run_by_the_same_badge_is_listed_without_download_links(
        emulator, tmp_path):
    async with AsyncExitStack() as stack:
        page, _ = await two_badges(emulator, tmp_path, stack)
        history = tmp_path / "history.sqlite3"
        night = await cli_apply(page.emulator, SAMPLE, history, tmp_path, BADGE, PIN)
        assert night[0] == 0, night[1]
        other = await cli_apply(page.emulator, edited_sheet(tmp_path, "43"), history,
                                tmp_path, OTHER_BADGE, OTHER_PIN)
        assert other[0] == 0, other[1]
        refused = await cli_apply(page.emulator, SAMPLE, history, tmp_path, BADGE, "pin-Qx77-bad")
        assert refused[0] == 4, refused[1]                      # cannot log in
        mine, theirs, stopped = History(history).runs()
        assert mine.who == f"badge {BADGE}" and theirs.who == f"badge {OTHER_BADGE}"

        await page.sign_in()
        listed = rows(await (await page.get("/history")).text())
        assert list(listed) == [stopped.run_id, mine.run_id]    # newest first; not 7002's
        _who, stopped_row = listed[stopped.run_id]
        assert 'data-exit="4"' in stopped_row and html.escape(stopped.problems[0]) in stopped_row
        assert "Qx77" not in stopped_row                       # no fragment of the PIN
        who, row = listed[mine.run_id]
        assert who == f"badge {BADGE}" and "created 2" in row and "updated 4" in row
        assert not _LINK.findall(row) and "href=" not in row
        # The command line's files are named as text: they are on the machine that ran it.
        assert f"<code>{mine.report}</code>" in row and f"<code>{mine.journal}</code>" in row


async def test_a_path_in_the_history_is_never_served(emulator, tmp_path):
    """A record that claims to be the person's page run but names another person's journal
    (the history is a file anyone with access can write) gets no link."""
    async with AsyncExitStack() as stack:
        first, second = await two_badges(emulator, tmp_path, stack)
        await second.sign_in(OTHER_BADGE, OTHER_PIN)
        await apply_on_page(second)
        history = History(tmp_path / "history.sqlite3")
        [theirs] = history.runs()
        secret = tmp_path / "elsewhere" / ("x" * 16) / "routing.journal.jsonl"
        secret.parent.mkdir(parents=True)
        secret.write_text("not for anyone")
        for n, journal in enumerate((theirs.journal, str(secret))):
            history.add(replace(theirs, run_id=f"f0{n}", who=f"page badge-{BADGE}",
                                journal=journal, report=journal))

        await first.sign_in()
        listed = rows(await (await first.get("/history")).text())
        assert set(listed) == {"f00", "f01"}
        for _who, row in listed.values():
            assert not _LINK.findall(row)


async def test_a_history_that_cannot_be_read_is_a_sentence(emulator, tmp_path):
    async with AsyncExitStack() as stack:
        page, _ = await two_badges(emulator, tmp_path, stack)
        await page.sign_in()
        await apply_on_page(page)
        history = tmp_path / "history.sqlite3"
        history.write_bytes(b"this is not a database " * 100)
        response = await page.get("/history")
        text = await response.text()
        assert response.status == 200
        assert ("The run history cannot be read (file is not a database), so your runs "
                "cannot be listed; whoever runs this page can check its --history file."
                in text)
        assert "Traceback" not in text and str(history) not in text and not rows(text)

        history.unlink()
        history.mkdir()                                         # a folder where it should be
        text = await (await page.get("/history")).text()
        assert "The run history cannot be read (it is a folder, not a history file)" in text


async def test_the_view_reads_without_creating_or_changing_the_history(emulator, tmp_path):
    async with AsyncExitStack() as stack:
        page, _ = await two_badges(emulator, tmp_path, stack)
        await page.sign_in()
        text = await (await page.get("/history")).text()
        assert "No runs of yours are recorded for this Flowtrac yet." in text
        assert not (tmp_path / "history.sqlite3").exists()

        await apply_on_page(page)
        history = tmp_path / "history.sqlite3"
        shutil.copy(history, tmp_path / "before.sqlite3")
        history.chmod(0o444)
        assert len(rows(await (await page.get("/history")).text())) == 1
        assert history.read_bytes() == (tmp_path / "before.sqlite3").read_bytes()


async def test_signed_out_the_history_sends_to_the_sign_in(web):
    page = await web()
    response = await page.get("/history", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    assert "Sign in first." in await (await page.get("/")).text()


def test_serve_refuses_a_history_that_is_a_folder_from_its_config_too(tmp_path):
    folder = tmp_path / "history-folder"
    folder.mkdir()
    config = tmp_path / "flowtrac.toml"
    config.write_text(f'history = "{folder}"\n')
    result = CliRunner().invoke(main, ["serve", "--demo", "--config", str(config),
                                       "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: the run history {folder} is a folder, not a "
                                     f"history file")
