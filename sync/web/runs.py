"""The page's work, done by the library API: sign-in check, plan, apply, reports, downloads.

Nothing here decides what a row needs: ``sync.api`` does.  This module only runs it so that
the server stays responsive: loading a sheet and writing a report are CPU work, so they run
in a child process (a sheet, with its memory capped: ``sync.limitedload``) or a worker
thread; the writes run in the server's event loop, reporting progress.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync import api, history, schema
from sync.client import FlowtracClient
from sync.connection import Connection, url_for_message
from sync.errors import SyncError, UsageError
from sync.executor import Progress
from sync.exporting import export_lines
from sync.history import default_history_path
from sync.limitedload import DEFAULT_UPLOAD_MEMORY_MB, load_limited_async
from sync.model import LoadedSheet
from sync.templating import template, write_template
from sync.writelock import WriteLock

from . import table
from .archive import RunArchive, RunRecord
from .sessions import Session, Upload, UploadState

log = logging.getLogger(__name__)

#: An id no line has: the sign-in check lists by it, which asks the server for nothing big.
_NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


async def check_sign_in(connection: Connection) -> None:
    """Log in and read one (empty) listing, as the first real request of a run would.

    Raises AuthError / ConnectionProblemError / ServerError with one sentence on failure."""
    async with FlowtracClient(connection, concurrency=2, retries=1) as client:
        await client.login()
        await client.list_lines([(schema.ID.filter_name or schema.ID.name, _NO_SUCH_ID)])


async def make_plan(path: Path, connection: Connection, options: api.SyncOptions, *,
                    memory_mb: int = DEFAULT_UPLOAD_MEMORY_MB) -> api.PlanResult:
    """Read the sheet in a child process of at most ``memory_mb`` MB (``sync.limitedload``:
    a sheet that exhausts memory ends only that child), then plan it in a worker thread
    (its own event loop): neither may stall the pages and progress of other planners.  The
    table's rows are made there too, once, for the same reason."""
    sheet = await load_limited_async(path, options.sheet, memory_mb)
    return await asyncio.to_thread(_plan_and_table, sheet, connection, options)


def _plan_and_table(sheet: LoadedSheet, connection: Connection,
                    options: api.SyncOptions) -> api.PlanResult:
    planned = api.plan_sheet(sheet, connection, options)
    table.cached_entries(planned)
    return planned


def new_upload(path: Path, options: api.SyncOptions, planned: api.PlanResult) -> Upload:
    return Upload(secrets.token_urlsafe(12), path.name, path, options, planned)


async def plan_report(upload: Upload, planned: api.PlanResult) -> Path:
    """The plan report of ``planned``, the upload's plan (would create, would update, ...),
    written once on first download."""
    if upload.plan_report is None or not upload.plan_report.exists():
        target = upload.folder / f"{upload.stem}.plan.xlsx"
        upload.plan_report = await asyncio.to_thread(planned.write_report, target)
    return upload.plan_report


def plan_is_stale(upload: Upload, max_age_s: float) -> bool:
    return time.time() - upload.planned_at > max_age_s


def start_apply(session: Session, upload: Upload, planned: api.PlanResult,
                archive: RunArchive, history: Path | None = None) -> bool:
    """Start the writes of ``planned``, ``upload``'s plan; False if it was applied (or
    started) before.
    Its journal and report go to the run's own folder in ``archive`` (SyncError, nothing
    written, when that cannot be made); the run is recorded in the run history ``history``
    (None: the default one).

    The state changes before anything is awaited, so two clicks cannot both start it.

    The machine's write lock of this Flowtrac (``sync.writelock``, the one the command line
    takes) is held until the writes and their read-back are done: while another apply
    writes there, WriterBusyError names it and nothing is written."""
    connection = session.connection
    if upload.state is not UploadState.PLANNED or connection is None:
        return False
    lock = WriteLock(connection.base_url, f"web user {_web_user(connection)}",
                     advice="try again once it has finished")
    lock.acquire()
    try:
        record = archive.start(archive.owner_of(connection), upload.name, upload.stem,
                               connection.host)
    except BaseException:
        lock.release()
        raise
    upload.state = UploadState.APPLYING
    upload.progress = Progress(total=sum(planned.changes.values()))
    upload.journal = record.journal
    upload.task = asyncio.create_task(_apply(session, connection, upload, planned, archive,
                                             record, lock, history or default_history_path()),
                                      name=f"apply {upload.id}")
    archive.track(record, upload.task, session.stop)
    return True


def _web_user(connection: Connection) -> str:
    """Who runs a web apply, as another run's message names them: the badge (never the
    token, nor a fragment of it)."""
    return f"badge {connection.badge[:64]}" if connection.badge else "signed in with a token"


