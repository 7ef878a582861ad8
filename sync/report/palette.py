"""Colours of the report: one family per kind of outcome, a strong and a light shade each.

The strong shade fills the ``sync_status`` cell, the light shade the rest of the row, so a
planner can scan a long sheet by colour and filter by the status text.  Unchanged rows have no
light shade: they keep the planner's own look, so the rows something happened to stand out
(and a large, mostly unchanged sheet is reported by appending cells, not rewriting them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Shade:
    name: str
    strong: str        # RRGGBB, fill of the sync_status cell
    light: str | None  # RRGGBB, fill of the other cells of the row; None: they keep their look


GREEN = Shade("green", "C6EFCE", "EBF7E3")
BLUE = Shade("blue", "BDD7EE", "E3EEF9")
GREY = Shade("grey", "D9D9D9", None)
RED = Shade("red", "FFC7CE", "FDECEE")
ORANGE = Shade("orange", "F8CBAD", "FCE9DC")
YELLOW = Shade("yellow", "FFEB9C", "FFF7D6")

#: Fill of a cell whose value is invalid (stronger than any row shade, so it stands out).
INVALID_CELL = "FF8A8A"

# Status words (apply's outcome or plan's "would ..." wording) -> shade.  Matching ignores case
# and a leading "would ", so "would create", "created" and "create" all read green.
_SHADES: dict[str, Shade] = {
    "created": GREEN,
    "create": GREEN,
    "updated": BLUE,
    "update": BLUE,
    "unchanged": GREY,
    "gone": GREY,
    "deleted": ORANGE,
    "delete": ORANGE,
    "failed": RED,
    "fail": RED,
    "conflict": RED,
    "overwritten": RED,
    "stale": RED,
    "invalid": RED,
    "skipped": YELLOW,
    "skip": YELLOW,
    "left alone": YELLOW,
    "keep": YELLOW,
    "not run": YELLOW,
}

#: Every colour this module paints; a cell filled with one of them was painted by an earlier
#: report, so a new report may repaint or clear it (the planner's own fills are left alone).
OWN_COLOURS: frozenset[str] = frozenset(
    {INVALID_CELL}
    | {s.strong for s in _SHADES.values()}
    | {s.light for s in _SHADES.values() if s.light}
)


@lru_cache(maxsize=256)
def shade_of(status: str | None) -> Shade | None:
    """The shade for a status word, or None for a blank or unknown status."""
    if not status:
        return None
    word = " ".join(str(status).lower().split())
    if word.startswith("would "):
        word = word[len("would "):]
    return _SHADES.get(word)


#: Order of statuses in the Summary counts (others follow in the order first seen).
STATUS_ORDER: tuple[str, ...] = (
    "created", "would create", "updated", "would update", "unchanged", "deleted",
    "would delete", "failed", "conflict", "overwritten", "stale", "invalid", "skipped",
    "left alone", "gone", "not run",
)
