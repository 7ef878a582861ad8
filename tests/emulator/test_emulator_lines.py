"""The product-process rules of docs/flowtrac-api.md, over HTTP: POST, PUT, DELETE and GET."""

from __future__ import annotations

import re
import uuid

import pytest

from sync.emulator import DEMO_TOKEN, EmulatorConfig
from sync.schema import FILTERABLE

from .conftest import Api, first_free_line

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _ids(api: Api) -> tuple[str, str, str]:
    """A product, a process, and a line number that product does not use yet."""
    product = api.store.products()[0]["product_id"]
    process = api.store.processes()[0]["process_id"]
    return product, process, str(first_free_line(api.store, product))


def _error(reply, status: int, *words: str) -> str:
    assert reply.status == status, reply.body
    assert set(reply.body) == {"error"}
    message = reply.body["error"]
    for word in words:
        assert word in message, message
    return message


# --------------------------------------------------------------------------- GET shape

async def test_get_returns_every_documented_column_as_strings(api: Api):
    reply = await api.get()
    assert reply.status == 200
    assert len(reply.body) == 15
    processes = {p["process_id"]: p["process"] for p in api.store.processes()}
    for record in reply.body:
        assert set(record) == FILTERABLE  # dwell spelled product_dwell_mintues, as documented
        assert all(v is None or isinstance(v, str) for v in record.values())
        assert record["process"] == processes[record["process_id"]]
        assert TIMESTAMP.match(record["created"]) and TIMESTAMP.match(record["edited"])
    assert reply.body == api.store.lines()


async def test_trailing_slash_is_the_same_endpoint(api: Api):
    assert (await api.get("/product-processes/")).body == (await api.get()).body


# --------------------------------------------------------------------------- POST

async def test_post_creates_the_record_and_answers_it_as_get_shows_it(api: Api):
    product, process, line = _ids(api)
    reply = await api.post({"product_id": product, "process_id": process, "line_number": line})
    assert reply.status == 200
    record = reply.body
    assert uuid.UUID(record["id"]).version == 4
    assert (record["product_id"], record["process_id"], record["line_number"]) == (
        product, process, line)
    assert record["active"] == "Active"  # the default
    assert record["process"] == api.store.processes()[0]["process"]
    assert record["operation_type"] == api.store.processes()[0]["operation_type"]
    assert record["description"] is None and record["product_minutes"] is None
    assert (record["created_by"], record["created_with"]) == ("api", "API")
    assert record["edited"] == record["created"] and TIMESTAMP.match(record["created"])
    assert (await api.get(id=record["id"])).body == [record]
    assert api.store.write_count == 1 and api.store.writes_by_method["POST"] == 1


async def test_post_accepts_numbers_and_strings_and_stores_strings(api: Api):
    product, process, line = _ids(api)
    reply = await api.post({
        "product_id": product.upper(), "process_id": "{" + process + "}",
        "line_number": int(line), "product_minutes": 7.5, "product_dwell_minutes": "0",
        "description": "Weld both sides", "active": "InActive",
    })
    assert reply.status == 200, reply.body
    record = api.store.line(reply.body["id"])
    assert record["product_id"] == product and record["process_id"] == process
    assert record["line_number"] == line
    assert record["product_minutes"] == "7.5"
    assert record["product_dwell_mintues"] == "0"
    assert record["description"] == "Weld both sides"
    assert record["active"] == "InActive"


@pytest.mark.parametrize("spelling", ["product_dwell_minutes", "product_dwell_mintues"])
async def test_post_accepts_both_dwell_spellings_and_get_uses_mintues(api: Api, spelling: str):
    product, process, line = _ids(api)
    body = {"product_id": product, "process_id": process, "line_number": line, spelling: "12.5"}
    reply = await api.post(body)
    assert reply.status == 200, reply.body
    assert reply.body["product_dwell_mintues"] == "12.5"
    assert "product_dwell_minutes" not in reply.body


async def test_both_dwell_spellings_must_agree(api: Api):
    product, process, line = _ids(api)
    body = {"product_id": product, "process_id": process, "line_number": line}
    same = await api.post({**body, "product_dwell_minutes": "5", "product_dwell_mintues": 5.0})
    assert same.status == 200 and same.body["product_dwell_mintues"] == "5"
    body["line_number"] = str(int(line) + 1)
    clash = await api.post({**body, "product_dwell_minutes": "5", "product_dwell_mintues": "6"})
    _error(clash, 400, "different values")


