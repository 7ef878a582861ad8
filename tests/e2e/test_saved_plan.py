"""Saved plans end to end over loopback: ``plan --save-plan`` in the afternoon, ``apply --plan``
at night, sending exactly the approved writes and nothing else."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from sheetkit import UNGUESSABLE_PIN, server_rows, token_connection, write_sheet

from sync import api, savedplan, schema
from sync.cli import main
from sync.diff import Mode
from sync.emulator import DEMO_BADGE, DEMO_TOKEN, EmulatorConfig, generate_dataset
from sync.journal import read_journal, record_json
from sync.model import Action

_FIELDS = ("id", *(f.name for f in schema.WRITABLE))


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def connection(emu) -> list[str]:
    return ["--base-url", emu.base_url, "--token", DEMO_TOKEN]


def _rows(store) -> list[dict]:
    return [{k: r.get(k) for k in _FIELDS} for r in server_rows(store)]


def _by_id(store) -> dict[str, dict]:
    return {r["id"]: r for r in server_rows(store)}


def _sheet(tmp_path: Path, store, name: str = "routing.xlsx") -> tuple[Path, dict]:
    """A sheet of the server's lines with two minute changes, one new line (line 50 of the
    first product) and, for mirror, the last line of the second product left out."""
    rows = _rows(store)
    products = sorted({r["product_id"] for r in rows})
    first = [r for r in rows if r["product_id"] == products[0]]
    second = [r for r in rows if r["product_id"] == products[1]]
    first[0]["product_minutes"] = Decimal("11.5")
    second[0]["product_minutes"] = Decimal("22")
    dropped = second[-1]
    kept = [r for r in rows if r is not dropped]
    new = {"product_id": products[0], "line_number": 50,
           "process_id": store.processes()[0]["process_id"], "description": "approved"}
    path = write_sheet(tmp_path / name, [*kept, new])
    return path, {"updated": [first[0]["id"], second[0]["id"]], "deleted": dropped["id"],
                  "product": products[0], "process": new["process_id"]}


def _save(emu, sheet: Path, plan: Path, *extra: str):
    result = run("plan", str(sheet), "--save-plan", str(plan), "--mode", "mirror", "--json",
                 *extra, *connection(emu))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["saved_plan"] == str(plan)
    return json.loads(plan.read_text(encoding="utf-8"))


def _apply(emu, plan: Path, *extra: str):
    result = run("apply", "--plan", str(plan), "--yes", "--json", *extra, *connection(emu))
    data = json.loads(result.stdout) if result.stdout.startswith("{") else None
    return result, data


def _report_statuses(report: Path) -> Counter[str]:
    ws = openpyxl.load_workbook(report)["Saved plan"]
    return Counter(row[0] for row in ws.iter_rows(min_row=2, values_only=True) if row[0])


# --------------------------------------------------------------------------- save, apply


def test_saved_plan_records_writes_server_state_sheet_and_options(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, expect = _sheet(tmp_path, emu.store)
    before = _by_id(emu.store)
    document = _save(emu, sheet, tmp_path / "p.json")
    assert emu.store.write_count == 0  # saving a plan sends nothing
    assert document["format"] == savedplan.FORMAT and document["version"] == 1
    assert document["base_url"] == emu.base_url
    assert document["sheet"]["sha256"] == savedplan.sheet_sha256(sheet)
    assert document["options"]["mode"] == "mirror" and document["options"]["scope"] == "sheet"
    assert document["tool_version"] and document["created"]
    writes = {w["action"]: [] for w in document["writes"]}
    for w in document["writes"]:
        writes[w["action"]].append(w)
    assert sorted(w["id"] for w in writes["update"]) == sorted(expect["updated"])
    assert [w["id"] for w in writes["delete"]] == [expect["deleted"]]
    (create,) = writes["create"]
    assert create["body"]["line_number"] == 50 and create["server"] is None
    update = next(w for w in writes["update"] if w["id"] == expect["updated"][0])
    assert update["body"] == {"product_minutes": "11.5"}
    # The state the write was computed from, the server's edit stamp included.
    assert update["server"]["edited"] == before[update["id"]]["edited"]
    assert update["server"]["product_minutes"] == schema.format_decimal(
        before[update["id"]]["product_minutes"])


def test_apply_sends_exactly_the_saved_writes_even_after_the_sheet_changed(emulator_thread,
                                                                           tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    # The planner keeps editing the sheet after approval: every line gets new minutes. The
    # approved plan is what is applied, not the sheet.
    edited = [{**r, "product_minutes": Decimal("99")} for r in _rows(emu.store)]
    write_sheet(sheet, edited)
    requests_before = emu.store.request_count

    result, data = _apply(emu, plan)
    assert result.exit_code == 0, result.output
    assert emu.store.writes_by_method == Counter({"PUT": 2, "POST": 1, "DELETE": 1})
    assert data["counts"] == {"updated": 2, "created": 1, "deleted": 1}
    after = _by_id(emu.store)
    assert after[expect["updated"][0]]["product_minutes"] == Decimal("11.5")
    assert after[expect["updated"][1]]["product_minutes"] == Decimal("22")
    assert expect["deleted"] not in after
    assert not any(r["product_minutes"] == Decimal("99") for r in after.values())
    assert [r for r in after.values() if r["line_number"] == 50][0]["description"] == "approved"
    # One login, the scoped check of the lines, the writes and their read-back: no listing of
    # the whole table, no second plan.
    assert emu.store.request_count - requests_before < 12
    # The journal beside the input records the writes as any apply's.
    journal = [e for e in read_journal(Path(data["journal"])) if e["event"] == "attempt"]
    assert Counter(e["action"] for e in journal) == {"update": 2, "create": 1, "delete": 1}
    assert Path(data["report"]) == tmp_path / "routing.report.xlsx"
    assert _report_statuses(Path(data["report"])) == {"updated": 2, "created": 1, "deleted": 1}


def test_apply_with_the_plans_own_sheet_works_and_with_another_is_refused(emulator_thread,
                                                                          tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    other = write_sheet(tmp_path / "other.xlsx", _rows(emu.store))
    refused = run("apply", str(other), "--plan", str(plan), "--yes", *connection(emu))
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        "error: other.xlsx is not the sheet the plan was made from (its checksum differs): "
        "apply the plan alone, or plan the sheet again (nothing sent).")
    assert emu.store.write_count == 0
    done = run("apply", str(sheet), "--plan", str(plan), "--yes", *connection(emu))
    assert done.exit_code == 0, done.output
    assert emu.store.write_count == 4


def test_a_line_changed_since_the_plan_is_stale_and_the_rest_goes_on(emulator_thread,
                                                                     tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    # A supervisor edits one approved line, and moves another line of that product (one the
    # plan leaves alone) onto the number the plan creates.
    changed = expect["updated"][0]
    emu.store.update_line({"id": changed, "description": "supervisor"}, user="sup")
    mover = next(r for r in _rows(emu.store)
                 if r["product_id"] == expect["product"] and r["id"] != changed)
    emu.store.update_line({"id": mover["id"], "line_number": "50"}, user="sup")

    result, data = _apply(emu, plan)
    assert result.exit_code == 1
    assert data["counts"] == {"stale": 2, "updated": 1, "deleted": 1}
    # Only the two writes whose lines are as the plan saw them reach the server.
    assert emu.store.writes_by_method == Counter({"PUT": 1, "DELETE": 1})
    line = _by_id(emu.store)[changed]
    assert line["description"] == "supervisor"  # the supervisor's edit stands
    assert line["product_minutes"] != Decimal("11.5")  # the approved write was not sent
    stale = [p for p in data["problems"] if ": stale: " in p]
    assert any("changed on the server" in p and "by sup" in p and "description" in p
               for p in stale)
    assert any("line 50 of this product was taken on the server" in p for p in stale)
    assert "stale" in result.stderr


async def test_library_applies_a_saved_plan_and_marks_a_deleted_line_stale(emulator,
                                                                           tmp_path):
    emu = await emulator(dataset=generate_dataset(3, 2))
    rows = _rows(emu.store)
    for row in rows[:2]:
        row["description"] = "approved"
    sheet = write_sheet(tmp_path / "routing.csv", rows)
    conn = token_connection(emu.base_url)
    planned = await api.plan_async(sheet, conn, api.SyncOptions(mode=Mode.UPSERT))
    saved = savedplan.save_plan(planned, tmp_path / "p.json")
    loaded = savedplan.load_plan(tmp_path / "p.json")
    assert [w.body for w in loaded.writes] == [{"description": "approved"}] * 2
    emu.store.delete_line(rows[0]["id"])

    result = await savedplan.apply_saved(loaded, conn, journal=tmp_path / "j.jsonl")
    assert result.exit_code == 1
    assert [s.status for s in result.steps] == ["stale", "updated"]
    assert "deleted from the server after the plan was saved" in result.steps[0].message
    assert _by_id(emu.store)[rows[1]["id"]]["description"] == "approved"
    assert saved.sheet_sha256 == loaded.sheet_sha256


# --------------------------------------------------------------------------- refusals


def test_another_server_is_refused_with_one_sentence(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    elsewhere = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    result, _data = _apply(elsewhere, plan)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: The plan was made against {emu.base_url}, not {elsewhere.base_url}: a plan "
        f"is applied only to the server it was made for (nothing sent).")
    assert emu.store.write_count == elsewhere.store.write_count == 0


def test_tampered_or_invalid_plan_is_refused_with_one_sentence(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    document = _save(emu, sheet, plan)
    document["writes"][0]["body"] = {"description": "slipped in"}
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(document), encoding="utf-8")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(plan.read_text(encoding="utf-8")[:200], encoding="utf-8")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}), encoding="utf-8")
    cases = {
        tampered: "tampered.json is not a saved plan that can be applied: it was changed "
                  "after it was saved (its digest does not match); save the plan again "
                  "instead of editing it; nothing sent.",
        truncated: "truncated.json is not a saved plan: it is not valid JSON",
        other: "other.json is not a saved plan that can be applied: it is not a "
               "flowtrac-sync plan",
        tmp_path / "missing.json": "does not exist (nothing sent).",
    }
    for path, sentence in cases.items():
        result, _data = _apply(emu, path)
        assert result.exit_code == 2, path
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
        assert sentence in result.stderr, result.stderr
    # A hand edit that keeps the digest but breaks the content is caught as well.
    document = json.loads(plan.read_text(encoding="utf-8"))
    number, create = next((n, w) for n, w in enumerate(document["writes"], 1)
                          if w["action"] == "create")
    create["body"]["line_number"] = "one"
    document["digest"] = savedplan._digest(document)
    plan.write_text(json.dumps(document), encoding="utf-8")
    result, _data = _apply(emu, plan)
    assert result.exit_code == 2
    assert f"write {number}'s body holds a bad line_number" in result.stderr
    assert emu.store.write_count == 0


def test_plan_over_the_delete_limit_is_not_saved(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(2, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    result = run("plan", str(sheet), "--save-plan", str(plan), "--mode", "mirror",
                 "--max-delete", "0", *connection(emu))
    assert result.exit_code == 3
    assert "the plan was not saved" in result.stderr
    assert not plan.exists()


# --------------------------------------------------------------------------- secrets, report


def test_plan_json_holds_no_secret(emulator_thread, tmp_path):
    emu = emulator_thread(EmulatorConfig(users={DEMO_BADGE: UNGUESSABLE_PIN}),
                          generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    by_badge = tmp_path / "badge.json"
    result = run("plan", str(sheet), "--save-plan", str(by_badge), "--base-url", emu.base_url,
                 "--badge", DEMO_BADGE, "--pin", UNGUESSABLE_PIN)
    assert result.exit_code == 0, result.output
    by_token = tmp_path / "token.json"
    _save(emu, sheet, by_token)
    for path in (by_badge, by_token):
        text = path.read_text(encoding="utf-8")
        assert UNGUESSABLE_PIN not in text and DEMO_TOKEN not in text
        assert "cookie" not in text.lower() and "user=" not in text


def test_report_goes_beside_the_plan_once_the_input_is_gone(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    night = tmp_path / "night"
    night.mkdir()
    plan = night / "approved.json"
    _save(emu, sheet, plan)
    sheet.unlink()
    result, data = _apply(emu, plan)
    assert result.exit_code == 0, result.output
    assert Path(data["report"]) == night / "approved.report.xlsx"
    assert Path(data["journal"]) == night / "approved.journal.jsonl"
    assert _report_statuses(night / "approved.report.xlsx") == {
        "updated": 2, "created": 1, "deleted": 1}
    # Applied again: every line it wrote has changed since, so nothing is sent twice.
    again, data = _apply(emu, plan)
    assert again.exit_code == 1 and data["counts"] == {"stale": 4}
    assert Path(data["report"]) == night / "approved.report-2.xlsx"


def test_apply_plan_asks_on_a_terminal_and_refuses_plan_options(emulator_thread, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr("sync.cli._stdin_is_terminal", lambda: True)
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    host = emu.base_url.split("/")[2]
    no = run("apply", "--plan", str(plan), *connection(emu), input="n\n")
    assert no.exit_code == 0
    assert f"Apply the 4 writes of p.json to {host}? [y/N]" in no.stderr
    assert emu.store.write_count == 0
    mixed = run("apply", "--plan", str(plan), "--mode", "upsert", "--yes", *connection(emu))
    assert mixed.exit_code == 2
    assert mixed.stderr.strip() == ("error: --mode cannot be given with --plan: the saved plan "
                                    "keeps the options it was made with (nothing sent)")
    neither = run("apply", "--yes", *connection(emu))
    assert neither.exit_code == 2 and "apply needs FILE, or --plan P.json" in neither.stderr
    assert emu.store.write_count == 0


def test_undo_reverts_a_saved_plans_run_from_its_journal(emulator_thread, tmp_path):
    emu = emulator_thread(dataset=generate_dataset(4, 3))
    sheet, _expect = _sheet(tmp_path, emu.store)
    before = _rows(emu.store)
    plan = tmp_path / "p.json"
    _save(emu, sheet, plan)
    result, data = _apply(emu, plan)
    assert result.exit_code == 0, result.output
    undone = run("undo", data["journal"], "--yes", *connection(emu))
    assert undone.exit_code == 0, undone.output
    # The deleted line comes back with a new id: compare the lines without their ids.
    assert _without_ids(_rows(emu.store)) == _without_ids(before)


def _without_ids(rows: list[dict]) -> list[dict]:
    lines = [{k: v for k, v in r.items() if k != "id"} for r in rows]
    return sorted(lines, key=lambda r: (r["product_id"], r["line_number"]))


def _delete_then_create(store, base_url: str) -> tuple[savedplan.SavedPlan, dict]:
    """A saved plan that deletes line 3 of a product and creates a new line 3 in its place."""
    line = next(r for r in server_rows(store) if r["line_number"] == 3)
    product = line["product_id"]
    server = record_json({k: v for k, v in line.items() if k in (*_FIELDS, "edited")})
    body = {"product_id": product, "line_number": 3, "process_id": line["process_id"],
            "description": "in its place"}
    writes = [savedplan.SavedWrite(Action.DELETE, None, line["id"], product, 3, {}, {}, server),
              savedplan.SavedWrite(Action.CREATE, 9, None, product, 3, body, {}, None)]
    seen = {r["id"]: r["line_number"] for r in server_rows(store) if r["product_id"] == product}
    return savedplan.SavedPlan(base_url, None, "0" * 64, api.SyncOptions(), writes,
                               {product: seen}), line


async def test_a_create_waits_for_the_line_number_its_plan_frees(emulator):
    emu = await emulator(dataset=generate_dataset(2, 3))
    conn = token_connection(emu.base_url)
    saved, line = _delete_then_create(emu.store, emu.base_url)
    done = await savedplan.apply_saved(saved, conn)
    assert [s.status for s in done.steps] == ["deleted", "created"]

    emu2 = await emulator(dataset=generate_dataset(2, 3))
    saved, line = _delete_then_create(emu2.store, emu2.base_url)
    emu2.store.update_line({"id": line["id"], "description": "kept"}, user="sup")
    stale = await savedplan.apply_saved(saved, token_connection(emu2.base_url))
    assert [s.status for s in stale.steps] == ["stale", "stale"]
    assert stale.steps[1].message == (f"line 3 of this product is still held by line "
                                      f"{line['id']}, whose own write is stale; not written")
    assert emu2.store.write_count == 0
