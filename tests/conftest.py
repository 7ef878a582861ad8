"""Shared fixtures: an in-process Flowtrac emulator on a free loopback port.

    async def test_x(emulator):
        emu = await emulator(config=EmulatorConfig(latency_ms=5), dataset=generate_dataset(5, 3))
        ...  # emu.base_url, emu.store; everything is stopped at teardown

    def test_cli(emulator_thread):   # for click's CliRunner and other synchronous code
        emu = emulator_thread(dataset=generate_dataset(5, 3))
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack

import pytest

from sync.emulator import (
    Dataset,
    EmulatorConfig,
    EmulatorThread,
    RunningEmulator,
    generate_dataset,
    running_emulator,
)

StartEmulator = Callable[..., Awaitable[RunningEmulator]]
StartEmulatorThread = Callable[..., EmulatorThread]


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
