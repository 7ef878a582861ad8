"""The client against the emulator over loopback: authentication, faults and listings."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from decimal import Decimal
from typing import Any

import pytest

from sync import schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN, EmulatorConfig, generate_dataset
from sync.errors import (
    AmbiguousWriteError,
    AuthError,
    ConnectionProblemError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
)

PRODUCT_ID, PROCESS_ID, LINE_NUMBER = (schema.PRODUCT_ID.name, schema.PROCESS_ID.name,
                                       schema.LINE_NUMBER.name)
DWELL = schema.BY_NAME["product_dwell_minutes"]


def connect(emu: Any, **credentials: str) -> Connection:
    return Connection.from_options(base_url=emu.base_url, **(credentials or
                                                             {"token": DEMO_TOKEN}))


def client_for(emu: Any, *, credentials: dict[str, str] | None = None,
               **options: Any) -> FlowtracClient:
    options.setdefault("backoff_base_s", 0.01)
    return FlowtracClient(connect(emu, **(credentials or {})), **options)


def new_lines(emu: Any, count: int, first_line: int = 100) -> list[dict[str, Any]]:
    """Canonical values for ``count`` new lines spread over the emulator's products."""
    products = [p[PRODUCT_ID] for p in emu.store.products()]
    process = emu.store.processes()[0][PROCESS_ID]
    return [{PRODUCT_ID: products[n % len(products)], PROCESS_ID: process,
             LINE_NUMBER: first_line + n} for n in range(count)]


def keys(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((r[PRODUCT_ID], int(r[LINE_NUMBER])) for r in records)


# --------------------------------------------------------------------------- authentication

async def test_token_lists_every_line_in_canonical_form(emulator):
    emu = await emulator(dataset=generate_dataset(5, 3))
    async with client_for(emu) as client:
        await client.login()                           # nothing to do for a token
        records = await client.list_lines()
    assert len(records) == 15
    assert keys(records) == keys(emu.store.lines())
    for record in records:
        assert isinstance(record[LINE_NUMBER], int)
        assert record[schema.ID.name] == record[schema.ID.name].lower()
        assert "product_dwell_mintues" not in record and DWELL.name in record
    assert client.stats.requests == 1


async def test_badge_and_pin_log_in_through_the_form(emulator):
    emu = await emulator(dataset=generate_dataset(2, 2))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as client:
        await client.login()
        assert len(await client.list_lines()) == 4
    assert client.stats.requests == 2 and client.stats.relogins == 0


async def test_without_an_explicit_login_the_first_request_logs_in(emulator):
    emu = await emulator(dataset=generate_dataset(2, 2))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as client:
        assert len(await client.list_lines()) == 4
    assert client.stats.requests == 2


async def test_a_wrong_pin_is_an_auth_error(emulator):
    emu = await emulator(dataset=generate_dataset(1, 1))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": "0000"}) as client:
        with pytest.raises(AuthError) as caught:
            await client.login()
    assert caught.value.exit_code == 4
    assert "badge 1001" in str(caught.value) and "0000" not in str(caught.value)


async def test_an_unknown_token_is_an_auth_error(emulator):
    emu = await emulator(dataset=generate_dataset(1, 1))
    async with client_for(emu, credentials={"token": "not-a-valid-token"}) as client:
        with pytest.raises(AuthError, match="token is not valid"):
            await client.list_lines()


async def test_an_expired_session_is_renewed_once_for_all_waiting_requests(emulator):
    config = EmulatorConfig(session_requests=4, latency_ms=20)
    emu = await emulator(config=config, dataset=generate_dataset(4, 2))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": DEMO_PIN},
                          concurrency=8) as client:
        await client.login()
        ids = [r[schema.ID.name] for r in emu.store.lines()]
        results = await asyncio.gather(
            *(client.list_lines([(schema.ID.filter_name or "id", i)]) for i in ids))
    assert [r[0][schema.ID.name] for r in results] == ids
    # 8 requests on a 4-request session: 4 answered 401 together, one login renewed it.
    assert client.stats.relogins == 1


