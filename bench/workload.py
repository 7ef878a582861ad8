"""The benchmark's data: the server's lines grouped by product, the sheet of mixed changes that
``apply`` runs, and the one-request-at-a-time loop it is compared with.

Both write workloads make the same kind of change to their own products, 5 per product:
the last line deleted (mirror mode: the sheet lacks it), the first two lines updated
(``product_minutes`` + 1) and two new lines created after the last one.  The other lines of
the product stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import python_calamine

from sync import schema
from sync.templating import write_table_workbook

#: Changes made to each product: 1 delete, 2 updates, 2 creates.
CHANGES_PER_PRODUCT = 5
#: The columns of the sheet ``apply`` gets (what an export holds, less the read-only context).
SHEET_COLUMNS = ("id", "product_id", "process_id", "line_number", "active", "description",
                 "product_minutes", "product_dwell_minutes", "edited")


@dataclass
class ProductLines:
    product_id: str
    lines: list[dict[str, Any]]      # the export's rows of this product, by line number


def read_products(export: Path) -> list[ProductLines]:
    """The lines of an exported workbook, grouped by product in the export's order."""
    rows = python_calamine.CalamineWorkbook.from_path(str(export)) \
        .get_sheet_by_index(0).to_python()
    headers = [str(h) for h in rows[0]]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows[1:]:
        record = dict(zip(headers, row, strict=False))
        grouped.setdefault(str(record["product_id"]), []).append(record)
    return [ProductLines(pid, sorted(lines, key=lambda r: int(r["line_number"])))
            for pid, lines in grouped.items()]


@dataclass
class ProductChanges:
    """The 5 changes of one product, in canonical values."""

    product_id: str
    delete_id: str
    updates: list[tuple[dict[str, Any], Decimal]]   # (line as exported, new product_minutes)
    creates: list[dict[str, Any]]                   # full canonical values of the new lines
    kept: list[dict[str, Any]]                      # lines left as they are


def plan_changes(product: ProductLines) -> ProductChanges:
    lines = product.lines
    if len(lines) < 3:
        raise SystemExit(f"product {product.product_id} has {len(lines)} lines; the benchmark "
                         "needs at least 3 per product")
    last = int(lines[-1]["line_number"])
    updates = [(line, _minutes(line) + 1) for line in lines[:2]]
    creates = [{"product_id": product.product_id, "process_id": lines[i]["process_id"],
                "line_number": last + 1 + i, "active": "Active",
                "description": f"bench: new line {last + 1 + i}",
                "product_minutes": Decimal("7.5")} for i in range(2)]
    return ProductChanges(product.product_id, str(lines[-1]["id"]), updates, creates,
                          lines[2:-1])


def _minutes(line: dict[str, Any]) -> Decimal:
    value = line.get("product_minutes")
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def write_changes_sheet(target: Path, changes: Sequence[ProductChanges]) -> Path:
    """The sheet that, applied in mirror mode, makes exactly these changes."""

    def rows() -> Iterator[list[Any]]:
        for product in changes:
            for line, minutes in product.updates:
                yield [_cell(line, c) if c != "product_minutes" else float(minutes)
                       for c in SHEET_COLUMNS]
            for line in product.kept:
                yield [_cell(line, c) for c in SHEET_COLUMNS]
            for new in product.creates:
                yield [_cell(new, c) for c in SHEET_COLUMNS]

    return write_table_workbook(target, [("Lines", SHEET_COLUMNS, rows())])


def _cell(line: dict[str, Any], column: str) -> Any:
    value = line.get(column)
    if isinstance(value, Decimal):
        return float(value)
    return "" if value is None else value


@dataclass
class SequentialResult:
    writes: int
    seconds: float
    failures: list[str]


async def sequential_writes(base_url: str, token: str,
                            changes: Sequence[ProductChanges]) -> SequentialResult:
    """The same kind of changes sent the way public scripts do: one request at a time (here
    with no pause between them), over one kept-alive aiohttp session."""
    url = f"{base_url}/product-processes"
    headers = {"Cookie": f"user={token}", "Content-Type": "application/json"}
    requests: list[tuple[str, dict[str, Any]]] = []
    for product in changes:
        requests.append(("DELETE", {schema.ID.wire_name: product.delete_id}))
        for line, minutes in product.updates:
            requests.append(("PUT", {schema.ID.wire_name: str(line["id"]),
                                     **schema.wire_body({"product_minutes": minutes})}))
        for new in product.creates:
            requests.append(("POST", schema.wire_body(new)))
    failures: list[str] = []
    async with aiohttp.ClientSession(headers=headers) as session:
        started = time.perf_counter()
        for method, body in requests:
            async with session.request(method, url, json=body) as response:
                await response.read()
                if response.status != 200:
                    failures.append(f"{method} -> {response.status}")
        seconds = time.perf_counter() - started
    return SequentialResult(len(requests), seconds, failures)
