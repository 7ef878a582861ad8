"""The ``flowtrac-sync`` command line: a thin click layer over ``sync.api``.

Every command maps errors a user can cause to one sentence on stderr and an exit code of
``sync.errors.ExitCode``; a traceback is shown only with ``-v`` and only for a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click
from click.core import ParameterSource

from . import api, history, notify, savedplan, schema
from . import exporting as export_module
from . import templating as template_module
from . import undoing as undo_lib
from .client import FlowtracClient
from .config import CONNECTION_KEYS, RUN_KEYS, mask
from .connection import Connection, url_for_message
from .diff import Blank, Mode, Scope
from .emulator.command import emulator
from .errors import (
    EXIT_CODE_MEANINGS,
    ConnectionProblemError,
    ExitCode,
    ServerError,
    ServerUnavailableError,
    SyncError,
    UsageError,
    WriterBusyError,
)
from .executor import Progress
from .options import SERVER_OPTIONS, TRANSPORT_OPTIONS, fill_from_config, with_options
from .output import Output, print_json
from .web.command import serve
from .writelock import WriteLock

_Result = TypeVar("_Result")


def exit_codes_help(*codes: ExitCode) -> str:
    """The exit codes a command can end with, for its ``--help`` (all of them by default)."""
    lines = [f"  {code.value:<4} {EXIT_CODE_MEANINGS[code]}" for code in codes or ExitCode]
    return "\b\nExit codes:\n" + "\n".join(lines)


#: What a command that reads a sheet and talks to the server can end with.
_SERVER_EXITS = (ExitCode.OK, ExitCode.ROWS_NOT_DONE, ExitCode.USAGE, ExitCode.SAFETY_STOP,
                 ExitCode.CONNECTION, ExitCode.INTERRUPTED)


@click.group(epilog=exit_codes_help())
@click.version_option(package_name="flowtrac-sync")
def main() -> None:
    """Keep Flowtrac's product-process lines in step with a spreadsheet."""


# --------------------------------------------------------------------------- shared options

def _common_output(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--json", "as_json", is_flag=True,
                     help="Print a machine-readable summary on stdout.")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="Print nothing but the summary.")(f)
    f = click.option("-v", "--verbose", count=True, help="More detail (-vv: HTTP requests).")(f)
    return f


def _connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return with_options(f, [
        *SERVER_OPTIONS,
        click.option("--token", envvar="FLOWTRAC_TOKEN", metavar="TOKEN",
                     help="Session token from a login (sent as the 'user' cookie)."),
        click.option("--badge", envvar="FLOWTRAC_BADGE", help="Badge for device login."),
        click.option("--pin", envvar="FLOWTRAC_PIN", help="PIN for device login."),
        click.option("--config", "config_path", envvar="FLOWTRAC_CONFIG",
                     type=click.Path(dir_okay=False), help="TOML file with these settings."),
        *TRANSPORT_OPTIONS,
    ])


#: How hard a command that writes may press the server (apply, undo).
_TUNING_OPTIONS = [
    click.option("--concurrency", type=click.IntRange(1, 256), default=16,
                 show_default=True, help="Most requests in flight at once."),
    click.option("--rate", type=click.FloatRange(min=0.1), help="Most requests per second."),
    click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
                 help="Retries of a request that failed for a passing reason."),
]


def _tuning_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return with_options(f, _TUNING_OPTIONS)


#: How long a command that writes waits for another run writing to the same Flowtrac.
_WAIT_OPTION = click.option(
    "--wait", type=click.FloatRange(min=0), default=0, show_default=True, metavar="SECONDS",
    help="Wait this long for another apply, undo or web apply to the same Flowtrac on this "
         "machine to finish; then stop with exit code 3, nothing sent.")
#: The answer to "send these writes?" given up front, for a run without a terminal.
_YES_OPTION = click.option("-y", "--yes", is_flag=True,
                           help="Do not ask; required without a terminal.")


@contextlib.contextmanager
def _write_lock(connection: Connection, holder: str, wait: Any) -> Iterator[None]:
    """The machine's lock for writing to this Flowtrac, held from the plan to the report: a
    second run plans only once the first has written, so it never sends the same lines."""
    try:
        seconds = float(wait or 0)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds >= 0:
        raise UsageError(f"bad setting: wait must be a number of seconds >= 0, not {wait!r}")
    lock = WriteLock(connection.base_url, holder)
    try:
        lock.acquire()
    except WriterBusyError:
        if not seconds:
            raise
        click.echo(f"waiting up to {seconds:g} s for another run writing to "
                   f"{connection.host}: {lock.other_run()}", err=True)
        lock.acquire(seconds)
    try:
        yield
    finally:
        lock.release()


