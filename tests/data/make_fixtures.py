"""Regenerate the loader's test fixtures in tests/data/ and the malformed corpus in tests/data/bad/.

    .venv/bin/python tests/data/make_fixtures.py

The generated files are committed, so tests (and CI) need neither LibreOffice nor the
optional tools used here:

* LibreOffice (``soffice``, Debian package ``libreoffice-calc-nogui``) converts workbooks so
  that files *as saved by LibreOffice* are tested, and computes formulas' cached values
  (openpyxl writes formulas without them).  Without it the converted files are left as they are.
* ``msoffcrypto-tool`` (pip) writes the password-protected workbook; without it
  ``bad/encrypted.xlsx`` is left as it is.

The tests import this module for the rows the fixtures hold (``ROWS``) and the values
validation must produce from them (``expected_values``), so data and expectations live in
one place.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent
BAD = DATA / "bad"

# --------------------------------------------------------------------------- the data


def _uuid(prefix: str, n: int) -> str:
    return f"{prefix}{n:07x}-0000-4000-8000-{n:012x}"


PRODUCTS = [_uuid("a", n) for n in range(1, 4)]
PROCESSES = [_uuid("b", n) for n in range(1, 5)]
LINE_IDS = [_uuid("c", n) for n in range(1, 6)]

HEADERS = ["id", "product_id", "process_id", "line_number", "active", "description",
           "product_minutes", "product_dwell_minutes"]

#: The lines every "good" fixture holds, as a planner types them (None = blank cell).
ROWS: list[list[Any]] = [
    [LINE_IDS[0], PRODUCTS[0], PROCESSES[0], 1, "Active", "Cut sheet", 5, 0],
    [LINE_IDS[1], PRODUCTS[0], PROCESSES[1], 2, "Active", "Bend über Kante", 7.5, 2],
    [None, PRODUCTS[0], PROCESSES[2], 3, "InActive", "Schweißen – qualité", 12.25, None],
    [LINE_IDS[3], PRODUCTS[1], PROCESSES[0], 1, "Active", None, 3, 1],
    [None, PRODUCTS[1], PROCESSES[3], 2, "Active", "Pack", 0, 0.5],
]


def expected_values(row: list[Any]) -> dict[str, Any]:
    """The canonical values validation yields for one of ROWS (all columns present)."""
    out: dict[str, Any] = {}
    for name, cell in zip(HEADERS, row, strict=True):
        if name in ("product_minutes", "product_dwell_minutes"):
            out[name] = None if cell is None else Decimal(str(cell)).normalize()
        else:
            out[name] = cell
    return out


def _text(cell: Any, decimal_comma: bool = False) -> str:
    if cell is None:
        return ""
    text = str(cell)
    return text.replace(".", ",") if decimal_comma and isinstance(cell, float) else text


# --------------------------------------------------------------------------- text fixtures


def _csv_bytes(rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8",
               line_end: str = "\r\n", decimal_comma: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end)
    for row in rows:
        writer.writerow([_text(c, decimal_comma) for c in row])
    return buffer.getvalue().encode(encoding)


def write_text_fixtures() -> None:
    table = [HEADERS, *ROWS]
    (DATA / "routing_utf8.csv").write_bytes(_csv_bytes(table, line_end="\n"))
    (DATA / "routing_utf8_bom.csv").write_bytes(_csv_bytes(table, encoding="utf-8-sig"))
    (DATA / "routing_cp1252.csv").write_bytes(_csv_bytes(table, encoding="cp1252"))
    # A European-locale Excel: ';' between cells and decimal commas.
    (DATA / "routing_semicolon.csv").write_bytes(
        _csv_bytes(table, delimiter=";", encoding="cp1252", decimal_comma=True))
    (DATA / "routing.tsv").write_bytes(_csv_bytes(table, delimiter="\t"))
    # Excel's "Unicode Text": UTF-16 with BOM, tab-delimited, named .txt.
    (DATA / "routing_unicode.txt").write_bytes(
        _csv_bytes(table, delimiter="\t", encoding="utf-16"))

    # Header spellings and value spellings a planner may use.
    aliases = ["ID", "Product ID", "Process-Id", "line number", "Active", "DESCRIPTION",
               "Product.Minutes", "product_dwell_mintues"]
    messy_values = []
    for row in ROWS:
        line_id, product, process, line, active, description, minutes, dwell = row
        messy_values.append([
            "{" + line_id.upper() + "}" if line_id else "", f"  {product.upper()}  ",
            process.replace("-", ""), f"{line}.0", f" {active.lower()} ", description,
            f"{minutes:.2f}" if minutes is not None else "", dwell])
    (DATA / "routing_aliases.csv").write_bytes(_csv_bytes([aliases, *messy_values]))

    # A title block, blank lines between rows, a column the tool does not know.
    lines = [["Routing export", "", ""], ["Line 3 assembly"], [], [*HEADERS, "Notes"]]
    for i, row in enumerate(ROWS):
        lines.append([*row, "check" if i == 1 else ""])
        if i == 2:
            lines.extend([[], ["", "", ""]])
    (DATA / "routing_title_block.csv").write_bytes(_csv_bytes(lines))

    write_messy_csv()


#: The validation fixture: every row rule once; (row values, expected error strings).
MESSY: list[tuple[list[Any], list[str]]] = [
    ([LINE_IDS[0], PRODUCTS[0], PROCESSES[0], "1", "Active", "fine", "5", "0"], []),
    ([None, PRODUCTS[0], PROCESSES[1], "1.5", "Active", "", "5", ""],
     ['D3: line_number must be a positive whole number, got "1.5"']),
    ([None, PRODUCTS[0], PROCESSES[1], "0", "Active", "", "5", ""],
     ['D4: line_number must be a positive whole number, got "0"']),
    ([None, PRODUCTS[0], PROCESSES[1], "two", "Active", "", "5", ""],
     ['D5: line_number must be a positive whole number, got "two"']),
    ([None, "not-a-uuid", "", "7", "maybe", "", "-1", "lots"],
     ['B6: product_id must be a uuid, got "not-a-uuid"',
      "C6: process_id is required for a new line",
      'E6: active must be Active or InActive, got "maybe"',
      'G6: product_minutes must be a number of minutes >= 0, got "-1"',
      'H6: product_dwell_minutes must be a number of minutes >= 0, got "lots"']),
    ([None, "", PROCESSES[0], "", "", "", "", ""],
     ["B7: product_id is required for a new line", "D7: line_number is required for a new line"]),
    ([LINE_IDS[1], "", "", "", "InActive", "", "", ""], []),  # update by id: nothing required
    (["c-123", PRODUCTS[1], PROCESSES[0], "1", "", "", "", ""],
     ['A9: id must be a uuid, got "c-123"']),
    ([None, PRODUCTS[1], PROCESSES[0], "#REF!", "", "#N/A", "", ""],
     ["D10: line_number shows the error #REF! (a formula that failed): fix the formula or "
      "type the value",
      "F10: description shows the error #N/A (a formula that failed): fix the formula or "
      "type the value"]),
    ([None, PRODUCTS[2], PROCESSES[0], "4", "", "", "", ""],
     ["row 11: the same product_id + line_number is also on rows 12 and 13"]),
    ([None, PRODUCTS[2], PROCESSES[1], "4.0", "", "", "", ""],
     ["row 12: the same product_id + line_number is also on rows 11 and 13"]),
    ([None, PRODUCTS[2].upper(), PROCESSES[2], "4", "", "", "", ""],
     ["row 13: the same product_id + line_number is also on rows 11 and 12"]),
    ([LINE_IDS[4], PRODUCTS[2], PROCESSES[0], "5", "", "", "", ""],
     ["A14: the same id is also on row 15"]),
    (["{" + LINE_IDS[4].upper() + "}", PRODUCTS[2], PROCESSES[1], "6", "", "", "", ""],
     ["A15: the same id is also on row 14"]),
]


def write_messy_csv() -> None:
    rows = [row for row, _ in MESSY]
    (DATA / "routing_messy.csv").write_bytes(_csv_bytes([HEADERS, *rows], line_end="\n"))


# --------------------------------------------------------------------------- workbooks

_FIXED_TIME = dt.datetime(2024, 3, 1, 8, 30, 0)


def _openpyxl_workbook() -> Any:
    import openpyxl

    book = openpyxl.Workbook()
    book.properties.created = _FIXED_TIME
    book.properties.modified = _FIXED_TIME
    book.properties.creator = "flowtrac-sync fixtures"
    return book


_ZIP_TIME = (2024, 3, 1, 8, 30, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def save_stable(book: Any, path: Path) -> None:
    """Save an openpyxl workbook so that regenerating it gives the same bytes (no churn in
    git): fixed zip member times and a fixed 'modified' stamp."""
    buffer = io.BytesIO()
    book.save(buffer)
    _rezip(buffer.getvalue(), path)


def _stable(name: str) -> zipfile.ZipInfo:
    """A deflated member with a fixed date, so that regenerating a fixture leaves its bytes
    alone."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _rezip(data: bytes, path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            if item.filename == "docProps/core.xml":
                body = _MODIFIED.sub(rb"\g<1>2024-03-01T08:30:00Z\g<2>", body)
            target.writestr(_stable(item.filename), body)


