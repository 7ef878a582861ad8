"""The library API: ``validate_file``, ``plan``, ``apply`` (and async twins).

Data flows one way: load -> validate -> fetch (references, current lines) -> diff -> execute
-> report.  The command line and the web page are thin layers over these functions; each
returns a result object that knows its rows, its summary, its exit code and how to write the
reconciliation report.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from . import mergebase, schema
from .client import FlowtracClient
from .connection import Connection
from .diff import Blank, Mode, Plan, PlanOptions, Scope, changes_text, diff
from .errors import ExitCode, SafetyLimitError, fatal_exit_code
from .executor import Execution, Executor, Progress
from .history import RunRecord, record_for_apply, save, set_report, timestamp
from .journal import Journal
from .listing import Listing
from .load import load_sheet
from .model import (
    PLAN_STATUS,
    Action,
    CellError,
    LoadedSheet,
    PlanItem,
    ReportRow,
    ServerOnlyRow,
    Status,
    ValidatedSheet,
)
from .readback import ReadBack, read_back
from .references import check_references, names_of, read_only_columns, read_only_edits
from .report import ReportColumns, default_report_path, unused_path, write_report
from .validate import match_key, validate

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .templating import Exported
    from .undoing import UndoResult

log = logging.getLogger("sync.api")

__all__ = [
    "SyncOptions", "ValidationResult", "PlanResult", "ApplyResult", "Mode", "Scope", "Blank",
    "validate_file", "plan", "plan_async", "plan_sheet", "apply", "apply_async", "execute_async",
    "nothing_to_send", "exit_reason", "last_apply_report",
    "export", "export_async", "template", "template_async", "undo", "undo_async",
]


@dataclass(frozen=True)
class SyncOptions:
    mode: Mode = Mode.UPSERT
    scope: Scope = Scope.SHEET
    blank: Blank = Blank.CLEAR
    key: tuple[str, ...] | None = None
    max_delete: int | None = None
    sheet: str | None = None
    concurrency: int = 16
    rate: float | None = None
    retries: int = 5

    def plan_options(self) -> PlanOptions:
        return PlanOptions(self.mode, self.scope, self.blank, self.max_delete)

    def client(self, connection: Connection) -> FlowtracClient:
        return FlowtracClient(connection, concurrency=self.concurrency, rate=self.rate,
                              retries=self.retries)


# --------------------------------------------------------------------------- results

@dataclass
class ValidationResult:
    """An offline check of a sheet: only invalid rows are marked."""

    validated: ValidatedSheet
    options: SyncOptions = field(default_factory=SyncOptions)
    started: str = field(default_factory=timestamp)
    finished: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: The command that made this result, as the report's Summary and ``--json`` name it:
    #: an ``apply`` that finds nothing to send keeps its plan, made for ``apply``.
    command: str = field(default="validate", kw_only=True)
    #: The default report: ``<input stem>.<report_kind>.xlsx`` beside the input.
    report_kind: ClassVar[str] = "validation"

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run() formats the repr of its main task's result (CPython
        # 3.11, when it restores the SIGINT handler), and the dataclass repr of a 100,000-row
        # result takes seconds.  Subclasses keep it (``repr=False``).
        return f"<{type(self).__name__} {self.path.name}: {len(self.validated)} rows>"

    @property
    def path(self) -> Path:
        return self.validated.sheet.path

    @property
    def errors(self) -> list[CellError]:
        return self.validated.errors

    def problems(self, limit: int = 10) -> list[str]:
        """The first few row problems, as one line each, for a terminal summary."""
        return [str(e) for e in self.errors][:limit]

    def row_status(self) -> list[tuple[int, ReportRow]]:
        validated = self.validated
        return [(validated.positions[at], ReportRow("invalid", errors=errors,
                                                    message="; ".join(map(str, errors))))
                for at, errors in sorted(validated.problems.items()) if errors]

    def counts(self) -> dict[str, int]:
        invalid = self.validated.invalid_count()
        return {"rows": len(self.validated), "valid": len(self.validated) - invalid,
                "invalid": invalid}

    def server_only_rows(self) -> list[ServerOnlyRow]:
        return []

    def summary(self) -> dict[str, Any]:
        sheet = self.validated.sheet
        out: dict[str, Any] = {"Command": self.command, "File": str(sheet.path),
                               "Sheet": sheet.sheet_name or "", "Header row": sheet.header_row}
        out.update(self._run_summary())
        return out

    def _run_summary(self) -> dict[str, Any]:
        return {"Started": self.started, "Finished": self.finished or timestamp()}

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ROWS_NOT_DONE if self.counts()["invalid"] else ExitCode.OK

    def default_report_path(self) -> Path:
        return default_report_path(self.path, self.report_kind)

    def write_report(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path else self.default_report_path()
        started = time.perf_counter()
        rows = self.report_rows()
        written = write_report(self.validated.sheet, rows, self.server_only_rows(),
                               self.summary(), target, notes=self.warnings,
                               replace_sheets=self._replace_sheets())
        _log_stage("report written", time.perf_counter() - started)
        return written

    def report_rows(self) -> Mapping[int, ReportRow]:
        """Frame position -> report row, for the rows the report marks (invalid ones)."""
        return dict(self.row_status())

    def _replace_sheets(self) -> dict[str, Iterable[str]]:
        """Sheets of the planner's workbook the report writes anew (none but after an apply)."""
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "file": str(self.path), "counts": self.counts(),
                "errors": [str(e) for e in self.errors], "warnings": self.warnings,
                "exit_code": self.exit_code}


