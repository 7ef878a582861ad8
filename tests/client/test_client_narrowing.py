"""A listing answered over the size guard is asked for again in narrower parts, against the
emulator over loopback; the guard is lowered so that a few hundred lines are "too large"."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sync import schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN, generate_dataset
from sync.errors import ConnectionProblemError

ID, PRODUCT_ID = schema.ID.name, schema.PRODUCT_ID.name
#: About 60 lines of JSON: every listing below is several times larger.
GUARD = 30_000


def client_for(emu: Any, **options: Any) -> FlowtracClient:
    connection = Connection.from_options(base_url=emu.base_url, token=DEMO_TOKEN)
    return FlowtracClient(connection, backoff_base_s=0.01, max_listing_bytes=GUARD, **options)


def ids(records: list[dict[str, Any]]) -> list[str]:
    return sorted(r[ID] for r in records)


async def test_a_whole_listing_too_large_is_fetched_in_id_ranges(emulator, caplog):
    emu = await emulator(dataset=generate_dataset(40, 5))
    expected = ids(emu.store.lines())
    with caplog.at_level(logging.INFO, logger="sync.client"):
        async with client_for(emu) as client:
            records = await client.list_lines()
    assert ids(records) == expected and len(records) == 200
    assert client.stats.narrowed >= 3
    assert "asked for again in 3 parts" in caplog.text


async def test_a_batch_of_products_too_large_is_halved(emulator):
    emu = await emulator(dataset=generate_dataset(30, 4))
    products = [p[PRODUCT_ID] for p in emu.store.products()]
    async with client_for(emu, listing_batch=30) as client:
        records = await client.list_lines_for_products(products[:24])
    wanted = set(products[:24])
    assert ids(records) == ids([r for r in emu.store.lines() if r[PRODUCT_ID] in wanted])
    # 96 lines (about 45 KB) in one batch: too large once, then two halves of 12 products.
    assert client.stats.narrowed == 1 and client.stats.requests == 3


async def test_user_filters_hold_in_every_narrower_part(emulator):
    emu = await emulator(dataset=generate_dataset(40, 5))
    async with client_for(emu) as client:
        records = await client.list_lines([("line_number-gt", "2")])
    assert ids(records) == ids([r for r in emu.store.lines() if int(r["line_number"]) > 2])
    assert client.stats.narrowed >= 1


async def test_one_product_with_too_many_lines_is_split_by_id(emulator):
    emu = await emulator(dataset=generate_dataset(1, 150))
    product = emu.store.products()[0][PRODUCT_ID]
    async with client_for(emu) as client:
        records = await client.list_lines_for_products([product])
    assert ids(records) == ids(emu.store.lines()) and len(records) == 150


async def test_a_single_record_over_the_guard_still_stops_with_a_sentence(emulator):
    emu = await emulator(dataset=generate_dataset(1, 2))
    async with client_for(emu, max_id_splits=3) as client:
        client.max_listing_bytes = 100
        with pytest.raises(ConnectionProblemError,
                           match="more than 100 bytes, even asked for in parts; narrow"):
            await client.list_lines()
        assert client.stats.narrowed == 3


async def test_the_emulator_takes_a_client_that_stops_reading_mid_answer_quietly(
    emulator, caplog
):
    # More lines than one encoded block: the client stops reading while the emulator still
    # has blocks to send.
    emu = await emulator(dataset=generate_dataset(1_100, 5))
    with caplog.at_level(logging.WARNING):
        async with client_for(emu) as client:
            client.max_listing_bytes = 1_000_000
            records = await client.list_lines()
    assert len(records) == 5_500 and client.stats.narrowed >= 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
