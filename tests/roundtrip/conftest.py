"""Fixtures of the round-trip tests; their helpers live in ``roundtrip_kit`` (this folder is
put on ``sys.path`` so the test modules can import it by name).  ``seed_dataset`` is shared
with the undo and config tests: tests/conftest.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from roundtrip_kit import Edits, edit_export  # noqa: E402


@pytest.fixture
def planner_edits() -> Callable[..., Edits]:
    return edit_export
