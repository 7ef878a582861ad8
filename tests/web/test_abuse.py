"""The page under abuse: forged and oversized forms, garbled uploads, stalled or dropped
connections, sign-in guessing, floods of sessions and plans.  All against live servers on
loopback; raw sockets where a browser would never send such a request."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from yarl import URL

from sync.demo import demo_dataset
from sync.emulator import EmulatorConfig
from sync.web import WebSettings
from sync.web.app import running_web
from sync.web.routes import COOKIE
from sync.web.sessions import MAX_SESSIONS_PER_SIGN_IN, Lockout, SignInThrottle

from .conftest import BADGE, PIN, SAMPLE, TOKEN

BOUNDARY = "fts-b0undary"


def _cookie(page) -> str:
    jar = page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))
    return jar[COOKIE].value


def _session(page):
    return page.state.sessions().get(_cookie(page))


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n"
    return head.encode() + value + b"\r\n"


def _end() -> bytes:
    return f"--{BOUNDARY}--\r\n".encode()


def _head(port: int, path: str, cookie: str, length: int | None) -> bytes:
    """A multipart POST's head; without a length, the body is to come chunked."""
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {COOKIE}={cookie}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n{framing}\r\n"
            f"Connection: close\r\n\r\n").encode()


async def _send(port: int, data: bytes, *, close_after: bool = False
                ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if close_after:
        writer.close()
    return reader, writer


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, str]:
    """The status and text of the server's answer, read as far as its Content-Length (the
    test's bound is generous: a server that waits for the rest of the body never answers)."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        body = await asyncio.wait_for(reader.readexactly(length), 20)
    finally:
        writer.close()
    return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


# --------------------------------------------------------------------------- form fields

async def test_a_form_without_the_token_first_is_refused_before_the_rest_is_read(web):
    page = await web()
    await page.sign_in()
    port = page.client.port
    first = _part("mode", b"upsert")
    # Chunked, so no length tells the size: the rest (say, 60,000 small fields) never comes,
    # and the answer must not wait for it.
    chunk = f"{len(first):x}\r\n".encode() + first + b"\r\n"
    reader, writer = await _send(port, _head(port, "/upload", _cookie(page), None) + chunk)
    status, text = await _answer(reader, writer)
    assert status == 403 and "security token" in text
    assert _session(page).uploads == {}


async def test_too_many_or_too_long_fields_are_refused_with_a_sentence(web):
    page = await web()
    await page.sign_in()
    many = {f"f{i}": "x" for i in range(5000)}
    response = await page.post("/upload", page.form(SAMPLE, **many))
    text = html.unescape(await response.text())
    assert response.status == 413
    assert "more fields than this page's forms have" in text
    response = await page.post("/upload", page.form(SAMPLE, sheet="s" * 20_000))
    assert response.status == 413
    assert "larger than this page's forms" in html.unescape(await response.text())
    response = await page.post("/signin", {"badge": BADGE, "pin": PIN,
                                           **{f"f{i}": "x" for i in range(5000)}})
    assert response.status == 413
    assert _session(page).uploads == {}
    assert (await page.upload(SAMPLE)).startswith("/plans/")        # a normal form still works


# --------------------------------------------------------------------------- malformed uploads

async def test_a_nul_in_the_file_name_is_a_400_with_a_sentence(web):
    page = await web()
    await page.sign_in()
    port = page.client.port
    body = (_part("csrf", page.csrf.encode()) + _part("file", SAMPLE.read_bytes(),
                                                       filename="rout\x00ing.xlsx") + _end())
    reader, writer = await _send(port, _head(port, "/upload", _cookie(page), len(body)) + body)
    status, text = await _answer(reader, writer)
    assert status == 400, text[:500]
    assert "arrived incomplete or garbled" in text
    assert _session(page).uploads == {}


async def test_a_body_without_its_closing_boundary_is_a_400_with_a_sentence(web):
    page = await web()
    await page.sign_in()
    port = page.client.port
    body = _part("csrf", page.csrf.encode()) + (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
        f"filename=\"routing.xlsx\"\r\n\r\n").encode() + SAMPLE.read_bytes()[:3000]
    reader, writer = await _send(port, _head(port, "/upload", _cookie(page), len(body)) + body)
    status, text = await _answer(reader, writer)
    assert status == 400, text[:500]
    assert "arrived incomplete or garbled" in text
    assert _session(page).uploads == {}
    assert list(_session(page).folder.iterdir()) == []            # the part-file is gone


# --------------------------------------------------------------------------- a real server

@dataclass
class Served:
    port: int
    cookie: str
    csrf: str


@asynccontextmanager
async def _served(emulator, tmp_path, **settings) -> AsyncIterator[Served]:
    """The page as ``serve`` runs it (``running_web``), signed in once."""
    config = EmulatorConfig(users={BADGE: PIN}, tokens={TOKEN})
    emu = await emulator(config=config, dataset=demo_dataset())
    web_settings = WebSettings(base_url=emu.base_url, temp_parent=str(tmp_path), **settings)
    async with running_web(web_settings) as running:
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(running.url, cookie_jar=jar) as client:
            page = await (await client.get("/")).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            signed = await client.post("/signin", data={"csrf": csrf, "badge": BADGE,
                                                        "pin": PIN})
            csrf = re.search(r'name="csrf" value="([^"]+)"', await signed.text()).group(1)
            cookie = jar.filter_cookies(URL(running.url))[COOKIE].value
        yield Served(running.port, cookie, csrf)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """What the server sent until it closed the connection (the test's bound is generous:
    a server that never closes fails it)."""
    return await asyncio.wait_for(reader.read(), 20)


async def test_a_connection_stalled_in_its_headers_is_closed(emulator, tmp_path):
    async with _served(emulator, tmp_path, stall_timeout_s=0.5) as served:
        reader, writer = await _send(served.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert await _closed_by_server(reader) == b""
        writer.close()


async def test_a_form_stalled_in_its_body_is_answered_408(emulator, tmp_path):
    async with _served(emulator, tmp_path, stall_timeout_s=0.5) as served:
        start = _part("csrf", served.csrf.encode()) + (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"routing.xlsx\"\r\n\r\n").encode() + b"PK\x03\x04"
        head = _head(served.port, "/upload", served.cookie, len(start) + 100_000)
        status, text = await _answer(*await _send(served.port, head + start))
        assert status == 408 and "stopped arriving" in text


async def test_a_client_that_drops_mid_upload_is_one_log_line(emulator, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with _served(emulator, tmp_path) as served:
        start = _part("csrf", served.csrf.encode()) + (
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"routing.xlsx\"\r\n\r\n").encode() + SAMPLE.read_bytes()[:2000]
        head = _head(served.port, "/upload", served.cookie, len(start) + 100_000)
        await _send(served.port, head + start, close_after=True)
        for _ in range(200):          # the server notices the drop at its next read
            if any("closed the connection" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.05)
    dropped = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage()
                                                           for r in caplog.records]
    assert not list(tmp_path.rglob("routing.xlsx"))                  # the part-file is gone


# --------------------------------------------------------------------------- sign-in lockout

async def test_wrong_pins_over_fresh_sessions_are_locked_out_per_badge(web):
    page = await web()
    statuses = []
    for _ in range(6):                      # a fresh session each time: a new cookie jar
        page.client.session.cookie_jar.clear()
        page.csrf = ""
        for _ in range(5):
            statuses.append((await page.sign_in(BADGE, "bad-pin-1111")).status)
    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    page.client.session.cookie_jar.clear()
    page.csrf = ""
    response = await page.sign_in()              # the right PIN waits too, in a new session
    text = await response.text()
    assert response.status == 429
    assert re.search(r"for badge 7001; try again at \d\d:\d\d:\d\d", text)
    assert 0 < int(response.headers["Retry-After"]) <= 300


async def test_wrong_sign_ins_from_one_address_are_locked_out(web):
    page = await web()
    statuses = []
    for n in range(25):                           # a different badge each time
        page.client.session.cookie_jar.clear()
        page.csrf = ""
        statuses.append((await page.sign_in(f"9{n:03d}", "bad-pin-1111")).status)
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    page.client.session.cookie_jar.clear()
    page.csrf = ""
    response = await page.sign_in("", "", token=TOKEN)
    assert response.status == 429 and "from your address" in await response.text()


def test_sign_in_failures_age_out_of_the_window():
    throttle = SignInThrottle(per_badge=2, per_address=3, window_s=100)
    keys = throttle.keys("7001", "127.0.0.1")
    assert throttle.blocked(keys, now=0) is None
    throttle.failed(keys, now=0)
    throttle.failed(keys, now=10)
    block = throttle.blocked(keys, now=20)
    assert block is not None and block.retry_in_s == 80 and block.what == "for badge 7001"
    assert throttle.blocked(keys, now=101) is None          # the first failure aged out
    throttle.failed(throttle.keys("7002", "127.0.0.1"), now=102)
    assert throttle.blocked(throttle.keys("7003", "127.0.0.1"), now=102) is None
    throttle.failed(throttle.keys("7003", "127.0.0.1"), now=103)
    block = throttle.blocked(throttle.keys("7004", "127.0.0.1"), now=104)   # 10, 102, 103
    assert block == Lockout("from your address", 6)


def test_the_lockout_table_stays_bounded():
    throttle = SignInThrottle(per_badge=5, per_address=5, window_s=100, max_keys=50)
    for n in range(1000):
        throttle.failed(throttle.keys(f"b{n}", f"10.0.{n // 250}.{n % 250}"), now=n / 100)
    assert len(throttle) <= 50


# --------------------------------------------------------------------------- sessions

async def _browser_sign_in(browser: aiohttp.ClientSession, page, **credentials: str
                           ) -> aiohttp.ClientResponse:
    """Sign in from another browser (its own cookie jar) on the same server as ``page``."""
    text = await (await browser.get(page.client.make_url("/"))).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    return await browser.post(page.client.make_url("/signin"),
                              data={"csrf": csrf, **credentials})


def _browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_a_signed_in_planner_is_not_pushed_out_by_floods(web):
    page = await web(max_sessions=5)
    await page.sign_in()
    mine = _cookie(page)
    for _ in range(30):                              # page views without a cookie
        async with aiohttp.ClientSession() as fresh:
            assert (await fresh.get(page.client.make_url("/"))).status == 200
    for _ in range(12):                              # sign-ins of one token, again and again
        async with _browser() as fresh:
            assert (await _browser_sign_in(fresh, page, token=TOKEN)).status == 200
    session = page.state.sessions().get(mine)
    assert session is not None and session.signed_in
    assert "Upload a sheet" in await (await page.get("/")).text()


async def test_one_account_signing_in_again_and_again_ends_only_its_own_oldest(web):
    page = await web()
    await page.sign_in()
    store = page.state.sessions()
    first_token_session = None
    for n in range(MAX_SESSIONS_PER_SIGN_IN + 1):
        async with _browser() as fresh:
            assert (await _browser_sign_in(fresh, page, token=TOKEN)).status == 200
            if n == 0:
                first_token_session = store.get(
                    fresh.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE].value)
    assert first_token_session is not None and not first_token_session.signed_in   # ended
    assert len(store) == MAX_SESSIONS_PER_SIGN_IN + 1           # 20 of the token, and mine
    assert _session(page).signed_in


async def test_a_full_page_refuses_a_new_sign_in_instead_of_pushing_one_out(web):
    page = await web(max_sessions=1)
    await page.sign_in()
    mine = _cookie(page)
    async with _browser() as fresh:
        refused = await _browser_sign_in(fresh, page, token=TOKEN)
        assert refused.status == 503
        assert "as many planners signed in as it serves" in await refused.text()
    assert page.state.sessions().get(mine).signed_in


# --------------------------------------------------------------------------- plans in memory

PUT_ASIDE = "This plan was put aside to save memory; plan again"


async def test_plans_beyond_the_memory_budget_put_aside_other_sessions_first(web):
    page = await web()
    await page.sign_in()
    store = page.state.sessions()
    mine = await page.upload(SAMPLE)
    rows = store.plan_rows()
    assert rows > 0
    store.plan_rows_budget = 2 * rows                # room for two plans of this sheet
    async with _browser() as other:
        await _browser_sign_in(other, page, token=TOKEN)

        async def upload() -> str:
            text = await (await other.get(page.client.make_url("/"))).text()
            form = aiohttp.FormData()
            form.add_field("csrf", re.search(r'name="csrf" value="([^"]+)"', text).group(1))
            form.add_field("file", SAMPLE.read_bytes(), filename="routing.xlsx")
            answer = await other.post(page.client.make_url("/upload"), data=form)
            assert answer.status == 200 and answer.url.path.startswith("/plans/")
            return answer.url.path

        theirs_older = await upload()
        assert store.plan_rows() == 2 * rows                    # both kept
        assert PUT_ASIDE not in await (await page.get(mine)).text()   # mine: used last
        theirs_newer = await upload()                            # a third plan: one goes
        assert store.plan_rows() == 2 * rows
        for path in (theirs_older, theirs_newer):
            shown = await (await other.get(page.client.make_url(path))).text()
            assert PUT_ASIDE not in shown and "would create" in shown
    assert PUT_ASIDE in await (await page.get(mine)).text()      # another session's went first


async def test_a_put_aside_plan_says_plan_again_and_cannot_be_applied(web):
    page = await web()
    await page.sign_in()
    store = page.state.sessions()
    plan = await page.upload(SAMPLE)
    store.plan_rows_budget = store.plan_rows()       # room for one plan
    newer = await page.upload(SAMPLE)
    assert store.plan_rows() <= store.plan_rows_budget
    assert PUT_ASIDE in await (await page.get(plan)).text()
    assert "routing.xlsx</a> <span class=\"muted\">upsert, planned, put aside to save memory" in (
        await (await page.get("/")).text())
    response = await page.apply(plan, confirm="2,4,0")
    assert "plan again" in (await response.text())
    assert page.emulator.store.write_count == 0
    replanned = await page.post(f"{plan}/replan", {})
    assert replanned.status == 200 and replanned.url.path.startswith("/plans/")
    assert "would create" in await replanned.text()
    assert "put aside" in await (await page.get(newer)).text()   # made room for the new one
