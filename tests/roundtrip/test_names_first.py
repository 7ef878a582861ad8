"""Names first: the export and the template edit products and processes by name, with
dropdowns of the tenant's names; the ids beside them keep a round trip exact.  End to end
over loopback against the emulator."""

from __future__ import annotations

import shutil
from typing import Any

import openpyxl
from click.testing import CliRunner
from roundtrip_kit import EXPORT_LO, edit_line
from sheetkit import server_rows, token_connection

from sync import api
from sync.cli import main
from sync.emulator import DEMO_TOKEN, EmulatorConfig, generate_dataset
from sync.exporting import export, export_lines
from sync.templating import write_template


def _process_ids(dataset) -> dict[str, str]:
    return {p["process"]: p["process_id"] for p in dataset.processes}



def _line(dataset, number: int = 0) -> dict[str, Any]:
    return dataset.lines[number]


def _other_process(dataset, line: dict[str, Any]) -> dict[str, Any]:
    """A process the line does not have and no other line of its product has either."""
    taken = {r["process_id"] for r in dataset.lines if r["product_id"] == line["product_id"]}
    return next(p for p in dataset.processes if p["process_id"] not in taken)


async def _exported(emulator, dataset, tmp_path, name="lines.xlsx"):
    emu = await emulator(dataset=dataset)
    conn = token_connection(emu.base_url)
    return emu, conn, await export_lines(conn, tmp_path / name, fmt=None)


def _server_process(emu, line_id: str) -> str:
    return {r["id"]: r for r in server_rows(emu.store)}[line_id]["process_id"]


async def test_an_unedited_export_is_a_no_op(emulator, seed_dataset, tmp_path):
    for name in ("lines.xlsx", "lines.csv"):
        _emu, conn, path = await _exported(emulator, seed_dataset, tmp_path, name)
        planned = await api.plan_async(path, conn)
        assert planned.counts() == {"unchanged": 12}
        assert planned.warnings + planned.plan.warnings == []
        assert all(r.message == "" for _i, r in planned.row_status())


