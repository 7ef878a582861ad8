"""The workbooks a planner starts from, as the loader reads them: the blank ``template``
(an empty sheet with headers, dropdowns and instructions), and the layout and writer that
``sync.exporting`` fills with the server's lines.

Both are laid out the way the loader reads a sheet: one header row whose texts are the
canonical field names (``schema.field_for_header`` maps each back to its field), one line per
row.  Names come first: the ``product`` and ``process`` name columns are the ones a planner
edits, with dropdowns whose source is a ``Lists`` sheet of the tenant's names (a range, as
an inline list is capped at 255 characters).  The ``product_id`` and ``process_id`` columns
stay beside them as the line's identity: they tell apart products that share a name, and
``sync.references`` reads a name and an id that disagree against the server's line, so the
one the planner changed wins.  An export adds ``edited`` and read-only context (see
``sync.exporting``).

The .xlsx is written as SpreadsheetML straight into the zip (the data sheet streamed row by
row), reusing the report writer's cell helpers: every text is an inline string, formula-like
text also gets a quote-prefix style, so nothing a server holds can run as a formula.

``write_table_workbook`` is the same writer for any small table (the undo report uses it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import mergebase, schema
from .client import FlowtracClient
from .connection import Connection
from .errors import ServerError, UsageError
from .files import check_target_folder
from .report.cells import (
    RowStyles,
    column_letter,
    escape_attr,
    escape_text,
    text_cell,
    value_cell,
)
from .report.newbook import NewSheet, row_chunks, worksheet_chunks, write_workbook
from .report.parts import EXCEL_MAX_ROWS, Note, note
from .report.styles import StyleBook

__all__ = [
    "Column", "DATA_SHEET", "Exported", "LISTS_SHEET", "NameLists", "PRODUCT_NAME_KEY",
    "ROW_PRODUCT_NAME", "TEMPLATE_PATH", "export_columns", "name_lists", "sheet_columns",
    "template", "write_data_workbook", "write_table_workbook", "write_template",
]

#: Where the committed template lives (regenerate: ``flowtrac-sync template <this path>``).
TEMPLATE_PATH = Path(__file__).resolve().parent.parent / "templates" / "flowtrac-sync-template.xlsx"
DATA_SHEET = "Lines"
INSTRUCTIONS_SHEET = "Instructions"
#: The sheet of the tenant's product and process names the name dropdowns take their values
#: from: one column each, in ``schema.REFERENCES`` order.
LISTS_SHEET = "Lists"
#: The last row of a worksheet: validations cover the whole column below the header, so rows
#: a planner adds get the dropdowns too.
LAST_ROW = 1_048_576
#: The name column of ``/api/products`` (a neighbouring endpoint, not a line field).
PRODUCT_NAME_KEY = "product"
#: Author of the header notes (not the report's author, whose notes a report replaces).
NOTE_AUTHOR = "flowtrac-sync help"
_READ_ONLY_SUFFIX = " (read-only)"
_READ_ONLY_HELP = " Read-only: the tool never sends this column."

# --------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """One column of a workbook the tool writes for planners."""

    header: str
    help: str
    key: str                          # the key of the row dict holding the value
    kind: schema.Kind = schema.Kind.TEXT
    required: bool = False            # needed for a new line
    read_only: bool = False           # greyed: context the tool never sends (or only reads)
    nullable: bool = True
    choices: str | None = None        # a reference name: its dropdown lists the tenant's names

    @property
    def width(self) -> float:
        if self.read_only and self.kind is schema.Kind.TEXT:
            return 30.0
        return _WIDTHS[self.kind]


_WIDTHS = {schema.Kind.UUID: 38.0, schema.Kind.LINE_NUMBER: 13.0, schema.Kind.MINUTES: 22.0,
           schema.Kind.STATUS: 11.0, schema.Kind.TEXT: 36.0, schema.Kind.TIMESTAMP: 20.0,
           schema.Kind.REFERENCE: 32.0}

#: The product's name, put into each exported row under this key.
ROW_PRODUCT_NAME = "product name"


#: Help of the name and id columns, where names come first (the schema's help says what
#: any sheet may do).
_NAME_HELP = {
    "product": "The product's name: pick it from the list (or type its barcode). Required for "
               "a new line unless product_id is given. A line's product cannot be changed.",
    "process": "The process's name: pick it from the list (or type its barcode). To change a "
               "line's process, pick another name. Required for a new line unless process_id "
               "is given.",
}
_ID_HELP = {
    "product_id": "The product's id (uuid), optional: it tells apart products that share a "
                  "name. Leave it as it is when you change the name.",
    "process_id": "The process's id (uuid), optional: it tells apart processes that share a "
                  "name. Change the name or the id (the one you change wins), or both to "
                  "the same process.",
}


def _field_column(f: schema.Field) -> Column:
    if f.name in _ID_HELP:
        return Column(f.name, _ID_HELP[f.name], f.name, f.kind, nullable=f.nullable)
    return Column(f.name, f.help, f.name, f.kind, f.required_on_create, nullable=f.nullable)


def _name_column(reference: schema.Reference, key: str) -> Column:
    return Column(reference.name, _NAME_HELP[reference.name], key, schema.Kind.REFERENCE,
                  required=True, nullable=False, choices=reference.name)


def _context_column(header_of: str, key: str, help_text: str) -> Column:
    return Column(header_of + _READ_ONLY_SUFFIX, help_text + _READ_ONLY_HELP, key,
                  read_only=True)


#: The row-dict key of each reference's name: the product's name is put into each exported
#: row, the process's is the line's own ``process``.
_NAME_KEYS = {"product": ROW_PRODUCT_NAME, "process": schema.PROCESS.name}


def sheet_columns() -> list[Column]:
    """The columns a planner fills in (the template): ``id``, each name before its id, and
    the other writable fields."""
    out = [_field_column(schema.ID)]
    for f in schema.WRITABLE:
        reference = schema.REFERENCE_FOR.get(f.name)
        if reference is not None:
            out.append(_name_column(reference, _NAME_KEYS[reference.name]))
        out.append(_field_column(f))
    return out


def export_columns() -> list[Column]:
    """An export's columns: the sheet's, ``edited`` (read by the tool, never sent) and the
    read-only context.  No context header is a field header (``field_for_header`` -> None)."""
    edited_by, edited = schema.EDITED_BY, schema.EDITED
    return [
        *sheet_columns(),
        Column(edited.name, edited.help + " Never sent.", edited.name, edited.kind,
               read_only=True),
        _context_column(edited_by.name, edited_by.name, "Who last changed the line."),
    ]




@dataclass
class Exported:
    """What ``export`` (or ``template``) wrote."""

    path: Path
    lines: int
    fmt: str
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"command": "export", "file": str(self.path), "format": self.fmt,
                "lines": self.lines, "warnings": self.warnings}


@dataclass(frozen=True)
class NameLists:
    """The tenant's product and process names, distinct and sorted: the dropdowns' values."""

    products: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)

    def of(self, reference: str) -> list[str]:
        return self.products if reference == "product" else self.processes


async def name_lists(client: FlowtracClient, warnings: list[str]
                     ) -> tuple[dict[str, str], NameLists]:
    """product_id -> name, and the tenant's names, from the whole product and process lists
    (the dropdowns offer every product, not only the exported ones).  A list this login may
    not read gives a warning and no names: the lines are still exported, by id."""
    products = await _catalog(client.list_products, "product", warnings)
    processes = await _catalog(client.list_processes, "process", warnings)
    by_id = {r[schema.PRODUCT_ID.name]: str(r.get(PRODUCT_NAME_KEY) or "")
             for r in products if r.get(schema.PRODUCT_ID.name)}
    return by_id, NameLists(_distinct(r.get(PRODUCT_NAME_KEY) for r in products),
                            _distinct(r.get(schema.PROCESS.name) for r in processes))


async def _catalog(read: Callable[[], Awaitable[list[dict[str, Any]]]], noun: str,
                   warnings: list[str]) -> list[dict[str, Any]]:
    try:
        return list(await read())
    except ServerError as exc:
        if exc.status not in (401, 403, 404):
            raise
        warnings.append(f"cannot read the {noun} list ({exc}): the {noun} names are blank "
                        f"where the lines do not give them, and the {noun} column has no "
                        f"dropdown")
        return []


def _distinct(names: Iterable[Any]) -> list[str]:
    texts = {str(n).strip() for n in names if n is not None}
    return sorted(texts - {""}, key=lambda t: (t.casefold(), t))

# --------------------------------------------------------------------------- template


def write_template(out_path: str | Path, lists: NameLists | None = None) -> Path:
    """An empty sheet for new lines: headers, dropdowns, validation and instructions; with
    ``lists``, the name columns get dropdowns of those names (see ``template``)."""
    target = _template_target(out_path)
    write_data_workbook(target, sheet_columns(), iter(()), 0, "template", lists)
    return target


async def template(connection: Connection, out_path: str | Path) -> Exported:
    """``write_template`` with the tenant's product and process names in the dropdowns."""
    target = _template_target(out_path)
    warnings: list[str] = []
    async with FlowtracClient(connection) as client:
        await client.login()
        _names, lists = await name_lists(client, warnings)
    write_data_workbook(target, sheet_columns(), iter(()), 0, "template", lists)
    return Exported(target, 0, "xlsx", warnings)


