"""Diff: validated sheet rows + current server records -> a plan.  Pure: no I/O.

The rules are those of docs/matching.md.  Every sheet row gets exactly one plan item,
in sheet order; server records the sheet lacks get an item each in ``Plan.server_only``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain, compress
from operator import attrgetter, itemgetter
from typing import Any, overload

import numpy as np

from . import mergebase, schema
from .listing import MISSING, Listing
from .model import WRITE_ACTIONS, Action, PlanItem, RowItem, SheetRow, ValidatedSheet


class Mode(StrEnum):
    UPSERT = "upsert"
    INSERT = "insert"
    UPDATE = "update"
    MIRROR = "mirror"


class Scope(StrEnum):
    SHEET = "sheet"   # mirror deletes only records of products the sheet mentions
    ALL = "all"       # mirror the whole table


class Blank(StrEnum):
    CLEAR = "clear"   # a blank cell in a present nullable column clears the field
    KEEP = "keep"     # a blank cell leaves the field as it is


@dataclass(frozen=True)
class PlanOptions:
    mode: Mode = Mode.UPSERT
    scope: Scope = Scope.SHEET
    blank: Blank = Blank.CLEAR
    max_delete: int | None = None     # None: the larger of 10 and 25% of in-scope records


class PlanItems(Sequence[RowItem]):
    """The plan's item of every sheet row, in sheet order.

    A row the plan leaves unchanged (most rows of a large sheet) is held as the position of
    its line in the listing only; its ``RowItem`` is made the first time someone asks for
    it.  ``decided`` holds the items made by the diff itself: writes, conflicts, invalid and
    skipped rows."""

    def __init__(self, validated: ValidatedSheet, listing: Listing, line_at: np.ndarray,
                 decided: dict[int, RowItem]) -> None:
        self.validated = validated
        self.listing = listing
        #: Each row's line (the one its item is about) as a position in ``listing``, or -1.
        self.line_at = line_at
        self.decided = decided            # row position -> item, for rows not unchanged

    def __len__(self) -> int:
        return len(self.validated)

    @overload
    def __getitem__(self, at: int) -> RowItem: ...

    @overload
    def __getitem__(self, at: slice) -> list[RowItem]: ...

    def __getitem__(self, at: int | slice) -> RowItem | list[RowItem]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        if at < 0:
            at += len(self)
        if not 0 <= at < len(self):
            raise IndexError(at)
        item = self.decided.get(at)
        if item is None:
            record = self.listing[int(self.line_at[at])]
            item = RowItem(Action.UNCHANGED, self.validated.row(at), record,
                           record.get(schema.PRODUCT_ID.name))
            self.decided[at] = item       # the same object next time (outcomes key on it)
        return item

    def __iter__(self) -> Iterator[RowItem]:
        return map(self.__getitem__, range(len(self)))

    @property
    def actions(self) -> list[Action]:
        """Each row's action, in sheet order, without making an item per row."""
        actions = [Action.UNCHANGED] * len(self)
        for at, item in self.decided.items():
            actions[at] = item.action
        return actions

    def line_values(self, name: str) -> list[Any]:
        """Each row's line's value of ``name`` (None for a row without a line), in sheet
        order, without making a record per row."""
        return self.listing.values(name, self.line_at)

    def made(self) -> list[RowItem]:
        """The items made so far, in sheet order: every row the diff decided (writes,
        conflicts, invalid and skipped rows), and the unchanged rows someone asked for."""
        return [self.decided[at] for at in sorted(self.decided)]


