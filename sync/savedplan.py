"""Saved plans: approve a plan in the afternoon, apply exactly that plan at night.

``save_plan`` writes a plan's writes to a versioned JSON document; ``apply_saved`` sends those
writes and nothing else, through ``sync.executor.Executor`` (its retries, ordering and
journal).  Nothing is diffed again: a sheet edited after the plan was approved changes
nothing.

The document (``FORMAT``, ``VERSION``) holds:

* ``base_url`` (never a token, cookie or PIN), ``created``, ``tool_version``;
* ``sheet``: the input's path (null when the plan is made where the nightly job cannot find
  the input, e.g. a web upload), name, sheet and sha256, so ``apply --plan P FILE`` can
  refuse a FILE that is not the sheet the plan was made from;
* ``options``: mode, scope, blank rule, key, delete limit, sheet name;
* ``writes``: per write its action, sheet row, line id, product, line number, ``body`` (the
  canonical fields it sends: all of a create's, the new values of an update's, none for a
  delete), ``before`` (an update's old values) and ``server``: the line as the plan saw it,
  ``edited`` stamp included (null for a create);
* ``lines_seen``: per product written, its lines when the plan was made (id -> line
  number), so a create can tell a line put on its line number since;
* ``digest``: the sha256 of the rest, which catches a hand edit or a damaged file (not an
  attacker, who can recompute it: keep plans where only the approvers can write).

Before any write ``apply_saved`` lists the lines of the plan's products (scoped
``product_id-in`` batches) and compares each write's line with what the plan recorded: a line
changed or deleted since, or a create whose line number another line took since, is
``stale`` and not written; the other writes go on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

from . import schema
from .api import PlanResult, SyncOptions, default_journal_path
from .client import FlowtracClient
from .connection import Connection
from .diff import Blank, Mode, Scope, changes_text, values_text
from .errors import (
    ExitCode,
    InputError,
    InvalidValueError,
    SafetyLimitError,
    UsageError,
    _BadPlanError,
    fatal_exit_code,
)
from .executor import Execution, Executor, Progress
from .files import read_text_file
from .history import timestamp
from .journal import Journal, record_json
from .model import Action, PlanItem, Status
from .readback import ReadBack, read_back
from .report import default_report_path, unused_path
from .report.content import summary_of_writes
from .templating import write_table_workbook

__all__ = ["FORMAT", "VERSION", "PROBLEMS", "STALE", "SavedApplyResult", "SavedPlan",
           "SavedStep", "SavedWrite", "apply_saved", "check_target", "default_saved_journal",
           "load_plan", "save_plan", "sheet_sha256"]

FORMAT = "flowtrac-sync saved plan"
VERSION = 1
#: A write whose line changed on the server after the plan was saved: not sent.
STALE = Status.STALE.value
_ID = schema.ID.name
_PRODUCT = schema.PRODUCT_ID.name
_LINE = schema.LINE_NUMBER.name
_EDITED = schema.EDITED.name
_WRITABLE = frozenset(f.name for f in schema.WRITABLE)
#: What a line "still is as the plan saw it" means: its writable fields and its stamp.
_COMPARED = (*sorted(_WRITABLE), _EDITED)
_ACTIONS = {a.value: a for a in (Action.CREATE, Action.UPDATE, Action.DELETE)}
#: Statuses that make exit code 1, in the order a summary names them.
PROBLEMS = (STALE, Status.FAILED.value, Status.SKIPPED.value, Status.OVERWRITTEN.value)
_BAD = frozenset(PROBLEMS)


def sheet_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, as a saved plan records its sheet's."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tool_version() -> str:
    try:
        return metadata.version("flowtrac-sync")
    except metadata.PackageNotFoundError:
        return "unknown"


def _digest(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_value(value: Any) -> Any:
    return schema.format_decimal(value) if isinstance(value, Decimal) else value


# --------------------------------------------------------------------------- the document


@dataclass(eq=False)
class SavedWrite:
    """One write of a saved plan, canonical values."""

    action: Action
    row: int | None                        # the sheet's row number; None for a mirror delete
    record_id: str | None                  # None for a create
    product_id: str
    line_number: Any
    body: dict[str, Any]                   # what is sent (create: all; update: new values)
    before: dict[str, Any]                 # an update's old values of the fields in body
    server: dict[str, Any] | None          # the line as the plan saw it (JSON values)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action.value, "row": self.row, "id": self.record_id,
                "product_id": self.product_id, "line_number": self.line_number,
                "body": {k: _json_value(v) for k, v in self.body.items()},
                "before": {k: _json_value(v) for k, v in self.before.items()},
                "server": self.server}

    @property
    def where(self) -> str:
        """The line in words, for messages: ``row 7 (product ..., line 3)``."""
        row = f"row {self.row}" if self.row is not None else "server line"
        return f"{row} (product {self.product_id}, line {self.line_number})"


@dataclass
class SavedPlan:
    """A plan as saved: what ``apply --plan`` sends, and what it checks first."""

    base_url: str
    sheet_path: Path | None               # None: the input's place is not known
    sheet_sha256: str
    options: SyncOptions
    writes: list[SavedWrite]
    lines_seen: dict[str, dict[str, Any]]  # product -> {line id: its line number}
    sheet_file: str = ""                  # the input's file name
    created: str = field(default_factory=timestamp)
    tool_version: str = field(default_factory=_tool_version)
    sheet_name: str | None = None
    path: Path | None = None               # where it was read from or written to

    @property
    def products(self) -> list[str]:
        return sorted({w.product_id for w in self.writes})

    @property
    def file_name(self) -> str:
        """The name of the file it was read from or written to ("" before either)."""
        return self.path.name if self.path is not None else ""

    def to_json(self) -> dict[str, Any]:
        options = self.options
        document: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "tool_version": self.tool_version,
            "created": self.created, "base_url": self.base_url,
            "sheet": {"path": str(self.sheet_path) if self.sheet_path else None,
                      "name": self.sheet_file, "sheet": self.sheet_name,
                      "sha256": self.sheet_sha256},
            "options": {"mode": options.mode.value, "scope": options.scope.value,
                        "blank": options.blank.value,
                        "key": list(options.key) if options.key else None,
                        "max_delete": options.max_delete, "sheet": options.sheet},
            "lines_seen": {p: dict(sorted(lines.items()))
                           for p, lines in sorted(self.lines_seen.items())},
            "writes": [w.to_json() for w in self.writes],
        }
        document["digest"] = _digest(document)
        return document


def _saved_write(item: PlanItem) -> SavedWrite:
    record = item.record or {}
    if item.action is Action.CREATE:
        body, before = dict(item.values), {}
    elif item.action is Action.UPDATE:
        body = {name: after for name, (_before, after) in item.changes.items()}
        before = {name: old for name, (old, _after) in item.changes.items()}
    else:
        body, before = {}, {}
    product = item.product_id or body.get(_PRODUCT) or record.get(_PRODUCT)
    line = body.get(_LINE, record.get(_LINE))
    server = record_json({k: record.get(k) for k in (_ID, _PRODUCT, *_COMPARED)
                          if k in record}) if item.record is not None else None
    return SavedWrite(item.action, item.row.row_number if item.row is not None else None,
                      item.record_id, str(product), line, body, before, server)


def save_plan(result: PlanResult, path: str | Path, *, keep_sheet_path: bool = True
              ) -> SavedPlan:
    """Write the writes of ``result`` (a plan) to ``path`` as a saved plan.

    ``keep_sheet_path=False`` records only the input's name (the page's uploads live in a
    temporary folder: the nightly job must not write its report there).  A plan over the
    delete limit is refused (SafetyLimitError, nothing written): ``apply`` would refuse it
    too."""
    plan = result.plan
    if plan.over_delete_limit:
        raise SafetyLimitError(f"{plan.delete_limit_message} The plan was not saved.")
    writes = [_saved_write(item) for item in plan.writes]
    products = {w.product_id for w in writes}
    seen: dict[str, dict[str, Any]] = {p: {} for p in products}
    for item in (*plan.items, *plan.server_only):
        record = item.record
        if record is not None and record.get(_PRODUCT) in seen and record.get(_ID):
            seen[record[_PRODUCT]][record[_ID]] = record.get(_LINE)
    sheet = result.validated.sheet
    saved = SavedPlan(result.base_url, sheet.path.resolve() if keep_sheet_path else None,
                      sheet_sha256(sheet.path), result.options, writes, seen,
                      sheet_file=sheet.path.name, sheet_name=sheet.sheet_name)
    target = Path(path)
    _write_atomically(target, json.dumps(saved.to_json(), indent=1, ensure_ascii=False))
    saved.path = target
    return saved


def _write_atomically(target: Path, text: str) -> None:
    """A half-written plan must never be found by the nightly job: write aside, then
    rename."""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise UsageError(f"Cannot write the plan {target}: {exc.strerror}.") from None
    try:
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise UsageError(f"Cannot write the plan {target}: {exc.strerror}.") from None


def load_plan(path: str | Path) -> SavedPlan:
    """Read and check a saved plan; InputError (exit 2, one sentence) when it cannot be
    used: missing, not JSON, another format or version, edited after saving."""
    source = Path(path)

    def unreadable(exc: OSError | UnicodeDecodeError) -> InputError:
        why = getattr(exc, "strerror", None) or "it is not UTF-8 text"
        return InputError(f"Cannot read the plan {source}: {why} (nothing sent).")

    text = read_text_file(source, unreadable=unreadable, missing=lambda: InputError(
        f"The plan {source} does not exist (nothing sent)."))
    try:
        document = json.loads(text)
        saved = _parse(document)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source.name} is not a saved plan: it is not valid JSON (line "
                         f"{exc.lineno}); nothing sent.") from None
    except _BadPlanError as exc:
        raise InputError(f"{source.name} is not a saved plan that can be applied: {exc}; "
                         f"nothing sent.") from None
    saved.path = source
    return saved


def _need(mapping: Any, key: str, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(mapping, dict) or not isinstance(mapping.get(key), kind):
        raise _BadPlanError(f"{what} is missing or malformed")
    return mapping[key]


def _parse(document: Any) -> SavedPlan:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise _BadPlanError("it is not a flowtrac-sync plan (save one with plan FILE --save-plan)")
    if document.get("version") != VERSION:
        raise _BadPlanError(f"it is version {document.get('version')!r}, this tool applies version "
                            f"{VERSION}; save the plan again")
    if document.get("digest") != _digest(document):
        raise _BadPlanError("it was changed after it was saved (its digest does not match); "
                            "save the plan again instead of editing it")
    sheet = _need(document, "sheet", dict, "the sheet")
    options = _need(document, "options", dict, "the options")
    try:
        key = options.get("key")
        sync_options = SyncOptions(
            mode=Mode(options.get("mode")), scope=Scope(options.get("scope")),
            blank=Blank(options.get("blank")), key=tuple(key) if key else None,
            max_delete=options.get("max_delete"), sheet=options.get("sheet"))
    except (ValueError, TypeError):
        raise _BadPlanError("its options are malformed") from None
    seen = _need(document, "lines_seen", dict, "the lines seen")
    if not all(isinstance(lines, dict) for lines in seen.values()):
        raise _BadPlanError("the lines seen are malformed")
    path = sheet.get("path")
    if path is not None and not isinstance(path, str):
        raise _BadPlanError("the sheet's path is malformed")
    writes = [_parse_write(n, w)
              for n, w in enumerate(_need(document, "writes", list, "the writes"), 1)]
    return SavedPlan(_need(document, "base_url", str, "the server"),
                     Path(path) if path else None,
                     _need(sheet, "sha256", str, "the sheet's checksum"), sync_options, writes,
                     {str(p): {str(i): n for i, n in lines.items()}
                      for p, lines in seen.items()},
                     sheet_file=str(sheet.get("name") or ""),
                     created=str(document.get("created") or ""),
                     tool_version=str(document.get("tool_version") or ""),
                     sheet_name=sheet.get("sheet"))


def _fields(values: Any, what: str) -> dict[str, Any]:
    """Writable fields with JSON values -> canonical values (a bad one is a _BadPlanError)."""
    if not isinstance(values, dict):
        raise _BadPlanError(f"{what} is malformed")
    out = {}
    for name, value in values.items():
        if name not in _WRITABLE:
            raise _BadPlanError(f"{what} names {str(name)[:40]!r}, not a field that can be written")
        try:
            out[name] = schema.BY_NAME[name].parse(value)
        except InvalidValueError:
            raise _BadPlanError(f"{what} holds a bad {name}") from None
    return out


def _parse_write(n: int, raw: Any) -> SavedWrite:
    what = f"write {n}"
    action = _ACTIONS.get(_need(raw, "action", str, what))
    if action is None:
        raise _BadPlanError(f"{what} has an unknown action")
    body = _fields(raw.get("body") or {}, f"{what}'s body")
    before = _fields(raw.get("before") or {}, f"{what}'s old values")
    server = raw.get("server")
    record_id = raw.get("id")
    if action is Action.CREATE:
        if record_id is not None or not {_PRODUCT, _LINE} <= body.keys():
            raise _BadPlanError(f"{what} is a create without its product and line number")
    elif not isinstance(record_id, str) or not isinstance(server, dict):
        raise _BadPlanError(f"{what} lacks the line it changes, or the line as the plan saw it")
    if action is Action.UPDATE and (not body or body.keys() != before.keys()):
        raise _BadPlanError(f"{what} is an update without its changes")
    row = raw.get("row")
    if row is not None and not isinstance(row, int):
        raise _BadPlanError(f"{what} has a bad row number")
    return SavedWrite(action, row, record_id, str(_need(raw, "product_id", str, what)),
                      raw.get("line_number"), body, before, server)


# --------------------------------------------------------------------------- applying


@dataclass(eq=False)
class SavedStep:
    """One saved write and what became of it."""

    write: SavedWrite
    status: str = ""
    message: str = ""
    record_id: str | None = None
    item: PlanItem | None = None           # the write sent; None when stale

    @property
    def changes(self) -> str:
        w = self.write
        if w.action is Action.UPDATE:
            return changes_text({k: (w.before.get(k), v) for k, v in w.body.items()})
        if w.action is Action.CREATE:
            return values_text(w.body)
        return ""


@dataclass
class SavedApplyResult:
    """What applying a saved plan did to each of its writes."""

    saved: SavedPlan
    base_url: str
    steps: list[SavedStep]
    execution: Execution | None = None
    read_back: ReadBack | None = None
    started: str = field(default_factory=timestamp)
    finished: str | None = None
    duration_s: float = 0.0
    requests: int = 0
    retries: int = 0
    journal: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(step.status for step in self.steps))

    @property
    def exit_code(self) -> ExitCode:
        if self.execution is not None and self.execution.fatal is not None:
            return fatal_exit_code(self.execution.fatal)
        return ExitCode.ROWS_NOT_DONE if any(s.status in _BAD for s in self.steps) else ExitCode.OK

    def problems(self, limit: int = 10) -> list[str]:
        return [f"{s.write.where}: {s.status}: {s.message}" for s in self.steps
                if s.status in _BAD][:limit]

    def summary(self) -> dict[str, Any]:
        saved = self.saved
        out: dict[str, Any] = {
            "Command": "apply --plan", "Plan": str(saved.path or ""),
            "Plan created": saved.created, "Plan made by": f"flowtrac-sync {saved.tool_version}",
            "File": str(saved.sheet_path or saved.sheet_file),
            "Sheet sha256": saved.sheet_sha256,
            "Mode": saved.options.mode.value, "Scope": saved.options.scope.value,
            "Base URL": self.base_url, "Started": self.started,
            "Finished": self.finished or timestamp(), "Duration (s)": round(self.duration_s, 2),
            "Requests sent": self.requests, "Retries": self.retries}
        out.update(summary_of_writes(
            self.execution is not None and self.execution.stopped, self.counts(), self.warnings,
            journal_label="Journal", journal=self.journal, unit="Writes",
            again="apply the plan again; the lines written are stale then"))
        return out

    def default_report_path(self) -> Path:
        """Beside the input when it is still there (``<input>.report.xlsx``), else beside the
        plan (``<plan stem>.report.xlsx``); never replacing an earlier report."""
        return unused_path(default_report_path(_home(self.saved), "report"))

    def write_report(self, path: str | Path | None = None) -> Path:
        headers = ["sync_status", "action", "row", "sync_id", _PRODUCT, _LINE,
                   "sync_changes", "sync_message"]
        rows = ([s.status, s.write.action.value, s.write.row, s.record_id,
                 s.write.product_id, s.write.line_number, s.changes, s.message]
                for s in self.steps)
        return write_table_workbook(path or self.default_report_path(),
                                    [("Saved plan", headers, rows),
                                     ("Summary", ["", ""], list(self.summary().items()))],
                                    "report")

    def to_json(self) -> dict[str, Any]:
        execution = self.execution
        return {"command": "apply --plan", "plan": str(self.saved.path or ""),
                "file": str(self.saved.sheet_path or self.saved.sheet_file),
                "base_url": self.base_url,
                "counts": self.counts(), "problems": self.problems(),
                "warnings": self.warnings, "requests": self.requests,
                "retries": self.retries, "duration_s": round(self.duration_s, 3),
                "interrupted": bool(execution and execution.stopped),
                "fatal": str(execution.fatal) if execution and execution.fatal else None,
                "read_back": self.read_back.to_json() if self.read_back else None,
                "exit_code": self.exit_code}


def _home(saved: SavedPlan) -> Path:
    """The file a run's report and journal are named after: the input while it exists."""
    if saved.sheet_path is not None and (saved.sheet_path.is_file() or saved.path is None):
        return saved.sheet_path
    if saved.path is None:
        raise UsageError("give --report and --journal: the plan's input is not known here")
    return saved.path


