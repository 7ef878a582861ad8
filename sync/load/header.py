"""Finding the header row, and the words the loader's messages are made of.

The header is the first row within ``HEADER_SEARCH_ROWS`` that holds every required column
(title blocks sit above it); the row that came closest is named when none does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sync import schema
from sync.errors import InputError

#: How far down a sheet the header row is looked for (title blocks sit above it).
HEADER_SEARCH_ROWS = 50


def required_columns() -> tuple[str, ...]:
    """The columns a header row must have.  A reference column may stand in for an id column
    (``product`` for ``product_id``, ``process`` for ``process_id``: ``schema.column_choices``)."""
    return tuple(f.name for f in schema.REQUIRED)


def missing_required(fields: Sequence[str] | set[str] | dict[str, Any]) -> list[str]:
    """Required columns absent from a header's fields, none of whose stand-ins is there
    either; the one place that rule lives."""
    return [name for name in required_columns()
            if not any(choice in fields for choice in schema.column_choices(name))]


def describe_required(name: str) -> str:
    """A required column as a message names it, with its stand-in: ``product_id (or product)``."""
    choices = schema.column_choices(name)
    return name if len(choices) == 1 else f"{name} (or {' or '.join(choices[1:])})"


def column_letter(index: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@dataclass
class Header:
    position: int                      # index in the rows searched
    texts: list[str]                   # header text of every column (blank: "")
    fields: dict[str, int]             # field name -> column index in the sheet
    warnings: list[str] = field(default_factory=list)
    fallbacks: dict[str, int] = field(default_factory=dict)  # field -> column index


@dataclass
class Closest:
    """The row that came nearest to being a header, for the error message."""

    where: str
    missing: list[str]


def cell_text(cell: Any) -> str:
    """A header cell as text: '2024' not '2024.0', dates ISO, blanks ''."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        if cell != cell:
            return ""
        if cell.is_integer():
            return str(int(cell))
    if isinstance(cell, datetime | date):
        return cell.isoformat()
    return str(cell).strip()


def header_fields(texts: Sequence[str]) -> dict[str, list[int]]:
    """Field name -> the columns whose header text means it."""
    found: dict[str, list[int]] = {}
    for index, text in enumerate(texts):
        known = schema.field_for_header(text) if text else None
        if known is not None:
            found.setdefault(known.name, []).append(index)
    return found


def find_header(rows: Sequence[Sequence[Any]], file_name: str, locate: Callable[[int], str],
                best: list[Closest]) -> Header | None:
    """The first row within HEADER_SEARCH_ROWS holding every required column, or None.

    ``locate(i)`` says where ``rows[i]`` sits ('sheet "Routing" row 4', 'line 4'); ``best``
    collects the closest miss (for the error message)."""
    for position, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        texts = [cell_text(cell) for cell in row]
        found = header_fields(texts)
        missing = missing_required(found)
        if missing:
            if len(missing) < len(required_columns()) and (
                    not best or len(missing) < len(best[0].missing)):
                best[:] = [Closest(locate(position), missing)]
            continue
        return _resolve_header(position, texts, found, f"{file_name}, {locate(position)}")
    return None


def _resolve_header(position: int, texts: list[str], found: dict[str, list[int]],
                    where: str) -> Header:
    """Map each field to one column; two columns meaning one field is an InputError."""
    fields: dict[str, int] = {}
    fallbacks: dict[str, int] = {}
    warnings: list[str] = []
    for name, columns in found.items():
        if len(columns) == 1:
            fields[name] = columns[0]
            continue
        canonical = [c for c in columns if schema.header_token(texts[c]) ==
                     schema.header_token(name)]
        if name == schema.ID.name and len(canonical) == 1 and len(columns) == 2:
            # A reconciliation report (sync_id appended) uploaded again: its own id column
            # wins, and sync_id fills the rows it leaves blank (lines the last run created).
            fields[name] = canonical[0]
            fallbacks[name] = next(c for c in columns if c != canonical[0])
            continue
        first, second = columns[0], columns[1]
        raise InputError(
            f'{where}: columns {column_letter(first)} ("{brief(texts[first])}") and '
            f'{column_letter(second)} ("{brief(texts[second])}") both mean {name}; keep only one.')
    return Header(position, texts, fields, warnings, fallbacks)


def no_header_message(subject: str, searched: str, best: list[Closest],
                      sheets: Sequence[str] | None = None) -> str:
    """'<subject> with the required columns ... in its first N <searched> (details).'"""
    wanted = and_list([describe_required(name) for name in required_columns()])
    message = f"{subject} with the required columns {wanted} in its first " \
              f"{HEADER_SEARCH_ROWS} {searched}"
    details = []
    if sheets is not None:
        details.append(f"sheets: {quoted_list(sheets)}")
    if best:
        lacking = [describe_required(name) for name in best[0].missing]
        details.append(f"closest: {best[0].where}, which lacks {and_list(lacking)}")
    if details:
        message += " (" + "; ".join(details) + ")"
    return message + "."


def and_list(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def brief(text: str, limit: int = 40) -> str:
    """User text quoted in a message: one line, not too long."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted_list(items: Sequence[str], limit: int = 12) -> str:
    """Names quoted for a message, the first ``limit`` of them."""
    shown = ", ".join(f'"{brief(item)}"' for item in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown
