"""Diff: validated sheet rows + current server records -> a plan.  Pure: no I/O.

The rules are SPEC.md's "Matching and the plan".  Every sheet row gets exactly one plan item,
in sheet order; server records the sheet lacks get an item each in ``Plan.server_only``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain, compress, repeat
from operator import attrgetter, itemgetter, not_
from typing import Any, overload

import numpy as np

from . import mergebase, schema
from .model import WRITE_ACTIONS, Action, PlanItem, SheetRow, ValidatedSheet


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


class PlanItems(Sequence[PlanItem]):
    """The plan's item of every sheet row, in sheet order.

    A row the plan leaves unchanged (most rows of a large sheet) is held as its action and
    its record only; its ``PlanItem`` is made the first time someone asks for it.  ``decided``
    holds the items made by the diff itself: writes, conflicts, invalid and skipped rows."""

    def __init__(self, validated: ValidatedSheet, records: list[dict[str, Any] | None],
                 decided: dict[int, PlanItem]) -> None:
        self.validated = validated
        self._records = records           # the record each row matches, or None
        self.decided = decided            # row position -> item, for rows not unchanged

    def __len__(self) -> int:
        return len(self.validated)

    @overload
    def __getitem__(self, at: int) -> PlanItem: ...

    @overload
    def __getitem__(self, at: slice) -> list[PlanItem]: ...

    def __getitem__(self, at: int | slice) -> PlanItem | list[PlanItem]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        if at < 0:
            at += len(self)
        if not 0 <= at < len(self):
            raise IndexError(at)
        item = self.decided.get(at)
        if item is None:
            record = self._records[at]
            assert record is not None
            item = PlanItem(Action.UNCHANGED, self.validated.row(at), record,
                            record.get(schema.PRODUCT_ID.name))
            self.decided[at] = item       # the same object next time (outcomes key on it)
        return item

    def __iter__(self) -> Iterator[PlanItem]:
        return map(self.__getitem__, range(len(self)))

    @property
    def actions(self) -> list[Action]:
        """Each row's action, in sheet order, without making an item per row."""
        actions = [Action.UNCHANGED] * len(self)
        for at, item in self.decided.items():
            actions[at] = item.action
        return actions

    def records(self) -> list[dict[str, Any] | None]:
        """Each row's record (the one its item is about, or None), in sheet order."""
        return self._records

    def made(self) -> list[PlanItem]:
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
        process = self.process_names.get(process_id) or line.get(schema.PROCESS.name)
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
        records = self.items.records()
        decided = self.items.decided
        wanted = [at for at, record in enumerate(records)
                  if at in decided or (record is not None
                                       and record.get(schema.PRODUCT_ID.name) in products)]
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


def _process_names(validated: ValidatedSheet, records: Sequence[dict[str, Any]]
                   ) -> dict[str, str]:
    process_id, process = schema.PROCESS_ID.name, schema.PROCESS.name
    names = {r[process_id]: r[process] for r in records
             if r.get(process) and r.get(process_id)}
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
    """``values -> (values.get(k) for k in key)`` as a tuple, fast for the usual 1-2 fields
    (called once per row and once per record)."""
    if len(key) == 1:
        (first,) = key
        return lambda values: (values.get(first),)
    if len(key) == 2:
        first, second = key
        return lambda values: (values.get(first), values.get(second))
    return lambda values: tuple(values.get(name) for name in key)


def _row_refs(rows: Iterable[SheetRow]) -> str:
    numbers = sorted({r.row_number for r in rows})
    return ", ".join(str(n) for n in numbers)


