"""The emulator's listing JSON, encoded a block of stored rows at a time, holds the same
records as the store's own selection, after writes too."""

from __future__ import annotations

import json

from sync.emulator.dataset import generate_dataset
from sync.emulator.rules import PRODUCTS
from sync.emulator.store import Store


def _encoded(records: list[dict]) -> list[dict]:
    # What a client reads back: the records themselves, in the same order.
    return json.loads(json.dumps(records))


def test_listing_text_is_the_records_encoded() -> None:
    store = Store()
    store.load(generate_dataset(5, 3, seed=7))
    lines = store.lines()
    first, second = lines[0], lines[4]
    everything: list[tuple[str, str]] = []
    by_product = [("product_id-in", f"{first['product_id']},{second['product_id'].upper()}")]
    for query in (everything, by_product, [("line_number-gt", "1")]):
        assert json.loads(store.select_lines_json(query)) == _encoded(store.select_lines(query))

    store.update_line({"id": first["id"], "description": "changed \u00e9 \"quoted\""},
                      user="tester")
    store.delete_line(second["id"])
    created = store.create_line({"product_id": first["product_id"],
                                 "process_id": first["process_id"], "line_number": "9"},
                                user="tester")
    text = store.select_lines_json(everything).decode()
    assert json.loads(text) == _encoded(store.select_lines(everything))
    assert "changed \u00e9" in text and second["id"] not in text and created["id"] in text
    products = json.loads(store.select_catalog_json(PRODUCTS, []))
    assert products == _encoded(store.select_catalog(PRODUCTS, []))
