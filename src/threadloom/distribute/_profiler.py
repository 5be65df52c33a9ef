"""Dask's statistical profiler on CPython 3.11: off where threadloom runs shards.

A Dask worker samples the stack of each of its threads every 10 ms on its event loop
(``sys._current_frames()``, the ``profile`` periodic callback). On CPython 3.11 and
older a garbage collection inside that call, or a thread starting or ending while it
runs, can deadlock the GIL against the interpreter's thread list (CPython issues
gh-106883 and gh-116969; Dask itself leaves its event-loop profiler off on 3.11 for
this reason). A shard starts and ends threads and frees objects in reference cycles
all the time: seen in this project's tests on 3.11.7, a worker blocked for good inside
``trigger_profile``, so its finished shard's result could never be fetched and the run
waited until the scheduler dropped the worker (5 minutes by default).

The LocalCluster of ``--processes`` runs without the profiler (``QUIET_DASK``). On a
cluster threadloom did not start (``--cluster``), each shard stops the profiler of the
worker running it (`stop_deadlocking_profiler`), for the rest of that worker's life:
starting it again after the shard would reopen the window as the shard's threads end.
Workers on CPython 3.12 or later keep their profiler.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Final

PROFILER_CALLBACKS: Final = ("profile", "profile-cycle")
"""A Dask worker's periodic callbacks that sample and aggregate its threads' stacks."""

FIRST_SAFE_PYTHON: Final = (3, 12)
"""The first CPython whose ``sys._current_frames()`` cannot deadlock this way: from 3.12
the garbage collector runs only between bytecodes, never inside an allocation. (A fix
for 3.11 was proposed after 3.11's last bug-fix release; no 3.11 is assumed to have it.)"""

STOP_WAIT: Final = 2.0
"""Seconds a shard waits for its worker's event loop to stop the profiler (it runs
the call between two of its callbacks, normally within milliseconds)."""


def profiler_may_deadlock(version: tuple[int, ...]) -> bool:
    """Whether Dask's profiler can deadlock a worker running CPython ``version``."""
    return tuple(version[:2]) < FIRST_SAFE_PYTHON


def stop_profiler(worker: Any) -> None:
    """Stop ``worker``'s profiler callbacks and drop them (on its event loop).

    Dropped, not only stopped: a worker starts every callback of the dict that is not
    running (``Server.start_periodic_callbacks``), which would undo a stop."""
    for name in PROFILER_CALLBACKS:
        callback = worker.periodic_callbacks.pop(name, None)
        if callback is not None:
            callback.stop()


def stop_deadlocking_profiler(worker: Any) -> None:
    """From a task on ``worker`` (a Dask worker; None: not on one): stop its profiler if
    this CPython can deadlock on it, and return once it is stopped (or after
    `STOP_WAIT` seconds: a loop that busy is not profiling either)."""
    python = sys.version_info
    if worker is None or not profiler_may_deadlock((python.major, python.minor)):
        return
    if not any(name in worker.periodic_callbacks for name in PROFILER_CALLBACKS):
        return  # stopped already (an earlier shard), or never started (QUIET_DASK)
    stopped = threading.Event()

    def stop_on_loop() -> None:
        try:
            stop_profiler(worker)
        finally:
            stopped.set()

    worker.loop.add_callback(stop_on_loop)
    stopped.wait(STOP_WAIT)
