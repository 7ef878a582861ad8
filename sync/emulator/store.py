"""The emulator's data: products, processes and product-process lines, kept in memory as the
records GET returns, indexed by id and by product_id, optionally written through to SQLite.

The same rules serve the HTTP handlers and tests that stage data (``add_line`` and friends),
so a staged record looks exactly like one created over HTTP.  All methods are thread-safe: a
test may inspect a store while an ``EmulatorThread`` serves it.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from sync.schema import ACTIVE, BY_NAME, EDITED, ID, LINE_NUMBER, PROCESS_ID, PRODUCT_ID

from .filters import ColumnKind, Filter, FilterError, matches, parse_filters
from .rules import (
    COLUMN,
    CREATED,
    CREATED_BY,
    CREATED_WITH,
    EDITED_BY,
    EDITED_WITH,
    ID_COLUMN,
    LINE_COLUMNS,
    LINE_NUMBER_COLUMN,
    OPERATION_TYPE,
    PROCESS_COLUMN,
    PROCESS_NAME,
    PROCESSES,
    PRODUCT_COLUMN,
    PRODUCTS,
    Catalog,
    RuleViolation,
    default_active,
    new_id,
    parse_line_body,
    parse_value,
    refuse_nulls,
    require_fields,
    to_wire,
)

if TYPE_CHECKING:
    from .dataset import Dataset

Record = dict[str, Any]
Query = Iterable[tuple[str, str]] | Mapping[str, str]

#: A record as JSON text, exactly as the app encodes answers (compact, UTF-8 kept).
record_json = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)

#: Who wrote a record, for created_by/edited_by when nobody logged in (staging, seeds).
STAGING_USER = "seed"
API_TOOL = "API"
STAGING_TOOL = "Import"


class Store:
    """Products, processes and lines; see the module docstring."""

    def __init__(
        self, db_path: str | None = None, *, clock: Callable[[], dt.datetime] | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock or dt.datetime.now
        self._db = _Database(db_path) if db_path else None
        self._products = _Table(PRODUCTS.path, PRODUCTS.key, PRODUCTS.columns, db=self._db)
        self._processes = _Table(PROCESSES.path, PROCESSES.key, PROCESSES.columns, db=self._db)
        self._lines = _Table(
            "product_processes", ID_COLUMN, LINE_COLUMNS, index_column=PRODUCT_COLUMN,
            db=self._db,
        )
        #: Committed writes to /api/product-processes (POST, PUT and DELETE together).
        self.write_count = 0
        #: The same, per HTTP method.
        self.writes_by_method: Counter[str] = Counter()
        #: Every HTTP request that reached the emulator, refused ones included.
        self.request_count = 0

    # ----------------------------------------------------------------- reading

    def lines(self) -> list[Record]:
        """Every line as GET returns it, in creation order."""
        with self._lock:
            return [dict(r) for r in self._lines.records.values()]

    def products(self) -> list[Record]:
        with self._lock:
            return [dict(r) for r in self._products.records.values()]

    def processes(self) -> list[Record]:
        with self._lock:
            return [dict(r) for r in self._processes.records.values()]

    def line(self, record_id: str) -> Record | None:
        with self._lock:
            record = self._lines.records.get(str(record_id).lower())
            return dict(record) if record is not None else None

    def select_lines(self, query: Query) -> list[Record]:
        """Lines matching GET filters (``{"product_id-in": "a,b"}`` or query pairs)."""
        return self._select(self._lines, query)

    def select_catalog(self, catalog: Catalog, query: Query) -> list[Record]:
        return self._select(self._catalog_table(catalog), query)

    def select_lines_json(self, query: Query) -> str:
        """``select_lines`` as the JSON text GET sends (each record's text is kept)."""
        return self._select_json(self._lines, query)

    def select_catalog_json(self, catalog: Catalog, query: Query) -> str:
        return self._select_json(self._catalog_table(catalog), query)

    def is_empty(self) -> bool:
        with self._lock:
            return not (self._lines.records or self._products.records or self._processes.records)

    def _select(self, table: _Table, query: Query) -> list[Record]:
        filters = self._filters(table, query)
        with self._lock:
            return [dict(r) for r in table.select(filters)]

    def _select_json(self, table: _Table, query: Query) -> str:
        filters = self._filters(table, query)
        with self._lock:
            return "[" + ",".join(table.json_of(r) for r in table.select(filters)) + "]"

    @staticmethod
    def _filters(table: _Table, query: Query) -> list[Filter]:
        pairs = query.items() if isinstance(query, Mapping) else query
        try:
            return parse_filters(pairs, table.columns)
        except FilterError as error:
            raise RuleViolation(str(error)) from None

    # ----------------------------------------------------------------- writing (HTTP rules)

    def create_line(
        self, body: Any, *, user: str, allow_duplicate_lines: bool = False, tool: str = API_TOOL
    ) -> Record:
        """POST: a new line from a request body; returns it as GET shows it."""
        values = parse_line_body(body)
        if values.pop(ID.name, None) is not None:
            raise RuleViolation("id is assigned by the server: leave it out when creating.")
        with self._lock:
            return self._insert_line(values, user, tool, check_line=not allow_duplicate_lines)

    def update_line(
        self, body: Any, *, user: str, allow_duplicate_lines: bool = False, tool: str = API_TOOL
    ) -> Record:
        """PUT: change the given fields of the line named by ``id``."""
        values = parse_line_body(body)
        record_id = values.pop(ID.name, None)
        if record_id is None:
            raise RuleViolation("id is required: it names the record to change.")
        refuse_nulls(values)
        with self._lock:
            current = self._existing_line(record_id)
            product_id = current[PRODUCT_COLUMN]
            if values.get(PRODUCT_ID.name, product_id) != product_id:
                raise RuleViolation("product_id cannot be modified from its original value.")
            changed = dict(current)
            for name, value in values.items():
                changed[COLUMN[name]] = BY_NAME[name].to_wire(value)
            if PROCESS_ID.name in values:
                self._stamp_process(changed, values[PROCESS_ID.name])
            if LINE_NUMBER.name in values and not allow_duplicate_lines:
                self._check_line_free(product_id, values[LINE_NUMBER.name], record_id)
            self._stamp(changed, (EDITED, EDITED_BY, EDITED_WITH), user, tool)
            self._lines.put(changed)
            return dict(changed)

    def delete_line(self, record_id: str) -> Record:
        """DELETE: remove the line; returns it as it was."""
        with self._lock:
            record = self._existing_line(record_id)
            self._lines.delete(record[ID_COLUMN])
            return dict(record)

    def create_catalog(self, catalog: Catalog, body: Any) -> Record:
        """POST /api/products or /api/processes."""
        record = catalog.parse(body)
        with self._lock:
            table = self._catalog_table(catalog)
            if record[catalog.key] in table.records:
                raise RuleViolation(
                    f"A {catalog.noun} with {catalog.key} {record[catalog.key]} already exists."
                )
            table.put(record)
            return dict(record)

    # ----------------------------------------------------------------- staging (tests, seeds)

    def add_product(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> Record:
        """Add a product, e.g. ``add_product(product="Bracket", barcode="123")``."""
        return self.create_catalog(PRODUCTS, {**(fields or {}), **more})

    def add_process(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> Record:
        """Add a process, e.g. ``add_process(process="Welding")``."""
        return self.create_catalog(PROCESSES, {**(fields or {}), **more})

    def add_line(self, fields: Mapping[str, Any] | None = None, /, **more: Any) -> Record:
        """Stage a line as if it had been on the server all along.

        Accepts what a POST accepts plus ``id`` and the server-stamped columns (created,
        edited, ...), and does not refuse a second line on the same product_id+line_number,
        so tests can stage conflicts.  Product and process must exist."""
        values = parse_line_body({**(fields or {}), **more}, staging=True)
        with self._lock:
            return self._insert_line(values, STAGING_USER, STAGING_TOOL, check_line=False)

    def load(self, dataset: Dataset) -> None:
        """Bulk-load a generated or seeded data set (records as GET shows them)."""
        with self._lock:
            self._products.put_many(dataset.products)
            self._processes.put_many(dataset.processes)
            for record in dataset.lines:
                self._catalog_record(PRODUCTS, record[PRODUCT_COLUMN])
                self._catalog_record(PROCESSES, record[PROCESS_COLUMN])
            self._lines.put_many(dataset.lines)

    # ----------------------------------------------------------------- counters

    def count_request(self) -> None:
        with self._lock:
            self.request_count += 1

    def count_write(self, method: str) -> None:
        with self._lock:
            self.write_count += 1
            self.writes_by_method[method] += 1

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ----------------------------------------------------------------- internals

    def _insert_line(
        self, values: dict[str, Any], user: str, tool: str, check_line: bool
    ) -> Record:
        require_fields(values)
        record_id = values.pop(ID.name, None) or new_id()
        if record_id in self._lines.records:
            raise RuleViolation(f"A product-process with id {record_id} already exists.")
        product_id = values[PRODUCT_ID.name]
        self._catalog_record(PRODUCTS, product_id)
        if check_line:
            self._check_line_free(product_id, values[LINE_NUMBER.name], None)
        values.setdefault(ACTIVE.name, default_active())
        record = to_wire(values)
        record[ID_COLUMN] = record_id
        self._stamp_process(record, values[PROCESS_ID.name])
        # Staged records may carry their own stamps; otherwise they are stamped now.
        if record[COLUMN[CREATED.name]] is None:
            self._stamp(record, (CREATED, CREATED_BY, CREATED_WITH), user, tool)
        if record[COLUMN[EDITED.name]] is None:
            for edited, created in ((EDITED, CREATED), (EDITED_BY, CREATED_BY),
                                    (EDITED_WITH, CREATED_WITH)):
                record[COLUMN[edited.name]] = record[COLUMN[created.name]]
        self._lines.put(record)
        return dict(record)

    def _existing_line(self, record_id: Any) -> Record:
        key = parse_value(ID, record_id)
        record = self._lines.records.get(key) if key else None
        if record is None:
            raise RuleViolation(f"No product-process with id {record_id}.", status=404)
        return record

    def _catalog_table(self, catalog: Catalog) -> _Table:
        return self._products if catalog is PRODUCTS else self._processes

    def _catalog_record(self, catalog: Catalog, key: str) -> Record:
        record = self._catalog_table(catalog).records.get(key)
        if record is None:
            raise RuleViolation(f"No {catalog.noun} with id {key}.")
        return record

    def _stamp_process(self, record: Record, process_id: str) -> None:
        process = self._catalog_record(PROCESSES, process_id)
        record[COLUMN[PROCESS_NAME.name]] = process[PROCESSES.name]
        record[COLUMN[OPERATION_TYPE.name]] = process.get(OPERATION_TYPE.name)

    def _stamp(self, record: Record, stamps: tuple[Any, Any, Any], user: str, tool: str) -> None:
        when, by, with_ = stamps
        record[COLUMN[when.name]] = self._clock().strftime("%Y-%m-%d %H:%M:%S")
        record[COLUMN[by.name]] = user
        record[COLUMN[with_.name]] = tool

    def _check_line_free(self, product_id: str, line_number: int, own_id: str | None) -> None:
        wanted = LINE_NUMBER.to_wire(line_number)
        for other in self._lines.group(product_id):
            if other[LINE_NUMBER_COLUMN] == wanted and other[ID_COLUMN] != own_id:
                raise RuleViolation(
                    f"Product {product_id} already has a record on line {wanted} "
                    f"(id {other[ID_COLUMN]}); free that line first."
                )


class _Table:
    """Records by key, in creation order, with an optional index on one more column."""

    def __init__(
        self,
        name: str,
        key_column: str,
        columns: dict[str, ColumnKind],
        *,
        index_column: str | None = None,
        db: _Database | None = None,
    ) -> None:
        self.name = name
        self.key_column = key_column
        self.columns = columns
        self.index_column = index_column
        self.records: dict[str, Record] = {}
        # Each record's JSON text, made when it is stored: a real server answers a large
        # listing from many workers at once, and this one-threaded emulator would otherwise
        # spend most of a 100,000-line GET encoding the same unchanged records again.
        self._json: dict[str, str] = {}
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._index: dict[str, dict[str, Record]] = {}
        self._db = db
        if db is not None:
            db.create(name)
            for seq, record in db.rows(name):
                self._remember(record, seq)

    def group(self, value: str) -> Iterable[Record]:
        """Records whose index column holds ``value``."""
        return self._index.get(value, {}).values()

    def put(self, record: Record) -> None:
        """Insert or replace (by key) one record, writing it through."""
        key = record[self.key_column]
        old = self.records.get(key)
        if old is not None and self.index_column is not None:
            self._index[old[self.index_column]].pop(key, None)
        seq = self._remember(record, self._seq.get(key))
        if self._db is not None:
            self._db.save(self.name, [(key, seq, record)])

    def put_many(self, records: Iterable[Record]) -> None:
        rows = []
        for record in records:
            record = dict(record)
            rows.append((record[self.key_column], self._remember(record, None), record))
        if self._db is not None:
            self._db.save(self.name, rows)

    def json_of(self, record: Record) -> str:
        """A stored record's JSON text, as GET sends it (stored records are replaced, never
        changed in place: ``put``)."""
        text = self._json.get(record[self.key_column])
        return record_json(record) if text is None else text

    def delete(self, key: str) -> None:
        record = self.records.pop(key)
        self._json.pop(key, None)
        del self._seq[key]
        if self.index_column is not None:
            self._index[record[self.index_column]].pop(key, None)
        if self._db is not None:
            self._db.delete(self.name, key)

    def select(self, filters: list[Filter]) -> Iterator[Record]:
        candidates = self._indexed(filters)
        if candidates is None:
            candidates = self.records.values()
        return (r for r in candidates if matches(r, filters))

    def _indexed(self, filters: list[Filter]) -> list[Record] | None:
        """Candidates from the first filter an index can answer, in creation order."""
        for f in filters:
            keys = f.index_keys()
            if keys is None:
                continue
            if f.column == self.key_column:
                found = [self.records[k] for k in dict.fromkeys(keys) if k in self.records]
            elif f.column == self.index_column:
                found = [r for k in dict.fromkeys(keys) for r in self.group(k)]
            else:
                continue
            return sorted(found, key=lambda r: self._seq[r[self.key_column]])
        return None

    def _remember(self, record: Record, seq: int | None) -> int:
        key = record[self.key_column]
        if seq is None:
            seq = self._next_seq
        self._next_seq = max(self._next_seq, seq + 1)
        self.records[key] = record
        self._json[key] = record_json(record)
        self._seq[key] = seq
        if self.index_column is not None:
            self._index.setdefault(record[self.index_column], {})[key] = record
        return seq


class _Database:
    """SQLite copy of the tables, one JSON document per record, written on every change."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False)
        # WAL with NORMAL sync: each write is one quick commit that survives a process crash.
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def create(self, table: str) -> None:
        with self._conn:
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} "
                "(key TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL)"
            )

    def rows(self, table: str) -> Iterator[tuple[int, Record]]:
        for seq, body in self._conn.execute(f"SELECT seq, body FROM {table} ORDER BY seq"):
            yield seq, json.loads(body)

    def save(self, table: str, rows: list[tuple[str, int, Record]]) -> None:
        with self._conn:
            self._conn.executemany(
                f"INSERT OR REPLACE INTO {table} (key, seq, body) VALUES (?, ?, ?)",
                [(key, seq, json.dumps(record)) for key, seq, record in rows],
            )

    def delete(self, table: str, key: str) -> None:
        with self._conn:
            self._conn.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

    def close(self) -> None:
        self._conn.close()
