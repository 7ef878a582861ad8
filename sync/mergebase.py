"""The base of a three-way merge: the server's lines as an export saw them.

An ``.xlsx`` export carries a hidden, protected ``_base`` sheet: the server it came from and,
for every exported line, its id, every writable field and its ``edited``/``edited_by`` stamps,
all as text (so each value reads back exactly).  A report keeps the planner's workbook, so it
carries the base forward unchanged.

Planning a sheet with a base decides per cell (``merge_cells``) instead of per row: only a
cell that both the planner and someone on the server changed, to different values, is a
conflict.  A base that does not belong to the sheet (none of its ids in the sheet, or exported
from another server) is ignored with a warning, and the ``edited`` rule of ``sync.diff`` stands.

The base is read when the plan first needs it (``PendingBase``): only a row that differs
from its server line needs it, so the plan of an unchanged export never reads the second
sheet as large as the planner's, and says nothing of a base that had no say.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import python_calamine

from . import schema
from .errors import InputError
from .history import timestamp
from .load.guards import check_xlsx_sheet
from .load.header import brief
from .model import CellError, LoadedSheet, Outcome, PlanItem, Status
from .report.cells import column_letter, text_cell
from .report.parts import WORKSHEET_OPEN

__all__ = ["BASE_SHEET", "Base", "Cell", "CellMerge", "PendingBase", "base_rows",
           "base_sheet_xml", "belonging_base", "conflict_cells", "decide_cell", "merge_cells",
           "read_base", "refreshed"]

#: The hidden sheet's name: a leading ``_`` keeps it out of the way in the sheet list.
BASE_SHEET = "_base"
#: The first cell of the sheet: tells a base this tool wrote from a sheet someone named so.
FORMAT = "flowtrac-sync base 1"
#: What the base holds of each line.
FIELDS: tuple[schema.Field, ...] = (schema.ID, *schema.WRITABLE, schema.EDITED,
                                    schema.EDITED_BY)
#: Header prefix of the line columns: no header of the base is a field header, so the loader
#: never takes the base for the planner's sheet.
_PREFIX = "base:"
#: Rows above the line header: format, server, export time.
_HEAD_ROWS = 3


@dataclass(frozen=True)
class Base:
    """The server's lines at export time, by id (canonical values)."""

    base_url: str
    exported: str
    lines: Mapping[str, dict[str, Any]]


def _same_server(a: str, b: str) -> bool:
    return a.strip().rstrip("/").casefold() == b.strip().rstrip("/").casefold()


# --------------------------------------------------------------------------- writing


def base_rows(base_url: str, lines: Iterable[Mapping[str, Any]],
              exported: str | None = None) -> Iterator[list[str | None]]:
    """The ``_base`` sheet's cells, row by row: every value as the text the server sends."""
    yield [FORMAT, "Written by flowtrac-sync export: do not edit."]
    yield ["server", base_url]
    yield ["exported", exported or timestamp()]
    yield [_PREFIX + f.name for f in FIELDS]
    for line in lines:
        yield [f.to_wire(line.get(f.name)) for f in FIELDS]


#: Rows of the ``_base`` sheet made into one piece of XML: a million-line base is never held
#: whole.
_XML_BLOCK_ROWS = 4096


def base_sheet_xml(rows: Iterable[Sequence[str | None]]) -> Iterator[str]:
    """The ``_base`` worksheet, a block of rows at a time: text cells in the default style
    (whatever the workbook's styles are, so a report can put it back in the planner's
    workbook), protected without a password: the protection guards against a slip, the
    hiding does the rest."""
    yield WORKSHEET_OPEN + "<sheetData>"
    numbered = enumerate(rows, 1)
    while block := list(itertools.islice(numbered, _XML_BLOCK_ROWS)):
        yield "".join(_base_row(number, cells) for number, cells in block)
    yield ('</sheetData><sheetProtection sheet="1" objects="1" scenarios="1"/>'
           "</worksheet>")


