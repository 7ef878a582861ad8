"""Read a planner's sheet (.xlsx/.xlsm/.xlsb, .xls, .ods, .csv/.tsv/.txt) into a LoadedSheet.

The loader finds the sheet and its header row, keeps every non-empty row below the header
with the sheet's own row number and every column (known or not) with its letter, and refuses
a file it cannot use with one sentence (``InputError``, exit code 2).  It does not judge cell
values: that is ``validate.py``'s job.

The file type is decided by content (zip / OLE2 signature / text), not by the name alone, so
a renamed file gets a clear message instead of a parser's traceback.  Workbooks are read with
python-calamine directly (the fastest reader available; pandas' calamine engine adds a second
conversion); CSV text with the ``csv`` module, every cell kept as the exact text.

python-calamine hands formula errors (``#REF!``, ``#N/A`` ...) over as empty cells, which
would read as "blank" and could clear a field.  So for .xlsx/.xlsm, .xls and .ods the error
cells are found in the file itself and put back as their error text, which validation turns
into row errors.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import functools
import io
import itertools
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, NoReturn
from xml.etree import ElementTree

import python_calamine

from sync import schema
from sync.errors import InputError
from sync.model import LoadedSheet
from sync.sheetsize import check_ods_text, check_xlsx_text
from sync.sheetxml import SheetXml, read_sheet_xml
from sync.zipdeflate import open_member

#: How far down a sheet the header row is looked for (title blocks sit above it).
HEADER_SEARCH_ROWS = 50
#: A zip package that unpacks to more than this is refused (zip bombs; a 100,000-row
#: routing sheet unpacks to about 40 MB).  The reader holds a long run of XML text in memory
#: at once, so this also bounds the memory a crafted sheet can take.
MAX_UNPACKED_BYTES = 256 << 20
#: A sheet whose cells span more than this (rows x columns up to its last cell) is refused
#: before it is read: the reader allocates the whole span at once, so one stray cell at
#: XFD1048576 would ask for 550 GB and abort the process.  100,000 rows of 50 columns fit.
MAX_SHEET_CELLS = 5_000_000
#: Columns a spreadsheet (and so the report) can hold: A to XFD.
MAX_COLUMNS = 16_384
#: A text file larger than this is refused (a 100,000-row CSV is about 15 MB).
MAX_TEXT_BYTES = 512 << 20
#: A CSV field longer than this (characters) is refused: a thousand times the longest value
#: a field may hold (a 4,000-character description), so a real sheet never comes near it,
#: and validation's "longer than" message stays for every field below it.
MAX_CSV_FIELD_CHARS = 4 << 20

WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})
#: Delimiters tried for text files, in order of preference on a tie.
DELIMITERS = (",", ";", "\t")

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_KNOWN_BINARIES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (_EMPTY_ZIP_MAGIC, "an empty zip archive"),
)


# --------------------------------------------------------------------------- public API


def load_sheet(path: str | Path, *, sheet: str | None = None,
               keep_xml: bool = False) -> LoadedSheet:
    """Read the sheet holding the product-process lines; raises InputError if unusable.

    ``sheet`` names the sheet to read; by default the first sheet whose first
    ``HEADER_SEARCH_ROWS`` rows contain a row with the required columns is used.
    ``keep_xml``: an ``.xlsx`` sheet's XML is read while the workbook is parsed, cut into
    rows for the report (``LoadedSheet.xml``).
    """
    file = Path(path)
    head = _check_file(file)
    file_format = _detect_format(file, head)
    if file_format == "csv":
        return _load_text(file, sheet)
    return _load_workbook(file, file_format, sheet, keep_xml)


def required_columns() -> tuple[str, ...]:
    """The columns a header row must have.  A reference column may stand in for an id column
    (``product`` for ``product_id``, ``process`` for ``process_id``: ``schema.column_choices``)."""
    return tuple(f.name for f in schema.REQUIRED)


def missing_required(fields: Sequence[str] | set[str] | dict[str, int]) -> list[str]:
    """Required columns absent from a header's fields, none of whose stand-ins is there
    either; the one place that rule lives."""
    return [name for name in required_columns()
            if not any(choice in fields for choice in schema.column_choices(name))]


def describe_required(name: str) -> str:
    """A required column as a message names it, with its stand-in: ``product_id (or product)``."""
    choices = schema.column_choices(name)
    return name if len(choices) == 1 else f"{name} (or {' or '.join(choices[1:])})"


def column_letter(index: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --------------------------------------------------------------------------- file checks


def _check_file(file: Path) -> bytes:
    """Refuse what is not a readable, non-empty regular file; return its first bytes."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise InputError(f"{file} does not exist.") from None
    except OSError as exc:  # symlink loop, permission denied on a folder, name too long
        raise InputError(f"{file} cannot be opened: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{file} is a folder, not a spreadsheet file.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{file} is not a regular file.")
    if info.st_size == 0:
        raise InputError(f"{file.name} is empty (0 bytes).")
    try:
        with file.open("rb") as stream:
            return stream.read(4096)
    except OSError as exc:
        raise InputError(f"{file} cannot be read: {exc.strerror or exc}.") from None


