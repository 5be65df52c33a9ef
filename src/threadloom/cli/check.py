"""``threadloom check PROGRAM.py [ARGS...]``: find deadlocks in an unmodified program."""

from __future__ import annotations

import sys

import click

from threadloom.sync._check import run_program


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--mode",
    type=click.Choice(["warn", "raise"]),
    default="warn",
    show_default=True,
    envvar="THREADLOOM_SYNC_MODE",
    help="warn: report lock-order inversions at exit; raise: also raise LockOrderError "
    "in the program at the inverting acquisition.",
)
@click.option(
    "--key",
    type=click.Choice(["instance", "site"]),
    default="instance",
    show_default=True,
    envvar="THREADLOOM_SYNC_KEY",
    help="Check lock order per lock, or per creation site (all locks created by one "
    "line of code checked together).",
)
@click.option(
    "--suppress",
    "suppressions",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="A file of rules KIND:WHERE[:LINE|NAME], one a line (repeatable): lock-order "
    "findings through locks created there are not reported; ownerless rules declare "
    "locks released by other threads.",
)
@click.option(
    "--watchdog",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Report threads blocked longer than this many seconds, with stacks (0: off).",
)
@click.argument("program", type=click.Path(exists=True, dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check(
    mode: str,
    key: str,
    suppressions: tuple[str, ...],
    watchdog: float,
    program: str,
    args: tuple[str, ...],
) -> None:
    """Run PROGRAM.py with threading's locks instrumented; report deadlocks on stderr.

    threading.Lock, RLock, Condition, Semaphore, BoundedSemaphore, Event and Barrier
    (and so queue.Queue and concurrent.futures) are replaced by threadloom.sync's.
    ARGS are passed to the program untouched.

    Exit status: the program's own when nothing was found; 3 when lock-order
    inversions were found; 4 when a deadlock was detected (the program is stopped
    with a report instead of hanging). A deadlock is a verdict only when certain: a
    wait that a running thread could still end is reported by the watchdog instead.
    """
    try:
        status = run_program(
            program,
            args,
            mode=mode,  # type: ignore[arg-type]
            key=key,  # type: ignore[arg-type]
            suppressions=suppressions,
            watchdog=watchdog,
        )
    except ValueError as exc:  # a malformed rule: one line naming the file and line
        raise click.UsageError(str(exc)) from None
    sys.exit(status)
