"""Fixtures for the loader and validation tests: the committed files and their expected data."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


def _fixture_source() -> ModuleType:
    """tests/data/make_fixtures.py, which holds the rows the committed fixtures contain."""
    name = "flowtrac_make_fixtures"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DATA / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fx() -> ModuleType:
    return _fixture_source()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
