"""The page tells the truth in its own words: the apply dialog, the result banner, the
write rate, a wrong address at sign-in, signing out, and no command-line flags."""

from __future__ import annotations

import asyncio
import html
import re

from sheetkit import product_lines, server_rows, write_sheet

from sync.emulator import EmulatorConfig
from sync.web import views

from .conftest import BADGE, PIN, SAMPLE, TOKEN

_FLAG = re.compile(r"(?<![\w-])--[a-z]")


def _text(page_html: str) -> str:
    """What the planner reads: the page without its markup, scripts and attributes."""
    return html.unescape(re.sub(r"<[^>]*>", " ", page_html))


def _edited(rows: list[dict], *, invalid: int = 0, update: int = 0) -> list[dict]:
    rows = [dict(r) for r in rows]
    for r in rows[:update]:
        r["description"] = "re-measured"
    for r in rows[update:update + invalid]:
        r["line_number"] = "n/a"
    return rows


async def test_the_apply_dialog_lists_each_kind_says_what_is_not_sent(web, tmp_path):
    page = await web()
    await page.sign_in()
    lines = server_rows(page.emulator.store)
    product = lines[0]["product_id"]
    mine = product_lines(lines, product)
    others = [r for r in lines if r["product_id"] != product]
    # product 1: one line updated, a new one, its last line left out (a delete); one row of
    # another product is invalid (that product keeps all its lines).
    rows = [{**mine[0], "description": "re-measured"}, *mine[1:-1],
            {**mine[0], "id": None, "line_number": 77}, {**others[-1], "line_number": "n/a"}]
    plan = await page.upload(write_sheet(tmp_path / "mixed.csv", rows), mode="mirror")
    text = await (await page.get(plan)).text()
    dialog = text[text.index('<dialog id="apply-dialog"'):text.index("</dialog>")]
    creates = re.search(r'<div class="confirm-creates" data-kind="create">(.*?)</div>', dialog)
    updates = re.search(r'<div class="confirm-updates" data-kind="update">(.*?)</div>', dialog)
    deletes = re.search(r'<div class="confirm-deletes" data-kind="delete">(.*?)</div>', dialog)
    assert creates and updates and deletes
    assert "<p>1 create</p>" in creates[1] and "line 77" in creates[1]
    assert "<p>1 update</p>" in updates[1] and f"line {mine[0]['line_number']}" in updates[1]
    assert ("<p><strong>1 delete: these lines are removed from Flowtrac</strong></p>"
            in deletes[1]) and f"line {mine[-1]['line_number']}" in deletes[1]
    assert ("1 invalid row is not sent: fix it in the sheet and plan again to send it."
            in dialog)
    assert "Apply 3 changes…" in text
    # The invalid row's line is listed once, as invalid, not also as a line the sheet lacks.
    found = await (await page.get(plan, params={"q": others[-1]["product_id"]})).text()
    listed = re.findall(r'data-status="([^"]+)"><td class="num">(\d*)</td>.*?'
                        r'<td class="num">([^<]*)</td>', found)
    assert [(s, line) for s, _row, line in listed if s == "invalid"] == [("invalid", "")]
    kept = [line for s, _row, line in listed if s == "left alone"]
    assert kept and str(others[-1]["line_number"]) not in kept    # its product is protected


async def test_one_change_is_one_change_and_nothing_invalid_says_nothing(web, tmp_path):
    page = await web()
    await page.sign_in()
    rows = _edited(server_rows(page.emulator.store), update=1)
    text = await (await page.get(await page.upload(write_sheet(tmp_path / "one.csv", rows)))
                  ).text()
    assert "Apply 1 change…" in text and "Apply 1 changes" not in text
    assert '<p class="small" id="apply-not-sent"></p>' in text
    assert 'data-kind="delete"' not in text and 'data-kind="create"' not in text


async def test_the_result_names_the_problems_it_had_and_no_others(web, tmp_path):
    page = await web()
    await page.sign_in()
    rows = _edited(server_rows(page.emulator.store), update=2, invalid=1)
    plan = await page.upload(write_sheet(tmp_path / "bad-row.csv", rows))
    await page.apply(plan)
    progress = await page.wait_applied(plan)
    assert progress["failed"] == 0 and progress["exit_code"] == 1
    text = _text(await (await page.get(plan)).text())
    assert "with 1 invalid row: show them with the status buttons" in text
    assert "failed" not in text.split("Result: what happened")[0]


async def test_the_write_rate_is_of_the_write_phase(web):
    page = await web(config=EmulatorConfig(latency_ms=40))
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    first = await page.wait_applied(plan)
    await asyncio.sleep(1.0)
    later = await (await page.get(f"{plan}/progress")).json()
    # 6 writes of 40 ms in a few parallel requests: well above 1 write/s while it ran, and
    # the same number a second after it ended.
    assert first["rate"] > 5
    assert later["rate"] == first["rate"]


async def test_a_wrong_address_is_not_called_a_wrong_pin(web):
    page = await web()
    # The page started with the right host but a wrong path (a typo in the base URL).
    page.state.base_url = page.emulator.base_url.rsplit("/api", 1)[0] + "/apix"
    for badge, pin, token, what in ((BADGE, PIN, "", "badge and PIN were"),
                                    ("", "", TOKEN, "token was")):
        response = await page.sign_in(badge, pin, token=token)
        text = _text(await response.text())
        assert response.status == 401
        assert (f"has no sign-in at the address this page was started with (HTTP 404), so "
                f"your {what} not checked") in text
        assert "check the badge and PIN" not in text and not _FLAG.search(text)
    for _ in range(6):          # more than the lockout's 5: these are no wrong guesses
        await page.sign_in(BADGE, PIN)
    page.state.base_url = page.emulator.base_url
    assert "Signed in: badge" in await (await page.sign_in(BADGE, PIN)).text()
    # and a wrong PIN at the right address is still a wrong PIN
    await page.post("/signout", {})
    text = _text(await (await page.sign_in(BADGE, "not-the-pin")).text())
    assert "check the badge and PIN" in text and "HTTP 404" not in text


async def test_signing_out_says_so(web):
    page = await web()
    await page.sign_in()
    response = await page.post("/signout", {})
    text = await response.text()
    assert response.url.path == "/" and "Sign in to Flowtrac" in text
    assert html.escape(views.SIGNED_OUT_TEXT) in text
    # a later visit, signed out or not, does not repeat it
    assert "You are signed out" not in await (await page.get("/")).text()


async def test_the_page_speaks_in_its_own_words(web, tmp_path):
    page = await web()
    await page.sign_in()
    lines = server_rows(page.emulator.store)
    # a CSV with a sheet name (the loader warns), a mirror over its delete limit, a token
    # that expired: each answer is read without a single command-line flag.
    sheet = write_sheet(tmp_path / "half.csv", lines[: len(lines) // 2])
    seen = []
    plan = await page.upload(sheet, mode="mirror", scope="all", max_delete="1",
                             sheet="Routing")
    seen.append(await (await page.get(plan)).text())
    seen.append(await (await page.get("/export", params={"filter": "nosuch=1"})).text())
    for body in seen:
        text = _text(body)
        found = _FLAG.search(text)
        assert found is None, text[max(0, found.start() - 200):found.start() + 100]
    assert "The sheet name Routing is ignored" in _text(seen[0])
    assert "the delete limit" in _text(seen[0])
    assert views.page_words("rerun with --max-delete 4, or --scope all") == (
        "rerun with the delete limit 4, or the whole-table scope")
