"""Workbooks (.xlsx/.xlsm/.xlsb, .xls, .ods) read with python-calamine.

The guards run before the reader is let at a sheet; the formula-error scan reads the file a
second time beside the parse and puts the errors back into the cells calamine left blank.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import python_calamine

from sync.errors import InputError
from sync.load.detect import refuse_encrypted
from sync.load.formulaerrors import error_cells
from sync.load.frame import BLOCK_ROWS, Block, assemble, non_blank_rows
from sync.load.guards import check_ods, check_xls, check_xlsb, check_xlsx_sheet
from sync.load.header import (
    HEADER_SEARCH_ROWS,
    Closest,
    brief,
    find_header,
    no_header_message,
    quoted_list,
)
from sync.model import LoadedSheet

_EXTENSIONS = {"xlsx": (".xlsx", ".xlsm"), "xlsb": (".xlsb",), "xls": (".xls",), "ods": (".ods",)}


def load_workbook(file: Path, file_format: str, sheet: str | None) -> LoadedSheet:
    """Read the sheet holding the lines (``sheet``, or the first with a header row)."""
    name = brief(file.name, 80)
    if file_format == "ods":    # calamine reads every table of an .ods file as it opens it
        check_ods(file, name)
    elif file_format == "xlsb":
        check_xlsb(file, name)
    elif file_format == "xls":   # calamine reads every sheet of an .xls as it opens it
        check_xls(file, name)
    try:
        if file.suffix.lower() in _EXTENSIONS[file_format]:
            book = python_calamine.CalamineWorkbook.from_path(str(file))
        else:  # calamine goes by the name; a renamed file is handed over by content
            with file.open("rb") as stream:
                book = python_calamine.CalamineWorkbook.from_filelike(stream)
    except python_calamine.PasswordError:
        refuse_encrypted(name)
    except BaseException as exc:  # calamine panics arrive as BaseException subclasses
        reraise_interrupts(exc)
        raise InputError(f"{name} is damaged or not a readable {file_format} workbook; "
                         "save it again from Excel.") from None
    with book, ThreadPoolExecutor(max_workers=1) as pool:
        names = list(book.sheet_names)
        if sheet is not None:
            candidates = [_pick_sheet(name, names, sheet)]
        else:
            candidates = _worksheet_names(book)
        best: list[Closest] = []
        for sheet_name in candidates:
            # The error-cell scan reads the file a second time; calamine releases the GIL
            # while it parses, so running the scan beside it costs no wall time.
            if file_format == "xlsx":
                check_xlsx_sheet(file, name, sheet_name, names.index(sheet_name))
            errors = pool.submit(error_cells, file, file_format, sheet_name,
                                 names.index(sheet_name))
            grid = _read_sheet(book, name, sheet_name)
            header = find_header(grid.head, name, partial(_sheet_row, sheet_name), best)
            if header is None:
                continue
            blocks = grid.blocks(header.position + 1, _finished(errors))
            return assemble(file, file_format, sheet_name, header, header.position + 1,
                            blocks, False, [], f'{name}, sheet "{brief(sheet_name)}"')
    if sheet is not None:
        subject = f'{name}: sheet "{brief(candidates[0])}" has no row'
        raise InputError(no_header_message(subject, "rows", best))
    raise InputError(no_header_message(f"{name} has no sheet", "rows", best, names))


def _finished(scan: Future[dict[tuple[int, int], str]]) -> dict[tuple[int, int], str]:
    try:
        return scan.result()
    except Exception:  # the scan is a refinement: without it error cells read as blank
        return {}


def _sheet_row(sheet_name: str, index: int) -> str:
    return f'sheet "{brief(sheet_name)}" row {index + 1}'


def reraise_interrupts(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc


def _pick_sheet(name: str, names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(f'{name} has no sheet named "{brief(wanted)}"; its sheets are '
                     f"{quoted_list(names)}.")


def _worksheet_names(book: python_calamine.CalamineWorkbook) -> list[str]:
    """Sheet names in workbook order, chart and macro sheets left out."""
    try:
        metadata = book.sheets_metadata
    except Exception:  # metadata is a nicety; every sheet is then a candidate
        return list(book.sheet_names)
    worksheet = python_calamine.SheetTypeEnum.WorkSheet
    return [m.name for m in metadata if m.typ == worksheet]


class _Grid:
    """A sheet's cells from A1, read once: the first rows for the header search, then all of
    them in blocks."""

    def __init__(self, sheet: python_calamine.CalamineSheet, file_name: str):
        self._sheet = sheet
        self._file_name = file_name
        self.head = self._convert(HEADER_SEARCH_ROWS)

    def _convert(self, nrows: int) -> list[list[Any]]:
        try:
            return self._sheet.to_python(skip_empty_area=False, nrows=nrows)
        except BaseException as exc:
            reraise_interrupts(exc)
            raise self._damaged() from None

    def _damaged(self) -> InputError:
        return InputError(f'{self._file_name}: sheet "{self._sheet.name}" is damaged and '
                          "cannot be read; save the file again from Excel.")

    def blocks(self, start: int, errors: dict[tuple[int, int], str]) -> Iterator[Block]:
        """The non-blank rows from index ``start`` (0 is row 1), ``BLOCK_ROWS`` at a time,
        with the formula errors ``errors`` (by 0-based row and column) in the cells calamine
        left blank."""
        # iter_rows starts at row 1 but at the first column holding a cell (python-calamine
        # 0.9): the columns before it are put back, so that every row starts at column A.
        first_column = self._sheet.start[1] if self._sheet.start else 0
        padding = [""] * first_column
        by_row: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for (row, column), text in errors.items():
            by_row[row].append((column, text))
        try:
            rows = self._sheet.iter_rows()
            end = 0   # the index past the last row read
            while cells := list(itertools.islice(rows, BLOCK_ROWS)):
                first, end = end, end + len(cells)
                if end <= start:
                    continue
                if first < start:
                    cells, first = cells[start - first:], start
                if padding:
                    cells = [padding + row for row in cells]
                for row in range(first, end) if by_row else ():
                    for column, text in by_row.get(row, ()):
                        if column < len(cells[row - first]) and cells[row - first][column] == "":
                            cells[row - first][column] = text
                numbers = [first + n for n in non_blank_rows(cells)]
                yield [cells[n - first - 1] for n in numbers], numbers
        except BaseException as exc:
            reraise_interrupts(exc)
            raise self._damaged() from None


def _read_sheet(book: python_calamine.CalamineWorkbook, name: str, sheet_name: str) -> _Grid:
    try:
        sheet = book.get_sheet_by_name(sheet_name)
    except python_calamine.PasswordError:
        refuse_encrypted(name)
    except BaseException as exc:
        reraise_interrupts(exc)
        raise InputError(f'{name}: sheet "{brief(sheet_name)}" is damaged and cannot be read; '
                         "save the file again from Excel.") from None
    return _Grid(sheet, name)