@dataclass
class Plan:
    items: PlanItems                      # one per sheet row, in sheet order
    server_only: list[PlanItem]           # DELETE or KEEP, one per unmatched in-scope record
    options: PlanOptions
    in_scope: int                         # server records considered
    delete_limit: int
    warnings: list[str] = field(default_factory=list)
    # process id -> name, as the server records and the sheet's name column tell them: lets
    # a report say "Welding (id)" where a row changes a line's process.
    process_names: dict[str, str] = field(default_factory=dict)
    # product id -> name, from the sheet's name column and (``api``) the catalog, for the
    # lines a planner is shown: writes, conflicts and the server's lines the sheet lacks.
    product_names: dict[str, str] = field(default_factory=dict)
    # sheet row index -> warnings about that row the report shows beside its message (a
    # read-only cell the planner changed: ``references.read_only_edits``).
    row_warnings: dict[int, list[str]] = field(default_factory=dict)

    @property
    def shown(self) -> list[PlanItem]:
        """The items a summary names line by line: writes, conflicts and server-only lines."""
        return [i for i in chain(self.items.made(), self.server_only)
                if i.action in WRITE_ACTIONS or i.action is Action.CONFLICT
                or i.row is None]

    def describe_line(self, item: PlanItem) -> str:
        """The line an item is about, in words first: ``Base Frame [3b6fe507], line 3,
        Welding``; the product's uuid, cut, as the secondary detail."""
        line = {**(item.record or {}), **item.values,
                **(item.row.values if item.row is not None else {})}
        product_id = item.product_id or line.get(schema.PRODUCT_ID.name)
        process_id = line.get(schema.PROCESS_ID.name)
        parts = []
        if product_id:
            name = self.product_names.get(product_id)
            parts.append(f"{name} [{product_id[:8]}]" if name else f"product {product_id}")
        if line.get(schema.LINE_NUMBER.name) is not None:
            parts.append(f"line {line[schema.LINE_NUMBER.name]}")
        named = self.process_names.get(process_id) if process_id else None
        process = named or line.get(schema.PROCESS.name)
        if process:
            parts.append(str(process))
        elif process_id:
            parts.append(f"process {process_id}")
        return ", ".join(parts)

    @property
    def deletes(self) -> list[PlanItem]:
        return [i for i in self.server_only if i.action is Action.DELETE]

    @property
    def writes(self) -> list[PlanItem]:
        everything = [*self.items.made(), *self.server_only]
        return list(compress(everything, map(WRITE_ACTIONS.__contains__,
                                             map(_ACTION_OF, everything))))

    def execution_items(self) -> list[PlanItem]:
        """What an apply hands the executor and the read-back: the writes, and every other
        item of a product that has a write (the lines it holds, and where each stood when
        planned).  The unchanged lines of other products need no item at all."""
        writes = self.writes
        products = {i.product_id for i in writes}
        decided = self.items.decided
        wanted = [at for at, product_id in enumerate(self.items.line_values(
                      schema.PRODUCT_ID.name))
                  if at in decided or (product_id is not None and product_id in products)]
        return [*map(self.items.__getitem__, wanted), *self.server_only]

    @property
    def over_delete_limit(self) -> bool:
        return len(self.deletes) > self.delete_limit

    @property
    def delete_limit_message(self) -> str:
        deletes = len(self.deletes)
        return (f"{deletes} deletes planned, more than the limit of {self.delete_limit}: "
                f"nothing will be written. Check the sheet, then rerun with --max-delete "
                f"{deletes} if these deletes are intended.")

    def counts(self) -> dict[Action, int]:
        """How many items of each action (in the order first met)."""
        return dict(Counter(chain(self.items.actions, map(_ACTION_OF, self.server_only))))


