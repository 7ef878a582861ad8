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
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path

from sync import api
from sync.connection import Connection
from sync.errors import _PlanPutAsideError
from sync.executor import Progress

log = logging.getLogger(__name__)

#: Failed sign-ins allowed within ``SIGNIN_WINDOW_S``, per badge and per client address,
#: before further sign-ins there must wait.  An address gets more: planners may share one.
MAX_SIGNIN_FAILURES_PER_BADGE = 5
MAX_SIGNIN_FAILURES_PER_ADDRESS = 20
SIGNIN_WINDOW_S = 300.0
#: Uploads one session keeps; the oldest one not being applied goes when a new one comes.
MAX_UPLOADS_PER_SESSION = 20
#: Signed-in sessions one sign-in (badge or token) holds; its next sign-in ends its
#: longest-idle one, so one account signing in again and again pushes out only itself.
MAX_SESSIONS_PER_SIGN_IN = 20
#: Sheet rows of all plans kept in memory, over every session (a plan's memory grows with
#: its rows, so rows stand in for bytes); beyond it the least recently used plans are put
#: aside, other sessions' first.
PLAN_ROWS_BUDGET = 500_000


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
    #: None once put aside to save memory (the file stays: "Plan again" makes it anew).
    planned: api.PlanResult | None
    planned_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
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

    @property
    def kept_plan(self) -> api.PlanResult:
        """The plan, for what needs one; ``_PlanPutAsideError`` once it was put aside."""
        if self.planned is None:
            raise _PlanPutAsideError(f"the plan of {self.name} was put aside to save memory")
        return self.planned

    @property
    def rows(self) -> int:
        """The plan's footprint in memory, counted in rows (sheet rows and server-only lines)."""
        if self.planned is None:
            return 0
        return len(self.planned.validated) + len(self.planned.plan.server_only)

    def put_aside(self) -> None:
        """Drop the plan and result from memory (the reconciliation report stays on disk)."""
        self.planned = None
        self.result = None


@dataclass(eq=False)
class Session:
    id: str = field(default_factory=new_secret, repr=False)
    csrf: str = field(default_factory=new_secret, repr=False)
    connection: Connection | None = field(default=None, repr=False)
    signed_in_as: str = ""
    #: Who signed in (badge, or a digest of the token): sessions are counted per sign-in.
    identity: str = field(default="", repr=False)
    last_seen: float = field(default_factory=time.monotonic)
    folder: Path | None = None
    uploads: dict[str, Upload] = field(default_factory=dict)
    flashes: list[tuple[str, str]] = field(default_factory=list)   # (kind, text), shown once
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


@dataclass(frozen=True)
class Lockout:
    """Why sign-ins must wait, and for how long."""

    what: str             # "for badge 7001" or "from your address"
    retry_in_s: int


