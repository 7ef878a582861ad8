"""The GET filter syntax of Flowtrac: ``col=v``, ``col-eq``, ``-in``, ``-notin``, ``-gt``, ``-lt``,
``-contains``, ``-isnull``, ``-isnotnull``.  Several filters all have to hold.

Comparisons go by meaning: numbers numerically (``5`` equals ``5.00``), uuids and the
``active`` status ignoring case; other text compares exactly, and ``-contains`` ignores case.
As in SQL, a null value matches none of the comparisons (``-notin`` included); only
``-isnull`` finds it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from sync.errors import EmulatorRefusalError


class ColumnKind(Enum):
    UUID = "uuid"
    NUMBER = "number"
    STATUS = "status"
    TEXT = "text"


OPERATORS = ("eq", "in", "notin", "gt", "lt", "contains", "isnull", "isnotnull")


Test = Callable[[Any], bool]


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    #: Values in the form the stored records hold (uuids lower-case); for eq/in only.
    keys: tuple[str, ...]
    test: Test

    def index_keys(self) -> tuple[str, ...] | None:
        """Exact values a record must hold, when an index lookup can find them."""
        return self.keys if self.op in ("eq", "in") else None


def parse_filters(
    query: Iterable[tuple[str, str]], columns: Mapping[str, ColumnKind]
) -> list[Filter]:
    """Query parameters -> filters; raises EmulatorRefusalError (400) for an unknown column or
    a bad value."""
    return [_parse_one(name, value, columns) for name, value in query]


def matches(record: Mapping[str, Any], filters: Iterable[Filter]) -> bool:
    return all(f.test(record[f.column]) for f in filters)


def _parse_one(name: str, raw: str, columns: Mapping[str, ColumnKind]) -> Filter:
    column, op = name, "eq"
    if name not in columns and "-" in name:
        column, op = name.rsplit("-", 1)
    if column not in columns:
        known = ", ".join(sorted(columns))
        raise EmulatorRefusalError(f'Unknown filter column "{name}". Filterable columns: {known}.')
    if op not in OPERATORS:
        ops = ", ".join(f"-{o}" for o in OPERATORS)
        raise EmulatorRefusalError(f'Unknown filter operator "-{op}" in "{name}". Use one of: '
                                   f'{ops}.')
    kind = columns[column]
    if op == "isnull":
        return Filter(column, op, (), _is_null)
    if op == "isnotnull":
        return Filter(column, op, (), _is_not_null)
    if op in ("in", "notin"):
        values = [v.strip() for v in raw.split(",") if v.strip()]
    else:
        values = [raw.strip()]
    if op == "contains":
        needle = values[0].casefold()
        return Filter(column, op, (), lambda v: v is not None and needle in str(v).casefold())
    comparable = _COMPARABLE[kind]
    try:
        wanted = [comparable(v) for v in values]
    except (InvalidOperation, ValueError):
        raise EmulatorRefusalError(f'Filter "{name}" needs a number, got "{raw}".') from None
    keys = tuple(values) if kind is not ColumnKind.UUID else tuple(_uuid_key(v) for v in values)
    return Filter(column, op, keys, _comparison(op, wanted, comparable))


def _comparison(op: str, wanted: list[Any], comparable: Callable[[str], Any]) -> Test:
    if op == "eq":
        target = wanted[0]
        return lambda v: v is not None and comparable(v) == target
    if op == "in":
        targets = set(wanted)
        return lambda v: v is not None and comparable(v) in targets
    if op == "notin":
        excluded = set(wanted)
        return lambda v: v is not None and comparable(v) not in excluded
    bound = wanted[0]
    if op == "gt":
        return lambda v: v is not None and comparable(v) > bound
    return lambda v: v is not None and comparable(v) < bound


def lookup_key(kind: ColumnKind, stored: Any) -> str:
    """The form of a stored text or uuid value that ``eq``/``in`` keys are compared in."""
    return _uuid_key(stored) if kind is ColumnKind.UUID else str(stored)


def _is_null(value: Any) -> bool:
    return value is None


def _is_not_null(value: Any) -> bool:
    return value is not None


def _uuid_key(text: str) -> str:
    return str(text).strip().strip("{}").lower()


def _number(text: Any) -> Decimal:
    number = Decimal(str(text).strip())
    if not number.is_finite():
        raise ValueError(text)
    return number


def _status(text: Any) -> str:
    return str(text).casefold()


def _text(text: Any) -> str:
    return str(text)


_COMPARABLE: dict[ColumnKind, Callable[[Any], Any]] = {
    ColumnKind.UUID: _uuid_key,
    ColumnKind.NUMBER: _number,
    ColumnKind.STATUS: _status,
    ColumnKind.TEXT: _text,
}
