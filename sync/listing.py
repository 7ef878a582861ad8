"""The server's lines as the fetch stage hands them on: canonical values held column by
column, a line's dict made only when someone asks for it.

A listing of a million lines as dicts holds a hash table per line; as columns it holds one
list per field, and the diff compares and joins those lists without touching a line it
leaves alone.  Records with the same keys (every line of a usual listing) share one block
of columns; a record shaped otherwise gets a block of its own, so that ``listing[i]`` is
exactly the record the server's answer meant (``schema.record_from_wire``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any, overload

import numpy as np

from sync import schema

Record = dict[str, Any]

#: What ``values`` gives for a line lacking the field, when asked to tell it from None.
MISSING: Any = object()


@dataclass(slots=True)
class _Block:
    """Consecutive records that have exactly ``keys``: one list per key."""

    keys: tuple[str, ...]
    columns: list[list[Any]]
    count: int = 0      # records with no key at all

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else self.count


class Listing(Sequence[Record]):
    """Canonical server lines, in the order they were listed."""

    def __init__(self, blocks: Iterable[_Block] = ()) -> None:
        self._blocks: list[_Block] = []
        self._starts: list[int] = []
        self._length = 0
        self._by_id: dict[Any, int] | None = None
        self._add(blocks)

    # ------------------------------------------------------------------ making one

    @classmethod
    def from_wire(cls, raws: list[dict[str, Any]]) -> Listing:
        """The records of a listing answer (parsed JSON), converted column by column.

        A column of canonical uuids or timestamps is recognised at once; in the other columns
        each distinct value is converted once (``schema.column_from_wire``)."""
        blocks: list[_Block] = []
        for keys, run in groupby(raws, key=tuple):
            records = list(run)
            names = [schema.wire_field_name(k) for k in keys]
            if not keys or len(set(names)) < len(names):
                # Both dwell spellings in one record (the first non-null wins), or no key.
                blocks.extend(_block_of(schema.record_from_wire(r)) for r in records)
                continue
            rows = (list(map(itemgetter(*keys), records)) if len(keys) > 1
                    else [(r[keys[0]],) for r in records])
            columns = [list(schema.column_from_wire(key, values))
                       for key, values in zip(keys, zip(*rows, strict=True), strict=True)]
            blocks.append(_Block(tuple(names), columns))
        return cls(blocks)

    @classmethod
    def of(cls, records: Iterable[Record]) -> Listing:
        """Canonical records (a listing already, or dicts) as a listing."""
        if isinstance(records, Listing):
            return records
        return cls(_block_of(r) for r in records)

    def extend(self, more: Iterable[Record]) -> None:
        """Add the records of another listing (or canonical dicts) at the end."""
        self._add(Listing.of(more)._blocks)

    def _add(self, blocks: Iterable[_Block]) -> None:
        for block in blocks:
            if not len(block):
                continue
            last = self._blocks[-1] if self._blocks else None
            if last is not None and last.keys == block.keys and block.keys:
                for column, added in zip(last.columns, block.columns, strict=True):
                    column.extend(added)
            else:
                self._blocks.append(_Block(block.keys, [list(c) for c in block.columns],
                                           block.count))
                self._starts.append(self._length)
            self._length += len(block)
        self._by_id = None

    # ------------------------------------------------------------------ as a sequence

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, at: int) -> Record: ...

    @overload
    def __getitem__(self, at: slice) -> list[Record]: ...

    def __getitem__(self, at: int | slice) -> Record | list[Record]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        if at < 0:
            at += self._length
        if not 0 <= at < self._length:
            raise IndexError(at)
        number = bisect_right(self._starts, at) - 1
        block, offset = self._blocks[number], at - self._starts[number]
        return {key: column[offset] for key, column in zip(block.keys, block.columns,
                                                           strict=True)}

    def __iter__(self) -> Iterator[Record]:
        for block in self._blocks:
            if not block.keys:
                yield from ({} for _ in range(len(block)))
                continue
            for values in zip(*block.columns, strict=True):
                yield dict(zip(block.keys, values, strict=True))

    def __repr__(self) -> str:
        return f"<Listing of {self._length} lines>"

    # ------------------------------------------------------------------ as columns

    def column(self, name: str, absent: Any = None) -> list[Any]:
        """Each line's value of ``name`` (``absent`` for a line without it), in order.  The
        list of a one-block listing is its own: read it, never change it."""
        if len(self._blocks) == 1 and name in self._blocks[0].keys:
            block = self._blocks[0]
            return block.columns[block.keys.index(name)]
        out: list[Any] = []
        for block in self._blocks:
            if name in block.keys:
                out.extend(block.columns[block.keys.index(name)])
            else:
                out.extend(repeat(absent, len(block)))
        return out

    def positions(self, ids: Sequence[Any]) -> np.ndarray:
        """Where the line of each id is (-1: not listed); a line listed twice counts at its
        last place, as a dict by id would keep it."""
        return np.fromiter(map(self._id_index().get, ids, repeat(-1)), dtype=np.int64,
                           count=len(ids))

    def _id_index(self) -> dict[Any, int]:
        if self._by_id is None:
            ids_listed = self.column(schema.ID.name)
            self._by_id = dict(zip(ids_listed, range(len(ids_listed)), strict=True))
        return self._by_id

    def values(self, name: str, positions: np.ndarray, absent: Any = None) -> list[Any]:
        """The values of ``name`` at ``positions`` (None at -1, ``absent`` for a line
        without the field)."""
        column = self.column(name, absent)
        return [column[p] if p >= 0 else None for p in positions.tolist()]

    def get(self, line_id: Any) -> Record | None:
        """The line with this id, or None."""
        at = self._id_index().get(line_id)
        return None if at is None else self[at]

    def take(self, positions: Iterable[int]) -> list[Record]:
        """The lines at ``positions``, as records."""
        return [self[p] for p in positions]


def _block_of(record: Record) -> _Block:
    return _Block(tuple(record), [[v] for v in record.values()], 1)