def write_openpyxl_fixture() -> Path:
    book = _openpyxl_workbook()
    sheet = book.active
    sheet.title = "Routing"
    sheet.append(HEADERS)
    for row in ROWS:
        # Excel keeps every number as a float: line numbers arrive as 1.0.
        sheet.append([float(c) if isinstance(c, int) else c for c in row])
    path = DATA / "routing_openpyxl.xlsx"
    save_stable(book, path)
    return path


def write_title_block_fixture() -> Path:
    """A planner's workbook: title block, styles, a Notes column, a second sheet."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.datavalidation import DataValidation

    book = _openpyxl_workbook()
    sheet = book.active
    sheet.title = "Routing"
    sheet["A1"] = "Routing — Line 3 assembly"
    sheet["A1"].font = Font(size=14, bold=True, color="1F3864")
    sheet.merge_cells("A1:I1")
    sheet["A2"] = "Owner: Planning team"
    sheet["A3"] = "Exported 2024-03-01: keep the id column as it is"
    sheet["A3"].font = Font(italic=True, color="808080")
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    thin = Side(style="thin", color="9BC2E6")
    for column, text in enumerate([*HEADERS, "Notes"], start=1):
        cell = sheet.cell(row=4, column=column, value=text)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.border = Border(bottom=thin)
        cell.alignment = Alignment(horizontal="center")
    notes = ["", "check tooling", "", "", "new packaging"]
    row_number = 5
    for i, row in enumerate(ROWS):
        for column, value in enumerate([*row, notes[i] or None], start=1):
            cell = sheet.cell(row=row_number, column=column, value=value)
            if column in (7, 8):
                cell.number_format = "0.00"
        row_number += 1
        if i == 2:
            row_number += 1  # a blank row between the products
    for column, width in zip("ABCDEFGHI", (38, 38, 38, 12, 10, 24, 16, 20, 18), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A5"
    active = DataValidation(type="list", formula1='"Active,InActive"', allow_blank=True)
    sheet.add_data_validation(active)
    active.add("E5:E200")

    help_sheet = book.create_sheet("Instructions")
    help_sheet["A1"] = "How to use this sheet"
    help_sheet["A1"].font = Font(bold=True)
    help_sheet["A2"] = "One row per product-process line; leave id blank for a new line."
    help_sheet["A3"] = "active: Active or InActive. Minutes: numbers >= 0."
    help_sheet.column_dimensions["A"].width = 70
    path = DATA / "routing_title_block.xlsx"
    save_stable(book, path)
    return path


def write_xlsxwriter_fixture() -> Path:
    """XlsxWriter output, numbers stored as text, dates, an `edited` timestamp column."""
    import xlsxwriter

    path = DATA / "routing_xlsxwriter.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.set_properties({"created": _FIXED_TIME, "author": "flowtrac-sync fixtures"})
    sheet = book.add_worksheet("Lines")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, [*HEADERS, "edited"])
    for r, row in enumerate(ROWS, start=1):
        line_id, product, process, line, active, description, minutes, dwell = row
        if line_id:
            sheet.write_string(r, 0, line_id)
        sheet.write_string(r, 1, product)
        sheet.write_string(r, 2, process)
        sheet.write_string(r, 3, str(line))            # number stored as text
        sheet.write_string(r, 4, active)
        if r == 4:
            sheet.write_datetime(r, 5, dt.datetime(2024, 2, 29), day)  # a date as description
        elif description:
            sheet.write_string(r, 5, description)
        sheet.write_string(r, 6, str(minutes))         # number stored as text
        if dwell is not None:
            sheet.write_number(r, 7, dwell)
        sheet.write_datetime(r, 8, dt.datetime(2024, 3, 1, 8, 30, r), stamp)
    book.close()
    return path


def write_two_sheets_fixture() -> Path:
    """First sheet without the columns; 'Routing' (default) and 'Archive' (picked by name)."""
    book = _openpyxl_workbook()
    summary = book.active
    summary.title = "Summary"
    summary.append(["Product", "Lines"])
    summary.append(["Widget", 3])
    routing = book.create_sheet("Routing")
    routing.append(HEADERS)
    for row in ROWS[:3]:
        routing.append(row)
    archive = book.create_sheet("Archive")
    archive.append(HEADERS)
    archive.append(ROWS[3])
    path = DATA / "routing_two_sheets.xlsx"
    save_stable(book, path)
    return path


#: Formulas and the values LibreOffice caches for them (None: the cell shows an error).
FORMULA_ROWS: list[list[Any]] = [
    [LINE_IDS[0], PRODUCTS[0], f'=LOWER("{PROCESSES[0].upper()}")', "=ROW()-1",
     '="Act"&"ive"', '=CONCATENATE("Cut ","sheet")', "=2*2.5", "=0"],
    [LINE_IDS[1], PRODUCTS[0], PROCESSES[1], "=ROW()-1", "Active", "Bend", "=15/2", "=1+1"],
    [None, PRODUCTS[0], PROCESSES[2], "=1/0", "Active", "=NA()", '=VALUE("abc")', None],
]
FORMULA_EXPECTED: list[dict[str, Any]] = [
    {"process_id": PROCESSES[0], "line_number": 1, "active": "Active",
     "description": "Cut sheet", "product_minutes": Decimal(5), "product_dwell_minutes": 0},
    {"process_id": PROCESSES[1], "line_number": 2, "product_minutes": Decimal("7.5"),
     "product_dwell_minutes": Decimal(2)},
]
#: Errors of the third formula row (sheet row 4); LibreOffice keeps its own code for the
#: failed VALUE("abc") in .ods (Err:502) and writes #VALUE! to Excel formats.
FORMULA_ERRORS = [
    "D4: line_number shows the error #DIV/0! (a formula that failed): fix the formula or "
    "type the value",
    "F4: description shows the error #N/A (a formula that failed): fix the formula or "
    "type the value",
    "G4: product_minutes shows the error #VALUE! (a formula that failed): fix the formula or "
    "type the value",
]


def formula_source(folder: Path) -> Path:
    book = _openpyxl_workbook()
    sheet = book.active
    sheet.title = "Routing"
    sheet.append(HEADERS)
    for row in FORMULA_ROWS:
        sheet.append(row)
    path = folder / "routing_formulas.xlsx"
    save_stable(book, path)
    return path


# --------------------------------------------------------------------------- LibreOffice


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(source: Path, target: Path, filter_name: str) -> Path:
    """Convert with LibreOffice into ``target`` (its own profile: runs may overlap)."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "out"
        profile = Path(work) / "profile"
        extension = target.suffix.lstrip(".")
        subprocess.run(
            [soffice() or "soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless",
             "--convert-to", f"{extension}:{filter_name}", "--outdir", str(out), str(source)],
            check=True, capture_output=True, timeout=180)
        produced = out / (source.stem + "." + extension)
        shutil.copyfile(produced, target)
    return target


