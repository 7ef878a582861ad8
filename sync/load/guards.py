"""Limits checked before a reader is let at a file: what a crafted file would otherwise cost.

A zip package's unpacked size and its parts' packing, an .xlsx sheet's cell span (the reader
allocates rows x columns up to the last cell at once) and its text (``sync.sheetsize``), an
.xlsb sheet's span (from its binary records), an .ods file's text.
Each refusal is one sentence (``InputError``); damage the checks cannot follow is left to the
reader, which says so itself.
"""

from __future__ import annotations

import functools
import re
import struct
import zipfile
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from sync.errors import InputError, OleDamagedError
from sync.load import xls
from sync.load.header import brief
from sync.report.parts import EXCEL_MAX_ROWS as EXCEL_ROWS
from sync.report.parts import target_part
from sync.sheetsize import (
    MAX_SHARED_STRINGS,
    TextMarks,
    check_ods_text,
    check_xlsx_text,
    parts_text_limit,
    text_limit,
    too_many_strings,
    too_much_text,
)
from sync.zipdeflate import open_member

#: The last row an Excel sheet holds: the tallest sheet a planner can have.
EXCEL_MAX_ROWS = EXCEL_ROWS
#: A zip package that unpacks to more than this is refused.  A full-height export holds
#: about 750 bytes of sheet XML a row and 650 of its hidden ``_base`` sheet, plus the Lists
#: sheet; 2 KB a row leaves room for the planner's own columns.
MAX_UNPACKED_BYTES = EXCEL_MAX_ROWS * 2048
#: A zip member larger than MAX_RATIO_FROM that unpacks to more than MAX_RATIO times its
#: packed size is refused: sheet XML full of ids and numbers packs 5-10:1 (a sheet of
#: blank styled cells 20-30:1), while a run of one repeated byte, a zip bomb's filling,
#: packs about 1,000:1.  Small parts (styles, a short sheet) may pack tighter harmlessly.
MAX_RATIO = 100
MAX_RATIO_FROM = 8 << 20
#: The columns a routing sheet can reasonably have: an export's 17 (the fields, the names
#: beside the ids, the stamps) and the planner's own (notes, checks ...).
MAX_SHEET_COLUMNS = 32
#: A sheet whose cells span more than this (rows x columns up to its last cell) is refused
#: before it is read: the reader allocates the whole span at once, so one stray cell at
#: XFD1048576 would ask for 550 GB and abort the process.  A full-height sheet of
#: MAX_SHEET_COLUMNS columns fits.
MAX_SHEET_CELLS = EXCEL_MAX_ROWS * MAX_SHEET_COLUMNS
#: A sheet spanning more than SPARSE_FROM cells must hold at least one cell in MIN_FILL of
#: its span.  The reader's memory goes by the span, not by the cells written, so one stray
#: cell far below and right of a small table would cost gigabytes; a real table that large
#: is filled, and its memory is then bounded by the unpack and packing limits.
SPARSE_FROM = 5_000_000
MIN_FILL = 4
#: Columns a spreadsheet (and so the report) can hold: A to XFD.
MAX_COLUMNS = 16_384
#: A text file larger than this is refused (a 100,000-row CSV is about 15 MB).
MAX_TEXT_BYTES = 512 << 20
#: A CSV field longer than this (characters) is refused: a thousand times the longest value
#: a field may hold (a 4,000-character description), so a real sheet never comes near it,
#: and validation's "longer than" message stays for every field below it.
MAX_CSV_FIELD_CHARS = 4 << 20


