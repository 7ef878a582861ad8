"""The report's four columns (status, sync_id, changes, message) for every data row, held as
columns.

Most rows of a large plan are unchanged lines: their status is one word and their id the one
the sheet gave.  ``ReportColumns`` holds that default once, plus a ``ReportRow`` for each
row a run marked (a write, a conflict, an invalid cell, a warning), and hands the report a
block of rows as Arrow arrays (``block``) so that writing a million rows makes no object per
row.  It is also a ``Mapping`` from frame position to ``ReportRow`` for the writers that
edit a planner's workbook row by row.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync.model import ReportRow

#: ``ReportColumns.unmarked_ids`` of a row that is to be looked at on its own.
MARKED = object()


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """The report columns of the frame rows ``start`` to ``stop``: one string array each
    (``sync_id`` null where the report gives none, so the sheet's own id stays), and the
    marked rows by their offset in the block (their errors mark cells)."""

    status: pa.Array
    sync_id: pa.Array
    changes: pa.Array
    message: pa.Array
    marked: dict[int, ReportRow]

    @property
    def columns(self) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array]:
        return self.status, self.sync_id, self.changes, self.message


class ReportColumns(Mapping[int, ReportRow]):
    """Frame position -> the report row of that sheet row.

    ``positions``: the frame rows that get ``status`` and their ``ids`` (same order) unless
    ``marked`` gives them a row of their own; a frame row in neither gets a blank status."""

    def __init__(self, marked: Mapping[int, ReportRow], *, positions: Sequence[int] = (),
                 status: str = "", ids: Sequence[str | None] = ()) -> None:
        if len(ids) != len(positions):
            raise ValueError("one id per position")
        self._marked = dict(marked)
        self._marked_at = sorted(self._marked)
        self._positions = np.asarray(positions, dtype=np.int64)
        self._status = status
        self._given_ids = ids                  # for a row at a time (``__getitem__``)
        self._ids = pa.array(ids, pa.string())  # for blocks
        # Frame position -> index into ``positions`` (-1: not there).
        size = int(self._positions.max()) + 1 if len(self._positions) else 0
        self._slot = np.full(size, -1, dtype=np.int64)
        self._slot[self._positions] = np.arange(len(self._positions))
        self._slots: list[int] | None = None

    @classmethod
    def of(cls, rows: Mapping[int, ReportRow]) -> ReportColumns:
        """``rows`` as report columns (a plain mapping marks just its own rows)."""
        return rows if isinstance(rows, cls) else cls(rows)

    def __getitem__(self, position: int) -> ReportRow:
        row = self._marked.get(position)
        if row is not None:
            return row
        slots = self._slot_list()
        at = slots[position] if 0 <= position < len(slots) else -1
        if at < 0:
            raise KeyError(position)
        return ReportRow(self._status, self._given_ids[at])

    def _slot_list(self) -> list[int]:
        """``_slot`` as a list, for rows asked one at a time: it indexes faster than numpy."""
        if self._slots is None:
            self._slots = self._slot.tolist()
        return self._slots

    def __iter__(self) -> Iterator[int]:
        if not len(self._positions):
            return iter(self._marked_at)
        return iter(sorted(set(self._positions.tolist()) | self._marked.keys()))

    def __len__(self) -> int:
        if not len(self._positions):
            return len(self._marked)
        return len(self._positions) + sum(
            1 for p in self._marked_at if not (p < len(self._slot) and self._slot[p] >= 0))

    @property
    def unmarked_status(self) -> str:
        """The status of every row at ``positions`` that no marked row replaces."""
        return self._status

    def unmarked_ids(self, positions: Sequence[int]) -> list[str | None | object]:
        """The id of each row at ``positions`` that keeps the unmarked status (None: the
        report gives it none), or ``MARKED`` for a row marked, or not one of ``positions``:
        the rows a writer takes one at a time, without a ``ReportRow`` made for each."""
        slots, marked, ids = self._slot_list(), self._marked, self._given_ids
        size = len(slots)
        return [MARKED if p in marked or not 0 <= p < size or slots[p] < 0 else ids[slots[p]]
                for p in positions]

    def sync_ids(self) -> list[str]:
        """Every id the rows' report gives (none made into a row), and the ids of unchanged
        rows a marked row replaces: a superset, for a check that holds for all of them."""
        given = [row.sync_id for row in self._marked.values() if row.sync_id]
        given += filter(None, self._given_ids)
        return given

    def status_counts(self) -> Counter[str]:
        """Rows by status (blank statuses left out), without making a row object."""
        counts = Counter(row.status for row in self._marked.values() if row.status)
        if self._status:
            defaulted = len(self._positions) - sum(
                1 for p in self._marked_at if p < len(self._slot) and self._slot[p] >= 0)
            if defaulted:
                counts[self._status] += defaulted
        return counts

    def block(self, start: int, stop: int) -> ReportBlock:
        """The report columns of frame rows ``start`` to ``stop``."""
        count = stop - start
        slots = np.full(count, -1, dtype=np.int64)
        known = self._slot[start:min(stop, len(self._slot))]
        slots[:len(known)] = known
        present = pa.array(slots >= 0)
        status = pc.if_else(present, self._status, "")
        sync_id = pc.if_else(present, self._ids.take(pa.array(np.maximum(slots, 0)))
                             if len(self._ids) else pa.nulls(count, pa.string()),
                             pa.scalar(None, pa.string()))
        changes = message = pa.array([""] * count, pa.string())
        first, last = (bisect_left(self._marked_at, start), bisect_left(self._marked_at, stop))
        marked = {p - start: self._marked[p] for p in self._marked_at[first:last]}
        if marked:
            mask = np.zeros(count, dtype=bool)
            mask[list(marked)] = True
            rows = list(marked.values())
            status, sync_id, changes, message = (
                pc.replace_with_mask(column, pa.array(mask), pa.array(values, pa.string()))
                for column, values in (
                    (status, [r.status or "" for r in rows]),
                    (sync_id, [r.sync_id or None for r in rows]),
                    (changes, [r.changes or "" for r in rows]),
                    (message, [r.message or "" for r in rows])))
        return ReportBlock(status, sync_id, changes, message, marked)
