"""The planners' web application: settings, shared state, start-up and shutdown.

``make_app(settings)`` builds the aiohttp application; ``running_web(settings)`` serves it on
a port for the duration of a block (the ``serve`` command and the browser tests use it).
With ``demo`` set, the built-in Flowtrac emulator runs in the same event loop with the demo
data, and the page works on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from sync.connection import Connection
from sync.history import default_history_path
from sync.limitedload import DEFAULT_UPLOAD_MEMORY_MB

from .archive import RunArchive, default_data_dir
from .origin import Origins
from .sessions import PLAN_ROWS_BUDGET, SessionStore

log = logging.getLogger(__name__)

DEFAULT_PORT = 8780
DEFAULT_MAX_UPLOAD_MB = 20


@dataclass(frozen=True)
class WebSettings:
    """How the page is served and which Flowtrac it works on."""

    #: The Flowtrac API base URL (normalised by ``resolve_base_url``); None with ``demo``.
    base_url: str | None = None
    insecure: bool = False
    allow_http: bool = False
    timeout_s: float = 30.0
    demo: bool = False
    #: Latency of the demo emulator's answers, to watch the progress bar move.
    demo_latency_ms: float = 0.0
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_MB * 2**20
    #: Resident memory (MB) one upload's reading may take, in its own process
    #: (``sync.limitedload``).
    upload_memory_mb: int = DEFAULT_UPLOAD_MEMORY_MB
    #: A session idle this long ends and its uploads are removed.
    session_idle_s: float = 60 * 60.0
    #: A plan older than this must be made again before it is applied.
    plan_max_age_s: float = 30 * 60.0
    #: The address the server listens on (the Host header check follows it).
    listen_host: str = "127.0.0.1"
    #: ``https://host[:port]`` where a reverse proxy serves the page: the Host and Origin
    #: checks accept exactly that, and the session cookie is Secure with https.
    public_url: str | None = None
    #: Where the private upload folder is made (default: the system's temporary folder).
    temp_parent: str | None = None
    sweep_every_s: float = 60.0
    #: A connection is closed when a request's headers take longer than this to come (after
    #: it opened, or after the previous answer), and a form answered 408 when its body pauses
    #: this long.
    stall_timeout_s: float = 60.0
    #: Signed-in sessions the page holds, and as many not signed in yet.
    max_sessions: int = 500
    #: Sheet rows of the plans kept in memory over all sessions (see sessions.PLAN_ROWS_BUDGET).
    plan_rows_budget: int = PLAN_ROWS_BUDGET
    #: Where each apply's report and journal are kept after its session ends (``serve
    #: --data-dir``; None: ``archive.default_data_dir()``, the user's data directory).
    data_dir: str | None = None
    #: The run history the page records its applies in and its History view reads (``serve
    #: --history``; None: ``sync.history.default_history_path()``).
    history: str | None = None


def resolve_base_url(company: str | None, base_url: str | None, *, allow_http: bool) -> str:
    """Check ``--company``/``--base-url`` as the command line does; the normalised base URL.

    The check needs credentials to pass, so a placeholder token stands in for them; it is
    dropped with the throwaway connection."""
    probe = Connection.from_options(company=company, base_url=base_url, token="placeholder",
                                    allow_http=allow_http)
    return probe.base_url


@dataclass
class WebState:
    settings: WebSettings
    base_url: str = ""
    store: SessionStore | None = None
    origins: Origins = field(default_factory=lambda: Origins(frozenset()))
    archive: RunArchive | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    @property
    def history_path(self) -> Path:
        """Where page applies are recorded and the History view reads."""
        return Path(self.settings.history) if self.settings.history else default_history_path()

    def sessions(self) -> SessionStore:
        if self.store is None:
            raise RuntimeError("the web application has not started")
        return self.store

    def runs(self) -> RunArchive:
        if self.archive is None:
            raise RuntimeError("the web application has not started")
        return self.archive


STATE = web.AppKey("flowtrac_web_state", WebState)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    settings = state.settings
    async with contextlib.AsyncExitStack() as stack:
        if settings.demo:
            from sync.demo import demo_dataset
            from sync.emulator import EmulatorConfig, running_emulator

            config = EmulatorConfig(latency_ms=settings.demo_latency_ms)
            emulator = await stack.enter_async_context(
                running_emulator(config, demo_dataset()))
            state.base_url = emulator.base_url
        state.archive = RunArchive(settings.data_dir or default_data_dir(), state.base_url,
                                   demo=settings.demo)
        state.archive.prepare()
        state.store = SessionStore(idle_timeout_s=settings.session_idle_s,
                                   max_sessions=settings.max_sessions,
                                   plan_rows_budget=settings.plan_rows_budget,
                                   temp_parent=settings.temp_parent)
        sweeper = asyncio.create_task(_sweep(state), name="session sweeper")
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await state.runs().close()      # also the runs of sessions that signed out
            await state.sessions().close()


async def _sweep(state: WebState) -> None:
    while True:
        await asyncio.sleep(state.settings.sweep_every_s)
        state.sessions().sweep()


def make_app(settings: WebSettings) -> web.Application:
    from .routes import MIDDLEWARES, add_routes

    if not settings.demo and not settings.base_url:
        raise ValueError("WebSettings needs a base_url (or demo=True)")
    state = WebState(settings, base_url=settings.base_url or "",
                     origins=Origins.of(settings.listen_host, settings.public_url))
    # aiohttp's keep-alive timer also runs before a connection's first request: it closes
    # connections whose headers stall.
    app = web.Application(middlewares=MIDDLEWARES,
                          handler_args={"keepalive_timeout": settings.stall_timeout_s})
    app[STATE] = state
    app.cleanup_ctx.append(_lifecycle)
    add_routes(app)
    return app


@dataclass
class RunningWeb:
    app: web.Application
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def state(self) -> WebState:
        return self.app[STATE]

    @property
    def upload_root(self) -> Path:
        return self.state.sessions().root


@contextlib.asynccontextmanager
async def running_web(settings: WebSettings, host: str = "127.0.0.1", port: int = 0,
                      *, access_log: bool = False) -> AsyncIterator[RunningWeb]:
    """Serve the page on ``host:port`` (0 picks a free port) for the duration of the block."""
    app = make_app(settings)
    runner = web.AppRunner(app, access_log=log if access_log else None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        yield RunningWeb(app, host, bound)
    finally:
        await runner.cleanup()
