"""`threadloom --help` lists the subcommands without importing them, as click would."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest

from threadloom.cli import _COMMANDS, main


@pytest.mark.parametrize("name", sorted(_COMMANDS))
@pytest.mark.parametrize("limit", [30, 45, 74, 200])
def test_each_summary_shortens_like_the_commands_own_help(name: str, limit: int) -> None:
    target, summary = _COMMANDS[name]
    module, attribute = target.split(":")
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    assert command.name == name
    stand_in = click.Command(name, help=summary)
    assert stand_in.get_short_help_str(limit) == command.get_short_help_str(limit)


def test_the_listing_imports_no_subcommand() -> None:
    probe = (
        "import sys\n"
        "from threadloom.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('threadloom.cli.'))\n"
        "print(loaded, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in _COMMANDS:
        assert f"  {name} " in result.stdout
    assert result.stderr.strip() == "[]"
    assert main.list_commands(click.Context(main)) == sorted(_COMMANDS)
