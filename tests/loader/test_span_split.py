"""The size check of a large sheet, its halves scanned by this process and a forked one: the
same span as one pass, whatever half holds the far cell, and one pass when it may not fork."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from sync import loader
from sync.errors import InputError

PART = "xl/worksheets/sheet1.xml"


def _big_sheet(fx: ModuleType, path: Path, *, far_at: float, odd_at: float) -> Path:
    """A sheet of about 12 MB of XML (enough to be split), with a cell at XFD1048576 at
    ``far_at`` of its rows and, at ``odd_at``, a row and a cell without a reference."""
    count = 60_000
    far, odd = int(count * far_at), int(count * odd_at)
    rows = [fx._text_row(1, fx._REQUIRED_HEADERS)]
    for number in range(2, count):
        if number == far:
            rows.append(fx._row_xml(number, [fx._text_cell("XFD1048576", "stray")]))
        elif number == odd:
            rows.append('<row><c t="inlineStr"><is><t>no reference</t></is></c></row>')
        else:
            rows.append(fx._text_row(number, [fx.PRODUCTS[0], fx.PROCESSES[0], str(number)]))
    fx._raw_xlsx(path, fx._sheet_xml("".join(rows)))
    return path


def _one_pass(path: Path) -> loader._Span:
    with zipfile.ZipFile(path) as package:
        return loader._part_span(package, PART, loader._ANY_REF)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Allow the split (pytest may run threads of its own) and count the forks."""
    made: list[int] = []
    real_fork = os.fork

    def counted_fork() -> int:
        made.append(1)
        return real_fork()

    monkeypatch.setattr(loader, "_may_fork", lambda: True)
    monkeypatch.setattr(os, "fork", counted_fork)
    return made


@pytest.mark.parametrize("far_at, odd_at", [(0.9, 0.1), (0.1, 0.9), (0.5, 0.501)])
def test_two_halves_give_the_span_of_one_pass(fx: ModuleType, tmp_path: Path, forks: list[int],
                                              far_at: float, odd_at: float) -> None:
    path = _big_sheet(fx, tmp_path / "big.xlsx", far_at=far_at, odd_at=odd_at)
    with zipfile.ZipFile(path) as package:
        assert package.getinfo(PART).file_size > loader._SPLIT_SCAN_MIN_BYTES
        half = package.getinfo(PART).file_size // 2
        first = loader._part_span(package, PART, loader._ANY_REF, stop=half)
        second = loader._part_span(package, PART, loader._ANY_REF, start=half)
        split = loader._xlsx_span(package, PART, loader._ANY_REF)
    whole = _one_pass(path)
    assert (whole.rows, whole.columns) == (1_048_576, 16_384)
    assert (whole.unnamed_rows, whole.unnamed_cells) == (1, 1)
    assert first.unnamed_rows + second.unnamed_rows == 1     # each piece scanned once
    assert max(first.rows, second.rows) == whole.rows
    assert split == whole
    assert len(forks) == 1


def test_the_far_cell_is_refused_in_either_half(fx: ModuleType, tmp_path: Path,
                                                forks: list[int]) -> None:
    for far_at in (0.1, 0.9):
        path = _big_sheet(fx, tmp_path / f"far_{far_at}.xlsx", far_at=far_at, odd_at=0.5)
        with pytest.raises(InputError, match="spans 1,048,577 rows by 16,385 columns"):
            loader.load_sheet(path)
    assert len(forks) == 4       # per file, the quick pass and the exact one, each split


def test_no_fork_with_other_threads_or_a_small_sheet(fx: ModuleType, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "fork", lambda: pytest.fail("forked"))
    monkeypatch.setattr(loader.threading, "active_count", lambda: 2)
    path = _big_sheet(fx, tmp_path / "big.xlsx", far_at=0.9, odd_at=0.1)
    with zipfile.ZipFile(path) as package:
        assert loader._xlsx_span(package, PART, loader._ANY_REF) == _one_pass(path)
    monkeypatch.setattr(loader.threading, "active_count", lambda: 1)
    small = tmp_path / "small.xlsx"
    fx.write_far_cell(small)
    with pytest.raises(InputError, match="spans 1,048,576 rows"):
        loader.load_sheet(small)


def test_a_child_that_gives_no_answer_leaves_its_half_to_the_parent(
        fx: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _big_sheet(fx, tmp_path / "big.xlsx", far_at=0.9, odd_at=0.1)
    silent = subprocess.Popen([sys.executable, "-c", "pass"])   # a child that writes nothing
    monkeypatch.setattr(loader, "_may_fork", lambda: True)
    monkeypatch.setattr(os, "fork", lambda: silent.pid)
    with zipfile.ZipFile(path) as package:
        span = loader._xlsx_span(package, PART, loader._ANY_REF)
    assert span == _one_pass(path)
    assert (span.rows, span.columns) == (1_048_576, 16_384)
