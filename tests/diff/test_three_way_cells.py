"""The three-way merge's decision for one cell (``sync.mergebase.decide_cell``): the issue's
table, row by row, with values compared by meaning."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.mergebase import Cell, decide_cell


@pytest.mark.parametrize(("sheet", "base", "server", "cell"), [
    ("41.5", "5", "5", Cell.SEND),                  # only the planner changed it
    ("5", "5", "InActive", Cell.KEEP),              # only the server changed it
    ("41.5", "5", "41.5", Cell.SAME),               # both, to the same value
    ("41.5", "5", "7", Cell.CONFLICT),              # both, differently
    ("5", "5", "5", Cell.SAME),                     # nobody
    (None, "text", "text", Cell.SEND),              # a cleared cell is an edit
    (None, "text", "other", Cell.CONFLICT),
    ("text", None, None, Cell.SEND),                # a field the base had blank
])
def test_the_table(sheet, base, server, cell):
    assert decide_cell(sheet, base, server) is cell


def test_values_are_compared_by_meaning():
    assert decide_cell(Decimal("41.50"), Decimal("5"), Decimal("41.5")) is Cell.SAME
    assert decide_cell(Decimal("5.0"), Decimal("5"), Decimal("7")) is Cell.KEEP
    folded = str.casefold

    def same(a, b):
        return a is not None and b is not None and folded(a) == folded(b)

    assert decide_cell("ABC", "abc", "xyz", same) is Cell.KEEP
