"""Formula errors (``#REF!``, ``#N/A`` ...) found in the file itself.

python-calamine hands error cells over as empty cells, which would read as "blank" and could
clear a field.  So for .xlsx/.xlsm, .xls and .ods the error cells are found here and put back
as their error text, which validation turns into row errors.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from sync.errors import OleDamagedError
from sync.load.guards import xlsx_sheet_part
from sync.load.xls import Ole, biff_substream, sheet_offsets, workbook_stream
from sync.zipdeflate import open_member

_ERROR_CODES = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!",
                0x1D: "#NAME?", 0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}


def error_cells(file: Path, file_format: str, sheet_name: str,
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
            struct.error, IndexError, OleDamagedError, RuntimeError, EOFError, MemoryError):
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



def _xlsx_error_cells(file: Path, sheet_name: str,
                      sheet_index: int) -> dict[tuple[int, int], str]:
    with zipfile.ZipFile(file) as package:
        part = xlsx_sheet_part(package, sheet_name, sheet_index)
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
    workbook, biff8 = workbook_stream(Ole(data))
    offset = dict(sheet_offsets(workbook, biff8)).get(sheet_name)
    if offset is None:
        return {}
    cells: dict[tuple[int, int], str] = {}
    for kind, body in biff_substream(workbook, offset):
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