@pytest.mark.parametrize("missing", ["product_id", "process_id", "line_number"])
async def test_post_refuses_a_missing_required_field(api: Api, missing: str):
    product, process, line = _ids(api)
    body = {"product_id": product, "process_id": process, "line_number": line}
    del body[missing]
    _error(await api.post(body), 400, missing, "required")
    body[missing] = None
    _error(await api.post(body), 400, missing)
    assert len(api.store.lines()) == 15 and api.store.write_count == 0


@pytest.mark.parametrize(("field", "value", "words"), [
    ("line_number", "0", ["line_number", "positive whole number"]),
    ("line_number", -2, ["line_number"]),
    ("line_number", "1.5", ["line_number", '"1.5"']),
    ("line_number", "one", ["line_number"]),
    ("line_number", True, ["line_number"]),
    ("product_minutes", "-1", ["product_minutes", ">= 0"]),
    ("product_minutes", "five", ["product_minutes"]),
    ("product_dwell_mintues", -0.5, ["product_dwell_minutes", ">= 0"]),
    ("active", "active", ["exactly Active or InActive"]),
    ("active", "Yes", ["exactly Active or InActive"]),
    ("active", None, ["active cannot be empty"]),
    ("product_id", "not-a-uuid", ["product_id must be a uuid"]),
    ("description", {"text": "x"}, ["description must be a string or a number"]),
])
async def test_post_refuses_a_bad_value(api: Api, field: str, value, words: list[str]):
    product, process, line = _ids(api)
    body = {"product_id": product, "process_id": process, "line_number": line, field: value}
    _error(await api.post(body), 400, *words)
    assert len(api.store.lines()) == 15


async def test_post_refuses_unknown_product_or_process(api: Api):
    product, process, line = _ids(api)
    stranger = str(uuid.uuid4())
    body = {"product_id": stranger, "process_id": process, "line_number": line}
    _error(await api.post(body), 400, f"No product with id {stranger}")
    body = {"product_id": product, "process_id": stranger, "line_number": line}
    _error(await api.post(body), 400, f"No process with id {stranger}")
    assert len(api.store.lines()) == 15


@pytest.mark.parametrize(("extra", "words"), [
    ({"id": str(uuid.uuid4())}, ["id is assigned by the server"]),
    ({"created": "2024-01-01 00:00:00"}, ["created is set by the server"]),
    ({"process": "Welding"}, ["process is set by the server"]),
    ({"colour": "red"}, ['Unknown field "colour"']),
])
async def test_post_refuses_fields_a_client_may_not_send(api: Api, extra: dict, words):
    product, process, line = _ids(api)
    body = {"product_id": product, "process_id": process, "line_number": line, **extra}
    _error(await api.post(body), 400, *words)


async def test_post_refuses_a_body_that_is_not_a_json_object(api: Api):
    _error(await api.call("POST", "/product-processes", data=b"{nope",
                          headers={"Content-Type": "application/json"}), 400, "not valid JSON")
    _error(await api.post([1, 2]), 400, "JSON object")
    _error(await api.call("POST", "/product-processes"), 400, "empty")


async def test_post_accepts_a_form_encoded_body(api: Api):
    product, process, line = _ids(api)
    form = {"product_id": product, "process_id": process, "line_number": line}
    reply = await api.call("POST", "/product-processes", data=form)
    assert reply.status == 200 and reply.body["line_number"] == line


async def test_a_second_record_on_the_same_line_is_refused(api: Api):
    taken = api.store.lines()[0]
    body = {"product_id": taken["product_id"], "process_id": taken["process_id"],
            "line_number": int(taken["line_number"])}
    message = _error(await api.post(body), 400, "already has a record on line")
    assert taken["id"] in message
    assert len(api.store.lines()) == 15


async def test_allow_duplicate_lines_knob_accepts_a_second_record(emulator, demo_dataset, http):
    api = Api(http, await emulator(EmulatorConfig(allow_duplicate_lines=True), demo_dataset),
              DEMO_TOKEN)
    taken = api.store.lines()[0]
    body = {"product_id": taken["product_id"], "process_id": taken["process_id"],
            "line_number": taken["line_number"]}
    assert (await api.post(body)).status == 200
    same_line = await api.get(product_id=taken["product_id"], line_number=taken["line_number"])
    assert len(same_line.body) == 2


