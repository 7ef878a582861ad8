"""The data sheet of a kept workbook: read twice as a stream (a scan, then the rewrite),
its rows recoloured and given the four report cells, its head and tail edited in place."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sync import schema
from sync.model import LoadedSheet, ReportRow
from sync.zipdeflate import open_member

from ..errors import NotUtf8Error, UnsupportedWorkbookError
from . import xmlscan
from .cells import (
    RowStyles,
    column_index,
    column_letter,
    escape_attr,
    is_plain_text,
    text_cell,
    value_cell,
)
from .content import (
    REPORT_COLUMNS,
    SYNC_ID,
    cell_messages,
    column_layout,
    header_row_of,
    report_values,
    width_for,
)
from .extra_sheets import row_styles
from .outcomes import MARKED, ReportColumns
from .package import Package, SheetEntry
from .palette import INVALID_CELL, OWN_COLOURS, Shade, shade_of
from .parts import (
    COMMENT_AUTHOR,
    CT_COMMENTS,
    CT_VML,
    DOC_REL_NS,
    MAX_COMMENTS,
    REL_COMMENTS,
    REL_VML,
    Note,
    comments_xml,
    frozen_pane,
    note,
    vml_xml,
)
from .sheetxml import SPANS, RowBlock, blocks_of, decoded_chunks, row_block
from .styles import StyleBook

_WIDTH_SAMPLE = 20_000         # rows looked at to size the report columns

_CELL = re.compile(r"\s*<c\b([^>]*?)(/>|>.*?</c>)", re.S)
_CELL_REF = re.compile(r'\sr="([A-Z]{1,3})(\d+)"')
_STYLE = re.compile(r'\ss="(\d+)"')
_ROW_NUMBER = re.compile(r'\sr="(\d+)"')
_STYLED_CELL = re.compile(r'<c r="[A-Z]{1,3}\d+" s="')
_REF = xmlscan.CELL_RANGE
_REL_THREADED = "threadedComment"
_REL_TABLE = "/table"


@dataclass(slots=True)
class _Mark:
    """What the report writes into one data row."""

    values: tuple[str, str | None, str, str]
    shade: Shade | None
    bad: dict[int, str] | None


class DataSheet:
    """The data sheet: its head and tail edited, its rows streamed with the report added."""

    def __init__(self, pkg: Package, book: StyleBook, sheet: LoadedSheet,
                 rows: Mapping[int, ReportRow], entry: SheetEntry):
        self.pkg = pkg
        self.book = book
        self.entry = entry
        self.sheet = sheet
        self.rows = ReportColumns.of(rows)
        if entry.part in self.pkg.changed:
            raise UnsupportedWorkbookError("the data sheet is also a report sheet")
        self.rels = self.pkg.relationships(entry.part)
        if any(_REL_THREADED in rel_type for _, rel_type, _, _ in self.rels):
            raise UnsupportedWorkbookError("threaded comments")
        self.notes: list[Note] = []
        self.sheet_filter_ref: str | None = None
        self.formulas_replaced = False
        self._scan()

    def _stream(self) -> Iterator[str]:
        """The worksheet part as text, a megabyte at a time (never all in memory)."""
        with open_member(self.pkg.source, self.entry.part) as raw:
            try:
                yield from decoded_chunks(raw)
            except NotUtf8Error as exc:
                raise UnsupportedWorkbookError(str(exc)) from None

    def _blocks(self) -> Iterator[tuple[str, str | RowBlock]]:
        """("head", text) once, then ("rows", block) blocks of whole rows, then ("tail",
        text) once: the worksheet split at ``<sheetData>`` and ``</sheetData>``, read from
        the input file now (a stream: memory stays flat however large the sheet)."""
        try:
            yield from blocks_of(self._stream())
        except ValueError as exc:      # no sheetData, or cut short
            raise UnsupportedWorkbookError(str(exc)) from None

    def _scan(self) -> None:
        """The part's head, and what its rows look like.

        When the head's dimension shows the used range ending within the loaded columns (the
        usual case), only the head is read here: the rows are checked block by block as they
        are rewritten, and the tail is taken on the way (``chunks``), so a large sheet is
        decompressed once, not twice.  Otherwise a first pass over the whole part looks for
        cells right of the data."""
        known = max([column_index(x) for x in self.sheet.letters] or [len(self.sheet.headers)])
        header_row = header_row_of(self.sheet)
        self.beyond = known                # the last column holding a value below the header
        self.regular: bool | None = None   # None: decided block by block in ``chunks``
        self.tail: str | None = None
        blocks = self._blocks()
        _, head = next(blocks)             # blocks_of yields the head first
        text = head if isinstance(head, str) else head.text
        root = re.search(r"<worksheet\b[^>]*>", text)
        if root is None:
            raise UnsupportedWorkbookError("the data sheet is not a plain worksheet")
        self.prolog, self.head = text[: root.end()], text[root.end():]
        dimension = re.search(r'<dimension\b[^>]*\bref="([^"]+)"', self.head)
        ref = _REF.fullmatch(dimension.group(1)) if dimension else None
        if ref and column_index(ref.group(3) or ref.group(1)) <= known:
            return                         # the used range ends within the loaded columns
        beyond = _value_cells_beyond(known)
        if beyond is None:                 # no column right of the loaded ones
            return
        cells = addressed = styled = attributes = 0
        for kind, item in blocks:
            text = item if isinstance(item, str) else item.text
            if kind == "rows":
                _check_rows(text)
                cells += text.count("<c")
                addressed += text.count('<c r="')
                attributes += text.count(' s="')
                styled += len(_STYLED_CELL.findall(text))
                for match in beyond.finditer(text):   # rare: only cells right of the data
                    col = _column(match.group(1))
                    if col > self.beyond and int(match.group(2)) >= header_row:
                        self.beyond = col
            else:
                self._take_tail(text)
        self.regular = cells == addressed and attributes == styled

    def _take_tail(self, text: str) -> None:
        end = text.rfind("</worksheet>")
        if end < 0:
            raise UnsupportedWorkbookError("the data sheet is cut short")
        self.tail, self.ending = text[:end], text[end:]

    # ------------------------------------------------------------------ layout

    def prepare(self) -> None:
        sheet = self.sheet
        earlier_colours = any(self.book.fill_colour(xf) in OWN_COLOURS
                              for xf in range(len(self.book.xfs)))
        layout = column_layout(sheet, lambda known: max(self.beyond, known))
        self.header_row, self.columns, self.first_col = (layout.header_row, layout.columns,
                                                         layout.first_col)
        self.report, self.report_cols = layout.report, layout.report_cols
        self.last_col, self.last_frame_col = layout.last_col, layout.last_frame_col
        self.positions = dict(zip(map(int, sheet.row_numbers), itertools.count()))
        if self.positions and min(self.positions) <= self.header_row:
            raise UnsupportedWorkbookError("row numbers do not follow the header")
        self.last_row = max([self.header_row, *self.positions])
        self.range_ref = (f"{column_letter(self.first_col)}{self.header_row}:"
                          f"{column_letter(self.last_col)}{self.last_row}")
        self.table = self._table()
        self.sheet_filter_ref = None if self.table else self.range_ref
        self._shaded: dict[str | None, tuple[RowStyles, int]] = {}
        self._restyled: dict[tuple[int, str | None, bool], int] = {}
        self.invalid = row_styles(self.book, INVALID_CELL)
        self.header_style: int | None = None
        self._templates: dict[tuple[str | None, ...], str] = {}
        self._report_templates: dict[tuple[str, str | None, bool], str] = {}
        self.report_refs = [column_letter(self.report[name]) for name in REPORT_COLUMNS]
        self.report_letters = self.report_refs
        self.report_letter_set = set(self.report_refs)
        self.report_sequence = sorted(range(len(REPORT_COLUMNS)),
                                      key=lambda i: self.report[REPORT_COLUMNS[i]])
        self.report_in_sheet = bool(self.report_cols & set(self.columns))
        # Rows of a regular sheet whose report columns come after the data take the fast
        # path; anything else takes the slower, general path for every row.
        self.fast_layout = min(self.report_cols) > self.last_frame_col
        # A row that keeps its look (unchanged) needs none of its cells rewritten when no
        # earlier report's colour is there to clear: the report cells are only appended.
        self.appends = self.fast_layout and not self.report_in_sheet and not earlier_colours
        # The block being rewritten, and whether its rows may take _fast_row (None: unknown).
        self._block = RowBlock("", [], [], frozenset())
        self._block_fast: bool | None = self.fast_layout
        self._endings: dict[tuple[str, bool], str] = {}   # see _ending_template
        # Ids the plan took from the server are canonical uuids, plain text all of them: one
        # check in C for the whole sheet rather than one per row.
        self._plain_ids = schema.ID.all_canonical(self.rows.sync_ids())

    def mark(self, number: int) -> _Mark:
        """What the report writes into the data row with this sheet row number."""
        row = self.rows.get(self.positions[number])
        values = report_values(row)
        bad = cell_messages(row, number) if row is not None and row.errors else None
        return _Mark(values, shade_of(values[0]), bad)

    def _table(self) -> tuple[str, str] | None:
        """The Excel table holding the data, grown to take in the report columns."""
        tables = [(rid, target) for rid, rel_type, target, external in self.rels
                  if rel_type.endswith(_REL_TABLE) and not external]
        found = None
        for _, part in tables:
            xml = self.pkg.text(part)
            start = re.search(r"<table\b[^>]*>", xml)
            if start is None:
                raise UnsupportedWorkbookError("unreadable table")
            a = xmlscan.attrs(start.group(0))
            ref = _REF.fullmatch(a.get("ref", ""))
            if ref is None:
                raise UnsupportedWorkbookError("unreadable table range")
            c1, r1 = column_index(ref.group(1)), int(ref.group(2))
            c2, r2 = column_index(ref.group(3) or ref.group(1)), int(ref.group(4) or ref.group(2))
            if (c2 < self.first_col or c1 > self.last_col or r2 < self.header_row
                    or r1 > self.last_row):
                continue
            if found is not None:
                raise UnsupportedWorkbookError("several tables over the data")
            if (r1 != self.header_row or a.get("headerRowCount", "1") == "0"
                    or a.get("totalsRowCount", "0") != "0"):
                raise UnsupportedWorkbookError("a table that does not start at the header row")
            new_cols = list(range(c2 + 1, self.last_col + 1))
            if any(c not in self.report_cols for c in new_cols):
                raise UnsupportedWorkbookError("a table that cannot grow to the report columns")
            found = (part, self._grown_table(xml, start, c1, r1, c2, r2, new_cols))
        if found:
            self.pkg.changed[found[0]] = found[1]
            return found
        return None

    def _grown_table(self, xml: str, start: re.Match[str], c1: int, r1: int, c2: int, r2: int,
                     new_cols: list[int]) -> str:
        c2_new, r2_new = max(c2, self.last_col), max(r2, self.last_row)
        ref = f"{column_letter(c1)}{r1}:{column_letter(c2_new)}{r2_new}"
        head = re.sub(r'\sref="[^"]*"', f' ref="{ref}"', start.group(0), count=1)
        rest = xml[start.end():]
        rest = re.sub(r'(<(?:\w+:)?autoFilter\b[^>]*\sref=")[^"]*(")', rf"\g<1>{ref}\g<2>",
                      rest, count=1)
        if new_cols:
            columns = re.search(r"<(?:\w+:)?tableColumns\b[^>]*>(.*?)</(?:\w+:)?tableColumns>",
                                rest, re.S)
            if columns is None:
                raise UnsupportedWorkbookError("a table without columns")
            ids = [int(i) for i in re.findall(r'<(?:\w+:)?tableColumn\b[^>]*\sid="(\d+)"',
                                              columns.group(1))]
            names = {v: k for k, v in self.report.items()}
            added = "".join(f'<tableColumn id="{max(ids, default=0) + n}" name="{names[c]}"/>'
                            for n, c in enumerate(new_cols, 1))
            count = len(ids) + len(new_cols)
            element = columns.group(0)
            close = element.rfind("</")
            element = re.sub(r'\scount="\d+"', f' count="{count}"', element[:close], count=1) \
                + added + element[close:]
            rest = rest[:columns.start()] + element + rest[columns.end():]
        return xml[:start.start()] + head + rest

    # ------------------------------------------------------------------ styles

    def shaded(self, shade: Shade | None) -> tuple[RowStyles, int]:
        """(styles of the report cells, style of the status cell) for a row's shade."""
        key = shade.name if shade else None
        if key not in self._shaded:
            if shade is None:
                self._shaded[key] = (row_styles(self.book, None), 0)
            else:
                self._shaded[key] = (row_styles(self.book, shade.light),
                                     self.book.derive(0, fill=shade.strong))
        return self._shaded[key]

    def restyle(self, style: int, shade: Shade | None, invalid: bool) -> int:
        """A planner's cell style with the row's colour: their own fills stay, an earlier
        report's are replaced or cleared, an invalid cell is always highlighted."""
        key = (style, shade.light if shade else None, invalid)
        cached = self._restyled.get(key)
        if cached is not None:
            return cached
        if invalid:
            new = self.book.derive(style, fill=INVALID_CELL)
        elif self.book.planner_filled(style):
            new = style
        elif shade is not None and shade.light is not None:
            new = self.book.derive(style, fill=shade.light)
        elif self.book.fill_colour(style) in OWN_COLOURS:
            new = self.book.derive(style, fill=None)
        else:
            new = style
        self._restyled[key] = new
        return new

    # ------------------------------------------------------------------ rows

    def chunks(self) -> Iterator[str]:
        """The new worksheet part, streamed: the input part is read a second time."""
        self._rel_prefix()        # declared up front: the comments' drawing may need it
        yield self.prolog + self._head() + "<sheetData>"
        targets = sorted([self.header_row, *self.positions])
        next_target = 0
        for kind, item in self._blocks():
            if kind == "tail" and self.tail is None:
                self._take_tail(item if isinstance(item, str) else item.text)
            if kind != "rows":
                continue
            if isinstance(item, str):
                block = row_block(item) if self.appends else RowBlock(item, [], [], frozenset())
            else:
                block = item
            if block.source is not None and self.regular is None:
                _check_rows(block.source)      # a cut block has no CDATA
            self._block, self._block_fast = block, None
            appended = self._appended_block(block, targets, next_target)
            if appended is not None:
                rows_xml, next_target = appended
                yield rows_xml
                continue
            text = block.text
            buffer: list[str] = []
            for row_xml in _rows(text):
                start_end = row_xml.find(">")
                number_match = _ROW_NUMBER.search(row_xml, 0, start_end)
                if number_match is None:
                    raise UnsupportedWorkbookError("rows without numbers")
                number = int(number_match.group(1))
                while next_target < len(targets) and targets[next_target] < number:
                    buffer.append(self._row(targets[next_target], None))
                    next_target += 1
                if next_target < len(targets) and targets[next_target] == number:
                    buffer.append(self._row(number, row_xml))
                    next_target += 1
                else:
                    buffer.append(row_xml)
            yield "".join(buffer)
        self._block_fast = self.fast_layout
        yield "".join(self._row(number, None) for number in targets[next_target:])
        yield "</sheetData>" + self._tail() + self.ending

    def _appended_block(self, block: RowBlock, targets: list[int],
                        next_target: int) -> tuple[str, int] | None:
        """The block rewritten from its rows cut in C (``sheetxml.row_block``), for a sheet
        whose unchanged rows keep their look (``appends``): such a row gets its report cells
        appended in one string operation, any other row goes through ``_row``.  Returns the
        new text and the next target; None for a block not cut (rows or cells of an unusual
        shape) or with a cell right of the data, which the caller takes row by row."""
        if not self.appends or block.source is not None or any(
                _column(letters) > self.last_frame_col for letters in block.letters):
            return None
        numbers, parts = block.numbers, block.parts
        values = list(map(int, numbers))
        unmarked = self._unmarked_endings(values)
        out: list[str] = []
        append, ending_of, row = out.append, self._ending, self._row
        count = len(targets)
        for number, part, quick in zip(values, parts[:-1], unmarked, strict=True):
            while next_target < count and targets[next_target] < number:
                append(row(targets[next_target], None))
                next_target += 1
            if next_target < count and targets[next_target] == number:
                next_target += 1
                ending = quick if quick is not None else ending_of(number)
                if ending is not None:
                    append(part)
                    append(ending)
                else:
                    append(row(number, part + "</row>"))
            else:
                append(part)
                append("</row>")
        append(parts[-1])
        return "".join(out), next_target

    def _unmarked_endings(self, numbers: list[int]) -> list[str | None]:
        """``_ending`` of each row the run left unmarked (most rows of a large sheet), from
        its status and id alone; None for every other row, which ``_ending`` looks at."""
        if not self._plain_ids:
            return [None] * len(numbers)
        ids = self.rows.unmarked_ids([self.positions.get(n, -1) for n in numbers])
        status = self.rows.unmarked_status
        return [None if ident is MARKED or number == self.header_row
                else self._filled_ending(number, status, ident or None)
                for number, ident in zip(numbers, ids, strict=True)]

    def _ending(self, number: int) -> str | None:
        """The report cells and ``</row>`` of a data row that keeps its look; None for a
        row that is shaded, has invalid cells, changes or a message, or is the header."""
        if number == self.header_row:
            return None
        row = self.rows.get(self.positions[number])
        if row is None:
            status, ident = "", None
        elif row.errors or row.changes or row.message:
            return None
        else:
            status, ident = row.status or "", row.sync_id or None
            if ident is not None and not self._plain_ids and not _plain_text(ident):
                return None
        return self._filled_ending(number, status, ident)

    def _filled_ending(self, number: int, status: str, ident: Any) -> str | None:
        """The report cells and ``</row>`` of data row ``number`` of this status and id, from
        their template; None for a status whose rows are shaded."""
        template = self._ending_template(status, ident is not None)
        return template.format(r=number, i=ident) if template else None

    def _ending_template(self, status: str, has_id: bool) -> str:
        """The template of ``_ending`` (``_report_template`` and ``</row>``) for rows of this
        status with or without an id; "" for a status whose rows are shaded."""
        key = (status, has_id)
        template = self._endings.get(key)
        if template is None:
            mark = _Mark((status, "i" if has_id else None, "", ""), shade_of(status), None)
            cells = None if mark.shade and mark.shade.light else self._report_template(mark)
            template = self._endings[key] = "" if cells is None else cells + "</row>"
        return template

    def _fast_path(self) -> bool:
        """Whether the rows of the block being rewritten may take ``_fast_row`` (decided on
        the first row that needs it: rows only appended to never do)."""
        if self._block_fast is None:
            self._block_fast = self.fast_layout and (
                self.regular if self.regular is not None else _regular(self._block.text))
        return self._block_fast

    def _row(self, number: int, row_xml: str | None) -> str:
        """One row rewritten: the planner's cells recoloured, the report cells added."""
        if row_xml is None:
            start, content = f'<row r="{number}">', ""
        else:
            head_end = row_xml.find(">")
            if row_xml[head_end - 1] == "/":
                start, content = row_xml[: head_end - 1] + ">", ""
            else:
                start, content = row_xml[: head_end + 1], row_xml[head_end + 1: -len("</row>")]
            if " spans=" in start:
                start = SPANS.sub("", start)
        if number == self.header_row:
            cells = self._cells(number, content)
            self._header_cells(number, cells)
        else:
            appended = self._appended(number, content) if self.appends else None
            if appended is not None:
                return start + appended
            mark = self.mark(number)
            fast = self._fast_row(number, content, mark) if self._fast_path() else None
            if fast is not None:
                return start + fast + "</row>"
            cells = self._cells(number, content)
            self._restyle_cells(cells, mark)
            self._data_cells(number, cells, mark)
        return start + "".join([cells[c] for c in sorted(cells)]) + "</row>"

    def _appended(self, number: int, content: str) -> str | None:
        """A row that keeps its look: its cells as they are, then the report cells and
        ``</row>`` (``_ending``).  None for a row that does not keep its look, or one with a
        cell that may lie right of the data, where the report cells go (the general path
        places each cell in its column)."""
        ending = self._ending(number)
        if ending is None:
            return None
        last = content.rfind('<c r="')
        if last >= 0:
            end = content.find('"', last + 6)
            letters = content[last + 6:end].rstrip("0123456789")
            if (not letters.isalpha() or not letters.isupper()
                    or _column(letters) > self.last_frame_col
                    or _ANY_CELL.search(content, end) is not None):
                return None
        elif "<c" in content:
            return None
        return content + ending

    def _fast_row(self, number: int, content: str, mark: _Mark) -> str | None:
        """The usual row in one regex pass: cells recoloured (and gaps filled) in place, the
        report cells written at the end.  None when the row needs the general path (invalid
        cells, cells outside the table, a formula in a report column)."""
        if mark.bad:
            return None
        r = str(number)
        head, old = content, ""
        if self.report_in_sheet:                    # a report uploaded again: cells to replace
            cut = len(content)
            for letter in self.report_letters:
                at = content.find(f'<c r="{letter}{r}"')
                if 0 <= at < cut:
                    cut = at
            head, old = content[:cut], content[cut:]
        if old and ("<f" in old or not set(_LETTERS.findall(old)) <= self.report_letter_set):
            return None
        kept_id = None
        if mark.values[1] is None and old:
            at = old.find(f'<c r="{self.report_letters[1]}{r}"')
            found = _CELL.match(old, at) if at >= 0 else None
            kept_id = found.group(0).lstrip() if found else None
        report = self._report_template(mark) if kept_id is None else None
        if report is not None:       # the whole row in one format call
            return self._recoloured(head, mark.shade, r, report, mark.values[1])
        body = self._recoloured(head, mark.shade, r)
        if body is None:
            return None
        ours = self._report_cells(number, mark, kept_id)
        return body + "".join([ours[i] for i in self.report_sequence])

    def _report_template(self, mark: _Mark) -> str | None:
        """The report cells of every row like this one (same status and colour, no changes,
        no message, a plain id or none) as one format template: ``{r}`` the row number,
        ``{i}`` the sync_id.  None for a row whose cells differ from row to row (changes,
        messages): it takes ``_report_cells``.  Most rows of a large plan are like this."""
        status, ident, changes, message = mark.values
        if changes or message or (ident is not None and not _plain_text(ident)):
            return None
        key = (status, mark.shade.name if mark.shade else None, ident is None)
        template = self._report_templates.get(key)
        if template is None:
            # The general path's cells for a row past the sheet's end (a number no style id
            # shares) and a plain marker id, then the markers turned into fields.
            number, marker = 1_048_577, "SyncIdMarker"
            cells = self._report_cells(number, _Mark(
                (status, None if ident is None else marker, "", ""), mark.shade, None), None)
            template = "".join([cells[i] for i in self.report_sequence]) \
                .replace("{", "{{").replace("}", "}}").replace(marker, "{i}")
            for letter in self.report_refs:
                template = template.replace(f'r="{letter}{number}"', f'r="{letter}{{r}}"')
            self._report_templates[key] = template
        return template

    def _recoloured(self, head: str, shade: Shade | None, r: str, report: str = "",
                    ident: str | None = None) -> str | None:
        """The row's own cells with the row's colour, gaps filled, followed by ``report``
        (the report cells' template, see ``_report_template``); None when a cell lies outside
        the table.

        Rows of a sheet share a few shapes (which columns hold a cell, in which style), so
        the rewrite of each shape is made once, as a format template, and applied to every
        row of that shape in one call."""
        pieces = _CELL_SPLIT.split(head)       # text, letters, style, text, letters, ...
        key = (shade.light if shade else None, report, *pieces[1::3], *pieces[2::3])
        template = self._templates.get(key)
        if template is None:
            template = self._template(pieces[1::3], pieces[2::3], shade)
            if template:
                template += report
            if len(self._templates) > 10_000:   # a sheet of many shapes: keep memory bounded
                self._templates.clear()
            self._templates[key] = template
        if not template:
            return None
        return template.format(*pieces[0::3], r=r, i=ident)

    def _template(self, letters: list[str], styles: list[str | None],
                  shade: Shade | None) -> str:
        filler = self.shaded(shade)[0].plain if shade is not None else 0
        parts = ["{0}"]
        next_col = self.first_col
        for index, (letter, style) in enumerate(zip(letters, styles, strict=True), 1):
            col = _column(letter)
            if col < next_col or col > self.last_frame_col:
                return ""                       # out of order, or outside the table
            if filler:
                parts += [f'<c r="{column_letter(c)}{{r}}" s="{filler}"/>'
                          for c in range(next_col, col)]
            attr = _style_attr(self.restyle(int(style or 0), shade, False))
            parts.append(f'<c r="{letter}{{r}}"{attr}{{{index}}}')
            next_col = col + 1
        if filler:
            parts += [f'<c r="{column_letter(c)}{{r}}" s="{filler}"/>'
                      for c in range(next_col, self.last_frame_col + 1)]
        return "".join(parts)

    def _report_cells(self, number: int, mark: _Mark, kept_id: str | None) -> list[str]:
        """The four report cells of a data row, in REPORT_COLUMNS order ("" for an empty,
        uncoloured one)."""
        styles, status_style = self.shaded(mark.shade)
        plain = f' s="{styles.plain}"' if styles.plain else ""
        r = str(number)
        out: list[str] = []
        for index, value in enumerate(mark.values):
            ref = self.report_refs[index] + r
            if not value:
                if index == 1 and value is None and kept_id is not None:
                    out.append(_with_style(kept_id, lambda s: styles.plain))   # keep the id
                else:
                    out.append(f'<c r="{ref}"{plain}/>' if plain else "")
            elif index == 0:
                out.append(text_cell(ref, value, status_style))
            else:
                out.append(value_cell(ref, value, styles))
        return out

    def _cells(self, number: int, content: str) -> dict[int, str]:
        """The row's cells by column, for any shape of cell (slower)."""
        cells: dict[int, str] = {}
        pos, col = 0, 0
        while pos < len(content):
            match = _CELL.match(content, pos)
            if match is None:
                if content[pos:].strip():
                    raise UnsupportedWorkbookError(f"unreadable cell in row {number}")
                break
            pos = match.end()
            attrs_text = match.group(1)
            ref = _CELL_REF.search(attrs_text)
            if ref is None:
                col += 1
                cell = f'<c r="{column_letter(col)}{number}"{attrs_text}{match.group(2)}'
            else:
                col = column_index(ref.group(1))
                cell = match.group(0).lstrip()
            cells[col] = cell
        return cells

    def _restyle_cells(self, cells: dict[int, str], mark: _Mark) -> None:
        shade, bad = mark.shade, mark.bad
        for col, cell in list(cells.items()):
            if col in self.report_cols or col < self.first_col or col > self.last_frame_col:
                continue
            invalid = bool(bad and col in bad)
            cells[col] = _with_style(cell, lambda s, i=invalid: self.restyle(s, shade, i))

    def _header_cells(self, number: int, cells: dict[int, str]) -> None:
        if self.header_style is None:
            style = 0
            for col in sorted(cells, reverse=True):
                if col <= self.last_frame_col and col not in self.report_cols:
                    found = _STYLE.search(cells[col][: cells[col].find(">")])
                    style = int(found.group(1)) if found else 0
                    break
            self.header_style = style or self.book.derive(0, font=self.book.bold_font())
        for name, col in self.report.items():
            self._put(cells, col, text_cell(f"{column_letter(col)}{number}", name,
                                            self.header_style))

    def _put(self, cells: dict[int, str], col: int, cell: str | None) -> None:
        """Set (or, with None, remove) a report cell, noting a formula it replaces."""
        old = cells.get(col)
        if old is not None and "<f" in old:
            if 't="shared"' in old and " ref=" in old:
                raise UnsupportedWorkbookError("a shared formula in a report column")
            self.formulas_replaced = True
        if cell is None:
            cells.pop(col, None)
        else:
            cells[col] = cell

    def _data_cells(self, number: int, cells: dict[int, str], mark: _Mark) -> None:
        """Fill the row's gaps in its colour and add the report cells."""
        shade, bad = mark.shade, mark.bad
        if shade is not None or bad:
            light = self.shaded(shade)[0].plain
            for col in range(self.first_col, self.last_frame_col + 1):
                if col not in cells and col not in self.report_cols:
                    style = self.invalid.plain if bad and col in bad else light
                    if style:
                        cells[col] = f'<c r="{column_letter(col)}{number}" s="{style}"/>'
        kept_id = cells.get(self.report[SYNC_ID])
        for name, cell in zip(REPORT_COLUMNS, self._report_cells(number, mark, kept_id),
                              strict=True):
            self._put(cells, self.report[name], cell or None)
        if bad:
            for col, text in sorted(bad.items()):
                if len(self.notes) < MAX_COMMENTS:
                    self.notes.append(note(number, col, text))

    # ------------------------------------------------------------------ head and tail

    def _head(self) -> str:
        head = self.head
        dimension = xmlscan.find_child(head, "dimension")
        if dimension is not None:
            element = head[dimension.start:dimension.end]
            ref = xmlscan.attrs(element).get("ref", "")
            new = _union_ref(ref, self.last_col, self.last_row)
            head = (head[:dimension.start] + f'<dimension ref="{new}"/>' + head[dimension.end:])
        head = self._frozen(head)
        return self._cols(head)

    def _frozen(self, head: str) -> str:
        views = xmlscan.find_child(head, "sheetViews")
        if views is None:
            element = (f'<sheetViews><sheetView workbookViewId="0">'
                       f'{frozen_pane(self.header_row)}</sheetView></sheetViews>')
            return xmlscan.insert_in_order(head, element, "sheetViews", xmlscan.WORKSHEET_ORDER)
        start, content, end = xmlscan.inner(head[views.start:views.end])
        out = []
        for view in xmlscan.children(content):
            element = content[view.start:view.end]
            if view.name != "sheetView":
                out.append(element)
                continue
            v_start, v_content, v_end = xmlscan.inner(element)
            if not v_end:
                v_start, v_end = v_start[:-2].rstrip() + ">", "</sheetView>"
            frozen_cols = 0
            pane = xmlscan.find_child(v_content, "pane")
            if pane is not None:
                pane_attrs = xmlscan.attrs(v_content[pane.start:pane.end])
                if pane_attrs.get("state") in ("frozen", "frozenSplit"):
                    frozen_cols = int(float(pane_attrs.get("xSplit", "0") or 0))
            v_content = xmlscan.remove_children(v_content, {"pane", "selection"})
            out.append(v_start + frozen_pane(self.header_row, frozen_cols) + v_content + v_end)
        return head[:views.start] + start + "".join(out) + end + head[views.end:]

    def _cols(self, head: str) -> str:
        widths = self._widths()
        found = xmlscan.find_child(head, "cols")
        ranges: list[tuple[int, int, dict[str, str]]] = []
        if found is not None:
            _, content, _ = xmlscan.inner(head[found.start:found.end])
            for child in xmlscan.children(content):
                a = xmlscan.attrs(content[child.start:child.end])
                ranges.append((int(a.get("min", "1")), int(a.get("max", a.get("min", "1"))), a))
        out: list[tuple[int, int, dict[str, str]]] = []
        for low, high, a in ranges:
            cut = [c for c in sorted(widths) if low <= c <= high]
            for col in cut:
                if low < col:
                    out.append((low, col - 1, a))
                low = col + 1
            if low <= high:
                out.append((low, high, a))
        for col, width in widths.items():
            base = next((a for low, high, a in ranges if low <= col <= high), {})
            a = {k: v for k, v in base.items() if k not in ("hidden", "collapsed")}
            a.update(width=f"{width:.2f}", customWidth="1")
            out.append((col, col, a))
        items = []
        for low, high, a in sorted(out, key=lambda item: item[0]):
            a = {**a, "min": str(low), "max": str(high)}
            text = " ".join(f'{k}="{escape_attr(v)}"' for k, v in a.items())
            items.append(f"<col {text}/>")
        element = f"<cols>{''.join(items)}</cols>"
        if found is not None:
            return head[:found.start] + element + head[found.end:]
        return xmlscan.insert_in_order(head, element, "cols", xmlscan.WORKSHEET_ORDER)

    def _widths(self) -> dict[int, float]:
        sample = itertools.islice(self.rows.values(), _WIDTH_SAMPLE)
        values = [report_values(row) for row in sample]
        return {self.report[name]: width_for(name, [v[i] for v in values])
                for i, name in enumerate(REPORT_COLUMNS)}

    def _tail(self) -> str:
        if self.tail is None:      # blocks_of ends with the tail or raises: a broken stream
            raise UnsupportedWorkbookError("the data sheet is cut short")
        tail = xmlscan.remove_children(self.tail, {"autoFilter", "sortState"})
        if self.sheet_filter_ref:
            tail = xmlscan.insert_in_order(tail, f'<autoFilter ref="{self.sheet_filter_ref}"/>',
                                           "autoFilter", xmlscan.WORKSHEET_ORDER)
        return self._comments(tail)

    # ------------------------------------------------------------------ comments

    def _comments(self, tail: str) -> str:
        """Add this report's comments to the planner's; an earlier report's go.

        The planner's comments keep their text and author; their boxes are redrawn at the
        default size when the drawing has to be rewritten."""
        comments = next((t for _, rel_type, t, _ in self.rels if rel_type == REL_COMMENTS), None)
        vml = next(((rid, t) for rid, rel_type, t, _ in self.rels if rel_type == REL_VML), None)
        existing = (_read_comments(self.pkg.text(comments))
                    if comments is not None and self.pkg.exists(comments) else [])
        stale = any(n.author == COMMENT_AUTHOR for n in existing)
        if not self.notes and not stale:
            return tail                                   # nothing to change
        if vml is not None and self.pkg.exists(vml[1]):
            kinds = set(re.findall(r'ObjectType="(\w+)"', self.pkg.text(vml[1])))
            if kinds - {"Note"}:
                raise UnsupportedWorkbookError("form controls on the data sheet")
        kept = [n for n in existing if n.author != COMMENT_AUTHOR]
        occupied = {(n.row, n.column) for n in kept}   # one comment per cell: the planner's
        notes = sorted(kept + [n for n in self.notes if (n.row, n.column) not in occupied],
                       key=lambda n: (n.row, n.column))
        if not notes:                                   # only a previous report's comments
            tail = xmlscan.remove_children(tail, {"legacyDrawing"})
            for rid, rel_type, target, _ in self.rels:
                if rel_type in (REL_COMMENTS, REL_VML):
                    self.pkg.remove_relationship(self.entry.part, rid)
                    self.pkg.drop(target)
            return tail
        comments_part = comments or self.pkg.free_name("xl/comments{}.xml")
        self.pkg.changed[comments_part] = comments_xml(notes)
        vml_part = vml[1] if vml else self.pkg.free_name("xl/drawings/vmlDrawing{}.vml")
        self.pkg.changed[vml_part] = vml_xml(notes, self._free_vml_block(vml_part))
        if comments is None:
            self.pkg.add_relationship(self.entry.part, REL_COMMENTS, comments_part)
            self.pkg.add_override(comments_part, CT_COMMENTS)
        rid = vml[0] if vml else self.pkg.add_relationship(self.entry.part, REL_VML, vml_part)
        self.pkg.add_default("vml", CT_VML)
        if xmlscan.find_child(tail, "legacyDrawing") is None:
            tail = xmlscan.insert_in_order(
                tail, f'<legacyDrawing {self._rel_prefix()}:id="{rid}"/>', "legacyDrawing",
                xmlscan.WORKSHEET_ORDER)
        return tail

    def _rel_prefix(self) -> str:
        """The sheet's prefix for the relationships namespace, declared if it has none."""
        found = re.search(rf'xmlns:(\w+)="{re.escape(DOC_REL_NS)}"', self.prolog)
        if found:
            return found.group(1)
        prefix = "r" if "xmlns:r=" not in self.prolog else "rel"
        # The prolog ends with the root's start tag (``_scan``), and no "<" stands inside a tag.
        at = self.prolog.rindex("<worksheet") + len("<worksheet")
        self.prolog = self.prolog[:at] + f' xmlns:{prefix}="{DOC_REL_NS}"' + self.prolog[at:]
        return prefix

    def _free_vml_block(self, own_part: str) -> int:
        used = [0]
        for name in self.pkg.names:
            if name.endswith(".vml") and name != own_part:
                for data in re.findall(r'<o:idmap\b[^>]*\bdata="([\d,\s]+)"',
                                       self.pkg.text(name)):
                    used += [int(x) for x in re.split(r"[,\s]+", data.strip()) if x]
        return max(used) + 1