LIBREOFFICE_FILTERS = {
    ".xlsx": "Calc MS Excel 2007 XML",
    ".xlsm": "Calc MS Excel 2007 VBA XML",
    ".xls": "MS Excel 97",
    ".ods": "calc8",
}


def write_libreoffice_fixtures(openpyxl_file: Path) -> None:
    if soffice() is None:
        print("soffice not found: LibreOffice-saved fixtures left as they are")
        return
    for extension, filter_name in LIBREOFFICE_FILTERS.items():
        convert(openpyxl_file, DATA / f"routing_lo{extension}", filter_name)
    with tempfile.TemporaryDirectory() as work:
        source = formula_source(Path(work))
        for extension in (".xlsx", ".xls", ".ods"):
            convert(source, DATA / f"routing_formulas_lo{extension}",
                    LIBREOFFICE_FILTERS[extension])


# --------------------------------------------------------------------------- bad corpus


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body +
                struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) +
            chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def write_bad_corpus(openpyxl_file: Path) -> None:
    BAD.mkdir(exist_ok=True)
    good = openpyxl_file.read_bytes()
    header_csv = _csv_bytes([HEADERS])

    (BAD / "empty.csv").write_bytes(b"")
    (BAD / "empty.xlsx").write_bytes(b"")
    (BAD / "truncated.xlsx").write_bytes(good[: len(good) * 3 // 5])
    (BAD / "png_renamed.xlsx").write_bytes(_png())
    (BAD / "pdf_renamed.csv").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    (BAD / "no_required_columns.csv").write_bytes(
        _csv_bytes([["Product", "Step", "Minutes"], ["Widget", "Cut", "5"]]))
    (BAD / "title_only.csv").write_bytes(b"Routing export\nNothing here yet\n")
    (BAD / "header_only.csv").write_bytes(header_csv + b"\r\n\r\n,,,\r\n")
    rng = random.Random(7)
    (BAD / "binary_garbage.csv").write_bytes(bytes(rng.randrange(256) for _ in range(2048)))
    # Text at first sight; NUL bytes further down (the first 4 KB are clean).
    (BAD / "nul_bytes.csv").write_bytes(
        header_csv + _csv_bytes([ROWS[0]]) * 60 + b"C\x00\x00t," * 10 + b"\r\n")
    (BAD / "two_columns_one_field.csv").write_bytes(
        _csv_bytes([["Product ID", *HEADERS], [PRODUCTS[0], *_row_text(ROWS[0])]]))
    (BAD / "csv_renamed.xlsx").write_bytes(_csv_bytes([HEADERS, *ROWS[:2]]))
    (BAD / "html_renamed.xls").write_bytes(
        b"<html><body><table><tr><td>product_id</td></tr></table></body></html>\n")

    book = _openpyxl_workbook()
    book.active.title = "Summary"
    book.active.append(["Product", "Lines"])
    other = book.create_sheet("Notes")
    other.append(["product_id", "process_id", "comment"])
    save_stable(book, BAD / "no_required_sheets.xlsx")

    book = _openpyxl_workbook()
    book.active.append(HEADERS)
    book.active.append([None] * len(HEADERS))
    save_stable(book, BAD / "header_only.xlsx")

    with zipfile.ZipFile(BAD / "zip_not_workbook.xlsx", "w") as package:
        package.writestr(zipfile.ZipInfo("readme.txt", _ZIP_TIME), "just a zip")
    with zipfile.ZipFile(BAD / "word_document.xlsx", "w") as package:
        package.writestr(zipfile.ZipInfo("[Content_Types].xml", _ZIP_TIME), "<Types/>")
        package.writestr(zipfile.ZipInfo("word/document.xml", _ZIP_TIME), "<document/>")

    write_encrypted(openpyxl_file, BAD / "encrypted.xlsx")
    lo_xls = DATA / "routing_lo.xls"
    if lo_xls.exists():
        data = lo_xls.read_bytes()
        (BAD / "truncated.xls").write_bytes(data[:1024])


def _row_text(row: list[Any]) -> list[str]:
    return [_text(c) for c in row]


def write_encrypted(source: Path, target: Path) -> None:
    """Encrypt with the password "secret"; kept once made (the salt is random each time)."""
    if target.exists():
        return
    try:
        import msoffcrypto  # type: ignore[import-not-found]
        from msoffcrypto.format.ooxml import OOXMLFile  # type: ignore[import-not-found]
    except ImportError:
        print("msoffcrypto-tool not installed: bad/encrypted.xlsx left as it is")
        return
    del msoffcrypto
    with source.open("rb") as plain, target.open("wb") as secret:
        OOXMLFile(plain).encrypt("secret", secret)


# --------------------------------------------------------------------------- hostile corpus
# Files crafted to hurt a reader (issue 7): each must end in one short message (exit 2) or in
# row errors, in bounded memory, with nothing sent.  tests/hostile/test_hostile_files.py holds
# what each must give.

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_TYPE = f"{_REL_NS}/worksheet"


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text_cell(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_xml_text(value)}</t></is></c>'


def _error_cell(ref: str, formula: str, error: str) -> str:
    """A formula whose cached result is a spreadsheet error (#REF!, #N/A ...)."""
    return f'<c r="{ref}" t="e"><f>{_xml_text(formula)}</f><v>{error}</v></c>'


def _row_xml(number: int, cells: list[str]) -> str:
    return f'<row r="{number}">{"".join(cells)}</row>'


def _text_row(number: int, values: list[str]) -> str:
    from openpyxl.utils import get_column_letter

    return _row_xml(number, [_text_cell(f"{get_column_letter(i + 1)}{number}", v)
                             for i, v in enumerate(values) if v != ""])


def _sheet_xml(rows: str, *, dimension: str | None = None, doctype: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'{_XML_HEAD}{doctype}<worksheet xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">{dim}'
            f"<sheetData>{rows}</sheetData></worksheet>")


def _raw_xlsx(path: Path | io.BytesIO, sheet_xml: str | bytes, *, workbook_extra: str = "",
              workbook_rels_extra: str = "", parts: dict[str, str] | None = None,
              content_types_extra: str = "", workbook_doctype: str = "") -> None:
    """A minimal .xlsx written part by part, for shapes no library will write."""
    content_types = (
        f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/'
        'sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        f'worksheet+xml"/>{content_types_extra}</Types>')
    package_rels = (f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
                    f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (f'{_XML_HEAD}{workbook_doctype}<workbook xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
                '<sheets><sheet name="Routing" sheetId="1" r:id="rId1"/></sheets>'
                f"{workbook_extra}</workbook>")
    workbook_rels = (f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
                     f'Type="{_SHEET_TYPE}" Target="worksheets/sheet1.xml"/>'
                     f"{workbook_rels_extra}</Relationships>")
    members = {"[Content_Types].xml": content_types, "_rels/.rels": package_rels,
               "xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": workbook_rels,
               "xl/worksheets/sheet1.xml": sheet_xml, **(parts or {})}
    with zipfile.ZipFile(path, "w") as package:
        for name, body in members.items():
            package.writestr(_stable(name), body)


_REQUIRED_HEADERS = ["product_id", "process_id", "line_number"]


def write_zip_bomb(path: Path, *, inflated_mb: int) -> None:
    """An .xlsx whose sheet XML inflates to ``inflated_mb`` MB of blanks between the header row
    and the end of the sheet: a few hundred KB on disk.  The deflate stream is built from one
    compressed megabyte repeated (each piece ends in a full flush, so pieces can follow one
    another), which takes a fraction of a second instead of compressing it all."""
    head = _sheet_xml(_text_row(1, _REQUIRED_HEADERS)).split("</sheetData>")[0].encode()
    tail = b"</sheetData></worksheet>"
    blanks = b" " * (1 << 20)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    pieces = [squeeze.compress(head) + squeeze.flush(zlib.Z_FULL_FLUSH),
              squeeze.compress(blanks) + squeeze.flush(zlib.Z_FULL_FLUSH),
              squeeze.compress(tail) + squeeze.flush()]
    crc = zlib.crc32(head)
    for _ in range(inflated_mb):
        crc = zlib.crc32(blanks, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + inflated_mb * len(blanks) + len(tail)
    body = pieces[0] + pieces[1] * inflated_mb + pieces[2]
    # The small parts come from a normal writer; the bomb member is appended by hand.
    small = io.BytesIO()
    _raw_xlsx(small, "")
    buffer = io.BytesIO()
    with zipfile.ZipFile(small) as source:
        entries = [(i, source.read(i)) for i in source.infolist()
                   if i.filename != "xl/worksheets/sheet1.xml"]
    central = []
    for info, data in entries:
        packed = zlib.compressobj(9, zlib.DEFLATED, -15)
        raw = packed.compress(data) + packed.flush()
        central.append(_zip_member(buffer, info.filename, raw, len(data), zlib.crc32(data)))
    central.append(_zip_member(buffer, "xl/worksheets/sheet1.xml", body, size, crc))
    directory = b"".join(central)
    offset = buffer.tell()
    buffer.write(directory)
    buffer.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                             len(directory), offset, 0))
    path.write_bytes(buffer.getvalue())


def _zip_member(out: io.BytesIO, name: str, raw: bytes, size: int, crc: int) -> bytes:
    """Write one deflated member's local header and data; return its central directory entry."""
    encoded = name.encode()
    offset = out.tell()
    dos_time, dos_date = (8 << 11) | (30 << 5), ((2024 - 1980) << 9) | (3 << 5) | 1
    out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, dos_time, dos_date, crc,
                          len(raw), size, len(encoded), 0) + encoded)
    out.write(raw)
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, dos_time, dos_date,
                       crc, len(raw), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded


def write_far_cell(path: Path) -> None:
    """One stray cell at XFD1048576: the reader would allocate 1,048,576 x 16,384 cells."""
    rows = (_text_row(1, _REQUIRED_HEADERS) + _text_row(2, [PRODUCTS[0], PROCESSES[0], "1"])
            + _row_xml(1048576, [_text_cell("XFD1048576", "stray")]))
    _raw_xlsx(path, _sheet_xml(rows))


def _biff12(kind: int, data: bytes = b"") -> bytes:
    """One record of an .xlsb part: its type and size as 7-bit varints, then its data."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            out.append((n & 0x7F) | (0x80 if n >> 7 else 0))
            n >>= 7
            if not n:
                return bytes(out)
    return varint(kind) + varint(len(data)) + data


def _wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


class XlsbShared:
    """An .xlsb cell that shows entry ``index`` of the shared strings (BrtCellIsst).  A plain
    class: some tests load this file under another module name, where a dataclass's string
    annotations cannot be resolved."""

    def __init__(self, index: int) -> None:
        self.index = index


def _raw_xlsb(path: Path, cells: dict[tuple[int, int], Any], sheet_name: str = "Lines", *,
              blobs: dict[str, tuple[str | None, bytes]] | None = None,
              sheet_type: str = _SHEET_TYPE, shared_strings: Sequence[str] = ()) -> None:
    """A minimal .xlsb (no library writes one): the workbook and one sheet of ``cells`` (0-based
    row, column -> text, number or ``XlsbShared``; None leaves the cell out), numbers as
    BrtCellReal and text as BrtCellSt.  ``blobs``: more parts, by name: (the workbook's
    relationship type for it, or None for none; its bytes).  ``sheet_type``: the type of the
    sheet's relationship (readers go by the sheet's entry in the workbook, whatever that type
    says).  ``shared_strings``: the entries of ``xl/sharedStrings.bin``, if any."""
    records = [_biff12(129), _biff12(148, struct.pack("<4I", 0, 0, 0, 0)), _biff12(145)]
    rows: dict[int, list[tuple[int, Any]]] = {}
    for (row, column), value in sorted(cells.items()):
        if value is not None:
            rows.setdefault(row, []).append((column, value))
    for row, values in rows.items():
        records.append(_biff12(0, struct.pack("<IIHHBBI", row, 0, 300, 0, 0, 0, 0)))
        for column, value in values:
            if isinstance(value, XlsbShared):
                records.append(_biff12(7, struct.pack("<III", column, 0, value.index)))
            elif isinstance(value, str):
                records.append(_biff12(6, struct.pack("<II", column, 0) + _wide(value)))
            else:
                records.append(_biff12(5, struct.pack("<IId", column, 0, float(value))))
    sheet = b"".join([*records, _biff12(146), _biff12(130)])
    book = (_biff12(131) + _biff12(143)
            + _biff12(156, struct.pack("<II", 0, 1) + _wide("rId1") + _wide(sheet_name))
            + _biff12(144) + _biff12(132))
    binary = "application/vnd.ms-excel"
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": (
            f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'content-types"><Default Extension="rels" ContentType="application/vnd.'
            f'openxmlformats-package.relationships+xml"/><Override PartName="/xl/workbook.bin" '
            f'ContentType="{binary}.sheet.binary.macroEnabled.main"/><Override PartName="/xl/'
            f'worksheets/sheet1.bin" ContentType="{binary}.worksheet"/></Types>'),
        "_rels/.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/officeDocument" Target="xl/workbook.bin"/></Relationships>'),
        "xl/_rels/workbook.bin.rels": (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{sheet_type}" Target="worksheets/sheet1.bin"/>'
            + "".join(f'<Relationship Id="rId{n}" Type="{kind}" Target="{name[3:]}"/>'
                      for n, (name, (kind, _)) in enumerate((blobs or {}).items(), 2) if kind)
            + "</Relationships>"),
        "xl/workbook.bin": book, "xl/worksheets/sheet1.bin": sheet,
        **{name: data for name, (_, data) in (blobs or {}).items()}}
    if shared_strings:
        count = struct.pack("<II", len(shared_strings), len(shared_strings))
        members["xl/sharedStrings.bin"] = b"".join(
            [_biff12(159, count), *(_biff12(19, b"\x00" + _wide(t)) for t in shared_strings),
             _biff12(160)])
        members["xl/_rels/workbook.bin.rels"] = str(members["xl/_rels/workbook.bin.rels"]).replace(
            "</Relationships>", f'<Relationship Id="rIdStrings" Type="{_REL_NS}/sharedStrings" '
                                'Target="sharedStrings.bin"/></Relationships>')
    with zipfile.ZipFile(path, "w") as package:
        for name, body in members.items():
            package.writestr(_stable(name), body)


def xlsb_cells(grid: list[list[Any]]) -> dict[tuple[int, int], Any]:
    """Rows of values (the first is row 0) as ``_raw_xlsb``'s cells."""
    return {(r, c): value for r, row in enumerate(grid) for c, value in enumerate(row)}


