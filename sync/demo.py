"""The demo: sample workbooks that match the emulator's demo data, and the whole loop.

``write_sample_files`` makes ``sample_files/`` (committed; a test checks they are current):
``routing.xlsx`` (a planner's workbook: title block, a few edits against the server, two new
lines), ``routing.csv`` (its twin) and ``routing_messy.xlsx`` (every kind of row error).
"""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from . import schema
from .emulator import Dataset, generate_dataset
from .emulator.rules import PROCESSES, PRODUCTS

DEMO_PRODUCTS = 6
DEMO_LINES = 4
DEMO_SEED = 7
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_files"
ROUTING_XLSX = "routing.xlsx"
ROUTING_CSV = "routing.csv"
MESSY_XLSX = "routing_messy.xlsx"

#: The columns a planner's sheet holds, in their order (labels come from the schema).
_SHEET_FIELDS = (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID, schema.ACTIVE,
                 schema.PRODUCT_MINUTES, schema.PRODUCT_DWELL_MINUTES, schema.DESCRIPTION)
_PRODUCT_NAME = "Product name"
_PROCESS_NAME = "Process name"
_NOTES = "Notes"


def demo_dataset() -> Dataset:
    return generate_dataset(DEMO_PRODUCTS, DEMO_LINES, seed=DEMO_SEED)


def _planner_rows(dataset: Dataset) -> tuple[list[str], list[list[Any]]]:
    """The server's lines as a planner keeps them, with this week's edits applied."""
    names = {p[PRODUCTS.key]: p[PRODUCTS.name] for p in dataset.products}
    processes = {p[PROCESSES.key]: p[PROCESSES.name] for p in dataset.processes}
    process_ids = sorted(processes, key=processes.get)  # type: ignore[arg-type]
    headers = [_SHEET_FIELDS[0].label, _PRODUCT_NAME, *(f.label for f in _SHEET_FIELDS[1:3]),
               _PROCESS_NAME, *(f.label for f in _SHEET_FIELDS[3:]), _NOTES]
    lines = [schema.record_from_wire(raw) for raw in dataset.lines]
    minutes, description = schema.PRODUCT_MINUTES.name, schema.DESCRIPTION.name
    # This week's edits: longer cycle, a line switched off, new wording, another process.
    lines[0][minutes] = (lines[0][minutes] or Decimal(0)) + Decimal("2.5")
    lines[3][schema.ACTIVE.name] = "InActive"
    lines[6][description] = "Deburr all edges, then brush"
    lines[9][schema.PROCESS_ID.name] = next(
        p for p in process_ids if p != lines[9][schema.PROCESS_ID.name])
    notes = {0: "cycle time re-measured", 9: "moved to the new cell"}
    # Two new lines at the end of the first two products.
    for n, product in enumerate(dataset.products[:2]):
        lines.append({schema.PRODUCT_ID.name: product[PRODUCTS.key],
                      schema.LINE_NUMBER.name: DEMO_LINES + 1,
                      schema.PROCESS_ID.name: process_ids[n], schema.ACTIVE.name: "Active",
                      minutes: Decimal(4 + n), description: "Final check before shipping"})
    rows = []
    for i, line in enumerate(lines):
        cells = [line.get(f.name) for f in _SHEET_FIELDS]
        rows.append([cells[0], names[line[schema.PRODUCT_ID.name]], *cells[1:3],
                     processes[line[schema.PROCESS_ID.name]], *cells[3:], notes.get(i)])
    return headers, [[_cell(v) for v in row] for row in rows]


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _messy_rows(dataset: Dataset, headers: list[str], rows: list[list[Any]]
                ) -> list[list[Any]]:
    """Good rows first, then one row for each kind of mistake a planner makes."""
    col = {h: i for i, h in enumerate(headers)}
    product, line, process = (col[f.label] for f in (schema.PRODUCT_ID, schema.LINE_NUMBER,
                                                     schema.PROCESS_ID))
    active, minutes = col[schema.ACTIVE.label], col[_SHEET_FIELDS[4].label]
    dwell, notes = col[_SHEET_FIELDS[5].label], col[_NOTES]
    base = rows[DEMO_LINES * 2]  # a line of the third product, which the good rows omit
    unknown = "00000000-0000-4000-8000-00000000dead"
    mistakes: list[tuple[str, dict[int, Any]]] = [
        ("product id typed wrong", {product: "PRD-1003"}),
        ("half a line number", {line: 1.5}),
        ("line numbers start at 1", {line: 0}),
        ("words for a number", {line: "three"}),
        ("not a status", {active: "maybe"}),
        ("negative minutes", {minutes: -3}),
        ("dwell in words", {dwell: "ten"}),
        ("product that does not exist", {product: unknown}),
        ("new line without a process", {process: None, col[_PROCESS_NAME]: None}),
        ("same line twice (1 of 2)", {line: 30}),
        ("same line twice (2 of 2)", {line: 30}),
    ]
    messy = [list(r) for r in rows[:DEMO_LINES * 2]]
    for n, (note, cells) in enumerate(mistakes):
        row = list(base)
        row[line] = DEMO_LINES + 1 + n  # each mistake on a line of its own
        for position, value in cells.items():
            row[position] = value
        row[notes] = note
        messy.append(row)
    return messy


def write_sample_files(folder: Path = SAMPLE_DIR) -> list[Path]:
    """(Re)write the sample files from the demo data set."""
    folder.mkdir(parents=True, exist_ok=True)
    dataset = demo_dataset()
    headers, rows = _planner_rows(dataset)
    written = [
        _write_workbook(folder / ROUTING_XLSX, headers, rows, "Routing - Plant 2, week 48"),
        _write_csv(folder / ROUTING_CSV, headers, rows),
        _write_workbook(folder / MESSY_XLSX, headers, _messy_rows(dataset, headers, rows),
                        "Routing - Plant 2 (with mistakes, for trying validate and plan)"),
    ]
    return written


def _write_workbook(path: Path, headers: list[str], rows: list[list[Any]], title: str) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "Routing"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["Edit the rows below, then run: flowtrac-sync plan <this file>"])
    ws.append([])
    ws.append(headers)
    for cell in ws[4]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="305496")
    for row in rows:
        ws.append(row)
    widths = {schema.PRODUCT_ID.label: 38, schema.PROCESS_ID.label: 38, _PRODUCT_NAME: 34,
              _PROCESS_NAME: 16, schema.DESCRIPTION.label: 32, _NOTES: 28}
    for i, header in enumerate(headers, start=1):
        ws.column_dimensions[get_column_letter(i)].width = widths.get(header, 14)
    ws.freeze_panes = "A5"
    notes = wb.create_sheet("Notes")
    notes.append(["Plant 2 routing, maintained by production planning."])
    wb.save(path)
    return path


def _write_csv(path: Path, headers: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(headers)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
    return path


def copy_samples(target: Path) -> Path:
    """Copy the sample files into ``target`` (the demo works on copies, never the originals)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (ROUTING_XLSX, ROUTING_CSV, MESSY_XLSX):
        shutil.copyfile(SAMPLE_DIR / name, target / name)
    return target
