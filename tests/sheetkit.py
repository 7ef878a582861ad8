"""Test helpers shared across suites (importable: pytest puts tests/ on sys.path).

Sheets written from canonical rows, server state as comparable rows, and a report's
statuses counted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from sync import schema
from sync.connection import Connection
from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN

#: The columns a test sheet holds (everything a planner can set).
SHEET_FIELDS: tuple[schema.Field, ...] = (schema.ID, *schema.WRITABLE)
STATE_FIELDS: tuple[str, ...] = tuple(f.name for f in schema.WRITABLE)
#: A PIN for checks that no output holds it: unlike the demo's 4321, no port, run id,
#: checksum or duration in that output can hold it by chance.
UNGUESSABLE_PIN = "pin-Vh29-secret"


def _cell(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def write_sheet(path: Path, rows: Sequence[dict[str, Any]],
                fields: Iterable[schema.Field] = SHEET_FIELDS) -> Path:
    """An .xlsx or .csv with one column per field (header = canonical name)."""
    fields = tuple(fields)
    table = [[f.name for f in fields]]
    table += [[_cell(row.get(f.name)) for f in fields] for row in rows]
    if path.suffix == ".csv":
        with open(path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["" if v is None else v for v in r] for r in table])
    else:
        wb = Workbook()
        for r in table:
            wb.active.append(r)
        for row in wb.active.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula stays text
        wb.save(path)
    return path


def server_rows(store) -> list[dict[str, Any]]:
    return [schema.record_from_wire(raw) for raw in store.lines()]


def product_lines(records: Iterable[dict[str, Any]], product: Any) -> list[dict[str, Any]]:
    """The records of one product, in line-number order."""
    return sorted((r for r in records if r["product_id"] == product),
                  key=lambda r: r["line_number"])


def report_statuses(xlsx: bytes) -> dict[str, int]:
    """How many rows of a report workbook's first sheet hold each ``sync_status``."""
    rows = list(load_workbook(io.BytesIO(xlsx)).worksheets[0].iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if "sync_status" in r)
    column = rows[header].index("sync_status")
    statuses: dict[str, int] = {}
    for row in rows[header + 1:]:
        if row[column]:
            statuses[row[column]] = statuses.get(row[column], 0) + 1
    return statuses


def state(rows: Iterable[dict[str, Any]]) -> list[tuple]:
    """Lines as comparable tuples of the writable fields (blank active = Active)."""
    out = []
    for row in rows:
        values = {name: row.get(name) for name in STATE_FIELDS}
        values[schema.ACTIVE.name] = values[schema.ACTIVE.name] or schema.ACTIVE.default
        out.append(tuple(str(values[n]) if values[n] is not None else "" for n in STATE_FIELDS))
    return sorted(out)


def token_connection(base_url: str) -> Connection:
    return Connection.from_options(base_url=base_url, token=DEMO_TOKEN)


def badge_connection(base_url: str) -> Connection:
    return Connection.from_options(base_url=base_url, badge=DEMO_BADGE, pin=DEMO_PIN)
