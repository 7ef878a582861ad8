"""The emulator at scale: lines kept compactly, listings streamed a block at a time."""

from __future__ import annotations

import json
import time
import tracemalloc

from sync.emulator import DEMO_TOKEN, EmulatorConfig, Store, generate_dataset
from sync.emulator.rules import PRODUCTS
from sync.emulator.store import _JSON_BLOCK

from .conftest import Api


def test_a_loaded_line_costs_a_few_hundred_bytes() -> None:
    # A million lines must fit well under 1 GB; records kept as dicts with their JSON text
    # beside them took over 2 KB a line.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        store = Store()
        store.load(generate_dataset(2_000, 5))
        per_line = (tracemalloc.get_traced_memory()[0] - before) / 10_000
    finally:
        tracemalloc.stop()
    assert len(store.lines()) == 10_000
    assert per_line < 700, f"{per_line:.0f} bytes a line"


def test_a_loaded_data_set_reads_back_as_its_records() -> None:
    dataset = generate_dataset(30, 4, seed=3)
    store = Store()
    store.load(dataset)
    assert store.lines() == list(dataset.lines) and len(dataset.lines) == 120
    first = dataset.lines[0]
    assert store.line(first["id"].upper()) == first
    assert store.select_lines({"product_id": first["product_id"]}) == dataset.lines[:4]


async def test_a_listing_longer_than_a_block_is_streamed_whole_in_order(
    emulator, http
) -> None:
    lines = 2 * _JSON_BLOCK + 7
    api = Api(http, await emulator(dataset=generate_dataset(lines, 1)), DEMO_TOKEN)
    async with http.get(api.emu.base_url + "/product-processes",
                        headers={"Cookie": f"user={DEMO_TOKEN}"}) as response:
        assert response.status == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.content_type == "application/json"
        body = await response.json()
    assert body == api.store.lines() and len(body) == lines
    ids = [r["id"] for r in api.store.lines()[_JSON_BLOCK - 1:_JSON_BLOCK + 1]]
    picked = await api.get(**{"id-in": ",".join(ids)})
    assert [r["id"] for r in picked.body] == ids


async def test_a_streamed_listing_still_waits_out_the_latency_and_refuses_bad_filters(
    emulator, http
) -> None:
    config = EmulatorConfig(latency_ms=150)
    api = Api(http, await emulator(config=config, dataset=generate_dataset(3, 2)), DEMO_TOKEN)
    started = time.perf_counter()
    reply = await api.get()
    assert time.perf_counter() - started >= 0.14 and len(reply.body) == 6
    refused = await api.get(**{"line_number-gt": "many"})
    assert refused.status == 400 and "needs a number" in refused.body["error"]
    empty = await api.get(**{"line_number-gt": "99"})
    assert empty.status == 200 and empty.body == []


def test_the_listing_json_follows_writes_and_keeps_text_as_it_is() -> None:
    store = Store()
    store.load(generate_dataset(5, 3, seed=7))
    first, second = store.lines()[0], store.lines()[4]
    store.update_line({"id": first["id"], "description": "changed \u00e9 \"quoted\""},
                      user="tester")
    store.delete_line(second["id"])
    created = store.create_line({"product_id": first["product_id"],
                                 "process_id": first["process_id"], "line_number": "9"},
                                user="tester")
    body = store.select_lines_json([])
    assert json.loads(body) == store.lines() and len(store.lines()) == 15
    assert "changed \u00e9 \\\"quoted\\\"".encode() in body     # UTF-8, not \u escapes
    assert second["id"].encode() not in body and created["id"].encode() in body
    by_product = [("product_id-in", f"{first['product_id'].upper()}")]
    assert json.loads(store.select_lines_json(by_product)) == store.select_lines(by_product)
    assert json.loads(store.select_catalog_json(PRODUCTS, [])) == store.products()
