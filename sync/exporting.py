"""``export``: the server's current lines in a workbook a planner edits and uploads again
(the layout of ``sync.templating``, filled), as .xlsx or CSV.

An export adds ``edited`` (kept so that a line changed on the server after the export becomes
a conflict instead of being overwritten) and read-only context (edited_by) whose header the
loader does not take for a field: shown greyed, kept in the report, never sent (``api`` warns
when a planner changed it).  So an unedited export plans to zero changes.  An .xlsx export
also carries the base of a three-way merge: the lines as exported, in a hidden, protected
sheet (``sync.mergebase``), so that a plan decides cell by cell which side changed what.

A CSV export prefixes formula-like text with ``'`` (which ``schema`` strips again on reading).
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from . import mergebase, schema
from .client import FlowtracClient
from .connection import Connection
from .errors import ServerError, ServerUnavailableError, UsageError
from .files import atomic_output, check_target_folder
from .listing import Listing
from .report.parts import EXCEL_MAX_ROWS
from .schema import is_formula_like
from .templating import (
    PRODUCT_NAME_KEY,
    ROW_PRODUCT_NAME,
    Column,
    Exported,
    export_columns,
    name_lists,
    write_data_workbook,
)

__all__ = [
    "FILTER_OPERATORS", "csv_text", "export", "export_format", "export_lines", "parse_filter",
    "resolve_products",
]

#: Operator suffixes of the GET filter syntax (docs/flowtrac-api.md).
FILTER_OPERATORS = ("eq", "in", "notin", "gt", "lt", "contains", "isnull", "isnotnull")
#: Operators that take no value (``--filter description-isnull``).
_VALUELESS = ("isnull", "isnotnull")
#: The barcode column of ``/api/products``.
PRODUCT_BARCODE_KEY = "barcode"
#: Product ids per ``product_id-in`` request.
_ID_BATCH = 200

# --------------------------------------------------------------------------- filters


def _filter_column(name: str) -> str | None:
    """The GET filter column a name means (filter names, field names and header spellings)."""
    if name in schema.FILTERABLE:
        return name
    token = schema.header_token(name)
    for f in schema.FIELDS:
        spellings = (f.name, *f.aliases, *f.wire_names, f.filter_name or f.name)
        if f.filter_name and token in {schema.header_token(s) for s in spellings}:
            return f.filter_name
    return None


def parse_filter(text: str) -> tuple[str, str]:
    """``col=value``, ``col-in=a,b``, ``col-isnull`` ... -> a GET query pair; the column is
    checked against ``schema.FILTERABLE`` (UsageError otherwise)."""
    name, has_value, value = (part.strip() for part in text.partition("="))
    column, op = _filter_column(name), "eq"
    if column is None and "-" in name:
        base, op = name.rsplit("-", 1)
        column = _filter_column(base.strip())
        op = op.strip().lower()
        if column is not None and op not in FILTER_OPERATORS:
            raise UsageError(f"--filter {text!r}: unknown operator -{op}; use one of "
                             f"{', '.join('-' + o for o in FILTER_OPERATORS)}.")
    if column is None:
        raise UsageError(f"--filter {text!r}: {name!r} is not a filterable column; use one of "
                         f"{', '.join(sorted(schema.FILTERABLE))}.")
    if op in _VALUELESS:
        return f"{column}-{op}", ""
    if not has_value:
        raise UsageError(f"--filter {text!r} needs a value: {name}=VALUE.")
    return (column if op == "eq" else f"{column}-{op}"), value


async def resolve_products(client: FlowtracClient, names: Iterable[str]) -> list[str]:
    """Product ids for names given as an exact product name or barcode (UsageError, naming
    the unknown ones, when any matches nothing).  A name shared by several products gives all
    of them: an export only reads."""
    wanted = list(dict.fromkeys(n.strip() for n in names if n and n.strip()))

    async def lookup(name: str) -> list[dict[str, Any]]:
        by_name, by_barcode = await asyncio.gather(
            client.list_products([(PRODUCT_NAME_KEY, name)]),
            client.list_products([(PRODUCT_BARCODE_KEY, name)]))
        return by_name + by_barcode

    try:
        found = await asyncio.gather(*(lookup(n) for n in wanted))
    except (ServerError, ServerUnavailableError) as exc:
        raise UsageError(f"cannot look products up by name ({exc}); give product ids with "
                         f"--filter product_id-in=ID,ID instead.") from None
    unknown = [n for n, hits in zip(wanted, found, strict=True) if not hits]
    if unknown:
        raise UsageError(f"no product is named, or has the barcode, "
                         f"{', '.join(repr(n) for n in unknown)}.")
    ids = [r.get(schema.PRODUCT_ID.name) for hits in found for r in hits]
    return list(dict.fromkeys(i for i in ids if i))


# --------------------------------------------------------------------------- export

def export_format(out_path: str | Path, fmt: str | None) -> str:
    """``xlsx`` or ``csv``: as asked, else from the file name (``.csv`` -> csv)."""
    if fmt is None:
        return "csv" if Path(out_path).suffix.lower() in (".csv", ".txt") else "xlsx"
    fmt = fmt.lower()
    if fmt not in ("xlsx", "csv"):
        raise UsageError(f"--format must be xlsx or csv, got {fmt!r}.")
    return fmt


async def export(connection: Connection, out_path: str | Path, *,
                 filters: Sequence[str] = (), products: Sequence[str] = (),
                 fmt: str | None = None, concurrency: int = 16,
                 excel_max_rows: int = EXCEL_MAX_ROWS) -> Exported:
    """Write the server's current lines (all, or those the filters and products select) to
    ``out_path`` in the layout the loader reads, sorted by product name, then line.

    An xlsx export of more lines than an Excel sheet holds below its header is written as
    CSV beside ``out_path`` instead (same name, ``.csv``), with a warning saying so: a sheet
    past the limit would be cut short when Excel opens it, and the CSV plans as one sheet."""
    query = [parse_filter(f) for f in filters]     # usage errors before any request
    fmt = export_format(out_path, fmt)
    target = Path(out_path)
    check_target_folder(target, "export")
    warnings: list[str] = []
    async with FlowtracClient(connection, concurrency=concurrency) as client:
        await client.login()
        product_ids = await resolve_products(client, products) if products else None
        listing, kept = await _fetch_lines(client, query, product_ids)
        names, lists = await name_lists(client, warnings)
    # The lines stay columns; each row's record is made when it is written, so a million
    # lines are never held as dicts.
    line_products = listing.column(schema.PRODUCT_ID.name)
    product_names = [names.get(p) if p else None for p in line_products]
    numbers, ids = listing.column(schema.LINE_NUMBER.name), listing.column(schema.ID.name)
    order = sorted(kept, key=lambda at: _export_order(product_names[at], line_products[at],
                                                      numbers[at], ids[at]))

    def lines() -> Iterator[dict[str, Any]]:
        for at in order:
            line = listing[at]
            line[ROW_PRODUCT_NAME] = product_names[at]
            yield line

    columns = export_columns()
    rows = ([line.get(c.key) for c in columns] for line in lines())
    if fmt == "xlsx" and len(order) + 1 > excel_max_rows:
        fmt, csv_target = "csv", target.with_suffix(".csv")
        warnings.append(f"{len(order):,} lines do not fit an Excel sheet ({excel_max_rows:,} "
                        f"rows with the header): exported as CSV to {csv_target.name} instead "
                        f"of {target.name}; plan and apply read it as they read the workbook.")
        target = csv_target
    if fmt == "csv":
        _write_csv(target, columns, rows)
    else:
        # The base of a three-way merge (``sync.mergebase``): the lines as exported, hidden.
        base = mergebase.base_rows(connection.base_url, lines())
        write_data_workbook(target, columns, rows, len(order), "export", lists, base)
    return Exported(target, len(order), fmt, warnings)


async def export_lines(connection: Connection, out_path: str | Path, *,
                       filters: Sequence[str] = (), products: Sequence[str] = (),
                       fmt: str | None = "xlsx") -> Path:
    """``export`` returning only the path written (``fmt=None``: from the file name)."""
    return (await export(connection, out_path, filters=filters, products=products,
                         fmt=fmt)).path


def _export_order(name: str | None, product_id: Any, number: Any, line_id: Any
                  ) -> tuple[Any, ...]:
    return (name is None, str(name or "").casefold(), str(product_id),
            number if isinstance(number, int) else 2**63, str(line_id))


async def _fetch_lines(client: FlowtracClient, query: list[tuple[str, str]],
                       product_ids: list[str] | None) -> tuple[Listing, list[int]]:
    """The lines, and the positions of those to export: a line that two product batches
    both answered is exported once."""
    try:
        if product_ids is None:
            listing = await client.list_lines(query or None)
            return listing, list(range(len(listing)))
        column = f"{schema.PRODUCT_ID.filter_name}-in"
        batches = [product_ids[i:i + _ID_BATCH] for i in range(0, len(product_ids), _ID_BATCH)]
        found = await asyncio.gather(*(client.list_lines([*query, (column, ",".join(b))])
                                       for b in batches))
    except ServerError as exc:
        if exc.status == 400 and query:
            raise UsageError(f"the server refused the filter: {exc}") from None
        raise
    listing = Listing()
    for batch in found:
        listing.extend(batch)
    first: dict[Any, int] = {}
    for at, line_id in enumerate(listing.column(schema.ID.name)):
        first.setdefault(line_id, at)
    return listing, sorted(first.values())


# --------------------------------------------------------------------------- csv writing


def _write_csv(target: Path, columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> None:
    """UTF-8 with a BOM (so Excel reads the accents right), comma-delimited."""
    with atomic_output(target, "export") as handle:
        stream = _TextOut(handle)
        writer = csv.writer(stream)
        writer.writerow([c.header for c in columns])
        writer.writerows([csv_text(v) for v in values] for values in rows)
        stream.flush()


class _TextOut:
    """A UTF-8 (with BOM) text view of a binary handle, buffered for ``csv.writer``."""

    def __init__(self, handle: IO[bytes]):
        self._handle = handle
        self._parts: list[str] = ["\ufeff"]
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= 1 << 20:
            self.flush()
        return len(text)

    def flush(self) -> None:
        self._handle.write("".join(self._parts).encode("utf-8"))
        self._parts.clear()
        self._size = 0


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return schema.format_decimal(value)
    text = str(value)
    # A spreadsheet opening the CSV would run formula-like text; the quote prefix keeps it
    # text, and the loader reads it back without the quote (schema's text rule).
    return "'" + text if is_formula_like(text) else text