def default_saved_journal(saved: SavedPlan) -> Path:
    """``<input stem>.journal.jsonl`` beside the input (or the plan, once the input is gone):
    the same journal a plain apply of the input keeps."""
    return default_journal_path(_home(saved))


def check_target(saved: SavedPlan, connection: Connection,
                 sheet: str | Path | None = None) -> None:
    """Refuse (UsageError, exit 2, nothing sent) another server than the plan's, or a sheet
    that is not the one the plan was made from."""
    if saved.base_url.rstrip("/") != connection.base_url.rstrip("/"):
        raise UsageError(f"The plan was made against {saved.base_url}, not "
                         f"{connection.base_url}: a plan is applied only to the server it "
                         f"was made for (nothing sent).")
    if sheet is not None:
        try:
            checksum = sheet_sha256(sheet)
        except OSError as exc:
            raise InputError(f"Cannot read {sheet}: {exc.strerror} (nothing sent).") from None
        if checksum != saved.sheet_sha256:
            raise UsageError(f"{Path(sheet).name} is not the sheet the plan was made from (its "
                             f"checksum differs): apply the plan alone, or plan the sheet "
                             f"again (nothing sent).")


def _stale_reason(write: SavedWrite, now: dict[str, Any]) -> str | None:
    """Why the line an update or delete changes, still on the server, no longer is as the
    plan saw it, or None."""
    seen = write.server or {}
    shown = record_json(now) or {}
    changed = [name for name in _COMPARED if name in seen and shown.get(name) != seen[name]]
    if not changed:
        return None
    fields = [n for n in changed if n != _EDITED] or changed
    return (f"changed on the server{_by(now)} after the plan was saved ("
            + ", ".join(f"{n}: {_shown(seen.get(n))} -> {_shown(shown.get(n))}"
                        for n in fields) + "); not written")


