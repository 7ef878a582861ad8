"""Every exception of flowtrac-sync, and the exit codes they carry (the table is here:
``ExitCode`` and ``EXIT_CODE_MEANINGS``; the CLI's ``--help`` and the docs' table
are made from them).

The CLI prints ``str(error)`` (one sentence) and exits with ``error.exit_code``; no traceback.
Messages never contain a token, cookie or PIN: callers build them from safe parts only.
No other module defines an exception class (``tests/test_errors.py`` checks it).

The tree, with the exit code each branch carries (a class inherits its parent's)::

    SyncError                       1  a problem the user can act on
    ├── UsageError                  2  bad options or arguments: nothing sent
    ├── InputError                  2  the input file cannot be used at all
    │   └── OutOfMemoryError        2  reading an upload took more memory than allowed
    ├── SafetyLimitError            3  a safety limit stopped the run: nothing sent
    │   └── WriterBusyError         3  another run is writing to the same Flowtrac
    ├── ConnectionProblemError      4  cannot reach the server, or cannot use its answers
    │   ├── AuthError               4  cannot log in, or the session cannot be renewed
    │   ├── NoLoginPageError        4  404 at the login: the base URL is wrong
    │   ├── ServerUnavailableError  4  429/5xx until the retries ran out
    │   └── _ListingTooLargeError   4  (internal) a listing answer over the size guard
    ├── ServerError                 1  a request failed for good (status, server's words)
    │   ├── PermissionDeniedError   1  403
    │   └── NotFoundError           1  404
    ├── AmbiguousWriteError         1  a write's answer never came
    │   └── LostAnswerError         1  ... or came unusable (status, if any)
    ├── InvalidValueError           1  a cell or wire value that does not fit its field
    ├── CatalogUnreadableError      1  the products/processes catalog cannot be read
    ├── UnsupportedWorkbookError    1  the report's patcher cannot edit this workbook safely
    ├── NotUtf8Error                1  a worksheet part that is not UTF-8
    ├── OleDamagedError             1  an OLE2 compound file that does not hold together
    ├── FormRefusedError            1  (web page) a posted form not read further
    ├── EmulatorRefusalError        1  (emulator) a request it refuses, with its HTTP status
    └── private control flow, each caught next to where it is raised:
        _AttemptFailedError, _UnauthorizedError (client), _UploadTooLargeError,
        _PlanPutAsideError (web),
        _CsvNotUtf8Error (load.text), _BadPlanError (savedplan),
        _TooMuchTextError, _RefusedPartError (sheetsize)

Exit code 0 (``ExitCode.OK``), 5 (``WRITES_PENDING``) and 130 (``INTERRUPTED``) are not
carried by an exception: they come from a result or from Ctrl-C.  The branches marked 1 that
are caught where they are raised (the row becomes a failed or invalid row, or the run goes on)
only end a run with 1 if one escapes.
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


def fatal_exit_code(error: BaseException) -> ExitCode:
    """The exit code of a run stopped by ``error``: its own, or ``CONNECTION`` for one that
    is not a ``SyncError`` (a run's fatal error is the connection's)."""
    code = getattr(error, "exit_code", ExitCode.CONNECTION)
    return ExitCode(code)


class SyncError(Exception):
    """Base class: a problem the user can act on."""

    exit_code: ExitCode = ExitCode.ROWS_NOT_DONE


class UsageError(SyncError):
    """Bad options or arguments; nothing was sent."""

    exit_code = ExitCode.USAGE


class InputError(SyncError):
    """The input file cannot be used at all (missing, not a spreadsheet, no header ...)."""

    exit_code = ExitCode.USAGE


class OutOfMemoryError(InputError):
    """Reading the upload took more memory than its child process may have."""


class SafetyLimitError(SyncError):
    """A safety limit (e.g. --max-delete) stopped the run before anything was written."""

    exit_code = ExitCode.SAFETY_STOP


class WriterBusyError(SafetyLimitError):
    """Another run on this machine is writing to the same Flowtrac (``sync.writelock``);
    nothing was sent.  The sentence names that run: its pid, command and start time."""


class ConnectionProblemError(SyncError):
    """Cannot reach the server, or it answers in a way we cannot use."""

    exit_code = ExitCode.CONNECTION


class AuthError(ConnectionProblemError):
    """Cannot log in, or the session expired and cannot be renewed."""


class NoLoginPageError(ConnectionProblemError):
    """404 at the login: the base URL is wrong, whatever the credentials are."""


class ServerUnavailableError(ConnectionProblemError):
    """The server kept answering 429/5xx until the retries ran out (``status`` is the last
    answer's).  A run that meets it stops: a rerun continues once the server is back."""

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class _ListingTooLargeError(ConnectionProblemError):
    """A listing answer over the size guard (a ConnectionProblemError once it cannot be
    split; ``sync.client`` asks for it again in parts first)."""


class ServerError(SyncError):
    """A request failed for good (after any retries); carries status and the server's words."""

    exit_code = ExitCode.ROWS_NOT_DONE

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class PermissionDeniedError(ServerError):
    """403: the credentials may not do this (e.g. read the product list)."""


class NotFoundError(ServerError):
    """404: no such record (for DELETE: already gone)."""


class AmbiguousWriteError(SyncError):
    """A write went out but its answer never came: it may or may not have been committed.

    Raised by the client instead of repeating the write; the executor checks the server
    before deciding whether to send it again."""

    exit_code = ExitCode.ROWS_NOT_DONE


class LostAnswerError(AmbiguousWriteError):
    """A write went out and no usable answer came back; ``status`` is the gateway's, if any."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class InvalidValueError(SyncError):
    """A cell or wire value that does not fit its field; the message is a planner's sentence."""


class CatalogUnreadableError(SyncError):
    """The catalog cannot be read with this login; ``str()`` is the server's refusal."""


class UnsupportedWorkbookError(SyncError):
    """The workbook uses something the report's patcher does not edit safely."""


class NotUtf8Error(SyncError):
    """A worksheet part declares another encoding (or a UTF-16 byte order mark)."""


class OleDamagedError(SyncError):
    """The OLE2 compound file's structure does not hold together."""


class FormRefusedError(SyncError):
    """The web page's form is not read further; ``status`` and ``text`` make the answer."""

    def __init__(self, answer: tuple[int, str]) -> None:
        status, text = answer
        super().__init__(text)
        self.status = status
        self.text = text


class EmulatorRefusalError(SyncError):
    """A request the emulator refuses; ``str()`` is the sentence sent as ``{"error": ...}``."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- private control flow

class _AttemptFailedError(SyncError):
    """One attempt of a request failed in a way that may be retried (``sync.client``)."""

    def __init__(self, reason: str, *, may_have_acted: bool, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.may_have_acted = may_have_acted
        self.status = status
        self.retry_after = retry_after


class _UnauthorizedError(SyncError):
    """A 401 answer (``sync.client``: triggers a re-login)."""


class _UploadTooLargeError(SyncError):
    """An uploaded file over the web page's limit; ``name`` is the file's."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class _PlanPutAsideError(SyncError):
    """(web page) An upload's plan was put aside to save memory: plan the stored file again."""


class _CsvNotUtf8Error(SyncError):
    """pyarrow met bytes that are not UTF-8: the file is decoded first (Windows-1252)."""


class _BadPlanError(SyncError):
    """The document is not a saved plan this version can apply (what is wrong, in words)."""


class _TooMuchTextError(SyncError):
    """A sheet's text count passed the limit: no need to read further (``sync.sheetsize``)."""


class _RefusedPartError(SyncError):
    """A part ``sync.sheetsize`` will not read (a document type declaration)."""
