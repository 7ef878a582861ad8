"""What the report says, independent of how a workbook is written: the four columns and
where they go, the comments of invalid cells, the Summary lines and the Server only table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

from sync import schema
from sync.model import LoadedSheet, ReportRow, ServerOnlyRow

from .cells import column_index
from .outcomes import ReportColumns
from .palette import STATUS_ORDER

STATUS, SYNC_ID, CHANGES, MESSAGE = "sync_status", "sync_id", "sync_changes", "sync_message"
#: The columns a report adds to the data sheet, in this order.
REPORT_COLUMNS: tuple[str, ...] = (STATUS, SYNC_ID, CHANGES, MESSAGE)
#: Widest a report column gets (characters): long messages stay readable without hiding the
#: rest of the sheet.
MAX_WIDTH = {STATUS: 18, SYNC_ID: 40, CHANGES: 60, MESSAGE: 80}

SUMMARY_SHEET = "Summary"
SERVER_ONLY_SHEET = "Server only"
SUMMARY_TITLE = "flowtrac-sync reconciliation report"


def report_columns(headers: Mapping[int, Any], last_used: int) -> dict[str, int]:
    """Column (1-based) of each report column: where the sheet already has it (a report
    uploaded again), else appended after ``last_used`` in the usual order."""
    wanted = {schema.header_token(name): name for name in REPORT_COLUMNS}
    found: dict[str, int] = {}
    for col in sorted(headers):
        text = headers[col]
        if text is None:
            continue
        name = wanted.get(schema.header_token(text))
        if name is not None and name not in found:
            found[name] = col
    next_col = max([last_used, *found.values()]) + 1 if found else last_used + 1
    placed: dict[str, int] = {}
    for name in REPORT_COLUMNS:
        if name in found:
            placed[name] = found[name]
        else:
            placed[name] = next_col
            next_col += 1
    return placed


@dataclass(frozen=True)
class ColumnLayout:
    """Where a kept workbook's data sheet has its rows, its data and its report columns."""

    header_row: int
    columns: list[int]          # the sheet column (1-based) of each loaded column
    first_col: int
    report: dict[str, int]      # report column -> sheet column
    report_cols: set[int]
    last_col: int               # the last column of the table, report columns included
    last_frame_col: int         # the last data column that is not a report column


def header_row_of(sheet: LoadedSheet) -> int:
    return max(int(sheet.header_row or 1), 1)


def column_layout(sheet: LoadedSheet, last_used: Callable[[int], int]) -> ColumnLayout:
    """The layout of ``sheet``'s data sheet.  ``last_used(known)``: the last column holding
    a value, given the last loaded one (the report columns go after it)."""
    count = len(sheet.headers)
    columns = ([column_index(x) for x in sheet.letters]
               if len(sheet.letters) == count else list(range(1, count + 1)))
    first_col = min(columns, default=1)
    used = last_used(max(columns, default=0))
    report = report_columns(dict(zip(columns, sheet.headers, strict=True)), used)
    report_cols = set(report.values())
    return ColumnLayout(
        header_row=header_row_of(sheet), columns=columns, first_col=first_col,
        report=report, report_cols=report_cols, last_col=max([used, *report_cols]),
        last_frame_col=max([c for c in columns if c not in report_cols], default=first_col))


def report_values(row: ReportRow | None) -> tuple[str, str | None, str, str]:
    """(status, id, changes, message) of a row; a blank status for rows the run did not mark.

    ``id`` is None when the report has none, so a sync_id already in the sheet is kept: a
    report that only marks invalid rows must never erase the ids the next upload matches by."""
    if row is None:
        return "", None, "", ""
    return (row.status or "", row.sync_id or None, row.changes or "", row.message or "")


def cell_messages(row: ReportRow, row_number: int | None = None) -> dict[int, str]:
    """Column (1-based) -> comment text for the invalid cells of a row."""
    out: dict[int, list[str]] = {}
    for error in row.errors:
        if not error.letter:
            continue
        out.setdefault(column_index(error.letter), []).append(
            str(error) if row_number is None or row_number == error.row_number
            else f"{error.letter}{row_number}: {error.message}")
    return {col: "\n".join(texts) for col, texts in out.items()}


def width_for(name: str, texts: Iterable[str | None]) -> float:
    longest = max((len(t) for t in texts if t), default=0)
    return float(min(max(longest, len(name)) + 2, MAX_WIDTH.get(name, 60)))