def _base_row(number: int, cells: Sequence[str | None]) -> str:
    r = str(number)
    xml = "".join(text_cell(f"{column_letter(i)}{r}", text, 0)
                  for i, text in enumerate(cells, 1) if text is not None)
    return f'<row r="{r}">{xml}</row>'


def refreshed(base: Base, items: Iterable[PlanItem],
              outcomes: Mapping[PlanItem, Outcome]) -> Base:
    """The base a report of an apply carries: the old one, with the cells the run wrote set
    to what it wrote (the sheet and the server then agree on them) and the lines it created
    added.  Cells it kept stay as they were, as the sheet still shows them: were they taken
    from the server, the next plan would take the sheet's old value for an edit and send it
    back."""
    lines = dict(base.lines)   # a line the run did not write is shared with the old base
    for item in items:
        outcome = outcomes.get(item)
        if outcome is None or not outcome.record_id:
            continue
        if outcome.status is Status.UPDATED and item.record is not None:
            old = lines.get(outcome.record_id)
            line = dict(old) if old is not None else {f.name: item.record.get(f.name)
                                                      for f in FIELDS}
            line.update({name: after for name, (_before, after) in item.changes.items()})
            lines[outcome.record_id] = line
        elif outcome.status is Status.CREATED:
            lines[outcome.record_id] = {**{f.name: item.values.get(f.name) for f in FIELDS},
                                        schema.ID.name: outcome.record_id}
        elif outcome.status is Status.DELETED:
            lines.pop(outcome.record_id, None)
    return Base(base.base_url, base.exported, lines)


# --------------------------------------------------------------------------- reading


def read_base(path: str | Path, file_format: str, warnings: list[str]) -> Base | None:
    """The base a workbook carries, or None (none, or unreadable: then a warning says so)."""
    if file_format != "xlsx":
        return None
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            if BASE_SHEET not in book.sheet_names:
                return None
            # The loader's guards checked the planner's sheet only: a crafted base must not
            # reach the reader past them.
            check_xlsx_sheet(Path(path), brief(Path(path).name, 80), BASE_SHEET,
                             book.sheet_names.index(BASE_SHEET))
            rows = book.get_sheet_by_name(BASE_SHEET).to_python()
    except InputError:
        raise
    except Exception:  # the sheet was read once already; a base it cannot read is no base
        warnings.append(f"the {BASE_SHEET} sheet cannot be read: lines edited on the server "
                        f"since the export are conflicts, as without a base")
        return None
    if len(rows) <= _HEAD_ROWS or not rows[0] or rows[0][0] != FORMAT:
        warnings.append(f"the {BASE_SHEET} sheet is not a base flowtrac-sync wrote: it is "
                        f"ignored")
        return None
    header = [str(h).removeprefix(_PREFIX) for h in rows[_HEAD_ROWS]]
    known = {f.name for f in FIELDS}
    fields = [(i, h) for i, h in enumerate(header) if h in known]
    # The sheet's columns, each cell as the wire's text (one conversion per distinct cell).
    columns = list(itertools.zip_longest(*rows[_HEAD_ROWS + 1:], fillvalue=None))
    blank: list[str | None] = [None] * (len(rows) - _HEAD_ROWS - 1)
    texts = {name: _texts(columns[i]) if i < len(columns) else blank for i, name in fields}
    return Base(str(rows[1][1]) if len(rows[1]) > 1 else "",
                str(rows[2][1]) if len(rows[2]) > 1 else "", BaseLines(texts))


