"""Writing a large worksheet part while it is being produced.

The data sheet of a 100,000-row report is tens of megabytes of XML, made row by row in
Python.  Compressing it (ISA-L's deflate, see ``sync.zipdeflate``) and checksumming it take a
good part of the report's time, and both release the GIL while they work, so a second thread
compresses each chunk while the next one is made.  A small queue keeps memory bounded; the
first failure on either side ends both.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from queue import Queue
from typing import IO

from sync.zipdeflate import deflate_fast

#: Chunks made ahead of the compressing thread (each about a megabyte).
_AHEAD = 4


def write_text_chunks(stream: IO[bytes], chunks: Iterable[str | bytes]) -> None:
    """Write ``chunks`` (text, or its UTF-8 bytes already) as UTF-8 into ``stream`` (a zip
    member being written), compressing in a background thread; raises what the producer or
    the writer raised."""
    deflate_fast(stream)
    queue: Queue[bytes | None] = Queue(maxsize=_AHEAD)
    failures: list[BaseException] = []

    def write() -> None:
        while (data := queue.get()) is not None:
            if failures:
                continue            # keep taking chunks so the producer never blocks
            try:
                stream.write(data)
            except BaseException as exc:   # handed to the producer's thread below
                failures.append(exc)

    writer = threading.Thread(target=write, name="report-writer", daemon=True)
    writer.start()
    try:
        for chunk in chunks:
            if failures:
                break
            queue.put(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
    finally:
        queue.put(None)
        writer.join()
    if failures:
        raise failures[0]
