"""The task record: one submitted call, its options, and where it is in its life."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Protocol

from ._future import TaskFuture
from ._retry import Retry
from ._scheduler import _Entry
from ._threads import WorkerState

__all__ = ["Task", "TaskHost"]


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
        "parked",
        "pool",
        "retry",
        "retry_entry",
        "returns_future",
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
        self.future = future
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.key: Hashable | None = None
        self.retry: Retry | None = None
        self.key_limit: int | None = None
        self.key_rate: float | None = None
        self.keyed = False
        self.bounded = False
        self.deadline_entry: _Entry | None = None
        self.retry_entry: _Entry | None = None
        self.returns_future = False
        self.inline = False  # start_inline: started by the thread that makes it runnable
        # on_wait: told +1 when the task starts waiting without being runnable (behind its
        # key, or for a retry) and -1 when a worker picks it up again; parked marks that
        # the -1 is owed.
        self.on_wait: Callable[[int], None] | None = None
        self.parked = False
        # dropped: cancelled while in its key's waiting deque, and settled then; left in
        # the deque (removing it would cost a linear search) for the key to skip.
        self.dropped = False
        # returns_future: the running attempt's inner future and the worker that started it
        self.inner: Future[Any] | None = None
        self.thread = ""

    @property
    def label(self) -> str:
        """The task's name in events, traces and error messages: its ``label``, else
        ``fn.__name__``, else ``task-{task_id}`` (a partial or a callable object)."""
        future = self.future
        name: object = getattr(self.fn, "__name__", None)
        if future.label:
            return future.label
        return name if isinstance(name, str) and name else f"task-{future.task_id}"
