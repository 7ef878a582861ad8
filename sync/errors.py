"""Errors a user can cause, each carrying the exit code that SPEC.md documents.

The CLI prints ``str(error)`` (one sentence) and exits with ``error.exit_code``; no traceback.
Messages never contain a token, cookie or PIN: callers build them from safe parts only.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1


class UsageError(SyncError):
    """Bad options or arguments; nothing was sent."""

    exit_code = 2


class InputError(SyncError):
    """The input file cannot be used at all (missing, not a spreadsheet, no header ...)."""

    exit_code = 2


class SafetyLimitError(SyncError):
    """A safety limit (e.g. --max-delete) stopped the run before anything was written."""

    exit_code = 3


class ConnectionProblem(SyncError):
    """Cannot reach the server, or it answers in a way we cannot use."""

    exit_code = 4


class AuthError(ConnectionProblem):
    """Cannot log in, or the session expired and cannot be renewed."""


class ServerError(SyncError):
    """A request failed for good (after any retries); carries status and the server's words."""

    exit_code = 1

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class AmbiguousWrite(SyncError):
    """A write went out but its answer never came: it may or may not have been committed.

    Raised by the client instead of repeating the write; the executor checks the server
    before deciding whether to send it again."""

    exit_code = 1
