"""``threadloom check PROGRAM.py [ARGS...]``: run an unmodified program under the detectors.

The program runs in this process, as ``__main__``, after :func:`instrument` has swapped
threadloom's primitives into ``threading``; it sees ``sys.argv == [PROGRAM.py, *ARGS]``.
Lock-order cycles are collected silently and reported on stderr once the program and its
non-daemon threads are done; a deadlock (certain: see ``_waitfor``) is reported at once
and ends the process, because the threads involved could only hang. A wait that is only
suspicious (a cycle through a Lock some running thread could still release) is reported
by the watchdog, with stacks, and the program goes on.
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import TextIO

from threadloom.sync._config import Key, Mode, configure
from threadloom.sync._errors import LockOrderWarning
from threadloom.sync._findings import Finding, findings, subscribe
from threadloom.sync._patch import instrument
from threadloom.sync._rules import load_suppressions
from threadloom.sync._watchdog import watch

#: The watchdog's default threshold under ``threadloom check``, in seconds.
WATCHDOG = 10.0

#: Exit status when the program finished but lock-order inversions were found.
EXIT_FINDINGS = 3
#: Exit status when a deadlock was detected (the program is stopped at that point).
EXIT_DEADLOCK = 4
#: Exit status for an uncaught KeyboardInterrupt: 128 + SIGINT, as a shell reports the
#: interpreter, which ends itself with SIGINT in that case.
EXIT_INTERRUPTED = 130


def run_program(
    path: str,
    args: Sequence[str] = (),
    *,
    mode: Mode = "warn",
    key: Key = "instance",
    stream: TextIO | None = None,
    suppressions: Sequence[str] = (),
    watchdog: float = WATCHDOG,
) -> int:
    """Run the program at ``path``; return the exit status ``threadloom check`` ends with.

    That is the program's own status when nothing was found (1 for an uncaught
    exception, :data:`EXIT_INTERRUPTED` (130) for KeyboardInterrupt), :data:`EXIT_FINDINGS` (3)
    after lock-order inversions, :data:`EXIT_DEADLOCK` (4) after a deadlock. ``mode``
    ``"raise"`` makes an inverting acquisition raise LockOrderError in the program.
    ``suppressions`` are rules files (see :func:`threadloom.sync.suppress`), read before
    the program starts; ``watchdog`` is the threshold in seconds past which a blocked
    thread is reported on ``stream`` (0: no watchdog).
    """
    out = stream if stream is not None else sys.stderr
    for rules in suppressions:
        load_suppressions(rules)
    configure(mode=mode, key=key, deadlocks=True)
    # Findings are reported once, at the end, not as warnings in the middle of the output.
    warnings.filterwarnings("ignore", category=LockOrderWarning)

    def on_finding(finding: Finding) -> None:
        if finding.kind == "deadlock":
            _report(out, path, findings(), stopped=True)
            sys.stdout.flush()
            # The deadlocked threads can not be unwound from here and would keep the
            # interpreter from exiting: leave without running exit handlers.
            os._exit(EXIT_DEADLOCK)

    subscribe(on_finding)
    if watchdog > 0:
        watch(watchdog, callback=out)
    instrument()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    status = _run(path)
    _join_threads()
    found = findings()
    if found:
        _report(out, path, found, stopped=False)
        return EXIT_FINDINGS
    return status


def _run(path: str) -> int:
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        return _exit_status(exc.code)
    except BaseException as exc:  # what the interpreter does with an uncaught exception
        traceback.print_exception(exc)
        return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else 1
    return 0


def _exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` stands for."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _join_threads() -> None:
    # What the interpreter does at exit (threading._shutdown), but through the
    # instrumented join, so a deadlock among the remaining threads is detected rather
    # than hung on. First the hooks of threading._register_atexit, newest first: they
    # stop idle pool workers (concurrent.futures, threadloom's Pool) that would
    # otherwise wait for work forever. Setting _SHUTTING_DOWN makes registering another
    # raise, as it does at exit; emptying the list keeps the interpreter's own
    # _shutdown, later, from calling them twice.
    threading._SHUTTING_DOWN = True  # type: ignore[attr-defined]
    hooks: list[Callable[[], object]] = threading._threading_atexits  # type: ignore[attr-defined]
    while hooks:
        try:
            hooks.pop()()
        except Exception as exc:  # reported, and the other hooks and the report still run
            traceback.print_exception(exc)
    me = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not me and not thread.daemon:
            thread.join()


def _report(out: TextIO, path: str, found: Sequence[Finding], *, stopped: bool) -> None:
    inversions = sum(1 for f in found if f.kind == "lock-order")
    deadlocks = len(found) - inversions
    lines = [
        "",
        f"threadloom check: {path}: {deadlocks} deadlock(s), {inversions} lock-order "
        f"inversion(s)" + ("; the program was stopped" if stopped else ""),
    ]
    for number, finding in enumerate(found, 1):
        lines.append(f"[{number}] {finding.details}")
    out.write("\n".join(lines) + "\n")
    out.flush()
