"""Undo a run from its journal: delete what it created, put back the fields it updated,
re-create what it deleted (with new ids).

The journal (``sync.journal``) says, per line, what the run did: each write's ``attempt``
holds the record as it was before (``before``) and the fields sent (``body``); each
``result`` says whether it took effect and holds the record as the server answered
(``after``).  For every line the run touched this module works out:

* where it started: created by the run, or existing with the first ``before`` of the run
  (a ``park`` is an intermediate step of a line-number permutation, never a start);
* where the run left it: deleted, or with the values of its successful writes (and the
  ``edited`` stamp of the last answer).

A line whose current values of the touched fields differ from what the run left, or whose
``edited`` differs from the last answer's, was changed since the run: it is a conflict and
is left alone.  A line already back as it was is "already undone", so an undo can be run
again safely.  The writes go through ``sync.executor.Executor`` (per product: deletes, then
updates with the same parking of permuted line numbers, then creates), with a journal of
their own, so an undo can itself be undone.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import schema
from .client import FlowtracClient
from .connection import Connection
from .diff import changes_text, values_text
from .errors import ExitCode, UsageError, fatal_exit_code
from .executor import Execution, Executor, Progress
from .history import RunRecord, record_for_undo, save, set_report, timestamp
from .journal import Journal, read_journal
from .model import Action, PlanItem, Status
from .report.content import summary_of_writes
from .templating import write_table_workbook

__all__ = [
    "JournalRun", "UndoPlan", "UndoResult", "UndoStep", "default_undo_paths",
    "execute_undo", "plan_undo", "read_runs", "undo_async",
]

#: What an undo step is, in the report: planned wording, then the outcome's.
WOULD = {Action.DELETE: "would delete", Action.UPDATE: "would restore",
         Action.CREATE: "would re-create"}
DONE = {Action.DELETE: "deleted", Action.UPDATE: "restored", Action.CREATE: "re-created"}
CONFLICT = "conflict"
ALREADY = "already undone"
SKIPPED = "skipped"
FAILED = "failed"
#: Statuses that make the undo's exit code 1.
_BAD = frozenset({CONFLICT, SKIPPED, FAILED})
_WRITABLE = tuple(f.name for f in schema.WRITABLE)
_LINE = schema.LINE_NUMBER.name
_ID = schema.ID.name
#: ``--run all``: every run of the journal (e.g. a migration run in several goes).
ALL_RUNS = "all"
_EDITED = schema.EDITED.name


# --------------------------------------------------------------------------- the journal


@dataclass
class JournalRun:
    """One run recorded in a journal."""

    run_id: str
    base_url: str | None = None
    started: str | None = None
    writes: int = 0
    ended: bool = False


@dataclass
class _History:
    """What the selected runs did to one line."""

    record_id: str | None
    product_id: str | None
    line_number: Any
    created: dict[str, Any] | None = None    # the runs created it: the values sent
    before: dict[str, Any] | None = None     # it existed: the record before the first write
    touched: set[str] = field(default_factory=set)
    left: dict[str, Any] = field(default_factory=dict)   # field -> value the runs left
    maybe: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    after: dict[str, Any] | None = None      # the last successful write's answer
    gone: bool = False                       # the runs deleted it
    maybe_gone: bool = False                 # a delete whose answer never came

    @property
    def did(self) -> str:
        if self.created is not None:
            return "created"
        return "deleted" if self.gone or self.maybe_gone else "updated"

    @property
    def uncertain(self) -> bool:
        return bool(self.maybe) or self.maybe_gone


@dataclass
class _Parsed:
    all_runs: list[JournalRun]
    runs: list[JournalRun]                   # the selected ones
    histories: dict[str, _History]
    unanswered_creates: list[_History]


def read_runs(path: str | Path) -> list[JournalRun]:
    """The runs a journal holds, oldest first (UsageError when there is none)."""
    return _parse(Path(path), None).all_runs


def _canonical(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A journal record or body (canonical or wire names, values as JSON) -> canonical."""
    if not isinstance(record, dict):
        return None
    return schema.record_from_wire(record)