def _detect_format(file: Path, head: bytes) -> str:
    """'xlsx', 'xlsb', 'ods', 'xls' or 'csv', from the content; InputError otherwise."""
    name = _brief(file.name, 80)
    ext = file.suffix.lower()
    if head.startswith(_ZIP_MAGIC):
        return _zip_format(file)
    if head.startswith(_OLE_MAGIC):
        return _ole_format(file)
    for magic, what in _KNOWN_BINARIES:
        if head.startswith(magic):
            raise InputError(f"{name} is {what}, not a spreadsheet.")
    if _looks_binary(head):
        raise InputError(f"{name} is not a spreadsheet: it holds binary data that is neither "
                         "a workbook nor text.")
    if ext in WORKBOOK_EXTENSIONS:
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<", b"\xef\xbb\xbf<")):
            raise InputError(f"{name} is a web page or XML file, not a real {ext} workbook: "
                             "open it in Excel and save it as .xlsx.")
        raise InputError(f"{name} holds plain text, not a {ext} workbook: if it is a CSV file, "
                         "rename it to .csv.")
    if ext and ext not in TEXT_EXTENSIONS:
        raise InputError(f"{name} is not a spreadsheet file: use .xlsx, .xlsm, .xls, .ods, "
                         ".csv, .tsv or .txt.")
    return "csv"


def _looks_binary(head: bytes) -> bool:
    """Control bytes (other than tab/CR/LF/FF) in a text that has no UTF-16 BOM."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return controls > max(2, len(head) // 100)


def _zip_format(file: Path) -> str:
    name = _brief(file.name, 80)
    try:
        with zipfile.ZipFile(file) as package:
            members = package.infolist()
            names = {m.filename for m in members}
            mimetype = b""
            if "mimetype" in names and package.getinfo("mimetype").file_size < 200:
                mimetype = package.read("mimetype")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise InputError(f"{name} is damaged or incomplete (its zip structure cannot be read); "
                         "save it again from Excel.") from None
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise InputError(f"{name} unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB, far more "
                         "than a routing sheet needs; it is refused.")
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        _refuse_document(name, "an OpenDocument text or presentation")
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "word/document.xml" in names:
        _refuse_document(name, "a Word document")
    if "ppt/presentation.xml" in names:
        _refuse_document(name, "a PowerPoint presentation")
    if "EncryptedPackage" in names:
        _refuse_encrypted(name)
    raise InputError(f"{name} is a zip archive, not a spreadsheet.")


def _refuse_document(name: str, what: str) -> NoReturn:
    raise InputError(f"{name} is {what}, not a spreadsheet.")


def _refuse_encrypted(name: str) -> NoReturn:
    raise InputError(f"{name} is password-protected (encrypted); save a copy without a password "
                     "and use that.")


def _ole_format(file: Path) -> str:
    """An OLE2 compound file is an .xls workbook, or an encrypted .xlsx, or something else."""
    name = _brief(file.name, 80)
    try:
        streams = _Ole(file.read_bytes()).stream_names()
    except (_OleDamaged, OSError):
        raise InputError(f"{name} is damaged or incomplete (it cannot be read as an Office "
                         "file); save it again from Excel.") from None
    if "EncryptionInfo" in streams or "EncryptedPackage" in streams:
        _refuse_encrypted(name)
    if "Workbook" in streams or "Book" in streams:
        return "xls"
    if "WordDocument" in streams:
        _refuse_document(name, "a Word document")
    raise InputError(f"{name} is an Office file but not an Excel workbook.")


# --------------------------------------------------------------------------- header row


@dataclass
class _Header:
    position: int                      # index in the rows searched
    texts: list[str]                   # header text of every column (blank: "")
    fields: dict[str, int]             # field name -> column index in the sheet
    warnings: list[str] = field(default_factory=list)
    fallbacks: dict[str, int] = field(default_factory=dict)  # field -> column index


@dataclass
class _Closest:
    """The row that came nearest to being a header, for the error message."""

    where: str
    missing: list[str]


def _cell_text(cell: Any) -> str:
    """A header cell as text: '2024' not '2024.0', dates ISO, blanks ''."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        if cell != cell:
            return ""
        if cell.is_integer():
            return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell).strip()


