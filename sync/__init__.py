"""flowtrac-sync: keep Flowtrac product-process lines in step with a spreadsheet.

The public API is what ``__all__`` names; everything else is internal.  ``import sync`` is
cheap: each name is imported on first use (``sync.api`` brings pandas and pyarrow)::

    import sync

    connection = sync.Connection.from_options(base_url=..., token=...)
    planned = sync.plan("routing.xlsx", connection, sync.SyncOptions(max_delete=10))
    if planned.exit_code == sync.ExitCode.OK:
        result = sync.apply("routing.xlsx", connection)

The facade: ``validate_file``, ``plan``/``plan_async``, ``apply``/``apply_async``,
``export``/``export_async``, ``template``/``template_async``, ``undo``/``undo_async``; the
results they return (``ValidationResult``, ``PlanResult``, ``ApplyResult``, ``Exported``,
``UndoResult``); ``Connection``, ``SyncOptions`` and its ``Mode``, ``Scope``, ``Blank``; the
errors (``sync.errors``: one tree under ``SyncError``) and ``ExitCode``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_FROM_API = ("validate_file", "plan", "plan_async", "apply", "apply_async", "export",
             "export_async", "template", "template_async", "undo", "undo_async",
             "SyncOptions", "Mode", "Scope", "Blank", "ValidationResult", "PlanResult",
             "ApplyResult")
_FROM_ERRORS = (
    "ExitCode", "EXIT_CODE_MEANINGS", "SyncError", "UsageError", "InputError",
    "OutOfMemoryError", "SafetyLimitError", "WriterBusyError", "ConnectionProblemError",
    "AuthError", "NoLoginPageError", "ServerUnavailableError", "ServerError",
    "PermissionDeniedError", "NotFoundError", "AmbiguousWriteError", "LostAnswerError",
    "InvalidValueError", "CatalogUnreadableError", "UnsupportedWorkbookError", "NotUtf8Error",
    "OleDamagedError", "FormRefusedError", "EmulatorRefusalError")
#: Public name -> the module that defines it.
_WHERE: dict[str, str] = {
    **dict.fromkeys(_FROM_API, "sync.api"),
    **dict.fromkeys(_FROM_ERRORS, "sync.errors"),
    "Connection": "sync.connection",
    "Exported": "sync.templating",
    "UndoResult": "sync.undoing",
}

__all__ = [
    "AmbiguousWriteError",
    "ApplyResult",
    "AuthError",
    "Blank",
    "CatalogUnreadableError",
    "Connection",
    "ConnectionProblemError",
    "EXIT_CODE_MEANINGS",
    "EmulatorRefusalError",
    "ExitCode",
    "Exported",
    "FormRefusedError",
    "InputError",
    "InvalidValueError",
    "LostAnswerError",
    "Mode",
    "NoLoginPageError",
    "NotFoundError",
    "NotUtf8Error",
    "OleDamagedError",
    "OutOfMemoryError",
    "PermissionDeniedError",
    "PlanResult",
    "SafetyLimitError",
    "Scope",
    "ServerError",
    "ServerUnavailableError",
    "SyncError",
    "SyncOptions",
    "UndoResult",
    "UnsupportedWorkbookError",
    "UsageError",
    "ValidationResult",
    "WriterBusyError",
    "__version__",
    "apply",
    "apply_async",
    "export",
    "export_async",
    "plan",
    "plan_async",
    "template",
    "template_async",
    "undo",
    "undo_async",
    "validate_file",
]

if TYPE_CHECKING:
    __version__: str

    from .api import (
        ApplyResult,
        Blank,
        Mode,
        PlanResult,
        Scope,
        SyncOptions,
        ValidationResult,
        apply,
        apply_async,
        export,
        export_async,
        plan,
        plan_async,
        template,
        template_async,
        undo,
        undo_async,
        validate_file,
    )
    from .connection import Connection
    from .errors import (
        EXIT_CODE_MEANINGS,
        AmbiguousWriteError,
        AuthError,
        CatalogUnreadableError,
        ConnectionProblemError,
        EmulatorRefusalError,
        ExitCode,
        FormRefusedError,
        InputError,
        InvalidValueError,
        LostAnswerError,
        NoLoginPageError,
        NotFoundError,
        NotUtf8Error,
        OleDamagedError,
        OutOfMemoryError,
        PermissionDeniedError,
        SafetyLimitError,
        ServerError,
        ServerUnavailableError,
        SyncError,
        UnsupportedWorkbookError,
        UsageError,
        WriterBusyError,
    )
    from .templating import Exported
    from .undoing import UndoResult


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowtrac-sync")
    except PackageNotFoundError:      # run from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use, and keep the name here."""
    if name == "__version__":
        value: Any = _version()
    else:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module 'sync' has no attribute {name!r}")
        value = getattr(import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
