"""Names instead of uuids: resolve the sheet's product and process names, and check its ids.

Runs in the fetch stage, after validation and before the diff (``api._plan_with``).  For each
reference column the sheet has (``schema.REFERENCES``: ``product`` stands for ``product_id``,
``process`` for ``process_id``), the distinct names are looked up in the catalog
(``/api/products``, ``/api/processes``) with batched ``<name>-in=`` and ``barcode-in=``
requests, all in flight together, and each row gets the id its name resolves to, so the diff
works on ids as if the sheet had given them.  The ids the sheet gives itself are checked to
exist (``products_exist`` / ``processes_exist``), as before.

Match rules, for one value among the records of one catalog; the first rule that finds
anything decides:

1. the name, exactly (both sides trimmed);
2. the barcode, exactly;
3. the name, ignoring case (``casefold``);
4. the barcode, ignoring case.

One record: the row gets its id.  None: ``no product named "X"``.  Several: the row is
invalid and the message names the candidates, so the planner can pick one by barcode or id.
Exact before loose means that a server holding both "Bracket" and "BRACKET" still resolves
each of them.  The lookups compare the records the server answers locally, so a server whose
filters ignore case (as many SQL collations do) gives the same results as one that does not.
Names and barcodes left over by rules 1-2 are looked up one by one with ``-contains`` (which
ignores case); when more than ``LOOSE_LOOKUPS_MAX`` are left, the whole catalog is read once
instead.

Errors go only to rows that are otherwise valid (a row's other mistakes are reported first).
A row may give both the name and the id (an export does): when the name's matches include the
id, the id decides, so a name two products share is no problem.  When they disagree on a
line the server has, the one that still says what the server's line holds is the one the
planner left alone, so the other one wins (an edited name, or an edited id); when both differ
from the line, or the row is a new line, the row is invalid.  Invalid rows still get the id
their name uniquely resolves to, so that mirror mode protects exactly their product from
deletion.  A catalog that cannot be read (this login may
not, or the server refuses the filter: 400/401/403/404) skips the id check with one warning,
and a row that needs a name resolved becomes invalid: it cannot be sent without an id.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import numpy as np

from . import schema
from .client import FlowtracClient, all_or_nothing, read_in_batch
from .errors import CatalogUnreadableError, ServerError
from .listing import Listing
from .model import CellError, ValidatedSheet
from .validate import key_label, other_numbers

if TYPE_CHECKING:
    from .diff import PlanItems

__all__ = ["LOOKUP_CHARS", "LOOSE_LOOKUPS_MAX", "READ_ONLY_SUFFIX", "CatalogLookup",
           "CatalogUnreadableError", "ReadOnlyColumn", "check_references", "names_of",
           "read_only_columns", "read_only_edits"]

_T = TypeVar("_T")
Record = dict[str, Any]
Filters = list[tuple[str, str]]

#: Most URL-encoded characters of values one ``-in`` request carries: about what a batch of
#: 200 ids takes, which servers are known to accept.  The count per request is bounded by
#: ``FlowtracClient.listing_batch`` too, and a batch refused as too long (414) is split.
LOOKUP_CHARS = 6000
#: Values left unmatched by the exact rules that are looked up one by one (``-contains``);
#: with more, the whole catalog is read once instead.
LOOSE_LOOKUPS_MAX = 20
#: Candidates an ambiguity message lists before "and N more".
SHOWN_CANDIDATES = 5
#: Text that travels in a URL as it is, spaces aside.
_PLAIN = re.compile(r"[A-Za-z0-9_.~ -]*")
#: Server answers that mean "the catalog cannot be read this way": no permission (401, 403),
#: no such endpoint (404), or a filter the server does not support (400; the vendor only says
#: the catalogs take "the same filters").  The run goes on without the catalog.
_UNREADABLE = (400, 401, 403, 404)


# --------------------------------------------------------------------------- lookups


@dataclass
class CatalogLookup:
    """Names and barcodes -> the records of one catalog they match; cached for the run."""

    reference: schema.Reference
    #: GET the catalog with filters; the records' ids canonical (``FlowtracClient`` does it)
    read: Callable[[Filters | None], Awaitable[list[Record]]]
    batch: int = 200
    _cache: dict[str, list[Record]] = field(default_factory=dict, init=False, repr=False)

    async def resolve(self, values: Iterable[str]) -> dict[str, list[Record]]:
        """Each value -> the records it matches under the match rules (``[]``: none).

        Raises ``CatalogUnreadableError`` when the server will not list the catalog."""
        wanted = [v for v in dict.fromkeys(values) if v not in self._cache]
        if wanted:
            try:
                self._cache.update(await self._lookup(wanted))
            except ServerError as exc:
                if exc.status not in _UNREADABLE:
                    raise
                raise CatalogUnreadableError(str(exc)) from None
        return {v: self._cache[v] for v in values}

    async def _lookup(self, wanted: list[str]) -> dict[str, list[Record]]:
        ref = self.reference
        seen: dict[str, Record] = {}
        found: dict[str, list[Record]] = {}
        rest = wanted
        for column in (ref.name_column, ref.barcode_column):     # rules 1 and 2
            if not rest:
                break
            records = self._by_id(await self._exact(column, rest))
            index = _index(records, column, _exact_text)
            seen.update(records)
            found.update((v, index[v]) for v in rest if v in index)
            rest = [v for v in rest if v not in found]
        if rest:                                                  # rules 3 and 4
            for record_id, record in self._by_id(await self._loose_candidates(rest)).items():
                seen.setdefault(record_id, record)
            by_name = _index(seen, ref.name_column, _loose_text)
            by_barcode = _index(seen, ref.barcode_column, _loose_text)
            for value in rest:
                key = _loose_form(value)
                found[value] = by_name.get(key) or by_barcode.get(key) or []
        return found

    async def _exact(self, column: str, values: list[str]) -> list[Record]:
        """Records whose ``column`` is one of ``values``: ``-in`` batches, and one ``=``
        request per value holding a comma (which ``-in`` would split)."""
        plain = [v for v in values if "," not in v]
        requests: list[Awaitable[list[Record]]] = [
            self._read_in(column, chunk) for chunk in _chunks(plain, self.batch, LOOKUP_CHARS)]
        requests += [self.read([(column, v)]) for v in values if "," in v]
        return [r for answer in await all_or_nothing(requests) for r in answer]

    async def _read_in(self, column: str, chunk: list[str]) -> list[Record]:
        return await read_in_batch(
            lambda values: self.read([(f"{column}-in", ",".join(values))]), chunk)

    async def _loose_candidates(self, values: list[str]) -> list[Record]:
        ref = self.reference
        if len(values) > LOOSE_LOOKUPS_MAX:
            return await self.read(None)
        requests = [self.read([(f"{column}-contains", v)])
                    for v in values for column in (ref.name_column, ref.barcode_column)]
        return [r for answer in await all_or_nothing(requests) for r in answer]

    def _by_id(self, records: Iterable[Record]) -> dict[str, Record]:
        """Records by their id.  A record answered twice (a server whose filters ignore case
        answers "Bracket" for "bracket" too) counts once."""
        target = self.reference.target
        return {str(r.get(target.name)): r for r in records}


def _index(records: dict[str, Record], column: str, key: Callable[[Any], str | None]
           ) -> dict[str, list[Record]]:
    """Records (by id) grouped by the key of one column."""
    index: dict[str, list[Record]] = defaultdict(list)
    for record in records.values():
        text = key(record.get(column))
        if text:
            index[text].append(record)
    return index


def _exact_text(value: Any) -> str | None:
    return None if value is None else str(value).strip()


def _loose_text(value: Any) -> str | None:
    return None if value is None else _loose_form(str(value))


def _loose_form(text: str) -> str:
    """The form rules 3 and 4 compare: no surrounding spaces, case folded."""
    return text.strip().casefold()


def _chunks(values: list[str], size: int, chars: int) -> list[list[str]]:
    """Consecutive groups of at most ``size`` values and ``chars`` URL-encoded characters (a
    longer single value travels alone)."""
    out: list[list[str]] = []
    chunk: list[str] = []
    length = 0
    for value in values:
        cost = _encoded_length(value) + 1   # and the comma between values
        if chunk and (len(chunk) >= size or length + cost > chars):
            out.append(chunk)
            chunk, length = [], 0
        chunk.append(value)
        length += cost
    if chunk:
        out.append(chunk)
    return out


def _encoded_length(value: str) -> int:
    """Length of ``value`` in a URL; the quoting is skipped for the usual plain names."""
    if _PLAIN.fullmatch(value):
        return len(value) + 2 * value.count(" ")   # a space travels as %20
    return len(quote(value, safe=""))


# --------------------------------------------------------------------------- the stage


@dataclass
class _Outcome:
    """What the server told about one reference: per distinct value, its id or its problem."""

    reference: schema.Reference
    # The ids are the records' as the server sent them: None for a record without one.
    resolved: dict[str, str | None] = field(default_factory=dict)  # value -> the one id it names
    problems: dict[str, str] = field(default_factory=dict)   # value -> why it names none
    matches: dict[str, set[str | None]] = field(default_factory=dict)  # value -> each id it matches
    names_read: bool = True           # False: the catalog could not be read for names
    known_ids: set[str] | None = None  # ids the server has; None: not checked
    asked_ids: set[str] = field(default_factory=set)   # the ids checked (of valid rows)
    has_names: bool = True            # the sheet has this reference's name column
    refusal: str | None = None        # the server's words when the catalog is unreadable

    def take(self, matches: dict[str, list[Record]]) -> None:
        """Turn each value's matching records into its id, or into a message."""
        ref = self.reference
        target = ref.target
        for value, found in matches.items():
            self.matches[value] = {r.get(target.name) for r in found}
            if len(found) == 1:
                self.resolved[value] = found[0].get(target.name)
            elif not found:
                self.problems[value] = f"no {ref.noun} named {_quoted(value)}"
            else:
                self.problems[value] = (f"{_quoted(value)} matches {len(found)} {ref.noun}s: "
                                        f"{_candidates(ref, found)}; use the barcode or the "
                                        f"{target.name}")