def _fields(body: dict[str, Any] | None) -> dict[str, Any]:
    """The writable fields of a journal body, canonical."""
    values = _canonical(body) or {}
    return {name: values[name] for name in _WRITABLE if name in values}


def _key_of(entry: dict[str, Any]) -> tuple[Any, Any]:
    given = entry.get("key")
    key = given if isinstance(given, dict) else {}
    product = schema.PRODUCT_ID.from_wire(key.get(schema.PRODUCT_ID.name))
    return product, schema.LINE_NUMBER.from_wire(key.get(_LINE))


def _parse(path: Path, wanted: Sequence[str] | None) -> _Parsed:
    """Read the journal and follow every line through the selected runs (default: the last).

    A write is taken as done when its result says so (200, or 404 for a delete: already
    gone); one with an attempt but no result never got an answer and may or may not have
    been done."""
    try:
        entries = list(read_journal(path))
    except FileNotFoundError:
        raise UsageError(f"journal {path} does not exist.") from None
    except OSError as exc:
        raise UsageError(f"cannot read journal {path}: {exc.strerror or exc}.") from None
    runs: dict[str, JournalRun] = {}
    for entry in entries:
        run_id = str(entry.get("run") or "")
        if not run_id:
            continue
        run = runs.setdefault(run_id, JournalRun(run_id, started=entry.get("time")))
        event = entry.get("event")
        if event == "run":
            run.base_url = entry.get("base_url")
        elif event == "attempt":
            run.writes += 1
        elif event == "end":
            run.ended = True
    if not runs:
        raise UsageError(f"{path.name} holds no run: is it a flowtrac-sync journal?")
    selected = _select(list(runs), wanted, path)
    histories: dict[str, _History] = {}
    pending: dict[tuple[str, Any, Any], tuple[dict[str, Any], dict[str, Any]]] = {}
    unanswered: list[_History] = []
    for entry in entries:
        run_id = str(entry.get("run") or "")
        if run_id not in selected:
            continue
        event, action = entry.get("event"), entry.get("action")
        record_id = schema.ID.from_wire(entry.get("id")) if entry.get("id") else None
        if event == "attempt":
            if action == "create":
                pending[(run_id, "create", _key_of(entry))] = (_fields(entry.get("body")), entry)
                continue
            if record_id is None:
                continue
            if record_id not in histories:
                before = _canonical(entry.get("before"))
                product, line = _key_of(entry)
                histories[record_id] = _History(record_id, product, line, before=before)
            pending[(run_id, action, record_id)] = (_fields(entry.get("body")), entry)
        elif event == "result":
            _take_result(entry, run_id, action, record_id, histories, pending)
    # Writes sent whose answer never came: their effect is unknown.
    for (_run, action, ident), (body, entry) in pending.items():
        if action == "create":
            product, line = _key_of(entry)
            unanswered.append(_History(None, product, line, created=body))
            continue
        history = histories[ident]
        if action == "delete":
            history.maybe_gone = True
            continue
        history.touched.update(body)
        for name, value in body.items():
            history.maybe[name].append(value)
    chosen = [runs[r] for r in runs if r in selected]
    return _Parsed(list(runs.values()), chosen, histories, unanswered)


def _take_result(entry: dict[str, Any], run_id: str, action: Any, record_id: str | None,
                 histories: dict[str, _History],
                 pending: dict[tuple[str, Any, Any], tuple[dict[str, Any], dict[str, Any]]]
                 ) -> None:
    status = entry.get("status")
    done = status == 200 or (action == "delete" and status == 404)
    after = _canonical(entry.get("after"))
    if action == "create":
        sent = pending.pop((run_id, "create", _key_of(entry)), None)
        if not done or record_id is None:
            return
        body = sent[0] if sent else _fields(after)
        product, line = _key_of(entry)
        created = _History(record_id, product, line, created=body)
        created.left = {**body, **(_fields(after) if after else {})}
        created.touched = set(created.left)
        created.after = after
        histories[record_id] = created
        return
    sent = pending.pop((run_id, action, record_id), None)
    history = histories.get(record_id) if record_id else None
    if history is None or not done:
        return          # refused by the server: the write changed nothing
    if action == "delete":
        history.gone = True
        history.after = None
        return
    body = sent[0] if sent else {}
    history.touched.update(body)
    history.left.update(body)
    history.after = after


