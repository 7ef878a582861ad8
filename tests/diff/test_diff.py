"""The diff is pure: sheet rows + server records -> plan (docs/matching.md)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import schema
from sync.diff import Blank, Mode, PlanOptions, Scope, changes_text, diff
from sync.model import Action, CellError, LoadedSheet, SheetRow, ValidatedSheet

P1, P2, P3 = (str(uuid.UUID(int=i, version=4)) for i in (1, 2, 3))
PROC_A, PROC_B = (str(uuid.UUID(int=i, version=4)) for i in (10, 11))
DEFAULT_PRESENT = ("product_id", "process_id", "line_number", "active", "description",
                   "product_minutes", "product_dwell_minutes")


def rec(n: int, product: str, line: int, process: str = PROC_A, **extra: Any) -> dict[str, Any]:
    record = {"id": str(uuid.UUID(int=1000 + n, version=4)), "product_id": product,
              "process_id": process, "line_number": line, "active": "Active",
              "description": None, "product_minutes": Decimal(5),
              "product_dwell_minutes": None, "edited": "2026-01-01 00:00:00"}
    record.update(extra)
    return record


def sheet(rows: list[dict[str, Any]], present: tuple[str, ...] = DEFAULT_PRESENT,
          errors: dict[int, str] | None = None, key: tuple[str, ...] = schema.DEFAULT_KEY
          ) -> ValidatedSheet:
    loaded = LoadedSheet(path=Path("x.xlsx"), file_format="xlsx", sheet_name="Sheet1",
                         header_row=1, frame=pd.DataFrame(index=range(len(rows))),
                         row_numbers=[i + 2 for i in range(len(rows))],
                         headers=list(present), letters=[chr(65 + i) for i in range(len(present))],
                         fields={name: i for i, name in enumerate(present)})
    sheet_rows = []
    for i, values in enumerate(rows):
        row = SheetRow(i, i + 2, {k: v for k, v in values.items() if k in present or k == "id"})
        if errors and i in errors:
            row.errors.append(CellError(i + 2, "line_number", "C", errors[i]))
        sheet_rows.append(row)
    return ValidatedSheet(loaded, sheet_rows, frozenset(present), key)


def row_of(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    values = {k: record.get(k) for k in DEFAULT_PRESENT}
    values.update(changes)
    return values


def actions(plan) -> list[Action]:
    return [i.action for i in plan.items]


def test_create_update_unchanged_by_key():
    r1, r2 = rec(1, P1, 1), rec(2, P1, 2)
    plan = diff(sheet([row_of(r1), row_of(r2, product_minutes=Decimal("7.5")),
                       row_of(rec(3, P1, 3))]), [r1, r2])
    assert actions(plan) == [Action.UNCHANGED, Action.UPDATE, Action.CREATE]
    update = plan.items[1]
    assert update.changes == {"product_minutes": (Decimal(5), Decimal("7.5"))}
    assert update.record_id == r2["id"]
    create = plan.items[2]
    assert create.values["line_number"] == 3 and create.values["active"] == "Active"
    assert "description" not in create.values  # blank cells are not sent on create
    assert changes_text(update.changes) == "product_minutes: 5 -> 7.5"


def test_match_by_id_moves_line_and_only_sends_changed_fields():
    r1 = rec(1, P1, 1)
    plan = diff(sheet([{"id": r1["id"], **row_of(r1, line_number=4, process_id=PROC_B)}]), [r1])
    assert actions(plan) == [Action.UPDATE]
    assert plan.items[0].changes == {"line_number": (1, 4), "process_id": (PROC_A, PROC_B)}


def test_modes_insert_and_update_skip_what_they_do_not_do():
    r1 = rec(1, P1, 1)
    rows = [row_of(r1, product_minutes=Decimal(9)), row_of(rec(2, P1, 2))]
    insert = diff(sheet(rows), [r1], PlanOptions(mode=Mode.INSERT))
    assert actions(insert) == [Action.SKIP, Action.CREATE]
    assert "the insert mode does not update" in insert.items[0].message
    update = diff(sheet(rows), [r1], PlanOptions(mode=Mode.UPDATE))
    assert actions(update) == [Action.UPDATE, Action.SKIP]
    assert "the update mode does not create" in update.items[1].message


def test_blank_cells_clear_or_keep_and_blank_active_leaves_status():
    r1 = rec(1, P1, 1, description="old", active="InActive")
    rows = [row_of(r1, description=None, active=None)]
    clear = diff(sheet(rows), [r1])
    assert clear.items[0].changes == {"description": ("old", None)}
    keep = diff(sheet(rows), [r1], PlanOptions(blank=Blank.KEEP))
    assert actions(keep) == [Action.UNCHANGED]


def test_absent_column_is_not_managed():
    r1 = rec(1, P1, 1, description="keep me")
    present = ("product_id", "process_id", "line_number")
    plan = diff(sheet([row_of(r1)], present=present), [r1])
    assert actions(plan) == [Action.UNCHANGED]


def test_conflicts_unknown_id_changed_product_stale_edit_and_duplicate_server_keys():
    r1, r2 = rec(1, P1, 1), rec(2, P2, 1)
    dup_a, dup_b = rec(3, P3, 1), rec(4, P3, 1)
    gone = str(uuid.UUID(int=99, version=4))
    rows = [{"id": gone, **row_of(r1)},
            {"id": r1["id"], **row_of(r1, product_id=P2)},
            {"id": r2["id"], **row_of(r2, description="new"), "edited": "2025-12-31 23:00:00"},
            row_of(dup_a)]
    present = DEFAULT_PRESENT + ("edited",)
    plan = diff(sheet(rows, present=present), [r1, r2, dup_a, dup_b])
    assert actions(plan) == [Action.CONFLICT] * 4
    assert "no line with id" in plan.items[0].message
    assert "product_id cannot be changed" in plan.items[1].message
    assert "changed on the server" in plan.items[2].message
    assert "2 lines on the server" in plan.items[3].message


def test_stale_edit_with_nothing_to_change_is_unchanged():
    """A rerun after our own update (edited moved on) converges instead of conflicting."""
    r1 = rec(1, P1, 1)
    rows = [{"id": r1["id"], **row_of(r1), "edited": "2025-12-31 23:00:00"}]
    plan = diff(sheet(rows, present=DEFAULT_PRESENT + ("edited",)), [r1])
    assert actions(plan) == [Action.UNCHANGED]


def test_two_rows_matching_one_record_are_both_conflicts():
    r1 = rec(1, P1, 1)
    rows = [{"id": r1["id"], **row_of(r1, line_number=5)}, row_of(r1, product_minutes=Decimal(1))]
    plan = diff(sheet(rows), [r1])
    assert actions(plan) == [Action.CONFLICT, Action.CONFLICT]
    assert "rows 2, 3" in plan.items[0].message


def test_update_onto_a_line_held_by_an_unmentioned_record_is_a_conflict():
    r1, r2 = rec(1, P1, 1), rec(2, P1, 2)
    plan = diff(sheet([{"id": r1["id"], **row_of(r1, line_number=2)}]), [r1, r2])
    assert actions(plan) == [Action.CONFLICT]
    assert "would be taken twice" in plan.items[0].message
    # In mirror mode the other record is deleted first, so the move is fine.
    mirror = diff(sheet([{"id": r1["id"], **row_of(r1, line_number=2)}]), [r1, r2],
                  PlanOptions(mode=Mode.MIRROR))
    assert actions(mirror) == [Action.UPDATE]
    assert [i.action for i in mirror.server_only] == [Action.DELETE]


def test_permutation_of_line_numbers_by_id_is_plain_updates():
    r = [rec(i, P1, i) for i in (1, 2, 3)]
    rows = [{"id": r[0]["id"], **row_of(r[0], line_number=2)},
            {"id": r[1]["id"], **row_of(r[1], line_number=3)},
            {"id": r[2]["id"], **row_of(r[2], line_number=1)}]
    plan = diff(sheet(rows), r)
    assert actions(plan) == [Action.UPDATE] * 3


def test_mirror_scope_sheet_vs_all_and_non_mirror_keeps():
    r1, r2, other = rec(1, P1, 1), rec(2, P1, 2), rec(3, P2, 1)
    rows = [row_of(r1)]
    mirror = diff(sheet(rows), [r1, r2, other], PlanOptions(mode=Mode.MIRROR))
    assert [(i.record_id, i.action) for i in mirror.server_only] == [(r2["id"], Action.DELETE)]
    everything = diff(sheet(rows), [r1, r2, other],
                      PlanOptions(mode=Mode.MIRROR, scope=Scope.ALL))
    assert {i.record_id for i in everything.deletes} == {r2["id"], other["id"]}
    upsert = diff(sheet(rows), [r1, r2, other])
    assert [i.action for i in upsert.server_only] == [Action.KEEP]


def test_invalid_row_protects_its_product_from_mirror_deletes():
    r1, r2, r3 = rec(1, P1, 1), rec(2, P1, 2), rec(3, P2, 1)
    rows = [row_of(r1), row_of(r2), row_of(r3, line_number=None)]
    rows[1]["line_number"] = None
    plan = diff(sheet(rows, errors={1: "line_number must be a positive whole number"}),
                [r1, r2, r3], PlanOptions(mode=Mode.MIRROR))
    assert actions(plan)[1] is Action.INVALID
    kept = {i.record_id: i for i in plan.server_only}
    assert kept[r2["id"]].action is Action.KEEP
    assert "row 3 of this product is invalid" in kept[r2["id"]].message


def test_invalid_row_without_product_protects_everything():
    r1, r2 = rec(1, P1, 1), rec(2, P1, 2)
    rows = [row_of(r1), {"product_id": None, "line_number": 2}]
    plan = diff(sheet(rows, errors={1: "product_id must be a uuid"}), [r1, r2],
                PlanOptions(mode=Mode.MIRROR))
    assert [i.action for i in plan.server_only] == [Action.KEEP]
    assert "cannot be told" in plan.server_only[0].message


def test_a_line_an_invalid_row_names_is_not_also_not_in_the_sheet():
    r1, r2 = rec(1, P1, 1), rec(2, P1, 2)
    rows = [row_of(r1), {**row_of(r2), "id": r2["id"], "line_number": None}]
    for mode in (Mode.UPSERT, Mode.MIRROR):
        plan = diff(sheet(rows, errors={1: "line_number must be a positive whole number"}),
                    [r1, r2], PlanOptions(mode=mode))
        assert actions(plan) == [Action.UNCHANGED, Action.INVALID]
        assert plan.server_only == []
        assert plan.in_scope == 2


def test_max_delete_guard():
    records = [rec(i, P1, i) for i in range(1, 40)]
    plan = diff(sheet([row_of(records[0])]), records, PlanOptions(mode=Mode.MIRROR))
    assert plan.delete_limit == 10 and len(plan.deletes) == 38 and plan.over_delete_limit
    assert "--max-delete 38" in plan.warnings[0]
    allowed = diff(sheet([row_of(records[0])]), records,
                   PlanOptions(mode=Mode.MIRROR, max_delete=38))
    assert not allowed.over_delete_limit


def test_custom_key():
    r1 = rec(1, P1, 1, process=PROC_A)
    rows = [row_of(r1, line_number=3)]
    plan = diff(sheet(rows, key=("product_id", "process_id")), [r1])
    assert actions(plan) == [Action.UPDATE]
    assert plan.items[0].changes == {"line_number": (1, 3)}


# --------------------------------------------------------------------------- properties

uuids = st.sampled_from([P1, P2, P3])
short_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=5)
records_strategy = st.lists(
    st.tuples(uuids, st.integers(1, 6), st.sampled_from([PROC_A, PROC_B]),
              st.sampled_from(["Active", "InActive"]),
              st.one_of(st.none(), st.decimals(0, 100, places=2)),
              st.one_of(st.none(), short_text)),
    max_size=15, unique_by=lambda t: (t[0], t[1]))


def _records(spec) -> list[dict[str, Any]]:
    return [rec(n, p, line, process=proc, active=active,
                product_minutes=None if m is None else schema.BY_NAME["product_minutes"].parse(m),
                description=schema.BY_NAME["description"].parse(d))
            for n, (p, line, proc, active, m, d) in enumerate(spec)]


@settings(max_examples=150, deadline=None)
@given(records_strategy, st.sampled_from(list(Mode)))
def test_sheet_built_from_server_is_all_unchanged(spec, mode):
    records = _records(spec)
    plan = diff(sheet([row_of(r) for r in records]), records, PlanOptions(mode=mode))
    assert all(a is Action.UNCHANGED for a in actions(plan))
    assert not plan.writes


def _apply(plan, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    server = {r["id"]: dict(r) for r in records}
    for item in plan.deletes:
        del server[item.record_id]
    for item in plan.items:
        if item.action is Action.UPDATE:
            server[item.record_id].update({k: after for k, (_b, after) in item.changes.items()})
        elif item.action is Action.CREATE:
            new_id = str(uuid.uuid4())
            server[new_id] = {"id": new_id, **item.values}
    return list(server.values())


def _state(records) -> set[tuple]:
    return {tuple(r.get(k) for k in DEFAULT_PRESENT) for r in records}


@settings(max_examples=150, deadline=None)
@given(records_strategy, records_strategy)
def test_applying_a_mirror_plan_yields_the_sheet(server_spec, sheet_spec):
    records = _records(server_spec)
    wanted = [row_of(r) for r in _records(sheet_spec)]
    for row in wanted:
        row["active"] = row["active"] or "Active"
    plan = diff(sheet(wanted), records, PlanOptions(mode=Mode.MIRROR, scope=Scope.ALL,
                                                   max_delete=1000))
    assert not [i for i in plan.items if i.action is Action.CONFLICT]
    final = _apply(plan, records)
    assert _state(final) == _state(wanted)
    # ...and a second diff against the result finds nothing to do.
    again = diff(sheet(wanted), final, PlanOptions(mode=Mode.MIRROR, scope=Scope.ALL))
    assert not again.writes


@settings(max_examples=100, deadline=None)
@given(records_strategy, records_strategy)
def test_applying_an_upsert_plan_puts_every_row_on_the_server(server_spec, sheet_spec):
    records = _records(server_spec)
    wanted = [row_of(r) for r in _records(sheet_spec)]
    plan = diff(sheet(wanted), records)
    final = _apply(plan, records)
    assert _state(wanted) <= _state(final)
    assert len(final) == len(records) + sum(a is Action.CREATE for a in actions(plan))


def test_process_changes_read_with_their_names():
    r1, r2 = rec(1, P1, 1, process=PROC_A), rec(2, P2, 1, process=PROC_B)
    r1["process"], r2["process"] = "Cutting", "Welding"
    plan = diff(sheet([row_of(r1, process_id=PROC_B), row_of(r2)]), [r1, r2])
    assert plan.process_names == {PROC_A: "Cutting", PROC_B: "Welding"}
    assert changes_text(plan.items[0].changes, plan.process_names) == (
        f"process_id: Cutting ({PROC_A}) -> Welding ({PROC_B})")
    assert changes_text(plan.items[0].changes) == f"process_id: {PROC_A} -> {PROC_B}"
