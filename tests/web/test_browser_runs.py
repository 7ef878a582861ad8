"""In Chromium: signing out during an apply asks first and says the run goes on; after
signing in again, "Earlier runs" lists it and its report downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sheetkit import report_statuses

from sync.web import WebSettings, running_web

from .test_browser import _apply_sample, _download, _page, _shot, browser  # noqa: F401 - fixture


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
    await _apply_sample(page, demo_kept.url)
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
    report = await _download(page, runs.get_by_role("link", name="report"),
                             "routing.earlier.report.xlsx")
    assert report_statuses(report.read_bytes()) == {"created": 2, "updated": 4, "unchanged": 20}
    assert not problems, problems
