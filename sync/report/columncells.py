"""A block of a data sheet's rows as SpreadsheetML, built column by column with Arrow kernels.

Most cells of a large report are short printable ASCII text (ids, names, numbers as the
CSV reader gives them) or blank: for those the cell's XML is joined from whole columns, so a
million-row report makes no Python string per cell.  Every other cell (other text, numbers,
dates, the invalid cells with their own style) goes through ``cells.value_cell`` or whatever
the caller's ``fallback`` writes, one by one, and replaces its slot: one rule per cell kind,
wherever the cell is written.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .cells import MAX_CELL_TEXT

#: Text a cell holds exactly as it is (``cells.is_plain_text``): printable ASCII without the
#: markup characters ``&<>``, no blank at either end, not starting like a formula (``=+-@``,
#: which need the quote-prefix style) ...
_PLAIN = r"^[!-%'-*,.-;?A-~]([ -%'-;=?-~]*[!-%'-;=?-~])?$"
#: ... and nothing that looks like Excel's ``_xHHHH_`` escape.
_ESCAPE_LIKE = "_x"

#: ``fallback(row index in the block, value, cell reference) -> cell XML``
Fallback = Callable[[int, Any, str], str]


def column_cells(letter: str, values: pa.Array | Sequence[Any], rows: pa.Array,
                 attrs: pa.Array, fallback: Fallback, forced: Collection[int] = ()
                 ) -> pa.Array:
    """The cells of one column for a block of rows, as a string array ("" for a blank cell
    with no style).

    ``rows``: the sheet row numbers as text; ``attrs``: each row's `` s="N"`` style attribute
    for plain text and blanks ("" for none); ``forced``: rows whose cell always goes through
    ``fallback`` (it has a style of its own)."""
    # A block's rows mostly share one style: it is then one scalar part of each join.
    styles = pc.unique(attrs)
    attr: str | pa.Array = styles[0].as_py() if len(styles) == 1 else attrs
    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        plain = _plain(values)
        text = _joined('<c r="', letter, rows, '"', attr, ' t="inlineStr"><is><t>', values,
                       "</t></is></c>")
        cells = pc.if_else(plain, text, pa.scalar(None, pa.string()))
        blank = pc.fill_null(pc.equal(values, ""), True)   # never plain: disjoint
        if pc.any(blank).as_py():   # a blank cell is written only where it has a style
            styled = _joined('<c r="', letter, rows, '"', attr, "/>")
            if isinstance(attr, str):
                empty = styled if attr else pa.scalar("")
            else:
                empty = pc.if_else(pc.equal(attr, ""), "", styled)
            cells = pc.if_else(blank, empty, cells)
        rest = set(pc.indices_nonzero(pc.is_null(cells)).to_pylist()) | set(forced)
        if not rest:
            return cells
        rest_sorted = sorted(rest)
        picked = values.take(pa.array(rest_sorted, pa.int64())).to_pylist()
    else:
        listed = list(values)
        cells = pa.nulls(len(listed), pa.string())
        rest_sorted = list(range(len(listed)))
        picked = listed
    numbers = rows.to_pylist() if len(rest_sorted) > len(rows) // 8 else None
    replacements = [fallback(i, value, letter + (numbers[i] if numbers else rows[i].as_py()))
                    for i, value in zip(rest_sorted, picked, strict=True)]
    mask = pa.array([False] * len(cells))
    if rest_sorted:
        mask = pc.is_in(pa.array(range(len(cells)), pa.int64()),
                        value_set=pa.array(rest_sorted, pa.int64()))
    return pc.replace_with_mask(cells, mask, pa.array(replacements, pa.string()))


def _plain(values: pa.Array) -> pa.Array:
    """Which of the texts a cell holds as they are.  Most columns of a block repeat a few
    values (products, processes, statuses, users): their texts are tested once each."""
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) * 2 > len(values):
        return _plain_each(values)
    return pc.fill_null(_plain_each(encoded.dictionary).take(encoded.indices), False)


def _plain_each(values: pa.Array) -> pa.Array:
    plain = pc.and_(pc.match_substring_regex(values, _PLAIN),
                    pc.invert(pc.match_substring(values, _ESCAPE_LIKE)))
    return pc.fill_null(pc.and_(plain, pc.less_equal(pc.utf8_length(values), MAX_CELL_TEXT)),
                        False)


def _joined(*parts: str | pa.Array) -> pa.Array:
    """The parts joined row by row, neighbouring texts first joined into one scalar part (the
    kernel's cost goes by the number of parts)."""
    merged: list[str | pa.Array] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return pc.binary_join_element_wise(*merged, "")


def rows_xml(rows: pa.Array, cells: Sequence[pa.Array]) -> bytes:
    """``<row r="N">...</row>`` for each row of the block, as one UTF-8 text."""
    joined = pc.binary_join_element_wise('<row r="', rows, '">', *cells, "</row>", "")
    # A string array holds its values end to end in one buffer: that buffer, between the
    # first row's start and the last row's end, is the block's XML.
    _, offsets, data = joined.buffers()
    ends = np.frombuffer(offsets, dtype=np.int32)
    xml: bytes = data[int(ends[joined.offset]):int(ends[joined.offset + len(joined)])].to_pybytes()
    return xml
