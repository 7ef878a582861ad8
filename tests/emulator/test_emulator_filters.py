"""GET filters: every operator, comparison by meaning, unknown columns, and the catalogs."""

from __future__ import annotations

import pytest
import yarl

from sync.emulator import DEMO_TOKEN, Dataset, Store, generate_dataset

from .conftest import Api


@pytest.fixture
async def lines(api: Api) -> Api:
    """Five staged lines on one new product, with values chosen to tell operators apart."""
    store = api.store
    product = store.add_product(product="Filter Test Frame", barcode="4000000000017")
    weld = next(p for p in store.processes() if p["process"] == "Welding")
    paint = next(p for p in store.processes() if p["process"] == "Painting")
    rows = [
        (1, weld, "9.5", "MIG weld seams", "Active", "2024-01-10 08:00:00"),
        (2, weld, "10", "TIG weld 4 tabs", "Active", "2024-02-10 08:00:00"),
        (3, paint, "5.00", None, "InActive", "2024-03-10 08:00:00"),
        (4, paint, "0", "Wet paint RAL 9005", "Active", "2024-04-10 08:00:00"),
        (5, paint, None, "primer AND top coat", "Active", "2024-05-10 08:00:00"),
    ]
    api.ids = {}
    for line, process, minutes, text, active, edited in rows:
        record = store.add_line(product_id=product["product_id"], process_id=process["process_id"],
                                line_number=line, product_minutes=minutes, description=text,
                                active=active, edited=edited)
        api.ids[line] = record["id"]
    api.product = product["product_id"]
    return api


async def _lines_of(api: Api, **filters: str) -> list[int]:
    reply = await api.get(product_id=api.product, **filters)
    assert reply.status == 200, reply.body
    return [int(r["line_number"]) for r in reply.body]


async def test_equal_with_and_without_eq_suffix(lines: Api):
    assert await _lines_of(lines, line_number="2") == [2]
    assert await _lines_of(lines, **{"line_number-eq": "2"}) == [2]
    assert await _lines_of(lines, process="Welding") == [1, 2]


async def test_equal_compares_numbers_uuids_and_status_by_meaning(lines: Api):
    assert await _lines_of(lines, product_minutes="5") == [3]       # stored "5"
    assert await _lines_of(lines, product_minutes="5.000") == [3]
    assert await _lines_of(lines, line_number="2.0") == [2]
    assert await _lines_of(lines, active="inactive") == [3]
    upper = (await lines.get(id=lines.ids[4].upper())).body
    assert [r["id"] for r in upper] == [lines.ids[4]]
    braces = (await lines.get(**{"product_id": "{" + lines.product.upper() + "}"})).body
    assert len(braces) == 5


async def test_in_and_notin(lines: Api):
    assert await _lines_of(lines, **{"line_number-in": "1, 3,5"}) == [1, 3, 5]
    assert await _lines_of(lines, **{"line_number-notin": "1,3,5"}) == [2, 4]
    assert await _lines_of(lines, **{"line_number-in": ""}) == []
    ids = ",".join([lines.ids[4], lines.ids[2], lines.ids[4]])
    reply = await lines.get(**{"id-in": ids})  # creation order, each record once
    assert [r["id"] for r in reply.body] == [lines.ids[2], lines.ids[4]]


async def test_gt_and_lt_compare_numeric_columns_as_numbers(lines: Api):
    # As text, "10" < "9.75"; as numbers it is greater.
    assert await _lines_of(lines, **{"product_minutes-gt": "9.75"}) == [2]
    assert await _lines_of(lines, **{"product_minutes-lt": "9.75"}) == [1, 3, 4]
    assert await _lines_of(lines, **{"line_number-gt": "1", "line_number-lt": "4"}) == [2, 3]


async def test_gt_and_lt_on_timestamps(lines: Api):
    assert await _lines_of(lines, **{"edited-gt": "2024-03-10 08:00:00"}) == [4, 5]
    assert await _lines_of(lines, **{"edited-lt": "2024-02-11"}) == [1, 2]


async def test_contains_ignores_case(lines: Api):
    assert await _lines_of(lines, **{"description-contains": "WELD"}) == [1, 2]
    assert await _lines_of(lines, **{"description-contains": "and top"}) == [5]
    assert await _lines_of(lines, **{"process-contains": "aint"}) == [3, 4, 5]