def _readers(client: FlowtracClient, reference: schema.Reference
             ) -> tuple[Callable[[Filters | None], Awaitable[list[Record]]],
                        Callable[[Iterable[str]], Awaitable[set[str]]]]:
    if reference.target is schema.PRODUCT_ID:
        return client.list_products, client.products_exist
    return client.list_processes, client.processes_exist


async def check_references(validated: ValidatedSheet, client: FlowtracClient,
                           current: Listing | Awaitable[Listing] | None = None) -> list[str]:
    """Resolve the sheet's names to ids and check the ids it gives; returns warnings.

    Fills ``row.values[<id field>]`` from the names, adds row errors for names that match
    nothing, match several records or disagree with the row's id, and for ids the server does
    not have.  Never raises for a catalog this login may not read (see the module text).
    Each distinct name is looked up once, so the work per row is a few dictionary lookups.

    ``current``: the server's lines, to tell which of a disagreeing name and id the planner
    edited (see the module text); their products and processes are known to exist without
    asking the catalog (a line names only what the server has).  It may still be on its way
    (an awaitable): the names are looked up meanwhile, as they need no line."""
    sheet = validated.sheet
    checkable = validated.valid_rows()   # errors go to rows valid before this stage
    lines = asyncio.ensure_future(_listing(current))
    try:
        outcomes = await all_or_nothing([
            _ask(validated, checkable, client, ref, ref.name in sheet.fields, lines)
            for ref in schema.REFERENCES])
        listing = await lines
    finally:
        lines.cancel()
    warnings: list[str] = []
    filled = False
    line_at = listing.positions(validated.column(schema.ID.name))   # each row's line
    for outcome in outcomes:
        if outcome.refusal is not None:
            warnings.append(_refusal_warning(outcome, outcome.reference.name in sheet.fields))
        filled |= _settle(validated, checkable, outcome, listing, line_at)
    if filled:
        _mark_resolved_duplicates(validated)
    # The ids resolved from names are the sheet's ids now: the diff manages them.
    validated.present = validated.present | {ref.target.name for ref in schema.REFERENCES
                                             if ref.name in sheet.fields}
    return warnings


