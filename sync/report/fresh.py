"""A new report workbook built from the loaded cells (CSV, .xls and .ods inputs, and any
sheet whose own workbook cannot be kept).

The data sheet is streamed row by row straight into the zip (``sync.report.newbook``, the
writer of every new workbook), so a 100,000-row report takes seconds and little memory; each
cell sits where it was in the input (same row number and column letter), so the messages'
cell references (``C7: ...``) point at the right cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.model import LoadedSheet, ReportRow, ServerOnlyRow
from sync.schema import is_formula_like

from .cells import (
    RowStyles,
    column_index,
    column_letter,
    text_cell,
    value_cell,
)
from .columncells import column_cells, rows_xml
from .content import (
    REPORT_COLUMNS,
    SERVER_ONLY_SHEET,
    SUMMARY_SHEET,
    SYNC_ID,
    cell_messages,
    header_row_of,
    report_columns,
    width_for,
)
from .extra_sheets import row_styles, server_only_sheet, summary_sheet
from .newbook import NewSheet, worksheet_chunks, write_package
from .outcomes import ReportColumns
from .palette import INVALID_CELL, Shade, shade_of
from .parts import MAX_COMMENTS, Note, note, sheet_name_from
from .styles import StyleBook

#: Rows per block: each Arrow kernel call and each write to the zip stream covers this many
#: rows (the fixed cost of a call is spread over the block), and memory is bounded by it.
_CHUNK_ROWS = 8_192
#: Rows looked at to size the input's own columns.
_WIDTH_SAMPLE = 2_000


@dataclass(slots=True)
class _Shaded:
    """Styles of a row of one status: its cells, its status cell, its invalid cells."""

    cells: RowStyles
    status: int


class _Styles:
    def __init__(self, book: StyleBook):
        self.book = book
        self.header = row_styles(book, None, font=book.bold_font())
        self.plain = _Shaded(row_styles(book, None), 0)
        self.invalid = row_styles(book, INVALID_CELL)
        self._shaded: dict[str, _Shaded] = {}

    def of(self, shade: Shade | None) -> _Shaded:
        if shade is None:
            return self.plain
        if shade.name not in self._shaded:
            self._shaded[shade.name] = _Shaded(row_styles(self.book, shade.light),
                                               self.book.derive(0, fill=shade.strong))
        return self._shaded[shade.name]


def write_new_workbook(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
                       server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
                       target: IO[bytes], *, rows_elsewhere: str | None = None) -> None:
    """Write the whole report workbook into ``target`` (an open, empty binary file).

    ``rows_elsewhere``: the data rows went to another file (``write_rows_csv``); the data
    sheet then holds only this sentence saying where."""
    layout = _Layout(sheet, rows)
    book = StyleBook()
    styles = _Styles(book)
    data_name = sheet_name_from(sheet.sheet_name or sheet.path.stem or "Data",
                                [SUMMARY_SHEET, SERVER_ONLY_SHEET])
    if rows_elsewhere is None:
        data = NewSheet(data_name, [], filter_ref=layout.filter_ref)
        data.chunks = _data_sheet(layout, styles, data.notes)
    else:
        cell = text_cell("A1", rows_elsewhere, styles.header.plain)
        data = NewSheet(data_name, worksheet_chunks([f'<row r="1">{cell}</row>'],
                                                    widths={1: 100.0}, selected=True))
    summary_part = summary_sheet(book, summary, rows, server_only)
    server_only_part = server_only_sheet(book, server_only)
    write_package(target, [
        data,
        NewSheet(SUMMARY_SHEET, [summary_part.xml], filter_ref=summary_part.filter_ref),
        NewSheet(SERVER_ONLY_SHEET, [server_only_part.xml],
                 filter_ref=server_only_part.filter_ref),
    ], book)


class _Layout:
    """Where every cell of the data sheet goes."""

    def __init__(self, sheet: LoadedSheet, rows: Mapping[int, ReportRow]):
        self.sheet = sheet
        self.rows = ReportColumns.of(rows)
        self.header_row = header_row_of(sheet)
        count = len(sheet.headers)
        letters = list(sheet.letters) if len(sheet.letters) == count else []
        self.columns = ([column_index(x) for x in letters] if letters
                        else list(range(1, count + 1)))
        headers = dict(zip(self.columns, sheet.headers, strict=True))
        self.report = report_columns(headers, max(self.columns, default=0))
        taken = set(self.report.values())
        # Input columns, by position in the frame, that keep their own cells.
        self.kept = [(col, pos) for pos, col in enumerate(self.columns) if col not in taken]
        self.id_source = next((pos for pos, col in enumerate(self.columns)
                               if col == self.report[SYNC_ID]), None)
        self.row_numbers = self._row_numbers()
        self.first_col = min([*self.columns, *self.report.values()])
        self.last_col = max([*self.columns, *self.report.values()])
        last_row = max(self.row_numbers, default=self.header_row)
        self.last_row = last_row
        self.filter_ref: str | None = (f"{column_letter(self.first_col)}{self.header_row}:"
                           f"{column_letter(self.last_col)}{last_row}")

    def _row_numbers(self) -> list[int]:
        """Each frame row's sheet row; renumbered in order if the given ones are unusable."""
        given = [int(n) for n in self.sheet.row_numbers]
        count = len(self.sheet.frame)
        previous = self.header_row
        usable = len(given) == count
        for n in given if usable else ():
            if n <= previous:
                usable = False
                break
            previous = n
        return given if usable else [self.header_row + 1 + i for i in range(count)]

    def widths(self) -> dict[int, float]:
        frame = self.sheet.frame
        sample = frame.head(_WIDTH_SAMPLE)
        widths: dict[int, float] = {}
        for col, pos in self.kept:
            texts = [str(v) for v in sample.iloc[:, pos].tolist() if v is not None and v == v]
            texts.append(str(self.sheet.headers[pos]))
            widths[col] = float(min(max(len(t) for t in texts) + 2, 50))
        sample_block = self.rows.block(0, min(len(frame), _WIDTH_SAMPLE * 10))
        for column, name in zip(sample_block.columns, REPORT_COLUMNS, strict=True):
            widths[self.report[name]] = width_for(name, column.to_pylist())
        return widths


