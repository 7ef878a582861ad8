"""What the command line prints: tables and progress on a terminal, plain lines elsewhere,
only the summary with ``--quiet``, only JSON on stdout with ``--json``."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import api
from .diff import Mode, Scope

if TYPE_CHECKING:  # rich is imported when something is shown: ``--json`` needs none of it
    from rich.console import Console

    from .executor import Progress
    from .undoing import UndoPlan, UndoResult

#: Seconds between plain progress lines when stderr is not a terminal.
PLAIN_PROGRESS_EVERY_S = 2.0


def print_json(data: Mapping[str, Any]) -> None:
    """A command's machine-readable summary on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def progress_line(progress: Progress) -> str:
    eta = f", ETA {progress.eta_s:.0f}s" if progress.eta_s is not None else ""
    return (f"{progress.done}/{progress.total} done, {progress.failed} failed, "
            f"{progress.rate:.0f} writes/s{eta}")


class Output:
    def __init__(self, *, as_json: bool = False, quiet: bool = False):
        self.as_json = as_json
        self.quiet = quiet

    @cached_property
    def out(self) -> Console:
        from rich.console import Console

        return Console(highlight=False, soft_wrap=True)

    @cached_property
    def err(self) -> Console:
        from rich.console import Console

        return Console(stderr=True, highlight=False, soft_wrap=True)

    def say(self, message: str) -> None:
        """A status sentence, on stderr, unless quiet."""
        if not self.quiet:
            self.err.print(message, markup=False)

    def plan_preview(self, planned: api.PlanResult) -> None:
        """The plan, before asking to apply it."""
        if self.quiet or self.as_json:
            return
        self._counts_table(planned.counts(), title=f"Plan: {planned.path.name}", unit="rows",
                           console=self.err)
        self._changes(planned, console=self.err)
        self._mirror_scope(planned, console=self.err)
        self._problems(planned, console=self.err)
        for warning in planned.warnings:
            self.err.print(f"warning: {warning}", markup=False)

    def result(self, result: api.ValidationResult, report: Path | None, *,
               journal: Path | None = None, saved_plan: Path | None = None) -> None:
        """The summary; and whatever the options, a command that does not end with exit
        code 0 says why on stderr (one ``error:`` line)."""
        self._summary(result, report, journal=journal, saved_plan=saved_plan)
        reason = api.exit_reason(result)
        if reason:
            self.err.print(f"error: {reason}", markup=False)

    def _summary(self, result: api.ValidationResult, report: Path | None, *,
                 journal: Path | None, saved_plan: Path | None) -> None:
        if self.as_json:
            data = result.to_json()
            data["report"] = str(report) if report else None
            if journal is not None:
                data["journal"] = str(journal)
            if saved_plan is not None:
                data["saved_plan"] = str(saved_plan)
            print_json(data)
            return
        title = {"validate": "Validation", "plan": "Plan", "apply": "Result"}[result.command]
        self._counts_table(result.counts(), title=f"{title}: {result.path.name}", unit="rows",
                           console=self.out)
        if not self.quiet:
            if result.command == "plan":
                self._changes(result, console=self.out)
                self._mirror_scope(result, console=self.out)
            self._problems(result, console=self.out)
            warnings = list(result.warnings)
            if isinstance(result, api.PlanResult):
                warnings += result.plan.warnings
            for warning in warnings:
                self.err.print(f"warning: {warning}", markup=False)
        if report is not None:
            self.out.print(f"report: {report}", markup=False)
        if journal is not None:
            self.out.print(f"journal: {journal}", markup=False)

    def undo_preview(self, planned: UndoPlan) -> None:
        """The undo plan, before asking to send it (on stderr)."""
        self._undo_counts(planned, title="Undo plan", console=self.err)

    def undo_result(self, result: UndoResult, report: Path, *, title: str,
                    journal: Path | None = None) -> None:
        """What an undo did (or, as a dry run, would do); ``journal``: its own journal."""
        if self.as_json:
            data = result.to_json()
            data.update(report=str(report), journal=str(journal) if journal else None)
            print_json(data)
            return
        self._undo_counts(result.plan, title=title, console=self.out)
        self.out.print(f"report: {report}", markup=False)
        if journal is not None:
            self.out.print(f"undo journal: {journal}", markup=False)

    def _undo_counts(self, planned: UndoPlan, *, title: str, console: Console) -> None:
        if self.as_json:
            return
        runs = ", ".join(r.run_id for r in planned.runs)
        self._counts_table(planned.counts(), title=f"{title}: {planned.journal.name} "
                           f"(run {runs})", unit="lines", console=console)
        if self.quiet:
            return
        self._first_problems(planned.problems(), console=console)
        for warning in planned.warnings:
            self.err.print(f"warning: {warning}", markup=False)

    def _counts_table(self, counts: Mapping[str, int], *, title: str, unit: str,
                      console: Console) -> None:
        """Status -> count, the most frequent first."""
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        table.add_column("status")
        table.add_column(unit, justify="right")
        for status, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            table.add_row(status, str(count))
        console.print(table)

    def _changes(self, result: api.ValidationResult, *, console: Console) -> None:
        if not isinstance(result, api.PlanResult):
            return
        lines = api.first_changes(result)
        if not lines:
            return
        total = len(result.plan.writes)
        more = f" (first {len(lines)} of {total})" if total > len(lines) else ""
        console.print(f"Changes{more}:", markup=False)
        for line in lines:
            console.print(f"  {line}", markup=False)

    def _mirror_scope(self, result: api.ValidationResult, *, console: Console) -> None:
        """What a mirror plan may delete, and what it leaves alone."""
        plan = result.plan if isinstance(result, api.PlanResult) else None
        if plan is None or plan.options.mode is not Mode.MIRROR:
            return
        if plan.options.scope is Scope.SHEET:
            scope = ("Mirror: lines of the products this sheet names that it lacks are "
                     "deleted; the other products on the server are out of scope and left "
                     "alone (--scope all mirrors the whole table).")
        else:
            scope = "Mirror: every line on the server that the sheet lacks is deleted."
        console.print(f"{scope} {plan.in_scope} server lines in scope, {len(plan.deletes)} "
                      f"deletes planned, delete limit {plan.delete_limit}.", markup=False)

    def _problems(self, result: api.ValidationResult, *, console: Console) -> None:
        self._first_problems(result.problems(), console=console)

    def _first_problems(self, problems: Sequence[str], *, console: Console) -> None:
        if not problems:
            return
        console.print("First problems:", markup=False)
        for line in problems:
            console.print(f"  {line}", markup=False)

    @contextlib.contextmanager
    def progress(self, total: int) -> Iterator[Callable[[Progress], None]]:
        """A progress callback: a live bar on a terminal, plain lines otherwise."""
        if self.quiet or self.as_json:
            yield lambda _p: None
            return
        if self.err.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            bar = RichProgress(TextColumn("writing"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("{task.fields[failed]} failed"),
                               TextColumn("{task.fields[rate]:.0f}/s"), TimeRemainingColumn(),
                               console=self.err, transient=True)
            task = bar.add_task("writes", total=total, failed=0, rate=0.0)
            with bar:
                yield lambda p: bar.update(task, completed=p.done, failed=p.failed,
                                           rate=p.rate)
            return
        last = [0.0]

        def plain(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= PLAIN_PROGRESS_EVERY_S or p.done == p.total:
                last[0] = now
                self.err.print(progress_line(p), markup=False)

        yield plain
