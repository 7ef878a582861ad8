"""The page behind an https reverse proxy, in Chromium: ``serve --demo --public-url
https://flowtrac.test:<port>`` started in-process, the proxy (tests/web/https_proxy.py) in
front keeping the browser's Host, and Chromium resolving flowtrac.test to loopback.  Sign in,
upload, plan and apply through the proxy; the session cookie is Secure; forms from another
origin are refused, whatever X-Forwarded-* headers say."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sync.web import WebSettings, running_web

from .conftest import SAMPLE
from .https_proxy import client_session, running_https_proxy, self_signed_certificate
from .test_browser import CHROMIUM, CHROMIUM_ARGS, _count, _page, _shot, async_playwright
from .test_browser import pytestmark as pytestmark

PUBLIC_NAME = "flowtrac.test"

try:
    from playwright.async_api import Browser
    from playwright.async_api import expect as _expect
except ImportError:  # pragma: no cover - depends on the machine (pytestmark says so)
    pass


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Chromium that finds flowtrac.test on this machine, as DNS would for a real proxy."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable,
            args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {PUBLIC_NAME} 127.0.0.1"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def behind_proxy(tmp_path) -> AsyncIterator[tuple[str, Any]]:
    """(public URL, the running page) with the https proxy in front."""
    cert, key = self_signed_certificate(tmp_path, PUBLIC_NAME)
    async with running_https_proxy(cert, key) as proxy:
        public = f"https://{PUBLIC_NAME}:{proxy.port}"
        settings = WebSettings(demo=True, demo_latency_ms=20, temp_parent=str(tmp_path),
                               public_url=public)
        async with running_web(settings, "127.0.0.1", 0) as served:
            proxy.upstream = served.url.rstrip("/")
            yield public + "/", served


async def test_planner_does_the_whole_loop_through_an_https_proxy(browser, behind_proxy):
    url, served = behind_proxy
    page, problems = await _page(browser, ignore_https_errors=True)
    expect = _expect

    await page.goto(url)
    await expect(page.locator("h1")).to_have_text("Sign in to Flowtrac")
    await page.click("#demo-signin")
    await expect(page.locator(".who")).to_have_text("Signed in: demo planner")
    cookies = await page.context.cookies()
    assert [(c["name"], c["domain"], c["secure"], c["httpOnly"], c["sameSite"])
            for c in cookies] == [("ftsync_session", PUBLIC_NAME, True, True, "Strict")]

    await page.set_input_files("#file", str(SAMPLE))
    await page.click("#upload-submit")
    await expect(page.locator("h1")).to_have_text("Plan: what would change")
    assert page.url.startswith(url + "plans/")
    assert await _count(page, "would create") == "2"
    assert await _count(page, "would update") == "4"

    # A form from another origin is refused, though it carries the session's token and
    # headers that claim the request came through the proxy for that origin.
    csrf = await page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    forged_headers = {"Cookie": f"{cookies[0]['name']}={cookies[0]['value']}",
                      "Origin": "https://evil.example", "X-Forwarded-Host": "evil.example",
                      "X-Forwarded-Proto": "https", "Forwarded": "host=evil.example;proto=https"}
    async with client_session() as other:
        forged = await other.post(page.url + "/apply", headers=forged_headers,
                                  data={"csrf": csrf, "confirm": "2,4,0"})
        assert forged.status == 403 and "another site" in await forged.text()
    await page.reload()
    await expect(page.locator("#apply-open")).to_be_visible()       # nothing was applied

    await page.click("#apply-open")
    await expect(page.locator("#apply-question")).to_have_text(
        f"This will create 2, update 4 and delete 0 lines on {served.state.host}.")
    await page.click("#apply-confirm")
    await expect(page.locator("h1")).to_have_text("Result: what happened", timeout=20_000)
    assert await _count(page, "created") == "2"
    assert await _count(page, "updated") == "4"
    await expect(page.locator(".notice-ok")).to_contain_text("Flowtrac now matches the sheet")
    await _shot(page, "20-result-behind-proxy.png")
    assert page.url.startswith(url + "plans/")

    async with page.expect_download() as result:
        await page.click("#download-result")
    assert (await result.value).suggested_filename == "routing.report.xlsx"

    await page.click("#signout")
    await expect(page.locator("h1")).to_have_text("Sign in to Flowtrac")
    after = await page.context.cookies()        # the old id is gone; the new one is Secure too
    assert [(c["name"], c["secure"]) for c in after] == [("ftsync_session", True)]
    assert after[0]["value"] != cookies[0]["value"]
    assert problems == []          # no script error, no refused resource (CSP) on any page
