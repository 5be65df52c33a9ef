"""Blocking waits that Ctrl-C always ends.

CPython turns SIGINT into KeyboardInterrupt only in the main thread, between bytecodes.
Its C handler just sets a flag; a lock wait that is already asleep returns early
(EINTR) and raises. But a signal that lands after the main thread's last check and
before it falls asleep in the lock wait is noticed only when that wait ends. With no
timeout, that can be never: the Ctrl-C tests caught a main thread asleep in ``imap``
10 s after SIGINT, once in about 300 runs. So the main thread sleeps in slices of
:data:`SLICE` seconds, and the caller re-checks its condition after each slice (where
the pending KeyboardInterrupt is raised). Other threads never receive it and sleep for
as long as asked.
"""

from __future__ import annotations

import threading
import time

__all__ = ["SLICE", "wait_slice"]

# A lost Ctrl-C is seen within this long; the main thread wakes 4 times a second while
# it waits, which costs nothing measurable.
SLICE = 0.25


def wait_slice(deadline: float | None) -> float | None:
    """How long the calling thread may sleep in one blocking call before re-checking.

    ``deadline`` is a ``time.monotonic()`` value or None (no deadline). The answer is
    None (sleep until woken) off the main thread without a deadline; otherwise the
    time left to ``deadline`` (never negative), cut to :data:`SLICE` on the main thread.
    """
    if threading.get_ident() != threading.main_thread().ident:
        return None if deadline is None else max(0.0, deadline - time.monotonic())
    if deadline is None:
        return SLICE
    return max(0.0, min(SLICE, deadline - time.monotonic()))