def _select(run_ids: list[str], wanted: Sequence[str] | None, path: Path) -> set[str]:
    """The runs to undo: the last by default, ``all``, or those named."""
    if not wanted:
        return {run_ids[-1]}
    if ALL_RUNS in wanted:
        return set(run_ids)
    unknown = [r for r in wanted if r not in run_ids]
    if unknown:
        raise UsageError(f"{path.name} holds no run {', '.join(unknown)}; its runs: "
                         f"{', '.join(run_ids)}.")
    return set(wanted)


# --------------------------------------------------------------------------- the plan


@dataclass(eq=False)
class UndoStep:
    """One line the run touched, and what undoing it does."""

    did: str                              # what the run did: created / updated / deleted
    record_id: str | None                 # the line's id as the run left it
    product_id: str | None
    line_number: Any
    status: str                           # planned: would delete / ... / conflict / ...
    message: str = ""
    item: PlanItem | None = None          # the write, when there is one
    new_id: str | None = None             # a re-created line's id

    @property
    def changes(self) -> str:
        if self.item is None:
            return ""
        if self.item.action is Action.CREATE:
            return values_text(self.item.values)
        return changes_text(self.item.changes)


@dataclass
class UndoPlan:
    """What undoing the selected runs of a journal would do."""

    journal: Path
    runs: list[JournalRun]
    base_url: str
    steps: list[UndoStep]
    context: list[PlanItem]               # other lines of the products: the executor's map
    warnings: list[str] = field(default_factory=list)
    started: str = field(default_factory=timestamp)
    requests: int = 0

    @property
    def writes(self) -> list[PlanItem]:
        return [s.item for s in self.steps if s.item is not None]

    @property
    def changes(self) -> dict[str, int]:
        out = {a.value: 0 for a in (Action.DELETE, Action.UPDATE, Action.CREATE)}
        for item in self.writes:
            out[item.action.value] += 1
        return out

    def counts(self) -> dict[str, int]:
        return dict(Counter(step.status for step in self.steps))

    def problems(self, limit: int = 10) -> list[str]:
        return [_problem_line(s) for s in self.steps if s.status in _BAD][:limit]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ROWS_NOT_DONE if any(s.status in _BAD for s in self.steps) else ExitCode.OK


def _problem_line(step: UndoStep) -> str:
    what = f"line {step.record_id}" if step.record_id else (
        f"product {step.product_id} line {step.line_number}")
    return f"{what} ({step.did} by the run): {step.status}: {step.message}"


async def plan_undo(journal_path: str | Path, connection: Connection, *,
                    runs: Sequence[str] | None = None, concurrency: int = 16,
                    rate: float | None = None, retries: int = 5) -> UndoPlan:
    """Read the journal, fetch the lines it touched, decide every step.  Sends no write.

    ``runs``: the run ids to undo, or ``["all"]`` (default: the journal's last run)."""
    path = Path(journal_path)
    parsed = _parse(path, runs)
    _check_server(parsed.runs, connection, path)
    histories = list(parsed.histories.values())
    products = sorted({h.product_id for h in (*histories, *parsed.unanswered_creates)
                       if h.product_id})
    async with FlowtracClient(connection, concurrency=concurrency, rate=rate,
                              retries=retries) as client:
        await client.login()
        current = await client.list_lines_for_products(products)
        requests = client.stats.requests
    by_id = {r[_ID]: r for r in current}
    decided = [_decide(h, by_id, current) for h in histories]
    steps = [s for s in decided if s is not None]
    steps += [_unanswered_create(h) for h in parsed.unanswered_creates]
    _check_lines(steps, current)
    touched = {s.record_id for s in steps if s.item is not None}
    context = [PlanItem(Action.KEEP, None, r, r.get(schema.PRODUCT_ID.name))
               for r in current if r[_ID] not in touched]
    warnings = []
    if not runs and len(parsed.all_runs) > 1:
        last = parsed.runs[-1]
        warnings.append(f"{path.name} holds {len(parsed.all_runs)} runs; undoing only the last "
                        f"({last.run_id}, started {last.started}); --run ID picks others, "
                        f"--run all takes every one")
    if any(not r.ended for r in parsed.runs):
        warnings.append("the run did not finish (interrupted or killed): only the writes it "
                        "recorded are undone")
    return UndoPlan(path, parsed.runs, connection.base_url, steps, context, warnings,
                    requests=requests)