async def _apply(session: Session, connection: Connection, upload: Upload,
                 planned: api.PlanResult, archive: RunArchive, record: RunRecord,
                 lock: WriteLock, history: Path) -> None:
    def on_progress(progress: Progress) -> None:
        upload.progress = progress

    try:
        # Recorded in the run history like a command-line apply (issue 16), as the page
        # user: their folder's name, which never holds a token.
        result = await api.execute_async(planned, connection, journal=upload.journal,
                                         on_progress=on_progress, stop=session.stop,
                                         history=history,
                                         who=f"page {archive.owner_of(connection)}")
        await asyncio.to_thread(table.cached_entries, result)
        upload.result = result
        for warning in result.warnings[len(planned.warnings):]:
            log.warning("%s", warning)   # a run history not written: the run went on
        upload.result_report = await asyncio.to_thread(result.write_report, record.report)
    except SyncError as exc:
        upload.error = str(exc)
    except Exception as exc:  # a bug: the page says so; the log has the details
        log.exception("apply of an upload failed")
        upload.error = f"unexpected {exc.__class__.__name__}; the server log has the details"
    finally:
        lock.release()
        upload.state = UploadState.APPLIED
        archive.finish(record, upload.result, upload.error)


def progress_json(upload: Upload) -> dict[str, Any]:
    progress = upload.progress
    out: dict[str, Any] = {"state": upload.state.value, "total": 0, "done": 0, "failed": 0,
                           "rate": 0.0, "eta_s": None, "error": upload.error}
    if progress is not None:
        eta = progress.eta_s
        out.update(total=progress.total, done=progress.done, failed=progress.failed,
                   rate=round(progress.rate, 1), eta_s=None if eta is None else round(eta, 1))
    if upload.result is not None:
        out["counts"] = upload.result.counts()
        out["exit_code"] = upload.result.exit_code
    return out


async def export_file(connection: Connection, folder: Path, *, products: tuple[str, ...],
                      filters: tuple[str, ...], fmt: str) -> Path:
    """Current lines, ready to edit (``sync.exporting.export_lines``): ``products`` are names
    or barcodes, ``filters`` ``column=value`` texts, both checked by the export itself."""
    target = folder / f"flowtrac-lines-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"
    return await export_lines(connection, target, filters=filters, products=products, fmt=fmt)


async def template_file(folder: Path, connection: Connection | None = None) -> Path:
    """A blank sheet with headers, dropdowns and notes (``sync.templating.write_template``);
    signed in, its name columns get dropdowns of the tenant's names (``template.template``)."""
    target = folder / "flowtrac-template.xlsx"
    if connection is None:
        return await asyncio.to_thread(write_template, target)
    return (await template(connection, target)).path


# --------------------------------------------------------------------------- History view

#: The runs the History view lists, newest first; ``flowtrac-sync runs`` lists them all.
HISTORY_ROWS = 100


@dataclass(frozen=True)
class HistoryRow:
    """One run of the history, and for the page's own runs the run folder it was kept in
    (the files the page may serve); None for a command-line run, whose paths are only text."""

    record: history.RunRecord
    kept: RunRecord | None

    @property
    def from_page(self) -> bool:
        """A page apply: its paths are the page server's, never shown to the browser."""
        return (self.record.who or "").startswith("page ")


def whose_runs(connection: Connection, archive: RunArchive) -> tuple[str, ...]:
    """The ``who`` of the signed-in person's runs: their page applies and, signed in with a
    badge, the command line's runs under the same badge (``history.who_for``)."""
    page = f"page {archive.owner_of(connection)}"
    return (page, f"badge {connection.badge}") if connection.badge else (page,)


async def history_rows(path: Path, connection: Connection, archive: RunArchive,
                       base_url: str) -> list[HistoryRow]:
    """The signed-in person's runs on this server, newest first, read without changing the
    database; UsageError with one sentence when it cannot be read."""
    return await asyncio.to_thread(_history_rows, path, connection, archive, base_url)


def _history_rows(path: Path, connection: Connection, archive: RunArchive,
                  base_url: str) -> list[HistoryRow]:
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a folder, not a history file")
        records = history.History(path, read_only=True).runs(
            server=url_for_message(base_url), who=whose_runs(connection, archive),
            last=HISTORY_ROWS)
    except (OSError, sqlite3.Error, ValueError, TypeError) as exc:
        log.warning("the History view cannot read the run history %s: %s", path, exc)
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise UsageError(f"The run history cannot be read ({reason}), so your runs cannot be "
                         f"listed; whoever runs this page can check its --history file.") from None
    owner = archive.owner_of(connection)
    return [HistoryRow(r, _kept_run(r, owner, archive)) for r in reversed(records)]


def _kept_run(record: history.RunRecord, owner: str, archive: RunArchive) -> RunRecord | None:
    """The owner's run folder this page run was kept in.  The history's path is only a key:
    the folder is looked up in the owner's own folder and must hold that very journal, so
    no path read from the database is ever served."""
    if record.who != f"page {owner}" or not record.journal:
        return None
    journal = Path(record.journal)
    kept = archive.find(owner, journal.parent.name)
    return kept if kept is not None and kept.journal == journal else None
