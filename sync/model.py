"""Data that flows between the stages: load -> validate -> fetch -> diff -> execute -> report.

Plain dataclasses, no behaviour beyond formatting (``ValidatedSheet`` holds its rows as
columns and makes a ``SheetRow`` on request); each stage only reads what the previous stage
produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from . import schema

if TYPE_CHECKING:  # the loader imports pandas when it builds a frame
    import pandas as pd


class Action(StrEnum):
    """What the plan does with a row or a server-only record."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"
    CONFLICT = "conflict"
    INVALID = "invalid"
    SKIP = "skip"        # valid, but the mode does not do this (e.g. create in --mode update)
    KEEP = "keep"        # server-only record left alone (not mirrored, or protected)
    GONE = "gone"        # deleted on the server since the export, and not edited in the sheet

    @property
    def writes(self) -> bool:
        return self in WRITE_ACTIONS


#: The actions that send a request.
WRITE_ACTIONS = frozenset({Action.CREATE, Action.UPDATE, Action.DELETE})


#: Report wording of a planned action (``plan`` writes would-..., ``apply`` the outcome).
PLAN_STATUS = {
    Action.CREATE: "would create",
    Action.UPDATE: "would update",
    Action.UNCHANGED: "unchanged",
    Action.DELETE: "would delete",
    Action.CONFLICT: "conflict",
    Action.INVALID: "invalid",
    Action.SKIP: "skipped",
    Action.KEEP: "left alone",
    Action.GONE: "gone",
}