def _header_fields(texts: Sequence[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        known = schema.field_for_header(text) if text else None
        if known is not None:
            found.setdefault(known.name, []).append(index)
    return found


def _find_header(rows: Sequence[Sequence[Any]], file_name: str, locate: Callable[[int], str],
                 best: list[_Closest]) -> _Header | None:
    """The first row within HEADER_SEARCH_ROWS holding every required column, or None.

    ``locate(i)`` says where ``rows[i]`` sits ('sheet "Routing" row 4', 'line 4'); ``best``
    collects the closest miss (for the error message)."""
    for position, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        texts = [_cell_text(cell) for cell in row]
        found = _header_fields(texts)
        missing = missing_required(found)
        if missing:
            if len(missing) < len(required_columns()) and (
                    not best or len(missing) < len(best[0].missing)):
                best[:] = [_Closest(locate(position), missing)]
            continue
        return _resolve_header(position, texts, found, f"{file_name}, {locate(position)}")
    return None


def _resolve_header(position: int, texts: list[str], found: dict[str, list[int]],
                    where: str) -> _Header:
    """Map each field to one column; two columns meaning one field is an InputError."""
    fields: dict[str, int] = {}
    fallbacks: dict[str, int] = {}
    warnings: list[str] = []
    for name, columns in found.items():
        if len(columns) == 1:
            fields[name] = columns[0]
            continue
        canonical = [c for c in columns if schema.header_token(texts[c]) ==
                     schema.header_token(name)]
        if name == schema.ID.name and len(canonical) == 1 and len(columns) == 2:
            # A reconciliation report (sync_id appended) uploaded again: its own id column
            # wins, and sync_id fills the rows it leaves blank (lines the last run created).
            fields[name] = canonical[0]
            fallbacks[name] = next(c for c in columns if c != canonical[0])
            continue
        first, second = columns[0], columns[1]
        raise InputError(
            f'{where}: columns {column_letter(first)} ("{_brief(texts[first])}") and '
            f'{column_letter(second)} ("{_brief(texts[second])}") both mean {name}; keep only one.')
    return _Header(position, texts, fields, warnings, fallbacks)


def _no_header_message(subject: str, searched: str, best: list[_Closest],
                       sheets: Sequence[str] | None = None) -> str:
    """'<subject> with the required columns ... in its first N <searched> (details).'"""
    wanted = _and_list([describe_required(name) for name in required_columns()])
    message = f"{subject} with the required columns {wanted} in its first " \
              f"{HEADER_SEARCH_ROWS} {searched}"
    details = []
    if sheets is not None:
        details.append(f"sheets: {_quoted_list(sheets)}")
    if best:
        lacking = [describe_required(name) for name in best[0].missing]
        details.append(f"closest: {best[0].where}, which lacks {_and_list(lacking)}")
    if details:
        message += " (" + "; ".join(details) + ")"
    return message + "."


def _and_list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _brief(text: str, limit: int = 40) -> str:
    """User text quoted in a message: one line, not too long."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quoted_list(items: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(f'"{_brief(item)}"' for item in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


# --------------------------------------------------------------------------- assembling


def _is_blank_row(row: Sequence[Any]) -> bool:
    for cell in row:
        if cell.__class__ is str:
            if cell and not cell.isspace():
                return False
        elif cell is not None and cell == cell:  # NaN is blank
            return False
    return True


def _assemble(file: Path, file_format: str, sheet_name: str | None, header: _Header,
              header_row: int, data: list[list[Any]], row_numbers: list[int],
              decimal_comma: bool, warnings: list[str], where: str) -> LoadedSheet:
    """Build the LoadedSheet from the header and the non-empty data rows below it."""
    if not data:
        raise InputError(f"{where} has a header (row {header_row}) but no data rows.")
    width = max(len(header.texts), max(map(len, data)))
    texts = header.texts + [""] * (width - len(header.texts))
    # Keep every column with a header, and a header-less column only if it holds data.  It is
    # decided on the plain rows, before the frame exists: a stray cell a million columns out
    # then costs one look at each cell present, not a million column look-ups.
    keep = _kept_columns(texts, data)
    if keep[-1] >= MAX_COLUMNS:  # a CSV line can be wider than any sheet (and its report)
        raise InputError(f"{where} has a value in column {keep[-1] + 1:,}, beyond the "
                         f"{MAX_COLUMNS:,} columns a spreadsheet holds; remove the stray cells "
                         "(or extra delimiters) and save the file again.")
    if len(keep) < width or min(map(len, data)) < width:  # also pads short CSV lines
        data = [[row[c] if c < len(row) else "" for c in keep] for row in data]
    # Imported here: commands that read no sheet (export, undo) do without pandas.
    import pandas as pd

    frame = pd.DataFrame(data, dtype=object)
    headers = [texts[c] for c in keep]
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


def _non_blank_rows(rows: list[list[Any]], start: int) -> list[int]:
    """1-based numbers of the rows from ``rows[start]`` on that hold a value.

    Most rows have a plain value early on; ``filter`` finds the first truthy cell in C, and
    only rows without one (all "", or zeros) or starting with whitespace get the slow look."""
    tail = rows[start:]
    firsts = map(next, map(filter, itertools.repeat(None), tail), itertools.repeat(None))
    return [start + offset + 1 for offset, first in enumerate(firsts)
            if not (first is None or (first.__class__ is str and first.isspace()))
            or not _is_blank_row(tail[offset])]


def _kept_columns(texts: list[str], data: list[list[Any]]) -> list[int]:
    """Columns with a header, and header-less columns holding a value in some row."""
    headerless = [c for c, text in enumerate(texts) if not text]
    if not headerless:
        return list(range(len(texts)))
    used: set[int] = set()
    for row in data:
        for c in headerless[:bisect.bisect_left(headerless, len(row))]:
            if c not in used and not _blank_cell(row[c]):
                used.add(c)
    return sorted(used.union(c for c, text in enumerate(texts) if text))


def _blank_cell(cell: Any) -> bool:
    return cell is None or (cell.__class__ is str and (not cell or cell.isspace())) or \
        cell != cell


# --------------------------------------------------------------------------- workbooks


_EXTENSIONS = {"xlsx": (".xlsx", ".xlsm"), "xlsb": (".xlsb",), "xls": (".xls",), "ods": (".ods",)}


def _load_workbook(file: Path, file_format: str, sheet: str | None,
                   keep_xml: bool = False) -> LoadedSheet:
    name = _brief(file.name, 80)
    if file_format == "ods":    # calamine reads every table of an .ods file as it opens it
        _check_ods(file, name)
    try:
        if file.suffix.lower() in _EXTENSIONS[file_format]:
            book = python_calamine.CalamineWorkbook.from_path(str(file))
        else:  # calamine goes by the name; a renamed file is handed over by content
            with file.open("rb") as stream:
                book = python_calamine.CalamineWorkbook.from_filelike(stream)
    except python_calamine.PasswordError:
        _refuse_encrypted(name)
    except BaseException as exc:  # calamine panics arrive as BaseException subclasses
        _reraise_interrupts(exc)
        raise InputError(f"{name} is damaged or not a readable {file_format} workbook; "
                         "save it again from Excel.") from None
    with book, ThreadPoolExecutor(max_workers=2) as pool:
        names = list(book.sheet_names)
        if sheet is not None:
            candidates = [_pick_sheet(name, names, sheet)]
        else:
            candidates = _worksheet_names(book)
        best: list[_Closest] = []
        for sheet_name in candidates:
            # The error-cell scan reads the file a second time; calamine releases the GIL
            # while it parses, so running the scan beside it costs no wall time.
            if file_format == "xlsx":
                _check_xlsx_sheet(file, name, sheet_name, names.index(sheet_name))
            errors = pool.submit(_error_cells, file, file_format, sheet_name,
                                 names.index(sheet_name))
            xml = (pool.submit(_sheet_xml, file, sheet_name, names.index(sheet_name))
                   if keep_xml and file_format == "xlsx" else None)
            grid = _read_sheet(book, name, sheet_name)
            header = _find_header(grid.head, name, partial(_sheet_row, sheet_name), best)
            if header is None:
                continue
            rows = grid.rows()
            for (row, column), text in _finished(errors).items():
                if row < len(rows) and column < len(rows[row]) and rows[row][column] == "":
                    rows[row][column] = text
            numbers = _non_blank_rows(rows, header.position + 1)
            data = [rows[number - 1] for number in numbers]
            loaded = _assemble(file, file_format, sheet_name, header, header.position + 1,
                               data, numbers, False, [], f'{name}, sheet "{_brief(sheet_name)}"')
            loaded.xml = xml.result() if xml is not None else None
            return loaded
    if sheet is not None:
        subject = f'{name}: sheet "{_brief(candidates[0])}" has no row'
        raise InputError(_no_header_message(subject, "rows", best))
    raise InputError(_no_header_message(f"{name} has no sheet", "rows", best, names))


def _sheet_xml(file: Path, sheet_name: str, sheet_index: int) -> SheetXml | None:
    """The sheet's XML cut into rows for the report, or None when it cannot be read here
    (the report then reads the part itself, and says why it cannot if it cannot)."""
    try:
        with zipfile.ZipFile(file) as package:
            part = _xlsx_sheet_part(package, sheet_name, sheet_index)
        return read_sheet_xml(file, part)
    except Exception:  # a read-ahead only: whatever stops it, the report reads the file itself
        return None


def _finished(scan: Future[dict[tuple[int, int], str]]) -> dict[tuple[int, int], str]:
    try:
        return scan.result()
    except Exception:  # the scan is a refinement: without it error cells read as blank
        return {}


def _sheet_row(sheet_name: str, index: int) -> str:
    return f'sheet "{_brief(sheet_name)}" row {index + 1}'


def _reraise_interrupts(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc


def _pick_sheet(name: str, names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise InputError(f'{name} has no sheet named "{_brief(wanted)}"; its sheets are '
                     f"{_quoted_list(names)}.")


def _worksheet_names(book: python_calamine.CalamineWorkbook) -> list[str]:
    """Sheet names in workbook order, chart and macro sheets left out."""
    try:
        metadata = book.sheets_metadata
    except Exception:  # metadata is a nicety; every sheet is then a candidate
        return list(book.sheet_names)
    worksheet = python_calamine.SheetTypeEnum.WorkSheet
    return [m.name for m in metadata if m.typ == worksheet]


class _Grid:
    """A sheet's cells from A1, read once: the first rows for the header search, all on demand."""

    def __init__(self, sheet: python_calamine.CalamineSheet, file_name: str):
        self._sheet = sheet
        self._file_name = file_name
        self.head = self._convert(HEADER_SEARCH_ROWS)

    def _convert(self, nrows: int | None) -> list[list[Any]]:
        try:
            return self._sheet.to_python(skip_empty_area=False, nrows=nrows)
        except BaseException as exc:
            _reraise_interrupts(exc)
            raise InputError(f'{self._file_name}: sheet "{self._sheet.name}" is damaged and '
                             "cannot be read; save the file again from Excel.") from None

    def rows(self) -> list[list[Any]]:
        return self._convert(None)


def _read_sheet(book: python_calamine.CalamineWorkbook, name: str, sheet_name: str) -> _Grid:
    try:
        sheet = book.get_sheet_by_name(sheet_name)
    except python_calamine.PasswordError:
        _refuse_encrypted(name)
    except BaseException as exc:
        _reraise_interrupts(exc)
        raise InputError(f'{name}: sheet "{_brief(sheet_name)}" is damaged and cannot be read; '
                         "save the file again from Excel.") from None
    return _Grid(sheet, name)


# --------------------------------------------------------------------------- sheet span

# Cell and row references (r="B7"; any case, spacing and quotes XML allows) that may reach past
# 26 columns or 99,999 rows: two or more letters, or six or more digits.  Most sheets hold
# none or few, so the first look is one quick scan; only a sheet it cannot clear is scanned
# again for every reference (_ANY_REF).
_FAR_REF = re.compile(rb'r\s*=\s*["\'](?=[A-Za-z]{2}|[A-Za-z]?[0-9]{6})([A-Za-z]*)([0-9]+)["\']')
_ANY_REF = re.compile(rb'r\s*=\s*["\']([A-Za-z]*)([0-9]+)["\']')
_ROOT_PREFIX = re.compile(rb"<([A-Za-z_][\w.-]*):worksheet\b")
_NEAR_COLUMNS, _NEAR_ROWS = 26, 99_999


@dataclass
class _Span:
    """How far a sheet's cells reach, as its XML says (reference-less cells and rows count:
    the reader places them after the previous one)."""

    rows: int = 0
    columns: int = 0
    unnamed_rows: int = 0
    unnamed_cells: int = 0

    def cells(self, *, near: bool = False) -> int:
        rows, columns = self.rows, self.columns
        if near:  # the quick scan saw only the far references: the others may reach this
            rows, columns = max(rows, _NEAR_ROWS), max(columns, _NEAR_COLUMNS)
        return (rows + self.unnamed_rows) * (columns + self.unnamed_cells)


def _check_xlsx_sheet(file: Path, name: str, sheet_name: str, sheet_index: int) -> None:
    """Refuse, before calamine reads it, an .xlsx sheet whose cells span more than
    MAX_SHEET_CELLS or would hold more text than ``sheetsize.MAX_CELL_TEXT_BYTES``."""
    try:
        with zipfile.ZipFile(file) as package:
            members = set(package.namelist())
            try:
                parts = [_xlsx_sheet_part(package, sheet_name, sheet_index)]
            except (KeyError, ElementTree.ParseError, ValueError):
                parts = []
            if not parts or parts[0] not in members:  # unsure which part: check them all
                parts = [m for m in members if m.lower().endswith(".xml")]
            for part in parts:
                _check_span(package, part, name, sheet_name)
            for part in parts:
                check_xlsx_text(package, name, sheet_name, part)
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error):
        return  # calamine meets the same damage and says so


def _check_ods(file: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(file) as package:
            check_ods_text(package, name)
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error, KeyError):
        return  # calamine meets the same damage and says so


def _check_span(package: zipfile.ZipFile, part: str, name: str, sheet_name: str) -> None:
    span = _xlsx_span(package, part, _FAR_REF)
    if span.cells(near=True) > MAX_SHEET_CELLS:
        span = _xlsx_span(package, part, _ANY_REF)
    if span.cells() > MAX_SHEET_CELLS:
        rows = span.rows + span.unnamed_rows
        columns = span.columns + span.unnamed_cells
        raise InputError(
            f'{name}, sheet "{_brief(sheet_name)}" spans {rows:,} rows by '
            f"{columns:,} columns, far more than a routing sheet needs; delete the "
            "unused rows and columns (or copy the table to a new sheet) and save it "
            "again.")


def _xlsx_span(package: zipfile.ZipFile, part: str, references: re.Pattern[bytes]) -> _Span:
    """One pass over a sheet's XML, cut at tag starts so that no tag is split."""
    span = _Span()
    with open_member(package, part) as stream:
        chunk = stream.read(1 << 20)
        prefix = _ROOT_PREFIX.search(chunk[:4096])
        tags = _tag_patterns(prefix.group(1) + b":" if prefix else b"")
        pending = bytearray()
        while chunk:
            at = chunk.rfind(b"<")
            if at < 0:  # text, or inside a tag: runs of blanks mean nothing here
                pending += _BLANKS.sub(b" ", chunk)
            else:
                pending += chunk[:at]
                _add_span(span, pending, references, tags)
                pending = bytearray(chunk[at:])
            chunk = stream.read(1 << 20)
        _add_span(span, pending, references, tags)
    return span


_BLANKS = re.compile(rb"\s+")


@functools.lru_cache(maxsize=8)
def _tag_patterns(prefix: bytes) -> tuple[re.Pattern[bytes], ...]:
    """Patterns for cell and row elements without a reference: a quick one that also matches
    some with a reference (written unusually), and an exact one run only when it does."""
    tag = re.escape(b"<" + prefix)
    return (re.compile(tag + rb'c(?! r="|o|f|u)'),
            re.compile(tag + rb"c(?=[\s/>])(?![^>]*\sr\s*=)"),
            re.compile(tag + rb'row(?! r=")'),
            re.compile(tag + rb"row(?=[\s/>])(?![^>]*\sr\s*=)"))


def _add_span(span: _Span, xml: bytearray, references: re.Pattern[bytes],
              tags: tuple[re.Pattern[bytes], ...]) -> None:
    for letters, digits in references.findall(xml):
        span.rows = max(span.rows, int(digits))
        if letters:
            column = 0
            for char in letters.upper():
                column = column * 26 + char - 64
            span.columns = max(span.columns, column)
    odd_cell, unnamed_cell, odd_row, unnamed_row = tags
    if odd_cell.search(xml):
        span.unnamed_cells += len(unnamed_cell.findall(xml))
    if odd_row.search(xml):
        span.unnamed_rows += len(unnamed_row.findall(xml))


# --------------------------------------------------------------------------- formula errors


_ERROR_CODES = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!",
                0x1D: "#NAME?", 0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}


