"""The LoadedSheet built from the header and the rows below it.

Every column with a header is kept, and a header-less column only if it holds data; a column
past the last one a spreadsheet holds is refused.  Workbook rows (and the CSV lines pyarrow
cannot read) arrive as Python rows in blocks, each cell of the reader's type, and are turned
into columns block by block; text read by pyarrow arrives as Arrow string columns.  A
column of text is kept as pandas' Arrow-backed strings (``string[pyarrow]``: its ``tolist``,
which validation and the report call, is as quick as an object column's, where
``pd.ArrowDtype(pa.string())``'s makes each value one at a time, six times slower).
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.errors import InputError
from sync.load.guards import MAX_COLUMNS
from sync.load.header import Header, column_letter
from sync.model import LoadedSheet

if TYPE_CHECKING:  # pandas and pyarrow are imported when a frame is built
    import pandas as pd
    import pyarrow as pa

#: The dtype of a text sheet's columns.
TEXT = "string[pyarrow]"


def _is_blank_row(row: Sequence[Any]) -> bool:
    for cell in row:
        if cell.__class__ is str:
            if cell and not cell.isspace():
                return False
        elif cell is not None and cell == cell:  # NaN is blank
            return False
    return True


#: One block of data rows: the rows (cells as the reader gives them) and their 1-based row
#: numbers in the sheet.
Block = tuple[list[list[Any]], list[int]]
#: Rows a reader hands over per block: only one block's cells are Python objects at a time.
BLOCK_ROWS = 8_192


def assemble(file: Path, file_format: str, sheet_name: str | None, header: Header,
             header_row: int, blocks: Iterable[Block], decimal_comma: bool,
             warnings: list[str], where: str) -> LoadedSheet:
    """Build the LoadedSheet from the header and the non-empty data rows below it, taken
    block by block into columns (``_Columns``)."""
    columns = _Columns(header.texts)
    row_numbers: list[int] = []
    for rows, numbers in blocks:
        if rows:
            columns.add(rows)
            row_numbers += numbers
    if not row_numbers:
        raise InputError(f"{where} has a header (row {header_row}) but no data rows.")
    keep = columns.kept()
    _check_width(keep, where)
    texts = columns.texts
    return _loaded(file, file_format, sheet_name, header, header_row, columns.frame(keep),
                   row_numbers, [texts[c] for c in keep], keep, decimal_comma, warnings)


class _Columns:
    """Data rows gathered block by block into columns.  A column whose cells are all text
    becomes an Arrow string column (``TEXT``, as a CSV's); any other keeps each cell's own
    object, since validation reads numbers, dates and booleans by the reader's type.

    Every column with a header is kept, and a header-less column only if it holds data.  It
    is decided on the plain rows, before the frame exists: a stray cell a million columns out
    then costs one look at each cell present, not a million column look-ups."""

    def __init__(self, header_texts: list[str]) -> None:
        self.texts = list(header_texts)   # one per column met so far ("" for none)
        self._chunks: dict[int, list[pa.Array | list[Any]]] = {}   # kept columns only
        self._rows = 0
        self._used: set[int] = set()   # header-less columns holding a value

    def add(self, rows: list[list[Any]]) -> None:
        import pyarrow as pa

        width = max(map(len, rows))
        self.texts += [""] * (width - len(self.texts))
        self._mark_used(rows)
        kept = self.kept()
        if kept and min(map(len, rows)) <= kept[-1]:   # a short CSV line: blank to the end
            rows = [row + [""] * (kept[-1] + 1 - len(row)) for row in rows]
        for column in kept:
            chunks = self._chunks.get(column)
            if chunks is None:   # a column first kept here is blank above
                chunks = self._chunks[column] = [pa.repeat(pa.scalar("", pa.string()),
                                                           self._rows)]
            cells = list(map(operator.itemgetter(column), rows))
            if set(map(type, cells)) == {str}:
                chunks.append(pa.array(cells, pa.string()))
            else:
                chunks.append(cells)
        self._rows += len(rows)

    def _mark_used(self, rows: list[list[Any]]) -> None:
        headerless = [c for c, text in enumerate(self.texts) if not text and c not in self._used]
        for row in rows if headerless else ():
            for column in headerless[:bisect.bisect_left(headerless, len(row))]:
                if column not in self._used and not _blank_cell(row[column]):
                    self._used.add(column)

    def kept(self) -> list[int]:
        return [c for c, text in enumerate(self.texts) if text or c in self._used]

    def frame(self, keep: list[int]) -> pd.DataFrame:
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        data: dict[int, Any] = {}
        for i, column in enumerate(keep):
            chunks = self._chunks[column]
            if all(isinstance(chunk, pa.Array) for chunk in chunks):
                data[i] = pd.arrays.ArrowStringArray(pa.chunked_array(chunks, pa.string()))
            else:
                cells = np.empty(self._rows, dtype=object)
                at = 0
                for chunk in chunks:
                    values = chunk.to_pylist() if isinstance(chunk, pa.Array) else chunk
                    cells[at:at + len(values)] = values
                    at += len(values)
                data[i] = cells
        return pd.DataFrame(data)


def assemble_columns(file: Path, header: Header, header_row: int, table: pa.Table,
                     row_numbers: pa.Array, decimal_comma: bool, warnings: list[str],
                     where: str) -> LoadedSheet:
    """``assemble`` for text read into Arrow: ``table`` holds one string column per field
    position of the lines below the header, blank lines included (they are dropped here)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    filled = [pc.not_equal(pc.utf8_trim_whitespace(column), "") for column in table.columns]
    if filled:
        holds_value = filled[0]
        for more in filled[1:]:
            holds_value = pc.or_(holds_value, more)
        if not pc.all(holds_value).as_py():
            table = table.filter(holds_value)
            row_numbers = row_numbers.filter(holds_value)
    if table.num_rows == 0:
        raise InputError(f"{where} has a header (row {header_row}) but no data rows.")
    width = max(len(header.texts), table.num_columns)
    texts = header.texts + [""] * (width - len(header.texts))
    keep = [c for c in range(width)
            if texts[c] or (c < table.num_columns and pc.any(filled[c]).as_py())]
    _check_width(keep, where)
    blank = pa.repeat(pa.scalar("", pa.string()), table.num_rows)
    frame = pd.DataFrame({i: pd.arrays.ArrowStringArray(
        table.column(c) if c < table.num_columns else pa.chunked_array([blank]))
        for i, c in enumerate(keep)})
    return _loaded(file, "csv", None, header, header_row, frame, row_numbers.to_pylist(),
                   [texts[c] for c in keep], keep, decimal_comma, warnings)


def _check_width(keep: list[int], where: str) -> None:
    if keep[-1] >= MAX_COLUMNS:  # a CSV line can be wider than any sheet (and its report)
        raise InputError(f"{where} has a value in column {keep[-1] + 1:,}, beyond the "
                         f"{MAX_COLUMNS:,} columns a spreadsheet holds; remove the stray cells "
                         "(or extra delimiters) and save the file again.")


def _loaded(file: Path, file_format: str, sheet_name: str | None, header: Header,
            header_row: int, frame: pd.DataFrame, row_numbers: list[int], headers: list[str],
            keep: list[int], decimal_comma: bool, warnings: list[str]) -> LoadedSheet:
    frame.columns = headers
    position = {column: i for i, column in enumerate(keep)}
    fields = {name: position[column] for name, column in header.fields.items()}
    return LoadedSheet(
        path=file,
        file_format=file_format,
        sheet_name=sheet_name,
        header_row=header_row,
        frame=frame,
        row_numbers=row_numbers,
        headers=headers,
        letters=[column_letter(c) for c in keep],
        fields=fields,
        decimal_comma=decimal_comma,
        warnings=warnings + header.warnings,
        fallbacks={name: position[column] for name, column in header.fallbacks.items()
                   if column in position},
    )


def non_blank_rows(rows: list[list[Any]]) -> list[int]:
    """1-based positions of the rows that hold a value.

    Most rows have a plain value early on; ``filter`` finds the first truthy cell in C, and
    only rows without one (all "", or zeros) or starting with whitespace get the slow look."""
    firsts = map(next, map(filter, itertools.repeat(None), rows), itertools.repeat(None))
    return [offset + 1 for offset, first in enumerate(firsts)
            if not (first is None or (first.__class__ is str and first.isspace()))
            or not _is_blank_row(rows[offset])]


def _blank_cell(cell: Any) -> bool:
    return cell is None or (cell.__class__ is str and (not cell or cell.isspace())) or \
        cell != cell


