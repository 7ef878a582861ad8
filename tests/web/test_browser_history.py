"""In Chromium: sign in, apply, open History from the header; the run is there with its
counts and exit code, and its report downloads from there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sheetkit import report_statuses

from sync.history import History
from sync.web import WebSettings, running_web

from .test_browser import _apply_sample, _download, _page, _shot, browser  # noqa: F401 - fixture


@pytest.fixture
async def demo_history(tmp_path: Path) -> AsyncIterator[Any]:
    """``serve --demo --data-dir D --history H``."""
    settings = WebSettings(demo=True, temp_parent=str(tmp_path),
                           data_dir=str(tmp_path / "data"),
                           history=str(tmp_path / "history.sqlite3"))
    async with running_web(settings, "127.0.0.1", 0) as served:
        yield served


async def test_apply_then_find_the_run_in_history_and_download_its_report(
        browser, demo_history, tmp_path) -> None:  # noqa: F811
    from playwright.async_api import expect

    page, problems = await _page(browser)
    await _apply_sample(page, demo_history.url)
    await expect(page.locator("#download-result")).to_be_visible(timeout=30_000)

    await page.click("#nav-history")
    await expect(page.locator("h1")).to_have_text("History")
    [record] = History(tmp_path / "history.sqlite3").runs()
    row = page.locator(f'#history-runs tr[data-run="{record.run_id}"]')
    await expect(row).to_contain_text("routing.xlsx")
    for text in ("apply", "upsert", "created 2", "updated 4", "unchanged 20"):
        await expect(row).to_contain_text(text)
    await expect(row.locator("td[data-exit]")).to_have_text("0")
    await expect(row.get_by_role("link", name="journal")).to_be_visible()
    await _shot(page, "history-01-runs.png")
    report = await _download(page, row.get_by_role("link", name="report"),
                             "routing.history.report.xlsx")
    assert report_statuses(report.read_bytes()) == {"created": 2, "updated": 4, "unchanged": 20}
    assert not problems, problems
