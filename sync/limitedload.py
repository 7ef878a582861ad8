"""Read an uploaded sheet in a child process whose memory is capped, for the web page.

The text check (``sync.sheetsize``) stops the sheets known to expand; a file that still
exhausts memory must not take the web server, and every planner's session and running
apply with it.  So the page reads each upload in a child process, which the server watches:
past ``memory_mb`` of resident memory the child is killed and only that upload is refused.
The child also has an address-space limit (``RLIMIT_AS``, a few times larger) so that one
allocation too large to be watched fails at once; a child that reaches it is killed too,
since a failed allocation can leave its threads waiting on one another for ever.  The sheet
read comes back pickled.

Children are forked by a ``forkserver`` started once with the loader and pandas imported: a
child starts in milliseconds, and the server itself (threads, sockets, sessions) is never
forked.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
from multiprocessing.connection import Connection
from pathlib import Path

from sync.errors import InputError, OutOfMemoryError
from sync.load import load_sheet
from sync.model import LoadedSheet

#: Resident memory one upload's reading may take, unless ``serve --upload-memory-mb`` says
#: otherwise; a 200,000-row sheet takes about 300 MB.
DEFAULT_UPLOAD_MEMORY_MB = 1024
#: The child's address space, in multiples of its memory: thread stacks and allocator arenas
#: are reserved whole, so a sound reading reserves about twice what it uses.
_ADDRESS_SPACE_FACTOR = 4
#: How often the server looks at the child's memory.
_WATCH_S = 0.02

log = logging.getLogger(__name__)

_context = multiprocessing.get_context("forkserver")
# pandas too: imported in a child near its limit, a failed import would leave it half made.
_context.set_forkserver_preload(["sync.limitedload", "pandas"])
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _out_of_memory(name: str) -> OutOfMemoryError:
    return OutOfMemoryError(f"{name[:80]} takes more memory to read than this server allows one "
                            "upload; a routing sheet needs far less (check it for huge cells, or "
                            "ask whoever runs the page about serve --upload-memory-mb).")


def _child(answer: Connection, path: str, sheet: str | None, address_space: int) -> None:
    """In the child: send the sheet, or the InputError saying why not, and its peak memory."""
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    # The reader's native code reports a failed allocation with a backtrace on stderr: the
    # server logs one line instead.
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    result: LoadedSheet | InputError
    try:
        result = load_sheet(path, sheet=sheet)
    except InputError as exc:
        result = exc
    except MemoryError:
        result = _out_of_memory(Path(path).name)
    # With its peak: a peak briefer than the server's look would otherwise pass unseen, and
    # the same sheet be refused one time and read the next.
    answer.send((result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10))
    answer.close()


def _pages(pid: int) -> tuple[int, int]:
    """(address space, resident) of a process in bytes; (0, 0) once it is gone."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            size, resident = statm.read().split()[:2]
    except (OSError, ValueError):
        return 0, 0
    return int(size) * _PAGE, int(resident) * _PAGE


def load_limited(path: Path, sheet: str | None, memory_mb: int) -> LoadedSheet:
    """``load_sheet(path, sheet=sheet)`` in a child process that may take at
    most ``memory_mb`` MB; InputError (one sentence) when the sheet cannot be used or its
    reading runs out of that memory (``OutOfMemoryError``)."""
    limit = memory_mb << 20
    address_space = limit * _ADDRESS_SPACE_FACTOR
    receive, send = _context.Pipe(duplex=False)
    child = _context.Process(target=_child, args=(send, str(path), sheet, address_space),
                             daemon=True)
    child.start()
    send.close()
    result: LoadedSheet | InputError | None = None
    try:
        while result is None:
            if receive.poll(_WATCH_S):
                try:
                    result, peak = receive.recv()
                except (EOFError, OSError, MemoryError):   # it died before it answered
                    result, peak = _out_of_memory(path.name), 0
                if peak > limit:
                    result = _out_of_memory(path.name)
            elif not child.is_alive():
                if not receive.poll(0):                    # no answer is left to read
                    result = _out_of_memory(path.name)
            else:
                reserved, resident = _pages(child.pid or 0)
                if resident > limit or reserved > address_space * 0.95:
                    result = _out_of_memory(path.name)
    finally:
        child.kill()
        child.join()
        receive.close()
    if isinstance(result, OutOfMemoryError):
        log.warning("reading an upload took more than its %d MB (serve --upload-memory-mb); "
                    "it was refused", memory_mb)
    if isinstance(result, InputError):
        raise result
    return result


async def load_limited_async(path: Path, sheet: str | None, memory_mb: int) -> LoadedSheet:
    """``load_limited`` without stalling the event loop."""
    return await asyncio.to_thread(load_limited, path, sheet, memory_mb)
