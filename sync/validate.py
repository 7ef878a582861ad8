"""Check every cell of a loaded sheet against the field schema.

Each known column is parsed with its field's rules (``schema.Field.parse``); a cell that does
not fit becomes a ``CellError`` with the sheet's row number and the column's letter
(``C7: line_number must be a positive whole number, got "1.5"``), several per row if several
cells are wrong.  A row needs ``product_id``, ``process_id`` and ``line_number`` (the schema's
required fields) only when it has no ``id``: a row with an id is an update of that line.  A
reference column (``product``, ``process``: a name or barcode) may stand in for its id column;
here it is only checked to be readable text, and ``sync.references`` resolves it later.
Two rows naming the same line (same id, or the same match key for rows without id) are both
invalid.  Nothing here raises for a bad cell; only a bad ``--key`` is a usage error.

Speed: columns are parsed as whole lists, each distinct cell value once (product ids, line
numbers, active flags and minutes repeat a lot), so 100,000 rows take a fraction of a second.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from sync import schema
from sync.errors import InvalidValueError, UsageError
from sync.model import CellError, LoadedSheet, ValidatedSheet

#: What Excel and LibreOffice show in a cell whose formula failed.  python-calamine reports
#: such cells as blank, so the loader puts the error text back; CSV files carry it as text.
SPREADSHEET_ERRORS = frozenset({
    "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA",
    "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!",
    "#EXTERNAL!", "#PYTHON!",
})
_LIBREOFFICE_ERROR = re.compile(r"Err:\d{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: How many other row numbers a duplicate message names before "and N more".
_SHOWN_ROWS = 5


class _Bad:
    """A cell that did not parse; carries the planner's sentence."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


def validate(sheet: LoadedSheet, *, key: Sequence[str] | None = None) -> ValidatedSheet:
    """Parse and check every row; bad cells become row errors, never exceptions.

    ``key`` (header spellings allowed) is the match key for rows without an id; default
    ``schema.DEFAULT_KEY``.  A key naming an unknown column, or one the sheet lacks, raises
    ``UsageError``."""
    key_names = match_key(sheet, key)
    # Known columns in sheet order, so a row's errors read left to right.
    ordered = sorted(sheet.fields.items(), key=lambda item: item[1])
    names = [name for name, _ in ordered]
    letters = [sheet.letters[position] for _, position in ordered]
    headers = [sheet.headers[position] for _, position in ordered]
    columns: list[list[Any]] = []
    bad_columns: list[int] = []
    for i, (name, position) in enumerate(ordered):
        values, has_bad = parse_column(schema.SHEET_BY_NAME[name],
                                       sheet.cells(position),
                                       decimal_comma=sheet.decimal_comma)
        fallback = sheet.fallbacks.get(name)
        if fallback is not None:  # fill blank cells from the second column (e.g. sync_id)
            spare, spare_bad = parse_column(schema.SHEET_BY_NAME[name],
                                            sheet.cells(fallback),
                                            decimal_comma=sheet.decimal_comma)
            values = [s if v is None else v for v, s in zip(values, spare, strict=True)]
            has_bad = has_bad or spare_bad
        columns.append(values)
        if has_bad:
            bad_columns.append(i)

    id_at = names.index(schema.ID.name) if schema.ID.name in names else None
    # Per required field, the columns that can give it (its own, a reference standing in).
    required_at = [group for group in (
        tuple(names.index(c) for c in schema.column_choices(f.name) if c in names)
        for f in schema.REQUIRED) if group]
    row_numbers = sheet.row_numbers
    positions: list[int] = list(range(len(row_numbers)))
    if bad_columns or id_at is None or None in columns[id_at]:
        # A row with nothing in any known column (a note beside the table, a blank line) is
        # no row: whole columns are tested at once, and only the rows kept are copied.
        filled = np.zeros(len(positions), dtype=bool)
        for values in columns:
            filled |= _objects(values) != None  # noqa: E711 (elementwise, not identity)
        if not filled.all():
            positions = np.flatnonzero(filled).tolist()
            columns = [[values[p] for p in positions] for values in columns]
            row_numbers = [row_numbers[p] for p in positions]

    # Errors are made only for the cells that fail: the rows with a bad cell, and those
    # without id that lack a required field.
    problems: dict[int, list[CellError]] = {}
    for i in bad_columns:
        values = columns[i]
        for at in [at for at, v in enumerate(values) if v.__class__ is _Bad]:
            problems.setdefault(at, []).append(
                CellError(row_numbers[at], headers[i], letters[i], values[at].message))
    new_lines = (range(len(positions)) if id_at is None
                 else [at for at, v in enumerate(columns[id_at]) if v is None])
    for group in required_at:
        either = " or ".join(names[g] for g in group)
        i = group[0]
        for at in new_lines:
            if all(columns[g][at] is None for g in group):
                problems.setdefault(at, []).append(CellError(
                    row_numbers[at], headers[i], letters[i],
                    f"{either} is required for a new line"))
    if id_at is None or bad_columns:
        for at in new_lines:
            errors = problems.get(at)
            if errors is not None and len(errors) > 1:
                errors.sort(key=_left_to_right)

    _mark_duplicates(problems, row_numbers, sheet, names, columns, key_names)
    # A cell that did not parse has no value: the row keeps its error, the column a blank.
    absent: dict[int, list[str]] = {}
    for i in bad_columns:
        values = columns[i]
        for at in [at for at, v in enumerate(values) if v.__class__ is _Bad]:
            values[at] = None
            absent.setdefault(at, []).append(names[i])
    return ValidatedSheet(sheet, None, frozenset(sheet.fields), key_names,
                          columns=dict(zip(names, columns, strict=True)), positions=positions,
                          row_numbers=row_numbers, problems=problems, absent=absent)