async def _listing(current: Listing | Awaitable[Listing] | None) -> Listing:
    if current is None:
        return Listing()
    if isinstance(current, Listing):
        return current
    return await current


async def _ask(validated: ValidatedSheet, checkable: list[bool], client: FlowtracClient,
               ref: schema.Reference, has_names: bool, lines: Awaitable[Listing]) -> _Outcome:
    """Look up the names and check the ids of one reference, both at once.

    Names of invalid rows are looked up too (their ids protect their product in mirror mode);
    only the ids of valid rows are checked, and of those only the ones the server's ``lines``
    do not name.  ``has_names``: the sheet has the name column."""
    target, name = ref.target.name, ref.name
    ids = set(compress(validated.column(target), checkable)) - {None}
    names = ([v for v in dict.fromkeys(validated.column(name)) if v is not None]
             if has_names else [])
    read, exist = _readers(client, ref)
    lookup = CatalogLookup(ref, read, client.listing_batch)
    outcome = _Outcome(ref, asked_ids=ids, has_names=has_names)

    async def check_ids() -> None:
        if ids:
            existing = set((await lines).column(target))
            unknown = ids - existing
            try:
                outcome.known_ids = (ids & existing) | (await exist(unknown) if unknown
                                                        else set())
            except ServerError as exc:
                if exc.status not in _UNREADABLE:
                    raise
                outcome.refusal = str(exc)

    async def resolve_names() -> None:
        if names:
            try:
                outcome.take(await lookup.resolve(names))
            except CatalogUnreadableError as exc:
                outcome.names_read = False
                outcome.refusal = str(exc)

    await all_or_nothing([check_ids(), resolve_names()])
    return outcome


