"""The CLI's --help lists the exit codes from ``sync.errors.ExitCode`` and their meanings."""

from __future__ import annotations

import re

from click.testing import CliRunner

from sync.cli import exit_codes_help, main
from sync.errors import EXIT_CODE_MEANINGS, ExitCode


def _listed(text: str) -> dict[int, str]:
    lines = text.split("Exit codes:", 1)[1].splitlines()
    found = {}
    for line in lines:
        match = re.match(r"\s+(\d+)\s+(.*)", line)
        if match:
            found[int(match[1])] = " ".join(match[2].split())
    return found


def test_main_help_lists_every_exit_code_with_its_meaning() -> None:
    result = CliRunner().invoke(main, ["--help"], terminal_width=400)
    assert result.exit_code == 0
    listed = _listed(result.output)
    assert listed == {int(code): " ".join(EXIT_CODE_MEANINGS[code].split()) for code in ExitCode}
    assert 130 in listed


def test_every_exit_code_has_a_meaning() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    assert all(EXIT_CODE_MEANINGS[code].strip() for code in ExitCode)


def test_a_command_lists_only_its_codes() -> None:
    text = exit_codes_help(ExitCode.OK, ExitCode.USAGE)
    assert _listed(text) == {0: EXIT_CODE_MEANINGS[ExitCode.OK],
                             2: EXIT_CODE_MEANINGS[ExitCode.USAGE]}
