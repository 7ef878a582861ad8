"""A kept workbook's data rows in the report: the planner's cells as the input has them, the
four report cells after them, whatever shape the rows' XML takes and however many blocks the
sheet is cut into."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import SERVER_ONLY, SUMMARY, assert_sound_package, build_planner_workbook, fill_of

from sync.load import load_sheet
from sync.model import LoadedSheet, ReportRow
from sync.report import REPORT_COLUMNS, write_report

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _data_sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read("xl/worksheets/sheet1.xml")


def _ids(sheet: LoadedSheet) -> list[str]:
    return [f"c{i:07d}-0000-4000-8000-000000000000" for i in range(len(sheet.row_numbers))]


def _unchanged(sheet: LoadedSheet) -> dict[int, ReportRow]:
    return {i: ReportRow("unchanged", ident) for i, ident in enumerate(_ids(sheet))}


def _cells(path: Path) -> dict[str, tuple[object, ...]]:
    """Every cell of the first sheet as a reader sees it: value, fill, number format, bold."""
    sheet = load_workbook(path).worksheets[0]
    return {cell.coordinate: (cell.value, fill_of(cell), cell.number_format, cell.font.b)
            for row in sheet.iter_rows() for cell in row
            if cell.value is not None or cell.has_style}


def _report_columns(path: Path, header_row: int) -> dict[str, str]:
    """The report's column letter of each report column, from its header row."""
    sheet = load_workbook(path).worksheets[0]
    found = {cell.value: cell.column_letter for cell in sheet[header_row]
             if cell.value in REPORT_COLUMNS}
    assert set(found) == set(REPORT_COLUMNS)
    return found


def _assert_planner_cells_kept_and_rows_marked(source: Path, report: Path,
                                               sheet: LoadedSheet) -> None:
    """The input's cells are in the report as they were (unchanged rows keep their look),
    and every data row holds its status and id in the report columns."""
    before, after = _cells(source), _cells(report)
    columns = _report_columns(report, sheet.header_row)
    ours = {f"{letter}{row}" for letter in columns.values()
            for row in (sheet.header_row, *sheet.row_numbers)}
    assert {k: v for k, v in after.items() if k not in ours} == \
        {k: v for k, v in before.items() if k not in ours}
    status, ident = columns["sync_status"], columns["sync_id"]
    for number, expected in zip(sheet.row_numbers, _ids(sheet), strict=True):
        assert after[f"{status}{number}"][0] == "unchanged"
        assert after[f"{ident}{number}"][0] == expected


@pytest.mark.parametrize("name", ["routing_title_block.xlsx", "routing_lo.xlsx",
                                  "routing_xlsxwriter.xlsx", "routing_openpyxl.xlsx"])
def test_unchanged_rows_of_real_workbooks_keep_their_cells_and_get_the_report_cells(
        tmp_path: Path, name: str) -> None:
    sheet = load_sheet(DATA_DIR / name)
    report = write_report(sheet, _unchanged(sheet), SERVER_ONLY, SUMMARY,
                          tmp_path / "report.xlsx", engine="patch")
    _assert_planner_cells_kept_and_rows_marked(DATA_DIR / name, report, sheet)
    assert b" spans=" not in _data_sheet_xml(report)   # xlsxwriter's row hints, wrong now
    assert_sound_package(report)