def _check_server(runs: Iterable[JournalRun], connection: Connection, path: Path) -> None:
    """Never undo against another server than the one the run wrote to."""
    for run in runs:
        if run.base_url and run.base_url.rstrip("/") != connection.base_url.rstrip("/"):
            raise UsageError(f"{path.name} was written against {run.base_url}, not "
                             f"{connection.base_url}; connect to that server to undo it.")


def _decide(h: _History, by_id: dict[str, dict[str, Any]],
            current: Sequence[dict[str, Any]]) -> UndoStep | None:
    now = by_id.get(h.record_id or "")
    step = UndoStep(h.did, h.record_id, h.product_id, h.line_number, "")
    if h.created is not None:
        if h.gone:
            return None                   # created and deleted by the runs: nothing left
        if now is None:
            return _status(step, ALREADY, "no longer on the server")
        changed = _changed_since(h, now)
        if changed:
            return _status(step, CONFLICT, changed)
        step.item = PlanItem(Action.DELETE, None, now, now.get(schema.PRODUCT_ID.name),
                             message="created by the run")
        return _status(step, WOULD[Action.DELETE], "created by the run: delete it")
    if h.before is None:
        return _status(step, SKIPPED, "the journal lacks the line as it was before the run")
    if h.gone or (h.maybe_gone and now is None):
        if now is not None:
            return _status(step, ALREADY, "still on the server")
        values = {name: h.before[name] for name in _WRITABLE
                  if h.before.get(name) is not None}
        twin = _same_line(values, current)
        if twin is not None:
            return _status(step, ALREADY, f"line {twin} already holds these values")
        step.item = PlanItem(Action.CREATE, None, None, values.get(schema.PRODUCT_ID.name),
                             values=values, message="deleted by the run")
        return _status(step, WOULD[Action.CREATE], "deleted by the run: re-create it (with a "
                                                   "new id)")
    if now is None:
        return _status(step, CONFLICT, "deleted from the server since the run")
    restore = {name: (now.get(name), h.before.get(name)) for name in sorted(h.touched)
               if not schema.BY_NAME[name].immutable and now.get(name) != h.before.get(name)}
    if not restore:
        return _status(step, ALREADY, "its fields are as they were before the run")
    changed = _changed_since(h, now)
    if changed:
        return _status(step, CONFLICT, changed)
    step.item = PlanItem(Action.UPDATE, None, now, now.get(schema.PRODUCT_ID.name),
                         changes=restore, message="updated by the run")
    return _status(step, WOULD[Action.UPDATE], "updated by the run: restore "
                                               + ", ".join(restore))


def _status(step: UndoStep, status: str, message: str) -> UndoStep:
    step.status, step.message = status, message
    return step


def _changed_since(h: _History, now: dict[str, Any]) -> str | None:
    """Why the line no longer is as the run left it, or None."""
    for name in sorted(h.touched):
        allowed = list(h.maybe.get(name, ()))
        if name in h.left:
            allowed.append(h.left[name])
        if h.before is not None:
            allowed.append(h.before.get(name))   # put back by hand: nothing to restore there
        if now.get(name) not in allowed:
            shown = schema.display(name, now.get(name))
            left = schema.display(name, h.left.get(name))
            return (f"changed on the server since the run ({name} is {shown}, the run left "
                    f"{left}); left as it is")
    stamp = (h.after or {}).get(_EDITED)
    if stamp and not h.uncertain and now.get(_EDITED) != stamp:
        who = now.get(schema.EDITED_BY.name)
        return (f"changed on the server at {now.get(_EDITED)}{' by ' + str(who) if who else ''}"
                f" after the run; left as it is")
    return None