def _data_sheet(layout: _Layout, styles: _Styles, notes: list[Note]
                ) -> Iterator[str | bytes]:
    """The data sheet's XML in chunks; fills ``notes`` with the invalid cells' comments."""
    return worksheet_chunks(_data_rows(layout, styles, notes), widths=layout.widths(),
                            frozen_rows=layout.header_row, selected=True,
                            dimension=layout.filter_ref, filter_ref=layout.filter_ref,
                            notes=notes)


def _data_rows(layout: _Layout, styles: _Styles, notes: list[Note]
               ) -> Iterator[str | bytes]:
    """The header row, then the data rows in blocks of ``_CHUNK_ROWS``."""
    sheet, report = layout.sheet, layout.report
    header = styles.header
    header_cells = {col: text_cell(f"{column_letter(col)}{layout.header_row}",
                                   str(sheet.headers[pos]),
                                   header.quoted if _formula_like(sheet.headers[pos])
                                   else header.plain)
                    for col, pos in layout.kept}
    for name, col in report.items():
        header_cells[col] = text_cell(f"{column_letter(col)}{layout.header_row}", name,
                                      header.plain)
    cells = "".join(header_cells[c] for c in sorted(header_cells))
    yield f'<row r="{layout.header_row}">{cells}</row>'

    # One entry per written column, in column order: (column, letter, frame position or
    # None for a report column, index into the row's report values).
    order: list[tuple[int, str, int | None, int]] = sorted(
        [(col, column_letter(col), pos, -1) for col, pos in layout.kept]
        + [(report[name], column_letter(report[name]), None, i)
           for i, name in enumerate(REPORT_COLUMNS)])
    for start in range(0, len(layout.row_numbers), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(layout.row_numbers))
        yield _rows_block(layout, styles, notes, order, start, stop)


