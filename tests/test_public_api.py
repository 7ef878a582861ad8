"""``import sync`` exposes the documented facade, and stays cheap."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import sync
from sync import errors

#: The public API, as documented in sync/__init__.py (and nothing else).
PUBLIC = [
    "AmbiguousWriteError", "ApplyResult", "AuthError", "Blank", "CatalogUnreadableError",
    "Connection", "ConnectionProblemError", "EXIT_CODE_MEANINGS", "EmulatorRefusalError",
    "ExitCode", "Exported", "FormRefusedError", "InputError", "InvalidValueError",
    "LostAnswerError", "Mode", "NoLoginPageError", "NotFoundError", "NotUtf8Error",
    "OleDamagedError", "OutOfMemoryError", "PermissionDeniedError", "PlanResult",
    "SafetyLimitError", "Scope", "ServerError", "ServerUnavailableError", "SyncError",
    "SyncOptions", "UndoResult", "UnsupportedWorkbookError", "UsageError", "ValidationResult",
    "WriterBusyError", "__version__", "apply", "apply_async", "export", "export_async", "plan",
    "plan_async", "template", "template_async", "undo", "undo_async", "validate_file",
]
FUNCTIONS = ["validate_file", "plan", "apply", "export", "template", "undo"]


def test_all_is_the_documented_list() -> None:
    assert sorted(sync.__all__) == sorted(PUBLIC)
    assert len(set(sync.__all__)) == len(sync.__all__)


def test_every_name_resolves() -> None:
    for name in sync.__all__:
        assert getattr(sync, name) is not None, name
    assert isinstance(sync.__version__, str) and sync.__version__


def test_every_public_error_is_exported() -> None:
    public_errors = {name for name, value in vars(errors).items() if isinstance(value, type)
                     and issubclass(value, BaseException) and not name.startswith("_")}
    assert public_errors <= set(sync.__all__)


def test_the_facade_functions_stay_functions_once_every_module_is_imported() -> None:
    """A submodule named like a facade function (``sync/undo.py``, ``sync/export.py``) would
    replace the function on the package as soon as it is imported."""
    for info in pkgutil.walk_packages(sync.__path__, "sync."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
    for name in FUNCTIONS:
        function, twin = getattr(sync, name), getattr(sync, f"{name}_async", None)
        assert inspect.isfunction(function) and not inspect.iscoroutinefunction(function), name
        if twin is not None:
            assert inspect.iscoroutinefunction(twin), f"{name}_async"


def test_import_sync_is_cheap() -> None:
    code = "import sys, sync; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('sync', 'pandas', 'pyarrow', 'aiohttp')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(sync.__file__).parent.parent).stdout
    assert out.strip() == "['sync']"


def test_py_typed_ships() -> None:
    assert (Path(sync.__file__).parent / "py.typed").is_file()
