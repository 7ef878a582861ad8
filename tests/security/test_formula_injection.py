"""Text that a spreadsheet would run as a formula (starting with = + - @, their full-width
forms or the minus sign, also after a blank, a tab or a CR) never becomes a formula in any
file the tool writes: the validate, plan and apply reports (sheet cells, server-only records,
the server's own error words) and the export, as .xlsx and as .csv."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from hostile.hostile_server import FORMULA_ERROR, HostileServer
from sheetkit import write_sheet

from sync import exporting, schema
from sync.cli import main as cli
from sync.emulator import DEMO_TOKEN, generate_dataset
from sync.report.cells import is_formula_like

#: What a planner (or a server) may hold that a spreadsheet would evaluate.
PAYLOADS = ["=1+1", "+1", "-1+2", "@SUM(1,1)", '=HYPERLINK("http://198.51.100.7/","x")',
            " =1", "\t=1", "\r=1", "=cmd|' /C calc'!A0", "-", "@",
            # The full-width forms (as an East Asian keyboard types them) and the minus sign,
            # which Excel takes for a formula start too; also after a full-width blank.
            "\uff1d1+1", "\uff0b1", "\uff0d1+2", "\uff20SUM(1,1)", "\u22121+2", "\u3000\uff1d1"]
#: Every character that starts a formula, as a planner can type it into a cell.
FORMULA_STARTS = ["=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20", "\u2212"]
#: The same after the loader trims the cell.
TRIMMED = {p.strip() for p in PAYLOADS}
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def cells(path: Path) -> Iterator[tuple[str, Any]]:
    """(sheet title, cell) for every cell of every sheet."""
    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    yield sheet.title, cell


def assert_no_formula(path: Path, expected: set[str]) -> None:
    """No cell of the workbook is a formula, and every payload expected in it is there as
    text (so the check did not pass for want of the text)."""
    with zipfile.ZipFile(path) as package:
        for name in package.namelist():
            if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                assert not _FORMULA.search(package.read(name)), f"{path.name}: {name} has <f>"
    seen = set()
    for title, cell in cells(path):
        assert cell.data_type != "f", (path.name, title, cell.coordinate, cell.value)
        if isinstance(cell.value, str):
            text = cell.value
            seen.add(text.strip())
            for change in text.split("; "):  # sync_changes: "field: before -> after"
                seen.update(side.strip() for side in change.partition(": ")[2].split(" -> "))
    missing = {e.strip() for e in expected} - seen
    assert not missing, f"{path.name} lacks {missing}"


def payload_rows(products: list[str], processes: list[str]) -> list[dict[str, Any]]:
    return [{"product_id": products[n % len(products)], "process_id": processes[0],
             "line_number": 20 + n, "description": text}
            for n, text in enumerate(PAYLOADS)]


def write_csv_with_notes(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A CSV with the payloads in a known column (description) and an unknown one (Notes)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["product_id", "process_id", "line_number", "description", "Notes"])
        for row in rows:
            out.writerow([row["product_id"], row["process_id"], row["line_number"],
                          row["description"], row["description"]])
    return path


def write_xlsx_text(path: Path, rows: list[dict[str, Any]]) -> Path:
    """An .xlsx whose payload cells are text cells (as Excel keeps a "'=1+1" entry)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["product_id", "process_id", "line_number", "description", "Notes"])
    for n, row in enumerate(rows, start=2):
        values = [row["product_id"], row["process_id"], row["line_number"],
                  row["description"], row["description"]]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(n, column, value)
            if isinstance(value, str):
                cell.data_type = "s"
    book.save(path)
    return path


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_sheet_text_stays_text_in_validate_plan_and_apply_reports(emulator_thread,
                                                                   tmp_path: Path,
                                                                   kind: str) -> None:
    emu = emulator_thread(dataset=generate_dataset(3, 2))
    products = [p["product_id"] for p in emu.store.products()]
    processes = [p["process_id"] for p in emu.store.processes()]
    rows = payload_rows(products, processes)
    # One more row whose line number is a formula-like text: an invalid cell, with a comment.
    bad = {**rows[0], "line_number": "=1+1", "description": "bad line"}
    writer = write_csv_with_notes if kind == "csv" else write_xlsx_text
    path = writer(tmp_path / f"routing.{kind}", [*rows, bad])
    connection = ["--base-url", emu.base_url, "--token", DEMO_TOKEN]

    validated = run("validate", str(path), "--report", str(tmp_path / "v.xlsx"))
    assert validated.exit_code == 1
    assert_no_formula(tmp_path / "v.xlsx", TRIMMED | {"=1+1"})

    planned = run("plan", str(path), "--report", str(tmp_path / "p.xlsx"), *connection)
    assert planned.exit_code == 1
    assert_no_formula(tmp_path / "p.xlsx", TRIMMED)

    applied = run("apply", str(path), "--yes", "--report", str(tmp_path / "a.xlsx"),
                  *connection)
    assert applied.exit_code == 1  # the invalid row
    assert_no_formula(tmp_path / "a.xlsx", TRIMMED)
    descriptions = {r.get("description") for r in emu.store.lines()}
    assert TRIMMED <= descriptions  # the text went to the server as it was typed