class SignInThrottle:
    """Failed sign-ins per badge and per client address, within a sliding window.

    Each key keeps only its last ``limit`` failures (all a decision needs), and the table
    keeps at most ``max_keys`` keys, the least recently failed going first: guessing with
    ever new badges costs the server a bounded amount of memory."""

    def __init__(self, *, per_badge: int = MAX_SIGNIN_FAILURES_PER_BADGE,
                 per_address: int = MAX_SIGNIN_FAILURES_PER_ADDRESS,
                 window_s: float = SIGNIN_WINDOW_S, max_keys: int = 10_000) -> None:
        self.limits = {"badge": per_badge, "address": per_address}
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def __len__(self) -> int:
        return len(self._failures)

    @staticmethod
    def keys(badge: str, address: str | None) -> list[tuple[str, str]]:
        """The counters a sign-in counts against: its badge (if any) and its address."""
        keys = [("badge", badge[:64])] if badge else []
        return [*keys, ("address", address or "unknown")]

    def blocked(self, keys: list[tuple[str, str]], now: float) -> Lockout | None:
        waits = []
        for kind, value in keys:
            kept = self._failures.get((kind, value))
            if kept is not None and len(kept) == self.limits[kind]:
                lifts_at = kept[0] + self.window_s
                if lifts_at > now:
                    what = f"for badge {value}" if kind == "badge" else "from your address"
                    waits.append(Lockout(what, max(1, round(lifts_at - now))))
        return max(waits, key=lambda w: w.retry_in_s, default=None)

    def failed(self, keys: list[tuple[str, str]], now: float) -> None:
        for key in keys:
            kept = self._failures.pop(key, None) or deque(maxlen=self.limits[key[0]])
            kept.append(now)
            self._failures[key] = kept          # re-inserted: the most recent key is last
        if len(self._failures) > self.max_keys:
            self._failures = {k: v for k, v in self._failures.items()
                              if v[-1] > now - self.window_s}
            while len(self._failures) > self.max_keys:
                del self._failures[next(iter(self._failures))]


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
    """All sessions of one server, and the private temporary folder that holds uploads.

    Anonymous sessions (a page view, no sign-in yet) and signed-in ones are bounded apart, so
    that page views never push out a planner: ``max_sessions`` of each."""

    def __init__(self, *, idle_timeout_s: float, max_sessions: int = 500,
                 plan_rows_budget: int = PLAN_ROWS_BUDGET,
                 temp_parent: str | Path | None = None) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        self.plan_rows_budget = plan_rows_budget
        self.throttle = SignInThrottle()
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
        anonymous = [s for s in self._sessions.values() if not s.signed_in]
        if len(anonymous) >= self.max_sessions:
            self._end_longest_idle(anonymous)
        session = Session()
        self._sessions[session.id] = session
        return session

    def admit(self, session: Session, identity: str) -> bool:
        """Make room for ``session`` to sign in as ``identity``; False if the page is full.

        The sign-in's own longest-idle session goes when it holds its share, or when every
        place is taken; a session of someone else is never pushed out."""
        signed_in = [s for s in self._sessions.values() if s.signed_in and s is not session]
        own = [s for s in signed_in if s.identity == identity]
        if len(own) >= MAX_SESSIONS_PER_SIGN_IN or len(signed_in) >= self.max_sessions:
            self._end_longest_idle(own)
            signed_in = [s for s in self._sessions.values() if s.signed_in and s is not session]
        if len(signed_in) >= self.max_sessions:
            return False
        session.identity = identity
        return True

    def plan_rows(self) -> int:
        """Rows of all plans held in memory, over every session."""
        return sum(u.rows for s in self._sessions.values() for u in s.uploads.values())

    def keep_plans_within_budget(self, current: Session, keep: Upload) -> None:
        """Put aside least recently used plans until the rows fit ``plan_rows_budget``:
        other sessions' plans first, then ``current``'s own; never ``keep`` (just made) nor
        a plan being applied."""
        excess = self.plan_rows() - self.plan_rows_budget
        if excess <= 0:
            return
        candidates = sorted(
            ((s is current, u.last_used, u) for s in self._sessions.values()
             for u in s.uploads.values()
             if u is not keep and u.planned is not None and u.state is not UploadState.APPLYING),
            key=lambda c: c[:2])
        for _own, _used, upload in candidates:
            if excess <= 0:
                break
            rows = upload.rows
            upload.put_aside()
            excess -= rows
            log.info("a plan of %d rows was put aside to save memory", rows)

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
                task.add_done_callback(partial(self._remove_folder_when_idle, session))
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

    def _end_longest_idle(self, sessions: list[Session]) -> None:
        idle = [s for s in sessions if not s.busy]
        if idle:
            self.end(min(idle, key=lambda s: s.last_seen))

    def _remove_folder_when_idle(self, session: Session, _done: asyncio.Task[None]) -> None:
        """A task of a signed-out session has ended: its folder goes once none applies."""
        if not session.busy:
            self._remove_folder(session)

    def _remove_folder(self, session: Session) -> None:
        if session.folder is not None:
            shutil.rmtree(session.folder, ignore_errors=True)
            session.folder = None
