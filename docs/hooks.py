"""MkDocs hook: pages that say what the code defines are filled from the code.

``<!-- exit-codes -->`` becomes the table of ``sync.errors.ExitCode`` with each code's
meaning, so that the docs, the CLI's help and the code spell the codes in one place."""

from __future__ import annotations

from typing import Any

from sync.errors import EXIT_CODE_MEANINGS, ExitCode


def exit_code_table() -> str:
    rows = [f"| {code.value} | `{code.name}` | {EXIT_CODE_MEANINGS[code]} |" for code in ExitCode]
    return "\n".join(["| code | name | meaning |", "|---|---|---|", *rows])


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace("<!-- exit-codes -->", exit_code_table())
