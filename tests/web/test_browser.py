"""The whole loop in a real headless browser (Playwright driving Debian's Chromium) against
``serve --demo`` started in-process: sign in, upload, read the plan, apply, watch the progress
reach the end, download the report.  Screenshots of each step go to tests/artifacts/.

Set FLOWTRAC_DOCS_SCREENSHOT=1 to also refresh the planner's guide's screenshots
(docs/img/, shown by docs/web.md).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sheetkit import report_statuses

from sync.web import WebSettings, running_web

from .conftest import MESSY, SAMPLE

CHROMIUM = os.environ.get("FLOWTRAC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"

try:
    from playwright.async_api import Browser, Locator, Page, async_playwright
    from playwright.async_api import expect as _expect
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(async_playwright is None, reason=(
        "browser tests need Playwright for Python: .venv/bin/pip install 'playwright>=1.40,<2' "
        "(no 'playwright install': the system Chromium is used)")),
    pytest.mark.skipif(not Path(CHROMIUM).exists() and not shutil.which("chromium"), reason=(
        f"browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
        f"(or set FLOWTRAC_CHROMIUM to its path)")),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable,
                                                    args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def demo(tmp_path) -> AsyncIterator[Any]:
    """``serve --demo`` in this event loop on a free port; a little latency so the progress
    bar is seen moving."""
    settings = WebSettings(demo=True, demo_latency_ms=150, temp_parent=str(tmp_path))
    async with running_web(settings, "127.0.0.1", 0) as served:
        yield served


async def _page(browser: Browser, **options: Any) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                        accept_downloads=True, **options)
    page = await context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


async def _shot(page: Page, name: str, *, full: bool = True, docs: str | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / name), full_page=full)
    if docs and os.environ.get("FLOWTRAC_DOCS_SCREENSHOT"):
        await page.screenshot(path=str(ROOT / "docs" / "img" / docs), full_page=False)


async def _drop_file(page: Page, path: Path) -> None:
    """Drag and drop, as the planner does it: a drop event carrying the file."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = await page.evaluate_handle(
        """([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""", [path.name, data])
    await page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


async def _apply_sample(page: Page, url: str) -> None:
    """Sign in to the demo at ``url``, plan the sample sheet and confirm its apply."""
    await page.goto(url)
    await page.click("#demo-signin")
    await page.set_input_files("#file", str(SAMPLE))
    await page.click("#upload-submit")
    await _expect(page.locator("h1")).to_have_text("Plan: what would change")
    await page.click("#apply-open")
    await page.click("#apply-confirm")


async def _download(page: Page, link: Locator, name: str) -> Path:
    """Click ``link`` and keep the file it downloads as ``name`` in the artifacts."""
    async with page.expect_download() as download:
        await link.click()
    target = ARTIFACTS / name
    await (await download.value).save_as(target)
    return target


async def _count(page: Page, status: str) -> str:
    return (await page.inner_text(f'#counts .stat[data-status="{status}"] .count')).strip()


