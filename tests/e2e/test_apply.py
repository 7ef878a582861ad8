"""apply end to end over loopback: modes, faults, ordering, lost answers, convergence."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from pathlib import Path

import openpyxl
from sheetkit import product_lines, server_rows, state, token_connection, write_sheet

from sync import api, schema
from sync.connection import Connection
from sync.diff import Mode, Scope
from sync.emulator import EmulatorConfig, generate_dataset
from sync.journal import read_journal


def edited_rows(rows, rng: random.Random, processes: list[str]):
    """The server's lines with a realistic week of edits, plus new lines."""
    out = []
    for row in rows:
        row = dict(row)
        roll = rng.random()
        if roll < 0.2:
            row["product_minutes"] = Decimal(rng.randint(1, 90))
        elif roll < 0.3:
            row["active"] = "InActive" if row["active"] == "Active" else "Active"
        elif roll < 0.4:
            row["process_id"] = rng.choice(processes)
        elif roll < 0.5:
            continue  # dropped from the sheet: deleted by mirror
        out.append(row)
    products = sorted({r["product_id"] for r in rows})
    for product in products[: len(products) // 2]:
        out.append({"product_id": product, "line_number": 50, "process_id": processes[0],
                    "active": "Active", "product_minutes": Decimal("2.5"),
                    "description": "new line"})
    return out


def _sheet_rows(store):
    return [{k: r.get(k) for k in ("product_id", *(f.name for f in schema.WRITABLE))}
            for r in server_rows(store)]


async def test_upsert_then_second_run_sends_nothing(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(20, 4))
    processes = [p["process_id"] for p in emu.store.processes()]
    wanted = edited_rows(_sheet_rows(emu.store), random.Random(3), processes)
    path = write_sheet(tmp_path / "routing.xlsx", wanted)
    conn = token_connection(emu.base_url)

    result = await api.apply_async(path, conn, journal=tmp_path / "j.jsonl")
    counts = result.counts()
    assert result.exit_code == 0
    assert counts["created"] == 10 and counts.get("failed", 0) == 0
    assert counts["updated"] > 0
    # Every sheet row is on the server; lines the sheet dropped are left alone in upsert.
    assert set(state(wanted)) <= set(state(server_rows(emu.store)))
    assert len(emu.store.lines()) == 80 + 10

    writes_before = emu.store.write_count
    again = await api.apply_async(path, conn)
    assert emu.store.write_count == writes_before
    assert set(again.counts()) <= {"unchanged", "left alone"}


async def test_mirror_makes_the_server_equal_the_sheet_and_reports_every_row(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(10, 5))
    processes = [p["process_id"] for p in emu.store.processes()]
    wanted = edited_rows(_sheet_rows(emu.store), random.Random(5), processes)
    path = write_sheet(tmp_path / "routing.xlsx", wanted)
    options = api.SyncOptions(mode=Mode.MIRROR, max_delete=100)
    result = await api.apply_async(path, token_connection(emu.base_url), options)
    assert result.exit_code == 0
    assert state(server_rows(emu.store)) == state(wanted)
    deleted = [r for r in result.server_only_rows() if r.status == "deleted"]
    assert len(deleted) == 50 - (len(wanted) - 5)

    report = result.write_report(tmp_path / "report.xlsx")
    wb = openpyxl.load_workbook(report)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    status_col = header.index("sync_status") + 1
    id_col = header.index("sync_id") + 1
    statuses = [ws.cell(r, status_col).value for r in range(2, ws.max_row + 1)]
    assert len(statuses) == len(wanted)
    assert Counter(statuses) == Counter({k: v for k, v in result.counts().items()
                                         if k not in ("deleted", "left alone")})
    # Every row carries its line's id, so the next upload matches by id.
    ids = {r["id"] for r in emu.store.lines()}
    assert all(ws.cell(r, id_col).value in ids for r in range(2, ws.max_row + 1))
    assert "Server only" in wb.sheetnames


async def test_insert_and_update_modes(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(3, 2))
    rows = _sheet_rows(emu.store)
    rows[0]["product_minutes"] = Decimal(77)
    new = {**rows[1], "line_number": 9}
    path = write_sheet(tmp_path / "s.csv", [rows[0], new])
    conn = token_connection(emu.base_url)

    insert = await api.apply_async(path, conn, api.SyncOptions(mode=Mode.INSERT))
    assert insert.counts() == {"skipped": 1, "created": 1, "left alone": 1}
    assert insert.exit_code == 0
    update = await api.apply_async(path, conn, api.SyncOptions(mode=Mode.UPDATE))
    assert update.counts() == {"updated": 1, "unchanged": 1, "left alone": 1}
    minutes = {r["line_number"]: r["product_minutes"] for r in server_rows(emu.store)
               if r["product_id"] == rows[0]["product_id"]}
    assert minutes[rows[0]["line_number"]] == Decimal(77)


async def test_line_numbers_permuted_within_a_product(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(2, 4))
    records = server_rows(emu.store)
    product = records[0]["product_id"]
    lines = product_lines(records, product)
    # Rotate: 1->2, 2->3, 3->4, 4->1 (matched by id, so the server must never see a clash).
    rows = [{"id": r["id"], **{k: r.get(k) for k in ("product_id", "process_id")},
             "line_number": r["line_number"] % 4 + 1} for r in lines]
    fields = (schema.ID, schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER)
    path = write_sheet(tmp_path / "perm.xlsx", rows, fields)
    result = await api.apply_async(path, token_connection(emu.base_url))
    assert result.counts()["updated"] == 4, result.counts()
    after = {r["id"]: r["line_number"] for r in server_rows(emu.store)}
    assert all(after[r["id"]] == r["line_number"] for r in rows)
    again = await api.plan_async(path, token_connection(emu.base_url))
    assert not again.plan.writes


async def test_faults_converge_without_duplicates(emulator, tmp_path):
    """5% errors, 3% drops after commit, a 429 cap and session expiry every 100 requests."""
    pin = "pin-e2e-7qz"  # distinctive: a short numeric PIN could occur inside a uuid
    config = EmulatorConfig(error_rate=0.05, drop_rate=0.03, max_concurrency=6,
                            session_requests=100, fault_seed=11, latency_ms=2,
                            users={"1001": pin})
    emu = await emulator(config=config, dataset=generate_dataset(30, 4))
    processes = [p["process_id"] for p in emu.store.processes()]
    wanted = edited_rows(_sheet_rows(emu.store), random.Random(8), processes)
    path = write_sheet(tmp_path / "routing.xlsx", wanted)
    conn = Connection.from_options(base_url=emu.base_url, badge="1001", pin=pin)
    options = api.SyncOptions(mode=Mode.MIRROR, max_delete=200, concurrency=16)
    journal = tmp_path / "j.jsonl"

    result = await api.apply_async(path, conn, options, journal=journal)
    assert result.exit_code == 0, result.counts()
    assert state(server_rows(emu.store)) == state(wanted)
    keys = Counter((r["product_id"], r["line_number"]) for r in server_rows(emu.store))
    assert max(keys.values()) == 1
    assert result.retries > 0
    # Every write has a result line in the journal, and no secret is in it.
    entries = list(read_journal(journal))
    results = [e for e in entries if e.get("event") == "result"]
    assert len(results) >= sum(result.changes.values())
    text = journal.read_text()
    assert pin not in text and "user=" not in text

    before = emu.store.write_count
    again = await api.apply_async(path, conn, options)
    assert emu.store.write_count == before
    assert not again.plan.writes


async def test_a_lost_post_answer_never_makes_a_duplicate(emulator, tmp_path):
    # The server would accept a duplicate line, so a blind re-send would show.
    config = EmulatorConfig(drop_rate=0.5, allow_duplicate_lines=True, fault_seed=2)
    emu = await emulator(config=config, dataset=generate_dataset(4, 1))
    processes = [p["process_id"] for p in emu.store.processes()]
    products = [p["product_id"] for p in emu.store.products()]
    wanted = [{"product_id": p, "line_number": n, "process_id": processes[n],
               "product_minutes": Decimal(n)} for p in products for n in range(2, 8)]
    path = write_sheet(tmp_path / "new.csv", wanted,
                       (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID,
                        schema.BY_NAME["product_minutes"]))
    result = await api.apply_async(path, token_connection(emu.base_url),
                                   api.SyncOptions(retries=10))
    assert result.counts()["created"] == len(wanted)
    keys = Counter((r["product_id"], r["line_number"]) for r in server_rows(emu.store))
    assert max(keys.values()) == 1
    assert len(emu.store.lines()) == 4 + len(wanted)
    confirmed = [r for _i, r in result.row_status() if "lost answer" in r.message]
    assert confirmed, "with half the answers dropped some creates must have been confirmed"


async def test_post_answer_without_id_is_looked_up(emulator, tmp_path):
    emu = await emulator(config=EmulatorConfig(omit_id_in_response=True),
                         dataset=generate_dataset(1, 1))
    product = emu.store.products()[0]["product_id"]
    process = emu.store.processes()[0]["process_id"]
    path = write_sheet(tmp_path / "one.csv", [{"product_id": product, "line_number": 2,
                                               "process_id": process}],
                       (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID))
    result = await api.apply_async(path, token_connection(emu.base_url))
    (_, row), = result.row_status()
    created = [r for r in emu.store.lines() if r["line_number"] == "2"]
    assert row.status == "created" and row.sync_id == created[0]["id"]


async def test_server_refusal_is_a_failed_row_with_the_server_words(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(1, 2), config=EmulatorConfig(
        products_readable=False))
    product = emu.store.products()[0]["product_id"]
    unknown_process = "00000000-0000-4000-8000-000000000bad"
    path = write_sheet(tmp_path / "bad.csv", [{"product_id": product, "line_number": 3,
                                               "process_id": unknown_process}],
                       (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID))
    result = await api.apply_async(path, token_connection(emu.base_url))
    assert any("not checked" in w for w in result.warnings)
    (_, row), = result.row_status()
    assert row.status == "failed"
    assert "process" in row.message.lower()
    assert result.exit_code == 1


async def test_unknown_product_is_invalid_before_anything_is_sent(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(1, 1))
    process = emu.store.processes()[0]["process_id"]
    unknown = "00000000-0000-4000-8000-00000000dead"
    path = write_sheet(tmp_path / "x.csv", [{"product_id": unknown, "line_number": 1,
                                             "process_id": process}],
                       (schema.PRODUCT_ID, schema.LINE_NUMBER, schema.PROCESS_ID))
    result = await api.apply_async(path, token_connection(emu.base_url))
    (_, row), = result.row_status()
    assert row.status == "invalid"
    assert row.message == f"A2: no product with id {unknown}"
    assert emu.store.write_count == 0


async def test_scope_all_mirror_deletes_other_products(emulator, tmp_path):
    emu = await emulator(dataset=generate_dataset(3, 2))
    rows = _sheet_rows(emu.store)[:2]  # the first product only
    path = write_sheet(tmp_path / "one.csv", rows)
    conn = token_connection(emu.base_url)
    sheet_scope = await api.plan_async(path, conn, api.SyncOptions(mode=Mode.MIRROR))
    assert not sheet_scope.plan.deletes
    everything = await api.apply_async(path, conn, api.SyncOptions(mode=Mode.MIRROR,
                                                                   scope=Scope.ALL))
    assert everything.counts()["deleted"] == 4
    assert state(server_rows(emu.store)) == state(rows)


def test_report_path_default_and_journal_beside_it():
    assert api.journal_path_for(Path("/x/routing.report.xlsx")) == Path(
        "/x/routing.journal.jsonl")


async def test_report_uploaded_again_matches_new_lines_by_id(emulator, tmp_path):
    """The report's sync_id carries the ids of lines the run created, so the next upload of
    the report matches them by id even after their line number was changed."""
    emu = await emulator(dataset=generate_dataset(1, 2))
    rows = _sheet_rows(emu.store)
    records = server_rows(emu.store)
    for row, record in zip(rows, records, strict=True):
        row["id"] = record["id"]
    rows.append({**rows[0], "id": None, "line_number": 7})
    path = write_sheet(tmp_path / "routing.xlsx", rows)
    conn = token_connection(emu.base_url)
    result = await api.apply_async(path, conn)
    assert result.counts()["created"] == 1
    report = result.write_report(tmp_path / "routing.report.xlsx")

    wb = openpyxl.load_workbook(report)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    ws.cell(4, header.index("line_number") + 1).value = 8  # move the new line
    wb.save(report)
    again = await api.plan_async(report, conn)
    (item,) = again.plan.writes
    assert item.action.value == "update" and item.changes == {"line_number": (7, 8)}