def _refusal_warning(outcome: _Outcome, has_names: bool) -> str:
    ref = outcome.reference
    text = (f"cannot read the {ref.noun} list ({outcome.refusal}): {ref.noun} ids were not "
            f"checked before writing")
    if has_names:
        text += (f", and {ref.noun} names cannot be resolved (rows that name a {ref.noun} "
                 f"without its {ref.target.name} are invalid)")
    return text


def _settle(validated: ValidatedSheet, checkable: list[bool], outcome: _Outcome,
            current: Listing, line_at: np.ndarray) -> bool:
    """Apply one reference's outcome to every row; True when any resolved id was filled in.
    ``line_at``: each row's line in ``current`` (-1: none).

    An invalid row gets its id filled in but no further error."""
    ref = outcome.reference
    target, name = ref.target.name, ref.name
    sheet = validated.sheet
    resolved, problems, known = outcome.resolved, outcome.problems, outcome.known_ids
    if not outcome.has_names and (known is None or outcome.asked_ids <= known):
        return False       # no name to fill in and no unknown id: no row changes
    filled = False
    givens, texts = validated.column(target), validated.column(name)
    ids = validated.column(schema.ID.name)
    row_numbers = validated.row_numbers
    # Each row's line's value of the target, as the server has it.
    on_servers = current.values(target, line_at)
    # A row giving a name and a known id (an export's) is judged by the name, the id and its
    # line's id alone: each such triple once (``_both_given``), and the rows whose triple
    # needs nothing (the name says the id the line has) are not looked at one by one.
    triples = list(zip(texts, givens, on_servers, strict=True))
    both = {triple: _judged(outcome, *triple) for triple in set(triples)
            if None not in triple[:2] and outcome.names_read
            and (known is None or triple[1] in known)}
    unknown = set() if known is None else set(givens) - known - {None}
    for at in [at for at, triple in enumerate(triples)
               if (triple[0] is not None and both.get(triple) is not _QUIET)
               or (unknown and triple[1] in unknown)]:
        given, text, on_server = givens[at], texts[at], on_servers[at]
        problem: tuple[str, str] | None = None      # (column, message)
        if given is not None and known is not None and given not in known:
            problem = target, f"no {ref.noun} with id {given}"
        elif text is None:
            continue
        elif not outcome.names_read:
            # A line names its process (``process``) itself: a name changed from it cannot
            # be told from the id, which would be sent unchanged without a word.
            line = current.get(ids[at]) or {}
            shown = line.get(ref.name)
            if given is None or (shown is not None and given == line.get(target)
                                 and _exact_text(shown) != text):
                problem = name, (f"{ref.noun} {_quoted(text)} cannot be looked up "
                                 f"({outcome.refusal}); give the {target} instead")
        elif given is not None:
            problem, edited = both[text, given, on_server]
            if edited:
                validated.set_value(at, target, resolved[text])  # the name was edited: it wins
                filled = True
        elif text in resolved:
            validated.set_value(at, target, resolved[text])
            filled = True
        else:
            problem = name, problems[text]
        if problem is not None and checkable[at]:
            column, message = problem
            validated.add_error(at, CellError(row_numbers[at], sheet.header_of(column),
                                              sheet.letter_of(column), message))
    return filled


