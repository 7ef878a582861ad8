"""A worksheet part's XML, read as text and cut into blocks of whole rows.

The report rewrites the planner's data sheet row by row (``sync.report.datasheet``): it
streams the part from the input file, cuts its rows here and marks the blocks whose rows it
can simply append its cells to (a few C-level passes over each block).
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from sync.errors import NotUtf8Error

__all__ = ["SPANS", "NotUtf8Error", "RowBlock", "blocks_of", "decoded_chunks", "row_block"]

_READ_BYTES = 1 << 20          # read, and cut into blocks, a megabyte at a time

_ROW_START = re.compile(r'<row(?: r="(\d+)"(?=[\s>]))?')
_ROW_SPANS = re.compile(r'<row r="\d+" spans="')
#: A row's ``spans`` attribute: a hint of the cells it holds, wrong once cells are added.
SPANS = re.compile(r'\sspans="[^"]*"')
_CELL_LETTERS = re.compile(r'<c r="([A-Z]{1,3})\d')
_UNREFERENCED_CELL = re.compile(r'<c(?! r=")[\s/>]')


def decoded_chunks(raw: IO[bytes]) -> Iterator[str]:
    """The part as text, a megabyte at a time (never all in memory)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    head = raw.read(_READ_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (
            b"encoding=" in head[:100]
            and not re.search(rb'encoding=["\']utf-?8', head[:100], re.I)):
        raise NotUtf8Error("the data sheet is not UTF-8")
    data = head
    while data:
        yield decoder.decode(data)
        data = raw.read(_READ_BYTES)
    yield decoder.decode(b"", final=True)


def blocks_of(chunks: Iterable[str]) -> Iterator[tuple[str, str]]:
    """("head", text) once, then ("rows", text) blocks of whole rows, then ("tail", text)
    once: the worksheet split at ``<sheetData>`` and ``</sheetData>``.  ValueError for a
    part without them."""
    buffer = ""
    stream = iter(chunks)
    for text in stream:
        buffer += text
        data = re.search(r"<sheetData\b[^>]*?(/?)>", buffer)
        if data:
            yield "head", buffer[: data.start()]
            buffer = buffer[data.end():]
            if data.group(1):                         # <sheetData/>: no rows at all
                yield "tail", buffer + "".join(stream)
                return
            break
    else:
        raise ValueError("the data sheet has no sheetData")
    for text in stream:
        buffer += text
        close = buffer.find("</sheetData>")
        if close >= 0:
            break
        cut = buffer.rfind("</row>")
        if cut >= 0:
            cut += len("</row>")
            yield "rows", buffer[:cut]
            buffer = buffer[cut:]
    close = buffer.find("</sheetData>")
    if close < 0:
        raise ValueError("the data sheet is cut short")
    yield "rows", buffer[:close]
    yield "tail", buffer[close + len("</sheetData>"):] + "".join(stream)


@dataclass(slots=True)
class RowBlock:
    """A block of whole rows, cut in C.

    ``parts[i]`` holds row ``i`` up to its ``</row>`` (the last part, what follows the last
    row), ``numbers[i]`` its number, ``letters`` the columns of its cells.  Only a block of
    the usual shape is cut (every row numbered first and closed by ``</row>``, every cell
    with its reference, ``spans`` only on rows, which are dropped, no CDATA); another keeps
    its ``source`` as read."""

    source: str | None
    parts: list[str]
    numbers: list[str]
    letters: frozenset[str]

    @property
    def text(self) -> str:
        return self.source if self.source is not None else "</row>".join(self.parts)


def row_block(text: str) -> RowBlock:
    if "<![CDATA[" in text:
        return RowBlock(text, [], [], frozenset())
    cut = text
    if ' spans="' in cut:          # a hint of the cells a row holds: wrong once cells are added
        if cut.count(' spans="') != len(_ROW_SPANS.findall(cut)):
            return RowBlock(text, [], [], frozenset())
        cut = SPANS.sub("", cut)
    numbers = _ROW_START.findall(cut)         # "" for a row not starting with its r
    parts = cut.split("</row>")
    letters = _cell_letters(cut)
    if len(parts) != len(numbers) + 1 or "" in numbers or letters is None:
        return RowBlock(text, [], [], frozenset())
    return RowBlock(None, parts, numbers, letters)


#: How much of a block's start shows the columns its rows use.
_LETTERS_SAMPLE = 8192


def _cell_letters(text: str) -> frozenset[str] | None:
    """The column letters of the cells in ``text``; None when a cell lacks its reference.

    Rows mostly repeat the columns of the first rows: one search finds a cell outside them
    (or one without a reference), and only then is every cell looked at."""
    known = frozenset(_CELL_LETTERS.findall(text, 0, _LETTERS_SAMPLE))
    if known and _cell_outside(known).search(text) is None:
        return known
    if _UNREFERENCED_CELL.search(text):
        return None
    return frozenset(_CELL_LETTERS.findall(text))


@functools.lru_cache(maxsize=16)
def _cell_outside(letters: frozenset[str]) -> re.Pattern[str]:
    """A cell whose reference is not in one of ``letters``' columns, or that has none."""
    columns = "|".join(sorted(letters, key=len, reverse=True))
    return re.compile(rf'<c(?! r="(?:{columns})\d)[\s/>]')
