"""The page's part of saved plans, in Chromium: a planner approves a plan by downloading it,
and the nightly ``apply --plan`` sends exactly its writes."""

from __future__ import annotations

from playwright.async_api import expect

from sync import savedplan
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN

from .conftest import SAMPLE

# The browser and the demo page are test_browser.py's fixtures.
from .test_browser import _count, _drop_file, _page, browser, demo  # noqa: F401


async def test_planner_approves_a_plan_and_the_night_applies_exactly_it(browser, demo,  # noqa: F811
                                                                        tmp_path):
    page, problems = await _page(browser)
    await page.goto(demo.url)
    await page.click("#demo-signin")
    await _drop_file(page, SAMPLE)
    await page.click("#upload-submit")
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    assert await _count(page, "would update") == "4"

    async with page.expect_download() as approved:
        await page.click("#approve-plan")
    download = await approved.value
    assert download.suggested_filename == "routing.plan.json"
    plan = tmp_path / download.suggested_filename
    await download.save_as(plan)
    saved = savedplan.load_plan(plan)
    assert saved.base_url == demo.state.base_url
    assert sorted(w.action.value for w in saved.writes) == ["create"] * 2 + ["update"] * 4
    assert saved.sheet_sha256 == savedplan.sheet_sha256(SAMPLE)
    # Approving sends nothing: the page still offers to apply, and the night does the writes.
    await expect(page.locator("#apply-open")).to_be_visible()

    connection = Connection.from_options(base_url=demo.state.base_url, token=DEMO_TOKEN)
    result = await savedplan.apply_saved(saved, connection, sheet=SAMPLE)
    assert result.exit_code == 0
    assert result.counts() == {"created": 2, "updated": 4}
    # Applied once; the page's own plan is now out of date, so its approval is refused.
    again = await savedplan.apply_saved(saved, connection)
    assert again.counts() == {"stale": 6}
    assert problems == []
