"""A 100,000-row plan in Chromium: the page is one compressed page of the table, under
300 KB, its counts agree with the command line's, and its filters and pages work.

The emulator and ``serve`` run as processes of their own, as a planner's would.  How long the
page takes against the command line is ``make bench``'s ``page100k`` part, not a test's.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sheetkit import write_sheet

from sync import schema
from sync.emulator.dataset import generate_dataset
from sync.web import table

from .test_browser import _page, _shot, browser  # noqa: F401 - fixture

PRODUCTS, LINES, SEED = 10_000, 10, 3
TOKEN = "tok-large-Qw71-secret"
CLI = [sys.executable, "-m", "sync.cli"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _started(args: list[str], url: str, stack: list[Any]) -> None:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    stack.append(process)
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as answer:
                    if answer.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError((await process.stderr.read()).decode()[-2000:])
            await asyncio.sleep(0.3)


@pytest.fixture
async def large(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """An emulator holding 100,000 lines, ``serve`` on it, and a sheet of all of them with
    a few edits and a few invalid rows."""
    rows = [schema.record_from_wire(raw)
            for raw in generate_dataset(PRODUCTS, LINES, seed=SEED).lines]
    for i in range(0, len(rows), 2_000):                   # 50 updates
        rows[i] = {**rows[i], "description": f"re-measured {i}"}
    for i in range(1_001, len(rows), 20_000):             # 5 invalid rows
        rows[i] = {**rows[i], "line_number": "n/a"}
    sheet = write_sheet(tmp_path / "routing-100k.csv", rows)
    emu_port, web_port = _free_port(), _free_port()
    base_url = f"http://127.0.0.1:{emu_port}/api"
    processes: list[Any] = []
    try:
        await _started([*CLI, "emulator", "--port", str(emu_port), "--products",
                        str(PRODUCTS), "--lines", str(LINES), "--dataset-seed", str(SEED),
                        "--token", TOKEN], f"{base_url}/", processes)
        await _started([*CLI, "serve", "--base-url", base_url, "--port", str(web_port),
                        "--max-upload-mb", "60", "--data-dir", str(tmp_path / "data")],
                       f"http://127.0.0.1:{web_port}/", processes)
        yield {"sheet": sheet, "base_url": base_url, "url": f"http://127.0.0.1:{web_port}/",
               "tmp": tmp_path}
    finally:
        for process in reversed(processes):
            if process.returncode is None:
                process.terminate()
                await process.wait()


async def _cli_plan(large: dict[str, Any]) -> dict[str, Any]:
    env = {**os.environ, "FLOWTRAC_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        *CLI, "plan", str(large["sheet"]), "--base-url", large["base_url"], "--json",
        "--report", str(large["tmp"] / "cli.plan.xlsx"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 1, (out + err).decode()[-2000:]      # invalid rows: exit 1
    return json.loads(out)


async def test_a_100000_row_plan_page_is_small_and_agrees_with_the_cli(browser,  # noqa: F811
                                                                        large) -> None:
    from playwright.async_api import expect

    page, problems = await _page(browser)
    page.set_default_timeout(120_000)
    await page.goto(large["url"])
    await page.click("summary")
    await page.fill("#token", TOKEN)
    await page.click("#signin")

    await page.goto(large["url"])
    await page.set_input_files("#file", str(large["sheet"]))
    await page.click("#upload-submit")
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    await page.wait_for_load_state("load")
    sizes = await page.evaluate("""() => {
        const n = performance.getEntriesByType("navigation")[0];
        return [n.encodedBodySize, n.decodedBodySize];
    }""")
    await _shot(page, "20-plan-100k.png", full=False)

    encoded, decoded = sizes
    assert 0 < encoded < decoded < 300_000, sizes             # compressed, and small anyway

    # One page of rows, the changes and problems first; the counts agree everywhere.
    rows = page.locator("#rows tbody tr")
    await expect(rows).to_have_count(table.PAGE_ROWS)
    statuses = await page.eval_on_selector_all("#rows tbody tr", "rs => rs.map(r => "
                                               "r.dataset.status)")
    assert statuses[:55].count("would update") == 50 and statuses[:55].count("invalid") == 5
    counts = (await _cli_plan(large))["counts"]
    assert (counts["unchanged"], counts["would update"], counts["invalid"]) == (99_945, 50, 5)
    for status, count in counts.items():
        assert (await page.inner_text(f'#counts .stat[data-status="{status}"] .count')
                ).strip() == str(count), status
    await expect(page.locator("#shown-count")).to_have_text(
        "Rows 1–100 of 100000 rows; 100000 rows in all.")
    await page.click('.filters .filter[data-status="invalid"]')
    await expect(rows).to_have_count(5)
    await expect(page.locator('.filters .filter[data-status="invalid"]')).to_have_text(
        "invalid (5)")
    await expect(page.locator("#shown-count")).to_have_text(
        "Rows 1–5 of 5 “invalid” rows; 100000 rows in all.")
    await page.click('.filters .filter[data-status="unchanged"]')
    await page.click("#page-next")
    await expect(page.locator("#shown-count")).to_have_text(
        "Rows 101–200 of 99945 “unchanged” rows; 100000 rows in all.")
    await page.click('.filters .filter[data-status=""]')
    await page.fill("#table-q", "1002")
    await page.click("#table-find")
    await expect(rows.first.locator("td").first).to_have_text("1002")
    assert problems == []
