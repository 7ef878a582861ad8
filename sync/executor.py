"""Execute a plan: an asyncio worker pool sending the writes through the client.

Order per product: deletes, then updates, then creates, so line numbers are freed before they
are reused; products run in parallel.  Updates that permute line numbers inside a product first
park the records whose line another update needs on a free line, then apply the final values.

A write whose answer was lost (``AmbiguousWriteError``) is never blindly repeated: the server is
asked first whether the write took effect, and only if it did not is the write sent again.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import schema
from .errors import AmbiguousWriteError, ConnectionProblemError, ServerError
from .journal import Journal, record_json
from .model import Action, Outcome, PlanItem, Status


class LineClient(Protocol):
    """What the executor needs of ``sync.client.FlowtracClient``."""

    async def create_line(self, values: dict[str, Any]) -> dict[str, Any] | None: ...
    async def update_line(self, record_id: str, changes: dict[str, Any]
                          ) -> dict[str, Any] | None: ...
    async def delete_line(self, record_id: str) -> None: ...
    async def list_lines(self, filters: list[tuple[str, str]] | None = None
                         ) -> Sequence[dict[str, Any]]: ...


@dataclass
class Progress:
    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)
    #: When the writes ended: the rate is of the write phase, not diluted by the time since.
    ended: float | None = None

    @property
    def rate(self) -> float:
        elapsed = (self.ended or time.monotonic()) - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None


@dataclass
class Execution:
    outcomes: dict[PlanItem, Outcome]
    stopped: bool = False                 # interrupted (Ctrl-C) before all work was taken
    fatal: Exception | None = None        # cannot log in / reach the server: the run stopped
    writes_sent: int = 0


@dataclass
class _Step:
    item: PlanItem
    kind: str                              # "delete" | "park" | "update" | "create"
    park_line: int | None = None


@dataclass
class _ProductWork:
    phases: list[list[_Step]]
    pending: int = 0


def _phases(items: list[PlanItem], lines_in_use: set[Any]) -> list[list[_Step]]:
    """Deletes, parking moves, updates, creates: the order that never clashes on a line.

    ``lines_in_use`` holds every line number the product has or will have, so a parking
    line is one that nobody uses."""
    line = schema.LINE_NUMBER.name
    deletes = [_Step(i, "delete") for i in items if i.action is Action.DELETE]
    updates = [i for i in items if i.action is Action.UPDATE]
    creates = [_Step(i, "create") for i in items if i.action is Action.CREATE]
    # A record that moves off a line another update moves onto is parked first on a line
    # nobody uses, so the permutation never holds two records on one line at once.
    targets = {i.changes[line][1] for i in updates if line in i.changes}
    free = max((n for n in lines_in_use | targets if isinstance(n, int)), default=0) + 1
    parks = []
    for item in updates:
        if line in item.changes and item.changes[line][0] in targets:
            parks.append(_Step(item, "park", park_line=free))
            free += 1
    phases = [deletes, parks, [_Step(i, "update") for i in updates], creates]
    return [p for p in phases if p]


class Executor:
    def __init__(self, client: LineClient, *, workers: int = 16, retries: int = 5,
                 journal: Journal | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 stop: asyncio.Event | None = None):
        self.client = client
        self.workers = max(1, workers)
        self.retries = retries
        self.journal = journal or Journal(None)
        self.on_progress = on_progress
        self.stop = stop or asyncio.Event()

    async def run(self, items: list[PlanItem]) -> Execution:
        """Send the writes among ``items`` (the plan's items, at least every item of a product
        that has a write: the others tell which lines are in use); returns one outcome per
        write."""
        writes = [i for i in items if i.action.writes]
        by_product: dict[str | None, list[PlanItem]] = defaultdict(list)
        for item in writes:
            by_product[item.product_id].append(item)
        line = schema.LINE_NUMBER.name
        lines_in_use: dict[str | None, set[Any]] = defaultdict(set)
        for item in items:
            if item.product_id in by_product:
                lines_in_use[item.product_id].update(
                    n for n in ((item.record or {}).get(line), item.values.get(line))
                    if n is not None)
        progress = Progress(total=len(writes))
        execution = Execution(outcomes={})
        queue: asyncio.Queue[tuple[_ProductWork, _Step] | None] = asyncio.Queue()
        remaining = len(by_product)
        all_done = asyncio.Event()
        if remaining == 0:
            return execution

        def start_next_phase(work: _ProductWork) -> None:
            nonlocal remaining
            if not work.phases:
                remaining -= 1
                if remaining == 0:
                    all_done.set()
                return
            phase = work.phases.pop(0)
            work.pending = len(phase)
            for step in phase:
                queue.put_nowait((work, step))

        for product_id, product_items in by_product.items():
            start_next_phase(_ProductWork(_phases(product_items, lines_in_use[product_id])))

        async def worker() -> None:
            while True:
                entry = await queue.get()
                if entry is None or self.stop.is_set():
                    return
                work, step = entry
                try:
                    outcome = await self._run_step(step, execution)
                except ConnectionProblemError as exc:   # AuthError, ServerUnavailableError too
                    execution.fatal = execution.fatal or exc
                    self.stop.set()
                    return
                if step.kind != "park":
                    execution.outcomes[step.item] = outcome
                    progress.done += 1
                    progress.failed += outcome.status is Status.FAILED
                    if self.on_progress:
                        self.on_progress(progress)
                work.pending -= 1
                if work.pending == 0:
                    start_next_phase(work)

        tasks = [asyncio.create_task(worker()) for _ in range(self.workers)]
        stop_wait = asyncio.create_task(self.stop.wait())
        done_wait = asyncio.create_task(all_done.wait())
        await asyncio.wait({stop_wait, done_wait}, return_when=asyncio.FIRST_COMPLETED)
        execution.stopped = self.stop.is_set() and not all_done.is_set()
        for _ in tasks:
            queue.put_nowait(None)
        # In-flight requests finish; workers take no new work once stop is set.
        await asyncio.gather(*tasks)
        progress.ended = time.monotonic()
        for waiter in (stop_wait, done_wait):
            waiter.cancel()
        reason = ("not sent: the run was interrupted; run again to continue"
                  if execution.fatal is None else f"not sent: {execution.fatal}")
        for item in writes:
            execution.outcomes.setdefault(item, Outcome(Status.SKIPPED, item.record_id, reason))
        return execution

    # ------------------------------------------------------------------ one write

    async def _run_step(self, step: _Step, execution: Execution) -> Outcome:
        item = step.item
        try:
            if step.kind == "create":
                return await self._create(item, execution)
            record_id = item.record_id
            if record_id is None:
                # Plans take updates and deletes from listed lines, which all have ids: a
                # write without one has nothing to send to, and is not guessed.
                return Outcome(Status.FAILED, None, f"the plan names no line to {step.kind}")
            if step.kind == "delete":
                return await self._delete(item, record_id, execution)
            if step.kind == "park":
                changes = {schema.LINE_NUMBER.name: step.park_line}
                return await self._update(item, record_id, changes, execution, action="park")
            changes = {name: after for name, (_before, after) in item.changes.items()}
            return await self._update(item, record_id, changes, execution, action="update")
        except ServerError as exc:
            # (ServerUnavailableError, like every ConnectionProblemError, is not caught here:
            # the server is down or refuses everything, so the run stops; a rerun continues.)
            self.journal.write(event="result", action=step.kind, key=_key(item),
                               id=item.record_id, status=exc.status, message=str(exc))
            return Outcome(Status.FAILED, item.record_id, str(exc), exc.status)

    def _attempt(self, action: str, item: PlanItem, body: dict[str, Any],
                 execution: Execution) -> None:
        execution.writes_sent += 1
        self.journal.write(event="attempt", action=action, key=_key(item), id=item.record_id,
                           body=body, before=record_json(item.record))

    def _result(self, action: str, item: PlanItem, record_id: str | None, message: str,
                after: dict[str, Any] | None = None, *, status: int = 200) -> None:
        self.journal.write(event="result", action=action, key=_key(item), id=record_id,
                           status=status, message=message, after=record_json(after))

    async def _create(self, item: PlanItem, execution: Execution) -> Outcome:
        body = schema.wire_body(item.values)
        lost: AmbiguousWriteError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                # The previous POST's answer was lost: it may have been committed.
                found = await self._find_created(item)
                if found is not None:
                    found_id = found[schema.ID.name]
                    self._result("create", item, found_id, "adopted after a lost answer", found)
                    return Outcome(Status.CREATED, found_id,
                                   "created (confirmed after a lost answer)")
            self._attempt("create", item, body, execution)
            try:
                record = await self.client.create_line(item.values)
            except AmbiguousWriteError as exc:
                lost = exc
                continue
            if not record or not record.get(schema.ID.name):
                record = await self._find_created(item)
                if record is None:
                    raise ServerError("the server accepted the line but it cannot be found")
            self._result("create", item, record[schema.ID.name], "created", record)
            return Outcome(Status.CREATED, record[schema.ID.name], "", 200)
        return _lost(item, self.retries, lost)

    async def _find_created(self, item: PlanItem) -> dict[str, Any] | None:
        """The server's record that this create made, if it exists as intended."""
        values = item.values
        filters = [(schema.PRODUCT_ID.filter_name or "", str(values[schema.PRODUCT_ID.name])),
                   (schema.LINE_NUMBER.filter_name or "", str(values[schema.LINE_NUMBER.name]))]
        for record in await self.client.list_lines(filters):
            if all(record.get(name) == value for name, value in values.items()):
                return record
        return None

    async def _update(self, item: PlanItem, record_id: str, changes: dict[str, Any],
                      execution: Execution, *, action: str) -> Outcome:
        body = {schema.ID.wire_name: record_id, **schema.wire_body(changes)}
        lost: AmbiguousWriteError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                current = await self._get_by_id(record_id)
                if current is None:
                    raise ServerError(f"line {record_id} is no longer on the server", 404)
                if all(current.get(name) == value for name, value in changes.items()):
                    self._result(action, item, record_id, "confirmed after a lost answer",
                                 current)
                    return Outcome(Status.UPDATED, record_id,
                                   "updated (confirmed after a lost answer)")
            self._attempt(action, item, body, execution)
            try:
                record = await self.client.update_line(record_id, changes)
            except AmbiguousWriteError as exc:
                lost = exc
                continue
            self._result(action, item, record_id, "updated", record)
            return Outcome(Status.UPDATED, record_id, "", 200)
        return _lost(item, self.retries, lost)

    async def _delete(self, item: PlanItem, record_id: str, execution: Execution) -> Outcome:
        lost_answer = False
        lost: AmbiguousWriteError | None = None
        for attempt in range(self.retries + 1):
            if attempt and await self._get_by_id(record_id) is None:
                self._result("delete", item, record_id, "confirmed after a lost answer")
                return Outcome(Status.DELETED, record_id,
                               "deleted (confirmed after a lost answer)")
            self._attempt("delete", item, {schema.ID.wire_name: record_id}, execution)
            try:
                await self.client.delete_line(record_id)
            except AmbiguousWriteError as exc:
                lost_answer, lost = True, exc
                continue
            except ServerError as exc:
                if exc.status != 404:
                    raise
                message = ("deleted (its answer was lost, then the server had it no more)"
                           if lost_answer else "already gone from the server")
                self._result("delete", item, record_id, message, status=404)
                return Outcome(Status.DELETED, record_id, message, 404)
            self._result("delete", item, record_id, "deleted")
            return Outcome(Status.DELETED, record_id, "", 200)
        return _lost(item, self.retries, lost)

    async def _get_by_id(self, record_id: str) -> dict[str, Any] | None:
        found = await self.client.list_lines([(schema.ID.wire_name, record_id)])
        return found[0] if found else None


def _key(item: PlanItem) -> dict[str, Any]:
    source = item.values or item.record or {}
    return {name: source.get(name) for name in schema.DEFAULT_KEY}


def _lost(item: PlanItem, retries: int, last: AmbiguousWriteError | None) -> Outcome:
    why = f" (the last: {last})" if last is not None else ""
    return Outcome(Status.FAILED, item.record_id,
                   f"no usable answer from the server after {retries + 1} tries{why}; run "
                   "again to check")
