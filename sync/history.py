"""The run history: every ``apply`` and ``undo`` recorded in a SQLite database.

One row per run: its id (the run id its journal holds, so ``undo --run ID`` finds the run in
its journal), start and end, who ran it (badge or page user), the server, the file and its
checksum, the mode, the counts per status, the exit code, the first problems and where its
report and journal are.  Default place: ``$XDG_DATA_HOME/flowtrac-sync/history.sqlite3``.

The database is in WAL mode with a busy timeout, so the command line and the web page can
write to it at the same time.  A history that cannot be written never fails a run:
``save`` returns one warning sentence instead of raising.  Nothing here ever sees a token,
cookie or PIN: a record is built from a result's counts, paths and the server's base URL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import hashlib
import json
import logging
import os
import sqlite3
import stat
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .connection import url_for_message
from .errors import UsageError

if TYPE_CHECKING:
    from .api import PlanResult
    from .connection import Connection
    from .savedplan import SavedApplyResult
    from .undoing import UndoResult

__all__ = ["History", "RunRecord", "default_history_path", "new_run_id", "record_for_apply",
           "record_for_error", "record_for_undo", "save", "set_report", "timestamp", "who_for"]

log = logging.getLogger("sync.history")

#: The schema's version, kept in the database's ``user_version``: a later version adds
#: columns with a migration step in ``_MIGRATIONS``.  Each step can run twice (IF NOT
#: EXISTS): two first writers at once both run it, one after the other.
SCHEMA_VERSION = 1
_MIGRATIONS = {
    1: """
        CREATE TABLE IF NOT EXISTS runs (
            id TEXT PRIMARY KEY, command TEXT NOT NULL, started TEXT, finished TEXT,
            who TEXT, server TEXT, file TEXT, sha256 TEXT, mode TEXT,
            counts TEXT NOT NULL DEFAULT '{}', exit_code INTEGER NOT NULL,
            duration_s REAL, report TEXT, journal TEXT, problems TEXT NOT NULL DEFAULT '[]');
        CREATE INDEX IF NOT EXISTS runs_by_server ON runs (server);
    """,
}
#: Seconds a writer waits for another one (the web page, a second job) to finish.
BUSY_TIMEOUT_S = 10.0
#: Problems kept per run: enough for ``runs show`` and a notification.
MAX_PROBLEMS = 10


def default_history_path() -> Path:
    """``$XDG_DATA_HOME/flowtrac-sync/history.sqlite3`` (``~/.local/share`` without it)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "flowtrac-sync" / "history.sqlite3"


def new_run_id() -> str:
    """An id for a run that wrote no journal (the journal's own ids look the same)."""
    return uuid.uuid4().hex[:12]


def timestamp() -> str:
    """The local time to the second, as run records, results, the write lock and an export's
    base sheet write it."""
    return dt.datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")


@dataclass
class RunRecord:
    """One apply or undo, as the history keeps it."""

    run_id: str
    command: str
    started: str | None
    finished: str | None
    who: str | None
    server: str
    file: str | None
    sha256: str | None
    mode: str | None
    counts: dict[str, int]
    exit_code: int
    duration_s: float | None = None
    report: str | None = None
    journal: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.server).netloc or self.server

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_COLUMNS = ("id", "command", "started", "finished", "who", "server", "file", "sha256", "mode",
            "counts", "exit_code", "duration_s", "report", "journal", "problems")


def _row(record: RunRecord) -> tuple[Any, ...]:
    values = record.to_json()
    values["id"] = values.pop("run_id")
    values["counts"] = json.dumps(record.counts)
    values["problems"] = json.dumps(record.problems[:MAX_PROBLEMS], ensure_ascii=False)
    return tuple(values[c] for c in _COLUMNS)


def _record(row: Sequence[Any]) -> RunRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["run_id"] = values.pop("id")
    values["counts"] = json.loads(values["counts"] or "{}")
    values["problems"] = json.loads(values["problems"] or "[]")
    return RunRecord(**values)


