"""The task record: one submitted call, its options, and where it is in its life.

A task's life, as the pool sees it (``Task.phase``; the future's own state is what the
user sees, and a deadline or ``cancel()`` can settle the future while the pool still
holds the task)::

                       key full or over its rate          its key frees a slot
    submit --> QUEUED ---------------------------> PARKED ---------------------> QUEUED
                 | a thread takes it
                 v
              RUNNING --- fn returned a Future ---> AWAITING
                 |                                     |
                 +-- failed, a retry is due -----------+--> RETRY_WAIT -- delay over --> QUEUED
                 +-- failed, no retry left ------------+--> FINISHING -- delivered --> SETTLED
                 +-- succeeded ------------------------+--> SETTLED

    cancel() settles a PARKED or RETRY_WAIT task at once, a QUEUED one when a thread
    takes it and finds its future done; a deadline settles a RETRY_WAIT task at once, a
    QUEUED or PARKED one when it would have started; shutdown(cancel_futures=True),
    Ctrl-C and a broken pool drain every QUEUED, PARKED and RETRY_WAIT task and settle
    it; a RUNNING or AWAITING task settles when its attempt ends (its token is set).

SETTLED is the end: the pool is done with the task and has counted it, once. The pool's
``_move_locked`` is the one method that changes a phase and keeps the books of the step;
``MOVES`` lists the legal steps.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Protocol

from ._future import TaskFuture
from ._retry import Retry
from ._scheduler import _Entry
from ._threads import WorkerState

__all__ = [
    "AWAITING",
    "CANCELLED",
    "FAILED",
    "FINISHING",
    "MOVES",
    "PARKED",
    "QUEUED",
    "RETRY_WAIT",
    "RUNNING",
    "SETTLED",
    "SUCCEEDED",
    "TIMED_OUT",
    "IllegalMove",
    "Outcome",
    "Phase",
    "Task",
    "TaskHost",
]


class Phase(enum.IntEnum):
    """Where a task is in the pool (values are bits, so that legal moves are a mask)."""

    QUEUED = 1
    """Accepted, waiting for a thread: in the run queue, on the ready deque (a key let it
    go, or its retry delay is over), on the released deque (start_inline), or with the
    thread that is about to run it. It may hold its key's slot already."""
    PARKED = 2
    """Behind its key (limit reached, or over its rate), in the key's FIFO."""
    RUNNING = 4
    """An attempt runs ``fn`` on a thread."""
    AWAITING = 8
    """``returns_future``: ``fn`` returned; the attempt runs until its inner future does."""
    RETRY_WAIT = 16
    """An attempt failed and a retry is scheduled; no thread holds the task."""
    FINISHING = 32
    """The last attempt failed: its key slot is back, the failure is being delivered."""
    SETTLED = 64
    """The pool is done with the task (counted once, deadline timer cancelled)."""


# The members as module constants: ``Phase.QUEUED`` costs an enum lookup (~0.1 us on
# Python 3.11) on paths that run several times per task.
QUEUED = Phase.QUEUED
PARKED = Phase.PARKED
RUNNING = Phase.RUNNING
AWAITING = Phase.AWAITING
RETRY_WAIT = Phase.RETRY_WAIT
FINISHING = Phase.FINISHING
SETTLED = Phase.SETTLED


class Outcome(enum.Enum):
    """What a move to SETTLED (or a deadline) adds to the pool's counters."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"  # counted as failed too


SUCCEEDED = Outcome.SUCCEEDED
FAILED = Outcome.FAILED
CANCELLED = Outcome.CANCELLED
TIMED_OUT = Outcome.TIMED_OUT

# Phase -> mask of the phases it may move to.
MOVES: dict[int, int] = {
    QUEUED: PARKED | RUNNING | SETTLED,
    PARKED: QUEUED | SETTLED,
    RUNNING: AWAITING | RETRY_WAIT | FINISHING | SETTLED,
    AWAITING: RETRY_WAIT | FINISHING | SETTLED,
    RETRY_WAIT: QUEUED | SETTLED,
    FINISHING: SETTLED,
    SETTLED: 0,
}


class IllegalMove(AssertionError):
    """A bug in the pool: a task was asked to take a step its phase does not allow.

    Raised only where strict checking is on (the test suite turns it on); in production
    the step is refused and logged, so that nothing is counted twice."""


# True: an illegal move raises IllegalMove (tests/conftest.py turns it on, and so does
# THREADLOOM_STRICT_PHASES=1 in the environment, for the subprocesses tests start).
STRICT = os.environ.get("THREADLOOM_STRICT_PHASES") == "1"


class TaskHost(Protocol):
    """The pool a task belongs to, as its worker sees it."""

    def _run_task(self, task: Task, ws: WorkerState | None, /) -> None: ...


class Task:
    """One submission to a pool. Written by whichever thread owns the task at the time
    (the one that took it off a queue), or under the pool lock."""

    # Rarely used fields are class-level defaults: an instance stores only what differs.
    __slots__ = (
        "args",
        "bounded",
        "deadline_entry",
        "dropped",
        "fn",
        "future",
        "inline",
        "inner",
        "key",
        "key_limit",
        "key_rate",
        "keyed",
        "kwargs",
        "on_wait",
        "owes_wait_end",
        "phase",
        "pool",
        "priority",
        "retry",
        "retry_entry",
        "returns_future",
        "started",
        "thread",
    )

    def __init__(
        self,
        pool: TaskHost,
        future: TaskFuture[Any],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.pool = pool
        self.phase = QUEUED
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.key: Hashable | None = None
        self.retry: Retry | None = None
        self.key_limit: int | None = None
        self.key_rate: float | None = None
        # Higher starts first; 0 for all tasks of a pool that never saw a priority.
        self.priority = 0
        self.keyed = False
        self.bounded = False
        self.deadline_entry: _Entry | None = None
        self.retry_entry: _Entry | None = None
        self.returns_future = False
        self.inline = False  # start_inline: started by the thread that makes it runnable
        # on_wait: told +1 when the task starts waiting without being runnable (behind its
        # key, or for a retry) and -1 when a worker picks it up again; owes_wait_end marks
        # that the -1 is owed (set by the move to PARKED or RETRY_WAIT).
        self.on_wait: Callable[[int], None] | None = None
        self.owes_wait_end = False
        # dropped: cancelled while in its key's waiting deque, and settled then; left in
        # the deque (removing it would cost a linear search) for the key to skip.
        self.dropped = False
        # returns_future: the running attempt's inner future and the worker that started it
        self.inner: Future[Any] | None = None
        self.thread = ""
        self.started = 0.0  # time.monotonic() when the current attempt started

    @property
    def order(self) -> int:
        """Its place among tasks of equal priority (`Gated.order`): the task id."""
        return self.future.task_id

    @property
    def label(self) -> str:
        """The task's name in events, traces and error messages: its ``label``, else
        ``fn.__name__``, else ``task-{task_id}`` (a partial or a callable object)."""
        future = self.future
        name: object = getattr(self.fn, "__name__", None)
        if future.label:
            return future.label
        return name if isinstance(name, str) and name else f"task-{future.task_id}"