class BaseLines(Mapping[str, dict[str, Any]]):
    """The base's lines by id, held as the sheet's columns of wire text.

    A line becomes a canonical record (``schema.record_from_wire``, as a server's answer
    does) only when the diff asks for it: most lines of a large export are unchanged, and
    the diff never looks up their base."""

    def __init__(self, texts: dict[str, list[str | None]]) -> None:
        self._texts = texts
        ids = texts.get(schema.ID.name, [])
        given = set(ids) - {None}
        if not schema.ID.all_canonical(given):
            ids = [None if i is None else schema.ID.from_wire(i) for i in ids]
        self._at = {ident: at for at, ident in enumerate(ids) if ident}
        self._made: dict[str, dict[str, Any]] = {}

    def __getitem__(self, key: str) -> dict[str, Any]:
        line = self._made.get(key)
        if line is None:
            at = self._at[key]
            line = schema.record_from_wire({name: column[at]
                                            for name, column in self._texts.items()})
            self._made[key] = line
        return line

    def __contains__(self, key: object) -> bool:
        return key in self._at

    def __iter__(self) -> Iterator[str]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)


def _texts(cells: Sequence[Any]) -> list[str | None]:
    table = schema.distinct_table(cells, _text)
    return list(map(_text, cells)) if table is None else list(map(table.__getitem__, cells))


def _text(cell: Any) -> str | None:
    # Written as text; a program that saved the workbook again may have made numbers of it.
    if cell is None or cell == "":
        return None
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)


def belonging_base(base: Base | None, base_url: str, sheet_ids: Iterable[Any],
                   warnings: list[str]) -> Base | None:
    """``base`` if it belongs to this sheet and this server, else None with a warning: a
    base merged against the wrong lines would keep or send the wrong values."""
    if base is None:
        return None
    if not _same_server(base.base_url, base_url):
        source = base.base_url or "an unknown server"
        warnings.append(f"the sheet's base was exported from {source}, not {base_url}: it "
                        f"is ignored, and lines edited on the server since the export are "
                        f"conflicts")
        return None
    ids = {i for i in sheet_ids if i}
    if ids and ids.isdisjoint(base.lines):
        warnings.append(f"none of the sheet's line ids is in its base ({BASE_SHEET} sheet, "
                        f"copied from another export?): it is ignored, and lines edited on "
                        f"the server since the export are conflicts")
        return None
    return base


class PendingBase:
    """The base of the workbook at ``path``, read (``read_base``) and checked
    (``belonging_base``) the first time ``get`` or ``lines`` is asked for; ``warnings`` holds
    what the reading said, from then on."""

    def __init__(self, path: str | Path, file_format: str, server_url: str,
                 sheet_ids: Iterable[Any]) -> None:
        self._path, self._file_format = path, file_format
        self._server_url, self._sheet_ids = server_url, sheet_ids
        self._base: Base | None = None
        self._read = False
        self.warnings: list[str] = []
        #: The base's lines by id, read on first use (empty when there is no usable base).
        self.lines: Mapping[str, dict[str, Any]] = _PendingLines(self)

    def get(self) -> Base | None:
        if not self._read:
            self._read = True
            found = read_base(self._path, self._file_format, self.warnings)
            self._base = belonging_base(found, self._server_url, self._sheet_ids,
                                        self.warnings)
        return self._base


class _PendingLines(Mapping[str, dict[str, Any]]):
    def __init__(self, pending: PendingBase) -> None:
        self._pending = pending

    def _lines(self) -> Mapping[str, dict[str, Any]]:
        base = self._pending.get()
        return base.lines if base is not None else {}

    def __getitem__(self, line_id: str) -> dict[str, Any]:
        return self._lines()[line_id]

    def __contains__(self, line_id: object) -> bool:
        return line_id in self._lines()

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines())

    def __len__(self) -> int:
        return len(self._lines())


# --------------------------------------------------------------------------- the decision


class Cell(StrEnum):
    """What one cell of a line does, given the sheet, the base and the server."""

    SAME = "same"            # the sheet and the server agree: nothing to do
    SEND = "send"            # only the planner changed it: send the sheet's value
    KEEP = "keep"            # only the server changed it: keep the server's value
    CONFLICT = "conflict"    # both changed it, differently


