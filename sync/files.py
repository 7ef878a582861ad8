"""Files the tool writes for the user (reports, exports, templates): they appear complete or
not at all.  Each is written to a hidden temporary file in the same folder, then renamed over
the target, so a crash, a full disk or Ctrl-C never leaves half a workbook under its name.
Text files the user gives (a config, a saved plan) are read by ``read_text_file``."""

from __future__ import annotations

import glob
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .errors import SyncError, UsageError

__all__ = ["STALE_TEMP_SECONDS", "atomic_output", "check_target_folder", "read_text_file"]

#: A temporary file older than this is left over from a run that was killed (a live write
#: touches its file all along); the next write of the same target removes it.
STALE_TEMP_SECONDS = 60.0


def check_target_folder(target: Path, what: str) -> None:
    """Refuse, as a usage error, a target whose folder is missing or that is itself a folder.
    ``what`` names the file for the message (``"report"``, ``"export"``, ...)."""
    if not target.parent.is_dir():
        raise UsageError(f"The {what}'s folder {target.parent} does not exist.")
    if target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name.")


def read_text_file(path: Path, *, missing: Callable[[], SyncError],
                   unreadable: Callable[[OSError | UnicodeDecodeError], SyncError]) -> str:
    """The UTF-8 text of ``path``; the error ``missing()`` makes when there is no such file,
    or ``unreadable(exc)`` when it cannot be read or is not UTF-8 (each caller words its
    own sentence, and the traceback of the OS error is left out)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise missing() from None
    except (OSError, UnicodeDecodeError) as exc:
        raise unreadable(exc) from None


@contextmanager
def atomic_output(target: Path, what: str) -> Iterator[IO[bytes]]:
    """A temporary file beside ``target`` that replaces it only once complete (flushed and
    fsynced); removed if the block fails.  ``what`` names the file for messages."""
    check_target_folder(target, what)
    folder = target.parent
    _remove_stale_temps(target)
    temp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        # O_EXCL: never follow or reuse someone else's file; 0o666 lets the umask decide the
        # permissions, as for any file the user saves.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise SyncError(f"Cannot write the {what} in {folder}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.replace(temp, target)
        except OSError as exc:
            raise SyncError(f"Cannot replace {target} ({exc.strerror}); is it open in "
                            "another program?") from None
    finally:
        temp.unlink(missing_ok=True)


def _remove_stale_temps(target: Path) -> None:
    """Remove ``.{name}.*.tmp`` files beside ``target`` older than ``STALE_TEMP_SECONDS``:
    left by a killed run of this tool, they would otherwise pile up.  Younger ones may belong
    to a write still running, and are left alone."""
    pattern = os.path.join(glob.escape(str(target.parent)), f".{glob.escape(target.name)}.*.tmp")
    cutoff = time.time() - STALE_TEMP_SECONDS
    for name in glob.glob(pattern):
        path = Path(name)
        try:
            info = path.lstat()
            if path.is_symlink() or not path.is_file() or info.st_mtime >= cutoff:
                continue
            path.unlink()
        except OSError:
            continue    # gone already, or not ours to remove: never fails the write
