"""Pool: a ThreadPoolExecutor drop-in with back-pressure, per-key limits, retries,
deadlines, timers, cooperative cancellation, statistics and events."""

from __future__ import annotations

import itertools
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import CancelledError, Executor, Future
from concurrent.futures import TimeoutError as FuturesTimeoutError
from functools import partial
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, cast

from ._cancel import CancelToken, _current
from ._errors import BrokenPool, PoolFull
from ._events import EventKind, Listener, PoolStatistics, TaskEvent
from ._future import TaskFuture, settled_outcome
from ._mapping import MapRun
from ._retry import Retry
from ._scheduler import Scheduler, _Entry
from ._timers import Timer
from ._waiting import wait_slice

__all__ = ["Pool", "WhenFull"]

_log = logging.getLogger("threadloom.core")
# Where ThreadPoolExecutor logs a failing initializer: tools and tests watch this logger.
_futures_log = logging.getLogger("concurrent.futures")

_T = TypeVar("_T")
_P = ParamSpec("_P")

WhenFull = Literal["block", "raise", "caller_runs"]

# ---- interpreter exit ---------------------------------------------------------------------
# Like ThreadPoolExecutor: a hook that runs before the interpreter joins non-daemon
# threads lets idle workers go and lets queued work finish, instead of hanging on workers
# blocked in queue.get(). threading._register_atexit (not atexit) because atexit handlers
# run only after non-daemon threads were joined (bpo-39812).
_live_pools: weakref.WeakSet[Pool] = weakref.WeakSet()
_global_shutdown = False
_global_lock = threading.Lock()


def _python_exit() -> None:
    global _global_shutdown
    with _global_lock:
        _global_shutdown = True
        pools = list(_live_pools)
    # An uncaught Ctrl-C is on its way out: do not start queued work, ask running tasks
    # to stop (they finish when they next check cancelled()).
    last = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    interrupted = isinstance(last, KeyboardInterrupt)
    for pool in pools:
        pool._stop(cancel_futures=interrupted, reason="interrupt" if interrupted else "shutdown")
    for pool in pools:
        pool._join()


threading._register_atexit(_python_exit)  # type: ignore[attr-defined]

if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_global_lock.acquire,
        after_in_child=_global_lock._at_fork_reinit,  # type: ignore[attr-defined]
        after_in_parent=_global_lock.release,
    )


class _WorkerLocal(threading.local):
    pool: Pool | None = None


class _Draining(threading.local):
    """Per pool and thread: whether this thread is inside that pool's _start_released."""

    active = False


_worker_local = _WorkerLocal()


class _WorkerState:
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


class _Task:
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
        pool: Pool,
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


class _KeyState:
    __slots__ = (
        "active",
        "dropped",
        "interval",
        "limit",
        "next_start",
        "requested",
        "tick",
        "waiting",
    )

    def __init__(self, limit: int | None, requested: int | None, rate: float | None) -> None:
        self.limit = sys.maxsize if limit is None else limit
        # The key_limit of the submit call that brought the key into use: what the key's
        # limit falls back to when set_key_limit(key, None) drops an explicit one.
        self.requested = requested
        # Rate limit: at most one start per `interval` seconds for the key.
        self.interval = 0.0 if rate is None else 1.0 / rate
        self.next_start = 0.0
        self.tick: _Entry | None = None  # scheduler entry that re-checks the key
        self.active = 0
        self.waiting: deque[_Task] = deque()
        self.dropped = 0  # tasks in `waiting` that were cancelled there (_Task.dropped)

    def has_waiting(self) -> bool:
        """True if a task still to start waits behind the key."""
        return len(self.waiting) > self.dropped


class _Wake:
    """Queued to wake a worker for a task placed on the pool's ready deque."""

    __slots__ = ()


_WAKE = _Wake()

_Item = _Task | MapRun[Any] | _Wake | None


