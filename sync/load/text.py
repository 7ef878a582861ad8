"""Text sheets (.csv/.tsv/.txt): encoding, delimiter, decimal comma, then the cells as text.

The encoding is UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 line by
line; the delimiter is the one of ``,``, ``;`` and tab that makes a header row appear in the
first lines (``;`` means a decimal comma).  Below the header the lines are read by pyarrow's
CSV reader into string columns; only where it cannot give the same cells and line numbers as
the ``csv`` module (see ``_read_columns``) does the ``csv`` module read them.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sync.errors import InputError, _CsvNotUtf8Error
from sync.load.frame import assemble, assemble_columns
from sync.load.guards import MAX_COLUMNS, MAX_CSV_FIELD_CHARS, MAX_TEXT_BYTES
from sync.load.header import (
    HEADER_SEARCH_ROWS,
    Closest,
    Header,
    brief,
    find_header,
    header_fields,
    missing_required,
    no_header_message,
)
from sync.model import LoadedSheet

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: Delimiters tried for text files, in order of preference on a tie.
DELIMITERS = (",", ";", "\t")


def load_text(file: Path, sheet: str | None) -> LoadedSheet:
    """Read a text sheet; raises InputError with one sentence if it cannot be used."""
    name = brief(file.name, 80)
    warnings: list[str] = []
    if sheet is not None:
        warnings.append(f"--sheet {sheet} is ignored: {name} is a text file with one table.")
    size = file.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise InputError(f"{name} is larger than {MAX_TEXT_BYTES >> 20} MB; it is refused.")
    raw = file.read_bytes()
    # A long cell gets validation's "too long" message; the csv module's default limit
    # (128 KB) would instead fail the header search with a wrong message.
    csv.field_size_limit(MAX_CSV_FIELD_CHARS)
    if not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Most files are UTF-8: pyarrow reads (and checks) the bytes as they are, so the
        # text is never decoded into a Python string as a whole.
        if b"\x00" in raw:
            _refuse_nul(name)
        start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
        head = _utf8_head(raw, start)
        if head is not None:
            delimiter, header, header_row, skip = _header(head, file, name)
            try:
                columns = _read_columns(raw, start + len(head[:skip].encode("utf-8")),
                                        delimiter, header_row)
            except _CsvNotUtf8Error:
                pass  # Windows-1252 somewhere below: decoded line by line, then read
            else:
                if columns is not None:
                    return assemble_columns(file, header, header_row, *columns,
                                            delimiter == ";", warnings, name)
                return _read_with_csv(file, _decode(raw, name, warnings), delimiter, header,
                                      header_row, warnings, name)
    text = _decode(raw, name, warnings)
    if "\x00" in text:
        _refuse_nul(name)
    delimiter, header, header_row, skip = _header(text, file, name)
    columns = _read_columns(text[skip:].encode("utf-8"), 0, delimiter, header_row)
    if columns is not None:
        return assemble_columns(file, header, header_row, *columns, delimiter == ";",
                                warnings, name)
    return _read_with_csv(file, text, delimiter, header, header_row, warnings, name)


def _refuse_nul(name: str) -> NoReturn:
    raise InputError(f"{name} contains NUL bytes, so it is not a text (CSV) file; save it "
                     "from Excel as CSV UTF-8 or .xlsx.")


def _utf8_head(raw: bytes, start: int) -> str | None:
    """The lines the header is looked for in, as text, or None if they are not UTF-8."""
    end = start
    for _ in range(HEADER_SEARCH_ROWS * 2):
        end = raw.find(b"\n", end) + 1
        if not end:
            end = len(raw)
            break
    try:
        return raw[start:end].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _header(text: str, file: Path, name: str) -> tuple[str, Header, int, int]:
    """The delimiter, the header, its record number and the characters up to its end."""
    delimiter, sample_rows = _pick_delimiter(text, file.suffix.lower(), name)
    best: list[Closest] = []
    sample = [cells for _, cells in sample_rows]
    header = find_header(sample, name, lambda i: f"line {sample_rows[i][0]}", best)
    if header is None:
        raise InputError(no_header_message(f"{name} has no header line", "lines", best))
    header_row = sample_rows[header.position][0]
    # The header may follow a title block whose cells span lines: skip records, not lines.
    head = _lines(text, HEADER_SEARCH_ROWS * 2)
    reader = csv.reader(head, delimiter=delimiter)
    for _ in itertools.islice(reader, header_row):
        pass
    return delimiter, header, header_row, sum(map(len, head[:reader.line_num]))


def _read_with_csv(file: Path, text: str, delimiter: str, header: Header, header_row: int,
                   warnings: list[str], name: str) -> LoadedSheet:
    """The lines below the header read by the ``csv`` module (see ``_read_columns``)."""
    data, numbers = _read_rows(text, delimiter, header_row, name)
    return assemble(file, "csv", None, header, header_row, [(data, numbers)], delimiter == ";",
                    warnings, name)


def _read_columns(data: bytes, offset: int, delimiter: str, header_row: int
                  ) -> tuple[pa.Table, pa.Array] | None:
    """The lines of ``data[offset:]`` (those below the header) as string columns with each
    row's record number, or None where pyarrow cannot give what the ``csv`` module gives.

    That is a file whose lines below the header do not all have the same number of fields
    (pyarrow fixes the width from the first line and can only drop the others) or have more
    than MAX_COLUMNS (pyarrow would build a column for each), whose cells hold line breaks or
    whose lines are only blanks (record numbers then stop being line numbers, and pyarrow
    reports neither), a line ending that is a lone CR, a field longer than
    MAX_CSV_FIELD_CHARS, or an unclosed quote: the ``csv`` module reads them, with today's
    messages.  A file whose every record is one line is recognised by the count: pyarrow's
    rows (empty lines skipped) equal the non-empty lines.  Raises _CsvNotUtf8Error."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    filled, starts = _filled_lines(np.frombuffer(data, dtype=np.uint8, offset=offset))
    if not len(filled):
        return None
    # pyarrow takes its width from the first non-empty line; every column is to stay text.
    start = offset + int(starts[0])
    end = data.find(b"\n", start)
    try:
        first = data[start: end if end >= 0 else len(data)].decode("utf-8")
    except UnicodeDecodeError:
        raise _CsvNotUtf8Error from None
    width = len(next(csv.reader(io.StringIO(first, newline=""), delimiter=delimiter), []))
    if width > MAX_COLUMNS:
        return None
    ragged: list[bool] = []

    def invalid(row: pacsv.InvalidRow) -> str:
        ragged.append(True)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(data).slice(offset)),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char='"',
                                             double_quote=True, escape_char=False,
                                             newlines_in_values=True, ignore_empty_lines=True,
                                             invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False, quoted_strings_can_be_null=False,
                null_values=[], true_values=[], false_values=[]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        if "UTF8" in str(exc):
            raise _CsvNotUtf8Error from None
        return None  # an unclosed quote, a record straddling blocks: the csv module says why
    if ragged or any(column.type != pa.string() for column in table.columns):
        return None
    if len(filled) != table.num_rows:
        return None
    for column in table.columns:
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is not None and longest > MAX_CSV_FIELD_CHARS:
            return None
    return table, pa.array(filled + header_row + 1)