def _template_target(out_path: str | Path) -> Path:
    target = Path(out_path)
    if target.suffix.lower() != ".xlsx":
        raise UsageError(f"the template is an .xlsx workbook; name it *.xlsx, not {target.name}.")
    check_target_folder(target, "template")
    return target


# --------------------------------------------------------------------------- instructions


def instructions_rows(columns: Sequence[Column]) -> list[tuple[list[str], int]]:
    """The Instructions sheet: (cells, style) rows, generated from the schema."""
    rows: list[tuple[list[str], int]] = [
        (["How to fill in the Lines sheet"], _TITLE),
        ([], 0),
        (["One row per product-process line. Leave id blank for a new line; keep it to change "
          "an existing one. Check the sheet with: flowtrac-sync plan FILE, then send it with: "
          "flowtrac-sync apply FILE. Columns the tool does not know are kept in the report "
          "and never sent; a column you remove is left alone on the server."], _WRAP),
        ([], 0),
        (["Yellow headers are required for a new line; grey columns are read-only. Point at "
          "a header to see what it means; the cells of line_number, active and the minutes "
          "only take allowed values."], _WRAP),
        ([], 0),
        (["Products and processes are edited by name: pick one from the list (the Lists "
          "sheet, where the file has one). The ids beside the names are optional; in an "
          "export they tell apart products that share a name. Change the name or the id, "
          "not both: the one you change wins."], _WRAP),
        ([], 0),
        (["Column", "Required", "What it means", "Allowed values"], _TABLE_HEAD),
    ]
    for column in columns:
        rows.append(([column.header, _required_text(column), column.help,
                      _allowed_text(column)], _WRAP))
    rows += [
        ([], 0),
        (["Headers may be written in any case, with spaces, _, - or . (\"Line Number\"); "
          "the header row may sit below a title. Only --mode mirror deletes lines: those of "
          "the sheet's products that the sheet lacks."], _WRAP),
    ]
    return rows


