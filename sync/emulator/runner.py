"""Running the emulator on a loopback port: in the caller's event loop (``running_emulator``)
or in a background thread for synchronous code (``EmulatorThread``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

from aiohttp import web

from .app import STATE, make_app
from .config import EmulatorConfig
from .dataset import Dataset
from .store import Store

# Stopping cuts in-flight requests after this long: a restart must not wait for latency sleeps.
_SHUTDOWN_TIMEOUT_S = 0.2
# aiohttp refuses request lines over 8190 bytes, as Apache and nginx do by default; 500 uuids in
# one product_id-in filter take 18.5 KB, so the emulator allows longer URLs.
MAX_REQUEST_LINE = 64 * 1024


class RunningEmulator:
    """An emulator serving on ``host:port``; ``base_url`` ends in ``/api``."""

    def __init__(self, config: EmulatorConfig, store: Store, host: str, port: int) -> None:
        self.config = config
        self.store = store
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def peak_in_flight(self) -> int:
        """Most requests in flight at once since the last (re)start."""
        runner = self._runner
        return runner.app[STATE].peak_in_flight if runner is not None else 0

    async def start(self) -> None:
        runner = web.AppRunner(
            make_app(self.config, self.store), access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT_S, max_line_size=MAX_REQUEST_LINE,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Stop and start again on the same port, as a server process restart would.

        Login sessions are lost (static tokens keep working).  With ``db_path`` the data is
        read back from the database into a new ``store``; without it the store is kept."""
        await self.stop()
        if self.config.db_path:
            self.store.close()
            self.store = Store(self.config.db_path)
        await self.start()


@asynccontextmanager
async def running_emulator(
    config: EmulatorConfig | None = None,
    dataset: Dataset | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    store: Store | None = None,
) -> AsyncIterator[RunningEmulator]:
    """Serve an emulator for the duration of the block; port 0 picks a free port.

    ``dataset`` is loaded only into an empty store, so a database from an earlier run wins."""
    config = config or EmulatorConfig()
    if store is None:
        store = Store(config.db_path)
    emulator = RunningEmulator(config, store, host, port)
    try:
        if dataset is not None and store.is_empty():
            store.load(dataset)
        await emulator.start()
        yield emulator
    finally:
        await emulator.stop()
        emulator.store.close()


class EmulatorThread:
    """An emulator in a background thread with its own event loop, for synchronous callers
    (click's CliRunner, scripts)::

        with EmulatorThread(dataset=generate_dataset(5, 3)) as emu:
            run_cli("--base-url", emu.base_url)
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        dataset: Dataset | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._dataset = dataset
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._emulator: RunningEmulator | None = None
        self._failure: BaseException | None = None

    @property
    def base_url(self) -> str:
        return self._running().base_url

    @property
    def store(self) -> Store:
        """The data; still readable after the thread stopped."""
        return self._running().store

    def start(self) -> EmulatorThread:
        self._thread = threading.Thread(target=self._serve, name="flowtrac-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def restart(self) -> None:
        """``RunningEmulator.restart`` from the caller's thread."""
        loop = self._loop
        if loop is None:            # never started
            raise RuntimeError("The emulator thread is not running.")
        asyncio.run_coroutine_threadsafe(self._running().restart(), loop).result()

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _running(self) -> RunningEmulator:
        if self._emulator is None:
            raise RuntimeError("The emulator thread is not running.")
        return self._emulator

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # handed to start() in the caller's thread
            self._failure = error
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with running_emulator(self.config, self._dataset, self._host, self._port) as emu:
            self._emulator = emu
            self._ready.set()
            await self._stop.wait()