async def test_isnull_and_isnotnull_with_or_without_a_value(lines: Api):
    url = yarl.URL(lines.emu.base_url + "/product-processes", encoded=True)
    for query, expected in (
        (f"product_id={lines.product}&description-isnull", [3]),
        (f"product_id={lines.product}&description-isnull=", [3]),
        (f"product_id={lines.product}&product_minutes-isnotnull=1", [1, 2, 3, 4]),
    ):
        async with lines.session.get(url.with_query(query),
                                     headers={"Cookie": f"user={DEMO_TOKEN}"}) as response:
            assert response.status == 200
            assert [int(r["line_number"]) for r in await response.json()] == expected


async def test_null_values_match_no_comparison_except_isnull(lines: Api):
    # Line 5 has no minutes: it is neither in nor not in any list, as in SQL.
    assert 5 not in await _lines_of(lines, **{"product_minutes-notin": "1"})
    assert 5 not in await _lines_of(lines, **{"product_minutes-lt": "1000"})
    assert await _lines_of(lines, **{"product_minutes-isnull": ""}) == [5]


async def test_filters_all_have_to_hold(lines: Api):
    found = await _lines_of(lines, process="Painting", active="Active",
                            **{"description-isnotnull": ""})
    assert found == [4, 5]


@pytest.mark.parametrize(("query", "words"), [
    ({"colour": "red"}, ['Unknown filter column "colour"', "product_dwell_mintues"]),
    ({"colour-in": "red"}, ['Unknown filter column "colour-in"']),
    ({"product_dwell_minutes": "5"}, ["Unknown filter column"]),  # only the vendor spelling
    ({"line_number-between": "1"}, ['Unknown filter operator "-between"']),
    ({"line_number-gt": "many"}, ["needs a number", "many"]),
    ({"product_minutes-in": "1,x"}, ["needs a number"]),
])
async def test_a_bad_filter_is_400(lines: Api, query: dict, words: list[str]):
    reply = await lines.get(**query)
    assert reply.status == 400
    for word in words:
        assert word in reply.body["error"]


@pytest.fixture(scope="module")
def big_dataset() -> Dataset:
    return generate_dataset(20_000, 5, seed=7)


async def test_product_id_in_with_500_ids_over_100000_lines(emulator, http, big_dataset):
    dataset = big_dataset
    api = Api(http, await emulator(dataset=dataset), DEMO_TOKEN)
    wanted = [p["product_id"] for p in dataset.products[1000:1500]]
    reply = await api.get(**{"product_id-in": ",".join(wanted)})
    assert reply.status == 200 and len(reply.body) == 2500
    assert [r["product_id"] for r in reply.body] == [
        line["product_id"] for line in dataset.lines if line["product_id"] in set(wanted)]


class _NoScan(dict):
    """A table's rows that refuse to be gone through one by one."""

    def values(self):
        raise AssertionError("the whole table was scanned")


def test_store_select_uses_the_index(big_dataset: Dataset):
    store = Store()
    dataset = big_dataset
    store.load(dataset)
    wanted = [p["product_id"] for p in dataset.products[:500]]
    store._lines._rows = _NoScan(store._lines._rows)
    found = store.select_lines({"product_id-in": ",".join(wanted), "line_number-lt": "3"})
    assert len(found) == 1000
    assert {(r["product_id"], r["line_number"]) for r in found} == {
        (product, number) for product in wanted for number in ("1", "2")}


# --------------------------------------------------------------------------- catalogs

async def test_products_and_processes_answer_their_columns_and_filters(api: Api):
    products = await api.get("/products")
    assert products.status == 200 and len(products.body) == 5
    assert all(set(p) == {"product_id", "product", "barcode", "active"} for p in products.body)
    processes = await api.get("/processes")
    assert len(processes.body) == 12
    assert {"process_id", "process", "barcode", "active"} <= set(processes.body[0])
    welding = await api.get("/processes", process="Welding")
    assert [p["process"] for p in welding.body] == ["Welding"]
    two = [p["product_id"] for p in products.body[:2]]
    picked = await api.get("/products", **{"product_id-in": ",".join(two).upper()})
    assert [p["product_id"] for p in picked.body] == two
    name_part = products.body[3]["product"].split()[-1].lower()
    assert (await api.get("/products", **{"product-contains": name_part})).body == [
        products.body[3]]
    barcode = products.body[2]["barcode"]
    assert (await api.get("/products", barcode=barcode)).body == [products.body[2]]
    refused = await api.get("/products", line_number="1")
    assert refused.status == 400 and "Unknown filter column" in refused.body["error"]
