"""Per-thread state of the pool's threads: which pool a thread works for, and each
worker's own counters."""

from __future__ import annotations

import threading
from typing import Any

from ._future import TaskFuture

__all__ = ["Draining", "WorkerState", "worker_local"]


class _WorkerLocal(threading.local):
    # The pool whose task or map chunk this thread runs now (None while idle, and on
    # threads that are not workers). A submit from there never waits for room (see
    # Pool's ``when_full``), and ``shutdown(wait=True)`` from there does not wait.
    pool: object | None = None


worker_local = _WorkerLocal()


class Draining(threading.local):
    """Per pool and thread: whether this thread is inside that pool's _start_released."""

    active = False


class WorkerState:
    """Per-worker counters, written only by their own thread (no lock needed)."""

    __slots__ = ("busy", "current", "mapping", "name", "settled")

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = 0.0
        # Tasks that succeeded on the fast path (no key, no deadline): counted here,
        # without the pool lock, so that workers and submitters do not contend for it.
        self.settled = 0
        self.current: TaskFuture[Any] | None = None
        self.mapping = False  # running a chunk of a map
