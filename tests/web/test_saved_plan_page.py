"""The plan page's approval (``/plans/<id>/approved.json``) over loopback: what it holds, and
when it is refused."""

from __future__ import annotations

import json

from sync import savedplan

from .conftest import BADGE, PIN, TOKEN


async def test_approved_plan_holds_the_writes_and_no_secret(web):
    page = await web()
    await page.sign_in()
    plan_path = await page.upload()
    assert page.seen('id="approve-plan"')
    response = await page.get(f"{plan_path}/approved.json")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="routing.plan.json"'
    text = (await response.read()).decode("utf-8")
    document = json.loads(text)
    assert document["format"] == savedplan.FORMAT
    assert document["base_url"] == page.emulator.base_url
    assert len(document["writes"]) == 6
    # The upload's temporary folder is not recorded: the nightly job's report goes beside
    # the plan.
    assert document["sheet"]["path"] is None and document["sheet"]["name"] == "routing.xlsx"
    assert PIN not in text and TOKEN not in text and f"badge={BADGE}" not in text
    assert page.emulator.store.write_count == 0


async def test_approval_is_refused_once_the_plan_was_applied(web):
    page = await web()
    await page.sign_in()
    plan_path = await page.upload()
    await page.apply(plan_path)
    await page.wait_applied(plan_path)
    response = await page.get(f"{plan_path}/approved.json")
    assert response.status == 409
    assert "applied here already" in await response.text()
