"""One writing run per Flowtrac at a time on this machine: ``apply``, ``undo`` and ``serve``.

Two runs that plan against the same lines at once both decide to create (or update) them,
and both send it: duplicates or a silent lost update.  A run that writes first takes the
lock of its base URL: a file under the user's state directory
(``$XDG_STATE_HOME/flowtrac-sync/locks``, ``FLOWTRAC_SYNC_LOCK_DIR`` to put it elsewhere)
locked with ``flock``.  The kernel drops the lock when its process ends, however it ends, so
the lock of a killed run is taken over by the next run without any clean-up.

The holder writes its pid, what it does ("apply routing.xlsx", "web user badge 7001") and
when it started into the file, so a run that finds the lock taken can name the other run.
Nothing in the file is a secret: the base URL is only hashed into the file's name.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from .connection import url_for_message
from .errors import UsageError, WriterBusyError
from .history import timestamp

__all__ = ["WriteLock", "lock_folder"]

#: How often a run that waits for the lock tries again.
POLL_S = 0.2


def lock_folder() -> Path:
    """Where the lock files live: ``FLOWTRAC_SYNC_LOCK_DIR``, or the user's state directory."""
    override = os.environ.get("FLOWTRAC_SYNC_LOCK_DIR")
    if override:
        return Path(override)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "flowtrac-sync" / "locks"


def _lock_name(base_url: str) -> str:
    """One file per Flowtrac: the same server written ``HTTP://Host/api/`` or
    ``http://host/api`` shares the lock."""
    normal = base_url.strip().rstrip("/").lower()
    return hashlib.sha256(normal.encode()).hexdigest()[:32] + ".lock"


class WriteLock:
    """The lock of one base URL, held by one run (``with`` it, or ``acquire``/``release``).

    ``holder`` says what the run does, for the message another run shows: "apply FILE",
    "undo JOURNAL", "web user NAME"."""

    def __init__(self, base_url: str, holder: str, *, folder: Path | None = None,
                 advice: str = "let it finish, or give --wait SECONDS to wait for it"):
        self.base_url = base_url
        self.holder = holder
        self.advice = advice
        self.path = (folder or lock_folder()) / _lock_name(base_url)
        self._file: IO[str] | None = None

    def acquire(self, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait_s`` seconds; WriterBusyError naming the other run
        when it is still held then (nothing was sent)."""
        deadline = time.monotonic() + wait_s
        while not self._try():
            if time.monotonic() >= deadline:
                raise self._busy(wait_s)
            time.sleep(POLL_S)

    def release(self) -> None:
        if self._file is not None:
            # Emptied first, so a reader never names a run that has ended.
            self._file.truncate(0)
            self._file.close()  # closing drops the flock
            self._file = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    # ------------------------------------------------------------------ internals

    def _open(self) -> IO[str]:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # No symbolic link followed: a link planted here must not make a run write its
            # details into whatever file it points at.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise UsageError(f"cannot make the lock file that keeps two runs from writing to "
                             f"Flowtrac at once in {self.path.parent} ({exc.strerror}); "
                             "nothing sent (set FLOWTRAC_SYNC_LOCK_DIR to a folder of "
                             "yours)") from None
        return os.fdopen(fd, "r+", encoding="utf-8")

    def _try(self) -> bool:
        if self._file is not None:
            return True
        handle = self._open()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        # Whatever a dead holder left in the file is replaced by this run's details.
        handle.truncate(0)
        handle.write(json.dumps({"pid": os.getpid(), "holder": self.holder,
                                 "started": timestamp()}))
        handle.flush()
        self._file = handle
        return True

    def _holder(self) -> dict[str, Any]:
        """The details the other run wrote (empty if it has not written them yet)."""
        for _attempt in range(5):
            try:
                text = self.path.read_text(encoding="utf-8")
                data = json.loads(text) if text.strip() else {}
            except (OSError, ValueError):
                data = {}
            if isinstance(data, dict) and data:
                return data
            time.sleep(0.02)  # it holds the lock and is about to write them
        return {}

    def other_run(self) -> str:
        """The run holding the lock, in words: what it does, its pid and start time."""
        other = self._holder()
        if not other:
            return "a run whose details cannot be read"
        return (f"{str(other.get('holder', 'a run'))[:200]} (pid {other.get('pid', '?')}, "
                f"started {other.get('started', '?')})")

    def _busy(self, wait_s: float) -> WriterBusyError:
        who = self.other_run()
        waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
        return WriterBusyError(f"another run is writing to {url_for_message(self.base_url)}"
                               f"{waited}: {who}; nothing was sent ({self.advice})")