_ANY_CELL = re.compile(r"<c[\s/>]")
_CELL_SPLIT = re.compile(r'<c r="([A-Z]{1,3})\d+"(?: s="(\d+)")?')
_LETTERS = re.compile(r'<c r="([A-Z]{1,3})\d+"')


def _check_rows(text: str) -> None:
    if "<![CDATA[" in text:
        raise UnsupportedWorkbookError("CDATA in the sheet")


def _regular(text: str) -> bool:
    """Every cell starts with its r and has its s (if any) right after it, as every writer
    seen in practice does; such rows take the fast path.  Counting is cheap, and a text that
    happens to hold "<c" or ' s="' only sends its rows down the slower, general path."""
    return (text.count("<c") == text.count('<c r="')
            and text.count(' s="') == len(_STYLED_CELL.findall(text)))


def _value_cells_beyond(known: int) -> re.Pattern[str] | None:
    """A pattern for cells holding a value in a column right of ``known`` (None when there
    is no such column).  Spelling out the columns lets the regex engine skip every other
    cell without a call into Python."""
    last = column_letter(min(max(known, 1), 16_384))
    options = []
    for i, char in enumerate(last):          # same length, greater at position i
        if char < "Z":
            rest = len(last) - i - 1
            options.append(f"{last[:i]}[{chr(ord(char) + 1)}-Z]" + (f"[A-Z]{{{rest}}}"
                                                                   if rest else ""))
    if len(last) < 3:
        options.append(f"[A-Z]{{{len(last) + 1},3}}")
    if not options:
        return None
    letters = "|".join(options)
    return re.compile(rf'<c\b[^>]*?\sr="({letters})(\d+)"[^>]*>\s*<(?:v|f|is)\b')


