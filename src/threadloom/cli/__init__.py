"""The ``threadloom`` command line: a thin layer that parses, wires and prints.

Each subcommand lives in its own module and is imported only when it is invoked,
so ``threadloom check`` does not pay for pycurl, the stores or the fetch job.
"""

from __future__ import annotations

import importlib

import click

from threadloom import __version__

# Subcommand name -> "module:attribute" of its click.Command.
_COMMANDS: dict[str, str] = {
    "fetch": "threadloom.cli.fetch:fetch",
    "status": "threadloom.cli.status:status",
    "export": "threadloom.cli.export:export",
    "demo": "threadloom.cli.demo:demo",
    "check": "threadloom.cli.check:check",
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="threadloom")
def main() -> None:
    """threadloom: threaded work made safe, fast and visible."""
