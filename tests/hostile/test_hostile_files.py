"""Hostile files: every malformed input ends in one short message (exit 2) or in row errors,
in bounded memory and time, with nothing written to the server.

The committed corpus is tests/data/bad/ (tests/data/make_fixtures.py writes it); files too big
to commit (five million empty lines, a million columns, a bomb just under the unpack limit) or
that git cannot hold (a symlink loop) are made here.  ``validate`` runs in a child process
(validate_driver.py) so that a reader crash or a memory blow-up fails the test instead of
killing pytest."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import openpyxl
import pytest
from click.testing import CliRunner

from sync.cli import main as cli
from sync.emulator import DEMO_TOKEN, generate_dataset

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "bad"
DRIVER = Path(__file__).with_name("validate_driver.py")
#: Peak memory allowed to a child process validating one hostile file.
MAX_RSS_MB = 600
#: Wall time allowed to one file.
MAX_SECONDS = 20

#: name -> (exit code, words the message or a row error must hold).  Files of the corpus not
#: named here are the loader's own (tests/loader/test_loader_bad_files.py): each exits 2.
HOSTILE = {
    "zip_bomb.xlsx": (2, "holds a part packed more than 100 times tighter than any real"),
    "far_cell.xlsx": (2, "spans 1,048,576 rows by 16,384 columns"),
    "far_cell.xlsb": (2, "spans 1,048,576 rows by 16,384 columns"),
    "far_cell.xls": (2, 'sheet "Routing" spans 65,536 rows by 256 columns'),
    "shared_text_bomb.xls": (2, "cells hold more than 64 MB of text"),
    "entity_bomb.xlsx": (2, "is damaged and cannot be read"),
    "unclosed_quote.csv": (2, "the quote opened on line 2 is never closed"),
    "bom_only.csv": (2, "has no header line with the required columns"),
    "huge_dimension.xlsx": (1, 'C2: line_number must be a positive whole number, got "-1"'),
    "formula_errors.xlsx": (1, "B3: process_id shows the error #REF!"),
    "external_links.xlsx": (1, "C3: line_number shows the error #N/A"),
    "control_chars.xlsx": (1, "A3: product_id must be a uuid"),
    "huge_cell.xlsx": (1, "D2: description is longer than 4000 characters (1000000)"),
    "million_columns.ods": (1, 'C2: line_number must be a positive whole number, got "0"'),
    "mixed_encodings.csv": (1, 'C3: line_number must be a positive whole number, got "zwei"'),
    # made by made_files() below
    "five_million_empty_lines.csv": (1, 'C5000002: line_number must be a positive whole '
                                        'number, got "x"'),
    "million_columns.csv": (1, 'C2: line_number must be a positive whole number, got "0"'),
    "million_columns_far_value.csv": (2, "has a value in column 1,000,004, beyond the 16,384 "
                                         "columns a spreadsheet holds"),
    "huge_cell.csv": (1, "D2: description is longer than 4000 characters (1048576)"),
    # far under the unpack limit, but packed like no real sheet
    "zip_bomb_under_the_limit.xlsx": (2, "packed more than 100 times tighter"),
    "symlink_loop.csv": (2, "cannot be opened"),
}

HEADER = "product_id,process_id,line_number,description"
PRODUCT = "a0000001-0000-4000-8000-000000000001"
PROCESS = "b0000001-0000-4000-8000-000000000001"


def made_files(folder: Path, fx: ModuleType) -> list[Path]:
    """The hostile files that are made rather than committed."""
    lines = folder / "five_million_empty_lines.csv"
    lines.write_bytes(f"{HEADER}\r\n".encode() + b"\r\n" * 5_000_000
                      + f"{PRODUCT},{PROCESS},x,\r\n".encode())
    columns = folder / "million_columns.csv"
    columns.write_bytes(f"{HEADER}\r\n{PRODUCT},{PROCESS},0,".encode() + b"," * 1_000_000
                        + b"\r\n")
    far = folder / "million_columns_far_value.csv"
    far.write_bytes(f"{HEADER}\r\n{PRODUCT},{PROCESS},1,".encode() + b"," * 1_000_000
                    + b"far away\r\n")
    huge = folder / "huge_cell.csv"
    huge.write_bytes(f"{HEADER}\r\n{PRODUCT},{PROCESS},1,".encode() + b"y" * (1 << 20)
                     + b"\r\n")
    bomb = folder / "zip_bomb_under_the_limit.xlsx"
    fx.write_zip_bomb(bomb, inflated_mb=250)
    loop = folder / "symlink_loop.csv"
    os.symlink(loop, loop)
    return [lines, columns, far, huge, bomb, loop]


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory, fx: ModuleType) -> dict[str, dict]:
    """Every hostile file validated in a child process: name -> result."""
    folder = tmp_path_factory.mktemp("hostile")
    corpus = []
    for source in sorted(BAD.iterdir()):
        copy = folder / source.name  # reports are written beside the input: not in the repo
        copy.write_bytes(source.read_bytes())
        corpus.append(copy)
    files = corpus + made_files(folder, fx)
    child = subprocess.run([sys.executable, str(DRIVER), *map(str, files)],
                           capture_output=True, text=True, timeout=240)
    lines = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    results = {Path(r["file"]).name: r for r in lines if "file" in r}
    started = [Path(r["start"]).name for r in lines if "start" in r]
    assert child.returncode == 0 and len(results) == len(files), (
        f"the validate process died (code {child.returncode}) on {started[-1:]}: "
        f"{child.stderr[-2000:]}")
    return results


def test_the_corpus_has_at_least_25_files_and_every_new_one_is_expected() -> None:
    names = {p.name for p in BAD.iterdir()}
    assert len(names) >= 25
    made = {"five_million_empty_lines.csv", "million_columns.csv", "huge_cell.csv",
            "million_columns_far_value.csv", "zip_bomb_under_the_limit.xlsx",
            "symlink_loop.csv"}
    assert set(HOSTILE) - made <= names


def _all_names() -> list[str]:
    return sorted({p.name for p in BAD.iterdir()} | set(HOSTILE))


@pytest.mark.parametrize("name", _all_names())
def test_hostile_file_ends_cleanly_in_bounded_memory(name: str, validated: dict) -> None:
    result = validated[name]
    code, words = HOSTILE.get(name, (2, ""))
    assert result["exception"] is None
    assert "Traceback" not in result["stdout"] + result["stderr"]
    assert result["exit_code"] == code, result
    assert result["peak_rss_mb"] < MAX_RSS_MB, result
    assert result["seconds"] < MAX_SECONDS, result
    if code == 2:
        message = result["stderr"]
        assert message.startswith("error: ") and message.count("\n") == 1, message
        assert len(message) < 300 and words in message, message
        assert not result["stdout"]
        return
    summary = json.loads(result["stdout"])
    # Every data row is wrong somewhere, so none would be sent.
    assert summary["counts"]["valid"] == 0 and summary["counts"]["invalid"] >= 1
    assert any(words in error for error in summary["errors"]), summary["errors"]
    for error in summary["errors"]:
        assert "\n" not in error and len(error) < 300, error


def test_row_errors_reach_the_report(validated: dict, tmp_path_factory) -> None:
    """The report of a hostile file opens, and marks each of its rows invalid."""
    for name, (code, _words) in HOSTILE.items():
        if code != 1:
            continue
        folder = Path(validated[name]["file"]).parent
        report = folder / f"{Path(name).stem}.validation.xlsx"
        beside = report.with_suffix(".csv")
        if beside.exists():
            # Its rows reach past Excel's last row (blank lines count): they went to a CSV.
            text = beside.read_text(encoding="utf-8-sig")
            rows = [tuple(r) for r in csv.reader(io.StringIO(text))]
        else:
            sheet = openpyxl.load_workbook(report, read_only=True).worksheets[0]
            rows = list(sheet.iter_rows(values_only=True))
        column = rows[0].index("sync_status")
        statuses = {row[column] for row in rows[1:] if row[column]}
        assert statuses == {"invalid"}, (name, statuses)


def test_no_write_and_for_unreadable_files_no_request(emulator_thread, tmp_path) -> None:
    """apply --yes on every committed hostile file: nothing written; a file that cannot be read
    at all stops before the first request."""
    emu = emulator_thread(dataset=generate_dataset(2, 2))
    for source in sorted(BAD.iterdir()):
        copy = tmp_path / source.name
        copy.write_bytes(source.read_bytes())
        before = emu.store.request_count
        result = CliRunner().invoke(cli, ["apply", str(copy), "--yes", "--base-url",
                                          emu.base_url, "--token", DEMO_TOKEN],
                                    catch_exceptions=False)
        code = HOSTILE.get(source.name, (2, ""))[0]
        assert result.exit_code == code, (source.name, result.stderr)
        assert emu.store.write_count == 0, source.name
        if code == 2:
            assert emu.store.request_count == before, source.name
            assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