async def test_omit_id_knob_answers_without_id_but_creates(emulator, demo_dataset, http):
    api = Api(http, await emulator(EmulatorConfig(omit_id_in_response=True), demo_dataset),
              DEMO_TOKEN)
    product, process, line = _ids(api)
    reply = await api.post({"product_id": product, "process_id": process, "line_number": line})
    assert reply.status == 200 and "id" not in reply.body
    assert reply.body["line_number"] == line
    found = await api.get(product_id=product, line_number=line)
    assert len(found.body) == 1 and uuid.UUID(found.body[0]["id"])


# --------------------------------------------------------------------------- PUT

async def _staged(api: Api, **fields) -> dict:
    product, process, line = _ids(api)
    return api.store.add_line(
        product_id=product, process_id=process, line_number=line, description="Old text",
        product_minutes="5", created="2020-01-01 08:00:00", created_by="someone",
        edited="2020-01-02 08:00:00", edited_by="someone", edited_with="Web", **fields,
    )


async def test_put_changes_only_the_given_fields_and_stamps_edited(api: Api):
    before = await _staged(api)
    reply = await api.put({"id": before["id"], "description": "New text"})
    assert reply.status == 200, reply.body
    after = api.store.line(before["id"])
    assert reply.body == after
    assert after["description"] == "New text"
    assert after["edited"] != before["edited"] and TIMESTAMP.match(after["edited"])
    assert (after["edited_by"], after["edited_with"]) == ("api", "API")
    unchanged = {k: v for k, v in before.items() if not k.startswith("edited")}
    unchanged.pop("description")
    assert {k: after[k] for k in unchanged} == unchanged  # created* kept, others untouched


async def test_put_with_dwell_in_either_spelling(api: Api):
    before = await _staged(api)
    for spelling, value in (("product_dwell_minutes", "15"), ("product_dwell_mintues", 30)):
        assert (await api.put({"id": before["id"], spelling: value})).status == 200
        assert api.store.line(before["id"])["product_dwell_mintues"] == str(value)


async def test_put_null_clears_a_nullable_field(api: Api):
    before = await _staged(api)
    reply = await api.put({"id": before["id"], "description": None, "product_minutes": None})
    assert reply.status == 200
    after = api.store.line(before["id"])
    assert after["description"] is None and after["product_minutes"] is None


@pytest.mark.parametrize("field", ["product_id", "process_id", "line_number", "active"])
async def test_put_refuses_null_in_a_non_nullable_field(api: Api, field: str):
    before = await _staged(api)
    _error(await api.put({"id": before["id"], field: None}), 400, field, "cannot be empty")
    assert api.store.line(before["id"]) == before


async def test_put_refuses_a_changed_product_id_but_accepts_the_same_one(api: Api):
    before = await _staged(api)
    other = api.store.products()[1]["product_id"]
    _error(await api.put({"id": before["id"], "product_id": other}), 400,
           "cannot be modified from its original value")
    assert api.store.line(before["id"]) == before
    same = await api.put({"id": before["id"], "product_id": before["product_id"].upper()})
    assert same.status == 200


async def test_put_needs_a_known_id(api: Api):
    _error(await api.put({"description": "x"}), 400, "id is required")
    stranger = str(uuid.uuid4())
    _error(await api.put({"id": stranger, "description": "x"}), 404, stranger)
    assert api.store.write_count == 0


async def test_put_process_id_updates_the_process_name(api: Api):
    before = await _staged(api)
    welding = next(p for p in api.store.processes() if p["process"] == "Welding")
    reply = await api.put({"id": before["id"], "process_id": welding["process_id"]})
    assert reply.status == 200
    assert reply.body["process"] == "Welding"
    assert reply.body["operation_type"] == welding["operation_type"]
    _error(await api.put({"id": before["id"], "process_id": str(uuid.uuid4())}), 400,
           "No process with id")


async def test_put_line_number_follows_the_same_line_rule(api: Api):
    product = api.store.products()[0]["product_id"]
    first, second, third = (r for r in api.store.lines() if r["product_id"] == product)
    _error(await api.put({"id": first["id"], "line_number": second["line_number"]}), 400,
           "already has a record on line")
    # Keeping its own line is no clash; a permutation through a free line works.
    assert (await api.put({"id": first["id"], "line_number": first["line_number"]})).status == 200
    assert (await api.put({"id": first["id"], "line_number": "99"})).status == 200
    assert (await api.put({"id": second["id"], "line_number": first["line_number"]})).status == 200
    assert (await api.put({"id": first["id"], "line_number": second["line_number"]})).status == 200
    lines = {r["id"]: r["line_number"] for r in (await api.get(product_id=product)).body}
    assert lines == {first["id"]: second["line_number"], second["id"]: first["line_number"],
                     third["id"]: third["line_number"]}