@pytest.mark.parametrize("edit", [
    # Excel's row hints on every row.
    lambda xml: re.sub(r'<row r="(\d+)"', r'<row r="\1" spans="1:9"', xml),
    # A formatted empty cell right of the data: the report cells must go before it.
    lambda xml: re.sub(r'(<row r="6".*?)</row>', r'\1<c r="Z6" s="1"/></row>', xml, count=1),
    # A cell without its reference (placed after the one before it).
    lambda xml: xml.replace('<c r="C7"', '<c', 1),
], ids=["spans", "cell-right-of-the-data", "cell-without-reference"])
def test_rows_of_unusual_shapes_keep_their_cells_and_get_the_report_cells(
        tmp_path: Path, edit: Callable[[str], str]) -> None:
    workbook = build_planner_workbook(tmp_path / "routing.xlsx")
    edited = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(workbook) as old, zipfile.ZipFile(edited, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = edit(data.decode()).encode()
            new.writestr(item, data)
    sheet = load_sheet(edited)
    report = write_report(sheet, _unchanged(sheet), SERVER_ONLY, SUMMARY,
                          tmp_path / "report.xlsx", engine="patch")
    _assert_planner_cells_kept_and_rows_marked(edited, report, sheet)
    assert_sound_package(report)
    xml = _data_sheet_xml(report).decode()
    assert " spans=" not in xml
    if "Z6" in _cells(report):
        row = re.search(r'<row r="6".*?</row>', xml).group(0)
        letters = re.findall(r'<c r="([A-Z]+)6"', row)
        assert letters[-3:] == ["J", "K", "Z"]       # in column order: Z after the report


def _large_workbook(path: Path, rows: int) -> Path:
    """An .xlsx of ``rows`` data rows, several megabytes of sheet XML (so that the loader
    cuts it into several blocks), written part by part."""
    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    headers = ["id", "product_id", "process_id", "line_number", "description"]
    lines = ['<row r="1">' + "".join(text(f"{chr(65 + c)}1", h) for c, h in enumerate(headers))
             + "</row>"]
    for n in range(2, rows + 2):
        lines.append(f'<row r="{n}">' + text(f"A{n}", f"c{n - 2:07d}-0000-4000-8000-000000000000")
                     + text(f"B{n}", "a0000001-0000-4000-8000-000000000001")
                     + text(f"C{n}", "b0000001-0000-4000-8000-000000000001")
                     + f'<c r="D{n}"><v>{n}</v></c>'
                     + text(f"E{n}", f"Step {n} of the routing, as planned") + "</row>")
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package_rels = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicati'
            'on/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Conten'
            f'tType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="'
            f'{office}.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{office}.worksheet+xml"/><Override PartName="/xl/styles.xml" '
            f'ContentType="{office}.styles+xml"/></Types>'),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{package_rels}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '</Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="Routing" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{package_rels}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            '</Relationships>'),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}"><fonts count="1">'
            '<font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill>'
            '<patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
            '</fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf '
            'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            '</cellStyles></styleSheet>'),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}" xmlns:r="{rel}">'
            f'<sheetData>{"".join(lines)}</sheetData></worksheet>'),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, xml)
    return path


@pytest.mark.parametrize("changed", [None, 9_000], ids=["all-unchanged", "one-row-changed"])
def test_every_block_of_a_large_sheet_gets_its_rows_report_cells(
        tmp_path: Path, changed: int | None) -> None:
    """A sheet cut into several blocks: each data row, in whichever block, gets its own
    status, id and changes, and only the changed row is coloured."""
    rows = 20_000
    source = _large_workbook(tmp_path / "large.xlsx", rows)
    sheet = load_sheet(source)
    assert len(_data_sheet_xml(source)) > 3 << 20      # read in several blocks
    marks = _unchanged(sheet)
    if changed is not None:
        marks[changed] = ReportRow("would update", marks[changed].sync_id,
                                   "description: Step -> Step 2")
    report = write_report(sheet, marks, SERVER_ONLY, SUMMARY, tmp_path / "report.xlsx",
                          engine="patch")
    data = load_workbook(report, read_only=True).worksheets[0]
    got = [(*row, None, None, None, None)[:9] for row in data.iter_rows(min_row=2,
                                                                        values_only=True)]
    assert len(got) == rows
    for index, row in enumerate(got):
        expected = marks[index]
        assert row[0] == expected.sync_id and row[3] == index + 2
        assert row[5:9] == (expected.status, expected.sync_id, expected.changes or None, None)
    if changed is not None:
        xml = _data_sheet_xml(report).decode()
        number = changed + 2
        shaded = re.search(rf'<row r="{number}".*?</row>', xml).group(0)
        plain = re.search(rf'<row r="{number + 1}".*?</row>', xml).group(0)
        assert ' s="' in shaded.split('r="F', 1)[0]       # the changed row's own cells recoloured
        assert ' s="' not in plain.split('r="F', 1)[0]    # an unchanged row's cells untouched
