"""The emulator answers listings from each record's JSON text, kept as the record is stored:
the answer is the same text as encoding the records on every GET, after writes too."""

from __future__ import annotations

import json

from sync.emulator.dataset import generate_dataset
from sync.emulator.rules import PRODUCTS
from sync.emulator.store import Store


def _encoded(records: list[dict]) -> str:
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False)


def test_listing_text_is_the_records_encoded() -> None:
    store = Store()
    store.load(generate_dataset(5, 3, seed=7))
    lines = store.lines()
    first, second = lines[0], lines[4]
    everything: list[tuple[str, str]] = []
    by_product = [("product_id-in", f"{first['product_id']},{second['product_id'].upper()}")]
    for query in (everything, by_product, [("line_number-gt", "1")]):
        assert store.select_lines_json(query) == _encoded(store.select_lines(query))

    store.update_line({"id": first["id"], "description": "changed \u00e9 \"quoted\""},
                      user="tester")
    store.delete_line(second["id"])
    created = store.create_line({"product_id": first["product_id"],
                                 "process_id": first["process_id"], "line_number": "9"},
                                user="tester")
    text = store.select_lines_json(everything)
    assert text == _encoded(store.select_lines(everything))
    assert "changed \u00e9" in text and second["id"] not in text and created["id"] in text
    assert store.select_catalog_json(PRODUCTS, []) == _encoded(store.select_catalog(PRODUCTS, []))