class History:
    """The history database at ``path``; created (with its folder) on first write.

    sqlite3.Error and OSError come through as they are: ``save`` turns them into a warning
    for a run, the ``runs`` command into a UsageError."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        #: Opened with SQLite's ``mode=ro``: the page's History view only reads, and must
        #: not create or change the file another program writes.
        self.read_only = read_only

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(self.path)
        read_only = self.read_only and not create
        target = (f"file:{quote(str(self.path.resolve()))}?mode=ro" if read_only
                  else self.path)
        with closing(sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, uri=read_only)) as db:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if create:
                # WAL lets a reader (the page's History view) and a writer (a nightly job)
                # work at once; the mode is kept in the file once set.
                db.execute("PRAGMA journal_mode = WAL")
                self._migrate(db)
            with db:  # one transaction, committed on leaving
                yield db

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"it was written by a newer flowtrac-sync (schema "
                                        f"{version})")
        for step in range(version + 1, SCHEMA_VERSION + 1):
            db.executescript(f"{_MIGRATIONS[step]}; PRAGMA user_version = {step};")

    def add(self, record: RunRecord) -> None:
        with self._connect(create=True) as db:
            db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) "
                       f"VALUES ({', '.join('?' * len(_COLUMNS))})", _row(record))

    def set_report(self, run_id: str, report: str | Path) -> None:
        with self._connect(create=True) as db:
            db.execute("UPDATE runs SET report = ? WHERE id = ?", (str(report), run_id))

    def runs(self, *, server: str | None = None, last: int | None = None,
             who: Collection[str] | None = None) -> list[RunRecord]:
        """Runs oldest first: the ``last`` most recent, of one ``server`` (base URL or
        host) if given, run by one of ``who`` if given.  No database yet: no run."""
        where, args = "", tuple(who or ())
        if who is not None:
            where = f"WHERE who IN ({', '.join('?' * len(args))}) " if args else "WHERE 0 "
        try:
            with self._connect(create=False) as db:
                rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs {where}"
                                  f"ORDER BY rowid", args).fetchall()
        except FileNotFoundError:
            return []
        records = [_record(r) for r in rows]
        if server:
            records = [r for r in records if _same_server(r.server, server)]
        return records[-last:] if last else records

    def get(self, run_id: str) -> RunRecord | None:
        """The run with this id (or the one run whose id starts with it)."""
        found = [r for r in self.runs() if r.run_id.startswith(run_id)]
        exact = [r for r in found if r.run_id == run_id]
        return (exact or found)[0] if len(exact or found) == 1 else None


def _same_server(server: str, wanted: str) -> bool:
    wanted = wanted.strip().rstrip("/")
    return wanted in (server, urlsplit(server).netloc, urlsplit(server).hostname)


def save(history: str | Path | None, record: RunRecord) -> str | None:
    """Add ``record`` to the history at ``history`` (None: nothing); a warning sentence when
    that fails, never an exception: a run is not failed by its history."""
    if history is None:
        return None
    try:
        History(history).add(record)
    except (sqlite3.Error, OSError) as exc:
        log.debug("history not written", exc_info=True)
        return cannot_write(history, exc)
    return None


def set_report(history: str | Path | None, record: RunRecord | None, report: Path) -> None:
    """Note in the run's record, and in the history it was saved in, where its report went
    (written after the run was recorded); a run without a record has nothing to note."""
    if record is None:
        return
    record.report = str(report)
    if history is None:
        return
    try:
        History(history).set_report(record.run_id, record.report)
    except (sqlite3.Error, OSError) as exc:
        log.warning("%s", cannot_write(history, exc))


def cannot_write(history: str | Path, exc: BaseException) -> str:
    reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    return (f"the run history {history} could not be written ({reason}); the run itself is "
            f"not affected")


def who_for(connection: Connection, user: str | None = None) -> str:
    """Who runs: the page's user, else the badge logged in with, else the system user (a
    token says nothing about its holder)."""
    if user:
        return user
    if connection.badge:
        return f"badge {connection.badge}"
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def file_sha256(path: str | Path | None) -> str | None:
    """The file's checksum; None when it is not a regular file (a FIFO would block the
    read, and a run it stopped is recorded all the same)."""
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return hashlib.file_digest(f, "sha256").hexdigest()


def record_for_apply(result: PlanResult, *, run_id: str, who: str | None,
                     journal: str | Path | None = None,
                     report: str | Path | None = None) -> RunRecord:
    """The record of an apply: one that sent writes (an ApplyResult) or one that stopped
    at its plan (nothing to send, a safety limit)."""
    duration = getattr(result, "duration_s", None)
    return RunRecord(run_id, "apply", result.started, result.finished or timestamp(), who,
                     url_for_message(result.base_url), str(result.path),
                     file_sha256(result.path), result.options.mode.value, result.counts(),
                     int(result.exit_code), round(duration, 3) if duration else None,
                     str(report) if report else None, str(journal) if journal else None,
                     result.problems(MAX_PROBLEMS))


def record_for_saved_plan(result: SavedApplyResult, *, run_id: str, who: str | None,
                          report: str | Path | None = None) -> RunRecord:
    """The record of ``apply --plan``: its file is the saved plan applied."""
    saved = result.saved
    return RunRecord(run_id, "apply", result.started, result.finished or timestamp(), who,
                     url_for_message(result.base_url), str(saved.path),
                     file_sha256(saved.path), saved.options.mode.value, result.counts(),
                     int(result.exit_code), round(result.duration_s, 3),
                     str(report) if report else None,
                     str(result.journal) if result.journal else None,
                     result.problems(MAX_PROBLEMS))


def record_for_undo(result: UndoResult, *, run_id: str, who: str | None) -> RunRecord:
    """The record of an undo: its file is the journal undone."""
    plan = result.plan
    journal = str(result.journal) if result.journal else None
    return RunRecord(run_id, "undo", plan.started, result.finished or timestamp(), who,
                     url_for_message(plan.base_url), str(plan.journal),
                     file_sha256(plan.journal), "undo", result.counts(),
                     int(result.exit_code), round(result.duration_s, 3), None, journal,
                     plan.problems(MAX_PROBLEMS))


def record_for_error(command: str, error: BaseException, *, exit_code: int, server: str,
                     file: str | None, who: str | None, mode: str | None,
                     started: str) -> RunRecord:
    """The record of a run stopped by an error before it had a result (cannot log in, an
    unreadable sheet): the error's sentence is its one problem."""
    return RunRecord(new_run_id(), command, started, timestamp(), who, url_for_message(server),
                     file, file_sha256(file), mode, {}, exit_code, problems=[str(error)])


def open_for_reading(path: str | Path) -> History:
    """The history for ``runs``: UsageError when the path is a folder."""
    history = History(path)
    if history.path.is_dir():
        raise UsageError(f"the run history {path} is a folder, not a history file")
    return history