@dataclass(repr=False)
class PlanResult(ValidationResult):
    """What would change: one plan item per row, plus the server-only records."""

    #: The plan: one item per row, plus the server-only records.
    plan: Plan = field(kw_only=True)
    base_url: str = ""
    requests: int = 0
    retries: int = 0
    command: str = field(default="plan", kw_only=True)
    #: The sheet's base (``sync.mergebase``), read if a row needed it; see ``base``.
    base_source: mergebase.PendingBase | None = field(default=None, kw_only=True, repr=False)
    report_kind: ClassVar[str] = "plan"

    @property
    def base(self) -> mergebase.Base | None:
        """The base the plan merged against, if the sheet has one that belongs to it."""
        return self.base_source.get() if self.base_source is not None else None

    def _status(self, item: PlanItem) -> tuple[str, str | None, str]:
        return PLAN_STATUS[item.action], item.record_id, item.message

    def item_status(self, item: PlanItem) -> tuple[str, str]:
        """One item's status and message, as ``row_status`` and ``server_only_rows`` give
        them, without the changes text: cheap enough for every row of a large plan."""
        status, _sync_id, message = self._status(item)
        return status, message

    def problems(self, limit: int = 10) -> list[str]:
        lines: list[str] = []
        rows = self.report_rows()
        for item in self.plan.items.made():          # an unchanged row is no problem
            row = rows[item.row.index]
            if row.status in PROBLEM_STATUSES:
                lines.append(row.message if row.status == Status.INVALID.value
                             else f"row {item.row.row_number} ({self.plan.describe_line(item)}): "
                                  f"{row.status}: {row.message}")
                if len(lines) == limit:
                    break
        return lines

    def row_status(self) -> list[tuple[int, ReportRow]]:
        return list(self.report_rows().items())

    def report_rows(self) -> ReportColumns:
        """Frame position -> each row's report row, a row the plan leaves unchanged made
        from its record only when the report asks for it."""
        names = self.plan.process_names
        items = self.plan.items
        warned = self.plan.row_warnings
        marked: dict[int, ReportRow] = {}
        for item in items.decided.values():
            row = item.row
            status, sync_id, message = self._status(item)
            warnings = warned.get(row.index)
            if warnings:
                message = "; ".join([message, *warnings] if message else warnings)
            changes = changes_text(item.changes, names) if item.changes else ""
            errors = (row.errors + mergebase.conflict_cells(item, self.validated.sheet)
                      if item.conflicts else row.errors)
            marked[row.index] = ReportRow(status, sync_id, changes, message, errors)
        for index, warnings in warned.items():     # an unchanged row with a warning
            if index not in marked:
                marked[index] = ReportRow(self._unchanged_status(), None, "",
                                          "; ".join(warnings))
        return ReportColumns(marked, positions=self.validated.positions,
                             status=self._unchanged_status(),
                             ids=self.validated.column(schema.ID.name))

    def _unchanged_status(self) -> str:
        """The status of a row the plan leaves as it is."""
        return PLAN_STATUS[Action.UNCHANGED]

    def server_only_rows(self) -> list[ServerOnlyRow]:
        names = self.plan.product_names
        product = schema.REFERENCE_FOR[schema.PRODUCT_ID.name].name
        return [ServerOnlyRow({**(i.record or {}), product: names.get(i.product_id or "")},
                              *self._status(i)[::2])
                for i in self.plan.server_only]

    def counts(self) -> dict[str, int]:
        return {PLAN_STATUS[action]: count for action, count in self.plan.counts().items()}

    @property
    def changes(self) -> dict[str, int]:
        """Writes the plan holds, by kind: what a confirmation question names."""
        out = {a.value: 0 for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
        for item in self.plan.writes:
            out[item.action.value] += 1
        return out

    def _run_summary(self) -> dict[str, Any]:
        options = self.plan.options
        return {"Mode": options.mode.value, "Scope": options.scope.value,
                "Base URL": self.base_url, "Started": self.started,
                "Finished": self.finished or timestamp(), "Requests sent": self.requests,
                "Retries": self.retries, "Server lines in scope": self.plan.in_scope,
                "Delete limit": self.plan.delete_limit}

    @property
    def exit_code(self) -> ExitCode:
        if self.plan.over_delete_limit:
            return ExitCode.SAFETY_STOP
        actions = set(self.plan.items.actions)
        return (ExitCode.OK if actions.isdisjoint((Action.INVALID, Action.CONFLICT))
                else ExitCode.ROWS_NOT_DONE)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update({"base_url": self.base_url, "changes": self.changes,
                    "requests": self.requests, "retries": self.retries,
                    "warnings": self.warnings + (self.plan.warnings if self.plan else [])})
        return out


_DONE_STATUS = {Action.UNCHANGED: Status.UNCHANGED, Action.INVALID: Status.INVALID,
                Action.CONFLICT: Status.CONFLICT, Action.SKIP: Status.SKIPPED,
                Action.KEEP: Status.LEFT_ALONE, Action.GONE: Status.GONE}


@dataclass(repr=False)
class ApplyResult(PlanResult):
    """What happened: every row's final status."""

    #: What the executor did: every write's outcome, and why the run stopped (if it did).
    execution: Execution = field(kw_only=True)
    duration_s: float = 0.0
    #: The check after the writes that no other writer changed the lines again.
    read_back: ReadBack | None = None
    command: str = field(default="apply", kw_only=True)
    #: The run history this run is recorded in, and its record there (``sync.history``).
    history: Path | None = field(default=None, kw_only=True)
    run_record: RunRecord | None = field(default=None, kw_only=True)
    report_kind: ClassVar[str] = "report"

    def write_report(self, path: str | Path | None = None) -> Path:
        written = super().write_report(path)
        set_report(self.history, self.run_record, written)
        return written

    def default_report_path(self) -> Path:
        """``<input stem>.report.xlsx``, or ``-2``, ``-3``... when an earlier apply's report
        holds that name: it is never replaced."""
        return unused_path(super().default_report_path())

    def _status(self, item: PlanItem) -> tuple[str, str | None, str]:
        outcome = self.execution.outcomes.get(item)
        if outcome is None:                 # not written: what the plan said
            return _DONE_STATUS[item.action].value, item.record_id, item.message
        # The read-back only looks at items the execution wrote, so only they are overwritten.
        if self.read_back is not None and item in self.read_back.overwritten:
            return Status.OVERWRITTEN.value, outcome.record_id, self.read_back.overwritten[item]
        # A written row's plan message (the cells a base kept) stays in the report.
        kept = item.message if outcome.status is Status.UPDATED else ""
        return outcome.status.value, outcome.record_id, outcome.message or kept

    def _unchanged_status(self) -> str:
        return _DONE_STATUS[Action.UNCHANGED].value

    def _replace_sheets(self) -> dict[str, Iterable[str]]:
        """The base the report carries, with what this run wrote (``mergebase.refreshed``), so
        that the report edited and planned again merges against what it shows."""
        if self.base is None:
            return {}
        base = mergebase.refreshed(self.base, chain(self.plan.items.made(), self.plan.server_only),
                                   self.execution.outcomes)
        rows = mergebase.base_rows(base.base_url, base.lines.values(), base.exported)
        return {mergebase.BASE_SHEET: mergebase.base_sheet_xml(rows)}

    def counts(self) -> dict[str, int]:
        statuses = [self._unchanged_status()] * len(self.plan.items)
        for at, item in self.plan.items.decided.items():
            statuses[at] = self._status(item)[0]
        return dict(Counter(chain(statuses, (self._status(i)[0] for i in self.plan.server_only))))

    def _run_summary(self) -> dict[str, Any]:
        out = super()._run_summary()
        out["Duration (s)"] = round(self.duration_s, 2)
        if self.execution.stopped:
            out["Interrupted"] = "yes: run again to continue"
        if self.read_back is not None:
            back = self.read_back
            out["Read back"] = (f"not done: {back.error}" if back.error else
                                f"{back.checked} lines, {len(back.overwritten)} changed again "
                                "by another writer")
        return out

    @property
    def exit_code(self) -> ExitCode:
        if self.execution.fatal is not None:
            return fatal_exit_code(self.execution.fatal)
        counts = self.counts()
        if any(counts.get(status) for status in PROBLEM_STATUSES) or self.execution.stopped:
            return ExitCode.ROWS_NOT_DONE
        return ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update({"duration_s": round(self.duration_s, 3),
                    "interrupted": self.execution.stopped,
                    "fatal": str(self.execution.fatal) if self.execution.fatal else None,
                    "read_back": self.read_back.to_json() if self.read_back else None})
        return out


# --------------------------------------------------------------------------- stages

def validate_file(path: str | Path, options: SyncOptions | None = None) -> ValidationResult:
    """Load and check a sheet offline."""
    options = options or SyncOptions()
    started = timestamp()
    return _validated(_load(path, options), options, started)


def _load(path: str | Path, options: SyncOptions) -> LoadedSheet:
    started = time.perf_counter()
    sheet = load_sheet(path, sheet=options.sheet)
    _log_stage("read", time.perf_counter() - started, f"{len(sheet.row_numbers)} rows")
    return sheet


def _validated(sheet: LoadedSheet, options: SyncOptions, started: str) -> ValidationResult:
    began = time.perf_counter()
    validated = validate(sheet, key=options.key)
    _log_stage("validated", time.perf_counter() - began)
    return ValidationResult(validated, options, started, warnings=list(sheet.warnings))


def _log_stage(stage: str, seconds: float, detail: str = "") -> None:
    """Where a run's time goes, with ``-v`` (``make bench`` reads these lines)."""
    log.info("stage %s in %.3f s%s", stage, seconds, f" ({detail})" if detail else "")


def _sheet_products(validated: ValidatedSheet) -> set[str]:
    return set(validated.column(schema.PRODUCT_ID.name)) - {None}


def _listed_products(sheet: LoadedSheet) -> set[str]:
    """The product ids the sheet's own column gives in canonical form, before validation:
    enough to fetch their lines while the rows are checked (validation only adds ids written
    another way, and those are fetched after)."""
    position = sheet.fields.get(schema.PRODUCT_ID.name)
    if position is None:
        return set()
    return {v for v in set(sheet.cells(position))
            if schema.PRODUCT_ID.is_canonical(v)}


async def _lines_of(client: FlowtracClient, logged_in: asyncio.Future[None],
                    scope: Scope, products: set[str]) -> Listing:
    await logged_in
    if scope is Scope.ALL:
        return await client.list_lines()
    return await client.list_lines_for_products(sorted(products))


async def _fetch_current(validated: ValidatedSheet, client: FlowtracClient, scope: Scope,
                         fetched: set[str], lines: asyncio.Future[Listing]
                         ) -> tuple[list[str], Listing]:
    """Check the references and fetch the server lines the diff needs: every line of the
    sheet's products (or all), plus lines the sheet names by id that live elsewhere.

    ``lines`` holds (or will) the lines of the products in ``fetched``, asked for while the
    sheet was validated; the sheet's names are looked up in the catalog while they arrive.
    The products found only by validation or by name are fetched after.  Returns the
    reference warnings and the lines."""
    listed = asyncio.ensure_future(_lines_for_references(validated, client, lines))
    try:
        warnings = await check_references(validated, client, listed)
        records = await listed
    finally:
        listed.cancel()
    more = _sheet_products(validated) - fetched if scope is Scope.SHEET else set()
    if more:
        found = await client.list_lines_for_products(sorted(more))
        new = records.positions(found.column(schema.ID.name)) < 0
        records.extend(compress(found, new.tolist()))
    if more or not _names_beside_ids(validated):   # else the reference check asked already
        await _add_missing_lines(validated, client, records)
    return warnings, records


def _names_beside_ids(validated: ValidatedSheet) -> bool:
    fields = validated.sheet.fields
    return any(r.name in fields and r.target.name in fields for r in schema.REFERENCES)


async def _lines_for_references(validated: ValidatedSheet, client: FlowtracClient,
                                lines: asyncio.Future[Listing]) -> Listing:
    """The lines the reference check reads: a row giving both a name and an id (an
    export's) is read against the line it names (which of the two was edited), so the lines
    it names elsewhere are fetched too."""
    records = await lines
    if _names_beside_ids(validated):
        await _add_missing_lines(validated, client, records)
    return records


async def _add_missing_lines(validated: ValidatedSheet, client: FlowtracClient,
                             records: Listing) -> None:
    """Fetch the lines the sheet names by id that ``records`` lacks (another product's)."""
    ids = validated.column(schema.ID.name)
    unlisted = np.flatnonzero(records.positions(ids) < 0).tolist()
    missing = sorted({ids[at] for at in unlisted} - {None})
    if missing:
        records.extend(await client.list_lines_by_ids(missing))


async def _name_products(plan: Plan, client: FlowtracClient) -> None:
    """The names of the products whose lines a planner is shown, where the sheet did not
    name them: one catalog lookup for those products only (none for a plan with nothing to
    show)."""
    wanted = {i.product_id for i in plan.shown if i.product_id} - plan.product_names.keys()
    if wanted:
        reference = schema.REFERENCE_FOR[schema.PRODUCT_ID.name]
        plan.product_names.update(await names_of(client, reference, wanted))


async def _read_only_edits(plan: Plan, validated: ValidatedSheet,
                           client: FlowtracClient) -> None:
    """Warn, on the row and in the summary, about each read-only cell a planner changed: the
    tool never sends it, and the edit would otherwise be lost without a word."""
    columns = read_only_columns(validated)
    if not columns:
        return
    names: dict[str, str] = {}
    product = schema.REFERENCE_FOR[schema.PRODUCT_ID.name]
    if any(c.shows == product.name for c in columns):
        ids = set(plan.items.line_values(schema.PRODUCT_ID.name))
        names = await names_of(client, product, ids - {None})
    plan.row_warnings = read_only_edits(validated, plan.items, columns, names)
    found = [w for warnings in plan.row_warnings.values() for w in warnings]
    plan.warnings.extend(found[:_READ_ONLY_SHOWN])
    if len(found) > _READ_ONLY_SHOWN:
        plan.warnings.append(f"and {len(found) - _READ_ONLY_SHOWN} more read-only cells "
                             f"changed: the report names each on its row")


#: Read-only edits the summary names one by one; the report has them all.
_READ_ONLY_SHOWN = 10


async def plan_async(path: str | Path, connection: Connection,
                     options: SyncOptions | None = None) -> PlanResult:
    """Load, validate, fetch and diff: what ``apply`` would do.  Sends no write.

    A sheet that cannot be read, or a ``--key`` it lacks, fails before anything is sent.
    Then the rows are validated (in a worker thread) while the session logs in and the lines
    of the products the sheet lists are fetched; the products found only by validation (ids
    written another way, names) are fetched after."""
    options = options or SyncOptions()
    started = timestamp()
    return await _plan_loaded(_load(path, options), connection, options,
                              started)


async def _plan_loaded(sheet: LoadedSheet, connection: Connection, options: SyncOptions,
                       started: str) -> PlanResult:
    match_key(sheet, options.key)
    products = _listed_products(sheet) if options.scope is Scope.SHEET else set()
    async with options.client(connection) as client:
        logged_in = asyncio.ensure_future(client.login())
        lines = asyncio.ensure_future(_lines_of(client, logged_in, options.scope, products))
        try:
            checked = await asyncio.to_thread(_validated, sheet, options, started)
            await logged_in
            began = time.perf_counter()
            warnings, records = await _fetch_current(checked.validated, client, options.scope,
                                                     products, lines)
        except BaseException:
            for task in (logged_in, lines):
                task.cancel()
            await asyncio.gather(logged_in, lines, return_exceptions=True)
            raise
        fetched = time.perf_counter()
        _log_stage("fetched", fetched - began,
                   f"{len(records)} server lines, {client.stats.requests} requests; "
                   "the wait after validation")
        base = mergebase.PendingBase(sheet.path, sheet.file_format, connection.base_url,
                                     checked.validated.column(schema.ID.name))
        the_plan = diff(checked.validated, records, options.plan_options(), base.lines)
        warnings += base.warnings
        await _name_products(the_plan, client)
        await _read_only_edits(the_plan, checked.validated, client)
        _log_stage("diffed", time.perf_counter() - fetched)
        return PlanResult(checked.validated, options, started, timestamp(),
                          checked.warnings + warnings, connection.base_url,
                          client.stats.requests, client.stats.retries, plan=the_plan,
                          base_source=base)


def plan(path: str | Path, connection: Connection,
         options: SyncOptions | None = None) -> PlanResult:
    # The sheet is read before the event loop starts: nothing waits on the loop meanwhile.
    options = options or SyncOptions()
    started = timestamp()
    sheet = _load(path, options)
    return asyncio.run(_plan_loaded(sheet, connection, options, started))


def plan_sheet(sheet: LoadedSheet, connection: Connection,
               options: SyncOptions | None = None) -> PlanResult:
    """``plan`` of a sheet already read (the web page reads uploads in a child process)."""
    options = options or SyncOptions()
    return asyncio.run(_plan_loaded(sheet, connection, options, timestamp()))


async def execute_async(planned: PlanResult, connection: Connection, *,
                        journal: str | Path | None = None,
                        on_progress: Callable[[Progress], None] | None = None,
                        stop: asyncio.Event | None = None, history: str | Path | None = None,
                        who: str | None = None) -> ApplyResult:
    """Send the writes of a plan already shown and confirmed.

    Refuses (SafetyLimitError, nothing sent) when the plan's deletes exceed the limit.
    After the writes, the lines written are read back (``sync.readback``): a row another
    writer changed again since is ``overwritten``.  The duration includes that check.
    ``history``: the run history to record the run in, as ``who`` (``sync.history``; a
    history that cannot be written is a warning of the result)."""
    if planned.plan.over_delete_limit:
        raise SafetyLimitError(planned.plan.delete_limit_message)
    options = planned.options
    started = time.monotonic()
    items = planned.plan.execution_items()
    with Journal(journal, base_url=connection.base_url) as log:
        async with options.client(connection) as client:
            await client.login()
            executor = Executor(client, workers=options.concurrency, retries=options.retries,
                                journal=log, on_progress=on_progress, stop=stop)
            execution = await executor.run(items)
            checked = None
            if not execution.stopped and execution.fatal is None:
                checked = await read_back(client, items, execution)
                _log_stage("read back", checked.seconds, f"{checked.checked} lines")
            requests, retries = client.stats.requests, client.stats.retries
        log.write(event="end", writes=execution.writes_sent, interrupted=execution.stopped)
    warnings = list(planned.warnings) + ([checked.error] if checked and checked.error else [])
    result = ApplyResult(planned.validated, options, planned.started, timestamp(), warnings,
                         planned.base_url, planned.requests + requests,
                         planned.retries + retries, time.monotonic() - started, checked,
                         plan=planned.plan, execution=execution,
                         base_source=planned.base_source)
    if history is not None:
        result.history = Path(history)
        result.run_record = record_for_apply(result, run_id=log.run_id, who=who,
                                             journal=journal)
        warning = save(history, result.run_record)
        if warning:
            result.warnings.append(warning)
            result.history = None   # warned once: the report's path is not tried again
    return result


async def apply_async(path: str | Path, connection: Connection,
                      options: SyncOptions | None = None, **kwargs: Any) -> ApplyResult:
    """Plan and execute in one go (no confirmation): for scripts and nightly jobs."""
    planned = await plan_async(path, connection, options)
    return await execute_async(planned, connection, **kwargs)


def apply(path: str | Path, connection: Connection, options: SyncOptions | None = None,
          **kwargs: Any) -> ApplyResult:
    return asyncio.run(apply_async(path, connection, options, **kwargs))


async def export_async(connection: Connection, out_path: str | Path, *,
                       filters: Sequence[str] = (), products: Sequence[str] = (),
                       fmt: str | None = None) -> Exported:
    """Write the server's lines (all, or those ``filters`` and ``products`` select) to
    ``out_path`` (xlsx or csv) in the layout ``plan`` reads back."""
    from . import exporting

    return await exporting.export(connection, out_path, filters=filters, products=products,
                                  fmt=fmt)


def export(connection: Connection, out_path: str | Path, *, filters: Sequence[str] = (),
           products: Sequence[str] = (), fmt: str | None = None) -> Exported:
    return asyncio.run(export_async(connection, out_path, filters=filters, products=products,
                                    fmt=fmt))


async def template_async(connection: Connection, out_path: str | Path) -> Exported:
    """An empty workbook to fill in, its dropdowns holding the tenant's product and process
    names."""
    from . import templating

    return await templating.template(connection, out_path)


def template(connection: Connection, out_path: str | Path) -> Exported:
    return asyncio.run(template_async(connection, out_path))


async def undo_async(journal_path: str | Path, connection: Connection, *, yes: bool = False,
                     runs: Sequence[str] | None = None, journal: str | Path | None = None,
                     concurrency: int = 16, rate: float | None = None, retries: int = 5,
                     on_progress: Callable[[Progress], None] | None = None) -> UndoResult:
    """Plan the undo of the runs a journal holds and, with ``yes``, execute it (without
    ``yes`` nothing is sent: the result holds the plan only)."""
    from . import undoing

    return await undoing.undo_async(journal_path, connection, yes=yes, runs=runs,
                                    journal=journal, concurrency=concurrency, rate=rate,
                                    retries=retries, on_progress=on_progress)


def undo(journal_path: str | Path, connection: Connection, *, yes: bool = False,
         runs: Sequence[str] | None = None, journal: str | Path | None = None,
         concurrency: int = 16, rate: float | None = None, retries: int = 5,
         on_progress: Callable[[Progress], None] | None = None) -> UndoResult:
    return asyncio.run(undo_async(journal_path, connection, yes=yes, runs=runs,
                                  journal=journal, concurrency=concurrency, rate=rate,
                                  retries=retries, on_progress=on_progress))


def journal_path_for(report: Path) -> Path:
    """The journal beside a report given by name: ``x.report.xlsx`` -> ``x.journal.jsonl``."""
    name = report.name.removesuffix(".xlsx").removesuffix(".report")
    return report.with_name(f"{name}.journal.jsonl")


def default_journal_path(input_path: Path) -> Path:
    """``<input stem>.journal.jsonl`` beside the input: one journal for every run of it."""
    return Path(input_path).with_name(f"{Path(input_path).stem}.journal.jsonl")


def last_apply_report(input_path: Path) -> Path | None:
    """The newest report an apply of this input wrote under its default name, if any."""
    first = default_report_path(Path(input_path), ApplyResult.report_kind)
    found = [p for p in first.parent.glob(f"{first.stem}*{first.suffix}")
             if p == first or re.fullmatch(rf"{re.escape(first.stem)}-\d+", p.stem)]
    return max(found, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def nothing_to_send(result: PlanResult) -> str:
    """Why a plan sends nothing, truthfully: the sheet may match, or its rows may be unusable
    or left out by the mode."""
    counts = result.counts()
    problems = sum(counts.get(PLAN_STATUS[a], 0) for a in (Action.INVALID, Action.CONFLICT))
    skipped = counts.get(PLAN_STATUS[Action.SKIP], 0)
    rows = len(result.validated)
    if rows and problems == rows:
        return ("nothing sent: no row of the sheet can be sent (every row is invalid or in "
                "conflict; the report says why)")
    reasons = []
    if problems:
        reasons.append(f"{_rows(problems)} invalid or in conflict")
    if skipped:
        reasons.append(f"{_rows(skipped)} left out by the {result.options.mode.value} mode")
    if reasons:
        return (f"nothing sent: the other rows already match Flowtrac, but "
                f"{' and '.join(reasons)} (the report says why)")
    return "nothing to do: Flowtrac already matches the sheet"


def exit_reason(result: ValidationResult) -> str | None:
    """Why a finished command ends with exit code 1 or 3, in one sentence (other codes come
    from an error, which says why itself)."""
    code = result.exit_code
    if code == ExitCode.SAFETY_STOP and isinstance(result, PlanResult) and result.plan:
        return result.plan.delete_limit_message
    if code != ExitCode.ROWS_NOT_DONE:
        return None
    if isinstance(result, ApplyResult) and result.execution.stopped:
        return "the run was interrupted: run the same command again to continue"
    counts = result.counts()
    problems = [f"{counts[status]} {status}" for status in PROBLEM_STATUSES if counts.get(status)]
    overwritten = counts.get(Status.OVERWRITTEN.value, 0)
    if overwritten and len(problems) == 1:
        return (f"{_rows(overwritten)} overwritten on the server after this run wrote them: "
                "the report says by whom and when")
    verb = "were not done" if isinstance(result, ApplyResult) else "cannot be sent"
    return f"some rows {verb} ({', '.join(problems)}): the report says why"


def _rows(n: int) -> str:
    return "1 row is" if n == 1 else f"{n} rows are"


#: Row statuses that make exit code 1, in the order a summary names them.
PROBLEM_STATUSES = (Status.FAILED.value, Status.INVALID.value, Status.CONFLICT.value,
                    Status.OVERWRITTEN.value)


def first_changes(result: PlanResult, limit: int = 10) -> list[str]:
    """The first few planned writes, one line each: what a planner checks before applying."""
    plan = result.plan
    lines = []
    for item in plan.writes[:limit]:
        where = (f"row {item.row.row_number}" if item.row is not None else "server line")
        changes = changes_text(item.changes, plan.process_names)
        lines.append(f"{where} ({plan.describe_line(item)}): {PLAN_STATUS[item.action]}"
                     + (f": {changes}" if changes else ""))
    return lines