def _error_cells(file: Path, file_format: str, sheet_name: str,
                 sheet_index: int) -> dict[tuple[int, int], str]:
    """{(row, column) 0-based: error text} of the cells showing a formula error."""
    try:
        if file_format == "xlsx":
            return _xlsx_error_cells(file, sheet_name, sheet_index)
        if file_format == "ods":
            return _ods_error_cells(file, sheet_name)
        if file_format == "xls":
            return _xls_error_cells(file.read_bytes(), sheet_name)
    except (OSError, zipfile.BadZipFile, ElementTree.ParseError, KeyError, ValueError,
            struct.error, IndexError, _OleDamaged, RuntimeError, EOFError, MemoryError):
        # calamine read the sheet, so the file is sound; a part we cannot follow here only
        # means error cells stay blank, as calamine reports them.
        return {}
    return {}  # xlsb: not inspected


_CELL_REF = re.compile(r"([A-Z]+)([0-9]+)")
_XLSX_ERROR_MARKS = (b't="e"', b"t='e'")
_XLSX_ERROR_CELL = re.compile(
    rb"<(?:\w+:)?c\b([^>]*\bt=[\"']e[\"'][^>]*)>(.*?)</(?:\w+:)?c>", re.S)
_XLSX_REF = re.compile(rb"\br=[\"']([A-Z]+[0-9]+)[\"']")
_XLSX_VALUE = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def _xlsx_sheet_part(package: zipfile.ZipFile, sheet_name: str, sheet_index: int) -> str:
    """The zip member holding a sheet's cells, from the workbook and its relationships."""
    workbook = ElementTree.fromstring(package.read("xl/workbook.xml"))
    rel_id = None
    for element in workbook.iter():
        if element.tag.endswith("}sheet") and element.get("name") == sheet_name:
            rel_id = next((v for k, v in element.attrib.items() if k.endswith("}id")), None)
            break
    rels = ElementTree.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    for element in rels.iter():
        if element.tag.endswith("Relationship") and element.get("Id") == rel_id:
            target = element.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return f"xl/worksheets/sheet{sheet_index + 1}.xml"


