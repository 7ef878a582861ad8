"""Keep the planner's workbook by loading and saving it with openpyxl.

The fallback for workbooks the XML patcher declines (macros, form controls, threaded
comments, unusual tables).  Slow for big sheets (a minute and gigabytes for 100,000 rows) and
it loses what openpyxl does not model (images, charts), but it copes with nearly anything.
``.xlsm`` input is saved without its macros: the report is a plain ``.xlsx``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from copy import copy
from typing import IO, Any

import openpyxl
from openpyxl.cell.cell import Cell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sync.model import LoadedSheet, ReportRow, ServerOnlyRow
from sync.schema import is_formula_like

from .cells import writable_text
from .content import (
    MESSAGE,
    REPORT_COLUMNS,
    SERVER_ONLY_SHEET,
    STATUS,
    SUMMARY_SHEET,
    SUMMARY_TITLE,
    SYNC_ID,
    cell_messages,
    column_layout,
    header_row_of,
    report_values,
    server_only_cells,
    server_only_columns,
    summary_lines,
    width_for,
)
from .palette import INVALID_CELL, OWN_COLOURS, Shade, shade_of
from .parts import COMMENT_AUTHOR, MAX_COMMENTS, sheet_name_from
from .styles import DATE_FORMAT, DATETIME_FORMAT

_NO_FILL = PatternFill(fill_type=None)


def _solid(rgb: str) -> PatternFill:
    return PatternFill(fill_type="solid", fgColor="FF" + rgb)


def rewrite_workbook(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
                     server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
                     target: IO[bytes]) -> None:
    book = openpyxl.load_workbook(sheet.path, keep_vba=False, rich_text=True)
    ws = book[sheet.sheet_name] if sheet.sheet_name else book.worksheets[0]
    _DataSheet(ws, sheet, rows).write()
    _replace_sheet(book, SUMMARY_SHEET, ws, _is_our_summary,
                   lambda new: _fill_summary(new, summary, rows, server_only))
    _replace_sheet(book, SERVER_ONLY_SHEET, ws, _is_our_server_only,
                   lambda new: _fill_server_only(new, server_only))
    book.save(target)


class _DataSheet:
    def __init__(self, ws: Worksheet, sheet: LoadedSheet, rows: Mapping[int, ReportRow]):
        self.ws = ws
        self.sheet = sheet
        self.rows = rows
        self.header_row = header_row_of(sheet)    # _last_used_column looks below it
        layout = column_layout(sheet, self._last_used_column)
        self.columns, self.first_col = layout.columns, layout.first_col
        self.report, self.report_cols = layout.report, layout.report_cols
        self.last_col, self.last_frame_col = layout.last_col, layout.last_frame_col
        self.last_row = max([self.header_row, *(int(n) for n in sheet.row_numbers)])

    def _last_used_column(self, known: int) -> int:
        # ws._cells holds only the cells that exist: far cheaper than walking the grid.
        cells: dict[tuple[int, int], Cell] = self.ws._cells  # noqa: SLF001
        return max([known, *(col for (row, col), cell in cells.items()
                             if row >= self.header_row and cell.value not in (None, ""))])

    def write(self) -> None:
        self._header()
        self._remove_own_comments()
        notes = 0
        for pos, number in enumerate(self.sheet.row_numbers):
            row = self.rows.get(pos)
            notes = self._row(int(number), row, notes)
        self._view()

    def _header(self) -> None:
        ws, row = self.ws, self.header_row
        source = ws.cell(row, self.last_frame_col)
        for name, col in self.report.items():
            cell = ws.cell(row, col)
            cell.value = name
            if source.has_style:
                cell._style = copy(source._style)  # noqa: SLF001  (openpyxl's style copy idiom)
            else:
                cell.font = Font(bold=True)

    def _remove_own_comments(self) -> None:
        for row in self.ws.iter_rows(min_row=self.header_row):
            for cell in row:
                if cell.comment is not None and cell.comment.author == COMMENT_AUTHOR:
                    cell.comment = None

    def _row(self, number: int, row: ReportRow | None, notes: int) -> int:
        ws = self.ws
        values = report_values(row)
        shade = shade_of(values[0])
        bad = cell_messages(row, number) if row is not None and row.errors else {}
        for col in range(self.first_col, self.last_frame_col + 1):
            if col in self.report_cols:
                continue
            cell = ws.cell(number, col)
            if col in bad:
                cell.fill = _solid(INVALID_CELL)
                if cell.comment is None and notes < MAX_COMMENTS:
                    cell.comment = Comment(bad[col], COMMENT_AUTHOR, width=240, height=80)
                    notes += 1
            else:
                _recolour(cell, shade)
        for index, name in enumerate(REPORT_COLUMNS):
            cell = ws.cell(number, self.report[name])
            value = values[index]
            if not (name == SYNC_ID and value is None):
                _set_text(cell, value)
            if index == 0 and shade is not None:
                cell.fill = _solid(shade.strong)
            else:
                _recolour(cell, shade, force=True)
        return notes

    def _view(self) -> None:
        ws = self.ws
        frozen_cols = 0
        if ws.freeze_panes:
            frozen_cols = ws[ws.freeze_panes].column - 1
        ws.freeze_panes = ws.cell(self.header_row + 1, frozen_cols + 1).coordinate
        ref = (f"{get_column_letter(self.first_col)}{self.header_row}:"
               f"{get_column_letter(self.last_col)}{self.last_row}")
        if not self._grow_table(ref):
            ws.auto_filter.ref = ref
        values = [report_values(self.rows.get(p)) for p in range(min(len(self.sheet.row_numbers),
                                                                    20_000))]
        for index, name in enumerate(REPORT_COLUMNS):
            letter = get_column_letter(self.report[name])
            dimension = ws.column_dimensions[letter]
            dimension.width = width_for(name, [v[index] for v in values])
            dimension.hidden = False

    def _grow_table(self, ref: str) -> bool:
        """Grow an Excel table over the data to take in the report columns."""
        for table in self.ws.tables.values():
            min_col, min_row, max_col, max_row = _bounds(table.ref)
            if (max_col < self.first_col or min_col > self.last_col
                    or max_row < self.header_row or min_row > self.last_row):
                continue
            end_col, end_row = max(max_col, self.last_col), max(max_row, self.last_row)
            table.ref = (f"{get_column_letter(min_col)}{min_row}:"
                         f"{get_column_letter(end_col)}{end_row}")
            if table.autoFilter is not None:
                table.autoFilter.ref = table.ref
            table.tableColumns = []   # rebuilt from the header cells when saved
            return True
        return False


def _bounds(ref: str) -> tuple[int, int, int, int]:
    from openpyxl.utils.cell import range_boundaries

    min_col, min_row, max_col, max_row = range_boundaries(ref)
    return int(min_col or 1), int(min_row or 1), int(max_col or 1), int(max_row or 1)


def _recolour(cell: Cell, shade: Shade | None, *, force: bool = False) -> None:
    """Give a cell the row's light shade, unless the planner filled it themselves; a row
    without one (unchanged) keeps the planner's look, an earlier report's colour cleared."""
    fill = cell.fill
    colour = None
    if fill is not None and fill.fill_type:
        rgb = fill.fgColor.rgb if isinstance(fill.fgColor.rgb, str) else ""
        colour = rgb[-6:].upper()
    planners = colour is not None and colour not in OWN_COLOURS
    if planners and not force:
        return
    if shade is not None and shade.light is not None:
        cell.fill = _solid(shade.light)
    elif colour is not None and (force or colour in OWN_COLOURS):
        cell.fill = _NO_FILL


def _set_text(cell: Cell, value: Any) -> None:
    """A value as the report writes it: text is always text, never a formula."""
    if value is None or value == "":
        cell.value = None
        return
    if isinstance(value, str):
        cell.value = writable_text(value)
        cell.data_type = "s"
        if is_formula_like(value):
            cell.quotePrefix = True
    else:
        cell.value = value


def _first_row(ws: Worksheet) -> list[Any]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1), ())]


def _is_our_summary(ws: Worksheet) -> bool:
    row = _first_row(ws)
    return bool(row) and row[0] == SUMMARY_TITLE


def _is_our_server_only(ws: Worksheet) -> bool:
    row = [v for v in _first_row(ws) if v is not None]
    return STATUS in row and row[-1:] == [MESSAGE]


def _replace_sheet(book: openpyxl.Workbook, name: str, data: Worksheet, is_ours: Any,
                   fill: Any) -> None:
    """Write a report sheet over a previous report's, else as a new sheet at the end."""
    for ws in book.worksheets:
        if ws is not data and ws.title.casefold() == name.casefold() and is_ours(ws):
            index = book.index(ws)
            title = ws.title
            book.remove(ws)
            fill(book.create_sheet(title, index))
            return
    fill(book.create_sheet(sheet_name_from(name, book.sheetnames)))


