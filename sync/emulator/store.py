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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, overload

import orjson

from sync.schema import ACTIVE, BY_NAME, EDITED, ID, LINE_NUMBER, PROCESS_ID, PRODUCT_ID

from ..errors import EmulatorRefusalError
from .filters import ColumnKind, Filter, lookup_key, parse_filters
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

#: The order of a line's values in a stored row (and in ``Rows``): the order GET shows them.
LINE_ORDER: tuple[str, ...] = tuple(LINE_COLUMNS)
_PRODUCT_AT = LINE_ORDER.index(PRODUCT_COLUMN)
_PROCESS_AT = LINE_ORDER.index(PROCESS_COLUMN)
#: Line columns whose values repeat across lines, so each value is kept once; ids and the
#: two timestamps are nearly all distinct.
LINE_SHARED = frozenset(LINE_ORDER) - {ID_COLUMN, COLUMN[CREATED.name], COLUMN[EDITED.name]}
_CATALOG_SHARED = frozenset({ACTIVE.name, OPERATION_TYPE.name})


class Rows(Sequence[Record]):
    """Lines as stored rows (values in ``LINE_ORDER``, then a creation number from 0), read as
    records: how a generated data set of a million lines reaches the store without a dict
    per line."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        # Equal to the list of the same records, as a data set of dicts would be.
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | list[Record]:
        if isinstance(index, slice):
            return [dict(zip(LINE_ORDER, row, strict=False)) for row in self.rows[index]]
        return dict(zip(LINE_ORDER, self.rows[index], strict=False))


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
        self._products = _Table(PRODUCTS.path, PRODUCTS.key, PRODUCTS.columns,
                                shared=_CATALOG_SHARED, db=self._db)
        self._processes = _Table(PROCESSES.path, PROCESSES.key, PROCESSES.columns,
                                 shared=_CATALOG_SHARED, db=self._db)
        self._lines = _Table(
            "product_processes", ID_COLUMN, LINE_COLUMNS, index_column=PRODUCT_COLUMN,
            shared=LINE_SHARED, db=self._db,
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
            return self._lines.records()

    def products(self) -> list[Record]:
        with self._lock:
            return self._products.records()

    def processes(self) -> list[Record]:
        with self._lock:
            return self._processes.records()

    def line(self, record_id: str) -> Record | None:
        with self._lock:
            return self._lines.get(str(record_id).lower())

    def select_lines(self, query: Query) -> list[Record]:
        """Lines matching GET filters (``{"product_id-in": "a,b"}`` or query pairs)."""
        return self._select(self._lines, query)

    def select_catalog(self, catalog: Catalog, query: Query) -> list[Record]:
        return self._select(self._catalog_table(catalog), query)

    def select_lines_json(self, query: Query) -> bytes:
        """``select_lines`` as the JSON GET sends."""
        return b"".join(self.select_lines_blocks(query))

    def select_lines_blocks(self, query: Query) -> Iterator[bytes]:
        """``select_lines_json`` in pieces, encoded as they are read (the selection itself is
        taken at once, so writes meanwhile do not change it); a bad filter raises at once."""
        return self._select_blocks(self._lines, query)

    def select_catalog_json(self, catalog: Catalog, query: Query) -> bytes:
        return b"".join(self.select_catalog_blocks(catalog, query))

    def select_catalog_blocks(self, catalog: Catalog, query: Query) -> Iterator[bytes]:
        return self._select_blocks(self._catalog_table(catalog), query)

    def is_empty(self) -> bool:
        with self._lock:
            return not (self._lines or self._products or self._processes)

    def _select(self, table: _Table, query: Query) -> list[Record]:
        filters = self._filters(table, query)
        with self._lock:
            return list(table.select(filters))

    def _select_blocks(self, table: _Table, query: Query) -> Iterator[bytes]:
        filters = self._filters(table, query)
        with self._lock:
            rows = table.select_rows(filters)
        return table.json_blocks(rows)

    @staticmethod
    def _filters(table: _Table, query: Query) -> list[Filter]:
        pairs = query.items() if isinstance(query, Mapping) else query
        return parse_filters(pairs, table.columns)

    # ----------------------------------------------------------------- writing (HTTP rules)

    def create_line(
        self, body: Any, *, user: str, allow_duplicate_lines: bool = False, tool: str = API_TOOL
    ) -> Record:
        """POST: a new line from a request body; returns it as GET shows it."""
        values = parse_line_body(body)
        if values.pop(ID.name, None) is not None:
            raise EmulatorRefusalError("id is assigned by the server: leave it out when creating.")
        with self._lock:
            return self._insert_line(values, user, tool, check_line=not allow_duplicate_lines)

    def update_line(
        self, body: Any, *, user: str, allow_duplicate_lines: bool = False, tool: str = API_TOOL
    ) -> Record:
        """PUT: change the given fields of the line named by ``id``."""
        values = parse_line_body(body)
        record_id = values.pop(ID.name, None)
        if record_id is None:
            raise EmulatorRefusalError("id is required: it names the record to change.")
        refuse_nulls(values)
        with self._lock:
            current = self._existing_line(record_id)
            product_id = current[PRODUCT_COLUMN]
            if values.get(PRODUCT_ID.name, product_id) != product_id:
                raise EmulatorRefusalError("product_id cannot be modified from its original value.")
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
            if record[catalog.key] in table:
                raise EmulatorRefusalError(
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
            lines = dataset.lines
            rows = lines.rows if isinstance(lines, Rows) else [
                self._lines.row_of(record, n) for n, record in enumerate(lines)
            ]
            for at, catalog in ((_PRODUCT_AT, PRODUCTS), (_PROCESS_AT, PROCESSES)):
                table = self._catalog_table(catalog)
                for key in dict.fromkeys(row[at] for row in rows):
                    if key not in table:
                        raise EmulatorRefusalError(f"No {catalog.noun} with id {key}.")
            self._lines.put_rows(rows)

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
        if record_id in self._lines:
            raise EmulatorRefusalError(f"A product-process with id {record_id} already exists.")
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
        record = self._lines.get(key) if key else None
        if record is None:
            raise EmulatorRefusalError(f"No product-process with id {record_id}.", status=404)
        return record

    def _catalog_table(self, catalog: Catalog) -> _Table:
        return self._products if catalog is PRODUCTS else self._processes

    def _catalog_record(self, catalog: Catalog, key: str) -> Record:
        record = self._catalog_table(catalog).get(key)
        if record is None:
            raise EmulatorRefusalError(f"No {catalog.noun} with id {key}.")
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
                raise EmulatorRefusalError(
                    f"Product {product_id} already has a record on line {wanted} "
                    f"(id {other[ID_COLUMN]}); free that line first."
                )


class _Table:
    """Records by key, in creation order, with an optional index on one more column.

    A record is kept as a tuple of its values in column order (plus its creation number), not
    as a dict: a million lines then fit in a few hundred MB, and the often repeated values
    (product ids, process names, users, numbers) are one shared string each.  Callers get and
    give dicts; ``put`` replaces a record whole, so a tuple is never changed in place."""

    def __init__(
        self,
        name: str,
        key_column: str,
        columns: dict[str, ColumnKind],
        *,
        index_column: str | None = None,
        shared: Iterable[str] = (),
        db: _Database | None = None,
    ) -> None:
        self.name = name
        self.key_column = key_column
        self.columns = columns
        self.index_column = index_column
        self._names = tuple(columns)
        self._key_at = self._names.index(key_column)
        self._index_at = self._names.index(index_column) if index_column else None
        #: key -> (*values, seq); dicts keep insertion order, which is creation order.
        self._rows: dict[str, tuple[Any, ...]] = {}
        self._next_seq = 0
        self._index: dict[str, list[str]] = {}
        #: Indexes on other text and uuid columns, built by the first ``eq``/``in`` filter on
        #: them and dropped by any change: a catalog looked up by name is then not scanned
        #: once per request.
        self._lookups: dict[str, dict[Any, list[str]]] = {}
        self._shared: dict[Any, Any] = {}
        self._shared_columns = frozenset(shared)
        self._db = db
        if db is not None:
            db.create(name)
            for seq, record in db.rows(name):
                self._remember(self._row(record, seq))

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def get(self, key: str) -> Record | None:
        row = self._rows.get(key)
        return None if row is None else self._record(row)

    def records(self) -> list[Record]:
        return [self._record(row) for row in self._rows.values()]

    def group(self, value: str) -> list[Record]:
        """Records whose index column holds ``value``."""
        return [self._record(self._rows[k]) for k in self._index.get(value, ())]

    def put(self, record: Record) -> None:
        """Insert or replace (by key) one record, writing it through."""
        old = self._rows.get(record[self.key_column])
        row = self._remember(self._row(record, self._next_seq if old is None else old[-1]))
        if self._db is not None:
            self._db.save(self.name, [(row[self._key_at], row[-1], record)])

    def put_many(self, records: Iterable[Record]) -> None:
        self.put_rows([self._row(record, self._next_seq + n) for n, record in enumerate(records)])

    def put_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Add rows made already (values in column order, then a creation number from 0)."""
        if self._next_seq:
            rows = [(*row[:-1], row[-1] + self._next_seq) for row in rows]
        for row in rows:
            self._remember(row)
        if self._db is not None:
            self._db.save(self.name, [(row[self._key_at], row[-1], self._record(row))
                                      for row in rows])

    def delete(self, key: str) -> None:
        row = self._rows.pop(key)
        self._lookups.clear()
        if self._index_at is not None:
            self._index[row[self._index_at]].remove(key)
        if self._db is not None:
            self._db.delete(self.name, key)

    def select(self, filters: list[Filter]) -> Iterator[Record]:
        return (self._record(row) for row in self.select_rows(filters))

    def json_blocks(self, rows: list[tuple[Any, ...]]) -> Iterator[bytes]:
        """Rows as the JSON array GET sends, in pieces of ``_JSON_BLOCK`` records."""
        names = self._names
        yield b"["
        for start in range(0, len(rows), _JSON_BLOCK):
            block = [dict(zip(names, row, strict=False))
                     for row in rows[start:start + _JSON_BLOCK]]
            text = orjson.dumps(block)[1:-1]
            yield b"," + text if start else text
        yield b"]"

    def select_rows(self, filters: list[Filter]) -> list[tuple[Any, ...]]:
        """The rows that pass every filter, in creation order (rows are never changed in
        place, so the list stays a true snapshot)."""
        candidates, answered = self._indexed(filters)
        rows = self._rows.values() if candidates is None else candidates
        # Stored ids are canonical, so the filter an index answered holds for every candidate.
        tests = [(self._names.index(f.column), f.test) for f in filters if f is not answered]
        if not tests:
            return list(rows)
        return [row for row in rows if all(test(row[at]) for at, test in tests)]

    def _indexed(self, filters: list[Filter]
                 ) -> tuple[list[tuple[Any, ...]] | None, Filter | None]:
        """Candidates from the first filter an index can answer, in creation order, and that
        filter (None, None when no index can)."""
        for f in filters:
            keys = f.index_keys()
            if keys is None:
                continue
            if f.column == self.key_column:
                found = [self._rows[k] for k in dict.fromkeys(keys) if k in self._rows]
            elif f.column == self.index_column:
                found = [self._rows[k] for value in dict.fromkeys(keys)
                         for k in self._index.get(value, ())]
            elif self.columns[f.column] in _LOOKUP_KINDS:
                lookup = self._lookup(f.column)
                found = [self._rows[k] for value in dict.fromkeys(keys)
                         for k in lookup.get(value, ())]
            else:
                continue
            found.sort(key=itemgetter(-1))
            return found, f
        return None, None

    def _lookup(self, column: str) -> dict[Any, list[str]]:
        lookup = self._lookups.get(column)
        if lookup is None:
            at, key_at, kind = self._names.index(column), self._key_at, self.columns[column]
            lookup = {}
            for row in self._rows.values():
                if row[at] is not None:
                    lookup.setdefault(lookup_key(kind, row[at]), []).append(row[key_at])
            self._lookups[column] = lookup
        return lookup

    def row_of(self, record: Record, seq: int) -> tuple[Any, ...]:
        """A record as ``put_rows`` takes it."""
        return self._row(record, seq)

    def _row(self, record: Record, seq: int) -> tuple[Any, ...]:
        # Values of the columns that repeat go through one table of shared objects.
        share, shared = self._shared.setdefault, self._shared_columns
        return (*(share(v, v) if name in shared else v
                  for name, v in ((name, record.get(name)) for name in self._names)), seq)

    def _record(self, row: tuple[Any, ...]) -> Record:
        return dict(zip(self._names, row, strict=False))

    def _remember(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        key = row[self._key_at]
        self._lookups.clear()
        self._next_seq = max(self._next_seq, row[-1] + 1)
        old = self._rows.get(key)
        self._rows[key] = row
        if self._index_at is not None:
            if old is not None:
                self._index[old[self._index_at]].remove(key)
            self._index.setdefault(row[self._index_at], []).append(key)
        return row


#: Column kinds whose ``eq``/``in`` filters compare the stored text exactly (uuids are
#: stored canonical), so that a lookup by value answers them.
_LOOKUP_KINDS = frozenset({ColumnKind.TEXT, ColumnKind.UUID})

#: Records encoded per orjson call in a listing: big enough to be fast, small in memory.
_JSON_BLOCK = 5_000


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