def diff(validated: ValidatedSheet, records: Sequence[dict[str, Any]],
         options: PlanOptions = PlanOptions(),
         base: Mapping[str, dict[str, Any]] | None = None) -> Plan:
    """Decide what to do with every row and every in-scope server record.

    ``base``: the server's lines by id as the sheet's export saw them (``sync.mergebase``);
    a row naming one of them is decided cell by cell instead of by its ``edited`` stamp."""
    key = validated.key
    present = validated.present
    key_of = _key_getter(key)
    id_name, product_name = schema.ID.name, schema.PRODUCT_ID.name
    by_id: dict[str, dict[str, Any]] = dict(zip(map(itemgetter(id_name), records), records,
                                                strict=True))
    by_key = _ByKey(records, key_of)

    # Fields this sheet manages: present, writable, and not the immutable partition.
    managed = _Managed([f for f in schema.WRITABLE if f.name in present and not f.immutable],
                       options)

    # Most rows of a large sheet name an existing line by id and leave it as it is: those
    # are found by comparing whole columns with the matched records', and get no item.
    records_of = list(map(by_id.get, validated.column(id_name)))
    same = _unchanged(validated, records_of, managed)
    decided: dict[int, PlanItem] = {}
    for at in np.flatnonzero(~same).tolist():
        decided[at] = item = _decide_row(validated.row(at), by_id, by_key, key_of, key,
                                         managed, options, base or {})
        records_of[at] = item.record
    items = PlanItems(validated, records_of, decided)

    # A server record matched by two rows: neither row may touch it.
    claims: dict[str, int] = {}         # record id -> the first row matching it
    doubly: dict[str, list[int]] = {}   # record id -> rows, for one matched twice
    for at, record in enumerate(records_of):
        if record is not None:
            first = claims.setdefault(record[id_name], at)
            if first != at:
                doubly.setdefault(record[id_name], [first]).append(at)
    for record_id, positions in doubly.items():
        rows = [items[p].row for p in positions]
        for p in positions:
            items[p].action = Action.CONFLICT
            items[p].changes = {}
            items[p].message = (f"rows {_row_refs(r for r in rows if r)} all match line "
                                f"{record_id}; keep one of them")

    made = items.made()
    sheet_products = ({r.get(product_name) for r in compress(records_of, same)}
                      | set(map(_PRODUCT_OF, made))) - {None, ""}
    record_products = list(map(dict.get, records, repeat(product_name)))
    if options.scope is Scope.ALL or sheet_products.issuperset(record_products):
        in_scope = list(records)
    else:
        in_scope = list(compress(records, map(sheet_products.__contains__, record_products)))
    # A line that an invalid row names by id is that row's line, shown with it: listing it
    # again as "not in the sheet" would count it twice.
    named_by_invalid = {item.row.values.get(id_name) for item in made
                        if item.action is Action.INVALID and item.row is not None} - {None}
    server_only = _server_only(made, [r for r in in_scope if r[id_name] not in named_by_invalid],
                               claims, options)
    actions = set(map(_ACTION_OF, made))
    # Only a row that creates or updates a line can be refused for a line taken twice: a
    # plan without one (a sheet the server already matches) needs no check.
    if options.mode is not Mode.INSERT and not actions.isdisjoint(_MOVING):
        deleted = {i.record_id for i in server_only if i.action is Action.DELETE}
        staying = [r for r in records
                   if r[schema.ID.name] not in claims and r[schema.ID.name] not in deleted]
        _check_line_collisions(items, staying)
    limit = options.max_delete if options.max_delete is not None else default_delete_limit(
        len(in_scope))
    changes_process = any(schema.PROCESS_ID.name in changes
                          for changes in filter(None, map(_CHANGES_OF, made)))
    plan = Plan(items, server_only, options, len(in_scope), limit,
                process_names=_process_names(validated, records) if changes_process else {},
                product_names=_sheet_names(validated, schema.PRODUCT_ID))
    if plan.over_delete_limit:
        plan.warnings.append(plan.delete_limit_message)
    return plan


_MOVING = frozenset({Action.CREATE, Action.UPDATE})
_PRODUCT_OF, _ACTION_OF = attrgetter("product_id"), attrgetter("action")
_CHANGES_OF = attrgetter("changes")


def _unchanged(validated: ValidatedSheet, records_of: list[dict[str, Any] | None],
               managed: _Managed) -> np.ndarray:
    """Which rows are valid, match their record by id, name its product (or none) and hold
    every managed field as the record does: the rows nothing happens to, found column by
    column.  A record lacking a field is never equal (that row goes the long way)."""
    matched = _objects(records_of) != None  # noqa: E711 (elementwise, not identity)
    if validated.problems:
        matched &= np.array(validated.valid_rows(), dtype=bool)
    at = np.flatnonzero(matched)
    if not len(at):
        return matched
    records = [records_of[i] for i in at.tolist()]

    def compare(name: str, sheet_blank_is_equal: bool = False) -> np.ndarray:
        ours = _objects(validated.column(name))[at]
        theirs = _objects(list(map(dict.get, records, repeat(name), repeat(_MISSING))))
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