async def test_sessions_expiring_again_and_again_keep_being_renewed(emulator):
    emu = await emulator(config=EmulatorConfig(session_requests=3),
                         dataset=generate_dataset(2, 2))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as client:
        for _ in range(10):
            assert len(await client.list_lines()) == 4
    assert client.stats.relogins >= 3


async def test_an_expired_bare_token_is_an_auth_error(emulator, caplog):
    caplog.set_level(logging.DEBUG, logger="sync.client")
    emu = await emulator(config=EmulatorConfig(session_requests=2),
                         dataset=generate_dataset(1, 1))
    async with client_for(emu) as client:
        await client.list_lines()
        await client.list_lines()
        with pytest.raises(AuthError) as caught:
            await client.list_lines()
    assert "session expired or the token is not valid" in str(caught.value)
    assert DEMO_TOKEN not in str(caught.value) and DEMO_TOKEN not in caplog.text
    assert "GET /product-processes -> 401" in caplog.text


# --------------------------------------------------------------------------- faults

async def test_429s_with_retry_after_are_absorbed_and_every_create_lands(emulator):
    config = EmulatorConfig(max_concurrency=4, retry_after_s=0.02, latency_ms=10)
    emu = await emulator(config=config, dataset=generate_dataset(5, 1))
    wanted = new_lines(emu, 60)
    async with client_for(emu, concurrency=16, retries=20) as client:
        created = await asyncio.gather(*(client.create_line(v) for v in wanted))
    assert all(record is not None for record in created)
    assert client.stats.throttled > 0 and client.limiter.decreases > 0
    assert client.limiter.limit <= 8
    assert emu.peak_in_flight <= 4
    lines = emu.store.lines()
    assert len(lines) == 5 + 60 and len(set(keys(lines))) == len(lines)
    assert emu.store.write_count == 60


async def test_503_and_500_bursts_on_reads_are_retried(emulator):
    config = EmulatorConfig(error_rate=0.4, fault_seed=3)
    emu = await emulator(config=config, dataset=generate_dataset(6, 2))
    products = [p[PRODUCT_ID] for p in emu.store.products()]
    async with client_for(emu, retries=12) as client:
        results = await asyncio.gather(
            *(client.list_lines([(schema.PRODUCT_ID.filter_name or "", p)]) for p in products))
    assert [len(r) for r in results] == [2] * 6
    assert client.stats.errors > 0 and client.stats.retries == client.stats.errors


async def test_under_injected_errors_a_write_is_done_once_or_reported_ambiguous(emulator):
    config = EmulatorConfig(error_rate=0.4, fault_seed=11)
    emu = await emulator(config=config, dataset=generate_dataset(6, 1))
    wanted = new_lines(emu, 30)
    async with client_for(emu, retries=12) as client:
        outcomes = await asyncio.gather(*(client.create_line(v) for v in wanted),
                                        return_exceptions=True)
    done = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, AmbiguousWriteError)]
    assert len(done) + len(lost) == 30 and done and lost
    assert {o.status for o in lost} == {500}          # a 503 is always sent again
    # The emulator's 500 and 503 come before any effect: exactly the answered ones exist.
    assert emu.store.write_count == len(done)
    assert keys(emu.store.lines()) == keys(emu.store.lines()[:6] + done)


async def test_a_post_dropped_after_commit_is_ambiguous_and_not_duplicated(emulator):
    config = EmulatorConfig(drop_rate=1.0, allow_duplicate_lines=True)
    emu = await emulator(config=config, dataset=generate_dataset(2, 1))
    [values] = new_lines(emu, 1)
    async with client_for(emu) as client:
        with pytest.raises(AmbiguousWriteError) as caught:
            await client.create_line(values)
    assert "may or may not have been committed" in str(caught.value)
    matching = [r for r in emu.store.lines() if r[PRODUCT_ID] == values[PRODUCT_ID]
                and int(r[LINE_NUMBER]) == values[LINE_NUMBER]]
    assert len(matching) == 1                          # committed once, never re-sent
    assert emu.store.writes_by_method["POST"] == 1
    assert client.stats.ambiguous == 1


