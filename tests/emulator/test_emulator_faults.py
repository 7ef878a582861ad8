"""The fault knobs: latency, the concurrency cap (429), random 5xx, and answers lost after
the write committed."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import yarl

from sync.emulator import DEMO_TOKEN, EmulatorConfig

from .conftest import Api, first_free_line


async def _started(emulator, demo_dataset, http, **knobs) -> Api:
    return Api(http, await emulator(EmulatorConfig(**knobs), demo_dataset), DEMO_TOKEN)


def _new_line(api: Api, line: int | None = None) -> dict:
    product = api.store.products()[0]["product_id"]
    return {"product_id": product, "process_id": api.store.processes()[0]["process_id"],
            "line_number": str(line or first_free_line(api.store, product))}


async def test_latency_delays_every_request(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, latency_ms=120)
    started = time.perf_counter()
    assert (await api.get()).status == 200
    assert time.perf_counter() - started >= 0.115


async def test_latency_jitter_varies_around_the_latency(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, latency_ms=60, latency_jitter_ms=40,
                         fault_seed=3)
    durations = []
    for _ in range(8):
        started = time.perf_counter()
        await api.get(id="00000000-0000-4000-8000-000000000000")
        durations.append(time.perf_counter() - started)
    assert min(durations) >= 0.018
    assert max(durations) - min(durations) > 0.01  # not all the same delay


async def test_requests_beyond_the_cap_get_429_with_retry_after(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, latency_ms=300, max_concurrency=2,
                         retry_after_s=0.25)
    replies = await asyncio.gather(*(api.get() for _ in range(6)))
    statuses = sorted(r.status for r in replies)
    assert statuses == [200, 200, 429, 429, 429, 429]
    refused = [r for r in replies if r.status == 429]
    assert all(r.headers["Retry-After"] == "0.25" for r in refused)
    assert all("Too many requests" in r.body["error"] for r in refused)
    assert api.emu.peak_in_flight == 2
    assert (await api.get()).status == 200  # the cap frees up as requests finish


async def test_429_without_retry_after_header(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, latency_ms=200, max_concurrency=1,
                         retry_after_s=None)
    replies = await asyncio.gather(api.get(), api.get())
    refused = [r for r in replies if r.status == 429]
    assert len(refused) == 1 and "Retry-After" not in refused[0].headers


async def test_a_write_refused_with_429_has_no_effect(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, latency_ms=200, max_concurrency=1)
    bodies = [_new_line(api, line) for line in (40, 41, 42)]
    replies = await asyncio.gather(*(api.post(body) for body in bodies))
    assert sorted(r.status for r in replies) == [200, 429, 429]
    assert len(api.store.lines()) == 16 and api.store.write_count == 1


async def test_error_rate_one_fails_everything_without_effect(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, error_rate=1.0, fault_seed=1)
    victim = api.store.lines()[0]["id"]
    replies = [await api.post(_new_line(api)), await api.delete({"id": victim}),
               await api.put({"id": victim, "description": "x"}), await api.get()]
    replies += [await api.get() for _ in range(12)]
    assert {r.status for r in replies} == {500, 503}
    assert all("injected fault" in r.body["error"] for r in replies)
    assert len(api.store.lines()) == 15 and api.store.line(victim)["description"] != "x"
    assert api.store.write_count == 0


async def test_error_rate_is_random_but_repeatable_with_a_seed(emulator, demo_dataset, http):
    runs = []
    for _ in range(2):
        api = await _started(emulator, demo_dataset, http, error_rate=0.4, fault_seed=11)
        runs.append([(await api.get()).status for _ in range(40)])
    assert runs[0] == runs[1]
    failures = sum(status != 200 for status in runs[0])
    assert 6 <= failures <= 30


async def _raw_write(api: Api, method: str, body: dict) -> bytes:
    """Send one write on a fresh connection; return every byte the server sent before EOF."""
    url = yarl.URL(api.emu.base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    payload = json.dumps(body).encode()
    writer.write(
        f"{method} /api/product-processes HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Cookie: user={DEMO_TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
    )
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        writer.close()


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_drop_commits_the_write_then_closes_without_answer(emulator, demo_dataset, http,
                                                                 method):
    api = await _started(emulator, demo_dataset, http, drop_rate=1.0)
    victim = api.store.lines()[0]["id"]
    body = {"POST": _new_line(api), "PUT": {"id": victim, "description": "dropped answer"},
            "DELETE": {"id": victim}}[method]
    assert await _raw_write(api, method, body) == b""  # not a single byte of answer
    assert api.store.write_count == 1
    if method == "POST":
        found = await api.get(product_id=body["product_id"], line_number=body["line_number"])
        assert len(found.body) == 1  # created although the client never heard of it
    elif method == "PUT":
        assert api.store.line(victim)["description"] == "dropped answer"
    else:
        assert api.store.line(victim) is None


async def test_an_aiohttp_client_sees_a_dropped_post_as_server_disconnected(
    emulator, demo_dataset, http
):
    api = await _started(emulator, demo_dataset, http, drop_rate=1.0)
    body = _new_line(api)
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await api.post(body)
    found = await api.get(product_id=body["product_id"], line_number=body["line_number"])
    assert len(found.body) == 1 and api.store.write_count == 1


async def test_drop_spares_reads_and_refused_writes(emulator, demo_dataset, http):
    api = await _started(emulator, demo_dataset, http, drop_rate=1.0)
    assert (await api.get()).status == 200
    taken = api.store.lines()[0]
    refused = await api.post({"product_id": taken["product_id"],
                              "process_id": taken["process_id"],
                              "line_number": taken["line_number"]})
    assert refused.status == 400
    assert (await api.get("/products")).status == 200


async def test_a_partial_drop_rate_loses_some_answers_but_commits_all(emulator, demo_dataset,
                                                                      http):
    api = await _started(emulator, demo_dataset, http, drop_rate=0.5, fault_seed=5)
    product = api.store.products()[1]["product_id"]
    process = api.store.processes()[0]["process_id"]
    lost = 0
    for line in range(20, 40):
        body = {"product_id": product, "process_id": process, "line_number": str(line)}
        try:
            assert (await api.post(body)).status == 200
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            lost += 1
    assert 3 <= lost <= 17
    assert len((await api.get(**{"product_id": product, "line_number-gt": "19"})).body) == 20
