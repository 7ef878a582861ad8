"""The shortcuts taken for speed give exactly what the plain rules give.

``schema.record_from_wire`` / ``records_from_wire`` (a 100,000-line listing goes through them)
take canonical uuids and timestamps as they are, convert each distinct value of a column once,
and work column by column; validation does the same for sheet cells.  Each is compared here
with the plain rule, value by value and type by type, on awkward values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync import schema
from sync.validate import parse_cell, parse_column

UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
AWKWARD_TEXT = [
    UUID, UUID.upper(), "{" + UUID + "}", UUID.replace("-", ""), f" {UUID}", f"{UUID}\n{UUID}",
    "2023-01-16 08:07:09", "2023-01-16T08:07:09", "2023-01-16 08:07:09.000000",
    "2023-02-30 08:07:09", " 2023-01-16 08:07:09 ", "2023-01-16 08:07:09\n2023-01-16 08:07:09",
    "1", "1.0", "01", "1.5", "0", "-1", "5.00", "7,5", "1e3", "nan", "", " ", "  x ", "'=SUM(A1)",
    "'plain", "Active", "active", "InActive", "in active", "Bogus", "a\x00b", "Deburr edges",
    "\u00a05", "x" * 4100,
]
VALUES = st.one_of(st.sampled_from(AWKWARD_TEXT), st.text(max_size=12), st.none(),
                   st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 2.5, float("nan")]),
                   st.lists(st.integers(0, 2), max_size=2))     # JSON can hold a list
WIRE_KEYS = sorted({name for f in schema.FIELDS
                    for name in (f.name, *f.wire_names, f.filter_name) if name})
KEYS = st.sampled_from([*WIRE_KEYS, "unknown_column", "barcode"])


def plain_record_from_wire(raw: dict[str, Any]) -> dict[str, Any]:
    """The rule as written: each value through ``Field.from_wire``; the first non-null of two
    spellings of one field wins; unknown keys kept."""
    by_wire = {name: f for f in schema.FIELDS
               for name in (f.name, *f.wire_names, f.filter_name) if name}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        f = by_wire.get(key)
        if f is None:
            out[key] = value
        elif out.get(f.name) is None:
            out[f.name] = f.from_wire(value)
    return out


def typed(record: dict[str, Any]) -> list[tuple[str, type, Any]]:
    """Keys in order, with each value's type: 1 == 1.0 == True must not pass for equal."""
    return [(k, type(v), repr(v)) for k, v in record.items()]


def typed_fields(record: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """The same in key order: ``records_from_wire`` converts in place, so a renamed key (the
    dwell field's) comes last."""
    return sorted((k, type(v).__name__, repr(v)) for k, v in record.items())


RECORDS = st.dictionaries(KEYS, VALUES, max_size=8)


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_record_from_wire_equals_the_plain_rule(raw: dict[str, Any]) -> None:
    assert typed(schema.record_from_wire(raw)) == typed(plain_record_from_wire(raw))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(RECORDS, st.builds(lambda v: {k: v for k in WIRE_KEYS[:6]}, VALUES)),
                max_size=12))
def test_records_from_wire_equals_one_by_one(raws: list[dict[str, Any]]) -> None:
    expected = [typed_fields(plain_record_from_wire(r)) for r in raws]
    assert [typed_fields(r) for r in schema.records_from_wire(raws)] == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(AWKWARD_TEXT), min_size=2, max_size=30))
def test_a_listing_column_of_texts_converts_as_each_value_would(values: list[str]) -> None:
    """Same keys in every record: the column-at-once path (joined uuids and timestamps)."""
    raws = [{"id": v, "edited": v, "line_number": v, "product_minutes": v, "description": v,
             "active": v} for v in values]
    expected = [typed_fields(plain_record_from_wire(r)) for r in raws]
    assert [typed_fields(r) for r in schema.records_from_wire(raws)] == expected


def test_values_that_cannot_be_keys_are_converted_one_by_one() -> None:
    """A column of lists (an odd server, an odd cell) cannot be read through a table of
    distinct values: it is converted value by value, as the plain rule does."""
    raws = [{"id": UUID, "description": ["a"]}, {"id": UUID, "description": ["b", 1]}]
    expected = [typed_fields(plain_record_from_wire(r)) for r in raws]
    assert [typed_fields(r) for r in schema.records_from_wire(raws)] == expected
    cells = [["a"], ["a"], [1]]
    for field in (schema.ID, schema.LINE_NUMBER, schema.DESCRIPTION):
        values, bad = parse_column(field, cells)
        assert [_shown(v) for v in values] == [_shown(parse_cell(field, c)) for c in cells]


def test_a_listing_as_the_server_sends_it() -> None:
    raw = {"id": UUID, "product_id": UUID.upper(), "line_number": "3", "active": "InActive",
           "product_minutes": "5.00", "product_dwell_mintues": None, "product_dwell_minutes": "2",
           "edited": "2023-01-16 08:07:09", "process": "Deburring", "extra": [1]}
    records = schema.records_from_wire([raw, dict(raw), {**raw, "id": "{" + UUID + "}"}])
    assert records[0] == {"id": UUID, "product_id": UUID, "line_number": 3, "active": "InActive",
                          "product_minutes": Decimal(5), "product_dwell_minutes": Decimal(2),
                          "edited": "2023-01-16 08:07:09", "process": "Deburring",
                          "extra": [1]}
    assert records[1] == records[0] and records[2] == records[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(AWKWARD_TEXT), st.none(), st.floats(0, 10)),
                max_size=20))
def test_validation_parses_each_column_as_each_cell_would(cells: list[Any]) -> None:
    for field in (schema.ID, schema.EDITED, schema.LINE_NUMBER, schema.BY_NAME["description"]):
        values, _bad = parse_column(field, cells)
        one_by_one = [parse_cell(field, cell) for cell in cells]
        assert [_shown(v) for v in values] == [_shown(v) for v in one_by_one]


def _shown(value: Any) -> tuple[type, str]:
    return type(value), getattr(value, "message", None) or repr(value)


NEAR_MISSES = st.sampled_from([
    UUID, UUID.upper(), UUID[:-1] + "g", UUID.replace("-", "", 1) + "0", "-" + UUID[1:],
    UUID[:8] + "a" + UUID[9:], UUID + "\n" + UUID, "2023-01-16 08:07:09", "2023-01-16 08:07:0",
    "2023-01-16T08:07:09", "2023-01-16 08-07:09", "2023:01-16 08:07:09", "20230-1-16 08:07:09",
    "2023-01-16 08:07:09\n2023-01-16 08:07:09", "", "é" * 19, "0" * 36, "-" * 36, " " * 19])


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(NEAR_MISSES, st.text(alphabet="0123456789abcdef-: \nT", max_size=40)),
                max_size=6))
def test_a_whole_column_is_canonical_exactly_when_each_value_is(values: list[str]) -> None:
    for field in (schema.ID, schema.EDITED):
        assert field.all_canonical(values) == (bool(values) and all(
            field.is_canonical(v) for v in values))
