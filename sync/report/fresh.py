"""A new report workbook built from the loaded cells (CSV, .xls and .ods inputs, and any
sheet whose own workbook cannot be kept).

The data sheet is streamed row by row straight into the zip, so a 100,000-row report takes
seconds and little memory; each cell sits where it was in the input (same row number and
column letter), so the messages' cell references (``C7: ...``) point at the right cell.
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync.model import LoadedSheet, ReportRow, ServerOnlyRow

from .cells import (
    RowStyles,
    column_index,
    column_letter,
    is_formula_like,
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
    report_values,
    width_for,
)
from .extra_sheets import row_styles, server_only_sheet, summary_sheet
from .palette import INVALID_CELL, Shade, shade_of
from .parts import (
    MAX_COMMENTS,
    PAGE_MARGINS,
    WORKSHEET_OPEN,
    Note,
    cols_xml,
    comments_xml,
    content_types_xml,
    note,
    notes_rels_xml,
    package_rels_xml,
    sheet_name_from,
    sheet_views_xml,
    vml_xml,
    workbook_rels_xml,
    workbook_xml,
)
from .streaming import write_text_chunks
from .styles import StyleBook

#: Rows per write to the zip stream: big enough to amortise, small enough to bound memory.
_CHUNK_ROWS = 2_000
#: Rows looked at to size the input's own columns.
_WIDTH_SAMPLE = 2_000
COMPRESS_LEVEL = 1      # deflate level: 1 is several times faster than 6 for ~20% more bytes


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
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=COMPRESS_LEVEL) as package:
        notes: list[Note] = []
        with package.open("xl/worksheets/sheet1.xml", "w") as stream:
            if rows_elsewhere is None:
                write_text_chunks(stream, _data_sheet(layout, styles, notes))
            else:
                layout.filter_ref = None
                stream.write((WORKSHEET_OPEN + sheet_views_xml(None, selected=True)
                              + cols_xml({1: 100.0}) + "<sheetData><row r=\"1\">"
                              + text_cell("A1", rows_elsewhere, styles.header.plain)
                              + "</row></sheetData>" + PAGE_MARGINS
                              + "</worksheet>").encode("utf-8"))
        extra = [
            (SUMMARY_SHEET, summary_sheet(book, summary, rows, server_only)),
            (SERVER_ONLY_SHEET, server_only_sheet(book, server_only)),
        ]
        for number, (_, part) in enumerate(extra, 2):
            package.writestr(f"xl/worksheets/sheet{number}.xml", part.xml)
        if notes:
            package.writestr("xl/worksheets/_rels/sheet1.xml.rels", notes_rels_xml(1))
            package.writestr("xl/comments1.xml", comments_xml(notes))
            package.writestr("xl/drawings/vmlDrawing1.vml", vml_xml(notes, first_block=1))
        package.writestr("xl/styles.xml", book.xml())
        sheets = [(data_name, layout.filter_ref),
                  *((name, part.filter_ref) for name, part in extra)]
        package.writestr("xl/workbook.xml", workbook_xml(sheets))
        package.writestr("xl/_rels/workbook.xml.rels", workbook_rels_xml(len(sheets)))
        package.writestr("_rels/.rels", package_rels_xml())
        package.writestr("[Content_Types].xml",
                         content_types_xml(len(sheets), [1] if notes else []))


class _Layout:
    """Where every cell of the data sheet goes."""

    def __init__(self, sheet: LoadedSheet, rows: Mapping[int, ReportRow]):
        self.sheet = sheet
        self.rows = rows
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
        values = [report_values(r) for r in itertools.islice(self.rows.values(),
                                                               _WIDTH_SAMPLE * 10)]
        for index, name in enumerate(REPORT_COLUMNS):
            widths[self.report[name]] = width_for(name, [v[index] for v in values])
        return widths


def _data_sheet(layout: _Layout, styles: _Styles, notes: list[Note]) -> Iterator[str]:
    """The data sheet's XML in chunks; fills ``notes`` with the invalid cells' comments."""
    sheet, report = layout.sheet, layout.report
    yield (WORKSHEET_OPEN + f'<dimension ref="{layout.filter_ref}"/>'
           + sheet_views_xml(layout.header_row, selected=True) + cols_xml(layout.widths())
           + "<sheetData>")

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
    tail = f'</sheetData><autoFilter ref="{layout.filter_ref}"/>' + PAGE_MARGINS
    if notes:
        tail += '<legacyDrawing r:id="rId1"/>'
    yield tail + "</worksheet>"


def _rows_block(layout: _Layout, styles: _Styles, notes: list[Note],
                order: list[tuple[int, str, int | None, int]], start: int, stop: int) -> str:
    """The XML of the data rows at frame positions ``start`` to ``stop``: the row-wise part
    (report values, shading, invalid cells and their notes) per row, the cells per column."""
    frame, ids_at = layout.sheet.frame, layout.id_source
    numbers = layout.row_numbers[start:stop]
    reports: list[list[Any]] = [[], [], [], []]
    row_styles: list[RowStyles] = []
    status_styles: list[int] = []
    invalid: dict[int, set[int]] = {}       # column -> rows (in the block) of invalid cells
    ids = frame.iloc[start:stop, ids_at].tolist() if ids_at is not None else None
    for at, (pos, number) in enumerate(zip(range(start, stop), numbers, strict=True)):
        row = layout.rows.get(pos)
        ours = report_values(row)
        if ours[1] is None and ids is not None:
            ours = (ours[0], ids[at], ours[2], ours[3])
        for values, value in zip(reports, ours, strict=True):
            values.append(value)
        shaded = styles.of(shade_of(ours[0]))
        row_styles.append(shaded.cells)
        status_styles.append(shaded.status)
        if row is not None and row.errors:
            for col, text in sorted(cell_messages(row, number).items()):
                invalid.setdefault(col, set()).add(at)
                if len(notes) < MAX_COMMENTS:
                    notes.append(note(number, col, text))
    rows = pa.array(map(str, numbers), pa.string())
    attrs = pa.array([f' s="{s.plain}"' if s.plain else "" for s in row_styles], pa.string())

    def input_cell(at: int, value: Any, ref: str, bad: Collection[int] = ()) -> str:
        return value_cell(ref, value, styles.invalid if at in bad else row_styles[at])

    def status_cell(at: int, value: Any, ref: str) -> str:
        if value:
            return text_cell(ref, value, status_styles[at])
        return value_cell(ref, value, row_styles[at])

    cells = []
    for col, letter, pos, index in order:
        if pos is None:
            values: pa.Array | list[Any] = _text_array(reports[index])
            if index == 0:
                status_attrs = pa.array([f' s="{st}"' if st else "" for st in status_styles],
                                        pa.string())
                word = pc.not_equal(values, "")
                cells.append(column_cells(letter, values, rows,
                                          pc.if_else(word, status_attrs, attrs), status_cell))
                continue
            cells.append(column_cells(letter, values, rows, attrs, input_cell))
        else:
            bad = invalid.get(col, set())
            cells.append(column_cells(
                letter, _frame_block(frame.iloc[start:stop, pos]), rows, attrs,
                lambda at, value, ref, bad=bad: input_cell(at, value, ref, bad), bad))
    return rows_xml(rows, cells)


def _frame_block(column: pd.Series) -> pa.Array | list[Any]:
    """A block of a frame column: an Arrow string array for the loader's text columns, the
    values as they are otherwise (numbers, dates: written one by one)."""
    if isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow":
        values = pa.array(column.array)
        if isinstance(values, pa.ChunkedArray):    # the reader's blocks: one per block here
            values = values.combine_chunks()
        return values.cast(pa.string())
    return column.tolist()


def _text_array(values: list[Any]) -> pa.Array | list[Any]:
    """Report values as a string array when they are all text or blank."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return values


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
    values_of = [frame.iloc[:, p].tolist() for p in range(len(frame.columns))]
    ids = values_of[layout.id_source] if layout.id_source is not None else None
    for pos in range(len(frame)):
        ours = report_values(layout.rows.get(pos))
        if ours[1] is None and ids is not None:
            ours = (ours[0], ids[pos], ours[2], ours[3])
        writer.writerow([_csv_text(ours[index] if column_pos < 0 else values_of[column_pos][pos])
                         for _, column_pos, index in order])
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
