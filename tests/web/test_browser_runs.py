"""In Chromium: signing out during an apply asks first and says the run goes on; after
signing in again, "Earlier runs" lists it and its report downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sync.web import WebSettings, running_web

from .conftest import SAMPLE
from .test_browser import ARTIFACTS, _page, _shot, _statuses, browser  # noqa: F401 - fixture


@pytest.fixture
async def demo_kept(tmp_path: Path) -> AsyncIterator[Any]:
    """``serve --demo --data-dir``; enough latency that the apply is still running when the
    planner signs out."""
    settings = WebSettings(demo=True, demo_latency_ms=600, temp_parent=str(tmp_path),
                           data_dir=str(tmp_path / "data"))
    async with running_web(settings, "127.0.0.1", 0) as served:
        yield served


async def test_sign_out_mid_apply_then_find_the_run_under_earlier_runs(browser,  # noqa: F811
                                                                      demo_kept) -> None:
    from playwright.async_api import expect

    page, problems = await _page(browser)
    await page.goto(demo_kept.url)
    await page.click("#demo-signin")
    await page.set_input_files("#file", str(SAMPLE))
    await page.click("#upload-submit")
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    await page.click("#apply-open")
    await page.click("#apply-confirm")
    await expect(page.locator("#progress")).to_be_visible()

    # Sign out while it runs: the page says what happens before it happens.
    await page.click("#signout")
    await expect(page.locator("h1")).to_have_text("Sign out while an apply runs?")
    await expect(page.locator("main")).to_contain_text("the run goes on to its end")
    await _shot(page, "runs-01-sign-out-asks.png")
    await page.click("#signout-confirm")
    await expect(page.locator("h1")).to_have_text("Sign in to Flowtrac")

    # Signed in again: the run is listed; once it has ended, its report downloads.
    await page.click("#demo-signin")
    runs = page.locator("#earlier-runs")
    await expect(runs).to_contain_text("routing.xlsx")
    for _ in range(100):
        if "still running" not in await runs.inner_text():
            break
        await page.wait_for_timeout(200)
        await page.reload()
    await expect(runs).to_contain_text("created 2")
    await _shot(page, "runs-02-earlier-runs.png")
    async with page.expect_download() as download:
        await runs.get_by_role("link", name="report").click()
    report = ARTIFACTS / "routing.earlier.report.xlsx"
    await (await download.value).save_as(report)
    assert _statuses(report) == {"created": 2, "updated": 4, "unchanged": 20}
    assert not problems, problems