# Cell and row references (r="B7"; any case, spacing and quotes XML allows) that may reach past
# 26 columns or 99,999 rows: two or more letters, or six or more digits.  Most sheets hold
# none or few, so the first look is one quick scan; only a sheet it cannot clear is scanned
# again for every reference (_ANY_REF).  Leading zeros stay out of the digits captured, so
# that the longest run of digits is the largest row.
_FAR_REF = re.compile(rb'r\s*=\s*["\'](?=[A-Za-z]{2}|[A-Za-z]?[0-9]{6})([A-Za-z]*)0*([0-9]+)["\']')
_ANY_REF = re.compile(rb'r\s*=\s*["\']([A-Za-z]*)0*([0-9]+)["\']')
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
    held: int = 0  # cell elements written (counted on the closer look only)
    marks: TextMarks = field(default_factory=TextMarks)

    def cells(self, *, near: bool = False) -> int:
        rows, columns = self.rows, self.columns
        if near:  # the quick scan saw only the far references: the others may reach this
            rows, columns = max(rows, _NEAR_ROWS), max(columns, _NEAR_COLUMNS)
        return (rows + self.unnamed_rows) * (columns + self.unnamed_cells)


def check_zip_members(members: list[zipfile.ZipInfo], name: str) -> None:
    """Refuse a zip package that unpacks to more than MAX_UNPACKED_BYTES, or holds a large
    member packed far tighter than any real sheet (MAX_RATIO)."""
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise InputError(f"{name} unpacks to more than {MAX_UNPACKED_BYTES >> 20:,} MB, far "
                         "more than a routing sheet needs; it is refused.")
    for member in members:
        if member.file_size > max(MAX_RATIO_FROM, MAX_RATIO * member.compress_size):
            raise InputError(f"{name} holds a part packed more than {MAX_RATIO} times tighter "
                             "than any real workbook (a zip bomb); it is refused.")


def check_xlsx_sheet(file: Path, name: str, sheet_name: str, sheet_index: int) -> None:
    """Refuse, before calamine reads it, an .xlsx sheet whose cells span more than
    MAX_SHEET_CELLS or would hold more text than ``sheetsize.text_limit`` allows."""
    try:
        with zipfile.ZipFile(file) as package:
            members = set(package.namelist())
            try:
                parts = [xlsx_sheet_part(package, sheet_name, sheet_index)]
            except (KeyError, ElementTree.ParseError, ValueError):
                parts = []
            if not parts or parts[0] not in members:  # unsure which part: check them all
                parts = [m for m in members if m.lower().endswith(".xml")]
            for part in parts:
                check_xlsx_text(package, name, sheet_name, part,
                                _check_span(package, part, name, sheet_name))
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error):
        return  # calamine meets the same damage and says so


def check_xlsb(file: Path, name: str) -> None:
    """Refuse, before calamine reads it, an .xlsb workbook with a sheet whose cells span more
    than MAX_SHEET_CELLS (or sparsely more than SPARSE_FROM), as ``check_xlsx_sheet`` does
    for an .xlsx.  Every record part that could be read as a sheet is looked at, without
    working out which one holds which sheet: a part that holds no cell records spans nothing."""
    try:
        with zipfile.ZipFile(file) as package:
            strings = _xlsb_string_lengths(package, name)
            for part in _xlsb_record_parts(package):
                limit = parts_text_limit(package, part, _XLSB_STRINGS_PART)
                _check_xlsb_part(package, part, name, strings, limit)
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error):
        return  # calamine meets the same damage and says so


def _xlsb_record_parts(package: zipfile.ZipFile) -> list[str]:
    """The parts the workbook's sheet entries name, whatever type their relationships give
    (calamine reads them as sheets all the same), and the other binary parts the
    relationships name (styles, strings ...) but the macro project: it and printer settings
    are binary blobs of another kind, whose bytes would read as nonsense records.  Without
    readable relationships, the parts under ``xl/worksheets/``."""
    members = set(package.namelist())
    try:
        rels = ElementTree.fromstring(package.read("xl/_rels/workbook.bin.rels"))
    except (KeyError, ElementTree.ParseError):
        rels = None
    relationships = [e for e in (rels.iter() if rels is not None else ())
                     if e.tag.endswith("Relationship")]
    parts = _xlsb_sheet_parts(package, {e.get("Id"): e.get("Target", "")
                                        for e in relationships})
    for element in relationships:
        target = element.get("Target", "")
        if (target.lower().endswith(".bin")
                and not element.get("Type", "").endswith("/vbaProject")):
            parts.append(target_part("xl/workbook.bin", target))
    found = [part for part in dict.fromkeys(parts) if part in members]
    return found or sorted(m for m in members
                           if m.startswith("xl/worksheets/") and m.lower().endswith(".bin"))