def _xlsx_error_cells(file: Path, sheet_name: str,
                      sheet_index: int) -> dict[tuple[int, int], str]:
    with zipfile.ZipFile(file) as package:
        part = _xlsx_sheet_part(package, sheet_name, sheet_index)
        # Most sheets have no error cell: stream through the XML looking for the marker
        # before reading it whole.
        with open_member(package, part) as stream:
            tail = b""
            found = False
            while chunk := stream.read(1 << 20):
                window = tail + chunk
                if any(mark in window for mark in _XLSX_ERROR_MARKS):
                    found = True
                    break
                tail = chunk[-8:]
        if not found:
            return {}
        with open_member(package, part) as stream:
            xml = stream.read()
    cells: dict[tuple[int, int], str] = {}
    for match in _XLSX_ERROR_CELL.finditer(xml):
        ref = _XLSX_REF.search(match.group(1))
        value = _XLSX_VALUE.search(match.group(2))
        if ref is None:
            continue
        position = _ref_position(ref.group(1).decode())
        cells[position] = value.group(1).decode("utf-8", "replace") if value else "#VALUE!"
    return cells


def _ref_position(ref: str) -> tuple[int, int]:
    match = _CELL_REF.fullmatch(ref)
    if match is None:
        raise ValueError(ref)
    column = 0
    for char in match.group(1):
        column = column * 26 + ord(char) - 64
    return int(match.group(2)) - 1, column - 1


