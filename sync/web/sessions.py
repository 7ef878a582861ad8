"""Browser sessions, kept in memory only.

The browser holds nothing but a random session id (an HttpOnly, SameSite=Strict cookie); the
Flowtrac credentials (``Connection``), the uploads and their plans stay here.  Each session
that uploads gets a private folder (mode 0700) under the server's own temporary folder; it is
removed when the session signs out or expires, and the whole tree at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sync import api
from sync.connection import Connection
from sync.executor import Progress

log = logging.getLogger(__name__)

#: Sign-in failures allowed per session within ``SIGNIN_WINDOW_S`` before it must wait.
MAX_SIGNIN_FAILURES = 5
SIGNIN_WINDOW_S = 60.0
#: Uploads one session keeps; the oldest one not being applied goes when a new one comes.
MAX_UPLOADS_PER_SESSION = 20


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class UploadState(StrEnum):
    PLANNED = "planned"      # plan shown, nothing written
    APPLYING = "applying"    # writes in flight
    APPLIED = "applied"      # finished (or stopped): the result is final


@dataclass(eq=False)
class Upload:
    """One uploaded file, its plan and (once applied) its result.  Applied at most once."""

    id: str
    name: str                        # the file name as shown (sanitised)
    path: Path                       # the stored copy, inside the session's folder
    options: api.SyncOptions
    planned: api.PlanResult
    planned_at: float = field(default_factory=time.time)
    state: UploadState = UploadState.PLANNED
    progress: Progress | None = None
    result: api.ApplyResult | None = None
    error: str | None = None         # why an apply stopped before it had a result
    plan_report: Path | None = None
    result_report: Path | None = None
    journal: Path | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def stem(self) -> str:
        return self.path.stem


@dataclass(eq=False)
class Session:
    id: str = field(default_factory=new_secret, repr=False)
    csrf: str = field(default_factory=new_secret, repr=False)
    connection: Connection | None = field(default=None, repr=False)
    signed_in_as: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    folder: Path | None = None
    uploads: dict[str, Upload] = field(default_factory=dict)
    flashes: list[tuple[str, str]] = field(default_factory=list)   # (kind, text), shown once
    signin_failures: list[float] = field(default_factory=list)
    #: Set when the server stops: a running apply lets its requests finish, then stops.
    stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def signed_in(self) -> bool:
        return self.connection is not None

    @property
    def busy(self) -> bool:
        return any(u.state is UploadState.APPLYING for u in self.uploads.values())

    def flash(self, kind: str, text: str) -> None:
        self.flashes.append((kind, text))

    def take_flashes(self) -> list[tuple[str, str]]:
        out, self.flashes = self.flashes, []
        return out

    def signin_blocked(self, now: float) -> bool:
        self.signin_failures = [t for t in self.signin_failures if now - t < SIGNIN_WINDOW_S]
        return len(self.signin_failures) >= MAX_SIGNIN_FAILURES


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._()+-]+")


def safe_file_name(raw: str | None, fallback: str = "upload") -> str:
    """A browser-sent file name reduced to a plain name: no folders, no control or odd
    characters, no leading dot, at most 100 characters (the extension is kept)."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if not name:
        return fallback
    if len(name) > 100:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 90]}.{ext[:9]}" if dot and len(ext) <= 9 else name[:100]
    return name


class SessionStore:
    """All sessions of one server, and the private temporary folder that holds uploads."""

    def __init__(self, *, idle_timeout_s: float, max_sessions: int = 500,
                 temp_parent: str | Path | None = None) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        # mkdtemp creates the folder with mode 0700: only this user can look inside.
        self.root = Path(tempfile.mkdtemp(prefix="flowtrac-sync-web-", dir=temp_parent))
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if self._expired(session, time.monotonic()):
            self.end(session)
            return None
        session.last_seen = time.monotonic()
        return session

    def create(self) -> Session:
        if len(self._sessions) >= self.max_sessions:
            self._evict()
        session = Session()
        self._sessions[session.id] = session
        return session

    def rotate(self, session: Session) -> None:
        """New id and CSRF token (at sign-in: an id seen before sign-in is worth nothing)."""
        self._sessions.pop(session.id, None)
        session.id, session.csrf = new_secret(), new_secret()
        self._sessions[session.id] = session

    def folder_of(self, session: Session) -> Path:
        """The session's private folder (made on first use, mode 0700)."""
        if session.folder is None:
            session.folder = Path(tempfile.mkdtemp(prefix="s-", dir=self.root))
        return session.folder

    def end(self, session: Session) -> None:
        """Forget the session and remove its files.

        A running apply goes on to its end (its journal and report are kept in the run
        archive, ``archive``), holding the sign-in until then; the session's folder goes
        when that task has finished."""
        self._sessions.pop(session.id, None)
        session.connection = None
        tasks = [u.task for u in session.uploads.values() if u.task and not u.task.done()]
        if tasks:
            for task in tasks:
                task.add_done_callback(lambda _t, s=session: self._remove_folder(s)
                                       if not s.busy else None)
        else:
            self._remove_folder(session)

    def sweep(self, now: float | None = None) -> int:
        """End sessions idle for longer than the timeout (never during an apply)."""
        now = time.monotonic() if now is None else now
        expired = [s for s in self._sessions.values() if self._expired(s, now)]
        for session in expired:
            log.info("session expired; its uploads are removed")
            self.end(session)
        return len(expired)

    async def close(self, grace_s: float = 10.0) -> None:
        """At shutdown: stop every apply, wait briefly for them, remove every file."""
        sessions = list(self._sessions.values())
        tasks = [u.task for s in sessions for u in s.uploads.values()
                 if u.task and not u.task.done()]
        for session in sessions:
            session.stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
        for session in sessions:
            self._sessions.pop(session.id, None)
            session.connection = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _expired(self, session: Session, now: float) -> bool:
        return not session.busy and now - session.last_seen > self.idle_timeout_s

    def _evict(self) -> None:
        """Make room: the longest-idle session that is not applying goes (anonymous first)."""
        idle = [s for s in self._sessions.values() if not s.busy]
        if not idle:
            return
        victim = min(idle, key=lambda s: (s.signed_in, s.last_seen))
        self.end(victim)

    def _remove_folder(self, session: Session) -> None:
        if session.folder is not None:
            shutil.rmtree(session.folder, ignore_errors=True)
            session.folder = None