def test_server_only_records_and_changes_stay_text(emulator_thread, tmp_path: Path) -> None:
    """Formula-like text held by the server: in the Server only sheet (mirror) and in
    sync_changes ("description: =1+1 -> ...")."""
    emu = emulator_thread(dataset=generate_dataset(2, 1))
    product = emu.store.products()[0]["product_id"]
    process = emu.store.processes()[0]["process_id"]
    for n, text in enumerate(PAYLOADS):
        emu.store.add_line(product_id=product, process_id=process, line_number=10 + n,
                           description=text.strip())
    kept = [schema.record_from_wire(r) for r in emu.store.lines()
            if r["product_id"] == product and r["line_number"] in ("10", "11")]
    for record in kept:
        record["description"] = "plain"
    path = write_sheet(tmp_path / "mirror.csv", kept)
    result = run("plan", str(path), "--mode", "mirror", "--max-delete", "100", "--report",
                 str(tmp_path / "p.xlsx"), "--base-url", emu.base_url, "--token", DEMO_TOKEN)
    assert result.exit_code == 0, result.stderr
    assert_no_formula(tmp_path / "p.xlsx", TRIMMED)
    assert "Server only" in openpyxl.load_workbook(tmp_path / "p.xlsx").sheetnames


def test_the_server_error_words_stay_text(tmp_path: Path) -> None:
    """A server refusal whose words start with "=": sync_message is text, not a formula."""
    with HostileServer() as server:
        product, process = ("a0000001-0000-4000-8000-000000000001",
                            "b0000001-0000-4000-8000-000000000001")
        server.state.products, server.state.processes = [product], [process]
        server.behaviour.writes = "formula_error"
        path = write_sheet(tmp_path / "one.csv", [{"product_id": product, "process_id": process,
                                                   "line_number": 1}],
                           (schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER))
        result = run("apply", str(path), "--yes", "--base-url", server.base_url, "--token",
                     "t0ken-for-test", "--report", str(tmp_path / "a.xlsx"))
    assert result.exit_code == 1
    messages = [c.value for _t, c in cells(tmp_path / "a.xlsx")
                if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert messages and all(m.startswith("=HYPERLINK") for m in messages), messages
    assert_no_formula(tmp_path / "a.xlsx", {FORMULA_ERROR + " (HTTP 400)"})
    sheet = openpyxl.load_workbook(tmp_path / "a.xlsx").worksheets[0]
    message_cell = next(c for row in sheet.iter_rows() for c in row
                        if isinstance(c.value, str) and c.value.startswith("=HYPERLINK"))
    assert message_cell.quotePrefix  # stays text even when the planner edits the cell


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_keeps_formula_like_server_text_as_text(emulator_thread, tmp_path: Path,
                                                       fmt: str) -> None:
    emu = emulator_thread(dataset=generate_dataset(1, 1))
    product = emu.store.products()[0]["product_id"]
    process = emu.store.processes()[0]["process_id"]
    for n, text in enumerate(PAYLOADS):
        emu.store.add_line(product_id=product, process_id=process, line_number=10 + n,
                           description=text.strip())
    out = tmp_path / f"export.{fmt}"
    result = run("export", str(out), "--base-url", emu.base_url, "--token", DEMO_TOKEN)
    assert result.exit_code == 0, result.stderr
    if fmt == "xlsx":
        assert_no_formula(out, TRIMMED)
        quoted = {c.value for _t, c in cells(out) if c.quotePrefix}
        assert TRIMMED <= quoted  # stays text even when the planner edits the cell
        return
    with out.open(newline="", encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    column = table[0].index("description")
    exported = {row[column] for row in table[1:]}
    # Formula-like text is written with a leading apostrophe, which Excel shows as text ...
    assert {f"'{text}" for text in TRIMMED} <= exported
    for row in table[1:]:
        for value in row:
            assert not value or value[0] not in FORMULA_STARTS or value.lstrip("-").replace(
                ".", "", 1).isdigit(), value
    # ... and the loader strips again, so the export can be uploaded unchanged.
    again = run("plan", str(out), "--base-url", emu.base_url, "--token", DEMO_TOKEN, "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == {"create": 0, "update": 0, "delete": 0}


@pytest.mark.parametrize("start", [f"{lead}{start}" for start in FORMULA_STARTS
                                   for lead in ("", " ", "\u3000", "\u00a0")] + ["\t", "\r"])
def test_every_formula_start_is_formula_like(start: str) -> None:
    """One check for the .xlsx writer (quote prefix) and the CSV export (leading ')."""
    assert is_formula_like(f"{start}1+1")
    assert exporting.csv_text(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("text", ["1\uff1d1", "a\u2212b", "\uff21", "x@y", "1-2"])
def test_such_characters_inside_a_text_are_not_a_formula_start(text: str) -> None:
    assert not is_formula_like(text)
    assert exporting.csv_text(text) == text


def test_csv_export_quotes_every_formula_start_and_reads_back_unchanged(emulator_thread,
                                                                        tmp_path: Path) -> None:
    """The server holds a text starting with each formula-start character: the CSV export
    writes each with a leading quote, and uploading the export unchanged plans nothing (the
    loader takes the quote off again)."""
    emu = emulator_thread(dataset=generate_dataset(1, 1))
    product = emu.store.products()[0]["product_id"]
    process = emu.store.processes()[0]["process_id"]
    texts = [f"{start}1" for start in FORMULA_STARTS]
    for n, text in enumerate(texts):
        emu.store.add_line(product_id=product, process_id=process, line_number=10 + n,
                           description=text)
    out = tmp_path / "export.csv"
    connection = ["--base-url", emu.base_url, "--token", DEMO_TOKEN]
    result = run("export", str(out), *connection)
    assert result.exit_code == 0, result.stderr
    with out.open(newline="", encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    column = table[0].index("description")
    exported = {row[column] for row in table[1:]}
    missing = [text for text in texts if f"'{text}" not in exported]
    assert not missing, f"not quoted: {missing!r}"
    again = run("plan", str(out), *connection, "--json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == {"create": 0, "update": 0, "delete": 0}