def _taken(write: SavedWrite, holder: dict[str, Any], saved: SavedPlan) -> str:
    """Why a create's line number is not free: another line took it since the plan, or the
    line the plan moves off it (or deletes) changed since and so stays."""
    line = write.body.get(_LINE)
    if saved.lines_seen.get(write.product_id, {}).get(holder[_ID], object()) != line:
        return (f"line {line} of this product was taken on the server by line "
                f"{holder[_ID]}{_by(holder)} after the plan was saved; not written")
    return (f"line {line} of this product is still held by line {holder[_ID]}, whose own "
            f"write is stale; not written")


def _by(record: dict[str, Any]) -> str:
    when, who = record.get(_EDITED) or record.get("created"), record.get(schema.EDITED_BY.name)
    return (f" at {when}" if when else "") + (f" by {who}" if who else "")


def _shown(value: Any) -> str:
    return "blank" if value is None or value == "" else str(value)


def _decide(saved: SavedPlan, current: Sequence[dict[str, Any]]
            ) -> tuple[list[SavedStep], list[PlanItem]]:
    """Each write's step (stale, or its plan item to send) and the other lines of the
    products, which tell the executor the line numbers in use."""
    by_id = {r[_ID]: r for r in current}
    steps = [SavedStep(write, record_id=write.record_id) for write in saved.writes]
    for step in steps:
        write = step.write
        if write.action is Action.CREATE:
            continue
        now = by_id.get(write.record_id or "")
        if now is None:
            step.status = STALE
            step.message = "deleted from the server after the plan was saved; not written"
            continue
        reason = _stale_reason(write, now)
        if reason is not None:
            step.status, step.message = STALE, reason
            continue
        changes = {k: (now.get(k), v) for k, v in write.body.items()}
        step.item = PlanItem(write.action, None, now, write.product_id, changes=changes)
    # A create needs its line number free once the deletes and moves that are sent are done
    # (the executor sends those first).
    freed = {s.write.record_id for s in steps if s.item is not None
             and (s.write.action is Action.DELETE or _LINE in s.write.body)}
    by_key: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for record in current:
        if record[_ID] not in freed:
            by_key[(record.get(_PRODUCT), record.get(_LINE))].append(record)
    for step in steps:
        write = step.write
        if write.action is not Action.CREATE:
            continue
        holders = by_key.get((write.product_id, write.body.get(_LINE)), [])
        if holders:
            step.status, step.message = STALE, _taken(write, holders[0], saved)
            continue
        step.item = PlanItem(Action.CREATE, None, None, write.product_id,
                             values=dict(write.body))
    sent = {s.write.record_id for s in steps if s.item is not None}
    context = [PlanItem(Action.KEEP, None, r, r.get(_PRODUCT)) for r in current
               if r[_ID] not in sent]
    return steps, context