def _objects(values: list[Any]) -> np.ndarray:
    """A list as a one-dimensional numpy array of its objects (a value is never unpacked)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _left_to_right(error: CellError) -> tuple[int, str]:
    letter = error.letter or ""
    return (len(letter) if letter else 99, letter)


def parse_column(field: schema.Field, cells: list[Any], *,
                 decimal_comma: bool = False) -> tuple[list[Any], bool]:
    """Parse a column's cells: canonical values, or ``_Bad`` markers; and whether any is bad.

    Each distinct cell value is parsed once (``schema.distinct_table``)."""
    def parse(cell: Any) -> Any:
        return parse_cell(field, cell, decimal_comma)

    convert = parse
    if field.kind in (schema.Kind.UUID, schema.Kind.TIMESTAMP):
        # Ids and timestamps mostly arrive canonical already (as exported): equal to what
        # Field.parse would return, so only the others go through it.
        as_is = _canonical_column(field, cells, parse)
        if as_is is not None:
            return as_is
        canonical = field.is_canonical

        def convert(cell: Any) -> Any:
            return cell if canonical(cell) else parse(cell)

    table = schema.distinct_table(cells, convert)
    if table is None:
        values = list(map(convert, cells))
        return values, any(v.__class__ is _Bad for v in values)
    return (list(map(table.__getitem__, cells)),
            any(v.__class__ is _Bad for v in table.values()))


def _canonical_column(field: schema.Field, cells: list[Any], parse: Callable[[Any], Any]
                      ) -> tuple[list[Any], bool] | None:
    """The cells of a column of canonical ids or timestamps but for blank ones (new lines),
    the most common column of all, taken as they are: ``parse_column``'s answer, or None
    for any other column."""
    try:
        distinct = set(cells)
    except TypeError:
        return None
    blanks = {cell for cell in (None, "") if cell in distinct}
    if not field.all_canonical(distinct - blanks):
        return None
    parsed = {cell: parse(cell) for cell in blanks}
    has_bad = any(v.__class__ is _Bad for v in parsed.values())
    if all(v is cell for cell, v in parsed.items()):
        return list(cells), has_bad        # every cell is its own value
    return [parsed.get(cell, cell) for cell in cells], has_bad


def parse_cell(field: schema.Field, cell: Any, decimal_comma: bool = False) -> Any:
    """One cell -> canonical value (None for blank) or a ``_Bad`` marker; never raises."""
    if cell.__class__ is str:
        text = cell.strip()
        if text in SPREADSHEET_ERRORS or _LIBREOFFICE_ERROR.fullmatch(text):
            return _Bad(f"{field.name} shows the error {text} (a formula that failed): "
                        "fix the formula or type the value")
    try:
        return field.parse(cell, decimal_comma=decimal_comma)
    except InvalidValueError as exc:
        return _Bad(_CONTROL.sub(" ", str(exc)))  # a quoted cell may hold line breaks
    except Exception:  # a value no rule foresaw must still be a row error, not a crash
        return _Bad(f"{field.name} cannot be read, got {_shown(cell)}")


def is_bad(value: Any) -> bool:
    """True for the marker ``parse_cell`` returns for a cell that did not parse."""
    return value.__class__ is _Bad


def _shown(cell: Any) -> str:
    try:
        text = _CONTROL.sub(" ", str(cell).strip())
    except Exception:
        text = type(cell).__name__
    return '"' + (text if len(text) <= 60 else text[:57] + "...") + '"'


def match_key(sheet: LoadedSheet, key: Sequence[str] | None) -> tuple[str, ...]:
    """The match key's field names; UsageError for a key naming an unknown column, or one
    the sheet lacks."""
    if key is None:
        names = schema.DEFAULT_KEY
    else:
        try:
            names = tuple(f.name for f in schema.key_fields(key))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    for name in names:
        if not any(choice in sheet.fields for choice in schema.column_choices(name)):
            raise UsageError(f"--key {name}: the sheet has no {name} column")
    return names


def _mark_duplicates(problems: dict[int, list[CellError]], row_numbers: list[int],
                     sheet: LoadedSheet, names: list[str], columns: list[list[Any]],
                     key_names: tuple[str, ...]) -> None:
    """Every copy of a line named twice (same id, or same key without id) becomes invalid.

    Duplicates are rare: whole columns are counted first (in C), and only values seen more
    than once are looked at row by row."""
    id_name = schema.ID.name

    def mark(copies: list[int], header: str | None, letter: str | None, what: str) -> None:
        numbers = [row_numbers[at] for at in copies]
        for at in copies:
            problems.setdefault(at, []).append(CellError(
                row_numbers[at], header, letter,
                f"the same {what} is also on {other_numbers(row_numbers[at], numbers)}"))

    ids = columns[names.index(id_name)] if id_name in names else None
    if ids is not None:
        letter, header = sheet.letter_of(id_name), sheet.header_of(id_name)
        for ident, count in Counter(ids).items():
            if count < 2 or ident is None or ident.__class__ is _Bad:
                continue
            mark([at for at, v in enumerate(ids) if v == ident], header, letter, "id")

    if ids is not None and None not in ids:
        return  # the match key only matters for rows without an id
    key_columns = [_key_column(name, names, columns) for name in key_names]
    required = {name for name in key_names if not schema.BY_NAME[name].nullable}
    joined = key_label(names, key_names)
    keys = list(zip(*key_columns, strict=True))
    for key, count in Counter(keys).items():
        if count < 2 or any(v.__class__ is _Bad or (v is None and name in required)
                            for name, v in zip(key_names, key, strict=True)):
            continue  # a bad or missing key value is an error of its own already
        copies = [at for at, k in enumerate(keys) if k == key and (ids is None or ids[at] is None)]
        if len(copies) >= 2:
            mark(copies, None, None, joined)


def key_label(columns: Iterable[str], key_names: Sequence[str]) -> str:
    """The match key as a message names it, in the sheet's own columns: ``product_id +
    line_number``, or ``product + line_number`` where a name stands in for the id."""
    have = set(columns)
    return " + ".join(name if name in have or name not in schema.REFERENCE_FOR
                      else schema.REFERENCE_FOR[name].name for name in key_names)


def _key_column(name: str, names: list[str], columns: list[list[Any]]) -> list[Any]:
    """The values of key field ``name``, row by row.

    Where a reference column stands in for the field (a product name in place of its id), a
    row without the id is keyed by the name as written: the same text always resolves to the
    same product, so those copies are duplicates already.  Copies that meet only once names
    are resolved (a name and a barcode of one product) are found by ``sync.references``."""
    reference = schema.REFERENCE_FOR.get(name)
    if reference is None or reference.name not in names:
        return columns[names.index(name)]  # match_key made sure the sheet gives the field
    texts = columns[names.index(reference.name)]
    stand_ins = [text if text is None or text.__class__ is _Bad else (reference.name, text)
                 for text in texts]
    if name not in names:
        return stand_ins
    own = columns[names.index(name)]
    return [given if given is not None else stand_in
            for given, stand_in in zip(own, stand_ins, strict=True)]


def other_numbers(own: int, numbers: list[int]) -> str:
    """The row numbers other than ``own``, as a message names them."""
    numbers = [n for n in numbers if n != own]
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    shown = [str(n) for n in numbers[:_SHOWN_ROWS]]
    if len(numbers) > _SHOWN_ROWS:
        return f"rows {', '.join(shown)} and {len(numbers) - _SHOWN_ROWS} more"
    return f"rows {', '.join(shown[:-1])} and {shown[-1]}"