def _rows(body: str) -> Iterator[str]:
    """The ``<row>`` elements of sheetData, found with plain string search (rows cannot
    nest, and "<" never appears unescaped in text)."""
    find = body.find
    pos = 0
    while True:
        start = find("<row", pos)
        if start < 0:
            return
        head_end = find(">", start)
        if body[head_end - 1] == "/":
            pos = head_end + 1
        else:
            end = find("</row>", head_end)
            if end < 0:
                raise UnsupportedWorkbookError("a row is cut short")
            pos = end + len("</row>")
        yield body[start:pos]


_COLUMNS: dict[str, int] = {}


def _column(letters: str) -> int:
    index = _COLUMNS.get(letters)
    if index is None:
        index = _COLUMNS[letters] = column_index(letters)
    return index


def _plain_text(value: Any) -> bool:
    """True for text that goes into XML as it is: no escaping, no quote prefix needed."""
    return type(value) is str and is_plain_text(value)


def _style_attr(style: int) -> str:
    return f' s="{style}"' if style else ""


def _with_style(cell: str, new_style: Any) -> str:
    """The cell with its style id replaced by ``new_style(old_id)`` (0 drops it)."""
    end = cell.find(">")
    start = cell[:end]
    found = _STYLE.search(start)
    old = int(found.group(1)) if found else 0
    new = new_style(old)
    if new == old:
        return cell
    if found:
        replacement = f' s="{new}"' if new else ""
        start = start[:found.start()] + replacement + start[found.end():]
    else:   # right after r, where Excel puts it (keeps the next run on the fast path)
        ref = _CELL_REF.search(start)
        at = ref.end() if ref else len(start) - (1 if start.endswith("/") else 0)
        start = start[:at] + f' s="{new}"' + start[at:]
    return start + cell[end:]