def _put(ws: Worksheet, row: int, col: int, value: Any, *, bold: bool = False,
         size: float | None = None, fill: str | None = None) -> Cell:
    cell = ws.cell(row, col)
    if isinstance(value, str):
        _set_text(cell, value)
    elif value is not None:
        cell.value = value
        if hasattr(value, "hour"):
            cell.number_format = DATETIME_FORMAT
        elif hasattr(value, "year"):
            cell.number_format = DATE_FORMAT
    if bold or size:
        cell.font = Font(bold=bold, size=size)
    if fill:
        cell.fill = _solid(fill)
    return cell


def _fill_summary(ws: Worksheet, summary: Mapping[str, Any], rows: Mapping[int, ReportRow],
                  server_only: Sequence[ServerOnlyRow]) -> None:
    sizes = {"title": 14, "section": 12}
    for number, line in enumerate(summary_lines(summary, rows, server_only), 1):
        for col, value in enumerate(line.cells, 1):
            _put(ws, number, col, value, bold=line.kind != "item" or col == 1,
                 size=sizes.get(line.kind), fill="D9E1F2" if line.kind == "header" else None)
    for letter in "ABC":
        ws.column_dimensions[letter].width = 24


def _fill_server_only(ws: Worksheet, records: Sequence[ServerOnlyRow]) -> None:
    columns = server_only_columns(records)
    for col, name in enumerate(columns, 1):
        _put(ws, 1, col, name, bold=True)
        ws.column_dimensions[get_column_letter(col)].width = max(len(name) + 2, 14)
    for number, record in enumerate(records, 2):
        shade = shade_of(record.status)
        for col, (name, value) in enumerate(zip(columns, server_only_cells(record, columns),
                                                strict=True), 1):
            colour = None
            if shade is not None:
                colour = shade.strong if name == STATUS else shade.light
            _put(ws, number, col, value, fill=colour)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(records) + 1}"