#: Where a run that writes is recorded, and who hears of it (issue 16: run history and
#: notifications, ``sync.history`` and ``sync.notify``).
#: The run history's path, for the commands that write to it and those that read it.
_HISTORY_OPTION = click.option(
    "--history", type=click.Path(dir_okay=False), envvar="FLOWTRAC_HISTORY",
    help="Run history database (default: $XDG_DATA_HOME/flowtrac-sync/history.sqlite3).")

_HISTORY_OPTIONS = [
    _HISTORY_OPTION,
    click.option("--notify", multiple=True, metavar="URL",
                 help="Post a JSON summary of the run to this webhook (Slack, Teams, any "
                      "URL); repeatable."),
    click.option("--notify-on", type=click.Choice(["failure", "always"]), default="failure",
                 show_default=True, help="failure: only when the exit code is not 0."),
]


def _history_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return with_options(f, _HISTORY_OPTIONS)


def _history_path(p: dict[str, Any]) -> Path:
    return Path(str(p["history"])) if p.get("history") else history.default_history_path()


def _notify_urls(p: dict[str, Any]) -> list[str]:
    """The webhooks to tell (``--notify`` or the config's ``notify``), checked before the run:
    a mistyped one is a usage error, not a warning after a night's work."""
    if p.get("notify_on") not in (None, "failure", "always"):
        raise UsageError(f"notify_on must be 'failure' or 'always', got "
                         f"{str(p['notify_on'])[:40]!r} (nothing sent)")
    urls = p.get("notify") or ()
    urls = [urls] if isinstance(urls, str) else list(urls)
    for url in urls:
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--notify must be an http:// or https:// address, got "
                             f"{url_for_message(str(url))!r} (nothing sent)")
    return [str(u) for u in urls]


def _notify(p: dict[str, Any], record: Any) -> None:
    """Tell the webhooks about a finished run; one warning per webhook not reached."""
    if record is None:
        return
    urls = _notify_urls(p)
    if not urls:
        return
    for warning in notify.notify(urls, record, p.get("notify_on") or "failure"):
        click.echo(f"warning: {warning}", err=True)


def _save_run(p: dict[str, Any], record: Any) -> Any:
    """Record a run the library did not (it sent nothing, or an error stopped it)."""
    warning = history.save(_history_path(p), record)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return record


def _failed_run(p: dict[str, Any], command: str, file: str | None, exc: SyncError,
                started: str) -> Any:
    """The record of a run an error stopped before it had a result."""
    try:
        connection: Connection | None = _connection(p)
    except SyncError:
        connection = None
    server = connection.base_url if connection else str(p.get("base_url") or p.get("company")
                                                          or "")
    who = history.who_for(connection) if connection else None
    return history.record_for_error(command, exc, exit_code=exc.exit_code, server=server,
                                    file=file, who=who, mode=p.get("mode"), started=started)


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--sheet", metavar="NAME", help="Sheet to read (default: the first "
                     "sheet with the required columns)."),
        click.option("--mode", type=click.Choice([m.value for m in Mode]), default="upsert",
                     show_default=True, help="upsert: create and update; insert: create only; "
                     "update: update only; mirror: upsert and delete what the sheet lacks."),
        click.option("--scope", type=click.Choice([s.value for s in Scope]), default="sheet",
                     show_default=True, help="Mirror deletes: only the sheet's products, or "
                     "the whole table."),
        click.option("--blank", type=click.Choice([b.value for b in Blank]), default="clear",
                     show_default=True, help="What a blank cell in a present column does."),
        click.option("--key", metavar="COLS", help="Match rows without id by these columns "
                     "(default: product_id,line_number)."),
        click.option("--max-delete", type=click.IntRange(min=0), help="Refuse to run when "
                     "more deletes are planned (default: the larger of 10 and 25% of the "
                     "in-scope lines)."),
        *_TUNING_OPTIONS,
        click.option("--report", type=click.Path(dir_okay=False),
                     help="Report path (default: <input>.report.xlsx beside the input)."),
    ]
    return with_options(f, options)