def _lines(text: str, count: int) -> list[str]:
    """The first ``count`` lines of ``text`` (ends kept), without copying all of it."""
    size = 1 << 16
    while True:
        lines = io.StringIO(text[:size], newline="").readlines()
        if len(lines) > count or size >= len(text):
            return lines[:count]
        size *= 4


def _filled_lines(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 0-based numbers and start offsets of the lines (LF or CRLF ended) that are not
    empty, found a slice at a time so that the comparison's mask stays small."""
    import numpy as np

    if not len(data):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    step = 1 << 24
    ends = np.concatenate([np.flatnonzero(data[at: at + step] == 10) + at
                           for at in range(0, len(data), step)] or [np.zeros(0, np.int64)])
    if data[-1] != 10:  # the last line has no line break
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    lengths = ends - starts
    crlf_only = (lengths == 1) & (data[np.minimum(starts, len(data) - 1)] == 13)
    filled = np.flatnonzero((lengths > 0) & ~crlf_only)
    return filled, starts[filled]


def _read_rows(text: str, delimiter: str, header_row: int, name: str
               ) -> tuple[list[list[Any]], list[int]]:
    """The lines below the header read by the ``csv`` module: every non-blank record with
    its record number (a blank line counts as one, as a line)."""
    data: list[list[Any]] = []
    numbers: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    last_start = record_end = 0  # physical lines where the last record starts and ends
    try:
        for number, cells in enumerate(reader, start=1):
            last_start, record_end = record_end + 1, reader.line_num
            if number <= header_row or not cells:
                continue
            if "".join(cells).strip():
                data.append(cells)
                numbers.append(number)
    except csv.Error as exc:
        _refuse_long_field(exc, name, reader.line_num)
        raise InputError(f"{name} cannot be read as CSV near line {reader.line_num}: "
                         f"{exc}.") from None
    if reader.line_num > last_start:
        _refuse_unclosed_quote(text, delimiter, last_start, name)
    return data, numbers


def _refuse_long_field(exc: csv.Error, name: str, line: int) -> None:
    if "field larger than field limit" in str(exc):
        raise InputError(f"{name}: line {line:,} holds a field longer than "
                         f"{MAX_CSV_FIELD_CHARS >> 20} million characters; a routing sheet "
                         "needs far less.") from None


def _refuse_unclosed_quote(text: str, delimiter: str, start: int, name: str) -> None:
    """The last record spans several lines: refuse it if that is a quote never closed, which
    would swallow every line after it into one cell (rows lost without a word)."""
    lines = itertools.islice(io.StringIO(text, newline=""), start - 1, None)
    try:
        for _ in csv.reader(lines, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise InputError(f"{name}: the quote opened on line {start} is never closed, so "
                             "every line after it would be read as one cell; close or remove "
                             "that quote and save the file again.") from None


def _decode(raw: bytes, name: str, warnings: list[str]) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 line by line."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(f"{name} starts as UTF-16 text but is damaged.") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Older Excel saves CSV as Windows-1252; a file pieced together from several sources can
    # mix both, so each line is decoded on its own.
    lines = []
    mixed = False
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
            mixed = mixed or any(byte >= 0x80 for byte in line)
        except UnicodeDecodeError:
            lines.append(line.decode("cp1252", "replace"))
    if mixed:
        warnings.append(f"{name} mixes UTF-8 and Windows-1252 text; each line was read in the "
                        "encoding it fits.")
    return "\n".join(lines)


def _pick_delimiter(text: str, ext: str, name: str
                    ) -> tuple[str, list[tuple[int, list[str]]]]:
    """The delimiter that makes a header row appear, with the first records split by it.

    Falls back to the delimiter most often seen in the first lines (for the error message)."""
    head = "".join(_lines(text, HEADER_SEARCH_ROWS * 2))
    order = ("\t", ",", ";") if ext == ".tsv" else DELIMITERS
    splits: dict[str, list[tuple[int, list[str]]]] = {}
    for delimiter in order:
        rows: list[tuple[int, list[str]]] = []
        reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter)
        try:
            for number, cells in enumerate(reader, start=1):
                if cells and "".join(cells).strip():
                    rows.append((number, cells))
                if len(rows) >= HEADER_SEARCH_ROWS:
                    break
        except csv.Error as exc:
            _refuse_long_field(exc, name, reader.line_num)
            continue
        splits[delimiter] = rows
        for _, cells in rows:
            if not missing_required(header_fields([c.strip() for c in cells])):
                return delimiter, rows
    counts = {d: head.count(d) for d in splits}
    if not counts:
        return ",", []
    chosen = max(counts, key=lambda d: counts[d])
    return chosen, splits[chosen]
