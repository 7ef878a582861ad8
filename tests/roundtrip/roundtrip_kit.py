"""Helpers of the round-trip tests: the committed data set, the planner's edits, LibreOffice.

The data set (``data/seed.json``) is committed rather than generated, so the LibreOffice
fixtures made from it (``data/make_fixtures.py``) keep matching it whatever the generator
does later.  It holds formula-like text (a description ``=1+2``, a product ``=Danger ...``)
on purpose."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl

DATA = Path(__file__).parent / "data"
SEED = DATA / "seed.json"
#: The committed export of SEED as LibreOffice saved it: unedited, and with ``edit_export``.
EXPORT_LO = DATA / "export_lo.xlsx"
EDITED_LO = DATA / "edited_lo.xlsx"


@dataclass(frozen=True)
class Edits:
    """What ``edit_export`` changed, to check the plan and the server against."""

    minutes_id: str
    minutes: Decimal
    inactive_id: str
    new_line: dict[str, Any]


def edit_export(path: Path, target: Path | None = None) -> Edits:
    """A planner's edits of an exported workbook, with openpyxl: new minutes on the first
    line, the second line deactivated, a new line added at the bottom."""
    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    column = {cell.value: cell.column for cell in sheet[1]}
    first, second = 2, 3
    minutes = Decimal("45.5")
    sheet.cell(first, column["product_minutes"]).value = float(minutes)
    sheet.cell(second, column["active"]).value = "InActive"
    new_line = {"product_id": sheet.cell(first, column["product_id"]).value,
                "process_id": sheet.cell(first, column["process_id"]).value,
                "line_number": 9, "active": "Active", "description": "added in the sheet",
                "product_minutes": Decimal(3)}
    row = [None] * sheet.max_column
    for name, value in new_line.items():
        row[column[name] - 1] = float(value) if isinstance(value, Decimal) else value
    sheet.append(row)
    book.save(target or path)
    return Edits(sheet.cell(first, column["id"]).value, minutes,
                 sheet.cell(second, column["id"]).value, new_line)


def edit_line(path: Path, line_id: str, **cells: Any) -> int:
    """Set cells (by header; ``x_ro`` names the column ``x (read-only)``) on the row of one
    line of an export; returns its sheet row number."""
    book = openpyxl.load_workbook(path)
    sheet = book["Lines"]
    column = {c.value: c.column for c in sheet[1]}
    for row in range(2, sheet.max_row + 1):
        if sheet.cell(row, column["id"]).value == line_id:
            for header, value in cells.items():
                if header.endswith("_ro"):
                    header = header.removesuffix("_ro") + " (read-only)"
                sheet.cell(row, column[header]).value = value
            book.save(path)
            return row
    raise AssertionError(f"no row for line {line_id}")


def libreoffice_copy(source: Path, folder: Path) -> Path | None:
    """``source`` opened and saved as .xlsx by LibreOffice; None where it is not installed."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    # A profile of its own: a LibreOffice already running for the user is not disturbed.
    profile = (folder / "lo-profile").resolve().as_uri()
    subprocess.run([soffice, f"-env:UserInstallation={profile}", "--headless",
                    "--convert-to", "xlsx", "--outdir", str(folder), str(source)],
                   check=True, capture_output=True, timeout=120)
    return folder / f"{source.stem}.xlsx"
