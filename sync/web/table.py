"""The plan and result table, paged on the server: filter by status, search, sort, page.

A 100,000-row plan is one page of ``PAGE_ROWS`` rows, not 100,000 rows for the browser to
lay out; the counts the filters show are computed over every row, so the footer, the
filter buttons and the counts strip always agree.  Nothing here decides a row's status:
the API's ``row_status``/``server_only_rows`` do.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any
from urllib.parse import urlencode

from sync import api, schema
from sync.diff import Plan
from sync.model import CellError, PlanItem
from sync.report.palette import STATUS_ORDER

#: Rows on one page of the table.
PAGE_ROWS = 100
#: Statuses that say "nothing happens here": listed after the changes and the problems.
QUIET = frozenset({"unchanged", "left alone"})
#: The orders the table offers: changes and problems first (default), or the sheet's.
ORDERS = ("changes", "sheet")
#: A search longer than this is cut: nobody types more, and it bounds the work per row.
MAX_SEARCH = 100


class Entry:
    """One table row: a sheet row (``row`` set) or a server line the sheet lacks.

    Only the status is worked out for every row (the counts and filters need it); what a
    row shows and is searched by is read from its plan item when asked for."""

    __slots__ = ("position", "status", "message", "item", "plan")

    def __init__(self, position: int, status: str, message: str, item: PlanItem,
                 plan: Plan) -> None:
        self.position = position   # sheet order: sheet rows first, then the server's lines
        self.status = status
        self.message = message
        self.item = item
        self.plan = plan

    @property
    def row(self) -> int | None:
        """The sheet's row number; None for a server-only line."""
        return None if self.item.row is None else self.item.row.row_number

    @property
    def errors(self) -> list[CellError]:
        return [] if self.item.row is None else self.item.row.errors

    def _value(self, name: str) -> Any:
        item = self.item
        if item.row is not None and item.row.values.get(name) is not None:
            return item.row.values[name]
        return (item.record or {}).get(name)

    @property
    def product(self) -> str | None:
        product = self.item.product_id or self._value(schema.PRODUCT_ID.name)
        return None if product is None else str(product)

    @property
    def product_name(self) -> str:
        return self.plan.product_names.get(self.product or "", "")

    @property
    def line(self) -> Any:
        return self._value(schema.LINE_NUMBER.name)

    @property
    def process(self) -> str:
        """The process's name (or its id when no name is known)."""
        process_id = self._value(schema.PROCESS_ID.name)
        name = self.plan.process_names.get(str(process_id)) if process_id is not None else None
        return str(name or self._value(schema.PROCESS.name) or process_id or "")

    def matches(self, needle: str) -> bool:
        """``needle`` (lower case) in the product, its name or the process; a number is
        also the sheet row of that number."""
        if needle.isdigit() and self.row == int(needle):
            return True
        return any(needle in text.lower() for text in
                   (self.product or "", self.product_name, self.process))


@dataclass(frozen=True)
class TableQuery:
    """What the planner asked the table for (the page's query string)."""

    status: str = ""           # "" for every status
    search: str = ""
    order: str = ORDERS[0]
    page: int = 1

    @classmethod
    def of(cls, query: Mapping[str, str]) -> TableQuery:
        """From a query string; anything unexpected falls back to the default."""
        raw_page = str(query.get("page", "1"))
        order = query.get("order", ORDERS[0])
        return cls(status=str(query.get("status", ""))[:40],
                   search=" ".join(str(query.get("q", "")).split())[:MAX_SEARCH],
                   order=order if order in ORDERS else ORDERS[0],
                   page=int(raw_page) if raw_page.isdigit() and len(raw_page) < 9 else 1)

    def link(self, **changes: Any) -> str:
        """The query string of this view with ``changes``; a new filter starts at page 1."""
        target = replace(self, **changes)
        if "page" not in changes:
            target = replace(target, page=1)
        params = {"status": target.status, "q": target.search,
                  "order": "" if target.order == ORDERS[0] else target.order,
                  "page": "" if target.page == 1 else str(target.page)}
        text = urlencode({k: v for k, v in params.items() if v})
        return f"?{text}" if text else "?"


@dataclass(frozen=True)
class TablePage:
    query: TableQuery
    #: Rows per status among those the search matches (all statuses, whatever the filter).
    counts: dict[str, int]
    matched: int               # rows the search and the status filter both match
    entries: list[Entry]       # this page's rows
    first: int                 # 1-based number of this page's first row (0 when empty)
    pages: int

    @property
    def searched(self) -> int:
        """Rows the search matches, over every status."""
        return sum(self.counts.values())

    @property
    def last(self) -> int:
        return self.first + len(self.entries) - 1 if self.entries else 0


def entries(result: api.PlanResult) -> list[Entry]:
    """Every row of ``result`` in sheet order, then the server's lines the sheet lacks."""
    plan = result.plan
    status = result.item_status
    return [Entry(n, *status(item), item, plan)
            for n, item in enumerate(chain(plan.items, plan.server_only))]


#: Each result's entries, made once: paging a 100,000-row plan must not rebuild them.
_ENTRIES: dict[int, list[Entry]] = {}


def cached_entries(result: api.PlanResult) -> list[Entry]:
    """``entries(result)``, kept while ``result`` lives (a plan put aside drops them)."""
    key = id(result)
    found = _ENTRIES.get(key)
    if found is None:
        found = _ENTRIES[key] = entries(result)
        weakref.finalize(result, _ENTRIES.pop, key, None)
    return found


def _rank(status: str) -> int:
    return STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER)


def ordered_counts(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """``counts`` in the report's status order (unknown statuses last, by name)."""
    return sorted(counts.items(), key=lambda item: (_rank(item[0]), item[0]))


def select(rows: list[Entry], query: TableQuery, per_page: int = PAGE_ROWS) -> TablePage:
    """The page of ``rows`` that ``query`` asks for, with the counts over all of them."""
    needle = query.search.lower()
    searched = [r for r in rows if r.matches(needle)] if needle else rows
    counts = Counter(r.status for r in searched)
    chosen = [r for r in searched if r.status == query.status] if query.status else searched
    if query.order == "changes":
        # Stable: sheet order within the rows that say something, then the quiet ones.
        chosen = sorted(chosen, key=lambda r: r.status in QUIET)
    if needle.isdigit():
        # A number is most likely a row number: that row first, then what merely holds it.
        number = int(needle)
        chosen = sorted(chosen, key=lambda r: r.row != number)
    pages = max(1, -(-len(chosen) // per_page))
    page = min(max(query.page, 1), pages)
    start = (page - 1) * per_page
    shown = chosen[start:start + per_page]
    return TablePage(replace(query, page=page), dict(counts), len(chosen), shown,
                     start + 1 if shown else 0, pages)