#: BrtBundleSh, a sheet's entry in the workbook part, and BrtEndBundleShs after the last one.
_XLSB_SHEET_ENTRY, _XLSB_SHEET_ENTRIES_END = 0x9C, 0x90
#: How much of the workbook part is read for its sheet entries (they come first; a real
#: workbook part is a few kilobytes).
_XLSB_WORKBOOK_BYTES = 1 << 24


def _xlsb_sheet_parts(package: zipfile.ZipFile, targets: dict[str | None, str]) -> list[str]:
    """The parts the sheet entries of ``xl/workbook.bin`` name through the relationship
    ``targets`` (by id): each target taken as calamine does (``xl/`` and the target) and as a
    package path, for the members to pick from."""
    try:
        with open_member(package, "xl/workbook.bin") as stream:
            book = stream.read(_XLSB_WORKBOOK_BYTES)
    except KeyError:
        return []
    parts: list[str] = []
    at = 0
    while at < len(book):
        try:
            kind, size, at = _record_header(book, at)
        except IndexError:  # the part ends inside a header
            break
        if kind == _XLSB_SHEET_ENTRIES_END:
            break
        if kind == _XLSB_SHEET_ENTRY and size >= 12:
            # hsState and iTabID (four bytes each), then the relationship id as UTF-16 text.
            length = int.from_bytes(book[at + 8:at + 12], "little")
            rel_id = book[at + 12:at + 12 + 2 * length].decode("utf-16-le", "replace")
            target = targets.get(rel_id)
            if target is not None:
                parts += ["xl/" + target, target_part("xl/workbook.bin", target)]
        at += size
    return parts


#: The .xlsb records of a cell, by type: whether it starts with its column (BrtCellBlank to
#: BrtFmlaError, BrtCellRString) or is a short form (BrtShortBlank to BrtShortIsst), which
#: stands one column after the cell before it; then, for a cell showing a shared string
#: (BrtCellIsst, BrtShortIsst), where in its data the string's index is, and for one holding
#: its own text (BrtCellSt, BrtFmlaString, BrtShortSt), where the text's length in
#: characters is (0: neither).  A cell's row is that of the BrtRowHdr record (type 0) before
#: it.  A shared string counts once per cell showing it: the reader makes a copy for each.
_XLSB_CELLS: dict[int, tuple[bool, int, int]] = {
    **dict.fromkeys([*range(1, 12), 62], (True, 0, 0)),
    **dict.fromkeys(range(12, 19), (False, 0, 0)),
    7: (True, 8, 0), 18: (False, 4, 0), 6: (True, 0, 8), 8: (True, 0, 8), 17: (False, 0, 4)}
#: BrtSSTItem, an entry of the shared strings (the part calamine reads, by that name).
_XLSB_STRING, _XLSB_STRINGS_PART = 0x13, "xl/sharedStrings.bin"


def _check_xlsb_part(package: zipfile.ZipFile, part: str, name: str,
                     strings: Sequence[int], limit: int) -> None:
    with open_member(package, part) as stream:
        span = _xlsb_span(stream, strings)
    if _too_large(span.rows * span.columns, span.held):
        raise _span_refused(f"{name} has a sheet that spans", span.rows, span.columns)
    if span.text > limit:
        raise too_much_text(name, limit)


@dataclass(slots=True)
class _BinarySpan:
    rows: int = 0       # the rows the cells span
    columns: int = 0    # the columns the cells span
    held: int = 0       # cell records
    text: int = 0       # characters of text the cells show, a shared string once per cell


