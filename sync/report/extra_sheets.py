"""The Summary and Server only sheets as worksheet XML, for either writer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.model import ReportRow, ServerOnlyRow

from .cells import RowStyles, column_letter, text_cell, value_cell
from .content import (
    MESSAGE,
    STATUS,
    server_only_cells,
    server_only_columns,
    summary_lines,
)
from .palette import Shade, shade_of
from .parts import EXCEL_MAX_ROWS, WORKSHEET_OPEN, cols_xml, sheet_views_xml
from .styles import DATE_FORMAT, DATETIME_FORMAT, KEEP, TIME_FORMAT, StyleBook


@dataclass(frozen=True, slots=True)
class SheetXml:
    xml: str
    filter_ref: str | None = None     # the autofilter range, for the workbook's defined name


def row_styles(book: StyleBook, fill: str | None, *, font: int | None = None) -> RowStyles:
    """Styles for the kinds of cell in a row with the given fill (RRGGBB or None)."""
    colour = KEEP if fill is None else fill

    def style(**extra: Any) -> int:
        return book.derive(0, fill=colour, font=font, **extra)

    return RowStyles(
        plain=style(),
        quoted=style(quote=True),
        date=style(num_fmt=book.num_fmt(DATE_FORMAT)),
        datetime=style(num_fmt=book.num_fmt(DATETIME_FORMAT)),
        time=style(num_fmt=book.num_fmt(TIME_FORMAT)),
    )


def _row(number: int, cells: list[str]) -> str:
    return f'<row r="{number}">{"".join(cells)}</row>'


def summary_sheet(book: StyleBook, summary: Mapping[str, Any], rows: Mapping[int, ReportRow],
                  server_only: Sequence[ServerOnlyRow]) -> SheetXml:
    lines = summary_lines(summary, rows, server_only)
    bold = book.bold_font()
    kinds = {
        "title": row_styles(book, None, font=book.bold_font(14)),
        "section": row_styles(book, None, font=book.bold_font(12)),
        "header": row_styles(book, "D9E1F2", font=bold),
        "total": row_styles(book, None, font=bold),
    }
    label = row_styles(book, None, font=bold)
    value = row_styles(book, None)
    out, widths = [], {1: 12.0, 2: 12.0, 3: 12.0}
    for number, line in enumerate(lines, 1):
        cells = []
        for col, cell in enumerate(line.cells, 1):
            styles = kinds.get(line.kind) or (label if col == 1 else value)
            cells.append(value_cell(f"{column_letter(col)}{number}", cell, styles))
            if line.kind != "title":
                widths[col] = min(max(widths.get(col, 0), len(str(cell)) + 2), 70)
        out.append(_row(number, cells))
    xml = (WORKSHEET_OPEN + sheet_views_xml(None, selected=False) + cols_xml(widths)
           + f'<sheetData>{"".join(out)}</sheetData></worksheet>')
    return SheetXml(xml)


def server_only_sheet(book: StyleBook, records: Sequence[ServerOnlyRow], *,
                      max_rows: int = EXCEL_MAX_ROWS) -> SheetXml:
    """The server's lines the sheet lacks, one row each, within ``max_rows`` rows: beyond
    what an Excel sheet holds, the last row says how many more there are (the Summary
    counts them all)."""
    columns = server_only_columns(records)
    left_out = max(len(records) + 1 - max_rows, 0)
    if left_out:
        left_out += 1                   # the last row holds the sentence instead
        records = records[:len(records) - left_out]
    header = row_styles(book, None, font=book.bold_font())
    plain = row_styles(book, None)
    shaded: dict[str, tuple[RowStyles, int]] = {}

    def styles_for(shade: Shade | None) -> tuple[RowStyles, int]:
        if shade is None:
            return plain, 0
        if shade.name not in shaded:
            shaded[shade.name] = (row_styles(book, shade.light),
                                  book.derive(0, fill=shade.strong))
        return shaded[shade.name]

    widths = {c: float(len(name) + 2) for c, name in enumerate(columns, 1)}
    out = [_row(1, [text_cell(f"{column_letter(c)}1", name, header.plain)
                    for c, name in enumerate(columns, 1)])]
    for number, record in enumerate(records, 2):
        styles, status_style = styles_for(shade_of(record.status))
        cells = []
        values = server_only_cells(record, columns)
        for col, (name, cell) in enumerate(zip(columns, values, strict=True), 1):
            ref = f"{column_letter(col)}{number}"
            if name == STATUS and cell:
                cells.append(text_cell(ref, str(cell), status_style))
            else:
                cells.append(value_cell(ref, cell, styles))
            if number < 2000 and cell is not None:      # a sample is enough for widths
                limit = 80 if name == MESSAGE else 40
                widths[col] = min(max(widths[col], len(str(cell)) + 2), limit)
        out.append(_row(number, cells))
    last = f"{column_letter(len(columns))}{len(records) + 1}"
    ref = f"A1:{last}"
    if left_out:
        out.append(_row(len(records) + 2, [text_cell(
            f"A{len(records) + 2}", f"... and {left_out:,} more server-only lines: more than "
            f"the {max_rows:,} rows an Excel sheet holds (the Summary counts them all).",
            plain.plain)]))
    xml = (WORKSHEET_OPEN + f'<dimension ref="{ref}"/>' + sheet_views_xml(1, selected=False)
           + cols_xml(widths) + f'<sheetData>{"".join(out)}</sheetData>'
           + f'<autoFilter ref="{ref}"/></worksheet>')
    return SheetXml(xml, ref)
