"""A listing's records in canonical form: the values a server sends, however it spells them,
become the values the diff compares."""

from __future__ import annotations

from decimal import Decimal

import orjson

from sync import schema
from sync.listing import Listing
from sync.validate import parse_column

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_a_listing_as_the_server_sends_it() -> None:
    raw = {"id": UUID, "product_id": UUID.upper(), "line_number": "3", "active": "InActive",
           "product_minutes": "5.00", "product_dwell_mintues": None, "product_dwell_minutes": "2",
           "edited": "2023-01-16 08:07:09", "process": "Deburring", "extra": [1]}
    records = Listing.from_wire([raw, dict(raw), {**raw, "id": "{" + UUID + "}"}])
    assert records[0] == {"id": UUID, "product_id": UUID, "line_number": 3, "active": "InActive",
                          "product_minutes": Decimal(5), "product_dwell_minutes": Decimal(2),
                          "edited": "2023-01-16 08:07:09", "process": "Deburring",
                          "extra": [1]}
    assert records[1] == records[0] and records[2] == records[0]


def test_values_that_cannot_be_keys_become_text_or_cell_errors() -> None:
    """A column of lists (an odd server, an odd cell): text on the wire, a row error in a
    sheet column that needs a uuid or a number."""
    raws = [{"id": UUID, "description": ["a"]}, {"id": UUID, "description": ["b", 1]}]
    assert [r["description"] for r in Listing.from_wire(raws)] == ["['a']", "['b', 1]"]
    cells = [["a"], ["a"], [1]]
    values, bad = parse_column(schema.DESCRIPTION, cells)
    assert values == ["['a']", "['a']", "[1]"] and not bad
    values, bad = parse_column(schema.LINE_NUMBER, cells)
    assert bad and [v.message for v in values] == [
        'line_number must be a positive whole number, got "[\'a\']"',
        'line_number must be a positive whole number, got "[\'a\']"',
        'line_number must be a positive whole number, got "[1]"']


def test_a_text_repeated_down_a_listing_is_held_once() -> None:
    """Each line of a large listing repeats its product id, process and users: one object per
    distinct text keeps the records small, and values of other kinds are left as they are."""
    body = orjson.dumps([
        {"id": f"{n:08d}-d9cb-469f-a165-70867728950e", "product_id": UUID, "process": "Cutting",
         "operation_type": "Fabrication", "line_number": n % 2 + 1, "odd": [1, True][n % 2]}
        for n in range(40)])
    records = Listing.from_wire(orjson.loads(body))
    for name in ("product_id", "process", "operation_type"):
        assert len({id(r[name]) for r in records}) == 1, name
    assert len({id(r["id"]) for r in records}) == 40
    assert [r["odd"] for r in records[:2]] == [1, True]
    assert records[0]["odd"] is not True and records[1]["odd"] is True
