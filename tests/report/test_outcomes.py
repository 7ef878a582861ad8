"""The report columns: a default status and id for the rows in scope, the marked rows' own,
and blanks elsewhere, read by position or a block at a time."""

from collections import Counter

from sync.model import ReportRow
from sync.report import ReportColumns
from sync.report.outcomes import MARKED

CONFLICT = ReportRow("conflict", "id-3", "", "rows 4, 5 both match", [])
WARNED = ReportRow("unchanged", None, "", "read-only cell changed")


def _columns() -> ReportColumns:
    # Frame rows 0, 2, 3, 5 are in the sheet's rows (1 and 4 were blank rows left out).
    return ReportColumns({3: CONFLICT, 5: WARNED}, positions=[0, 2, 3, 5],
                         status="unchanged", ids=["id-0", "id-2", "id-3", None])


def test_rows_in_scope_get_the_default_and_marked_rows_their_own() -> None:
    rows = _columns()
    assert rows[0] == ReportRow("unchanged", "id-0")
    assert rows[2] == ReportRow("unchanged", "id-2")
    assert rows[3] is CONFLICT and rows[5] is WARNED
    assert rows.get(1) is None and rows.get(4) is None and rows.get(99) is None
    assert list(rows) == [0, 2, 3, 5] and len(rows) == 4


def test_unmarked_rows_give_their_ids_and_every_other_row_is_left_to_a_look_of_its_own(
        ) -> None:
    rows = _columns()
    assert rows.unmarked_status == "unchanged"
    assert rows.unmarked_ids([0, 1, 2, 3, 5, 99, -1]) == [
        "id-0", MARKED, "id-2", MARKED, MARKED, MARKED, MARKED]
    assert rows.sync_ids() == ["id-3", "id-0", "id-2", "id-3"]


def test_a_block_gives_the_four_columns_and_the_marked_rows_by_offset() -> None:
    block = _columns().block(1, 6)        # frame rows 1 to 5
    assert block.status.to_pylist() == ["", "unchanged", "conflict", "", "unchanged"]
    assert block.sync_id.to_pylist() == [None, "id-2", "id-3", None, None]
    assert block.changes.to_pylist() == [""] * 5
    assert block.message.to_pylist() == ["", "", "rows 4, 5 both match", "",
                                         "read-only cell changed"]
    assert block.marked == {2: CONFLICT, 4: WARNED}


def test_a_block_past_the_last_row_in_scope_is_blank() -> None:
    block = _columns().block(6, 9)
    assert block.status.to_pylist() == ["", "", ""]
    assert block.sync_id.to_pylist() == [None, None, None]
    assert block.marked == {}


def test_counts_by_status_without_row_objects() -> None:
    assert _columns().status_counts() == Counter({"unchanged": 3, "conflict": 1})


def test_a_plain_mapping_marks_only_its_rows() -> None:
    rows = ReportColumns.of({4: CONFLICT})
    assert ReportColumns.of(rows) is rows
    assert dict(rows) == {4: CONFLICT}
    block = rows.block(3, 6)
    assert block.status.to_pylist() == ["", "conflict", ""]
    assert block.sync_id.to_pylist() == [None, "id-3", None]
    assert rows.status_counts() == Counter({"conflict": 1})