def decide_cell(sheet: Any, base: Any, server: Any,
                same: Callable[[Any, Any], bool] = operator.eq) -> Cell:
    """The issue's table for one cell (values canonical; ``same`` compares by meaning)."""
    def equal(a: Any, b: Any) -> bool:
        return a == b or same(a, b)

    if equal(sheet, server):
        return Cell.SAME
    if equal(sheet, base):
        return Cell.KEEP
    if equal(server, base):
        return Cell.SEND
    return Cell.CONFLICT


@dataclass
class CellMerge:
    """One line's cells as ``merge_cells`` decided them: field -> (before, after) to send,
    field -> (base, server) kept, field -> (sheet, server) in conflict."""

    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    kept: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    conflicts: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def merge_cells(values: Mapping[str, Any], base_line: Mapping[str, Any],
                record: Mapping[str, Any],
                fields: Sequence[tuple[str, bool, Callable[[Any, Any], bool]]]) -> CellMerge:
    """Decide each managed cell of a row against its base line and the server's record.

    ``fields`` are (name, a blank cell leaves the field as it is, equal by meaning), as
    ``sync.diff`` manages them."""
    out = CellMerge()
    for name, blank_leaves, same in fields:
        after = values.get(name)
        if after is None and blank_leaves:
            continue
        before, base = record.get(name), base_line.get(name)
        cell = decide_cell(after, base, before, same)
        if cell is Cell.SEND:
            out.changes[name] = (before, after)
        elif cell is Cell.KEEP:
            out.kept[name] = (base, before)
        elif cell is Cell.CONFLICT:
            out.conflicts[name] = (after, before)
    return out


def _who(record: Mapping[str, Any]) -> str:
    who, when = record.get(schema.EDITED_BY.name), record.get(schema.EDITED.name)
    parts = [f"by {who}" if who else "", f"at {when}" if when else ""]
    text = " ".join(p for p in parts if p)
    return f" (changed {text})" if text else ""


def conflict_message(merge: CellMerge, record: Mapping[str, Any],
                     names: Mapping[str, str] | None = None) -> str:
    """Each conflicting cell with both values and who changed the server's, and when."""
    cells = "; ".join(f"{name}: the sheet has {schema.display(name, mine, names)}, Flowtrac "
                      f"has {schema.display(name, theirs, names)}"
                      for name, (mine, theirs) in merge.conflicts.items())
    return (f"changed on both sides since the export: {cells}{_who(record)}; type Flowtrac's "
            f"value to keep it, or export again and redo the edit")


def kept_message(merge: CellMerge, record: Mapping[str, Any],
                 names: Mapping[str, str] | None = None) -> str:
    """The cells only the server changed: kept as they are there, never written."""
    if not merge.kept:
        return ""
    cells = "; ".join(f"{name}: {schema.display(name, server, names)}"
                      for name, (_base, server) in merge.kept.items())
    return f"kept Flowtrac's value, changed there since the export{_who(record)}: {cells}"


def edited_since(values: Mapping[str, Any], base_line: Mapping[str, Any],
                 fields: Sequence[tuple[str, bool, Callable[[Any, Any], bool]]]) -> list[str]:
    """The managed cells the planner changed from the base (for a line deleted on the server
    since: a conflict if any, else the line is simply gone)."""
    changed = []
    for name, blank_leaves, same in fields:
        after = values.get(name)
        if after is None and blank_leaves:
            continue
        base = base_line.get(name)
        if not (after == base or same(after, base)):
            changed.append(name)
    return changed


def conflict_cells(item: PlanItem, sheet: LoadedSheet) -> list[CellError]:
    """A mark on each cell of the row in conflict, so the report points at that cell only
    (both values in its comment)."""
    if not item.conflicts or item.row is None:
        return []
    out = []
    for name, (mine, theirs) in item.conflicts.items():
        letter = sheet.letter_of(name)
        if letter is not None:
            out.append(CellError(item.row.row_number, sheet.header_of(name), letter,
                                 f"conflict: the sheet has {schema.display(name, mine)}, "
                                 f"Flowtrac has {schema.display(name, theirs)}"
                                 f"{_who(item.record or {})}"))
    return out