def write_xlsb_fixture() -> Path:
    """The fixture lines as an .xlsb (sheet "Routing")."""
    path = DATA / "routing_raw.xlsb"
    _raw_xlsb(path, xlsb_cells([HEADERS, *ROWS]), "Routing")
    return path


def write_far_cell_xlsb(path: Path) -> None:
    """``write_far_cell`` as an .xlsb: the reader would allocate the whole span there too."""
    cells = xlsb_cells([_REQUIRED_HEADERS, [PRODUCTS[0], PROCESSES[0], 1]])
    cells[1_048_575, 16_383] = "stray"
    _raw_xlsb(path, cells)


def write_hostile_corpus() -> None:
    BAD.mkdir(exist_ok=True)
    write_zip_bomb(BAD / "zip_bomb.xlsx", inflated_mb=300)
    write_far_cell(BAD / "far_cell.xlsx")
    write_far_cell_xlsb(BAD / "far_cell.xlsb")

    # A declared used range of the whole grid, three cells used: the declaration costs nothing.
    rows = (_text_row(1, _REQUIRED_HEADERS) + _text_row(2, [PRODUCTS[0], PROCESSES[0], "-1"]))
    _raw_xlsx(BAD / "huge_dimension.xlsx", _sheet_xml(rows, dimension="A1:XFD1048576"))

    # Formulas whose cached results are errors, in every required column.
    rows = _text_row(1, _REQUIRED_HEADERS) + "".join([
        _row_xml(2, [_error_cell("A2", "VLOOKUP(Z2,Products!A:B,2,FALSE)", "#N/A"),
                     _text_cell("B2", PROCESSES[0]), _text_cell("C2", "1")]),
        _row_xml(3, [_text_cell("A3", PRODUCTS[0]), _error_cell("B3", "#REF!", "#REF!"),
                     _text_cell("C3", "2")]),
        _row_xml(4, [_text_cell("A4", PRODUCTS[0]), _text_cell("B4", PROCESSES[1]),
                     _error_cell("C4", "1/0", "#DIV/0!")]),
        _row_xml(5, [_text_cell("A5", PRODUCTS[1]), _text_cell("B5", PROCESSES[1]),
                     _error_cell("C5", "LINENO()", "#NAME?")]),
    ])
    _raw_xlsx(BAD / "formula_errors.xlsx", _sheet_xml(rows))

    # Cells that take their values from another workbook (a file path and a web address); a
    # reader must never follow them, and the cached errors are row errors.
    rows = _text_row(1, _REQUIRED_HEADERS) + "".join([
        _row_xml(2, [_text_cell("A2", PRODUCTS[0]), _error_cell("B2", "[1]Processes!$A$1",
                                                                "#REF!"), _text_cell("C2", "1")]),
        _row_xml(3, [_text_cell("A3", PRODUCTS[0]), _text_cell("B3", PROCESSES[1]),
                     _error_cell("C3", "[2]Lines!$C$9", "#N/A")]),
    ])
    links = {}
    for n, target in ((1, "file:///C:/Finance/processes.xlsx"),
                      (2, "http://198.51.100.7/share/lines.xlsx")):
        links[f"xl/externalLinks/externalLink{n}.xml"] = (
            f'{_XML_HEAD}<externalLink xmlns="{_MAIN_NS}" xmlns:r="{_REL_NS}">'
            '<externalBook r:id="rId1"><sheetNames><sheetName val="Processes"/></sheetNames>'
            "</externalBook></externalLink>")
        links[f"xl/externalLinks/_rels/externalLink{n}.xml.rels"] = (
            f'{_XML_HEAD}<Relationships xmlns="{_PKG_REL_NS}"><Relationship Id="rId1" '
            f'Type="{_REL_NS}/externalLinkPath" Target="{target}" TargetMode="External"/>'
            "</Relationships>")
    _raw_xlsx(
        BAD / "external_links.xlsx", _sheet_xml(rows), parts=links,
        workbook_extra='<externalReferences><externalReference r:id="rId8"/>'
                       '<externalReference r:id="rId9"/></externalReferences>',
        workbook_rels_extra="".join(
            f'<Relationship Id="rId{7 + n}" Type="{_REL_NS}/externalLink" '
            f'Target="externalLinks/externalLink{n}.xml"/>' for n in (1, 2)),
        content_types_extra="".join(
            f'<Override PartName="/xl/externalLinks/externalLink{n}.xml" ContentType='
            '"application/vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/>'
            for n in (1, 2)))

    # NUL, escape and bell characters inside cells (XML carries them as _xHHHH_ escapes).
    rows = _text_row(1, [*_REQUIRED_HEADERS, "description"]) + "".join([
        _row_xml(2, [_text_cell("A2", PRODUCTS[0]), _text_cell("B2", PROCESSES[0]),
                     '<c r="C2" t="inlineStr"><is><t>1_x0000_</t></is></c>']),
        _row_xml(3, ['<c r="A3" t="inlineStr"><is><t>_x0000_' + PRODUCTS[0] + "</t></is></c>",
                     _text_cell("B3", PROCESSES[0]), _text_cell("C3", "2"),
                     '<c r="D3" t="inlineStr"><is><t>bell_x0007_ esc_x001B_[2J</t></is></c>']),
    ])
    _raw_xlsx(BAD / "control_chars.xlsx", _sheet_xml(rows))

    # One cell of a million characters (Excel itself stops at 32,767).
    rows = (_text_row(1, [*_REQUIRED_HEADERS, "description"])
            + _text_row(2, [PRODUCTS[0], PROCESSES[0], "1", "x" * 1_000_000]))
    _raw_xlsx(BAD / "huge_cell.xlsx", _sheet_xml(rows))

    # An internal-entity expansion bomb ("billion laughs") in the workbook and the sheet.
    entities = "".join(f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">'
                       for n in range(1, 10))
    laughs = f'<!DOCTYPE lolz [<!ENTITY lol "lololololololololololol">{entities}]>'
    rows = _text_row(1, _REQUIRED_HEADERS) + _row_xml(2, [
        '<c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c>', _text_cell("B2", PROCESSES[0]),
        _text_cell("C2", "1")])
    _raw_xlsx(BAD / "entity_bomb.xlsx", _sheet_xml(rows, doctype=laughs),
              workbook_doctype=laughs)

    # A million columns: a million empty cells, then one more, after a bad line number.
    ods_cell = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'
    cells = "".join(ods_cell.format(v) for v in (PRODUCTS[0], PROCESSES[0], "0"))
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:'
        'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:'
        'opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:'
        'text:1.0" office:version="1.2"><office:body><office:spreadsheet>'
        '<table:table table:name="Routing"><table:table-row>'
        + "".join(ods_cell.format(v) for v in _REQUIRED_HEADERS) + "</table:table-row>"
        f"<table:table-row>{cells}"
        '<table:table-cell table:number-columns-repeated="1000000"/>'
        + ods_cell.format("far away") + "</table:table-row></table:table>"
        "</office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
        'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
        'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
        'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
        'manifest:media-type="text/xml"/></manifest:manifest>')
    with zipfile.ZipFile(BAD / "million_columns.ods", "w") as package:
        package.writestr(zipfile.ZipInfo("mimetype", _ZIP_TIME),
                         "application/vnd.oasis.opendocument.spreadsheet")
        for name, body in (("META-INF/manifest.xml", manifest), ("content.xml", content)):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            package.writestr(info, body)

    # Lines in UTF-8 and Windows-1252 mixed in one file, every data row wrong somewhere.
    header = ",".join(_REQUIRED_HEADERS + ["description"]).encode("utf-8-sig")
    lines = [header,
             f"{PRODUCTS[0]},{PROCESSES[0]},1.5,Schweißen – qualité".encode(),
             f"{PRODUCTS[0]},{PROCESSES[1]},zwei,Straße Maß".encode("cp1252"),
             # a Cyrillic "а" in place of the first letter of the product id
             f"\u0430{PRODUCTS[1][1:]},{PROCESSES[1]},3,Пайка".encode()]
    (BAD / "mixed_encodings.csv").write_bytes(b"\r\n".join(lines) + b"\r\n")

    # A quote opened and never closed: every line after it would become one cell.
    lines = [",".join(_REQUIRED_HEADERS + ["description"]),
             f'{PRODUCTS[0]},{PROCESSES[0]},1,"Cut, then bend',
             *(f"{PRODUCTS[0]},{PROCESSES[1]},{n},Pack" for n in range(2, 40))]
    (BAD / "unclosed_quote.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode())

    (BAD / "bom_only.csv").write_bytes(b"\xef\xbb\xbf\r\n")


def write_xls_bombs() -> None:
    """The .xls files of the corpus, saved by LibreOffice from hand-made .xlsx sources: one
    text of 32,767 characters (the most a cell holds) shared by 33,000 cells, 1,081 million
    characters for a reader that copies it into each (a file of about a megabyte), and one
    stray cell at IV65536, the far corner of the format; and a good workbook whose second
    sheet holds one cell there and nothing else."""
    if soffice() is None:
        print("soffice not found: the .xls files of the bad corpus left as they are")
        return
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "shared_text_bomb.xlsx"
        rows = _text_row(1, [*_REQUIRED_HEADERS, "description"]) + "".join(
            _row_xml(r, [f'<c r="D{r}" t="s"><v>0</v></c>']) for r in range(2, 33_002)) + \
            _text_row(33_002, ["", "", "", "Deburr"])   # a string after the long one
        strings = (f'{_XML_HEAD}<sst xmlns="{_MAIN_NS}" count="33000" uniqueCount="1"><si>'
                   f'<t>{"y" * 32_767}</t></si></sst>')
        _raw_xlsx(source, _sheet_xml(rows), parts={"xl/sharedStrings.xml": strings},
                  workbook_rels_extra=f'<Relationship Id="rId2" Type="{_REL_NS}/sharedStrings"'
                                      ' Target="sharedStrings.xml"/>',
                  content_types_extra='<Override PartName="/xl/sharedStrings.xml" ContentType='
                                      '"application/vnd.openxmlformats-officedocument.'
                                      'spreadsheetml.sharedStrings+xml"/>')
        convert(source, BAD / "shared_text_bomb.xls", LIBREOFFICE_FILTERS[".xls"])
        source = Path(work) / "far_cell.xlsx"
        rows = (_text_row(1, _REQUIRED_HEADERS) + _text_row(2, [PRODUCTS[0], PROCESSES[0], "1"])
                + _row_xml(65536, [_text_cell("IV65536", "stray")]))
        _raw_xlsx(source, _sheet_xml(rows))
        convert(source, BAD / "far_cell.xls", LIBREOFFICE_FILTERS[".xls"])
        # The lines, and a notes sheet whose one value is at IV65536: calamine holds a sheet
        # from its first cell, so that sheet is one cell and the workbook loads.
        import openpyxl

        book = openpyxl.Workbook()
        book.active.title = "Routing"
        book.active.append(_REQUIRED_HEADERS)
        book.active.append([PRODUCTS[0], PROCESSES[0], 1])
        book.create_sheet("Notes")["IV65536"] = "far away"
        book.save(Path(work) / "far_notes.xlsx")
        convert(Path(work) / "far_notes.xlsx", DATA / "routing_far_notes_lo.xls",
                LIBREOFFICE_FILTERS[".xls"])


# --------------------------------------------------------------------------- main


def main() -> int:
    write_text_fixtures()
    openpyxl_file = write_openpyxl_fixture()
    write_title_block_fixture()
    write_xlsxwriter_fixture()
    write_two_sheets_fixture()
    write_xlsb_fixture()
    write_libreoffice_fixtures(openpyxl_file)
    write_bad_corpus(openpyxl_file)
    write_hostile_corpus()
    write_xls_bombs()
    print(f"fixtures written to {DATA}")
    return 0


if __name__ == "__main__":
    os.chdir(DATA)
    sys.exit(main())