def _required_text(column: Column) -> str:
    if column.read_only:
        return "read-only"
    if column.choices is not None:
        return f"yes, for a new line (or {column.choices}_id)"
    if column.required:
        return "yes, for a new line"
    if column.key == schema.ID.name:
        return "no: blank for a new line"
    return "no"


def _allowed_text(column: Column) -> str:
    kind = column.kind
    if column.read_only:
        return "set by Flowtrac; do not edit"
    blank = "; blank clears it" if column.nullable else ""
    if kind is schema.Kind.UUID:
        return "a uuid (any case, braces allowed)"
    if kind is schema.Kind.LINE_NUMBER:
        return "a whole number from 1"
    if kind is schema.Kind.MINUTES:
        return f"a number >= 0, decimals allowed{blank}"
    if kind is schema.Kind.STATUS:
        return " or ".join(schema.STATUS_VALUES) + " (any case)"
    if kind is schema.Kind.TEXT:
        return f"text, up to {schema.MAX_TEXT} characters{blank}"
    if kind is schema.Kind.REFERENCE:
        return f"a {column.choices} name (from the list) or barcode"
    return "a date and time"


# --------------------------------------------------------------------------- xlsx writing

_HEADER_FILL, _REQUIRED_FILL, _READ_ONLY_HEAD_FILL, _READ_ONLY_FILL = (
    "DDEBF7", "FFE699", "BFBFBF", "EDEDED")
