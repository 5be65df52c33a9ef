"""Task priorities: the structures the pool switches to once a task has a priority.

A pool starts with FIFO structures (its run queue, its ready deque, each key's deque of
parked tasks), which cost nothing per task. The first task submitted with a non-zero
priority switches the pool to a :class:`RunHeap` (and a key whose parked tasks include
one to a :class:`PriorityWaiting`); from then on a higher priority starts first and
equal priorities start in submission order (task id). A pool that never sees a priority
never pays for one.

Starvation is the price: a steady stream of higher-priority work keeps lower-priority
tasks waiting for as long as it lasts (there is no ageing).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterator
from typing import Generic, TypeVar

from ._gated import Gated
from ._task import Task

__all__ = ["PRIO", "PriorityWaiting", "RunHeap"]

_G = TypeVar("_G", bound=Gated)


class _Prio:
    """Queued to a worker for each entry pushed on the pool's :class:`RunHeap`: the
    worker then takes the heap's best entry (not necessarily the one pushed with it)."""

    __slots__ = ()


PRIO = _Prio()


class RunHeap:
    """The pool's work ordered by (priority descending, sequence ascending).

    Items are tasks or map pullers (anything a worker runs); the sequence of a task is
    its task id, so a retry or a task a key let go keeps its place among equals. Guarded
    by the pool's lock.
    """

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, object]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, priority: int, sequence: int, item: object) -> None:
        """Add ``item``; ``sequence`` breaks ties (lower first) and must be unique."""
        heapq.heappush(self._heap, (-priority, sequence, item))

    def push_task(self, task: Task) -> None:
        """Add ``task`` by its priority and task id."""
        heapq.heappush(self._heap, (-task.priority, task.future.task_id, task))

    def pop(self) -> object | None:
        """The best item, removed; None if empty."""
        if not self._heap:
            return None
        return heapq.heappop(self._heap)[2]

    def drain_tasks(self) -> list[Task]:
        """Remove and return every task (any order); other items (map pullers) stay."""
        tasks = [entry[2] for entry in self._heap if type(entry[2]) is Task]
        if tasks:
            self._heap = [entry for entry in self._heap if type(entry[2]) is not Task]
            heapq.heapify(self._heap)
        return tasks


class PriorityWaiting(Generic[_G]):
    """A key's parked items by (priority descending, ``order`` ascending: a task's id).

    It offers the part of ``deque`` the :class:`~._keys.KeyGate` uses (``append``,
    ``popleft``, ``[0]``, ``len``, iteration, ``clear``), so the gate swaps it in for a
    key's deque when a task with a priority parks there.
    """

    __slots__ = ("_heap",)

    def __init__(self, tasks: deque[_G]) -> None:
        self._heap = [(-t.priority, t.order, t) for t in tasks]
        heapq.heapify(self._heap)

    def append(self, task: _G) -> None:
        heapq.heappush(self._heap, (-task.priority, task.order, task))

    def popleft(self) -> _G:
        return heapq.heappop(self._heap)[2]

    def __getitem__(self, index: int) -> _G:
        if index != 0:
            raise IndexError("PriorityWaiting only gives its first task")
        return self._heap[0][2]

    def __len__(self) -> int:
        return len(self._heap)

    def __bool__(self) -> bool:
        return bool(self._heap)

    def __iter__(self) -> Iterator[_G]:
        return (entry[2] for entry in self._heap)

    def clear(self) -> None:
        self._heap.clear()
