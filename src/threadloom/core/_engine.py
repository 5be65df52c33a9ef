"""The pool's engine: how a task is accepted, admitted to its key, run, retried, timed
out and cancelled. :class:`~threadloom.core.Pool` is its public face; the books every
step keeps (and shutdown) are in :mod:`._ledger`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FuturesTimeoutError
from functools import partial
from typing import Any, TypeVar

from ._cancel import CancelToken, _current
from ._errors import PoolFull
from ._future import TaskFuture, settled_outcome
from ._ledger import PoolLedger, WhenFull
from ._mapping import MapRun
from ._priority import PRIO
from ._retry import Retry
from ._task import (
    AWAITING,
    CANCELLED,
    FAILED,
    FINISHING,
    PARKED,
    QUEUED,
    RETRY_WAIT,
    RUNNING,
    SETTLED,
    SUCCEEDED,
    TIMED_OUT,
    Task,
)
from ._threads import WorkerState, worker_local
from ._waiting import wait_slice

__all__ = ["PoolEngine", "WhenFull"]

_log = logging.getLogger("threadloom.core")

_T = TypeVar("_T")


class PoolEngine(PoolLedger):
    """Submission, admission, attempts and their endings: the moves of a task."""

    # ---- submission ------------------------------------------------------------------

    def _submit(
        self,
        fn: Callable[..., _T],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        retry: Retry | None,
        *,
        key: Hashable | None = None,
        deadline: float | None = None,
        label: str | None = None,
        key_limit: int | None = None,
        key_rate: float | None = None,
        internal: bool = False,
        returns_future: bool = False,
        start_inline: bool = False,
        on_wait: Callable[[int], None] | None = None,
        priority: int = 0,
    ) -> TaskFuture[_T]:
        future: TaskFuture[_T] = TaskFuture()
        future.task_id = next(self._ids)
        future.token = CancelToken()
        future._unread = self._unread
        task = Task(self, future, fn, args, kwargs)
        if retry is not None:
            task.retry = retry
        if key is not None:
            future.key = task.key = key
            task.key_limit = key_limit
            task.key_rate = key_rate
        if label is not None:
            future.label = label
        if returns_future:
            task.returns_future = True
        if on_wait is not None:
            task.on_wait = on_wait
        if start_inline:
            task.inline = True
        if priority:
            task.priority = priority
        run_inline = False
        with self._lock:
            self._check_open_locked()
            if priority and self._heap is None:
                self._prioritize_locked()
            if self._max_queued is not None and not internal:
                if self._queued >= self._max_queued and worker_local.pool is not self:
                    mode = self._when_full
                    if mode == "raise":
                        raise PoolFull(
                            f"pool {self.name!r} has {self._queued} tasks waiting to start "
                            f"(max_queued={self._max_queued})"
                        )
                    if mode == "caller_runs" and key is None:
                        run_inline = True
                    else:
                        while self._queued >= self._max_queued:
                            self._not_full.wait(wait_slice(None))
                            self._check_open_locked()
                if not run_inline:
                    self._queued += 1
                    task.bounded = True
            self._counts.submitted += 1
            self._counts.outstanding += 1
            if key is not None and self._throttles.active:
                controller, new = self._throttles.controller(key)
                if new and controller is not None:
                    # A key's first task under a throttle: the key starts at its limit.
                    self._apply_throttle_locked(key, controller.limit, controller.interval)
            if deadline is not None:
                task.deadline_entry = self._scheduler.call_later(
                    deadline, lambda: self._expire(task)
                )
            if task.inline:
                run_inline = True  # _run_task admits it, or parks it behind its key
            elif not run_inline:
                self._dispatch_locked(task)
        if run_inline:
            # As on a worker: the deadline may already have failed the future (deadline=0,
            # or this thread was descheduled), and then the task is settled, not run.
            self._start_here(task)
        if self._released:
            self._start_released()
        return future

    def _admit(self, task: Task) -> bool:
        """Take a slot of the task's key, or park the task behind it (False).

        Admission happens when a worker dequeues the task, not at submit: a slot is never
        reserved by a task that is still queued behind others.
        """
        with self._lock:
            if self._cancel_all:
                # Shutdown drained the keys' queues already: parking now would strand the
                # task. Let _run_task cancel it instead.
                return True
            if self._gate.admit(task):
                return True
            # The hook first, then the check: a cancel() that misses the hook has already
            # made the check true.
            task.future._on_cancel = partial(self._drop_parked, task)
            if task.future.cancelled():
                # Its cancel() may be calling the hook now, waiting for the pool lock:
                # cleared under the lock, the hook finds nothing to do. Let it through:
                # the worker skips it.
                task.future._on_cancel = None
                return True
            self._gate.park(task)
            self._move_locked(task, PARKED)
            return False

    def _drop_parked(self, task: Task) -> None:
        """Settle a task cancelled while parked behind its key now, not when its key
        would have let it start: with a slow key_rate that may be hours away, and
        shutdown(wait=True) would wait for it. It stays in the key's deque, marked, and
        costs no start when the key reaches it."""
        with self._lock:
            if task.dropped or not task.future._on_cancel:
                return
            successors = self._gate.drop(task)
            if successors is None:
                return
            task.future._on_cancel = None  # released to a worker: that one skips it
            self._move_locked(task, SETTLED, CANCELLED)
            self._start_successors_locked(successors)
        # What a worker dequeuing it would have done: tell wait()/as_completed().
        task.future.set_running_or_notify_cancel()
        if self._released:
            self._start_released()
        if self._events.listeners:
            self._events.task("cancelled", task, task.future.attempts)

    def _start_released(self) -> None:
        """Start the inline tasks a key released while this thread held the lock.

        Not re-entered by a thread for the same pool: a task started here may end at
        once (its ``fn`` raised, its future was already done or cancelled) and free its
        key's slot for the next parked task, which lands on the same deque; the loop
        further up this thread's stack takes it, instead of a call one level deeper per
        task (a key with thousands of parked tasks would exhaust the stack). Per pool,
        because a task of this pool may release tasks of another pool on this thread
        (a pipeline's next stage), which must be started all the same.
        """
        draining = self._draining
        if draining.active:
            return
        draining.active = True
        released = self._released
        try:
            while released:
                try:
                    task = released.popleft()
                except IndexError:  # another thread took it
                    return
                self._start_here(task)
        finally:
            draining.active = False

    def _start_here(self, task: Task) -> None:
        """Run ``task`` on this thread, outside any worker (inline or caller-run).

        What escapes ``_run_task`` is not the task's failure (it settles those) but a
        bug or Ctrl-C landing here: the task must still settle and give back its key's
        slot, or the key stalls. A bug is logged and swallowed; Ctrl-C goes on up.
        """
        try:
            self._run_task(task, None)
        except BaseException as exc:
            self._abort_start(task, exc)
            if not isinstance(exc, Exception):
                raise

    def _abort_start(self, task: Task, exc: BaseException) -> None:
        """Fail a task whose start went wrong outside its ``fn`` (a bug, or Ctrl-C in
        the starting thread) and undo what the start had taken: its place in the
        queued count, its key's slot, its entry among awaited attempts."""
        if isinstance(exc, Exception):
            _log.critical("pool %r: starting task %r failed", self.name, task.label, exc_info=exc)
        resolved = task.future._fail(exc)
        with self._lock:
            if task.phase is SETTLED:
                return  # whoever resolved it first settled it too
            if task.phase is PARKED:
                # Interrupted right after parking: the key must skip it, not start it.
                task.future._on_cancel = None
                successors = self._gate.drop(task)
                if successors:
                    self._start_successors_locked(successors)
            self._move_locked(task, SETTLED, FAILED if resolved else None)

    # ---- running -----------------------------------------------------------------------

    def _run_task(self, task: Task, ws: WorkerState | None) -> None:
        if task.owes_wait_end:
            task.owes_wait_end = False
            self._tell_wait(task, -1)
        if task.key is not None and not task.keyed and not self._admit(task):
            # Parked behind its key; a finishing task of the key releases it.
            if task.on_wait is not None:
                self._tell_wait(task, 1)
            return
        future = task.future
        if self._cancel_all:
            # Taken off a queue (or the released deque) just before shutdown drained it:
            # cancelled like the ones the drain found, never started (a retry included:
            # _force_cancel also cancels a task between attempts).
            future._force_cancel()  # False if a deadline settled it first; _skip counts
            self._skip(task)
            return
        if future.attempts == 0:
            if task.deadline_entry is None:
                started = future.set_running_or_notify_cancel()
            else:
                started = future._try_start()
        else:
            started = not future.done()
        if not started:
            self._skip(task)
            return
        if task.bounded:
            with self._lock:
                self._move_locked(task, RUNNING)  # gives back its queue place
        else:
            task.phase = RUNNING  # lock-free: nothing to account (see _move_locked)
        future.attempts = attempt = future.attempts + 1
        listeners = self._events.listeners
        if listeners:
            self._events.task("start", task, attempt)
        if ws is not None:
            ws.current = future
        previous = _current.token
        _current.token = future.token
        task.started = t0 = time.monotonic()
        try:
            result = task.fn(*task.args, **task.kwargs)
        except BaseException as exc:
            error: BaseException | None = exc
        else:
            error = None
        finally:
            _current.token = previous
            if ws is not None:
                ws.busy += time.monotonic() - t0
                ws.current = None
        if (
            ws is None
            and isinstance(error, KeyboardInterrupt)
            and threading.current_thread() is threading.main_thread()
        ):
            # Ctrl-C landing in a task that runs on the main thread (start_inline, or
            # caller_runs) is the program's interrupt, not the task's failure: kept as
            # the failure, it was lost (a fetch run went on, that URL failed with
            # "KeyboardInterrupt:"). _start_here settles the task and lets it go up.
            raise error
        if error is None:
            if task.returns_future:
                if isinstance(result, Future):
                    self._await_inner(task, result, attempt, ws)
                    return
                error = TypeError(
                    f"task {task.label!r} "
                    "was submitted with returns_future=True, so its function must return a "
                    f"concurrent.futures.Future; it returned {type(result).__name__}"
                )
                del result
                self._end_attempt(task, attempt, None, error, retry=False)
                return
            if task.deadline_entry is None and not task.keyed and ws is not None:
                # The fast path: nothing else can settle this future, no key to release.
                future.set_result(result)
                del result
                if listeners:
                    self._events.task("finish", task, attempt)
                # Count first, then look at _shutdown: _stop() sets _shutdown first and
                # then counts, so one of the two always sees the other (see _idle_locked).
                task.phase = SETTLED  # lock-free: counted in ws.settled
                ws.settled += 1
                if self._shutdown:
                    with self._lock:
                        if self._counts.idle(self._workers):
                            self._close_locked()
                return
        self._end_attempt(task, attempt, result if error is None else None, error)

    def _end_attempt(
        self,
        task: Task,
        attempt: int,
        result: object,
        error: BaseException | None,
        *,
        retry: bool = True,
        thread: str | None = None,
    ) -> None:
        """Settle an attempt that ended with ``result`` or ``error`` (off the fast path).

        ``thread`` names the worker that started the attempt when it ends elsewhere (an
        inner future resolved on another thread, from phase AWAITING).
        """
        future = task.future
        if task.key is not None and self._throttles.active:
            self._observe(task, error)
        listeners = self._events.listeners
        if error is None:
            resolved = future._succeed(result)
            del result
            if listeners:
                self._events.task("finish", task, attempt, thread=thread)
            with self._lock:
                self._move_locked(task, SETTLED, SUCCEEDED if resolved else None)
            if self._released:
                self._start_released()
            return
        if listeners:
            self._events.task("finish", task, attempt, error, thread=thread)
        policy = task.retry
        delay = None
        if retry and policy is not None and not future.token.is_set():
            try:
                if policy.should_retry(error, attempt):
                    delay = policy.delay(error, attempt)
            except Exception:
                # A retry_on predicate that raises must not lose the task: it fails
                # with the attempt's own error, as if no retry were allowed.
                _log.exception("pool %r: the retry policy of task %r raised", self.name, task.label)
                delay = None
        with self._lock:
            if (
                delay is not None
                and not self._closed
                and future._begin_retry_wait(lambda reason: self._abandon_retry(task, reason))
            ):
                self._move_locked(task, RETRY_WAIT)
                task.retry_entry = self._scheduler.call_later(delay, lambda: self._redispatch(task))
                retrying = True
            else:
                # Its key's slot is free before its failure is delivered (the future's
                # callbacks may submit to the same key).
                self._move_locked(task, FINISHING)
                retrying = False
        if self._released:
            self._start_released()
        if retrying:
            if task.on_wait is not None:
                self._tell_wait(task, 1)
            if listeners:
                self._events.task("retry", task, attempt, error)
            return
        resolved = future._fail(error)
        del error
        with self._lock:
            self._move_locked(task, SETTLED, FAILED if resolved else None)

    def _observe(self, task: Task, error: BaseException | None) -> None:
        """Feed an ended attempt of a keyed task to its key's throttle; apply (and emit)
        what it decides before the attempt gives its slot back."""
        key = task.key
        controller, new = self._throttles.controller(key)
        if controller is None:
            return
        decision = controller.observe(task.started, time.monotonic(), error)
        if decision is None and not new:
            return
        limit = controller.limit if decision is None else decision.limit
        interval = controller.interval if decision is None else decision.interval
        with self._lock:
            self._apply_throttle_locked(key, limit, interval)
        if self._released:
            self._start_released()
        if self._events.listeners:
            if decision is None:
                self._events.throttle(key, limit, interval, "policy", time.monotonic())
            else:
                self._events.throttle(key, limit, interval, decision.reason, decision.time)

    def _await_inner(
        self, task: Task, inner: Future[Any], attempt: int, ws: WorkerState | None
    ) -> None:
        """Keep the attempt running (key slot, deadline, statistics) until ``inner``
        resolves; the worker that started it goes back to the run queue now."""
        task.thread = threading.current_thread().name if ws is None else ws.name
        with self._lock:
            task.inner = inner
            self._move_locked(task, AWAITING)
        # If inner is already done this runs the settling here, on the worker, at once.
        inner.add_done_callback(lambda f: self._inner_done(task, f, attempt))

    def _inner_done(self, task: Task, inner: Future[Any], attempt: int) -> None:
        task.inner = None
        cancelled, error, result = settled_outcome(inner)
        if cancelled:
            error = CancelledError(f"the future returned by task {task.label!r} was cancelled")
        try:
            self._end_attempt(task, attempt, result, error, thread=task.thread)
        except BaseException:
            # Future swallows what a done-callback raises; a task must not vanish silently.
            _log.critical(
                "pool %r: settling task %r failed", self.name, task.future.task_id, exc_info=True
            )

    def _tell_wait(self, task: Task, delta: int) -> None:
        on_wait = task.on_wait
        assert on_wait is not None
        try:
            on_wait(delta)
        except Exception:
            _log.exception("pool %r: on_wait of task %r failed", self.name, task.future.task_id)

    def _skip(self, task: Task) -> None:
        """A dequeued attempt whose future is already settled (cancelled or timed out)."""
        cancelled = task.future.cancelled()
        with self._lock:
            self._move_locked(task, SETTLED, CANCELLED if cancelled else None)
        if self._released:
            self._start_released()
        if cancelled and self._events.listeners:
            self._events.task("cancelled", task, task.future.attempts)

    def _redispatch(self, task: Task) -> None:
        if not task.future._end_retry_wait():
            return  # cancelled or timed out meanwhile: already settled
        with self._lock:
            task.retry_entry = None
            # A cancelling shutdown may have emptied _retrying meanwhile; the task is
            # this thread's all the same (it ended the wait): the worker that takes it
            # cancels it then.
            self._move_locked(task, QUEUED)
            self._dispatch_locked(task, front=True)

    def _abandon_retry(self, task: Task, reason: str) -> None:
        """Settle a task waiting for a retry that was cancelled or timed out."""
        with self._lock:
            entry = task.retry_entry
            task.retry_entry = None
            # A deadline counted its outcome when it failed the future.
            outcome = None if reason == "deadline" else CANCELLED
            self._move_locked(task, SETTLED, outcome)
        if entry is not None:
            entry.cancel()
        if reason != "deadline" and self._events.listeners:
            self._events.task("cancelled", task, task.future.attempts)

    def _expire(self, task: Task) -> None:
        future = task.future
        failed, settle = future._expire(
            FuturesTimeoutError(f"task {task.label} passed its deadline")
        )
        if not failed:
            return
        future.token.set("deadline")
        with self._lock:
            # The task itself settles when its holder lets it go (the attempt running
            # now ends, a worker skips it, or the retry wait ends just below).
            self._count_locked(TIMED_OUT)
        if settle is not None:
            settle("deadline")
        if self._events.listeners:
            self._events.task("timeout", task, future.attempts)

    # The MapRun engine calls these.
    def _map_spawn(self, run: MapRun[Any], count: int) -> int:
        """Queue ``count`` pullers for ``run``; returns how many were queued."""
        with self._lock:
            if self._closed or self._broken is not None:
                return 0
            heap = self._heap
            if run.priority and heap is None:
                heap = self._prioritize_locked()
            for _ in range(count):
                self._counts.outstanding += 1
                if heap is None:
                    self._queue.put(run)
                else:
                    heap.push(run.priority, next(self._ids), run)
                    self._queue.put(PRIO)
                self._adjust_thread_count_locked()
        return count

    def _map_account(
        self,
        run: MapRun[Any],
        *,
        read: int = 0,
        ok: int = 0,
        failed: int = 0,
        cancelled: int = 0,
        puller_done: bool = False,
        finished: bool = False,
    ) -> None:
        with self._lock:
            if read:
                self._counts.submitted += read
                self._counts.outstanding += read
            self._counts.succeeded += ok
            self._counts.failed += failed
            self._counts.cancelled += cancelled
            self._counts.outstanding -= ok + failed + cancelled + (1 if puller_done else 0)
            if finished:
                self._maps.discard(run)
            if self._shutdown and self._counts.idle(self._workers):
                self._close_locked()
