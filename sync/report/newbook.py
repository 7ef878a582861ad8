"""The one writer of new .xlsx packages: a report built from the loaded cells (CSV, .xls and
.ods inputs), the template, an export and the undo and plan tables.

A workbook is a list of ``NewSheet`` (a name and its worksheet XML in chunks, streamed into
the zip) and a ``StyleBook`` whose ``cellXfs`` the sheets' ``s`` attributes index.  Every
entry gets a fixed time and ISA-L's deflate (``sync.zipdeflate``), so the same content gives
the same bytes (the committed template does not change in git when regenerated unchanged).

The planner's own workbook is never written here: the report edits it in place
(``sync.report.package`` and ``patch``), as no writer keeps its charts and images.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sync.files import atomic_output
from sync.zipdeflate import deflate_fast

from .parts import (
    PAGE_MARGINS,
    WORKSHEET_OPEN,
    Note,
    cols_xml,
    comments_xml,
    content_types_xml,
    notes_rels_xml,
    package_rels_xml,
    sheet_views_xml,
    vml_xml,
    workbook_rels_xml,
    workbook_xml,
)
from .streaming import write_text_chunks
from .styles import StyleBook

__all__ = ["ZIP_TIME", "NewSheet", "row_chunks", "worksheet_chunks", "write_package",
           "write_workbook"]

#: The time of every zip entry (zip times start in 1980).
ZIP_TIME = (2024, 1, 1, 0, 0, 0)
#: Rows per chunk of ``row_chunks``: big enough to amortise a write, small enough to bound
#: memory.
CHUNK_ROWS = 2_000


@dataclass
class NewSheet:
    """One worksheet of a new workbook.

    ``notes`` are read once ``chunks`` are written, so a sheet streamed row by row may add
    the comments of its cells as it goes (the sheet's XML then ends with ``<legacyDrawing
    r:id="rId1"/>`` where it has any: ``worksheet_chunks`` does that)."""

    name: str
    chunks: Iterable[str | bytes]
    notes: list[Note] = field(default_factory=list)
    filter_ref: str | None = None     # the autofilter range, for the workbook's defined name
    state: str | None = None          # "hidden" or "veryHidden"


def worksheet_chunks(rows: Iterable[str | bytes], *, widths: Mapping[int, float],
                     frozen_rows: int | None = None, selected: bool = False,
                     dimension: str | None = None, filter_ref: str | None = None,
                     after_data: str = "", notes: Sequence[Note] = ()) -> Iterator[str | bytes]:
    """A worksheet's XML around its ``<row>`` chunks: the used range, the frozen header, the
    column widths, then the autofilter, ``after_data`` (validations, protection: what goes
    between the autofilter and the margins) and the notes' drawing.  ``notes`` is looked at
    only after the last row (a list the rows fill as they are made)."""
    yield (WORKSHEET_OPEN + (f'<dimension ref="{dimension}"/>' if dimension else "")
           + sheet_views_xml(frozen_rows, selected=selected) + cols_xml(dict(widths))
           + "<sheetData>")
    yield from rows
    tail = "</sheetData>" + (f'<autoFilter ref="{filter_ref}"/>' if filter_ref else "")
    tail += after_data + PAGE_MARGINS
    if notes:
        tail += '<legacyDrawing r:id="rId1"/>'
    yield tail + "</worksheet>"


def row_chunks(rows: Iterable[str], per_chunk: int = CHUNK_ROWS) -> Iterator[str]:
    """``<row>`` elements joined ``per_chunk`` at a time: each chunk is one write to the zip
    (and one hand-over to the compressing thread), not one per row."""
    stream = iter(rows)
    while chunk := "".join(itertools.islice(stream, per_chunk)):
        yield chunk


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _write_part(package: zipfile.ZipFile, name: str, text: str) -> None:
    with package.open(_entry(name), "w") as stream:
        deflate_fast(stream)
        stream.write(text.encode("utf-8"))


def write_package(handle: IO[bytes], sheets: Sequence[NewSheet], styles: StyleBook) -> None:
    """The .xlsx package of ``sheets`` into ``handle`` (an open, empty binary file); the
    first sheet is the active one.  Each sheet's chunks are compressed in a second thread
    while the next ones are made (``write_text_chunks``)."""
    with zipfile.ZipFile(handle, "w") as package:
        for number, sheet in enumerate(sheets, 1):
            with package.open(_entry(f"xl/worksheets/sheet{number}.xml"), "w") as stream:
                write_text_chunks(stream, sheet.chunks)
            if sheet.notes:
                _write_part(package, f"xl/worksheets/_rels/sheet{number}.xml.rels",
                            notes_rels_xml(number))
                _write_part(package, f"xl/comments{number}.xml", comments_xml(sheet.notes))
                _write_part(package, f"xl/drawings/vmlDrawing{number}.vml",
                            vml_xml(sheet.notes, first_block=number))
        _write_part(package, "xl/styles.xml", styles.xml())
        _write_part(package, "xl/workbook.xml",
                    workbook_xml([(s.name, s.filter_ref) for s in sheets],
                                 {s.name: s.state for s in sheets if s.state}))
        _write_part(package, "xl/_rels/workbook.xml.rels", workbook_rels_xml(len(sheets)))
        _write_part(package, "_rels/.rels", package_rels_xml())
        _write_part(package, "[Content_Types].xml", content_types_xml(
            len(sheets), [n for n, s in enumerate(sheets, 1) if s.notes]))


def write_workbook(target: str | Path, sheets: Sequence[NewSheet], styles: StyleBook,
                   what: str = "workbook") -> Path:
    """``write_package`` into ``target``, atomically: the file appears whole or not at all;
    ``what`` names it in error messages."""
    path = Path(target)
    with atomic_output(path, what) as handle:
        write_package(handle, sheets, styles)
    return path