async def test_a_closed_port_is_a_connection_problem_quickly():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                   # closed again before the client runs
    connection = Connection.from_options(base_url=f"http://127.0.0.1:{port}/api",
                                         token="tok-closed-port-secret")
    started = time.monotonic()
    async with FlowtracClient(connection, retries=2, backoff_base_s=0.05) as client:
        with pytest.raises(ConnectionProblemError) as caught:
            await client.list_lines()
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert f"Cannot reach 127.0.0.1:{port}" in message and "after 3 attempts" in message
    assert "tok-closed-port-secret" not in message
    assert not isinstance(caught.value, ServerError)


async def test_a_closed_port_at_login_is_a_connection_problem():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pin = "pin-closed-9x"  # distinctive: "4321" could be part of the port in the message
    connection = Connection.from_options(base_url=f"http://127.0.0.1:{port}/api",
                                         badge=DEMO_BADGE, pin=pin)
    async with FlowtracClient(connection, retries=1, backoff_base_s=0.01) as client:
        with pytest.raises(ConnectionProblemError, match="Cannot reach") as caught:
            await client.login()
    assert not isinstance(caught.value, AuthError) and pin not in str(caught.value)


# --------------------------------------------------------------------------- listings

async def test_scoped_listing_fetches_bounded_batches(emulator):
    emu = await emulator(dataset=generate_dataset(7, 3))
    products = sorted({r[PRODUCT_ID] for r in emu.store.lines()})[:5]
    async with client_for(emu, listing_batch=2) as client:
        before = emu.store.request_count
        records = await client.list_lines_for_products(products)
        requests = emu.store.request_count - before
    assert requests == 3                               # 2 + 2 + 1 ids
    assert sorted({r[PRODUCT_ID] for r in records}) == products
    assert len(records) == 15


async def test_listing_by_ids_returns_those_the_server_has(emulator):
    emu = await emulator(dataset=generate_dataset(3, 2))
    ids = [r[schema.ID.name] for r in emu.store.lines()][:4]
    gone = "00000000-0000-4000-8000-000000000000"
    async with client_for(emu, listing_batch=3) as client:
        records = await client.list_lines_by_ids([i.upper() for i in ids] + [gone])
    assert sorted(r[schema.ID.name] for r in records) == sorted(ids)


async def test_reference_checks_and_a_forbidden_catalog(emulator):
    emu = await emulator(dataset=generate_dataset(3, 1))
    product = emu.store.products()[0][PRODUCT_ID]
    process = emu.store.processes()[0][PROCESS_ID]
    unknown = "00000000-0000-4000-8000-000000000001"
    async with client_for(emu) as client:
        assert await client.products_exist([product.upper(), unknown]) == {product}
        assert await client.processes_exist([process, unknown]) == {process}
        names = {p["product"] for p in await client.list_products()}
        assert len(names) == 3
    closed = await emulator(config=EmulatorConfig(products_readable=False),
                            dataset=generate_dataset(1, 1))
    async with client_for(closed) as client:
        with pytest.raises(PermissionDeniedError) as caught:
            await client.products_exist([product])
    assert caught.value.status == 403


async def test_the_dwell_minutes_survive_the_vendors_two_spellings(emulator):
    emu = await emulator(dataset=generate_dataset(1, 1))
    [values] = new_lines(emu, 1)
    values[DWELL.name] = Decimal("2.5")
    async with client_for(emu) as client:
        created = await client.create_line(values)
        assert created is not None and created[DWELL.name] == Decimal("2.5")
        [listed] = await client.list_lines([(schema.ID.filter_name or "id",
                                             created[schema.ID.name])])
    assert listed[DWELL.name] == Decimal("2.5")
    stored = emu.store.line(created[schema.ID.name])
    assert stored is not None and Decimal(stored["product_dwell_mintues"]) == Decimal("2.5")


# --------------------------------------------------------------------------- writes

