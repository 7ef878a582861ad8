"""CSV lines read into Arrow string columns: the cells and record numbers of every dialect,
and memory that grows with the file, not with a Python object per cell."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sync.errors import InputError
from sync.load import load_sheet

HEADER = "product_id,process_id,line_number,description"
STRING = pd.StringDtype("pyarrow")


def _csv(tmp_path: Path, data: bytes, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_csv_columns_are_arrow_strings_with_the_exact_text(tmp_path: Path) -> None:
    path = _csv(tmp_path, (f"{HEADER}\r\n p1 ,q1,007,\"a, \"\"b\"\"\"\r\n"
                           "p2,q2,1.50,=SUM(A1)\r\n").encode())
    sheet = load_sheet(path)
    assert list(sheet.frame.dtypes) == [STRING] * 4
    assert sheet.frame.astype(object).values.tolist() == [
        [" p1 ", "q1", "007", 'a, "b"'], ["p2", "q2", "1.50", "=SUM(A1)"]]
    assert sheet.row_numbers == [2, 3]


@pytest.mark.parametrize("body, cells, numbers", [
    # Blank lines (LF and CRLF) and lines of delimiters only: skipped, counted as lines.
    (b"\n\np,q,1,a\r\n\r\n,,,\r\np,q,2,b", [["p", "q", "1", "a"], ["p", "q", "2", "b"]],
     [4, 7]),
    # Lines of blanks only: skipped, counted.
    (b"p,q,1,a\n   \np,q,2,b\n", [["p", "q", "1", "a"], ["p", "q", "2", "b"]], [2, 4]),
    # A cell holding a line break: one record, numbered as the csv module counts records.
    (b'p,q,1,"two\nlines"\np,q,2,b\n', [["p", "q", "1", "two\nlines"], ["p", "q", "2", "b"]],
     [2, 3]),
    # Lines of different widths: padded with blank cells.
    (b"p,q,1\np,q,2,b\n", [["p", "q", "1", ""], ["p", "q", "2", "b"]], [2, 3]),
    # Old Mac line ends (CR alone).
    (b"p,q,1,a\rp,q,2,b\r", [["p", "q", "1", "a"], ["p", "q", "2", "b"]], [2, 3]),
])
def test_every_line_shape_gives_its_cells_and_record_number(
        tmp_path: Path, body: bytes, cells: list[list[str]], numbers: list[int]) -> None:
    sheet = load_sheet(_csv(tmp_path, HEADER.encode() + b"\n" + body))
    assert sheet.frame.astype(object).values.tolist() == cells
    assert sheet.row_numbers == numbers
    assert list(sheet.frame.dtypes) == [STRING] * 4


def test_windows_1252_below_the_first_lines_is_decoded(tmp_path: Path) -> None:
    """A byte that is not UTF-8 far below the header: that line is Windows-1252."""
    lines = [f"p,q,{n},ok" for n in range(1, 200)] + ["p,q,200,Caf\xe9"]
    sheet = load_sheet(_csv(tmp_path, "\n".join([HEADER, *lines]).encode("cp1252")))
    assert sheet.frame.iloc[-1, 3] == "Café" and sheet.row_numbers[-1] == 201
    assert sheet.frame.iloc[0, 3] == "ok" and len(sheet.frame) == 200


def test_a_header_without_a_line_break_has_no_data_rows(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"has a header \(row 1\) but no data rows"):
        load_sheet(_csv(tmp_path, HEADER.encode()))


_MEASURE = """
import json, sys
from sync.load import load_sheet
import pandas, pyarrow.csv  # imported first: their size is not the sheet's
def peak_kb():  # VmHWM, not getrusage: ru_maxrss keeps the parent's (pytest's) peak
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
before = peak_kb()
sheet = load_sheet(sys.argv[1])
after = peak_kb()
print(json.dumps({"rows": len(sheet.frame), "grown_kb": after - before}))
"""


def test_a_large_csv_takes_a_few_times_its_size_in_memory(tmp_path: Path) -> None:
    """200,000 lines of 12 columns: the loader's memory is a few times the file's size
    (the bytes, their Arrow columns and the reader's buffers), where a Python object per
    cell took thirteen times it."""
    line = ("{n:07d}-0000-4000-8000-000000000000,b0000001-0000-4000-8000-000000000001,{n},"
            "Assemble the frame,12.5,min,2,yes,Line A,,note,x\n")
    header = HEADER + ",minutes,unit,crew,active,station,blank,note,extra\n"
    path = tmp_path / "large.csv"
    with path.open("w") as out:
        out.write(header)
        out.writelines(line.format(n=n) for n in range(1, 200_001))
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True,
                         text=True, check=True, timeout=120)
    figures = json.loads(run.stdout)
    assert figures["rows"] == 200_000
    assert figures["grown_kb"] * 1024 < 7 * path.stat().st_size, figures


def test_a_columns_cells_share_one_object_per_repeated_text(tmp_path: Path) -> None:
    """``LoadedSheet.cells``: what validation reads, each distinct text once in memory."""
    lines = "".join(f"P{n % 3},Q,{n},note\r\n" for n in range(6000))
    sheet = load_sheet(_csv(tmp_path, f"{HEADER}\r\n{lines}".encode()))
    products = sheet.cells(sheet.fields["product_id"])
    assert products == [f"P{n % 3}" for n in range(6000)]
    assert len({id(cell) for cell in products}) == 3
    numbers = sheet.cells(sheet.fields["line_number"])   # distinct texts: as they are
    assert numbers == [str(n) for n in range(6000)]
