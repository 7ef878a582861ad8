"""A hostile server: every unusable answer gives a clear per-row failure or a clear stop
(exit 4), within the timeouts, without a traceback, and nothing is reported done that the
server did not really do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from hostile.hostile_server import HostileServer
from sheetkit import write_sheet

from sync import schema
from sync.cli import main as cli

PRODUCT = "a0000001-0000-4000-8000-000000000001"
PROCESSES = ["b0000001-0000-4000-8000-000000000001", "b0000002-0000-4000-8000-000000000002"]
EXISTING = "c0000001-0000-4000-8000-000000000001"
TOKEN = "hostile-test-token"
#: Longest a hostile case may take: --timeout 1 and --retries 1 bound every wait.
MAX_SECONDS = 12


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as hostile:
        hostile.state.products = [PRODUCT]
        hostile.state.processes = list(PROCESSES)
        hostile.state.lines[EXISTING] = {
            "id": EXISTING, "product_id": PRODUCT, "process_id": PROCESSES[0],
            "line_number": "1", "active": "Active", "description": "Cut",
            "product_minutes": "5", "product_dwell_mintues": None}
        yield hostile


@pytest.fixture
def trap() -> Iterator[HostileServer]:
    """Another host (127.0.0.2 is loopback too): a redirect must never reach it."""
    with HostileServer(host="127.0.0.2") as other:
        yield other


def routing_sheet(folder: Path) -> Path:
    """One change to the existing line, two new lines."""
    rows = [{"id": EXISTING, "product_id": PRODUCT, "process_id": PROCESSES[0],
             "line_number": 1, "active": "Active", "description": "Cut",
             "product_minutes": Decimal(7)},
            *({"id": None, "product_id": PRODUCT, "process_id": PROCESSES[1],
               "line_number": n, "active": "Active", "description": f"new {n}",
               "product_minutes": Decimal(2)} for n in (2, 3))]
    return write_sheet(folder / "routing.csv", rows, (schema.ID, *schema.WRITABLE))


def run(server: HostileServer, *args: str) -> tuple[Result, float]:
    started = time.monotonic()
    result = CliRunner().invoke(cli, [*args, "--base-url", server.base_url, "--token", TOKEN,
                                      "--timeout", "1", "--retries", "1"],
                                catch_exceptions=False)
    return result, time.monotonic() - started


def assert_clear_stop(result: Result, seconds: float, words: str) -> None:
    """Exit 4 with one "error: ..." line naming the cause (after apply's plan preview)."""
    assert result.exit_code == 4, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and words in errors[0], result.stderr
    assert len(errors[0]) < 400
    assert "Traceback" not in result.stdout + result.stderr
    assert seconds < MAX_SECONDS


def report_statuses(path: Path) -> list[tuple[str, str | None, str]]:
    sheet = openpyxl.load_workbook(path).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    status, sync_id, message = (header.index(c) for c in ("sync_status", "sync_id",
                                                          "sync_message"))
    return [(r[status], r[sync_id], r[message] or "") for r in rows[1:]]


def assert_nothing_reported_done_that_was_not(server: HostileServer, report: Path) -> None:
    applied = {(method, record_id) for method, record_id in server.state.ledger}
    done = {"created": "POST", "updated": "PUT", "deleted": "DELETE"}
    for status, sync_id, _message in report_statuses(report):
        if status in done:
            assert (done[status], sync_id) in applied, (status, sync_id, applied)


# --------------------------------------------------------------------------- listings

LISTING_STOPS = {
    "html": "answered GET /product-processes with an HTML page ('Sign in - Corporate Proxy')",
    "truncated": "answered GET /product-processes with JSON that breaks off or is malformed",
    "object": "answered GET /product-processes with a JSON object where a list of records",
    "list": "with a list holding something other than records",
    "huge": "answered GET /product-processes with an HTML page",
    "hang": "no answer within 1 s",
    "cut": "the answer broke off",
    "redirect": "redirected GET /product-processes to 'http://127.0.0.2:",
    "wrong_type_binary": "instead of data",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", sorted(LISTING_STOPS))
def test_an_unusable_listing_stops_the_run_clearly(kind: str, server: HostileServer,
                                                   trap: HostileServer, tmp_path: Path) -> None:
    server.behaviour.listing = kind
    server.behaviour.redirect_to = f"http://127.0.0.2:{trap.port}"
    path = routing_sheet(tmp_path)
    result, seconds = run(server, "apply", str(path), "--yes")
    assert_clear_stop(result, seconds, LISTING_STOPS[kind])
    assert server.state.ledger == [] and not [s for s in server.state.seen
                                              if s.method != "GET"]
    assert trap.state.seen == []  # the redirect was not followed, the token not sent there


def test_a_listing_with_the_wrong_content_type_but_good_json_is_read(server: HostileServer,
                                                                     tmp_path: Path) -> None:
    """The body decides, not the Content-Type header: JSON records sent as text/plain."""
    server.behaviour.listing = "wrong_type_text"
    result, _seconds = run(server, "plan", str(routing_sheet(tmp_path)), "--json")
    assert result.exit_code == 0, result.stderr
    assert '"update": 1' in result.stdout and '"create": 2' in result.stdout


# --------------------------------------------------------------------------- writes

#: Write answers that cannot be taken as a result: each row fails, saying why.
WRITE_FAILURES = {
    "html": "an HTML page ('Sign in - Corporate Proxy')",
    "truncated": "JSON that breaks off or is malformed",
    "list": "JSON of another shape",
    "huge": "more than 1 MB",
    "hang": "no answer within 1 s",
    "cut": "the answer broke off",
    "wrong_type_binary": "instead of a result",
}


@pytest.mark.timeout(40)
@pytest.mark.parametrize("kind", sorted(WRITE_FAILURES))
def test_an_unusable_write_answer_fails_the_row_and_is_never_marked_done(
        kind: str, server: HostileServer, tmp_path: Path) -> None:
    server.behaviour.writes = kind
    path = routing_sheet(tmp_path)
    result, seconds = run(server, "apply", str(path), "--yes")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert seconds < MAX_SECONDS
    report = tmp_path / "routing.report.xlsx"
    rows = report_statuses(report)
    assert [status for status, _id, _message in rows] == ["failed"] * 3
    for _status, _id, message in rows:
        assert message and "\n" not in message and len(message) < 400
    update_message = rows[0][2]
    assert WRITE_FAILURES[kind] in update_message, update_message
    assert server.state.ledger == []
    assert_nothing_reported_done_that_was_not(server, report)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("kind", ["html", "huge", "truncated", "wrong_type_binary"])
def test_a_write_done_behind_an_unusable_answer_is_confirmed_by_reading(
        kind: str, server: HostileServer, tmp_path: Path) -> None:
    """The server did the write but answered garbage: the tool reads the line back and
    reports it done (once: no second line is created)."""
    server.behaviour.writes = kind
    server.behaviour.apply_hostile_writes = True
    path = routing_sheet(tmp_path)
    result, seconds = run(server, "apply", str(path), "--yes")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert seconds < MAX_SECONDS
    report = tmp_path / "routing.report.xlsx"
    assert [s for s, _i, _m in report_statuses(report)] == ["updated", "created", "created"]
    assert_nothing_reported_done_that_was_not(server, report)
    assert [m for m, _i in server.state.ledger].count("POST") == 2
    assert len(server.state.lines) == 3


@pytest.mark.timeout(30)
def test_a_write_redirected_to_another_host_stops_the_run(server: HostileServer,
                                                          trap: HostileServer,
                                                          tmp_path: Path) -> None:
    server.behaviour.writes = "redirect"
    server.behaviour.redirect_to = f"http://127.0.0.2:{trap.port}"
    path = routing_sheet(tmp_path)
    result, seconds = run(server, "apply", str(path), "--yes")
    assert_clear_stop(result, seconds, "redirected")
    assert "--base-url" in result.stderr
    assert trap.state.seen == [] and server.state.ledger == []
    statuses = {s for s, _i, _m in report_statuses(tmp_path / "routing.report.xlsx")}
    assert statuses <= {"failed", "skipped"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["html", "wrong_type_binary"])
def test_a_login_answered_without_a_session_stops_the_run(kind: str, server: HostileServer,
                                                          tmp_path: Path) -> None:
    server.behaviour.login = kind
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["plan", str(routing_sheet(tmp_path)), "--base-url",
                                      server.base_url, "--badge", "7", "--pin", "2468",
                                      "--timeout", "1", "--retries", "1"],
                                catch_exceptions=False)
    assert_clear_stop(result, time.monotonic() - started, "without a session cookie")
    assert "2468" not in result.stdout + result.stderr
