"""Everything threadloom relies on inside ``concurrent.futures._base``, in one place.

:class:`~threadloom.core.LeanFuture` replaces the standard Future's ``threading.Condition``
with a C lock but must stay a Future that the standard library's ``wait()`` and
``as_completed()`` accept. Those functions do not use the public API: they take each
future's ``_condition`` (``_AcquireFutures``: acquire/release), read its ``_state``
against the constants below, and append a waiter to its ``_waiters`` list, which the
future then notifies through ``add_result``, ``add_exception`` and ``add_cancelled``. So
LeanFuture keeps those names and values, and also the other fields a standard Future has
(``_result``, ``_exception``, ``_done_callbacks``), which code written against a plain
Future sometimes reads.

This module is the only one that imports ``concurrent.futures._base``. The test
``tests/core/test_stdlib_future_internals.py`` pins every name listed here against the
running interpreter, so a Python release that changes them fails in CI, not in use.
"""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures._base import (
    CANCELLED,
    CANCELLED_AND_NOTIFIED,
    FINISHED,
    PENDING,
    RUNNING,
)
from typing import Any

__all__ = [
    "CANCELLED",
    "CANCELLED_AND_NOTIFIED",
    "CANCELLED_STATES",
    "FINISHED",
    "FUTURE_FIELDS",
    "PENDING",
    "RUNNING",
    "SETTLED_STATES",
    "WAITER_NOTICES",
    "WAIT_READS",
    "raw_outcome",
]

# The fields of a standard Future's instance; LeanFuture sets every one of them.
FUTURE_FIELDS = ("_condition", "_state", "_result", "_exception", "_waiters", "_done_callbacks")

# The fields that wait() / as_completed() (and their helpers) read on a future.
WAIT_READS = ("_condition", "_state", "_waiters")

# The methods a waiter in ``_waiters`` offers, called with the future's lock held.
WAITER_NOTICES = ("add_result", "add_exception", "add_cancelled")

SETTLED_STATES = (FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED)
CANCELLED_STATES = (CANCELLED, CANCELLED_AND_NOTIFIED)


def raw_outcome(future: Future[Any]) -> tuple[bool, BaseException | None, Any]:
    """``(cancelled, exception, result)`` of a settled ``future``, read from its fields.

    Only for a future known to be done: its fields no longer change then, so one read of
    each replaces ``cancelled()``, ``exception()`` and ``result()``, which would take the
    future's lock three times (this runs once per task on the pool's hot path).
    """
    if future._state in CANCELLED_STATES:
        return True, None, None
    exc = future._exception
    if exc is not None:
        return False, exc, None
    return False, None, future._result