_GREY_TEXT = "595959"

#: The cell styles of every workbook written here, made once: the ``s`` of each cell is one
#: of these indexes into the book's ``cellXfs``, and nothing derives a style from it later.
_BOOK = StyleBook()
_PLAIN = 0
_HEAD = _BOOK.derive(fill=_HEADER_FILL, font=_BOOK.bold_font())
_HEAD_REQUIRED = _BOOK.derive(fill=_REQUIRED_FILL, font=_BOOK.bold_font())
_HEAD_READ_ONLY = _BOOK.derive(fill=_READ_ONLY_HEAD_FILL, font=_BOOK.bold_font())
_QUOTED = _BOOK.derive(quote=True)
_READ_ONLY = _BOOK.derive(fill=_READ_ONLY_FILL, font=_BOOK.font(colour=_GREY_TEXT))
_READ_ONLY_QUOTED = _BOOK.derive(_READ_ONLY, quote=True)
_WRAP = _BOOK.derive(wrap=True)
_TABLE_HEAD = _HEAD
_TITLE = _BOOK.derive(font=_BOOK.bold_font(14))

_PLAIN_CELLS = RowStyles(_PLAIN, _QUOTED, _PLAIN, _PLAIN, _PLAIN)
_READ_ONLY_CELLS = RowStyles(_READ_ONLY, _READ_ONLY_QUOTED, _READ_ONLY, _READ_ONLY, _READ_ONLY)


def write_data_workbook(target: Path, columns: Sequence[Column],
                         rows: Iterator[Sequence[Any]], row_count: int, what: str,
                         lists: NameLists | None = None,
                         base: Iterable[Sequence[Any]] | None = None) -> None:
    """The planner's workbook: the Lines sheet (header notes, dropdowns, frozen header,
    autofilter, greyed read-only columns), the Instructions sheet, with ``lists`` the
    Lists sheet the name dropdowns read, and with ``base`` the hidden, protected base sheet
    (``sync.mergebase``)."""
    last = f"{column_letter(len(columns))}{row_count + 1}"
    notes = [_header_note(c, i) for i, c in enumerate(columns, 1)]
    sources = _list_sources(lists) if lists is not None else {}
    data = NewSheet(DATA_SHEET, _data_sheet_xml(columns, rows, last, sources), notes,
                    f"A1:{last}")
    guide = NewSheet(INSTRUCTIONS_SHEET, _table_sheet_xml(instructions_rows(columns),
                                                          {1: 24.0, 2: 20.0, 3: 70.0, 4: 40.0},
                                                          header_row=None))
    sheets = [data, guide]
    if lists is not None and sources:
        sheets.append(NewSheet(LISTS_SHEET, _lists_sheet_xml(lists)))
    if base is not None:
        sheets.append(NewSheet(mergebase.BASE_SHEET, mergebase.base_sheet_xml(base),
                               state="veryHidden"))
    write_workbook(target, sheets, _BOOK, what)


def _list_sources(lists: NameLists) -> dict[str, str]:
    """Reference name -> the Lists range its dropdown offers (none for an empty list: a list
    validation of nothing would refuse every name typed)."""
    out = {}
    for number, reference in enumerate(schema.REFERENCES, 1):
        count = len(lists.of(reference.name))
        if count:
            letter = column_letter(number)
            out[reference.name] = f"{LISTS_SHEET}!${letter}$2:${letter}${count + 1}"
    return out