def _xlsb_span(stream: IO[bytes], strings: Sequence[int]) -> _BinarySpan:
    """Rows and columns up to a binary part's last cell, the cells it holds and the text they
    show (``strings``: the length of each shared string)."""
    rows = columns = held = text = row = 0
    column = -1
    cells = _XLSB_CELLS
    for kind, buffer, at in _xlsb_records(stream):
        cell = cells.get(kind)
        if cell is not None:
            placed, shared_at, text_at = cell
            held += 1
            if row >= rows:
                rows = row + 1
            column = int.from_bytes(buffer[at:at + 4], "little") if placed else column + 1
            if column >= columns:
                columns = column + 1
            if shared_at:
                index = int.from_bytes(buffer[at + shared_at:at + shared_at + 4], "little")
                text += strings[index] if index < len(strings) else 0
            elif text_at:
                text += int.from_bytes(buffer[at + text_at:at + text_at + 4], "little")
        elif not kind:
            row = int.from_bytes(buffer[at:at + 4], "little")
            column = -1
    return _BinarySpan(rows, columns, held, text)


def _xlsb_string_lengths(package: zipfile.ZipFile, name: str) -> array[int]:
    """The length in characters of each entry of ``xl/sharedStrings.bin``, in table order;
    more than MAX_SHARED_STRINGS entries are refused, as an .xlsx's are."""
    lengths: array[int] = array("q")
    try:
        stream = open_member(package, _XLSB_STRINGS_PART)
    except KeyError:
        return lengths
    with stream:
        for kind, buffer, at in _xlsb_records(stream):
            if kind == _XLSB_STRING:
                if len(lengths) >= MAX_SHARED_STRINGS:
                    raise too_many_strings(name)
                # A flags byte, then the text's length in characters and the text.
                lengths.append(int.from_bytes(buffer[at + 1:at + 5], "little"))
    return lengths


