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
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from . import schema


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
            cut_short = _ends_mid_line(self.path)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
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


def _ends_mid_line(path: Path) -> bool:
    """True when the file exists and its last byte is not a line end."""
    try:
        with open(path, "rb") as f:
            if f.seek(0, os.SEEK_END) == 0:
                return False
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:
        return False


def read_journal(path: str | Path) -> Iterator[dict[str, Any]]:
    """Entries of a journal; a line cut short by a kill is skipped, not an error."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry
