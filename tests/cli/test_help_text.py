"""Every command and option says what it does: ``--help`` and the generated CLI reference
(docs/cli.md, through mkdocs-click) show nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import click

from sync.cli import main


def _commands(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    """Every command under ``command``, as click finds them (lazily loaded ones included)."""
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, name
            yield from _commands(sub, f"{path} {name}")


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    for path, command in _commands(main, "flowtrac-sync"):
        if not (command.help or command.short_help):
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {param.opts[0]}")
    assert not missing, f"no help text: {missing}"


def test_the_walk_sees_every_command() -> None:
    """The test above looks at the commands the README lists (and their options)."""
    names = {path.split(" ", 1)[1] for path, _ in _commands(main, "flowtrac-sync")
             if " " in path}
    assert {"validate", "plan", "apply", "export", "template", "undo", "runs", "config",
            "config check", "emulator", "demo", "serve"} <= names


def test_every_command_is_registered_where_the_reference_generator_looks() -> None:
    """mkdocs-click documents a group's registered commands (``commands``): a command found
    only through ``get_command`` (loaded lazily) would be missing from docs/cli.md."""
    context = click.Context(main)
    assert sorted(main.commands) == main.list_commands(context)
