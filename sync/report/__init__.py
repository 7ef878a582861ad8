"""The reconciliation report: the planner's sheet with what happened to every row.

``write_report`` writes an ``.xlsx`` beside (never over) the input:

* ``.xlsx`` input: the planner's own workbook is kept (other sheets, styles, column order,
  title block, comments, images); the data sheet gets ``sync_status``, ``sync_id``,
  ``sync_changes`` and ``sync_message`` after its last used column (or in the sync_* columns
  it already has, when a report is uploaded again).  ``.xlsm`` input gives an ``.xlsx``
  report without the macros: a report never carries code.
* other inputs (CSV, ``.xls``, ``.ods``): a new workbook holding the loaded cells, each in
  the row and column it had, plus the four columns.

Both add a ``Summary`` and a ``Server only`` sheet.  The file appears complete or not at all
(written to a temporary file in the same folder, then renamed).

A loaded sheet whose rows would pass the last row an Excel sheet holds (``EXCEL_MAX_ROWS``,
a CSV of more than a million lines) gets its rows as a CSV report beside the workbook
(``routing.report.csv``); the workbook then says so on its first sheet and keeps the
Summary and Server only sheets.

Engines, fastest first: ``patch`` edits the workbook's XML in place (streaming the data
sheet's rows), ``openpyxl`` loads and saves the workbook (slow, for the rare workbook the
patcher declines), ``new`` builds a new workbook from the loaded cells.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal

from sync.errors import SyncError, UnsupportedWorkbookError, UsageError
from sync.files import atomic_output
from sync.model import LoadedSheet, ReportRow, ServerOnlyRow

from .content import REPORT_COLUMNS
from .fresh import last_report_row, write_new_workbook, write_rows_csv
from .outcomes import ReportBlock, ReportColumns
from .parts import EXCEL_MAX_ROWS
from .patch import patch_workbook

__all__ = ["EXCEL_MAX_ROWS", "REPORT_COLUMNS", "ReportBlock", "ReportColumns",
           "default_report_path", "unused_path", "write_report"]

log = logging.getLogger(__name__)

Engine = Literal["auto", "patch", "openpyxl", "new"]
_KEPT_FORMATS = frozenset({"xlsx", "xlsm"})


def default_report_path(input_path: Path, kind: str = "report") -> Path:
    """``<input stem>.<kind>.xlsx`` beside the input: routing.csv -> routing.report.xlsx.

    The kinds: ``validation`` and ``plan`` (previews, each replaced by the next one) and
    ``report`` (what an apply did)."""
    input_path = Path(input_path)
    return input_path.with_name(f"{input_path.stem}.{kind}.xlsx")


def unused_path(path: Path) -> Path:
    """``path``, or the first of ``<stem>-2<suffix>``, ``<stem>-3<suffix>``... that does not
    exist yet: an apply's report is the record of what it wrote, and no later run replaces
    it."""
    candidate, number = Path(path), 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def write_report(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
                 server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
                 path: str | Path, *, engine: Engine = "auto",
                 excel_max_rows: int = EXCEL_MAX_ROWS, notes: list[str] | None = None,
                 replace_sheets: Mapping[str, Iterable[str]] | None = None) -> Path:
    """Write the report to ``path`` and return it.

    ``rows`` maps a frame row's position to what happened to it (rows left out get a blank
    status); ``summary`` is rendered as label/value pairs on the Summary sheet.  ``engine``
    forces one way of writing (tests, benchmarks); ``auto`` picks the best that works.
    A sentence for the user (the rows went to a CSV beside it) is added to ``notes``.
    ``replace_sheets``: sheet name -> worksheet XML (in pieces, read once) replacing that
    sheet of the planner's workbook (only the patch engine does; the others keep the sheet
    as it was)."""
    target = Path(path)
    rows = ReportColumns.of(rows)
    _refuse_input_as_target(Path(sheet.path), target)
    keep = str(sheet.file_format).lower() in _KEPT_FORMATS
    if engine == "auto":
        order: list[Engine] = ["patch", "openpyxl", "new"] if keep else ["new"]
    else:
        order = [engine]
    # Only a new workbook can pass the limit: a kept workbook has no more rows than Excel's.
    last_row = 0 if keep else last_report_row(sheet)
    if last_row > excel_max_rows:
        sentence = _write_rows_beside(sheet, rows, server_only, summary, target, last_row,
                                      excel_max_rows)
        if notes is not None:
            notes.append(sentence)
        log.info("%s", sentence)
    else:
        _write(sheet, rows, server_only, summary, target, order, replace_sheets or {})
    return target


def _write_rows_beside(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
                       server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
                       target: Path, last_row: int, excel_max_rows: int) -> str:
    """The rows as a CSV report beside ``target``, and ``target`` a workbook of the Summary
    and Server only sheets; returns the sentence that tells the user."""
    rows_path = target.with_suffix(".csv")
    _refuse_input_as_target(Path(sheet.path), rows_path)
    sentence = (f"The report's rows are in {rows_path.name}: {sheet.path.name} has rows up to "
                f"row {last_row:,}, more than the {excel_max_rows:,} an Excel sheet holds; "
                f"{target.name} holds the summary and the server-only lines.")
    with atomic_output(rows_path, "report") as handle:
        try:
            write_rows_csv(sheet, rows, handle)
        except OSError as exc:
            raise SyncError(f"Cannot write the report {rows_path.name}: "
                            f"{exc.strerror or exc}.") from None
    with atomic_output(target, "report") as handle:
        write_new_workbook(sheet, rows, server_only, summary, handle, rows_elsewhere=sentence)
    return sentence


def _write(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
           server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any], target: Path,
           order: list[Engine], replace_sheets: Mapping[str, Iterable[str]]) -> None:
    with atomic_output(target, "report") as handle:
        for attempt, name in enumerate(order):
            try:
                write = (partial(patch_workbook, replace_sheets=replace_sheets)
                         if name == "patch" and replace_sheets else _ENGINES[name])
                write(sheet, rows, server_only, summary, handle)
                log.debug("report %s written by the %s engine", target, name)
                break
            except Exception as exc:
                if attempt + 1 == len(order):
                    if isinstance(exc, OSError):
                        raise SyncError(f"Cannot write the report {target.name}: "
                                        f"{exc.strerror or exc}.") from None
                    raise
                # Keep going: after an apply the report is the only trail of what happened.
                level = (logging.INFO if isinstance(exc, UnsupportedWorkbookError)
                         else logging.WARNING)
                log.log(level, "Could not %s (%s); trying another way.", _WHAT[name], exc)
                handle.seek(0)
                handle.truncate()


def _openpyxl(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
              server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
              handle: IO[bytes]) -> None:
    from .keep_openpyxl import rewrite_workbook  # openpyxl loads slowly; only when needed

    rewrite_workbook(sheet, rows, server_only, summary, handle)


# What every engine is called with: the sheet, the report's rows, the server-only rows, the
# summary and the open output file.
_WriteReport = Callable[[LoadedSheet, Mapping[int, ReportRow], Sequence[ServerOnlyRow],
                         Mapping[str, Any], IO[bytes]], None]
_ENGINES: dict[str, _WriteReport] = {
    "patch": patch_workbook, "openpyxl": _openpyxl, "new": write_new_workbook}
_WHAT = {
    "patch": "edit the workbook in place",
    "openpyxl": "keep the workbook with openpyxl",
    "new": "write a new workbook",
}


def _refuse_input_as_target(source: Path, target: Path) -> None:
    same = source.resolve() == target.resolve()
    if not same and target.exists() and source.exists():
        same = os.path.samefile(source, target)
    if same:
        raise UsageError(f"The report would overwrite the input {source.name}; "
                         "choose another report path.")
