"""Command-line options shared by the commands that talk to Flowtrac (``plan``, ``apply``,
``export``, ``undo``, ``config check`` in ``sync.cli``; ``serve`` in ``sync.web.command``), and
how a ``--config`` file fills the ones the user did not give."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import click
from click.core import ParameterSource

from .config import load_config

__all__ = ["SERVER_OPTIONS", "TRANSPORT_OPTIONS", "fill_from_config", "with_options"]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

#: Which Flowtrac.
SERVER_OPTIONS: list[Decorator] = [
    click.option("--company", envvar="FLOWTRAC_COMPANY", metavar="NAME",
                 help="Flowtrac company: https://NAME.flowtrac.com/api."),
    click.option("--base-url", envvar="FLOWTRAC_BASE_URL", metavar="URL",
                 help="API base URL, e.g. http://127.0.0.1:8765/api."),
]
#: How to reach it.
TRANSPORT_OPTIONS: list[Decorator] = [
    click.option("--insecure", is_flag=True, help="Do not verify TLS certificates."),
    click.option("--allow-http", is_flag=True,
                 help="Allow credentials over plain http:// to a non-loopback host."),
    click.option("--timeout", type=click.FloatRange(min=1), default=30.0,
                 show_default=True, help="Seconds before a request to Flowtrac is given up."),
]


def with_options(f: Callable[..., Any], options: Sequence[Decorator]) -> Callable[..., Any]:
    """``f`` decorated with ``options``, listed in ``--help`` in the given order."""
    for option in reversed(options):
        f = option(f)
    return f


def fill_from_config(ctx: click.Context, params: dict[str, Any],
                     keys: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` with the ``keys`` the user did not give (on the line or in the environment)
    taken from the ``--config`` file (``config_path``); and that file's settings (empty
    without one).  The file's warnings go to stderr.

    ``company`` and ``base_url`` are one setting, which Flowtrac: the one given at the higher
    level (command line > environment > config file) wins, and both at one level is left for
    ``Connection`` to refuse."""
    path = params.get("config_path")
    settings, warnings = load_config(path) if path else ({}, [])
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    merged = dict(params)
    for name, value in settings.items():
        if name not in keys or name not in merged:
            continue
        if _level(ctx, name, {}) == 0:
            merged[name] = value
    if merged.get("company") and merged.get("base_url"):
        company, base_url = (_level(ctx, name, settings) for name in ("company", "base_url"))
        if company != base_url:
            merged["base_url" if company > base_url else "company"] = None
    return merged, settings


def _level(ctx: click.Context, name: str, settings: dict[str, Any]) -> int:
    """Where a setting was given: 3 command line, 2 environment, 1 config file, 0 nowhere."""
    source = ctx.get_parameter_source(name)
    if source is ParameterSource.COMMANDLINE:
        return 3
    if source is ParameterSource.ENVIRONMENT:
        return 2
    return 1 if name in settings else 0
