"""Timing and memory of a child process, and the emulator started as a separate process.

Every figure of the benchmark comes from a child process measured from the outside: wall time
from just before ``Popen`` to ``os.wait4`` returning (so interpreter start and imports count),
and peak resident memory from the rusage that ``wait4`` hands back for exactly that child.

Children run with Python's default bytecode cache, whatever the calling shell says
(``PYTHONDONTWRITEBYTECODE`` is dropped from their environment): the libraries of the floors
were compiled when pip installed them, and flowtrac-sync's own modules (an editable install)
are compiled on their first import and cached from then on, as on a user's machine.  With
the variable set, every ``plan`` would compile the project afresh and the floors would not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
#: The environment of every child (see the module text).
CHILD_ENV = {name: value for name, value in os.environ.items()
             if name != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class ChildRun:
    """One finished child process."""

    args: list[str]
    exit_code: int
    wall_s: float
    cpu_s: float             # user + system time of the child
    peak_rss_mb: float       # its ru_maxrss
    stdout: str
    stderr: str


def run_child(args: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> ChildRun:
    """Run ``args`` to the end; wall time, CPU time and peak RSS of that process alone."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-out.txt"
    err_path = out_path.with_suffix(".err")
    with out_path.open("w+b") as out, err_path.open("w+b") as err:
        started = time.perf_counter()
        child = subprocess.Popen(list(args), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 env=CHILD_ENV if env is None else env, cwd=cwd)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return ChildRun(list(args), child.returncode, wall, usage.ru_utime + usage.ru_stime,
                    usage.ru_maxrss / 1024, stdout, stderr)


class EmulatorProcess:
    """``python -m sync.emulator`` in its own process, on a free loopback port."""

    def __init__(self, *options: str, log: Path) -> None:
        self.options = list(options)
        self.log = log
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        started = time.perf_counter()
        log = self.log.open("wb")
        self._process = subprocess.Popen(
            [PYTHON, "-m", "sync.emulator", "--port", "0", *self.options],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=CHILD_ENV)
        assert self._process.stdout is not None
        for raw in self._process.stdout:
            line = raw.decode().strip()
            log.write(raw)
            if "serving at " in line:
                self.base_url = line.split("serving at ", 1)[1].strip()
                break
        else:
            raise SystemExit(f"the emulator did not start; see {self.log}")
        log.flush()
        self.start_s = time.perf_counter() - started
        return self

    def __exit__(self, *exc_info: object) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
