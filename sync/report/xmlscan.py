"""Just enough XML handling to edit a planner's workbook part without re-serialising it.

Re-serialising (ElementTree, openpyxl) renames namespace prefixes and drops what it does not
model, which Excel then reports as damage; these helpers find and replace elements in the
original text instead, so everything the report does not touch stays byte for byte.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# A start, end or empty tag, with quoted attribute values (which may hold ">").
_TAG = re.compile(r"""<(/?)([\w:.-]+)((?:\s+[\w:.-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>""")
_SKIP = re.compile(r"<!--.*?-->|<\?.*?\?>|<!\[CDATA\[.*?\]\]>", re.S)
_ATTR = re.compile(r"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
#: A cell or range reference (A1, $A$1, A1:B2): column and row of each end.
CELL_RANGE = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)(?::\$?([A-Z]{1,3})\$?(\d+))?")


@dataclass(frozen=True, slots=True)
class Child:
    """A top-level element inside a fragment: its name (without prefix) and span."""

    name: str
    start: int
    end: int


def children(fragment: str) -> list[Child]:
    """The top-level elements of an XML fragment (element content of one parent)."""
    out: list[Child] = []
    depth = 0
    start = 0
    name = ""
    pos = 0
    while True:
        lt = fragment.find("<", pos)
        if lt < 0:
            break
        skip = _SKIP.match(fragment, lt)
        if skip:
            pos = skip.end()
            continue
        tag = _TAG.match(fragment, lt)
        if tag is None:
            raise ValueError(f"unreadable XML near {fragment[lt:lt + 40]!r}")
        closing, qname, _, empty = tag.groups()
        local = qname.rsplit(":", 1)[-1]
        if closing:
            depth -= 1
            if depth == 0:
                out.append(Child(name, start, tag.end()))
        elif empty:
            if depth == 0:
                out.append(Child(local, lt, tag.end()))
        else:
            if depth == 0:
                start, name = lt, local
            depth += 1
        pos = tag.end()
    if depth:
        raise ValueError("unbalanced XML fragment")
    return out


def attrs(start_tag: str) -> dict[str, str]:
    """Attributes of a start tag (prefixes kept, values unescaped)."""
    head = _TAG.match(start_tag)
    text = head.group(3) if head else start_tag
    return {m.group(1): html.unescape(m.group(2) if m.group(2) is not None else m.group(3))
            for m in _ATTR.finditer(text)}


def insert_in_order(fragment: str, element: str, name: str, order: tuple[str, ...]) -> str:
    """Insert ``element`` (named ``name``) among the fragment's top-level children at the
    place the schema's element ``order`` gives it."""
    rank = order.index(name)
    later = set(order[rank + 1:])
    for child in children(fragment):
        if child.name in later:
            return fragment[: child.start] + element + fragment[child.start:]
    return fragment + element


def remove_children(fragment: str, names: set[str]) -> str:
    """The fragment without its top-level elements of these names."""
    for child in reversed(children(fragment)):
        if child.name in names:
            fragment = fragment[: child.start] + fragment[child.end:]
    return fragment


def find_child(fragment: str, name: str) -> Child | None:
    return next((c for c in children(fragment) if c.name == name), None)


def inner(element: str) -> tuple[str, str, str]:
    """(start tag, content, end tag) of an element; content and end are "" when empty."""
    head = _TAG.match(element)
    if head is None:
        raise ValueError("not an element")
    if head.group(4):
        return element, "", ""
    end = element.rindex("</")
    return element[: head.end()], element[head.end(): end], element[end:]


def unescape_text(text: str) -> str:
    """Element text as a value: entities and Excel's _xHHHH_ escapes decoded."""
    text = html.unescape(text)
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


# Order of a worksheet's children (ECMA-376 CT_Worksheet) and a workbook's (CT_Workbook).
WORKSHEET_ORDER: tuple[str, ...] = (
    "sheetPr", "dimension", "sheetViews", "sheetFormatPr", "cols", "sheetData", "sheetCalcPr",
    "sheetProtection", "protectedRanges", "scenarios", "autoFilter", "sortState",
    "dataConsolidate", "customSheetViews", "mergeCells", "phoneticPr", "conditionalFormatting",
    "dataValidations", "hyperlinks", "printOptions", "pageMargins", "pageSetup", "headerFooter",
    "rowBreaks", "colBreaks", "customProperties", "cellWatches", "ignoredErrors", "smartTags",
    "drawing", "legacyDrawing", "legacyDrawingHF", "drawingHF", "picture", "oleObjects",
    "controls", "webPublishItems", "tableParts", "extLst",
)
WORKBOOK_ORDER: tuple[str, ...] = (
    "fileVersion", "fileSharing", "workbookPr", "AlternateContent", "revisionPtr",
    "absPath", "workbookProtection", "bookViews", "sheets", "functionGroups",
    "externalReferences", "definedNames", "calcPr", "oleSize", "customWorkbookViews",
    "pivotCaches", "smartTagPr", "smartTagTypes", "webPublishing", "fileRecoveryPr",
    "webPublishObjects", "extLst",
)
