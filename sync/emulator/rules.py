"""What the emulator accepts in a request body, and how a stored record looks on the wire.

Field names, kinds and flags all come from ``sync.schema``.  The products and processes
tables are not product-process lines, so their few columns are described here (``Catalog``).
Every refusal is an ``EmulatorRefusalError`` carrying the HTTP status and a planner-readable
sentence.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.schema import (
    ACTIVE,
    BY_NAME,
    FIELDS,
    ID,
    LINE_NUMBER,
    PROCESS_ID,
    PRODUCT_ID,
    REQUIRED,
    Field,
    Kind,
)

from ..errors import EmulatorRefusalError, InvalidValueError
from .filters import ColumnKind

# --------------------------------------------------------------------------- line columns

def _column(f: Field) -> str:
    # GET spells each column as the filter syntax does (dwell as the vendor's "mintues").
    return f.filter_name or f.name


#: field name -> the key GET uses for it.
COLUMN: dict[str, str] = {f.name: _column(f) for f in FIELDS}

_KIND_OF_COLUMN = {
    Kind.UUID: ColumnKind.UUID,
    Kind.LINE_NUMBER: ColumnKind.NUMBER,
    Kind.MINUTES: ColumnKind.NUMBER,
    Kind.STATUS: ColumnKind.STATUS,
    Kind.TEXT: ColumnKind.TEXT,
    Kind.TIMESTAMP: ColumnKind.TEXT,  # "YYYY-MM-DD HH:MM:SS" orders correctly as text
}
#: GET column -> how filters compare it.
LINE_COLUMNS: dict[str, ColumnKind] = {_column(f): _KIND_OF_COLUMN[f.kind] for f in FIELDS}

ID_COLUMN = COLUMN[ID.name]
PRODUCT_COLUMN = COLUMN[PRODUCT_ID.name]
PROCESS_COLUMN = COLUMN[PROCESS_ID.name]
LINE_NUMBER_COLUMN = COLUMN[LINE_NUMBER.name]

#: Read-only columns derived from the process; never taken from a body, not even when staging.
PROCESS_NAME = BY_NAME["process"]
OPERATION_TYPE = BY_NAME["operation_type"]
_DERIVED = frozenset({PROCESS_NAME.name, OPERATION_TYPE.name})
#: The columns the server stamps on create and on every change.
CREATED = BY_NAME["created"]
CREATED_BY = BY_NAME["created_by"]
CREATED_WITH = BY_NAME["created_with"]
EDITED_BY = BY_NAME["edited_by"]
EDITED_WITH = BY_NAME["edited_with"]

# Every spelling a client may use for a field in a body: name, wire names, GET column.
_BODY_KEYS: dict[str, Field] = {}
for _f in FIELDS:
    for _key in (_f.name, *_f.wire_names, _column(_f)):
        _BODY_KEYS[_key] = _f


def parse_line_body(body: Any, *, staging: bool = False) -> dict[str, Any]:
    """A JSON body -> ``{field name: canonical value}`` for the fields it holds.

    ``staging`` (seed files and ``Store.add_line``) also accepts the server-stamped columns
    (created, edited, ...); a request body may hold only ``id`` and the writable fields."""
    if not isinstance(body, Mapping):
        raise EmulatorRefusalError("The request body must be a JSON object.")
    values: dict[str, Any] = {}
    for key, raw in body.items():
        f = _BODY_KEYS.get(key)
        if f is None:
            raise EmulatorRefusalError(f'Unknown field "{key}".')
        if f.read_only and (not staging or f.name in _DERIVED):
            raise EmulatorRefusalError(f"{key} is set by the server and cannot be written.")
        value = parse_value(f, raw, key)
        if f.name in values and values[f.name] != value:
            raise EmulatorRefusalError(
                f"Two spellings of {f.name} were given with different values; send one."
            )
        values[f.name] = value
    return values


def parse_value(f: Field, raw: Any, key: str | None = None) -> Any:
    """One body value -> canonical value (None for null or blank); raises EmulatorRefusalError."""
    key = key or f.name
    if isinstance(raw, (dict, list)):
        raise EmulatorRefusalError(f"{key} must be a string or a number.")
    if f.kind is Kind.STATUS:
        return parse_status(raw, key)
    try:
        return f.parse(raw)
    except InvalidValueError as error:
        raise EmulatorRefusalError(str(error)) from None


_STATUSES = ("Active", "InActive")


def parse_status(raw: Any, key: str) -> str | None:
    # The vendor documents exactly these two spellings; the emulator takes no other.
    if raw is None:
        return None
    if raw not in _STATUSES:
        raise EmulatorRefusalError(f'{key} must be exactly Active or InActive, got "{raw}".')
    return str(raw)


def require_fields(values: Mapping[str, Any]) -> None:
    """Refuse a new record that lacks a required field or nulls a non-nullable one."""
    for f in REQUIRED:
        if values.get(f.name) is None:
            raise EmulatorRefusalError(f"{f.name} is required.")
    refuse_nulls(values)


def refuse_nulls(values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if value is None and not BY_NAME[name].nullable:
            raise EmulatorRefusalError(f"{name} cannot be empty.")


def to_wire(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical ``{field name: value}`` -> the record as GET shows it (every column)."""
    return {COLUMN[f.name]: f.to_wire(values.get(f.name)) for f in FIELDS}


def new_id() -> str:
    return str(uuid.uuid4())


def default_active() -> str:
    return ACTIVE.default or _STATUSES[0]


# --------------------------------------------------------------------------- products, processes

@dataclass(frozen=True)
class Catalog:
    """A neighbouring table the tool reads: /api/products or /api/processes."""

    path: str                 # URL segment under /api
    noun: str                 # "product" in "No product with id ..."
    key: str                  # uuid column
    name: str                 # the name column
    extra: tuple[str, ...] = ()  # further text columns this table returns

    @property
    def columns(self) -> dict[str, ColumnKind]:
        """Columns GET returns and filters accept, with how filters compare them."""
        return {
            self.key: ColumnKind.UUID,
            self.name: ColumnKind.TEXT,
            BARCODE: ColumnKind.TEXT,
            ACTIVE.name: ColumnKind.STATUS,
            **{column: ColumnKind.TEXT for column in self.extra},
        }

    def parse(self, body: Any) -> dict[str, Any]:
        """A POST body -> the stored record (id assigned when absent)."""
        if not isinstance(body, Mapping):
            raise EmulatorRefusalError("The request body must be a JSON object.")
        columns = self.columns
        for key in body:
            if key not in columns:
                raise EmulatorRefusalError(f'Unknown field "{key}" for a {self.noun}.')
        record: dict[str, Any] = {}
        for column, kind in columns.items():
            raw = body.get(column)
            if kind is ColumnKind.UUID:
                record[column] = parse_value(BY_NAME[column], raw) or new_id()
            elif kind is ColumnKind.STATUS:
                record[column] = parse_status(raw, column) or default_active()
            else:
                record[column] = _catalog_text(raw, column)
        if record[self.name] is None:
            raise EmulatorRefusalError(f"{self.name} (the {self.noun}'s name) is required.")
        return record


BARCODE = "barcode"
PRODUCTS = Catalog("products", "product", PRODUCT_ID.name, "product")
PROCESSES = Catalog(
    "processes", "process", PROCESS_ID.name, PROCESS_NAME.name, extra=(OPERATION_TYPE.name,)
)


def _catalog_text(raw: Any, column: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, (dict, list, bool)):
        raise EmulatorRefusalError(f"{column} must be text.")
    text = str(raw).strip()
    return text or None