def _rows_block(layout: _Layout, styles: _Styles, notes: list[Note],
                order: list[tuple[int, str, int | None, int]], start: int, stop: int) -> bytes:
    """The XML of the data rows at frame positions ``start`` to ``stop``, column by column;
    only the rows a run marked are looked at one by one (their invalid cells and notes)."""
    frame, ids_at = layout.sheet.frame, layout.id_source
    numbers = layout.row_numbers[start:stop]
    block = layout.rows.block(start, stop)
    reports: list[pa.Array | list[Any]] = list(block.columns)
    if ids_at is not None:      # a row the report gives no id keeps the sheet's
        reports[1] = _coalesce(block.sync_id, _frame_block(frame.iloc[start:stop, ids_at]))
    # Rows are shaded by status: the styles of each status in the block, then taken by row.
    statuses = pc.unique(block.status)
    shaded = [styles.of(shade_of(s)) for s in statuses.to_pylist()]
    kind_at = pc.index_in(block.status, value_set=statuses)
    attrs = pa.array([_style_attr(s.cells.plain) for s in shaded], pa.string()).take(kind_at)
    status_attrs = pa.array([_style_attr(s.status) for s in shaded], pa.string()).take(kind_at)
    kinds = kind_at.to_numpy()
    invalid: dict[int, set[int]] = {}       # column -> rows (in the block) of invalid cells
    for at, row in block.marked.items():
        for col, text in sorted(cell_messages(row, numbers[at]).items()):
            invalid.setdefault(col, set()).add(at)
            if len(notes) < MAX_COMMENTS:
                notes.append(note(numbers[at], col, text))
    rows = pa.array(map(str, numbers), pa.string())

    def input_cell(at: int, value: Any, ref: str, bad: Collection[int] = ()) -> str:
        return value_cell(ref, value, styles.invalid if at in bad else shaded[kinds[at]].cells)

    def status_cell(at: int, value: Any, ref: str) -> str:
        if value:
            return text_cell(ref, value, shaded[kinds[at]].status)
        return value_cell(ref, value, shaded[kinds[at]].cells)

    cells = []
    for col, letter, pos, index in order:
        if pos is None:
            values = reports[index]
            if index == 0:
                word = pc.not_equal(block.status, "")
                cells.append(column_cells(letter, values, rows,
                                          pc.if_else(word, status_attrs, attrs), status_cell))
                continue
            cells.append(column_cells(letter, values, rows, attrs, input_cell))
        else:
            bad = invalid.get(col, set())
            cells.append(column_cells(
                letter, _frame_block(frame.iloc[start:stop, pos]), rows, attrs,
                partial(input_cell, bad=bad), bad))
    return rows_xml(rows, cells)


def _style_attr(style: int) -> str:
    return f' s="{style}"' if style else ""


def _coalesce(given: pa.Array, fallback: pa.Array | list[Any]) -> pa.Array | list[Any]:
    """``given``, with ``fallback``'s value where it is null."""
    if isinstance(fallback, pa.Array):
        return pc.coalesce(given, fallback)
    return [g if g is not None else f
            for g, f in zip(given.to_pylist(), fallback, strict=True)]


def _frame_block(column: pd.Series) -> pa.Array | list[Any]:
    """A block of a frame column: an Arrow string array for the loader's text columns, the
    values as they are otherwise (numbers, dates: written one by one)."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        values = pa.array(column.array)
        if isinstance(values, pa.ChunkedArray):    # the reader's blocks: one per block here
            values = values.combine_chunks()
        return values.cast(pa.string())
    return column.tolist()


def last_report_row(sheet: LoadedSheet) -> int:
    """The sheet row the new workbook's last data row would be written on."""
    return _Layout(sheet, {}).last_row


def write_rows_csv(sheet: LoadedSheet, rows: Mapping[int, ReportRow], target: IO[bytes]
                   ) -> None:
    """The data sheet of the report as CSV (UTF-8 with a BOM, comma-delimited): the header,
    then one line per loaded row, the input's columns and the four report columns in the
    order the workbook would show them.  For a sheet with more rows than Excel holds."""
    layout = _Layout(sheet, rows)
    order = sorted([(col, pos, -1) for col, pos in layout.kept]
                   + [(layout.report[name], -1, i) for i, name in enumerate(REPORT_COLUMNS)])
    text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="", write_through=False)
    writer = csv.writer(text)
    writer.writerow([str(sheet.headers[pos]) if pos >= 0 else REPORT_COLUMNS[index]
                     for _, pos, index in order])
    frame = sheet.frame
    for start in range(0, len(frame), _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, len(frame))
        block = layout.rows.block(start, stop)
        ours: list[list[Any]] = [column.to_pylist() for column in block.columns]
        values_of = {pos: frame.iloc[start:stop, pos].tolist() for _, pos, _ in order
                     if pos >= 0}
        if layout.id_source is not None:
            ids = frame.iloc[start:stop, layout.id_source].tolist()
            ours[1] = [given if given is not None else sheet_id
                       for given, sheet_id in zip(ours[1], ids, strict=True)]
        writer.writerows([_csv_text(ours[index][at] if pos < 0 else values_of[pos][at])
                          for _, pos, index in order] for at in range(stop - start))
    text.flush()
    text.detach()   # the caller closes the file


def _csv_text(value: Any) -> str:
    if value is None or value != value:   # blank, or NaN from the reader
        return ""
    text = str(value)
    # A spreadsheet opening the CSV would run formula-like text: the quote prefix keeps it
    # text (the loader reads it back without the quote).
    return "'" + text if is_formula_like(text) else text


def _formula_like(value: Any) -> bool:
    return isinstance(value, str) and is_formula_like(value)
