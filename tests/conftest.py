"""Shared fixtures: an in-process Flowtrac emulator on a free loopback port.

    async def test_x(emulator):
        emu = await emulator(config=EmulatorConfig(latency_ms=5), dataset=generate_dataset(5, 3))
        ...  # emu.base_url, emu.store; everything is stopped at teardown

    def test_cli(emulator_thread):   # for click's CliRunner and other synchronous code
        emu = emulator_thread(dataset=generate_dataset(5, 3))

And the committed test data: ``data_dir`` (tests/data), ``fx`` (tests/data/make_fixtures.py,
the rows the committed files contain) and ``seed_dataset`` (the round-trip tests' seed, also
used by the undo and config tests).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from types import ModuleType

import pytest

from sync.emulator import (
    Dataset,
    EmulatorConfig,
    EmulatorThread,
    RunningEmulator,
    generate_dataset,
    load_seed,
    running_emulator,
)

StartEmulator = Callable[..., Awaitable[RunningEmulator]]
StartEmulatorThread = Callable[..., EmulatorThread]

DATA = Path(__file__).resolve().parent / "data"
#: The round-trip tests' seed: a few products and lines with names and barcodes.
SEED = Path(__file__).resolve().parent / "roundtrip" / "data" / "seed.json"


@pytest.fixture(autouse=True, scope="session")
def _data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The user's data directory (where ``serve`` keeps its run records by default) and
    state directory (the write locks of ``sync.writelock``) are temporary ones: no test
    writes into the home folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state-home")))
        yield


@pytest.fixture
def demo_dataset() -> Dataset:
    """5 products with 3 lines each over the 12 standard processes (seed 1)."""
    return generate_dataset(5, 3)


@pytest.fixture
async def emulator() -> AsyncIterator[StartEmulator]:
    """Factory: ``await emulator(config=..., dataset=...)`` -> a started RunningEmulator."""
    async with AsyncExitStack() as stack:

        async def start(
            config: EmulatorConfig | None = None, dataset: Dataset | None = None
        ) -> RunningEmulator:
            return await stack.enter_async_context(running_emulator(config, dataset))

        yield start


@pytest.fixture
def emulator_thread() -> Iterator[StartEmulatorThread]:
    """Factory: ``emulator_thread(config=..., dataset=...)`` -> a started EmulatorThread."""
    with ExitStack() as stack:

        def start(
            config: EmulatorConfig | None = None, dataset: Dataset | None = None
        ) -> EmulatorThread:
            return stack.enter_context(EmulatorThread(config, dataset))

        yield start


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


@pytest.fixture
def seed_dataset() -> Dataset:
    return load_seed(SEED)