class Status(StrEnum):
    """Final outcome of a row after ``apply``."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"
    INVALID = "invalid"
    CONFLICT = "conflict"
    SKIPPED = "skipped"       # not done: mode, or the run stopped before this row's turn
    LEFT_ALONE = "left alone"  # a server-only record that stays
    OVERWRITTEN = "overwritten"  # written, then changed again by another writer (read-back)
    GONE = "gone"             # deleted on the server since the export (``sync.mergebase``)
    STALE = "stale"           # a saved plan's write whose line changed since: not sent


@dataclass(slots=True)
class CellError:
    """One problem in one cell (or a whole row when ``column`` is None)."""

    row_number: int            # the sheet's own row number, 1-based
    column: str | None         # header as written in the sheet
    letter: str | None         # column letter (A, B, ..., AA)
    message: str

    def __str__(self) -> str:
        where = f"{self.letter}{self.row_number}" if self.letter else f"row {self.row_number}"
        return f"{where}: {self.message}"


#: Rows ``LoadedSheet.cells`` looks at to tell a column of distinct texts (ids, stamps).
_SAMPLE_ROWS = 4096


@dataclass
class LoadedSheet:
    """A sheet as read: raw cells plus where everything sits in the original file."""

    path: Path
    file_format: str                 # "xlsx", "xls", "ods", "csv"
    sheet_name: str | None           # None for CSV
    header_row: int                  # 1-based row number of the header in the sheet
    frame: pd.DataFrame              # raw cell values, one column per sheet column (by header)
    row_numbers: list[int]           # sheet row number of each frame row
    headers: list[str]               # header text of each frame column, in sheet order
    letters: list[str]               # column letter of each frame column
    fields: dict[str, int]           # canonical field name -> frame column position
    decimal_comma: bool = False      # CSV written by a European-locale program
    warnings: list[str] = field(default_factory=list)
    # field -> a second column read where the field's own cell is blank (a report uploaded
    # again: its sync_id column holds the ids of lines the last run created).
    fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def unknown_columns(self) -> list[str]:
        known = set(self.fields.values())
        return [h for i, h in enumerate(self.headers) if i not in known]

    def cells(self, position: int) -> list[Any]:
        """The cells of the frame column at ``position`` as Python values.  A column of text
        is dictionary-encoded first, so that each distinct text is one object: a million rows
        naming a few thousand products hold a few thousand strings, not a million."""
        import numpy as np  # imported here: commands that read no sheet do without them
        import pyarrow as pa
        import pyarrow.compute as pc

        column = self.frame.iloc[:, position]
        if column.dtype != object:
            texts = pa.array(column.array)
            if isinstance(texts, pa.ChunkedArray):
                texts = texts.combine_chunks()
            head = texts.slice(0, _SAMPLE_ROWS)
            if pc.count_distinct(head).as_py() * 2 <= len(head):  # mostly distinct: no gain
                encoded = pc.dictionary_encode(texts)
                distinct = np.empty(len(encoded.dictionary), dtype=object)
                distinct[:] = encoded.dictionary.to_pylist()
                shared: list[Any] = distinct[encoded.indices.to_numpy()].tolist()
                return shared
        cells: list[Any] = column.tolist()
        return cells

    def letter_of(self, field_name: str) -> str | None:
        pos = self.fields.get(field_name)
        return None if pos is None else self.letters[pos]

    def header_of(self, field_name: str) -> str | None:
        pos = self.fields.get(field_name)
        return None if pos is None else self.headers[pos]


@dataclass(slots=True)
class SheetRow:
    """One data row after validation."""

    index: int                        # position in LoadedSheet.frame
    row_number: int                   # the sheet's row number
    values: dict[str, Any]            # canonical field -> canonical value (present columns only)
    errors: list[CellError] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


class ValidatedSheet:
    """The rows of a sheet after validation, held as columns: one list of canonical values
    per present field, and the errors of the few rows that have any.

    A ``SheetRow`` is made only for a row someone asks for (``row``, ``rows``), so a large
    sheet that needs no write costs no object per row.  The columns are the truth: a later
    stage changes a value with ``set_value`` and adds an error with ``add_error``."""

    @overload
    def __init__(self, sheet: LoadedSheet, rows: list[SheetRow], present: frozenset[str],
                 key: tuple[str, ...]) -> None: ...

    @overload
    def __init__(self, sheet: LoadedSheet, rows: None, present: frozenset[str],
                 key: tuple[str, ...], *, columns: dict[str, list[Any]], positions: list[int],
                 row_numbers: list[int], problems: dict[int, list[CellError]] | None = None,
                 absent: dict[int, list[str]] | None = None) -> None: ...

    def __init__(self, sheet: LoadedSheet, rows: list[SheetRow] | None, present: frozenset[str],
                 key: tuple[str, ...], *, columns: dict[str, list[Any]] | None = None,
                 positions: list[int] | None = None, row_numbers: list[int] | None = None,
                 problems: dict[int, list[CellError]] | None = None,
                 absent: dict[int, list[str]] | None = None) -> None:
        self.sheet = sheet
        self.present = present                # fields that have a column in the sheet
        self.key = key                        # match key for rows without id
        self._rows: dict[int, SheetRow] = {}
        if rows is not None:                  # rows made elsewhere (a test, a caller): kept
            names = list(dict.fromkeys(name for row in rows for name in row.values))
            columns = {name: [row.values.get(name) for row in rows] for name in names}
            positions = [row.index for row in rows]
            row_numbers = [row.row_number for row in rows]
            problems = {i: row.errors for i, row in enumerate(rows) if row.errors}
            absent = {i: [n for n in names if n not in row.values]
                      for i, row in enumerate(rows) if len(row.values) < len(names)}
            self._rows = dict(enumerate(rows))
        elif columns is None or positions is None or row_numbers is None:
            raise TypeError("ValidatedSheet needs either rows, or columns, positions and "
                            "row_numbers")
        #: field -> each row's canonical value (None where blank or unreadable)
        self.columns = columns
        #: each row's position in ``sheet.frame``, and its row number in the sheet
        self.positions = positions
        self.row_numbers = row_numbers
        #: row (position in these rows) -> its errors; only rows that have any
        self.problems: dict[int, list[CellError]] = problems or {}
        #: row -> the present fields its values lack (a cell that did not parse)
        self.absent: dict[int, list[str]] = absent or {}

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def rows(self) -> list[SheetRow]:
        """Every row as a ``SheetRow`` (made on first use, then the same objects)."""
        return [self.row(i) for i in range(len(self))]

    def row(self, i: int) -> SheetRow:
        """Row ``i`` (in these rows' order) as a ``SheetRow``, made once."""
        row = self._rows.get(i)
        if row is None:
            values = {name: column[i] for name, column in self.columns.items()}
            for name in self.absent.get(i, ()):
                values.pop(name, None)
            # The row's error list is the one kept here, so an error added to it counts.
            row = SheetRow(self.positions[i], self.row_numbers[i], values,
                           self.problems.setdefault(i, []))
            self._rows[i] = row
        return row

    def valid(self, i: int) -> bool:
        return not self.problems.get(i)

    def add_error(self, i: int, error: CellError) -> None:
        self.problems.setdefault(i, []).append(error)

    def set_value(self, i: int, name: str, value: Any) -> None:
        """Row ``i``'s value of ``name`` becomes ``value`` (a resolved reference)."""
        column = self.columns.get(name)
        if column is None:
            column = self.columns[name] = [None] * len(self)
        column[i] = value
        row = self._rows.get(i)
        if row is not None:
            row.values[name] = value

    @property
    def errors(self) -> list[CellError]:
        return [e for i in sorted(self.problems) for e in self.problems[i]]

    def column(self, name: str) -> list[Any]:
        """Each row's value of the field ``name`` (None where it has none), in row order."""
        column = self.columns.get(name)
        return [None] * len(self) if column is None else column

    def valid_rows(self) -> list[bool]:
        """Whether each row is valid (has no error), in row order."""
        problems = self.problems
        return [not problems.get(i) for i in range(len(self))]

    def invalid_count(self) -> int:
        return sum(1 for errors in self.problems.values() if errors)


@dataclass(slots=True, eq=False)  # identity-hashed: outcomes are keyed by plan item
class PlanItem:
    """One decision of the plan: a sheet row, a server-only record, or both."""

    action: Action
    row: SheetRow | None              # None for a server-only record
    record: dict[str, Any] | None     # the server record as fetched (canonical), if any
    product_id: str | None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (before, after)
    values: dict[str, Any] = field(default_factory=dict)  # create: the full canonical body
    message: str = ""
    # A row planned against a base (``sync.mergebase``): field -> (base, server) of the cells
    # only the server changed, kept; field -> (sheet, server) of the cells in conflict.
    kept: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conflicts: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    @property
    def record_id(self) -> str | None:
        if self.record is not None:
            return self.record.get(schema.ID.name)
        return None


@dataclass(slots=True, eq=False)
class RowItem(PlanItem):
    """The plan item of a sheet row: ``Plan.items`` holds one for every row of the sheet."""

    row: SheetRow


@dataclass(slots=True)
class Outcome:
    """What happened to one plan item when it was executed."""

    status: Status
    record_id: str | None = None
    message: str = ""
    http_status: int | None = None


@dataclass(slots=True)
class ReportRow:
    """The four columns the report appends to a data row, plus cell marks."""

    status: str
    sync_id: str | None = None
    changes: str = ""
    message: str = ""
    errors: list[CellError] = field(default_factory=list)


@dataclass
class ServerOnlyRow:
    """A record on the server that the sheet lacks, and what became of it."""

    record: dict[str, Any]
    status: str                       # "deleted", "would delete", "left alone", "failed" ...
    message: str = ""