async def test_planner_does_the_whole_loop_in_a_browser(browser, demo):
    page, problems = await _page(browser)
    expect = _expect

    # 1. Sign in to the demo.
    await page.goto(demo.url)
    await expect(page.locator("h1")).to_have_text("Sign in to Flowtrac")
    await _shot(page, "01-sign-in.png", docs="sign-in.png")
    await page.click("#demo-signin")
    await expect(page.locator("#upload-form")).to_be_visible()
    await expect(page.locator(".who")).to_have_text("Signed in: demo planner")

    # 2. Choose the file by drag and drop; mirror would show its delete options.
    await _drop_file(page, SAMPLE)
    await expect(page.locator("#file-info")).to_have_text("routing.xlsx (7 KB)")
    await page.select_option("#mode", "mirror")
    await expect(page.locator("#mirror-options")).to_be_visible()
    await page.select_option("#mode", "upsert")
    await expect(page.locator("#mirror-options")).to_be_hidden()
    await _shot(page, "02-upload.png", docs="upload.png")
    await page.click("#upload-submit")

    # 3. Read the plan.
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    assert await _count(page, "would create") == "2"
    assert await _count(page, "would update") == "4"
    assert await _count(page, "unchanged") == "20"
    rows = page.locator("#rows tbody tr")
    await expect(rows).to_have_count(26)
    changed = page.locator('#rows tbody tr[data-status="would update"]').first
    await expect(changed.locator(".changes")).to_contain_text("product_minutes 20.5 → 23")
    await _shot(page, "03-plan.png", docs="plan-page.png")

    # The changes first; filter by status and search (the server pages the table).
    statuses = await page.eval_on_selector_all("#rows tbody tr", "rs => rs.map(r => "
                                               "r.dataset.status)")
    assert statuses == ["would update"] * 4 + ["would create"] * 2 + ["unchanged"] * 20
    await expect(page.locator("#shown-count")).to_have_text("Rows 1–26 of 26 rows; 26 rows in all.")
    await page.click('.filters .filter[data-status="would update"]')
    await expect(page.locator("#rows tbody tr")).to_have_count(4)
    await expect(page.locator("#shown-count")).to_have_text(
        "Rows 1–4 of 4 “would update” rows; 26 rows in all.")
    await expect(page.locator(".filters .filter.active")).to_have_text("would update (4)")
    await _shot(page, "04-plan-filtered.png")
    await page.click('.filters .filter[data-status=""]')
    await expect(page.locator("#rows tbody tr")).to_have_count(26)
    await page.fill("#table-q", "welding")
    await page.click("#table-find")
    found = await page.locator("#rows tbody tr").count()
    assert 0 < found < 26
    await expect(page.locator("#shown-count")).to_have_text(
        f"Rows 1–{found} of {found} rows matching “welding”; 26 rows in all.")
    await page.fill("#table-q", "")
    await page.click("#table-find")
    await expect(page.locator("#rows tbody tr")).to_have_count(26)

    # Download the plan report.
    plan_report = await _download(page, page.locator("#download-plan"), "routing.plan.xlsx")
    assert report_statuses(plan_report.read_bytes()) == {
        "would create": 2, "would update": 4, "unchanged": 20}

    # 4. Apply after the explicit confirmation naming the numbers and the host.
    host = demo.state.host
    await page.click("#apply-open")
    dialog = page.locator("#apply-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#apply-question")).to_have_text(
        f"This will create 2, update 4 and delete 0 lines on {host}.")
    await expect(page.locator("#apply-lists [data-kind]")).to_have_count(2)   # no deletes
    await expect(page.locator('#apply-lists [data-kind="update"] li')).to_have_count(4)
    await _shot(page, "05-confirm.png", full=False, docs="confirm.png")
    await page.click("#apply-confirm")

    # 5. Progress, to the end, then the result page.
    await expect(page.locator("#progress")).to_be_visible()
    await _shot(page, "06-progress.png", full=False)
    await expect(page.locator("#p-total")).to_have_text("6")
    await expect(page.locator("#p-done")).to_have_text("6", timeout=20_000)
    await expect(page.locator("h1")).to_have_text("Result: what happened", timeout=20_000)
    await expect(page.locator("#progress-bar")).to_have_attribute("value", "6")
    await expect(page.locator("#p-done")).to_have_text("6")
    assert await _count(page, "created") == "2"
    assert await _count(page, "updated") == "4"
    await expect(page.locator(".notice-ok")).to_contain_text("Flowtrac now matches the sheet")
    await _shot(page, "07-result.png", docs="result.png")

    # 6. The reconciliation report.
    async with page.expect_download() as result:
        await page.click("#download-result")
    report = ARTIFACTS / "routing.report.xlsx"
    await (await result.value).save_as(report)
    assert (await result.value).suggested_filename == "routing.report.xlsx"
    assert report_statuses(report.read_bytes()) == {"created": 2, "updated": 4, "unchanged": 20}

    # Only one apply per upload: no apply button any more, and a replayed form is refused.
    await expect(page.locator("#apply-open")).to_have_count(0)
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value")
    replay = await page.request.post(page.url + "/apply",
                                     form={"csrf": csrf or "", "confirm": "2,4,0"})
    assert "already applied" in await replay.text()

    # 7. Plan the same file again: nothing left to do.
    await page.click("#replan")
    await expect(page.locator(".actions")).to_contain_text(
        "Nothing to do: Flowtrac already matches the sheet.")
    assert await _count(page, "unchanged") == "26"
    await _shot(page, "08-plan-again.png")
    assert problems == []          # no script error, no refused resource (CSP) on any page


async def test_planner_sees_problems_as_messages(browser, demo):
    page, problems = await _page(browser)
    expect = _expect
    await page.goto(demo.url)
    await page.fill("#badge", "1001")
    await page.fill("#pin", "0000")
    await page.click("#signin")
    await expect(page.locator(".notice-error")).to_contain_text("Sign-in failed (badge 1001)")
    await expect(page.locator("#badge")).to_have_value("1001")
    await expect(page.locator("#pin")).to_have_value("")
    await _shot(page, "10-sign-in-refused.png")
    await page.click("#demo-signin")

    # Not a spreadsheet: the loader's sentence.
    picture = demo.upload_root / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32))
    await page.set_input_files("#file", str(picture))
    await page.click("#upload-submit")
    await expect(page.locator(".notice-error")).to_have_text(
        "photo.png is a PNG image, not a spreadsheet.")

    # Invalid rows: cell-referenced messages, filterable.
    await page.set_input_files("#file", str(MESSY))
    await page.click("#upload-submit")
    button = page.locator('.filters .filter[data-status="invalid"]')
    label = await button.inner_text()                       # "invalid (N)"
    expected = int(label.split("(")[1].rstrip(")"))
    assert expected >= 8
    total = sum(int(n) for n in await page.locator("#counts .stat .count").all_inner_texts())
    await button.click()
    invalid = page.locator("#rows tbody tr")
    await expect(invalid).to_have_count(expected)
    await expect(page.locator("#shown-count")).to_have_text(
        f"Rows 1–{expected} of {expected} “invalid” rows; {total} rows in all.")
    await expect(invalid.first.locator(".cell-errors li").first).to_have_text(
        re.compile(r"^[A-Z]+\d+: "))                          # cell-referenced
    await _shot(page, "11-invalid-rows.png", docs="invalid-rows.png")
    # Refused sign-ins and uploads are answered 401/400 (the browser logs those); nothing else.
    assert [p for p in problems if not p.startswith("Failed to load resource: the server "
                                                    "responded with a status of 40")] == []
