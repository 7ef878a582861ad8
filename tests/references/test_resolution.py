"""Names and barcodes in place of uuids, resolved over loopback against the emulator."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from sheetkit import server_rows, token_connection, write_sheet

from sync import api, schema
from sync.client import FlowtracClient
from sync.diff import Mode
from sync.emulator import EmulatorConfig
from sync.model import Action

PRODUCT = schema.REFERENCE_BY_NAME["product"].field
PROCESS = schema.REFERENCE_BY_NAME["process"].field
MINUTES = schema.BY_NAME["product_minutes"]
#: A sheet with names only: no id column at all.
NAMES_ONLY = (PRODUCT, PROCESS, schema.LINE_NUMBER, MINUTES)


def sheet(path: Path, rows: list[dict[str, Any]],
          fields: tuple[schema.Field, ...] = NAMES_ONLY) -> Path:
    return write_sheet(path, rows, fields)


async def plan(cat, path: Path, options: api.SyncOptions | None = None) -> api.PlanResult:
    return await api.plan_async(path, token_connection(cat.emu.base_url), options)


def messages(result: api.PlanResult) -> list[str]:
    return [row.message for _, row in result.row_status()]


def only_item(result: api.PlanResult):
    (item,) = result.plan.items
    return item


async def test_unique_names_resolve_to_ids(catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.xlsx", [{"product": "Steel Bracket SB-1", "process": "Welding",
                                       "line_number": 1, "product_minutes": 5}])
    result = await plan(cat, path)
    item = only_item(result)
    assert item.action is Action.CREATE
    assert item.values == {"product_id": cat.products["Steel Bracket SB-1"],
                           "process_id": cat.processes["Welding"], "line_number": 1,
                           "active": "Active", "product_minutes": Decimal(5)}
    assert result.warnings == []


async def test_barcodes_resolve_like_names(catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.csv", [{"product": "4000000000028", "process": "PRC-0003",
                                      "line_number": 2}])
    item = only_item(await plan(cat, path))
    assert item.action is Action.CREATE
    assert item.values["product_id"] == cat.products["Hinge Plate HP-2"]
    assert item.values["process_id"] == cat.processes["Painting"]


async def test_a_barcode_typed_as_a_number_in_excel_resolves(catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.xlsx", [{"product": 4000000000042, "process": "Cutting",
                                       "line_number": 1}])
    item = only_item(await plan(cat, path))
    assert item.values["product_id"] == cat.products["Cover Panel CP-4"]


async def test_case_and_surrounding_spaces_are_ignored_when_nothing_matches_exactly(
        catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.csv", [
        {"product": "  steel BRACKET sb-1 ", "process": "welding", "line_number": 1},
        {"product": "hinge plate hp-2", "process": "prc-0001", "line_number": 1},
    ])
    items = (await plan(cat, path)).plan.items
    assert [i.action for i in items] == [Action.CREATE, Action.CREATE]
    assert items[0].values["product_id"] == cat.products["Steel Bracket SB-1"]
    assert items[0].values["process_id"] == cat.processes["Welding"]
    assert items[1].values["process_id"] == cat.processes["Cutting"]  # barcode, any case


async def test_an_exact_match_wins_over_a_match_ignoring_case(catalog, tmp_path):
    cat = await catalog()
    upper = cat.emu.store.add_product(product="BOLT, M6", barcode="4000000000059")["product_id"]
    path = sheet(tmp_path / "s.csv", [
        {"product": "BOLT, M6", "process": "Cutting", "line_number": 1},
        {"product": "Bolt, M6", "process": "Cutting", "line_number": 2},
        {"product": "bolt, m6", "process": "Cutting", "line_number": 3},
    ])
    result = await plan(cat, path)
    first, second, third = result.plan.items
    assert first.values["product_id"] == upper
    assert second.values["product_id"] == cat.products["Bolt, M6"]
    assert third.action is Action.INVALID
    assert third.message.startswith('A4: "bolt, m6" matches 2 products: ')


async def test_a_name_shared_with_another_products_barcode_means_the_name(catalog, tmp_path):
    cat = await catalog()
    named = cat.emu.store.add_product(product="PRC-0001", barcode="x-1")["product_id"]
    cat.emu.store.add_product(product="Odd Part", barcode="PRC-0001")
    path = sheet(tmp_path / "s.csv", [{"product": "PRC-0001", "process": "Cutting",
                                      "line_number": 1}])
    assert only_item(await plan(cat, path)).values["product_id"] == named


async def test_a_name_that_matches_nothing_is_a_row_error(catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.csv", [
        {"product": "Widget X", "process": "Welding", "line_number": 1},
        {"product": "Steel Bracket SB-1", "process": "Soldering", "line_number": 1},
    ])
    result = await plan(cat, path)
    assert [i.action for i in result.plan.items] == [Action.INVALID, Action.INVALID]
    assert messages(result) == ['A2: no product named "Widget X"',
                                'B3: no process named "Soldering"']
    assert result.exit_code == 1


async def test_both_wrong_names_of_one_row_are_reported(catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.csv", [{"product": "Widget X", "process": "Soldering",
                                      "line_number": 1}])
    assert messages(await plan(cat, path)) == [
        'A2: no product named "Widget X"; B2: no process named "Soldering"']


async def test_an_ambiguous_name_names_its_candidates(catalog, tmp_path):
    cat = await catalog()
    store = cat.emu.store
    first = store.add_product(product="Bracket", barcode="111")["product_id"]
    second = store.add_product(product="Bracket", active="InActive")["product_id"]
    path = sheet(tmp_path / "s.csv", [{"product": "Bracket", "process": "Welding",
                                      "line_number": 1}])
    result = await plan(cat, path)
    assert only_item(result).action is Action.INVALID
    candidates = sorted([f"Bracket (id {first}, barcode 111)",
                         f"Bracket (id {second}, inactive)"])
    assert messages(result) == [f'A2: "Bracket" matches 2 products: {", ".join(candidates)}; '
                                f"use the barcode or the product_id"]
    # The barcode picks one of them.
    path = sheet(tmp_path / "s.csv", [{"product": "111", "process": "Welding",
                                      "line_number": 1}])
    assert only_item(await plan(cat, path)).values["product_id"] == first


async def test_a_name_that_disagrees_with_the_id_makes_the_row_invalid(catalog, tmp_path):
    cat = await catalog()
    fields = (schema.PRODUCT_ID, PRODUCT, PROCESS, schema.PROCESS_ID, schema.LINE_NUMBER)
    bracket, hinge = cat.products["Steel Bracket SB-1"], cat.products["Hinge Plate HP-2"]
    welding = cat.processes["Welding"]
    path = sheet(tmp_path / "s.csv", [
        {"product_id": bracket, "product": "Steel Bracket SB-1", "process": "Welding",
         "process_id": welding, "line_number": 1},
        {"product_id": hinge, "product": "Steel Bracket SB-1", "process": "Welding",
         "process_id": welding, "line_number": 1},
        {"product_id": bracket, "process": "Cutting", "process_id": welding,
         "line_number": 2},
    ], fields)
    result = await plan(cat, path)
    assert [i.action for i in result.plan.items] == [Action.CREATE, Action.INVALID,
                                                     Action.INVALID]
    assert messages(result)[1:] == [
        f'B3: product "Steel Bracket SB-1" is id {bracket}, but product_id says {hinge}',
        f'C4: process "Cutting" is id {cat.processes["Cutting"]}, but process_id says '
        f"{welding}",
    ]


async def test_an_unknown_id_is_reported_rather_than_the_name_it_disagrees_with(
        catalog, tmp_path):
    cat = await catalog()
    unknown = "00000000-0000-4000-8000-00000000dead"
    fields = (schema.PRODUCT_ID, PRODUCT, PROCESS, schema.LINE_NUMBER)
    path = sheet(tmp_path / "s.csv", [{"product_id": unknown, "product": "Bolt, M6",
                                      "process": "Welding", "line_number": 1}], fields)
    assert messages(await plan(cat, path)) == [f"A2: no product with id {unknown}"]


async def test_a_row_with_a_line_id_gets_its_process_changed_by_name(catalog, tmp_path):
    cat = await catalog()
    line = cat.emu.store.add_line(product_id=cat.products["Bolt, M6"],
                                  process_id=cat.processes["Cutting"], line_number="1")
    path = sheet(tmp_path / "s.csv", [{"id": line["id"], "product_id": line["product_id"],
                                      "line_number": 1, "process": "Painting"}],
                 (schema.ID, schema.PRODUCT_ID, schema.LINE_NUMBER, PROCESS))
    item = only_item(await plan(cat, path))
    assert item.action is Action.UPDATE
    assert item.changes == {"process_id": (cat.processes["Cutting"],
                                           cat.processes["Painting"])}


async def test_names_only_sheet_plans_applies_and_then_has_nothing_to_do(catalog, tmp_path):
    cat = await catalog()
    store = cat.emu.store
    bracket, bolt = cat.products["Steel Bracket SB-1"], cat.products["Bolt, M6"]
    kept = store.add_line(product_id=bracket, process_id=cat.processes["Cutting"],
                          line_number="1", product_minutes="5")
    changed = store.add_line(product_id=bracket, process_id=cat.processes["Welding"],
                             line_number="2", product_minutes="7")
    gone = store.add_line(product_id=bolt, process_id=cat.processes["Cutting"],
                          line_number="1")
    rows = [
        {"product": "Steel Bracket SB-1", "process": "Cutting", "line_number": 1,
         "product_minutes": 5},
        {"product": "steel bracket sb-1", "process": "PRC-0003", "line_number": 2,
         "product_minutes": 9},                       # another process, other minutes
        {"product": "4000000000011", "process": "Welding", "line_number": 3,
         "product_minutes": 1.5},                     # new, by barcode
        {"product": "Bolt, M6", "process": "Painting", "line_number": 2},  # new
    ]
    path = sheet(tmp_path / "names.xlsx", rows)
    conn = token_connection(cat.emu.base_url)
    options = api.SyncOptions(mode=Mode.MIRROR)

    planned = await api.plan_async(path, conn, options)
    assert [i.action for i in planned.plan.items] == [Action.UNCHANGED, Action.UPDATE,
                                                      Action.CREATE, Action.CREATE]
    assert planned.plan.items[1].changes == {
        "process_id": (cat.processes["Welding"], cat.processes["Painting"]),
        "product_minutes": (Decimal(7), Decimal(9))}
    assert [i.record_id for i in planned.plan.deletes] == [gone["id"]]

    applied = await api.apply_async(path, conn, options)
    assert applied.exit_code == 0
    assert applied.counts() == {"unchanged": 1, "updated": 1, "created": 2, "deleted": 1}
    after = {(r["product_id"], r["line_number"]): r for r in server_rows(store)}
    assert set(after) == {(bracket, 1), (bracket, 2), (bracket, 3), (bolt, 2)}
    assert after[(bracket, 1)]["id"] == kept["id"]
    assert after[(bracket, 2)]["id"] == changed["id"]
    assert after[(bracket, 2)]["process_id"] == cat.processes["Painting"]
    assert after[(bracket, 3)]["product_minutes"] == Decimal("1.5")
    assert after[(bolt, 2)]["process_id"] == cat.processes["Painting"]

    writes = store.write_count
    again = await api.apply_async(path, conn, options)
    assert again.counts() == {"unchanged": 4}
    assert store.write_count == writes


async def test_mirror_keeps_the_lines_of_a_product_whose_named_row_is_invalid(
        catalog, tmp_path):
    cat = await catalog()
    store = cat.emu.store
    bracket = cat.products["Steel Bracket SB-1"]
    for number in (1, 2):
        store.add_line(product_id=bracket, process_id=cat.processes["Cutting"],
                       line_number=str(number))
    path = sheet(tmp_path / "s.csv", [{"product": "Steel Bracket SB-1", "process": "Cutting",
                                      "line_number": 1, "product_minutes": "-1"}])
    result = await plan(cat, path, api.SyncOptions(mode=Mode.MIRROR))
    assert only_item(result).action is Action.INVALID
    assert only_item(result).row.values["product_id"] == bracket  # resolved all the same
    assert not result.plan.deletes
    assert [i.message for i in result.plan.server_only] == [
        "not deleted: row 2 of this product is invalid; fix it first"] * 2


async def test_a_name_and_a_barcode_of_one_product_on_one_line_are_duplicates(
        catalog, tmp_path):
    cat = await catalog()
    path = sheet(tmp_path / "s.csv", [
        {"product": "Hinge Plate HP-2", "process": "Welding", "line_number": 1},
        {"product": "4000000000028", "process": "Cutting", "line_number": 1},
        {"product": "Hinge Plate HP-2", "process": "Welding", "line_number": 2},
    ])
    result = await plan(cat, path)
    assert [i.action for i in result.plan.items] == [Action.INVALID, Action.INVALID,
                                                     Action.CREATE]
    assert messages(result)[:2] == [
        "row 2: the same product + line_number is also on row 3",
        "row 3: the same product + line_number is also on row 2"]


async def test_unreadable_catalogs_make_rows_needing_a_name_invalid(catalog, tmp_path):
    cat = await catalog(config=EmulatorConfig(products_readable=False))
    bolt, cutting = cat.products["Bolt, M6"], cat.processes["Cutting"]
    fields = (schema.PRODUCT_ID, PRODUCT, schema.PROCESS_ID, PROCESS, schema.LINE_NUMBER)
    path = sheet(tmp_path / "s.csv", [
        {"product": "Bolt, M6", "process_id": cutting, "line_number": 1},
        {"product_id": bolt, "process": "Cutting", "line_number": 2},
        {"product_id": bolt, "product": "Bolt, M6", "process_id": cutting,
         "process": "Cutting", "line_number": 3},
    ], fields)
    result = await api.apply_async(path, token_connection(cat.emu.base_url))
    assert [s.status for _, s in result.row_status()] == ["invalid", "invalid", "created"]
    refusal = "This login may not use /api/{}. (HTTP 403)"
    assert messages(result)[:2] == [
        f'B2: product "Bolt, M6" cannot be looked up ({refusal.format("products")}); '
        f"give the product_id instead",
        f'D3: process "Cutting" cannot be looked up ({refusal.format("processes")}); '
        f"give the process_id instead",
    ]
    # One warning per catalog; the row that gives both ids is sent, unchecked.
    assert len(result.warnings) == 2
    assert all("not checked" in w and "cannot be resolved" in w for w in result.warnings)
    assert cat.emu.store.write_count == 1
    assert result.exit_code == 1


async def test_names_are_looked_up_once_each_in_batches(catalog, tmp_path):
    cat = await catalog()
    rows = [{"product": name, "process": "Welding", "line_number": n}
            for n, name in enumerate(["Steel Bracket SB-1", "Hinge Plate HP-2"] * 50, start=1)]
    path = sheet(tmp_path / "s.csv", rows)
    before = cat.emu.store.request_count
    result = await plan(cat, path)
    assert {i.action for i in result.plan.items} == {Action.CREATE}
    # Products by name, processes by name, then the lines of the two products.
    assert cat.emu.store.request_count - before == 3


async def test_products_with_lines_are_not_looked_up_in_the_catalog(catalog, tmp_path,
                                                                     monkeypatch):
    """A line names only a product the server has: the products whose lines were fetched
    need no catalog lookup, the others still get one."""
    cat = await catalog()
    bolt, hinge = cat.products["Bolt, M6"], cat.products["Hinge Plate HP-2"]
    unknown = "00000000-0000-4000-8000-00000000beef"
    cutting = cat.processes["Cutting"]
    cat.emu.store.add_line(product_id=bolt, process_id=cutting, line_number="1")
    asked: list[set[str]] = []
    original = FlowtracClient.products_exist

    async def recording(self, ids):
        asked.append(set(ids))
        return await original(self, ids)

    monkeypatch.setattr(FlowtracClient, "products_exist", recording)
    fields = (schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER)
    path = sheet(tmp_path / "s.csv", [
        {"product_id": bolt, "process_id": cutting, "line_number": 1},
        {"product_id": hinge, "process_id": cutting, "line_number": 1},
        {"product_id": unknown, "process_id": cutting, "line_number": 1}], fields)
    result = await plan(cat, path)
    assert asked == [{hinge, unknown}]
    assert [i.action for i in result.plan.items] == [Action.UNCHANGED, Action.CREATE,
                                                     Action.INVALID]
    assert messages(result)[2] == f"A4: no product with id {unknown}"
