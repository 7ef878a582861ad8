"""Catalog lookups over loopback: batching, the loose fallback, caching, 414, and speed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sheetkit import token_connection, write_sheet

from sync import schema
from sync.client import FlowtracClient
from sync.emulator import Dataset
from sync.errors import ServerError
from sync.load import load_sheet
from sync.model import SheetRow, ValidatedSheet
from sync.references import LOOKUP_CHARS, LOOSE_LOOKUPS_MAX, CatalogLookup, check_references

PRODUCT = schema.REFERENCE_BY_NAME["product"]
PROCESS = schema.REFERENCE_BY_NAME["process"]


class Recorder:
    """Wraps a catalog read and keeps the filters of every request it made."""

    def __init__(self, read: Any, refuse_over: int | None = None):
        self._read = read
        self._refuse_over = refuse_over
        self.calls: list[list[tuple[str, str]] | None] = []

    async def __call__(self, filters: list[tuple[str, str]] | None) -> list[dict[str, Any]]:
        self.calls.append(filters)
        if self._refuse_over and filters and filters[0][0].endswith("-in") and \
                filters[0][1].count(",") + 1 > self._refuse_over:
            raise ServerError("Request-URI Too Long (HTTP 414)", 414)
        return await self._read(filters)


def uid(n: int, kind: int = 0) -> str:
    return f"{n:08x}-{kind:04x}-4000-8000-000000000000"


def big_catalog(products: int, processes: int = 12) -> Dataset:
    dataset = Dataset()
    dataset.products = [{"product_id": uid(n), "product": f"Steel Part {n:05d}",
                         "barcode": f"40{n:011d}", "active": "Active"} for n in range(products)]
    dataset.processes = [{"process_id": uid(n, 1), "process": f"Process {n}",
                          "barcode": f"PRC-{n:04d}", "active": "Active"}
                         for n in range(processes)]
    return dataset


async def test_names_travel_in_bounded_batches_and_are_cached(emulator):
    emu = await emulator(dataset=big_catalog(450))
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products)
        lookup = CatalogLookup(PRODUCT, read, batch=200)
        names = [f"Steel Part {n:05d}" for n in range(450)]
        found = await lookup.resolve(names + names[:10])      # repeats are asked once
        assert {name: [r["product_id"] for r in hits] for name, hits in found.items()} == {
            f"Steel Part {n:05d}": [uid(n)] for n in range(450)}
        sizes = sorted(len(f[0][1].split(",")) for f in read.calls if f)
        assert [f[0][0] for f in read.calls if f] == ["product-in"] * 3
        assert sizes == [50, 200, 200]
        assert all(len(f[0][1]) <= LOOKUP_CHARS for f in read.calls if f)

        again = await lookup.resolve(names[:5])
        assert len(read.calls) == 3 and list(again) == names[:5]


async def test_long_names_make_smaller_batches(emulator):
    emu = await emulator()
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products)
        names = [f"{n:03d} " + "Überlänge " * 20 for n in range(40)]
        await CatalogLookup(PRODUCT, read, batch=200).resolve([n.strip() for n in names])
        assert len(read.calls) >= 4       # names and barcodes asked, in several batches each
        assert all(len(f[0][1]) < LOOKUP_CHARS for f in read.calls if f)


async def test_a_batch_refused_as_too_long_is_split(emulator):
    emu = await emulator(dataset=big_catalog(40))
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products, refuse_over=10)
        names = [f"Steel Part {n:05d}" for n in range(40)]
        found = await CatalogLookup(PRODUCT, read, batch=200).resolve(names)
        assert all(len(found[name]) == 1 for name in names)
        accepted = [f for f in read.calls if f and f[0][1].count(",") < 10]
        assert sum(f[0][1].count(",") + 1 for f in accepted) == 40


async def test_few_leftovers_are_looked_up_one_by_one(emulator):
    emu = await emulator(dataset=big_catalog(5))
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products)
        found = await CatalogLookup(PRODUCT, read).resolve(["steel part 00003", "Nothing"])
        assert [r["product_id"] for r in found["steel part 00003"]] == [uid(3)]
        assert found["Nothing"] == []
        assert sorted(f[0][0] for f in read.calls if f) == [
            "barcode-contains", "barcode-contains", "barcode-in", "product-contains",
            "product-contains", "product-in"]


async def test_many_leftovers_read_the_catalog_once(emulator):
    emu = await emulator(dataset=big_catalog(LOOSE_LOOKUPS_MAX + 30))
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products)
        names = [f"STEEL PART {n:05d}" for n in range(LOOSE_LOOKUPS_MAX + 30)]
        found = await CatalogLookup(PRODUCT, read).resolve(names)
        assert [r["product_id"] for name in names for r in found[name]] == [
            uid(n) for n in range(LOOSE_LOOKUPS_MAX + 30)]
        assert read.calls.count(None) == 1 and len(read.calls) == 3


async def test_a_name_holding_a_comma_is_asked_on_its_own(emulator):
    emu = await emulator()
    wanted = emu.store.add_product(product="Bolt, M6, zinc")["product_id"]
    emu.store.add_product(product="Bolt")
    async with FlowtracClient(token_connection(emu.base_url)) as client:
        read = Recorder(client.list_products)
        found = await CatalogLookup(PRODUCT, read).resolve(["Bolt, M6, zinc", "Bolt"])
        assert [r["product_id"] for r in found["Bolt, M6, zinc"]] == [wanted]
        assert [("product", "Bolt, M6, zinc")] in read.calls
        assert [("product-in", "Bolt")] in read.calls


def test_100k_rows_naming_20k_products_all_resolve(emulator_thread, tmp_path: Path):
    """Every row of a large sheet gets its ids; how fast is ``make bench``'s to measure."""
    products, rows_count = 20_000, 100_000
    emu = emulator_thread(dataset=big_catalog(products))
    header = write_sheet(tmp_path / "h.csv", [{"product": "x", "process": "y",
                                               "line_number": 1}],
                         (PRODUCT.field, PROCESS.field, schema.LINE_NUMBER))
    sheet = load_sheet(header)
    rows = [SheetRow(i, i + 2, {"product": f"Steel Part {i % products:05d}",
                                "process": f"Process {i % 12}",
                                "line_number": i // products + 1})
            for i in range(rows_count)]
    validated = ValidatedSheet(sheet, rows, frozenset(sheet.fields), schema.DEFAULT_KEY)

    async def run() -> list[str]:
        async with FlowtracClient(token_connection(emu.base_url)) as client:
            await client.login()
            return await check_references(validated, client)

    warnings = asyncio.run(run())
    assert warnings == [] and all(row.valid for row in rows)
    assert rows[20_001].values["product_id"] == uid(1)
    assert rows[20_001].values["process_id"] == uid(20_001 % 12, 1)
    assert "product_id" in validated.present and "process_id" in validated.present
    assert rows[-1].values["product_id"] == uid((rows_count - 1) % products)
