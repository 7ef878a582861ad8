"""Sessions end cleanly (sign-out, expiry, shutdown) and no secret ever leaves the server."""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile

from aiohttp.test_utils import TestClient, TestServer

from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN, EmulatorConfig
from sync.web import WebSettings, make_app
from sync.web.routes import COOKIE
from sync.web.sessions import safe_file_name

from .conftest import BADGE, PIN, SAMPLE, TOKEN


def _session(page):
    cookie = page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE]
    return page.state.sessions().get(cookie.value)


async def test_sign_out_removes_the_uploads(web):
    page = await web()
    await page.sign_in()
    await page.upload(SAMPLE)
    folder = _session(page).folder
    assert folder is not None and any(folder.rglob("routing.xlsx"))
    await page.post("/signout", {})
    assert not folder.exists()


async def test_an_idle_session_expires_and_its_uploads_go(web):
    page = await web(session_idle_s=60)
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    session = _session(page)
    folder = session.folder
    store = page.state.sessions()
    assert store.sweep(time.monotonic() + 30) == 0         # not idle long enough
    assert store.sweep(time.monotonic() + 61) == 1
    assert not folder.exists() and session.connection is None
    response = await page.get(plan)                        # the browser comes back later
    assert response.status == 404 and "not in your session" in await response.text()


async def test_a_session_is_not_expired_while_it_applies(web):
    page = await web(config=EmulatorConfig(latency_ms=150), session_idle_s=60)
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    await page.apply(plan)
    store = page.state.sessions()
    assert store.sweep(time.monotonic() + 3600) == 0       # busy: kept
    progress = await page.wait_applied(plan)
    assert progress["done"] == 6
    assert store.sweep(time.monotonic() + 3600) == 1       # idle after it finished


async def test_shutdown_removes_every_upload(web):
    page = await web()
    await page.sign_in()
    await page.upload(SAMPLE)
    root = page.state.sessions().root
    assert any(root.rglob("routing.xlsx"))
    await page.client.close()
    assert not root.exists()


async def test_no_token_or_pin_in_any_page_download_or_log(web, caplog):
    caplog.set_level(logging.DEBUG)
    page = await web()
    await page.sign_in("", "", token=TOKEN)
    await page.post("/signout", {})
    await page.get("/")
    await page.sign_in(BADGE, "wrong-" + PIN)
    await page.sign_in(BADGE, PIN)
    plan = await page.upload(SAMPLE)
    await page.get(plan)
    await page.get(f"{plan}/plan.xlsx")
    await page.apply(plan)
    await page.wait_applied(plan)
    for path in (plan, f"{plan}/report.xlsx", f"{plan}/journal.jsonl", f"{plan}/progress",
                 "/", "/template.xlsx", "/export?format=xlsx", "/export?format=csv"):
        response = await page.get(path)
        assert response.status == 200, path
    texts = [*page.bodies, *(h.encode() for h in page.headers)]
    for body in page.bodies:
        if body.startswith(b"PK"):                          # xlsx: look inside every part
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                texts.extend(z.read(n) for n in z.namelist())
    assert sum(body.startswith(b"PK") for body in page.bodies) >= 4
    for secret in (PIN, TOKEN):
        assert not any(secret.encode() in t for t in texts), secret
        assert secret not in caplog.text, secret
    assert len(page.bodies) > 15


async def test_demo_mode_signs_in_with_one_click_and_offers_the_samples(tmp_path):
    app = make_app(WebSettings(demo=True, temp_parent=str(tmp_path)))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        text = await (await client.get("/")).text()
        assert "Sign in to the demo" in text
        # Digits of the emulator's random port could spell the PIN: look past addresses.
        words = re.sub(r"127\.0\.0\.1:\d+", "", text)
        for secret in (DEMO_TOKEN, DEMO_PIN):
            assert secret not in words
        csrf = text.split('name="csrf" value="')[1].split('"')[0]
        response = await client.post("/signin", data={"csrf": csrf, "demo": "1"})
        text = await response.text()
        assert "Signed in: demo planner" in text and "Upload a sheet" in text
        assert 'href="/samples/routing.xlsx"' in text
        sample = await client.get("/samples/routing.xlsx")
        assert sample.status == 200 and (await sample.read()) == SAMPLE.read_bytes()
        assert (await client.get("/samples/..%2Fpyproject.toml")).status == 404
        assert DEMO_BADGE not in text.split("<main>")[1].split("Signed in")[0]


async def test_demo_button_does_nothing_outside_demo_mode(web):
    page = await web()
    await page.get("/")
    response = await page.post("/signin", {"demo": "1"})
    assert response.status == 400 and "Enter your badge and PIN" in await response.text()
    assert (await page.get("/samples/routing.xlsx")).status == 404


def test_uploaded_file_names_are_reduced_to_plain_names():
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("C:\\Users\\ann\\Routing week 48.xlsx") == "Routing week 48.xlsx"
    assert safe_file_name(".hidden.csv") == "hidden.csv"
    assert safe_file_name('<script>"x".csv') == "_script_x_.csv"
    assert safe_file_name("") == "upload" and safe_file_name(None) == "upload"
    long = safe_file_name("a" * 300 + ".xlsx")
    assert len(long) <= 100 and long.endswith(".xlsx")


async def test_a_hostile_file_name_stays_in_the_session_folder(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE, name="../../../outside.xlsx")
    text = await (await page.get(plan)).text()
    (shown,) = re.findall(r"<strong>([^<]*outside\.xlsx)</strong>", text)
    assert "/" not in shown and "\\" not in shown and not shown.startswith(".")
    folder = _session(page).folder
    (stored,) = folder.rglob("*outside.xlsx")
    assert stored.parent.parent == folder                 # in the upload's own folder
    root = page.state.sessions().root
    assert not any(p.name.endswith("outside.xlsx") for p in root.parent.iterdir())