def _same_line(values: dict[str, Any], current: Sequence[dict[str, Any]]) -> str | None:
    """The id of a current line holding exactly these values (a re-create done before)."""
    for record in current:
        if all(record.get(name) == value for name, value in values.items()) and all(
                record.get(name) is None for name in _WRITABLE if name not in values):
            ident: str = record[_ID]
            return ident
    return None


def _unanswered_create(h: _History) -> UndoStep:
    return UndoStep("created", None, h.product_id, h.line_number, SKIPPED,
                    "the run's create of this line never got an answer; check the line on "
                    "the server and delete it by hand if it should not be there")


def _check_lines(steps: list[UndoStep], current: Sequence[dict[str, Any]]) -> None:
    """Two lines may not end on one product + line number: a restore or re-create that
    would land on a taken line (e.g. a line added since the run) becomes a conflict."""
    by_id = {s.record_id: s for s in steps if s.item is not None and s.record_id}
    changed = True
    while changed:
        changed = False
        final: dict[tuple[Any, Any], list[tuple[str, UndoStep | None]]] = defaultdict(list)
        for record in current:
            step = by_id.get(record[_ID])
            item = step.item if step else None
            if item is not None and item.action is Action.DELETE:
                continue
            line = record.get(_LINE)
            moves = item is not None and _LINE in item.changes
            if moves and item is not None:
                line = item.changes[_LINE][1]
            final[(record.get(schema.PRODUCT_ID.name), line)].append(
                (record[_ID], step if moves else None))
        for step in steps:
            if step.item is not None and step.item.action is Action.CREATE:
                values = step.item.values
                final[(values.get(schema.PRODUCT_ID.name), values.get(_LINE))].append(
                    ("a re-created line", step))
        for (product, line), holders in final.items():
            if len(holders) < 2:
                continue
            for _ident, step in holders:
                if step is None or step.item is None:
                    continue
                others = ", ".join(i for i, s in holders if s is not step)
                step.item = None
                _status(step, CONFLICT, f"line {line} of product {product} is taken by "
                                        f"{others}; left as it is")
                changed = True


# --------------------------------------------------------------------------- executing


@dataclass
class UndoResult:
    """An undo plan and, once executed, what happened to every step."""

    plan: UndoPlan
    execution: Execution | None = None
    finished: str | None = None
    duration_s: float = 0.0
    journal: Path | None = None           # the undo's own journal
    #: Its record in the run history, when it was recorded (``sync.history``).
    run_record: RunRecord | None = None
    history: Path | None = None

    @property
    def steps(self) -> list[UndoStep]:
        return self.plan.steps

    def counts(self) -> dict[str, int]:
        return self.plan.counts()

    @property
    def exit_code(self) -> ExitCode:
        if self.execution is not None and self.execution.fatal is not None:
            return fatal_exit_code(self.execution.fatal)
        if self.execution is not None and self.execution.stopped:
            return ExitCode.ROWS_NOT_DONE
        return self.plan.exit_code

    def summary(self) -> dict[str, Any]:
        plan = self.plan
        out: dict[str, Any] = {
            "Command": "undo" if self.execution is not None else "undo (plan only)",
            "Journal": str(plan.journal),
            "Runs undone": ", ".join(r.run_id for r in plan.runs),
            "Base URL": plan.base_url, "Started": plan.started,
            "Finished": self.finished or timestamp(), "Duration (s)": round(self.duration_s, 2)}
        out.update(summary_of_writes(
            self.execution is not None and self.execution.stopped, self.counts(), plan.warnings,
            journal_label="Undo journal", journal=self.journal, unit="Lines",
            again="run the undo again to continue"))
        return out

    def write_report(self, path: str | Path) -> Path:
        headers = ["status", "the run had", "line id", "new id", schema.PRODUCT_ID.name, _LINE,
                   "changes", "message"]
        rows = ([s.status, s.did, s.record_id, s.new_id, s.product_id, s.line_number,
                 s.changes, s.message] for s in self.steps)
        summary = list(self.summary().items())
        written = write_table_workbook(path, [("Undo", headers, rows),
                                              ("Summary", ["", ""], summary)], "undo report")
        set_report(self.history, self.run_record, written)
        return written

    def to_json(self) -> dict[str, Any]:
        return {"command": "undo", "journal": str(self.plan.journal),
                "runs": [r.run_id for r in self.plan.runs], "base_url": self.plan.base_url,
                "counts": self.counts(), "changes": self.plan.changes,
                "problems": self.plan.problems(), "warnings": self.plan.warnings,
                "executed": self.execution is not None, "exit_code": self.exit_code}


