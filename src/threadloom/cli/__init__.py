"""The ``threadloom`` command line: a thin layer that parses, wires and prints.

Each subcommand lives in its own module and is imported only when it is invoked,
so ``threadloom check`` does not pay for pycurl, the stores or the fetch job.
"""

from __future__ import annotations

import importlib

import click

from threadloom import __version__

# Subcommand name -> ("module:attribute" of its click.Command, the first paragraph of its
# help). The summaries let `threadloom --help` list the commands without importing them
# (all five modules took ~90 ms); tests/jobs/test_cli_help.py checks they match.
_COMMANDS: dict[str, tuple[str, str]] = {
    "fetch": (
        "threadloom.cli.fetch:fetch",
        "Fetch every URL listed in URLS (a file, or - for standard input) into a store.",
    ),
    "status": (
        "threadloom.cli.status:status",
        "Count the URLs of STORE by state (total, done, failed, invalid, pending) and bytes.",
    ),
    "export": ("threadloom.cli.export:export", "Export STORE."),
    "demo": (
        "threadloom.cli.demo:demo",
        "Fetch generated XML documents from a local server into a SQLite store.",
    ),
    "check": (
        "threadloom.cli.check:check",
        "Run PROGRAM.py with threading's locks instrumented; report deadlocks on stderr.",
    ),
}


class _LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with their one-line help, as click would, from the
        summaries in `_COMMANDS` instead of importing every subcommand."""
        limit = formatter.width - 6 - max(map(len, _COMMANDS))
        # A stand-in command per summary shortens it exactly as click shortens help.
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_target, summary) in sorted(_COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="threadloom")
def main() -> None:
    """threadloom: threaded work made safe, fast and visible."""
