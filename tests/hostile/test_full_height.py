"""A real full-height workbook passes the guards: 1,048,576 rows (Excel's last row) of twelve
columns, as an export a planner saved, is let through to the reader with default limits, in
bounded memory.

The sheet XML is written directly with zipfile (an inline-string cell per text, numbers as
values), which takes seconds where a workbook library would take minutes; it is written once
for the module.  The guards run in a child process, so its peak memory is theirs."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

from sync.load import guards
from sync.report import EXCEL_MAX_ROWS
from sync.zipdeflate import deflate_fast

#: Peak memory allowed to the guards checking the full-height sheet: they stream its 750 MB
#: of XML a megabyte at a time, so a few hundred MB covers Python and the libraries
#: (pandas with pyarrow alone take about 140 MB).
MAX_GUARD_RSS_MB = 400
#: Wall time allowed to them, on a shared two-core machine.
MAX_SECONDS = 120

HEADERS = ["id", "product_id", "process_id", "line_number", "active", "description",
           "product_minutes", "product_dwell_minutes", "process", "edited", "edited_by",
           "notes"]
_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml":
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org'
        '/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
        'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
        '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
        '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels":
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        f'{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml":
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_NS}" xmlns:r="{_REL}">'
        '<sheets><sheet name="Lines" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels":
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
        f'{_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def _text(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def write_full_height(path: Path) -> None:
    """An .xlsx of EXCEL_MAX_ROWS rows: the header, then one valid line a row (five lines
    a product, a new id for every line)."""
    letters = [chr(65 + i) for i in range(len(HEADERS))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as package:
        for part, xml in _PARTS.items():
            package.writestr(part, xml)
        with package.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            deflate_fast(sheet)
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_NS}">'
                        f'<sheetData><row r="1">'.encode())
            sheet.write("".join(_text(f"{c}1", h) for c, h in zip(letters, HEADERS,
                                                                   strict=True)).encode())
            sheet.write(b"</row>")
            processes = [str(uuid.UUID(int=n + 1)) for n in range(20)]
            rows = []
            product = ""
            for number in range(2, EXCEL_MAX_ROWS + 1):
                line = number % 5 + 1
                if line == 1 or not product:
                    product = str(uuid.UUID(int=(1 << 64) + number))
                r = str(number)
                rows.append(
                    f'<row r="{r}">'
                    + _text("A" + r, str(uuid.UUID(int=(2 << 64) + number)))
                    + _text("B" + r, product)
                    + _text("C" + r, processes[number % 20])
                    + f'<c r="D{r}"><v>{line}</v></c>'
                    + _text("E" + r, "Active")
                    + _text("F" + r, f"Step {line} of the routing")
                    + f'<c r="G{r}"><v>{number % 90}.5</v></c><c r="H{r}"><v>{line}</v></c>'
                    + _text("I" + r, f"Process {number % 20}")
                    + _text("J" + r, "2026-01-05 08:30:00")
                    + _text("K" + r, "planner")
                    + _text("L" + r, "checked")
                    + "</row>")
                if len(rows) == 10_000:
                    sheet.write("".join(rows).encode())
                    rows = []
            sheet.write(("".join(rows) + "</sheetData></worksheet>").encode())


#: What the child runs: every guard the loader puts before the reader, as it calls them.
_GUARDS = """
import json, sys, time
from pathlib import Path
from sync.load.detect import check_file, detect_format
from sync.load.guards import check_xlsx_sheet
file = Path(sys.argv[1])
started = time.monotonic()
kind = detect_format(file, check_file(file))
check_xlsx_sheet(file, file.name, "Lines", 0)
# VmHWM, not getrusage: ru_maxrss keeps the parent's (pytest's) peak across exec.
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
print(json.dumps({"format": kind, "seconds": time.monotonic() - started,
                  "peak_rss_mb": int(peak) / 1024}))
"""


@pytest.fixture(scope="module")
def full_height(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("full_height") / "full_height.xlsx"
    write_full_height(path)
    return path


def test_the_guards_let_a_full_height_sheet_through_in_bounded_memory(full_height: Path) -> None:
    """Detection and every guard (unpacked size, packing ratio, cell span, cell text) pass
    the sheet, streaming it: their memory does not grow with it."""
    child = subprocess.run([sys.executable, "-c", _GUARDS, str(full_height)],
                           capture_output=True, text=True, timeout=MAX_SECONDS)
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)
    assert result["format"] == "xlsx"
    assert result["peak_rss_mb"] < MAX_GUARD_RSS_MB, result
    assert result["seconds"] < MAX_SECONDS, result


def test_the_limits_leave_room_beyond_the_full_height_sheet(full_height: Path) -> None:
    """The sheet alone takes well under the unpack limit: an export's ``_base`` and Lists
    sheets fit beside it; and it packs far looser than the ratio a bomb is refused at."""
    with zipfile.ZipFile(full_height) as package:
        sheet = package.getinfo("xl/worksheets/sheet1.xml")
    assert sheet.file_size > 700 << 20
    assert sheet.file_size * 2 < guards.MAX_UNPACKED_BYTES
    assert sheet.file_size < guards.MAX_RATIO / 4 * sheet.compress_size
    assert EXCEL_MAX_ROWS * len(HEADERS) * 2 < guards.MAX_SHEET_CELLS  # room for more columns


def _stray_cell_sheet(path: Path, ref: str, row_two: str = "A2") -> Path:
    """A two-row table and one stray cell at ``ref``; row 2's cell is at ``row_two``."""
    rows = ('<row r="1">' + "".join(_text(f"{chr(65 + i)}1", h) for i, h in
                                    enumerate(HEADERS[:4])) + "</row>"
            + '<row r="2">' + _text(row_two, "x") + "</row>"
            + f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}">{_text(ref, "far")}</row>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for part, xml in _PARTS.items():
            package.writestr(part, xml)
        package.writestr("xl/worksheets/sheet1.xml",
                         f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{_NS}">'
                         f"<sheetData>{rows}</sheetData></worksheet>")
    return path


@pytest.mark.parametrize("ref, rows, columns", [("AF1048576", "1,048,576", "32"),
                                                ("Z300000", "300,000", "26")])
def test_a_stray_cell_within_the_span_limit_is_refused_as_sparse(
        tmp_path: Path, ref: str, rows: str, columns: str) -> None:
    """The reader's memory goes by the span: one cell below and right of a small table,
    inside the span a full table may have, is refused before it is read."""
    from sync.errors import InputError

    path = _stray_cell_sheet(tmp_path / "stray.xlsx", ref)
    with pytest.raises(InputError, match=rf'^stray.xlsx, sheet "Lines" spans {rows} rows by '
                                         rf"{columns} columns, far more than a routing sheet"):
        guards.check_xlsx_sheet(path, "stray.xlsx", "Lines", 0)


def test_leading_zeros_do_not_hide_a_far_cell(tmp_path: Path) -> None:
    """A reference written with leading zeros (A00000002 is A2) has more digits than the far
    one but is the nearer: the far cell is still found."""
    from sync.errors import InputError

    path = _stray_cell_sheet(tmp_path / "zeros.xlsx", "Z300000", row_two="A00000002")
    with pytest.raises(InputError, match="spans 300,000 rows by 26 columns"):
        guards.check_xlsx_sheet(path, "zeros.xlsx", "Lines", 0)


def test_a_table_under_the_sparse_floor_is_read_whatever_its_shape(tmp_path: Path) -> None:
    path = _stray_cell_sheet(tmp_path / "small.xlsx", "Z190000")  # 4.9 million cells
    guards.check_xlsx_sheet(path, "small.xlsx", "Lines", 0)
