"""The store on its own: staging helpers, persistence across restarts, data sets and seeds."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime

import pytest

from sync.emulator import (
    DEMO_BADGE,
    DEMO_PIN,
    DEMO_TOKEN,
    EmulatorConfig,
    Store,
    generate_dataset,
    load_seed,
)
from sync.errors import EmulatorRefusalError, InputError
from sync.schema import FILTERABLE

from .conftest import Api

# --------------------------------------------------------------------------- staging


def test_staging_helpers_build_records_as_get_shows_them():
    store = Store()
    product = store.add_product(product="Bracket", barcode="123")
    assert uuid.UUID(product["product_id"]) and product["active"] == "Active"
    process = store.add_process({"process": "Welding", "operation_type": "Fabrication"})
    line = store.add_line(product_id=product["product_id"], process_id=process["process_id"],
                          line_number=1, product_dwell_minutes=7.5)
    assert set(line) == FILTERABLE
    assert line["process"] == "Welding" and line["operation_type"] == "Fabrication"
    assert line["product_dwell_mintues"] == "7.5" and line["line_number"] == "1"
    assert line["created_by"] == "seed"
    assert store.lines() == [line] and store.products() == [product]
    assert store.write_count == 0  # staging is not an API write


def test_add_line_can_stage_ids_stamps_and_duplicate_lines():
    store = Store()
    product = store.add_product(product="Frame")["product_id"]
    process = store.add_process(process="Cutting")["process_id"]
    fixed = str(uuid.uuid4())
    first = store.add_line(id=fixed.upper(), product_id=product, process_id=process,
                           line_number="2", edited="2021-03-04 05:06:07", edited_by="x")
    second = store.add_line(product_id=product, process_id=process, line_number="2")
    assert first["id"] == fixed and first["edited"] == "2021-03-04 05:06:07"
    assert second["line_number"] == first["line_number"]
    with pytest.raises(EmulatorRefusalError, match="already exists"):
        store.add_line(id=fixed, product_id=product, process_id=process, line_number=3)
    with pytest.raises(EmulatorRefusalError, match="No product with id"):
        store.add_line(product_id=str(uuid.uuid4()), process_id=process, line_number=3)


def test_update_line_stamps_edited_from_the_clock():
    times = iter(["2024-01-01 10:00:00", "2024-01-01 10:05:00"])
    store = Store(clock=lambda: datetime.fromisoformat(next(times)))
    product = store.add_product(product="Frame")["product_id"]
    process = store.add_process(process="Cutting")["process_id"]
    line = store.create_line({"product_id": product, "process_id": process, "line_number": 1},
                             user="badge 1")
    assert line["created"] == line["edited"] == "2024-01-01 10:00:00"
    changed = store.update_line({"id": line["id"], "active": "InActive"}, user="badge 2")
    assert changed["edited"] == "2024-01-01 10:05:00" and changed["edited_by"] == "badge 2"
    assert changed["created"] == "2024-01-01 10:00:00" and changed["created_by"] == "badge 1"


def test_a_catalog_id_cannot_be_added_twice():
    store = Store()
    product = store.add_product(product="Frame")
    with pytest.raises(EmulatorRefusalError, match="already exists"):
        store.add_product(product_id=product["product_id"], product="Other")
    with pytest.raises(EmulatorRefusalError, match="product's name"):
        store.add_product(barcode="1")


# --------------------------------------------------------------------------- persistence

def test_store_writes_through_to_sqlite(tmp_path):
    db = str(tmp_path / "data.sqlite")
    store = Store(db)
    store.load(generate_dataset(3, 2))
    gone = store.lines()[0]["id"]
    store.delete_line(gone)
    changed = store.update_line({"id": store.lines()[0]["id"], "description": "kept"}, user="u")
    store.close()
    again = Store(db)
    assert again.line(gone) is None
    assert again.line(changed["id"]) == changed
    assert len(again.lines()) == 5 and len(again.products()) == 3
    again.close()


async def test_restart_with_db_path_keeps_every_write(emulator, demo_dataset, http, tmp_path):
    config = EmulatorConfig(db_path=str(tmp_path / "emulator.sqlite"))
    emu = await emulator(config, demo_dataset)
    api = Api(http, emu, DEMO_TOKEN)
    first = api.store.lines()[0]
    product = first["product_id"]
    created = await api.post({"product_id": product, "process_id": first["process_id"],
                              "line_number": "9", "description": "made before the restart"})
    await api.put({"id": first["id"], "product_minutes": "42"})
    await api.delete({"id": api.store.lines()[1]["id"]})
    before = api.store.lines()
    async with http.post(f"{emu.base_url}/device-login/",
                         data={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as response:
        session_token = response.cookies["user"].value
    old_store = emu.store

    await emu.restart()

    assert emu.store is not old_store  # read back from the database, not kept in memory
    assert emu.store.lines() == before
    reply = await api.get(id=created.body["id"])
    assert reply.status == 200 and reply.body == [created.body]
    assert (await Api(http, emu, session_token).get()).status == 401  # sessions are lost
    # The restarted server keeps taking writes into the same database.
    assert (await api.put({"id": first["id"], "description": "after"})).status == 200
    await emu.restart()
    assert emu.store.line(first["id"])["description"] == "after"


async def test_a_database_wins_over_the_dataset_at_start(emulator, tmp_path):
    config = EmulatorConfig(db_path=str(tmp_path / "emulator.sqlite"))
    first = await emulator(config, generate_dataset(2, 2, seed=1))
    ids = [r["id"] for r in first.store.lines()]
    await first.restart()  # the same port and file
    assert [r["id"] for r in first.store.lines()] == ids
    await first.stop()
    second = await emulator(config, generate_dataset(9, 9, seed=2))
    assert [r["id"] for r in second.store.lines()] == ids


async def test_restart_without_db_keeps_the_store(emulator, demo_dataset):
    emu = await emulator(dataset=demo_dataset)
    store, port = emu.store, emu.port
    await emu.restart()
    assert emu.store is store and emu.port == port and len(store.lines()) == 15


# --------------------------------------------------------------------------- generated data

def test_generated_data_is_realistic_and_deterministic():
    data = generate_dataset(5, 3)
    assert data.summary() == "5 products, 12 processes, 15 lines"
    assert data == generate_dataset(5, 3, seed=1)
    assert data != generate_dataset(5, 3, seed=2)
    names = [p["process"] for p in data.processes]
    assert {"Cutting", "Welding", "Painting", "Assembly", "Packaging"} <= set(names)
    assert len(set(names)) == 12
    rng = random.Random(1)
    assert data.processes[0]["process_id"] == str(uuid.UUID(int=rng.getrandbits(128), version=4))
    processes = {p["process_id"]: p["process"] for p in data.processes}
    for product in data.products:
        assert product["product"] and len(product["barcode"]) == 13
        lines = [r for r in data.lines if r["product_id"] == product["product_id"]]
        assert [r["line_number"] for r in lines] == ["1", "2", "3"]
    for line in data.lines:
        assert set(line) == FILTERABLE
        assert uuid.UUID(line["id"]).version == 4
        assert line["process"] == processes[line["process_id"]]
        assert float(line["product_minutes"]) >= 0
        assert line["active"] in ("Active", "InActive")
    assert len({r["id"] for r in data.lines}) == 15


def test_more_lines_than_processes_repeat_processes():
    data = generate_dataset(2, 15, seed=4)
    assert [r["line_number"] for r in data.lines[:15]] == [str(n) for n in range(1, 16)]


def test_generated_data_loads_into_a_store_and_serves_filters():
    store = Store()
    data = generate_dataset(4, 3)
    store.load(data)
    assert store.lines() == data.lines
    product = data.products[2]["product_id"]
    assert len(store.select_lines({"product_id": product})) == 3


# --------------------------------------------------------------------------- seed files

def test_json_seed_with_products_processes_and_lines(tmp_path):
    product, process, orphan_product = (str(uuid.uuid4()) for _ in range(3))
    seed = {
        "products": [{"product_id": product, "product": "Bracket", "barcode": "1"}],
        "processes": [{"process_id": process, "process": "Welding"}],
        "lines": [
            {"product_id": product, "process_id": process, "line_number": 1,
             "product_dwell_minutes": "5"},
            {"product_id": orphan_product, "product": "Named In Line", "process_id": process,
             "line_number": "2", "product_dwell_mintues": 3, "process": "Welding"},
        ],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    data = load_seed(path)
    assert data.summary() == "2 products, 1 processes, 2 lines"
    assert [p["product"] for p in data.products] == ["Bracket", "Named In Line"]
    assert [r["product_dwell_mintues"] for r in data.lines] == ["5", "3"]
    assert all(uuid.UUID(r["id"]) for r in data.lines)


def test_csv_seed_with_sheet_style_headers(tmp_path):
    product, process = str(uuid.uuid4()), str(uuid.uuid4())
    text = (
        "Product ID;Process;Process ID;Line Number;Product-Dwell-Minutes;Notes\n"
        f"{product.upper()};Cutting;{process};1;7;ignored\n"
        "\n"
        f"{product};Cutting;{process};2;;\n"
    )
    path = tmp_path / "seed.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    data = load_seed(path)
    assert [p["process"] for p in data.processes] == ["Cutting"]
    assert [(r["product_id"], r["line_number"], r["product_dwell_mintues"])
            for r in data.lines] == [(product, "1", "7"), (product, "2", None)]


@pytest.mark.parametrize(("name", "content", "words"), [
    ("bad.json", "{not json", ["bad.json is not valid JSON"]),
    ("bad.json", '{"lines": 5}', ["must hold a JSON object"]),
    ("bad.json", '[{"product_id": "%s", "process_id": "%s", "line_number": 0}]',
     ["bad.json lines[1]: line_number must be a positive whole number"]),
    ("bad.csv", "product_id,process_id,line_number\n%s,%s,1\n%s,%s,x\n",
     ["bad.csv row 3: line_number"]),
    ("bad.csv", "", ["bad.csv is empty"]),
])
def test_a_bad_seed_file_names_the_place_at_fault(tmp_path, name, content, words):
    ids = tuple(str(uuid.uuid4()) for _ in range(content.count("%s")))
    path = tmp_path / name
    path.write_text(content % ids if ids else content)
    with pytest.raises(InputError) as caught:
        load_seed(path)
    for word in words:
        assert word in str(caught.value)


def test_a_missing_seed_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="Cannot read the seed file"):
        load_seed(tmp_path / "absent.json")


def test_lookups_by_name_follow_every_change():
    """An ``eq``/``in`` filter on a column without a standing index answers from a lookup
    built on first use; every write must show in the next answer."""
    store = Store()
    welding = store.add_process(process="Welding")
    cutting = store.add_process(process="Cutting")

    def named(*names: str) -> list[str]:
        query = [("process-in", ",".join(names))]
        return [r["process_id"] for r in store.select_catalog("processes", query)]

    assert named("Welding", "Cutting") == [welding["process_id"], cutting["process_id"]]
    line = store.add_line(product_id=store.add_product(product="Bracket")["product_id"],
                          process_id=welding["process_id"], line_number=1)
    painting = store.add_process(process="Painting")
    assert named("Painting", "Nothing") == [painting["process_id"]]
    by_process = [("process_id", welding["process_id"].upper())]
    assert [r["id"] for r in store.select_lines(by_process)] == [line["id"]]
    store.delete_line(line["id"])
    assert store.select_lines(by_process) == []
