"""``python -m sync.emulator``: the same command as ``flowtrac-sync emulator``."""

from .command import emulator

if __name__ == "__main__":
    emulator(prog_name="python -m sync.emulator")
