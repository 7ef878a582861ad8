"""Secrets (the token, the PIN, the session cookie) never reach stdout, stderr, the -vv logs,
reports, journals or exception messages: scanned for after runs that log in and renew an
expired session, fail to log in, lose a bare token's session, and meet a server whose error
pages quote the request's Cookie header back.

The command runs in a child process here, so that -vv logging really goes to its stderr (in
click's CliRunner the logging handlers belong to pytest)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import traceback
import zipfile
from pathlib import Path

import pytest
from hostile.hostile_server import HostileServer
from sheetkit import write_sheet

from sync import api, schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import EmulatorConfig, generate_dataset
from sync.errors import SyncError

TOKEN = "tok-5ecret-9f8e7d6c5b4a"
PIN = "7305918246"
BADGE = "555"


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sync.cli", *args, "-vv"],
                          capture_output=True, text=True, timeout=timeout)


def texts_of(*paths: Path) -> str:
    """Everything in these files: every member of a workbook, or the text of a journal."""
    out = []
    for path in paths:
        if not path.exists():
            continue
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as package:
                out += [package.read(n).decode("utf-8", "replace") for n in package.namelist()]
        else:
            out.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(out)


def assert_secret_free(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:3]}...) leaked"


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