_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODS_CALCEXT = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"


def _ods_error_cells(file: Path, sheet_name: str) -> dict[tuple[int, int], str]:
    with zipfile.ZipFile(file) as package:
        with package.open("content.xml") as stream:
            tail = b""
            found = False
            while chunk := stream.read(1 << 20):
                if b'value-type="error"' in tail + chunk:
                    found = True
                    break
                tail = chunk[-24:]
        if not found:
            return {}
        with package.open("content.xml") as stream:
            return _ods_walk(stream, sheet_name)


def _ods_walk(stream: Any, sheet_name: str) -> dict[tuple[int, int], str]:
    """Follow rows and cells (with their repeat counts) of one table to its error cells."""
    table_tag = f"{{{_ODS_TABLE}}}table"
    row_tag = f"{{{_ODS_TABLE}}}table-row"
    cell_tags = {f"{{{_ODS_TABLE}}}table-cell", f"{{{_ODS_TABLE}}}covered-table-cell"}
    name_attr = f"{{{_ODS_TABLE}}}name"
    rows_repeat = f"{{{_ODS_TABLE}}}number-rows-repeated"
    cols_repeat = f"{{{_ODS_TABLE}}}number-columns-repeated"
    error_attr = f"{{{_ODS_CALCEXT}}}value-type"
    cells: dict[tuple[int, int], str] = {}
    inside = False
    row = column = 0
    for event, element in ElementTree.iterparse(stream, events=("start", "end")):
        tag = element.tag
        if tag == table_tag:
            if event == "start":
                inside = element.get(name_attr) == sheet_name
                row = 0
            elif inside:
                break
            element.clear()
        elif not inside:
            continue
        elif tag == row_tag:
            if event == "start":
                column = 0
            else:
                row += int(element.get(rows_repeat, "1"))
                element.clear()
        elif tag in cell_tags and event == "end":
            if element.get(error_attr) == "error":
                cells[(row, column)] = "".join(element.itertext()).strip() or "#VALUE!"
            column += int(element.get(cols_repeat, "1"))
    return cells


