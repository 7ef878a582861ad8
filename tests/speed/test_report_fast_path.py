"""The report's per-row shortcut (one format template for the four report cells of every
row alike) writes exactly what the general path writes, byte for byte."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook
from report.kit import (
    DATA,
    IDS,
    SERVER_ONLY,
    SUMMARY,
    assert_sound_package,
    build_planner_workbook,
    fill_of,
    loaded_sheet,
    report_rows,
)

from sync.loader import load_sheet
from sync.model import LoadedSheet, ReportRow
from sync.report import write_report
from sync.report.datasheet import DataSheet
from sync.sheetxml import read_sheet_xml

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def _data_sheet_xml(path: Path) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read("xl/worksheets/sheet1.xml")


@pytest.mark.parametrize("rows", [
    report_rows(),
    {i: ReportRow("unchanged", IDS[i] if i != 2 else None) for i in range(len(DATA))},
    {i: ReportRow("would create", None) for i in range(len(DATA))},
    # unchanged rows appended to, one id not a uuid (and needing escapes, a % and braces)
    {i: ReportRow("unchanged", IDS[i] if i != 1 else "50% {id} & <x>") for i in range(len(DATA))},
    {0: ReportRow("created", "id {with} braces & <markup>"), 1: ReportRow("deleted", IDS[1]),
     3: ReportRow("would update", IDS[3], "active: Active -> InActive")},
])
def test_templated_rows_match_the_general_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               rows: dict[int, ReportRow]) -> None:
    workbook = build_planner_workbook(tmp_path / "routing.xlsx")
    sheet = loaded_sheet(workbook)
    fast = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "fast.xlsx",
                        engine="patch")
    monkeypatch.setattr(DataSheet, "_report_template", lambda self, mark: None)
    general = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "general.xlsx",
                           engine="patch")
    assert _data_sheet_xml(fast) == _data_sheet_xml(general)


def _unchanged(sheet: LoadedSheet) -> dict[int, ReportRow]:
    return {i: ReportRow("unchanged", f"c{i:07d}-0000-4000-8000-000000000000")
            for i in range(len(sheet.row_numbers))}


def _cells(path: Path) -> dict[str, tuple[object, ...]]:
    """Every cell of the data sheet as a reader sees it: value, fill, number format, bold."""
    sheet = load_workbook(path).worksheets[0]
    return {cell.coordinate: (cell.value, fill_of(cell), cell.number_format, cell.font.b)
            for row in sheet.iter_rows() for cell in row
            if cell.value is not None or cell.has_style}


def _both_ways(sheet: LoadedSheet, rows: dict[int, ReportRow], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch, *, prepared: bool) -> tuple[Path, Path]:
    """The report written with the shortcuts (unchanged rows appended to block by block,
    from the rows the loader cut if ``prepared``) and by the general path alone, reading the
    file.  The appended rows keep the planner's cells byte for byte, where the general path
    writes them anew (``s="0"`` dropped, a cell without its reference given one): the same
    cells either way."""
    if not prepared:
        sheet.xml = None
    elif sheet.xml is None:
        sheet.xml = read_sheet_xml(sheet.path, "xl/worksheets/sheet1.xml")
    with monkeypatch.context() as patched:
        if prepared:   # the rows cut ahead serve: the part is not read again
            patched.setattr(DataSheet, "_stream", lambda self: pytest.fail("read again"))
        fast = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "fast.xlsx",
                            engine="patch")
    assert sheet.xml is None             # dropped once used (see write_report)
    with monkeypatch.context() as patched:
        patched.setattr(DataSheet, "_report_template", lambda self, mark: None)
        general = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "general.xlsx",
                               engine="patch")
    return fast, general


@pytest.mark.parametrize("prepared", [True, False], ids=["cut-by-the-loader", "read-by-report"])
@pytest.mark.parametrize("name", ["routing_title_block.xlsx", "routing_lo.xlsx",
                                  "routing_xlsxwriter.xlsx", "routing_openpyxl.xlsx"])
def test_unchanged_rows_of_real_workbooks_are_appended_to_as_the_general_path_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, prepared: bool) -> None:
    sheet = load_sheet(DATA_DIR / name, keep_xml=True)
    assert sheet.xml is not None and sheet.xml.blocks          # the loader read it ahead
    fast, general = _both_ways(sheet, _unchanged(sheet), tmp_path, monkeypatch,
                               prepared=prepared)
    assert _cells(fast) == _cells(general)
    assert len(_cells(fast)) > 4 * len(sheet.row_numbers)
    assert b" spans=" not in _data_sheet_xml(fast)   # xlsxwriter's row hints, wrong now
    assert_sound_package(fast)


@pytest.mark.parametrize("edit", [
    # Excel's row hints on every row.
    lambda xml: re.sub(r'<row r="(\d+)"', r'<row r="\1" spans="1:9"', xml),
    # A formatted empty cell right of the data: the report cells must go before it.
    lambda xml: re.sub(r'(<row r="6".*?)</row>', r'\1<c r="Z6" s="1"/></row>', xml, count=1),
    # A cell without its reference (placed after the one before it).
    lambda xml: xml.replace('<c r="C7"', '<c', 1),
], ids=["spans", "cell-right-of-the-data", "cell-without-reference"])
@pytest.mark.parametrize("prepared", [True, False], ids=["cut-by-the-loader", "read-by-report"])
def test_unusual_rows_are_written_as_the_general_path_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: Callable[[str], str],
        prepared: bool) -> None:
    workbook = build_planner_workbook(tmp_path / "routing.xlsx")
    edited = tmp_path / "edited.xlsx"
    with zipfile.ZipFile(workbook) as old, zipfile.ZipFile(edited, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = edit(data.decode()).encode()
            new.writestr(item, data)
    sheet = loaded_sheet(edited)
    fast, general = _both_ways(sheet, _unchanged(sheet), tmp_path, monkeypatch,
                               prepared=prepared)
    assert _cells(fast) == _cells(general)
    assert_sound_package(fast)
    if "Z6" in _cells(fast):
        row = re.search(r'<row r="6".*?</row>', _data_sheet_xml(fast).decode()).group(0)
        letters = re.findall(r'<c r="([A-Z]+)6"', row)
        assert letters[-3:] == ["J", "K", "Z"]          # in column order: Z after the report


def test_percent_templates_keep_literal_percent_signs_and_braces() -> None:
    from sync.report.datasheet import _percent_style

    template = '<c r="M{r}"><t>50% {{x}} done</t></c><c r="N{r}"><t>{i}</t></c>'
    assert (_percent_style(template) % {"r": 7, "i": "a%b"}
            == template.format(r=7, i="a%b"))


def _large_workbook(path: Path, rows: int) -> Path:
    """An .xlsx of ``rows`` data rows, several megabytes of sheet XML (so that the loader
    cuts it into several blocks), written part by part."""
    def text(ref: str, value: str) -> str:
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'

    headers = ["id", "product_id", "process_id", "line_number", "description"]
    lines = ['<row r="1">' + "".join(text(f"{chr(65 + c)}1", h) for c, h in enumerate(headers))
             + "</row>"]
    for n in range(2, rows + 2):
        lines.append(f'<row r="{n}">' + text(f"A{n}", f"c{n:07d}-0000-4000-8000-000000000000")
                     + text(f"B{n}", "a0000001-0000-4000-8000-000000000001")
                     + text(f"C{n}", "b0000001-0000-4000-8000-000000000001")
                     + f'<c r="D{n}"><v>{n}</v></c>'
                     + text(f"E{n}", f"Step {n} of the routing, as planned") + "</row>")
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats'
            '.org/package/2006/content-types"><Default Extension="rels" ContentType="applicati'
            'on/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" Conten'
            'tType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="appli'
            'cation/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override'
            ' PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats'
            '-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml"'
            ' ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+'
            'xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://sch'
            'emas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
            '"xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="Routing" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxm'
            'lformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://sch'
            'emas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="work'
            'sheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.o'
            'rg/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>'),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{main}"><fonts count="1">'
            '<font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="2"><fill>'
            '<patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
            '</fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf '
            'numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="1">'
            '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
            '</styleSheet>'),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}" xmlns:r="{rel}">'
            f'<sheetData>{"".join(lines)}</sheetData></worksheet>'),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, xml in parts.items():
            package.writestr(name, xml)
    return path


@pytest.mark.parametrize("changed", [None, 9_000], ids=["all-alike", "one-row-changed"])
def test_blocks_of_alike_rows_are_written_as_row_by_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changed: int | None) -> None:
    """A block whose rows all keep their look alike gets its report cells in one pass
    (``_uniform_endings``); the part is the one the rows get one by one, byte for byte."""
    sheet = load_sheet(_large_workbook(tmp_path / "large.xlsx", 20_000), keep_xml=True)
    assert sheet.xml is not None and len(sheet.xml.blocks) > 3
    rows = _unchanged(sheet)
    if changed is not None:
        rows[changed] = ReportRow("would update", rows[changed].sync_id,
                                  "description: Step -> Step 2")
    blocks = sheet.xml
    uniform: list[bool] = []
    real = DataSheet._uniform_endings

    def spied(self: DataSheet, numbers: list[int]) -> list[str] | None:
        endings = real(self, numbers)
        uniform.append(endings is not None)
        return endings

    monkeypatch.setattr(DataSheet, "_uniform_endings", spied)
    by_block = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "blocks.xlsx",
                            engine="patch")
    assert uniform.count(True) >= len(blocks.blocks) - 2     # all but the header's (and one)
    assert uniform.count(False) == 1 + (changed is not None)
    sheet.xml = blocks
    monkeypatch.setattr(DataSheet, "_uniform_endings", lambda self, numbers: None)
    by_row = write_report(sheet, rows, SERVER_ONLY, SUMMARY, tmp_path / "rows.xlsx",
                          engine="patch")
    assert _data_sheet_xml(by_block) == _data_sheet_xml(by_row)
    assert (b"would update" in _data_sheet_xml(by_block)) is (changed is not None)
