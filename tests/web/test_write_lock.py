"""The page's apply takes the machine's write lock of its Flowtrac, the one the command line
takes: one writer at a time, and the page names the other."""

from __future__ import annotations

import asyncio
import html
import os

import pytest

from sync.emulator import EmulatorConfig
from sync.errors import WriterBusyError
from sync.writelock import WriteLock

from .conftest import BADGE, PIN, SAMPLE


async def test_page_apply_waits_for_no_one_and_names_the_other_run(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    other = WriteLock(page.emulator.base_url, "apply routing.xlsx")
    other.acquire()
    try:
        response = await page.apply(plan)
        text = html.unescape(await response.text())
    finally:
        other.release()
    assert response.url.path == plan
    assert "another run is writing to" in text
    assert f"apply routing.xlsx (pid {os.getpid()}, started 20" in text
    assert "nothing was sent (try again once it has finished)" in text
    assert page.emulator.store.write_count == 0
    assert PIN not in text

    # Once the other run has finished, the same plan can be applied.
    await page.apply(plan)
    progress = await page.wait_applied(plan)
    assert progress["exit_code"] == 0 and page.emulator.store.write_count == 6


async def test_command_line_stops_while_the_page_applies(web):
    page = await web(config=EmulatorConfig(latency_ms=150))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    try:
        with pytest.raises(WriterBusyError) as busy:
            WriteLock(page.emulator.base_url, "apply routing.xlsx").acquire()
        assert f"web user badge {BADGE} (pid {os.getpid()}" in str(busy.value)
        assert PIN not in str(busy.value)
    finally:
        progress = await page.wait_applied(plan)
    assert progress["exit_code"] == 0
    await asyncio.sleep(0)
    # The page's lock is released with its run.
    with WriteLock(page.emulator.base_url, "apply routing.xlsx"):
        pass