async def apply_saved(saved: SavedPlan, connection: Connection, *,
                      sheet: str | Path | None = None, journal: str | Path | None = None,
                      concurrency: int = 16, rate: float | None = None, retries: int = 5,
                      on_progress: Callable[[Progress], None] | None = None,
                      stop: asyncio.Event | None = None) -> SavedApplyResult:
    """Send the saved writes whose lines are still as the plan saw them; the others are
    ``stale``.  Refuses another server, or a ``sheet`` other than the plan's (UsageError,
    nothing sent).  After the writes, the lines written are read back (``sync.readback``)."""
    check_target(saved, connection, sheet)
    started, began = timestamp(), time.monotonic()
    journal_path = Path(journal) if journal else None
    with Journal(journal_path, base_url=connection.base_url) as log:
        async with FlowtracClient(connection, concurrency=concurrency, rate=rate,
                                  retries=retries) as client:
            await client.login()
            current = (await client.list_lines_for_products(saved.products)
                       if saved.products else [])
            steps, context = _decide(saved, current)
            items = [s.item for s in steps if s.item is not None]
            executor = Executor(client, workers=concurrency, retries=retries, journal=log,
                                on_progress=on_progress, stop=stop)
            execution = await executor.run([*items, *context])
            checked = None
            if items and not execution.stopped and execution.fatal is None:
                checked = await read_back(client, items, execution)
            requests, retried = client.stats.requests, client.stats.retries
        log.write(event="end", writes=execution.writes_sent, interrupted=execution.stopped)
    for step in steps:
        outcome = execution.outcomes.get(step.item) if step.item is not None else None
        if outcome is None:
            continue
        step.status, step.record_id = outcome.status.value, outcome.record_id or step.record_id
        step.message = outcome.message
        if checked is not None and step.item in checked.overwritten:
            step.status, step.message = Status.OVERWRITTEN.value, checked.overwritten[step.item]
    warnings = [checked.error] if checked is not None and checked.error else []
    return SavedApplyResult(saved, connection.base_url, steps, execution, checked, started,
                            timestamp(), time.monotonic() - began, requests, retried, journal_path,
                            warnings)
