"""The pool's state and books: what it holds (queues, keys, retries, awaited attempts),
the counts it keeps, the threads it starts, and shutdown, which drains all of it.

Every field written under ``_lock`` is listed in ``__init__``; the engine
(:mod:`._engine`) moves tasks, this module keeps the books of each move.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Any, Literal, cast

from . import _exit, _task
from ._accounting import Counters, Emitter
from ._adaptive import ThrottleBook
from ._errors import BrokenPool
from ._exit import exiting
from ._future import TaskFuture
from ._keys import KeyGate
from ._mapping import MapRun
from ._priority import PRIO, RunHeap
from ._resize import Retirement
from ._retry import Retry
from ._scheduler import Scheduler
from ._task import (
    AWAITING,
    CANCELLED,
    FAILED,
    FINISHING,
    MOVES,
    PARKED,
    QUEUED,
    RETRY_WAIT,
    RUNNING,
    SETTLED,
    SUCCEEDED,
    TIMED_OUT,
    IllegalMove,
    Outcome,
    Phase,
    Task,
)
from ._threads import Draining, WorkerState
from ._throttle import Throttle
from ._timers import TimerHandle
from ._waiting import wait_slice
from ._worker import WAKE, Item, worker

__all__ = ["PoolLedger", "WhenFull"]

_log = logging.getLogger("threadloom.core")

WhenFull = Literal["block", "raise", "caller_runs"]


class PoolLedger:
    """A pool's state and the bookkeeping shared by every path a task takes (see
    :class:`~threadloom.core.Pool` for the arguments, which it validates first)."""

    def __init__(
        self,
        max_workers: int,
        prefix: str,
        name: str,
        initializer: Callable[..., object] | None,
        initargs: tuple[Any, ...],
        max_queued: int | None,
        when_full: WhenFull,
        key_limit: int | None,
        retry: Retry | None,
        raise_unread: bool,
        throttle: Throttle | None = None,
    ) -> None:
        self._max_workers = max_workers
        self._prefix = prefix
        self._initializer = initializer
        self._initargs = initargs
        self._max_queued = max_queued
        self._when_full: WhenFull = when_full
        self._retry = retry
        self._raise_unread = raise_unread

        self._queue: queue.SimpleQueue[Item] = queue.SimpleQueue()
        # Tasks released from a key's queue or back from a retry wait: they were
        # submitted before what is in the run queue now, so workers take them first.
        self._ready: deque[Task] = deque()
        # start_inline tasks a key released under the lock, for the releasing thread to
        # start once it has let go of the lock (_start_released).
        self._released: deque[Task] = deque()
        self._draining = Draining()
        # None until the first task with a priority: then every queued task goes through
        # it (and a PRIO token through the run queue), highest priority first.
        self._heap: RunHeap | None = None
        self._idle = threading.Semaphore(0)
        self._threads: set[threading.Thread] = set()  # live workers
        self._retired: list[threading.Thread] = []  # workers that left on a shrink
        self._thread_seq = 0  # the n of the next thread's name, {prefix}_{n}
        self._retirement = Retirement()
        self._all_started = False  # max_workers threads exist: skip the idle bookkeeping
        self._workers: list[WorkerState] = []
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._scheduler = Scheduler(f"{prefix}_scheduler")
        self._unread: dict[int, TaskFuture[object]] = {}
        self._events = Emitter(name, self._lock)

        # Everything below is guarded by self._lock.
        self._shutdown = False
        # shutdown(cancel_futures=True) or Ctrl-C: a task not started yet never starts,
        # even one a thread took off a queue just before (see _run_task).
        self._cancel_all = False
        self._closed = False  # shut down and nothing left to run: workers may exit
        self._broken: str | None = None
        self._queued = 0  # bounded pools only: tasks counted against max_queued
        self._counts = Counters()
        self._gate: KeyGate[Task] = KeyGate(key_limit, self._scheduler, self._key_tick)
        self._throttles = ThrottleBook(throttle)
        self._retrying: dict[int, Task] = {}
        # returns_future attempts whose inner future has not resolved yet, by task id.
        self._awaiting: dict[int, Task] = {}
        self._timers: set[TimerHandle] = set()
        self._maps: set[MapRun[Any]] = set()

        def wake_workers(_: object, q: queue.SimpleQueue[Item] = self._queue) -> None:
            q.put(None)

        self._ref = weakref.ref(self, wake_workers)
        _exit.register(self)

    @property
    def name(self) -> str:
        """The pool's name (for logs, events and traces)."""
        return self._events.name

    @name.setter
    def name(self, value: str) -> None:
        self._events.name = value

    def _check_open_locked(self) -> None:
        if self._broken is not None:
            raise BrokenPool(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if exiting.now:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def _dispatch_locked(self, task: Task, *, front: bool = False) -> None:
        """Queue an attempt: at the back of the run queue, or (``front``) on the ready
        deque that workers serve first, for tasks that already waited their turn."""
        if self._heap is not None:
            self._push_heap_locked(self._heap, task)
        elif front:
            self._push_ready_locked(task)
        else:
            self._queue.put(task)
            self._adjust_thread_count_locked()

    def _push_ready_locked(self, task: Task) -> None:
        if self._heap is not None:
            self._push_heap_locked(self._heap, task)
            return
        self._ready.append(task)
        self._queue.put(WAKE)
        self._adjust_thread_count_locked()

    def _push_heap_locked(self, heap: RunHeap, task: Task) -> None:
        heap.push_task(task)
        self._queue.put(PRIO)
        self._adjust_thread_count_locked()

    def _prioritize_locked(self) -> RunHeap:
        """Switch to priority order (once, at the first task with a priority): the
        tasks already queued move to the heap, so that a later, higher-priority task
        can pass them. Returns the heap."""
        heap = self._heap
        if heap is not None:
            return heap
        heap = self._heap = RunHeap()
        moved: list[Task] = []
        while self._ready:
            moved.append(self._ready.popleft())
        moved.extend(self._take_queued_tasks_locked())
        for task in moved:
            heap.push_task(task)
            self._queue.put(PRIO)
        return heap

    def _take_queued_tasks_locked(self) -> list[Task]:
        """Take the tasks out of the run queue, in order. What else it holds (map
        pullers, PRIO tokens) goes back in, in order; wake-ups are dropped (whoever
        empties the queue has nothing for a woken worker to find)."""
        tasks: list[Task] = []
        others: list[Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if type(item) is Task:
                tasks.append(item)
            elif item is not WAKE:
                others.append(item)
        for item in others:
            self._queue.put(item)
        return tasks

    def _pop_prio(self) -> Item:
        """For a worker that took a PRIO token: the best item of the heap (None if a
        drain emptied it)."""
        with self._lock:
            heap = self._heap
            return None if heap is None else cast(Item, heap.pop())

    def _start_successors_locked(self, successors: Sequence[Task]) -> None:
        """Start tasks their key let go (each holds its slot already)."""
        for successor in successors:
            successor.future._on_cancel = None  # no longer parked
            self._move_locked(successor, QUEUED)
            if successor.inline:
                # Started by this thread once it lets go of the lock (_start_released).
                self._released.append(successor)
            else:
                # It already waited its turn: it goes ahead of the run queue.
                self._push_ready_locked(successor)

    def _adjust_thread_count_locked(self) -> None:
        if self._all_started:
            return  # every worker exists: the idle count no longer matters
        if self._idle.acquire(timeout=0):
            return
        n = len(self._threads)
        self._all_started = n + 1 >= self._max_workers
        if n < self._max_workers:
            self._spawn_worker_locked()

    def _spawn_worker_locked(self) -> None:
        # Numbered for the pool's life: after a shrink and a grow, names are not reused.
        state = WorkerState(f"{self._prefix}_{self._thread_seq}")
        self._thread_seq += 1
        thread = threading.Thread(
            name=state.name,
            target=worker,
            args=(
                self._ref,
                self._queue,
                self._ready,
                state,
                self._initializer,
                self._initargs,
                self._retirement,
            ),
        )
        thread.start()
        self._threads.add(thread)
        self._workers.append(state)  # kept after it leaves: its counters still count

    def _resize_locked(self, max_workers: int) -> None:
        """Pool.resize under the lock: start threads for waiting work up to the new
        maximum, or mark the workers in excess (each leaves before its next item)."""
        self._max_workers = max_workers
        live = len(self._threads)
        if max_workers >= live:
            self._retirement.excess = 0
            # Grow at once: a thread per item waiting (tokens included: a rough count),
            # the rest on demand as before.
            waiting = self._queue.qsize() + len(self._ready)
            for _ in range(min(max_workers - live, waiting)):
                self._spawn_worker_locked()
            self._all_started = len(self._threads) >= max_workers
        else:
            excess = self._retirement.excess = live - max_workers
            self._all_started = True
            for _ in range(excess):
                self._queue.put(WAKE)  # idle workers look at the excess too

    def _retire_worker(self) -> bool:
        """A worker saw an excess: True if it is to leave now (it then does)."""
        with self._lock:
            retirement = self._retirement
            if retirement.excess <= 0:
                return False
            retirement.excess -= 1
            thread = threading.current_thread()
            self._threads.discard(thread)
            self._retired.append(thread)
            return True

    def _move_locked(self, task: Task, to: Phase, outcome: Outcome | None = None) -> bool:
        """Move ``task`` to phase ``to`` and keep the books of that step, once.

        The one place a task changes phase under the lock (two lock-free steps, taken by
        the thread that owns the task and carrying no shared books, set ``task.phase``
        directly: a task without a place under ``max_queued`` starting to run, and the
        fast path's success, counted in its worker's ``settled``). Returns False, and
        does nothing, for a step ``MOVES`` does not allow (raises :class:`IllegalMove`
        when ``_task.STRICT`` is on, as in the tests). The books of a step:

        - queue place (``max_queued``): given back when the task starts or settles;
        - key slot: given back when the attempt ends (to RETRY_WAIT, FINISHING or
          SETTLED); the tasks the key lets go then are started;
        - ``_awaiting`` / ``_retrying``: the task is in the one that names its phase;
        - on_wait: a move to PARKED or RETRY_WAIT owes the task's hook a -1;
        - counters: ``retried`` on a move to RETRY_WAIT, ``outcome`` (if any: a
          deadline or a cancel() may have counted it already) on a move to SETTLED;
        - settling: the outstanding count, the deadline timer, and the pool's close
          once shut down and idle.
        """
        frm = task.phase
        if not MOVES[frm] & to:
            return self._illegal_move(task, frm, to)
        task.phase = to
        if task.bounded and (to is RUNNING or to is SETTLED):
            task.bounded = False
            self._queued -= 1
            self._not_full.notify()
        if frm is AWAITING:
            del self._awaiting[task.future.task_id]
        elif frm is RETRY_WAIT:
            # A cancelling shutdown may have emptied _retrying already.
            self._retrying.pop(task.future.task_id, None)
        if to is SETTLED:
            if task.keyed:
                self._release_slot_locked(task)
            counts = self._counts
            if outcome is SUCCEEDED:
                counts.succeeded += 1
            elif outcome is not None:
                self._count_locked(outcome)
            counts.outstanding -= 1
            if task.deadline_entry is not None:
                task.deadline_entry.cancel()
                task.deadline_entry = None
            if self._shutdown and counts.idle(self._workers):
                self._close_locked()
        elif to is AWAITING:
            self._awaiting[task.future.task_id] = task
        elif to is RETRY_WAIT:
            self._retrying[task.future.task_id] = task
            self._counts.retried += 1
            task.owes_wait_end = task.on_wait is not None
            if task.keyed:
                self._release_slot_locked(task)
        elif to is PARKED:
            task.owes_wait_end = task.on_wait is not None
        elif to is FINISHING and task.keyed:
            self._release_slot_locked(task)
        return True

    def _apply_throttle_locked(self, key: Hashable, limit: int | None, interval: float) -> None:
        """Give ``key`` the limit and spacing a throttle decided (None: no limit of its
        own); start what that lets go."""
        self._start_successors_locked(self._gate.set_limit(key, limit))
        if interval != self._gate.spacing(key):
            self._start_successors_locked(self._gate.set_spacing(key, interval))

    def _release_slot_locked(self, task: Task) -> None:
        successors = self._gate.release(task)
        if successors:
            self._start_successors_locked(successors)

    def _count_locked(self, outcome: Outcome) -> None:
        counts = self._counts
        if outcome is SUCCEEDED:
            counts.succeeded += 1
        elif outcome is CANCELLED:
            counts.cancelled += 1
        else:
            counts.failed += 1
            if outcome is TIMED_OUT:
                counts.timed_out += 1

    def _illegal_move(self, task: Task, frm: Phase, to: Phase) -> bool:
        message = (
            f"pool {self.name!r}: task {task.label!r} cannot move from {frm.name} to "
            f"{to.name} (a bug in threadloom: please report it)"
        )
        if _task.STRICT:
            raise IllegalMove(message)
        _log.critical(message)
        return False

    def _interrupt(self) -> None:
        """Ctrl-C in a thread waiting on the pool: cancel everything, ask tasks to stop."""
        self._stop(cancel_futures=True, reason="interrupt")

    def _stop(self, *, cancel_futures: bool, reason: str) -> None:
        with self._lock:
            self._shutdown = True
            self._gate.stop_ticks()
            if cancel_futures:
                self._cancel_all = True
            self._not_full.notify_all()  # blocked submitters get RuntimeError
            timers = list(self._timers)
            self._timers.clear()
            maps = list(self._maps) if cancel_futures else []
            cancelled: list[Task] = []
            running: list[TaskFuture[Any]] = []
            inners: list[Future[Any]] = []
            if cancel_futures:
                cancelled = self._drain_locked()
                running = [ws.current for ws in self._workers if ws.current is not None]
                for task in self._awaiting.values():
                    running.append(task.future)
                    if task.inner is not None:
                        inners.append(task.inner)
            # After Ctrl-C, close even with work outstanding: an attempt the interrupt
            # cut off half-started is tracked nowhere and would keep the workers (and
            # so shutdown(wait=True)) waiting forever. Workers exit after their task.
            if reason == "interrupt" or self._counts.idle(self._workers):
                self._close_locked()
        for timer in timers:
            timer.cancel()
        for run in maps:
            run.stop(reason)
        for future in running:
            future.token.set(reason)
        # After the tokens: an inner future's cancellation is then not retried. Outside
        # the lock: cancelling runs its done-callbacks, which settle the attempt.
        for inner in inners:
            inner.cancel()
        for task in cancelled:
            forced = task.future._force_cancel()  # False if a deadline settled it first
            with self._lock:
                self._move_locked(task, SETTLED, CANCELLED if forced else None)
            if forced and self._events.listeners:
                self._events.task("cancelled", task, task.future.attempts)
            if task.retry_entry is not None:
                task.retry_entry.cancel()

    def _drain_locked(self) -> list[Task]:
        """Remove every task waiting to start or waiting for a retry; the caller settles
        each (``_move_locked``, which gives back their queue places and key slots)."""
        drained: list[Task] = self._gate.drain()
        for task in drained:
            task.future._on_cancel = None  # cancelled by the caller, as drained
        for ready in (self._ready, self._released):
            while ready:
                drained.append(ready.popleft())
        if self._heap is not None:
            # Map pullers stay (as in the run queue below), with their PRIO tokens.
            drained.extend(self._heap.drain_tasks())
        drained.extend(self._take_queued_tasks_locked())
        for task in self._retrying.values():
            # The retry wait ends once, under the future's lock: a cancel() or deadline
            # that ended it first settles the task itself, so it is not drained twice.
            if task.future._end_retry_wait():
                drained.append(task)
        self._retrying.clear()
        return drained

    def _close_locked(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    def _join(self, deadline: float | None = None) -> bool:
        """Wait for the workers (and the idle scheduler) to exit, until ``deadline`` (a
        ``time.monotonic()`` value; None: as long as it takes). True if they all did."""
        with self._lock:  # a worker leaving on a shrink moves itself between the two
            threads = [*self._threads, *self._retired]
        for thread in threads:
            if thread is not threading.current_thread():
                while thread.is_alive():
                    if deadline is not None and time.monotonic() >= deadline:
                        return False
                    thread.join(wait_slice(deadline))
        # The scheduler thread leaves by itself once nothing is scheduled; wait for it
        # so that ``shutdown(wait=True)`` leaves no thread of this pool behind.
        self._scheduler.join_idle()
        return True

    def _initializer_failed(self) -> None:
        with self._lock:
            self._broken = "A thread initializer failed, the thread pool is not usable anymore"
            drained = self._drain_locked()
            maps = list(self._maps)
            self._not_full.notify_all()
        error = self._broken
        # A map's pullers may never run now (every worker may be gone): end each running
        # map with BrokenPool, after the results it already has, as Executor.map raises
        # at the first item whose future failed with BrokenThreadPool.
        for run in maps:
            run.stop("broken", BrokenPool(error))
        for task in drained:
            failed = task.future._fail(BrokenPool(error))
            with self._lock:
                self._move_locked(task, SETTLED, FAILED if failed else None)

    def _key_tick(self, key: Hashable) -> None:
        with self._lock:
            self._start_successors_locked(self._gate.tick(key))
        if self._released:
            self._start_released()

    def _start_released(self) -> None:
        """Start the inline tasks a key released while this thread held the lock (the
        engine's; declared here for the key gate's tick)."""
        raise NotImplementedError
