"""The page plans an exported workbook against its base like the library does: a cell only
the server changed is kept, a cell changed on both sides is a conflict naming both values
(``sync.mergebase``; the library's cases are in tests/roundtrip/test_three_way.py)."""

from __future__ import annotations

import html

import openpyxl

from sync.client import FlowtracClient
from sync.connection import Connection

from .conftest import TOKEN


async def test_the_page_merges_an_export_cell_by_cell(web, tmp_path):
    page = await web()
    await page.sign_in()
    response = await page.get("/export?format=xlsx")
    assert response.status == 200
    path = tmp_path / "lines.xlsx"
    path.write_bytes(await response.read())

    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    column = {c.value: c.column for c in sheet[1]}
    merged, clashing = (sheet.cell(r, column["id"]).value for r in (2, 3))
    sheet.cell(2, column["product_minutes"]).value = 41.5
    sheet.cell(3, column["product_minutes"]).value = 42.5
    book.save(path)
    connection = Connection.from_options(base_url=page.emulator.base_url, token=TOKEN)
    async with FlowtracClient(connection) as client:
        await client.login()
        await client.update_line(merged, {"active": "InActive"})
        await client.update_line(clashing, {"product_minutes": "7"})

    text = html.unescape(await (await page.get(await page.upload(path))).text())
    assert "kept Flowtrac's value, changed there since the export" in text
    assert "the sheet has 41.5" not in text
    # The conflicting cell, by its column, with both values and who changed Flowtrac's.
    assert ("changed on both sides since the export: product_minutes: the sheet has 42.5, "
            "Flowtrac has 7 (changed by ") in text
    assert page.emulator.store.write_count == 2          # only the supervisor's two writes