def _worker(
    pool_ref: weakref.ref[Pool],
    work: queue.SimpleQueue[_Item],
    ready: deque[_Task],
    state: _WorkerState,
    initializer: Callable[..., object] | None,
    initargs: tuple[Any, ...],
) -> None:
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:
            # As ThreadPoolExecutor, word for word: the traceback, once, on its logger.
            # Ours gets one line naming the pool and what follows (no second traceback).
            _futures_log.critical("Exception in initializer:", exc_info=True)
            pool = pool_ref()
            _log.error(
                "%s: initializer failed in %s (%s): the pool is broken; its queued and "
                "mapped work fails with BrokenPool",
                "pool" if pool is None else pool.name,
                threading.current_thread().name,
                _describe(exc),
            )
            del exc
            if pool is not None:
                pool._initializer_failed()
            return
    _worker_local.pool = pool_ref()
    item: _Item
    try:
        while True:
            if ready:
                # Tasks that already waited (behind a full key, or for a retry) go first.
                try:
                    item = ready.popleft()
                except IndexError:  # another worker took it
                    continue
            else:
                try:
                    item = work.get_nowait()
                except queue.Empty:
                    # Going idle: hold no strong reference, so a pool nobody uses can be
                    # collected (its weakref callback then wakes us with None).
                    _worker_local.pool = None
                    pool = pool_ref()
                    if pool is not None and not pool._all_started:
                        pool._idle.release()
                    del pool
                    item = work.get()
            if item is _WAKE:
                continue
            if item is None:
                pool = pool_ref()
                if _global_shutdown or pool is None or pool._closed:
                    work.put(None)  # pass the wake-up on to the next worker
                    return
                del pool
                continue
            if type(item) is _Task:
                _worker_local.pool = item.pool
                item.pool._run_task(item, state)
            else:
                run = cast(MapRun[Any], item)
                _worker_local.pool = run.pool
                run.run(state)
                del run
            del item
    except BaseException:
        _log.critical("Exception in worker", exc_info=True)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Pool(Executor):
    """A thread pool that is a drop-in :class:`concurrent.futures.ThreadPoolExecutor`.

    ``max_workers``, ``thread_name_prefix``, ``initializer`` and ``initargs`` mean what they
    mean for ThreadPoolExecutor: at most ``max_workers`` threads (default
    ``min(32, cpu_count + 4)``), started on demand, reused, named ``{prefix}_{n}`` (the
    prefix defaults to ``Pool-N``); a failing ``initializer`` is logged as there (CRITICAL
    on the ``concurrent.futures`` logger) and breaks the pool (:class:`BrokenPool`, a
    ``BrokenThreadPool``; a running map ends with it too). With only those arguments the
    pool behaves as ThreadPoolExecutor does.

    Keyword-only additions:

    max_queued: bound on tasks submitted but not yet started (in the run queue or behind
        a full key). None (default) means unbounded, as in the standard library.
    when_full: what ``submit`` does when ``max_queued`` tasks are waiting:
        ``"block"`` waits (no timeout; Ctrl-C interrupts it; shutdown ends it with
        RuntimeError), ``"raise"`` raises :class:`PoolFull`, ``"caller_runs"`` runs the
        task's first attempt in the calling thread and returns its already-resolved future
        (keyed tasks block instead: running them inline would break the key's limit).
        A submit from one of this pool's own threads never waits: with ``"block"`` the task
        is queued beyond the bound, because a worker waiting for room that only workers can
        make is a deadlock.
    key_limit: default cap on concurrently running tasks per key (None: no cap).
    retry: default :class:`Retry` policy for ``submit_task`` (None: no retries).
    name: the pool's name for logs and traces (defaults to the thread name prefix).
    raise_unread: if True, leaving a ``with`` block normally calls :meth:`raise_failures`
        after the shutdown, so failures nobody read are not lost.
    """

    _counter = itertools.count().__next__

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Callable[..., object] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        max_queued: int | None = None,
        when_full: WhenFull = "block",
        key_limit: int | None = None,
        retry: Retry | None = None,
        name: str | None = None,
        raise_unread: bool = False,
    ) -> None:
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if max_queued is not None and max_queued < 1:
            raise ValueError(f"max_queued must be None or >= 1, got {max_queued}")
        if when_full not in ("block", "raise", "caller_runs"):
            raise ValueError(
                f"when_full must be 'block', 'raise' or 'caller_runs', got {when_full!r}"
            )
        if key_limit is not None and key_limit < 1:
            raise ValueError(f"key_limit must be None or >= 1, got {key_limit}")
        self._max_workers = max_workers
        self._prefix = thread_name_prefix or f"Pool-{self._counter()}"
        self.name = name or self._prefix
        """The pool's name (for logs and traces)."""
        self._initializer = initializer
        self._initargs = initargs
        self._max_queued = max_queued
        self._when_full: WhenFull = when_full
        self._key_limit = key_limit
        self._retry = retry
        self._raise_unread = raise_unread

        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        # Tasks released from a key's queue or back from a retry wait: they were
        # submitted before what is in the run queue now, so workers take them first.
        self._ready: deque[_Task] = deque()
        # start_inline tasks a key released under the lock, for the releasing thread to
        # start once it has let go of the lock (_start_released).
        self._released: deque[_Task] = deque()
        self._draining = _Draining()
        self._idle = threading.Semaphore(0)
        self._threads: set[threading.Thread] = set()
        self._all_started = False  # max_workers threads exist: skip the idle bookkeeping
        self._workers: list[_WorkerState] = []
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self._scheduler = Scheduler(f"{self._prefix}_scheduler")
        self._unread: dict[int, TaskFuture[object]] = {}
        self._listeners: tuple[Listener, ...] = ()

        # Everything below is guarded by self._lock.
        self._shutdown = False
        # shutdown(cancel_futures=True) or Ctrl-C: a task not started yet never starts,
        # even one a thread took off a queue just before (see _run_task).
        self._cancel_all = False
        self._closed = False  # shut down and nothing left to run: workers may exit
        self._broken: str | None = None
        self._queued = 0  # bounded pools only: tasks counted against max_queued
        # Accepted work (tasks, map items, map pullers) minus what was settled under the
        # lock; the fast path's settlements are in the workers' `settled` counters.
        self._outstanding = 0
        self._keys: dict[Hashable, _KeyState] = {}
        self._key_limits: dict[Hashable, int] = {}
        self._key_rates: dict[Hashable, float] = {}  # set_key_rate's, kept for the pool's life
        self._retrying: dict[int, _Task] = {}
        # returns_future attempts whose inner future has not resolved yet, by task id.
        self._awaiting: dict[int, _Task] = {}
        self._timers: set[Timer] = set()
        self._maps: set[MapRun[Any]] = set()
        self._submitted = 0
        self._succeeded = 0
        self._failed = 0
        self._cancelled = 0
        self._timed_out = 0
        self._retried = 0

        def wake_workers(_: object, q: queue.SimpleQueue[_Item] = self._queue) -> None:
            q.put(None)

        self._ref = weakref.ref(self, wake_workers)
        with _global_lock:
            _live_pools.add(self)

    # ---- submission ------------------------------------------------------------------

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> TaskFuture[_T]:
        """Schedule ``fn(*args, **kwargs)``; return its :class:`TaskFuture`.

        As ``Executor.submit``, plus the pool's default retry policy and back-pressure.
        Raises RuntimeError after shutdown, :class:`BrokenPool` if an initializer failed,
        :class:`PoolFull` when full with ``when_full="raise"``.
        """
        return self._submit(fn, args, kwargs, self._retry)

    def submit_task(
        self,
        fn: Callable[..., _T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        key: Hashable | None = None,
        retry: Retry | None = None,
        deadline: float | None = None,
        label: str | None = None,
        key_limit: int | None = None,
        key_rate: float | None = None,
        returns_future: bool = False,
        start_inline: bool = False,
        on_wait: Callable[[int], None] | None = None,
    ) -> TaskFuture[_T]:
        """Schedule ``fn(*args, **kwargs)`` with the pool's extra controls.

        key: tasks with the same key run at most ``limit`` at a time, where the limit is
            ``set_key_limit(key, ...)`` if given, else this call's ``key_limit``, else the
            pool's ``key_limit`` (None everywhere: no cap). The limit is checked when a
            worker reaches the task in the run queue: if the key is full, the task moves to
            that key's FIFO queue without holding the worker, and a finishing task of the
            key hands its slot to the next one there, which then runs ahead of the run
            queue (it already waited its turn).
        retry: the retry policy (default: the pool's ``retry``). A failed attempt is
            re-scheduled on the pool's scheduler after the policy's delay; the future
            resolves once, with the final result or the last exception, and
            ``future.attempts`` says how many attempts ran.
        deadline: seconds from now. When it passes before the task is resolved, the
            future fails with :class:`TimeoutError` and the task's token is set. The
            thread running the attempt cannot be stopped: it goes on until the task checks
            :func:`cancelled` or returns, and its result is discarded; until then it keeps
            its worker (and its key's slot). No retry starts after the deadline.
        key_rate: at most this many tasks of the key start per second (evenly spaced,
            1/key_rate apart); tasks over the rate wait like tasks of a full key, and the
            scheduler releases them. Fixed by the first task that brings the key into use.
        label: a name for events and traces (default: ``fn.__name__``).
        returns_future: if True, ``fn`` starts the work and returns a
            :class:`concurrent.futures.Future` (the *inner* future) that something else
            completes later, from any thread (an I/O driver, another pool). The worker is
            free as soon as ``fn`` returns; the attempt stays running until the inner
            future resolves: it keeps its key's slot (``key_limit`` and ``key_rate`` still
            hold), counts as ``running`` in :meth:`statistics`, its deadline stays armed
            and its token is set by ``cancel()``, shutdown and the deadline (``fn`` runs
            with the token current, so it can hand ``current_token()`` to whatever
            completes the inner future). The inner future's result becomes the task's
            result; its exception goes through the retry policy exactly as if ``fn`` had
            raised it (re-scheduled on the scheduler, Retry-After honoured), and an inner
            future that ends cancelled counts as an attempt that raised
            :class:`concurrent.futures.CancelledError`. ``fn`` raising is handled as
            without this flag. ``fn`` returning anything but a Future fails the task at
            once (no retry) with :class:`TypeError`. The attempt's ``"finish"`` event is
            emitted on the thread that resolves the inner future, at that time, but names
            the worker that started the attempt (so a trace span runs from start to
            resolution on that worker's track). ``shutdown(wait=True)`` waits for inner
            futures; ``cancel_futures=True`` (and Ctrl-C) also calls ``cancel()`` on them.
            The inner future's done-callback does the settling (a lock, the key release,
            the task future's own callbacks), so it runs on the resolving thread.
        start_inline: only with ``returns_future``: an attempt that may start at once (its
            key has room) starts in the thread that made it runnable instead of going
            through the run queue to a worker: in ``submit_task`` itself, or in the thread
            whose finishing task freed the key's slot (a parked task; the pool's scheduler
            thread when the key's rate lets it start; the caller of ``set_key_limit``).
            Retries start on workers. That saves a hand-off to a
            worker thread per task, which is most of the pool's cost when ``fn`` only
            starts I/O (an ``HttpClient.submit``); ``fn`` must then be quick and must not
            block, since it runs on threads it does not own. Events name the thread that
            started the attempt. Ignored when the pool is full under
            ``when_full="caller_runs"`` (the task then runs in the caller anyway).
        on_wait: ``on_wait(+1)`` is called when the task starts waiting without being
            runnable (parked behind its key's limit or rate, or waiting for a retry's
            delay) and ``on_wait(-1)`` when a worker picks it up again (it may then park
            once more). It is called outside the pool's lock, from whichever thread made
            the change, so calls for one task can arrive out of order (a -1 before its
            +1): sum them. A task settled while parked (cancelled, timed out, shut down)
            gets no -1; its sum is then what was still owed. Exceptions it raises are
            logged and ignored. A pipeline uses it so that items waiting behind a busy key
            or for a retry do not take the room that runnable work needs.
        """
        if key_rate is not None and not key_rate > 0:
            raise ValueError(f"key_rate must be > 0 tasks/s, got {key_rate}")
        if deadline is not None and deadline < 0:
            raise ValueError(f"deadline must be >= 0 seconds, got {deadline}")
        if start_inline and not returns_future:
            raise ValueError("start_inline needs returns_future=True (fn must only start work)")
        return self._submit(
            fn,
            args,
            kwargs or {},
            self._retry if retry is None else retry,
            key=key,
            deadline=deadline,
            label=label,
            key_limit=key_limit,
            key_rate=key_rate,
            returns_future=returns_future,
            start_inline=start_inline,
            on_wait=on_wait,
        )

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
    ) -> TaskFuture[_T]:
        future: TaskFuture[_T] = TaskFuture()
        future.task_id = next(self._ids)
        future.token = CancelToken()
        future._unread = self._unread
        task = _Task(self, future, fn, args, kwargs)
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
        run_inline = False
        with self._lock:
            self._check_open_locked()
            if self._max_queued is not None and not internal:
                if self._queued >= self._max_queued and _worker_local.pool is not self:
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
            self._submitted += 1
            self._outstanding += 1
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

    def _check_open_locked(self) -> None:
        if self._broken is not None:
            raise BrokenPool(self._broken)
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if _global_shutdown:
            raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    def _dispatch_locked(self, task: _Task, *, front: bool = False) -> None:
        """Queue an attempt: at the back of the run queue, or (``front``) on the ready
        deque that workers serve first, for tasks that already waited their turn."""
        if front:
            self._push_ready_locked(task)
            return
        self._queue.put(task)
        self._adjust_thread_count_locked()

    def _admit(self, task: _Task) -> bool:
        """Take a slot of the task's key, or park the task behind it (False).

        Admission happens when a worker dequeues the task, not at submit: a slot is never
        reserved by a task that is still queued behind others.
        """
        key = task.key
        with self._lock:
            if self._cancel_all:
                # Shutdown drained the keys' queues already: parking now would strand the
                # task. Let _run_task cancel it instead.
                return True
            state = self._keys.get(key)
            if state is None:
                limit = self._key_limit_locked(key, task.key_limit)
                rate = self._key_rates.get(key, task.key_rate) if self._key_rates else task.key_rate
                if limit is None and rate is None:
                    return True
                state = self._keys[key] = _KeyState(limit, task.key_limit, rate)
            if state.has_waiting() or state.active >= state.limit:
                return not self._park_locked(task, state)
            if state.interval:
                now = time.monotonic()
                if now < state.next_start:
                    if not self._park_locked(task, state):
                        return True
                    self._arm_key_locked(key, state)
                    return False
                state.next_start = now + state.interval
            state.active += 1
            task.keyed = True
            return True

    def _park_locked(self, task: _Task, state: _KeyState) -> bool:
        """Park ``task`` behind its key; False (not parked) if it was cancelled already:
        the caller lets it through, and the worker skips it."""
        # The hook first, then the check: a cancel() that misses the hook has already
        # made the check true.
        task.future._on_cancel = partial(self._drop_parked, task)
        if task.future.cancelled():
            # Its cancel() may be calling the hook now, waiting for the pool lock:
            # cleared under the lock, the hook finds nothing to do; the worker skips it.
            task.future._on_cancel = None
            return False
        state.waiting.append(task)
        task.parked = task.on_wait is not None
        return True

    def _drop_parked(self, task: _Task) -> None:
        """Settle a task cancelled while parked behind its key now, not when its key
        would have let it start: with a slow key_rate that may be hours away, and
        shutdown(wait=True) would wait for it. It stays in the key's deque, marked, and
        costs no start when the key reaches it."""
        with self._lock:
            state = self._keys.get(task.key)
            if state is None or task.dropped or not task.future._on_cancel:
                return
            task.future._on_cancel = None  # released to a worker: that one skips it
            task.dropped = True
            state.dropped += 1
            self._unbound_locked(task)
            self._cancelled += 1
            self._settle_locked(task)
            self._pump_key_locked(task.key, state)
        # What a worker dequeuing it would have done: tell wait()/as_completed().
        task.future.set_running_or_notify_cancel()
        if self._released:
            self._start_released()
        if self._listeners:
            self._emit("cancelled", task, task.future.attempts)

    def _push_ready_locked(self, task: _Task) -> None:
        self._ready.append(task)
        self._queue.put(_WAKE)
        self._adjust_thread_count_locked()

    def _release_key_locked(self, task: _Task) -> None:
        task.keyed = False
        key = task.key
        state = self._keys[key]
        state.active -= 1
        self._pump_key_locked(key, state)

    def _pump_key_locked(self, key: Hashable, state: _KeyState) -> None:
        """Start waiting tasks of a key while its limit and rate allow; drop idle state."""
        now = time.monotonic() if state.interval else 0.0
        while state.waiting and state.active < state.limit:
            if state.waiting[0].dropped:
                state.waiting.popleft()
                state.dropped -= 1
                continue
            if now < state.next_start:
                self._arm_key_locked(key, state)
                return
            successor = state.waiting.popleft()
            successor.future._on_cancel = None  # no longer parked
            successor.keyed = True
            state.active += 1
            if state.interval:
                state.next_start = now + state.interval
            if successor.inline:
                # Started by this thread once it lets go of the lock (_start_released).
                self._released.append(successor)
            else:
                # It already waited its turn: it goes ahead of the run queue.
                self._push_ready_locked(successor)
        if state.active == 0 and not state.waiting:
            if now < state.next_start:
                # Forget the key once its rate allows. After shutdown only tasks already
                # accepted can come (they still honour the rate: the state stays), and a
                # tick would keep the scheduler thread, and the interpreter's exit,
                # waiting for nothing.
                if not self._shutdown:
                    self._arm_key_locked(key, state)
            else:
                if state.tick is not None:
                    state.tick.cancel()
                del self._keys[key]  # keys come and go: keep no state for idle ones

    def _arm_key_locked(self, key: Hashable, state: _KeyState) -> None:
        if state.tick is None:
            state.tick = self._scheduler.call_at(state.next_start, lambda: self._key_tick(key))

    def _key_tick(self, key: Hashable) -> None:
        with self._lock:
            state = self._keys.get(key)
            if state is not None:
                state.tick = None
                self._pump_key_locked(key, state)
        if self._released:
            self._start_released()

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

    def _start_here(self, task: _Task) -> None:
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

    def _unbound_locked(self, task: _Task) -> None:
        """The task no longer waits to start: free its place under ``max_queued``."""
        if task.bounded:
            task.bounded = False
            self._queued -= 1
            self._not_full.notify()

    def _abort_start(self, task: _Task, exc: BaseException) -> None:
        """Fail a task whose start went wrong outside its ``fn`` (a bug, or Ctrl-C in
        the starting thread) and undo what the start had taken: its place in the
        queued count, its key's slot, its entry among awaited attempts."""
        if isinstance(exc, Exception):
            _log.critical("pool %r: starting task %r failed", self.name, task.label, exc_info=exc)
        resolved = task.future._fail(exc)
        with self._lock:
            self._unbound_locked(task)
            self._awaiting.pop(task.future.task_id, None)
            if task.keyed:
                self._release_key_locked(task)
            if resolved:
                self._failed += 1
                # Settled here only if this call resolved it: otherwise whoever did
                # settles it (a second settle would miscount the pool's idle state).
                self._settle_locked(task)

    def _adjust_thread_count_locked(self) -> None:
        if self._all_started:
            return  # every worker exists: the idle count no longer matters
        if self._idle.acquire(timeout=0):
            return
        n = len(self._threads)
        self._all_started = n + 1 >= self._max_workers
        if n < self._max_workers:
            state = _WorkerState(f"{self._prefix}_{n}")
            thread = threading.Thread(
                name=state.name,
                target=_worker,
                args=(
                    self._ref,
                    self._queue,
                    self._ready,
                    state,
                    self._initializer,
                    self._initargs,
                ),
            )
            thread.start()
            self._threads.add(thread)
            self._workers.append(state)

    def set_key_limit(self, key: Hashable, limit: int | None) -> None:
        """Cap concurrently running tasks of ``key`` at ``limit`` (None: back to default).

        Applies to tasks dispatched from now on; raising a limit releases waiting tasks
        at once. Explicit limits are kept until reset with None.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"key limit must be None or >= 1, got {limit}")
        with self._lock:
            if limit is None:
                self._key_limits.pop(key, None)
            else:
                self._key_limits[key] = limit
            state = self._keys.get(key)
            if state is None:
                return
            effective = self._key_limit_locked(key, state.requested)
            state.limit = sys.maxsize if effective is None else effective
            self._pump_key_locked(key, state)
        if self._released:
            self._start_released()

    def set_key_rate(self, key: Hashable, rate: float) -> None:
        """Start at most ``rate`` tasks of ``key`` per second from now on, replacing the
        ``key_rate`` its tasks were submitted with (a crawler learns a host's
        Crawl-delay only once it has read that host's robots.txt).

        Kept for the pool's life: keys come and go, and a key that comes back uses this
        rate. For a key whose state is kept (tasks running or waiting, or a start
        within its last interval), the next start is 1/``rate`` after the last one: a
        slower rate holds waiting tasks back longer, a faster one releases them sooner.
        A key without state, or whose tasks had no rate, may start its next task at
        once.
        """
        if not rate > 0:  # "not >": nan too
            raise ValueError(f"key rate must be > 0 tasks/s, got {rate}")
        interval = 1.0 / rate
        with self._lock:
            self._key_rates[key] = rate
            state = self._keys.get(key)
            if state is None:
                return
            if state.interval:
                # next_start was the last start + the old interval.
                state.next_start += interval - state.interval
            state.interval = interval
            if state.tick is not None:
                # Armed for the old next start: re-armed for the new one by the pump.
                state.tick.cancel()
                state.tick = None
            self._pump_key_locked(key, state)
        if self._released:
            self._start_released()

    def _key_limit_locked(self, key: Hashable, requested: int | None) -> int | None:
        """The cap on running tasks of ``key`` (None: no cap): the ``set_key_limit`` one,
        else ``requested`` (a submit call's ``key_limit``), else the pool's default."""
        return self._key_limits.get(key) or requested or self._key_limit

    # ---- running -----------------------------------------------------------------------

    def _run_task(self, task: _Task, ws: _WorkerState | None) -> None:
        if task.parked:
            task.parked = False
            self._tell_wait(task, -1)
        if task.key is not None and not task.keyed and not self._admit(task):
            # Parked behind its key; a finishing task of the key releases it.
            if task.on_wait is not None:
                self._tell_wait(task, 1)
            return
        future = task.future
        if task.bounded:
            with self._lock:
                self._unbound_locked(task)
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
        future.attempts = attempt = future.attempts + 1
        listeners = self._listeners
        if listeners:
            self._emit("start", task, attempt)
        if ws is not None:
            ws.current = future
        previous = _current.token
        _current.token = future.token
        t0 = time.monotonic()
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
                    self._emit("finish", task, attempt)
                # Count first, then look at _shutdown: _stop() sets _shutdown first and
                # then counts, so one of the two always sees the other (see _idle_locked).
                ws.settled += 1
                if self._shutdown:
                    with self._lock:
                        if self._idle_locked():
                            self._close_locked()
                return
        self._end_attempt(task, attempt, result if error is None else None, error)

    def _end_attempt(
        self,
        task: _Task,
        attempt: int,
        result: object,
        error: BaseException | None,
        *,
        retry: bool = True,
        thread: str | None = None,
    ) -> None:
        """Settle an attempt that ended with ``result`` or ``error`` (off the fast path).

        ``thread`` names the worker that started the attempt when it ends elsewhere (an
        inner future resolved on another thread); such an attempt is also removed from
        ``_awaiting`` under the same lock hold that releases its key.
        """
        future = task.future
        listeners = self._listeners
        awaited = thread is not None
        if error is None:
            resolved = future._succeed(result)
            del result
            if listeners:
                self._emit("finish", task, attempt, thread=thread)
            with self._lock:
                if awaited:
                    del self._awaiting[future.task_id]
                if task.keyed:
                    self._release_key_locked(task)
                if resolved:
                    self._succeeded += 1
                self._settle_locked(task)
            if self._released:
                self._start_released()
            return
        if listeners:
            self._emit("finish", task, attempt, error, thread=thread)
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
            if awaited:
                del self._awaiting[future.task_id]
            if task.keyed:
                self._release_key_locked(task)
            if (
                delay is not None
                and not self._closed
                and future._begin_retry_wait(lambda reason: self._abandon_retry(task, reason))
            ):
                self._retried += 1
                self._retrying[future.task_id] = task
                task.retry_entry = self._scheduler.call_later(delay, lambda: self._redispatch(task))
                task.parked = task.on_wait is not None
                retrying = True
            else:
                retrying = False
        if self._released:
            self._start_released()
        if retrying:
            if task.on_wait is not None:
                self._tell_wait(task, 1)
            if listeners:
                self._emit("retry", task, attempt, error)
            return
        resolved = future._fail(error)
        del error
        with self._lock:
            if resolved:
                self._failed += 1
            self._settle_locked(task)

    def _await_inner(
        self, task: _Task, inner: Future[Any], attempt: int, ws: _WorkerState | None
    ) -> None:
        """Keep the attempt running (key slot, deadline, statistics) until ``inner``
        resolves; the worker that started it goes back to the run queue now."""
        task.thread = threading.current_thread().name if ws is None else ws.name
        with self._lock:
            task.inner = inner
            self._awaiting[task.future.task_id] = task
        # If inner is already done this runs the settling here, on the worker, at once.
        inner.add_done_callback(lambda f: self._inner_done(task, f, attempt))

    def _inner_done(self, task: _Task, inner: Future[Any], attempt: int) -> None:
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

    def _tell_wait(self, task: _Task, delta: int) -> None:
        on_wait = task.on_wait
        assert on_wait is not None
        try:
            on_wait(delta)
        except Exception:
            _log.exception("pool %r: on_wait of task %r failed", self.name, task.future.task_id)

    def _settle_locked(self, task: _Task) -> None:
        self._outstanding -= 1
        if task.deadline_entry is not None:
            task.deadline_entry.cancel()
            task.deadline_entry = None
        if self._shutdown and self._idle_locked():
            self._close_locked()

    def _idle_locked(self) -> bool:
        """True if no accepted work is left (tasks, retries, map items)."""
        return self._outstanding == sum(ws.settled for ws in self._workers)

    def _skip(self, task: _Task) -> None:
        """A dequeued attempt whose future is already settled (cancelled or timed out)."""
        cancelled = task.future.cancelled()
        with self._lock:
            if task.keyed:
                self._release_key_locked(task)
            if cancelled:
                self._cancelled += 1
            self._settle_locked(task)
        if self._released:
            self._start_released()
        if cancelled and self._listeners:
            self._emit("cancelled", task, task.future.attempts)

    def _redispatch(self, task: _Task) -> None:
        if not task.future._end_retry_wait():
            return  # cancelled or timed out meanwhile: already settled
        with self._lock:
            task.retry_entry = None
            # A cancelling shutdown may have emptied _retrying meanwhile; the task is
            # this thread's all the same (it ended the wait): the worker that takes it
            # cancels it then.
            self._retrying.pop(task.future.task_id, None)
            self._dispatch_locked(task, front=True)

    def _abandon_retry(self, task: _Task, reason: str) -> None:
        """Settle a task waiting for a retry that was cancelled or timed out."""
        with self._lock:
            entry = task.retry_entry
            task.retry_entry = None
            self._retrying.pop(task.future.task_id, None)
            if reason != "deadline":
                self._cancelled += 1
            self._settle_locked(task)
        if entry is not None:
            entry.cancel()
        if reason != "deadline" and self._listeners:
            self._emit("cancelled", task, task.future.attempts)

    def _expire(self, task: _Task) -> None:
        future = task.future
        failed, settle = future._expire(
            FuturesTimeoutError(f"task {task.label} passed its deadline")
        )
        if not failed:
            return
        future.token.set("deadline")
        with self._lock:
            self._timed_out += 1
            self._failed += 1
        if settle is not None:
            settle("deadline")
        if self._listeners:
            self._emit("timeout", task, future.attempts)

    # ---- events ------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every :class:`TaskEvent` from now on.

        Listeners run synchronously on the thread where the event happens (a worker, the
        scheduler, or a submitting thread), so they must be quick and thread-safe; an
        exception from a listener is logged and ignored. Returns a function that
        unsubscribes. With no listener the pool pays one attribute check per attempt.
        """
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                items = list(self._listeners)
                if listener in items:
                    items.remove(listener)
                self._listeners = tuple(items)

        return unsubscribe

    def _emit(
        self,
        kind: EventKind,
        task: _Task,
        attempt: int,
        error: BaseException | None = None,
        *,
        thread: str | None = None,
    ) -> None:
        future = task.future
        self._emit_raw(
            kind,
            thread=thread,
            task_id=future.task_id,
            key=future.key,
            attempt=attempt,
            label=task.label,
            error=None if error is None else _describe(error),
        )

    def _emit_raw(
        self,
        kind: EventKind,
        *,
        task_id: int,
        key: Hashable | None,
        attempt: int,
        label: str,
        error: str | None,
        thread: str | None = None,
    ) -> None:
        event = TaskEvent(
            kind,
            task_id,
            threading.current_thread().name if thread is None else thread,
            time.monotonic(),
            key,
            attempt,
            label,
            error,
            self.name,
        )
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _log.exception("pool %r: event listener %r raised", self.name, listener)

    # ---- statistics and failures ---------------------------------------------------------

    def statistics(self) -> PoolStatistics:
        """A :class:`PoolStatistics` snapshot (consistent counters; busy times approximate)."""
        with self._lock:
            running = sum(1 for ws in self._workers if ws.current is not None or ws.mapping)
            running += len(self._awaiting)
            # An attempt that ran past its deadline still runs, but its task is settled
            # (timed out): it must not be taken off the queued count a second time.
            # (ws.current read once: its worker clears it without the lock.)
            settled_running = sum(
                1 for ws in self._workers if (current := ws.current) is not None and current.done()
            )
            waiting_retry = len(self._retrying)
            succeeded = self._succeeded + sum(ws.settled for ws in self._workers)
            settled = succeeded + self._failed + self._cancelled
            unsettled = self._submitted - settled - waiting_retry
            return PoolStatistics(
                max_workers=self._max_workers,
                workers=sum(1 for t in self._threads if t.is_alive()),
                submitted=self._submitted,
                queued=max(0, unsettled - (running - settled_running)),
                running=running,
                waiting_retry=waiting_retry,
                succeeded=succeeded,
                failed=self._failed,
                cancelled=self._cancelled,
                timed_out=self._timed_out,
                retried=self._retried,
                keys=len(self._keys),
                busy=tuple((ws.name, ws.busy) for ws in self._workers),
            )

    def unread_failures(self) -> list[BaseException]:
        """Exceptions of failed futures nobody has read yet, oldest first (marks nothing)."""
        futures = sorted(self._unread.copy().items())
        return [exc for _, f in futures if (exc := f._exception) is not None]

    def raise_failures(self) -> None:
        """Raise an ExceptionGroup of every failure nobody read; then they count as read.

        A failure is read once its future's ``result()`` or ``exception()`` delivered it.
        Returns None if there is nothing unread. (A BaseExceptionGroup if some task raised
        a BaseException such as KeyboardInterrupt.)
        """
        futures = sorted(self._unread.copy().items())
        errors: list[BaseException] = []
        for _, future in futures:
            future._mark_read()
            if future._exception is not None:
                errors.append(future._exception)
        if errors:
            raise BaseExceptionGroup(
                f"{len(errors)} unread task failure(s) in pool {self.name!r}", errors
            )

    # ---- timers --------------------------------------------------------------------------

    def after(self, delay: float, fn: Callable[..., object], *args: object) -> Timer:
        """Run ``fn(*args)`` once on a worker, ``delay`` seconds from now. See :class:`Timer`."""
        return self._timer(delay, None, fn, args)

    def every(self, interval: float, fn: Callable[..., object], *args: object) -> Timer:
        """Run ``fn(*args)`` on a worker every ``interval`` seconds (first run after one
        interval) until cancelled or shutdown. See :class:`Timer` for overlap and errors."""
        if interval <= 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}")
        return self._timer(interval, interval, fn, args)

    def _timer(
        self,
        delay: float,
        interval: float | None,
        fn: Callable[..., object],
        args: tuple[object, ...],
    ) -> Timer:
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")

        def submit() -> TaskFuture[object]:
            return self._submit(
                fn,
                args,
                {},
                key=None,
                retry=None,
                deadline=None,
                label=None,
                key_limit=None,
                internal=True,
            )

        timer = Timer(self._scheduler, submit, delay, interval)
        with self._lock:
            self._check_open_locked()
            self._timers.add(timer)
            timer._arm()
        return timer

    # ---- map -----------------------------------------------------------------------------

    def map(
        self,
        fn: Callable[..., _T],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[_T]:
        """``Executor.map``: results in input order.

        Without ``buffersize`` every input is read and its work scheduled before ``map``
        returns, and all of it runs even if the results are never read (the Executor
        contract). With ``buffersize`` (as in Python 3.14) input is read lazily and at most
        ``buffersize`` items are outstanding (scheduled but not yet yielded).
        ``timeout`` counts from the call, as in the standard library. Closing the iterator
        early cancels what has not started. ``chunksize`` is accepted for compatibility and
        ignored: items are dispatched in chunks sized automatically from measured run time
        (tiny tasks share one dispatch; slow ones go one at a time), with no Future per item.
        An item's exception is raised when its result would have been yielded.
        """
        if buffersize is not None and (not isinstance(buffersize, int) or buffersize < 1):
            raise ValueError(f"buffersize must be None or an integer > 0, got {buffersize!r}")
        del chunksize
        source = zip(*iterables, strict=False)
        if buffersize is None:
            return self._start_map(fn, list(source), True, None, timeout)
        return self._start_map(fn, source, True, buffersize, timeout)

    def imap(
        self, fn: Callable[[Any], _T], iterable: Iterable[Any], *, buffersize: int | None = None
    ) -> Iterator[_T]:
        """Lazy ``map`` of a one-argument ``fn``: results in input order.

        Input is read as results are consumed, at most ``buffersize`` items ahead
        (default ``max(256, 8 * max_workers)``), so an endless generator runs in constant
        memory. The input iterator is advanced by worker threads, one at a time, without
        blocking this iterator (``cancelled()`` is true there once the map stops); an
        exception it raises is re-raised by this iterator after the results before it.
        """
        return self._start_map(
            fn, _single(iterable), True, buffersize or self._default_buffer(), None
        )

    def imap_unordered(
        self, fn: Callable[[Any], _T], iterable: Iterable[Any], *, buffersize: int | None = None
    ) -> Iterator[_T]:
        """As :meth:`imap` but yields results in completion order, so one slow item never
        holds back the others (the fix for joining threads in FIFO order)."""
        return self._start_map(
            fn, _single(iterable), False, buffersize or self._default_buffer(), None
        )

    def _default_buffer(self) -> int:
        return max(256, 8 * self._max_workers)

    def _start_map(
        self,
        fn: Callable[..., _T],
        source: Iterator[tuple[Any, ...]] | list[tuple[Any, ...]],
        ordered: bool,
        limit: int | None,
        timeout: float | None,
    ) -> Iterator[_T]:
        run: MapRun[_T] = MapRun(self, fn, source, ordered=ordered, limit=limit, timeout=timeout)
        with self._lock:
            self._check_open_locked()
            self._maps.add(run)
            if isinstance(source, list):
                self._submitted += len(source)
                self._outstanding += len(source)
        run.spawn()
        return run.results()

    # The MapRun engine calls these.
    def _map_spawn(self, run: MapRun[Any], count: int) -> int:
        """Queue ``count`` pullers for ``run``; returns how many were queued."""
        with self._lock:
            if self._closed or self._broken is not None:
                return 0
            for _ in range(count):
                self._outstanding += 1
                self._queue.put(run)
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
                self._submitted += read
                self._outstanding += read
            self._succeeded += ok
            self._failed += failed
            self._cancelled += cancelled
            self._outstanding -= ok + failed + cancelled + (1 if puller_done else 0)
            if finished:
                self._maps.discard(run)
            if self._shutdown and self._idle_locked():
                self._close_locked()

    # ---- shutdown ------------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting work; as ``Executor.shutdown``.

        Timers are cancelled. Work already accepted (queued tasks, waiting retries, map
        items) still runs unless ``cancel_futures`` is true, which cancels everything not
        started and sets the cancel token of every running task. With ``wait`` the call
        returns when all workers have exited, except when called from one of this pool's
        workers (a task, or a done-callback run there): that would wait for itself, so
        it returns at once and the workers leave when their work is done.
        Ctrl-C while waiting cancels as ``cancel_futures`` does and re-raises
        KeyboardInterrupt.
        """
        self._stop(cancel_futures=cancel_futures, reason="shutdown")
        if wait and _worker_local.pool is self:
            # Called by a task of this pool, or a done-callback its worker runs: the
            # workers leave only after this very task, so waiting would never end.
            return
        if wait:
            try:
                self._join()
            except KeyboardInterrupt:
                self._interrupt()
                raise

    def _interrupt(self) -> None:
        """Ctrl-C in a thread waiting on the pool: cancel everything, ask tasks to stop."""
        self._stop(cancel_futures=True, reason="interrupt")

    def _stop(self, *, cancel_futures: bool, reason: str) -> None:
        with self._lock:
            self._shutdown = True
            # An idle key's tick only forgets the key once its rate allows: cancel it
            # rather than keep the scheduler thread (and so the interpreter's exit)
            # waiting for it. The state stays: tasks still queued honour its rate.
            for state in self._keys.values():
                if state.active == 0 and not state.waiting and state.tick is not None:
                    state.tick.cancel()
                    state.tick = None
            if cancel_futures:
                self._cancel_all = True
            self._not_full.notify_all()  # blocked submitters get RuntimeError
            timers = list(self._timers)
            self._timers.clear()
            maps = list(self._maps) if cancel_futures else []
            cancelled: list[_Task] = []
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
            if reason == "interrupt" or self._idle_locked():
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
            if task.future._force_cancel():
                with self._lock:
                    self._cancelled += 1
                if self._listeners:
                    self._emit("cancelled", task, task.future.attempts)
            with self._lock:
                self._settle_locked(task)
            if task.retry_entry is not None:
                task.retry_entry.cancel()

    def _drain_locked(self) -> list[_Task]:
        """Remove every task waiting to start or waiting for a retry."""
        drained: list[_Task] = []
        others: list[_Item] = []
        for key, state in list(self._keys.items()):
            for task in state.waiting:
                task.future._on_cancel = None  # cancelled below, as drained
                if not task.dropped:  # a dropped one is settled already
                    drained.append(task)
            state.waiting.clear()
            state.dropped = 0
            if state.active == 0:
                if state.tick is not None:
                    state.tick.cancel()
                del self._keys[key]
        for ready in (self._ready, self._released):
            while ready:
                task = ready.popleft()
                drained.append(task)
                if task.keyed:
                    self._release_key_locked(task)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if type(item) is _Task:
                drained.append(item)
                if item.keyed:
                    self._release_key_locked(item)
            elif item is not _WAKE:
                others.append(item)  # map pullers and wake-ups stay
        for item in others:
            self._queue.put(item)
        for task in self._retrying.values():
            # The retry wait ends once, under the future's lock: a cancel() or deadline
            # that ended it first settles the task itself, so it is not drained twice.
            if task.future._end_retry_wait():
                drained.append(task)
        self._retrying.clear()
        for task in drained:
            self._unbound_locked(task)
        return drained

    def _close_locked(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    def _join(self, deadline: float | None = None) -> bool:
        """Wait for the workers (and the idle scheduler) to exit, until ``deadline`` (a
        ``time.monotonic()`` value; None: as long as it takes). True if they all did."""
        for thread in list(self._threads):
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
            if task.future._fail(BrokenPool(error)):
                with self._lock:
                    self._failed += 1
            with self._lock:
                self._settle_locked(task)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """Shut down and wait. On an exception, cancel what has not started and set the
        tokens of running tasks first, so the block does not wait for queued work
        (cpython#130975). With ``raise_unread``, a clean exit raises unread failures."""
        if exc_type is not None:
            self._stop(
                cancel_futures=True,
                reason="interrupt" if issubclass(exc_type, KeyboardInterrupt) else "shutdown",
            )
        self.shutdown(wait=True)
        if exc_type is None and self._raise_unread:
            self.raise_failures()

    def __repr__(self) -> str:
        state = "shut down" if self._shutdown else "open"
        return f"<Pool {self.name!r} {state}, max_workers={self._max_workers}>"


def _single(iterable: Iterable[Any]) -> Iterator[tuple[Any]]:
    return ((item,) for item in iterable)