# --------------------------------------------------------------------------- Summary


@dataclass(frozen=True, slots=True)
class Line:
    """One row of the Summary sheet: its cells and how they look."""

    cells: tuple[Any, ...]
    kind: str = "item"        # "title", "section", "header", "item", "total"


_STATUS_OF = attrgetter("status")


def _status_rank(status: str) -> tuple[int, str]:
    try:
        return (STATUS_ORDER.index(status), status)
    except ValueError:
        return (len(STATUS_ORDER), status)


def counts_table(rows: Mapping[int, ReportRow],
                 server_only: Sequence[ServerOnlyRow]) -> list[Line]:
    sheet_counts = ReportColumns.of(rows).status_counts()
    server_counts = Counter(filter(None, map(_STATUS_OF, server_only)))
    statuses = sorted({*sheet_counts, *server_counts}, key=_status_rank)
    lines = [Line(("Status", "Sheet rows", "Server only"), "header")]
    lines += [Line((s, sheet_counts.get(s, 0), server_counts.get(s, 0))) for s in statuses]
    lines.append(Line(("Total", sum(sheet_counts.values()), sum(server_counts.values())),
                      "total"))
    return lines


def summary_lines(summary: Mapping[str, Any], rows: Mapping[int, ReportRow],
                  server_only: Sequence[ServerOnlyRow]) -> list[Line]:
    """The Summary sheet: a title, the run's facts (label, value), then counts per status.

    A mapping value becomes its own block; a "Counts" mapping given by the caller replaces
    the counts worked out from the rows."""
    lines = [Line((SUMMARY_TITLE,), "title"), Line(())]
    given_counts: Mapping[str, Any] | None = None
    blocks: list[tuple[str, Mapping[str, Any]]] = []
    for label, value in summary.items():
        if isinstance(value, Mapping):
            if str(label).strip().lower() == "counts":
                given_counts = value
            else:
                blocks.append((str(label), value))
            continue
        lines.append(Line((str(label), _plain(value))))
    for label, block in blocks:
        lines += [Line(()), Line((label,), "section")]
        lines += [Line((str(k), _plain(v))) for k, v in block.items()]
    lines += [Line(()), Line(("Counts",), "section")]
    if given_counts is not None:
        lines += [Line((str(k), _plain(v))) for k, v in given_counts.items()]
    else:
        lines += counts_table(rows, server_only)
    return lines


def summary_of_writes(stopped: bool, counts: Mapping[str, int], warnings: Sequence[str], *,
                      journal_label: str, journal: Path | None, unit: str, again: str
                      ) -> dict[str, Any]:
    """The Summary rows that end a report of writes (a saved plan applied, an undo): the
    journal, ``Interrupted`` with what to do ``again`` when the run ``stopped``, each
    status's count (``"<unit> <status>"``) and the warnings, numbered."""
    out: dict[str, Any] = {}
    if journal is not None:
        out[journal_label] = str(journal)
    if stopped:
        out["Interrupted"] = f"yes: {again}"
    out.update({f"{unit} {status}": n for status, n in counts.items()})
    for n, warning in enumerate(warnings, 1):
        out[f"Warning {n}"] = warning
    return out


def _plain(value: Any) -> Any:
    """A summary value as one cell: lists joined, everything else as it is."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value)
    return value


# --------------------------------------------------------------------------- Server only


def server_only_columns(records: Sequence[ServerOnlyRow]) -> list[str]:
    """Schema fields that any of the records has, in schema order, each id followed by its
    name where the records have one (``product``), then status and message."""
    present = {name for r in records for name, v in r.record.items() if v is not None}
    columns = []
    for f in schema.FIELDS:
        if f.name in present:
            columns.append(f.name)
        reference = schema.REFERENCE_FOR.get(f.name)
        if reference is not None and reference.name in present and reference.name != f.name:
            columns.append(reference.name)
    return [*dict.fromkeys(columns), STATUS, MESSAGE]


def server_only_cells(record: ServerOnlyRow, columns: Sequence[str]) -> list[Any]:
    out: list[Any] = []
    for name in columns:
        if name == STATUS:
            out.append(record.status)
        elif name == MESSAGE:
            out.append(record.message)
        else:
            out.append(record.record.get(name))
    return out