def _xlsb_records(stream: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
    """Each record of a binary part: its type, and a buffer holding its data from ``at`` (at
    least twelve bytes of it, unless the part ends first).  A record is its type and size as
    7-bit varints (at most 2 and 4 bytes), then its data.  The part is read a megabyte at a
    time; a record longer than what is left of the buffer is skipped without being held.
    Most records have a one-byte type and size: they take the short path."""
    buffer, at, end = b"", 0, 0
    while True:
        if end - at < 18:   # room for the longest header and twelve bytes of data
            buffer, at = buffer[at:] + stream.read(1 << 20), 0
            end = len(buffer)
            if not end:
                return
        kind = buffer[at]
        size = buffer[at + 1] if at + 1 < end else 0x80
        if kind < 0x80 and size < 0x80:
            at += 2
        else:
            try:
                kind, size, at = _record_header(buffer, at)
            except IndexError:  # the part ends inside a header
                return
        yield kind, buffer, at
        at += size
        if at > end:
            left = at - end
            while left:
                skipped = len(stream.read(min(left, 1 << 20)))
                if not skipped:
                    return
                left -= skipped
            buffer, at, end = b"", 0, 0


def _record_header(buffer: bytes, at: int) -> tuple[int, int, int]:
    """A record's type and size, and where its data starts (IndexError if cut off)."""
    kind = buffer[at]
    at += 1
    if kind & 0x80:
        kind = (kind & 0x7F) | (buffer[at] & 0x7F) << 7
        at += 1
    size = shift = 0
    for _ in range(4):
        byte = buffer[at]
        at += 1
        size |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return kind, size, at


def check_xls(file: Path, name: str) -> None:
    """Refuse, before calamine opens it, an .xls workbook with a sheet whose cells span more
    than SPARSE_FROM cells sparsely (the format's own cap, 65,536 rows by 256 columns, is
    below MAX_SHEET_CELLS) or show more text than ``sheetsize.text_limit`` allows a file of
    its size, a shared string counted once per cell showing it.  calamine reads every sheet
    of an .xls as it opens it, each from its first cell to its last: so every sheet is
    checked, and a sheet's span runs from its first row and column that hold a cell."""
    try:
        data = file.read_bytes()
        workbook, biff8 = xls.workbook_stream(xls.Ole(data))
    except (OleDamagedError, OSError):
        return  # calamine meets the same damage and says so
    limit = text_limit(len(data))
    strings = xls.shared_string_lengths(workbook)
    if len(strings) > MAX_SHARED_STRINGS:
        raise too_many_strings(name)
    for sheet_name, offset in xls.sheet_offsets(workbook, biff8):
        span = _xls_span(workbook, offset, strings)
        if _too_large(span.rows * span.columns, span.held):
            raise _span_refused(f'{name}, sheet "{brief(sheet_name)}" spans', span.rows,
                                span.columns)
        if span.text > limit:
            raise too_much_text(name, limit)


#: The .xls cell records, by type: where in the data the text's length in characters is
#: (LABEL, RSTRING), -1 for a cell showing a shared string (LABELSST: its index at 6), 0 for
#: the other cells (FORMULA, NUMBER, BOOLERR, RK).  Each starts with its row and column;
#: MULRK (several numbers of a row) ends with its last column.  Blank cells (BLANK,
#: MULBLANK: a border or a colour without a value) are left out, as calamine leaves them.
_XLS_CELLS = {0x0204: 6, 0x00D6: 6, 0x00FD: -1, 0x0006: 0, 0x0203: 0, 0x0205: 0, 0x027E: 0}
_XLS_MULRK = 0x00BD


def _xls_span(workbook: bytes, offset: int, strings: Sequence[int]) -> _BinarySpan:
    """The span (from the first row and column holding a cell to the last), cells and text
    of the sheet whose substream starts at ``offset``."""
    top = left = 1 << 16
    bottom = right = held = text = 0
    unpack = struct.unpack_from
    for kind, data, length in xls.biff_records(workbook, offset):
        text_at = _XLS_CELLS.get(kind)
        if text_at is None:
            if kind == _XLS_MULRK and length >= 6:   # row, first column, numbers, last column
                row, first = unpack("<HH", workbook, data)
                last = unpack("<H", workbook, data + length - 2)[0]
                held += max(0, last - first + 1)
                top, bottom = min(top, row), max(bottom, row + 1)
                left, right = min(left, first), max(right, last + 1)
            continue
        if length < 4:
            continue
        row, column = unpack("<HH", workbook, data)
        held += 1
        if row < top:
            top = row
        if row >= bottom:
            bottom = row + 1
        if column < left:
            left = column
        if column >= right:
            right = column + 1
        if text_at == -1 and length >= 10:
            index = unpack("<I", workbook, data + 6)[0]
            text += strings[index] if index < len(strings) else 0
        elif text_at and length >= text_at + 2:
            text += unpack("<H", workbook, data + text_at)[0]
    if not held:
        return _BinarySpan()
    return _BinarySpan(bottom - top, right - left, held, text)


def check_ods(file: Path, name: str) -> None:
    try:
        with zipfile.ZipFile(file) as package:
            check_ods_text(package, name)
    except (OSError, zipfile.BadZipFile, EOFError, RuntimeError, zlib.error, KeyError):
        return  # calamine meets the same damage and says so


def _check_span(package: zipfile.ZipFile, part: str, name: str, sheet_name: str
                ) -> TextMarks:
    """Refuse a sheet spanning too many cells; the marks its text check needs, counted on
    the way."""
    span = _xlsx_span(package, part, _FAR_REF)
    # Each value or inline-text element stands in a cell: their count is a floor of the
    # cells held, and the exact count (a second pass) is needed only where that floor leaves
    # the span looking sparse.
    held = span.marks.values + span.marks.inline_texts
    if _too_large(span.cells(near=True), held):  # the quick bound: look closer
        span = _xlsx_span(package, part, _ANY_REF, count_cells=True)
        if _too_large(span.cells(), span.held):
            rows = span.rows + span.unnamed_rows
            columns = span.columns + span.unnamed_cells
            raise _span_refused(f'{name}, sheet "{brief(sheet_name)}" spans', rows, columns)
    return span.marks


def _span_refused(subject: str, rows: int, columns: int) -> InputError:
    return InputError(f"{subject} {rows:,} rows by {columns:,} columns, far more than a routing "
                      "sheet needs; delete the unused rows and columns (or copy the table to a "
                      "new sheet) and save it again.")


def _too_large(cells: int, held: int) -> bool:
    return cells > MAX_SHEET_CELLS or (cells > SPARSE_FROM and cells > MIN_FILL * held)


def _xlsx_span(package: zipfile.ZipFile, part: str, references: re.Pattern[bytes], *,
               count_cells: bool = False) -> _Span:
    """One pass over a sheet's XML, cut at tag starts so that no tag is split."""
    span = _Span()
    with open_member(package, part) as stream:
        chunk = stream.read(1 << 20)
        prefix = _ROOT_PREFIX.search(chunk[:4096])
        tags = _tag_patterns(prefix.group(1) + b":" if prefix else b"")
        pending = bytearray()
        while chunk:
            span.marks.size += len(chunk)
            at = chunk.rfind(b"<")
            if at < 0:  # text, or inside a tag: runs of blanks mean nothing here
                pending += _BLANKS.sub(b" ", chunk)
            else:
                pending += chunk[:at]
                _add_span(span, pending, references, tags, count_cells)
                pending = bytearray(chunk[at:])
            chunk = stream.read(1 << 20)
        _add_span(span, pending, references, tags, count_cells)
    return span


_BLANKS = re.compile(rb"\s+")


@functools.lru_cache(maxsize=8)
def _tag_patterns(prefix: bytes) -> tuple[Any, ...]:
    """Patterns for cell and row elements without a reference: a quick one that also matches
    some with a reference (written unusually), and an exact one run only when it does; and
    the start of a cell element's name, to count them."""
    tag = re.escape(b"<" + prefix)
    return (re.compile(tag + rb'c(?! r="|o|f|u)'),
            re.compile(tag + rb"c(?=[\s/>])(?![^>]*\sr\s*=)"),
            re.compile(tag + rb'row(?! r=")'),
            re.compile(tag + rb"row(?=[\s/>])(?![^>]*\sr\s*=)"),
            b"<" + prefix + b"c")


def _add_span(span: _Span, xml: bytearray, references: re.Pattern[bytes],
              tags: tuple[Any, ...], count_cells: bool) -> None:
    span.marks.add(xml)
    found = references.findall(xml)
    if found:
        # Per reference only C-level steps: a full-height sheet has millions of them.
        digits = list(map(itemgetter(1), found))
        longest = max(map(len, digits))
        span.rows = max(span.rows, int(max(compress(digits, map(longest.__eq__,
                                                                 map(len, digits))))))
        for letters in {letters.upper() for letters in set(map(itemgetter(0), found))}:
            column = 0
            for char in letters:
                column = column * 26 + char - 64
            span.columns = max(span.columns, column)
    odd_cell, unnamed_cell, odd_row, unnamed_row, cell = tags
    # A cell element written some other way (a line break after its name) is not counted:
    # only a large sparse sheet of them could be refused for it.
    if count_cells:
        span.held += xml.count(cell + b" ") + xml.count(cell + b"/") + xml.count(cell + b">")
    if odd_cell.search(xml):
        span.unnamed_cells += len(unnamed_cell.findall(xml))
    if odd_row.search(xml):
        span.unnamed_rows += len(unnamed_row.findall(xml))



def xlsx_sheet_part(package: zipfile.ZipFile, sheet_name: str, sheet_index: int) -> str:
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
            return target_part("xl/workbook.xml", element.get("Target", ""))
    return f"xl/worksheets/sheet{sheet_index + 1}.xml"