#: What a record lacking a field holds there, for the column comparison: equal to nothing.
_MISSING = object()


class _ByKey:
    """The records by match key, made on first use: only rows without an id look there."""

    def __init__(self, records: Sequence[dict[str, Any]],
                 key_of: Callable[[dict[str, Any]], tuple[Any, ...]]) -> None:
        self._records, self._key_of = records, key_of
        self._index: dict[tuple[Any, ...], list[dict[str, Any]]] | None = None

    def get(self, key: tuple[Any, ...], default: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = {}
            for record in self._records:
                self._index.setdefault(self._key_of(record), []).append(record)
        return self._index.get(key, default)


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


def _decide_row(row: SheetRow, by_id: dict[str, dict[str, Any]], by_key: _ByKey,
                key_of: Callable[[dict[str, Any]], tuple[Any, ...]], key: Sequence[str],
                managed: _Managed, options: PlanOptions,
                base: Mapping[str, dict[str, Any]]) -> PlanItem:
    values = row.values
    product_id = values.get(schema.PRODUCT_ID.name)
    if not row.valid:
        return PlanItem(Action.INVALID, row, None, product_id,
                        message="; ".join(str(e) for e in row.errors))

    record_id = values.get(schema.ID.name)
    if record_id is not None:
        record = by_id.get(record_id)
        if record is None and record_id in base:
            return _gone(row, base[record_id], managed)
        if record is None:
            return PlanItem(Action.CONFLICT, row, None, product_id,
                            message=f"the server has no line with id {record_id} (deleted since "
                                    f"the sheet was made?); clear the id to create it again")
        if product_id is not None and product_id != record.get(schema.PRODUCT_ID.name):
            return PlanItem(Action.CONFLICT, row, record, record.get(schema.PRODUCT_ID.name),
                            message=f"product_id cannot be changed on an existing line (the "
                                    f"server has {record.get(schema.PRODUCT_ID.name)})")
        return _compare(row, record, managed, options, base.get(record_id))

    candidates = by_key.get(key_of(values), [])
    if len(candidates) > 1:
        ids = ", ".join(sorted(c[schema.ID.name] for c in candidates))
        return PlanItem(Action.CONFLICT, row, None, product_id,
                        message=f"{len(candidates)} lines on the server have this "
                                f"{' + '.join(key)} ({ids}); give the id of the one to change")
    if candidates:
        return _compare(row, candidates[0], managed, options)

    if options.mode is Mode.UPDATE:
        return PlanItem(Action.SKIP, row, None, product_id,
                        message="no such line on the server; the update mode does not create lines")
    create = {f.name: values[f.name] for f in schema.WRITABLE
              if values.get(f.name) is not None}
    create.setdefault(schema.ACTIVE.name, schema.ACTIVE.default)
    return PlanItem(Action.CREATE, row, None, product_id, values=create)


def _gone(row: SheetRow, base_line: dict[str, Any], managed: _Managed) -> PlanItem:
    """A line of the base that the server no longer has: deleted there since the export."""
    product_id = base_line.get(schema.PRODUCT_ID.name)
    edited = mergebase.edited_since(row.values, base_line, managed.fields)
    if edited:
        return PlanItem(Action.CONFLICT, row, None, product_id,
                        message=f"deleted on the server since the export, but this row "
                                f"changes {', '.join(edited)}; clear the id to create it again")
    return PlanItem(Action.GONE, row, None, product_id,
                    message="deleted on the server since the export; nothing to do")


def _compare(row: SheetRow, record: dict[str, Any], managed: _Managed,
             options: PlanOptions, base_line: dict[str, Any] | None = None) -> PlanItem:
    product_id = record.get(schema.PRODUCT_ID.name)
    changes: dict[str, tuple[Any, Any]] = {}
    values = row.values
    if managed.all_equal(values, record):
        return PlanItem(Action.UNCHANGED, row, record, product_id)
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
        return PlanItem(Action.UNCHANGED, row, record, product_id)
    sheet_edited = row.values.get(schema.EDITED.name)
    if sheet_edited is not None and sheet_edited != record.get(schema.EDITED.name):
        who = record.get(schema.EDITED_BY.name)
        return PlanItem(Action.CONFLICT, row, record, product_id,
                        message=f"changed on the server at {record.get(schema.EDITED.name)}"
                                f"{' by ' + str(who) if who else ''} after this sheet was made; "
                                f"export again and redo the edit")
    if options.mode is Mode.INSERT:
        return PlanItem(Action.SKIP, row, record, product_id,
                        message=f"line exists and differs ({changes_text(changes)}); "
                                f"the insert mode does not update lines")
    return PlanItem(Action.UPDATE, row, record, product_id, changes=changes)


def _merge(row: SheetRow, record: dict[str, Any], managed: _Managed, options: PlanOptions,
           base_line: dict[str, Any]) -> PlanItem:
    """A row with a base, decided cell by cell (``mergebase.decide_cell``): only the cells
    the planner changed are sent, those only the server changed are kept, and a cell both
    changed differently makes the row a conflict naming that cell."""
    product_id = record.get(schema.PRODUCT_ID.name)
    cells = mergebase.merge_cells(row.values, base_line, record, managed.fields)
    if cells.conflicts:
        return PlanItem(Action.CONFLICT, row, record, product_id,
                        message=mergebase.conflict_message(cells, record),
                        kept=cells.kept, conflicts=cells.conflicts)
    kept = mergebase.kept_message(cells, record)
    if not cells.changes:
        return PlanItem(Action.UNCHANGED, row, record, product_id, message=kept,
                        kept=cells.kept)
    if options.mode is Mode.INSERT:
        return PlanItem(Action.SKIP, row, record, product_id,
                        message=f"line exists and differs ({changes_text(cells.changes)}); "
                                f"the insert mode does not update lines", kept=cells.kept)
    return PlanItem(Action.UPDATE, row, record, product_id, changes=cells.changes,
                    message=kept, kept=cells.kept)


def _check_line_collisions(items: PlanItems, staying: Sequence[dict[str, Any]]) -> None:
    """Two lines may not end on the same product + line number (the server refuses it).

    ``staying`` are the server records no row matches and no delete removes: they keep their
    line, so a row that would end on it becomes a conflict before anything is sent."""
    line = schema.LINE_NUMBER.name
    product_name = schema.PRODUCT_ID.name
    # Who ends on each product + line (a row position or a server id); only lines held more
    # than once get a list, so 100,000 rows cost one dict entry each.
    holder: dict[tuple[Any, Any], int | str] = {}
    clashes: dict[tuple[Any, Any], list[int | str]] = {}

    def hold(at: tuple[Any, Any], who: int | str) -> None:
        first = holder.setdefault(at, who)
        if first is not who:
            clashes.setdefault(at, [first]).append(who)

    for record in staying:
        hold((record.get(product_name), record.get(line)), record[schema.ID.name])
    kept = (Action.UPDATE, Action.UNCHANGED, Action.SKIP)
    decided = items.decided
    for pos, record in enumerate(items.records()):
        item = decided.get(pos)
        if item is None:                  # an unchanged row keeps its record's line
            assert record is not None
            hold((record.get(product_name), record.get(line)), pos)
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
                    if others else f"rows {_row_refs(items[p].row for p in positions)}")
        for pos in positions:
            item = items[pos]
            if item.action in (Action.CREATE, Action.UPDATE):
                item.action = Action.CONFLICT
                item.changes = {}
                item.message = (f"line {number} of product {product_id} would be taken twice "
                                f"({taken_by})")


def _server_only(items: Sequence[PlanItem], in_scope: list[dict[str, Any]],
                 claims: dict[str, int], options: PlanOptions) -> list[PlanItem]:
    claimed = map(claims.__contains__, map(itemgetter(schema.ID.name), in_scope))
    unmatched = list(compress(in_scope, map(not_, claimed)))
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
        if item.action is not Action.INVALID or item.row is None:
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