def _xls_error_cells(data: bytes, sheet_name: str) -> dict[tuple[int, int], str]:
    streams = _Ole(data)
    workbook = streams.read("Workbook") if "Workbook" in streams.stream_names() else \
        streams.read("Book")
    biff8 = "Workbook" in streams.stream_names()
    offset = None
    for kind, body in _biff_substream(workbook, 0):
        if kind == 0x0085 and _biff_sheet_name(body, biff8) == sheet_name:  # BOUNDSHEET
            offset = struct.unpack_from("<I", body)[0]
    if offset is None:
        return {}
    cells: dict[tuple[int, int], str] = {}
    for kind, body in _biff_substream(workbook, offset):
        if kind == 0x0006 and len(body) >= 14:  # FORMULA with its cached result
            row, column = struct.unpack_from("<HH", body)
            result = body[6:14]
            if result[6:8] == b"\xff\xff" and result[0] == 2:
                cells[(row, column)] = _ERROR_CODES.get(result[2], "#VALUE!")
        elif kind == 0x0205 and len(body) >= 8:  # BOOLERR holding an error value
            row, column = struct.unpack_from("<HH", body)
            if body[7] == 1:
                cells[(row, column)] = _ERROR_CODES.get(body[6], "#VALUE!")
    return cells


def _biff_substream(stream: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    """Records from the BOF at ``offset`` to its matching EOF (embedded charts nest)."""
    depth = 0
    while offset + 4 <= len(stream):
        kind, length = struct.unpack_from("<HH", stream, offset)
        body = stream[offset + 4: offset + 4 + length]
        offset += 4 + length
        if kind in (0x0809, 0x0409, 0x0209, 0x0009):  # BOF (BIFF8, 4, 3, 2)
            depth += 1
        elif kind == 0x000A:  # EOF
            depth -= 1
            if depth <= 0:
                return
        elif depth == 1:
            yield kind, body


def _biff_sheet_name(body: bytes, biff8: bool) -> str:
    length = body[6]
    if not biff8:
        return body[7: 7 + length].decode("cp1252", "replace")
    if body[7] & 1:
        return body[8: 8 + 2 * length].decode("utf-16-le", "replace")
    return body[8: 8 + length].decode("latin-1")


# --------------------------------------------------------------------------- OLE2 files


class _OleDamaged(Exception):
    """The compound file's structure does not hold together."""


class _Ole:
    """Just enough of the OLE2 compound file format to list and read streams.

    Used to tell an .xls workbook from an encrypted .xlsx (which is an OLE2 file holding
    EncryptionInfo) and to find formula-error cells that calamine reports as blank."""

    _END = 0xFFFFFFFE

    def __init__(self, data: bytes):
        if len(data) < 512 or not data.startswith(_OLE_MAGIC):
            raise _OleDamaged
        self._data = data
        try:
            shift, mini_shift = struct.unpack_from("<HH", data, 30)
            fat_count, dir_start = struct.unpack_from("<II", data, 44)
            self._mini_cutoff, minifat_start, minifat_count, difat_start, difat_count = \
                struct.unpack_from("<IIIII", data, 56)
            if not 7 <= shift <= 16 or mini_shift > shift:
                raise _OleDamaged
            self._size = 1 << shift
            self._mini_size = 1 << mini_shift
            fat_sectors = [s for s in struct.unpack_from("<109I", data, 76)][:fat_count]
            per_sector = self._size // 4 - 1
            sector, guard = difat_start, 0
            while len(fat_sectors) < fat_count and sector < self._END and guard <= difat_count:
                entries = struct.unpack_from(f"<{per_sector + 1}I", data, self._offset(sector))
                fat_sectors.extend(entries[:per_sector])
                sector, guard = entries[per_sector], guard + 1
            fat: list[int] = []
            for sector in fat_sectors[:fat_count]:
                fat.extend(struct.unpack_from(f"<{self._size // 4}I", data, self._offset(sector)))
            self._fat = fat
            directory = self._chain_bytes(dir_start, self._fat, self._size, self._sector_bytes)
            self._entries: dict[str, tuple[int, int, int]] = {}
            root_start = root_size = 0
            for at in range(0, len(directory) - 127, 128):
                entry = directory[at: at + 128]
                name_length = struct.unpack_from("<H", entry, 64)[0]
                kind = entry[66]
                start, size = struct.unpack_from("<II", entry, 116)
                name = entry[: max(0, name_length - 2)].decode("utf-16-le", "replace")
                if kind == 5:
                    root_start, root_size = start, size
                elif kind == 2:
                    self._entries.setdefault(name, (start, size, kind))
            self._minifat: list[int] = []
            if minifat_count:
                raw = self._chain_bytes(minifat_start, self._fat, self._size,
                                        self._sector_bytes)
                self._minifat = list(struct.unpack_from(f"<{len(raw) // 4}I", raw))
            self._ministream = (self._chain_bytes(root_start, self._fat, self._size,
                                                  self._sector_bytes)[:root_size]
                                if root_size else b"")
        except (struct.error, IndexError, ValueError, OverflowError, MemoryError):
            raise _OleDamaged from None

    def _offset(self, sector: int) -> int:
        offset = (sector + 1) * self._size
        if offset + self._size > len(self._data):
            raise _OleDamaged
        return offset

    def _sector_bytes(self, sector: int) -> bytes:
        offset = self._offset(sector)
        return self._data[offset: offset + self._size]

    def _mini_bytes(self, sector: int) -> bytes:
        offset = sector * self._mini_size
        if offset + self._mini_size > len(self._ministream):
            raise _OleDamaged
        return self._ministream[offset: offset + self._mini_size]

    @classmethod
    def _chain_bytes(cls, start: int, table: list[int], size: int, read: Any) -> bytes:
        parts = []
        sector = start
        for _ in range(len(table) + 1):  # a loop in the chain cannot run forever
            if sector >= cls._END or sector >= len(table):
                break
            parts.append(read(sector))
            sector = table[sector]
        else:
            raise _OleDamaged
        return b"".join(parts)

    def stream_names(self) -> set[str]:
        return set(self._entries)

    def read(self, name: str) -> bytes:
        try:
            start, size, _ = self._entries[name]
            if size < self._mini_cutoff:
                data = self._chain_bytes(start, self._minifat, self._mini_size, self._mini_bytes)
            else:
                data = self._chain_bytes(start, self._fat, self._size, self._sector_bytes)
        except (struct.error, IndexError, KeyError):
            raise _OleDamaged from None
        return data[:size]


# --------------------------------------------------------------------------- text files


def _load_text(file: Path, sheet: str | None) -> LoadedSheet:
    name = _brief(file.name, 80)
    warnings: list[str] = []
    if sheet is not None:
        warnings.append(f"--sheet {sheet} is ignored: {name} is a text file with one table.")
    size = file.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise InputError(f"{name} is larger than {MAX_TEXT_BYTES >> 20} MB; it is refused.")
    text = _decode(file.read_bytes(), name, warnings)
    # A long cell gets validation's "too long" message; the csv module's default limit
    # (128 KB) would instead fail the header search with a wrong message.
    csv.field_size_limit(MAX_CSV_FIELD_CHARS)
    if "\x00" in text:
        raise InputError(f"{name} contains NUL bytes, so it is not a text (CSV) file; save it "
                         "from Excel as CSV UTF-8 or .xlsx.")
    delimiter, sample_rows = _pick_delimiter(text, file.suffix.lower(), name)
    best: list[_Closest] = []
    sample = [cells for _, cells in sample_rows]
    header = _find_header(sample, name, lambda i: f"line {sample_rows[i][0]}", best)
    if header is None:
        raise InputError(_no_header_message(f"{name} has no header line", "lines", best))
    header_row = sample_rows[header.position][0]
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
    return _assemble(file, "csv", None, header, header_row, data, numbers, delimiter == ";",
                     warnings, name)


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
    head_lines: list[str] = []
    for line in io.StringIO(text, newline=""):
        head_lines.append(line)
        if len(head_lines) >= HEADER_SEARCH_ROWS * 2:
            break
    head = "".join(head_lines)
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
            if not missing_required(_header_fields([c.strip() for c in cells])):
                return delimiter, rows
    counts = {d: head.count(d) for d in splits}
    if not counts:
        return ",", []
    chosen = max(counts, key=lambda d: counts[d])
    return chosen, splits[chosen]
