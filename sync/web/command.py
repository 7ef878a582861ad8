"""``flowtrac-sync serve``: the planners' web page, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from sync.connection import is_loopback
from sync.errors import SyncError, UsageError
from sync.history import open_for_reading
from sync.limitedload import DEFAULT_UPLOAD_MEMORY_MB
from sync.options import SERVER_OPTIONS, TRANSPORT_OPTIONS, fill_from_config, with_options

from .app import (
    DEFAULT_MAX_UPLOAD_MB,
    DEFAULT_PORT,
    WebSettings,
    resolve_base_url,
    running_web,
)
from .archive import RunArchive, default_data_dir
from .origin import parse_public_url

#: Settings ``serve`` takes from a --config file; credentials are not among them: planners
#: sign in on the page, each as themselves.
_CONFIG_KEYS = ("company", "base_url", "insecure", "allow_http", "timeout", "public_url",
                "data_dir", "history")


def _server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return with_options(f, SERVER_OPTIONS)


def _transport_options(f: Callable[..., Any]) -> Callable[..., Any]:
    return with_options(f, TRANSPORT_OPTIONS)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback makes the page reachable "
                   "from other machines (over plain http).")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0 picks a free one).")
@click.option("--public-url", envvar="FLOWTRAC_PUBLIC_URL", metavar="URL",
              help="https://host[:port] where a reverse proxy serves the page: only that "
                   "address is answered and the session cookie is Secure.")
@click.option("--demo", is_flag=True,
              help="Run against the built-in Flowtrac emulator with demo data: no account "
                   "needed.")
@_server_options
@click.option("--config", "config_path", envvar="FLOWTRAC_CONFIG",
              type=click.Path(dir_okay=False),
              help="TOML file with these settings (its token, badge and PIN are not used).")
@_transport_options
@click.option("--max-upload-mb", type=click.IntRange(1, 1024), default=DEFAULT_MAX_UPLOAD_MB,
              show_default=True, help="Largest file the page accepts.")
@click.option("--upload-memory-mb", type=click.IntRange(256), default=DEFAULT_UPLOAD_MEMORY_MB,
              show_default=True,
              help="Memory (resident, MB) the reading of one upload may take, in a process "
                   "of its own; a sheet that needs more is refused with a message, the "
                   "server goes on.")
@click.option("--session-minutes", type=click.IntRange(1), default=60, show_default=True,
              help="A session idle this long ends; its uploads are removed.")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Folder that keeps each apply's report and journal after the session ends, "
                   "per server and user [default: ~/.local/share/flowtrac-sync/web, or under "
                   "$XDG_DATA_HOME].")
@click.option("--history", type=click.Path(dir_okay=False), envvar="FLOWTRAC_HISTORY",
              help="Run history database the page records its applies in and its History "
                   "view reads [default: $XDG_DATA_HOME/flowtrac-sync/history.sqlite3].")
@click.option("--demo-latency-ms", type=click.FloatRange(0), default=0.0,
              help="With --demo: delay each emulator answer, to watch the progress.")
@click.option("-v", "--verbose", count=True, help="Log each request to the page.")
@click.pass_context
def serve(ctx: click.Context, /, host: str, port: int, demo: bool, **params: Any) -> None:
    """Serve the planners' web page: sign in, upload a sheet, review the plan, apply it
    with live progress, download the reconciliation report."""
    logging.basicConfig(level=logging.INFO if params["verbose"] else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        settings = _settings(ctx, host, demo, params)
    except SyncError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    if settings.public_url and not is_loopback(host):
        click.secho(f"warning: listening on {host}: other machines can reach this server "
                    f"around the proxy, over plain http. Listen on 127.0.0.1 if the proxy "
                    f"runs on this machine, or let only the proxy reach the port.",
                    fg="yellow", err=True)
    elif not is_loopback(host):
        click.secho(f"warning: listening on {host}: the page is reachable from other machines, "
                    f"over plain http (sign-ins and sheets travel unencrypted). Use it only on "
                    f"a trusted network, or put it behind an https proxy.", fg="yellow",
                    err=True)
    try:
        asyncio.run(_serve(settings, host, port, access_log=bool(params["verbose"])))
    except OSError as exc:
        hint = (f"; another program uses port {port}: pick another with --port (0 picks a "
                f"free one)" if exc.errno == errno.EADDRINUSE else "")
        raise click.ClickException(f"Cannot serve on {host}:{port}: {exc.strerror}{hint}."
                                   ) from None
    except KeyboardInterrupt:
        pass
    click.echo("Stopped; uploads removed.")


def _settings(ctx: click.Context, host: str, demo: bool, params: dict[str, Any]) -> WebSettings:
    p = _with_config(ctx, params)
    if demo:
        given = [f"--{n.replace('_', '-')}" for n in ("company", "base_url")
                 if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
        if given:
            raise UsageError(f"--demo runs its own Flowtrac emulator; leave out "
                             f"{' and '.join(given)}.")
        base_url = None
    else:
        base_url = resolve_base_url(p.get("company"), p.get("base_url"),
                                    allow_http=bool(p.get("allow_http")))
    data_dir = str(Path(p["data_dir"]).expanduser()) if p.get("data_dir") else None
    # Checked now, so that an unusable folder is one sentence before the page starts.
    RunArchive(data_dir or default_data_dir(), base_url or "", demo=demo).prepare()
    history_path = str(Path(p["history"]).expanduser()) if p.get("history") else None
    if history_path:
        open_for_reading(history_path)        # a folder: one sentence before the page starts
    return WebSettings(base_url=base_url, insecure=bool(p.get("insecure")),
                       allow_http=bool(p.get("allow_http")), timeout_s=float(p["timeout"]),
                       demo=demo, demo_latency_ms=float(p["demo_latency_ms"]),
                       max_upload_bytes=int(p["max_upload_mb"]) * 2**20,
                       upload_memory_mb=int(p["upload_memory_mb"]),
                       session_idle_s=int(p["session_minutes"]) * 60.0, listen_host=host,
                       public_url=_public_origin(p.get("public_url")), data_dir=data_dir,
                       history=history_path)


def _public_origin(raw: object) -> str | None:
    """``--public-url`` checked (UsageError) and written as browsers send it in ``Origin``."""
    return parse_public_url(str(raw)).origin if raw else None


def _with_config(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Fill what the user did not give (on the line or in the environment) from --config."""
    merged, settings = fill_from_config(ctx, params, _CONFIG_KEYS)
    if any(settings.get(k) for k in ("token", "badge", "pin")):
        click.echo("note: serve does not use the config file's token, badge or PIN: each "
                   "planner signs in on the page.", err=True)
    return merged


async def _serve(settings: WebSettings, host: str, port: int, *, access_log: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with running_web(settings, host, port, access_log=access_log) as web:
        target = web.state.host
        if settings.public_url:
            click.secho(f"Planners' page: {settings.public_url}/ (your proxy's address; this "
                        f"server listens on {web.url})", bold=True)
        else:
            click.secho(f"Planners' page: {web.url}", bold=True)
        if settings.demo:
            click.echo(f"Demo: Flowtrac emulator with sample data at {web.state.base_url}; "
                       f"press 'Sign in to the demo' on the page.")
        else:
            click.echo(f"Flowtrac: {target}")
        click.echo(f"Reports and journals of applies are kept in {web.state.runs().folder}")
        click.echo(f"Run history: {web.state.history_path}")
        click.echo("Press Ctrl-C to stop.")
        sys.stdout.flush()
        await stop.wait()