def default_undo_paths(journal_path: str | Path) -> tuple[Path, Path]:
    """Report and journal of an undo, beside the journal undone:
    ``x.journal.jsonl`` -> ``x.undo.xlsx`` and ``x.undo.journal.jsonl``."""
    journal = Path(journal_path)
    stem = journal.name.removesuffix(".jsonl").removesuffix(".journal")
    return (journal.with_name(f"{stem}.undo.xlsx"),
            journal.with_name(f"{stem}.undo.journal.jsonl"))


async def execute_undo(plan: UndoPlan, connection: Connection, *,
                       journal: str | Path | None = None, concurrency: int = 16,
                       rate: float | None = None, retries: int = 5,
                       on_progress: Callable[[Progress], None] | None = None,
                       stop: asyncio.Event | None = None, history: str | Path | None = None,
                       who: str | None = None) -> UndoResult:
    """Send the plan's writes (a plan already shown and confirmed); every step gets its
    outcome.  ``journal``: where the undo's own writes are recorded.  ``history``: the run
    history to record the undo in, as ``who`` (a history that cannot be written is a
    warning of the plan)."""
    started = time.monotonic()
    journal_path = Path(journal) if journal else None
    with Journal(journal_path, base_url=connection.base_url) as log:
        async with FlowtracClient(connection, concurrency=concurrency, rate=rate,
                                  retries=retries) as client:
            await client.login()
            executor = Executor(client, workers=concurrency, retries=retries, journal=log,
                                on_progress=on_progress, stop=stop)
            execution = await executor.run([*plan.writes, *plan.context])
        log.write(event="end", writes=execution.writes_sent, interrupted=execution.stopped)
    for step in plan.steps:
        if step.item is None:
            continue
        outcome = execution.outcomes.get(step.item)
        if outcome is None:
            continue
        if outcome.status is Status.FAILED:
            _status(step, FAILED, outcome.message)
        elif outcome.status is Status.SKIPPED:
            _status(step, SKIPPED, outcome.message)
        else:
            action = step.item.action
            if action is Action.CREATE:
                step.new_id = outcome.record_id
            done = {Action.DELETE: "the line the run created is deleted",
                    Action.UPDATE: "restored to its values before the run",
                    Action.CREATE: f"re-created as {step.new_id} (an id cannot come back)"}
            _status(step, DONE[action], outcome.message or done[action])
    result = UndoResult(plan, execution, timestamp(), time.monotonic() - started, journal_path)
    if history is not None:
        result.run_record = record_for_undo(result, run_id=log.run_id, who=who)
        warning = save(history, result.run_record)
        if warning:
            plan.warnings.append(warning)
        else:
            result.history = Path(history)
    return result


async def undo_async(journal_path: str | Path, connection: Connection, *, yes: bool = False,
                     runs: Sequence[str] | None = None, journal: str | Path | None = None,
                     concurrency: int = 16, rate: float | None = None, retries: int = 5,
                     on_progress: Callable[[Progress], None] | None = None) -> UndoResult:
    """Plan the undo and, with ``yes``, execute it (without ``yes`` nothing is sent: the
    result holds the plan only)."""
    plan = await plan_undo(journal_path, connection, runs=runs, concurrency=concurrency,
                           rate=rate, retries=retries)
    if not yes or not plan.writes:
        return UndoResult(plan, None, timestamp())
    return await execute_undo(plan, connection, journal=journal, concurrency=concurrency,
                              rate=rate, retries=retries, on_progress=on_progress)
