"""Fixtures of the round-trip tests; their helpers live in ``roundtrip_kit`` (this folder is
put on ``sys.path`` so the test modules can import it by name)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from roundtrip_kit import SEED, Edits, edit_export  # noqa: E402

from sync.emulator import Dataset, load_seed  # noqa: E402


@pytest.fixture
def seed_dataset() -> Dataset:
    return load_seed(SEED)


@pytest.fixture
def planner_edits() -> Callable[..., Edits]:
    return edit_export