async def test_picking_another_process_name_changes_the_process(emulator, seed_dataset,
                                                                tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    new = _other_process(seed_dataset, line)
    edit_line(path, line["id"], process=new["process"])        # process_id left as exported

    planned = await api.plan_async(path, conn)
    assert planned.counts() == {"would update": 1, "unchanged": 11}
    [item] = planned.plan.writes
    assert item.changes == {"process_id": (line["process_id"], new["process_id"])}
    assert (await api.execute_async(planned, conn)).exit_code == 0
    assert _server_process(emu, line["id"]) == new["process_id"]


async def test_editing_only_the_id_changes_the_process(emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    new = _other_process(seed_dataset, line)
    edit_line(path, line["id"], process_id=new["process_id"])  # the name left as exported

    applied = await api.apply_async(path, conn)
    assert applied.counts() == {"updated": 1, "unchanged": 11}
    assert _server_process(emu, line["id"]) == new["process_id"]


async def test_editing_name_and_id_alike_changes_the_process(emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    new = _other_process(seed_dataset, line)
    edit_line(path, line["id"], process=new["process"], process_id=new["process_id"])

    applied = await api.apply_async(path, conn)
    assert applied.counts() == {"updated": 1, "unchanged": 11}
    assert _server_process(emu, line["id"]) == new["process_id"]


async def test_name_and_id_naming_two_other_processes_is_invalid(emulator, seed_dataset,
                                                                 tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    taken = {r["process_id"] for r in seed_dataset.lines
             if r["product_id"] == line["product_id"]}
    one, two = [p for p in seed_dataset.processes if p["process_id"] not in taken][:2]
    row = edit_line(path, line["id"], process=one["process"], process_id=two["process_id"])

    planned = await api.plan_async(path, conn)
    assert planned.counts() == {"invalid": 1, "unchanged": 11}
    assert [str(e) for e in planned.errors] == [
        f'D{row}: process "{one["process"]}" is id {one["process_id"]}, but process_id says '
        f'{two["process_id"]}, and both differ from the line\'s process {line["process_id"]}: '
        f"change one of them only"]
    assert planned.exit_code == 1
    before = len(emu.store.lines())
    await api.apply_async(path, conn)
    assert _server_process(emu, line["id"]) == line["process_id"]   # nothing sent
    assert len(emu.store.lines()) == before


async def test_a_name_edited_to_nothing_known_is_invalid(emulator, seed_dataset, tmp_path):
    _emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    row = edit_line(path, line["id"], process="Weldng")

    planned = await api.plan_async(path, conn)
    assert [str(e) for e in planned.errors] == [f'D{row}: no process named "Weldng"']


async def test_a_name_two_products_share_is_told_apart_by_the_id(emulator, seed_dataset,
                                                                 tmp_path):
    twin, other = seed_dataset.products[1], seed_dataset.products[2]
    other["product"] = twin["product"]
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    rows = [r for r in openpyxl.load_workbook(path)["Lines"].iter_rows(min_row=2,
                                                                          values_only=True)]
    assert sum(r[1] == twin["product"] for r in rows) == 6       # both products' lines

    assert (await api.plan_async(path, conn)).counts() == {"unchanged": 12}
    # An edit of one of them lands on that one.
    line = next(r for r in seed_dataset.lines if r["product_id"] == other["product_id"])
    edit_line(path, line["id"], description="the twin's line")
    applied = await api.apply_async(path, conn)
    assert applied.counts() == {"updated": 1, "unchanged": 11}
    lines = {r["id"]: r for r in server_rows(emu.store)}
    assert lines[line["id"]]["description"] == "the twin's line"
    assert lines[line["id"]]["product_id"] == other["product_id"]


async def test_name_dropdowns_read_the_lists_sheet_of_every_product(emulator, tmp_path):
    """Tens of thousands of products: the dropdown is a range of the Lists sheet (an inline
    list stops at 255 characters)."""
    dataset = generate_dataset(products=30_000, lines=0)
    _emu, _conn, path = await _exported(emulator, dataset, tmp_path)
    book = openpyxl.load_workbook(path, read_only=False)
    assert book.sheetnames == ["Lines", "Instructions", "Lists", "_base"]   # _base: hidden
    lists = book["Lists"]
    products = [r[0] for r in lists.iter_rows(min_row=2, values_only=True) if r[0]]
    processes = [r[1] for r in lists.iter_rows(min_row=2, values_only=True) if r[1]]
    assert sorted(products) == sorted(p["product"] for p in dataset.products)
    assert len(products) == 30_000
    assert sorted(processes) == sorted(p["process"] for p in dataset.processes)

    header = [c.value for c in book["Lines"][1]]
    assert header[:5] == ["id", "product", "product_id", "process", "process_id"]
    rules = {str(v.sqref): v for v in book["Lines"].data_validations.dataValidation}
    product, process = rules["B2:B1048576"], rules["D2:D1048576"]
    assert (product.type, product.formula1) == ("list", "Lists!$A$2:$A$30001")
    assert (process.type, process.formula1) == ("list", f"Lists!$B$2:$B${len(processes) + 1}")
    # A barcode, or a product made after the export, may still be typed: a warning only.
    assert product.errorStyle == "warning" and product.showErrorMessage


async def test_a_changed_read_only_cell_is_a_warning(emulator, seed_dataset, tmp_path):
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    row = edit_line(path, line["id"], edited_by_ro="me")

    planned = await api.plan_async(path, conn)
    warning = f"L{row}: 'edited_by (read-only)' changed, but it is never sent"
    assert planned.counts() == {"unchanged": 12}
    assert planned.plan.warnings == [warning]
    [message] = [r.message for _i, r in planned.row_status() if r.message]
    assert message == warning
    assert planned.to_json()["warnings"] == [warning]


def test_an_older_exports_read_only_process_edit_is_a_warning(emulator_thread, seed_dataset,
                                                              tmp_path):
    """Exports made before names came first show the names read-only; typing a process there
    was silently ignored."""
    emu = emulator_thread(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    path = tmp_path / "old.xlsx"
    shutil.copy(EXPORT_LO, path)
    assert api.plan(path, conn).plan.warnings == []    # unedited: no warning

    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    header = [c.value for c in sheet[1]]
    column = header.index("process (read-only)") + 1
    sheet.cell(3, column).value = "Welding"
    book.save(path)
    letter = openpyxl.utils.get_column_letter(column)

    result = CliRunner().invoke(main, ["plan", str(path)], env={
        "FLOWTRAC_BASE_URL": emu.base_url, "FLOWTRAC_TOKEN": DEMO_TOKEN,
        "FLOWTRAC_CONFIG": None, "FLOWTRAC_COMPANY": None})
    assert result.exit_code == 0, result.output
    assert (f"warning: {letter}3: 'process (read-only)' changed, but it is never sent; "
            f"change 'process_id'") in result.stderr


async def test_a_read_only_cell_of_a_line_changed_on_the_server_is_no_warning(
        emulator, seed_dataset, tmp_path):
    """The line was edited on the server since the export: the cell differs by no edit of the
    planner's (the row is a conflict if it changes anything)."""
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    emu.store.update_line({"id": line["id"], "description": "changed on the server"},
                          user="someone.else")
    planned = await api.plan_async(path, conn)
    assert planned.plan.warnings == []


def test_a_template_with_names_offers_the_tenants_names(emulator_thread, seed_dataset,
                                                        tmp_path):
    emu = emulator_thread(dataset=seed_dataset)
    out = tmp_path / "new.xlsx"
    result = CliRunner().invoke(main, ["template", str(out), "--names"], env={
        "FLOWTRAC_BASE_URL": emu.base_url, "FLOWTRAC_TOKEN": DEMO_TOKEN,
        "FLOWTRAC_CONFIG": None, "FLOWTRAC_COMPANY": None})
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Lines", "Instructions", "Lists"]
    names = [r[0] for r in book["Lists"].iter_rows(min_row=2, values_only=True) if r[0]]
    assert sorted(names) == sorted(p["product"] for p in seed_dataset.products)
    rules = {str(v.sqref): v.formula1 for v in book["Lines"].data_validations.dataValidation}
    assert rules["B2:B1048576"] == f"Lists!$A$2:$A${len(names) + 1}"
    assert rules["D2:D1048576"] == f"Lists!$B$2:$B${len(seed_dataset.processes) + 1}"

    # Without --names there is no tenant to ask: no Lists sheet, no name dropdowns.
    plain = write_template(tmp_path / "plain.xlsx")
    book = openpyxl.load_workbook(plain)
    assert book.sheetnames == ["Lines", "Instructions"]
    sqrefs = {str(v.sqref) for v in book["Lines"].data_validations.dataValidation}
    assert "B2:B1048576" not in sqrefs


async def test_a_template_filled_in_by_name_creates_lines(emulator, seed_dataset, tmp_path):
    emu = await emulator(dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    path = write_template(tmp_path / "new.xlsx")
    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    column = {c.value: c.column for c in sheet[1]}
    product = seed_dataset.products[3]
    sheet.cell(2, column["product"]).value = product["product"]
    sheet.cell(2, column["process"]).value = "Welding"
    sheet.cell(2, column["line_number"]).value = 20
    book.save(path)

    applied = await api.apply_async(path, conn)
    assert applied.counts() == {"created": 1, "left alone": 3}
    [new] = [r for r in server_rows(emu.store)
             if r["product_id"] == product["product_id"] and r["line_number"] == 20]
    assert new["process_id"] == _process_ids(seed_dataset)["Welding"]


async def test_a_new_product_name_on_an_existing_line_is_a_conflict(emulator, seed_dataset,
                                                                   tmp_path):
    """The name wins, but a line's product cannot change: the row says so and sends nothing."""
    emu, conn, path = await _exported(emulator, seed_dataset, tmp_path)
    line = _line(seed_dataset)
    other = next(p for p in seed_dataset.products if p["product_id"] != line["product_id"])
    edit_line(path, line["id"], product=other["product"])

    planned = await api.plan_async(path, conn)
    assert planned.counts() == {"conflict": 1, "unchanged": 11}
    [item] = [i for i in planned.plan.items if i.action.value == "conflict"]
    assert "product_id" in item.message
    await api.apply_async(path, conn)
    assert {r["id"]: r for r in server_rows(emu.store)}[line["id"]]["product_id"] == \
        line["product_id"]


async def test_a_process_name_edit_that_cannot_be_looked_up_is_invalid(emulator, seed_dataset,
                                                                       tmp_path):
    """A login that may not read the catalogs: the export still works (names from the lines,
    no dropdowns), an unedited one plans nothing, and an edited process name is an invalid
    row rather than an edit that silently sends nothing."""
    emu = await emulator(config=EmulatorConfig(products_readable=False), dataset=seed_dataset)
    conn = token_connection(emu.base_url)
    exported = await export(conn, tmp_path / "lines.xlsx")
    assert len(exported.warnings) == 2 and "cannot read the product list" in exported.warnings[0]
    assert openpyxl.load_workbook(exported.path).sheetnames == ["Lines", "Instructions",
                                                                "_base"]
    assert (await api.plan_async(exported.path, conn)).counts() == {"unchanged": 12}

    line = _line(seed_dataset)
    row = edit_line(exported.path, line["id"], process="Welding")
    planned = await api.plan_async(exported.path, conn)
    assert planned.counts() == {"invalid": 1, "unchanged": 11}
    [error] = [str(e) for e in planned.errors]
    assert error.startswith(f'D{row}: process "Welding" cannot be looked up (')
    assert error.endswith("give the process_id instead")


async def test_formula_like_names_in_the_lists_sheet_stay_text(emulator, seed_dataset,
                                                               tmp_path):
    _emu, _conn, path = await _exported(emulator, seed_dataset, tmp_path)
    lists = openpyxl.load_workbook(path)["Lists"]
    [cell] = [c for c in lists["A"] if c.value == "=Danger Bracket"]
    assert cell.data_type == "s" and cell.quotePrefix
