"""Soak test (``make soak``; not part of CI): a 50,000-line mirror run under injected faults.

The emulator runs as its own process (``python -m sync.emulator``) with 500/503 errors,
answers lost after commit, a 429 concurrency cap, session expiry (renewed with badge and
PIN), latency with jitter, and duplicates allowed (so a repeated create would show).  The
sheet edits a fifth of the lines, drops some, and adds new ones; ``apply`` runs in this
process while a sampler prints throughput and memory (RSS of this process and of the
emulator) every few seconds.  Then it checks, as the chaos tests do: the server equals the
sheet, no (product_id, line_number) twice, every sheet row in the report with the status its
edit calls for, the journal agrees with the server, and a second run sends no write.

    .venv/bin/python bench/soak.py                    # 10,000 products x 5 lines
    .venv/bin/python bench/soak.py --products 400     # a quick smoke run

Exit code 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync import api, schema  # noqa: E402
from sync.client import FlowtracClient  # noqa: E402
from sync.connection import Connection
from sync.diff import Mode  # noqa: E402
from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN  # noqa: E402
from sync.executor import Progress  # noqa: E402
from sync.journal import read_journal  # noqa: E402

ID, PRODUCT, LINE = schema.ID.name, schema.PRODUCT_ID.name, schema.LINE_NUMBER.name
COLUMNS = [ID, PRODUCT, *(f.name for f in schema.WRITABLE if f.name != PRODUCT)]
FAULTS = ["--error-rate", "0.02", "--drop-rate", "0.01", "--max-concurrency", "24",
          "--latency-ms", "4", "--latency-jitter-ms", "4", "--session-requests", "3000",
          "--allow-duplicate-lines", "--fault-seed", "7"]


def rss_mb(pid: int | str = "self") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, emulator: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if emulator.poll() is not None:
            raise SystemExit("the emulator exited before it was ready")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the emulator did not start")


async def all_lines(base_url: str) -> list[dict[str, Any]]:
    connection = Connection.from_options(base_url=base_url, token=DEMO_TOKEN, timeout_s=120)
    async with FlowtracClient(connection, retries=8) as client:
        return await client.list_lines()


def state(rows: list[dict[str, Any]]) -> Counter[tuple[str, ...]]:
    names = [f.name for f in schema.WRITABLE]
    out: Counter[tuple[str, ...]] = Counter()
    for row in rows:
        values = {n: row.get(n) for n in names}
        values["active"] = values["active"] or "Active"
        out[tuple("" if values[n] is None else str(values[n]) for n in names)] += 1
    return out


def edited_sheet(lines: list[dict[str, Any]], processes: list[str],
                 rng: random.Random) -> tuple[list[dict[str, Any]], list[str], int]:
    """Rows (with what each should end as) and the number of lines dropped."""
    rows, expected, dropped = [], [], 0
    by_product: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_product.setdefault(line[PRODUCT], []).append(line)
    for product, records in sorted(by_product.items()):
        records.sort(key=lambda r: r[LINE])
        for record in records:
            roll = rng.random()
            row = {c: record.get(c) for c in COLUMNS}
            if roll < 0.02:
                dropped += 1
                continue
            if roll < 0.22:
                row["product_minutes"] = Decimal(rng.randint(1, 600)) / 4
                row["description"] = f"soak {rng.randint(0, 10**6)}"
                expected.append("updated")
            else:
                expected.append("unchanged")
            rows.append(row)
        if rng.random() < 0.5:
            top = max(r[LINE] for r in records)
            rows.append({ID: None, PRODUCT: product, LINE: top + 10,
                         "process_id": rng.choice(processes), "active": "Active",
                         "description": "soak new", "product_minutes": Decimal(3),
                         "product_dwell_minutes": None})
            expected.append("created")
    return rows, expected, dropped


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for row in rows:
            out.writerow(["" if row.get(c) is None else row.get(c) for c in COLUMNS])


class Sampler:
    """Prints progress, throughput and memory every ``every_s`` seconds."""

    def __init__(self, emulator_pid: int, every_s: float = 3.0) -> None:
        self.emulator_pid = emulator_pid
        self.every_s = every_s
        self.progress: Progress | None = None
        self.started = time.monotonic()
        self.peak_rss = 0.0
        self.peak_emulator_rss = 0.0

    def update(self, progress: Progress) -> None:
        self.progress = progress

    def line(self, label: str = "") -> str:
        mine, theirs = rss_mb(), rss_mb(self.emulator_pid)
        self.peak_rss = max(self.peak_rss, mine)
        self.peak_emulator_rss = max(self.peak_emulator_rss, theirs)
        p = self.progress
        done = f"{p.done:>6}/{p.total} writes, {p.rate:7.0f}/s" if p else "planning"
        return (f"{time.monotonic() - self.started:6.1f}s  {done}  rss {mine:6.0f} MB  "
                f"emulator rss {theirs:6.0f} MB {label}")

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            print(self.line(), flush=True)


async def apply_with_samples(path: Path, connection: Connection, options: api.SyncOptions,
                             journal: Path, sampler: Sampler) -> api.ApplyResult:
    task = asyncio.create_task(sampler.run())
    try:
        return await api.apply_async(path, connection, options, journal=journal,
                                     on_progress=sampler.update)
    finally:
        task.cancel()


def check(condition: bool, what: str, failures: list[str]) -> None:
    print(f"  {'ok  ' if condition else 'FAIL'} {what}", flush=True)
    if not condition:
        failures.append(what)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="flowtrac-soak-"))
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "sync.emulator", "--port", str(port), "--products",
         str(args.products), "--lines", str(args.lines), *FAULTS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failures: list[str] = []
    try:
        wait_for(port, emulator)
        base_url = f"http://127.0.0.1:{port}/api"
        lines = [schema.record_from_wire(r) for r in asyncio.run(all_lines(base_url))]
        processes = sorted({r["process_id"] for r in lines})
        rows, expected, dropped = edited_sheet(lines, processes, random.Random(11))
        path = folder / "soak.csv"
        write_csv(path, rows)
        writes = Counter(expected)["updated"] + Counter(expected)["created"] + dropped
        print(f"soak: {len(lines):,} lines on the server, sheet of {len(rows):,} rows, "
              f"{writes:,} writes to make ({Counter(expected)['updated']:,} updates, "
              f"{Counter(expected)['created']:,} creates, {dropped:,} deletes); faults: "
              f"{' '.join(FAULTS)}; files in {folder}", flush=True)
        connection = Connection.from_options(base_url=base_url, badge=DEMO_BADGE, pin=DEMO_PIN,
                                             timeout_s=60)
        options = api.SyncOptions(mode=Mode.MIRROR, max_delete=10 * writes,
                                  concurrency=args.concurrency, retries=8)
        sampler = Sampler(emulator.pid)
        journal = folder / "soak.journal.jsonl"
        started = time.monotonic()
        result = asyncio.run(apply_with_samples(path, connection, options, journal, sampler))
        elapsed = time.monotonic() - started
        execution = result.execution
        assert execution is not None
        print(sampler.line("(end of apply)"), flush=True)
        print(f"apply: {execution.writes_sent:,} write requests in {elapsed:.1f} s "
              f"({execution.writes_sent / elapsed:,.0f} writes/s, {result.requests:,} requests "
              f"with {result.retries:,} retries); peak rss {sampler.peak_rss:.0f} MB, emulator "
              f"{sampler.peak_emulator_rss:.0f} MB", flush=True)

        print("checks:")
        after = [schema.record_from_wire(r) for r in asyncio.run(all_lines(base_url))]
        check(result.exit_code == 0, f"apply exit code 0 (got {result.exit_code}, "
                                     f"{result.counts()})", failures)
        check(state(after) == state(rows), "the server equals the sheet", failures)
        keys = Counter((r[PRODUCT], r[LINE]) for r in after)
        check(max(keys.values()) == 1, "no (product_id, line_number) twice", failures)
        report = result.write_report(folder / "soak.report.xlsx")
        sheet = openpyxl.load_workbook(report, read_only=True).worksheets[0]
        table = sheet.iter_rows(values_only=True)
        column = next(table).index("sync_status")
        statuses = [r[column] for r in table]
        check(statuses == expected, f"all {len(rows):,} rows in the report with the right "
                                    f"status", failures)
        ids = {r[ID] for r in after}
        results = [e for e in read_journal(journal) if e.get("event") == "result"]
        created = [e["id"] for e in results if e["action"] == "create" and e["status"] == 200]
        deleted = [e["id"] for e in results if e["action"] == "delete"]
        check(len(created) == len(set(created)) == Counter(expected)["created"]
              and set(created) <= ids, "the journal's created lines exist, once each", failures)
        check(len(deleted) == dropped and not set(deleted) & ids,
              "the journal's deleted lines are gone", failures)
        second = folder / "soak.second.journal.jsonl"
        again = asyncio.run(api.apply_async(path, connection, options, journal=second))
        attempts = [e for e in read_journal(second) if e.get("event") == "attempt"]
        check(not again.plan.writes and not attempts, "a second run sends no write", failures)
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    print("soak: " + ("every check holds" if not failures else f"FAILED: {failures}"))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
