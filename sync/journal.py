"""The write journal: one JSON line per write attempt and per result.

Each line is flushed as it is written, so a run killed at any point leaves every line before
the kill intact; a half-written last line is skipped by ``read_journal``.  Lines hold the
request body and the record as it was before the write (so a run can be undone), never a
token, cookie or PIN: nothing here ever sees the connection's credentials.

Lines (every one has ``time``, ``run`` and ``event``):

* ``{"event": "run", "base_url": ...}`` - a run starts;
* ``{"event": "attempt", "action": "create" | "update" | "park" | "delete", "key":
  {"product_id", "line_number"}, "id": <line id or null for a create>, "body": <the fields
  sent, canonical names>, "before": <the record as fetched before the write, or null>}`` -
  written before each request; ``park`` is the first step of a line-number permutation;
* ``{"event": "result", "action": ..., "key": ..., "id": <line id>, "status": <HTTP status>,
  "message": ..., "after": <the record as the server answered, or null>}`` - one per
  finished write (status 200 done; 404 on a delete: already gone; other: failed);
* ``{"event": "end", "writes": <requests sent>, "interrupted": bool}`` - a run ends.

The file is opened without following a symbolic link and only if it is a regular file: a
link planted where the journal goes would otherwise have the run append to whatever it
points at.
"""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from . import schema
from .errors import UsageError


def record_json(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A canonical record as JSON-friendly values (decimals as strings)."""
    if record is None:
        return None
    return {k: (schema.format_decimal(v) if isinstance(v, Decimal) else v)
            for k, v in record.items()}


class Journal:
    """Append-only JSON-lines file; ``None`` path gives a journal that writes nothing."""

    def __init__(self, path: str | Path | None, *, run_id: str | None = None,
                 base_url: str | None = None):
        self.path = Path(path) if path else None
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._file: IO[str] | None = None
        if self.path is not None:
            fd = _open_for_append(self.path)
            cut_short = _ends_mid_line(fd)
            self._file = open(fd, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            if cut_short:  # a run killed mid-line: end that line, or it would swallow ours
                self._file.write("\n")
            self.write(event="run", base_url=base_url)

    def write(self, **entry: Any) -> None:
        if self._file is None:
            return
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run": self.run_id, **entry}
        self._file.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_regular(path: Path, flags: int) -> int:
    """A descriptor of ``path`` opened with ``flags``, if it is a regular file (UsageError
    otherwise; OSError as ``os.open`` raises it).  O_NONBLOCK keeps a FIFO from hanging the
    open; it changes nothing for a regular file."""
    fd = os.open(path, flags | os.O_NONBLOCK, 0o666)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"The journal {path} is not a regular file (nothing sent); choose "
                         f"another journal file.")
    return fd


def _open_for_append(path: Path) -> int:
    """The journal opened to append, never through a symbolic link (nothing sent yet)."""
    try:
        return _open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise UsageError(f"The journal {path} is a symbolic link, which is not followed "
                             f"(nothing sent); remove the link or choose another journal "
                             f"file.") from None
        raise UsageError(f"Cannot write the journal {path}: {exc.strerror} (nothing "
                         f"sent).") from None


def _ends_mid_line(fd: int) -> bool:
    """True when the file is not empty and its last byte is not a line end."""
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def read_journal(path: str | Path) -> Iterator[dict[str, Any]]:
    """Entries of a journal; a line cut short by a kill is skipped, not an error.  Reading
    may follow a link (it changes nothing), but a FIFO or device is refused."""
    fd = _open_regular(Path(path), os.O_RDONLY)
    with open(fd, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry
