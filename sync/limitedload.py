"""Read an uploaded sheet in a child process whose memory is capped, for the web page.

The text check (``sync.sheetsize``) stops the sheets known to expand; a file that still
exhausts memory must not take the web server, and every planner's session and running
apply with it.  So the page reads each upload in a child process with an address-space
limit (``RLIMIT_AS``): past it, the child's allocations fail (a Python MemoryError, or an
abort in the reader's native code) and only that child ends.  The sheet read comes back
pickled.

Children are forked by a ``forkserver`` started once with the loader and pandas imported: a child
starts in milliseconds, and the server itself (threads, sockets, sessions) is never forked.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from sync.errors import InputError
from sync.loader import load_sheet
from sync.model import LoadedSheet

#: Address space one upload's reading may take, unless ``serve --upload-memory-mb`` says
#: otherwise.  Address space runs to about twice the memory actually used (thread stacks and
#: allocator arenas are reserved whole): a 200,000-row sheet reserves about 650 MB.
DEFAULT_UPLOAD_MEMORY_MB = 2048

log = logging.getLogger(__name__)

_context = multiprocessing.get_context("forkserver")
# pandas too: imported under the limit, a failed import would leave it half made.
_context.set_forkserver_preload(["sync.limitedload", "pandas"])


def _limit(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # The reader's native code reports a failed allocation with a backtrace on stderr: the
    # server logs one line instead.  Everything else comes back to the parent pickled.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


def _read(path: str, sheet: str | None) -> LoadedSheet | InputError:
    """In the child: the sheet, or the InputError saying why not (returned, not raised, so
    that it arrives as it was made)."""
    try:
        return load_sheet(path, sheet=sheet, keep_xml=True)
    except InputError as exc:
        return exc
    except MemoryError:
        return _out_of_memory(Path(path).name)


class OutOfMemory(InputError):
    """Reading the upload took more memory than its child process may have."""


def _out_of_memory(name: str) -> OutOfMemory:
    return OutOfMemory(f"{name[:80]} takes more memory to read than this server allows one "
                      "upload; a routing sheet needs far less (check it for huge cells, or "
                      "ask whoever runs the page about serve --upload-memory-mb).")


def load_limited(path: Path, sheet: str | None, memory_mb: int) -> LoadedSheet:
    """``load_sheet(path, sheet=sheet, keep_xml=True)`` in a child process that may take at
    most ``memory_mb`` MB; InputError (one sentence) when the sheet cannot be used or its
    reading runs out of that memory (``OutOfMemory``)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=_context, initializer=_limit,
                             initargs=(memory_mb << 20,)) as pool:
        try:
            result = pool.submit(_read, str(path), sheet).result()
        except (BrokenProcessPool, MemoryError):     # the child aborted, or its answer did
            result = _out_of_memory(path.name)
    if isinstance(result, OutOfMemory):
        log.warning("reading an upload took more than its %d MB (serve --upload-memory-mb); "
                    "it was refused", memory_mb)
    if isinstance(result, InputError):
        raise result
    return result


async def load_limited_async(path: Path, sheet: str | None, memory_mb: int) -> LoadedSheet:
    """``load_limited`` without stalling the event loop."""
    return await asyncio.to_thread(load_limited, path, sheet, memory_mb)