def _from_config(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Fill options the user did not give (on the line or in the environment) from --config."""
    return fill_from_config(ctx, params, CONNECTION_KEYS + RUN_KEYS)[0]


def _connection(p: dict[str, Any]) -> Connection:
    return Connection.from_options(company=p.get("company"), base_url=p.get("base_url"),
                                   token=p.get("token"), badge=p.get("badge"), pin=p.get("pin"),
                                   insecure=bool(p.get("insecure")),
                                   allow_http=bool(p.get("allow_http")),
                                   timeout_s=float(p.get("timeout") or 30.0))


def _sync_options(p: dict[str, Any]) -> api.SyncOptions:
    key = p.get("key")
    if isinstance(key, str):
        key = tuple(k.strip() for k in key.split(",") if k.strip())
    try:
        return api.SyncOptions(mode=Mode(p.get("mode") or "upsert"),
                               scope=Scope(p.get("scope") or "sheet"),
                               blank=Blank(p.get("blank") or "clear"),
                               key=tuple(key) if key else None, max_delete=p.get("max_delete"),
                               sheet=p.get("sheet"), concurrency=int(p.get("concurrency") or 16),
                               rate=p.get("rate"), retries=int(p.get("retries", 5)))
    except ValueError as exc:
        raise UsageError(f"bad setting: {exc}") from None


def _guarded(command: Callable[..., int]) -> Callable[..., None]:
    """Run a command body; map SyncError to its sentence and exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        verbose = kwargs.get("verbose", 0)
        _setup_logging(verbose)
        try:
            code = command(*args, **kwargs)
        except SyncError as exc:
            click.echo(f"error: {exc}", err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("interrupted: nothing more was sent; run again to continue", err=True)
            code = ExitCode.INTERRUPTED
        except Exception as exc:  # a bug: say so in one line, traceback only with -v
            if verbose:
                raise
            click.echo(f"error: unexpected {exc.__class__.__name__}: {exc} "
                       f"(rerun with -v for details)", err=True)
            code = ExitCode.ROWS_NOT_DONE
        sys.exit(code)

    return wrapper


def _stdin_is_terminal() -> bool:
    """Whether a person can answer a question (apply and undo ask before writing)."""
    return sys.stdin.isatty()


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


# --------------------------------------------------------------------------- commands

@main.command(epilog=exit_codes_help(ExitCode.OK, ExitCode.ROWS_NOT_DONE, ExitCode.USAGE,
                                     ExitCode.INTERRUPTED))
@click.argument("file", type=click.Path())
@click.option("--sheet", metavar="NAME", help="Sheet to read.")
@click.option("--key", metavar="COLS", help="Columns that identify a row without id.")
@click.option("--report", type=click.Path(dir_okay=False), help="Report path.")
@click.option("--no-report", is_flag=True, help="Only print; write no report.")
@_common_output
@_guarded
def validate(file: str, sheet: str | None, key: str | None, report: str | None,
             no_report: bool, as_json: bool, quiet: bool, verbose: int) -> int:
    """Read and check FILE offline; report invalid rows."""
    out = Output(as_json=as_json, quiet=quiet)
    result = api.validate_file(file, _sync_options({"sheet": sheet, "key": key}))
    report_path = None if no_report else result.write_report(report)
    out.result(result, report_path)
    return result.exit_code


@main.command(epilog=exit_codes_help(*_SERVER_EXITS[:-1], ExitCode.WRITES_PENDING,
                                     ExitCode.INTERRUPTED))
@click.argument("file", type=click.Path())
@_run_options
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 5 when the plan holds writes and nothing else is wrong (0: nothing "
                   "would change): for nightly drift checks.")
@click.option("--save-plan", type=click.Path(dir_okay=False), metavar="P.json",
              help="Also save the plan's writes to P.json, for apply --plan to send exactly "
                   "those later.")
@_connection_options
@_common_output
@click.pass_context
@_guarded
def plan(ctx: click.Context, file: str, **params: Any) -> int:
    """Show what would change on the server; writes a plan report.  Sends no write."""
    p = _from_config(ctx, params)
    out = Output(as_json=p["as_json"], quiet=p["quiet"])
    result = api.plan(file, _connection(p), _sync_options(p))
    report_path = result.write_report(p.get("report"))
    saved = None
    if p.get("save_plan") and not result.plan.over_delete_limit:
        saved = savedplan.save_plan(result, p["save_plan"])
    out.result(result, report_path, saved_plan=saved.path if saved else None)
    if p.get("save_plan") and saved is None:   # over the delete limit: exit 3
        click.echo("error: the plan was not saved: apply would refuse it too", err=True)
    if saved:
        out.say(f"plan saved to {saved.path}: {_count(len(saved.writes), 'write')}; "
                f"apply exactly these with: flowtrac-sync apply --plan {saved.path}")
    if p["detailed_exitcode"] and result.exit_code == ExitCode.OK and result.plan.writes:
        return ExitCode.WRITES_PENDING
    return result.exit_code


_APPLY_NEEDS_FILE = "apply needs FILE, or --plan P.json (nothing sent)"


@main.command(epilog=exit_codes_help(*_SERVER_EXITS))
@click.argument("file", type=click.Path(), required=False)
@_run_options
@click.option("--plan", "saved_plan", type=click.Path(dir_okay=False), metavar="P.json",
              help="Send exactly the writes of a plan saved by plan --save-plan (FILE, if "
                   "given, must be the sheet it was made from); a line changed since is "
                   "stale and not written.")
@click.option("--journal", type=click.Path(dir_okay=False),
              help="Journal path (default: <input>.journal.jsonl beside the report).")
@_YES_OPTION
@_WAIT_OPTION
@_history_options
@_connection_options
@_common_output
@click.pass_context
@_guarded
def apply(ctx: click.Context, file: str | None, **params: Any) -> int:
    """Make the server match FILE, then write the reconciliation report.  The run is
    recorded in the run history (see ``runs``) and, with --notify, posted to webhooks."""
    p = _from_config(ctx, params)
    out = Output(as_json=p["as_json"], quiet=p["quiet"])
    if file is None and not p.get("saved_plan"):
        raise UsageError(_APPLY_NEEDS_FILE)
    return _recorded(p, "apply", file or p.get("saved_plan"),
                     lambda ran: _apply(ctx, file, p, out, ran))


def _recorded(p: dict[str, Any], command: str, file: str | None,
              body: Callable[[dict[str, Any]], int], *, sends: bool = True) -> int:
    """Run a command that writes (``body``) so that it is recorded in the run history and
    notified, also when an error stops it; ``body`` puts its record in ``ran["record"]``."""
    _notify_urls(p)
    started = history.timestamp()
    ran: dict[str, Any] = {}
    try:
        code = body(ran)
    except SyncError as exc:
        if sends:
            _notify(p, _save_run(p, _failed_run(p, command, file, exc, started)))
        raise
    _notify(p, ran.get("record"))
    return code


def _apply(ctx: click.Context, file: str | None, p: dict[str, Any], out: Output,
           ran: dict[str, Any]) -> int:
    """The body of ``apply``, under the write lock; ``ran["record"]``: the run's history
    record once it has one."""
    if not p["yes"] and not _stdin_is_terminal():
        raise UsageError("apply needs --yes when there is no terminal to ask (nothing sent)")
    connection = _connection(p)
    if p.get("saved_plan"):
        given = [f"--{name.replace('_', '-')}" for name in _SAVED_OPTIONS
                 if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
        if given:
            raise UsageError(f"{', '.join(given)} cannot be given with --plan: the saved plan "
                             f"keeps the options it was made with (nothing sent)")
        return _apply_saved(p, file, connection, out, ran)
    if file is None:                   # apply() lets no FILE through only with --plan
        raise UsageError(_APPLY_NEEDS_FILE)
    with _write_lock(connection, f"apply {Path(file).name}", p.get("wait")):
        return _apply_locked(file, p, connection, out, ran)


def _apply_locked(file: str, p: dict[str, Any], connection: Connection, out: Output,
                  ran: dict[str, Any]) -> int:
    planned = api.plan(file, connection, _sync_options(p))
    report_path = Path(p["report"]) if p.get("report") else None
    if planned.exit_code == ExitCode.SAFETY_STOP or not any(planned.changes.values()):
        # Nothing is sent: the report is a plan's, and an earlier apply's report stays.
        planned = dataclasses.replace(planned, command="apply")
        path = planned.write_report(report_path)
        out.result(planned, path)
        if planned.exit_code != ExitCode.SAFETY_STOP:
            out.say(api.nothing_to_send(planned))
            earlier = api.last_apply_report(planned.path)
            if report_path is None and earlier is not None:
                out.say(f"the report of the last apply is {earlier}")
        ran["record"] = _save_run(p, history.record_for_apply(
            planned, run_id=history.new_run_id(), who=history.who_for(connection),
            report=path))
        return planned.exit_code
    out.plan_preview(planned)
    total = sum(planned.changes.values())
    if not p["yes"]:
        question = f"Apply {_count(total, 'change')} to {connection.host}?"
        if not click.confirm(question, default=False, err=True):
            out.say("nothing sent")
            return ExitCode.OK
    journal = (Path(p["journal"]) if p.get("journal")
               else api.journal_path_for(report_path) if report_path
               else api.default_journal_path(planned.path))
    result = _run_with_progress(planned, connection, journal, out,
                                history=_history_path(p), who=history.who_for(connection))
    path = result.write_report(report_path)
    out.result(result, path, journal=journal)
    ran["record"] = result.run_record
    return result.exit_code


#: Options that shape a plan: a saved plan keeps its own, so ``apply --plan`` refuses them.
_SAVED_OPTIONS = ("mode", "scope", "blank", "key", "max_delete", "sheet")


def _apply_saved(p: dict[str, Any], file: str | None, connection: Connection,
                 out: Output, ran: dict[str, Any]) -> int:
    """``apply --plan``: send the saved writes, nothing else (``sync.savedplan``)."""
    saved = savedplan.load_plan(p["saved_plan"])
    savedplan.check_target(saved, connection, file)
    if not p["yes"]:
        question = (f"Apply the {_count(len(saved.writes), 'write')} of {saved.file_name} to "
                    f"{connection.host}?")
        if not click.confirm(question, default=False, err=True):
            out.say("nothing sent")
            return ExitCode.OK
    journal = Path(p["journal"]) if p.get("journal") else savedplan.default_saved_journal(saved)
    with _write_lock(connection, f"apply --plan {saved.file_name}", p.get("wait")):
        result = _run_stoppable(
            out, len(saved.writes),
            lambda update, stop: savedplan.apply_saved(
                saved, connection, sheet=file, journal=journal, on_progress=update, stop=stop,
                concurrency=int(p["concurrency"]), rate=p.get("rate"),
                retries=int(p["retries"])))
    path = result.write_report(p.get("report"))
    ran["record"] = _save_run(p, history.record_for_saved_plan(
        result, run_id=history.new_run_id(), who=history.who_for(connection), report=path))
    if p["as_json"]:
        print_json({**result.to_json(), "report": str(path), "journal": str(journal)})
    else:
        counts_text = ", ".join(f"{n} {status}" for status, n in result.counts().items())
        click.echo(f"applied {saved.file_name}: {counts_text or 'no write'}")
        for line in [] if p["quiet"] else result.problems():
            click.echo(f"  {line}")
        click.echo(f"report: {path}\njournal: {journal}")
    if result.execution and result.execution.fatal is not None:
        click.echo(f"error: {result.execution.fatal} (apply the plan again to continue)",
                   err=True)
    elif result.exit_code:
        counts = result.counts()
        problems = ", ".join(f"{counts[s]} {s}" for s in savedplan.PROBLEMS if counts.get(s))
        click.echo(f"error: some writes were not done ({problems}): the report says why; "
                   f"plan the sheet again for the lines changed since", err=True)
    return result.exit_code


def _count(n: int, noun: str) -> str:
    """``1 change``, ``2 changes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _run_stoppable(out: Output, total: int,
                   work: Callable[[Callable[[Progress], None], asyncio.Event],
                                  Awaitable[_Result]]) -> _Result:
    """Run ``work(on_progress, stop)`` with a progress display of ``total`` writes.  The first
    Ctrl-C (or SIGTERM) sets ``stop``: requests in flight finish and the report is still
    written; a second Ctrl-C quits at once."""
    async def run() -> _Result:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if not stop.is_set():
                out.say("stopping: letting requests in flight finish, then writing the report "
                        "(Ctrl-C again to quit at once)")
                stop.set()
            else:
                loop.remove_signal_handler(signal.SIGINT)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        with out.progress(total) as update:
            return await work(update, stop)

    return asyncio.run(run())


def _run_with_progress(planned: api.PlanResult, connection: Connection, journal: Path,
                       out: Output, **recorded: Any) -> api.ApplyResult:
    result = _run_stoppable(
        out, sum(planned.changes.values()),
        lambda update, stop: api.execute_async(planned, connection, journal=journal,
                                               on_progress=update, stop=stop, **recorded))
    if result.execution and result.execution.fatal is not None:
        # The run stopped (exit 4): say why, even with --quiet or --json.
        click.echo(f"error: {result.execution.fatal} (the rows not sent are marked skipped; "
                   "run the same command again to continue)", err=True)
    elif result.execution and result.execution.stopped:
        out.say("interrupted: the report and journal show what was done; run the same "
                "command again to continue")
    return result


@main.command()
@click.option("--output", type=click.Path(file_okay=False), default="demo_output",
              show_default=True, help="Folder for the copied sample files and the reports.")
def demo(output: str) -> None:
    """The whole loop against the built-in emulator: plan, apply, and a second run that
    finds nothing to do.  Needs no account and no network beyond loopback."""
    # Imported here: no other command needs the sample files' writer (openpyxl).
    from .demo import ROUTING_XLSX, copy_samples, demo_dataset
    from .emulator import DEMO_TOKEN, EmulatorThread

    folder = copy_samples(Path(output))
    workbook = str(folder / ROUTING_XLSX)
    dataset = demo_dataset()
    codes = []
    with EmulatorThread(dataset=dataset) as emu:
        click.secho(f"Flowtrac emulator at {emu.base_url} ({dataset.summary()}); "
                    f"working on copies in {folder}/", bold=True)
        connection = ["--base-url", emu.base_url, "--token", DEMO_TOKEN]
        steps = [("What would change", plan, [workbook]),
                 ("Make it so", apply, [workbook, "--yes"]),
                 ("Run it again: nothing left to do", apply, [workbook, "--yes"])]
        for title, command, args in steps:
            click.secho(f"\n== {title}: flowtrac-sync {command.name} {' '.join(args)}",
                        bold=True)
            try:
                command.main([*args, *connection], standalone_mode=False)
            except SystemExit as exit_:
                codes.append(int(exit_.code or 0))
    click.echo(f"\nOpen {folder / 'routing.report.xlsx'} to see what happened to every row.")
    sys.exit(max(codes))


# --------------------------------------------------------------------------- round trip and
# unattended use: export, template, config check, undo (issue 5)


@main.command("export", epilog=exit_codes_help(ExitCode.OK, ExitCode.USAGE,
                                               ExitCode.CONNECTION, ExitCode.INTERRUPTED))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--filter", "filters", multiple=True, metavar="COL=VALUE",
              help="Only lines matching this filter of the API (col=value, col-in=a,b, "
                   "col-gt=5, col-contains=text, col-isnull ...); repeat to combine.")
@click.option("--product", "products", multiple=True, metavar="NAME",
              help="Only this product's lines (exact name or barcode); repeatable.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]),
              help="File format (default: csv for a .csv name, else xlsx).")
@_connection_options
@_common_output
@click.pass_context
@_guarded
def export_command(ctx: click.Context, out: str, **params: Any) -> int:
    """Write the current lines to OUT, ready to edit and upload again (plan, then apply).

    Columns: id, the fields you can change, edited (so a line changed on the server since
    becomes a conflict instead of being overwritten), and greyed read-only context."""
    p = _from_config(ctx, params)
    exported = asyncio.run(export_module.export(_connection(p), out, filters=p["filters"],
                                            products=p["products"], fmt=p["fmt"]))
    for warning in exported.warnings:
        click.echo(f"warning: {warning}", err=True)
    if p["as_json"]:
        print_json(exported.to_json())
    else:
        click.echo(f"exported {exported.lines} lines to {exported.path}")
    return ExitCode.OK


@main.command("template", epilog=exit_codes_help(ExitCode.OK, ExitCode.USAGE,
                                                   ExitCode.CONNECTION))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--names", "with_names", is_flag=True,
              help="Fill the product and process dropdowns with the names Flowtrac has "
                   "(signs in with the connection settings).")
@_connection_options
@click.pass_context
@_guarded
def template_command(ctx: click.Context, out: str, with_names: bool, **params: Any) -> int:
    """Write an empty workbook for new lines to OUT (.xlsx): headers, dropdowns, validation
    and an Instructions sheet; with --names, a Lists sheet of the tenant's names too."""
    if not with_names:
        path = template_module.write_template(out)
    else:
        made = asyncio.run(template_module.template(_connection(_from_config(ctx, params)), out))
        for warning in made.warnings:
            click.echo(f"warning: {warning}", err=True)
        path = made.path
    click.echo(f"template written to {path}")
    return ExitCode.OK


@main.group("config")
def config_group() -> None:
    """Settings for nightly jobs (--config FILE, environment, command line)."""


@config_group.command("check", epilog=exit_codes_help(ExitCode.OK, ExitCode.USAGE,
                                                     ExitCode.CONNECTION))
@_run_options
@click.option("--journal", type=click.Path(dir_okay=False), help="Journal path.")
@_WAIT_OPTION
@_history_options
@_connection_options
@click.option("-v", "--verbose", count=True, help="More detail (-vv: HTTP requests).")
@click.pass_context
@_guarded
def config_check(ctx: click.Context, **params: Any) -> int:
    """Show the effective settings and where each comes from (command line > environment >
    config file > default), secrets masked; then test the login."""
    p, settings = fill_from_config(ctx, params, CONNECTION_KEYS + RUN_KEYS)
    config_source = _source_of(ctx, "config_path", settings={})
    click.echo(f"config file: {p.get('config_path') or '(none)'}"
               + (f"  [{config_source}]" if p.get("config_path") else ""))
    for name in CONNECTION_KEYS + RUN_KEYS:
        value = p.get(name)
        if value is None or value == ():   # () : no --notify
            click.echo(f"  {name:<13} (not set)")
            continue
        shown = str(mask(name, value))
        click.echo(f"  {name:<13} {shown:<44} [{_source_of(ctx, name, settings)}]")
    connection = _connection(p)
    asyncio.run(_check_login(connection, retries=int(p.get("retries", 5))))
    click.echo(f"OK: logged in to {connection.host} and read the product-process list")
    return ExitCode.OK


def _source_of(ctx: click.Context, name: str, settings: dict[str, Any]) -> str:
    """Where an effective setting came from, as ``_from_config`` decided it."""
    source = ctx.get_parameter_source(name)
    if source is ParameterSource.COMMANDLINE:
        return "command line"
    if source is ParameterSource.ENVIRONMENT:
        envvar = next((p.envvar for p in ctx.command.params if p.name == name), None)
        return f"environment {envvar}" if isinstance(envvar, str) else "environment"
    if name in settings:
        return "config file"
    if ctx.params.get(name) is not None:
        return "default"
    return "not set"


async def _check_login(connection: Connection, *, retries: int) -> None:
    """Log in and read one (empty) listing; ConnectionProblemError (exit 4) when refused."""
    async with FlowtracClient(connection, concurrency=1, retries=retries) as client:
        await client.login()
        try:
            await client.list_lines([(schema.ID.filter_name or schema.ID.name, _NIL_UUID)])
        except (ServerError, ServerUnavailableError) as exc:
            raise ConnectionProblemError(f"Logged in to {connection.host}, but reading the "
                                         f"product-process list failed: {exc}") from None


_NIL_UUID = "00000000-0000-0000-0000-000000000000"


@main.command("undo", epilog=exit_codes_help(*_SERVER_EXITS))
@click.argument("journal", type=click.Path(dir_okay=False), required=False)
@click.option("--run", "runs", multiple=True, metavar="ID",
              help="Undo this run of the journal (default: its last run); repeat for several, "
                   "e.g. an interrupted run and the rerun that finished it; 'all' for every "
                   "run.  Without JOURNAL: the run of this id in the run history (see "
                   "'runs'), from its journal.")
@_YES_OPTION
@click.option("--dry-run", is_flag=True, help="Only show and report what would be undone.")
@click.option("--report", "undo_report", type=click.Path(dir_okay=False),
              help="Report path (default: <journal name>.undo.xlsx beside the journal).")
@click.option("--undo-journal", type=click.Path(dir_okay=False),
              help="Journal of the undo's own writes (default: <journal name>"
                   ".undo.journal.jsonl); undoing it redoes the run.")
@_WAIT_OPTION
@_tuning_options
@_history_options
@_connection_options
@_common_output
@click.pass_context
@_guarded
def undo_command(ctx: click.Context, journal: str | None, **params: Any) -> int:
    """Revert the run recorded in JOURNAL: delete the lines it created, restore the fields it
    updated, re-create the lines it deleted (new ids).  A line changed on the server since
    the run is a conflict and is left alone.  Shows the plan first, like apply."""
    p = _from_config(ctx, params)
    out = Output(as_json=p["as_json"], quiet=p["quiet"])
    return _recorded(p, "undo", journal, lambda ran: _undo(journal, p, out, ran),
                     sends=not p["dry_run"])


def _journal_of_run(p: dict[str, Any]) -> str:
    """``undo --run ID`` without a journal: the journal the run history names for ID."""
    if len(p["runs"]) != 1:
        raise UsageError("give the JOURNAL to undo, or one --run ID from the run history "
                         "('flowtrac-sync runs' lists them)")
    path = _history_path(p)
    try:
        record = history.open_for_reading(path).get(p["runs"][0])
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot read the run history {path}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if record is None:
        raise UsageError(f"no run {p['runs'][0]!r} in the run history {path} (or more than "
                         f"one starts so; 'flowtrac-sync runs' lists them)")
    if not record.journal:
        raise UsageError(f"run {record.run_id} sent no write and has no journal: nothing to "
                         f"undo")
    p["runs"] = (record.run_id,)
    return record.journal


def _undo(journal: str | None, p: dict[str, Any], out: Output, ran: dict[str, Any]) -> int:
    """The body of ``undo``, under the write lock unless a dry run; ``ran["record"]``: the
    undo's history record once it has one."""
    if not p["yes"] and not p["dry_run"] and not _stdin_is_terminal():
        raise UsageError("undo needs --yes when there is no terminal to ask (nothing sent)")
    if journal is None:
        journal = _journal_of_run(p)
    connection = _connection(p)
    default_report, default_journal = undo_lib.default_undo_paths(journal)
    report = Path(p["undo_report"]) if p.get("undo_report") else default_report
    tuning = {"concurrency": int(p["concurrency"]), "rate": p.get("rate"),
              "retries": int(p["retries"])}
    if p["dry_run"]:
        return _undo_locked(p, journal, connection, out, report, default_journal, tuning, ran)
    with _write_lock(connection, f"undo {Path(journal).name}", p.get("wait")):
        return _undo_locked(p, journal, connection, out, report, default_journal, tuning, ran)


def _undo_locked(p: dict[str, Any], journal: str, connection: Connection, out: Output,
                 report: Path, default_journal: Path, tuning: dict[str, Any],
                 ran: dict[str, Any]) -> int:
    planned = asyncio.run(undo_lib.plan_undo(journal, connection, runs=p["runs"] or None,
                                             **tuning))
    if p["dry_run"] or not planned.writes:
        result = undo_lib.UndoResult(planned)
        path = result.write_report(report)
        out.undo_result(result, path, title="Undo plan")
        if not planned.writes:
            out.say("nothing to undo")
        return result.exit_code
    out.undo_preview(planned)
    total = len(planned.writes)
    question = f"Undo {_count(total, 'change')} on {connection.host}?"
    if not p["yes"] and not click.confirm(question, default=False, err=True):
        out.say("nothing sent")
        return ExitCode.OK
    journal_path = Path(p["undo_journal"]) if p.get("undo_journal") else default_journal
    result = _undo_with_progress(planned, connection, journal_path, out,
                                 {**tuning, "history": _history_path(p),
                                  "who": history.who_for(connection)})
    path = result.write_report(report)
    out.undo_result(result, path, title="Undo", journal=journal_path)
    ran["record"] = result.run_record
    return result.exit_code


def _undo_with_progress(planned: undo_lib.UndoPlan, connection: Connection, journal: Path,
                        out: Output, tuning: dict[str, Any]) -> undo_lib.UndoResult:
    result = _run_stoppable(
        out, len(planned.writes),
        lambda update, stop: undo_lib.execute_undo(planned, connection, journal=journal,
                                                   on_progress=update, stop=stop, **tuning))
    if result.execution and result.execution.stopped and result.execution.fatal is None:
        out.say("interrupted: the report shows what was undone; run the same undo again to "
                "continue")
    return result


# --------------------------------------------------------------------------- run history
# (issue 16): the runs apply and undo recorded, ``sync.history``


def _reading_history(p: dict[str, Any]) -> Any:
    return history.open_for_reading(_history_path(p))


@contextlib.contextmanager
def _history_errors(p: dict[str, Any]) -> Iterator[None]:
    """A history that cannot be read is a usage error in one sentence (exit 2)."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        raise UsageError(f"cannot read the run history {_history_path(p)}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None


_RUNS_OPTIONS = [
    _HISTORY_OPTION,
    click.option("--config", "config_path", envvar="FLOWTRAC_CONFIG",
                 type=click.Path(dir_okay=False), help="TOML file whose 'history' is used."),
    click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON on stdout."),
]


@main.group("runs", invoke_without_command=True,
            epilog=exit_codes_help(ExitCode.OK, ExitCode.USAGE))
@click.option("--server", metavar="URL", help="Only the runs on this server (base URL or "
              "host).")
@click.option("--last", type=click.IntRange(min=1), metavar="N", help="Only the N latest.")
@functools.partial(with_options, options=_RUNS_OPTIONS)
@click.pass_context
def runs_group(ctx: click.Context, /, **params: Any) -> None:
    """List the runs (apply, undo) recorded in the run history, oldest first."""
    if ctx.invoked_subcommand is None:
        _list_runs(ctx, **params)


@_guarded
def _list_runs(ctx: click.Context, **params: Any) -> int:
    p = fill_from_config(ctx, params, ("history",))[0]
    with _history_errors(p):
        records = _reading_history(p).runs(server=p["server"], last=p["last"])
    if p["as_json"]:
        print_json({"history": str(_history_path(p)),
                    "runs": [r.to_json() for r in records]})
        return ExitCode.OK
    if not records:
        click.echo(f"no runs recorded in {_history_path(p)}")
        return ExitCode.OK
    for r in records:
        counts = ", ".join(f"{n} {status}" for status, n in r.counts.items() if n)
        click.echo(f"{r.run_id}  {r.finished or ''}  {r.command:<5}  exit {r.exit_code}  "
                   f"{r.host}  {Path(r.file).name if r.file else ''}  {counts}")
    return ExitCode.OK


@runs_group.command("show", epilog=exit_codes_help(ExitCode.OK, ExitCode.USAGE))
@click.argument("run_id", metavar="ID")
@functools.partial(with_options, options=_RUNS_OPTIONS)
@click.pass_context
@_guarded
def runs_show(ctx: click.Context, run_id: str, **params: Any) -> int:
    """Show one recorded run (ID, or the start of one) with its first problems."""
    p = fill_from_config(ctx, params, ("history",))[0]
    with _history_errors(p):
        record = _reading_history(p).get(run_id)
    if record is None:
        raise UsageError(f"no run {run_id!r} in the run history {_history_path(p)} (or more "
                         f"than one starts so; 'flowtrac-sync runs' lists them)")
    if p["as_json"]:
        print_json(record.to_json())
        return ExitCode.OK
    fields = [("run", record.run_id), ("command", record.command), ("who", record.who),
              ("server", record.server), ("file", record.file), ("sha256", record.sha256),
              ("mode", record.mode), ("started", record.started),
              ("finished", record.finished), ("duration (s)", record.duration_s),
              ("exit code", record.exit_code), ("report", record.report),
              ("journal", record.journal)]
    for name, value in fields:
        click.echo(f"{name + ':':<14}{'' if value is None else value}")
    counts = ", ".join(f"{n} {status}" for status, n in record.counts.items())
    click.echo(f"{'counts:':<14}{counts or '(none: the run stopped before its plan)'}")
    if record.problems:
        click.echo("first problems:")
        for problem in record.problems:
            click.echo(f"  {problem}")
    return ExitCode.OK


main.add_command(emulator)
main.add_command(serve)


if __name__ == "__main__":
    main()