def _lists_sheet_xml(lists: NameLists) -> Iterator[str | bytes]:
    """One column of names per reference, under a header: every text safe as a formula."""
    columns = [lists.of(r.name) for r in schema.REFERENCES]
    height = max(map(len, columns), default=0)
    rows: list[tuple[Sequence[Any], int]] = [([r.name for r in schema.REFERENCES], _TABLE_HEAD)]
    rows += [([c[i] if i < len(c) else None for c in columns], _PLAIN) for i in range(height)]
    return _table_sheet_xml(rows, {i: 40.0 for i in range(1, len(columns) + 1)}, header_row=1)


def _header_note(column: Column, index: int) -> Note:
    return Note(1, index, NOTE_AUTHOR, note(1, index, column.help).body_xml)


def _data_sheet_xml(columns: Sequence[Column], rows: Iterator[Sequence[Any]],
                    last: str, sources: Mapping[str, str]) -> Iterator[str | bytes]:
    letters = [column_letter(i) for i in range(1, len(columns) + 1)]
    return worksheet_chunks(row_chunks(_data_rows(columns, letters, rows)),
                            widths={i: c.width for i, c in enumerate(columns, 1)},
                            frozen_rows=1, selected=True, dimension=f"A1:{last}",
                            filter_ref=f"A1:{last}",
                            after_data=_validations_xml(columns, letters, sources),
                            notes=[_header_note(c, i) for i, c in enumerate(columns, 1)])


def _data_rows(columns: Sequence[Column], letters: Sequence[str],
               rows: Iterator[Sequence[Any]]) -> Iterator[str]:
    """The header row, then one row a line."""
    heads = "".join(text_cell(f"{letter}1", c.header, _header_style(c))
                    for letter, c in zip(letters, columns, strict=True))
    yield f'<row r="1">{heads}</row>'
    styles = [_READ_ONLY_CELLS if c.read_only else _PLAIN_CELLS for c in columns]
    order = list(zip(letters, styles, strict=True))
    for number, values in enumerate(rows, 2):
        r = str(number)
        cells = [value_cell(letter + r, _cell_value(value), style)
                 for (letter, style), value in zip(order, values, strict=True)]
        yield f'<row r="{r}">{"".join(cells)}</row>'


def _header_style(column: Column) -> int:
    if column.read_only:
        return _HEAD_READ_ONLY
    return _HEAD_REQUIRED if column.required else _HEAD


def _cell_value(value: Any) -> Any:
    """A canonical value as a cell holds it: numbers stay numbers, everything else text
    (timestamps too, so ``edited`` reads back exactly as the server sent it)."""
    if value is None or isinstance(value, (int, Decimal, str)) and not isinstance(value, bool):
        return value
    return str(value)


def _validations_xml(columns: Sequence[Column], letters: Sequence[str],
                     sources: Mapping[str, str]) -> str:
    """Dropdown for the status, whole numbers >= 1 for the line, decimals >= 0 for minutes,
    and dropdowns of the tenant's names (``sources``) for the name columns."""
    rules = []
    for letter, column in zip(letters, columns, strict=True):
        if column.read_only:
            continue
        rule = _RULES.get(column.kind)
        style = ""
        if column.choices is not None and column.choices in sources:
            # A warning, not a stop: a barcode, or a product made after the export, may
            # still be typed.
            rule = ("list", None, sources[column.choices],
                    f"Not a {column.choices} name of the list; keep it only if it is a "
                    f"barcode or a new name Flowtrac knows.")
            style = ' errorStyle="warning"'
        if rule is None:
            continue
        kind, operator, formula, error = rule
        op = f' operator="{operator}"' if operator else ""
        prompt = escape_attr(column.help[:255])
        rules.append(
            f'<dataValidation type="{kind}"{op}{style} allowBlank="1" showInputMessage="1" '
            f'showErrorMessage="1" errorTitle="{escape_attr(column.header[:32])}" '
            f'error="{escape_attr(error)}" promptTitle="{escape_attr(column.header[:32])}" '
            f'prompt="{prompt}" sqref="{letter}2:{letter}{LAST_ROW}">'
            f"<formula1>{escape_text(formula)}</formula1></dataValidation>")
    if not rules:
        return ""
    return f'<dataValidations count="{len(rules)}">{"".join(rules)}</dataValidations>'


