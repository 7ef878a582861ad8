"""Errors a user can cause, each carrying the exit code that docs/exit-codes.md documents.

The CLI prints ``str(error)`` (one sentence) and exits with ``error.exit_code``; no traceback.
Messages never contain a token, cookie or PIN: callers build them from safe parts only.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The exit codes of every command; ``EXIT_CODE_MEANINGS`` says each in a user's words."""

    OK = 0
    ROWS_NOT_DONE = 1
    USAGE = 2
    SAFETY_STOP = 3
    CONNECTION = 4
    WRITES_PENDING = 5
    INTERRUPTED = 130


EXIT_CODE_MEANINGS = {
    ExitCode.OK: "all rows done, or nothing to do",
    ExitCode.ROWS_NOT_DONE: "finished, but some rows failed, were invalid, in conflict or "
                            "overwritten by another writer, or a saved plan's lines were "
                            "stale (or the run was interrupted)",
    ExitCode.USAGE: "usage error or unreadable input: nothing sent",
    ExitCode.SAFETY_STOP: "stopped by a safety limit (--max-delete, or another run writing to "
                          "the same Flowtrac): nothing sent",
    ExitCode.CONNECTION: "cannot log in or reach the server",
    ExitCode.WRITES_PENDING: "plan --detailed-exitcode only: the plan holds writes (and "
                             "nothing else is wrong)",
    ExitCode.INTERRUPTED: "Ctrl-C while reading or planning, before any write",
}


class SyncError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = ExitCode.ROWS_NOT_DONE


class UsageError(SyncError):
    """Bad options or arguments; nothing was sent."""

    exit_code = ExitCode.USAGE


class InputError(SyncError):
    """The input file cannot be used at all (missing, not a spreadsheet, no header ...)."""

    exit_code = ExitCode.USAGE


class SafetyLimitError(SyncError):
    """A safety limit (e.g. --max-delete) stopped the run before anything was written."""

    exit_code = ExitCode.SAFETY_STOP


class WriterBusy(SyncError):
    """Another run on this machine is writing to the same Flowtrac (``sync.writelock``);
    nothing was sent.  The sentence names that run: its pid, command and start time."""

    exit_code = ExitCode.SAFETY_STOP


class ConnectionProblem(SyncError):
    """Cannot reach the server, or it answers in a way we cannot use."""

    exit_code = ExitCode.CONNECTION


class AuthError(ConnectionProblem):
    """Cannot log in, or the session expired and cannot be renewed."""


class ServerError(SyncError):
    """A request failed for good (after any retries); carries status and the server's words."""

    exit_code = ExitCode.ROWS_NOT_DONE

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class AmbiguousWrite(SyncError):
    """A write went out but its answer never came: it may or may not have been committed.

    Raised by the client instead of repeating the write; the executor checks the server
    before deciding whether to send it again."""

    exit_code = ExitCode.ROWS_NOT_DONE