async def test_put_refuses_read_only_and_unknown_fields(api: Api):
    before = await _staged(api)
    _error(await api.put({"id": before["id"], "edited": "2030-01-01 00:00:00"}), 400,
           "set by the server")
    _error(await api.put({"id": before["id"], "size": "L"}), 400, 'Unknown field "size"')
    assert api.store.line(before["id"]) == before


# --------------------------------------------------------------------------- DELETE

async def test_delete_removes_the_record_and_a_second_delete_is_404(api: Api):
    victim = api.store.lines()[4]
    reply = await api.delete({"id": victim["id"]})
    assert reply.status == 200 and reply.body == victim
    assert api.store.line(victim["id"]) is None
    assert (await api.get(id=victim["id"])).body == []
    _error(await api.delete({"id": victim["id"]}), 404, victim["id"])
    assert api.store.write_count == 1 and api.store.writes_by_method["DELETE"] == 1


async def test_delete_needs_an_id_in_a_json_body(api: Api):
    _error(await api.delete({}), 400, '{"id": "..."}')
    _error(await api.delete({"id": "garbage"}), 400, "id must be a uuid")
    assert len(api.store.lines()) == 15


# --------------------------------------------------------------------------- counters, routes

async def test_write_count_counts_committed_writes_only(api: Api):
    product, process, line = _ids(api)
    created = await api.post({"product_id": product, "process_id": process, "line_number": line})
    await api.post({"product_id": product, "process_id": process, "line_number": line})  # 400
    await api.put({"id": created.body["id"], "description": "x"})
    await api.put({"id": str(uuid.uuid4()), "description": "x"})  # 404
    await api.delete({"id": created.body["id"]})
    await api.get()
    assert api.store.write_count == 3
    assert dict(api.store.writes_by_method) == {"POST": 1, "PUT": 1, "DELETE": 1}
    assert api.store.request_count == 6


async def test_unknown_endpoint_and_method_answer_json_errors(api: Api):
    _error(await api.call("GET", "/contacts"), 404, "/api/contacts")
    _error(await api.call("PATCH", "/product-processes", json={}), 405, "PATCH", "PUT")


# --------------------------------------------------------------------------- products, processes

async def test_posted_products_and_processes_can_be_used_by_lines(api: Api):
    product = await api.post({"product": "Welded Frame", "barcode": "4001234567890"},
                             path="/products")
    assert product.status == 200
    assert uuid.UUID(product.body["product_id"]) and product.body["active"] == "Active"
    fixed = str(uuid.uuid4())
    process = await api.post({"process_id": fixed.upper(), "process": "Laser Marking",
                              "operation_type": "Finishing"}, path="/processes")
    assert process.status == 200 and process.body["process_id"] == fixed
    line = await api.post({"product_id": product.body["product_id"], "process_id": fixed,
                           "line_number": "1"})
    assert line.status == 200
    assert (line.body["process"], line.body["operation_type"]) == ("Laser Marking", "Finishing")
    listed = await api.get("/products", product="Welded Frame")
    assert listed.body == [product.body]


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/products", {"barcode": "1"}, ["product (the product's name) is required"]),
    ("/products", {"product": "X", "colour": "red"}, ['Unknown field "colour"']),
    ("/processes", {"process": "X", "active": "yes"}, ["exactly Active or InActive"]),
    ("/processes", {"process": "X", "process_id": "nope"}, ["process_id must be a uuid"]),
])
async def test_a_bad_product_or_process_is_400(api: Api, path: str, body: dict, words):
    _error(await api.post(body, path=path), 400, *words)
    assert len(api.store.products()) == 5 and len(api.store.processes()) == 12


async def test_an_existing_product_id_is_refused(api: Api):
    existing = api.store.products()[0]["product_id"]
    _error(await api.post({"product_id": existing, "product": "Copy"}, path="/products"), 400,
           "already exists")


async def test_products_readable_knob_forbids_products_and_processes(emulator, demo_dataset,
                                                                     http):
    api = Api(http, await emulator(EmulatorConfig(products_readable=False), demo_dataset),
              DEMO_TOKEN)
    for path in ("/products", "/processes"):
        _error(await api.get(path), 403, f"/api{path}")
        _error(await api.post({"product": "X", "process": "X"}, path=path), 403)
    assert len((await api.get()).body) == 15  # the lines themselves stay readable
