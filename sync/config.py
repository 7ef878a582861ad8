"""Settings from a TOML config file, for nightly jobs.

Precedence: command line > environment > config file > built-in defaults.  The command line
and environment are click's business (each option names its variable); this module reads the
file and says which of its values apply where the user gave nothing else.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import UsageError
from .files import read_text_file

#: Keys a config file may hold: the connection and the run options.  Names as on the
#: command line, with ``_`` for ``-`` (``base_url``, ``max_delete``).
CONNECTION_KEYS = ("company", "base_url", "token", "badge", "pin", "insecure", "allow_http",
                   "timeout")
RUN_KEYS = ("mode", "scope", "blank", "key", "max_delete", "concurrency", "rate", "retries",
            "sheet", "report", "journal", "wait", "history", "notify", "notify_on")
#: Settings only ``serve`` reads: its public address, and where it keeps run records.
SERVE_KEYS = ("public_url", "data_dir")
SECRET_KEYS = ("token", "pin")


def load_config(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Read a config file: its settings and any warnings (e.g. a secret others can read)."""
    path = Path(path)
    text = read_text_file(
        path, missing=lambda: UsageError(f"config file {path} does not exist"),
        unreadable=lambda exc: UsageError(
            f"cannot read config file {path}: {exc.__class__.__name__}"))
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}") from None
    # Accept either top-level keys or a [flowtrac] table.
    if isinstance(data.get("flowtrac"), dict):
        data = {**{k: v for k, v in data.items() if k != "flowtrac"}, **data["flowtrac"]}
    settings = {k.replace("-", "_"): v for k, v in data.items()}
    known = CONNECTION_KEYS + RUN_KEYS + SERVE_KEYS
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise UsageError(f"config file {path}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(known)}")
    warnings = []
    held = [k for k in SECRET_KEYS if settings.get(k)]
    if held and _readable_by_others(path):
        warnings.append(f"config file {path} holds a {' and a '.join(held)} and can be read by "
                        f"other users; run: chmod 600 {path}")
    return settings, warnings


def _readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def mask(name: str, value: Any) -> Any:
    """A setting as it may be shown: secrets as ``****`` (or unset)."""
    if name in SECRET_KEYS and value:
        return "****"
    if name == "notify" and value:
        # A Slack or Teams webhook's path is its secret: only where it goes is shown.
        urls = [value] if isinstance(value, str) else list(value)
        return [f"{urlsplit(str(u)).scheme}://{urlsplit(str(u)).hostname}/****" for u in urls]
    return value