async def test_update_and_delete_then_delete_again_is_not_found(emulator):
    emu = await emulator(dataset=generate_dataset(2, 2))
    line = emu.store.lines()[0]
    record_id = line[schema.ID.name]
    async with client_for(emu) as client:
        updated = await client.update_line(record_id, {"description": "Deburr twice",
                                                       LINE_NUMBER: 9})
        assert updated is not None and updated["description"] == "Deburr twice"
        assert updated[LINE_NUMBER] == 9
        await client.delete_line(record_id)
        with pytest.raises(NotFoundError):
            await client.delete_line(record_id)
    assert emu.store.line(record_id) is None


async def test_the_servers_refusal_is_a_readable_row_failure(emulator):
    emu = await emulator(dataset=generate_dataset(1, 2))
    first, second = emu.store.lines()
    async with client_for(emu) as client:
        with pytest.raises(ServerError) as caught:       # line already taken: 400
            await client.update_line(second[schema.ID.name],
                                     {LINE_NUMBER: int(first[LINE_NUMBER])})
    assert caught.value.status == 400 and str(caught.value).endswith("(HTTP 400)")
    assert client.stats.retries == 0


async def test_the_answer_without_an_id_gives_none(emulator):
    emu = await emulator(config=EmulatorConfig(omit_id_in_response=True),
                         dataset=generate_dataset(1, 1))
    [values] = new_lines(emu, 1)
    async with client_for(emu) as client:
        assert await client.create_line(values) is None
    assert len(emu.store.lines()) == 2


async def test_throughput_approaches_the_servers_cap(emulator):
    """A loose guard of the flow control: 8 at a time at 40 ms allows 200 req/s."""
    emu = await emulator(config=EmulatorConfig(latency_ms=40, max_concurrency=8,
                                               retry_after_s=0.02),
                         dataset=generate_dataset(4, 1))
    ids = [r[schema.ID.name] for r in emu.store.lines()]
    async with client_for(emu, concurrency=24, retries=20) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.list_lines([(schema.ID.filter_name or "id",
                                                   ids[n % 4])]) for n in range(240)))
        elapsed = time.monotonic() - started
    assert elapsed < 2.4                               # ideal 1.2 s: at least half of it
    assert client.limiter.limit <= 9


async def test_requests_queued_behind_a_refused_login_do_not_each_retry_it(emulator):
    emu = await emulator(dataset=generate_dataset(1, 1))
    async with client_for(emu, credentials={"badge": DEMO_BADGE, "pin": "0000"}) as client:
        outcomes = await asyncio.gather(*(client.list_lines() for _ in range(10)),
                                        return_exceptions=True)
    assert all(isinstance(o, AuthError) for o in outcomes)
    assert emu.store.request_count == 1                # one login attempt, nothing else


async def test_a_token_is_used_first_and_badge_and_pin_renew_it(emulator):
    emu = await emulator(config=EmulatorConfig(session_requests=2),
                         dataset=generate_dataset(1, 2))
    credentials = {"token": DEMO_TOKEN, "badge": DEMO_BADGE, "pin": DEMO_PIN}
    async with client_for(emu, credentials=credentials) as client:
        await client.login()                           # the token needs no login
        assert client.stats.requests == 0
        for _ in range(5):
            assert len(await client.list_lines()) == 2
    assert client.stats.relogins >= 1


async def test_a_slow_answer_times_out_a_read_and_makes_a_write_ambiguous(emulator):
    emu = await emulator(config=EmulatorConfig(latency_ms=300), dataset=generate_dataset(1, 1))
    [values] = new_lines(emu, 1)
    connection = Connection.from_options(base_url=emu.base_url, token=DEMO_TOKEN,
                                         timeout_s=0.1)
    async with FlowtracClient(connection, retries=1, backoff_base_s=0.01) as client:
        started = time.monotonic()
        with pytest.raises(ConnectionProblemError, match=r"no answer within 0\.1 s"):
            await client.list_lines()
        assert time.monotonic() - started < 1
        with pytest.raises(AmbiguousWriteError, match=r"no answer within 0\.1 s"):
            await client.create_line(values)
    await asyncio.sleep(0.4)                           # the server finishes what it started
    assert emu.store.writes_by_method["POST"] == 1 and len(emu.store.lines()) == 2
