"""Apply: explicit confirmation, once per upload, live progress, the result and its report."""

from __future__ import annotations

import asyncio
import io
import json
import re

import openpyxl
from sheetkit import report_statuses, server_rows, write_sheet

from sync.emulator import EmulatorConfig

from .conftest import SAMPLE

FINAL = {"created": 2, "updated": 4, "unchanged": 20}


async def test_apply_runs_once_and_shows_the_result(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    response = await page.apply(plan)
    assert response.status == 200 and response.url.path == plan
    progress = await page.wait_applied(plan)
    assert progress["done"] == progress["total"] == 6 and progress["failed"] == 0
    assert progress["counts"] == FINAL and progress["exit_code"] == 0
    assert page.emulator.store.write_count == 6

    text = await (await page.get(plan)).text()
    assert "Result: what happened" in text
    assert "Flowtrac now matches the sheet" in text
    counts = dict(re.findall(r'data-status="([^"]+)"><span class="count">(\d+)</span>', text))
    assert counts == {k: str(v) for k, v in FINAL.items()}
    assert 'href="' + plan + '/report.xlsx"' in text
    assert 'name="confirm"' not in text                        # no second apply offered

    again = await page.apply(plan, confirm="2,4,0")
    assert "already applied" in await again.text()
    await asyncio.sleep(0.1)
    assert page.emulator.store.write_count == 6                # nothing sent twice


async def test_two_clicks_at_once_start_one_apply(web):
    page = await web(config=EmulatorConfig(latency_ms=20))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await asyncio.gather(*(page.post(f"{plan}/apply", {"confirm": "2,4,0"}) for _ in range(3)))
    await page.wait_applied(plan)
    assert page.emulator.store.write_count == 6
    assert page.seen("already applied")


async def test_apply_needs_the_confirmation_of_this_plan(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    for wrong in ("", "2,4", "0,0,0", "2,4,1"):
        response = await page.post(f"{plan}/apply", {"confirm": wrong})
        assert "did not match this plan" in await response.text(), wrong
    progress = await (await page.get(f"{plan}/progress")).json()
    assert progress["state"] == "planned"
    assert page.emulator.store.write_count == 0


async def test_progress_moves_while_the_apply_runs(web):
    page = await web(config=EmulatorConfig(latency_ms=120))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    first = await (await page.get(f"{plan}/progress")).json()
    assert first["state"] == "applying" and first["total"] == 6 and first["done"] < 6
    running = await (await page.get(plan)).text()
    assert "Applying the plan…" in running
    assert 'id="progress" data-url="' + plan + '/progress" data-state="applying"' in running
    seen = set()
    while True:
        progress = await (await page.get(f"{plan}/progress")).json()
        seen.add(progress["done"])
        if progress["state"] == "applied":
            break
        await asyncio.sleep(0.03)
    assert progress["done"] == 6 and len(seen) >= 2          # it was seen moving
    assert set(progress) >= {"total", "done", "failed", "rate", "eta_s", "state"}
    assert progress["rate"] > 0


async def test_reconciliation_report_is_an_xlsx_with_every_status(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    assert (await page.get(f"{plan}/report.xlsx")).status == 404   # not before the apply
    await page.apply(plan)
    await page.wait_applied(plan)
    response = await page.get(f"{plan}/report.xlsx")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="routing.report.xlsx"'
    body = await response.read()
    workbook = openpyxl.load_workbook(io.BytesIO(body))
    assert report_statuses(body) == FINAL
    assert "Summary" in workbook.sheetnames and "Notes" in workbook.sheetnames  # own sheets kept

    journal = await page.get(f"{plan}/journal.jsonl")
    entries = [json.loads(line) for line in (await journal.text()).splitlines()]
    assert sum(1 for e in entries if e.get("action") in ("create", "update")) >= 6


async def test_failed_rows_are_reported_not_hidden(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    # After the plan, someone else takes line 5 of every product: both creates must fail.
    for product in {r["product_id"] for r in server_rows(page.emulator.store)}:
        line = next(r for r in server_rows(page.emulator.store) if r["product_id"] == product)
        page.emulator.store.add_line(product_id=product, process_id=line["process_id"],
                                     line_number=5)
    await page.apply(plan)
    progress = await page.wait_applied(plan)
    assert progress["failed"] == 2 and progress["counts"]["failed"] == 2
    assert progress["exit_code"] == 1
    text = await (await page.get(plan)).text()
    assert "with 2 failed rows: show them with the status buttons" in text
    failed_rows = re.findall(r'<tr class="shade-red" data-status="failed">(.*?)</tr>', text,
                             re.S)
    assert len(failed_rows) == 2
    assert all('class="message">' in row and "line" in row for row in failed_rows)


async def test_stale_plan_must_be_planned_again(web):
    page = await web(plan_max_age_s=0)
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    text = await (await page.get(plan)).text()
    assert "This plan is old: plan again before applying." in text
    response = await page.post(f"{plan}/apply", {"confirm": "2,4,0"})
    assert "too old to apply" in await response.text()
    assert page.emulator.store.write_count == 0


async def test_after_apply_plan_again_finds_nothing_to_do(web):
    page = await web()
    await page.sign_in()
    plan = await page.apply_and_wait()
    response = await page.post(f"{plan}/replan", {})
    text = await response.text()
    assert "Nothing to do: Flowtrac already matches the sheet." in text
    assert (await page.get(plan)).status == 200                # the applied one stays


async def test_a_sheet_of_invalid_rows_is_not_called_a_match(web, tmp_path):
    page = await web()
    await page.sign_in()
    rows = [{**r, "line_number": "none"} for r in server_rows(page.emulator.store)]
    plan = await page.upload(write_sheet(tmp_path / "bad.xlsx", rows))
    text = await (await page.get(plan)).text()
    assert "already matches" not in text
    assert "Nothing sent: no row of the sheet can be sent" in text
    assert page.emulator.store.write_count == 0