def default_delete_limit(in_scope: int) -> int:
    return max(10, in_scope // 4)


def changes_text(changes: dict[str, tuple[Any, Any]],
                 names: Mapping[str, str] | None = None) -> str:
    """``process_id: a -> b; active: Active -> InActive`` as the report shows it (ids with
    their names where ``names`` knows them)."""
    if not changes:
        return ""
    return "; ".join(
        f"{name}: {schema.display(name, before, names)} -> {schema.display(name, after, names)}"
        for name, (before, after) in changes.items()
    )


def values_text(values: Mapping[str, Any]) -> str:
    """``line_number: 3; active: Active`` as the report shows a new line's values."""
    return "; ".join(f"{name}: {schema.display(name, value)}" for name, value in values.items())


def _process_names(validated: ValidatedSheet, listing: Listing) -> dict[str, str]:
    names = {ident: name for ident, name in zip(listing.column(schema.PROCESS_ID.name),
                                                 listing.column(schema.PROCESS.name),
                                                 strict=True)
             if name and ident}
    for key, name in _sheet_names(validated, schema.PROCESS_ID).items():
        names.setdefault(key, name)
    return names


def _sheet_names(validated: ValidatedSheet, target: schema.Field) -> dict[str, str]:
    """id -> name, as the sheet's name column for ``target`` gives them (resolved)."""
    by_name = schema.REFERENCE_FOR[target.name].name
    if by_name not in validated.present:
        return {}
    names: dict[str, str] = {}
    for name, ident in zip(validated.column(by_name), validated.column(target.name),
                           strict=True):
        if name and ident:
            names.setdefault(ident, name)
    return names


def _key_getter(key: Sequence[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``values -> (values.get(k) for k in key)`` as a tuple."""
    return lambda values: tuple(values.get(name) for name in key)


def _row_refs(rows: Iterable[SheetRow]) -> str:
    numbers = sorted({r.row_number for r in rows})
    return ", ".join(str(n) for n in numbers)


def diff(validated: ValidatedSheet, records: Iterable[dict[str, Any]],
         options: PlanOptions = PlanOptions(),
         base: Mapping[str, dict[str, Any]] | None = None) -> Plan:
    """Decide what to do with every row and every in-scope server record.

    ``records``: the server's lines (a ``Listing``, as the client gives them).  ``base``: the
    server's lines by id as the sheet's export saw them (``sync.mergebase``); a row naming
    one of them is decided cell by cell instead of by its ``edited`` stamp.  Only rows that
    differ from their line look into it."""
    listing = Listing.of(records)
    key = validated.key
    key_of = _key_getter(key)
    id_name, product_name = schema.ID.name, schema.PRODUCT_ID.name
    by_key = _ByKey(listing, key)

    # Fields this sheet manages: present, writable, and not the immutable partition.
    managed = _Managed([f for f in schema.WRITABLE
                        if f.name in validated.present and not f.immutable], options)

    # Most rows of a large sheet name an existing line by id and leave it as it is: those
    # are found by comparing whole columns with the matched lines', and get no item.
    line_at = listing.positions(validated.column(id_name))
    same = _unchanged(validated, line_at, listing, managed)
    decided: dict[int, RowItem] = {}
    for at in np.flatnonzero(~same).tolist():
        decided[at] = _decide_row(validated.row(at), listing, by_key, key_of, key, managed,
                                  options, base if base is not None else {})
    made_ids = [item.record[id_name] if item.record is not None else None
                for item in decided.values()]
    line_at[list(decided)] = listing.positions(made_ids)
    items = PlanItems(validated, listing, line_at, decided)

    # A server line matched by two rows: neither row may touch it.
    listed_ids = listing.column(id_name)
    claimed_ids = listing.values(id_name, line_at)
    claims: dict[str, int] = {}         # line id -> the first row matching it
    doubly: dict[str, list[int]] = {}   # line id -> rows, for one matched twice
    for at, line_id in enumerate(claimed_ids):
        if line_id is not None:
            first = claims.setdefault(line_id, at)
            if first != at:
                doubly.setdefault(line_id, [first]).append(at)
    for line_id, positions in doubly.items():
        rows = [items[p].row for p in positions]
        for p in positions:
            items[p].action = Action.CONFLICT
            items[p].changes = {}
            items[p].message = (f"rows {_row_refs(rows)} all match line "
                                f"{line_id}; keep one of them")

    made = items.made()
    line_products = listing.column(product_name)
    sheet_products = ({line_products[p] for p in line_at[same].tolist()}
                      | set(map(_PRODUCT_OF, made))) - {None, ""}
    if options.scope is Scope.ALL or sheet_products.issuperset(line_products):
        in_scope = np.ones(len(listing), dtype=bool)
    else:
        in_scope = np.fromiter(map(sheet_products.__contains__, line_products), dtype=bool,
                               count=len(listing))
    # A line that an invalid row names by id is that row's line, shown with it: listing it
    # again as "not in the sheet" would count it twice.
    named_by_invalid = {item.row.values.get(id_name) for item in made
                        if item.action is Action.INVALID} - {None}
    unclaimed = in_scope & np.fromiter(
        (i not in claims and i not in named_by_invalid for i in listed_ids), dtype=bool,
        count=len(listing))
    server_only = _server_only(made, listing.take(np.flatnonzero(unclaimed).tolist()), options)
    actions = set(map(_ACTION_OF, made))
    # Only a row that creates or updates a line can be refused for a line taken twice: a
    # plan without one (a sheet the server already matches) needs no check.
    if options.mode is not Mode.INSERT and not actions.isdisjoint(_MOVING):
        deleted = {i.record_id for i in server_only if i.action is Action.DELETE}
        staying = [at for at, i in enumerate(listed_ids) if i not in claims and i not in deleted]
        _check_line_collisions(items, staying)
    in_scope_count = int(in_scope.sum())
    limit = options.max_delete if options.max_delete is not None else default_delete_limit(
        in_scope_count)
    changes_process = any(schema.PROCESS_ID.name in changes
                          for changes in filter(None, map(_CHANGES_OF, made)))
    plan = Plan(items, server_only, options, in_scope_count, limit,
                process_names=_process_names(validated, listing) if changes_process else {},
                product_names=_sheet_names(validated, schema.PRODUCT_ID))
    if plan.over_delete_limit:
        plan.warnings.append(plan.delete_limit_message)
    return plan


_MOVING = frozenset({Action.CREATE, Action.UPDATE})
_PRODUCT_OF, _ACTION_OF = attrgetter("product_id"), attrgetter("action")
_CHANGES_OF = attrgetter("changes")


def _unchanged(validated: ValidatedSheet, line_at: np.ndarray, listing: Listing,
               managed: _Managed) -> np.ndarray:
    """Which rows are valid, match their line by id, name its product (or none) and hold
    every managed field as the line does: the rows nothing happens to, found column by
    column.  A line lacking a field is never equal (that row goes the long way)."""
    matched = line_at >= 0
    if validated.problems:
        matched &= np.array(validated.valid_rows(), dtype=bool)
    at = np.flatnonzero(matched)
    if not len(at):
        return matched
    lines = line_at[at]

    def compare(name: str, sheet_blank_is_equal: bool = False) -> np.ndarray:
        ours = _objects(validated.column(name))[at]
        theirs = _objects(listing.column(name, MISSING))[lines]
        equal = np.asarray(ours == theirs, dtype=bool)
        if sheet_blank_is_equal:
            equal |= np.asarray(ours == None, dtype=bool)  # noqa: E711
        return equal

    equal = compare(schema.PRODUCT_ID.name, sheet_blank_is_equal=True)
    for name, _blank_leaves, _same in managed.fields:
        equal &= compare(name)
    matched[at] = equal
    return matched


def _objects(values: Sequence[Any]) -> np.ndarray:
    """A list as a one-dimensional numpy array of its objects (a value is never unpacked)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


class _ByKey:
    """The lines by match key, made on first use: only rows without an id look there."""

    def __init__(self, listing: Listing, key: Sequence[str]) -> None:
        self._listing, self._key = listing, key
        self._index: dict[tuple[Any, ...], list[int]] | None = None

    def get(self, key: tuple[Any, ...]) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = {}
            columns = [self._listing.column(name) for name in self._key]
            for at, values in enumerate(zip(*columns, strict=True)):
                self._index.setdefault(values, []).append(at)
        return self._listing.take(self._index.get(key, []))


class _Managed:
    """The fields the sheet manages, as the comparison needs them."""

    def __init__(self, fields: list[schema.Field], options: PlanOptions) -> None:
        # (name, a blank cell leaves the field as it is, equal by meaning)
        self.fields = [(f.name, not f.nullable or options.blank is Blank.KEEP, f.same)
                       for f in fields]
        # Most rows of a large sheet are unchanged: one C-level tuple comparison finds them.
        names = [f.name for f in fields]
        self.values_of = itemgetter(*names) if len(names) > 1 else None

    def all_equal(self, values: dict[str, Any], record: dict[str, Any]) -> bool:
        """The row's managed values equal the record's, one by one (so nothing changes).

        False when unsure: a row or record lacking a field goes the long way."""
        if self.values_of is None:
            return False
        try:
            return bool(self.values_of(values) == self.values_of(record))
        except KeyError:
            return False


def _decide_row(row: SheetRow, listing: Listing, by_key: _ByKey,
                key_of: Callable[[dict[str, Any]], tuple[Any, ...]], key: Sequence[str],
                managed: _Managed, options: PlanOptions,
                base: Mapping[str, dict[str, Any]]) -> RowItem:
    values = row.values
    product_id = values.get(schema.PRODUCT_ID.name)
    if not row.valid:
        return RowItem(Action.INVALID, row, None, product_id,
                       message="; ".join(str(e) for e in row.errors))

    record_id = values.get(schema.ID.name)
    if record_id is not None:
        record = listing.get(record_id)
        if record is None and record_id in base:
            return _gone(row, base[record_id], managed)
        if record is None:
            return RowItem(Action.CONFLICT, row, None, product_id,
                           message=f"the server has no line with id {record_id} (deleted since "
                                   f"the sheet was made?); clear the id to create it again")
        if product_id is not None and product_id != record.get(schema.PRODUCT_ID.name):
            return RowItem(Action.CONFLICT, row, record, record.get(schema.PRODUCT_ID.name),
                           message=f"product_id cannot be changed on an existing line (the "
                                   f"server has {record.get(schema.PRODUCT_ID.name)})")
        return _compare(row, record, managed, options, base.get(record_id))

    candidates = by_key.get(key_of(values))
    if len(candidates) > 1:
        ids = ", ".join(sorted(c[schema.ID.name] for c in candidates))
        return RowItem(Action.CONFLICT, row, None, product_id,
                       message=f"{len(candidates)} lines on the server have this "
                               f"{' + '.join(key)} ({ids}); give the id of the one to change")
    if candidates:
        return _compare(row, candidates[0], managed, options)

    if options.mode is Mode.UPDATE:
        return RowItem(Action.SKIP, row, None, product_id,
                       message="no such line on the server; the update mode does not create lines")
    create = {f.name: values[f.name] for f in schema.WRITABLE
              if values.get(f.name) is not None}
    create.setdefault(schema.ACTIVE.name, schema.ACTIVE.default)
    return RowItem(Action.CREATE, row, None, product_id, values=create)


def _gone(row: SheetRow, base_line: dict[str, Any], managed: _Managed) -> RowItem:
    """A line of the base that the server no longer has: deleted there since the export."""
    product_id = base_line.get(schema.PRODUCT_ID.name)
    edited = mergebase.edited_since(row.values, base_line, managed.fields)
    if edited:
        return RowItem(Action.CONFLICT, row, None, product_id,
                       message=f"deleted on the server since the export, but this row "
                               f"changes {', '.join(edited)}; clear the id to create it again")
    return RowItem(Action.GONE, row, None, product_id,
                   message="deleted on the server since the export; nothing to do")


def _compare(row: SheetRow, record: dict[str, Any], managed: _Managed,
             options: PlanOptions, base_line: dict[str, Any] | None = None) -> RowItem:
    product_id = record.get(schema.PRODUCT_ID.name)
    changes: dict[str, tuple[Any, Any]] = {}
    values = row.values
    if managed.all_equal(values, record):
        return RowItem(Action.UNCHANGED, row, record, product_id)
    if base_line is not None:
        return _merge(row, record, managed, options, base_line)
    for name, blank_leaves, same in managed.fields:
        after = values.get(name)
        if after is None and blank_leaves:
            continue    # blank non-nullable (e.g. active) or --blank keep: leave as is
        before = record.get(name)
        # Equal values are the same by any meaning; only unequal ones ask the field.
        if before != after and not same(before, after):
            changes[name] = (before, after)
    if not changes:
        # Already as the sheet wants it, even if edited since (e.g. by our own earlier run):
        # a rerun converges instead of turning into conflicts.
        return RowItem(Action.UNCHANGED, row, record, product_id)
    sheet_edited = row.values.get(schema.EDITED.name)
    if sheet_edited is not None and sheet_edited != record.get(schema.EDITED.name):
        who = record.get(schema.EDITED_BY.name)
        return RowItem(Action.CONFLICT, row, record, product_id,
                       message=f"changed on the server at {record.get(schema.EDITED.name)}"
                               f"{' by ' + str(who) if who else ''} after this sheet was made; "
                               f"export again and redo the edit")
    if options.mode is Mode.INSERT:
        return RowItem(Action.SKIP, row, record, product_id,
                       message=f"line exists and differs ({changes_text(changes)}); "
                               f"the insert mode does not update lines")
    return RowItem(Action.UPDATE, row, record, product_id, changes=changes)


def _merge(row: SheetRow, record: dict[str, Any], managed: _Managed, options: PlanOptions,
           base_line: dict[str, Any]) -> RowItem:
    """A row with a base, decided cell by cell (``mergebase.decide_cell``): only the cells
    the planner changed are sent, those only the server changed are kept, and a cell both
    changed differently makes the row a conflict naming that cell."""
    product_id = record.get(schema.PRODUCT_ID.name)
    cells = mergebase.merge_cells(row.values, base_line, record, managed.fields)
    if cells.conflicts:
        return RowItem(Action.CONFLICT, row, record, product_id,
                       message=mergebase.conflict_message(cells, record),
                       kept=cells.kept, conflicts=cells.conflicts)
    kept = mergebase.kept_message(cells, record)
    if not cells.changes:
        return RowItem(Action.UNCHANGED, row, record, product_id, message=kept,
                       kept=cells.kept)
    if options.mode is Mode.INSERT:
        return RowItem(Action.SKIP, row, record, product_id,
                       message=f"line exists and differs ({changes_text(cells.changes)}); "
                               f"the insert mode does not update lines", kept=cells.kept)
    return RowItem(Action.UPDATE, row, record, product_id, changes=cells.changes,
                   message=kept, kept=cells.kept)


def _check_line_collisions(items: PlanItems, staying: list[int]) -> None:
    """Two lines may not end on the same product + line number (the server refuses it).

    ``staying``: the positions in the listing of the lines no row matches and no delete
    removes: they keep their line, so a row that would end on it becomes a conflict before
    anything is sent."""
    line = schema.LINE_NUMBER.name
    listing = items.listing
    products, numbers = (listing.column(schema.PRODUCT_ID.name),
                         listing.column(line))
    ids = listing.column(schema.ID.name)
    # Who ends on each product + line (a row position or a server id); only lines held more
    # than once get a list, so 100,000 rows cost one dict entry each.
    holder: dict[tuple[Any, Any], int | str] = {}
    clashes: dict[tuple[Any, Any], list[int | str]] = {}

    def hold(at: tuple[Any, Any], who: int | str) -> None:
        first = holder.setdefault(at, who)
        if first is not who:
            clashes.setdefault(at, [first]).append(who)

    for p in staying:
        hold((products[p], numbers[p]), ids[p])
    kept = (Action.UPDATE, Action.UNCHANGED, Action.SKIP)
    decided = items.decided
    for pos, p in enumerate(items.line_at.tolist()):
        item = decided.get(pos)
        if item is None:                  # an unchanged row keeps its line's number
            hold((products[p], numbers[p]), pos)
            continue
        action = item.action
        if action is Action.CREATE:
            target = item.values.get(line)
        elif item.record is not None and action in kept:
            change = item.changes.get(line) if item.changes else None
            target = item.record.get(line) if change is None else change[1]
        else:
            continue
        hold((item.product_id, target), pos)
    for (product_id, number), holders in clashes.items():
        positions = [h for h in holders if isinstance(h, int)]
        others = [h for h in holders if isinstance(h, str)]
        taken_by = (f"server line {', '.join(others)}, which the sheet does not mention"
                    if others else f"rows {_row_refs(items.validated.row(p) for p in positions)}")
        for pos in positions:
            item = items[pos]
            if item.action in (Action.CREATE, Action.UPDATE):
                item.action = Action.CONFLICT
                item.changes = {}
                item.message = (f"line {number} of product {product_id} would be taken twice "
                                f"({taken_by})")


def _server_only(items: Sequence[RowItem], unmatched: list[dict[str, Any]],
                 options: PlanOptions) -> list[PlanItem]:
    if options.mode is not Mode.MIRROR:
        return [PlanItem(Action.KEEP, None, r, r.get(schema.PRODUCT_ID.name),
                         message=f"not in the sheet; the {options.mode.value} mode does not "
                                 f"delete (mirror does)")
                for r in unmatched]

    # A typo must never turn into a deletion: an invalid row protects its product, and an
    # invalid row whose product cannot be told protects everything.
    protected: dict[str, int] = {}
    protect_all: int | None = None
    for item in items:
        if item.action is not Action.INVALID:
            continue
        product_id = item.row.values.get(schema.PRODUCT_ID.name)
        if product_id is not None:
            protected.setdefault(product_id, item.row.row_number)
        elif protect_all is None:
            protect_all = item.row.row_number
    out = []
    for record in unmatched:
        product_id = record.get(schema.PRODUCT_ID.name)
        if protect_all is not None:
            out.append(PlanItem(Action.KEEP, None, record, product_id,
                                message=f"not deleted: row {protect_all} is invalid and its "
                                        f"product cannot be told; fix it first"))
        elif product_id in protected:
            out.append(PlanItem(Action.KEEP, None, record, product_id,
                                message=f"not deleted: row {protected[product_id]} of this "
                                        f"product is invalid; fix it first"))
        else:
            out.append(PlanItem(Action.DELETE, None, record, product_id,
                                message="not in the sheet"))
    return out
