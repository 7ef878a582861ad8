"""The page's run records: each apply's journal and report, kept after its session ends.

They are the only record of what a run wrote, so they do not go in the session's temporary
folder (removed at sign-out, expiry and server stop) but in a durable folder (``serve
--data-dir``; default ``$XDG_DATA_HOME/flowtrac-sync/web``, i.e.
``~/.local/share/flowtrac-sync/web``), one folder per Flowtrac server and per user::

    <data dir>/<server>/<user>/<run id>/run.json              what ran, and how it ended
                                       /<name>.journal.jsonl  the journal (sync.journal)
                                       /<name>.report.xlsx    the reconciliation report

``<server>`` is the server's host name and a short hash of its base URL (``demo`` for the
built-in emulator); ``<user>`` is ``badge-<badge>``, or for a token sign-in ``token-`` and a
keyed hash of the token (the key, ``.token-key``, stays in the data dir; the token itself is
never stored).  A run id is random and is only ever looked up in the signed-in user's own
folder, after a check of its alphabet: another user's runs can be neither listed nor
downloaded, and no id names a path outside that folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sync import api
from sync.connection import Connection
from sync.errors import SyncError, UsageError
from sync.files import atomic_output

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
#: The earlier runs the page lists, newest first; older ones stay on disk.
LISTED_RUNS = 20
_RUN_ID = re.compile(r"[A-Za-z0-9_-]{16}")
_PLAIN_BADGE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOKEN_KEY = ".token-key"


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/flowtrac-sync/web``, or ``~/.local/share/flowtrac-sync/web``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "flowtrac-sync" / "web"


def server_key(base_url: str, *, demo: bool = False) -> str:
    """The folder name of a Flowtrac server: readable, and one per base URL."""
    if demo:
        return "demo"   # the emulator's port changes at every start; its runs stay together
    readable = re.sub(r"[^a-z0-9.-]+", "_", urlsplit(base_url).netloc.lower()).strip(".")
    return f"{readable or 'server'}-{hashlib.sha256(base_url.encode()).hexdigest()[:8]}"


@dataclass
class RunRecord:
    """One apply started on the page (``run.json``), and where its files are."""

    id: str
    name: str                        # the uploaded file's name, as the page shows it
    stem: str                        # the files' name stem
    host: str                        # the Flowtrac it wrote to
    started: float                   # epoch seconds
    folder: Path = field(compare=False)
    finished: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    exit_code: int | None = None
    error: str | None = None

    @property
    def journal(self) -> Path:
        return self.folder / f"{self.stem}.journal.jsonl"

    @property
    def report(self) -> Path:
        return self.folder / f"{self.stem}.report.xlsx"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "folder"}

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> RunRecord:
        """The record ``to_json`` wrote; ValueError for one that is not (edited by hand, or
        naming its files outside its folder)."""
        known = {k: data[k] for k in _RECORD_FIELDS if k in data}
        record = cls(id=folder.name, folder=folder, **known)
        stem = record.stem
        if not (isinstance(stem, str) and stem and Path(stem).name == stem
                and not stem.startswith(".") and isinstance(record.started, (int, float))
                and isinstance(record.counts, dict)):
            raise ValueError(f"{folder / RUN_FILE} is not a run record")
        return record


_RECORD_FIELDS = ("name", "stem", "host", "started", "finished", "counts", "exit_code", "error")


class RunArchive:
    """The run records of one page server (one Flowtrac) under ``root``."""

    def __init__(self, root: str | Path, base_url: str, *, demo: bool = False) -> None:
        self.root = Path(root).expanduser()
        self.folder = self.root / server_key(base_url, demo=demo)
        #: Runs going on in this process: their task and the event that stops them.
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}

    def prepare(self) -> None:
        """Make the folders (mode 0700: the journals hold the lines' contents); a usage
        error with one sentence when that is not possible."""
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"Cannot keep the page's run records in {self.root}: "
                             f"{exc.strerror}; give another --data-dir.") from None
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise UsageError(f"Cannot keep the page's run records in {self.root}: it cannot "
                             f"be written; give another --data-dir.")

    # ------------------------------------------------------------------ who owns a run

    def owner_of(self, connection: Connection) -> str:
        """The folder name of the person signed in with ``connection``."""
        if connection.badge:
            badge = connection.badge
            if _PLAIN_BADGE.fullmatch(badge):
                return f"badge-{badge}"
            return f"badge-h{hashlib.sha256(badge.encode()).hexdigest()[:20]}"
        token = (connection.token or "").encode()
        return f"token-{hmac.new(self._token_key(), token, 'sha256').hexdigest()[:24]}"

    def _token_key(self) -> bytes:
        """A random key, made once per data dir, for the hash that names a token's folder:
        without it, a token cannot be checked against a folder name."""
        path = self.root / _TOKEN_KEY
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as out:
            key = secrets.token_bytes(32)
            out.write(key)
        return key

    # ------------------------------------------------------------------ a run's life

    def start(self, owner: str, name: str, stem: str, host: str) -> RunRecord:
        """A new run's folder and record (the journal and report go in the folder)."""
        try:
            (self.folder / owner).mkdir(mode=0o700, parents=True, exist_ok=True)
            folder = self.folder / owner / secrets.token_urlsafe(12)
            folder.mkdir(mode=0o700)
        except OSError as exc:
            raise SyncError(f"Cannot keep the run's report and journal in {self.root} "
                            f"({exc.strerror}); nothing was written to Flowtrac.") from None
        record = RunRecord(folder.name, name, stem, host, time.time(), folder)
        self._save(record)
        return record

    def track(self, record: RunRecord, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self._running[record.id] = (task, stop)
        task.add_done_callback(lambda _task: self._running.pop(record.id, None))

    def finish(self, record: RunRecord, result: api.ApplyResult | None,
               error: str | None) -> None:
        """Note how the run ended; a run cut off (neither result nor error: the server
        stopped) stays unfinished.  Never raises: the journal and report are there anyway."""
        if result is None and error is None:
            return
        record.finished, record.error = time.time(), error
        if result is not None:
            record.counts, record.exit_code = result.counts(), result.exit_code
            execution = result.execution
            if execution is not None and execution.fatal is not None:
                record.error = str(execution.fatal)
            elif execution is not None and execution.stopped:
                record.error = "interrupted before every row was done"
        try:
            self._save(record)
        except (OSError, SyncError) as exc:
            log.warning("cannot update the record of run %s: %s", record.id, exc)

    def is_running(self, record: RunRecord) -> bool:
        return record.id in self._running

    async def close(self, grace_s: float = 10.0) -> None:
        """At shutdown: stop every run (requests in flight finish), wait briefly for them to
        write their report, also the runs of sessions that have signed out."""
        running = list(self._running.values())
        for _task, stop in running:
            stop.set()
        if running:
            await asyncio.wait([task for task, _stop in running], timeout=grace_s)

    def _save(self, record: RunRecord) -> None:
        with atomic_output(record.folder / RUN_FILE, "run record") as out:
            out.write(json.dumps(record.to_json(), ensure_ascii=False).encode())

    # ------------------------------------------------------------------ earlier runs

    def runs_of(self, owner: str, limit: int = LISTED_RUNS) -> list[RunRecord]:
        """The owner's runs, newest first (at most ``limit``); a damaged record is skipped."""
        folder = self.folder / owner
        try:
            entries = [e for e in os.scandir(folder)
                       if _RUN_ID.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            return []
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime, reverse=True)
        # Only the newest folders are read; a few more than shown, for damaged ones.
        records = [r for r in (self._read(Path(e.path)) for e in entries[: limit * 2]) if r]
        records.sort(key=lambda r: r.started, reverse=True)
        return records[:limit]

    def find(self, owner: str, run_id: str) -> RunRecord | None:
        """The owner's run ``run_id``; None for anything else (another user's id too)."""
        if not _RUN_ID.fullmatch(run_id):
            return None
        return self._read(self.folder / owner / run_id)

    def _read(self, folder: Path) -> RunRecord | None:
        try:
            data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
            return RunRecord.from_json(data, folder)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