def _union_ref(ref: str, last_col: int, last_row: int) -> str:
    match = _REF.fullmatch(ref or "")
    if match is None:
        return f"A1:{column_letter(last_col)}{last_row}"
    c1, r1 = match.group(1), int(match.group(2))
    c2 = column_index(match.group(3) or match.group(1))
    r2 = int(match.group(4) or match.group(2))
    return f"{c1}{r1}:{column_letter(max(c2, last_col))}{max(r2, last_row)}"


def _read_comments(xml: str) -> list[Note]:
    authors = [xmlscan.unescape_text(a) for a in
               re.findall(r"<(?:\w+:)?author>(.*?)</(?:\w+:)?author>", xml, re.S)]
    notes = []
    for match in re.finditer(r"<(?:\w+:)?comment\b([^>]*)>(.*?)</(?:\w+:)?comment>", xml, re.S):
        a = xmlscan.attrs(f"<comment{match.group(1)}>")
        ref = _REF.fullmatch(a.get("ref", ""))
        body = re.search(r"<(?:\w+:)?text>(.*)</(?:\w+:)?text>", match.group(2), re.S)
        if ref is None or body is None:
            continue
        author_id = int(a.get("authorId", "0"))
        author = authors[author_id] if author_id < len(authors) else ""
        notes.append(Note(int(ref.group(2)), column_index(ref.group(1)), author, body.group(1)))
    return notes