#: A row that names its line's own product (or process) both ways: nothing to settle.
_QUIET: tuple[tuple[str, str] | None, bool] = (None, False)


def _judged(outcome: _Outcome, text: str, given: str, on_server: str | None
            ) -> tuple[tuple[str, str] | None, bool]:
    """A row giving both the name and the id: its problem (or None), and whether the name
    was edited and its id replaces the one given; ``_QUIET`` when neither."""
    problem = _both_given(outcome.reference, text, given, on_server, outcome)
    resolved = outcome.resolved
    edited = (problem is None and text in resolved and given == on_server
              and resolved[text] != given)
    return _QUIET if problem is None and not edited else (problem, edited)


def _both_given(ref: schema.Reference, text: str, given: str, on_server: str | None,
                outcome: _Outcome) -> tuple[str, str] | None:
    """The problem of a row that gives both the name and the id, or None when the row says
    one thing: the name's matches include the id (a shared name, told apart by the id), the
    name still says what the line holds (the id was edited), or the id does (the name was
    edited, and names one record)."""
    target = ref.target.name
    matches = outcome.matches.get(text, set())
    if given in matches or (on_server is not None and on_server in matches):
        return None
    if text not in outcome.resolved:
        return ref.name, outcome.problems[text]
    if given == on_server:
        return None
    said = f"{ref.noun} {_quoted(text)} is id {outcome.resolved[text]}, but {target} says {given}"
    if on_server is None:
        return ref.name, said
    return ref.name, (f"{said}, and both differ from the line's {ref.noun} {on_server}: "
                      f"change one of them only")


