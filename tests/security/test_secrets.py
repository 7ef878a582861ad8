"""Secrets (the token, the PIN, every cookie a login set) never reach stdout, stderr, the -vv
logs, reports, journals, exception messages or the web page: scanned for after runs that log in
and renew an expired session, fail to log in, lose a bare token's session, and meet servers
whose answers quote the request's Cookie header (and the login's PIN) back: HTML, JSON, text;
plain, URL-encoded, base64; cut mid-secret.  "Never" means no piece of 8 or more characters
of a secret, plain, URL-encoded or base64 at any alignment.

The command runs in a child process here, so that -vv logging really goes to its stderr (in
click's CliRunner the logging handlers belong to pytest)."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import subprocess
import sys
import traceback
import uuid
import zipfile
from pathlib import Path
from urllib.parse import quote, quote_plus

import aiohttp
import openpyxl
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hostile.hostile_server import HostileServer
from hypothesis import given, settings
from hypothesis import strategies as st
from sheetkit import write_sheet

from sync import api, schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import EmulatorConfig, generate_dataset
from sync.errors import SyncError
from sync.masking import FRAGMENT, Secrets, encoded_forms
from sync.web import WebSettings, make_app

from .echo_server import FORMATS, PIN, PROCESS, PRODUCT, EchoServer

TOKEN = "tok-5ecret-9f8e7d6c5b4a"
BADGE = "555"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync.cli", *args, "-vv"],
                          capture_output=True, text=True, timeout=timeout)


def texts_of(*paths: Path) -> str:
    """Everything in these files: every member of a workbook and its cells' text as openpyxl
    reads them, or the text of a journal."""
    out = []
    for path in paths:
        if not path.exists():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as package:
                out += [package.read(n).decode("utf-8", "replace") for n in package.namelist()]
            book = openpyxl.load_workbook(path)
            out += [str(cell.value) for sheet in book for row in sheet.iter_rows()
                    for cell in row if cell.value is not None]
        else:
            out.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(out)


def forms_to_look_for(secret: str) -> list[str]:
    """The secret plain, URL-encoded, and as the whole 4-character groups of its base64 at
    each of the three alignments it may have inside a longer base64 text."""
    forms = [secret, quote(secret, safe=""), quote_plus(secret)]
    raw = secret.encode()
    for start in range(3):
        whole = (len(raw) - start) // 3 * 3
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            forms.append(encode(raw[start:start + whole]).decode())
    return forms


def assert_secret_free(text: str, secrets: list[str]) -> None:
    """No piece of FRAGMENT (8) characters of any form of any secret is in ``text``."""
    assert secrets
    for secret in secrets:
        for form in forms_to_look_for(secret):
            for i in range(max(1, len(form) - FRAGMENT + 1)):
                piece = form[i:i + FRAGMENT]
                assert piece not in text, f"a piece of a secret ({secret[:2]}...) leaked"


@pytest.fixture
def secret_emulator(emulator_thread):
    """An emulator that knows only our token and badge/PIN; sessions expire fast."""
    config = EmulatorConfig(tokens={TOKEN}, users={BADGE: PIN}, session_requests=4)
    return emulator_thread(config=config, dataset=generate_dataset(4, 2))


def routing_sheet(emu, folder: Path) -> Path:
    rows = [schema.record_from_wire(r) for r in emu.store.lines()]
    for row in rows:
        row["product_minutes"] = 42
    processes = [p["process_id"] for p in emu.store.processes()]
    rows.append({"product_id": rows[0]["product_id"], "process_id": processes[0],
                 "line_number": 9})
    return write_sheet(folder / "routing.xlsx", rows)


@pytest.mark.timeout(60)
def test_a_run_with_relogins_leaks_nothing(secret_emulator, tmp_path: Path) -> None:
    """apply -vv with badge and PIN, the session expiring every 4 requests."""
    emu = secret_emulator
    path = routing_sheet(emu, tmp_path)
    journal = tmp_path / "j.jsonl"
    done = cli("apply", str(path), "--yes", "--journal", str(journal), "--base-url",
               emu.base_url, "--badge", BADGE, "--pin", PIN)
    assert done.returncode == 0, done.stderr
    assert "DEBUG sync.client: PUT /product-processes -> 200" in done.stderr  # -vv logs
    assert "DEBUG sync.client: POST /device-login/ -> 200" in done.stderr
    assert done.stderr.count("POST /device-login/ -> 200") >= 2  # the session was renewed
    text = done.stdout + done.stderr + texts_of(journal, tmp_path / "routing.report.xlsx")
    assert_secret_free(text, [PIN, TOKEN])


@pytest.mark.timeout(60)
def test_failed_logins_and_an_expired_token_leak_nothing(secret_emulator,
                                                         tmp_path: Path) -> None:
    emu = secret_emulator
    path = routing_sheet(emu, tmp_path)
    wrong_pin = PIN[::-1]
    refused = cli("plan", str(path), "--base-url", emu.base_url, "--badge", BADGE,
                  "--pin", wrong_pin)
    assert refused.returncode == 4
    assert "refused the login for badge 555" in refused.stderr
    # A bare token whose session expires mid-run: exit 4, no way to renew it.
    journal = tmp_path / "j.jsonl"
    expired = cli("apply", str(path), "--yes", "--journal", str(journal), "--base-url",
                  emu.base_url, "--token", TOKEN)
    assert expired.returncode == 4
    assert "session expired" in expired.stderr
    text = refused.stdout + refused.stderr + expired.stdout + expired.stderr
    text += texts_of(tmp_path / "routing.report.xlsx", journal)
    assert_secret_free(text, [PIN, wrong_pin, TOKEN])


@pytest.fixture
def echoing_server():
    with HostileServer() as server:
        server.state.products = ["a0000001-0000-4000-8000-000000000001"]
        server.state.processes = ["b0000001-0000-4000-8000-000000000001"]
        yield server


def one_line_sheet(folder: Path) -> Path:
    return write_sheet(folder / "one.csv", [
        {"product_id": "a0000001-0000-4000-8000-000000000001", "line_number": n,
         "process_id": "b0000001-0000-4000-8000-000000000001"} for n in (1, 2)],
        (schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("login", ["token", "badge"])
def test_error_pages_quoting_the_cookie_are_scrubbed(echoing_server, tmp_path: Path,
                                                     login: str) -> None:
    """Write refusals (400) and a failing listing (500) whose pages quote the Cookie header:
    neither the token nor a session cookie the login set appears anywhere."""
    server = echoing_server
    credentials = (["--token", TOKEN] if login == "token"
                   else ["--badge", BADGE, "--pin", PIN])
    path = one_line_sheet(tmp_path)
    journal = tmp_path / "j.jsonl"
    server.behaviour.writes = "echo_cookie_400"
    refused = cli("apply", str(path), "--yes", "--journal", str(journal), "--base-url",
                  server.base_url, *credentials, "--retries", "1")
    assert refused.returncode == 1, refused.stderr
    assert "Cookie: user=***" in texts_of(tmp_path / "one.report.xlsx")
    server.behaviour.listing = "echo_cookie_500"
    failing = cli("plan", str(path), "--base-url", server.base_url, *credentials,
                  "--retries", "1", "--timeout", "2")
    assert failing.returncode == 4
    assert "Cookie: user=***" in failing.stderr
    cookies = {seen.cookie.split("=", 1)[1] for seen in server.state.seen if seen.cookie}
    assert cookies and (TOKEN in cookies) == (login == "token")
    text = (refused.stdout + refused.stderr + failing.stdout + failing.stderr
            + texts_of(journal, tmp_path / "one.report.xlsx"))
    assert_secret_free(text, [PIN, TOKEN, *cookies])


def test_exception_messages_and_reprs_hold_no_secret(echoing_server, tmp_path: Path) -> None:
    """Library callers see the same: exceptions (with their tracebacks), reprs, JSON."""
    server = echoing_server
    server.behaviour.listing = "echo_cookie_500"
    connection = Connection.from_options(base_url=server.base_url, token=TOKEN, timeout_s=2)
    caught: list[BaseException] = []
    try:
        api.plan(one_line_sheet(tmp_path), connection, api.SyncOptions(retries=0))
    except SyncError as exc:
        caught.append(exc)
    server.behaviour.listing = "normal"
    server.behaviour.writes = "echo_cookie_400"
    result = api.apply(one_line_sheet(tmp_path), connection, api.SyncOptions(retries=0))
    assert result.exit_code == 1

    async def login_refused() -> None:
        server.behaviour.login = "echo_cookie_401"
        badge = Connection.from_options(base_url=server.base_url, badge=BADGE, pin=PIN)
        async with FlowtracClient(badge, retries=0) as client:
            await client.login()
    try:
        asyncio.run(login_refused())
    except SyncError as exc:
        caught.append(exc)
    assert len(caught) == 2
    text = "\n".join("".join(traceback.format_exception(e)) + repr(e.args) for e in caught)
    text += repr(connection) + str(connection) + repr(FlowtracClient(connection))
    text += str(result.to_json()) + str(result.summary())
    text += " ".join(r.message for _i, r in result.row_status())
    assert "***" in text
    assert_secret_free(text, [PIN, TOKEN])


# --------------------------------------------------------------------------- every encoding

COOKIE_WITH_PIN = f"s3f9a1c{PIN}0b7e44d2a9c1"
CSRF_COOKIE = "kJ8/zq+T0xw3bVd9Lr2yAA=="


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("order", ["pin_first", "cookie_first"])
def test_every_echo_format_is_masked_before_it_is_cut(name: str, order: str) -> None:
    """The server's words as the client reads them (``readable_error`` with the client's
    mask): no piece of the cookies or the PIN inside one of them, whichever is known first."""
    from sync.client import readable_error

    values = [PIN, COOKIE_WITH_PIN, f'"{CSRF_COOKIE}"', CSRF_COOKIE]
    secrets = Secrets(values if order == "pin_first" else values[::-1])
    quoted = f'badge=555&pin={PIN}; Cookie: user={COOKIE_WITH_PIN}; csrftoken="{CSRF_COOKIE}"'
    _type, body = FORMATS[name]
    words = readable_error(body(quoted).encode(), secrets.mask)
    assert "***" in words
    assert_secret_free(words, [PIN, COOKIE_WITH_PIN, CSRF_COOKIE])


def test_masking_keeps_ordinary_words_and_masks_a_secret_glued_to_another() -> None:
    secrets = Secrets([PIN, COOKIE_WITH_PIN, TOKEN])
    ordinary = "Line 7 of product 42: process 9f8e is not active (HTTP 400)"
    assert secrets.mask(ordinary) == ordinary
    assert secrets.mask(f"x={TOKEN}{COOKIE_WITH_PIN}!") == "x=***!"
    assert secrets.mask(f"cut: {TOKEN[:9]} and {COOKIE_WITH_PIN[-8:]}") == "cut: *** and ***"
    assert Secrets([]).mask(ordinary) == ordinary
    wrapped = "\n".join(TOKEN[i:i + 5] for i in range(0, len(TOKEN), 5))
    assert secrets.mask(f"token:\n{wrapped}\nend") == "token:\n***\nend"
    short = Secrets(["4321"])      # a short PIN is masked whole, not across blanks
    assert short.mask("pin=4321, lines 43 21") == "pin=***, lines 43 21"


def test_a_long_run_keeps_the_token_pin_and_recent_cookies_and_lets_old_ones_go() -> None:
    """A run that logs in thousands of times: the token and PIN stay masked, as do the
    cookies of the last logins; the older ones are let go, so masking does not slow down."""
    secrets = Secrets([TOKEN, PIN], recent=4)
    logins = [(f"u{uuid.uuid4().hex[:8]}{PIN}", uuid.uuid4().hex) for _ in range(3000)]
    for cookies in logins:
        secrets.add(cookies)
    page = " ".join([TOKEN, PIN, *logins[-1], *logins[-2]])
    # Nothing but masks is left (two neighbours may share one mask: whitespace is skipped
    # while matching, and the token's last letter and the PIN can be a piece of a cookie).
    masked = secrets.mask(page)
    assert masked.replace("***", "").split() == [] and 1 <= masked.count("***") <= 6
    assert secrets.mask(logins[0][1]) == logins[0][1]        # forgotten long ago
    assert repr(secrets) == "Secrets(6 known)"


@pytest.fixture
def echo_server():
    with EchoServer() as server:
        yield server


def many_line_sheet(folder: Path, count: int = len(FORMATS) + 1) -> Path:
    """One line to create per echo format (each failing write meets the next format)."""
    return write_sheet(folder / "many.csv", [
        {"product_id": PRODUCT, "line_number": n, "process_id": PROCESS}
        for n in range(1, count + 1)], (schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("login", ["token", "badge"])
def test_runs_against_a_server_quoting_every_encoding_leak_nothing(
        echo_server: EchoServer, tmp_path: Path, login: str) -> None:
    """apply -vv: every create refused by a page quoting the Cookie header in the next
    encoding; plan -vv: the listing fails (500, retried; 400) quoting it; writes answered 200
    with a quoting page, 200 {"error": quote} and a redirect whose Location quotes it."""
    server = echo_server
    state = server.state
    credentials = (["--token", TOKEN] if login == "token"
                   else ["--badge", BADGE, "--pin", PIN])
    path = many_line_sheet(tmp_path)
    journal = tmp_path / "j.jsonl"
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = cli(*args, str(path), "--base-url", server.base_url, *credentials,
                   "--retries", "1", "--timeout", "5")
        outputs.extend([done.stdout, done.stderr])
        return done

    state.writes = "quote"
    refused = run("apply", "--yes", "--journal", str(journal))
    assert refused.returncode == 1, refused.stderr
    assert state.turn >= len(FORMATS)               # every format was answered
    assert "DEBUG sync.client: POST /product-processes -> 400" in refused.stderr
    report = texts_of(tmp_path / "many.report.xlsx")
    assert report.count("***") >= len(FORMATS)
    state.writes = "normal"
    for status, exit_code in ((500, 4), (400, 1)):
        state.listing, state.status = "quote", status
        failing = run("plan")
        assert failing.returncode == exit_code and "***" in failing.stderr, failing.stderr
    state.listing, state.status = "normal", 400
    for kind, exit_code in (("quote_200", 1), ("refusal_200", 1), ("redirect", 4)):
        state.writes = kind
        done = run("apply", "--yes", "--journal", str(journal))
        assert done.returncode == exit_code, done.stderr
    assert (TOKEN in "".join(state.quoted)) == (login == "token")
    assert login == "token" or PIN in "".join(state.cookies)  # the PIN inside the cookie
    reports = sorted(tmp_path.glob("many.report*.xlsx"))      # one per apply
    assert len(reports) == 4
    redirected = texts_of(tmp_path / "many.report-4.xlsx")
    assert "redirected POST /product-processes to '/sso/user=***" in redirected
    text = "\n".join(outputs) + texts_of(journal, *reports)
    assert text.count("***") > len(FORMATS)
    assert_secret_free(text, [PIN, TOKEN, *state.cookies])


@pytest.mark.timeout(60)
def test_a_login_refusal_quoting_the_pin_leaks_nothing(echo_server: EchoServer,
                                                       tmp_path: Path) -> None:
    """The login answered 400 with its form (badge and PIN) quoted, in each encoding."""
    server = echo_server
    server.state.login = "quote"
    outputs = []
    for _ in range(3):
        done = cli("plan", str(many_line_sheet(tmp_path, 1)), "--base-url", server.base_url,
                   "--badge", BADGE, "--pin", PIN, "--retries", "0")
        assert done.returncode == 4 and "refused the login for badge 555" in done.stderr
        outputs += [done.stdout, done.stderr]
    text = "\n".join(outputs)
    assert PIN in "".join(server.state.quoted) and "pin=***" in text
    assert_secret_free(text, [PIN])


_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


async def test_the_web_page_shows_no_piece_of_a_quoted_secret(
        echo_server: EchoServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Sign-in refused by a page quoting the PIN; a plan whose listing fails quoting the
    cookies; an apply whose writes are refused quoting them: neither the pages, the apply's
    report, the run records kept (journal, report) nor the web server's log hold a piece of
    one."""
    caplog.set_level(logging.DEBUG)
    state = echo_server.state
    settings = WebSettings(base_url=echo_server.base_url, allow_http=True,
                           temp_parent=str(tmp_path), data_dir=str(tmp_path / "data"))
    bodies: list[str] = []

    async with TestClient(TestServer(make_app(settings), host="127.0.0.1")) as client:
        csrf = ""

        async def keep(response: aiohttp.ClientResponse) -> str:
            nonlocal csrf
            body = await response.text()
            bodies.append(body)
            found = _CSRF_FIELD.search(body)
            csrf = found.group(1) if found else csrf
            return body

        async def sign_in() -> str:
            await keep(await client.get("/"))
            return await keep(await client.post("/signin", data={
                "csrf": csrf, "badge": BADGE, "pin": PIN, "token": ""}))

        async def upload() -> aiohttp.ClientResponse:
            form = aiohttp.FormData()
            form.add_field("csrf", csrf)
            form.add_field("file", many_line_sheet(tmp_path, 3).read_bytes(),
                           filename="many.csv", content_type="text/csv")
            response = await client.post("/upload", data=form)
            await keep(response)
            return response

        state.login = "quote"
        refused = await sign_in()
        assert "Sign-in failed" in refused and "***" in refused
        state.login = "normal"
        assert "Upload a sheet" in await sign_in()
        state.listing, state.status = "quote", 400
        failed = await upload()
        assert failed.status == 502 and "***" in bodies[-1]
        state.listing, state.writes = "normal", "quote"
        planned = await upload()
        plan = planned.url.path
        assert plan.startswith("/plans/"), bodies[-1][:500]
        confirm = re.search(r'name="confirm" value="([^"]+)"', bodies[-1])
        assert confirm
        await keep(await client.post(f"{plan}/apply", data={"csrf": csrf,
                                                             "confirm": confirm.group(1)}))
        for _ in range(400):
            progress = await (await client.get(f"{plan}/progress")).json()
            if progress["state"] == "applied":
                break
            await asyncio.sleep(0.05)
        assert progress["state"] == "applied" and progress["failed"] == 3
        bodies.append(str(progress))
        applied = await keep(await client.get(plan))
        assert applied.count("***") >= 3
        report = await client.get(f"{plan}/report.xlsx")
        assert report.status == 200
        (tmp_path / "web.report.xlsx").write_bytes(await report.read())
    report_text = texts_of(tmp_path / "web.report.xlsx")
    assert report_text.count("***") >= 3
    kept = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]   # the run records
    assert any(p.name.endswith(".journal.jsonl") for p in kept)
    report_text += texts_of(*kept)
    text = "\n".join(bodies) + "\n".join(r.getMessage() for r in caplog.records) + report_text
    assert_secret_free(text, [PIN, *state.cookies])


@settings(max_examples=300, deadline=None)
@given(before=st.text(max_size=40), after=st.text(max_size=40), data=st.data())
def test_any_piece_of_any_form_is_masked_wherever_it_falls(before: str, after: str,
                                                           data: st.DataObject) -> None:
    """Any 8 or more characters of any form of a secret, among any text, leave nothing."""
    secret = data.draw(st.sampled_from([TOKEN, COOKIE_WITH_PIN, CSRF_COOKIE]))
    form = data.draw(st.sampled_from(sorted(encoded_forms(secret))))
    start = data.draw(st.integers(0, len(form) - FRAGMENT))
    end = data.draw(st.integers(start + FRAGMENT, len(form)))
    masked = Secrets([PIN, TOKEN, COOKIE_WITH_PIN, CSRF_COOKIE]).mask(
        before + form[start:end] + after)
    assert "***" in masked
    assert_secret_free(masked, [secret])