_RULES: dict[schema.Kind, tuple[str, str | None, str, str]] = {
    schema.Kind.STATUS: ("list", None, '"' + ",".join(schema.STATUS_VALUES) + '"',
                         "Choose " + " or ".join(schema.STATUS_VALUES) + "."),
    schema.Kind.LINE_NUMBER: ("whole", "greaterThanOrEqual", "1",
                              "The line number is a whole number from 1."),
    schema.Kind.MINUTES: ("decimal", "greaterThanOrEqual", "0",
                          "Minutes are a number >= 0."),
}


def _table_sheet_xml(rows: Sequence[tuple[Sequence[Any], int]], widths: Mapping[int, float],
                     *, header_row: int | None, filter_ref: str | None = None
                     ) -> Iterator[str | bytes]:
    """A small sheet of (cells, style) rows; every text cell safe from formula evaluation."""
    return worksheet_chunks(row_chunks(_table_rows(rows)), widths=widths, frozen_rows=header_row,
                            filter_ref=filter_ref)


def _table_rows(rows: Sequence[tuple[Sequence[Any], int]]) -> Iterator[str]:
    for number, (cells, style) in enumerate(rows, 1):
        styles = RowStyles(style, _QUOTED if style == _PLAIN else style, style, style, style)
        r = str(number)
        xml = "".join(value_cell(f"{column_letter(i)}{r}", _cell_value(v), styles)
                      for i, v in enumerate(cells, 1))
        yield f'<row r="{r}">{xml}</row>'


def write_table_workbook(target: str | Path, sheets: Sequence[tuple[str, Sequence[str],
                                                                    Iterable[Sequence[Any]]]],
                         what: str = "workbook", *,
                         excel_max_rows: int = EXCEL_MAX_ROWS) -> Path:
    """A plain workbook of tables: (sheet name, headers, rows) each; bold frozen header,
    autofilter, text safe from formula evaluation.  A table longer than an Excel sheet holds
    goes on over sheets "name (2)", "name (3)"..., each with the header, so that Excel never
    cuts it.  Written atomically; ``what`` names the file in error messages."""
    parts = []
    for name, headers, rows in _fitting_sheets(sheets, excel_max_rows - 1):
        table = [(list(headers), _TABLE_HEAD), *((list(r), _PLAIN) for r in rows)]
        widths = {i: float(min(max([len(str(t[0][i - 1])) if len(t[0]) >= i else 0
                                    for t in table[:500]] + [8]) + 2, 60))
                  for i in range(1, len(headers) + 1)}
        last = f"{column_letter(max(len(headers), 1))}{len(table)}"
        parts.append(NewSheet(name, _table_sheet_xml(table, widths, header_row=1,
                                                     filter_ref=f"A1:{last}"),
                              filter_ref=f"A1:{last}"))
    return write_workbook(target, parts, _BOOK, what)


def _fitting_sheets(sheets: Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]],
                    per_sheet: int) -> Iterator[tuple[str, Sequence[str], list[Sequence[Any]]]]:
    """Each table cut into sheets of at most ``per_sheet`` rows below its header."""
    for name, headers, rows in sheets:
        rows = list(rows)
        for part, start in enumerate(range(0, max(len(rows), 1), per_sheet), 1):
            # Excel's sheet names hold 31 characters: the part number must stay visible.
            suffix = f" ({part})" if part > 1 else ""
            yield name[:31 - len(suffix)] + suffix, headers, rows[start:start + per_sheet]