def _quoted(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return f'"{text if len(text) <= limit else text[:limit - 3] + "..."}"'


def _candidates(ref: schema.Reference, records: list[Record]) -> str:
    def describe(record: Record) -> str:
        details = [f"id {ref.target.from_wire(record.get(ref.target.name))}"]
        barcode = _exact_text(record.get(ref.barcode_column))
        if barcode:
            details.append(f"barcode {barcode}")
        if schema.ACTIVE.from_wire(record.get(schema.ACTIVE.name)) == "InActive":
            details.append("inactive")
        name = _exact_text(record.get(ref.name_column)) or "(no name)"
        return f"{name} ({', '.join(details)})"

    shown = sorted(describe(r) for r in records)
    text = ", ".join(shown[:SHOWN_CANDIDATES])
    if len(shown) > SHOWN_CANDIDATES:
        text += f" and {len(shown) - SHOWN_CANDIDATES} more"
    return text


def _mark_resolved_duplicates(validated: ValidatedSheet) -> None:
    """Rows that name one line only once names are resolved ("Bracket" and its barcode on
    the same line number): each such row that is still valid becomes invalid.  Copies with the
    same text were found by validation already."""
    key, id_name = validated.key, schema.ID.name
    ids = validated.column(id_name)
    key_values = zip(*map(validated.column, key), strict=True)
    keys = [None if ident is not None else row_key
            for ident, row_key in zip(ids, key_values, strict=True)]
    repeated = {k for k, count in Counter(keys).items()
                if count > 1 and k is not None and None not in k}
    if not repeated:
        return
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    for at, row_key in enumerate(keys):
        if row_key in repeated:
            groups[row_key].append(at)
    label = key_label(validated.sheet.fields, key)
    numbers = validated.row_numbers
    for copies in groups.values():
        shown = [numbers[at] for at in copies]
        for at in copies:
            if validated.valid(at):
                validated.add_error(at, CellError(numbers[at], None, None,
                                                  f"the same {label} is also on "
                                                  f"{other_numbers(numbers[at], shown)}"))


async def names_of(client: FlowtracClient, reference: schema.Reference, ids: Iterable[str]
                   ) -> dict[str, str]:
    """id -> name of these products (or processes), for what a planner is shown; empty when
    this login may not read the catalog (the lines are then named by id)."""
    read, _exist = _readers(client, reference)
    target = reference.target
    batches = _chunks(sorted(set(ids)), client.listing_batch, LOOKUP_CHARS)
    try:
        answers = await all_or_nothing([
            read_in_batch(lambda values: read([(f"{target.filter_name or target.name}-in",
                                                ",".join(values))]), batch)
            for batch in batches])
    except ServerError as exc:
        if exc.status not in _UNREADABLE:
            raise
        return {}
    return {str(target.from_wire(r.get(target.name))): str(r[reference.name_column])
            for answer in answers for r in answer if r.get(reference.name_column)}


# --------------------------------------------------------------------------- read-only edits

#: The header ending of the context columns an export writes (``product (read-only)``).
READ_ONLY_SUFFIX = "(read-only)"
_PRODUCT = schema.REFERENCE_FOR[schema.PRODUCT_ID.name].name


@dataclass(frozen=True)
class ReadOnlyColumn:
    """A column the tool never sends, which an export filled from the server's line."""

    position: int           # in the sheet's frame
    header: str
    letter: str
    shows: str              # the server field it shows; ``product``: the product's name


def read_only_columns(validated: ValidatedSheet) -> list[ReadOnlyColumn]:
    """The sheet's ``X (read-only)`` columns whose X is a field of a server line (or the
    product's name), as this and earlier versions of the export wrote them."""
    sheet = validated.sheet
    tokens = {schema.header_token(n): n for n in (*schema.BY_NAME, _PRODUCT)}
    out = []
    for position, header in enumerate(sheet.headers):
        text = str(header).strip()
        if not text.casefold().endswith(READ_ONLY_SUFFIX):
            continue
        shows = tokens.get(schema.header_token(text[:-len(READ_ONLY_SUFFIX)]))
        if shows is not None and position not in sheet.fields.values():
            out.append(ReadOnlyColumn(position, text, sheet.letters[position], shows))
    return out


def read_only_edits(validated: ValidatedSheet, items: PlanItems,
                    columns: list[ReadOnlyColumn], product_names: Mapping[str, str]
                    ) -> dict[int, list[str]]:
    """Row index -> a warning per read-only cell the planner changed: one that no longer says
    what the server's line holds, on a line not edited on the server since the export (were
    it, the line would differ by no edit of the planner's).  ``items``: the plan's items,
    whose lines are compared.  ``product_names``: the catalog's names, for a
    ``product (read-only)`` column."""
    fields = validated.sheet.fields
    out: dict[int, list[str]] = defaultdict(list)
    edited = schema.EDITED.name
    stamps = validated.columns.get(edited)
    line_stamps = items.line_values(edited)
    positions, numbers = validated.positions, validated.row_numbers
    compared = [at for at, p in enumerate(items.line_at.tolist())
                if p >= 0 and (stamps is None or edited in validated.absent.get(at, ())
                               or stamps[at] == line_stamps[at])]
    for column in columns:
        cells = validated.sheet.cells(column.position)
        if column.shows == _PRODUCT:
            servers = [product_names.get(p or "") for p in
                       items.line_values(schema.PRODUCT_ID.name)]
        else:
            servers = items.line_values(column.shows)
        for at in compared:
            server = servers[at]
            if server is None and column.shows == _PRODUCT:
                continue            # the catalog could not name it: nothing to compare
            cell = cells[positions[at]]
            if cell != server and _cell_text(cell) != _cell_text(server):  # the same text: alike
                out[positions[at]].append(f"{column.letter}{numbers[at]}: "
                                          f"{column.header!r} changed, but it is never sent"
                                          + _instead(column.shows, fields))
    return dict(sorted(out.items()))


def _instead(shows: str, fields: Mapping[str, int]) -> str:
    """Where the change belongs: the name column, else the id column, when the sheet has it."""
    reference = schema.REFERENCE_BY_NAME.get(shows)
    for name in ((shows, reference.target.name) if reference is not None else ()):
        if name in fields:
            return f"; change {name!r}"
    return ""


def _cell_text(value: Any) -> str:
    """A cell or server value as compared: blanks alike, trimmed, a CSV's quote prefix off."""
    if value is None or value != value:          # NaN: a blank cell of a frame
        return ""
    text = str(value).strip()
    if text.startswith("'") and schema.is_formula_like(text[1:]):
        text = text[1:]
    return text
