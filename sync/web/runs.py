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
import time
from pathlib import Path
from typing import Any

from sync import api, schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.errors import SyncError
from sync.executor import Progress
from sync.history import default_history_path
from sync.limitedload import DEFAULT_UPLOAD_MEMORY_MB, load_limited_async
from sync.model import LoadedSheet
from sync.writelock import WriteLock

from . import table
from .archive import RunArchive, RunRecord
from .sessions import Session, Upload, UploadState

log = logging.getLogger(__name__)

#: An id no line has: the sign-in check lists by it, which asks the server for nothing big.
_NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"


async def check_sign_in(connection: Connection) -> None:
    """Log in and read one (empty) listing, as the first real request of a run would.

    Raises AuthError / ConnectionProblem / ServerError with one sentence on failure."""
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


async def plan_report(upload: Upload) -> Path:
    """The plan report (would create, would update, ...), written once on first download."""
    if upload.plan_report is None or not upload.plan_report.exists():
        target = upload.folder / f"{upload.stem}.plan.xlsx"
        upload.plan_report = await asyncio.to_thread(upload.planned.write_report, target)
    return upload.plan_report


def plan_is_stale(upload: Upload, max_age_s: float) -> bool:
    return time.time() - upload.planned_at > max_age_s


def start_apply(session: Session, upload: Upload, archive: RunArchive) -> bool:
    """Start the writes of ``upload``'s plan; False if it was applied (or started) before.
    Its journal and report go to the run's own folder in ``archive`` (SyncError, nothing
    written, when that cannot be made).

    The state changes before anything is awaited, so two clicks cannot both start it.

    The machine's write lock of this Flowtrac (``sync.writelock``, the one the command line
    takes) is held until the writes and their read-back are done: while another apply
    writes there, WriterBusy names it and nothing is written."""
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
    upload.progress = Progress(total=sum(upload.planned.changes.values()))
    upload.journal = record.journal
    upload.task = asyncio.create_task(_apply(session, connection, upload, archive, record,
                                             lock), name=f"apply {upload.id}")
    archive.track(record, upload.task, session.stop)
    return True


def _web_user(connection: Connection) -> str:
    """Who runs a web apply, as another run's message names them: the badge (never the
    token, nor a fragment of it)."""
    return f"badge {connection.badge[:64]}" if connection.badge else "signed in with a token"


async def _apply(session: Session, connection: Connection, upload: Upload,
                 archive: RunArchive, record: RunRecord, lock: WriteLock) -> None:
    def on_progress(progress: Progress) -> None:
        upload.progress = progress

    try:
        # Recorded in the run history like a command-line apply (issue 16), as the page
        # user: their folder's name, which never holds a token.
        result = await api.execute_async(upload.planned, connection, journal=upload.journal,
                                         on_progress=on_progress, stop=session.stop,
                                         history=default_history_path(),
                                         who=f"page {archive.owner_of(connection)}")
        await asyncio.to_thread(table.cached_entries, result)
        upload.result = result
        for warning in result.warnings[len(upload.planned.warnings):]:
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
    """Current lines, ready to edit (``sync.roundtrip.export_lines``): ``products`` are names
    or barcodes, ``filters`` ``column=value`` texts, both checked by the export itself."""
    from sync.roundtrip import export_lines  # another module's feature: loaded when used

    target = folder / f"flowtrac-lines-{time.strftime('%Y%m%d-%H%M%S')}.{fmt}"
    return await export_lines(connection, target, filters=filters, products=products, fmt=fmt)


async def template_file(folder: Path, connection: Connection | None = None) -> Path:
    """A blank sheet with headers, dropdowns and notes (``sync.roundtrip.write_template``);
    signed in, its name columns get dropdowns of the tenant's names (``roundtrip.template``)."""
    from sync.roundtrip import template, write_template

    target = folder / "flowtrac-template.xlsx"
    if connection is None:
        return await asyncio.to_thread(write_template, target)
    return (await template(connection, target)).path
