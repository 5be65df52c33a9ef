"""Interpreter exit and fork: what happens to live pools when the program ends.

Like ThreadPoolExecutor: a hook that runs before the interpreter joins non-daemon threads
lets idle workers go and lets queued work finish, instead of hanging on workers blocked
in ``queue.get()``. ``threading._register_atexit`` (not ``atexit``) because atexit
handlers run only after non-daemon threads were joined (bpo-39812).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Protocol

__all__ = ["ExitHooks", "exiting", "register"]


class ExitHooks(Protocol):
    """What the exit hook needs of a pool (the pool's own shutdown steps)."""

    def _stop(self, *, cancel_futures: bool, reason: str) -> None: ...

    def _join(self, deadline: float | None = None) -> bool: ...


class _Exiting:
    """Whether the interpreter is shutting down; read without a lock (a bool that only
    ever goes from False to True)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = False


exiting = _Exiting()

_live_pools: weakref.WeakSet[ExitHooks] = weakref.WeakSet()
_lock = threading.Lock()


def register(pool: ExitHooks) -> None:
    """Stop ``pool`` (and wait for its workers) when the interpreter exits."""
    with _lock:
        _live_pools.add(pool)


def _python_exit() -> None:
    with _lock:
        exiting.now = True
        pools = list(_live_pools)
    # An uncaught Ctrl-C is on its way out: do not start queued work, ask running tasks
    # to stop (they finish when they next check cancel_requested()).
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    interrupted = isinstance(last, KeyboardInterrupt)
    for pool in pools:
        pool._stop(cancel_futures=interrupted, reason="interrupt" if interrupted else "shutdown")
    for pool in pools:
        pool._join()


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]

if hasattr(os, "register_at_fork"):
    # A fork while another thread holds the lock would leave the child's copy held.
    os.register_at_fork(
        before=_lock.acquire,
        after_in_child=_lock._at_fork_reinit,  # type: ignore[attr-defined]
        after_in_parent=_lock.release,
    )
