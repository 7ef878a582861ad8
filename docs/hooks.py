"""MkDocs hook: pages that say what the code defines are filled from the code.

``<!-- exit-codes -->`` becomes the table of ``sync.errors.ExitCode`` with each code's
meaning, so that the docs, the CLI's help and the code spell the codes in one place.

``<!-- library-root -->`` becomes the mkdocstrings directive of the library's front door:
``sync`` when ``sync/__init__.py`` names its public API in ``__all__``, else ``sync.api``."""

from __future__ import annotations

import importlib
from typing import Any

from sync.errors import EXIT_CODE_MEANINGS, ExitCode


def exit_code_table() -> str:
    rows = [f"| {code.value} | `{code.name}` | {EXIT_CODE_MEANINGS[code]} |" for code in ExitCode]
    return "\n".join(["| code | name | meaning |", "|---|---|---|", *rows])


def library_root() -> str:
    module = "sync" if getattr(importlib.import_module("sync"), "__all__", None) else "sync.api"
    return f"::: {module}"


def on_page_markdown(markdown: str, **_: Any) -> str:
    return (markdown.replace("<!-- exit-codes -->", exit_code_table())
            .replace("<!-- library-root -->", library_root()))
