"""Fixtures of the report tests; the builders live in report/kit.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from report.kit import build_planner_workbook


@pytest.fixture
def planner_xlsx(tmp_path: Path) -> Path:
    """The planner's workbook (title block, styles, Notes, Instructions) in a temp folder."""
    return build_planner_workbook(tmp_path / "routing.xlsx")
