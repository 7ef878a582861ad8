"""Regenerate the planner's guide's screenshots (docs/img/*.png, shown by docs/web.md).

Runs the two browser tests of tests/web/test_browser.py with FLOWTRAC_DOCS_SCREENSHOT=1:
they start ``serve --demo`` (the built-in emulator) in-process, drive Debian's
/usr/bin/chromium through Playwright, and save each step's screenshot into docs/img/ as well
as tests/artifacts/.  Usage, from the repository root:

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ("tests/web/test_browser.py::test_planner_does_the_whole_loop_in_a_browser",
         "tests/web/test_browser.py::test_planner_sees_problems_as_messages")


def main() -> int:
    env = {**os.environ, "FLOWTRAC_DOCS_SCREENSHOT": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
                          cwd=ROOT, env=env, check=False)
    if done.returncode == 0:
        print(f"screenshots written to {ROOT / 'docs' / 'img'}")
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
