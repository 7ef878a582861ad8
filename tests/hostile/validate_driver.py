"""Run ``flowtrac-sync validate`` on each file given, in this one process, and print one JSON
line per file: exit code, stdout, stderr, seconds, and the process's peak memory so far.

Used by the hostile tests in a child process (``validate_in_child``, or with many files at
once), so that a file which crashed the reader (a native abort, not an exception) or blew
its memory could not take pytest down with it; a line ``{"start": file}`` is printed before
each file, so a crash names its culprit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from sync.cli import main as cli


def peak_rss_mb() -> float:
    """This process's peak resident memory.  Not ``getrusage``: on Linux its ``ru_maxrss``
    keeps the parent's peak across ``exec``, so a child of a large pytest would report that."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def run(path: str) -> dict[str, object]:
    print(json.dumps({"start": path}), flush=True)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["validate", path, "--json"], catch_exceptions=True)
    return {"file": path, "exit_code": result.exit_code, "stdout": result.stdout,
            "stderr": result.stderr, "seconds": round(time.monotonic() - started, 2),
            "peak_rss_mb": round(peak_rss_mb()), "exception": repr(result.exception)
            if result.exception and not isinstance(result.exception, SystemExit) else None}


def validate_in_child(path: Path) -> dict[str, Any]:
    """``run`` of one file in a child process running this file; the child must not die."""
    child = subprocess.run([sys.executable, __file__, str(path)], capture_output=True,
                           text=True, timeout=120)
    assert child.returncode == 0, f"the validate process died: {child.stderr[-2000:]}"
    result: dict[str, Any] = next(json.loads(line) for line in child.stdout.splitlines()
                                  if '"file"' in line)
    return result


if __name__ == "__main__":
    print(json.dumps({"baseline_rss_mb": round(peak_rss_mb())}), flush=True)
    for name in sys.argv[1:]:
        print(json.dumps(run(name)), flush=True)
