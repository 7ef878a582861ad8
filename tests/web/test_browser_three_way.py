"""The page's part of the three-way merge, in Chromium: a planner exports from the page, edits
the workbook while a supervisor changes Flowtrac, and uploads it again: the cell only the
supervisor changed is kept (said in the row's message), the cell both changed is a conflict
naming both values, and applying sends only the planner's own edit."""

from __future__ import annotations

import openpyxl
from playwright.async_api import expect

from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN

# The browser and the demo page are test_browser.py's fixtures.
from .test_browser import _drop_file, _page, browser, demo  # noqa: F401


async def test_an_export_edited_while_flowtrac_changed_is_merged_cell_by_cell(
        browser, demo, tmp_path):  # noqa: F811
    page, problems = await _page(browser)
    await page.goto(demo.url)
    await page.click("#demo-signin")
    async with page.expect_download() as exported:
        await page.click("#export-submit")
    download = await exported.value
    path = tmp_path / "lines.xlsx"
    await download.save_as(path)

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    column = {c.value: c.column for c in sheet[1]}
    merged, clashing = (sheet.cell(r, column["id"]).value for r in (2, 3))
    sheet.cell(2, column["product_minutes"]).value = 41.5     # the planner's edits
    sheet.cell(3, column["product_minutes"]).value = 42.5
    book.save(path)
    connection = Connection.from_options(base_url=demo.state.base_url, token=DEMO_TOKEN)
    async with FlowtracClient(connection) as client:               # the supervisor's
        await client.login()
        await client.update_line(merged, {"active": "InActive"})
        await client.update_line(clashing, {"product_minutes": "7"})

    await page.goto(demo.url)
    await _drop_file(page, path)
    await page.click("#upload-submit")
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    kept = page.locator('#rows tbody tr[data-status="would update"]')
    await expect(kept).to_have_count(1)
    await expect(kept.first).to_contain_text("kept Flowtrac's value")
    await expect(kept.first).to_contain_text("41.5")
    conflict = page.locator('#rows tbody tr[data-status="conflict"]')
    await expect(conflict).to_have_count(1)
    await expect(conflict.first).to_contain_text("the sheet has 42.5, Flowtrac has 7")

    await page.click("#apply-open")
    await page.click("#apply-confirm")
    await expect(page.locator(".notice").first).to_contain_text("1 conflict row", timeout=30_000)
    async with FlowtracClient(connection) as client:
        await client.login()
        lines = {r["id"]: r for r in await client.list_lines([("id-in", f"{merged},{clashing}")])}
    assert float(lines[merged]["product_minutes"]) == 41.5           # the planner's edit sent
    assert lines[merged]["active"] == "InActive"                     # the supervisor's kept
    assert float(lines[clashing]["product_minutes"]) == 7            # the conflict left alone
    assert problems == []
