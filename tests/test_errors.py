"""One error tree: every exception class lives in ``sync.errors`` under ``SyncError``."""

from __future__ import annotations

import ast
import builtins
import inspect
from pathlib import Path

import sync
from sync import errors

PACKAGE = Path(sync.__file__).parent
_BUILTIN_EXCEPTIONS = {name for name, value in vars(builtins).items()
                       if isinstance(value, type) and issubclass(value, BaseException)}
_ERROR_CLASSES = {name for name, value in vars(errors).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}


def _base_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else ast.unparse(node)


def _exception_classes(path: Path) -> list[str]:
    """Classes in ``path`` whose bases are exceptions: builtins, ``sync.errors``'s classes,
    anything spelled ``...Error``/``...Exception``, or a class of the same module that is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    known = _BUILTIN_EXCEPTIONS | _ERROR_CLASSES
    found: list[str] = []
    changed = True
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    while changed:
        changed = False
        for node in classes:
            if node.name in found:
                continue
            bases = {_base_name(b) for b in node.bases}
            if bases & (known | set(found)) or any(
                    b.endswith(("Error", "Exception", "Exit", "Interrupt")) for b in bases):
                found.append(node.name)
                changed = True
    return [f"{path.relative_to(PACKAGE.parent)}: class {name}" for name in found]


def test_no_exception_class_outside_sync_errors() -> None:
    stray = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "errors.py"
             or path.parent != PACKAGE for hit in _exception_classes(path)]
    assert stray == []


def test_the_walk_finds_exception_classes() -> None:
    hits = _exception_classes(PACKAGE / "errors.py")
    assert "sync/errors.py: class SyncError" in hits
    assert "sync/errors.py: class LostAnswerError" in hits


def test_every_exception_ends_in_error_and_derives_from_sync_error() -> None:
    for name in _ERROR_CLASSES:
        cls = getattr(errors, name)
        assert cls.__module__ == "sync.errors", name
        assert name.endswith("Error"), name
        assert issubclass(cls, errors.SyncError), name
        assert name not in _BUILTIN_EXCEPTIONS, f"{name} shadows a builtin"


def test_every_exception_has_exactly_one_parent() -> None:
    for name in _ERROR_CLASSES:
        assert len(getattr(errors, name).__bases__) == 1, name


def test_the_docstring_draws_every_class_and_each_exit_code() -> None:
    doc = inspect.getdoc(errors) or ""
    for name in _ERROR_CLASSES:
        assert name in doc, f"{name} is missing from the tree in sync.errors' docstring"
    for name in _ERROR_CLASSES - {"SyncError"}:
        if name.startswith("_") and "(internal)" not in doc.split(name)[1].split("\n")[0]:
            continue           # private control flow: listed, caught where it is raised
        line = next(line for line in doc.splitlines() if f" {name} " in f" {line} ")
        code = getattr(errors, name).exit_code
        assert f" {int(code)} " in line, (name, line)
    assert "SPEC.md" not in doc


def test_exit_codes_follow_the_branches() -> None:
    E = errors.ExitCode
    assert errors.SyncError.exit_code is E.ROWS_NOT_DONE
    assert errors.OutOfMemoryError.exit_code is E.USAGE
    assert errors.WriterBusyError.exit_code is E.SAFETY_STOP
    assert errors.ServerUnavailableError.exit_code is E.CONNECTION
    assert errors.AuthError.exit_code is E.CONNECTION
    assert errors.NotFoundError.exit_code is E.ROWS_NOT_DONE
    assert set(errors.EXIT_CODE_MEANINGS) == set(E)
